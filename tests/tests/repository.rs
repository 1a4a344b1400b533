//! The V2 model repository against the real test server (`--models-dir`, `oxserve_tests.RowStats` models):
//! the calls Seldon Core 2's agent makes over gRPC in its order and naming, KServe's TrainedModel agent's REST
//! calls, bad `model-settings.json` files failing their model alone, inference on one model undisturbed while
//! another loads and unloads, and memory flat over many load/unload cycles.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use oxserve_protocol::pb::inference as pb;
use oxserve_tests::{ServerProcess, TempDir};
use pb::grpc_inference_service_client::GrpcInferenceServiceClient;
use tonic::transport::Channel;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_oxserve-test-server"))
}

/// Writes `dir/rel/model-settings.json` (when `settings` is given) and `dir/rel/<file>` = `rowstats`.
fn model(dir: &Path, rel: &str, settings: Option<serde_json::Value>, rowstats: &str) {
    let folder = dir.join(rel);
    std::fs::create_dir_all(&folder).unwrap();
    if let Some(settings) = settings {
        std::fs::write(folder.join("model-settings.json"), settings.to_string()).unwrap();
    }
    std::fs::write(folder.join("rowstats.json"), rowstats).unwrap();
}

fn rowstats_settings(name: &str, version: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "implementation": "oxserve_tests.RowStats",
        "parameters": {"uri": "./rowstats.json", "version": version, "extra": {}}
    })
}

fn start(models: &Path, at_startup: bool) -> ServerProcess {
    start_with(models, at_startup, &[])
}

fn start_with(models: &Path, at_startup: bool, env: &[(&str, &str)]) -> ServerProcess {
    let dir = models.display().to_string();
    let at_startup = at_startup.to_string();
    let mut all = vec![
        ("MLSERVER_MODELS_DIR", dir.as_str()),
        ("MLSERVER_LOAD_MODELS_AT_STARTUP", at_startup.as_str()),
    ];
    all.extend_from_slice(env);
    ServerProcess::start(binary(), &all).unwrap()
}

async fn grpc(server: &ServerProcess) -> GrpcInferenceServiceClient<Channel> {
    GrpcInferenceServiceClient::connect(format!("http://127.0.0.1:{}", server.grpc))
        .await
        .unwrap()
}

fn infer_request(name: &str) -> pb::ModelInferRequest {
    pb::ModelInferRequest {
        model_name: name.into(),
        inputs: vec![pb::model_infer_request::InferInputTensor {
            name: "input-0".into(),
            datatype: "FP64".into(),
            shape: vec![1, 4],
            contents: Some(pb::InferTensorContents {
                fp64_contents: vec![1.0, 2.0, 3.0, 4.0],
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn index(client: &mut GrpcInferenceServiceClient<Channel>) -> Vec<(String, String, String)> {
    client
        .repository_index(pb::RepositoryIndexRequest::default())
        .await
        .unwrap()
        .into_inner()
        .models
        .into_iter()
        .map(|m| (m.name, m.state, m.reason))
        .collect()
}

fn state_of(rows: &[(String, String, String)], name: &str) -> String {
    rows.iter()
        .find(|r| r.0 == name)
        .map(|r| r.1.clone())
        .unwrap_or_default()
}

async fn load(client: &mut GrpcInferenceServiceClient<Channel>, name: &str) -> tonic::Code {
    code(
        client
            .repository_model_load(pb::RepositoryModelLoadRequest {
                model_name: name.into(),
                ..Default::default()
            })
            .await,
    )
}

async fn unload(client: &mut GrpcInferenceServiceClient<Channel>, name: &str) -> tonic::Code {
    code(
        client
            .repository_model_unload(pb::RepositoryModelUnloadRequest {
                model_name: name.into(),
                ..Default::default()
            })
            .await,
    )
}

fn code<T>(result: Result<T, tonic::Status>) -> tonic::Code {
    result.map_or_else(|status| status.code(), |_| tonic::Code::Ok)
}

/// Seldon Core 2's agent: `ServerLive`, `RepositoryIndex`, unload of every READY or LOADING model (a server
/// restarted under the agent still holds its models), then per model `RepositoryModelLoad{<model>_<ver>}`,
/// `ModelInfer` by that name (its proxy rewrites `iris` to `iris_1`), `ModelReady`, `ModelMetadata`, and
/// `RepositoryModelUnload`; files in `<models>/<model>_<ver>/1/` as the agent copies them.
#[tokio::test]
async fn the_seldon_core_2_agent_sequence_over_grpc() {
    let models = TempDir::new("models").unwrap();
    model(
        &models.0,
        "iris_1/1",
        Some(rowstats_settings("iris_1", "1")),
        "{}",
    );
    // No settings file: recognised by its files in the version folder, named by its folder.
    model(&models.0, "wine_3/1", None, "{}");
    let server = start(&models.0, true);
    let mut client = grpc(&server).await;
    assert!(
        client
            .server_live(pb::ServerLiveRequest {})
            .await
            .unwrap()
            .into_inner()
            .live
    );
    let rows = index(&mut client).await;
    assert_eq!(state_of(&rows, "iris_1"), "READY", "{rows:?}");
    assert_eq!(state_of(&rows, "wine_3"), "READY", "{rows:?}");
    for (name, state, _) in &rows {
        if state == "READY" || state == "LOADING" {
            assert_eq!(unload(&mut client, name).await, tonic::Code::Ok, "{name}");
        }
    }
    let rows = index(&mut client).await;
    assert!(
        rows.iter().all(|r| r.1 == "UNAVAILABLE"),
        "after the agent's start-up unloads: {rows:?}"
    );
    // Nothing loaded: inference by name is NOT_FOUND, a second unload NOT_FOUND (the agent tolerates it).
    let err = client
        .model_infer(infer_request("iris_1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert_eq!(unload(&mut client, "iris_1").await, tonic::Code::NotFound);
    assert_eq!(load(&mut client, "nope_1").await, tonic::Code::NotFound);

    assert_eq!(load(&mut client, "iris_1").await, tonic::Code::Ok);
    let reply = client
        .model_infer(infer_request("iris_1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.model_name, "iris_1");
    assert_eq!(reply.model_version, "1");
    assert_eq!(reply.outputs[0].shape, vec![1, 3]);
    let ready = client
        .model_ready(pb::ModelReadyRequest {
            name: "iris_1".into(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ready.ready);
    let meta = client
        .model_metadata(pb::ModelMetadataRequest {
            name: "iris_1".into(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.name, "iris_1");
    assert_eq!(meta.versions, vec!["1".to_string()]);
    // The other model is still unloaded; the loaded one is the only one the Seldon v1 route may use.
    let err = client
        .model_infer(infer_request("wine_3"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let http = oxserve_tests::http_client();
    let seldon = http
        .post(server.url("/api/v1.0/predictions"))
        .json(&serde_json::json!({"data": {"ndarray": [[1.0, 2.0, 3.0, 4.0]]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(seldon.status(), 200, "one model loaded: Seldon v1 answers");
    assert_eq!(load(&mut client, "wine_3").await, tonic::Code::Ok);
    let seldon = http
        .post(server.url("/api/v1.0/predictions"))
        .json(&serde_json::json!({"data": {"ndarray": [[1.0, 2.0, 3.0, 4.0]]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(seldon.status(), 404, "two loaded: Seldon v1 cannot choose");

    // Reloading a loaded name replaces it; unloading ends with NOT_FOUND for its requests.
    assert_eq!(load(&mut client, "iris_1").await, tonic::Code::Ok);
    client.model_infer(infer_request("iris_1")).await.unwrap();
    assert_eq!(unload(&mut client, "iris_1").await, tonic::Code::Ok);
    let err = client
        .model_infer(infer_request("iris_1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let rows = index(&mut client).await;
    assert_eq!(state_of(&rows, "iris_1"), "UNAVAILABLE");
    assert_eq!(state_of(&rows, "wine_3"), "READY");
    let ready_only = client
        .repository_index(pb::RepositoryIndexRequest {
            ready: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .models;
    assert_eq!(ready_only.len(), 1);
    assert_eq!(ready_only[0].name, "wine_3");
}

/// MLServer's own `inference.model_repository.ModelRepositoryService` (its older clients' service): index, load,
/// unload in its message layout, on the same repository as `inference.GRPCInferenceService`'s calls (a model
/// loaded through one is READY through the other and infers by name); unknown names are `NOT_FOUND`.
#[tokio::test]
async fn mlserver_model_repository_service_over_grpc() {
    use mr::model_repository_service_client::ModelRepositoryServiceClient;
    use pb::model_repository as mr;

    let models = TempDir::new("models").unwrap();
    model(
        &models.0,
        "iris",
        Some(rowstats_settings("iris", "v0.1.0")),
        "{}",
    );
    model(&models.0, "wine", Some(rowstats_settings("wine", "")), "{}");
    let server = start(&models.0, false);
    let mut repo =
        ModelRepositoryServiceClient::connect(format!("http://127.0.0.1:{}", server.grpc))
            .await
            .unwrap();
    let mut v2 = grpc(&server).await;
    let rows = |r: mr::RepositoryIndexResponse| {
        let mut rows: Vec<_> = r
            .models
            .into_iter()
            .map(|m| (m.name, m.version, m.state, m.reason))
            .collect();
        rows.sort();
        rows
    };
    let all = rows(
        repo.repository_index(mr::RepositoryIndexRequest::default())
            .await
            .unwrap()
            .into_inner(),
    );
    let row = |name: &str, version: &str, state: &str| {
        (
            name.to_string(),
            version.to_string(),
            state.to_string(),
            String::new(),
        )
    };
    assert_eq!(
        all,
        vec![
            row("iris", "v0.1.0", "UNAVAILABLE"),
            row("wine", "", "UNAVAILABLE")
        ]
    );
    repo.repository_model_load(mr::RepositoryModelLoadRequest {
        model_name: "iris".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let reply = v2
        .model_infer(infer_request("iris"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.model_version, "v0.1.0");
    assert_eq!(state_of(&index(&mut v2).await, "iris"), "READY");
    let ready = rows(
        repo.repository_index(mr::RepositoryIndexRequest {
            ready: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner(),
    );
    assert_eq!(ready, vec![row("iris", "v0.1.0", "READY")]);
    // Loaded through the V2 service, unloaded through MLServer's: one repository.
    assert_eq!(load(&mut v2, "wine").await, tonic::Code::Ok);
    repo.repository_model_unload(mr::RepositoryModelUnloadRequest {
        model_name: "wine".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let err = v2.model_infer(infer_request("wine")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let missing = repo
        .repository_model_load(mr::RepositoryModelLoadRequest {
            model_name: "nope".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(code(missing), tonic::Code::NotFound);
    let again = repo
        .repository_model_unload(mr::RepositoryModelUnloadRequest {
            model_name: "wine".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(code(again), tonic::Code::NotFound);
}

/// Per-model metrics: each model's V2 inferences count in its own MLServer-named series (`model`, `version`
/// labels), from both transports; a failure counts as the model's failure; an unknown name adds no series.
#[tokio::test]
async fn each_model_counts_in_its_own_metric_series() {
    let models = TempDir::new("models").unwrap();
    model(
        &models.0,
        "iris",
        Some(rowstats_settings("iris", "v1")),
        "{}",
    );
    model(&models.0, "wine", Some(rowstats_settings("wine", "")), "{}");
    let server = start(&models.0, true);
    let mut client = grpc(&server).await;
    for _ in 0..3 {
        client.model_infer(infer_request("iris")).await.unwrap();
    }
    client.model_infer(infer_request("wine")).await.unwrap();
    let http = oxserve_tests::http_client();
    let rest = http
        .post(server.url("/v2/models/wine/infer"))
        .json(&serde_json::json!({
            "inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 200);
    // A request the model refuses (no columns) is the model's failure.
    let mut empty = infer_request("wine");
    empty.inputs[0].shape = vec![1, 0];
    empty.inputs[0].contents = Some(pb::InferTensorContents::default());
    assert!(client.model_infer(empty).await.is_err());
    let unknown = client.model_infer(infer_request("nobody")).await;
    assert_eq!(code(unknown), tonic::Code::NotFound);
    let metrics = http
        .get(format!("http://127.0.0.1:{}/prometheus", server.metrics))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"model_infer_request_success_total{model="iris",version="v1"} 3"#,
        r#"model_infer_request_success_total{model="wine",version=""} 2"#,
        r#"model_infer_request_failure_total{model="iris",version="v1"} 0"#,
        r#"model_infer_request_failure_total{model="wine",version=""} 1"#,
        r#"model_infer_request_duration_count{model="iris",version="v1"} 3"#,
        r#"model_infer_request_duration_count{model="wine",version=""} 3"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing from\n{metrics}"
        );
    }
    assert!(!metrics.contains("nobody"), "{metrics}");
}

/// KServe's TrainedModel agent (and MLServer's users): REST load, infer, index, unload, with V2's error shape.
#[tokio::test]
async fn kserve_agent_calls_over_rest() {
    let models = TempDir::new("models").unwrap();
    model(
        &models.0,
        "sklearn-iris",
        Some(rowstats_settings("sklearn-iris", "v0.1.0")),
        "{}",
    );
    let server = start(&models.0, false);
    let http = oxserve_tests::http_client();
    let post = |path: &str, body: serde_json::Value| http.post(server.url(path)).json(&body).send();
    let index: serde_json::Value = post("/v2/repository/index", serde_json::json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        index,
        serde_json::json!([{"name": "sklearn-iris", "version": "v0.1.0", "state": "UNAVAILABLE", "reason": ""}])
    );
    let infer = serde_json::json!({
        "inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]
    });
    let before = post("/v2/models/sklearn-iris/infer", infer.clone())
        .await
        .unwrap();
    assert_eq!(before.status(), 404);
    let body: serde_json::Value = before.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("sklearn-iris"),
        "{body}"
    );
    let loaded = post(
        "/v2/repository/models/sklearn-iris/load",
        serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(loaded.status(), 200);
    let reply: serde_json::Value = post("/v2/models/sklearn-iris/infer", infer.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["model_name"], "sklearn-iris");
    assert_eq!(reply["model_version"], "v0.1.0");
    let ready = http
        .get(server.url("/v2/models/sklearn-iris/versions/v0.1.0/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let missing = post("/v2/repository/models/nope/load", serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let unloaded = post(
        "/v2/repository/models/sklearn-iris/unload",
        serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(unloaded.status(), 200);
    let after = post("/v2/models/sklearn-iris/infer", infer).await.unwrap();
    assert_eq!(after.status(), 404);
    let again = post(
        "/v2/repository/models/sklearn-iris/unload",
        serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(again.status(), 404);
    let bad = http
        .post(server.url("/v2/repository/index"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

/// Each bad model fails alone, with a reason in the index; the good one serves.
#[tokio::test]
async fn bad_model_settings_fail_their_model_only() {
    let models = TempDir::new("models").unwrap();
    let m = &models.0;
    model(m, "good", Some(rowstats_settings("good", "1")), "{}");
    model(
        m,
        "no-impl",
        Some(serde_json::json!({"name": "no-impl"})),
        "{}",
    );
    model(
        m,
        "custom",
        Some(serde_json::json!({"name": "custom", "implementation": "models.MyCustomModel"})),
        "{}",
    );
    model(
        m,
        "escape",
        Some(serde_json::json!({
            "name": "escape", "implementation": "oxserve_tests.RowStats",
            "parameters": {"uri": "../../../../../../etc/hostname"}
        })),
        "{}",
    );
    model(
        m,
        "garbled",
        Some(rowstats_settings("garbled", "1")),
        "not json",
    );
    model(
        m,
        "refused",
        Some(rowstats_settings("refused", "1")),
        r#"{"fail": "a hostile file"}"#,
    );
    model(
        m,
        "mlflow",
        Some(
            serde_json::json!({"name": "mlflow", "implementation": "mlserver_mlflow.MLflowRuntime"}),
        ),
        "{}",
    );
    std::fs::create_dir_all(m.join("broken")).unwrap();
    std::fs::write(m.join("broken/model-settings.json"), "{ nope").unwrap();
    std::fs::create_dir_all(m.join("wrong-types")).unwrap();
    std::fs::write(
        m.join("wrong-types/model-settings.json"),
        r#"{"name": "wrong-types", "implementation": "oxserve_tests.RowStats", "parameters": {"version": 3}}"#,
    )
    .unwrap();
    let server = start(m, true);
    let mut client = grpc(&server).await;
    let rows = index(&mut client).await;
    let reason = |name: &str| {
        let row = rows.iter().find(|r| r.0 == name).unwrap();
        assert_eq!(row.1, "UNAVAILABLE", "{row:?}");
        row.2.clone()
    };
    assert_eq!(state_of(&rows, "good"), "READY", "{rows:?}");
    assert!(reason("no-impl").contains("`implementation` is missing"));
    assert!(reason("custom").contains("custom Python code is not supported"));
    assert!(reason("escape").contains("outside the models folder"));
    assert!(reason("garbled").contains("is not JSON"));
    assert!(reason("refused").contains("a hostile file"));
    assert!(reason("mlflow").contains("not available in this build"));
    assert!(reason("broken").contains("cannot read"));
    assert!(reason("wrong-types").contains("`parameters.version` must be a string"));
    // A failed load answers the reason too.
    let err = client
        .repository_model_load(pb::RepositoryModelLoadRequest {
            model_name: "custom".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.message().contains("custom Python code"), "{err:?}");
    client.model_infer(infer_request("good")).await.unwrap();
}

/// Model A answers every request while model B (a big model) loads, is replaced and unloads in a loop.
#[tokio::test]
async fn inference_on_one_model_is_undisturbed_while_another_loads_and_unloads() {
    let models = TempDir::new("models").unwrap();
    model(&models.0, "a", Some(rowstats_settings("a", "1")), "{}");
    model(
        &models.0,
        "b",
        Some(rowstats_settings("b", "1")),
        r#"{"ballast_mb": 64, "load_ms": 20}"#,
    );
    let server = start(&models.0, true);
    let mut control = grpc(&server).await;
    let mut data = grpc(&server).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let inferring = tokio::spawn(async move {
        let mut answered = 0u32;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            data.model_infer(infer_request("a")).await.unwrap();
            answered += 1;
        }
        answered
    });
    for _ in 0..10 {
        assert_eq!(load(&mut control, "b").await, tonic::Code::Ok, "replace");
        assert_eq!(unload(&mut control, "b").await, tonic::Code::Ok);
        assert_eq!(load(&mut control, "b").await, tonic::Code::Ok);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered = inferring.await.unwrap();
    assert!(answered > 0);
}

/// 1,000 load/unload cycles of a 4 MiB model: resident memory stays flat (the model's memory goes back to the
/// OS on unload, not only to the allocator).
#[tokio::test]
async fn a_thousand_load_unload_cycles_keep_memory_flat() {
    let models = TempDir::new("models").unwrap();
    model(
        &models.0,
        "big",
        Some(rowstats_settings("big", "1")),
        r#"{"ballast_mb": 4}"#,
    );
    // No allocator tuning: the test server allocates as the shipped binaries do (mimalloc, crates/alloc).
    let server = start_with(&models.0, false, &[]);
    let mut client = grpc(&server).await;
    let cycle = |client: &mut GrpcInferenceServiceClient<Channel>| {
        let mut client = client.clone();
        async move {
            assert_eq!(load(&mut client, "big").await, tonic::Code::Ok);
            client.model_infer(infer_request("big")).await.unwrap();
            assert_eq!(unload(&mut client, "big").await, tonic::Code::Ok);
        }
    };
    for _ in 0..20 {
        cycle(&mut client).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let warm = server.rss_kib();
    for _ in 0..980 {
        cycle(&mut client).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = server.rss_kib();
    assert!(warm > 0);
    assert!(
        after <= warm + warm / 5 + 4096,
        "RSS grew from {warm} KiB to {after} KiB over 980 cycles"
    );
    assert!(
        after < warm + 4 * 1024,
        "the unloaded 4 MiB model is still resident: {warm} → {after} KiB"
    );
}

/// A large model made of many small allocations (a tree ensemble's shape: 96 MiB in pieces of 48 B to 3 KiB)
/// loaded, used and unloaded: the server's resident memory comes back to near what it was before the load — the
/// server binaries' allocator (crates/alloc) returns freed memory to the OS, where glibc's malloc keeps such a
/// model's heap resident (#17). No malloc env: the binary's own settings. Never timed: RSS is polled for up to
/// 60 s after the unload, and the bound (a quarter of the model) is generous for a debug build on a busy machine.
#[tokio::test]
async fn unloading_a_large_model_gives_its_memory_back_to_the_os() {
    const MODEL_MIB: u64 = 96;
    let models = TempDir::new("models").unwrap();
    model(
        &models.0,
        "large",
        Some(rowstats_settings("large", "1")),
        &format!(r#"{{"pieces_mb": {MODEL_MIB}}}"#),
    );
    let server = start(&models.0, false);
    let mut client = grpc(&server).await;
    client
        .model_infer(infer_request("large"))
        .await
        .unwrap_err();
    let before = server.rss_kib();
    assert!(before > 0);
    assert_eq!(load(&mut client, "large").await, tonic::Code::Ok);
    client.model_infer(infer_request("large")).await.unwrap();
    let loaded = server.rss_kib();
    assert!(
        loaded >= before + MODEL_MIB * 1024 * 3 / 4,
        "the model is not resident while loaded: {before} → {loaded} KiB"
    );
    assert_eq!(unload(&mut client, "large").await, tonic::Code::Ok);
    let bound = before + MODEL_MIB * 1024 / 4;
    let mut after = server.rss_kib();
    for _ in 0..600 {
        if after <= bound {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = server.rss_kib();
    }
    assert!(
        after <= bound,
        "RSS before loading {before} KiB, loaded {loaded} KiB, 60 s after unloading {after} KiB (bound {bound} KiB)"
    );
}
