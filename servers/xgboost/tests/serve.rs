//! xgboost-server as a real process on ephemeral ports: every committed fixture (XGBoost 3.2 and 1.7, in each
//! format the version writes, the legacy binary `.bst` included) over Seldon v1 and V2 REST against what
//! `Booster.predict` returned, V2 gRPC, the scikit-learn wrapper's outputs, the shared corpus's XGBoost cases when
//! present, and model folders that must refuse to start.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use oxserve_tests::repo_root;
use serde_json::{Value, json};

#[path = "support/serve.rs"]
mod support;
use support::{
    close, declared_features, finite_rows, grpc, numbers, rows, seldon, start, start_and_fail, v2,
    v2_output,
};

/// XGBoost's float32 outputs against the fixtures' float64 printouts (the engine's tolerance).
const TOL: f64 = 1e-6;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_xgboost-server"))
}

fn cases() -> PathBuf {
    repo_root().join("crates/xgboost/fixtures/cases")
}

fn expected(case: &Path) -> Value {
    support::read_json(&case.join("expected.json"))
}

/// `predict_proba` as the scikit-learn wrapper computes it from `Booster.predict` (or the margins for
/// `multi:softmax`).
fn proba_from(exp: &Value, n_rows: usize, softmax: bool) -> Vec<f64> {
    if softmax {
        let m = numbers(&exp["margin"]);
        let k = m.len() / n_rows;
        return m
            .chunks(k)
            .flat_map(|r| {
                let max = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = r.iter().map(|v| (v - max).exp()).sum();
                r.iter()
                    .map(move |v| (v - max).exp() / s)
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    let p = numbers(&exp["predict"]);
    if p.len() == n_rows {
        p.iter().flat_map(|&v| [1.0 - v, v]).collect()
    } else {
        p
    }
}

/// One model file through a fresh server: Seldon v1 on every row, V2 REST on the finite rows (default output and
/// `predict_proba` when metadata offers it).
async fn check_file(file: &Path, exp: &Value) -> Result<(), String> {
    let server = start(binary(), file, &[]).map_err(|e| format!("did not start: {e}"))?;
    let (ndarray, x, cols) = rows(&exp["X"]);
    let n_rows = x.len() / cols;
    let want = numbers(&exp["predict"]);
    let (status, reply) = seldon(&server, &json!({"data": {"ndarray": ndarray}})).await;
    if status != 200 {
        return Err(format!("seldon: {status} {reply}"));
    }
    close(&numbers(&reply["data"]["ndarray"]), &want, TOL, TOL)
        .map_err(|e| format!("seldon {e}"))?;

    let (xs, ws) = finite_rows(&x, cols, &want);
    let (status, reply) = v2(&server, &xs, cols, &[]).await;
    let (_, got) = v2_output(&reply, "predict").ok_or(format!("v2: {status} {reply}"))?;
    close(&got, &ws, TOL, TOL).map_err(|e| format!("v2 predict {e}"))?;

    let (_, meta) = support::get(&server, "/v2/models/booster").await;
    let offers_proba = meta["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["name"] == "predict_proba");
    if offers_proba {
        let softmax = want.len() == n_rows && meta["outputs"][1]["shape"][1].as_i64() > Some(2);
        let proba = proba_from(exp, n_rows, softmax);
        let (xs, ps) = finite_rows(&x, cols, &proba);
        let (status, reply) = v2(&server, &xs, cols, &["predict_proba", "predict"]).await;
        let (shape, got) =
            v2_output(&reply, "predict_proba").ok_or(format!("v2 proba: {status} {reply}"))?;
        if shape.len() != 2 {
            return Err(format!("predict_proba shape {shape:?}"));
        }
        close(&got, &ps, TOL, TOL).map_err(|e| format!("v2 predict_proba {e}"))?;
    }
    Ok(())
}

#[tokio::test]
async fn every_fixture_over_seldon_v1_and_v2_rest() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for version in ["v3", "v17"] {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases().join(version))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort();
        for case in dirs {
            let exp = expected(&case);
            for ext in ["bst", "json", "ubj"] {
                let file = case.join(format!("model.{ext}"));
                if !file.is_file() {
                    continue;
                }
                checked += 1;
                if let Err(e) = check_file(&file, &exp).await {
                    failures.push(format!("{version}/{}: {e}", file.display()));
                }
            }
        }
    }
    assert!(checked >= 100, "only {checked} model files");
    assert!(
        failures.is_empty(),
        "{} of {checked} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_legacy_binary_bst_from_xgboost_17_serves_from_its_folder() {
    // The folder as Seldon's XGBoostServer reads it: model.bst first (here beside the same model as JSON and UBJ).
    let case = cases().join("v17/multi-softprob");
    assert!(
        !std::fs::read(case.join("model.bst"))
            .unwrap()
            .starts_with(b"{")
    );
    let exp = expected(&case);
    let server = start(binary(), &case, &[]).unwrap();
    let (ndarray, x, cols) = rows(&exp["X"]);
    let (status, reply) = seldon(&server, &json!({"data": {"ndarray": ndarray}})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["data"]["names"], json!(["t:0", "t:1", "t:2"]));
    close(
        &numbers(&reply["data"]["ndarray"]),
        &numbers(&exp["predict"]),
        TOL,
        TOL,
    )
    .unwrap();
    // gRPC carries the NaN rows too.
    let out = grpc(&server, &x, cols, &[]).await;
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].0.as_str(), out[0].1.clone()),
        ("predict", vec![(x.len() / cols) as i64, 3])
    );
    close(&out[0].2, &numbers(&exp["predict"]), TOL, TOL).unwrap();
    let out = grpc(&server, &x, cols, &["predict_proba"]).await;
    close(&out[0].2, &numbers(&exp["predict"]), TOL, TOL).unwrap();
}

#[tokio::test]
async fn feature_names_and_types_from_the_model_file_in_every_metadata_route() {
    let server = start(binary(), &cases().join("v3/feature-names/model.ubj"), &[]).unwrap();
    let names = json!(["f_0", "f_1", "f_2", "f_3", "f_4"]);
    assert_eq!(declared_features(&server).await, (names, Value::Null));
    let server = start(binary(), &cases().join("v3/categorical/model.json"), &[]).unwrap();
    let types = json!(["q", "q", "q", "c", "q"]);
    assert_eq!(declared_features(&server).await, (Value::Null, types));
    // XGBoost 1.7's legacy binary format keeps no feature names; the folder's model.bst wins over model.json.
    let server = start(binary(), &cases().join("v17/feature-names"), &[]).unwrap();
    assert_eq!(declared_features(&server).await, (Value::Null, Value::Null));
}

/// A model trained on a DataFrame with `category` columns serves tables over every protocol with
/// `Booster.predict`'s answers (`support::check_tables`); a category it was not trained on is a 400 naming the
/// column and the value, as XGBoost's re-coder refuses it; a model trained on codes refuses strings and still
/// takes its numeric matrix.
#[tokio::test]
async fn tables_with_category_columns_over_seldon_and_v2() {
    let dir = repo_root().join("crates/xgboost/fixtures/tables");
    for (case, file) in [("binary", "model.json"), ("multi-onehot", "model.ubj")] {
        let exp = expected(&dir.join(case));
        let server = start(binary(), &dir.join(case).join(file), &[]).unwrap();
        support::check_tables(&server, &exp, TOL).await;
        let (status, reply) = seldon(&server, &json!({ "jsonData": exp["unseen"] })).await;
        assert_eq!(status, 400, "{reply}");
        assert_eq!(
            reply["status"]["info"],
            "Found a category not in the training set for column `color`: `purple`"
        );
    }
    let server = start(binary(), &cases().join("v3/categorical/model.json"), &[]).unwrap();
    let (status, reply) = seldon(
        &server,
        &json!({"data": {"ndarray": [[0.5, 1.0, 0.0, "red", 2.0]]}}),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    let info = reply["status"]["info"].as_str().unwrap();
    assert!(
        info.starts_with("column `3` holds strings, but the model file records no categories"),
        "{info}"
    );
    let (status, reply) = seldon(
        &server,
        &json!({"data": {"ndarray": [[0.5, 1.0, 0.0, 2.0, 2.0]]}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test]
async fn model_bst_is_preferred_and_the_format_comes_from_the_bytes() {
    let dir = oxserve_tests::TempDir::new("xgb-folder").unwrap();
    let case = cases().join("v3/binary-logistic");
    // A UBJSON model named model.bst (XGBoost >= 2.1 writes that) beside a broken model.json: model.bst wins.
    std::fs::copy(case.join("model.ubj"), dir.0.join("model.bst")).unwrap();
    std::fs::write(dir.0.join("model.json"), b"{ not a model").unwrap();
    let exp = expected(&case);
    let server = start(binary(), &dir.0, &[]).unwrap();
    let (ndarray, _, _) = rows(&exp["X"]);
    let (status, reply) = seldon(&server, &json!({"data": {"ndarray": ndarray}})).await;
    assert_eq!(status, 200, "{reply}");
    // Booster.predict of binary:logistic is one probability per row: a 1-D reply without names.
    assert_eq!(reply["data"]["names"], json!([]));
    close(
        &numbers(&reply["data"]["ndarray"]),
        &numbers(&exp["predict"]),
        TOL,
        TOL,
    )
    .unwrap();
    drop(server);
    // Only a model.ubj: found too.
    let dir = oxserve_tests::TempDir::new("xgb-ubj").unwrap();
    std::fs::copy(case.join("model.ubj"), dir.0.join("model.ubj")).unwrap();
    let server = start(binary(), &dir.0, &[("nthread", "4", "INT")]).unwrap();
    let (status, reply) = seldon(&server, &json!({"data": {"ndarray": ndarray}})).await;
    assert_eq!(status, 200, "{reply}");
    close(
        &numbers(&reply["data"]["ndarray"]),
        &numbers(&exp["predict"]),
        TOL,
        TOL,
    )
    .unwrap();
}

#[tokio::test]
async fn a_model_saved_from_xgbclassifier_answers_as_the_wrapper() {
    // XGBClassifier.save_model stores this attribute; the wrapper then predicts over best_iteration + 1 rounds.
    let case = cases().join("v3/early-stopping");
    let exp = expected(&case);
    let mut model: Value =
        serde_json::from_slice(&std::fs::read(case.join("model.json")).unwrap()).unwrap();
    model["learner"]["attributes"]["scikit_learn"] = json!(r#"{"_estimator_type": "classifier"}"#);
    let dir = oxserve_tests::TempDir::new("xgb-clf").unwrap();
    std::fs::write(dir.0.join("model.json"), model.to_string()).unwrap();
    let server = start(binary(), &dir.0, &[]).unwrap();
    let (ndarray, x, cols) = rows(&exp["X"]);
    let best = numbers(&exp["predict_best"]);
    let proba: Vec<f64> = best.iter().flat_map(|&p| [1.0 - p, p]).collect();
    let labels: Vec<f64> = best.iter().map(|&p| f64::from(u8::from(p > 0.5))).collect();
    // Seldon v1 (no output named): what Booster.predict returns, one probability per row with no names, as
    // Seldon's XGBoostServer answers for a binary classifier (not the wrapper's [1 - p, p]).
    let (status, reply) = seldon(&server, &json!({"data": {"ndarray": ndarray}})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["data"]["names"], json!([]));
    close(&numbers(&reply["data"]["ndarray"]), &best, TOL, TOL).unwrap();
    // KServe v1 :predict and V2 with no output named: the same numbers.
    let (xs, ws) = finite_rows(&x, cols, &best);
    let predictions = support::kserve_v1(&server, &xs, cols).await;
    close(&numbers(&predictions), &ws, TOL, TOL).unwrap();
    let (status, reply) = v2(&server, &xs, cols, &[]).await;
    let (shape, got) = v2_output(&reply, "predict")
        .ok_or(format!("v2: {status} {reply}"))
        .unwrap();
    assert_eq!(shape[0], (xs.len() / cols) as i64, "{reply}");
    assert_eq!(
        shape.iter().product::<i64>(),
        shape[0],
        "one column: {reply}"
    );
    close(&got, &ws, TOL, TOL).unwrap();
    // V2: predict is the class labels (INT64), predict_proba the probabilities.
    let out = grpc(&server, &x, cols, &["predict", "predict_proba"]).await;
    assert_eq!(out[0].0, "predict");
    assert_eq!(out[0].2, labels);
    close(&out[1].2, &proba, TOL, TOL).unwrap();
    let (_, meta) = support::get(&server, "/v2/models/booster").await;
    assert_eq!(meta["platform"], "xgboost");
    assert_eq!(
        meta["outputs"],
        json!([
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
        ])
    );
    assert_eq!(
        meta["inputs"],
        json!([{"name": "input-0", "datatype": "FP64", "shape": [-1, 5]}])
    );
}

#[tokio::test]
async fn regressors_have_no_predict_proba_and_bad_rows_are_400() {
    let case = cases().join("v3/reg-squarederror");
    let server = start(binary(), &case.join("model.json"), &[]).unwrap();
    let (status, reply) = v2(&server, &[0.0; 5], 5, &["predict_proba"]).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("predict"),
        "{reply}"
    );
    let (status, reply) = seldon(&server, &json!({"data": {"ndarray": [[1.0, 2.0]]}})).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["status"]["info"]
            .as_str()
            .unwrap()
            .contains("expected: 5, got 2"),
        "{reply}"
    );
}

#[tokio::test]
async fn kserve_v1_predict_answers_booster_predict() {
    let case = cases().join("v3/multi-softprob");
    let exp = expected(&case);
    let server = start(binary(), &case.join("model.ubj"), &[]).unwrap();
    let (_, x, cols) = rows(&exp["X"]);
    let (xs, want) = finite_rows(&x, cols, &numbers(&exp["predict"]));
    let predictions = support::kserve_v1(&server, &xs, cols).await;
    close(&numbers(&predictions), &want, TOL, TOL).unwrap();
    assert_eq!(predictions[0].as_array().unwrap().len(), 3, "{predictions}");
    support::kserve_v1_routes(&server).await;
}

/// The shared corpus's `xgboost-*` cases, when present (see `support::shared_corpus`).
#[tokio::test]
async fn shared_corpus_xgboost_cases_through_the_server() {
    if let Some(failures) = support::shared_corpus(binary(), "xgboost-", TOL).await {
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

#[test]
fn hostile_or_missing_models_refuse_to_start_with_a_clear_message() {
    let (ok, stderr) = start_and_fail(binary(), "", b"");
    assert!(!ok);
    assert!(
        stderr.contains("no XGBoost model in") && stderr.contains("model.bst"),
        "{stderr}"
    );
    for (version, ext) in [("v3", "json"), ("v3", "ubj"), ("v17", "bst")] {
        let bytes = std::fs::read(
            cases()
                .join(version)
                .join("multi-softprob")
                .join(format!("model.{ext}")),
        )
        .unwrap();
        for cut in [bytes.len() / 2, bytes.len() - 7, 3] {
            let (ok, stderr) = start_and_fail(binary(), &format!("model.{ext}"), &bytes[..cut]);
            assert!(!ok, "{version} .{ext} cut at {cut} started");
            assert!(
                stderr.contains("XGBoost model") && stderr.contains(&format!("model.{ext}")),
                "{version} .{ext} cut at {cut}: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
    // A bad nthread is refused before the model is read.
    let case = cases().join("v3/binary-logistic/model.json");
    let params = json!([
        {"name": "model_uri", "value": case.display().to_string(), "type": "STRING"},
        {"name": "nthread", "value": "lots", "type": "STRING"}
    ])
    .to_string();
    let out = std::process::Command::new(binary())
        .env("PREDICTIVE_UNIT_PARAMETERS", params)
        .env("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nthread"));
}

#[test]
fn help_says_what_it_serves() {
    let line = support::help_first_line(binary());
    assert!(
        line.starts_with("XGBOOST_SERVER") && line.contains("model.bst"),
        "{line}"
    );
}

/// `--models-dir` beside its own model: a second booster, recognised by its file, loads by name over the
/// repository REST API and answers V2 by that name.
#[tokio::test]
async fn a_second_model_loads_by_name_over_the_repository_api() {
    let case = cases().join("v3/binary-logistic");
    let reply = oxserve_tests::second_model_over_repository(
        binary(),
        &case,
        &case,
        "xgb-2",
        None,
        &[],
        &json!({"inputs": [
            {"name": "predict", "shape": [1, 5], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4, 0.5]}
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(reply["model_name"], "xgb-2", "{reply}");
    assert_eq!(reply["outputs"][0]["shape"][0], 1, "{reply}");
}
