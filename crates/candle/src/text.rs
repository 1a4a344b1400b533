//! BERT-family text encoders (BERT, RoBERTa, DistilBERT) with sentence-transformers pooling, or with a
//! sequence-classification head.

use std::path::Path;

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use candle_transformers::models::{bert, distilbert, xlm_roberta};
use serde::Deserialize;
use tokenizers::{PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::CandleError;
use crate::weights;

/// The most rows one forward pass carries; larger batches run in chunks of this size.
pub const MAX_ROWS_PER_FORWARD: usize = 64;

/// The encoder families this crate runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `bert` (candle-transformers' `bert`).
    Bert,
    /// `roberta` (and `xlm-roberta`, `camembert`): candle-transformers' `xlm_roberta`, whose position ids
    /// start after `pad_token_id` as RoBERTa's do.
    Roberta,
    /// `distilbert` (candle-transformers' `distilbert`).
    DistilBert,
}

impl Family {
    /// The weight-key prefix Hugging Face checkpoints with a head use (`bert.`, `roberta.`, `distilbert.`).
    fn prefix(self) -> &'static str {
        match self {
            Family::Bert => "bert",
            Family::Roberta => "roberta",
            Family::DistilBert => "distilbert",
        }
    }
}

/// The fields of `config.json` this crate reads itself (each family's own config is parsed by candle).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HfConfig {
    #[serde(default)]
    pub model_type: Option<String>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub id2label: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub problem_type: Option<String>,
    #[serde(default)]
    pub max_position_embeddings: Option<usize>,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

impl HfConfig {
    /// The family from `model_type`, else from the architecture names.
    pub(crate) fn family(&self) -> Result<Family, CandleError> {
        let arch = self.architectures.join(",");
        let kind = self
            .model_type
            .clone()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let pick = |s: &str| -> Option<Family> {
            let s = s.to_ascii_lowercase();
            if s.starts_with("distilbert") {
                Some(Family::DistilBert)
            } else if s.contains("roberta") || s.starts_with("camembert") {
                Some(Family::Roberta)
            } else if s.starts_with("bert") {
                Some(Family::Bert)
            } else {
                None
            }
        };
        pick(&kind)
            .or_else(|| self.architectures.iter().find_map(|a| pick(a)))
            .ok_or_else(|| {
                CandleError::Unsupported(format!(
                    "config.json model_type `{kind}` (architectures `{arch}`) is not supported; \
                     supported: bert, roberta, distilbert encoders, or an MLP (mlp.json)"
                ))
            })
    }

    /// Whether the architecture carries a sequence-classification head.
    pub(crate) fn is_classifier(&self) -> bool {
        self.architectures
            .iter()
            .any(|a| a.ends_with("ForSequenceClassification"))
    }
}

/// How token vectors become one sentence vector (sentence-transformers' `Pooling` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pooling {
    /// The first token's vector (`pooling_mode_cls_token`).
    pub cls: bool,
    /// The element-wise max over real tokens (`pooling_mode_max_tokens`).
    pub max: bool,
    /// The mean over real tokens (`pooling_mode_mean_tokens`; the default).
    pub mean: bool,
    /// The sum over real tokens divided by sqrt(count) (`pooling_mode_mean_sqrt_len_tokens`).
    pub mean_sqrt_len: bool,
}

#[derive(Debug, Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

#[derive(Debug, Deserialize)]
struct StModule {
    #[serde(default)]
    path: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct SentenceBertConfig {
    #[serde(default)]
    max_seq_length: Option<usize>,
}

/// The sentence-transformers pipeline of a folder: pooling, normalisation, maximum sequence length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentencePipeline {
    /// The pooling.
    pub pooling: Pooling,
    /// Whether a `Normalize` module follows (L2 normalisation).
    pub normalize: bool,
    /// `max_seq_length` from `sentence_bert_config.json`, if present.
    pub max_seq_length: Option<usize>,
}

/// Reads `modules.json`, the pooling module's `config.json` and `sentence_bert_config.json`. A folder
/// without `modules.json` gets mean pooling and no normalisation (Hugging Face's `feature-extraction`
/// convention as TEI applies it).
pub fn read_sentence_pipeline(dir: &Path) -> Result<SentencePipeline, CandleError> {
    let max_seq_length =
        match read_json_opt::<SentenceBertConfig>(&dir.join("sentence_bert_config.json"))? {
            Some(c) => c.max_seq_length,
            None => None,
        };
    let Some(modules) = read_json_opt::<Vec<StModule>>(&dir.join("modules.json"))? else {
        return Ok(SentencePipeline {
            pooling: Pooling {
                mean: true,
                ..Pooling::default()
            },
            normalize: false,
            max_seq_length,
        });
    };
    let mut pooling = None;
    let mut normalize = false;
    for module in &modules {
        let kind = module.kind.rsplit('.').next().unwrap_or_default();
        match kind {
            "Transformer" => {}
            "Pooling" => {
                let file = dir.join(&module.path).join("config.json");
                let c: PoolingConfig = read_json(&file)?;
                if c.pooling_mode_weightedmean_tokens || c.pooling_mode_lasttoken {
                    return Err(CandleError::Unsupported(format!(
                        "{}: weighted-mean and last-token pooling are not supported; supported: cls, max, mean, mean_sqrt_len",
                        file.display()
                    )));
                }
                pooling = Some(Pooling {
                    cls: c.pooling_mode_cls_token,
                    max: c.pooling_mode_max_tokens,
                    mean: c.pooling_mode_mean_tokens,
                    mean_sqrt_len: c.pooling_mode_mean_sqrt_len_tokens,
                });
            }
            "Normalize" => normalize = true,
            other => {
                return Err(CandleError::Unsupported(format!(
                    "sentence-transformers module `{}` ({other}) in modules.json is not supported; \
                     supported: Transformer, Pooling, Normalize",
                    module.kind
                )));
            }
        }
    }
    let pooling = pooling.unwrap_or(Pooling {
        mean: true,
        ..Pooling::default()
    });
    if !(pooling.cls || pooling.max || pooling.mean || pooling.mean_sqrt_len) {
        return Err(CandleError::Unsupported(
            "the Pooling module enables no pooling mode".into(),
        ));
    }
    Ok(SentencePipeline {
        pooling,
        normalize,
        max_seq_length,
    })
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CandleError> {
    let text = std::fs::read_to_string(path).map_err(|e| CandleError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| CandleError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

pub(crate) fn read_json_opt<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Option<T>, CandleError> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

/// The encoder body, per family.
enum Body {
    Bert(bert::BertModel),
    Roberta(xlm_roberta::XLMRobertaModel),
    DistilBert(distilbert::DistilBertModel),
}

/// A classification head (Hugging Face's `*ForSequenceClassification`).
enum Head {
    /// BERT: `pooler.dense` + tanh on the first token, then `classifier`.
    Bert { pooler: Linear, classifier: Linear },
    /// RoBERTa: `classifier.dense` + tanh on `<s>`, then `classifier.out_proj`.
    Roberta { dense: Linear, out_proj: Linear },
    /// DistilBERT: `pre_classifier` + ReLU on the first token, then `classifier`.
    DistilBert {
        pre_classifier: Linear,
        classifier: Linear,
    },
}

/// What the encoder computes for a batch.
pub(crate) enum TextOutput {
    /// Sentence vectors, `[N, dim]`.
    Embeddings(Vec<f32>, usize),
    /// Logits, `[N, labels]`.
    Logits(Vec<f32>, usize),
}

/// A tokenizer plus an encoder, with either a pooling pipeline or a classification head.
pub(crate) struct TextEncoder {
    tokenizer: Tokenizer,
    body: Body,
    head: Option<Head>,
    pipeline: SentencePipeline,
    normalize: bool,
    device: Device,
    hidden: usize,
}

fn linear(vb: &VarBuilder, name: &str) -> candle_core::Result<Linear> {
    let weight = vb.get_unchecked(&format!("{name}.weight"))?;
    let bias = vb.get_unchecked(&format!("{name}.bias")).ok();
    Ok(Linear::new(weight, bias))
}

impl TextEncoder {
    /// Loads an encoder from `dir` (its tokenizer from `tokenizer_dir`); `classify` picks the head, `normalize`
    /// overrides the pipeline's.
    pub(crate) fn load(
        dir: &Path,
        tokenizer_dir: &Path,
        config: &HfConfig,
        classify: bool,
        normalize: Option<bool>,
        device: &Device,
    ) -> Result<Self, CandleError> {
        let family = config.family()?;
        let config_path = dir.join("config.json");
        let config_text =
            std::fs::read_to_string(&config_path).map_err(|e| CandleError::io(&config_path, e))?;
        let bad_config = |e: serde_json::Error| CandleError::Config {
            path: config_path.clone(),
            message: e.to_string(),
        };
        let weights_path = weights::find_weights(dir)?;
        let tensors = weights::read_state_dict(&weights_path, device)?;
        let vb = weights::encoder_builder(&tensors, family.prefix(), device);
        let heads = VarBuilder::from_tensors(tensors, DType::F32, device);
        let werr = |e: candle_core::Error| CandleError::weights(&weights_path, e);
        let (body, hidden, max_positions) = match family {
            Family::Bert => {
                let c: bert::Config = serde_json::from_str(&config_text).map_err(bad_config)?;
                let hidden = c.hidden_size;
                let max = c.max_position_embeddings;
                (
                    Body::Bert(bert::BertModel::load(vb, &c).map_err(werr)?),
                    hidden,
                    max,
                )
            }
            Family::Roberta => {
                let c: xlm_roberta::Config =
                    serde_json::from_str(&with_roberta_defaults(&config_text).map_err(bad_config)?)
                        .map_err(bad_config)?;
                let hidden = c.hidden_size;
                // RoBERTa's positions start at pad_token_id + 1.
                let max = c
                    .max_position_embeddings
                    .saturating_sub(c.pad_token_id as usize + 1);
                (
                    Body::Roberta(xlm_roberta::XLMRobertaModel::new(&c, vb).map_err(werr)?),
                    hidden,
                    max,
                )
            }
            Family::DistilBert => {
                let c: distilbert::Config =
                    serde_json::from_str(&config_text).map_err(bad_config)?;
                let hidden = c.dim;
                let max = config.max_position_embeddings.unwrap_or(512);
                (
                    Body::DistilBert(distilbert::DistilBertModel::load(vb, &c).map_err(werr)?),
                    hidden,
                    max,
                )
            }
        };
        let head = if classify {
            let head = match family {
                Family::Bert => Head::Bert {
                    pooler: linear(&heads, &format!("{}.pooler.dense", family.prefix()))
                        .or_else(|_| linear(&heads, "pooler.dense"))
                        .map_err(werr)?,
                    classifier: linear(&heads, "classifier").map_err(werr)?,
                },
                Family::Roberta => Head::Roberta {
                    dense: linear(&heads, "classifier.dense").map_err(werr)?,
                    out_proj: linear(&heads, "classifier.out_proj").map_err(werr)?,
                },
                Family::DistilBert => Head::DistilBert {
                    pre_classifier: linear(&heads, "pre_classifier").map_err(werr)?,
                    classifier: linear(&heads, "classifier").map_err(werr)?,
                },
            };
            Some(head)
        } else {
            None
        };
        let pipeline = read_sentence_pipeline(dir)?;
        let normalize = normalize.unwrap_or(pipeline.normalize);
        let max_len = pipeline
            .max_seq_length
            .map_or(max_positions, |m| m.min(max_positions));
        let tokenizer = load_tokenizer(tokenizer_dir, max_len, config.pad_token_id)?;
        Ok(TextEncoder {
            tokenizer,
            body,
            head,
            pipeline,
            normalize,
            device: device.clone(),
            hidden,
        })
    }

    /// The sentence vector's length (embeddings) or the hidden size.
    pub(crate) fn hidden(&self) -> usize {
        self.hidden
    }

    /// The width of a sentence vector after pooling (modes concatenated).
    pub(crate) fn embedding_dim(&self) -> usize {
        let p = self.pipeline.pooling;
        self.hidden
            * [p.cls, p.max, p.mean, p.mean_sqrt_len]
                .iter()
                .filter(|&&b| b)
                .count()
    }

    /// Tokenises `texts` and runs the encoder and the head or pooling, [`MAX_ROWS_PER_FORWARD`] rows at a time
    /// (so that one huge request cannot allocate without bound), each chunk padded to its longest sequence.
    pub(crate) fn run(
        &self,
        texts: Vec<String>,
        normalize: Option<bool>,
    ) -> Result<TextOutput, CandleError> {
        if texts.len() <= MAX_ROWS_PER_FORWARD {
            return self.run_chunk(texts, normalize);
        }
        let mut all = Vec::new();
        let mut width = 0;
        let mut logits = false;
        let mut texts = texts.into_iter().peekable();
        while texts.peek().is_some() {
            let chunk: Vec<String> = texts.by_ref().take(MAX_ROWS_PER_FORWARD).collect();
            let (values, w, is_logits) = match self.run_chunk(chunk, normalize)? {
                TextOutput::Embeddings(v, w) => (v, w, false),
                TextOutput::Logits(v, w) => (v, w, true),
            };
            all.extend(values);
            width = w;
            logits = is_logits;
        }
        Ok(if logits {
            TextOutput::Logits(all, width)
        } else {
            TextOutput::Embeddings(all, width)
        })
    }

    fn run_chunk(
        &self,
        texts: Vec<String>,
        normalize: Option<bool>,
    ) -> Result<TextOutput, CandleError> {
        let n = texts.len();
        let encodings = self
            .tokenizer
            .encode_batch(texts, true)
            .map_err(|e| CandleError::Tokenizer(e.to_string()))?;
        let len = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0);
        let mut ids = Vec::with_capacity(n * len);
        let mut types = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &encodings {
            // BatchLongest padding makes every row `len` long; pad defensively should a tokenizer not.
            let pad = len - e.get_ids().len().min(len);
            ids.extend(e.get_ids().iter().take(len));
            ids.extend(std::iter::repeat_n(0u32, pad));
            types.extend(e.get_type_ids().iter().take(len));
            types.extend(std::iter::repeat_n(0u32, pad));
            mask.extend(e.get_attention_mask().iter().take(len));
            mask.extend(std::iter::repeat_n(0u32, pad));
        }
        let t = |v: Vec<u32>| Tensor::from_vec(v, (n, len), &self.device);
        let ids = t(ids)?;
        let types = t(types)?;
        let mask = t(mask)?;
        let hidden = match &self.body {
            Body::Bert(m) => m.forward(&ids, &types, Some(&mask))?,
            Body::Roberta(m) => m.forward(&ids, &mask, &types, None, None, None)?,
            Body::DistilBert(m) => {
                // candle's DistilBERT masks where the mask is 1: pass "is padding", shaped to broadcast over
                // [batch, heads, query, key].
                let padding = mask.eq(0u32)?.reshape((n, 1, 1, len))?;
                m.forward(&ids, &padding)?
            }
        };
        if let Some(head) = &self.head {
            let first = hidden.narrow(1, 0, 1)?.squeeze(1)?;
            let logits = match head {
                Head::Bert { pooler, classifier } => {
                    classifier.forward(&pooler.forward(&first)?.tanh()?)?
                }
                Head::Roberta { dense, out_proj } => {
                    out_proj.forward(&dense.forward(&first)?.tanh()?)?
                }
                Head::DistilBert {
                    pre_classifier,
                    classifier,
                } => classifier.forward(&pre_classifier.forward(&first)?.relu()?)?,
            };
            let labels = logits.dim(1)?;
            return Ok(TextOutput::Logits(logits.flatten_all()?.to_vec1()?, labels));
        }
        let pooled = self.pool(&hidden, &mask)?;
        let pooled = if normalize.unwrap_or(self.normalize) {
            let norm = pooled
                .sqr()?
                .sum_keepdim(1)?
                .sqrt()?
                .clamp(1e-12f32, f32::MAX)?;
            pooled.broadcast_div(&norm)?
        } else {
            pooled
        };
        let dim = pooled.dim(1)?;
        Ok(TextOutput::Embeddings(
            pooled.flatten_all()?.to_vec1()?,
            dim,
        ))
    }

    /// sentence-transformers' pooling over the real tokens only (the mask), modes concatenated in its order:
    /// cls, max, mean, mean_sqrt_len.
    fn pool(&self, hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let p = self.pipeline.pooling;
        let maskf = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // [n, len, 1]
        let mut parts = Vec::new();
        if p.cls {
            parts.push(hidden.narrow(1, 0, 1)?.squeeze(1)?);
        }
        if p.max {
            // Padded positions are set to -1e9 before the max, as sentence-transformers does.
            let fill = ((maskf.ones_like()? - &maskf)? * -1e9f64)?;
            let masked = hidden.broadcast_mul(&maskf)?.broadcast_add(&fill)?;
            parts.push(masked.max(1)?);
        }
        if p.mean || p.mean_sqrt_len {
            let sum = hidden.broadcast_mul(&maskf)?.sum(1)?; // [n, hidden]
            let count = maskf.sum(1)?.clamp(1e-9f32, f32::MAX)?; // [n, 1]
            if p.mean {
                parts.push(sum.broadcast_div(&count)?);
            }
            if p.mean_sqrt_len {
                parts.push(sum.broadcast_div(&count.sqrt()?)?);
            }
        }
        Tensor::cat(&parts, D::Minus1)
    }
}

/// RoBERTa configs often lack fields candle's `xlm_roberta::Config` requires: fill in Hugging Face's defaults.
fn with_roberta_defaults(text: &str) -> Result<String, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_str(text)?;
    if let Some(obj) = value.as_object_mut() {
        let defaults = [
            ("position_embedding_type", serde_json::json!("absolute")),
            ("attention_probs_dropout_prob", serde_json::json!(0.1)),
            ("hidden_dropout_prob", serde_json::json!(0.1)),
            ("type_vocab_size", serde_json::json!(1)),
            ("pad_token_id", serde_json::json!(1)),
            ("layer_norm_eps", serde_json::json!(1e-5)),
            ("hidden_act", serde_json::json!("gelu")),
        ];
        for (k, v) in defaults {
            obj.entry(k).or_insert(v);
        }
    }
    serde_json::to_string(&value)
}

/// Loads `tokenizer.json` and sets padding to the longest sequence of each batch (never the file's fixed
/// length) and truncation to `max_len`.
fn load_tokenizer(
    dir: &Path,
    max_len: usize,
    pad_id: Option<u32>,
) -> Result<Tokenizer, CandleError> {
    let path = dir.join("tokenizer.json");
    if !path.is_file() {
        return Err(CandleError::Unsupported(format!(
            "no tokenizer.json in {}; a text model needs the Hugging Face fast tokenizer file",
            dir.display()
        )));
    }
    let mut tokenizer = Tokenizer::from_file(&path)
        .map_err(|e| CandleError::Tokenizer(format!("{}: {e}", path.display())))?;
    let mut padding = tokenizer
        .get_padding()
        .cloned()
        .unwrap_or_else(|| PaddingParams {
            pad_id: pad_id.unwrap_or(0),
            ..PaddingParams::default()
        });
    padding.strategy = PaddingStrategy::BatchLongest;
    // The heads and CLS pooling read the first position: pad on the right.
    padding.direction = PaddingDirection::Right;
    padding.pad_to_multiple_of = None;
    tokenizer.with_padding(Some(padding));
    let mut truncation = tokenizer.get_truncation().cloned().unwrap_or_default();
    truncation.max_length = max_len;
    truncation.stride = 0;
    tokenizer
        .with_truncation(Some(TruncationParams { ..truncation }))
        .map_err(|e| CandleError::Tokenizer(e.to_string()))?;
    Ok(tokenizer)
}
