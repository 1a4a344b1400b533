//! `tensorflow_model_server`'s command line, as Seldon's `tensorflow` protocol and KServe's TF Serving runtime
//! start the server (`--port=9500 --rest_api_port=9000 --model_name=x --model_base_path=/mnt/models`).

use oxserve_runtime::{Config, ServerArgs};

/// Where TF Serving serves Prometheus metrics on its REST port; oxserve does the same when started with TF
/// Serving's port flags and no metrics port.
pub const METRICS_PATH: &str = "/monitoring/prometheus/metrics";

/// The flags of `tensorflow_model_server` a drop-in must accept. Given ones win over the env: they are the
/// container's own arguments. Flags that tune TF Serving internals are accepted and ignored. Hidden from
/// `--help`, whose flags are oxserve's own.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TfServingArgs {
    /// TF Serving `--port`: the gRPC port.
    #[arg(long = "port", hide = true)]
    pub port: Option<u16>,
    /// TF Serving `--rest_api_port`: the REST port (0, TF Serving's "REST off", is treated as not given).
    #[arg(long = "rest_api_port", hide = true)]
    pub rest_api_port: Option<u16>,
    /// TF Serving `--model_base_path`: the model folder (version folders inside).
    #[arg(long = "model_base_path", hide = true)]
    pub model_base_path: Option<String>,
    /// Ignored (`--rest_api_timeout_in_ms`).
    #[arg(
        long = "rest_api_timeout_in_ms",
        hide = true,
        value_name = "MS",
        num_args = 1
    )]
    pub rest_api_timeout_in_ms: Option<u64>,
    /// Ignored (`--rest_api_num_threads`).
    #[arg(long = "rest_api_num_threads", hide = true)]
    pub rest_api_num_threads: Option<u64>,
    /// Ignored (`--enable_batching`).
    #[arg(long = "enable_batching", hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub enable_batching: Option<bool>,
    /// Ignored (`--file_system_poll_wait_seconds`).
    #[arg(long = "file_system_poll_wait_seconds", hide = true)]
    pub file_system_poll_wait_seconds: Option<i64>,
    /// Ignored (`--rest_api_enable_cors_support`; oxserve always sends `Access-Control-Allow-Origin: *`).
    #[arg(long = "rest_api_enable_cors_support", hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub rest_api_enable_cors_support: Option<bool>,
    /// Ignored (`--tensorflow_intra_op_parallelism`).
    #[arg(long = "tensorflow_intra_op_parallelism", hide = true)]
    pub tensorflow_intra_op_parallelism: Option<i64>,
    /// Ignored (`--tensorflow_inter_op_parallelism`).
    #[arg(long = "tensorflow_inter_op_parallelism", hide = true)]
    pub tensorflow_inter_op_parallelism: Option<i64>,
}

impl ServerArgs for TfServingArgs {
    /// `--rest_api_port` (unless 0) and `--port` set the REST and gRPC ports over the env; `--model_base_path`
    /// fills in for an absent `--model-uri` (`--model_name`, which KServe's model servers share, is the runtime's
    /// own: [`Config::kserve_model_name`]). Given either port flag and no
    /// metrics port anywhere, metrics go on the REST port at [`METRICS_PATH`] (Seldon's TF Serving sidecar).
    fn apply(&self, config: &mut Config) {
        let port_flags = self.port.is_some() || self.rest_api_port.is_some();
        if port_flags && !config.has_metrics_port() {
            config.metrics_on_rest_path = Some(METRICS_PATH.to_string());
        }
        if let Some(port) = self.rest_api_port.filter(|p| *p != 0) {
            config.http_port = Some(port);
        }
        if let Some(port) = self.port {
            config.grpc_port = Some(port);
        }
        if config.model_uri.is_none() {
            config.model_uri = self.model_base_path.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use oxserve_runtime::{Parameters, Server, parse_config};

    use super::*;

    const SERVER: Server = Server {
        name: "tf",
        about: "test",
        parameters: &[],
    };

    fn parse(args: &[&str]) -> Config {
        let argv = std::iter::once("x").chain(args.iter().copied());
        parse_config::<TfServingArgs>(&SERVER, argv).unwrap().0
    }

    #[test]
    fn tf_serving_command_line_as_the_operators_start_it() {
        // Seldon's `tensorflow` protocol and KServe's TF Serving runtime.
        let c = parse(&[
            "--port=9500",
            "--rest_api_port=9000",
            "--model_name=mnist",
            "--model_base_path=/mnt/models",
            "--rest_api_timeout_in_ms=60000",
            "--enable_batching",
        ]);
        assert_eq!(c.effective_grpc_port(), 9500);
        assert_eq!(c.effective_http_port(), 9000);
        assert_eq!(c.effective_model_name(), "mnist");
        assert_eq!(
            c.effective_model_uri(&Parameters::default()).as_deref(),
            Some("/mnt/models")
        );
        assert_eq!(c.metrics_on_rest_path.as_deref(), Some(METRICS_PATH));
        let c = parse(&[
            "--port",
            "8500",
            "--rest_api_port",
            "0",
            "--http-port",
            "8501",
        ]);
        assert_eq!(c.effective_grpc_port(), 8500);
        assert_eq!(c.effective_http_port(), 8501);
    }

    #[test]
    fn oxserve_flags_win_and_a_metrics_port_keeps_its_own_listener() {
        let c = parse(&[
            "--model_name=tf",
            "--model-name=ox",
            "--model_base_path=/a",
            "--model-uri=/b",
            "--port=1",
            "--metrics-port=7000",
        ]);
        assert_eq!(c.effective_model_name(), "ox");
        assert_eq!(c.model_uri.as_deref(), Some("/b"));
        assert_eq!(c.metrics_on_rest_path, None);
        assert_eq!(c.effective_metrics_port(), 7000);
        let c = parse(&[]);
        assert_eq!(c.metrics_on_rest_path, None);
        assert_eq!(
            (c.effective_http_port(), c.effective_grpc_port()),
            (9000, 9500)
        );
    }
}
