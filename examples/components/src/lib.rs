//! Seldon components written on oxserve's component SDK ([`oxserve_runtime::component`]), one binary per
//! service type (`src/bin/*.rs`, each a `main` of a few lines):
//!
//! | binary | type | component |
//! |---|---|---|
//! | `epsilon-greedy-router` | ROUTER | [`EpsilonGreedy`]: an A/B(/n) test that learns from `send-feedback` rewards |
//! | `average-combiner` | COMBINER | [`Average`]: the element-wise mean of the children's outputs |
//! | `iris-transformer` | TRANSFORMER | [`Rescale`]: iris measurements in millimetres → centimetres |
//! | `round-output-transformer` | OUTPUT_TRANSFORMER | [`Round`]: the model's output rounded |
//! | `doubler-model` | MODEL | [`Doubler`]: twice its input, reporting tags and custom metrics |
//!
//! The types are plain structs implementing the SDK's typed traits; the binaries wrap them in the SDK's adapters
//! (`AsRouter`, ...) and hand them to [`oxserve_runtime::component::run`]. Their parameters come from
//! `PREDICTIVE_UNIT_PARAMETERS` (the graph node's `parameters` in a `SeldonDeployment`).

use std::sync::Mutex;

use oxserve_core::{Tensor, TensorData};
use oxserve_runtime::ParamValue;
use oxserve_runtime::component::{
    self, Combiner, ComponentError, Metric, OutputTransformer, Predictor, Router, Tags,
    Transformer, Unit,
};
use oxserve_runtime::config::Parameters;

/// The element values of a numeric tensor as float64 (the request's JSON numbers), refusing strings.
fn numbers(tensor: &Tensor) -> Result<Vec<f64>, ComponentError> {
    tensor
        .to_f64_vec()
        .map_err(|e| ComponentError::bad_data(format!("expected numbers: {e}")))
}

/// A float64 tensor of `shape`.
fn tensor(shape: Vec<usize>, values: Vec<f64>) -> Result<Tensor, ComponentError> {
    Tensor::new(shape, TensorData::F64(values)).map_err(|e| ComponentError::internal(e.to_string()))
}

/// A number parameter (`INT`, `FLOAT`/`DOUBLE`, or a `STRING` that parses), else `default`.
fn number(parameters: &Parameters, name: &str, default: f64) -> anyhow::Result<f64> {
    Ok(match parameters.get(name) {
        None => default,
        Some(ParamValue::Int(i)) => *i as f64,
        Some(ParamValue::Float(f)) => *f,
        Some(ParamValue::Str(s)) => s
            .parse()
            .map_err(|_| anyhow::anyhow!("parameter {name} must be a number, got {s:?}"))?,
        Some(other) => anyhow::bail!("parameter {name} must be a number, got {other:?}"),
    })
}

/// An epsilon-greedy ROUTER over `n_branches` children (parameters `n_branches`, default 2; `epsilon`, default
/// 0.1; `seed`, default 1): with probability `epsilon` a random child, otherwise the child with the best mean
/// reward so far (the lowest index on ties, so a fresh router sends everything to child 0). Each
/// `send-feedback` adds its reward to the child this node routed the request to (`meta.routing[<node>]` of the
/// feedback's response, which Seldon's executor fills in).
#[derive(Debug)]
pub struct EpsilonGreedy {
    epsilon: f64,
    arms: Mutex<Arms>,
}

#[derive(Debug)]
struct Arms {
    tries: Vec<f64>,
    rewards: Vec<f64>,
    rng: u64,
}

impl Arms {
    /// splitmix64: a small deterministic generator (the exploration needs no cryptographic randomness).
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn best(&self) -> usize {
        let mean = |i: usize| {
            if self.tries[i] > 0.0 {
                self.rewards[i] / self.tries[i]
            } else {
                0.0
            }
        };
        (0..self.tries.len()).fold(0, |best, i| if mean(i) > mean(best) { i } else { best })
    }
}

impl EpsilonGreedy {
    /// A router over `n_branches` children exploring with probability `epsilon`.
    pub fn new(n_branches: usize, epsilon: f64, seed: u64) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (1..=1024).contains(&n_branches),
            "n_branches must be 1 to 1024, got {n_branches}"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&epsilon),
            "epsilon must be within [0, 1], got {epsilon}"
        );
        Ok(EpsilonGreedy {
            epsilon,
            arms: Mutex::new(Arms {
                tries: vec![0.0; n_branches],
                rewards: vec![0.0; n_branches],
                rng: seed,
            }),
        })
    }

    /// From the node's parameters `n_branches`, `epsilon` and `seed`.
    pub fn from_parameters(parameters: &Parameters) -> anyhow::Result<Self> {
        let n = number(parameters, "n_branches", 2.0)?;
        anyhow::ensure!(
            n.fract() == 0.0 && n >= 1.0,
            "n_branches must be a positive integer, got {n}"
        );
        let seed = number(parameters, "seed", 1.0)?;
        Self::new(
            n as usize,
            number(parameters, "epsilon", 0.1)?,
            seed.abs() as u64,
        )
    }

    fn arms(&self) -> Result<std::sync::MutexGuard<'_, Arms>, ComponentError> {
        self.arms
            .lock()
            .map_err(|_| ComponentError::internal("the router's state is poisoned"))
    }
}

impl Unit for EpsilonGreedy {
    fn tags(&self) -> Tags {
        Tags::from([("router".to_string(), "epsilon-greedy".into())])
    }
}

impl Router for EpsilonGreedy {
    fn route(&self, _features: &Tensor, _names: &[String]) -> Result<i32, ComponentError> {
        let mut arms = self.arms()?;
        let n = arms.tries.len();
        let choice = if arms.uniform() < self.epsilon {
            (arms.next() % n as u64) as usize
        } else {
            arms.best()
        };
        i32::try_from(choice).map_err(|e| ComponentError::internal(e.to_string()))
    }

    fn send_feedback(
        &self,
        _features: &Tensor,
        _names: &[String],
        reward: f64,
        _truth: Option<&Tensor>,
        routing: Option<i32>,
    ) -> Result<(), ComponentError> {
        let Some(routing) = routing else {
            return Ok(());
        };
        let mut arms = self.arms()?;
        let n = arms.tries.len();
        let arm = usize::try_from(routing)
            .ok()
            .filter(|&a| a < n)
            .ok_or_else(|| {
                ComponentError::bad_data(format!(
                    "feedback routing {routing} is not one of this router's {n} children"
                ))
            })?;
        if !reward.is_finite() {
            return Err(ComponentError::bad_data(format!(
                "reward must be a finite number, got {reward}"
            )));
        }
        arms.tries[arm] += 1.0;
        arms.rewards[arm] += reward;
        Ok(())
    }
}

/// A COMBINER answering the element-wise mean of its children's outputs (all of one shape).
#[derive(Debug, Default)]
pub struct Average;

impl Unit for Average {}

impl Combiner for Average {
    fn aggregate(
        &self,
        inputs: Vec<Tensor>,
        _names: &[Vec<String>],
    ) -> Result<Tensor, ComponentError> {
        let first = inputs
            .first()
            .ok_or_else(|| ComponentError::bad_data("aggregate needs at least one message"))?;
        let shape = first.shape().to_vec();
        let mut sum = vec![0.0; first.len()];
        for (i, input) in inputs.iter().enumerate() {
            if input.shape() != shape.as_slice() {
                return Err(ComponentError::bad_data(format!(
                    "message {i} has shape {:?}, message 0 has {shape:?}: the average needs one shape",
                    input.shape()
                )));
            }
            for (s, v) in sum.iter_mut().zip(numbers(input)?) {
                *s += v;
            }
        }
        let n = inputs.len() as f64;
        tensor(shape, sum.into_iter().map(|s| s / n).collect())
    }
}

/// A TRANSFORMER dividing every feature by `divisor` (parameter, default 10): iris measurements sent in
/// millimetres reach the seed's iris model in the centimetres it was trained on.
#[derive(Debug)]
pub struct Rescale {
    divisor: f64,
}

impl Rescale {
    /// From the node's parameter `divisor`.
    pub fn from_parameters(parameters: &Parameters) -> anyhow::Result<Self> {
        let divisor = number(parameters, "divisor", 10.0)?;
        anyhow::ensure!(
            divisor.is_finite() && divisor != 0.0,
            "divisor must be a non-zero number, got {divisor}"
        );
        Ok(Rescale { divisor })
    }
}

impl Unit for Rescale {}

impl Transformer for Rescale {
    fn transform_input(
        &self,
        features: Tensor,
        _names: &[String],
    ) -> Result<Tensor, ComponentError> {
        let values = numbers(&features)?;
        tensor(
            features.shape().to_vec(),
            values.into_iter().map(|v| v / self.divisor).collect(),
        )
    }
}

/// An OUTPUT_TRANSFORMER rounding the model's output to `decimals` places (parameter, default 1).
#[derive(Debug)]
pub struct Round {
    scale: f64,
}

impl Round {
    /// From the node's parameter `decimals` (0 to 15).
    pub fn from_parameters(parameters: &Parameters) -> anyhow::Result<Self> {
        let decimals = number(parameters, "decimals", 1.0)?;
        anyhow::ensure!(
            decimals.fract() == 0.0 && (0.0..=15.0).contains(&decimals),
            "decimals must be an integer from 0 to 15, got {decimals}"
        );
        Ok(Round {
            scale: 10f64.powi(decimals as i32),
        })
    }
}

impl Unit for Round {}

impl OutputTransformer for Round {
    fn transform_output(
        &self,
        output: Tensor,
        _names: &[String],
    ) -> Result<Tensor, ComponentError> {
        let values = numbers(&output)?;
        tensor(
            output.shape().to_vec(),
            values
                .into_iter()
                .map(|v| (v * self.scale).round() / self.scale)
                .collect(),
        )
    }
}

/// A MODEL answering twice its input (integers stay integers), named `double_a`, `double_b` for two columns, and
/// reporting what a real model would: tags (`model`, `n`) and three custom metrics — the counter
/// `doubler_calls` (+1 per call), the gauge `doubler_rows` (the rows of the last request, tagged `kind=g`) and the
/// timer `doubler_timer` (the call's time in milliseconds).
#[derive(Debug, Default)]
pub struct Doubler {
    last_rows: Mutex<usize>,
    last_ms: Mutex<f64>,
}

impl Unit for Doubler {
    fn tags(&self) -> Tags {
        Tags::from([
            ("model".to_string(), "doubler".into()),
            ("n".to_string(), 1.into()),
        ])
    }

    fn metrics(&self) -> Vec<Metric> {
        let rows = self.last_rows.lock().map_or(0, |r| *r);
        let ms = self.last_ms.lock().map_or(0.0, |m| *m);
        vec![
            component::counter("doubler_calls", 1.0),
            Metric {
                tags: [("kind".to_string(), "g".to_string())].into(),
                ..component::gauge("doubler_rows", rows as f64)
            },
            component::timer("doubler_timer", ms),
        ]
    }

    fn class_names(&self) -> Option<Vec<String>> {
        Some(vec!["double_a".into(), "double_b".into()])
    }
}

impl Predictor for Doubler {
    fn predict(&self, features: Tensor, _names: &[String]) -> Result<Tensor, ComponentError> {
        let started = std::time::Instant::now();
        let rows = features.shape().first().copied().unwrap_or(0);
        let (shape, data) = features.into_parts();
        let data = match data {
            TensorData::I64(v) => TensorData::I64(
                v.into_iter()
                    .map(|x| {
                        x.checked_mul(2).ok_or_else(|| {
                            ComponentError::bad_data(format!("{x} doubled overflows int64"))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            TensorData::Bytes(_) => return Err(ComponentError::bad_data("expected numbers")),
            other => {
                let t = Tensor::new(shape.clone(), other)
                    .map_err(|e| ComponentError::internal(e.to_string()))?;
                TensorData::F64(numbers(&t)?.into_iter().map(|x| x * 2.0).collect())
            }
        };
        if let Ok(mut r) = self.last_rows.lock() {
            *r = rows;
        }
        if let Ok(mut m) = self.last_ms.lock() {
            *m = started.elapsed().as_secs_f64() * 1000.0;
        }
        Tensor::new(shape, data).map_err(|e| ComponentError::internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
