//! XGBoost models without XGBoost: reads every file an XGBoost user has and predicts as `Booster.predict` does.
//!
//! [`Booster::load`] detects the format from the bytes, not the file name: JSON (`model.json`), UBJSON
//! (`model.ubj`, and `model.bst` since XGBoost 2.1) and the legacy binary format (`model.bst` written by
//! XGBoost ≤ 1.7). Boosters `gbtree` (with `num_parallel_tree` forests and vector-leaf multi-target trees),
//! `dart` (tree weights) and `gblinear`; every objective's output transformation; `base_score` in every stored form
//! (XGBoost stores it in the objective's output space: a probability for logistic objectives, a mean for log-link
//! ones; the margin is its inverse link, as XGBoost's `ProbToMargin`).
//!
//! Trees evaluate through `oxserve-trees` with XGBoost's rules: inputs rounded to float32, `x < threshold`, NaN to
//! the default side, categorical members to the right, sums in float32 tree by tree. `predict` over the whole
//! ensemble is what `Booster.predict` returns by default in 1.7, 2.x and 3.x (`best_iteration` is only reported;
//! pass it as [`Predict::iteration_range`] to use it, as the scikit-learn wrapper does).

mod doc;
mod legacy;

use doc::Doc;
use oxserve_core::{Categories, FeatureKind};
use oxserve_trees::{CategorySplit, Ensemble, Missing, RawNode, RawTree, Rules};
pub use oxserve_trees::{Output, Rows};

/// Why a model was refused or a prediction failed.
#[derive(Debug, thiserror::Error)]
pub enum XgbError {
    /// The bytes are not a well-formed model of any supported format.
    #[error("invalid XGBoost model: {0}")]
    Format(String),
    /// The model is well-formed but uses something this crate does not implement.
    #[error("unsupported XGBoost model: {0}")]
    Unsupported(String),
    /// A tree is structurally invalid (cycle, child out of range, NaN threshold, …).
    #[error("invalid XGBoost model: {0}")]
    Tree(#[from] oxserve_trees::TreeError),
    /// The input does not fit the model.
    #[error("{0}")]
    Input(String),
}

/// The file format a model was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Text JSON.
    Json,
    /// Universal Binary JSON.
    Ubjson,
    /// The pre-2.0 binary format.
    LegacyBinary,
}

/// The booster type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BoosterKind {
    /// Gradient-boosted trees.
    #[default]
    GbTree,
    /// Trees with DART weights.
    Dart,
    /// A linear model.
    GbLinear,
}

/// One tree as a format stores it (node arrays indexed by node id).
#[derive(Debug, Clone, Default)]
pub(crate) struct TreeParts {
    pub(crate) left: Vec<i64>,
    pub(crate) right: Vec<i64>,
    pub(crate) feature: Vec<i64>,
    pub(crate) default_left: Vec<bool>,
    /// Threshold of a split, value of a scalar leaf.
    pub(crate) value: Vec<f64>,
    /// Category set of a categorical split.
    pub(crate) categorical: Vec<Option<Vec<u32>>>,
    /// Vector leaves: width and the leaf vectors, indexed by a leaf's `right` entry.
    pub(crate) leaf_width: usize,
    pub(crate) leaf_weights: Vec<f64>,
}

impl TreeParts {
    fn with_capacity(n: usize) -> TreeParts {
        TreeParts {
            left: Vec::with_capacity(n),
            right: Vec::with_capacity(n),
            feature: Vec::with_capacity(n),
            default_left: Vec::with_capacity(n),
            value: Vec::with_capacity(n),
            categorical: Vec::with_capacity(n),
            leaf_width: 1,
            leaf_weights: Vec::new(),
        }
    }
}

/// Everything a format reader extracts, before validation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parts {
    pub(crate) objective: String,
    pub(crate) kind: BoosterKind,
    pub(crate) base_score: Vec<f64>,
    pub(crate) num_feature: usize,
    pub(crate) num_class: usize,
    pub(crate) num_target: usize,
    pub(crate) num_parallel_tree: usize,
    pub(crate) trees: Vec<TreeParts>,
    pub(crate) tree_info: Vec<usize>,
    pub(crate) iteration_indptr: Option<Vec<usize>>,
    pub(crate) weight_drop: Option<Vec<f64>>,
    pub(crate) linear_weights: Vec<f64>,
    pub(crate) feature_names: Vec<String>,
    pub(crate) feature_types: Vec<String>,
    pub(crate) attributes: Vec<(String, String)>,
    /// Per feature, the categories XGBoost ≥ 3.1 recorded (`gbtree` model's `cats`); empty when none.
    pub(crate) categories: Vec<Option<Categories>>,
}

/// The output transformation of an objective, as XGBoost's `PredTransform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The margin itself (regression, ranking, `binary:logitraw`).
    Identity,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `exp(x)` (Poisson, gamma, Tweedie, Cox, AFT).
    Exp,
    /// Probabilities over the classes.
    Softmax,
    /// The index of the largest margin.
    ArgMax,
    /// `x > 0 ? 1 : 0`.
    Hinge,
}

/// Options of one prediction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Predict {
    /// Boosting rounds `[begin, end)` as `Booster.predict(iteration_range=…)`; `None` or `(0, 0)`: all.
    pub iteration_range: Option<(usize, usize)>,
    /// Threads for large batches (0 or 1: the calling thread only).
    pub threads: usize,
}

/// A loaded, validated XGBoost model.
#[derive(Debug, Clone)]
pub struct Booster {
    format: Format,
    kind: BoosterKind,
    objective: String,
    link: Link,
    n_features: usize,
    n_outputs: usize,
    num_class: usize,
    /// The margin each row starts from, per output (float32 values).
    base_margin: Vec<f64>,
    trees: Option<Ensemble>,
    /// First tree of each boosting round, and the total at the end.
    iteration_indptr: Vec<usize>,
    /// gblinear: `(n_features + 1) × n_outputs`, the bias row last.
    linear: Vec<f64>,
    feature_names: Vec<String>,
    feature_types: Vec<String>,
    attributes: Vec<(String, String)>,
    categories: Vec<Option<Categories>>,
}

/// Largest feature count accepted (a declared count above it is a hostile file).
const MAX_FEATURES: usize = 1 << 24;
/// Largest output count accepted.
const MAX_OUTPUTS: usize = 1 << 16;

impl Booster {
    /// Reads a model from its bytes, detecting the format.
    pub fn load(bytes: &[u8]) -> Result<Booster, XgbError> {
        Booster::load_as(bytes, detect(bytes))
    }

    /// Reads a model in a given format (what [`Booster::load`] does after detecting it; also the fuzz targets'
    /// entry point per reader).
    pub fn load_as(bytes: &[u8], format: Format) -> Result<Booster, XgbError> {
        let parts = match format {
            Format::Json => from_doc(&doc::parse_json(bytes)?)?,
            Format::Ubjson => from_doc(&doc::parse_ubjson(bytes)?)?,
            Format::LegacyBinary => legacy::read(bytes)?,
        };
        Booster::build(format, parts)
    }

    /// Reads the bytes a pickled `xgboost.core.Booster` keeps under `handle` (what `XGBoosterSerializeToBuffer`
    /// writes; the scikit-learn wrappers pickle their booster this way): a document `{"Config": …, "Model": …}`
    /// whose `Model` is the saved model, UBJSON since XGBoost 1.6 and JSON text before (checked against 1.5, 1.7
    /// and 3.2); the oldest releases' binary framing (`CONFIG-offset:`, the config's offset as a little-endian
    /// i64, the legacy binary model, then the JSON config) is read too. Only the model is read, and from the config
    /// only `num_parallel_tree` when the model lacks it (before 1.6), which rounds need. A bare saved model (any
    /// format [`Booster::load`] reads) is accepted too.
    pub fn load_serialized(bytes: &[u8]) -> Result<Booster, XgbError> {
        if let Some(rest) = bytes.strip_prefix(b"CONFIG-offset:") {
            let (offset, body) = rest.split_first_chunk::<8>().ok_or_else(|| {
                fmt_err("serialized booster: truncated after the CONFIG-offset header")
            })?;
            let offset = i64::from_le_bytes(*offset);
            let model = usize::try_from(offset)
                .ok()
                .and_then(|n| body.get(..n))
                .ok_or_else(|| {
                    fmt_err(format!(
                        "serialized booster: the config offset {offset} is outside the {} bytes that follow",
                        body.len()
                    ))
                })?;
            return Booster::load_as(model, Format::LegacyBinary);
        }
        let format = detect(bytes);
        let root = match format {
            Format::Json => doc::parse_json(bytes)?,
            Format::Ubjson => doc::parse_ubjson(bytes)?,
            Format::LegacyBinary => return Booster::load_as(bytes, format),
        };
        let model = root.get("Model").unwrap_or(&root);
        let mut parts = from_doc(model)?;
        // Before 1.6 the model does not store `num_parallel_tree` (a boosting round's trees per output), only the
        // training config does; rounds (`best_iteration`) need it.
        fn gbtree(d: &Doc) -> Option<&Doc> {
            let gb = d.get("learner")?.get("gradient_booster")?;
            Some(gb.get("gbtree").unwrap_or(gb))
        }
        let stored = gbtree(model)
            .and_then(|g| {
                g.get("model")?
                    .get("gbtree_model_param")?
                    .get("num_parallel_tree")
            })
            .is_some();
        if !stored
            && let Some(n) = root
                .get("Config")
                .and_then(gbtree)
                .and_then(|g| g.get("gbtree_train_param")?.get("num_parallel_tree"))
        {
            parts.num_parallel_tree = n
                .count()
                .filter(|&n| n >= 1)
                .ok_or_else(|| fmt_err("Config: num_parallel_tree is not a positive count"))?;
        }
        Booster::build(format, parts)
    }

    fn build(format: Format, mut p: Parts) -> Result<Booster, XgbError> {
        if p.num_feature > MAX_FEATURES {
            return Err(XgbError::Format(format!(
                "num_feature {} is too large",
                p.num_feature
            )));
        }
        if p.objective.is_empty() {
            // Old binary files carry the objective only in the attribute written by save_model.
            if let Some((_, v)) = p.attributes.iter().find(|(k, _)| k == "objective")
                && let Ok(d) = doc::parse_json(v.as_bytes())
                && let Some(n) = d.get("name").and_then(Doc::as_str)
            {
                p.objective = n.to_string();
            }
        }
        let link = link_of(&p.objective)?;
        let num_target = p.num_target.max(1);
        let n_outputs = p.num_class.max(num_target).max(1);
        if n_outputs > MAX_OUTPUTS {
            return Err(XgbError::Format(format!("{n_outputs} outputs is too many")));
        }
        if matches!(link, Link::Softmax | Link::ArgMax) && p.num_class < 1 {
            return Err(XgbError::Format(format!(
                "objective {} without num_class",
                p.objective
            )));
        }
        // base_score: one value, or one per output (XGBoost 3's vector form).
        let base = match p.base_score.len() {
            1 => vec![p.base_score[0]; n_outputs],
            n if n == n_outputs => p.base_score.clone(),
            n => {
                return Err(XgbError::Format(format!(
                    "base_score has {n} values for {n_outputs} outputs"
                )));
            }
        };
        let base_margin = base
            .iter()
            .map(|&b| prob_to_margin(&p.objective, b))
            .collect::<Result<Vec<_>, _>>()?;
        let mut booster = Booster {
            format,
            kind: p.kind,
            objective: p.objective.clone(),
            link,
            n_features: p.num_feature,
            n_outputs,
            num_class: p.num_class,
            base_margin,
            trees: None,
            iteration_indptr: Vec::new(),
            linear: Vec::new(),
            feature_names: p.feature_names.clone(),
            feature_types: p.feature_types.clone(),
            attributes: p.attributes.clone(),
            categories: p.categories.clone(),
        };
        if !booster.categories.is_empty() && booster.categories.len() != p.num_feature {
            return Err(XgbError::Format(format!(
                "cats: {} encodings for {} features",
                booster.categories.len(),
                p.num_feature
            )));
        }
        if !booster.feature_names.is_empty() && booster.feature_names.len() != p.num_feature {
            return Err(XgbError::Format(format!(
                "{} feature names for {} features",
                booster.feature_names.len(),
                p.num_feature
            )));
        }
        if p.kind == BoosterKind::GbLinear {
            let want = (p.num_feature + 1) * n_outputs;
            if p.linear_weights.len() != want {
                return Err(XgbError::Format(format!(
                    "gblinear has {} weights, expected ({} + 1) × {n_outputs} = {want}",
                    p.linear_weights.len(),
                    p.num_feature
                )));
            }
            if p.linear_weights.iter().any(|w| !w.is_finite()) {
                return Err(XgbError::Format("gblinear weight is not finite".into()));
            }
            booster.linear = p.linear_weights;
            // gblinear starts every output from the first base_score (XGBoost 3's `BaseScore(ctx)(0)` in
            // `GBLinear::PredictBatchInternal`), also when a vector is stored.
            let first = booster.base_margin[0];
            booster.base_margin.iter_mut().for_each(|m| *m = first);
            return Ok(booster);
        }
        let n_trees = p.trees.len();
        if p.tree_info.len() != n_trees {
            return Err(XgbError::Format(format!(
                "tree_info has {} entries for {n_trees} trees",
                p.tree_info.len()
            )));
        }
        let weights = match &p.weight_drop {
            Some(w) if w.len() != n_trees => {
                return Err(XgbError::Format(format!(
                    "weight_drop has {} entries for {n_trees} trees",
                    w.len()
                )));
            }
            Some(w) => w.clone(),
            None => vec![1.0; n_trees],
        };
        let mut raw = Vec::with_capacity(n_trees);
        for (t, tp) in p.trees.iter().enumerate() {
            let width = tp.leaf_width.max(1);
            let output = if width > 1 { 0 } else { p.tree_info[t] };
            raw.push(
                raw_tree(tp, output, weights[t] as f32 as f64)
                    .map_err(|msg| XgbError::Format(format!("tree {t}: {msg}")))?,
            );
        }
        let ensemble = Ensemble::new(&raw, p.num_feature, n_outputs, Rules::XGBOOST)?;
        booster.iteration_indptr = match p.iteration_indptr {
            Some(ptr) => {
                let ok = ptr.first() == Some(&0)
                    && ptr.last() == Some(&n_trees)
                    && ptr.windows(2).all(|w| w[0] <= w[1]);
                if !ok {
                    return Err(XgbError::Format(format!(
                        "iteration_indptr does not partition the {n_trees} trees"
                    )));
                }
                ptr
            }
            None => {
                // Before 2.0: a round holds num_parallel_tree trees per output group.
                let groups = if raw.iter().any(|t| t.width > 1) {
                    1
                } else {
                    n_outputs
                };
                let per = p.num_parallel_tree.max(1) * groups;
                let mut ptr: Vec<usize> = (0..n_trees).step_by(per).collect();
                ptr.push(n_trees);
                ptr
            }
        };
        booster.trees = Some(ensemble);
        Ok(booster)
    }

    /// The format the model was read from.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The booster type.
    pub fn kind(&self) -> BoosterKind {
        self.kind
    }

    /// The objective name (`binary:logistic`, …).
    pub fn objective(&self) -> &str {
        &self.objective
    }

    /// The output transformation `predict` applies.
    pub fn link(&self) -> Link {
        self.link
    }

    /// Input columns.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Margin columns (classes, targets or 1).
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// `num_class` (0 for anything but multi-class objectives).
    pub fn num_class(&self) -> usize {
        self.num_class
    }

    /// Boosting rounds stored.
    pub fn n_rounds(&self) -> usize {
        if self.kind == BoosterKind::GbLinear {
            return 1;
        }
        self.iteration_indptr.len().saturating_sub(1)
    }

    /// Feature names saved with the model (empty when none).
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Feature types saved with the model (`q`, `c`, `int`, `float`, …; empty when none).
    pub fn feature_types(&self) -> &[String] {
        &self.feature_types
    }

    /// The categories XGBoost ≥ 3.1 recorded for each categorical feature of a model trained on a DataFrame
    /// (the `gbtree` model's `cats`: per feature, strings or integers in code order); empty when the file
    /// records none (earlier releases, the legacy binary format, models trained on codes).
    pub fn categories(&self) -> &[Option<Categories>] {
        &self.categories
    }

    /// How each feature reads a request's table: categorical where `feature_types` says `c` (with the recorded
    /// categories when there are any), numeric otherwise.
    pub fn feature_kinds(&self) -> Vec<FeatureKind> {
        (0..self.n_features)
            .map(|f| match self.feature_types.get(f).map(String::as_str) {
                Some("c") => FeatureKind::Categorical(self.categories.get(f).cloned().flatten()),
                _ => FeatureKind::Numeric,
            })
            .collect()
    }

    /// The model's string attributes (`best_iteration`, `scikit_learn`, …).
    pub fn attributes(&self) -> &[(String, String)] {
        &self.attributes
    }

    /// `best_iteration` as stored by early stopping (and by `xgb.train` in 1.x).
    pub fn best_iteration(&self) -> Option<usize> {
        self.attributes
            .iter()
            .find(|(k, _)| k == "best_iteration")
            .and_then(|(_, v)| v.trim().parse().ok())
    }

    /// Margins (`output_margin=True`): `n_rows × n_outputs`.
    pub fn predict_margin(&self, x: Rows<'_>, opts: &Predict) -> Result<Output, XgbError> {
        let nf = self.n_features;
        let n_rows = x.n_rows(nf).ok_or_else(|| {
            XgbError::Input(format!(
                "Feature shape mismatch, expected: {nf}, got {} values (not whole rows)",
                x.len()
            ))
        })?;
        let no = self.n_outputs;
        let mut out: Vec<f64> = Vec::with_capacity(n_rows * no);
        for _ in 0..n_rows {
            out.extend_from_slice(&self.base_margin);
        }
        if self.kind == BoosterKind::GbLinear {
            self.linear_into(x, &mut out);
        } else if let Some(trees) = &self.trees {
            let rounds = self.n_rounds();
            let (b, e) = match opts.iteration_range {
                None | Some((0, 0)) => (0, rounds),
                Some((b, e)) if b < e && e <= rounds => (b, e),
                Some((b, e)) => {
                    return Err(XgbError::Input(format!(
                        "iteration_range ({b}, {e}) is outside the model's {rounds} rounds"
                    )));
                }
            };
            let range = self.iteration_indptr[b]..self.iteration_indptr[e];
            trees.predict_into(x, &mut out, range, opts.threads)?;
        }
        Ok(Output {
            values: out,
            n_rows,
            n_cols: no,
        })
    }

    /// What `Booster.predict` returns: the margins through the objective's transformation.
    pub fn predict(&self, x: Rows<'_>, opts: &Predict) -> Result<Output, XgbError> {
        let mut m = self.predict_margin(x, opts)?;
        let no = m.n_cols;
        match self.link {
            Link::Identity => {}
            Link::Sigmoid => m.values.iter_mut().for_each(|v| *v = sigmoid(*v)),
            Link::Exp => m
                .values
                .iter_mut()
                .for_each(|v| *v = f64::from(v.exp() as f32)),
            Link::Hinge => m
                .values
                .iter_mut()
                .for_each(|v| *v = if *v > 0.0 { 1.0 } else { 0.0 }),
            Link::Softmax => m.values.chunks_mut(no).for_each(softmax),
            Link::ArgMax => {
                m.values = m
                    .values
                    .chunks(no)
                    .map(|r| {
                        let mut best = 0;
                        for (k, &v) in r.iter().enumerate() {
                            if v > r[best] {
                                best = k;
                            }
                        }
                        best as f64
                    })
                    .collect();
                m.n_cols = 1;
            }
        }
        Ok(m)
    }

    /// gblinear: `bias + Σ x·w` over the present (non-NaN) features, in float32 as XGBoost sums.
    fn linear_into(&self, x: Rows<'_>, out: &mut [f64]) {
        let nf = self.n_features;
        let no = self.n_outputs;
        let n_rows = out.len() / no;
        for r in 0..n_rows {
            for g in 0..no {
                let mut acc = self.linear[nf * no + g] as f32 + out[r * no + g] as f32;
                for f in 0..nf {
                    let v = match x {
                        Rows::F32(v) => v[r * nf + f],
                        Rows::F64(v) => v[r * nf + f] as f32,
                    };
                    if !v.is_nan() {
                        acc += v * self.linear[f * no + g] as f32;
                    }
                }
                out[r * no + g] = f64::from(acc);
            }
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    let x = x as f32;
    f64::from(1.0f32 / (1.0f32 + (-x).exp()))
}

fn softmax(row: &mut [f64]) {
    let row32: Vec<f32> = row.iter().map(|&v| v as f32).collect();
    let max = row32.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for &v in &row32 {
        sum += (v - max).exp();
    }
    for (o, &v) in row.iter_mut().zip(&row32) {
        *o = f64::from((v - max).exp() / sum);
    }
}

/// The output transformation of an objective.
fn link_of(objective: &str) -> Result<Link, XgbError> {
    Ok(match objective {
        "reg:squarederror"
        | "reg:linear"
        | "reg:squaredlogerror"
        | "reg:pseudohubererror"
        | "reg:absoluteerror"
        | "reg:quantileerror"
        | "binary:logitraw"
        | "reg:expectileerror" => Link::Identity,
        o if o.starts_with("rank:") => Link::Identity,
        "reg:logistic" | "binary:logistic" => Link::Sigmoid,
        "binary:hinge" => Link::Hinge,
        "multi:softprob" => Link::Softmax,
        "multi:softmax" => Link::ArgMax,
        "count:poisson" | "reg:gamma" | "reg:tweedie" | "survival:cox" | "survival:aft" => {
            Link::Exp
        }
        "" => return Err(XgbError::Format("the model names no objective".into())),
        o => return Err(XgbError::Unsupported(format!("objective {o:?}"))),
    })
}

/// The margin a stored `base_score` stands for (XGBoost's `ObjFunction::ProbToMargin`, in float32).
fn prob_to_margin(objective: &str, b: f64) -> Result<f64, XgbError> {
    if !b.is_finite() {
        return Err(XgbError::Format(format!("base_score {b} is not finite")));
    }
    let b32 = b as f32;
    let m = match objective {
        "reg:logistic" | "binary:logistic" => {
            if !(b32 > 0.0 && b32 < 1.0) {
                return Err(XgbError::Format(format!(
                    "base_score {b} must be in (0, 1) for {objective}"
                )));
            }
            -(1.0f32 / b32 - 1.0f32).ln()
        }
        "count:poisson" | "reg:gamma" | "reg:tweedie" | "survival:cox" | "survival:aft" => {
            if b32 <= 0.0 {
                return Err(XgbError::Format(format!(
                    "base_score {b} must be positive for {objective}"
                )));
            }
            b32.ln()
        }
        _ => b32,
    };
    Ok(f64::from(m))
}

/// Which format the bytes are: `{` then a JSON token is JSON, `{` then a UBJSON marker is UBJSON, anything else
/// (including the `binf` magic) the legacy binary format.
fn detect(bytes: &[u8]) -> Format {
    let mut it = bytes
        .iter()
        .copied()
        .skip_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if it.next() != Some(b'{') {
        return Format::LegacyBinary;
    }
    match bytes
        .iter()
        .position(|&b| b == b'{')
        .and_then(|p| bytes.get(p + 1))
    {
        Some(b'"' | b'}' | b' ' | b'\t' | b'\n' | b'\r') => Format::Json,
        _ => Format::Ubjson,
    }
}

/// Converts one tree's node arrays to the evaluator's form.
fn raw_tree(tp: &TreeParts, output: usize, weight: f64) -> Result<RawTree, String> {
    let n = tp.left.len();
    let width = tp.leaf_width.max(1);
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        if tp.left[i] == -1 {
            let leaf = if width > 1 {
                usize::try_from(tp.right[i])
                    .map_err(|_| format!("leaf {i} has a negative leaf index {}", tp.right[i]))?
            } else {
                i
            };
            nodes.push(RawNode::Leaf(leaf));
            continue;
        }
        let child =
            |c: i64| usize::try_from(c).map_err(|_| format!("node {i} has the child index {c}"));
        let feature = usize::try_from(tp.feature[i])
            .map_err(|_| format!("node {i} splits on feature {}", tp.feature[i]))?;
        let categories = match &tp.categorical[i] {
            Some(codes) => Some(
                CategorySplit::from_codes(codes, false).map_err(|e| format!("node {i}: {e}"))?,
            ),
            None => None,
        };
        nodes.push(RawNode::Split {
            feature,
            threshold: tp.value[i],
            left: child(tp.left[i])?,
            right: child(tp.right[i])?,
            default_left: tp.default_left[i],
            missing: Missing::NanDefault,
            categories,
        });
    }
    let leaf_values = if width > 1 {
        tp.leaf_weights.clone()
    } else {
        tp.value
            .iter()
            .map(|&v| if v.is_nan() { 0.0 } else { v })
            .collect()
    };
    Ok(RawTree {
        nodes,
        leaf_values,
        width,
        output,
        weight,
    })
}

fn fmt_err(msg: impl Into<String>) -> XgbError {
    XgbError::Format(msg.into())
}

/// Reads the model document of the JSON and UBJSON formats.
fn from_doc(root: &Doc) -> Result<Parts, XgbError> {
    let learner = root.req("learner", "model")?;
    let mp = learner.req("learner_model_param", "learner")?;
    let count = |d: &Doc, key: &str| -> Result<usize, XgbError> {
        match d.get(key) {
            None => Ok(0),
            Some(v) => v
                .count()
                .ok_or_else(|| fmt_err(format!("learner_model_param.{key} is not a count"))),
        }
    };
    let base_score = match mp.get("base_score") {
        None => vec![0.5],
        Some(Doc::Str(s)) => parse_base_score(s)?,
        Some(d) => match (d.num(), d.nums()) {
            (Some(v), _) => vec![v],
            (_, Some(v)) => v.to_vec(),
            _ => return Err(fmt_err("base_score is neither a number nor a list")),
        },
    };
    let objective = learner
        .req("objective", "learner")?
        .req("name", "learner.objective")?
        .as_str()
        .ok_or_else(|| fmt_err("objective name is not a string"))?
        .to_string();
    let strings = |key: &str| -> Vec<String> {
        learner
            .get(key)
            .and_then(Doc::arr)
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let attributes = match learner.get("attributes") {
        Some(Doc::Obj(m)) => m
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
            .collect(),
        _ => Vec::new(),
    };
    let mut parts = Parts {
        objective,
        base_score,
        num_feature: count(mp, "num_feature")?,
        num_class: count(mp, "num_class")?,
        num_target: count(mp, "num_target")?.max(1),
        feature_names: strings("feature_names"),
        feature_types: strings("feature_types"),
        attributes,
        ..Parts::default()
    };
    let gb = learner.req("gradient_booster", "learner")?;
    let name = gb
        .req("name", "gradient_booster")?
        .as_str()
        .unwrap_or_default();
    match name {
        "gbtree" => read_gbtree(gb.req("model", "gradient_booster")?, &mut parts)?,
        "dart" => {
            parts.kind = BoosterKind::Dart;
            let inner = gb.req("gbtree", "gradient_booster")?;
            read_gbtree(inner.req("model", "gradient_booster.gbtree")?, &mut parts)?;
            let w = gb
                .req("weight_drop", "gradient_booster")?
                .nums()
                .ok_or_else(|| fmt_err("weight_drop is not a list of numbers"))?;
            parts.weight_drop = Some(w.to_vec());
        }
        "gblinear" => {
            parts.kind = BoosterKind::GbLinear;
            let m = gb.req("model", "gradient_booster")?;
            parts.linear_weights = m
                .req("weights", "gblinear")?
                .nums()
                .ok_or_else(|| fmt_err("gblinear weights are not numbers"))?
                .to_vec();
        }
        other => return Err(XgbError::Unsupported(format!("booster {other:?}"))),
    }
    Ok(parts)
}

/// Largest category count accepted for one feature (XGBoost codes categories in float32 without loss up to
/// 2^24).
const MAX_CATEGORIES: usize = 1 << 24;

/// XGBoost ≥ 3.1's category container (`cats`, saved by `CatContainer::Save`): `enc` holds one entry per
/// feature, `{"offsets": [...], "values": [...]}` for string categories (UTF-8 bytes as int8, category `k`
/// being `values[offsets[k]..offsets[k + 1]]`; both empty for a numeric feature) or `{"type": t, "values":
/// [...]}` for integer ones; the code of a category is its position. An empty `enc` records nothing.
fn read_cats(cats: &Doc) -> Result<Vec<Option<Categories>>, XgbError> {
    let Some(enc) = cats.get("enc") else {
        return Ok(Vec::new());
    };
    let enc = enc.arr().ok_or_else(|| fmt_err("cats.enc is not a list"))?;
    enc.iter()
        .enumerate()
        .map(|(f, column)| {
            let what = |msg: &str| fmt_err(format!("cats.enc[{f}]: {msg}"));
            let values = column
                .get("values")
                .and_then(Doc::nums)
                .ok_or_else(|| what("values is not a list of numbers"))?;
            if let Some(offsets) = column.get("offsets") {
                let offsets = offsets
                    .nums()
                    .ok_or_else(|| what("offsets is not a list of numbers"))?;
                if offsets.is_empty() {
                    return Ok(None);
                }
                let bytes = values
                    .iter()
                    .map(|&v| {
                        (v.fract() == 0.0 && (-128.0..=255.0).contains(&v))
                            .then_some(v as i64 as u8)
                            .ok_or_else(|| what("a string byte is out of range"))
                    })
                    .collect::<Result<Vec<u8>, _>>()?;
                if offsets.len() - 1 > MAX_CATEGORIES {
                    return Err(what("too many categories"));
                }
                let strings = offsets
                    .windows(2)
                    .map(|w| {
                        let (a, b) = (
                            to_index(w[0], "cats offsets")?,
                            to_index(w[1], "cats offsets")?,
                        );
                        let slice = bytes
                            .get(a..b)
                            .ok_or_else(|| what("offsets are not increasing within the values"))?;
                        // XGBoost 3.2 with pandas 3 writes character offsets over UTF-8 bytes, which cuts
                        // non-ASCII categories short: such a category matches no request string (kept lossy
                        // rather than refusing a model XGBoost loads).
                        Ok::<_, XgbError>(String::from_utf8_lossy(slice).into_owned())
                    })
                    .collect::<Result<Vec<String>, _>>()?;
                return Ok(Some(Categories::Str(strings)));
            }
            if values.is_empty() {
                return Ok(None);
            }
            if values.len() > MAX_CATEGORIES {
                return Err(what("too many categories"));
            }
            if values.iter().any(|v| !v.is_finite() || v.fract() != 0.0) {
                return Err(what("an integer category is not an integer"));
            }
            Ok(Some(Categories::Num(values.to_vec())))
        })
        .collect()
}

/// `base_score` as XGBoost writes it: `"5E-1"`, or `"[5E-1,2E-1]"` (XGBoost 3's per-output vector).
fn parse_base_score(s: &str) -> Result<Vec<f64>, XgbError> {
    let t = s.trim();
    let inner = t.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    let items: Vec<&str> = match inner {
        Some(r) => r.split(',').collect(),
        None => vec![t],
    };
    items
        .iter()
        .map(|v| {
            v.trim().parse::<f64>().map_err(|_| {
                fmt_err(format!(
                    "base_score {s:?} is not a number or a list of numbers"
                ))
            })
        })
        .collect()
}

fn read_gbtree(model: &Doc, parts: &mut Parts) -> Result<(), XgbError> {
    let mp = model.req("gbtree_model_param", "gbtree model")?;
    parts.num_parallel_tree = mp
        .get("num_parallel_tree")
        .and_then(Doc::count)
        .unwrap_or(1)
        .max(1);
    let trees = model
        .req("trees", "gbtree model")?
        .arr()
        .ok_or_else(|| fmt_err("trees is not a list"))?;
    if let Some(n) = mp.get("num_trees").and_then(Doc::count)
        && n != trees.len()
    {
        return Err(fmt_err(format!(
            "num_trees is {n} but {} trees are stored",
            trees.len()
        )));
    }
    parts.tree_info = model
        .req("tree_info", "gbtree model")?
        .nums()
        .ok_or_else(|| fmt_err("tree_info is not a list of numbers"))?
        .iter()
        .map(|&g| to_index(g, "tree_info"))
        .collect::<Result<_, _>>()?;
    if let Some(cats) = model.get("cats") {
        parts.categories = read_cats(cats)?;
    }
    if let Some(ptr) = model.get("iteration_indptr").and_then(Doc::nums) {
        parts.iteration_indptr = Some(
            ptr.iter()
                .map(|&v| to_index(v, "iteration_indptr"))
                .collect::<Result<_, _>>()?,
        );
    }
    for (t, tree) in trees.iter().enumerate() {
        parts
            .trees
            .push(read_tree(tree).map_err(|e| fmt_err(format!("tree {t}: {e}")))?);
    }
    Ok(())
}

fn to_index(v: f64, what: &str) -> Result<usize, XgbError> {
    if v.fract() == 0.0 && (0.0..4.0e9).contains(&v) {
        Ok(v as usize)
    } else {
        Err(fmt_err(format!("{what} holds {v}, not an index")))
    }
}

fn read_tree(t: &Doc) -> Result<TreeParts, String> {
    let nums = |key: &str| -> Result<&[f64], String> {
        t.get(key)
            .and_then(Doc::nums)
            .ok_or_else(|| format!("`{key}` is missing or not a list of numbers"))
    };
    let left = nums("left_children")?;
    let n = left.len();
    if n == 0 {
        return Err("has no nodes".into());
    }
    let param = t.get("tree_param");
    if let Some(declared) = param.and_then(|p| p.get("num_nodes")).and_then(Doc::count)
        && declared != n
    {
        return Err(format!("num_nodes is {declared} but {n} nodes are stored"));
    }
    let same = |key: &str| -> Result<&[f64], String> {
        let v = nums(key)?;
        if v.len() != n {
            return Err(format!("`{key}` has {} entries for {n} nodes", v.len()));
        }
        Ok(v)
    };
    let right = same("right_children")?;
    let feature = same("split_indices")?;
    let cond = same("split_conditions")?;
    let default_left = same("default_left")?;
    let split_type = match t.get("split_type").and_then(Doc::nums) {
        Some(v) if v.len() == n => v.to_vec(),
        Some([]) => vec![0.0; n],
        Some(v) => {
            return Err(format!(
                "`split_type` has {} entries for {n} nodes",
                v.len()
            ));
        }
        None => vec![0.0; n],
    };
    let int = |v: f64, what: &str| -> Result<i64, String> {
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            Ok(v as i64)
        } else {
            Err(format!("{what} holds {v}, not an integer"))
        }
    };
    let mut tp = TreeParts::with_capacity(n);
    for i in 0..n {
        tp.left.push(int(left[i], "left_children")?);
        tp.right.push(int(right[i], "right_children")?);
        tp.feature.push(int(feature[i], "split_indices")?);
        tp.default_left.push(default_left[i] != 0.0);
        tp.value.push(f64::from(cond[i] as f32));
        tp.categorical.push(None);
    }
    // Categorical splits: node k's categories are categories[segments[k] .. segments[k] + sizes[k]].
    let cat_nodes = t.get("categories_nodes").and_then(Doc::nums).unwrap_or(&[]);
    if !cat_nodes.is_empty() {
        let seg = nums("categories_segments")?;
        let sizes = nums("categories_sizes")?;
        let cats = nums("categories")?;
        if seg.len() != cat_nodes.len() || sizes.len() != cat_nodes.len() {
            return Err("categories_nodes, _segments and _sizes differ in length".into());
        }
        for k in 0..cat_nodes.len() {
            let node = usize::try_from(int(cat_nodes[k], "categories_nodes")?)
                .ok()
                .filter(|&v| v < n)
                .ok_or_else(|| {
                    format!("categories_nodes names node {} out of range", cat_nodes[k])
                })?;
            let s = usize::try_from(int(seg[k], "categories_segments")?)
                .map_err(|_| "negative segment")?;
            let len =
                usize::try_from(int(sizes[k], "categories_sizes")?).map_err(|_| "negative size")?;
            let set = s
                .checked_add(len)
                .and_then(|e| cats.get(s..e))
                .ok_or_else(|| {
                    format!(
                        "category segment {s}+{len} outside the {} categories",
                        cats.len()
                    )
                })?;
            let codes = set
                .iter()
                .map(|&c| {
                    u32::try_from(int(c, "categories")?)
                        .map_err(|_| format!("category {c} is negative or too large"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            tp.categorical[node] = Some(codes);
        }
    }
    for (i, &st) in split_type.iter().enumerate() {
        if st != 0.0 && tp.left[i] != -1 && tp.categorical[i].is_none() {
            // A categorical split with no stored categories sends every valid category left.
            tp.categorical[i] = Some(Vec::new());
        }
    }
    let width = param
        .and_then(|p| p.get("size_leaf_vector"))
        .and_then(Doc::count)
        .unwrap_or(1)
        .max(1);
    if width > 1 {
        tp.leaf_width = width;
        tp.leaf_weights = nums("leaf_weights")?.to_vec();
        tp.leaf_weights
            .iter_mut()
            .for_each(|v| *v = f64::from(*v as f32));
    }
    Ok(tp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(detect(b"{\"learner\":{}}"), Format::Json);
        assert_eq!(detect(b"  {\n \"a\":1}"), Format::Json);
        assert_eq!(detect(b"{L\x00"), Format::Ubjson);
        assert_eq!(detect(b"binf\x00\x00"), Format::LegacyBinary);
        assert_eq!(detect(b""), Format::LegacyBinary);
    }

    #[test]
    fn base_score_forms() {
        assert_eq!(parse_base_score("5E-1").unwrap(), [0.5]);
        assert_eq!(parse_base_score("[5E-1,2.5E-1]").unwrap(), [0.5, 0.25]);
        assert!(parse_base_score("[x]").is_err());
        assert_eq!(prob_to_margin("binary:logistic", 0.5).unwrap(), 0.0);
        assert!(prob_to_margin("binary:logistic", 1.5).is_err());
        assert_eq!(prob_to_margin("count:poisson", 1.0).unwrap(), 0.0);
    }
}
