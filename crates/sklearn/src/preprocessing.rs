//! Transformers: scalers, `Normalizer`, `Binarizer`, one-hot and ordinal encoders, `PolynomialFeatures`, `PCA` /
//! `IncrementalPCA` / `TruncatedSVD`, `SimpleImputer`, identity `FunctionTransformer`, `KBinsDiscretizer`,
//! `PowerTransformer` and `QuantileTransformer` (uniform output).
//! Each offers `transform` only, with one output allocation per batch.

use oxserve_pickle::{ArrayData, Object, Value};

use crate::attrs;
use crate::math::{affine, check_input};
use crate::{ColumnData, Table};
use crate::{Estimator, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &[
    "Binarizer",
    "FunctionTransformer",
    "IncrementalPCA",
    "KBinsDiscretizer",
    "MaxAbsScaler",
    "MinMaxScaler",
    "Normalizer",
    "OneHotEncoder",
    "OrdinalEncoder",
    "PCA",
    "PolynomialFeatures",
    "PowerTransformer",
    "QuantileTransformer",
    "RobustScaler",
    "SimpleImputer",
    "StandardScaler",
    "TruncatedSVD",
];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(Transformer::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
}

/// A fitted transformer: its checks and its operation.
#[derive(Debug)]
struct Transformer {
    class: String,
    n_features: Option<usize>,
    /// Whether NaN passes validation (scalers, encoders and imputers accept it; the rest reject it).
    allow_nan: bool,
    op: Op,
    /// PCA's probabilistic model, for `score_samples`.
    density: Option<Density>,
    /// `feature_names_in_`, when fitted on a DataFrame.
    names: Option<Vec<String>>,
}

/// The Gaussian that probabilistic PCA fits: `score_samples = −½ (x−μ)ᵀP(x−μ) − ½ (n log 2π − log det P)`.
#[derive(Debug)]
struct Density {
    mean: Vec<f64>,
    precision: Matrix,
    constant: f64,
}

impl Density {
    /// scikit-learn's `get_precision` for a fitted PCA (matrix inversion lemma unless the noise variance is 0).
    fn from_pca(obj: &Object, components: &Matrix, mean: &[f64]) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let singular = || SklearnError::bad_model(class, "singular covariance");
        let ev = attrs::f64_vec(obj, "explained_variance_")?;
        let noise = attrs::float(obj, "noise_variance_")?;
        let (k, f) = (components.rows(), components.cols());
        if ev.len() != k {
            return Err(SklearnError::bad_model(
                class,
                "`explained_variance_` does not match `components_`",
            ));
        }
        let mut c = components.clone();
        if attrs::flag(obj, "whiten", false) {
            for (j, v) in ev.iter().enumerate() {
                c.row_mut(j).iter_mut().for_each(|x| *x *= v.sqrt());
            }
        }
        let diff: Vec<f64> = ev
            .iter()
            .map(|v| if *v > noise { v - noise } else { 0.0 })
            .collect();
        let mut precision = Matrix::zeros(f, f);
        if k == 0 {
            for i in 0..f {
                precision.row_mut(i)[i] = 1.0 / noise;
            }
        } else if noise == 0.0 {
            let mut cov = Matrix::zeros(f, f);
            for a in 0..f {
                for b in 0..f {
                    cov.row_mut(a)[b] = (0..k).map(|j| c.row(j)[a] * diff[j] * c.row(j)[b]).sum();
                }
            }
            precision = crate::math::invert(&cov).ok_or_else(singular)?;
        } else {
            let mut inner = Matrix::zeros(k, k);
            for (a, da) in diff.iter().enumerate() {
                for b in 0..k {
                    inner.row_mut(a)[b] = crate::math::dot(c.row(a), c.row(b)) / noise;
                }
                inner.row_mut(a)[a] += 1.0 / da;
            }
            let inv = crate::math::invert(&inner).ok_or_else(singular)?;
            for a in 0..f {
                for b in 0..f {
                    let mut s = 0.0;
                    for i in 0..k {
                        for j in 0..k {
                            s += c.row(i)[a] * inv.row(i)[j] * c.row(j)[b];
                        }
                    }
                    precision.row_mut(a)[b] = s / -(noise * noise);
                }
                precision.row_mut(a)[a] += 1.0 / noise;
            }
        }
        let constant =
            -0.5 * (f as f64 * (2.0 * std::f64::consts::PI).ln() - crate::math::logdet(&precision));
        Ok(Density {
            mean: mean.to_vec(),
            precision,
            constant,
        })
    }

    fn score(&self, x: &Matrix) -> Vec<f64> {
        let f = self.mean.len();
        let mut centred = vec![0.0; f];
        x.iter_rows()
            .map(|xr| {
                for ((c, v), m) in centred.iter_mut().zip(xr).zip(&self.mean) {
                    *c = v - m;
                }
                let mut q = 0.0;
                for (a, ca) in centred.iter().enumerate() {
                    q += ca * crate::math::dot(&centred, self.precision.row(a));
                }
                -0.5 * q + self.constant
            })
            .collect()
    }
}

#[derive(Debug)]
enum Op {
    /// Element-wise `((x − sub) / div) · mul + add`, then clipped (the scalers).
    Scale {
        sub: Option<Vec<f64>>,
        div: Option<Vec<f64>>,
        mul: Option<Vec<f64>>,
        add: Option<Vec<f64>>,
        clip: Option<(f64, f64)>,
    },
    Normalize(Norm),
    Binarize(f64),
    OneHot(OneHot),
    Ordinal(Ordinal),
    /// One output column per combination of input columns (their product; empty = the bias column).
    Poly(Vec<Vec<usize>>),
    /// `x · componentsᵀ − offset`, divided by `scale` when whitening (PCA family).
    Project {
        components: Matrix,
        offset: Vec<f64>,
        scale: Option<Vec<f64>>,
    },
    Impute(Impute),
    /// `SimpleImputer` fitted on strings (`most_frequent` / `constant` on an object column): per column its fill
    /// value (a number's fill is its text, as an object array holds it). Tables only.
    ImputeStr(Vec<String>),
    Identity,
    /// `PowerTransformer`: Yeo-Johnson (or Box-Cox) per feature with the fitted `lambdas_`, then the fitted
    /// `StandardScaler` when `standardize`.
    Power {
        yeo_johnson: bool,
        lambdas: Vec<f64>,
        scaler: Option<Box<Transformer>>,
    },
    /// `QuantileTransformer(output_distribution='uniform')`: per feature, its quantiles (ascending) and the
    /// shared reference probabilities.
    Quantile {
        quantiles: Vec<Vec<f64>>,
        references: Vec<f64>,
    },
    /// `KBinsDiscretizer`: the inner bin edges per feature, then optionally a one-hot encoding of the bin ids.
    Bins {
        inner_edges: Vec<Vec<f64>>,
        onehot: Option<OneHot>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Norm {
    L1,
    L2,
    Max,
}

/// How an encoder treats a value that is not among a feature's categories.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unknown {
    Error,
    /// All-zero block (one-hot) / this code (ordinal).
    Encode(f64),
}

/// `OneHotEncoder` state.
#[derive(Debug)]
struct OneHot {
    categories: Vec<Vec<f64>>,
    /// Per feature, its string categories when fitted on strings.
    strings: Vec<StrCats>,
    /// Per feature, the grouped index whose column is dropped.
    drop: Vec<Option<usize>>,
    /// Per feature, the infrequent-category grouping.
    groups: Vec<Option<Vec<usize>>>,
    /// Per feature, the number of output columns.
    blocks: Vec<usize>,
    unknown: Unknown,
    /// `handle_unknown='infrequent_if_exist'` (or `'warn'`): an unknown value joins the feature's infrequent
    /// column when it has one.
    unknown_to_infrequent: bool,
    width: usize,
}

/// `OrdinalEncoder` state.
#[derive(Debug)]
struct Ordinal {
    categories: Vec<Vec<f64>>,
    /// Per feature, its string categories when fitted on strings.
    strings: Vec<StrCats>,
    groups: Vec<Option<Vec<usize>>>,
    unknown: Unknown,
    /// Code for NaN when NaN was a category (`encoded_missing_value`).
    missing: f64,
}

/// `SimpleImputer` state.
#[derive(Debug)]
struct Impute {
    /// `None`: missing is NaN; else the number that marks a missing value.
    marker: Option<f64>,
    /// (input column, fill value) for each kept column, in order.
    kept: Vec<(usize, f64)>,
    /// Columns whose missing indicator is appended (`add_indicator=True`).
    indicator: Vec<usize>,
}

/// Position of `v` among `cats` (NaN matches a NaN category).
fn find(cats: &[f64], v: f64) -> Option<usize> {
    if v.is_nan() {
        cats.iter().position(|c| c.is_nan())
    } else {
        cats.iter().position(|&c| c == v)
    }
}

/// One category of an object column.
#[derive(Debug, Clone, PartialEq)]
enum Cat {
    Str(String),
    /// Python's `None`: an ordinary category to scikit-learn's encoders (and not missing to `SimpleImputer`).
    /// A table's missing string (JSON `null`) is this `None`.
    None,
    /// `float('nan')`: the missing category (`encoded_missing_value` for `OrdinalEncoder`).
    Nan,
}

/// A feature's categories when fitted on strings, in `categories_` order; the numeric categories then stand for
/// their positions (the NaN one as NaN), so a string is encoded by its position through the numeric code.
type StrCats = Option<Vec<Cat>>;

/// `categories_`: numbers per feature, and for features fitted on strings their strings ([`StrCats`]).
fn categories(obj: &Object) -> Result<(Vec<Vec<f64>>, Vec<StrCats>), SklearnError> {
    let class = obj.class_name();
    let mut nums = Vec::new();
    let mut strs = Vec::new();
    for (i, c) in attrs::seq(obj, "categories_")?.iter().enumerate() {
        let strings: Option<Vec<Cat>> = match c.as_array().map(|a| &a.data) {
            Some(ArrayData::Str(v)) => Some(v.iter().cloned().map(Cat::Str).collect()),
            Some(ArrayData::Object(items)) if items.iter().any(|v| v.as_str().is_some()) => Some(
                items
                    .iter()
                    .map(|v| match v {
                        Value::Str(s) => Ok(Cat::Str(s.clone())),
                        Value::None => Ok(Cat::None),
                        Value::Float(f) if f.is_nan() => Ok(Cat::Nan),
                        other => Err(SklearnError::bad_model(
                            class,
                            format!(
                                "feature {i} mixes strings with {} in its categories",
                                other.kind()
                            ),
                        )),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => None,
        };
        match strings {
            Some(cats) => {
                nums.push(
                    cats.iter()
                        .enumerate()
                        .map(|(j, c)| if *c == Cat::Nan { f64::NAN } else { j as f64 })
                        .collect(),
                );
                strs.push(Some(cats));
            }
            None => {
                nums.push(attrs::f64_of(c, class, "categories_")?);
                strs.push(None);
            }
        }
    }
    Ok((nums, strs))
}

/// A `SimpleImputer`'s `statistics_` when they hold strings (an object column's `most_frequent` / `constant`),
/// as text; `None` for numeric statistics.
fn string_fills(stats: &Value) -> Option<Vec<String>> {
    let items = match stats.as_array().map(|a| &a.data) {
        Some(ArrayData::Str(v)) => return Some(v.clone()),
        Some(ArrayData::Object(items)) => items,
        _ => return None,
    };
    if !items.iter().any(|v| v.as_str().is_some()) {
        return None;
    }
    Some(
        items
            .iter()
            .map(|v| match v {
                Value::Str(s) => s.clone(),
                other => other
                    .as_f64()
                    .map_or_else(|| other.kind(), |f| f.to_string()),
            })
            .collect(),
    )
}

/// The codes a table's columns take for an encoder: numbers as they are, strings as their category's position
/// (`-1` when unknown, NaN when missing); an unknown string under `handle_unknown='error'` is refused naming it,
/// as scikit-learn does.
fn encode_table(
    table: &Table,
    strings: &[StrCats],
    refuse_unknown: bool,
) -> Result<Matrix, SklearnError> {
    let rows = table.rows();
    let cols = strings.len();
    if table.columns().len() != cols {
        return Err(SklearnError::BadInput(format!(
            "X has {} features, but the encoder is expecting {cols} features as input",
            table.columns().len()
        )));
    }
    let mut out = Matrix::zeros(rows, cols);
    for (j, (column, cats)) in table.columns().iter().zip(strings).enumerate() {
        for i in 0..rows {
            let code = match (&column.data, cats) {
                (ColumnData::Str(v), Some(cats)) => match v.get(i).and_then(Option::as_deref) {
                    // `None`: its own category when fitted with one, else the NaN category (or unknown).
                    None => cats
                        .iter()
                        .position(|c| *c == Cat::None)
                        .map_or(f64::NAN, |k| k as f64),
                    Some(s) => match cats.iter().position(|c| matches!(c, Cat::Str(x) if x == s)) {
                        Some(k) => k as f64,
                        None if refuse_unknown => {
                            return Err(SklearnError::BadInput(format!(
                                "Found unknown categories ['{s}'] in column {j} during transform (column `{}`)",
                                column.name
                            )));
                        }
                        None => -1.0,
                    },
                },
                // A float column's NaN is the missing category; any number is unknown among strings.
                (data, Some(_)) if data.is_numeric() => match data.f64_at(i) {
                    Some(x) if x.is_nan() => f64::NAN,
                    _ if refuse_unknown => {
                        return Err(SklearnError::BadInput(format!(
                            "column `{}` holds numbers where the encoder was fitted on strings",
                            column.name
                        )));
                    }
                    _ => -1.0,
                },
                (ColumnData::Str(_), None) => {
                    return Err(SklearnError::BadInput(format!(
                        "column `{}` holds strings where the encoder was fitted on numbers",
                        column.name
                    )));
                }
                (data, _) => data.f64_at(i).unwrap_or(f64::NAN),
            };
            if let Some(cell) = out.row_mut(i).get_mut(j) {
                *cell = code;
            }
        }
    }
    Ok(out)
}

/// Per feature, scikit-learn's `_default_to_infrequent_mappings` (category index → grouped index, the infrequent
/// categories sharing the last one), when `max_categories`/`min_frequency` grouped any. Each mapping has one entry
/// per category and maps into the categories' own range, so the output width stays what `categories_` holds.
fn infrequent_groups(
    obj: &Object,
    categories: &[Vec<f64>],
) -> Result<Vec<Option<Vec<usize>>>, SklearnError> {
    let class = obj.class_name();
    if !attrs::flag(obj, "_infrequent_enabled", false) {
        return Ok(vec![None; categories.len()]);
    }
    let items = attrs::seq(obj, "_default_to_infrequent_mappings")?;
    if items.len() != categories.len() {
        return Err(SklearnError::bad_model(
            class,
            "infrequent mappings do not match `categories_`",
        ));
    }
    items
        .iter()
        .zip(categories)
        .enumerate()
        .map(|(i, (m, cats))| {
            if m.is_none() {
                return Ok(None);
            }
            let v = attrs::f64_of(m, class, "_default_to_infrequent_mappings")?;
            let n = cats.len();
            if v.len() != n || v.iter().any(|&g| !(g >= 0.0 && g < n as f64 && g.fract() == 0.0)) {
                return Err(SklearnError::bad_model(
                    class,
                    format!(
                        "`_default_to_infrequent_mappings[{i}]` does not map {n} categories into 0..{n}"
                    ),
                ));
            }
            Ok(Some(v.into_iter().map(|g| g as usize).collect()))
        })
        .collect()
}

/// Number of distinct codes of a feature after infrequent grouping.
fn grouped_len(cats: &[f64], group: Option<&Vec<usize>>) -> usize {
    // The infrequent categories share the last code, one past the frequent ones.
    match group {
        Some(g) => g.iter().max().map_or(0, |m| m + 1),
        None => cats.len(),
    }
}

impl OneHot {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let (categories, strings) = categories(obj)?;
        let groups = infrequent_groups(obj, &categories)?;
        let drop_value =
            attrs::opt(obj, "_drop_idx_after_grouping").or_else(|| attrs::opt(obj, "drop_idx_"));
        let drop: Vec<Option<usize>> = match drop_value {
            None => vec![None; categories.len()],
            Some(v) => {
                let items: Vec<Option<usize>> = match v {
                    Value::Array(a) => match &a.data {
                        ArrayData::Object(items) => items
                            .iter()
                            .map(|x| x.as_i64().and_then(|i| usize::try_from(i).ok()))
                            .collect(),
                        _ => a
                            .to_i64()
                            .map_err(|e| {
                                SklearnError::bad_model(
                                    obj.class_name(),
                                    format!("`drop_idx_`: {e}"),
                                )
                            })?
                            .into_iter()
                            .map(|i| usize::try_from(i).ok())
                            .collect(),
                    },
                    other => attrs::seq_of(other)
                        .unwrap_or(&[])
                        .iter()
                        .map(|x| x.as_i64().and_then(|i| usize::try_from(i).ok()))
                        .collect(),
                };
                if items.len() != categories.len() {
                    return Err(SklearnError::bad_model(
                        obj.class_name(),
                        "`drop_idx_` does not match `categories_`",
                    ));
                }
                items
            }
        };
        let handle_unknown = attrs::opt_str(obj, "handle_unknown").unwrap_or("error");
        let unknown = match handle_unknown {
            "error" => Unknown::Error,
            _ => Unknown::Encode(0.0),
        };
        let blocks: Vec<usize> = categories
            .iter()
            .zip(&groups)
            .zip(&drop)
            .map(|((c, g), d)| {
                let n = grouped_len(c, g.as_ref());
                n - usize::from(d.is_some_and(|d| d < n))
            })
            .collect();
        Ok(OneHot {
            width: blocks.iter().sum(),
            categories,
            strings,
            drop,
            groups,
            blocks,
            unknown,
            unknown_to_infrequent: matches!(handle_unknown, "infrequent_if_exist" | "warn"),
        })
    }

    fn transform(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        let mut out = Matrix::zeros(x.rows(), self.width);
        if self.width == 0 {
            return Ok(out);
        }
        for (xr, orow) in x
            .iter_rows()
            .zip(out.data_mut().chunks_exact_mut(self.width))
        {
            let mut at = 0;
            for (i, (cats, &v)) in self.categories.iter().zip(xr).enumerate() {
                let group = self.groups[i].as_ref();
                let n = grouped_len(cats, group);
                let drop = self.drop[i].filter(|&d| d < n);
                let code = match (find(cats, v), group) {
                    (Some(j), Some(g)) => Some(g.get(j).copied().unwrap_or(j)),
                    (Some(j), None) => Some(j),
                    (None, Some(_)) if self.unknown_to_infrequent => Some(n - 1),
                    (None, _) if self.unknown == Unknown::Error => {
                        return Err(SklearnError::BadInput(format!(
                            "Found unknown categories [{v}] in column {i} during transform"
                        )));
                    }
                    (None, _) => None,
                };
                if let Some(g) = code
                    && Some(g) != drop
                {
                    let col = at + g - usize::from(drop.is_some_and(|d| g > d));
                    if let Some(cell) = orow.get_mut(col) {
                        *cell = 1.0;
                    }
                }
                at += self.blocks[i];
            }
        }
        Ok(out)
    }
}

impl Ordinal {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let (categories, strings) = categories(obj)?;
        let groups = infrequent_groups(obj, &categories)?;
        let unknown = match attrs::opt_str(obj, "handle_unknown").unwrap_or("error") {
            "use_encoded_value" => Unknown::Encode(
                attrs::opt(obj, "unknown_value")
                    .and_then(Value::as_f64)
                    .unwrap_or(f64::NAN),
            ),
            _ => Unknown::Error,
        };
        Ok(Ordinal {
            categories,
            strings,
            groups,
            unknown,
            missing: attrs::opt(obj, "encoded_missing_value")
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN),
        })
    }

    fn transform(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        let k = self.categories.len();
        let mut out = Matrix::zeros(x.rows(), k);
        if k == 0 {
            return Ok(out);
        }
        for (xr, orow) in x.iter_rows().zip(out.data_mut().chunks_exact_mut(k)) {
            for (i, ((cats, &v), o)) in self
                .categories
                .iter()
                .zip(xr)
                .zip(orow.iter_mut())
                .enumerate()
            {
                *o = match (find(cats, v), self.unknown) {
                    (Some(_), _) if v.is_nan() => self.missing,
                    (Some(j), _) => match &self.groups[i] {
                        Some(g) => g.get(j).copied().unwrap_or(j) as f64,
                        None => j as f64,
                    },
                    (None, Unknown::Encode(code)) => code,
                    (None, Unknown::Error) => {
                        return Err(SklearnError::BadInput(format!(
                            "Found unknown categories [{v}] in column {i} during transform"
                        )));
                    }
                };
            }
        }
        Ok(out)
    }
}

/// `np.interp(x, xp, fp)` for ascending `xp`: clamped at the ends, linear between the last `xp[j] ≤ x` and the
/// next point.
fn interp(x: f64, xp: &[f64], fp: &[f64]) -> f64 {
    let n = xp.len().min(fp.len());
    if n == 0 {
        return f64::NAN;
    }
    if x < xp[0] {
        return fp[0];
    }
    if x >= xp[n - 1] {
        return fp[n - 1];
    }
    let j = xp[..n].partition_point(|v| *v <= x).saturating_sub(1);
    let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    let mut y = slope * (x - xp[j]) + fp[j];
    if y.is_nan() {
        y = slope * (x - xp[j + 1]) + fp[j + 1];
        if y.is_nan() && fp[j] == fp[j + 1] {
            y = fp[j];
        }
    }
    y
}

/// scipy's `yeojohnson(x, λ)` in its stable `expm1`/`log1p` form; NaN stays NaN.
fn yeo_johnson_value(x: f64, l: f64) -> f64 {
    let eps = f64::EPSILON;
    if x >= 0.0 {
        if l.abs() < eps {
            x.ln_1p()
        } else {
            (l * x.ln_1p()).exp_m1() / l
        }
    } else if (l - 2.0).abs() > eps {
        -((2.0 - l) * (-x).ln_1p()).exp_m1() / (2.0 - l)
    } else {
        -(-x).ln_1p()
    }
}

/// scipy's `special.boxcox(x, λ)`; scikit-learn rejects non-positive input for Box-Cox.
fn box_cox(x: f64, l: f64) -> Result<f64, SklearnError> {
    if x <= 0.0 {
        return Err(SklearnError::BadInput(
            "The Box-Cox transformation can only be applied to strictly positive data".into(),
        ));
    }
    Ok(if l.abs() < 1e-19 {
        x.ln()
    } else {
        (l * x.ln()).exp_m1() / l
    })
}

/// The most output columns (and, times 16, the most column indices over all of them) a `PolynomialFeatures` may
/// have.
const MAX_POLY_OUTPUTS: usize = 1_000_000;

/// Whether [`poly_combinations`] stays within [`MAX_POLY_OUTPUTS`], counted with checked arithmetic and loops
/// bounded by the limit (never by the file's degrees): `C(n + d − 1, d)` combinations of degree `d`, or `C(n, d)`
/// when `interaction_only`.
fn poly_fits(
    n: usize,
    min_degree: usize,
    max_degree: usize,
    interaction_only: bool,
    bias: bool,
) -> bool {
    let max_indices = MAX_POLY_OUTPUTS * 16;
    let mut count = usize::from(bias);
    let mut indices = 0usize;
    let max_degree = if interaction_only {
        max_degree.min(n)
    } else {
        max_degree
    };
    if n == 0 {
        return true;
    }
    let mut d = min_degree.max(1);
    while d <= max_degree {
        if d > max_indices {
            return false;
        }
        // C(top + d − 1 ... ) built one factor at a time; every prefix is itself a binomial coefficient, so the
        // division is exact, and it only grows (n ≥ 2) or stays 1 (n = 1), so exceeding the limit is final.
        let top = if interaction_only { n - d } else { n - 1 };
        let mut c: usize = 1;
        for i in 1..=d {
            let Some(next) = c.checked_mul(top + i).map(|v| v / i) else {
                return false;
            };
            c = next;
            if c > MAX_POLY_OUTPUTS {
                return false;
            }
        }
        count = match count.checked_add(c) {
            Some(v) if v <= MAX_POLY_OUTPUTS => v,
            _ => return false,
        };
        indices = match c.checked_mul(d).and_then(|v| v.checked_add(indices)) {
            Some(v) if v <= max_indices => v,
            _ => return false,
        };
        d += 1;
    }
    true
}

/// The column combinations `PolynomialFeatures` emits, in scikit-learn's order: the bias (if any), then each
/// degree from `max(1, min_degree)` to `max_degree`, combinations (with replacement unless `interaction_only`)
/// in lexicographic order.
fn poly_combinations(
    n: usize,
    min_degree: usize,
    max_degree: usize,
    interaction_only: bool,
    bias: bool,
) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    if bias {
        out.push(Vec::new());
    }
    if n == 0 {
        return out;
    }
    // No combination of distinct columns has more than `n` of them.
    let max_degree = if interaction_only {
        max_degree.min(n)
    } else {
        max_degree
    };
    for d in min_degree.max(1)..=max_degree {
        let mut comb: Vec<usize> = if interaction_only {
            (0..d).collect()
        } else {
            vec![0; d]
        };
        loop {
            out.push(comb.clone());
            // Advance to the next combination in lexicographic order.
            let mut i = d;
            let mut advanced = false;
            while i > 0 {
                i -= 1;
                let limit = if interaction_only { n - d + i } else { n - 1 };
                if comb[i] < limit {
                    comb[i] += 1;
                    for j in i + 1..d {
                        comb[j] = if interaction_only {
                            comb[j - 1] + 1
                        } else {
                            comb[i]
                        };
                    }
                    advanced = true;
                    break;
                }
            }
            if !advanced {
                break;
            }
        }
    }
    out
}

impl Transformer {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let bad = |reason: String| SklearnError::bad_model(class, reason);
        let vec_if = |key: &str, on: bool| -> Result<Option<Vec<f64>>, SklearnError> {
            if on && attrs::opt(obj, key).is_some() {
                attrs::f64_vec(obj, key).map(Some)
            } else {
                Ok(None)
            }
        };
        let mut allow_nan = false;
        let mut n_features = attrs::n_features_in(obj);
        let mut density = None;
        let op = match class {
            "StandardScaler" => {
                allow_nan = true;
                Op::Scale {
                    sub: vec_if("mean_", attrs::flag(obj, "with_mean", true))?,
                    div: vec_if("scale_", attrs::flag(obj, "with_std", true))?,
                    mul: None,
                    add: None,
                    clip: None,
                }
            }
            "MinMaxScaler" => {
                allow_nan = true;
                let clip = if attrs::flag(obj, "clip", false) {
                    let r =
                        attrs::f64_of(attrs::req(obj, "feature_range")?, class, "feature_range")?;
                    match r.as_slice() {
                        // scikit-learn's `fit` refuses anything but `min < max`; NaN fails it too.
                        [lo, hi] if lo < hi => Some((*lo, *hi)),
                        _ => {
                            return Err(bad(format!(
                                "`feature_range` {r:?} is not a pair (min, max) with min < max"
                            )));
                        }
                    }
                } else {
                    None
                };
                Op::Scale {
                    sub: None,
                    div: None,
                    mul: Some(attrs::f64_vec(obj, "scale_")?),
                    add: Some(attrs::f64_vec(obj, "min_")?),
                    clip,
                }
            }
            "MaxAbsScaler" => {
                allow_nan = true;
                Op::Scale {
                    sub: None,
                    div: Some(attrs::f64_vec(obj, "scale_")?),
                    mul: None,
                    add: None,
                    clip: None,
                }
            }
            "RobustScaler" => {
                allow_nan = true;
                Op::Scale {
                    sub: vec_if("center_", attrs::flag(obj, "with_centering", true))?,
                    div: vec_if("scale_", attrs::flag(obj, "with_scaling", true))?,
                    mul: None,
                    add: None,
                    clip: None,
                }
            }
            "Normalizer" => Op::Normalize(match attrs::opt_str(obj, "norm").unwrap_or("l2") {
                "l1" => Norm::L1,
                "l2" => Norm::L2,
                "max" => Norm::Max,
                other => return Err(bad(format!("unknown norm `{other}`"))),
            }),
            "Binarizer" => Op::Binarize(
                attrs::opt(obj, "threshold")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0),
            ),
            "OneHotEncoder" => {
                allow_nan = true;
                Op::OneHot(OneHot::from_object(obj)?)
            }
            "OrdinalEncoder" => {
                allow_nan = true;
                Op::Ordinal(Ordinal::from_object(obj)?)
            }
            "PolynomialFeatures" => {
                let n = attrs::usize_attr(obj, "n_features_in_")?;
                let degree = |key: &str| {
                    attrs::opt(obj, key)
                        .and_then(Value::as_i64)
                        .and_then(|d| usize::try_from(d).ok())
                };
                let (min_d, max_d) = match (degree("_min_degree"), degree("_max_degree")) {
                    (Some(lo), Some(hi)) => (lo, hi),
                    _ => match attrs::opt(obj, "degree").and_then(attrs::seq_of) {
                        Some([lo, hi]) => (
                            lo.as_i64()
                                .and_then(|d| usize::try_from(d).ok())
                                .unwrap_or(0),
                            hi.as_i64()
                                .and_then(|d| usize::try_from(d).ok())
                                .unwrap_or(0),
                        ),
                        _ => (0, degree("degree").unwrap_or(2)),
                    },
                };
                let interaction = attrs::flag(obj, "interaction_only", false);
                let bias = attrs::flag(obj, "include_bias", true);
                // Counted before anything is enumerated: the degrees and `n_features_in_` come from the file.
                if !poly_fits(n, min_d, max_d, interaction, bias) {
                    return Err(bad(format!(
                        "degrees {min_d}..={max_d} over {n} features give more than \
                         {MAX_POLY_OUTPUTS} output features"
                    )));
                }
                Op::Poly(poly_combinations(n, min_d, max_d, interaction, bias))
            }
            "PCA" | "IncrementalPCA" => {
                let components = attrs::matrix(obj, "components_")?;
                let mean = attrs::f64_vec(obj, "mean_")?;
                if mean.len() != components.cols() {
                    return Err(bad("`mean_` does not match `components_`".into()));
                }
                let offset = (0..components.rows())
                    .map(|j| crate::math::dot(&mean, components.row(j)))
                    .collect();
                let scale = if attrs::flag(obj, "whiten", false) {
                    // scikit-learn clips the variance at machine epsilon before dividing (rank-deficient fits).
                    let ev = attrs::f64_vec(obj, "explained_variance_")?;
                    if ev.len() != components.rows() {
                        return Err(bad(
                            "`explained_variance_` does not match `components_`".into()
                        ));
                    }
                    Some(ev.iter().map(|v| v.sqrt().max(f64::EPSILON)).collect())
                } else {
                    None
                };
                n_features = Some(components.cols());
                if class == "PCA" {
                    density = Some(Density::from_pca(obj, &components, &mean)?);
                }
                Op::Project {
                    components,
                    offset,
                    scale,
                }
            }
            "TruncatedSVD" => {
                let components = attrs::matrix(obj, "components_")?;
                n_features = Some(components.cols());
                let offset = vec![0.0; components.rows()];
                Op::Project {
                    components,
                    offset,
                    scale: None,
                }
            }
            "SimpleImputer" => {
                let marker = match attrs::opt(obj, "missing_values") {
                    None => None,
                    Some(v) => match v.as_f64() {
                        Some(m) if m.is_nan() => None,
                        Some(m) => Some(m),
                        None => {
                            return Err(bad(format!(
                                "missing_values of type {} is not supported",
                                v.kind()
                            )));
                        }
                    },
                };
                allow_nan = marker.is_none();
                if let Some(fills) = string_fills(attrs::req(obj, "statistics_")?) {
                    if marker.is_some() {
                        return Err(bad(
                            "missing_values other than NaN / None on strings is not supported"
                                .into(),
                        ));
                    }
                    Op::ImputeStr(fills)
                } else {
                    // `statistics_` is an object array when the fill value was given as a Python object.
                    let stats =
                        attrs::f64_of(attrs::req(obj, "statistics_")?, class, "statistics_")?;
                    let kept = stats
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| !s.is_nan())
                        .map(|(i, s)| (i, *s))
                        .collect();
                    let indicator = match attrs::opt(obj, "indicator_").and_then(Value::as_object) {
                        Some(ind) => attrs::f64_vec(ind, "features_")?
                            .into_iter()
                            .map(|f| f as usize)
                            .collect(),
                        None => Vec::new(),
                    };
                    Op::Impute(Impute {
                        marker,
                        kept,
                        indicator,
                    })
                }
            }
            "FunctionTransformer" => {
                if let Some(f) = attrs::opt(obj, "func") {
                    let name = match f {
                        Value::Global(q) => q.dotted(),
                        other => other.kind(),
                    };
                    return Err(bad(format!(
                        "a custom `func` ({name}) cannot run without Python; only the identity (func=None) is supported"
                    )));
                }
                // validate=True runs check_array (finite values, n_features_in_); else anything passes.
                let validate = attrs::flag(obj, "validate", false);
                allow_nan = !validate;
                if !validate {
                    n_features = None;
                }
                Op::Identity
            }
            "PowerTransformer" => {
                allow_nan = true;
                let yeo_johnson = match attrs::opt_str(obj, "method").unwrap_or("yeo-johnson") {
                    "yeo-johnson" => true,
                    "box-cox" => false,
                    other => return Err(bad(format!("unknown method `{other}`"))),
                };
                let lambdas = attrs::f64_vec(obj, "lambdas_")?;
                let scaler = match attrs::opt(obj, "_scaler").and_then(Value::as_object) {
                    Some(sc) if attrs::flag(obj, "standardize", true) => {
                        Some(Box::new(Transformer::from_object(sc)?))
                    }
                    _ => None,
                };
                n_features = Some(lambdas.len());
                Op::Power {
                    yeo_johnson,
                    lambdas,
                    scaler,
                }
            }
            "QuantileTransformer" => {
                allow_nan = true;
                if attrs::opt_str(obj, "output_distribution") != Some("uniform") {
                    return Err(bad(
                        "only output_distribution='uniform' is supported (the normal one needs scipy's ndtri)"
                            .into(),
                    ));
                }
                let q = attrs::matrix(obj, "quantiles_")?;
                let references = attrs::f64_vec(obj, "references_")?;
                if references.len() != q.rows() || q.rows() == 0 {
                    return Err(bad("`quantiles_` does not match `references_`".into()));
                }
                let quantiles: Vec<Vec<f64>> =
                    (0..q.cols()).map(|j| crate::math::column(&q, j)).collect();
                n_features = Some(q.cols());
                Op::Quantile {
                    quantiles,
                    references,
                }
            }
            "KBinsDiscretizer" => {
                let edges = attrs::seq(obj, "bin_edges_")?;
                let inner_edges = edges
                    .iter()
                    .map(|e| {
                        let all = attrs::f64_of(e, class, "bin_edges_")?;
                        Ok(if all.len() >= 2 {
                            all[1..all.len() - 1].to_vec()
                        } else {
                            Vec::new()
                        })
                    })
                    .collect::<Result<Vec<_>, SklearnError>>()?;
                let onehot = match attrs::opt_str(obj, "encode").unwrap_or("onehot") {
                    "ordinal" => None,
                    _ => Some(OneHot::from_object(attrs::object(obj, "_encoder")?)?),
                };
                Op::Bins {
                    inner_edges,
                    onehot,
                }
            }
            other => {
                return Err(bad(format!(
                    "`{other}` is not a transformer this crate knows"
                )));
            }
        };
        Ok(Transformer {
            class: class.to_string(),
            n_features,
            allow_nan,
            op,
            density,
            names: attrs::feature_names(obj)?,
        })
    }

    fn apply(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        let n = x.rows();
        let f = x.cols();
        match &self.op {
            Op::Scale {
                sub,
                div,
                mul,
                add,
                clip,
            } => {
                for v in [sub, div, mul, add].into_iter().flatten() {
                    if v.len() != f {
                        return Err(SklearnError::BadInput(format!(
                            "X has {f} features, but {} is expecting {} features as input",
                            self.class,
                            v.len()
                        )));
                    }
                }
                let mut out = x.clone();
                if f == 0 {
                    return Ok(out);
                }
                for row in out.data_mut().chunks_exact_mut(f) {
                    for (j, v) in row.iter_mut().enumerate() {
                        if let Some(s) = sub {
                            *v -= s[j];
                        }
                        if let Some(d) = div {
                            *v /= d[j];
                        }
                        if let Some(m) = mul {
                            *v *= m[j];
                        }
                        if let Some(a) = add {
                            *v += a[j];
                        }
                        if let Some((lo, hi)) = clip {
                            *v = v.clamp(*lo, *hi);
                        }
                    }
                }
                Ok(out)
            }
            Op::Normalize(norm) => {
                let mut out = x.clone();
                if f == 0 {
                    return Ok(out);
                }
                for row in out.data_mut().chunks_exact_mut(f) {
                    let mut s = match norm {
                        Norm::L1 => row.iter().map(|v| v.abs()).sum::<f64>(),
                        Norm::L2 => row.iter().map(|v| v * v).sum::<f64>().sqrt(),
                        Norm::Max => row.iter().map(|v| v.abs()).fold(0.0, f64::max),
                    };
                    if s == 0.0 {
                        s = 1.0;
                    }
                    row.iter_mut().for_each(|v| *v /= s);
                }
                Ok(out)
            }
            Op::Binarize(t) => {
                let mut out = x.clone();
                out.data_mut()
                    .iter_mut()
                    .for_each(|v| *v = if *v > *t { 1.0 } else { 0.0 });
                Ok(out)
            }
            Op::OneHot(enc) => {
                x.expect_features(enc.categories.len(), &self.class)?;
                enc.transform(x)
            }
            Op::Ordinal(enc) => {
                x.expect_features(enc.categories.len(), &self.class)?;
                enc.transform(x)
            }
            Op::Poly(combos) => {
                let w = combos.len();
                let mut out = Matrix::zeros(n, w);
                if w == 0 {
                    return Ok(out);
                }
                for (xr, orow) in x.iter_rows().zip(out.data_mut().chunks_exact_mut(w)) {
                    for (o, comb) in orow.iter_mut().zip(combos) {
                        // scikit-learn builds degree-d columns as (degree d−1 column of the later features) × the
                        // first feature, i.e. the product accumulates from the right.
                        let mut acc = 1.0;
                        for (i, &c) in comb.iter().rev().enumerate() {
                            acc = if i == 0 { xr[c] } else { acc * xr[c] };
                        }
                        *o = acc;
                    }
                }
                Ok(out)
            }
            Op::Project {
                components,
                offset,
                scale,
            } => {
                // scikit-learn projects first and subtracts the projected mean afterwards.
                let mut out = affine(x, components, &[]);
                let k = out.cols();
                if k == 0 {
                    return Ok(out);
                }
                for row in out.data_mut().chunks_exact_mut(k) {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v -= offset[j];
                        if let Some(s) = scale {
                            *v /= s[j];
                        }
                    }
                }
                Ok(out)
            }
            Op::Impute(imp) => {
                let w = imp.kept.len() + imp.indicator.len();
                let mut out = Matrix::zeros(n, w);
                if w == 0 {
                    return Ok(out);
                }
                let missing = |v: f64| match imp.marker {
                    None => v.is_nan(),
                    Some(m) => v == m,
                };
                for (xr, orow) in x.iter_rows().zip(out.data_mut().chunks_exact_mut(w)) {
                    for (o, &(c, fill)) in orow.iter_mut().zip(&imp.kept) {
                        let v = xr.get(c).copied().unwrap_or(f64::NAN);
                        *o = if missing(v) { fill } else { v };
                    }
                    for (o, &c) in orow[imp.kept.len()..].iter_mut().zip(&imp.indicator) {
                        *o = if xr.get(c).is_some_and(|&v| missing(v)) {
                            1.0
                        } else {
                            0.0
                        };
                    }
                }
                Ok(out)
            }
            Op::ImputeStr(_) => Err(SklearnError::BadInput(format!(
                "{} was fitted on strings; send the columns as a table (names with mixed rows, jsonData records, or V2 inputs)",
                self.class
            ))),
            Op::Identity => Ok(x.clone()),
            Op::Quantile {
                quantiles,
                references,
            } => {
                let mut out = x.clone();
                if f > 0 {
                    let neg_q: Vec<Vec<f64>> = quantiles
                        .iter()
                        .map(|q| q.iter().rev().map(|v| -v).collect())
                        .collect();
                    let neg_r: Vec<f64> = references.iter().rev().map(|v| -v).collect();
                    for row in out.data_mut().chunks_exact_mut(f) {
                        for (j, v) in row.iter_mut().enumerate() {
                            let q = &quantiles[j];
                            let (lo, hi) = (q[0], q[q.len() - 1]);
                            if v.is_nan() {
                                continue;
                            }
                            // scikit-learn averages interpolation from both ends so repeated quantiles map to the
                            // middle of their reference range, then pins the extreme quantiles to 0 and 1.
                            let t =
                                0.5 * (interp(*v, q, references) - interp(-*v, &neg_q[j], &neg_r));
                            *v = if *v == lo {
                                0.0
                            } else if *v == hi {
                                1.0
                            } else {
                                t
                            };
                        }
                    }
                }
                Ok(out)
            }
            Op::Power {
                yeo_johnson,
                lambdas,
                scaler,
            } => {
                let mut out = x.clone();
                if f > 0 {
                    for row in out.data_mut().chunks_exact_mut(f) {
                        for (v, &l) in row.iter_mut().zip(lambdas) {
                            *v = if *yeo_johnson {
                                yeo_johnson_value(*v, l)
                            } else {
                                box_cox(*v, l)?
                            };
                        }
                    }
                }
                match scaler {
                    Some(sc) => sc.apply(&out),
                    None => Ok(out),
                }
            }
            Op::Bins {
                inner_edges,
                onehot,
            } => {
                x.expect_features(inner_edges.len(), &self.class)?;
                let mut codes = x.clone();
                if f > 0 {
                    for row in codes.data_mut().chunks_exact_mut(f) {
                        for (v, edges) in row.iter_mut().zip(inner_edges) {
                            // np.searchsorted(edges[1:-1], x, side='right'): how many inner edges are ≤ x.
                            *v = edges.partition_point(|e| *e <= *v) as f64;
                        }
                    }
                }
                match onehot {
                    None => Ok(codes),
                    Some(enc) => enc.transform(&codes),
                }
            }
        }
    }
}

impl Estimator for Transformer {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        self.n_features
    }

    fn supports(&self, method: Method) -> bool {
        method == Method::Transform || (method == Method::ScoreSamples && self.density.is_some())
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        check_input(x, self.n_features, &self.class, self.allow_nan)?;
        match (method, &self.density) {
            (Method::ScoreSamples, Some(d)) => Ok(Output::Column(d.score(x))),
            _ => self.apply(x).map(Output::Matrix),
        }
    }

    fn feature_names_in(&self) -> Option<&[String]> {
        self.names.as_deref()
    }

    fn takes_table(&self) -> bool {
        matches!(self.op, Op::ImputeStr(_))
            || self
                .strings()
                .is_some_and(|s| s.iter().any(Option::is_some))
    }

    fn string_columns(&self) -> Option<Vec<bool>> {
        match &self.op {
            Op::ImputeStr(fills) => Some(vec![true; fills.len()]),
            _ => self
                .strings()
                .map(|s| s.iter().map(Option::is_some).collect()),
        }
    }

    /// A `SimpleImputer` fitted on strings fills NaN with its statistic, as scikit-learn does with its default
    /// `missing_values=np.nan`: a float column's NaN; a string column's `None` (JSON `null`) is not NaN to it and
    /// stays, for the encoder after it to read as its `None` category.
    fn table_transform(&self, table: &Table) -> Option<Result<Table, SklearnError>> {
        let Op::ImputeStr(fills) = &self.op else {
            return None;
        };
        Some((|| {
            if table.columns().len() != fills.len() {
                return Err(SklearnError::BadInput(format!(
                    "X has {} features, but SimpleImputer is expecting {} features as input",
                    table.columns().len(),
                    fills.len()
                )));
            }
            let columns = table
                .columns()
                .iter()
                .zip(fills)
                .map(|(c, fill)| {
                    let data = match &c.data {
                        ColumnData::F64(v) => match fill.parse::<f64>() {
                            Ok(f) => ColumnData::F64(
                                v.iter().map(|&x| if x.is_nan() { f } else { x }).collect(),
                            ),
                            Err(_) if v.iter().all(|x| x.is_nan()) => {
                                ColumnData::Str(vec![Some(fill.clone()); v.len()])
                            }
                            Err(_) => c.data.clone(),
                        },
                        other => other.clone(),
                    };
                    oxserve_core::Column::new(c.name.clone(), data)
                })
                .collect();
            Table::new(columns).map_err(|e| SklearnError::BadInput(e.to_string()))
        })())
    }

    /// Encoders fitted on strings encode the table's strings; every other transformer reads its numbers.
    fn call_table(&self, method: Method, table: &Table) -> Result<Output, SklearnError> {
        let codes = match (&self.op, self.strings()) {
            (Op::OneHot(enc), Some(strings)) if method == Method::Transform => {
                encode_table(table, strings, enc.unknown == Unknown::Error)?
            }
            (Op::Ordinal(enc), Some(strings)) if method == Method::Transform => {
                encode_table(table, strings, enc.unknown == Unknown::Error)?
            }
            _ => crate::table::matrix_of(table)?,
        };
        self.call(method, &codes)
    }
}

impl Transformer {
    /// An encoder's per-feature string categories.
    fn strings(&self) -> Option<&[StrCats]> {
        match &self.op {
            Op::OneHot(enc) => Some(&enc.strings),
            Op::Ordinal(enc) => Some(&enc.strings),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_combinations_follow_itertools_order() {
        assert!(poly_fits(3, 0, 2, false, true));
        assert!(!poly_fits(1 << 24, 0, 3, false, true));
        assert!(!poly_fits(1, 0, 1 << 40, false, true));
        assert!(poly_fits(3, 0, 1 << 40, true, false));
        assert!(!poly_fits(1000, 2, 3, true, false));
        for (n, lo, hi, inter, bias) in [
            (3, 0, 2, false, true),
            (4, 2, 3, true, false),
            (5, 1, 4, false, false),
        ] {
            assert!(poly_fits(n, lo, hi, inter, bias));
            assert!(poly_combinations(n, lo, hi, inter, bias).len() <= MAX_POLY_OUTPUTS);
        }
        let c = poly_combinations(3, 0, 2, false, true);
        let want: Vec<Vec<usize>> = vec![
            vec![],
            vec![0],
            vec![1],
            vec![2],
            vec![0, 0],
            vec![0, 1],
            vec![0, 2],
            vec![1, 1],
            vec![1, 2],
            vec![2, 2],
        ];
        assert_eq!(c, want);
        let i = poly_combinations(3, 2, 3, true, false);
        assert_eq!(i, vec![vec![0, 1], vec![0, 2], vec![1, 2], vec![0, 1, 2]]);
    }
}
