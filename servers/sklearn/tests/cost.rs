//! The per-request cost budget for the estimators whose rows cost grows with the model (k-NN, SVC): their cost
//! hints, and sklearn-server refusing a batch over `--max-request-cost` with a 400 while serving smaller ones.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use oxserve_core::Model;
use oxserve_sklearn_server::SklearnModel;
use oxserve_tests::{ServerProcess, repo_root};
use serde_json::{Value, json};

fn case(name: &str) -> PathBuf {
    repo_root().join("crates/sklearn/fixtures/cases").join(name)
}

#[test]
fn knn_and_svc_say_what_a_row_costs_and_cheap_models_do_not() {
    let knn = SklearnModel::load(&case("knn-distance-iris"), None).unwrap();
    let cost = knn.row_cost().unwrap();
    // Every query row against every training row (iris: 4 features, ~100+ training rows).
    assert!(cost >= 4 * 100 && cost.is_multiple_of(4), "{cost}");
    let svc = SklearnModel::load(&case("svc-rbf-ovo-iris"), None).unwrap();
    let svc_cost = svc.row_cost().unwrap();
    assert!(svc_cost >= 4 && svc_cost.is_multiple_of(4), "{svc_cost}");
    let logistic = SklearnModel::load(&case("seldon-iris"), None).unwrap();
    assert_eq!(logistic.row_cost(), None);
}

#[tokio::test]
async fn a_knn_batch_over_the_budget_is_refused_with_a_400() {
    let dir = case("knn-distance-iris");
    let row_cost = SklearnModel::load(&dir, None).unwrap().row_cost().unwrap();
    let budget = (10 * row_cost).to_string();
    let server = ServerProcess::start_with_model(
        Path::new(env!("CARGO_BIN_EXE_sklearn-server")),
        &dir,
        &[("OXSERVE_MAX_REQUEST_COST", budget.as_str())],
    )
    .unwrap();
    let client = oxserve_tests::http_client();
    let send = |rows: usize| {
        let body = json!({"data": {"ndarray": vec![[5.1, 3.5, 1.4, 0.2]; rows]}});
        let request = client
            .post(server.url("/api/v1.0/predictions"))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        async move {
            let reply = request.send().await.unwrap();
            (
                reply.status().as_u16(),
                reply.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, body) = send(10).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(11).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"]["reason"], "MICROSERVICE_BAD_DATA");
    let info = body["status"]["info"].as_str().unwrap();
    assert!(
        info.contains("11 rows") && info.contains("at most 10 rows"),
        "{info}"
    );
}
