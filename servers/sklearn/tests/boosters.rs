//! XGBoost and LightGBM scikit-learn wrappers pickled inside a `Pipeline`, served by the real `sklearn-server` over
//! Seldon v1 and V2 REST: the numbers XGBoost 3.2 / 1.7 / 1.5 and LightGBM 4.7 / 3.3 returned when the cases were made
//! (`crates/sklearn/fixtures/gen_boosters.py`), class labels from `predict`, probabilities from `predict_proba`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use oxserve_tests::{ServerProcess, repo_root};
use serde_json::{Value, json};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sklearn-server"))
}

fn case_dir(name: &str) -> PathBuf {
    repo_root().join("crates/sklearn/fixtures/cases").join(name)
}

/// The case's `case.json`, NaN read as null (how Seldon and V2 JSON carry it).
fn case(name: &str) -> Value {
    let text = std::fs::read_to_string(case_dir(name).join("case.json"))
        .unwrap()
        .replace("NaN", "null");
    serde_json::from_str(&text).unwrap()
}

fn start(name: &str, case: &Value) -> ServerProcess {
    let model = case_dir(name).join(case["artifact"].as_str().unwrap());
    let params = json!([
        {"name": "model_uri", "value": model.display().to_string(), "type": "STRING"}
    ])
    .to_string();
    ServerProcess::start(
        binary(),
        &[
            ("PREDICTIVE_UNIT_PARAMETERS", params.as_str()),
            ("PREDICTIVE_UNIT_ID", "classifier"),
        ],
    )
    .unwrap()
}

async fn post(server: &ServerProcess, path: &str, body: &Value) -> (u16, Value) {
    let reply = oxserve_tests::http_client()
        .post(server.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap())
}

/// Flattens nested arrays.
fn flat(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        other => vec![other.clone()],
    }
}

/// Numbers within `atol`, anything else equal.
fn assert_close(got: &Value, want: &Value, atol: f64, what: &str) {
    let (g, w) = (flat(got), flat(want));
    assert_eq!(g.len(), w.len(), "{what}: got {got}, want {want}");
    for (i, (g, w)) in g.iter().zip(&w).enumerate() {
        match (g.as_f64(), w.as_f64()) {
            (Some(a), Some(b)) => assert!(
                (a - b).abs() <= atol,
                "{what}: value {i}: got {a}, want {b} (|Δ| {} > {atol})",
                (a - b).abs()
            ),
            _ => assert_eq!(g, w, "{what}: value {i}"),
        }
    }
}

/// Seldon v1 with the default method (`predict_proba`) on every row, then V2 naming both outputs, against the
/// wrapper's own numbers.
async fn serves_case(name: &str) {
    let case = case(name);
    let atol = case["atol"].as_f64().unwrap();
    let x = &case["X"];
    let outputs = &case["outputs"];
    let server = start(name, &case);

    // Seldon v1: the default method is predict_proba, every row (NaNs as null) in one ndarray.
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"data": {"ndarray": x}}),
    )
    .await;
    assert_eq!(status, 200, "{name} Seldon: {reply}");
    assert_close(
        &reply["data"]["ndarray"],
        &outputs["predict_proba"],
        atol,
        &format!("{name} Seldon predict_proba"),
    );

    // V2: both outputs by name, the rows without NaNs (V2 JSON has no NaN).
    let kept: Vec<usize> = (0..x.as_array().unwrap().len())
        .filter(|&i| x[i].as_array().unwrap().iter().all(Value::is_number))
        .collect();
    let rows: Vec<&Value> = kept.iter().map(|&i| &x[i]).collect();
    let n_cols = rows[0].as_array().unwrap().len();
    let data: Vec<Value> = rows.iter().flat_map(|r| flat(r)).collect();
    let request = json!({
        "inputs": [{"name": "x", "shape": [rows.len(), n_cols], "datatype": "FP64", "data": data}],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    });
    let (status, reply) = post(&server, "/v2/models/classifier/infer", &request).await;
    assert_eq!(status, 200, "{name} V2: {reply}");
    let output = |n: &str| {
        reply["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == n)
            .unwrap_or_else(|| panic!("{name} V2: no output {n}: {reply}"))
            .clone()
    };
    let pick = |v: &Value| Value::Array(kept.iter().map(|&i| v[i].clone()).collect());
    let predict = output("predict");
    assert_eq!(predict["shape"], json!([rows.len()]), "{name}: {predict}");
    assert_close(
        &predict["data"],
        &pick(&outputs["predict"]),
        0.0,
        &format!("{name} V2 predict"),
    );
    let proba = output("predict_proba");
    let n_classes = case["classes"].as_array().unwrap().len();
    assert_eq!(
        proba["shape"],
        json!([rows.len(), n_classes]),
        "{name}: {proba}"
    );
    assert_close(
        &proba["data"],
        &pick(&outputs["predict_proba"]),
        atol,
        &format!("{name} V2 predict_proba"),
    );
}

#[tokio::test]
async fn xgboost3_classifier_in_a_pipeline() {
    serves_case("xgb3-pipeline-clf-cancer").await;
}

#[tokio::test]
async fn xgboost17_classifier_in_a_pipeline() {
    serves_case("xgb17-pipeline-clf-cancer").await;
}

#[tokio::test]
async fn xgboost15_classifier_keeps_its_string_labels() {
    serves_case("xgb15-clf-iris-strlabels").await;
}

#[tokio::test]
async fn xgboost_classifier_after_a_column_transformer() {
    serves_case("xgb3-columntransformer-dart-wine").await;
}

#[tokio::test]
async fn lightgbm_classifiers_keep_their_labels() {
    // Labels -1/7 (binary, in a Pipeline, LightGBM 4) and strings (multiclass, LightGBM 3).
    serves_case("lgbm4-pipeline-clf-cancer").await;
    serves_case("lgbm3-clf-iris-strlabels").await;
}
