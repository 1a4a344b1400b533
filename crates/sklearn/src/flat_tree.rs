//! scikit-learn's trees as `oxserve-trees` ensembles. Every tree of every family (decision trees, forests,
//! gradient boosting, histogram gradient boosting, isolation forests, AdaBoost's members) is read here from
//! scikit-learn's own structures ([`SkTree`] for `sklearn.tree._tree.Tree`; HGB's predictor nodes in
//! `hist_gradient_boosting.rs`) into [`RawTree`]s, and evaluated by [`Trees`]: an `oxserve_trees::Ensemble` that was
//! validated once at load (every walk ends at a leaf, features in range, no NaN threshold) and walks rows in
//! blocks, several in lockstep.
//!
//! What scikit-learn means by a tree, and which `oxserve_trees` settings say it: go left iff `x <= threshold` in
//! float64 ([`Comparison::LessEqual`]), with X first rounded to float32 by `sklearn.tree` (validated with
//! `dtype=np.float32`; [`TREE_RULES`]) but not by HGB's predictors ([`HGB_RULES`]); NaN follows the node's
//! `missing_go_to_left` ([`Missing::NanDefault`]); leaf values summed in float64 in `estimators_` order.
//!
//! Also here: the input checks of the families' `validate_data` calls ([`Finite`], [`check_rows`]) and the small
//! link functions the boosting families share.

use oxserve_pickle::{Object, Value};
use oxserve_trees::{Accumulate, Comparison, Ensemble, Missing, RawNode, RawTree, Rows, Rules};

use crate::{Labels, Matrix, SklearnError};

/// `sklearn.tree`'s evaluation (DecisionTree*, ExtraTree*, forests, GradientBoosting*, IsolationForest): each value
/// of X rounded to float32, compared `<=` with the float64 threshold, sums in float64.
pub(crate) const TREE_RULES: Rules = Rules {
    comparison: Comparison::LessEqual,
    round_inputs_to_f32: true,
    accumulate: Accumulate::F64,
    negative_fraction_invalid: true,
};

/// HGB's `TreePredictor` (sklearn 1.9.1 `_predictor.pyx`): float64 X as given; a negative categorical code
/// (fractional ones included) counts as missing.
pub(crate) const HGB_RULES: Rules = Rules {
    round_inputs_to_f32: false,
    ..TREE_RULES
};

/// A validated ensemble of a family's trees.
#[derive(Debug)]
pub(crate) struct Trees {
    ensemble: Ensemble,
}

impl Trees {
    /// Validates `trees` (see `oxserve_trees::Ensemble::new`): each adds its leaf vectors into columns
    /// `output..output + width` of `n_outputs` per row.
    pub(crate) fn new(
        trees: &[RawTree],
        n_features: usize,
        n_outputs: usize,
        rules: Rules,
    ) -> Result<Trees, String> {
        Ensemble::new(trees, n_features, n_outputs, rules)
            .map(|ensemble| Trees { ensemble })
            .map_err(|e| e.to_string())
    }

    /// Adds the leaf values of every tree, in ensemble order, for each row of `x` (row-major, `n_features`
    /// columns, as the family validated it) into `out` (`rows × n_outputs`, holding the starting values).
    pub(crate) fn add_into(&self, x: &[f64], out: &mut [f64]) -> Result<(), SklearnError> {
        self.ensemble
            .predict_into(Rows::F64(x), out, 0..usize::MAX, 1)
            .map_err(|e| SklearnError::BadInput(e.to_string()))
    }

    /// Trees in the ensemble.
    pub(crate) fn len(&self) -> usize {
        self.ensemble.trees().len()
    }

    /// Output columns per row.
    pub(crate) fn n_outputs(&self) -> usize {
        self.ensemble.n_outputs()
    }
}

/// How an estimator validates non-finite input, as its `validate_data(..., ensure_all_finite=...)` call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finite {
    /// `ensure_all_finite=True`: NaN and infinity are errors.
    Require,
    /// `"allow-nan"`: NaN passes, infinity is an error.
    AllowNan,
    /// `False`: anything passes.
    Any,
}

/// Checks the feature count and, as `validate_data(X, dtype=np.float32, ...)` does, the values once rounded to
/// float32 (1e300 is infinity there). The batch is then evaluated as is: [`TREE_RULES`] round each value while
/// walking, so no rounded copy is made.
pub(crate) fn check_rows(
    x: &Matrix,
    n_features: usize,
    class: &str,
    finite: Finite,
) -> Result<(), SklearnError> {
    x.expect_features(n_features, class)?;
    if finite != Finite::Any {
        for &v in x.data() {
            check_finite(f64::from(v as f32), finite, "float32")?;
        }
    }
    Ok(())
}

/// The batch with each value rounded to float32 and widened back, as `validate_data(X, dtype=np.float32)` leaves
/// it (what a gradient boosting's `init_` estimator is called on).
pub(crate) fn rounded_to_f32(x: &Matrix) -> Result<Matrix, SklearnError> {
    Matrix::new(
        x.rows(),
        x.cols(),
        x.data().iter().map(|&v| f64::from(v as f32)).collect(),
    )
}

/// Checks a float64 batch for non-finite values as `validate_data` does.
pub(crate) fn check_batch(
    x: &Matrix,
    n_features: usize,
    class: &str,
    finite: Finite,
) -> Result<(), SklearnError> {
    x.expect_features(n_features, class)?;
    if finite != Finite::Any {
        for &v in x.data() {
            check_finite(v, finite, "float64")?;
        }
    }
    Ok(())
}

fn check_finite(v: f64, finite: Finite, dtype: &str) -> Result<(), SklearnError> {
    match finite {
        Finite::Any => Ok(()),
        _ if v.is_nan() && finite == Finite::Require => {
            Err(SklearnError::BadInput("Input X contains NaN.".into()))
        }
        _ if v.is_infinite() => Err(SklearnError::BadInput(format!(
            "Input X contains infinity or a value too large for dtype('{dtype}')."
        ))),
        _ => Ok(()),
    }
}

/// A `sklearn.tree._tree.Tree` as read from its pickled state: the `nodes` record array as columns.
#[derive(Debug, Clone)]
pub(crate) struct SkTree {
    /// `n_features` (constructor argument).
    pub(crate) n_features: usize,
    /// `n_outputs`.
    pub(crate) n_outputs: usize,
    /// `n_classes` per output (all 1 for regressors).
    pub(crate) n_classes: Vec<usize>,
    /// `max_n_classes`: the last axis of `values`.
    pub(crate) max_n_classes: usize,
    /// `nodes.left_child` (`-1`, sklearn's `TREE_LEAF`, for a leaf).
    pub(crate) left: Vec<i64>,
    /// `nodes.right_child`.
    pub(crate) right: Vec<i64>,
    /// `nodes.feature`.
    pub(crate) feature: Vec<i64>,
    /// `nodes.threshold`.
    pub(crate) threshold: Vec<f64>,
    /// `nodes.missing_go_to_left`.
    pub(crate) missing_left: Vec<bool>,
    /// `n_node_samples` per node.
    pub(crate) n_node_samples: Vec<i64>,
    /// `values`, (node_count, n_outputs, max_n_classes) flattened.
    pub(crate) values: Vec<f64>,
}

impl SkTree {
    /// Reads the `tree_` attribute of a fitted sklearn tree estimator.
    pub(crate) fn from_estimator(est: &Object) -> Result<SkTree, SklearnError> {
        let class = est.class_name();
        let tree = crate::attrs::req(est, "tree_")?
            .as_object()
            .ok_or_else(|| SklearnError::bad_model(class, "`tree_` is not a Tree object"))?;
        SkTree::from_object(tree).map_err(|e| SklearnError::bad_model(class, format!("tree_: {e}")))
    }

    /// Reads a `Tree` object: args `(n_features, n_classes, n_outputs)`, state `{node_count, nodes, values}`.
    fn from_object(tree: &Object) -> Result<SkTree, String> {
        if tree.class_name() != "Tree" {
            return Err(format!(
                "expected sklearn.tree._tree.Tree, found {}",
                tree.class.dotted()
            ));
        }
        let arg = |i: usize| {
            tree.args
                .get(i)
                .ok_or_else(|| format!("missing constructor argument {i}"))
        };
        let n_features = arg(0)?
            .as_i64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| (1..=crate::guard::MAX_FEATURES).contains(&n))
            .ok_or("n_features is not a count between 1 and 2^24")?;
        let n_classes: Vec<usize> = match arg(1)? {
            Value::Array(a) => a
                .to_i64()
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|n| usize::try_from(n).ok().filter(|&n| n > 0))
                .collect::<Option<_>>()
                .ok_or("n_classes holds a count that is not positive")?,
            other => {
                let n = other.as_i64().ok_or("n_classes is not a number")?;
                vec![
                    usize::try_from(n)
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("n_classes is {n}; it must be positive"))?,
                ]
            }
        };
        let n_outputs = arg(2)?
            .as_i64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or("bad n_outputs")?;
        if n_outputs == 0 || n_classes.len() != n_outputs {
            return Err(format!(
                "n_outputs {n_outputs} does not match n_classes {n_classes:?}"
            ));
        }
        let max_n_classes = n_classes.iter().copied().max().unwrap_or(1);
        let nodes = tree
            .get("nodes")
            .and_then(Value::as_array)
            .ok_or("missing `nodes` array")?;
        let field_i = |name: &str| {
            nodes
                .field_i64(name)
                .map_err(|e| format!("nodes.{name}: {e}"))
        };
        let left = field_i("left_child")?;
        let right = field_i("right_child")?;
        let feature = field_i("feature")?;
        let threshold = nodes
            .field_f64("threshold")
            .map_err(|e| format!("nodes.threshold: {e}"))?;
        // Trees pickled before sklearn 1.3 have no `missing_go_to_left`; they never saw NaN, and sklearn reads
        // them with the field zeroed (NaN goes right).
        let missing = nodes
            .field_i64("missing_go_to_left")
            .unwrap_or_else(|_| vec![0; left.len()]);
        let n_node_samples = field_i("n_node_samples")?;
        let count = left.len();
        if let Some(nc) = tree.get("node_count").and_then(Value::as_i64)
            && usize::try_from(nc).ok() != Some(count)
        {
            return Err(format!("node_count {nc} but {count} node records"));
        }
        let values_arr = tree
            .get("values")
            .and_then(Value::as_array)
            .ok_or("missing `values` array")?;
        let values = values_arr.to_f64().map_err(|e| format!("values: {e}"))?;
        if values_arr.shape != [count, n_outputs, max_n_classes] {
            return Err(format!(
                "values has shape {:?}, expected [{count}, {n_outputs}, {max_n_classes}]",
                values_arr.shape
            ));
        }
        let lens = [
            right.len(),
            feature.len(),
            threshold.len(),
            missing.len(),
            n_node_samples.len(),
        ];
        if lens.iter().any(|&l| l != count) {
            return Err(format!(
                "node fields of different lengths: {count}, {lens:?}"
            ));
        }
        Ok(SkTree {
            n_features,
            n_outputs,
            n_classes,
            max_n_classes,
            left,
            right,
            feature,
            threshold,
            missing_left: missing.into_iter().map(|m| m != 0).collect(),
            n_node_samples,
            values,
        })
    }

    /// Node records.
    pub(crate) fn node_count(&self) -> usize {
        self.left.len()
    }

    /// Whether node `i` is a leaf (sklearn's `TREE_LEAF`: `left_child == -1`).
    pub(crate) fn is_leaf(&self, i: usize) -> bool {
        self.left[i] == -1
    }

    /// The tree as `oxserve_trees` reads it, with `width` leaf values per node in `leaf_values` (node `i`'s at
    /// `i * width`; internal nodes' are never read). `feature_map`, when given, renames each split's feature
    /// (`feature_map[f]` is the column of the batch: a tree fit on a feature subset).
    pub(crate) fn raw(
        &self,
        feature_map: Option<&[usize]>,
        leaf_values: Vec<f64>,
        width: usize,
        output: usize,
        weight: f64,
    ) -> Result<RawTree, String> {
        let index = |i: usize, what: &str, v: i64| {
            usize::try_from(v).map_err(|_| format!("node {i} has {what} {v}"))
        };
        let nodes = (0..self.node_count())
            .map(|i| {
                if self.is_leaf(i) {
                    return Ok(RawNode::Leaf(i));
                }
                let f = index(i, "feature", self.feature[i])?;
                let feature = match feature_map {
                    Some(m) => *m.get(f).ok_or_else(|| {
                        format!(
                            "node {i} splits on feature {f} of {} in its subset",
                            m.len()
                        )
                    })?,
                    None => f,
                };
                Ok(RawNode::Split {
                    feature,
                    threshold: self.threshold[i],
                    left: index(i, "left child", self.left[i])?,
                    right: index(i, "right child", self.right[i])?,
                    default_left: self.missing_left[i],
                    missing: Missing::NanDefault,
                    categories: None,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(RawTree {
            nodes,
            leaf_values,
            width,
            output,
            weight,
        })
    }

    /// The tree whose leaves carry `values[leaf, :, 0]` (regression: one value per output), adding into columns
    /// `output..` scaled by `weight`.
    pub(crate) fn regression(&self, output: usize, weight: f64) -> Result<RawTree, String> {
        let values = self
            .values
            .chunks_exact(self.max_n_classes)
            .map(|v| v[0])
            .collect();
        self.raw(None, values, self.n_outputs, output, weight)
    }

    /// The tree whose leaves carry the class probabilities of a single-output classifier:
    /// `values[leaf, 0, :n_classes]` as stored. Since sklearn 1.4 these are already fractions and `predict_proba`
    /// returns them unnormalised; trees from older releases stored weighted counts, which are normalised here
    /// (sum 0 → left as is), as those releases' `predict_proba` did.
    pub(crate) fn classification(&self) -> Result<RawTree, String> {
        if self.n_outputs != 1 {
            return Err(format!(
                "{} outputs; only single-output classifiers are supported",
                self.n_outputs
            ));
        }
        let n = self.n_classes[0];
        let mut values = Vec::with_capacity(self.node_count() * n);
        for node in self.values.chunks_exact(self.max_n_classes) {
            let v = &node[..n];
            let sum: f64 = v.iter().sum();
            if (sum - 1.0).abs() <= 1e-6 || sum == 0.0 {
                values.extend_from_slice(v);
            } else {
                values.extend(v.iter().map(|x| x / sum));
            }
        }
        self.raw(None, values, n, 0, 1.0)
    }
}

pub(crate) use crate::math::{expit, softmax_in_place};

/// scipy's `logit`: `log(p/(1-p))` away from ½, `log1p(2(p-½)) - log1p(-2(p-½))` near it (more precise there).
pub(crate) fn logit(p: f64) -> f64 {
    if !(0.3..=0.65).contains(&p) {
        (p / (1.0 - p)).ln()
    } else {
        let s = 2.0 * (p - 0.5);
        s.ln_1p() - (-s).ln_1p()
    }
}

/// Labels in `classes` order for a classifier's `classes_` (any dtype).
pub(crate) fn classes(obj: &Object) -> Result<Labels, SklearnError> {
    let labels = crate::attrs::labels(obj, "classes_")?;
    if labels.is_empty() {
        return Err(SklearnError::bad_model(
            obj.class_name(),
            "`classes_` is empty",
        ));
    }
    Ok(labels)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A stump on feature 0 (left leaf 1.0, right leaf 2.0; NaN goes left), as `SkTree::raw` writes it.
    fn stump(categories: Option<oxserve_trees::CategorySplit>) -> RawTree {
        RawTree {
            nodes: vec![
                RawNode::Split {
                    feature: 0,
                    threshold: 0.5,
                    left: 1,
                    right: 2,
                    default_left: true,
                    missing: Missing::NanDefault,
                    categories,
                },
                RawNode::Leaf(1),
                RawNode::Leaf(2),
            ],
            leaf_values: vec![0.0, 1.0, 2.0],
            width: 1,
            output: 0,
            weight: 1.0,
        }
    }

    fn eval(trees: &Trees, rows: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; rows.len()];
        trees.add_into(rows, &mut out).unwrap();
        out
    }

    /// sklearn.tree compares `float32(x) <= threshold` in float64: a value just above a threshold that rounds
    /// onto it goes left; HGB compares the float64 value as is. NaN follows `missing_go_to_left`.
    #[test]
    fn rounds_like_sklearn_tree_and_not_like_hgb() {
        let t = f64::from(0.3f32);
        let mut raw = stump(None);
        if let RawNode::Split { threshold, .. } = &mut raw.nodes[0] {
            *threshold = t;
        }
        let above = t + 1e-12;
        let rows = [t, above, 0.31, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
        let tree = Trees::new(std::slice::from_ref(&raw), 1, 1, TREE_RULES).unwrap();
        assert_eq!(eval(&tree, &rows), [1.0, 1.0, 2.0, 1.0, 2.0, 1.0]);
        let hgb = Trees::new(&[raw], 1, 1, HGB_RULES).unwrap();
        assert_eq!(eval(&hgb, &rows), [1.0, 2.0, 2.0, 1.0, 2.0, 1.0]);
    }

    /// HGB's categorical rule (sklearn 1.9.1 `_predictor.pyx`) through `HGB_RULES`: codes 1 and 40 go left;
    /// 0..=3 and 40 are known; missing goes left.
    #[test]
    fn hgb_categorical_split() {
        let mut known = vec![0u32; 8];
        known[0] = 0b1111;
        known[1] = 1 << 8;
        let mut left = vec![0u32; 8];
        left[0] = 0b10;
        left[1] = 1 << 8;
        let split = oxserve_trees::CategorySplit {
            bits: left,
            members_go_left: true,
            known: Some(known),
        };
        let trees = Trees::new(&[stump(Some(split))], 1, 1, HGB_RULES).unwrap();
        let rows = [
            1.0,
            40.0,
            1.7,
            0.0,
            3.0,
            5.0,
            -1.0,
            -0.5,
            f64::NAN,
            1e9,
            255.0,
            256.0,
        ];
        let want = [1.0, 1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        assert_eq!(eval(&trees, &rows), want);
        let many: Vec<f64> = rows.iter().copied().cycle().take(rows.len() * 5).collect();
        assert_eq!(eval(&trees, &many), want.repeat(5));
    }

    #[test]
    fn refuses_cycles_and_bad_features() {
        let mut cyc = stump(None);
        if let RawNode::Split { left, .. } = &mut cyc.nodes[0] {
            *left = 0;
        }
        assert!(Trees::new(&[cyc], 1, 1, TREE_RULES).is_err());
        let mut far = stump(None);
        if let RawNode::Split { right, .. } = &mut far.nodes[0] {
            *right = 7;
        }
        assert!(Trees::new(&[far], 1, 1, TREE_RULES).is_err());
        assert!(Trees::new(&[stump(None)], 0, 1, TREE_RULES).is_err());
        let mut wide = stump(None);
        wide.width = 2;
        assert!(Trees::new(&[wide], 1, 1, TREE_RULES).is_err());
    }

    #[test]
    fn links() {
        assert!((logit(expit(0.3)) - 0.3).abs() < 1e-15);
        assert!((logit(0.9) - 9f64.ln()).abs() < 1e-15);
        let mut r = [1.0, 2.0, 3.0];
        softmax_in_place(&mut r);
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    }

    /// Batches no caller should send: each must give an answer or a `BadInput`, never a panic, and a wrong
    /// feature count must be `BadInput`.
    fn hostile_batches(
        name: &str,
        est: &dyn crate::Estimator,
        cols: usize,
        failures: &mut Vec<String>,
    ) {
        let methods: Vec<_> = crate::Method::ALL
            .into_iter()
            .filter(|&m| est.supports(m))
            .collect();
        let fill = |rows: usize, v: f64| Matrix::new(rows, cols, vec![v; rows * cols]).unwrap();
        for &m in &methods {
            for bad in [
                Matrix::zeros(2, cols + 1),
                Matrix::zeros(1, cols.saturating_sub(1)),
            ] {
                if !matches!(est.call(m, &bad), Err(SklearnError::BadInput(_))) {
                    failures.push(format!("{name}.{}: wrong feature count accepted", m.name()));
                }
            }
            match est.call(m, &fill(0, 0.0)) {
                Ok(crate::Output::Matrix(out)) if out.rows() == 0 => {}
                Ok(crate::Output::Column(v)) if v.is_empty() => {}
                Ok(crate::Output::Labels(l)) if l.is_empty() => {}
                other => failures.push(format!("{name}.{}: empty batch gave {other:?}", m.name())),
            }
            for v in [
                f64::NAN,
                f64::INFINITY,
                -f64::INFINITY,
                1e300,
                -1e300,
                f64::MIN_POSITIVE,
            ] {
                match est.call(m, &fill(130, v)) {
                    Ok(_) | Err(SklearnError::BadInput(_)) => {}
                    Err(e) => failures.push(format!("{name}.{}({v}): {e}", m.name())),
                }
            }
        }
    }

    /// The tree families' fixture cases, including those whose rows hold NaN: Python's `json` writes NaN as a bare
    /// `NaN` token, which `tests/conformance.rs` cannot parse (it silently skips such cases), so they are checked
    /// here with `NaN` read as NaN.
    #[test]
    fn tree_fixture_cases_with_nan_rows() {
        use serde_json::Value as Json;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cases");
        let prefixes = ["tree-", "forest-", "gb-", "hgb-", "ada-", "iforest-"];
        let mut dirs: Vec<_> = std::fs::read_dir(&root)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        dirs.sort();
        let mut failures = Vec::new();
        let mut checked = 0;
        for dir in dirs {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !prefixes.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(dir.join("case.json")) else {
                continue;
            };
            let case: Json = serde_json::from_str(&text.replace("NaN", "null")).unwrap();
            checked += 1;
            let est = match crate::load_file(&dir.join(case["artifact"].as_str().unwrap())) {
                Ok(e) => e,
                Err(e) => {
                    failures.push(format!("{name}: load: {e}"));
                    continue;
                }
            };
            let rows: Vec<Vec<f64>> = case["X"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap_or(f64::NAN))
                        .collect()
                })
                .collect();
            let x = Matrix::new(rows.len(), rows[0].len(), rows.concat()).unwrap();
            hostile_batches(&name, est.as_ref(), x.cols(), &mut failures);
            let (atol, rtol) = (
                case["atol"].as_f64().unwrap_or(1e-9),
                case["rtol"].as_f64().unwrap_or(1e-9),
            );
            for (method, want) in case["outputs"].as_object().unwrap() {
                let Some(m) = crate::Method::from_name(method) else {
                    continue;
                };
                let got: Vec<Json> = match est.call(m, &x) {
                    Err(e) => {
                        failures.push(format!("{name}.{method}: {e}"));
                        continue;
                    }
                    Ok(crate::Output::Labels(Labels::Int(v))) => {
                        v.iter().map(|&x| Json::from(x)).collect()
                    }
                    Ok(crate::Output::Labels(Labels::Float(v)) | crate::Output::Column(v)) => {
                        v.iter().map(|&x| Json::from(x)).collect()
                    }
                    Ok(crate::Output::Labels(Labels::Str(v))) => {
                        v.iter().map(|x| Json::from(x.as_str())).collect()
                    }
                    Ok(crate::Output::Matrix(m)) => {
                        m.data().iter().map(|&x| Json::from(x)).collect()
                    }
                };
                let want: Vec<&Json> = want
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|v| match v {
                        Json::Array(inner) => inner.iter().collect::<Vec<_>>(),
                        other => vec![other],
                    })
                    .collect();
                if got.len() != want.len() {
                    failures.push(format!(
                        "{name}.{method}: {} values, want {}",
                        got.len(),
                        want.len()
                    ));
                    continue;
                }
                for (i, (g, w)) in got.iter().zip(want).enumerate() {
                    let ok = match (g.as_f64(), w.as_f64()) {
                        (Some(g), Some(w)) => (g - w).abs() <= atol + rtol * w.abs(),
                        _ => g == w,
                    };
                    if !ok {
                        failures.push(format!("{name}.{method}[{i}]: got {g}, want {w}"));
                        break;
                    }
                }
            }
        }
        assert!(
            checked > 0,
            "no tree fixture cases under {}",
            root.display()
        );
        assert!(
            failures.is_empty(),
            "{} failures in {checked} cases:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
