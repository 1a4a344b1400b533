//! The `transformers` flavour's text-classification pipeline on the candle engine.
//!
//! pyfunc's `predict` hands the pipeline one string per row and answers `pd.DataFrame(pipeline(texts))`: for the
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
        let options = LoadOptions {
            task: Some(Task::Classification),
            normalize: None,
        };
        let model = CandleModel::load_with_tokenizer(model_dir, tokenizer_dir, options)
            .map_err(|e| anyhow::anyhow!("the transformers flavour's model: {e}"))?;
        let metadata = ModelMetadata {
            platform: "transformers_candle".into(),
            inputs: vec![TensorSpec::new(TEXT_INPUT, DataType::Bytes, vec![-1])],
            outputs: vec![
                TensorSpec::new(OUTPUT_LABEL, DataType::Bytes, vec![-1]),
                TensorSpec::new(SCORE, DataType::F64, vec![-1]),
            ],
        };
        Ok(TextClassifier { model, metadata })
    }
}

impl Model for TextClassifier {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// The one string column (whatever its name) through the pipeline: `label` and `score` per row.
    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let [input] = <[NamedTensor; 1]>::try_from(request.inputs).map_err(|inputs| {
            ModelError::BadInput(format!(
                "a text-classification pipeline takes one string column, got {}",
                inputs.len()
            ))
        })?;
        if !matches!(input.tensor.data(), TensorData::Bytes(_)) {
            return Err(ModelError::BadInput(format!(
                "a text-classification pipeline takes strings; column `{}` holds {}",
                input.name,
                input.tensor.dtype()
            )));
        }
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
