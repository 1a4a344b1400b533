//! lightgbm-server as a real process on ephemeral ports: every committed fixture (LightGBM 4.7 and 3.3) over
//! Seldon v1 and V2 REST against what `Booster.predict` returned, V2 gRPC, `predict_proba` for classifiers,
//! `model.bst` as MLServer names the file, the shared corpus's LightGBM cases when present, and model folders
//! that must refuse to start.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use oxserve_tests::repo_root;
use serde_json::{Value, json};

#[path = "../../xgboost/tests/support/serve.rs"]
mod support;
use support::{
    close, declared_features, finite_rows, grpc, numbers, rows, seldon, start, start_and_fail, v2,
    v2_output,
};

/// LightGBM computes in float64: the engine's tolerance.
const TOL: f64 = 1e-9;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_lightgbm-server"))
}

fn cases() -> PathBuf {
    repo_root().join("crates/lightgbm/fixtures/cases")
}

fn expected(case: &Path) -> Value {
    support::read_json(&case.join("expected.json"))
}

async fn check_case(case: &Path) -> Result<(), String> {
    let exp = expected(case);
    let server =
        start(binary(), &case.join("model.txt"), &[]).map_err(|e| format!("did not start: {e}"))?;
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
    if meta["outputs"].as_array().unwrap().len() > 1 {
        let proba: Vec<f64> = if want.len() == n_rows {
            want.iter().flat_map(|&p| [1.0 - p, p]).collect()
        } else {
            want.clone()
        };
        let (xs, ps) = finite_rows(&x, cols, &proba);
        let (status, reply) = v2(&server, &xs, cols, &["predict_proba"]).await;
        let (_, got) =
            v2_output(&reply, "predict_proba").ok_or(format!("v2 proba: {status} {reply}"))?;
        close(&got, &ps, TOL, TOL).map_err(|e| format!("v2 predict_proba {e}"))?;
    }
    Ok(())
}

#[tokio::test]
async fn every_fixture_over_seldon_v1_and_v2_rest() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for version in ["v4", "v3"] {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases().join(version))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort();
        for case in dirs {
            checked += 1;
            if let Err(e) = check_case(&case).await {
                failures.push(format!("{}: {e}", case.display()));
            }
        }
    }
    assert!(checked >= 50, "only {checked} cases");
    assert!(
        failures.is_empty(),
        "{} of {checked} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn model_bst_as_mlserver_names_it_grpc_and_metadata() {
    let case = cases().join("v4/multiclass");
    let exp = expected(&case);
    let dir = oxserve_tests::TempDir::new("lgb-bst").unwrap();
    std::fs::copy(case.join("model.txt"), dir.0.join("model.bst")).unwrap();
    let server = start(binary(), &dir.0, &[("nthread", "2", "INT")]).unwrap();
    let (_, x, cols) = rows(&exp["X"]);
    let want = numbers(&exp["predict"]);
    // gRPC carries the NaN rows too.
    let out = grpc(&server, &x, cols, &[]).await;
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].0.as_str(), out[0].1.clone()),
        ("predict", vec![(x.len() / cols) as i64, 3])
    );
    close(&out[0].2, &want, TOL, TOL).unwrap();
    let out = grpc(&server, &x, cols, &["predict_proba", "predict"]).await;
    close(&out[0].2, &want, TOL, TOL).unwrap();
    close(&out[1].2, &want, TOL, TOL).unwrap();
    let (status, meta) = support::get(&server, "/v2/models/booster").await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["platform"], "lightgbm");
    assert_eq!(
        meta["outputs"],
        json!([
            {"name": "predict", "datatype": "FP64", "shape": [-1, 3]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
        ])
    );
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, cols]));
}

#[tokio::test]
async fn feature_names_and_kinds_from_the_model_file_in_every_metadata_route() {
    let server = start(binary(), &cases().join("v4/categorical-multiclass"), &[]).unwrap();
    let names = json!(["Column_0", "Column_1", "Column_2", "Column_3", "Column_4"]);
    let kinds = json!([
        "numerical",
        "numerical",
        "numerical",
        "categorical",
        "numerical"
    ]);
    assert_eq!(declared_features(&server).await, (names, kinds));
}

#[tokio::test]
async fn regressors_have_no_predict_proba_and_bad_rows_are_400() {
    let server = start(binary(), &cases().join("v4/regression"), &[]).unwrap();
    let (status, reply) = v2(&server, &[0.0; 5], 5, &["predict_proba"]).await;
    assert_eq!(status, 400, "{reply}");
    let (status, reply) = seldon(&server, &json!({"data": {"ndarray": [[1.0, 2.0]]}})).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["status"]["info"].as_str().unwrap().contains("(2)"),
        "{reply}"
    );
}

#[tokio::test]
async fn kserve_v1_predict_answers_booster_predict() {
    // A binary classifier offers predict_proba too; KServe v1 answers Booster.predict alone, one number a row.
    let case = cases().join("v4/binary");
    let exp = expected(&case);
    let server = start(binary(), &case, &[]).unwrap();
    let (_, x, cols) = rows(&exp["X"]);
    let (xs, want) = finite_rows(&x, cols, &numbers(&exp["predict"]));
    let predictions = support::kserve_v1(&server, &xs, cols).await;
    assert!(predictions[0].is_number(), "{predictions}");
    close(&numbers(&predictions), &want, TOL, TOL).unwrap();
    support::kserve_v1_routes(&server).await;
}

/// The shared corpus's `lightgbm-*` cases, when present (see `support::shared_corpus`).
#[tokio::test]
async fn shared_corpus_lightgbm_cases_through_the_server() {
    if let Some(failures) = support::shared_corpus(binary(), "lightgbm-", TOL).await {
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

#[test]
fn hostile_or_missing_models_refuse_to_start_with_a_clear_message() {
    let (ok, stderr) = start_and_fail(binary(), "", b"");
    assert!(!ok);
    assert!(
        stderr.contains("no LightGBM model in") && stderr.contains("model.txt"),
        "{stderr}"
    );
    let text = std::fs::read(cases().join("v4/categorical/model.txt")).unwrap();
    for cut in [text.len() / 2, text.len() / 5, 10] {
        let (ok, stderr) = start_and_fail(binary(), "model.txt", &text[..cut]);
        assert!(!ok, "cut at {cut} started");
        assert!(
            stderr.contains("invalid LightGBM model") && stderr.contains("model.txt"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (ok, stderr) = start_and_fail(binary(), "model.bst", b"\x00\x01binary junk\xff");
    assert!(
        !ok && stderr.contains("model.bst") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn help_says_what_it_serves() {
    let line = support::help_first_line(binary());
    assert!(
        line.starts_with("LIGHTGBM_SERVER") && line.contains("model.txt"),
        "{line}"
    );
}

/// `--models-dir` beside its own model: a second booster (MLServer's `implementation`) loads by name over the
/// repository REST API and answers V2 by that name.
#[tokio::test]
async fn a_second_model_loads_by_name_over_the_repository_api() {
    let case = cases().join("v4/binary");
    let row = expected(&case)["X"][0].clone();
    let n = row.as_array().unwrap().len();
    let reply = oxserve_tests::second_model_over_repository(
        binary(),
        &case,
        &case,
        "lgb-2",
        Some(json!({"name": "lgb-2", "implementation": "mlserver_lightgbm.LightGBMModel"})),
        &[],
        &json!({"inputs": [
            {"name": "predict", "shape": [1, n], "datatype": "FP64", "data": row}
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(reply["model_name"], "lgb-2", "{reply}");
    assert_eq!(reply["outputs"][0]["shape"][0], 1, "{reply}");
}

/// A model trained on a DataFrame with `category` columns serves tables over every protocol with
/// `Booster.predict`'s answers (`support::check_tables`), an unseen category and an unseen size among the rows
/// (NaN, as `_data_from_pandas` makes them).
#[tokio::test]
async fn tables_with_category_columns_over_seldon_and_v2() {
    let dir = repo_root().join("crates/lightgbm/fixtures/tables");
    for case in ["binary", "multiclass"] {
        let exp = expected(&dir.join(case));
        let server = start(binary(), &dir.join(case).join("model.txt"), &[]).unwrap();
        support::check_tables(&server, &exp, TOL).await;
    }
}
