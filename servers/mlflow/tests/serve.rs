//! mlflow-server on every fixture of `crates/mlflow/fixtures` (written by the real `mlflow` package): the
//! numbers `mlflow.pyfunc.load_model(...).predict(...)` returns, over MLflow's `/invocations` (each body built by
//! mlflow's helpers, compared with what mlflow's own scoring server answered), Seldon v1 and V2 (plain tensor
//! and one input per column); bad bodies answered 400 in each protocol's shape; a custom model refused.
//!
//! The ONNX case needs ONNX Runtime (`scripts/fetch-onnxruntime.sh`); without it that case is skipped.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use oxserve_tests::{ServerProcess, repo_root};
use serde_json::{Value, json};

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mlflow-server"))
}

fn cases() -> PathBuf {
    repo_root().join("crates/mlflow/fixtures/cases")
}

fn expected(case: &str) -> Value {
    serde_json::from_slice(&std::fs::read(cases().join(format!("{case}.expected.json"))).unwrap())
        .unwrap()
}

fn ort() -> Option<String> {
    let lib = repo_root().join(".onnxruntime/libonnxruntime.so.1.31.1");
    lib.is_file().then(|| lib.display().to_string())
}

/// The cases served (every folder with an expected answer, the refused ones aside).
fn served_cases() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cases())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| expected(n).get("predict").is_some() && expected(n)["transformers"] != true)
        .collect();
    names.sort();
    names
}

fn is_skops(case: &str) -> bool {
    std::fs::read_to_string(cases().join(case).join("MLmodel"))
        .unwrap()
        .contains("serialization_format: skops")
}

fn start(case: &str) -> Option<ServerProcess> {
    let lib = ort();
    if case.starts_with("onnx") && lib.is_none() {
        eprintln!("skipped {case}: no ONNX Runtime library (run scripts/fetch-onnxruntime.sh)");
        return None;
    }
    let mut env = vec![("PREDICTIVE_UNIT_ID", "mlflow")];
    if let Some(lib) = &lib {
        env.push(("ORT_DYLIB_PATH", lib.as_str()));
    }
    Some(ServerProcess::start_with_model(&binary(), &cases().join(case), &env).unwrap())
}

/// A V2 inference: its status and every output's `data`, in order.
async fn v2_infer(server: &ServerProcess, body: &Value) -> (u16, Value, Value) {
    let (status, reply) = post(
        server,
        "/v2/models/mlflow/infer",
        "application/json",
        body.to_string(),
    )
    .await;
    let data = reply["outputs"]
        .as_array()
        .map(|outs| Value::Array(outs.iter().map(|o| o["data"].clone()).collect()))
        .unwrap_or(Value::Null);
    (status, reply, data)
}

fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(numbers).collect(),
        Value::Object(map) => map.values().flat_map(numbers).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::Bool(b) => vec![f64::from(u8::from(*b))],
        other => panic!("not a number: {other}"),
    }
}

/// The leaves of a JSON answer, in order: numbers, or strings (class labels).
fn leaves(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.iter().flat_map(leaves).collect(),
        Value::Object(map) => map.values().flat_map(leaves).collect(),
        Value::Bool(b) => vec![json!(f64::from(u8::from(*b)))],
        other => vec![other.clone()],
    }
}

fn assert_close(case: &str, what: &str, got: &Value, want: &Value) {
    let (g, w) = (leaves(got), leaves(want));
    assert_eq!(g.len(), w.len(), "{case} {what}: {got} vs {want}");
    // ONNX answers float32, and pandas wrote pyfunc's DataFrame with 10 significant digits.
    let rtol = if case.starts_with("onnx") { 1e-6 } else { 1e-9 };
    for (a, b) in g.iter().zip(&w) {
        match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => assert!(
                (a - b).abs() <= rtol * b.abs().max(1.0),
                "{case} {what}: {got} vs {want}"
            ),
            _ => assert_eq!(a, b, "{case} {what}: {got} vs {want}"),
        }
    }
}

fn is_table(case: &str) -> bool {
    expected(case)["table"] == json!(true)
}

async fn post(
    server: &ServerProcess,
    path: &str,
    content_type: &str,
    body: String,
) -> (u16, Value) {
    let reply = oxserve_tests::http_client()
        .post(server.url(path))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

/// POSTs a JSON body.
#[cfg(feature = "transformers")]
async fn post_json(server: &ServerProcess, path: &str, body: &Value) -> (u16, Value) {
    post(server, path, "application/json", body.to_string()).await
}

/// Sends one recorded `/invocations` body (`content_type`, `body`) as mlflow's helpers built it.
async fn replay(server: &ServerProcess, inv: &Value) -> (u16, Value) {
    post(
        server,
        "/invocations",
        inv["content_type"].as_str().unwrap(),
        inv["body"].as_str().unwrap().to_owned(),
    )
    .await
}

/// Every `/invocations` body mlflow's scoring server answered: the same status and numbers. Deliberate
/// differences: a matrix under `inputs` / records under `instances` that pyfunc refuses for a column signature
/// (or ONNX) are served positionally here, with `predict`'s numbers; a CSV row shorter than the header is
/// refused (pandas pads it with NaN); without a signature the columns are taken as sent (scikit-learn's own
/// check of `feature_names_in_` is not made).
#[tokio::test]
async fn invocations_answer_as_mlflow_scoring_server() {
    for case in served_cases() {
        let Some(server) = start(&case) else { continue };
        let exp = expected(&case);
        let has_signature = std::fs::read_to_string(cases().join(&case).join("MLmodel"))
            .unwrap()
            .contains("signature:");
        for inv in exp["invocations"].as_array().unwrap() {
            let kind = inv["kind"].as_str().unwrap();
            let (status, answer) = replay(&server, inv).await;
            let theirs = inv["status"].as_u64().unwrap();
            match (kind, theirs) {
                ("ragged_csv", _) => assert_eq!(status, 400, "{case} {kind}: {answer}"),
                // Leaf indices and SHAP contributions (mlflow.xgboost's `pred_leaf`, `pred_contribs`): refused.
                (k, _) if k.starts_with("params_unsupported_") => {
                    assert_eq!(status, 400, "{case} {kind}: {answer}");
                    assert!(
                        answer["message"]
                            .as_str()
                            .unwrap()
                            .contains("oxserve does not compute it"),
                        "{case} {kind}: {answer}"
                    );
                }
                // The scoring server casts a JSON column to the signature's type before pyfunc checks it
                // (`astype`: 5.5 → 5 for a long, any string → True for a boolean); oxserve refuses what pyfunc's
                // own check refuses.
                ("long_as_float" | "bool_as_string", 200) => {
                    assert_eq!(status, 400, "{case} {kind}: {answer}");
                    assert!(
                        answer["message"]
                            .as_str()
                            .unwrap()
                            .starts_with("Incompatible input types for column"),
                        "{case} {kind}: {answer}"
                    );
                }
                (_, 200) => {
                    assert_eq!(status, 200, "{case} {kind}: {answer}");
                    assert_close(
                        &case,
                        kind,
                        &answer["predictions"],
                        &inv["answer"]["predictions"],
                    );
                }
                ("missing_column", _) if !has_signature => {
                    assert_eq!(status, 200, "{case} {kind}: {answer}")
                }
                ("inputs" | "instances", _) => {
                    assert_eq!(status, 200, "{case} {kind}: {answer}");
                    assert_close(&case, kind, &answer["predictions"], &exp["predict"]);
                }
                _ => {
                    assert_eq!(status, 400, "{case} {kind}: {answer}");
                    assert_eq!(
                        answer["error_code"], "BAD_REQUEST",
                        "{case} {kind}: {answer}"
                    );
                    assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
                }
            }
        }
        // MLflow's wording for the schema failures it shares with us.
        if exp["columns"].is_array() && exp["invocations"].as_array().unwrap().len() > 6 {
            let cols = exp["columns"].as_array().unwrap();
            let first = cols[0].as_str().unwrap();
            let mut renamed = cols.clone();
            renamed[0] = json!("nope");
            let body = json!({"dataframe_split": {"columns": renamed, "data": [exp["rows"][0]]}});
            let (status, answer) = post(
                &server,
                "/invocations",
                "application/json",
                body.to_string(),
            )
            .await;
            if std::fs::read_to_string(cases().join(&case).join("MLmodel"))
                .unwrap()
                .contains("\"name\"")
            {
                assert_eq!(status, 400);
                assert_eq!(
                    answer["message"],
                    format!(
                        "Model is missing inputs ['{first}']. Note that there were extra inputs: ['nope']."
                    )
                );
            }
        }
        let (status, _) = get(&server, "/ping").await;
        assert_eq!(status, 200);
        let (status, _) = get(&server, "/health").await;
        assert_eq!(status, 200);
        server.terminate().unwrap();
    }
}

async fn get(server: &ServerProcess, path: &str) -> (u16, String) {
    let reply = oxserve_tests::http_client()
        .get(server.url(path))
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.text().await.unwrap())
}

/// pyfunc's numbers over Seldon v1 (`ndarray` with `names`), V2 (one FP64 tensor; one input per column) and
/// KServe V1 (an object per instance).
#[tokio::test]
async fn seldon_and_v2_answer_pyfunc_predict() {
    for case in served_cases().into_iter().filter(|c| !is_table(c)) {
        let Some(server) = start(&case) else { continue };
        let exp = expected(&case);
        let rows = &exp["rows"];
        let n = rows.as_array().unwrap().len();
        let cols = rows[0].as_array().unwrap().len();
        let flat = numbers(rows);
        let mut seldon = json!({"data": {"ndarray": rows}});
        if exp["columns"].is_array() {
            seldon["data"]["names"] = exp["columns"].clone();
        }
        let (status, reply) = post(
            &server,
            "/api/v1.0/predictions",
            "application/json",
            seldon.to_string(),
        )
        .await;
        assert_eq!(status, 200, "{case} seldon: {reply}");
        assert_close(&case, "seldon", &reply["data"]["ndarray"], &exp["predict"]);

        let v2 = json!({"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [n, cols], "data": flat}]});
        let (status, reply, data) = v2_infer(&server, &v2).await;
        assert_eq!(status, 200, "{case} v2: {reply}");
        assert_close(&case, "v2", &data, &exp["predict"]);

        // Columns by name: sent in reverse order where a signature names them (without one, as sent).
        let signed = std::fs::read_to_string(cases().join(&case).join("MLmodel"))
            .unwrap()
            .contains("\"name\"");
        if let Some(names) = exp["columns"].as_array() {
            let mut inputs: Vec<Value> = names
                .iter()
                .enumerate()
                .map(|(j, name)| {
                    let column: Vec<Value> = rows
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r[j].clone())
                        .collect();
                    json!({"name": name, "datatype": "FP64", "shape": [n], "data": column})
                })
                .collect();
            if signed {
                inputs.reverse();
            }
            let v2 = json!({"inputs": inputs, "parameters": {"content_type": "pd"}});
            let (status, reply, data) = v2_infer(&server, &v2).await;
            assert_eq!(status, 200, "{case} v2 columns: {reply}");
            assert_close(&case, "v2 columns", &data, &exp["predict"]);
        }
        // KServe V1: one object per instance, named as the signature names the columns.
        if signed {
            let names = exp["columns"].as_array().unwrap();
            let instances: Vec<Value> = rows
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    Value::Object(
                        names
                            .iter()
                            .zip(r.as_array().unwrap())
                            .map(|(n, v)| (n.as_str().unwrap().to_owned(), v.clone()))
                            .collect(),
                    )
                })
                .collect();
            let v1 = json!({ "instances": instances });
            let (status, reply) = post(
                &server,
                "/v1/models/mlflow:predict",
                "application/json",
                v1.to_string(),
            )
            .await;
            assert_eq!(status, 200, "{case} kserve v1: {reply}");
            assert_close(&case, "kserve v1", &reply["predictions"], &exp["predict"]);
        }
        // A wrong column count is the client's fault in every protocol.
        let bad = json!({"data": {"ndarray": [[1.0, 2.0]]}});
        let (status, reply) = post(
            &server,
            "/api/v1.0/predictions",
            "application/json",
            bad.to_string(),
        )
        .await;
        assert_eq!(status, 400, "{case} seldon bad: {reply}");
        let bad = json!({"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 2], "data": [1.0, 2.0]}]});
        let (status, reply, _) = v2_infer(&server, &bad).await;
        assert_eq!(status, 400, "{case} v2 bad: {reply}");
        assert!(reply["error"].is_string(), "{case} v2 bad: {reply}");
        server.terminate().unwrap();
    }
}

/// pyfunc's `params` in a V2 request's `parameters` (as MLServer's MLflow runtime passes them, `content_type`
/// aside), for both transports' shared path: mlflow.xgboost's keywords applied as the `/invocations` bodies of the
/// same case were answered by mlflow's scoring server; MLflow's params errors as V2 errors.
#[tokio::test]
async fn v2_parameters_are_pyfunc_params() {
    for case in [
        "xgboost_booster_params",
        "xgboost_classifier_params",
        "sklearn_table",
    ] {
        let Some(server) = start(case) else { continue };
        let exp = expected(case);
        let rows = exp["rows"].as_array().unwrap();
        let names = exp["columns"].as_array().unwrap();
        let inputs: Vec<Value> = names
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let column: Vec<Value> = rows.iter().map(|r| r[j].clone()).collect();
                let datatype = match &column[0] {
                    Value::String(_) => "BYTES",
                    Value::Bool(_) => "BOOL",
                    Value::Number(n) if n.is_i64() => "INT64",
                    _ => "FP64",
                };
                json!({"name": name, "datatype": datatype, "shape": [rows.len()], "data": column})
            })
            .collect();
        for inv in exp["invocations"].as_array().unwrap() {
            let kind = inv["kind"].as_str().unwrap();
            if !kind.starts_with("params_") {
                continue;
            }
            let body: Value = serde_json::from_str(inv["body"].as_str().unwrap()).unwrap();
            let mut parameters = body["params"].as_object().unwrap().clone();
            parameters.insert("content_type".into(), json!("pd"));
            let v2 = json!({"inputs": inputs, "parameters": parameters});
            let (status, reply, data) = v2_infer(&server, &v2).await;
            if inv["status"] == 200 && !kind.starts_with("params_unsupported_") {
                assert_eq!(status, 200, "{case} {kind}: {reply}");
                assert_close(case, kind, &data, &inv["answer"]["predictions"]);
            } else {
                assert_eq!(status, 400, "{case} {kind}: {reply}");
                let theirs = inv["answer"]["message"].as_str().unwrap_or_default();
                let ours = reply["error"].as_str().unwrap();
                if ours.starts_with("Invalid parameters found") {
                    assert!(theirs.ends_with(ours), "{case} {kind}: {ours} vs {theirs}");
                }
            }
        }
        server.terminate().unwrap();
    }
}

fn start_fails(dir: &Path) -> String {
    let params =
        json!([{"name": "model_uri", "value": dir.display().to_string(), "type": "STRING"}])
            .to_string();
    let out = std::process::Command::new(binary())
        .env("PREDICTIVE_UNIT_PARAMETERS", params)
        .env("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "0")
        .env("OXSERVE_HOST", "127.0.0.1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// MLflow 3's default format for scikit-learn (and LightGBM's wrappers) is among the served fixtures.
#[test]
fn skops_fixtures_are_served() {
    let skops: Vec<String> = served_cases().into_iter().filter(|c| is_skops(c)).collect();
    assert!(skops.len() >= 3, "{skops:?}");
}

/// A custom `PythonModel` is refused at start-up, saying why and what to do.
#[test]
fn custom_pyfunc_is_refused_with_what_to_do() {
    let err = start_fails(&cases().join("custom_pyfunc"));
    assert!(err.contains("custom `python_function` model"), "{err}");
    assert!(err.contains("mlflow.pyfunc.model"), "{err}");
    assert!(err.contains("export it to ONNX"), "{err}");
}

/// The transformers flavour's text-classification pipeline on candle: every `/invocations` body mlflow's scoring
/// server answered (strings as `inputs`, `instances`, a DataFrame, CSV), with pyfunc's DataFrame as records
/// (`label`, `score`: float32 scores, as candle and PyTorch compute them); V2 with one BYTES input answers the
/// same columns. Without a params schema, params are ignored as MLflow ignores them.
#[cfg(feature = "transformers")]
#[tokio::test]
async fn transformers_text_classification_answers_pyfunc_records() {
    let case = "transformers_text_classification";
    let server = start(case).unwrap();
    let exp = expected(case);
    let close = |what: &str, got: &Value, want: &Value| {
        let (g, w) = (got.as_array().unwrap(), want.as_array().unwrap());
        assert_eq!(g.len(), w.len(), "{what}: {got} vs {want}");
        for (a, b) in g.iter().zip(w) {
            assert_eq!(a["label"], b["label"], "{what}: {got} vs {want}");
            let (x, y) = (a["score"].as_f64().unwrap(), b["score"].as_f64().unwrap());
            assert!((x - y).abs() <= 1e-6, "{what}: {got} vs {want}");
        }
    };
    for inv in exp["invocations"].as_array().unwrap() {
        let kind = inv["kind"].as_str().unwrap();
        let (status, answer) = replay(&server, inv).await;
        assert_eq!(status, 200, "{kind}: {answer}");
        close(kind, &answer["predictions"], &inv["answer"]["predictions"]);
    }
    let texts: Vec<Value> = exp["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].clone())
        .collect();
    let v2 = json!({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [texts.len()], "data": texts}]});
    let (status, reply, _) = v2_infer(&server, &v2).await;
    assert_eq!(status, 200, "v2: {reply}");
    let outputs = reply["outputs"].as_array().unwrap();
    let column = |name: &str| {
        outputs
            .iter()
            .find(|o| o["name"] == name)
            .map(|o| o["data"].as_array().unwrap().clone())
            .unwrap()
    };
    let records: Vec<Value> = column("label")
        .into_iter()
        .zip(column("score"))
        .map(|(label, score)| json!({"label": label, "score": score}))
        .collect();
    close("v2", &Value::Array(records), &exp["predict"]);
    server.terminate().unwrap();
}

/// `mlflow-server`'s own build (the static image) leaves candle out: the transformers flavour is refused with
/// where it is served.
#[cfg(not(feature = "transformers"))]
#[test]
fn transformers_flavour_names_the_binary_that_serves_it() {
    let err = start_fails(&cases().join("transformers_text_classification"));
    assert!(
        err.contains("the transformers flavour (text-classification) runs on the candle engine"),
        "{err}"
    );
    assert!(err.contains("`oxserve` binary"), "{err}");
}

/// Without candle the feature-extraction pipeline is refused as the text-classification one is, naming the
/// binary that serves it.
#[cfg(not(feature = "transformers"))]
#[test]
fn transformers_feature_extraction_names_the_binary_that_serves_it() {
    let err = start_fails(&cases().join("transformers_feature_extraction"));
    assert!(
        err.contains("the transformers flavour (feature-extraction) runs on the candle engine"),
        "{err}"
    );
    assert!(err.contains("`oxserve` binary"), "{err}");
}

/// Two nested arrays of the same shape whose numbers agree within float32 vs PyTorch rounding.
#[cfg(feature = "transformers")]
fn assert_states_close(what: &str, got: &Value, want: &Value) {
    fn shape(v: &Value) -> Vec<usize> {
        match v {
            Value::Array(items) => {
                let mut s = vec![items.len()];
                s.extend(items.first().map(shape).unwrap_or_default());
                s
            }
            _ => vec![],
        }
    }
    assert_eq!(shape(got), shape(want), "{what}: shape");
    let (g, w) = (numbers(got), numbers(want));
    assert!(!w.is_empty(), "{what}: nothing to compare");
    let worst = g
        .iter()
        .zip(&w)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    // Hidden states are LayerNorm outputs of order 1: float32 on candle and on PyTorch differ by ~1e-6.
    assert!(worst <= 1e-5, "{what}: differs by {worst}");
}

/// The transformers flavour's feature-extraction pipeline on candle answers what its pyfunc answers: the FIRST
/// text's per-token last hidden states (float64 `[tokens, hidden]`), for every `/invocations` body mlflow's
/// scoring server answered (a list, one string, a DataFrame, CSV; params ignored without a params schema), over
/// Seldon v1 (`ndarray` with `names`, and a bare row) and V2 (one BYTES input, FP64 `[tokens, hidden]`); numbers
/// for the string column are read as strings, as mlflow's scoring server casts them; what pyfunc fails on (a
/// text past the model's positions) is a 400.
#[cfg(feature = "transformers")]
#[tokio::test]
async fn transformers_feature_extraction_answers_the_first_texts_token_states() {
    let case = "transformers_feature_extraction";
    let server = start(case).unwrap();
    let exp = expected(case);
    assert_eq!(exp["predict_dtype"], "float64");
    for inv in exp["invocations"].as_array().unwrap() {
        let kind = inv["kind"].as_str().unwrap();
        let (status, answer) = replay(&server, inv).await;
        if inv["status"] == 200 {
            assert_eq!(status, 200, "{kind}: {answer}");
            assert_states_close(kind, &answer["predictions"], &inv["answer"]["predictions"]);
        } else {
            assert_eq!(status, 400, "{kind}: {answer} (mlflow: {})", inv["answer"]);
            assert_eq!(answer["error_code"], "BAD_REQUEST", "{kind}: {answer}");
        }
    }
    let texts: Vec<Value> = exp["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].clone())
        .collect();
    // Seldon v1: the reply carries pyfunc's array.
    let rows: Vec<Value> = texts.iter().map(|t| json!([t])).collect();
    for (what, body) in [
        (
            "seldon names",
            json!({"data": {"names": ["text"], "ndarray": rows}}),
        ),
        ("seldon rows", json!({"data": {"ndarray": rows}})),
    ] {
        let (status, reply) = post_json(&server, "/api/v1.0/predictions", &body).await;
        assert_eq!(status, 200, "{what}: {reply}");
        assert_states_close(what, &reply["data"]["ndarray"], &exp["predict"]);
    }
    let one = json!({"data": {"ndarray": [[exp["predict_single"]["input"]]]}});
    let (status, reply) = post_json(&server, "/api/v1.0/predictions", &one).await;
    assert_eq!(status, 200, "seldon one text: {reply}");
    assert_states_close(
        "seldon one text",
        &reply["data"]["ndarray"],
        &exp["predict_single"]["output"],
    );
    // V2: one BYTES input; the answer FP64 [tokens, hidden], flat.
    let want = &exp["predict"];
    let tokens = want.as_array().unwrap().len();
    let hidden = want[0].as_array().unwrap().len();
    for (what, shape) in [
        ("v2", json!([texts.len()])),
        ("v2 [N, 1]", json!([texts.len(), 1])),
    ] {
        let v2 = json!({"inputs": [{"name": "text", "datatype": "BYTES", "shape": shape, "data": texts}]});
        let (status, reply, _) = v2_infer(&server, &v2).await;
        assert_eq!(status, 200, "{what}: {reply}");
        let out = &reply["outputs"][0];
        assert_eq!(out["datatype"], "FP64", "{what}: {reply}");
        assert_eq!(out["shape"], json!([tokens, hidden]), "{what}: {reply}");
        let rows: Vec<Value> = out["data"]
            .as_array()
            .unwrap()
            .chunks(hidden)
            .map(|c| Value::Array(c.to_vec()))
            .collect();
        assert_states_close(what, &Value::Array(rows), want);
    }
    let reversed: Vec<Value> = texts.iter().rev().cloned().collect();
    let v2 = json!({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [texts.len()], "data": reversed}]});
    let (status, reply, _) = v2_infer(&server, &v2).await;
    assert_eq!(status, 200, "v2 reversed: {reply}");
    let want = &exp["predict_frame_reversed"];
    let width = want[0].as_array().unwrap().len();
    let rows: Vec<Value> = reply["outputs"][0]["data"]
        .as_array()
        .unwrap()
        .chunks(width)
        .map(|c| Value::Array(c.to_vec()))
        .collect();
    assert_states_close("v2 reversed", &Value::Array(rows), want);
    server.terminate().unwrap();
}

/// A hostile MLmodel cannot point the server outside its folder, and a folder without MLmodel says so.
#[test]
fn hostile_or_missing_mlmodel_is_refused() {
    let dir = oxserve_tests::TempDir::new("mlflow-hostile").unwrap();
    std::fs::write(
        dir.0.join("MLmodel"),
        "flavors:\n  sklearn:\n    pickled_model: ../../etc/passwd\n    serialization_format: pickle\n",
    )
    .unwrap();
    let err = start_fails(&dir.0);
    assert!(
        err.contains("relative path inside the model folder"),
        "{err}"
    );
    std::fs::write(
        dir.0.join("MLmodel"),
        "flavors:\n  keras:\n    data: model.keras\n",
    )
    .unwrap();
    let err = start_fails(&dir.0);
    assert!(
        err.contains("no flavour this server serves") && err.contains("keras"),
        "{err}"
    );
    std::fs::remove_file(dir.0.join("MLmodel")).unwrap();
    let err = start_fails(&dir.0);
    assert!(err.contains("no MLmodel file"), "{err}");
}

/// A body over `OXSERVE_MAX_BODY_BYTES` is refused with 413 in MLflow's error shape, naming the limit; the
/// server answers the next request.
#[tokio::test]
async fn an_invocation_over_the_body_limit_is_refused_in_mlflows_shape() {
    let env = [
        ("PREDICTIVE_UNIT_ID", "mlflow"),
        ("OXSERVE_MAX_BODY_BYTES", "2048"),
    ];
    let server =
        ServerProcess::start_with_model(&binary(), &cases().join("sklearn_default"), &env).unwrap();
    let padding = "0".repeat(4096);
    let body = format!(r#"{{"inputs": [[1, 2, 3, 4]], "padding": "{padding}"}}"#);
    let (status, reply) = post(&server, "/invocations", "application/json", body).await;
    assert_eq!(status, 413, "{reply}");
    assert_eq!(reply["error_code"], "BAD_REQUEST", "{reply}");
    assert!(
        reply["message"].as_str().unwrap().contains("2048"),
        "{reply}"
    );
    let (status, _) = replay(&server, &expected("sklearn_default")["invocations"][0]).await;
    assert_eq!(status, 200);
    server.terminate().unwrap();
}

/// `--models-dir` beside its own model: a second MLflow folder (MLServer's `implementation`) loads by name over
/// the repository REST API and answers V2 by that name, one input per signature column.
#[tokio::test]
async fn a_second_model_loads_by_name_over_the_repository_api() {
    let exp = expected("sklearn_default");
    let inputs: Vec<Value> = exp["columns"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, column)| {
            json!({"name": column, "shape": [1], "datatype": "FP64", "data": [exp["rows"][0][i]]})
        })
        .collect();
    let reply = oxserve_tests::second_model_over_repository(
        &binary(),
        &cases().join("sklearn_default"),
        &cases().join("sklearn_pickle"),
        "mlflow-2",
        Some(json!({"name": "mlflow-2", "implementation": "mlserver_mlflow.MLflowRuntime"})),
        &[("PREDICTIVE_UNIT_ID", "mlflow")],
        &json!({"inputs": inputs}),
    )
    .await
    .unwrap();
    assert_eq!(reply["model_name"], "mlflow-2", "{reply}");
    assert_eq!(reply["outputs"][0]["name"], "predictions", "{reply}");
}

/// A Pipeline(ColumnTransformer, LogisticRegression) on named string, integer, float and boolean columns
/// (`sklearn_table`): pyfunc's labels over Seldon v1 (mixed `ndarray` rows with `names`, in any column order, or
/// without names in the signature's order) and V2 (MLServer's pandas codec: one input per column, strings as
/// BYTES), the output named as the output signature names it (`label`); the metadata typed by the signature;
/// `params` checked as pyfunc checks them, in MLflow's words.
#[tokio::test]
async fn table_model_serves_pyfunc_labels_over_seldon_and_v2() {
    let case = "sklearn_table";
    let server = start(case).unwrap();
    let exp = expected(case);
    let rows = exp["rows"].as_array().unwrap().clone();
    let names: Vec<String> = exp["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    let want = &exp["predict"];

    // Seldon v1: mixed rows named; the same columns reversed are reordered into the signature's; without names,
    // by position in the signature's order.
    let reversed_rows: Vec<Value> = rows
        .iter()
        .map(|r| Value::Array(r.as_array().unwrap().iter().rev().cloned().collect()))
        .collect();
    let reversed_names: Vec<&String> = names.iter().rev().collect();
    for seldon in [
        json!({"data": {"names": names, "ndarray": rows}}),
        json!({"data": {"names": reversed_names, "ndarray": reversed_rows}}),
        json!({"data": {"ndarray": rows}}),
    ] {
        let (status, reply) = post(
            &server,
            "/api/v1.0/predictions",
            "application/json",
            seldon.to_string(),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(&reply["data"]["ndarray"], want, "{seldon} → {reply}");
    }
    // Strings where the signature says double: MLflow's wording.
    let mut bad = rows.clone();
    for row in &mut bad {
        row[0] = json!("old");
    }
    let seldon = json!({"data": {"names": names, "ndarray": bad}});
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        "application/json",
        seldon.to_string(),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["status"]["info"]
            .as_str()
            .unwrap()
            .contains("Failed to convert column age to type 'float64'"),
        "{reply}"
    );

    // V2 with MLServer's pandas codec: one input per column, typed; the output named `label`.
    let column = |j: usize| -> Vec<Value> { rows.iter().map(|r| r[j].clone()).collect() };
    let datatypes = ["FP64", "INT64", "BYTES", "BYTES", "BOOL"];
    let inputs: Vec<Value> = names
        .iter()
        .zip(datatypes)
        .enumerate()
        .map(|(j, (name, dt))| {
            json!({"name": name, "datatype": dt, "shape": [rows.len(), 1], "data": column(j),
                   "parameters": {"content_type": if dt == "BYTES" { "str" } else { "np" }}})
        })
        .rev()
        .collect();
    let v2 = json!({"inputs": inputs, "parameters": {"content_type": "pd"}});
    let (status, reply, data) = v2_infer(&server, &v2).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["outputs"][0]["name"], exp["signature_output"],
        "{reply}"
    );
    assert_eq!(reply["outputs"][0]["datatype"], "BYTES", "{reply}");
    assert_eq!(&data[0], want, "{reply}");

    let (status, meta) = get(&server, "/v2/models/mlflow").await;
    assert_eq!(status, 200);
    let meta: Value = serde_json::from_str(&meta).unwrap();
    let typed: Vec<(&str, &str)> = meta["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap(), i["datatype"].as_str().unwrap()))
        .collect();
    assert_eq!(
        typed,
        [
            ("age", "FP64"),
            ("visits", "INT64"),
            ("color", "BYTES"),
            ("city", "BYTES"),
            ("member", "BOOL")
        ]
    );
    assert_eq!(meta["outputs"][0]["name"], "label", "{meta}");

    // params: MLflow's message for a wrong type or shape is the end of ours... and ours the end of MLflow's
    // (which also prints the DataFrame).
    for inv in exp["invocations"].as_array().unwrap() {
        let kind = inv["kind"].as_str().unwrap();
        if !kind.starts_with("params_") {
            continue;
        }
        let (status, answer) = post(
            &server,
            "/invocations",
            "application/json",
            inv["body"].as_str().unwrap().to_owned(),
        )
        .await;
        assert_eq!(
            u64::from(status),
            inv["status"].as_u64().unwrap(),
            "{kind}: {answer}"
        );
        if status != 200 {
            let theirs = inv["answer"]["message"].as_str().unwrap_or_default();
            let ours = answer["message"].as_str().unwrap();
            assert!(theirs.ends_with(ours), "{kind}: {ours} vs {theirs}");
            assert!(
                ours.starts_with("Invalid parameters found: {("),
                "{kind}: {ours}"
            );
        }
    }
    server.terminate().unwrap();
}
