//! [`BatchConfig`]: the maximum batch size and wait, from the node's parameters or MLServer's env.

use std::time::Duration;

/// The node parameter (`PREDICTIVE_UNIT_PARAMETERS`) that caps a batch, in rows.
pub const PARAM_MAX_BATCH_SIZE: &str = "max_batch_size";
/// The node parameter that caps the wait for a batch to fill, in seconds (fractions allowed).
pub const PARAM_MAX_BATCH_TIME: &str = "max_batch_time";
/// MLServer's env for the maximum batch size (`model-settings.json` field `max_batch_size`).
pub const ENV_MAX_BATCH_SIZE: &str = "MLSERVER_MODEL_MAX_BATCH_SIZE";
/// MLServer's env for the maximum batch wait in seconds (`model-settings.json` field `max_batch_time`).
pub const ENV_MAX_BATCH_TIME: &str = "MLSERVER_MODEL_MAX_BATCH_TIME";

/// How requests are batched. Batching is on only when `max_batch_size > 1` and `max_batch_time > 0`, as in
/// MLServer (whose defaults, 0 and 0, leave it off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchConfig {
    /// The most rows one call to the model may carry. A batch closes as soon as it holds this many rows.
    pub max_batch_size: usize,
    /// The longest a request waits for others to join it, counted from the moment the batch's first request
    /// was queued. A lone request waits this long before it runs (as in MLServer).
    pub max_batch_time: Duration,
}

/// A batching setting that is not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchConfigError {
    /// `max_batch_size` is not an integer.
    #[error("{setting} must be an integer number of rows, got `{value}`")]
    BadSize {
        /// Where the value came from (the parameter or the env var).
        setting: String,
        /// The value as given.
        value: String,
    },
    /// `max_batch_time` is not a finite number of seconds.
    #[error("{setting} must be a number of seconds (e.g. 0.05), got `{value}`")]
    BadTime {
        /// Where the value came from (the parameter or the env var).
        setting: String,
        /// The value as given.
        value: String,
    },
}

impl BatchConfig {
    /// A configuration with the given limits.
    pub fn new(max_batch_size: usize, max_batch_time: Duration) -> Self {
        BatchConfig {
            max_batch_size,
            max_batch_time,
        }
    }

    /// Whether requests are batched at all: `max_batch_size > 1` and `max_batch_time > 0`.
    pub fn is_enabled(&self) -> bool {
        self.max_batch_size > 1 && !self.max_batch_time.is_zero()
    }

    /// Reads the limits from the node's parameters (the server passes the values of `max_batch_size` and
    /// `max_batch_time` as it got them), falling back, for each one, to MLServer's env
    /// ([`ENV_MAX_BATCH_SIZE`], [`ENV_MAX_BATCH_TIME`]). A parameter wins over the env.
    pub fn from_parameters_and_env(
        max_batch_size: Option<&str>,
        max_batch_time: Option<&str>,
    ) -> Result<Self, BatchConfigError> {
        let env_size = std::env::var(ENV_MAX_BATCH_SIZE).ok();
        let env_time = std::env::var(ENV_MAX_BATCH_TIME).ok();
        Self::from_values(
            max_batch_size,
            max_batch_time,
            env_size.as_deref(),
            env_time.as_deref(),
        )
    }

    /// [`BatchConfig::from_parameters_and_env`] with the env values given (for tests and callers that read env
    /// themselves). Absent values are 0 (off); negative ones are 0 too, as MLServer treats them.
    pub fn from_values(
        param_size: Option<&str>,
        param_time: Option<&str>,
        env_size: Option<&str>,
        env_time: Option<&str>,
    ) -> Result<Self, BatchConfigError> {
        let max_batch_size = match (param_size, env_size) {
            (Some(v), _) => parse_size(v, &format!("parameter `{PARAM_MAX_BATCH_SIZE}`"))?,
            (None, Some(v)) => parse_size(v, ENV_MAX_BATCH_SIZE)?,
            (None, None) => 0,
        };
        let max_batch_time = match (param_time, env_time) {
            (Some(v), _) => parse_time(v, &format!("parameter `{PARAM_MAX_BATCH_TIME}`"))?,
            (None, Some(v)) => parse_time(v, ENV_MAX_BATCH_TIME)?,
            (None, None) => Duration::ZERO,
        };
        Ok(BatchConfig {
            max_batch_size,
            max_batch_time,
        })
    }
}

fn parse_size(value: &str, source: &str) -> Result<usize, BatchConfigError> {
    let bad = || BatchConfigError::BadSize {
        setting: source.to_string(),
        value: value.to_string(),
    };
    let n: i64 = value.trim().parse().map_err(|_| bad())?;
    Ok(usize::try_from(n.max(0)).unwrap_or(usize::MAX))
}

fn parse_time(value: &str, source: &str) -> Result<Duration, BatchConfigError> {
    let bad = || BatchConfigError::BadTime {
        setting: source.to_string(),
        value: value.to_string(),
    };
    let secs: f64 = value.trim().parse().map_err(|_| bad())?;
    if secs.is_nan() {
        return Err(bad());
    }
    Duration::try_from_secs_f64(secs.max(0.0)).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_win_over_env_field_by_field() {
        let c = BatchConfig::from_values(Some("8"), None, Some("4"), Some("0.25")).unwrap();
        assert_eq!(c, BatchConfig::new(8, Duration::from_millis(250)));
        assert!(c.is_enabled());
        let c = BatchConfig::from_values(None, Some("0.5"), Some("4"), Some("0.25")).unwrap();
        assert_eq!(c, BatchConfig::new(4, Duration::from_millis(500)));
    }

    #[test]
    fn off_unless_size_above_one_and_time_above_zero() {
        assert!(
            !BatchConfig::from_values(None, None, None, None)
                .unwrap()
                .is_enabled()
        );
        assert!(
            !BatchConfig::from_values(Some("1"), Some("1"), None, None)
                .unwrap()
                .is_enabled()
        );
        assert!(
            !BatchConfig::from_values(Some("8"), None, None, None)
                .unwrap()
                .is_enabled()
        );
        assert!(
            !BatchConfig::from_values(Some("8"), Some("0"), None, None)
                .unwrap()
                .is_enabled()
        );
        let negative = BatchConfig::from_values(Some("-3"), Some("-1"), None, None).unwrap();
        assert_eq!(negative, BatchConfig::default());
    }

    #[test]
    fn non_numbers_name_their_source() {
        let err = BatchConfig::from_values(Some("lots"), None, None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter `max_batch_size` must be an integer number of rows, got `lots`"
        );
        let err = BatchConfig::from_values(None, None, None, Some("soon")).unwrap_err();
        assert!(err.to_string().starts_with(ENV_MAX_BATCH_TIME), "{err}");
        assert!(BatchConfig::from_values(None, Some("NaN"), None, None).is_err());
        assert!(BatchConfig::from_values(None, Some("1e300"), None, None).is_err());
    }
}
