//! LightGBM models without LightGBM: reads the text model (`model.txt`, and `model.bst` as MLServer and KServe
//! name the same text) and predicts as `Booster.predict` does.
//!
//! Trees evaluate through `oxserve-trees` with LightGBM's rules: float64 inputs, `x <= threshold`, the
//! `decision_type` bits (categorical bitsets from `cat_boundaries`/`cat_threshold`, default-left, missing type
//! None/Zero/NaN with LightGBM's zero threshold of ±1e-35), sums in float64 tree by tree. Linear trees (`is_linear`)
//! add each leaf's linear model (the plain leaf value when a used feature is NaN). `average_output` (random-forest
//! mode) divides the transformed output's input by the iterations used; the raw score stays the sum, as LightGBM's
//! `raw_score=True` returns it.

use oxserve_core::{Categories, FeatureKind};
use oxserve_trees::{CategorySplit, Ensemble, Missing, RawNode, RawTree, Rules};
pub use oxserve_trees::{Output, Rows};

/// Why a model was refused or a prediction failed.
#[derive(Debug, thiserror::Error)]
pub enum LgbError {
    /// The text is not a well-formed LightGBM model.
    #[error("invalid LightGBM model: {0}")]
    Format(String),
    /// The model is well-formed but uses something this crate does not implement.
    #[error("unsupported LightGBM model: {0}")]
    Unsupported(String),
    /// A tree is structurally invalid.
    #[error("invalid LightGBM model: {0}")]
    Tree(#[from] oxserve_trees::TreeError),
    /// The input does not fit the model.
    #[error("{0}")]
    Input(String),
}

fn bad(msg: impl Into<String>) -> LgbError {
    LgbError::Format(msg.into())
}

/// The output transformation of an objective (LightGBM's `ConvertOutput`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Link {
    /// The raw score (regression family, ranking, custom objectives).
    Identity,
    /// `sign(x)·x²` (regression objectives trained with `reg_sqrt`).
    Square,
    /// `1 / (1 + exp(-s·x))` (`binary`, `cross_entropy` with s = 1).
    Sigmoid(f64),
    /// Per-class sigmoid (`multiclassova`).
    OvaSigmoid(f64),
    /// Probabilities over the classes (`multiclass`).
    Softmax,
    /// `exp(x)` (Poisson, gamma, Tweedie).
    Exp,
    /// `log(1 + exp(x))` (`cross_entropy_lambda`).
    Softplus,
}

/// Options of one prediction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Predict {
    /// First iteration used (`start_iteration`).
    pub start_iteration: usize,
    /// Iterations used from there (`num_iteration`); `None` or 0: all the rest.
    pub num_iteration: Option<usize>,
    /// Threads for large batches (0 or 1: the calling thread only).
    pub threads: usize,
}

/// One linear leaf: constant, features and coefficients.
#[derive(Debug, Clone, Default)]
struct LinearLeaf {
    constant: f64,
    features: Vec<usize>,
    coeffs: Vec<f64>,
    /// The plain leaf value, used when a feature of the linear model is NaN.
    fallback: f64,
}

/// A loaded, validated LightGBM model.
#[derive(Debug, Clone)]
pub struct Booster {
    objective: String,
    link: Link,
    n_features: usize,
    num_class: usize,
    per_iteration: usize,
    average_output: bool,
    ensemble: Ensemble,
    /// Per tree, its linear leaves (empty for constant trees).
    linear: Vec<Vec<LinearLeaf>>,
    /// Per tree, the node index of its first leaf in the ensemble's raw trees.
    first_leaf: Vec<u32>,
    feature_names: Vec<String>,
    feature_types: Vec<String>,
    pandas_categorical: Option<String>,
    /// How each feature reads a table (categorical ones with their `pandas_categorical` list when it maps).
    feature_kinds: Vec<FeatureKind>,
}

/// The kind of one `feature_infos` entry: LightGBM writes `[min:max]` for a numerical feature, `none` for one
/// without splits, and the category values joined by `:` for a categorical one.
fn feature_type(info: &str) -> String {
    let categorical = info != "none" && !info.starts_with('[');
    if categorical {
        "categorical"
    } else {
        "numerical"
    }
    .to_string()
}

/// The categorical features: the `[categorical_feature: 1,3]` parameter line when the file has one that reads,
/// else the features whose `feature_infos` entry lists categories.
fn categorical_features(tail: &str, feature_types: &[String], n_features: usize) -> Vec<usize> {
    let listed = tail
        .lines()
        .find_map(|l| l.strip_prefix("[categorical_feature:"))
        .and_then(|l| l.trim().strip_suffix(']'))
        .map(str::trim)
        .and_then(|l| {
            if l.is_empty() {
                return Some(Vec::new());
            }
            l.split(',')
                .map(|i| i.trim().parse::<usize>().ok().filter(|&i| i < n_features))
                .collect::<Option<Vec<usize>>>()
        });
    listed.unwrap_or_else(|| {
        feature_types
            .iter()
            .enumerate()
            .filter(|(_, t)| *t == "categorical")
            .map(|(i, _)| i)
            .collect()
    })
}

/// Each feature's kind, the `pandas_categorical` lists (JSON, as `json.dumps` wrote them) paired in order with
/// the categorical features when there are as many.
fn feature_kinds(
    n_features: usize,
    categorical: &[usize],
    pandas_categorical: Option<&str>,
) -> Result<Vec<FeatureKind>, LgbError> {
    // A list of other values (booleans, mixed types) leaves its feature on codes only.
    let lists: Vec<Option<Categories>> = match pandas_categorical {
        None => Vec::new(),
        Some(text) => {
            let value: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| bad(format!("pandas_categorical is not JSON: {e}")))?;
            let lists = value
                .as_array()
                .ok_or_else(|| bad("pandas_categorical is not a list"))?;
            lists
                .iter()
                .map(|list| {
                    let items = list.as_array()?;
                    if let Some(strings) = items
                        .iter()
                        .map(|v| v.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                    {
                        return Some(Categories::Str(strings));
                    }
                    items
                        .iter()
                        .map(serde_json::Value::as_f64)
                        .collect::<Option<Vec<_>>>()
                        .map(Categories::Num)
                })
                .collect()
        }
    };
    let paired = lists.len() == categorical.len();
    let mut kinds = vec![FeatureKind::Numeric; n_features];
    for (k, &f) in categorical.iter().enumerate() {
        if let Some(kind) = kinds.get_mut(f) {
            *kind = FeatureKind::Categorical(if paired {
                lists.get(k).cloned().flatten()
            } else {
                None
            });
        }
    }
    Ok(kinds)
}

/// Largest counts accepted from a header (hostile files declare more).
const MAX_FEATURES: usize = 1 << 24;
const MAX_CLASSES: usize = 1 << 16;
const MAX_LEAVES: usize = 1 << 24;

/// The `key=value` lines of one section.
struct Section<'a> {
    lines: Vec<(&'a str, &'a str)>,
    flags: Vec<&'a str>,
}

impl<'a> Section<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.lines.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn req(&self, key: &str, what: &str) -> Result<&'a str, LgbError> {
        self.get(key)
            .ok_or_else(|| bad(format!("{what}: missing `{key}=`")))
    }
}

fn parse_num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, LgbError> {
    s.trim()
        .parse()
        .map_err(|_| bad(format!("{what}: {s:?} is not a number")))
}

/// A whitespace-separated list of exactly `n` numbers.
fn list<T: std::str::FromStr>(s: &str, n: usize, what: &str) -> Result<Vec<T>, LgbError> {
    let v: Vec<T> = s
        .split_ascii_whitespace()
        .map(|t| parse_num(t, what))
        .collect::<Result<_, _>>()?;
    if v.len() != n {
        return Err(bad(format!("{what} has {} values, expected {n}", v.len())));
    }
    Ok(v)
}

impl Booster {
    /// Reads a text model from its bytes.
    pub fn load(bytes: &[u8]) -> Result<Booster, LgbError> {
        let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 text: {e}")))?;
        Booster::from_text(text)
    }

    /// Reads a text model.
    pub fn from_text(text: &str) -> Result<Booster, LgbError> {
        // Sections: the header, then `Tree=k` blocks up to `end of trees`; the rest (importances, parameters,
        // pandas_categorical) is informational.
        let body = match text.find("\nend of trees") {
            Some(p) => &text[..p],
            None => return Err(bad("no `end of trees` line (truncated file?)")),
        };
        let tail = &text[body.len()..];
        let mut sections: Vec<Section<'_>> = vec![Section {
            lines: Vec::new(),
            flags: Vec::new(),
        }];
        let mut tree_ids = Vec::new();
        for line in body.lines() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            if let Some(id) = line.strip_prefix("Tree=") {
                tree_ids.push(id.to_string());
                sections.push(Section {
                    lines: Vec::new(),
                    flags: Vec::new(),
                });
                continue;
            }
            let s = sections.last_mut().ok_or_else(|| bad("no section"))?;
            match line.split_once('=') {
                Some((k, v)) => s.lines.push((k, v)),
                None => s.flags.push(line),
            }
        }
        let header = &sections[0];
        if header.flags.first().copied() != Some("tree") {
            return Err(bad("the model does not start with `tree`"));
        }
        let max_feature_idx: i64 =
            parse_num(header.req("max_feature_idx", "header")?, "max_feature_idx")?;
        let n_features = usize::try_from(max_feature_idx + 1)
            .ok()
            .filter(|&n| n <= MAX_FEATURES)
            .ok_or_else(|| bad(format!("max_feature_idx {max_feature_idx} is out of range")))?;
        let num_class: usize = parse_num(header.req("num_class", "header")?, "num_class")?;
        let per_iteration: usize = match header.get("num_tree_per_iteration") {
            Some(v) => parse_num(v, "num_tree_per_iteration")?,
            None => num_class,
        };
        if num_class == 0
            || num_class > MAX_CLASSES
            || per_iteration == 0
            || per_iteration > MAX_CLASSES
        {
            return Err(bad(format!(
                "num_class {num_class} / num_tree_per_iteration {per_iteration} out of range"
            )));
        }
        let objective = header.get("objective").unwrap_or("").trim().to_string();
        let link = link_of(&objective)?;
        if matches!(link, Link::Softmax | Link::OvaSigmoid(_)) && per_iteration != num_class {
            return Err(bad(format!(
                "{objective} with {per_iteration} trees per iteration for {num_class} classes"
            )));
        }
        let average_output = header.flags.contains(&"average_output");
        let feature_names = header
            .get("feature_names")
            .map(|s| s.split_ascii_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let feature_types: Vec<String> = header
            .get("feature_infos")
            .map(|s| s.split_ascii_whitespace().map(feature_type).collect())
            .unwrap_or_default();
        let trees_sections = &sections[1..];
        if !trees_sections.len().is_multiple_of(per_iteration) {
            return Err(bad(format!(
                "{} trees is not a whole number of iterations of {per_iteration}",
                trees_sections.len()
            )));
        }
        let mut raw = Vec::with_capacity(trees_sections.len());
        let mut linear = Vec::with_capacity(trees_sections.len());
        let mut first_leaf = Vec::with_capacity(trees_sections.len());
        for (t, s) in trees_sections.iter().enumerate() {
            let what = format!("Tree={}", tree_ids[t]);
            let (tree, lin) = read_tree(s, &what, t % per_iteration, n_features)?;
            first_leaf.push(tree.nodes.len().saturating_sub(tree.leaf_values.len()) as u32);
            raw.push(tree);
            linear.push(lin);
        }
        let ensemble = Ensemble::new(&raw, n_features, per_iteration, Rules::LIGHTGBM)?;
        let pandas_categorical = tail
            .lines()
            .find_map(|l| l.strip_prefix("pandas_categorical:"))
            .map(str::to_string)
            .filter(|s| s != "null");
        let categorical = categorical_features(tail, &feature_types, n_features);
        let feature_kinds = feature_kinds(n_features, &categorical, pandas_categorical.as_deref())?;
        Ok(Booster {
            objective,
            link,
            n_features,
            num_class,
            per_iteration,
            average_output,
            ensemble,
            linear,
            first_leaf,
            feature_names,
            feature_types,
            pandas_categorical,
            feature_kinds,
        })
    }

    /// The objective line (`binary sigmoid:1`, …).
    pub fn objective(&self) -> &str {
        &self.objective
    }

    /// The output transformation `predict` applies.
    pub fn link(&self) -> Link {
        self.link
    }

    /// Input columns (`max_feature_idx + 1`).
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// `num_class`.
    pub fn num_class(&self) -> usize {
        self.num_class
    }

    /// Output columns (`num_tree_per_iteration`).
    pub fn n_outputs(&self) -> usize {
        self.per_iteration
    }

    /// Boosting iterations stored.
    pub fn n_iterations(&self) -> usize {
        self.ensemble.trees().len() / self.per_iteration
    }

    /// Whether outputs are averaged over iterations (random-forest mode).
    pub fn average_output(&self) -> bool {
        self.average_output
    }

    /// Feature names saved with the model.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Each feature's kind as its `feature_infos` entry implies: `categorical` for a list of categories
    /// (`0:3:7`), `numerical` for a range (`[-1.5:3]`) or `none` (a feature training never split on); empty
    /// when the file has no `feature_infos` line.
    pub fn feature_types(&self) -> &[String] {
        &self.feature_types
    }

    /// The `pandas_categorical` line (JSON) when the model was trained on a DataFrame with categories.
    pub fn pandas_categorical(&self) -> Option<&str> {
        self.pandas_categorical.as_deref()
    }

    /// How each feature reads a request's table: the categorical features (the `categorical_feature` parameter
    /// the file records, else the ones `feature_infos` lists categories for) with their categories from
    /// `pandas_categorical` when the model was trained on a DataFrame (its k-th list belongs to the k-th
    /// categorical feature, as `_data_from_pandas` pairs them; when the counts differ, as when an ordered pandas
    /// category was trained as a number, no list is assigned and the features take codes only); the rest numeric.
    pub fn feature_kinds(&self) -> &[FeatureKind] {
        &self.feature_kinds
    }

    fn iterations(&self, opts: &Predict) -> Result<(usize, usize), LgbError> {
        let total = self.n_iterations();
        let start = opts.start_iteration.min(total);
        let n = match opts.num_iteration {
            None | Some(0) => total - start,
            Some(n) => n.min(total - start),
        };
        Ok((start, n))
    }

    /// Raw scores (`raw_score=True`): `n_rows × n_outputs`.
    pub fn predict_raw(&self, x: Rows<'_>, opts: &Predict) -> Result<Output, LgbError> {
        let nf = self.n_features;
        let n_rows = x.n_rows(nf).ok_or_else(|| {
            LgbError::Input(format!(
                "The number of features in data ({} values) is not a multiple of the {nf} features the model was trained with",
                x.len()
            ))
        })?;
        let no = self.per_iteration;
        let (start, n) = self.iterations(opts)?;
        let trees = start * no..(start + n) * no;
        let mut out = vec![0.0; n_rows * no];
        if self.linear[trees.clone()].iter().all(Vec::is_empty) {
            self.ensemble
                .predict_into(x, &mut out, trees, opts.threads)?;
        } else {
            self.predict_linear(x, n_rows, trees, &mut out)?;
        }
        Ok(Output {
            values: out,
            n_rows,
            n_cols: no,
        })
    }

    /// Linear trees: the leaf each row reaches, then its linear model.
    fn predict_linear(
        &self,
        x: Rows<'_>,
        n_rows: usize,
        trees: std::ops::Range<usize>,
        out: &mut [f64],
    ) -> Result<(), LgbError> {
        let nf = self.n_features;
        let no = self.per_iteration;
        let leaves = self.ensemble.leaf_indices(x)?;
        let nt = self.ensemble.trees().len();
        let value = |r: usize, f: usize| match x {
            Rows::F32(v) => f64::from(v[r * nf + f]),
            Rows::F64(v) => v[r * nf + f],
        };
        for r in 0..n_rows {
            for t in trees.clone() {
                let tree = &self.ensemble.trees()[t];
                let node = leaves[r * nt + t];
                let leaf = node.saturating_sub(self.first_leaf[t]) as usize;
                let lin = &self.linear[t];
                let add = match lin.get(leaf) {
                    None => 0.0,
                    Some(l) => {
                        let mut acc = l.constant;
                        let mut nan = false;
                        for (&f, &c) in l.features.iter().zip(&l.coeffs) {
                            let v = value(r, f);
                            if v.is_nan() {
                                nan = true;
                                break;
                            }
                            acc += c * v;
                        }
                        if nan { l.fallback } else { acc }
                    }
                };
                out[r * no + tree.output()] += add;
            }
        }
        Ok(())
    }

    /// What `Booster.predict` returns: the raw scores (averaged in random-forest mode) through the objective's
    /// transformation.
    pub fn predict(&self, x: Rows<'_>, opts: &Predict) -> Result<Output, LgbError> {
        let mut m = self.predict_raw(x, opts)?;
        let (_, n) = self.iterations(opts)?;
        if self.average_output && n > 0 {
            let d = n as f64;
            m.values.iter_mut().for_each(|v| *v /= d);
        }
        let no = m.n_cols;
        let sig = |s: f64, v: f64| 1.0 / (1.0 + (-s * v).exp());
        match self.link {
            Link::Identity => {}
            Link::Square => m.values.iter_mut().for_each(|v| *v = v.signum() * *v * *v),
            Link::Sigmoid(s) | Link::OvaSigmoid(s) => {
                m.values.iter_mut().for_each(|v| *v = sig(s, *v))
            }
            Link::Exp => m.values.iter_mut().for_each(|v| *v = v.exp()),
            Link::Softplus => m.values.iter_mut().for_each(|v| *v = v.exp().ln_1p()),
            Link::Softmax => m.values.chunks_mut(no).for_each(|row| {
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut sum = 0.0;
                for v in row.iter_mut() {
                    *v = (*v - max).exp();
                    sum += *v;
                }
                row.iter_mut().for_each(|v| *v /= sum);
            }),
        }
        Ok(m)
    }
}

/// The transformation of an objective line (`name key:value …`).
fn link_of(objective: &str) -> Result<Link, LgbError> {
    let mut parts = objective.split_ascii_whitespace();
    let name = parts.next().unwrap_or("");
    let params: Vec<&str> = parts.collect();
    let sigmoid = || -> Result<f64, LgbError> {
        match params.iter().find_map(|p| p.strip_prefix("sigmoid:")) {
            Some(s) => {
                let v: f64 = parse_num(s, "sigmoid")?;
                if v.is_finite() && v > 0.0 {
                    Ok(v)
                } else {
                    Err(bad(format!("sigmoid {v} must be positive")))
                }
            }
            None => Ok(1.0),
        }
    };
    let sqrt = params.contains(&"sqrt");
    Ok(match name {
        "regression"
        | "regression_l2"
        | "l2"
        | "mean_squared_error"
        | "mse"
        | "rmse"
        | "regression_l1"
        | "l1"
        | "mean_absolute_error"
        | "mae"
        | "huber"
        | "fair"
        | "quantile"
        | "mape"
        | "mean_absolute_percentage_error" => {
            if sqrt {
                Link::Square
            } else {
                Link::Identity
            }
        }
        "" | "custom" | "none" | "null" | "lambdarank" | "rank_xendcg" | "xendcg" | "xe_ndcg"
        | "xe_ndcg_mart" | "xendcg_mart" => Link::Identity,
        "binary" => Link::Sigmoid(sigmoid()?),
        "multiclassova" | "multiclass_ova" | "ova" | "ovr" => Link::OvaSigmoid(sigmoid()?),
        "multiclass" | "softmax" => Link::Softmax,
        "cross_entropy" | "xentropy" => Link::Sigmoid(1.0),
        "cross_entropy_lambda" | "xentlambda" => Link::Softplus,
        "poisson" | "gamma" | "tweedie" => Link::Exp,
        other => return Err(LgbError::Unsupported(format!("objective {other:?}"))),
    })
}

/// Reads one `Tree=` block into the evaluator's form: internal nodes first (`0..num_leaves-1`), then the leaves
/// (`num_leaves-1+k` for leaf k), so a raw node index minus `num_leaves-1` is the leaf index.
fn read_tree(
    s: &Section<'_>,
    what: &str,
    output: usize,
    n_features: usize,
) -> Result<(RawTree, Vec<LinearLeaf>), LgbError> {
    let num_leaves: usize = parse_num(s.req("num_leaves", what)?, what)?;
    if num_leaves == 0 || num_leaves > MAX_LEAVES {
        return Err(bad(format!("{what}: num_leaves {num_leaves} out of range")));
    }
    let leaf_values: Vec<f64> = list(
        s.req("leaf_value", what)?,
        num_leaves,
        &format!("{what} leaf_value"),
    )?;
    let shrinkage_ok = leaf_values.iter().all(|v| v.is_finite());
    if !shrinkage_ok {
        return Err(bad(format!("{what}: a leaf value is not finite")));
    }
    let n_int = num_leaves - 1;
    let mut nodes = Vec::with_capacity(2 * num_leaves - 1);
    if n_int > 0 {
        let f = |k: &str| -> Result<&str, LgbError> { s.req(k, what) };
        let feature: Vec<i64> = list(f("split_feature")?, n_int, &format!("{what} split_feature"))?;
        let threshold: Vec<f64> = list(f("threshold")?, n_int, &format!("{what} threshold"))?;
        let decision: Vec<i64> =
            list(f("decision_type")?, n_int, &format!("{what} decision_type"))?;
        let left: Vec<i64> = list(f("left_child")?, n_int, &format!("{what} left_child"))?;
        let right: Vec<i64> = list(f("right_child")?, n_int, &format!("{what} right_child"))?;
        let num_cat: usize = s
            .get("num_cat")
            .map(|v| parse_num(v, what))
            .transpose()?
            .unwrap_or(0);
        let (bounds, bits): (Vec<usize>, Vec<u32>) = if num_cat > 0 {
            if num_cat > n_int {
                return Err(bad(format!(
                    "{what}: num_cat {num_cat} exceeds the {n_int} splits"
                )));
            }
            let b: Vec<usize> = list(
                f("cat_boundaries")?,
                num_cat + 1,
                &format!("{what} cat_boundaries"),
            )?;
            let last = b.last().copied().unwrap_or(0);
            let bits: Vec<u32> = list(f("cat_threshold")?, last, &format!("{what} cat_threshold"))?;
            if b.windows(2).any(|w| w[0] > w[1]) || b[0] != 0 {
                return Err(bad(format!(
                    "{what}: cat_boundaries are not increasing from 0"
                )));
            }
            (b, bits)
        } else {
            (Vec::new(), Vec::new())
        };
        let child = |c: i64, i: usize| -> Result<usize, LgbError> {
            if c >= 0 {
                usize::try_from(c)
                    .ok()
                    .filter(|&c| c < n_int)
                    .ok_or_else(|| bad(format!("{what}: node {i} has child {c}, out of range")))
            } else {
                let leaf =
                    usize::try_from(!c).map_err(|_| bad(format!("{what}: bad child {c}")))?;
                if leaf >= num_leaves {
                    return Err(bad(format!(
                        "{what}: node {i} has leaf child {leaf}, but there are {num_leaves} leaves"
                    )));
                }
                Ok(n_int + leaf)
            }
        };
        for i in 0..n_int {
            let d = decision[i];
            if !(0..=15).contains(&d) {
                return Err(bad(format!("{what}: node {i} has decision_type {d}")));
            }
            let categorical = d & 1 != 0;
            let default_left = d & 2 != 0;
            let missing = match (d >> 2) & 3 {
                0 => Missing::NanAsZero,
                1 => Missing::Zero,
                2 => Missing::NanDefault,
                m => return Err(bad(format!("{what}: node {i} has missing type {m}"))),
            };
            let feat = usize::try_from(feature[i])
                .map_err(|_| bad(format!("{what}: node {i} splits on feature {}", feature[i])))?;
            let categories = if categorical {
                let t = threshold[i];
                let k = (t >= 0.0 && t.fract() == 0.0 && t < num_cat as f64)
                    .then_some(t as usize)
                    .ok_or_else(|| {
                        bad(format!(
                            "{what}: node {i} has category set index {t}, but there are {num_cat}"
                        ))
                    })?;
                Some(CategorySplit {
                    bits: bits[bounds[k]..bounds[k + 1]].to_vec(),
                    members_go_left: true,
                    known: None,
                })
            } else {
                None
            };
            nodes.push(RawNode::Split {
                feature: feat,
                threshold: threshold[i],
                left: child(left[i], i)?,
                right: child(right[i], i)?,
                // LightGBM sends NaN right in categorical splits whatever the default-left bit says.
                default_left: default_left && !categorical,
                missing,
                categories,
            });
        }
    }
    for k in 0..num_leaves {
        nodes.push(RawNode::Leaf(k));
    }
    let mut linear = Vec::new();
    if s.get("is_linear").map(str::trim) == Some("1") {
        let consts: Vec<f64> = list(
            s.req("leaf_const", what)?,
            num_leaves,
            &format!("{what} leaf_const"),
        )?;
        let counts: Vec<usize> = list(
            s.req("num_features", what)?,
            num_leaves,
            &format!("{what} num_features"),
        )?;
        let total = counts
            .iter()
            .try_fold(0usize, |a, &c| a.checked_add(c))
            .filter(|&t| t <= n_features.saturating_mul(num_leaves))
            .ok_or_else(|| bad(format!("{what}: num_features too large")))?;
        let feats: Vec<usize> = list(
            s.req("leaf_features", what)?,
            total,
            &format!("{what} leaf_features"),
        )?;
        let coeffs: Vec<f64> = list(
            s.req("leaf_coeff", what)?,
            total,
            &format!("{what} leaf_coeff"),
        )?;
        if let Some(f) = feats.iter().find(|&&f| f >= n_features) {
            return Err(bad(format!(
                "{what}: linear leaf uses feature {f}, but there are {n_features}"
            )));
        }
        if consts.iter().chain(&coeffs).any(|v| !v.is_finite()) {
            return Err(bad(format!("{what}: a linear coefficient is not finite")));
        }
        let mut at = 0;
        for k in 0..num_leaves {
            let c = counts[k];
            linear.push(LinearLeaf {
                constant: consts[k],
                features: feats[at..at + c].to_vec(),
                coeffs: coeffs[at..at + c].to_vec(),
                fallback: leaf_values[k],
            });
            at += c;
        }
    }
    Ok((
        RawTree {
            nodes,
            leaf_values,
            width: 1,
            output,
            weight: 1.0,
        },
        linear,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objective_lines() {
        assert_eq!(link_of("binary sigmoid:0.5").unwrap(), Link::Sigmoid(0.5));
        assert_eq!(link_of("regression sqrt").unwrap(), Link::Square);
        assert_eq!(
            link_of("multiclassova num_class:3 sigmoid:1").unwrap(),
            Link::OvaSigmoid(1.0)
        );
        assert!(link_of("binary sigmoid:-1").is_err());
        assert!(link_of("mystery").is_err());
    }
}
