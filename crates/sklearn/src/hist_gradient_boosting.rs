//! Histogram gradient boosting: `HistGradientBoostingClassifier` and `HistGradientBoostingRegressor`.
//!
//! `raw = _baseline_prediction + Σ_iterations Σ_k predictor_k(X)`, where each `TreePredictor` walks the **float64**
//! input (no float32 rounding, unlike the other sklearn trees): NaN follows `missing_go_to_left`, otherwise left iff
//! `x <= num_threshold`; leaf values already include the learning rate. Infinity and NaN are accepted, as sklearn's
//! `ensure_all_finite=False` does. Classifier: binary `predict = raw > 0` (sklearn's strict `>`), `predict_proba =
//! [1−expit, expit]`; multiclass softmax / argmax. Regressor: identity, or `exp` for the `poisson` and `gamma`
//! losses (log link).
//!
//! Categorical features: sklearn's `_preprocessor` ordinal-encodes the categorical columns (code = position of the
//! exact value in `OrdinalEncoder.categories_`; NaN and unseen values become NaN) and moves them first, numeric
//! columns following in their order; categorical splits then send a code left iff it is in the node's
//! `raw_left_cat_bitsets` row, right iff it is another known category (`_bin_mapper.bin_thresholds_`), and treat
//! unknown codes as missing.

use oxserve_pickle::{Object, Value};

use oxserve_trees::{CategorySplit, Missing, RawNode, RawTree};

use crate::flat_tree::{self, Finite, HGB_RULES, Trees};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &[
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(HistGradientBoosting::from_object(obj).map(|h| Box::new(h) as Box<dyn Estimator>))
}

/// A fitted HGB model.
#[derive(Debug)]
pub(crate) struct HistGradientBoosting {
    class: String,
    classes: Option<Labels>,
    /// Iteration-major: tree `i * k + j` adds into column `j`.
    trees: Trees,
    k: usize,
    baseline: Vec<f64>,
    /// Regressor with a log link (`poisson`, `gamma`).
    exp_link: bool,
    n_features: usize,
    /// The ordinal encoding of categorical features, when the model has any.
    encoding: Option<Encoding>,
}

/// What sklearn's `_preprocessor` does before HGB's trees see a row.
#[derive(Debug)]
struct Encoding {
    /// The original column of each column the trees see: categorical columns first, then numeric ones.
    order: Vec<usize>,
    /// For the first `categories.len()` columns the trees see: the known raw values (code = position).
    categories: Vec<Vec<f64>>,
}

impl Encoding {
    fn from_object(obj: &Object, n_features: usize) -> Result<Option<Encoding>, String> {
        let Some(pre) = obj.get("_preprocessor").filter(|v| !v.is_none()) else {
            return Ok(None);
        };
        let is_cat: Vec<bool> = obj
            .get("is_categorical_")
            .and_then(Value::as_array)
            .and_then(|a| a.to_i64().ok())
            .ok_or("a `_preprocessor` but no `is_categorical_` mask")?
            .into_iter()
            .map(|v| v != 0)
            .collect();
        if is_cat.len() != n_features {
            return Err(format!("is_categorical_ has {} entries", is_cat.len()));
        }
        let transformers = pre
            .get("transformers_")
            .and_then(Value::as_seq)
            .ok_or("`_preprocessor.transformers_` is not a list")?;
        let encoder = transformers
            .iter()
            .filter_map(Value::as_seq)
            .find(|t| t.first().and_then(Value::as_str) == Some("encoder"))
            .and_then(|t| t.get(1)?.as_object())
            .ok_or("`_preprocessor` has no fitted `encoder` (OrdinalEncoder)")?;
        let categories: Vec<Vec<f64>> = encoder
            .get("categories_")
            .and_then(Value::as_seq)
            .ok_or("encoder has no `categories_`")?
            .iter()
            .map(|c| c.as_array().and_then(|a| a.to_f64().ok()))
            .collect::<Option<_>>()
            .ok_or("encoder `categories_` are not numeric arrays")?;
        let cat_cols: Vec<usize> = (0..n_features).filter(|&j| is_cat[j]).collect();
        if categories.len() != cat_cols.len() {
            return Err(format!(
                "{} categorical features but {} category lists",
                cat_cols.len(),
                categories.len()
            ));
        }
        let order = cat_cols
            .into_iter()
            .chain((0..n_features).filter(|&j| !is_cat[j]))
            .collect();
        Ok(Some(Encoding { order, categories }))
    }

    /// The batch as the trees see it (row-major, same width).
    fn apply(&self, x: &Matrix) -> Vec<f64> {
        let mut out = Vec::with_capacity(x.data().len());
        for row in x.iter_rows() {
            for (j, &col) in self.order.iter().enumerate() {
                let v = row[col];
                out.push(match self.categories.get(j) {
                    // Unseen values and NaN become NaN (`unknown_value` / `encoded_missing_value`).
                    Some(cats) => cats
                        .iter()
                        .position(|&c| c == v)
                        .map_or(f64::NAN, |code| code as f64),
                    None => v,
                });
            }
        }
        out
    }
}

/// Per column the trees see: the known category codes of a categorical feature, as a bitset
/// (`_bin_mapper.bin_thresholds_` of the features its `is_categorical_` marks). Empty when the model has no
/// categorical features; sized by the mapper's own mask, never by the `n_features_in_` count alone.
fn known_categories(obj: &Object, n_features: usize) -> Result<Vec<Option<[u32; 8]>>, String> {
    let Some(mapper) = obj.get("_bin_mapper").filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    let Some(is_cat) = mapper
        .get("is_categorical_")
        .and_then(Value::as_array)
        .and_then(|a| a.to_i64().ok())
    else {
        return Ok(Vec::new());
    };
    if is_cat.len() != n_features {
        return Err(format!(
            "`_bin_mapper.is_categorical_` has {} entries for {n_features} features",
            is_cat.len()
        ));
    }
    let thresholds = mapper
        .get("bin_thresholds_")
        .and_then(Value::as_seq)
        .ok_or("`_bin_mapper.bin_thresholds_` is not a list")?;
    (0..n_features)
        .map(|f| {
            if is_cat.get(f).copied().unwrap_or(0) == 0 {
                return Ok(None);
            }
            let codes = thresholds
                .get(f)
                .and_then(Value::as_array)
                .and_then(|a| a.to_f64().ok())
                .ok_or_else(|| format!("no known categories for feature {f}"))?;
            let mut bits = [0u32; 8];
            for c in codes {
                if (0.0..256.0).contains(&c) {
                    let c = c as u32;
                    bits[(c >> 5) as usize] |= 1 << (c & 31);
                }
            }
            Ok(Some(bits))
        })
        .collect()
}

impl HistGradientBoosting {
    fn from_object(obj: &Object) -> Result<HistGradientBoosting, SklearnError> {
        let class = obj.class_name();
        let bad = |r: String| SklearnError::bad_model(class, r);
        let classes = if class.ends_with("Classifier") {
            Some(flat_tree::classes(obj)?)
        } else {
            None
        };
        let baseline = crate::attrs::f64_vec(obj, "_baseline_prediction")?;
        let k = baseline.len();
        match &classes {
            Some(c) if !((c.len() == 2 && k == 1) || (c.len() > 2 && c.len() == k)) => {
                return Err(bad(format!(
                    "{} classes but {k} trees per iteration",
                    c.len()
                )));
            }
            None if k != 1 => return Err(bad(format!("{k} trees per iteration for a regressor"))),
            _ => {}
        }
        let n_features = crate::attrs::n_features_in(obj)
            .or_else(|| {
                obj.get("_n_features")
                    .and_then(Value::as_i64)
                    .and_then(|n| usize::try_from(n).ok())
            })
            .ok_or_else(|| bad("missing `n_features_in_`".into()))?;
        let encoding = Encoding::from_object(obj, n_features).map_err(&bad)?;
        let known = known_categories(obj, n_features).map_err(&bad)?;
        let iterations = crate::attrs::req(obj, "_predictors")?
            .as_seq()
            .ok_or_else(|| bad("`_predictors` is not a list".into()))?;
        let mut raws = Vec::with_capacity(iterations.len().saturating_mul(k));
        for (i, it) in iterations.iter().enumerate() {
            let preds = it
                .as_seq()
                .ok_or_else(|| bad(format!("`_predictors[{i}]` is not a list")))?;
            if preds.len() != k {
                return Err(bad(format!(
                    "`_predictors[{i}]` has {} predictors, expected {k}",
                    preds.len()
                )));
            }
            for (j, p) in preds.iter().enumerate() {
                let p = p
                    .as_object()
                    .ok_or_else(|| bad(format!("`_predictors[{i}][{j}]` is a {}", p.kind())))?;
                raws.push(
                    predictor(p, j, &known)
                        .map_err(|e| bad(format!("_predictors[{i}][{j}]: {e}")))?,
                );
            }
        }
        let trees = Trees::new(&raws, n_features, k, HGB_RULES).map_err(&bad)?;
        drop(raws);
        let loss = obj.get("loss").and_then(Value::as_str).unwrap_or("");
        let exp_link = classes.is_none() && matches!(loss, "poisson" | "gamma");
        Ok(HistGradientBoosting {
            class: class.to_string(),
            classes,
            trees,
            k,
            baseline,
            exp_link,
            n_features,
            encoding,
        })
    }

    /// Raw scores, row-major `rows × k`.
    fn raw(&self, x: &Matrix) -> Result<Vec<f64>, SklearnError> {
        flat_tree::check_batch(x, self.n_features, &self.class, Finite::Any)?;
        let n = x.rows();
        let encoded = self.encoding.as_ref().map(|e| e.apply(x));
        let data = encoded.as_deref().unwrap_or(x.data());
        let mut raw: Vec<f64> = self
            .baseline
            .iter()
            .copied()
            .cycle()
            .take(n * self.k)
            .collect();
        self.trees.add_into(data, &mut raw)?;
        Ok(raw)
    }
}

/// One `TreePredictor` (its record array `nodes`) as a tree adding into column `output`. Categorical splits
/// (sklearn 1.9.1 `_predictor.pyx`): NaN and negative codes count as missing; a code in the node's
/// `raw_left_cat_bitsets` row goes left, another known code (`known_cat_bitsets`, from the bin mapper) goes right,
/// an unknown code counts as missing. Codes are ordinal encodings below 256 (`max_bins` <= 255), truncated toward
/// zero as sklearn's cast to its uint8 bin type; anything from 256 up is unknown.
fn predictor(p: &Object, output: usize, known: &[Option<[u32; 8]>]) -> Result<RawTree, String> {
    let nodes = p
        .get("nodes")
        .and_then(Value::as_array)
        .ok_or("missing `nodes` array")?;
    let fi = |name: &str| {
        nodes
            .field_i64(name)
            .map_err(|e| format!("nodes.{name}: {e}"))
    };
    let ff = |name: &str| {
        nodes
            .field_f64(name)
            .map_err(|e| format!("nodes.{name}: {e}"))
    };
    let value = ff("value")?;
    let feature = fi("feature_idx")?;
    let threshold = ff("num_threshold")?;
    let missing = fi("missing_go_to_left")?;
    let left = fi("left")?;
    let right = fi("right")?;
    let is_leaf = fi("is_leaf")?;
    let is_cat = fi("is_categorical").unwrap_or_else(|_| vec![0; value.len()]);
    let has_cat = is_cat.iter().zip(&is_leaf).any(|(&c, &l)| c != 0 && l == 0);
    let (bitset_idx, words) = if has_cat {
        let bitsets = p
            .get("raw_left_cat_bitsets")
            .and_then(Value::as_array)
            .filter(|a| a.shape.get(1) == Some(&8))
            .ok_or("categorical split without (n, 8) `raw_left_cat_bitsets`")?;
        let words = bitsets
            .to_i64()
            .map_err(|e| format!("raw_left_cat_bitsets: {e}"))?;
        (fi("bitset_idx")?, words)
    } else {
        (Vec::new(), Vec::new())
    };
    let split = |i: usize| -> Result<Option<CategorySplit>, String> {
        if is_cat[i] == 0 || is_leaf[i] != 0 {
            return Ok(None);
        }
        let b = usize::try_from(bitset_idx[i]).map_err(|e| format!("node {i}: bitset_idx: {e}"))?;
        let row = b
            .checked_mul(8)
            .and_then(|s| words.get(s..s.checked_add(8)?))
            .ok_or_else(|| format!("node {i}: bitset {b} out of range"))?;
        let left = row
            .iter()
            .map(|&v| u32::try_from(v).map_err(|e| format!("node {i}: bitset word {v}: {e}")))
            .collect::<Result<Vec<u32>, String>>()?;
        let f = usize::try_from(feature[i]).map_err(|e| e.to_string())?;
        let known = known
            .get(f)
            .copied()
            .flatten()
            .ok_or_else(|| format!("node {i}: feature {f} has no known categories"))?;
        Ok(Some(CategorySplit {
            bits: left,
            members_go_left: true,
            known: Some(known.to_vec()),
        }))
    };
    let index = |i: usize, what: &str, v: i64| {
        usize::try_from(v).map_err(|_| format!("node {i} has {what} {v}"))
    };
    let nodes: Vec<RawNode> = (0..value.len())
        .map(|i| {
            if is_leaf[i] != 0 {
                return Ok(RawNode::Leaf(i));
            }
            Ok(RawNode::Split {
                feature: index(i, "feature", feature[i])?,
                threshold: threshold[i],
                left: index(i, "left child", left[i])?,
                right: index(i, "right child", right[i])?,
                default_left: missing[i] != 0,
                missing: Missing::NanDefault,
                categories: split(i)?,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(RawTree {
        nodes,
        leaf_values: value,
        width: 1,
        output,
        weight: 1.0,
    })
}

impl Estimator for HistGradientBoosting {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.n_features)
    }

    fn supports(&self, method: Method) -> bool {
        match method {
            Method::Predict => true,
            Method::PredictProba | Method::DecisionFunction => self.classes.is_some(),
            _ => false,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        let mut raw = self.raw(x)?;
        let n = x.rows();
        let Some(classes) = &self.classes else {
            if self.exp_link {
                raw.iter_mut().for_each(|v| *v = v.exp());
            }
            return Ok(Output::Column(raw));
        };
        let binary = self.k == 1;
        match method {
            Method::DecisionFunction if binary => Ok(Output::Column(raw)),
            Method::DecisionFunction => Ok(Output::Matrix(Matrix::new(n, self.k, raw)?)),
            Method::Predict if binary => {
                // HGB: "> 0", so a raw score of exactly 0 predicts classes_[0] (sklearn 1.9.1 comment: argmax of
                // [0.5, 0.5] is 0) — GradientBoostingClassifier uses ">= 0" instead.
                let idx: Vec<usize> = raw.iter().map(|&d| usize::from(d > 0.0)).collect();
                Ok(Output::Labels(classes.take(&idx)))
            }
            Method::Predict => Ok(Output::Labels(crate::math::argmax_labels_flat(
                &raw, self.k, classes,
            ))),
            _ if binary => {
                let mut out = Vec::with_capacity(2 * n);
                for &d in &raw {
                    let p = flat_tree::expit(d);
                    out.extend([1.0 - p, p]);
                }
                Ok(Output::Matrix(Matrix::new(n, 2, out)?))
            }
            _ => {
                let mut m = Matrix::new(n, self.k, raw)?;
                for i in 0..n {
                    flat_tree::softmax_in_place(m.row_mut(i));
                }
                Ok(Output::Matrix(m))
            }
        }
    }

    fn classes(&self) -> Option<&Labels> {
        self.classes.as_ref()
    }
}
