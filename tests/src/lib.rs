//! Cross-crate and end-to-end test support: a small deterministic test model (served by the
//! `oxserve-test-server` binary), and helpers that start a real server process on loopback ports and find the
//! repo's Python peers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oxserve_core::{
    DataType, Model, ModelError, ModelMetadata, NamedTensor, PredictRequest, PredictResponse,
    Tensor, TensorData, TensorSpec,
};

/// A deterministic model over 4 features, for testing the runtime without an engine.
///
/// - `proba` (default): the softmax of each row's first three features, shape `[rows, 3]`;
/// - `sum`: each row's sum, shape `[rows]`.
///
/// A row holding 666 makes it panic (to test the panic guard); a row holding -999 makes it fail with an
/// internal error; a row holding 777 makes it take 300 ms (to test draining on shutdown), first appending a line
/// to the file named by `OXSERVE_TEST_SLOW_MARKER` when set, so a test knows the request is in flight; a row
/// `[888, ms, _, _]` makes it burn CPU for `ms` milliseconds (at most 10 s; a heavy model, to test that probes
/// answer under load).
///
/// Its per-row cost hint ([`Model::row_cost`]) is [`RowStatsModel::ROW_COST`], so a server started with a small
/// `--max-request-cost` refuses large batches.
#[derive(Debug)]
pub struct RowStatsModel {
    metadata: ModelMetadata,
}

impl RowStatsModel {
    /// The model's per-row cost hint.
    pub const ROW_COST: u64 = 1_000;
}

/// Burns one CPU for `ms` milliseconds (a stand-in for a heavy model: k-NN over a large training set).
fn burn_cpu(ms: f64) {
    let until = Instant::now() + Duration::from_secs_f64(ms.clamp(0.0, 10_000.0) / 1_000.0);
    let mut x = 1.0_f64;
    while Instant::now() < until {
        for _ in 0..1_000 {
            x = std::hint::black_box(x * 1.000_000_1 + 1e-9);
        }
    }
    std::hint::black_box(x);
}

impl Default for RowStatsModel {
    fn default() -> Self {
        RowStatsModel {
            metadata: ModelMetadata {
                platform: "oxserve-test".into(),
                inputs: vec![TensorSpec::new("input-0", DataType::F64, vec![-1, 4])],
                outputs: vec![
                    TensorSpec::new("proba", DataType::F64, vec![-1, 3]),
                    TensorSpec::new("sum", DataType::F64, vec![-1]),
                ],
            },
        }
    }
}

impl Model for RowStatsModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let [input] = request.inputs.as_slice() else {
            return Err(ModelError::BadInput(format!(
                "expected 1 input, got {}",
                request.inputs.len()
            )));
        };
        let shape = input.tensor.shape();
        let [rows, 4] = *shape else {
            return Err(ModelError::BadInput(format!(
                "X has shape {shape:?}, but this model expects [rows, 4]"
            )));
        };
        let x = input.tensor.to_f64_vec()?;
        if x.contains(&666.0) {
            panic!("test model asked to panic");
        }
        if x.contains(&777.0) {
            if let Some(path) = std::env::var_os("OXSERVE_TEST_SLOW_MARKER") {
                use std::io::Write;
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path);
                if let Ok(mut file) = file {
                    let _ = writeln!(file, "slow");
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        for row in x.chunks_exact(4) {
            if row[0] == 888.0 {
                burn_cpu(row[1]);
            }
        }
        if x.contains(&-999.0) {
            return Err(ModelError::Internal("test model failure".into()));
        }
        let wanted: Vec<String> = if request.outputs.is_empty() {
            vec!["proba".into()]
        } else {
            request.outputs.clone()
        };
        let mut outputs = Vec::new();
        for name in wanted {
            let tensor = match name.as_str() {
                "proba" => {
                    let mut out = Vec::with_capacity(rows * 3);
                    for row in x.chunks_exact(4) {
                        let m = row[..3].iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let e: Vec<f64> = row[..3].iter().map(|v| (v - m).exp()).collect();
                        let s: f64 = e.iter().sum();
                        out.extend(e.iter().map(|v| v / s));
                    }
                    Tensor::new(vec![rows, 3], TensorData::F64(out))?
                }
                "sum" => Tensor::new(
                    vec![rows],
                    TensorData::F64(x.chunks_exact(4).map(|r| r.iter().sum()).collect()),
                )?,
                other => {
                    return Err(ModelError::UnknownOutput {
                        name: other.to_string(),
                        available: "proba, sum".into(),
                    });
                }
            };
            outputs.push(NamedTensor::new(name, tensor));
        }
        Ok(PredictResponse { outputs })
    }

    fn row_cost(&self) -> Option<u64> {
        Some(Self::ROW_COST)
    }
}

/// The test model as the V2 model repository loads it: implementation [`RowStatsModel::IMPLEMENTATION`], a
/// folder holding `rowstats.json` (`{"ballast_mb": N, "pieces_mb": P, "load_ms": M, "fail": "why"}`: hold N MiB
/// of touched memory in one buffer and P MiB in small pieces of 48 B to 3 KiB (as a tree ensemble's nodes and
/// arrays are), take M ms to load, or fail with that reason), so tests can play slow loads, big models and failures.
#[derive(Debug)]
pub struct BallastModel {
    inner: RowStatsModel,
    ballast: Vec<u8>,
    pieces: Vec<Box<[u8]>>,
}

impl RowStatsModel {
    /// The `implementation` name of [`BallastModel`] in `model-settings.json`.
    pub const IMPLEMENTATION: &'static str = "oxserve_tests.RowStats";
    /// The file that marks a folder without settings as one.
    pub const FILE: &'static str = "rowstats.json";
}

impl BallastModel {
    /// Loads `rowstats.json` from the model's folder (or the file itself).
    pub fn load(uri: &Path) -> anyhow::Result<Self> {
        let file = if uri.is_dir() {
            uri.join(RowStatsModel::FILE)
        } else {
            uri.to_path_buf()
        };
        let text = std::fs::read_to_string(&file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
        let spec: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", file.display()))?;
        if let Some(why) = spec["fail"].as_str() {
            anyhow::bail!("{why}");
        }
        if let Some(ms) = spec["load_ms"].as_u64() {
            std::thread::sleep(Duration::from_millis(ms.min(10_000)));
        }
        let mib = usize::try_from(spec["ballast_mb"].as_u64().unwrap_or(0).min(4096))?;
        let mut ballast = vec![0u8; mib << 20];
        for (i, page) in ballast.iter_mut().step_by(4096).enumerate() {
            *page = (i % 251) as u8 + 1;
        }
        let mut pieces = Vec::new();
        let mut left = usize::try_from(spec["pieces_mb"].as_u64().unwrap_or(0).min(4096))? << 20;
        while left > 0 {
            // Sizes cycle through 48 B .. 3 KiB, every piece written so its pages are resident.
            let size = (48 << (pieces.len() % 7)).min(left);
            pieces.push(vec![(pieces.len() % 251) as u8 + 1; size].into_boxed_slice());
            left -= size;
        }
        Ok(BallastModel {
            inner: RowStatsModel::default(),
            ballast,
            pieces,
        })
    }
}

impl Model for BallastModel {
    fn metadata(&self) -> &ModelMetadata {
        self.inner.metadata()
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        std::hint::black_box((self.ballast.len(), self.pieces.len()));
        self.inner.predict(request)
    }

    fn row_cost(&self) -> Option<u64> {
        self.inner.row_cost()
    }
}

/// The repo's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A server process started on ephemeral loopback ports; killed on drop.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// REST port.
    pub http: u16,
    /// gRPC port.
    pub grpc: u16,
    /// Metrics port.
    pub metrics: u16,
    _dir: TempDir,
}

/// A temporary folder removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates a fresh folder under the system temp dir, never one another `TempDir` of any process holds:
    /// the name carries the process id and a per-process counter, and the folder is created exclusively (a
    /// name that exists is skipped). A clock-based name is not enough: two tests starting servers at once can
    /// read the same clock value, share one ports file and talk to each other's server.
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let root = std::env::temp_dir();
        loop {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = root.join(format!("{prefix}-{}-{n}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl ServerProcess {
    /// Starts `binary` with the operator's env plus `env`, on ephemeral ports, and waits until it is ready.
    pub fn start(binary: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let ports = [
            ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "0"),
            ("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "0"),
            ("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "0"),
        ];
        let all: Vec<(&str, &str)> = ports.iter().chain(env).copied().collect();
        Self::start_with_args(binary, &[], &all)
    }

    /// Starts `binary` serving the model folder `model_dir` (the `model_uri` parameter), with the operator's env
    /// plus `env`, on ephemeral ports.
    pub fn start_with_model(
        binary: &Path,
        model_dir: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let params = serde_json::json!([
            {"name": "model_uri", "value": model_dir.display().to_string(), "type": "STRING"}
        ])
        .to_string();
        let mut all = vec![("PREDICTIVE_UNIT_PARAMETERS", params.as_str())];
        all.extend_from_slice(env);
        Self::start(binary, &all)
    }

    /// Starts `binary` with `args` and exactly `env` (plus `PATH`, loopback host and the ports file): for
    /// command lines such as TF Serving's, where the caller picks the ports (0 = ephemeral).
    pub fn start_with_args(
        binary: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let dir = TempDir::new("oxserve-test")?;
        let ports_file = dir.0.join("ports.json");
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .args(args)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("OXSERVE_HOST", "127.0.0.1")
            .env("OXSERVE_PORTS_FILE", &ports_file)
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ports_file)
                && let Ok(ports) = serde_json::from_str::<serde_json::Value>(&text)
            {
                let port = |k: &str| {
                    ports[k]
                        .as_u64()
                        .and_then(|p| u16::try_from(p).ok())
                        .unwrap_or(0)
                };
                return Ok(ServerProcess {
                    http: port("http"),
                    grpc: port("grpc"),
                    metrics: port("metrics"),
                    child,
                    _dir: dir,
                });
            }
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("server exited before becoming ready: {status}");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "server did not become ready in 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory (`VmRSS`), in KiB; 0 when `/proc` cannot say.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|status| {
                status.lines().find_map(|line| {
                    line.strip_prefix("VmRSS:")?
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse()
                        .ok()
                })
            })
            .unwrap_or(0)
    }

    /// The REST base URL.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        Ok(self.child.wait()?)
    }

    /// Sends SIGTERM and waits at most `within` for the exit: `None` if the process is still running then (it
    /// is killed on drop), so a test of a bounded shutdown fails instead of hanging.
    pub fn terminate_within(
        mut self,
        within: Duration,
    ) -> anyhow::Result<Option<std::process::ExitStatus>> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the process has exited, without waiting.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the repo's Python peers venv lives, if installed (`scripts/install-peers.sh`).
pub fn peers_python(venv: &str) -> Option<PathBuf> {
    let python = repo_root().join(venv).join("bin/python");
    python.is_file().then_some(python)
}

/// Whether tests must fail instead of skipping when a peer is missing (CI sets `OXSERVE_REQUIRE_PEERS=1`).
pub fn peers_required() -> bool {
    std::env::var("OXSERVE_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// An HTTP client for tests. The workspace's reqwest is built without a default TLS crypto provider (the storage
/// initializer picks ring), so install ring once before the first client.
pub fn http_client() -> reqwest::Client {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::new()
}

/// A one-family server's model repository as an operator grows it: starts `binary` on its own model `own` (the
/// `model_uri` parameter) with `env` and a models folder holding a copy of the folder `second` as `name/` (with
/// `settings` as its `model-settings.json` when given; without, its files say what it is), not loaded at
/// start-up; loads `name` over REST (`POST /v2/repository/models/{name}/load`) and infers `body` on it by name.
/// Returns the inference reply, after checking that the index lists `name` as READY beside the server's own model;
/// any non-200 answer is an error that quotes it.
pub async fn second_model_over_repository(
    binary: &Path,
    own: &Path,
    second: &Path,
    name: &str,
    settings: Option<serde_json::Value>,
    env: &[(&str, &str)],
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                copy_dir(&entry.path(), &to.join(entry.file_name()))?;
            } else {
                std::fs::copy(entry.path(), to.join(entry.file_name()))?;
            }
        }
        Ok(())
    }
    let models = TempDir::new("oxserve-models")?;
    let folder = models.0.join(name);
    copy_dir(second, &folder)?;
    if let Some(settings) = settings {
        std::fs::write(folder.join("model-settings.json"), settings.to_string())?;
    }
    let dir = models.0.display().to_string();
    let mut all = vec![
        ("MLSERVER_MODELS_DIR", dir.as_str()),
        ("MLSERVER_LOAD_MODELS_AT_STARTUP", "false"),
    ];
    all.extend_from_slice(env);
    let server = ServerProcess::start_with_model(binary, own, &all)?;
    let http = http_client();
    let post = |path: String, body: serde_json::Value| {
        let request = http.post(server.url(&path)).json(&body);
        async move {
            let reply = request.send().await?;
            let status = reply.status();
            let text = reply.text().await?;
            anyhow::ensure!(status == 200, "POST {path}: {status} {text}");
            Ok::<_, anyhow::Error>(if text.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_str(&text)?
            })
        }
    };
    post(
        format!("/v2/repository/models/{name}/load"),
        serde_json::json!({}),
    )
    .await?;
    let reply = post(format!("/v2/models/{name}/infer"), body.clone()).await?;
    let index = post("/v2/repository/index".into(), serde_json::json!({})).await?;
    let rows = index.as_array().map(Vec::as_slice).unwrap_or_default();
    anyhow::ensure!(
        rows.len() == 2
            && rows
                .iter()
                .any(|r| r["name"] == name && r["state"] == "READY"),
        "index after loading {name}: {index}"
    );
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::TempDir;

    /// The CI failure of stop 12: two tests started servers in the same clock tick, got one temp folder (and so
    /// one ports file), and one test talked to the other's server until that was killed. Folders made at once
    /// from many threads must all differ, and dropping one must leave the others in place.
    #[test]
    fn temp_dirs_made_at_once_are_distinct() {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    (0..50)
                        .map(|_| TempDir::new("oxserve-tempdir-test").expect("temp dir"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut dirs: Vec<TempDir> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect();
        let mut paths: Vec<_> = dirs.iter().map(|d| d.0.clone()).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 400);
        let kept = dirs.split_off(200);
        drop(dirs);
        assert!(kept.iter().all(|d| d.0.is_dir()));
    }
}
