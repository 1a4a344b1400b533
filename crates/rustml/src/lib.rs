//! Models trained in Rust: smartcore and linfa estimators serialised with serde, served as oxserve models.
//!
//! A Rust user saves a fitted model with [`save`] (or writes the same JSON by hand) into the model folder:
//!
//! - `model.smartcore.json` — `{"format":"oxserve-rustml/1","library":"smartcore","estimator":<kind>,"model":<serde>}`
//!   where the model's type parameters are `f64` features in a `DenseMatrix<f64>`, `i64` class labels in a
//!   `Vec<i64>`, or `f64` targets in a `Vec<f64>`: kinds `LogisticRegression`, `DecisionTreeClassifier`,
//!   `RandomForestClassifier` (classifiers), `LinearRegression`, `RandomForestRegressor` (regressors).
//! - `model.linfa.json` — the same envelope with `"library":"linfa"`, `f64` features in an `Array2<f64>` and
//!   `usize` class labels: kinds `LinearRegression` (`FittedLinearRegression<f64>`), `LogisticRegression`
//!   (`FittedLogisticRegression<f64, usize>`, binary), `MultiLogisticRegression`
//!   (`MultiFittedLogisticRegression<f64, usize>`), `DecisionTree` (`DecisionTree<f64, usize>`).
//!
//! Outputs are named like scikit-learn's methods: `predict` (default) and, where the library computes them,
//! `predict_proba`.

use std::path::{Path, PathBuf};

use linfa::prelude::Predict;
use ndarray::Array2;
use oxserve_core::{
    DataType, Model, ModelError, ModelMetadata, NamedTensor, PredictRequest, PredictResponse,
    Tensor, TensorData, TensorSpec,
};
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;

/// The file name of a smartcore model.
pub const SMARTCORE_FILE: &str = "model.smartcore.json";
/// The file name of a linfa model.
pub const LINFA_FILE: &str = "model.linfa.json";
/// The envelope's format tag.
pub const FORMAT: &str = "oxserve-rustml/1";

/// Why a Rust-trained model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum RustModelError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    /// The JSON does not hold the envelope or the model type it names.
    #[error("{file}: {reason}")]
    Format {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// An estimator kind this server does not know.
    #[error("unsupported {library} estimator `{kind}`; supported: {supported}")]
    Unsupported {
        /// smartcore or linfa.
        library: &'static str,
        /// The kind named.
        kind: String,
        /// The supported kinds.
        supported: &'static str,
    },
}

/// The JSON envelope around a serialised model.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<M> {
    /// Always [`FORMAT`].
    pub format: String,
    /// `smartcore` or `linfa`.
    pub library: String,
    /// The estimator kind (see the crate docs).
    pub estimator: String,
    /// The serde form of the fitted model.
    pub model: M,
}

/// Serialises a fitted model into the envelope (write the result to [`SMARTCORE_FILE`] or [`LINFA_FILE`]).
pub fn save<M: Serialize>(
    library: &str,
    estimator: &str,
    model: &M,
) -> Result<String, serde_json::Error> {
    serde_json::to_string(&Envelope {
        format: FORMAT.to_string(),
        library: library.to_string(),
        estimator: estimator.to_string(),
        model,
    })
}

type SmartX = DenseMatrix<f64>;

/// The fitted models this crate serves.
enum Fitted {
    SmartLogistic(
        smartcore::linear::logistic_regression::LogisticRegression<f64, i64, SmartX, Vec<i64>>,
    ),
    SmartTree(
        smartcore::tree::decision_tree_classifier::DecisionTreeClassifier<
            f64,
            i64,
            SmartX,
            Vec<i64>,
        >,
    ),
    SmartForest(
        smartcore::ensemble::random_forest_classifier::RandomForestClassifier<
            f64,
            i64,
            SmartX,
            Vec<i64>,
        >,
    ),
    SmartLinear(smartcore::linear::linear_regression::LinearRegression<f64, f64, SmartX, Vec<f64>>),
    SmartForestReg(
        smartcore::ensemble::random_forest_regressor::RandomForestRegressor<
            f64,
            f64,
            SmartX,
            Vec<f64>,
        >,
    ),
    LinfaLinear(linfa_linear::FittedLinearRegression<f64>),
    LinfaLogistic(linfa_logistic::FittedLogisticRegression<f64, usize>),
    LinfaMultiLogistic(linfa_logistic::MultiFittedLogisticRegression<f64, usize>),
    LinfaTree(linfa_trees::DecisionTree<f64, usize>),
}

const SMARTCORE_KINDS: &str = "LogisticRegression, DecisionTreeClassifier, RandomForestClassifier, LinearRegression, RandomForestRegressor";
const LINFA_KINDS: &str =
    "LinearRegression, LogisticRegression, MultiLogisticRegression, DecisionTree";

/// A Rust-trained model served as a [`Model`].
pub struct RustModel {
    fitted: Fitted,
    kind: String,
    default_output: &'static str,
    n_features: Option<usize>,
    metadata: ModelMetadata,
}

impl std::fmt::Debug for RustModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustModel")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// The Rust model file in a folder, if any.
pub fn find(dir: &Path) -> Option<PathBuf> {
    [SMARTCORE_FILE, LINFA_FILE]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

fn parse<M: for<'de> Deserialize<'de>>(
    file: &str,
    value: serde_json::Value,
) -> Result<M, RustModelError> {
    serde_json::from_value(value).map_err(|e| RustModelError::Format {
        file: file.to_string(),
        reason: format!("the model does not match its estimator type: {e}"),
    })
}

impl RustModel {
    /// Loads `model.smartcore.json` or `model.linfa.json`. `method` is Seldon's parameter: `predict_proba` (the
    /// default) when the model computes it, else `predict`.
    pub fn load(path: &Path, method: Option<&str>) -> Result<Self, RustModelError> {
        let file = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| RustModelError::Io(file.clone(), e))?;
        let envelope: Envelope<serde_json::Value> =
            serde_json::from_str(&text).map_err(|e| RustModelError::Format {
                file: file.clone(),
                reason: format!("not an oxserve-rustml envelope: {e}"),
            })?;
        if envelope.format != FORMAT {
            return Err(RustModelError::Format {
                file,
                reason: format!("format `{}` is not `{FORMAT}`", envelope.format),
            });
        }
        let kind = envelope.estimator.clone();
        let m = envelope.model;
        // smartcore keeps the feature count only inside its matrices: read it from the JSON before the model
        // swallows it (a wrong width would otherwise panic inside smartcore's matrix product).
        let dim = |key: &str, axis: &str| {
            m.get(key)
                .and_then(|c| c.get(axis))
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
        };
        let smartcore_features = match kind.as_str() {
            "LogisticRegression" => m
                .get("num_attributes")
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .or_else(|| dim("coefficients", "ncols")),
            "LinearRegression" => dim("coefficients", "nrows"),
            _ => None,
        };
        let fitted = match (envelope.library.as_str(), kind.as_str()) {
            ("smartcore", "LogisticRegression") => Fitted::SmartLogistic(parse(&file, m)?),
            ("smartcore", "DecisionTreeClassifier") => Fitted::SmartTree(parse(&file, m)?),
            ("smartcore", "RandomForestClassifier") => Fitted::SmartForest(parse(&file, m)?),
            ("smartcore", "LinearRegression") => Fitted::SmartLinear(parse(&file, m)?),
            ("smartcore", "RandomForestRegressor") => Fitted::SmartForestReg(parse(&file, m)?),
            ("linfa", "LinearRegression") => Fitted::LinfaLinear(parse(&file, m)?),
            ("linfa", "LogisticRegression") => Fitted::LinfaLogistic(parse(&file, m)?),
            ("linfa", "MultiLogisticRegression") => Fitted::LinfaMultiLogistic(parse(&file, m)?),
            ("linfa", "DecisionTree") => Fitted::LinfaTree(parse(&file, m)?),
            ("smartcore", other) => {
                return Err(RustModelError::Unsupported {
                    library: "smartcore",
                    kind: other.to_string(),
                    supported: SMARTCORE_KINDS,
                });
            }
            ("linfa", other) => {
                return Err(RustModelError::Unsupported {
                    library: "linfa",
                    kind: other.to_string(),
                    supported: LINFA_KINDS,
                });
            }
            (lib, _) => {
                return Err(RustModelError::Format {
                    file,
                    reason: format!("library `{lib}` is neither smartcore nor linfa"),
                });
            }
        };
        let n_features = match &fitted {
            Fitted::LinfaLinear(m) => Some(m.params().len()),
            Fitted::LinfaLogistic(m) => Some(m.params().len()),
            Fitted::LinfaMultiLogistic(m) => Some(m.params().nrows()),
            Fitted::SmartLogistic(_) | Fitted::SmartLinear(_) => smartcore_features,
            _ => None,
        };
        let (label, proba) = match &fitted {
            Fitted::SmartLogistic(_) | Fitted::SmartForest(_) => (DataType::I64, false),
            Fitted::SmartTree(_) => (DataType::I64, true),
            Fitted::LinfaLogistic(_) | Fitted::LinfaMultiLogistic(_) => (DataType::I64, true),
            Fitted::LinfaTree(_) => (DataType::I64, false),
            Fitted::SmartLinear(_) | Fitted::SmartForestReg(_) | Fitted::LinfaLinear(_) => {
                (DataType::F64, false)
            }
        };
        let predict = TensorSpec::new("predict", label, vec![-1]);
        let proba_spec = TensorSpec::new("predict_proba", DataType::F64, vec![-1, -1]);
        let default_output = if proba && method.unwrap_or("predict_proba") == "predict_proba" {
            "predict_proba"
        } else {
            "predict"
        };
        let outputs = match (proba, default_output) {
            (false, _) => vec![predict],
            (true, "predict_proba") => vec![proba_spec, predict],
            (true, _) => vec![predict, proba_spec],
        };
        let width = n_features.and_then(|n| i64::try_from(n).ok()).unwrap_or(-1);
        Ok(RustModel {
            metadata: ModelMetadata {
                platform: format!("{}_{}", envelope.library, kind),
                inputs: vec![TensorSpec::new("input-0", DataType::F64, vec![-1, width])],
                outputs,
            },
            fitted,
            kind,
            default_output,
            n_features,
        })
    }

    fn run(
        &self,
        output: &str,
        rows: usize,
        cols: usize,
        x: Vec<f64>,
    ) -> Result<Tensor, ModelError> {
        let failed =
            |e: &dyn std::fmt::Display| ModelError::BadInput(format!("{}: {e}", self.kind));
        let smart = || DenseMatrix::new(rows, cols, x.clone(), false).map_err(|e| failed(&e));
        let nd = || Array2::from_shape_vec((rows, cols), x.clone()).map_err(|e| failed(&e));
        let labels = |v: Vec<i64>| Tensor::new(vec![v.len()], TensorData::I64(v));
        let values = |v: Vec<f64>| Tensor::new(vec![v.len()], TensorData::F64(v));
        let usize_labels = |v: Vec<usize>| labels(v.into_iter().map(|l| l as i64).collect());
        let tensor = match (output, &self.fitted) {
            ("predict", Fitted::SmartLogistic(m)) => {
                labels(m.predict(&smart()?).map_err(|e| failed(&e))?)
            }
            ("predict", Fitted::SmartTree(m)) => {
                labels(m.predict(&smart()?).map_err(|e| failed(&e))?)
            }
            ("predict_proba", Fitted::SmartTree(m)) => {
                let p = m.predict_proba(&smart()?).map_err(|e| failed(&e))?;
                let (r, c) = smartcore::linalg::basic::arrays::Array::shape(&p);
                let mut out = Vec::with_capacity(r * c);
                for i in 0..r {
                    for j in 0..c {
                        out.push(*smartcore::linalg::basic::arrays::Array::get(&p, (i, j)));
                    }
                }
                Tensor::new(vec![r, c], TensorData::F64(out))
            }
            ("predict", Fitted::SmartForest(m)) => {
                labels(m.predict(&smart()?).map_err(|e| failed(&e))?)
            }
            ("predict", Fitted::SmartLinear(m)) => {
                values(m.predict(&smart()?).map_err(|e| failed(&e))?)
            }
            ("predict", Fitted::SmartForestReg(m)) => {
                values(m.predict(&smart()?).map_err(|e| failed(&e))?)
            }
            ("predict", Fitted::LinfaLinear(m)) => values(m.predict(&nd()?).to_vec()),
            ("predict", Fitted::LinfaLogistic(m)) => usize_labels(m.predict(&nd()?).to_vec()),
            ("predict_proba", Fitted::LinfaLogistic(m)) => {
                // linfa returns P(positive class); write both columns, as scikit-learn does.
                let p = m.predict_probabilities(&nd()?);
                let mut out = Vec::with_capacity(p.len() * 2);
                for &v in &p {
                    out.extend([1.0 - v, v]);
                }
                Tensor::new(vec![p.len(), 2], TensorData::F64(out))
            }
            ("predict", Fitted::LinfaMultiLogistic(m)) => usize_labels(m.predict(&nd()?).to_vec()),
            ("predict_proba", Fitted::LinfaMultiLogistic(m)) => {
                let p = m.predict_probabilities(&nd()?);
                let (r, c) = p.dim();
                Tensor::new(vec![r, c], TensorData::F64(p.iter().copied().collect()))
            }
            ("predict", Fitted::LinfaTree(m)) => usize_labels(m.predict(&nd()?).to_vec()),
            (other, _) => {
                return Err(self.metadata.unknown_output(other));
            }
        };
        tensor.map_err(|e| ModelError::Internal(e.to_string()))
    }
}

impl Model for RustModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let [input] = request.inputs.as_slice() else {
            return Err(ModelError::BadInput(format!(
                "expected one input tensor, got {}",
                request.inputs.len()
            )));
        };
        let (rows, cols) = match *input.tensor.shape() {
            [r, c] => (r, c),
            ref other => {
                return Err(ModelError::BadInput(format!(
                    "expected rows x features, got shape {other:?}"
                )));
            }
        };
        // A batch with rows but no columns holds no data however many rows it declares (`[2^31, 0]` is a few
        // bytes on the wire); the libraries would allocate per row before noticing, so refuse it first, in
        // scikit-learn's words.
        if cols == 0 && rows > 0 {
            return Err(ModelError::BadInput(format!(
                "Found array with 0 feature(s) (shape=({rows}, 0)) while a minimum of 1 is required by {}.",
                self.kind
            )));
        }
        if let Some(n) = self.n_features
            && n != cols
        {
            return Err(ModelError::BadInput(format!(
                "X has {cols} features, but {} is expecting {n} features as input",
                self.kind
            )));
        }
        if rows == 0 {
            return Err(ModelError::BadInput("the batch has no rows".into()));
        }
        let x = input.tensor.to_f64_vec()?;
        let names: Vec<String> = if request.outputs.is_empty() {
            vec![self.default_output.to_string()]
        } else {
            request.outputs.clone()
        };
        let mut outputs = Vec::with_capacity(names.len());
        for name in names {
            // smartcore and linfa may panic on malformed fitted state; keep that inside this request.
            let x = x.clone();
            let tensor = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.run(&name, rows, cols, x)
            }))
            .map_err(|_| ModelError::Internal(format!("{} failed on this batch", self.kind)))??;
            outputs.push(NamedTensor::new(name, tensor));
        }
        Ok(PredictResponse { outputs })
    }
}
