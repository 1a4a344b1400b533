//! Each example served on loopback ports (the SDK's `component::serve`, as its binary runs it) and asked over
//! REST (JSON and form posts) and gRPC; where Seldon's own wrapper answered the same case (`answers.json`,
//! recorded from `seldon-core-microservice` 1.18.2 with Python classes of the same behaviour), the reply must
//! match it, numbers compared by value and `meta.tags` left out (the Python classes tag differently).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use oxserve_protocol::pb::seldon::protos as pb;
use oxserve_runtime::component::{self, Component, ComponentArgs, ServiceType};
use oxserve_tests::TempDir;
use serde_json::Value;

use super::*;

const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "component-test",
    about: "test",
    parameters: &["n_branches", "epsilon", "seed", "divisor", "decimals"],
};

/// A component served on ephemeral ports until dropped.
struct Served {
    http: u16,
    grpc: u16,
    metrics: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `build`'s component as the node `node` of image `me/component:0.1` (answers.json's env).
async fn serve(
    service_type: ServiceType,
    parameters: &str,
    build: impl FnOnce(&component::ComponentContext) -> anyhow::Result<Arc<dyn Component>>
    + Send
    + 'static,
) -> Served {
    let dir = TempDir::new("oxserve-components").unwrap();
    let ports = dir.0.join("ports.json");
    let args = [
        "component-test",
        "--host",
        "127.0.0.1",
        "--http-port",
        "0",
        "--grpc-port",
        "0",
        "--metrics-port",
        "0",
        "--metrics-endpoint",
        "/prometheus",
        "--predictive-unit-id",
        "node",
        "--predictive-unit-image",
        "me/component:0.1",
        "--predictor-id",
        "default",
        "--deployment-id",
        "dep",
        "--parameters",
        parameters,
        "--ports-file",
        ports.to_str().unwrap(),
    ];
    let (config, _): (_, ComponentArgs) = oxserve_runtime::parse_config(&SERVER, args).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) =
            component::serve(config, service_type, SERVER.parameters, build, shutdown).await
        {
            panic!("component server failed: {e:#}");
        }
    });
    let mut waited = 0;
    let text = loop {
        if let Ok(text) = std::fs::read_to_string(&ports)
            && text.ends_with('}')
        {
            break text;
        }
        waited += 1;
        assert!(waited < 500, "the component server did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let ports: Value = serde_json::from_str(&text).unwrap();
    let port = |k: &str| u16::try_from(ports[k].as_u64().unwrap()).unwrap();
    Served {
        http: port("http"),
        grpc: port("grpc"),
        metrics: port("metrics"),
        stop: Some(stop),
        _dir: dir,
    }
}

/// An HTTP client: the workspace's reqwest has no default TLS crypto provider, so ring is installed once.
fn client() -> reqwest::Client {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::new()
}

/// A REST call: `kind` `json` (a JSON body), `form` (`json=` urlencoded) or `get` (no body); status and JSON.
async fn rest(served: &Served, path: &str, kind: &str, body: &str) -> (u16, Value) {
    let client = client();
    let url = format!("http://127.0.0.1:{}{path}", served.http);
    let request = match kind {
        "json" => client
            .post(url)
            .header("Content-Type", "application/json")
            .body(body.to_string()),
        "form" => client
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string([("json", body)]).unwrap()),
        _ => client.get(url),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

async fn scrape(served: &Served) -> String {
    client()
        .get(format!("http://127.0.0.1:{}/prometheus", served.metrics))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Numbers as float64 (Python's `1` and `1.0` are one value here), `meta.tags` removed.
fn normalized(mut v: Value) -> Value {
    fn numbers(v: &mut Value) {
        match v {
            Value::Number(n) => *v = serde_json::json!(n.as_f64().unwrap()),
            Value::Array(items) => items.iter_mut().for_each(numbers),
            Value::Object(map) => map.values_mut().for_each(numbers),
            _ => {}
        }
    }
    if let Some(meta) = v.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("tags");
    }
    numbers(&mut v);
    v
}

/// The recorded cases of `group` (path, kind, body, status, reply).
fn answers(group: &str) -> Vec<(String, String, String, u16, Value)> {
    let all: Value = serde_json::from_str(include_str!("../answers.json")).unwrap();
    all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["group"] == group)
        .unwrap()["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["path"].as_str().unwrap().to_string(),
                a["kind"].as_str().unwrap_or("get").to_string(),
                a["body"].as_str().unwrap_or("").to_string(),
                u16::try_from(a["status"].as_u64().unwrap()).unwrap(),
                serde_json::from_str(a["reply"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

/// Replays the recorded case `index` of `group` and compares.
async fn replay(served: &Served, group: &str, index: usize) {
    let (path, kind, body, status, reply) = answers(group).swap_remove(index);
    let (got_status, got) = rest(served, &path, &kind, &body).await;
    assert_eq!(got_status, status, "{group} #{index} {path} {body}: {got}");
    assert_eq!(
        normalized(got.clone()),
        normalized(reply.clone()),
        "{group} #{index} {path} {body}:\n ours {got}\nseldon {reply}"
    );
}

use oxserve_protocol::pb::seldon::messages::{ndarray, tensor as tensor_message};

/// The reply's `data` as numbers and its names.
fn reply_numbers(reply: &pb::SeldonMessage) -> (Vec<f64>, Vec<String>) {
    oxserve_protocol::pb::seldon::messages::numbers(reply).expect("numbers in the reply")
}

fn channel(served: &Served) -> tonic::transport::Endpoint {
    tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", served.grpc)).unwrap()
}

#[tokio::test]
async fn router_routes_learns_from_feedback_and_answers_as_seldon() {
    let params = r#"[{"name":"n_branches","value":"3","type":"INT"},{"name":"epsilon","value":"0","type":"FLOAT"}]"#;
    let served = serve(ServiceType::Router, params, |ctx| {
        Ok(Arc::new(component::AsRouter(
            EpsilonGreedy::from_parameters(&ctx.parameters)?,
        )))
    })
    .await;
    // A fresh router picks child 0; a reward for child 2 makes it the best (form post), and a request without
    // `data` is answered as a `tensor`.
    replay(&served, "Router", 0).await;
    replay(&served, "Router", 1).await;
    replay(&served, "Router", 2).await;
    replay(&served, "Router", 4).await;
    let (status, reply) = rest(&served, "/route", "json", r#"{"data":{"ndarray":[[1,2]]}}"#).await;
    assert_eq!(status, 200);
    assert_eq!(reply["meta"]["tags"]["router"], "epsilon-greedy");

    // gRPC: Router/Route and Generic/Route agree with REST; feedback over gRPC moves the router too.
    let mut router = pb::router_client::RouterClient::connect(channel(&served))
        .await
        .unwrap();
    let reply = router
        .route(ndarray(&[&[1.0, 2.0]]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply_numbers(&reply), (vec![2.0], vec!["t:0".to_string()]));
    let routed = |branch: i32| pb::SeldonMessage {
        meta: Some(pb::Meta {
            routing: [("node".to_string(), branch)].into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    for _ in 0..3 {
        router
            .send_feedback(pb::Feedback {
                request: Some(ndarray(&[&[1.0, 2.0]])),
                response: Some(routed(1)),
                reward: 5.0,
                truth: None,
            })
            .await
            .unwrap();
    }
    let mut generic = pb::generic_client::GenericClient::connect(channel(&served))
        .await
        .unwrap();
    let reply = generic
        .route(ndarray(&[&[1.0]]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply_numbers(&reply).0, vec![1.0]);

    // A reward for a child this router does not have is the sender's fault on both transports.
    let bad = r#"{"request":{"data":{"ndarray":[[1]]}},"response":{"meta":{"routing":{"node":7}}},"reward":1}"#;
    let (status, reply) = rest(&served, "/send-feedback", "json", bad).await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["status"]["reason"], "MICROSERVICE_BAD_DATA");
    let err = router
        .send_feedback(pb::Feedback {
            response: Some(routed(7)),
            reward: 1.0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // Feedback with a reward is counted as Seldon counts it: 1 + 3 × 5 + 1 + 1 over six calls.
    let metrics = scrape(&served).await;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).filter(|rest| rest.starts_with('{')))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("seldon_api_model_feedback_total"), 6.0);
    assert_eq!(value("seldon_api_model_feedback_reward_total"), 18.0);
}

#[tokio::test]
async fn combiner_averages_over_rest_and_grpc() {
    let served = serve(ServiceType::Combiner, "[]", |_| {
        Ok(Arc::new(component::AsCombiner(Average)))
    })
    .await;
    // `{"seldonMessages":[…]}` and a bare list (form post), tags of every message merged; `/predict` on a
    // combiner answers an empty array.
    replay(&served, "Combiner", 0).await;
    replay(&served, "Combiner", 1).await;
    replay(&served, "Combiner", 3).await;
    let (status, reply) = rest(&served, "/aggregate", "json", r#"{"data":{"ndarray":[1]}}"#).await;
    assert_eq!(status, 400);
    assert_eq!(reply["status"]["reason"], "MICROSERVICE_BAD_DATA");
    assert!(
        reply["status"]["info"]
            .as_str()
            .unwrap()
            .starts_with("Invalid request data type: "),
        "{reply}"
    );
    let (status, reply) = rest(
        &served,
        "/aggregate",
        "json",
        r#"[{"data":{"ndarray":[[1,2]]}},{"data":{"ndarray":[[1,2,3]]}}]"#,
    )
    .await;
    assert_eq!(status, 400, "{reply}");

    let mut combiner = pb::combiner_client::CombinerClient::connect(channel(&served))
        .await
        .unwrap();
    let reply = combiner
        .aggregate(pb::SeldonMessageList {
            seldon_messages: vec![
                tensor_message(&[1, 2], &[1.0, 2.0]),
                tensor_message(&[1, 2], &[2.0, 3.0]),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reply_numbers(&reply),
        (vec![1.5, 2.5], vec!["t:0".to_string(), "t:1".to_string()])
    );
    let mut generic = pb::generic_client::GenericClient::connect(channel(&served))
        .await
        .unwrap();
    let reply = generic
        .aggregate(pb::SeldonMessageList {
            seldon_messages: vec![ndarray(&[&[1.0, 2.0]]), ndarray(&[&[3.0, 5.0]])],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply_numbers(&reply).0, vec![2.0, 3.5]);
}

#[tokio::test]
async fn transformers_rescale_and_round_over_rest_and_grpc() {
    let input = serve(ServiceType::Transformer, "[]", |ctx| {
        Ok(Arc::new(component::AsTransformer(
            Rescale::from_parameters(&ctx.parameters)?,
        )))
    })
    .await;
    replay(&input, "Transformer", 0).await;
    replay(&input, "Transformer", 2).await;
    let mut transformer = pb::transformer_client::TransformerClient::connect(channel(&input))
        .await
        .unwrap();
    let reply = transformer
        .transform_input(ndarray(&[&[51.0, 35.0, 14.0, 2.0]]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply_numbers(&reply).0, vec![5.1, 3.5, 1.4, 0.2]);

    let output = serve(ServiceType::OutputTransformer, "[]", |ctx| {
        Ok(Arc::new(component::AsOutputTransformer(
            Round::from_parameters(&ctx.parameters)?,
        )))
    })
    .await;
    replay(&output, "Transformer", 1).await;
    let mut transformer =
        pb::output_transformer_client::OutputTransformerClient::connect(channel(&output))
            .await
            .unwrap();
    let reply = transformer
        .transform_output(tensor_message(&[1, 3], &[0.123, 0.456, 0.98]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply_numbers(&reply).0, vec![0.1, 0.5, 1.0]);
    // A transformer has no output hook: the payload passes through, as the wrapper echoes it.
    let (status, reply) = rest(
        &input,
        "/transform-output",
        "json",
        r#"{"data":{"ndarray":[[7,8]]}}"#,
    )
    .await;
    assert_eq!(
        (status, &reply["data"]["ndarray"]),
        (200, &serde_json::json!([[7, 8]]))
    );
    // Strings are not numbers: the sender's fault.
    let (status, reply) = rest(
        &input,
        "/transform-input",
        "json",
        r#"{"data":{"ndarray":[["a","b"]]}}"#,
    )
    .await;
    assert_eq!(status, 400, "{reply}");
}

#[tokio::test]
async fn model_reports_tags_and_custom_metrics() {
    let served = serve(ServiceType::Model, "[]", |_| {
        Ok(Arc::new(component::AsModel(Doubler::default())))
    })
    .await;
    let (status, reply) = rest(
        &served,
        "/api/v1.0/predictions",
        "json",
        r#"{"data":{"ndarray":[[1,2],[3,4]]},"meta":{"puid":"p1","tags":{"t":"x"}}}"#,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["data"],
        serde_json::json!({"names":["double_a","double_b"],"ndarray":[[2,4],[6,8]]})
    );
    assert_eq!(
        reply["meta"]["tags"],
        serde_json::json!({"model":"doubler","n":1,"t":"x"})
    );
    assert_eq!(reply["meta"]["puid"], "p1");
    assert_eq!(
        reply["meta"]["requestPath"],
        serde_json::json!({"node":"me/component:0.1"})
    );
    let metrics = reply["meta"]["metrics"].as_array().unwrap();
    let keys: Vec<_> = metrics.iter().map(|m| m["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["doubler_calls", "doubler_rows", "doubler_timer"]);
    // As the wrapper writes them: a metric with tags is also tagged with its method.
    assert_eq!(
        metrics[1]["tags"],
        serde_json::json!({"kind":"g","method":"predict"})
    );
    assert_eq!(metrics[1]["value"], 2.0);

    let mut model = pb::model_client::ModelClient::connect(channel(&served))
        .await
        .unwrap();
    let reply = model
        .predict(tensor_message(&[1, 2], &[1.5, 2.5]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reply_numbers(&reply),
        (
            vec![3.0, 5.0],
            vec!["double_a".to_string(), "double_b".to_string()]
        )
    );
    let tags = reply.meta.unwrap().tags;
    assert!(tags.contains_key("model"), "{tags:?}");

    // On the metrics port, as the wrapper exports them: `<key>_total`, the gauge, the timer's histogram.
    let metrics = scrape(&served).await;
    let line = |prefix: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
            .to_string()
    };
    assert!(line("doubler_calls_total{").ends_with(" 2"), "{metrics}");
    assert!(line("doubler_rows{").contains(r#"kind="g""#));
    assert!(line("doubler_rows{").contains(r#"method="predict""#));
    assert!(line("doubler_timer_count{").ends_with(" 2"));
    // The wrapper's 50 buckets from 1 ms to 30 s, with its labels (answers.json's Basic class).
    for le in [
        "0.001",
        "0.0012341553253454693",
        "29.999999999999996",
        "+Inf",
    ] {
        assert!(
            metrics.contains(&format!(r#"le="{le}""#)),
            "no le={le} in\n{metrics}"
        );
    }

    // The hooks a MODEL lacks answer as the wrapper's: route and aggregate not defined, health healthy.
    let (status, reply) = rest(&served, "/route", "json", r#"{"data":{"ndarray":[[1]]}}"#).await;
    assert_eq!(
        (status, reply["status"]["info"].as_str()),
        (400, Some("Route not defined"))
    );
    let (status, reply) = rest(&served, "/aggregate", "json", "[]").await;
    assert_eq!(
        (status, reply["status"]["info"].as_str()),
        (400, Some("Aggregate not defined"))
    );
    let (status, reply) = rest(&served, "/health/status", "get", "").await;
    assert_eq!((status, reply["strData"].as_str()), (200, Some("healthy")));
}

/// A message-level component: the whole-message hooks (the Python wrapper's `*_raw`), a user error status, and
/// hooks that say they block: called on a blocking thread, or, with `own` set, on the component's own thread
/// (as an embedded interpreter's are, through `Component::spawn_hook`). `strData: "thread"` answers the name of
/// the thread the hook ran on.
struct Raw {
    own: Option<std::sync::mpsc::Sender<component::HookJob>>,
}

impl Raw {
    /// Hooks on a thread named `raw-hooks`, one call at a time.
    fn with_own_thread() -> Self {
        let (queue, jobs) = std::sync::mpsc::channel::<component::HookJob>();
        std::thread::Builder::new()
            .name("raw-hooks".into())
            .spawn(move || {
                for job in jobs {
                    job();
                }
            })
            .unwrap();
        Raw { own: Some(queue) }
    }
}

impl Component for Raw {
    fn predict(
        &self,
        node: &component::Node,
        request: oxserve_protocol::seldon::SeldonMessage,
    ) -> Result<oxserve_protocol::seldon::SeldonMessage, component::ComponentError> {
        match request.payload {
            oxserve_protocol::seldon::Payload::StrData(s) if s == "teapot" => Err(
                component::ComponentError::with_status(418, "I_AM_A_TEAPOT", "short and stout"),
            ),
            oxserve_protocol::seldon::Payload::StrData(s) if s == "panic" => {
                panic!("a bug in the component")
            }
            oxserve_protocol::seldon::Payload::StrData(s) if s == "thread" => {
                Ok(oxserve_protocol::seldon::SeldonMessage {
                    meta: node.reply_meta(&request.meta),
                    payload: oxserve_protocol::seldon::Payload::StrData(
                        std::thread::current().name().unwrap_or("").into(),
                    ),
                    status: None,
                })
            }
            payload => Ok(oxserve_protocol::seldon::SeldonMessage {
                meta: node.reply_meta(&request.meta),
                payload,
                status: None,
            }),
        }
    }

    fn metadata(&self) -> Option<Value> {
        Some(serde_json::json!({"name": "raw", "platform": "rust"}))
    }

    fn blocking(&self) -> bool {
        true
    }

    fn spawn_hook(&self, job: component::HookJob) -> Result<(), component::HookJob> {
        match &self.own {
            Some(queue) => queue.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }
}

#[tokio::test]
async fn message_level_hooks_and_user_errors() {
    let served = serve(ServiceType::Model, "[]", |_| {
        Ok(Arc::new(Raw { own: None }))
    })
    .await;
    message_level_hooks_answer(&served).await;
    let (_, reply) = rest(&served, "/predict", "json", r#"{"strData":"thread"}"#).await;
    assert_ne!(reply["strData"], "raw-hooks", "{reply}");
}

/// A component that takes its hook calls onto its own thread answers the same, a panic there fails that request
/// alone (the thread goes on serving the next ones), and every hook runs on that thread.
#[tokio::test]
async fn hooks_run_on_the_components_own_thread() {
    let served = serve(ServiceType::Model, "[]", |_| {
        Ok(Arc::new(Raw::with_own_thread()))
    })
    .await;
    message_level_hooks_answer(&served).await;
    for _ in 0..2 {
        let (status, reply) = rest(&served, "/predict", "json", r#"{"strData":"thread"}"#).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["strData"], "raw-hooks", "{reply}");
    }
}

async fn message_level_hooks_answer(served: &Served) {
    let (status, reply) = rest(served, "/predict", "form", r#"{"strData":"hello"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        reply,
        serde_json::json!({"meta":{"requestPath":{"node":"me/component:0.1"}},"strData":"hello"})
    );
    let (status, reply) = rest(served, "/predict", "json", r#"{"strData":"teapot"}"#).await;
    assert_eq!(status, 418);
    assert_eq!(
        reply,
        serde_json::json!({"status":{"code":-1,"info":"short and stout","reason":"I_AM_A_TEAPOT","status":1}})
    );
    // A panic on the hook's blocking thread is that request's 500; the server goes on.
    let (status, reply) = rest(served, "/predict", "json", r#"{"strData":"panic"}"#).await;
    assert_eq!(status, 500, "{reply}");
    assert_eq!(reply["status"]["reason"], "MICROSERVICE_INTERNAL_ERROR");
    let mut model = pb::model_client::ModelClient::connect(channel(served))
        .await
        .unwrap();
    let err = model
        .predict(pb::SeldonMessage {
            data_oneof: Some(pb::seldon_message::DataOneof::StrData("teapot".into())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    // The component's metadata over the image's defaults.
    let (status, reply) = rest(served, "/metadata", "get", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        reply,
        serde_json::json!({"custom":{},"inputs":[],"name":"raw","outputs":[],"platform":"rust","versions":["0.1"]})
    );
}
