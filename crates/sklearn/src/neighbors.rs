//! Nearest neighbours: `KNeighbors*` and `RadiusNeighbors*` classifiers and regressors by brute force over the
//! stored training set `_fit_X` (the fitted KD/ball tree finds the same neighbours, so it is ignored), and
//! `NearestCentroid`.

use oxserve_pickle::{Object, Value};

use crate::attrs;
use crate::discriminant::posterior;
use crate::math::{argmax, check_input};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &[
    "KNeighborsClassifier",
    "KNeighborsRegressor",
    "NearestCentroid",
    "RadiusNeighborsClassifier",
    "RadiusNeighborsRegressor",
];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    match obj.class_name() {
        "KNeighborsClassifier"
        | "KNeighborsRegressor"
        | "RadiusNeighborsClassifier"
        | "RadiusNeighborsRegressor" => {
            Some(Neighbors::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
        }
        "NearestCentroid" => {
            Some(NearestCentroid::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
        }
        _ => None,
    }
}

/// A distance between two points.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    Euclidean,
    Manhattan,
    Chebyshev,
    Minkowski(f64),
}

impl Metric {
    fn parse(name: &str, p: Option<f64>, class: &str) -> Result<Self, SklearnError> {
        Ok(match (name, p) {
            ("euclidean" | "l2", _) => Metric::Euclidean,
            ("manhattan" | "cityblock" | "l1", _) => Metric::Manhattan,
            ("chebyshev" | "infinity", _) => Metric::Chebyshev,
            ("minkowski", None) => Metric::Euclidean,
            ("minkowski", Some(2.0)) => Metric::Euclidean,
            ("minkowski", Some(1.0)) => Metric::Manhattan,
            ("minkowski", Some(p)) if p.is_infinite() => Metric::Chebyshev,
            ("minkowski", Some(p)) if p > 0.0 => Metric::Minkowski(p),
            (other, _) => {
                return Err(SklearnError::bad_model(
                    class,
                    format!(
                        "metric `{other}` is not supported (euclidean, manhattan, chebyshev, minkowski are)"
                    ),
                ));
            }
        })
    }

    fn distance(self, a: &[f64], b: &[f64]) -> f64 {
        let diffs = a.iter().zip(b).map(|(x, y)| (x - y).abs());
        match self {
            Metric::Euclidean => diffs.map(|d| d * d).sum::<f64>().sqrt(),
            Metric::Manhattan => diffs.sum(),
            Metric::Chebyshev => diffs.fold(0.0, f64::max),
            Metric::Minkowski(p) => diffs.map(|d| d.powf(p)).sum::<f64>().powf(1.0 / p),
        }
    }
}

#[derive(Debug)]
enum Target {
    /// Class indices into `classes_`; `outlier` is the label a radius classifier gives rows without neighbours.
    Classes {
        classes: Labels,
        y: Vec<usize>,
        outlier: Option<Labels>,
    },
    /// Regression targets, `n_outputs` per training row; `two_d` when `_y` is 2-D.
    Values {
        y: Vec<f64>,
        n_outputs: usize,
        two_d: bool,
    },
}

/// Which training points are a query's neighbours.
#[derive(Debug, Clone, Copy)]
enum Selection {
    /// The `k` nearest.
    Nearest(usize),
    /// Every point within this distance (inclusive).
    Radius(f64),
}

/// A fitted nearest-neighbours model.
#[derive(Debug)]
struct Neighbors {
    class: String,
    fit_x: Matrix,
    selection: Selection,
    distance_weights: bool,
    metric: Metric,
    target: Target,
}

/// The first element of a label list/array (`outlier_label_` holds one label per output).
fn first_label(value: &Value) -> Option<Labels> {
    let item = match value {
        Value::Array(a) => return attrs::labels_of(a).filter(|l| l.len() == 1),
        Value::List(items) | Value::Tuple(items) => items.first()?,
        other => other,
    };
    match item {
        Value::Int(i) => Some(Labels::Int(vec![*i])),
        Value::Float(f) => Some(Labels::Float(vec![*f])),
        Value::Str(s) => Some(Labels::Str(vec![s.clone()])),
        Value::Array(a) => attrs::labels_of(a).filter(|l| l.len() == 1),
        _ => None,
    }
}

/// Position of `label` (a one-element [`Labels`]) among `classes`.
fn label_position(classes: &Labels, label: &Labels) -> Option<usize> {
    match (classes, label) {
        (Labels::Int(c), Labels::Int(l)) => c.iter().position(|v| Some(v) == l.first()),
        (Labels::Float(c), Labels::Float(l)) => c.iter().position(|v| Some(v) == l.first()),
        (Labels::Str(c), Labels::Str(l)) => c.iter().position(|v| Some(v) == l.first()),
        _ => None,
    }
}

impl Neighbors {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let bad = |reason: String| SklearnError::bad_model(class, reason);
        let fit_x = attrs::matrix(obj, "_fit_X")?;
        let selection = if class.starts_with("Radius") {
            let r = attrs::float(obj, "radius")?;
            if r.is_nan() || r < 0.0 {
                return Err(bad(format!("radius {r}")));
            }
            Selection::Radius(r)
        } else {
            let k = attrs::usize_attr(obj, "n_neighbors")?;
            if k == 0 || k > fit_x.rows() {
                return Err(bad(format!(
                    "n_neighbors={k} with {} training samples",
                    fit_x.rows()
                )));
            }
            Selection::Nearest(k)
        };
        let distance_weights = match attrs::req(obj, "weights")? {
            Value::Str(s) if s == "uniform" => false,
            Value::Str(s) if s == "distance" => true,
            Value::None => false,
            other => {
                return Err(bad(format!(
                    "weights={} is not supported (uniform, distance are)",
                    other.kind()
                )));
            }
        };
        let metric_name = attrs::opt_str(obj, "effective_metric_")
            .or_else(|| attrs::opt_str(obj, "metric"))
            .unwrap_or("minkowski");
        let p = attrs::opt(obj, "effective_metric_params_")
            .and_then(|d| d.get("p"))
            .and_then(Value::as_f64)
            .or_else(|| {
                if metric_name == "minkowski" {
                    attrs::opt(obj, "p").and_then(Value::as_f64)
                } else {
                    None
                }
            });
        let metric = Metric::parse(metric_name, p, class)?;
        let y_arr = attrs::array(obj, "_y")?;
        let n = fit_x.rows();
        let target = if class.ends_with("Classifier") {
            if attrs::flag(obj, "outputs_2d_", false) || y_arr.ndim() != 1 {
                return Err(bad("multi-output classification is not supported".into()));
            }
            let classes = attrs::classes(obj, &[])?;
            let y = attrs::f64_vec(obj, "_y")?
                .into_iter()
                .map(|v| {
                    if v >= 0.0 && (v as usize) < classes.len() {
                        Ok(v as usize)
                    } else {
                        Err(bad(format!("class index {v} out of range")))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            let outlier = match attrs::opt(obj, "outlier_label_") {
                None => None,
                Some(v) => Some(
                    first_label(v)
                        .ok_or_else(|| bad(format!("unsupported outlier label {}", v.kind())))?,
                ),
            };
            Target::Classes {
                classes,
                y,
                outlier,
            }
        } else {
            let y = attrs::f64_vec(obj, "_y")?;
            let two_d = y_arr.ndim() == 2;
            let n_outputs = if two_d { y_arr.shape[1] } else { 1 };
            Target::Values {
                y,
                n_outputs,
                two_d,
            }
        };
        let len = match &target {
            Target::Classes { y, .. } => y.len(),
            Target::Values { y, n_outputs, .. } => {
                if y.len() % (*n_outputs).max(1) != 0 {
                    usize::MAX
                } else {
                    y.len() / (*n_outputs).max(1)
                }
            }
        };
        if len != n {
            return Err(bad(format!(
                "`_y` does not have one row per training sample ({n})"
            )));
        }
        Ok(Neighbors {
            class: class.to_string(),
            fit_x,
            selection,
            distance_weights,
            metric,
            target,
        })
    }

    /// For each query row, calls `visit(row, neighbours)` with its (distance, index) neighbours: the `k` nearest,
    /// nearest first (ties by training order), or every point within the radius in training order. One buffer
    /// serves the whole batch.
    fn for_each_neighbourhood(&self, x: &Matrix, mut visit: impl FnMut(usize, &[(f64, usize)])) {
        let mut buf: Vec<(f64, usize)> = Vec::with_capacity(self.fit_x.rows());
        let order = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        for (r, xr) in x.iter_rows().enumerate() {
            buf.clear();
            let all = self
                .fit_x
                .iter_rows()
                .enumerate()
                .map(|(i, t)| (self.metric.distance(xr, t), i));
            match self.selection {
                Selection::Nearest(k) => {
                    buf.extend(all);
                    if k < buf.len() {
                        buf.select_nth_unstable_by(k - 1, order);
                    }
                    let len = k.min(buf.len());
                    let nearest = &mut buf[..len];
                    nearest.sort_unstable_by(order);
                    visit(r, nearest);
                }
                Selection::Radius(radius) => {
                    buf.extend(all.filter(|(d, _)| *d <= radius));
                    visit(r, &buf);
                }
            }
        }
    }

    /// scikit-learn's `_get_weights`: `1/d`, except that a row with a zero distance weights only its exact
    /// matches (1 each).
    fn weights(&self, neigh: &[(f64, usize)], out: &mut Vec<f64>) {
        out.clear();
        if !self.distance_weights {
            out.resize(neigh.len(), 1.0);
            return;
        }
        let exact = neigh.iter().any(|(d, _)| *d == 0.0);
        out.extend(neigh.iter().map(|(d, _)| {
            if exact {
                if *d == 0.0 { 1.0 } else { 0.0 }
            } else {
                1.0 / d
            }
        }));
    }
}

impl Estimator for Neighbors {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.fit_x.cols())
    }

    fn row_cost(&self) -> Option<u64> {
        // Every query row is compared with every training row.
        Some((self.fit_x.rows() as u64).saturating_mul(self.fit_x.cols().max(1) as u64))
    }

    fn supports(&self, method: Method) -> bool {
        match &self.target {
            Target::Classes { .. } => matches!(method, Method::Predict | Method::PredictProba),
            Target::Values { .. } => method == Method::Predict,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        check_input(x, Some(self.fit_x.cols()), &self.class, false)?;
        let mut w = Vec::with_capacity(self.fit_x.rows());
        match &self.target {
            Target::Classes {
                classes,
                y,
                outlier,
            } => {
                let nc = classes.len();
                let mut proba = Matrix::zeros(x.rows(), nc);
                let mut outliers = Vec::new();
                self.for_each_neighbourhood(x, |r, neigh| {
                    if neigh.is_empty() {
                        outliers.push(r);
                    }
                    self.weights(neigh, &mut w);
                    let row = proba.row_mut(r);
                    for (wi, (_, i)) in w.iter().zip(neigh) {
                        row[y[*i]] += wi;
                    }
                });
                if !outliers.is_empty() {
                    let Some(label) = outlier else {
                        return Err(SklearnError::BadInput(format!(
                            "No neighbors found for test samples {outliers:?}, you can try using larger radius, \
                             giving a label for outliers, or considering removing them from your dataset."
                        )));
                    };
                    if let Some(c) = label_position(classes, label) {
                        for &r in &outliers {
                            proba.row_mut(r)[c] = 1.0;
                        }
                    }
                }
                if nc > 0 {
                    for row in proba.data_mut().chunks_exact_mut(nc) {
                        let mut s: f64 = row.iter().sum();
                        if s == 0.0 {
                            s = 1.0;
                        }
                        row.iter_mut().for_each(|v| *v /= s);
                    }
                }
                if method == Method::PredictProba {
                    return Ok(Output::Matrix(proba));
                }
                // argmax of the probabilities; rows with no probability at all (outliers whose label is not a
                // training class) get the outlier label.
                let idx: Vec<Option<usize>> = proba
                    .iter_rows()
                    .map(|row| row.iter().any(|v| *v != 0.0).then(|| argmax(row)))
                    .collect();
                Ok(Output::Labels(with_outlier(
                    classes,
                    &idx,
                    outlier.as_ref(),
                )))
            }
            Target::Values {
                y,
                n_outputs,
                two_d,
            } => {
                let m = *n_outputs;
                let mut out = Matrix::zeros(x.rows(), m);
                self.for_each_neighbourhood(x, |r, neigh| {
                    self.weights(neigh, &mut w);
                    let row = out.row_mut(r);
                    if neigh.is_empty() {
                        // RadiusNeighborsRegressor: no neighbour, NaN prediction (scikit-learn warns).
                        row.iter_mut().for_each(|v| *v = f64::NAN);
                    } else if self.distance_weights {
                        let total: f64 = w.iter().sum();
                        for (o, v) in row.iter_mut().enumerate() {
                            let s: f64 = w
                                .iter()
                                .zip(neigh)
                                .map(|(wi, (_, i))| y[i * m + o] * wi)
                                .sum();
                            *v = s / total;
                        }
                    } else {
                        for (o, v) in row.iter_mut().enumerate() {
                            let s: f64 = neigh.iter().map(|(_, i)| y[i * m + o]).sum();
                            *v = s / neigh.len() as f64;
                        }
                    }
                });
                Ok(if *two_d {
                    Output::Matrix(out)
                } else {
                    Output::Column(out.into_data())
                })
            }
        }
    }

    fn classes(&self) -> Option<&Labels> {
        match &self.target {
            Target::Classes { classes, .. } => Some(classes),
            Target::Values { .. } => None,
        }
    }
}

/// Labels at `idx`, with `None` entries replaced by the outlier label (which may lie outside `classes`).
fn with_outlier(classes: &Labels, idx: &[Option<usize>], outlier: Option<&Labels>) -> Labels {
    fn pick<T: Clone>(
        values: &[T],
        idx: &[Option<usize>],
        fallback: Option<&T>,
        default: T,
    ) -> Vec<T> {
        idx.iter()
            .map(|i| match i {
                Some(i) => values.get(*i).cloned().unwrap_or_else(|| default.clone()),
                None => fallback.cloned().unwrap_or_else(|| default.clone()),
            })
            .collect()
    }
    match (classes, outlier) {
        (Labels::Int(v), Some(Labels::Int(o))) => Labels::Int(pick(v, idx, o.first(), 0)),
        (Labels::Float(v), Some(Labels::Float(o))) => {
            Labels::Float(pick(v, idx, o.first(), f64::NAN))
        }
        (Labels::Str(v), Some(Labels::Str(o))) => {
            Labels::Str(pick(v, idx, o.first(), String::new()))
        }
        // An outlier label of another type than the classes: fall back to the first class.
        _ => classes.take(&idx.iter().map(|i| i.unwrap_or(0)).collect::<Vec<_>>()),
    }
}

/// `NearestCentroid`: the closest class centroid; with the Euclidean metric also a discriminant score per class.
#[derive(Debug)]
struct NearestCentroid {
    classes: Labels,
    centroids: Matrix,
    metric: Metric,
    /// Whether the class priors are all (close to) uniform, in which case `predict` is the closest centroid.
    uniform_prior: bool,
    log_prior: Vec<f64>,
    /// `within_class_std_dev_` (zeros left as 1), when known.
    std_dev: Option<Vec<f64>>,
}

impl NearestCentroid {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let classes = attrs::classes(obj, &[])?;
        let centroids = attrs::matrix(obj, "centroids_")?;
        let metric = Metric::parse(
            attrs::opt_str(obj, "metric").unwrap_or("euclidean"),
            None,
            class,
        )?;
        if centroids.rows() != classes.len() {
            return Err(SklearnError::bad_model(
                class,
                "`centroids_` does not match `classes_`",
            ));
        }
        let k = classes.len() as f64;
        let prior = match attrs::opt(obj, "class_prior_") {
            Some(_) => attrs::f64_vec(obj, "class_prior_")?,
            None => vec![1.0 / k; classes.len()],
        };
        if prior.len() != classes.len() {
            return Err(SklearnError::bad_model(
                class,
                "`class_prior_` does not match `classes_`",
            ));
        }
        // np.isclose(prior, 1/K): |a − b| ≤ 1e-8 + 1e-5·|b|.
        let uniform_prior = prior.iter().all(|p| (p - 1.0 / k).abs() <= 1e-8 + 1e-5 / k);
        let std_dev = match attrs::opt(obj, "within_class_std_dev_") {
            Some(_) => Some(
                attrs::f64_vec(obj, "within_class_std_dev_")?
                    .into_iter()
                    .map(|s| if s == 0.0 { 1.0 } else { s })
                    .collect(),
            ),
            None => None,
        };
        Ok(NearestCentroid {
            classes,
            centroids,
            metric,
            uniform_prior,
            log_prior: prior.iter().map(|p| p.ln()).collect(),
            std_dev,
        })
    }

    /// Discriminant scores `−‖(x − c)/σ‖² + 2 log prior` (Euclidean metric).
    fn scores(&self, x: &Matrix) -> Matrix {
        let k = self.classes.len();
        let mut out = Matrix::zeros(x.rows(), k);
        let ones = vec![1.0; x.cols()];
        let sd = self.std_dev.as_deref().unwrap_or(&ones);
        for (r, xr) in x.iter_rows().enumerate() {
            for c in 0..k {
                let d2: f64 = xr
                    .iter()
                    .zip(self.centroids.row(c))
                    .zip(sd)
                    .map(|((a, b), s)| (a / s - b / s) * (a / s - b / s))
                    .sum();
                out.row_mut(r)[c] = -d2 + 2.0 * self.log_prior[c];
            }
        }
        out
    }
}

impl Estimator for NearestCentroid {
    fn class_name(&self) -> &str {
        "NearestCentroid"
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.centroids.cols())
    }

    fn supports(&self, method: Method) -> bool {
        match method {
            Method::Predict => true,
            Method::PredictProba | Method::DecisionFunction => {
                self.metric == Metric::Euclidean && self.std_dev.is_some()
            }
            _ => false,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        check_input(x, Some(self.centroids.cols()), "NearestCentroid", false)?;
        match method {
            Method::Predict if self.uniform_prior || self.std_dev.is_none() => {
                let idx: Vec<usize> = x
                    .iter_rows()
                    .map(|xr| {
                        // First minimum, as `pairwise_distances_argmin`.
                        let mut best = (0, f64::INFINITY);
                        for (c, centroid) in self.centroids.iter_rows().enumerate() {
                            let d = self.metric.distance(xr, centroid);
                            if d < best.1 {
                                best = (c, d);
                            }
                        }
                        best.0
                    })
                    .collect();
                Ok(Output::Labels(self.classes.take(&idx)))
            }
            Method::Predict => {
                let s = self.scores(x);
                let idx: Vec<usize> = s.iter_rows().map(argmax).collect();
                Ok(Output::Labels(self.classes.take(&idx)))
            }
            Method::DecisionFunction if self.classes.len() == 2 => Ok(Output::Column(
                self.scores(x).iter_rows().map(|r| r[1] - r[0]).collect(),
            )),
            Method::DecisionFunction => Ok(Output::Matrix(self.scores(x))),
            _ => Ok(Output::Matrix(posterior(self.scores(x)))),
        }
    }

    fn classes(&self) -> Option<&Labels> {
        Some(&self.classes)
    }
}
