//! The differential suite: every request `gen_answers.py` sent to Seldon's own `seldon-core-microservice`
//! (answers committed in `answers.json`) is sent again to `oxserve-microservice` running the same user class
//! (`tests/classes/*.py`, the quickstart iris example) with the same env, and the status, content type, body
//! and the metrics port's text must be the same.
//!
//! The user classes need numpy (and the Errors class Flask + seldon_core, as its users' code does): the
//! interpreter sees a venv through `VIRTUAL_ENV`: `OXSERVE_PYWRAP_VENV`, else `servers/python/.venv-pywrap`
//! (`servers/python/venv.sh`, with scikit-learn for the iris case), else the peers' `.venv-seldon`
//! (`scripts/install-peers.sh`). Without one the suite is skipped, or fails under `OXSERVE_REQUIRE_PEERS=1`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv() -> Option<PathBuf> {
    if let Ok(v) = std::env::var("OXSERVE_PYWRAP_VENV") {
        return Some(PathBuf::from(v));
    }
    [
        repo().join("servers/python/.venv-pywrap"),
        repo().join(".venv-seldon"),
    ]
    .into_iter()
    .find(|v| v.join("bin/python").is_file())
}

/// The venv, or `None` with a note when there is none (a failure under `OXSERVE_REQUIRE_PEERS=1`).
fn venv_or_skip() -> Option<PathBuf> {
    let venv = venv();
    if venv.is_none() {
        assert!(
            std::env::var("OXSERVE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "no venv for the user classes: run scripts/install-peers.sh or servers/python/venv.sh"
        );
        eprintln!(
            "skipped: no venv with numpy (scripts/install-peers.sh or servers/python/venv.sh)"
        );
    }
    venv
}

fn has_module(venv: &Path, module: &str) -> bool {
    Command::new(venv.join("bin/python"))
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// An HTTP client: the workspace's reqwest has no default TLS crypto provider, so ring is installed once.
fn client() -> reqwest::Client {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::new()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

struct Server {
    child: Child,
    http: u16,
    grpc: u16,
    metrics: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server started on ephemeral ports (written to its ports file), not yet known to be ready.
struct Pending {
    child: Child,
    ports: PathBuf,
    group: String,
}

/// Starts oxserve-microservice on `case`'s class with the recorded env, on port 0 everywhere.
fn spawn(case: &Value, env: &Value, venv: &Path) -> Pending {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let cwd = match case["dir"].as_str() {
        Some(dir) => repo().join(dir),
        None => repo().join("servers/python/tests/classes"),
    };
    let ports = std::env::temp_dir().join(format!(
        "oxserve-microservice-test-{}-{}.json",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&ports);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oxserve-microservice"));
    cmd.arg(case["interface"].as_str().unwrap_or_default())
        .args([
            "--http-port",
            "0",
            "--metrics-port",
            "0",
            "--grpc-port",
            "0",
        ])
        .arg("--ports-file")
        .arg(&ports)
        .current_dir(cwd)
        .env("VIRTUAL_ENV", venv)
        .env("OXSERVE_HOST", "127.0.0.1")
        .env(
            "PREDICTIVE_UNIT_PARAMETERS",
            case["parameters"].to_string().replace("null", "[]"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env.as_object().into_iter().flatten() {
        cmd.env(k, v.as_str().unwrap_or_default());
    }
    Pending {
        child: cmd.spawn().expect("oxserve-microservice starts"),
        ports,
        group: case["group"].to_string(),
    }
}

/// Waits for a spawned server's ports file.
async fn ready(mut pending: Pending) -> Server {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(&pending.ports)
            && let Ok(ports) = serde_json::from_str::<Value>(&text)
        {
            let _ = std::fs::remove_file(&pending.ports);
            let port = |k: &str| u16::try_from(ports[k].as_u64().unwrap_or(0)).unwrap_or(0);
            return Server {
                http: port("http"),
                grpc: port("grpc"),
                metrics: port("metrics"),
                child: pending.child,
            };
        }
        if let Ok(Some(status)) = pending.child.try_wait() {
            panic!(
                "oxserve-microservice exited with {status} for {}",
                pending.group
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = pending.child.kill();
    panic!("oxserve-microservice did not start for {}", pending.group);
}

async fn start(case: &Value, env: &Value, venv: &Path) -> Server {
    ready(spawn(case, env, venv)).await
}

async fn send(client: &reqwest::Client, http: u16, r: &Value) -> (u16, String, String) {
    let path = r["path"].as_str().unwrap_or_default();
    let body = r["body"].as_str().unwrap_or_default();
    let mut url = format!("http://127.0.0.1:{http}{path}");
    let method: reqwest::Method = r["method"]
        .as_str()
        .unwrap_or("GET")
        .parse()
        .expect("method");
    let mut builder;
    match r["kind"].as_str() {
        Some("json") => {
            builder = client
                .request(method, &url)
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        Some("form") => {
            let form = serde_urlencoded::to_string([("json", body)]).expect("form");
            builder = client
                .request(method, &url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form);
        }
        Some("query") => {
            url.push('?');
            url.push_str(&serde_urlencoded::to_string([("json", body)]).expect("query"));
            builder = client.request(method, &url);
        }
        Some("multipart") => {
            builder = client
                .request(method, &url)
                .header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(multipart_body(body));
        }
        Some("text") => {
            builder = client
                .request(method, &url)
                .header("Content-Type", "text/plain")
                .body(body.to_string());
        }
        _ => builder = client.request(method.clone(), &url),
    }
    if r["kind"].is_null() && r["method"] == "POST" {
        builder = builder.body("");
    }
    let response = builder.send().await.expect("request sent");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (
        status,
        content_type,
        response.text().await.unwrap_or_default(),
    )
}

async fn scrape(client: &reqwest::Client, metrics: u16) -> String {
    client
        .get(format!("http://127.0.0.1:{metrics}/prometheus"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default()
}

/// The generator's fixed multipart boundary.
const BOUNDARY: &str = "oxserveBoundary7MA4YWxk";

/// `{"fields": {name: text}, "files": {name: text}}` framed as `gen_answers.py`'s `multipart_body` frames it.
fn multipart_body(spec: &str) -> Vec<u8> {
    let spec: Value = serde_json::from_str(spec).expect("multipart spec");
    let mut out = String::new();
    for (name, value) in spec["fields"].as_object().into_iter().flatten() {
        let value = value.as_str().unwrap_or_default();
        out.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    for (name, value) in spec["files"].as_object().into_iter().flatten() {
        let value = value.as_str().unwrap_or_default();
        out.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.txt\"\r\nContent-Type: application/octet-stream\r\n\r\n{value}\r\n"
        ));
    }
    out.push_str(&format!("--{BOUNDARY}--\r\n"));
    out.into_bytes()
}

/// The labels Seldon's wrapper writes on every custom series that oxserve leaves out (the identity it repeats under
/// other names, and the gunicorn worker's pid).
const SELDON_ONLY_LABELS: &[&str] = &[
    "image_name",
    "image_version",
    "predictor_version",
    "seldon_deployment_name",
    "worker_id",
];

/// The samples of a Prometheus text: `name{labels}` (labels sorted, Seldon-only ones dropped) → value.
fn samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
        let mut labels: Vec<&str> = labels
            .trim_end_matches('}')
            .split("\",")
            .map(|l| l.trim_end_matches('"'))
            .filter(|l| !l.is_empty())
            .filter(|l| {
                !SELDON_ONLY_LABELS
                    .iter()
                    .any(|k| l.starts_with(&format!("{k}=")))
            })
            .collect();
        labels.sort_unstable();
        let value = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or(f64::NAN),
        };
        out.insert(format!("{name}{{{}}}", labels.join(",")), value);
    }
    out
}

/// Every sample Seldon's metrics port showed is on oxserve's with the same value (oxserve's own request metrics
/// come on top).
fn same_samples(seldon: &str, oxserve: &str) -> Result<(), String> {
    let ours = samples(oxserve);
    let missing: Vec<String> = samples(seldon)
        .into_iter()
        .filter(|(k, v)| ours.get(k).is_none_or(|o| (o - v).abs() > 1e-9))
        .map(|(k, v)| format!("{k} {v} (ours: {:?})", ours.get(&k)))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing.join("\n"))
    }
}

/// How a deliberate difference is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Same status and body once numbers are compared by value (`1` = `1.0`) and a metric's missing `type` is
    /// `COUNTER` (the wrapper prints a class's own metric values as Python has them, and feedback replies
    /// through protobuf, which leaves out the default `COUNTER` and writes every number as a float; oxserve
    /// writes metric values as floats and the type always).
    Numbers,
    /// Same status and `reason`; the `info` differs (the wrapper writes the request as a Python repr, oxserve as
    /// JSON).
    Info,
    /// oxserve answers this status (the reason is in the table).
    Status(u16),
}

/// The wrapper's answers oxserve does not repeat on purpose (README, "Deliberate differences"), by case group
/// and request index.
const DELIBERATE: &[(&str, usize, Check, &str)] = &[
    ("Basic", 0, Check::Numbers, "metric values as floats"),
    ("Basic", 1, Check::Numbers, "metric values as floats"),
    ("Basic", 2, Check::Numbers, "metric values as floats"),
    (
        "Basic",
        4,
        Check::Info,
        "the request in `info` as JSON, not a Python repr",
    ),
    (
        "Basic",
        5,
        Check::Info,
        "the request in `info` as JSON, not a Python repr",
    ),
    (
        "Basic",
        7,
        Check::Status(400),
        "a form field `json` that is not JSON is the caller's 400 (the wrapper: 500)",
    ),
    (
        "Basic",
        8,
        Check::Status(200),
        "a JSON body is read whatever its Content-Type (the wrapper: 400 unless application/json)",
    ),
    (
        "Basic",
        9,
        Check::Status(400),
        "a tensor whose values do not fill its shape is refused at decoding: 400 (the wrapper: numpy's 500)",
    ),
    (
        "Basic",
        10,
        Check::Status(405),
        "a known route with the wrong method is 405 (the wrapper: 500 with Flask's 404 text)",
    ),
    (
        "Basic",
        11,
        Check::Status(405),
        "a wrong method is 405 (the wrapper: 500)",
    ),
    (
        "Basic",
        12,
        Check::Status(200),
        "GET /ready is oxserve's readiness probe (the wrapper has no such route: 500)",
    ),
    (
        "Basic",
        13,
        Check::Status(404),
        "an unknown route is 404 (the wrapper: 500 with Flask's 405 text)",
    ),
    (
        "Basic",
        14,
        Check::Status(405),
        "a wrong method is 405 (the wrapper: 500)",
    ),
    ("Basic", 16, Check::Numbers, "metric values as floats"),
    ("Basic", 17, Check::Numbers, "metric values as floats"),
    (
        "Basic",
        20,
        Check::Numbers,
        "feedback metrics with their type, numbers by value",
    ),
    (
        "Basic",
        21,
        Check::Numbers,
        "feedback metrics with their type, numbers by value",
    ),
    ("Basic", 22, Check::Numbers, "metric values as floats"),
    ("Raw", 0, Check::Numbers, "metric values as floats"),
    (
        "Raw",
        1,
        Check::Status(422),
        "a raw reply's error `status.status` is written as 1, not the string FAILURE",
    ),
    ("Raw", 2, Check::Numbers, "metric values as floats"),
    (
        "Hooks",
        2,
        Check::Numbers,
        "tensor values are float64 (as on gRPC); the wrapper keeps a JSON body's integers",
    ),
    (
        "Combiner",
        2,
        Check::Info,
        "the request in `info` as JSON, not a Python repr",
    ),
    (
        "Returns",
        18,
        Check::Status(400),
        "a multipart field that is not JSON is the caller's 400 (the wrapper: 500)",
    ),
];

/// Requests sent after the metrics are compared: a deliberate difference that runs the user's code where the
/// wrapper refused (it would shift the class's counters for every later answer).
const DEFERRED: &[(&str, usize)] = &[("Basic", 8)];

/// Numbers as float64 and every metric with a type.
fn by_value(body: &str) -> Option<Value> {
    fn walk(v: &mut Value, in_metrics: bool) {
        match v {
            Value::Number(n) => *v = serde_json::json!(n.as_f64().unwrap_or(f64::NAN)),
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, in_metrics)),
            Value::Object(map) => {
                if in_metrics && !map.contains_key("type") {
                    map.insert("type".into(), "COUNTER".into());
                }
                for (k, v) in map.iter_mut() {
                    walk(v, k == "metrics");
                }
            }
            _ => {}
        }
    }
    let mut value: Value = serde_json::from_str(body).ok()?;
    walk(&mut value, false);
    Some(value)
}

/// Why a reply differs from the wrapper's on purpose, or `None`.
fn explain(
    group: &str,
    index: usize,
    seldon: &(u16, String, String),
    oxserve: &(u16, String, String),
) -> Option<String> {
    let (_, _, check, why) = DELIBERATE
        .iter()
        .find(|(g, i, _, _)| *g == group && *i == index)?;
    let holds = match check {
        Check::Numbers => seldon.0 == oxserve.0 && by_value(&seldon.2) == by_value(&oxserve.2),
        Check::Info => {
            let reason = |b: &str| {
                serde_json::from_str::<Value>(b)
                    .ok()
                    .map(|v| v["status"]["reason"].clone())
            };
            seldon.0 == oxserve.0
                && reason(&seldon.2).is_some()
                && reason(&seldon.2) == reason(&oxserve.2)
        }
        Check::Status(status) => oxserve.0 == *status,
    };
    holds.then(|| why.to_string())
}

#[tokio::test]
async fn oxserve_microservice_answers_as_seldon_core_microservice() {
    let Some(venv) = venv_or_skip() else {
        return;
    };
    let answers: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("servers/python/tests/answers.json"))
            .expect("answers.json"),
    )
    .expect("answers.json parses");
    let client = client();
    let (mut identical, mut deliberate) = (0, Vec::new());
    let mut differences = Vec::new();
    // Every class starts at once (their interpreters load side by side); then each is asked in turn.
    let mut started = Vec::new();
    for case in answers["cases"].as_array().expect("cases") {
        if let Some(module) = case["needs"].as_str()
            && !has_module(&venv, module)
        {
            eprintln!(
                "case {} skipped: {module} is not in {}",
                case["group"],
                venv.display()
            );
            continue;
        }
        started.push((case, spawn(case, &answers["env"], &venv)));
    }
    for (case, pending) in started {
        let group = case["group"].as_str().unwrap_or_default();
        let server = ready(pending).await;
        let answers: Vec<(usize, &Value)> = case["answers"]
            .as_array()
            .expect("answers")
            .iter()
            .enumerate()
            .collect();
        let (later, now): (Vec<_>, Vec<_>) = answers
            .into_iter()
            .partition(|(i, _)| DEFERRED.contains(&(group, *i)));
        let mut prometheus = None;
        for (index, answer) in now.into_iter().chain(later) {
            if prometheus.is_none() && DEFERRED.contains(&(group, index)) {
                prometheus = Some(scrape(&client, server.metrics).await);
            }
            let got = send(&client, server.http, answer).await;
            let want = (
                answer["status"].as_u64().unwrap_or_default() as u16,
                answer["content_type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                answer["reply"].as_str().unwrap_or_default().to_string(),
            );
            if got == want {
                identical += 1;
                continue;
            }
            match explain(group, index, &want, &got) {
                Some(why) => deliberate.push(format!("{group} #{index}: {why}")),
                None => differences.push(format!(
                    "{group} #{index} {} {} {}\n  seldon:  {want:?}\n  oxserve: {got:?}",
                    answer["method"], answer["path"], answer["body"]
                )),
            }
        }
        let prometheus = match prometheus {
            Some(text) => text,
            None => scrape(&client, server.metrics).await,
        };
        if let Err(why) = same_samples(case["metrics"].as_str().unwrap_or_default(), &prometheus) {
            differences.push(format!("{group} metrics differ:\n{why}"));
        }
    }
    eprintln!(
        "{identical} replies identical, {} deliberately different:\n{}",
        deliberate.len(),
        deliberate.join("\n")
    );
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert!(
        identical + deliberate.len() >= 60,
        "only {identical} requests checked"
    );
}

/// seldon-core-microservice's gunicorn / Flask / gRPC-worker flags are accepted (and ignored), the env's
/// parameters reach the constructor typed, and two processes share one port with `--reuse-port` (the multi-core
/// answer), each with several Python threads, answering concurrent requests.
#[tokio::test]
async fn seldon_flags_accepted_and_processes_share_a_port() {
    let Some(venv) = venv_or_skip() else {
        return;
    };
    let (http, grpc) = (free_port(), free_port());
    let spawn = |metrics: u16| {
        Command::new(env!("CARGO_BIN_EXE_oxserve-microservice"))
            .args(["Router", "--service-type", "ROUTER", "--persistence", "--log-level", "DEBUG"])
            .args(["--workers", "4", "--threads", "2", "--max-requests", "10", "--max-requests-jitter", "2"])
            .args(["--keepalive", "5", "--debug", "--tracing", "--single-threaded", "--access-log"])
            .args(["--pidfile", "/nonexistent/pid", "--grpc-workers", "1", "--grpc-threads", "2"])
            .args(["--http-port", &http.to_string(), "--grpc-port", &grpc.to_string()])
            .args(["--metrics-port", &metrics.to_string(), "--reuse-port", "--python-threads", "4"])
            .current_dir(repo().join("servers/python/tests/classes"))
            .env("VIRTUAL_ENV", &venv)
            .env("OXSERVE_HOST", "127.0.0.1")
            .env("SELDON_LOG_LEVEL", "WARNING")
            .env(
                "PREDICTIVE_UNIT_PARAMETERS",
                r#"[{"name":"n_branches","value":"2","type":"INT"},{"name":"verbose","value":"0","type":"BOOL"}]"#,
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("oxserve-microservice starts")
    };
    let metrics = free_port();
    let mut servers = vec![
        Server {
            child: spawn(metrics),
            http,
            grpc,
            metrics,
        },
        Server {
            child: spawn(metrics),
            http,
            grpc,
            metrics,
        },
    ];
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client
            .get(format!("http://127.0.0.1:{http}/health/ping"))
            .send()
            .await;
        if ready.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "no server answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for server in &mut servers {
        assert!(
            server.child.try_wait().expect("wait").is_none(),
            "both processes keep running"
        );
    }
    let replies = futures_join(&client, http).await;
    for body in replies {
        assert_eq!(
            body,
            "{\"data\":{\"names\":[\"t:0\"],\"ndarray\":[[0]]},\"meta\":{\"tags\":{\"label\":\"r\",\"types\":[\"int\",\"float\",\"bool\"]}}}\n"
        );
    }
}

/// 16 concurrent `/route` calls.
async fn futures_join(client: &reqwest::Client, http: u16) -> Vec<String> {
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("http://127.0.0.1:{http}/route"))
                .header("Content-Type", "application/json")
                .body(r#"{"data":{"ndarray":[[1,2]]}}"#)
                .send()
                .await
                .expect("route")
                .text()
                .await
                .unwrap_or_default()
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    out
}

/// The user's class behind both Seldon transports: gRPC (what SeldonClient's gRPC mode and the executor call)
/// answers what REST answers, for a MODEL, a ROUTER, a COMBINER and a TRANSFORMER; hostile bodies are refused
/// without taking the server down.
#[tokio::test]
async fn grpc_component_types_and_hostile_inputs() {
    use oxserve_protocol::pb::seldon::messages::{ndarray, tensor as tensor_message};
    use oxserve_protocol::pb::seldon::protos as pb;
    let reply_numbers = |reply: &pb::SeldonMessage| {
        oxserve_protocol::pb::seldon::messages::numbers(reply).expect("numbers in the reply")
    };
    let Some(venv) = venv_or_skip() else {
        return;
    };
    let env = serde_json::json!({"PREDICTIVE_UNIT_ID": "node"});
    let case = |interface: &str| serde_json::json!({"interface": interface, "group": interface});
    let channel = |server: &Server| {
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", server.grpc))
            .expect("endpoint")
    };

    // MODEL: a tensor in, the class's doubled tensor out with its class names, tags and custom metrics.
    let basic = start(&case("Basic"), &env, &venv).await;
    let mut model = pb::model_client::ModelClient::connect(channel(&basic))
        .await
        .expect("gRPC");
    let reply = model
        .predict(tensor_message(&[1, 2], &[1.5, 2.5]))
        .await
        .expect("predict")
        .into_inner();
    assert_eq!(
        reply_numbers(&reply),
        (vec![3.0, 5.0], vec!["double_a".into(), "double_b".into()])
    );
    let meta = reply.meta.expect("meta");
    assert!(meta.tags.contains_key("model"), "{meta:?}");
    assert_eq!(meta.metrics.len(), 3);

    // Hostile REST bodies: refused (or answered) with a status, never a crash.
    let client = client();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let hostile = [
        format!(r#"{{"jsonData":{deep}}}"#),
        r#"{"data":{"tensor":{"shape":[1000000000,1000000000],"values":[1]}}}"#.to_string(),
        r#"{"data":{"tensor":{"shape":[-1],"values":[1]}}}"#.to_string(),
        r#"{"data":{"ndarray":[[1,"a",null],[{}]]}}"#.to_string(),
        r#"{"binData":"%%%"}"#.to_string(),
        r#"{"data":{"ndarray":[[1e400]]}}"#.to_string(),
        "\u{0}\u{1}".to_string(),
    ];
    for body in &hostile {
        let status = client
            .post(format!("http://127.0.0.1:{}/predict", basic.http))
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("an answer")
            .status()
            .as_u16();
        assert!((200..600).contains(&status), "{status} for {:.60}", body);
    }
    let multipart = client
        .post(format!("http://127.0.0.1:{}/predict", basic.http))
        .header("Content-Type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n")
        .send()
        .await
        .expect("an answer");
    assert_eq!(multipart.status().as_u16(), 400);
    let ping = client
        .get(format!("http://127.0.0.1:{}/health/ping", basic.http))
        .send()
        .await
        .expect("still up");
    assert_eq!(ping.status().as_u16(), 200);

    // ROUTER: Router/Route and Generic/Route; feedback over gRPC moves the router as over REST.
    let router = start(&case("Router"), &env, &venv).await;
    let mut grpc_router = pb::router_client::RouterClient::connect(channel(&router))
        .await
        .expect("gRPC");
    let reply = grpc_router
        .route(ndarray(&[&[1.0, 2.0]]))
        .await
        .expect("route")
        .into_inner();
    assert_eq!(reply_numbers(&reply).0, vec![0.0]);
    grpc_router
        .send_feedback(pb::Feedback {
            request: Some(ndarray(&[&[1.0, 2.0]])),
            response: Some(pb::SeldonMessage {
                meta: Some(pb::Meta {
                    routing: [("node".to_string(), 1)].into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            reward: 1.0,
            truth: None,
        })
        .await
        .expect("feedback");
    let mut generic = pb::generic_client::GenericClient::connect(channel(&router))
        .await
        .expect("gRPC");
    let reply = generic
        .route(ndarray(&[&[1.0]]))
        .await
        .expect("route")
        .into_inner();
    assert_eq!(reply_numbers(&reply).0, vec![1.0]);
    let refused = grpc_router
        .route(ndarray(&[&[-1.0]]))
        .await
        .expect_err("not an int");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    // COMBINER and TRANSFORMER over gRPC.
    let combiner = start(&case("Combiner"), &env, &venv).await;
    let reply = pb::combiner_client::CombinerClient::connect(channel(&combiner))
        .await
        .expect("gRPC")
        .aggregate(pb::SeldonMessageList {
            seldon_messages: vec![
                tensor_message(&[1, 2], &[1.0, 2.0]),
                tensor_message(&[1, 2], &[2.0, 3.0]),
            ],
        })
        .await
        .expect("aggregate")
        .into_inner();
    assert_eq!(
        reply_numbers(&reply),
        (vec![1.5, 2.5], vec!["t:0".into(), "t:1".into()])
    );
    let transformer = start(&case("Transformer"), &env, &venv).await;
    let reply = pb::transformer_client::TransformerClient::connect(channel(&transformer))
        .await
        .expect("gRPC")
        .transform_input(ndarray(&[&[10.0, 20.0]]))
        .await
        .expect("transform")
        .into_inner();
    assert_eq!(reply_numbers(&reply).0, vec![1.0, 2.0]);
    let reply =
        pb::output_transformer_client::OutputTransformerClient::connect(channel(&transformer))
            .await
            .expect("gRPC")
            .transform_output(tensor_message(&[1, 2], &[0.123, 0.456]))
            .await
            .expect("transform")
            .into_inner();
    assert_eq!(reply_numbers(&reply).0, vec![0.1, 0.5]);
}

/// The wrapper's defaults where they differ from the runtime's (gRPC 5000, metrics at `/metrics`), the positional
/// interface name, `--reuse-port` onto the runtime's configuration, and `SELDON_LOG_LEVEL`'s names mapped onto
/// log filters.
#[test]
fn command_line_defaults_are_the_wrappers() {
    use oxserve_python_server::cli::PythonArgs;
    let parse = |args: &[&str]| {
        oxserve_runtime::parse_config::<PythonArgs>(&oxserve_python_server::SERVER, args)
            .expect("parses")
    };
    let (config, args) = parse(&["oxserve-microservice", "Model"]);
    if std::env::var_os("PREDICTIVE_UNIT_GRPC_SERVICE_PORT").is_none() {
        assert_eq!(config.effective_grpc_port(), 5000);
    }
    if std::env::var_os("PREDICTIVE_UNIT_METRICS_ENDPOINT").is_none() {
        assert_eq!(config.effective_metrics_endpoint(), "/metrics");
    }
    assert_eq!(args.interface_name, "Model");
    assert!(!config.reuse_port);
    let (config, args) = parse(&[
        "oxserve-microservice",
        "--service-type",
        "ROUTER",
        "pkg.Router",
        "--grpc-port",
        "7000",
        "--reuse-port",
        "--workers",
        "4",
        "--log-level",
        "WARNING",
    ]);
    assert_eq!(config.effective_grpc_port(), 7000);
    assert!(config.reuse_port);
    assert_eq!(args.interface_name, "pkg.Router");
    assert_eq!(
        args.service_type,
        oxserve_runtime::component::ServiceType::Router
    );
    if std::env::var_os("SELDON_LOG_LEVEL").is_none() {
        assert_eq!(args.tracing_filter(), "warn");
    }
    assert!(
        oxserve_runtime::parse_config::<PythonArgs>(
            &oxserve_python_server::SERVER,
            ["oxserve-microservice"]
        )
        .is_err(),
        "the interface name is required"
    );
}
