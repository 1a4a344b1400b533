//! A plain multi-layer perceptron for tabular data, described by `mlp.json`.
//!
//! ```json
//! {"architecture": "mlp", "layers": [4, 16, 3], "activation": "relu", "output": "softmax"}
//! ```
//!
//! - `layers`: the widths, input first: `[in, h1, ..., out]` makes `len - 1` linear layers.
//! - `activation` (between layers): `relu` (default), `tanh`, `gelu` (erf), `sigmoid`.
//! - `output` (after the last layer): `identity` (default), `softmax`, `sigmoid`.
//!
//! Weights (`model.safetensors`, or a state dict saved with `torch.save`): linear layer `i` (from 0) is
//! `layers.{i}.weight` (`[out, in]`, PyTorch's layout) and `layers.{i}.bias`. A state dict of an
//! `nn.Sequential` (`0.weight`, `2.weight`, ... with activations between) is read too: its linear layers are
//! taken in the order of their numeric index, whatever the prefix before it (`net.0.weight`).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Module, Tensor};
use candle_nn::Linear;
use serde::Deserialize;

use crate::CandleError;
use crate::text::read_json;
use crate::weights;

/// The config file name.
pub const MLP_CONFIG: &str = "mlp.json";

/// The activation between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x).
    #[default]
    Relu,
    /// tanh.
    Tanh,
    /// GELU (the exact, erf form: PyTorch's `nn.GELU()` default).
    Gelu,
    /// The logistic function.
    Sigmoid,
}

/// What follows the last layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OutputFn {
    /// Raw outputs.
    #[default]
    Identity,
    /// Softmax over each row.
    Softmax,
    /// The logistic function, element-wise.
    Sigmoid,
}

/// `mlp.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Must be `mlp`.
    pub architecture: String,
    /// The widths, `[in, h1, ..., out]`.
    pub layers: Vec<usize>,
    /// The activation between layers.
    #[serde(default)]
    pub activation: Activation,
    /// The function after the last layer.
    #[serde(default)]
    pub output: OutputFn,
}

/// A loaded MLP.
pub(crate) struct Mlp {
    pub(crate) config: MlpConfig,
    layers: Vec<Linear>,
    device: Device,
}

/// The state-dict key prefixes of the linear layers, in order.
fn layer_prefixes(tensors: &HashMap<String, Tensor>, count: usize) -> Option<Vec<String>> {
    let named: Vec<String> = (0..count).map(|i| format!("layers.{i}")).collect();
    if named
        .iter()
        .all(|p| tensors.contains_key(&format!("{p}.weight")))
    {
        return Some(named);
    }
    // nn.Sequential: `<prefix><index>.weight` with a 2-D weight.
    let mut found: Vec<(usize, String)> = tensors
        .iter()
        .filter(|(_, t)| t.rank() == 2)
        .filter_map(|(k, _)| {
            let base = k.strip_suffix(".weight")?;
            let index = base.rsplit('.').next()?.parse::<usize>().ok()?;
            Some((index, base.to_string()))
        })
        .collect();
    found.sort();
    (found.len() == count).then(|| found.into_iter().map(|(_, p)| p).collect())
}

impl Mlp {
    pub(crate) fn load(dir: &Path, device: &Device) -> Result<Self, CandleError> {
        let config_path = dir.join(MLP_CONFIG);
        let config: MlpConfig = read_json(&config_path)?;
        if config.architecture != "mlp" {
            return Err(CandleError::Unsupported(format!(
                "{}: architecture `{}` is not supported; the only one is `mlp`",
                config_path.display(),
                config.architecture
            )));
        }
        if config.layers.len() < 2 || config.layers.contains(&0) {
            return Err(CandleError::Config {
                path: config_path,
                message: format!(
                    "`layers` must list at least two positive widths [in, ..., out], got {:?}",
                    config.layers
                ),
            });
        }
        let weights_path = weights::find_weights(dir)?;
        let tensors = weights::read_state_dict(&weights_path, device)?;
        let count = config.layers.len() - 1;
        let prefixes = layer_prefixes(&tensors, count).ok_or_else(|| CandleError::Config {
            path: weights_path.clone(),
            message: format!(
                "expected {count} linear layers named layers.0 … layers.{} (or an nn.Sequential's numbered layers); found keys: {}",
                count - 1,
                sorted_keys(&tensors)
            ),
        })?;
        let mut layers = Vec::with_capacity(count);
        for (i, prefix) in prefixes.iter().enumerate() {
            let (fan_in, fan_out) = (config.layers[i], config.layers[i + 1]);
            let weight = tensors
                .get(&format!("{prefix}.weight"))
                .cloned()
                .ok_or_else(|| CandleError::Config {
                    path: weights_path.clone(),
                    message: format!("missing {prefix}.weight"),
                })?;
            if weight.dims() != [fan_out, fan_in] {
                return Err(CandleError::Config {
                    path: weights_path.clone(),
                    message: format!(
                        "{prefix}.weight has shape {:?}, but mlp.json says [{fan_out}, {fan_in}]",
                        weight.dims()
                    ),
                });
            }
            let bias = tensors.get(&format!("{prefix}.bias")).cloned();
            if let Some(b) = &bias
                && b.dims() != [fan_out]
            {
                return Err(CandleError::Config {
                    path: weights_path.clone(),
                    message: format!(
                        "{prefix}.bias has shape {:?}, expected [{fan_out}]",
                        b.dims()
                    ),
                });
            }
            layers.push(Linear::new(weight, bias));
        }
        Ok(Mlp {
            config,
            layers,
            device: device.clone(),
        })
    }

    /// The input width.
    pub(crate) fn inputs(&self) -> usize {
        self.config.layers[0]
    }

    /// The output width.
    pub(crate) fn outputs(&self) -> usize {
        self.config.layers[self.config.layers.len() - 1]
    }

    /// Runs `rows` × `inputs()` values, returning `rows` × `outputs()`.
    pub(crate) fn forward(&self, rows: usize, x: Vec<f32>) -> Result<Vec<f32>, CandleError> {
        let mut h = Tensor::from_vec(x, (rows, self.inputs()), &self.device)?;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if i < last {
                h = match self.config.activation {
                    Activation::Relu => h.relu()?,
                    Activation::Tanh => h.tanh()?,
                    Activation::Gelu => h.gelu_erf()?,
                    Activation::Sigmoid => candle_nn::ops::sigmoid(&h)?,
                };
            }
        }
        h = match self.config.output {
            OutputFn::Identity => h,
            OutputFn::Softmax => candle_nn::ops::softmax_last_dim(&h)?,
            OutputFn::Sigmoid => candle_nn::ops::sigmoid(&h)?,
        };
        Ok(h.flatten_all()?.to_vec1()?)
    }
}

fn sorted_keys(tensors: &HashMap<String, Tensor>) -> String {
    let mut keys: Vec<&str> = tensors.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys.truncate(20);
    keys.join(", ")
}
