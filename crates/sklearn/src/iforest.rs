//! `IsolationForest`: anomaly scores from the depth at which each tree isolates a row.
//!
//! For tree `t`, a row ending in leaf `l` has depth `_decision_path_lengths[t][l] + _average_path_length_per_tree
//! [t][l] − 1` (those arrays are stored since sklearn 1.5; for older files they are recomputed from the tree: the
//! number of nodes on the path and `c(n_node_samples)`). The per-leaf depth is folded into the flat tree's leaf
//! value at load, and trees that saw a feature subset get their feature indices mapped through
//! `estimators_features_`, so evaluation is one pass over the batch. `score_samples = −2^{−Σ depth /
//! (n_trees · c(_max_samples))}`, `decision_function = score_samples − offset_`, `predict = −1` where the decision
//! is negative, else 1. X is rounded to float32 and, as sklearn's `ensure_all_finite=False`, NaN and infinity
//! pass (NaN follows each node's missing-value direction).

use oxserve_pickle::{Object, Value};

use crate::flat_tree::{self, Finite, SkTree, TREE_RULES, Trees};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &["IsolationForest"];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(IsolationForest::from_object(obj).map(|f| Box::new(f) as Box<dyn Estimator>))
}

/// `c(n)`: the average path length of an unsuccessful search in a binary search tree of `n` points.
fn average_path_length(n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else if n == 2.0 {
        1.0
    } else {
        // Euler–Mascheroni constant, numpy's `np.euler_gamma`.
        const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
        2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
    }
}

/// A fitted isolation forest.
#[derive(Debug)]
pub(crate) struct IsolationForest {
    /// Each leaf holds the depth a row ending there gets.
    trees: Trees,
    /// `n_trees · c(_max_samples)`.
    denominator: f64,
    offset: f64,
    n_features: usize,
}

impl IsolationForest {
    fn from_object(obj: &Object) -> Result<IsolationForest, SklearnError> {
        let class = obj.class_name();
        let bad = |r: String| SklearnError::bad_model(class, r);
        let members = crate::forest::estimator_objects(obj, "estimators_")?;
        if members.is_empty() {
            return Err(bad("`estimators_` is empty".into()));
        }
        let n_features = crate::attrs::n_features_in(obj)
            .ok_or_else(|| bad("missing `n_features_in_`".into()))?;
        let max_features = obj
            .get("_max_features")
            .and_then(Value::as_i64)
            .and_then(|n| usize::try_from(n).ok());
        let subsample = max_features.is_some_and(|m| m != n_features);
        let features = match obj.get("estimators_features_") {
            Some(v) if subsample => {
                Some(int_arrays(v).ok_or_else(|| bad("bad `estimators_features_`".into()))?)
            }
            _ => None,
        };
        let paths = obj.get("_decision_path_lengths").and_then(float_arrays);
        let averages = obj
            .get("_average_path_length_per_tree")
            .and_then(float_arrays);
        let mut raws = Vec::with_capacity(members.len());
        for (t, m) in members.iter().enumerate() {
            let sk = SkTree::from_estimator(m)?;
            let map = match &features {
                Some(f) => Some(
                    f.get(t)
                        .ok_or_else(|| bad(format!("no estimators_features_ for tree {t}")))?
                        .as_slice(),
                ),
                None => None,
            };
            let count = sk.node_count();
            let (path, avg) = match (&paths, &averages) {
                (Some(p), Some(a)) => (
                    p.get(t)
                        .cloned()
                        .ok_or_else(|| bad(format!("no path lengths for tree {t}")))?,
                    a.get(t)
                        .cloned()
                        .ok_or_else(|| bad(format!("no average path lengths for tree {t}")))?,
                ),
                _ => recompute_lengths(&sk),
            };
            if path.len() != count || avg.len() != count {
                return Err(bad(format!(
                    "tree {t}: path length arrays do not match its {count} nodes"
                )));
            }
            if map.is_none() && sk.n_features != n_features {
                return Err(bad(format!(
                    "tree {t} has {} features, expected {n_features}",
                    sk.n_features
                )));
            }
            let depths = path.iter().zip(&avg).map(|(p, a)| p + a - 1.0).collect();
            raws.push(
                sk.raw(map, depths, 1, 0, 1.0)
                    .map_err(|e| bad(format!("tree {t}: {e}")))?,
            );
        }
        let trees = Trees::new(&raws, n_features, 1, TREE_RULES).map_err(&bad)?;
        drop(raws);
        let max_samples = crate::attrs::float(obj, "_max_samples")?;
        let offset = crate::attrs::float(obj, "offset_")?;
        Ok(IsolationForest {
            denominator: trees.len() as f64 * average_path_length(max_samples),
            trees,
            offset,
            n_features,
        })
    }

    fn score_samples(&self, x: &Matrix) -> Result<Vec<f64>, SklearnError> {
        flat_tree::check_rows(x, self.n_features, "IsolationForest", Finite::Any)?;
        let mut depths = vec![0.0; x.rows()];
        self.trees.add_into(x.data(), &mut depths)?;
        Ok(depths
            .into_iter()
            .map(|d| {
                // sklearn: a forest fit on a single sample has denominator 0, and its scores are set to 1.
                let s = if self.denominator != 0.0 {
                    2f64.powf(-(d / self.denominator))
                } else {
                    1.0
                };
                -s
            })
            .collect())
    }
}

/// Per node: nodes on the path from the root (root = 1), and `c(n_node_samples)`.
fn recompute_lengths(sk: &SkTree) -> (Vec<f64>, Vec<f64>) {
    let count = sk.node_count();
    let mut path = vec![1.0; count];
    for i in 0..count {
        if !sk.is_leaf(i) {
            for c in [sk.left[i], sk.right[i]] {
                if let Some(c) = usize::try_from(c).ok().filter(|&c| c > i && c < count) {
                    path[c] = path[i] + 1.0;
                }
            }
        }
    }
    let avg = sk
        .n_node_samples
        .iter()
        .map(|&s| average_path_length(s as f64))
        .collect();
    (path, avg)
}

fn float_arrays(v: &Value) -> Option<Vec<Vec<f64>>> {
    v.as_seq()?
        .iter()
        .map(|a| a.as_array()?.to_f64().ok())
        .collect()
}

fn int_arrays(v: &Value) -> Option<Vec<Vec<usize>>> {
    v.as_seq()?
        .iter()
        .map(|a| {
            a.as_array()?
                .to_i64()
                .ok()?
                .into_iter()
                .map(|i| usize::try_from(i).ok())
                .collect()
        })
        .collect()
}

impl Estimator for IsolationForest {
    fn class_name(&self) -> &str {
        "IsolationForest"
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.n_features)
    }

    fn supports(&self, method: Method) -> bool {
        matches!(
            method,
            Method::Predict | Method::DecisionFunction | Method::ScoreSamples
        )
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        let scores = self.score_samples(x)?;
        match method {
            Method::ScoreSamples => Ok(Output::Column(scores)),
            Method::DecisionFunction => Ok(Output::Column(
                scores.into_iter().map(|s| s - self.offset).collect(),
            )),
            Method::Predict => Ok(Output::Labels(Labels::Int(
                scores
                    .into_iter()
                    .map(|s| if s - self.offset < 0.0 { -1 } else { 1 })
                    .collect(),
            ))),
            _ => Err(self.no_method(method)),
        }
    }
}
