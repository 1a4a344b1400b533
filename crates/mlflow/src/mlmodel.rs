//! The `MLmodel` file: which flavour a model folder holds and where its files are.

use std::path::{Path, PathBuf};

use crate::MlflowError;
use crate::signature::Signature;

/// The largest `MLmodel` file read (real ones are a few KB).
const MAX_MLMODEL_BYTES: u64 = 1 << 20;

/// What `MLmodel` says, as far as serving needs it.
#[derive(Debug, Clone)]
pub struct MlModel {
    /// The folder holding `MLmodel`.
    pub dir: PathBuf,
    /// `mlflow_version`, when written.
    pub mlflow_version: Option<String>,
    /// The flavour oxserve serves the model through.
    pub flavor: Flavor,
    /// The signature, when the model was saved with one.
    pub signature: Option<Signature>,
    /// `saved_input_example_info.artifact_path`, when an input example was saved.
    pub input_example: Option<String>,
}

/// The native engine a flavour maps to, with its model file (inside the folder) and how pyfunc predicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flavor {
    /// `sklearn` in the `pickle` or `cloudpickle` format: a pickle of library classes; pyfunc calls `predict_fn`
    /// (`predict` unless the model was saved with another).
    SklearnPickle {
        /// The pickle.
        file: PathBuf,
        /// `predict_fn` of the `python_function` flavour.
        predict_fn: String,
    },
    /// `sklearn` in the `skops` format (MLflow 3's default), or `lightgbm` saved as skops.
    Skops {
        /// The `.skops` zip.
        file: PathBuf,
        /// The flavour (`sklearn`, `lightgbm`).
        flavor: &'static str,
    },
    /// `xgboost`: a JSON, UBJSON or legacy binary model; `model_class` says what pyfunc's predict answers.
    Xgboost {
        /// The model file.
        file: PathBuf,
        /// `model_class` (`xgboost.core.Booster`, `xgboost.sklearn.XGBClassifier`, ...).
        model_class: String,
    },
    /// `lightgbm`: a text `Booster`, or a scikit-learn wrapper pickled.
    Lightgbm {
        /// The model file.
        file: PathBuf,
        /// `model_class` (`lightgbm.basic.Booster`, `lightgbm.sklearn.LGBMClassifier`, ...).
        model_class: String,
        /// The wrapper was pickled (`serialization_format` pickle / cloudpickle), not a text booster.
        pickled: bool,
    },
    /// `onnx`: pyfunc feeds a DataFrame's values to the one graph input and answers a DataFrame of the outputs.
    Onnx {
        /// The `.onnx` file.
        file: PathBuf,
    },
    /// `transformers` saved by `mlflow.transformers.save_model` with its weights (`model_binary`), a PyTorch
    /// pipeline of a task the candle engine serves: pyfunc runs the pipeline on a string column.
    Transformers {
        /// The `model_binary` folder (`config.json` and the weights, as `save_pretrained` wrote them).
        model_dir: PathBuf,
        /// `components/tokenizer` (`tokenizer.json`).
        tokenizer_dir: PathBuf,
        /// The pipeline's task.
        task: TransformersTask,
    },
}

impl Flavor {
    /// The flavour's name in `MLmodel`.
    pub fn name(&self) -> &'static str {
        match self {
            Flavor::SklearnPickle { .. } => "sklearn",
            Flavor::Skops { flavor, .. } => flavor,
            Flavor::Xgboost { .. } => "xgboost",
            Flavor::Lightgbm { .. } => "lightgbm",
            Flavor::Onnx { .. } => "onnx",
            Flavor::Transformers { .. } => "transformers",
        }
    }
}

/// The flavours served natively, in the order they are tried.
pub const SERVED_FLAVORS: [&str; 5] = ["sklearn", "xgboost", "lightgbm", "onnx", "transformers"];

/// A `transformers` pipeline task the candle engine serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransformersTask {
    /// `text-classification`: pyfunc answers a DataFrame of `label` and `score` per text.
    TextClassification,
    /// `feature-extraction`: pyfunc answers the first text's per-token last hidden states as one array.
    FeatureExtraction,
}

impl TransformersTask {
    /// Every served task.
    pub const ALL: [TransformersTask; 2] = [
        TransformersTask::TextClassification,
        TransformersTask::FeatureExtraction,
    ];

    /// The task as `pipeline.task` (and `MLmodel`'s `task`) names it.
    pub fn name(self) -> &'static str {
        match self {
            TransformersTask::TextClassification => "text-classification",
            TransformersTask::FeatureExtraction => "feature-extraction",
        }
    }

    /// The pipeline class transformers builds for the task (`instance_type` in `MLmodel`).
    fn pipeline_class(self) -> &'static str {
        match self {
            TransformersTask::TextClassification => "TextClassificationPipeline",
            TransformersTask::FeatureExtraction => "FeatureExtractionPipeline",
        }
    }
}

impl std::fmt::Display for TransformersTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl MlModel {
    /// Reads `dir/MLmodel` (or `dir` itself when it is the `MLmodel` file) and picks the flavour. A custom
    /// `python_function` model (a `python_model` pickle, `mlflow.pyfunc.model`, a `loader_module` of the user's
    /// own, `code` paths) is refused with what to do instead; so is a folder with no flavour served natively.
    pub fn load(dir: &Path) -> Result<Self, MlflowError> {
        let (dir, file) = if dir.is_file() {
            let parent = dir.parent().unwrap_or(Path::new(".")).to_path_buf();
            (parent, dir.to_path_buf())
        } else {
            (dir.to_path_buf(), dir.join("MLmodel"))
        };
        let size = std::fs::metadata(&file)
            .map_err(|e| MlflowError::NoMlModel {
                dir: dir.clone(),
                reason: e.to_string(),
            })?
            .len();
        if size > MAX_MLMODEL_BYTES {
            return Err(MlflowError::Malformed(format!(
                "{} is {size} bytes; an MLmodel file is at most {MAX_MLMODEL_BYTES}",
                file.display()
            )));
        }
        let text = std::fs::read_to_string(&file).map_err(|e| MlflowError::NoMlModel {
            dir: dir.clone(),
            reason: e.to_string(),
        })?;
        Self::parse(&dir, &text)
    }

    /// Parses an `MLmodel` file's text; model files are looked for in `dir`.
    pub fn parse(dir: &Path, text: &str) -> Result<Self, MlflowError> {
        let doc: serde_yaml::Value = serde_yaml::from_str(text)
            .map_err(|e| MlflowError::Malformed(format!("MLmodel is not YAML: {e}")))?;
        let flavors = doc
            .get("flavors")
            .and_then(serde_yaml::Value::as_mapping)
            .ok_or_else(|| MlflowError::Malformed("MLmodel has no `flavors` mapping".into()))?;
        let names: Vec<String> = flavors
            .keys()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        let flavor = choose(dir, flavors, &names)?;
        if let Flavor::Transformers { task, .. } = &flavor
            && doc
                .get("metadata")
                .is_some_and(|m| m.get("prompt_template").is_some_and(|t| !t.is_null()))
        {
            return Err(MlflowError::Unsupported(format!(
                "the transformers model ({task}) was saved with a prompt_template, which pyfunc wraps every input \
                 in; oxserve serves the pipeline on the texts as sent: log the model without prompt_template"
            )));
        }
        let signature = match doc.get("signature") {
            Some(s) if !s.is_null() => Some(Signature::from_mlmodel(s)?),
            _ => None,
        };
        Ok(MlModel {
            dir: dir.to_path_buf(),
            mlflow_version: text_field(&doc, "mlflow_version"),
            flavor,
            signature,
            input_example: doc
                .get("saved_input_example_info")
                .and_then(|i| text_field(i, "artifact_path")),
        })
    }
}

fn text_field(doc: &serde_yaml::Value, key: &str) -> Option<String> {
    doc.get(key)
        .and_then(serde_yaml::Value::as_str)
        .map(str::to_owned)
}

/// A relative file name inside the model folder: no absolute paths, no `..` (a hostile `MLmodel` must not make
/// the server read outside its folder).
fn model_file(
    dir: &Path,
    flavor: &str,
    conf: &serde_yaml::Value,
    key: &str,
) -> Result<PathBuf, MlflowError> {
    let name = text_field(conf, key).ok_or_else(|| {
        MlflowError::Malformed(format!("the `{flavor}` flavour in MLmodel has no `{key}`"))
    })?;
    let rel = Path::new(&name);
    if rel.is_absolute()
        || rel.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
    {
        return Err(MlflowError::Malformed(format!(
            "the `{flavor}` flavour's `{key}` is `{name}`: a model file must be a relative path inside the model folder"
        )));
    }
    Ok(dir.join(rel))
}

fn choose(
    dir: &Path,
    flavors: &serde_yaml::Mapping,
    names: &[String],
) -> Result<Flavor, MlflowError> {
    let pyfunc = flavors.get("python_function");
    let loader = pyfunc
        .and_then(|p| text_field(p, "loader_module"))
        .unwrap_or_default();
    if pyfunc.is_some_and(|p| p.get("python_model").is_some()) || loader == "mlflow.pyfunc.model" {
        return Err(MlflowError::CustomPython(format!(
            "the model is a custom `python_function` model (loader_module `{loader}`, a pickled `PythonModel` of \
             user code): oxserve never runs Python code from a model file. Log the underlying estimator with its \
             native flavour (mlflow.sklearn, mlflow.xgboost, mlflow.lightgbm) or export it to ONNX (mlflow.onnx)"
        )));
    }
    let served = SERVED_FLAVORS.iter().find(|f| flavors.contains_key(**f));
    let Some(&name) = served else {
        return Err(MlflowError::UnsupportedFlavor {
            flavors: names.join(", "),
            loader,
        });
    };
    let conf = &flavors[name];
    let has_code = conf.get("code").is_some_and(|c| !c.is_null())
        || pyfunc.is_some_and(|p| p.get("code").is_some_and(|c| !c.is_null()));
    if has_code {
        return Err(MlflowError::CustomPython(format!(
            "the `{name}` flavour was logged with `code` paths (user Python modules the model needs to load): \
             oxserve never runs Python code from a model file. Log the model without code_paths, or export it to \
             ONNX (mlflow.onnx)"
        )));
    }
    let format = text_field(conf, "serialization_format");
    let model_class = text_field(conf, "model_class").unwrap_or_default();
    Ok(match name {
        "sklearn" => {
            let file = model_file(dir, name, conf, "pickled_model")?;
            match format.as_deref() {
                Some("skops") => Flavor::Skops {
                    file,
                    flavor: "sklearn",
                },
                Some("pickle" | "cloudpickle") | None => Flavor::SklearnPickle {
                    file,
                    predict_fn: pyfunc
                        .and_then(|p| text_field(p, "predict_fn"))
                        .unwrap_or_else(|| "predict".into()),
                },
                Some(other) => {
                    return Err(MlflowError::Malformed(format!(
                        "unknown sklearn serialization_format `{other}` (MLflow writes skops, cloudpickle, pickle)"
                    )));
                }
            }
        }
        "xgboost" => Flavor::Xgboost {
            file: model_file(dir, name, conf, "data")?,
            model_class: if model_class.is_empty() {
                "xgboost.core.Booster".into()
            } else {
                model_class
            },
        },
        "lightgbm" => {
            let file = model_file(dir, name, conf, "data")?;
            // A Booster is always saved as LightGBM's text model; `serialization_format` applies to the
            // scikit-learn wrappers only.
            let wrapper = !model_class.is_empty() && model_class != "lightgbm.basic.Booster";
            match format.as_deref() {
                Some("skops") if wrapper => Flavor::Skops {
                    file,
                    flavor: "lightgbm",
                },
                _ => Flavor::Lightgbm {
                    pickled: wrapper,
                    file,
                    model_class,
                },
            }
        }
        "transformers" => transformers(dir, conf, pyfunc)?,
        _ => Flavor::Onnx {
            file: model_file(dir, name, conf, "data")?,
        },
    })
}

/// The `transformers` flavour: a text-classification or feature-extraction pipeline whose weights and tokenizer are in the folder.
fn transformers(
    dir: &Path,
    conf: &serde_yaml::Value,
    pyfunc: Option<&serde_yaml::Value>,
) -> Result<Flavor, MlflowError> {
    let unsupported = |m: String| Err(MlflowError::Unsupported(m));
    let named = text_field(conf, "task").unwrap_or_default();
    let Some(task) = TransformersTask::ALL
        .into_iter()
        .find(|t| t.name() == named)
    else {
        return unsupported(format!(
            "the transformers flavour's task `{named}` is not served; oxserve serves {} (BERT, RoBERTa and \
             DistilBERT encoders, on candle). Export the model to ONNX (mlflow.onnx) instead",
            TransformersTask::ALL.map(TransformersTask::name).join(", ")
        ));
    };
    // `inference_task: llm/v1/embeddings` makes pyfunc answer OpenAI-style embedding objects (the first token
    // of each text, with token counts), a shape of its own.
    if let Some(inference_task) = text_field(conf, "inference_task") {
        return unsupported(format!(
            "the transformers model was saved with inference_task `{inference_task}`, whose pyfunc answers \
             OpenAI-style objects; oxserve serves the plain {task} pipeline: log the model without `task=` \
             (inference_task)"
        ));
    }
    if let Some(framework) = text_field(conf, "framework").filter(|f| f != "pt") {
        return unsupported(format!(
            "the transformers flavour's framework is `{framework}`: oxserve reads PyTorch (`pt`) weights only"
        ));
    }
    let instance = text_field(conf, "instance_type").unwrap_or_default();
    let class = task.pipeline_class();
    if !instance.is_empty() && instance != class {
        return unsupported(format!(
            "the transformers pipeline is a `{instance}`, a class of its own (custom code) rather than \
             transformers' {class}; oxserve never runs a model's Python"
        ));
    }
    if conf.get("peft_adaptor").is_some() {
        return unsupported(
            "the transformers model is a PEFT adapter over a base model; merge the adapter into the weights \
             (merge_and_unload) and log the merged model"
                .into(),
        );
    }
    if conf.get("model_binary").is_none() {
        return unsupported(
            "the transformers model was logged without its weights (save_pretrained=False: a reference to the \
             Hugging Face Hub, `source_model_name`); oxserve never downloads a model: log it with \
             save_pretrained=True"
                .into(),
        );
    }
    let model_dir = model_file(dir, "transformers", conf, "model_binary")?;
    let has_tokenizer = conf
        .get("components")
        .and_then(serde_yaml::Value::as_sequence)
        .is_some_and(|c| c.iter().any(|v| v.as_str() == Some("tokenizer")));
    if !has_tokenizer {
        return unsupported(
            "the transformers pipeline was saved without a `tokenizer` component; a text pipeline needs one".into(),
        );
    }
    // pyfunc passes `model_config` (or the older components/inference_config.txt) to every pipeline call.
    let model_config = pyfunc
        .and_then(|p| p.get("model_config"))
        .and_then(serde_yaml::Value::as_mapping)
        .filter(|m| !m.is_empty());
    let legacy_config = dir.join("components").join("inference_config.txt");
    if let Some(m) = model_config {
        let keys: Vec<&str> = m.keys().filter_map(serde_yaml::Value::as_str).collect();
        return unsupported(format!(
            "the transformers model was saved with a model_config ({}) that pyfunc passes to the pipeline; \
             oxserve serves the pipeline's defaults only: log the model without it",
            keys.join(", ")
        ));
    }
    if legacy_config.is_file() {
        return unsupported(format!(
            "{} holds pipeline arguments pyfunc passes to every call; oxserve serves the pipeline's defaults only",
            legacy_config.display()
        ));
    }
    Ok(Flavor::Transformers {
        model_dir,
        tokenizer_dir: dir.join("components").join("tokenizer"),
        task,
    })
}
