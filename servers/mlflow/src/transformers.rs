//! The `transformers` flavour's pipelines on the candle engine: text-classification ([`TextClassifier`]) and
//! feature-extraction ([`FeatureExtractor`]).
//!
//! For text-classification, pyfunc's `predict` hands the pipeline one string per row and answers `pd.DataFrame(pipeline(texts))`: for the
//! default `top_k` one row per text with the best class's `label` and its `score` (softmax over the logits, or
//! the sigmoid for a single-logit or `multi_label_classification` model, as the pipeline applies them; candle's
//! classifier computes the same scores).

use std::path::Path;

use oxserve_candle::{CandleModel, LoadOptions, OUTPUT_LABEL, OUTPUT_SCORES, TEXT_INPUT, Task};
use oxserve_core::{
    DataType, Model, ModelError, ModelMetadata, NamedTensor, PredictRequest, PredictResponse,
    Tensor, TensorData, TensorSpec,
};

/// The DataFrame column of the best class's score.
pub(crate) const SCORE: &str = "score";

/// A text classifier answering pyfunc's `label` / `score` columns.
pub(crate) struct TextClassifier {
    model: CandleModel,
    metadata: ModelMetadata,
}

impl TextClassifier {
    /// Loads the `model_binary` folder with the tokenizer of `components/tokenizer`.
    pub(crate) fn load(model_dir: &Path, tokenizer_dir: &Path) -> anyhow::Result<Self> {
        let outputs = vec![
            TensorSpec::new(OUTPUT_LABEL, DataType::Bytes, vec![-1]),
            TensorSpec::new(SCORE, DataType::F64, vec![-1]),
        ];
        let (model, metadata) =
            load_pipeline(model_dir, tokenizer_dir, Task::Classification, outputs)?;
        Ok(TextClassifier { model, metadata })
    }
}

impl Model for TextClassifier {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// The one string column (whatever its name) through the pipeline: `label` and `score` per row.
    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let input = string_column(request.inputs, "text-classification")?;
        let reply = self.model.predict(PredictRequest {
            inputs: vec![NamedTensor::new(TEXT_INPUT, input.tensor)],
            outputs: vec![OUTPUT_SCORES.into(), OUTPUT_LABEL.into()],
        })?;
        let mut scores = None;
        let mut labels = None;
        for o in reply.outputs {
            match o.name.as_str() {
                OUTPUT_SCORES => scores = Some(o.tensor),
                OUTPUT_LABEL => labels = Some(o.tensor),
                _ => {}
            }
        }
        let (Some(scores), Some(labels)) = (scores, labels) else {
            return Err(ModelError::Internal(
                "the classifier answered no scores or labels".into(),
            ));
        };
        let n_labels = scores.shape().get(1).copied().unwrap_or(1).max(1);
        let best: Vec<f64> = scores
            .to_f64_vec()?
            .chunks(n_labels)
            .map(|row| row.iter().copied().fold(f64::NEG_INFINITY, f64::max))
            .collect();
        let rows = best.len();
        let outputs = vec![
            NamedTensor::new(OUTPUT_LABEL, labels),
            NamedTensor::new(SCORE, Tensor::new(vec![rows], TensorData::F64(best))?),
        ];
        oxserve_mlflow::pick_outputs(outputs, &request.outputs, &self.metadata)
    }

    /// pyfunc's input is a DataFrame: the string column comes as a table's column.
    fn accepts_table(&self) -> bool {
        true
    }

    /// A forward pass is never tiny.
    fn runs_inline(&self) -> bool {
        false
    }
}

/// The engine output of [`FeatureExtractor`] (pyfunc answers it as one array).
pub(crate) const HIDDEN_STATES: &str = "hidden_states";

/// The `feature-extraction` pipeline as pyfunc answers it: the pipeline runs every text (one at a time,
/// unpadded, untruncated) and pyfunc keeps `np.array(output[0][0])`, the FIRST text's last hidden states,
/// float64 `[tokens, hidden]` (`[CLS]` and `[SEP]` included). Every row is checked as the pipeline would run it
/// (a text longer than the model's positions fails there, so it is refused here), and only the first is computed.
pub(crate) struct FeatureExtractor {
    model: CandleModel,
    metadata: ModelMetadata,
}

impl FeatureExtractor {
    /// Loads the `model_binary` folder (the encoder body; a head, if any, is not used) with the tokenizer of
    /// `components/tokenizer`.
    pub(crate) fn load(model_dir: &Path, tokenizer_dir: &Path) -> anyhow::Result<Self> {
        let outputs = vec![TensorSpec::new(HIDDEN_STATES, DataType::F64, vec![-1, -1])];
        let (model, metadata) = load_pipeline(model_dir, tokenizer_dir, Task::Embeddings, outputs)?;
        Ok(FeatureExtractor { model, metadata })
    }
}

impl Model for FeatureExtractor {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// The one string column (whatever its name): the first text's per-token hidden states.
    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let input = string_column(request.inputs, "feature-extraction")?;
        let TensorData::Bytes(items) = input.tensor.data() else {
            return Err(ModelError::Internal(
                "string_column answered no strings".into(),
            ));
        };
        let mut first = None;
        for (i, item) in items.iter().enumerate() {
            let text = std::str::from_utf8(item).map_err(|e| {
                ModelError::BadInput(format!(
                    "string {i} of column `{}` is not UTF-8: {e}",
                    input.name
                ))
            })?;
            let (tokens, cut) = self.model.token_count(text)?;
            if cut {
                let max = self.model.max_tokens().unwrap_or(tokens);
                return Err(ModelError::BadInput(format!(
                    "text {i} of column `{}` makes more than {max} tokens, the most this model reads: the \
                     feature-extraction pipeline does not truncate, and fails on it",
                    input.name
                )));
            }
            first.get_or_insert(text);
        }
        // pyfunc indexes the pipeline's output (`output[0]`): an empty batch fails there.
        let Some(first) = first else {
            return Err(ModelError::BadInput(
                "the batch holds no text (the feature-extraction pipeline's pyfunc answers the first text's \
                 hidden states)"
                    .into(),
            ));
        };
        let states = self.model.token_states(first)?;
        let values: Vec<f64> = states.values.iter().map(|&v| f64::from(v)).collect();
        let out = Tensor::new(vec![states.tokens, states.hidden], TensorData::F64(values))?;
        oxserve_mlflow::pick_outputs(
            vec![NamedTensor::new(HIDDEN_STATES, out)],
            &request.outputs,
            &self.metadata,
        )
    }

    /// pyfunc's input is a DataFrame: the string column comes as a table's column.
    fn accepts_table(&self) -> bool {
        true
    }

    /// A forward pass is never tiny.
    fn runs_inline(&self) -> bool {
        false
    }
}

/// Loads the `model_binary` folder for `task` with the tokenizer of `components/tokenizer`, and the metadata
/// of a pipeline taking one string column and answering `outputs`.
fn load_pipeline(
    model_dir: &Path,
    tokenizer_dir: &Path,
    task: Task,
    outputs: Vec<TensorSpec>,
) -> anyhow::Result<(CandleModel, ModelMetadata)> {
    let options = LoadOptions {
        task: Some(task),
        normalize: None,
    };
    let model = CandleModel::load_with_tokenizer(model_dir, tokenizer_dir, options)
        .map_err(|e| anyhow::anyhow!("the transformers flavour's model: {e}"))?;
    let metadata = ModelMetadata {
        platform: "transformers_candle".into(),
        inputs: vec![TensorSpec::new(TEXT_INPUT, DataType::Bytes, vec![-1])],
        outputs,
    };
    Ok((model, metadata))
}

/// The request's one string column (whatever its name), as pyfunc hands a pipeline its DataFrame.
fn string_column(inputs: Vec<NamedTensor>, pipeline: &str) -> Result<NamedTensor, ModelError> {
    let [input] = <[NamedTensor; 1]>::try_from(inputs).map_err(|inputs| {
        ModelError::BadInput(format!(
            "a {pipeline} pipeline takes one string column, got {}",
            inputs.len()
        ))
    })?;
    if !matches!(input.tensor.data(), TensorData::Bytes(_)) {
        return Err(ModelError::BadInput(format!(
            "a {pipeline} pipeline takes strings; column `{}` holds {}",
            input.name,
            input.tensor.dtype()
        )));
    }
    Ok(input)
}
