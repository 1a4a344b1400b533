//! Issue #12 against the real `sklearn-server` binary:
//! - model files that crashed, hung or grew without limit at load, or broke every request after loading (made by
//!   `crates/sklearn/fixtures/gen_hostile.py`): the server exits at start-up with a message naming the attribute;
//! - zero-width batches with a huge row count (`[10^12, 0]`, zero bytes of data): a clean 400 from every family
//!   tried, and the server keeps answering;
//! - XGBoost / LightGBM scikit-learn wrappers whose pickled booster is corrupt: refused at start-up the same way;
//! - malicious pickles from `crates/sklearn/fixtures/hostile/malicious/` (issue #16; every one of them is checked
//!   in-process by `crates/sklearn/tests/malicious_proven.rs`), one of each shape: the server exits at start-up naming the
//!   global and the payload's marker never appears;
//! - a transformer-only model (a bare scaler, a pipeline ending in a transformer): its metadata lists only the
//!   methods it answers (`transform` first, never `predict`), and Seldon and V2 requests that name no output get
//!   `transform`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxserve_tests::{ServerProcess, repo_root};
use serde_json::{Value, json};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sklearn-server"))
}

fn fixtures() -> PathBuf {
    repo_root().join("crates/sklearn/fixtures")
}

fn params(model: &Path) -> String {
    Value::Array(vec![
        json!({"name": "model_uri", "value": model.display().to_string(), "type": "STRING"}),
    ])
    .to_string()
}

fn start(model: &Path) -> ServerProcess {
    let params = params(model);
    ServerProcess::start(
        binary(),
        &[
            ("PREDICTIVE_UNIT_PARAMETERS", params.as_str()),
            ("PREDICTIVE_UNIT_ID", "classifier"),
        ],
    )
    .unwrap()
}

/// Starts the server on `model` and waits (at most 60 s: a load that hangs fails here) for it to exit; returns
/// (exited with success, stderr).
fn run_to_exit(model: &Path) -> (bool, String) {
    let mut child = Command::new(binary())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PREDICTIVE_UNIT_PARAMETERS", params(model))
        .env("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "0")
        .env("OXSERVE_HOST", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} did not exit within 60 s of start-up", model.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    (status.success(), stderr)
}

#[test]
fn hostile_model_files_are_refused_at_startup_naming_the_attribute() {
    let cases = [
        (
            "tree-nclasses-scalar-zero",
            "`DecisionTreeRegressor`: tree_: n_classes is 0",
        ),
        (
            "linear-coef-huge-zero-size",
            "`LinearRegression`: `coef_` has shape [576460752303423488, 0]",
        ),
        (
            "hgb-n-features-huge",
            "`HistGradientBoostingRegressor`: `n_features_in_` is 1099511627776",
        ),
        (
            "lda-scalings-huge-zero-size",
            "`LinearDiscriminantAnalysis`: `scalings_` has shape [1152921504606846976, 0]",
        ),
        (
            "kmeans-centers-huge-zero-size",
            "`KMeans`: `cluster_centers_` has shape [1099511627776, 0]",
        ),
        ("svc-n-support-wraps", "`SVC`: `_n_support`"),
    ];
    for (name, needle) in cases {
        let model = fixtures().join("hostile").join(name);
        assert!(model.join("model.pkl").is_file(), "{name}: fixture missing");
        let (ok, stderr) = run_to_exit(&model);
        assert!(!ok, "{name}: the server exited successfully");
        assert!(stderr.contains(needle), "{name}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("memory allocation"),
            "{name}: {stderr}"
        );
    }
}

/// XGBoost / LightGBM scikit-learn wrappers whose pickled booster is corrupt (a key of XGBoost's model document or
/// LightGBM's `end of trees` line renamed in place, so the pickle itself stays valid) stop the server at start-up
/// with a message naming the wrapper and the engine's reason.
#[test]
fn corrupt_pickled_boosters_are_refused_at_startup() {
    let cases: [(&str, &[u8], &[u8], &str); 3] = [
        (
            "xgb3-pipeline-clf-cancer",
            b"tree_info",
            b"tree_infX",
            "`XGBClassifier`: the pickled booster: invalid XGBoost model",
        ),
        (
            "xgb17-pipeline-clf-cancer",
            b"split_conditions",
            b"split_conditionX",
            "`XGBClassifier`: the pickled booster: invalid XGBoost model",
        ),
        (
            "lgbm4-pipeline-clf-cancer",
            b"end of trees",
            b"end of treeX",
            "`LGBMClassifier`: the pickled booster: invalid LightGBM model",
        ),
    ];
    for (name, from, to, needle) in cases {
        let good = std::fs::read(fixtures().join("cases").join(name).join("model.pkl")).unwrap();
        let at = good
            .windows(from.len())
            .position(|w| w == from)
            .unwrap_or_else(|| panic!("{name}: no {from:?} in the pickle"));
        let mut bad = good;
        bad[at..at + from.len()].copy_from_slice(to);
        let dir = oxserve_tests::TempDir::new("oxserve-corrupt-booster").unwrap();
        std::fs::write(dir.0.join("model.pkl"), &bad).unwrap();
        let (ok, stderr) = run_to_exit(&dir.0);
        assert!(!ok, "{name}: the server exited successfully");
        assert!(stderr.contains(needle), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

/// One malicious pickle of each shape as the model file (`model.pkl`, or `model.joblib` for joblib's containers):
/// the server exits at start-up with "forbidden global <name>" and CPython's marker for the payload never appears.
#[test]
fn malicious_pickles_stop_the_server_naming_the_global() {
    let cases = [
        ("os-system-p0.pkl", "os.system"),
        ("exec-builtins-p4.pkl", "builtins.exec"),
        ("inst-builtin-exec.pkl", "__builtin__.exec"),
        ("obj-pop-hidden.pkl", "subprocess.check_call"),
        ("frame-shorter-than-body.pkl", "os.system"),
        ("ordereddict-state-dict.pkl", "os.system"),
        (
            "numpy-testing-runstring.pkl",
            "numpy.testing._private.utils.runstring",
        ),
        ("container-xz-os-system.joblib", "os.system"),
        ("carrier-logreg-joblib-z3.joblib", "posix.system"),
    ];
    let source = fixtures().join("hostile/malicious");
    for (file, global) in cases {
        let name = file.split('.').next().unwrap_or(file);
        let marker = PathBuf::from(format!("/tmp/oxserve-marker-{name}~"));
        let _ = std::fs::remove_file(&marker);
        let dir = oxserve_tests::TempDir::new("oxserve-malicious").unwrap();
        let model = if file.ends_with(".joblib") {
            "model.joblib"
        } else {
            "model.pkl"
        };
        std::fs::copy(source.join(file), dir.0.join(model)).unwrap();
        let (ok, stderr) = run_to_exit(&dir.0);
        assert!(!ok, "{file}: the server exited successfully");
        assert!(
            stderr.contains(&format!("forbidden global {global} ")),
            "{file}: {stderr}"
        );
        assert!(!marker.exists(), "{file}: {} appeared", marker.display());
    }
}

/// Sends a request (30 s limit: a hang fails here); returns the status and the JSON body (`null` when none).
async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let reply = request
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

async fn post(server: &ServerProcess, path: &str, body: &Value) -> (u16, Value) {
    send(
        oxserve_tests::http_client()
            .post(server.url(path))
            .header("Content-Type", "application/json")
            .body(body.to_string()),
    )
    .await
}

async fn get(server: &ServerProcess, path: &str) -> (u16, Value) {
    send(oxserve_tests::http_client().get(server.url(path))).await
}

/// One model per family whose engine allocated per row before checking the width, plus Seldon's iris
/// (`OneVsRestClassifier`, where the issue found it).
fn zero_width_models() -> [PathBuf; 6] {
    [
        repo_root().join("examples/iris"),
        fixtures().join("cases/kmeans-wine"),
        fixtures().join("cases/svc-rbf-prob-wine"),
        fixtures().join("cases/hgb-clf-multiclass-wine-strlabels"),
        fixtures().join("cases/pipe-transform-only-wine"),
        fixtures().join("cases/ovo-logreg-iris"),
    ]
}

#[tokio::test]
async fn zero_width_batches_with_huge_row_counts_are_a_clean_400() {
    for model in zero_width_models() {
        let name = model.file_name().unwrap().to_string_lossy().into_owned();
        let mut server = start(&model);
        for rows in [1_000_000_000_000u64, 200_000_000, 2_147_483_647] {
            let seldon = json!({"data": {"tensor": {"shape": [rows, 0], "values": []}}});
            let (status, reply) = post(&server, "/api/v1.0/predictions", &seldon).await;
            assert_eq!(status, 400, "{name} Seldon [{rows}, 0]: {reply}");
            let v2 = json!({"inputs": [
                {"name": "x", "shape": [rows, 0], "datatype": "FP64", "data": []}
            ]});
            let (status, reply) = post(&server, "/v2/models/classifier/infer", &v2).await;
            assert_eq!(status, 400, "{name} V2 [{rows}, 0]: {reply}");
        }
        assert!(server.try_wait().unwrap().is_none(), "{name}: server died");
        let (status, _) = get(&server, "/health/ping").await;
        assert_eq!(
            status, 200,
            "{name}: not answering after the zero-width batches"
        );
    }
}

#[tokio::test]
async fn transformer_only_models_list_and_answer_transform() {
    for case in ["standardscaler-wine", "pipe-transform-only-wine"] {
        let dir = fixtures().join("cases").join(case);
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("case.json"))
                .unwrap()
                .replace("NaN", "null"),
        )
        .unwrap();
        let server = start(&dir);

        let (status, meta) = get(&server, "/v2/models/classifier").await;
        assert_eq!(status, 200, "{case}: {meta}");
        let outputs: Vec<&str> = meta["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect();
        // Exactly the methods scikit-learn answered when the case was made (`transform`, and `score_samples` for
        // a pipeline ending in PCA), the default first.
        let answered: Vec<&str> = want["outputs"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(outputs[0], "transform", "{case}: {meta}");
        let mut sorted = outputs.clone();
        sorted.sort_unstable();
        let mut answered_sorted = answered.clone();
        answered_sorted.sort_unstable();
        assert_eq!(sorted, answered_sorted, "{case}: {meta}");

        let x = &want["X"];
        let (status, reply) = post(
            &server,
            "/api/v1.0/predictions",
            &json!({"data": {"ndarray": x}}),
        )
        .await;
        assert_eq!(status, 200, "{case} Seldon: {reply}");
        assert_eq!(
            reply["data"]["ndarray"].as_array().map(Vec::len),
            want["outputs"]["transform"].as_array().map(Vec::len),
            "{case}: {reply}"
        );
        let first = &reply["data"]["ndarray"][0][0];
        let expected = &want["outputs"]["transform"][0][0];
        assert!(
            (first.as_f64().unwrap() - expected.as_f64().unwrap()).abs() < 1e-9,
            "{case}: {first} vs {expected}"
        );

        let rows = x.as_array().unwrap();
        let cols = rows[0].as_array().unwrap().len();
        let flat: Vec<Value> = rows
            .iter()
            .flat_map(|r| r.as_array().unwrap().clone())
            .collect();
        let v2 = json!({"inputs": [
            {"name": "input-0", "shape": [rows.len(), cols], "datatype": "FP64", "data": flat}
        ]});
        let (status, reply) = post(&server, "/v2/models/classifier/infer", &v2).await;
        assert_eq!(status, 200, "{case} V2: {reply}");
        assert_eq!(reply["outputs"][0]["name"], "transform", "{case}: {reply}");

        // Asked by name, `predict` is refused naming what the model does answer.
        let v2_predict = json!({"inputs": v2["inputs"], "outputs": [{"name": "predict"}]});
        let (status, reply) = post(&server, "/v2/models/classifier/infer", &v2_predict).await;
        assert_eq!(status, 400, "{case}: {reply}");
        assert!(reply.to_string().contains("transform"), "{case}: {reply}");
    }
}

/// What every transport (Seldon and V2 over REST and gRPC, TF Serving) hands the model for a zero-width tensor:
/// refused as bad input, for each of the six families above, whatever the declared row count.
#[test]
fn zero_width_tensors_are_bad_input_at_the_model_whatever_the_transport() {
    use oxserve_core::{Model, ModelError, NamedTensor, PredictRequest, Tensor, TensorData};
    for dir in zero_width_models() {
        let model = oxserve_sklearn_server::SklearnModel::load(&dir, None).unwrap();
        let methods: Vec<String> = model
            .metadata()
            .outputs
            .iter()
            .map(|o| o.name.clone())
            .collect();
        for rows in [1usize, 2_147_483_647, 1 << 40] {
            for output in std::iter::once(None).chain(methods.iter().map(Some)) {
                let request = PredictRequest {
                    inputs: vec![NamedTensor::new(
                        "input-0",
                        Tensor::new(vec![rows, 0], TensorData::F64(Vec::new())).unwrap(),
                    )],
                    outputs: output.into_iter().cloned().collect(),
                };
                match model.predict(request) {
                    Err(ModelError::BadInput(m)) => assert!(m.contains("0 feature(s)"), "{m}"),
                    other => panic!("{} [{rows}, 0] {output:?}: {other:?}", dir.display()),
                }
            }
        }
    }
}

/// Issue #16: the malicious set (`crates/sklearn/fixtures/malicious/`, picklescan / fickling-style payloads that
/// would create `/tmp/oxserve-malicious-<name>` under CPython): the server refuses every one at start-up, naming the
/// forbidden global, and no marker file appears.
#[test]
fn malicious_pickles_are_refused_at_startup_naming_the_global() {
    let dir = fixtures().join("malicious");
    let manifest: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let mut wrong = Vec::new();
    for (file, global) in &manifest {
        let (ok, stderr) = run_to_exit(&dir.join(file));
        let want = format!("forbidden global {}", global.as_str().unwrap());
        if ok || !stderr.contains(&want) {
            wrong.push(format!("{file}: exit ok {ok}, want `{want}` in {stderr}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let markers: Vec<String> = std::fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("oxserve-malicious-"))
        .collect();
    assert!(markers.is_empty(), "marker files appeared: {markers:?}");
}
