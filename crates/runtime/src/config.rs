//! Configuration: CLI flags, each with the env var the Seldon operator (or MLServer/KServe) sets.
//!
//! Every env var the runtime reads is named once, in [`env`] (listed in [`env::ALL`], which README's
//! configuration table is checked against).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Env var names the runtime reads, defined once. A server crate that reads more names its own in an `env`
/// module (`oxserve_onnx::env`, `oxserve_batching`'s `ENV_*`); README's configuration table lists them all
/// (`tests/tests/config_table.rs` checks it both ways).
pub mod env {
    /// HTTP (REST) port the operator assigns.
    pub const HTTP_PORT: &str = "PREDICTIVE_UNIT_HTTP_SERVICE_PORT";
    /// gRPC port the operator assigns.
    pub const GRPC_PORT: &str = "PREDICTIVE_UNIT_GRPC_SERVICE_PORT";
    /// Metrics port.
    pub const METRICS_PORT: &str = "PREDICTIVE_UNIT_METRICS_SERVICE_PORT";
    /// Metrics path.
    pub const METRICS_ENDPOINT: &str = "PREDICTIVE_UNIT_METRICS_ENDPOINT";
    /// The graph node's parameters, a JSON list of `{name, value, type}`.
    pub const PARAMETERS: &str = "PREDICTIVE_UNIT_PARAMETERS";
    /// The graph node's name (the container name): the model name on V2.
    pub const UNIT_ID: &str = "PREDICTIVE_UNIT_ID";
    /// The container image, echoed in `meta.requestPath` and the default metadata.
    pub const UNIT_IMAGE: &str = "PREDICTIVE_UNIT_IMAGE";
    /// The predictor's name.
    pub const PREDICTOR_ID: &str = "PREDICTOR_ID";
    /// The SeldonDeployment's name.
    pub const DEPLOYMENT_ID: &str = "SELDON_DEPLOYMENT_ID";
    /// MLServer's model name (set by the operator on the V2 path and by KServe).
    pub const MLSERVER_MODEL_NAME: &str = "MLSERVER_MODEL_NAME";
    /// MLServer's model URI.
    pub const MLSERVER_MODEL_URI: &str = "MLSERVER_MODEL_URI";
    /// MLServer's HTTP port.
    pub const MLSERVER_HTTP_PORT: &str = "MLSERVER_HTTP_PORT";
    /// MLServer's gRPC port.
    pub const MLSERVER_GRPC_PORT: &str = "MLSERVER_GRPC_PORT";
    /// MLServer's metrics port.
    pub const MLSERVER_METRICS_PORT: &str = "MLSERVER_METRICS_PORT";
    /// MLServer's metrics path.
    pub const MLSERVER_METRICS_ENDPOINT: &str = "MLSERVER_METRICS_ENDPOINT";
    /// Model metadata (YAML or JSON) merged over `metadata.yaml`, as Seldon's wrapper does.
    pub const MODEL_METADATA: &str = "MODEL_METADATA";
    /// Where to fetch the model from when not given as a parameter.
    pub const MODEL_URI: &str = "OXSERVE_MODEL_URI";
    /// The model memory budget in bytes (`--max-model-memory`).
    pub const MAX_MODEL_MEMORY: &str = "OXSERVE_MAX_MODEL_MEMORY";
    /// The most work one request may ask of a model that gives a per-row cost hint.
    pub const MAX_REQUEST_COST: &str = "OXSERVE_MAX_REQUEST_COST";
    /// Blocking threads for model work (0 = the CPUs available).
    pub const MODEL_THREADS: &str = "OXSERVE_MODEL_THREADS";
    /// Seconds a client has to send a request's headers (HTTP/1).
    pub const HEADER_READ_TIMEOUT: &str = "OXSERVE_HEADER_READ_TIMEOUT";
    /// Seconds a connection with no request in flight is kept open.
    pub const IDLE_TIMEOUT: &str = "OXSERVE_IDLE_TIMEOUT";
    /// Seconds in-flight requests get to finish after SIGTERM before the process exits anyway.
    pub const DRAIN_TIMEOUT: &str = "OXSERVE_DRAIN_TIMEOUT";
    /// Where a remote model URI is downloaded.
    pub const MODEL_DOWNLOAD_DIR: &str = "OXSERVE_MODEL_DOWNLOAD_DIR";
    /// MLServer's models folder: every `model-settings.json` below it is a model of the V2 repository.
    pub const MLSERVER_MODELS_DIR: &str = "MLSERVER_MODELS_DIR";
    /// Whether the models folder's models are loaded at start-up (MLServer's default: true).
    pub const MLSERVER_LOAD_MODELS_AT_STARTUP: &str = "MLSERVER_LOAD_MODELS_AT_STARTUP";
    /// The model's name on V2 routes and in metrics (over `PREDICTIVE_UNIT_ID`).
    pub const MODEL_NAME: &str = "OXSERVE_MODEL_NAME";
    /// The model's version on V2 routes.
    pub const MODEL_VERSION: &str = "OXSERVE_MODEL_VERSION";
    /// The address to listen on.
    pub const HOST: &str = "OXSERVE_HOST";
    /// The largest request body accepted, in bytes.
    pub const MAX_BODY_BYTES: &str = "OXSERVE_MAX_BODY_BYTES";
    /// The most requests served at once.
    pub const MAX_CONCURRENCY: &str = "OXSERVE_MAX_CONCURRENCY";
    /// Log as JSON lines.
    pub const LOG_JSON: &str = "OXSERVE_LOG_JSON";
    /// Which logs to write (`tracing_subscriber::EnvFilter` directives; default `info`).
    pub const LOG_FILTER: &str = "RUST_LOG";
    /// Where to write the bound ports as JSON after binding.
    pub const PORTS_FILE: &str = "OXSERVE_PORTS_FILE";
    /// KServe's sklearnserver: `true` (any case) makes KServe V1's `:predict` answer `predict_proba` where the
    /// model has it. Read by sklearn-server's own flag (`--predict-proba`).
    pub const PREDICT_PROBA: &str = "PREDICT_PROBA";

    /// Every name above, for the README check and for tools that list a server's environment.
    pub const ALL: &[&str] = &[
        HTTP_PORT,
        GRPC_PORT,
        METRICS_PORT,
        METRICS_ENDPOINT,
        PARAMETERS,
        UNIT_ID,
        UNIT_IMAGE,
        PREDICTOR_ID,
        DEPLOYMENT_ID,
        MLSERVER_MODEL_NAME,
        MLSERVER_MODEL_URI,
        MLSERVER_HTTP_PORT,
        MLSERVER_GRPC_PORT,
        MLSERVER_METRICS_PORT,
        MLSERVER_METRICS_ENDPOINT,
        MODEL_METADATA,
        MODEL_URI,
        MAX_MODEL_MEMORY,
        MAX_REQUEST_COST,
        MODEL_THREADS,
        HEADER_READ_TIMEOUT,
        IDLE_TIMEOUT,
        DRAIN_TIMEOUT,
        MODEL_DOWNLOAD_DIR,
        MLSERVER_MODELS_DIR,
        MLSERVER_LOAD_MODELS_AT_STARTUP,
        MODEL_NAME,
        MODEL_VERSION,
        HOST,
        MAX_BODY_BYTES,
        MAX_CONCURRENCY,
        LOG_JSON,
        LOG_FILTER,
        PORTS_FILE,
        PREDICT_PROBA,
    ];
}

/// Server configuration. Every flag has an env var; the operator's env is enough to start a server.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Config {
    /// Where the model is: a local folder (the operator's `/mnt/models`) or a remote URI. Defaults to the
    /// `model_uri` parameter, then `MLSERVER_MODEL_URI`.
    #[arg(long, env = env::MODEL_URI)]
    pub model_uri: Option<String>,

    /// Where a remote `model_uri` is downloaded before loading (default: a fresh folder under the temp dir).
    #[arg(long, env = env::MODEL_DOWNLOAD_DIR)]
    pub model_download_dir: Option<PathBuf>,

    /// A models folder laid out as MLServer's (`model-settings.json` files, searched recursively): its models
    /// join the V2 model repository (`/v2/repository/…`, gRPC `RepositoryIndex` / `…Load` / `…Unload`), loaded
    /// by the formats this server knows.
    #[arg(long, env = env::MLSERVER_MODELS_DIR)]
    pub models_dir: Option<PathBuf>,

    /// Whether the models folder's models load at start-up (MLServer's default); Seldon Core 2 sets false and
    /// loads them through the repository API.
    #[arg(long, env = env::MLSERVER_LOAD_MODELS_AT_STARTUP, default_value_t = true, action = clap::ArgAction::Set)]
    pub load_models_at_startup: bool,

    /// The model's name on V2 routes and in metrics. Defaults to `PREDICTIVE_UNIT_ID`, then `MLSERVER_MODEL_NAME`,
    /// then `model`.
    #[arg(long, env = env::MODEL_NAME)]
    pub model_name: Option<String>,

    /// The model's version on V2 routes (none by default).
    #[arg(long, env = env::MODEL_VERSION)]
    pub model_version: Option<String>,

    /// Address to listen on.
    #[arg(long, env = env::HOST, default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// REST port (Seldon v1 and V2). Default 9000, or `MLSERVER_HTTP_PORT` (KServe).
    #[arg(long, env = env::HTTP_PORT)]
    pub http_port: Option<u16>,

    /// gRPC port (seldon.protos and inference.GRPCInferenceService). Default 9500, or `MLSERVER_GRPC_PORT`.
    #[arg(long, env = env::GRPC_PORT)]
    pub grpc_port: Option<u16>,

    /// Prometheus metrics port. Default 6000, or `MLSERVER_METRICS_PORT`.
    #[arg(long, env = env::METRICS_PORT)]
    pub metrics_port: Option<u16>,

    /// Prometheus metrics path on the metrics port. Default `/prometheus`, or `MLSERVER_METRICS_ENDPOINT`.
    #[arg(long, env = env::METRICS_ENDPOINT)]
    pub metrics_endpoint: Option<String>,

    /// MLServer's HTTP port (KServe's runtimes set it), used when `PREDICTIVE_UNIT_HTTP_SERVICE_PORT` is absent.
    #[arg(long, env = env::MLSERVER_HTTP_PORT, hide = true)]
    pub mlserver_http_port: Option<u16>,

    /// MLServer's gRPC port, used when `PREDICTIVE_UNIT_GRPC_SERVICE_PORT` is absent.
    #[arg(long, env = env::MLSERVER_GRPC_PORT, hide = true)]
    pub mlserver_grpc_port: Option<u16>,

    /// MLServer's metrics port, used when `PREDICTIVE_UNIT_METRICS_SERVICE_PORT` is absent.
    #[arg(long, env = env::MLSERVER_METRICS_PORT, hide = true)]
    pub mlserver_metrics_port: Option<u16>,

    /// MLServer's metrics path, used when `PREDICTIVE_UNIT_METRICS_ENDPOINT` is absent.
    #[arg(long, env = env::MLSERVER_METRICS_ENDPOINT, hide = true)]
    pub mlserver_metrics_endpoint: Option<String>,

    /// The node's parameters as the operator passes them: a JSON list of `{name, value, type}`.
    #[arg(long, env = env::PARAMETERS, default_value = "[]")]
    pub parameters: String,

    /// The graph node's name (`PREDICTIVE_UNIT_ID`).
    #[arg(long, env = env::UNIT_ID)]
    pub predictive_unit_id: Option<String>,

    /// The container image (`PREDICTIVE_UNIT_IMAGE`).
    #[arg(long, env = env::UNIT_IMAGE)]
    pub predictive_unit_image: Option<String>,

    /// The predictor's name (`PREDICTOR_ID`).
    #[arg(long, env = env::PREDICTOR_ID)]
    pub predictor_id: Option<String>,

    /// The deployment's name (`SELDON_DEPLOYMENT_ID`).
    #[arg(long, env = env::DEPLOYMENT_ID)]
    pub deployment_id: Option<String>,

    /// MLServer's model name, used when `PREDICTIVE_UNIT_ID` is absent.
    #[arg(long, env = env::MLSERVER_MODEL_NAME, hide = true)]
    pub mlserver_model_name: Option<String>,

    /// MLServer's model URI, used when neither `--model-uri` nor the `model_uri` parameter is given.
    #[arg(long, env = env::MLSERVER_MODEL_URI, hide = true)]
    pub mlserver_model_uri: Option<String>,

    /// KServe's `--model_name` (its model servers' flag, in KServe's runtimes' `args`): the model's name when
    /// `--model-name` is not given.
    #[arg(id = "kserve_model_name", long = "model_name", hide = true)]
    pub kserve_model_name: Option<String>,

    /// KServe's `--model_dir`: where the model is, when `--model-uri` is not given.
    #[arg(long = "model_dir", hide = true)]
    pub kserve_model_dir: Option<String>,

    /// KServe's `--http_port`: the REST port (a flag of the container's own command line, so it wins over the
    /// env).
    #[arg(long = "http_port", hide = true)]
    pub kserve_http_port: Option<u16>,

    /// KServe's `--grpc_port`: the gRPC port (wins over the env).
    #[arg(long = "grpc_port", hide = true)]
    pub kserve_grpc_port: Option<u16>,

    /// Model metadata (YAML or JSON) merged over the model folder's `metadata.yaml`.
    #[arg(long, env = env::MODEL_METADATA)]
    pub model_metadata: Option<String>,

    /// Largest request body accepted, in bytes (REST and gRPC).
    #[arg(long, env = env::MAX_BODY_BYTES, default_value_t = oxserve_protocol::RequestLimits::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// The most memory, in bytes, that reading the model file may hold: the file, its decompressed stream and
    /// every array decoded from it. A model that needs more is refused at start-up, naming the budget. Default:
    /// half of the container's memory limit (cgroup `memory.max`), without one, half of the machine's memory but at most 2 GiB.
    #[arg(long, env = env::MAX_MODEL_MEMORY)]
    pub max_model_memory: Option<u64>,

    /// Most requests served at once; more are refused at once with 429 / RESOURCE_EXHAUSTED. 0 = no limit.
    #[arg(long, env = env::MAX_CONCURRENCY, default_value_t = 0)]
    pub max_concurrency: usize,

    /// The most work one request may ask of a model that says what a row costs (k-NN: training rows × features
    /// per row; SVC: support vectors × features): rows × that cost over this is refused with 400 before the
    /// model runs. 0 = no limit. Models without a cost hint are not limited.
    #[arg(long, env = env::MAX_REQUEST_COST, default_value_t = crate::state::DEFAULT_MAX_REQUEST_COST)]
    pub max_request_cost: u64,

    /// Blocking threads that run model work at once (0 = the CPUs available to the process, cgroup quota
    /// included). Calls over the bound queue; calls proven tiny run inline on the I/O threads.
    #[arg(long, env = env::MODEL_THREADS, default_value_t = 0)]
    pub model_threads: usize,

    /// Seconds a client has to send a request's headers once it connects or its previous response is sent
    /// (HTTP/1; a slow or silent client is then disconnected). Also the longest an idle HTTP/1 keep-alive
    /// connection is kept.
    #[arg(long, env = env::HEADER_READ_TIMEOUT, default_value = "30", value_parser = parse_seconds)]
    pub header_read_timeout: Duration,

    /// Seconds a connection with no request in flight is kept open (HTTP/2 and gRPC included) before it is
    /// closed gracefully.
    #[arg(long, env = env::IDLE_TIMEOUT, default_value = "60", value_parser = parse_seconds)]
    pub idle_timeout: Duration,

    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT; then the process exits anyway. Keep it
    /// under the pod's `terminationGracePeriodSeconds` (30 by default) so the server, not SIGKILL, ends them.
    #[arg(long, env = env::DRAIN_TIMEOUT, default_value = "20", value_parser = parse_seconds)]
    pub drain_timeout: Duration,

    /// Log as JSON lines instead of text.
    #[arg(long, env = env::LOG_JSON)]
    pub log_json: bool,

    /// After binding, write the bound ports as JSON (`{"http":…,"grpc":…,"metrics":…}`) to this file. Lets tests
    /// and scripts use port 0.
    #[arg(long, env = env::PORTS_FILE)]
    pub ports_file: Option<PathBuf>,

    /// Serve the metrics on the REST port at this path instead of opening the metrics port. Not a flag: a server's
    /// own flags set it ([`crate::ServerArgs::apply`]) — TF Serving's sidecar beside Seldon's proxy must not open a
    /// third port that clashes with the proxy's in the same pod.
    #[arg(skip)]
    pub metrics_on_rest_path: Option<String>,

    /// Bind the REST, gRPC and metrics ports with `SO_REUSEPORT`, so that several processes of the same server
    /// share them and the kernel spreads connections between them (gunicorn's workers' answer to multi-core).
    /// Not a flag of every server: a server's own flags set it ([`crate::ServerArgs::apply`]).
    #[arg(skip)]
    pub reuse_port: bool,
}

/// Parses a positive number of seconds (fractions allowed: `0.5`).
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        return Err(format!(
            "`{text}` seconds is out of range (more than 0, at most 86400)"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl Config {
    /// The REST port: KServe's `--http_port`, else the Seldon env (or a server flag that set it), else
    /// MLServer's, else 9000.
    pub fn effective_http_port(&self) -> u16 {
        self.kserve_http_port
            .or(self.http_port)
            .or(self.mlserver_http_port)
            .unwrap_or(9000)
    }

    /// The gRPC port: KServe's `--grpc_port`, else the Seldon env (or a server flag that set it), else
    /// MLServer's, else 9500.
    pub fn effective_grpc_port(&self) -> u16 {
        self.kserve_grpc_port
            .or(self.grpc_port)
            .or(self.mlserver_grpc_port)
            .unwrap_or(9500)
    }

    /// The metrics port: the Seldon env, else MLServer's, else 6000.
    pub fn effective_metrics_port(&self) -> u16 {
        self.metrics_port
            .or(self.mlserver_metrics_port)
            .unwrap_or(6000)
    }

    /// Whether a metrics port was configured anywhere (Seldon's or MLServer's env, or the flag).
    pub fn has_metrics_port(&self) -> bool {
        self.metrics_port.is_some() || self.mlserver_metrics_port.is_some()
    }

    /// The metrics path: the Seldon env, else MLServer's, else `/prometheus`.
    pub fn effective_metrics_endpoint(&self) -> String {
        self.metrics_endpoint
            .clone()
            .or_else(|| self.mlserver_metrics_endpoint.clone())
            .unwrap_or_else(|| "/prometheus".to_string())
    }

    /// The model name on V2 and KServe V1 routes and in metrics: `--model-name`, else the `--model_name` of
    /// KServe's (and TF Serving's) command line, else `PREDICTIVE_UNIT_ID`, else `MLSERVER_MODEL_NAME`, else
    /// `model`.
    pub fn effective_model_name(&self) -> String {
        self.model_name
            .clone()
            .or_else(|| self.kserve_model_name.clone())
            .or_else(|| self.predictive_unit_id.clone())
            .or_else(|| self.mlserver_model_name.clone())
            .unwrap_or_else(|| "model".to_string())
    }

    /// Where the model is: `--model-uri` (or a server flag that set it), else KServe's `--model_dir`, else the
    /// `model_uri` parameter, else `MLSERVER_MODEL_URI`.
    pub fn effective_model_uri(&self, params: &Parameters) -> Option<String> {
        self.model_uri
            .clone()
            .or_else(|| self.kserve_model_dir.clone())
            .or_else(|| params.get_str("model_uri").map(str::to_string))
            .or_else(|| self.mlserver_model_uri.clone())
    }
}

/// In a server's accepted parameter names: every name is accepted (a host that hands them all to user code, as
/// the Python wrapper passes them to the constructor).
pub const ANY_PARAMETER: &str = "*";

/// One typed parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// `STRING`.
    Str(String),
    /// `INT`.
    Int(i64),
    /// `FLOAT` or `DOUBLE`.
    Float(f64),
    /// `BOOL`.
    Bool(bool),
    /// `JSON`.
    Json(serde_json::Value),
}

/// The node's parameters (`PREDICTIVE_UNIT_PARAMETERS`), typed. Duplicate names: the last wins, as in Seldon.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parameters(BTreeMap<String, ParamValue>);

/// Why `PREDICTIVE_UNIT_PARAMETERS` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParameterError {
    /// Not a JSON list of objects.
    #[error("PREDICTIVE_UNIT_PARAMETERS is not a JSON list of {{name, value, type}}: {0}")]
    NotJson(#[from] serde_json::Error),
    /// A type outside STRING, INT, FLOAT, DOUBLE, BOOL, JSON.
    #[error(
        "parameter `{name}` has unknown type `{kind}`; expected STRING, INT, FLOAT, DOUBLE, BOOL or JSON"
    )]
    UnknownType {
        /// The parameter.
        name: String,
        /// Its type.
        kind: String,
    },
    /// A value that does not parse as its type.
    #[error("parameter `{name}` value `{value}` is not a valid {kind}")]
    BadValue {
        /// The parameter.
        name: String,
        /// The value.
        value: String,
        /// Its type.
        kind: String,
    },
    /// A parameter this server does not know (Seldon's servers refuse to start on one, and so do we).
    #[error("unknown parameter `{name}`; this server accepts: {accepted}")]
    Unknown {
        /// The parameter.
        name: String,
        /// The names accepted.
        accepted: String,
    },
}

#[derive(serde::Deserialize)]
struct RawParameter {
    name: String,
    #[serde(default)]
    value: serde_json::Value,
    #[serde(rename = "type", default = "default_type")]
    kind: String,
}

fn default_type() -> String {
    "STRING".to_string()
}

impl Parameters {
    /// Parses the operator's JSON list.
    pub fn parse(json: &str) -> Result<Self, ParameterError> {
        let raw: Vec<RawParameter> =
            serde_json::from_str(if json.trim().is_empty() { "[]" } else { json })?;
        let mut map = BTreeMap::new();
        for p in raw {
            let text = match &p.value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let bad = || ParameterError::BadValue {
                name: p.name.clone(),
                value: text.clone(),
                kind: p.kind.clone(),
            };
            let value = match p.kind.as_str() {
                "STRING" => ParamValue::Str(text.clone()),
                "INT" => ParamValue::Int(text.trim().parse().map_err(|_| bad())?),
                "FLOAT" | "DOUBLE" => ParamValue::Float(text.trim().parse().map_err(|_| bad())?),
                "BOOL" => ParamValue::Bool(match text.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "y" | "t" | "on" => true,
                    "false" | "0" | "no" | "n" | "f" | "off" => false,
                    _ => return Err(bad()),
                }),
                "JSON" => ParamValue::Json(match &p.value {
                    serde_json::Value::String(s) => serde_json::from_str(s).map_err(|_| bad())?,
                    other => other.clone(),
                }),
                other => {
                    return Err(ParameterError::UnknownType {
                        name: p.name,
                        kind: other.to_string(),
                    });
                }
            };
            map.insert(p.name, value);
        }
        Ok(Parameters(map))
    }

    /// A parameter by name.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.0.get(name)
    }

    /// A string parameter by name.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.0.get(name) {
            Some(ParamValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// A scalar parameter of any type as text (`INT` 8 → `"8"`, `DOUBLE` 0.5 → `"0.5"`, `BOOL` → `"true"`), for
    /// values a crate parses itself (batch sizes and times); `JSON` values are `None`.
    pub fn get_text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            ParamValue::Str(s) => Some(s.clone()),
            ParamValue::Int(i) => Some(i.to_string()),
            ParamValue::Float(f) => Some(f.to_string()),
            ParamValue::Bool(b) => Some(b.to_string()),
            ParamValue::Json(_) => None,
        }
    }

    /// Every parameter, by name (sorted): what a host that passes them all on (as constructor kwargs) reads.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Checks every name against those a server accepts (`model_uri` is always accepted; [`ANY_PARAMETER`] in
    /// `accepted` accepts every name).
    pub fn check_known(&self, accepted: &[&str]) -> Result<(), ParameterError> {
        if accepted.contains(&ANY_PARAMETER) {
            return Ok(());
        }
        for name in self.0.keys() {
            if name != "model_uri" && !accepted.contains(&name.as_str()) {
                let mut all: Vec<&str> = accepted.to_vec();
                all.push("model_uri");
                return Err(ParameterError::Unknown {
                    name: name.clone(),
                    accepted: all.join(", "),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operator_parameters() {
        let p = Parameters::parse(
            r#"[{"name":"method","value":"predict","type":"STRING"},{"name":"n","value":"3","type":"INT"},
               {"name":"x","value":"0.5","type":"DOUBLE"},{"name":"b","value":"true","type":"BOOL"},
               {"name":"j","value":"{\"a\":1}","type":"JSON"},
               {"name":"model_uri","value":"/mnt/models","type":"STRING"}]"#,
        )
        .unwrap();
        assert_eq!(p.get_str("method"), Some("predict"));
        assert_eq!(p.get("n"), Some(&ParamValue::Int(3)));
        assert_eq!(p.get("x"), Some(&ParamValue::Float(0.5)));
        assert_eq!(p.get("b"), Some(&ParamValue::Bool(true)));
        assert_eq!(
            p.get("j"),
            Some(&ParamValue::Json(serde_json::json!({"a": 1})))
        );
        assert_eq!(p.get_text("n").as_deref(), Some("3"));
        assert_eq!(p.get_text("x").as_deref(), Some("0.5"));
        assert_eq!(p.get_text("b").as_deref(), Some("true"));
        assert_eq!(p.get_text("method").as_deref(), Some("predict"));
        assert_eq!(p.get_text("j"), None);
        assert!(p.check_known(&["method", "n", "x", "b", "j"]).is_ok());
        assert!(p.check_known(&["method"]).is_err());
    }

    #[test]
    fn kserve_env_fills_in_for_absent_seldon_ports() {
        let c = Config::parse_from([
            "x",
            "--mlserver-http-port",
            "8080",
            "--mlserver-metrics-endpoint",
            "/metrics",
        ]);
        assert_eq!(c.effective_http_port(), 8080);
        assert_eq!(c.effective_grpc_port(), 9500);
        assert_eq!(c.effective_metrics_endpoint(), "/metrics");
        let c = Config::parse_from(["x", "--http-port", "9000", "--mlserver-http-port", "8080"]);
        assert_eq!(c.effective_http_port(), 9000);
        let c = Config::parse_from(["x"]);
        assert_eq!(
            (c.effective_http_port(), c.effective_metrics_port()),
            (9000, 6000)
        );
        assert_eq!(c.effective_metrics_endpoint(), "/prometheus");
    }

    #[test]
    fn kserve_model_server_flags() {
        // KServe's kserve-sklearnserver container: `--model_name={{.Name}} --model_dir=/mnt/models --http_port=8080`.
        let c = Config::parse_from([
            "x",
            "--model_name=sklearn-iris",
            "--model_dir=/mnt/models",
            "--http_port=8080",
            "--grpc_port",
            "8081",
            "--predictive-unit-id",
            "unit",
            "--mlserver-model-uri",
            "/elsewhere",
        ]);
        assert_eq!(c.effective_model_name(), "sklearn-iris");
        assert_eq!(
            c.effective_model_uri(&Parameters::default()).as_deref(),
            Some("/mnt/models")
        );
        assert_eq!(
            (c.effective_http_port(), c.effective_grpc_port()),
            (8080, 8081)
        );
        // The container's flags win over the ports' env; oxserve's own name and URI flags over KServe's.
        let c = Config::parse_from([
            "x",
            "--http-port=9000",
            "--http_port=8080",
            "--model-name=ox",
            "--model_name=k",
            "--model-uri=/a",
            "--model_dir=/b",
        ]);
        assert_eq!(c.effective_http_port(), 8080);
        assert_eq!(c.effective_model_name(), "ox");
        assert_eq!(
            c.effective_model_uri(&Parameters::default()).as_deref(),
            Some("/a")
        );
    }

    #[test]
    fn connection_timeouts_and_budgets() {
        let c = Config::parse_from(["x"]);
        assert_eq!(c.header_read_timeout, Duration::from_secs(30));
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.drain_timeout, Duration::from_secs(20));
        assert_eq!(c.max_request_cost, crate::state::DEFAULT_MAX_REQUEST_COST);
        assert_eq!(c.model_threads, 0);
        let c = Config::parse_from(["x", "--drain-timeout", "0.5", "--header-read-timeout=2"]);
        assert_eq!(c.drain_timeout, Duration::from_millis(500));
        assert_eq!(c.header_read_timeout, Duration::from_secs(2));
        for bad in ["0", "-1", "nan", "x", "1e9"] {
            assert!(
                Config::try_parse_from(["x", "--drain-timeout", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_bad_types_and_values() {
        assert!(matches!(
            Parameters::parse(r#"[{"name":"a","value":"1","type":"BLOB"}]"#),
            Err(ParameterError::UnknownType { .. })
        ));
        assert!(matches!(
            Parameters::parse(r#"[{"name":"a","value":"x","type":"INT"}]"#),
            Err(ParameterError::BadValue { .. })
        ));
        assert!(Parameters::parse("not json").is_err());
        assert_eq!(Parameters::parse("").unwrap(), Parameters::default());
    }
}
