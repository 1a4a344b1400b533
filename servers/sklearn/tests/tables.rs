//! sklearn-server serving pipelines fitted on DataFrames and object arrays (`crates/sklearn/fixtures/tables/`)
//! from tables over every protocol, compared with scikit-learn's answers: Seldon v1 REST (mixed `ndarray` +
//! `names`, `jsonData` records and split) and gRPC (mixed `ListValue` rows), V2 REST and gRPC (one input per
//! column, MLServer's pandas codec, strings as BYTES); bad requests answer 400 / `INVALID_ARGUMENT` naming the
//! column.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use oxserve_protocol::pb::inference as v2pb;
use oxserve_protocol::pb::seldon::protos as pb;
use oxserve_tests::{ServerProcess, repo_root};
use serde_json::{Value, json};

fn start(model_dir: &Path) -> ServerProcess {
    let params = json!([
        {"name": "model_uri", "value": model_dir.display().to_string(), "type": "STRING"}
    ])
    .to_string();
    ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_sklearn-server")),
        &[
            ("PREDICTIVE_UNIT_PARAMETERS", params.as_str()),
            ("PREDICTIVE_UNIT_ID", "classifier"),
        ],
    )
    .unwrap()
}

struct Case {
    dir: PathBuf,
    columns: Vec<String>,
    positional: bool,
    rows: Vec<Vec<Value>>,
    /// What the server answers by default: `predict_proba` when the model has it, else `predict`.
    method: &'static str,
    want: Vec<Value>,
    bad: Vec<Value>,
}

fn cases() -> Vec<Case> {
    let root = repo_root().join("crates/sklearn/fixtures/tables");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.json").is_file() && !p.ends_with("bench-10col"))
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let case: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap())
                    .unwrap();
            let method = if case["outputs"].get("predict_proba").is_some() {
                "predict_proba"
            } else {
                "predict"
            };
            Case {
                columns: serde_json::from_value(case["columns"].clone()).unwrap(),
                positional: case["positional"].as_bool().unwrap(),
                rows: serde_json::from_value(case["rows"].clone()).unwrap(),
                want: case["outputs"][method].as_array().unwrap().clone(),
                bad: case["bad"].as_array().unwrap().clone(),
                method,
                dir,
            }
        })
        .collect()
}

fn close(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(g, w)| close(g, w))
        }
        (g, w) => match (g.as_f64(), w.as_f64()) {
            (Some(g), Some(w)) => (g - w).abs() <= 1e-9 + 1e-9 * w.abs(),
            _ => g == w,
        },
    }
}

async fn post(server: &ServerProcess, path: &str, body: &Value) -> (u16, Value) {
    let reply = oxserve_tests::http_client()
        .post(server.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.json().await.unwrap())
}

/// A column's V2 datatype: BYTES when it holds a string, else FP64.
fn is_string_column(rows: &[Vec<Value>], j: usize) -> bool {
    rows.iter().any(|r| r[j].is_string())
}

/// One V2 REST input per column (MLServer's pandas codec); rows holding `null` are left out by the caller
/// (V2 JSON has no missing value).
fn v2_body(columns: &[String], rows: &[Vec<Value>]) -> Value {
    let inputs: Vec<Value> = columns
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let data: Vec<Value> = rows.iter().map(|r| r[j].clone()).collect();
            let datatype = if is_string_column(rows, j) {
                "BYTES"
            } else {
                "FP64"
            };
            json!({"name": name, "datatype": datatype, "shape": [rows.len()], "data": data})
        })
        .collect();
    json!({"parameters": {"content_type": "pd"}, "inputs": inputs})
}

fn v2_grpc_request(columns: &[String], rows: &[Vec<Value>]) -> v2pb::ModelInferRequest {
    let inputs = columns
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let strings = is_string_column(rows, j);
            let contents = if strings {
                v2pb::InferTensorContents {
                    bytes_contents: rows
                        .iter()
                        .map(|r| r[j].as_str().unwrap_or_default().as_bytes().to_vec())
                        .collect(),
                    ..Default::default()
                }
            } else {
                v2pb::InferTensorContents {
                    fp64_contents: rows.iter().map(|r| r[j].as_f64().unwrap()).collect(),
                    ..Default::default()
                }
            };
            v2pb::model_infer_request::InferInputTensor {
                name: name.clone(),
                datatype: if strings { "BYTES" } else { "FP64" }.into(),
                shape: vec![rows.len() as i64],
                contents: Some(contents),
                ..Default::default()
            }
        })
        .collect();
    v2pb::ModelInferRequest {
        model_name: "classifier".into(),
        inputs,
        ..Default::default()
    }
}

/// Rows of answers as V2's flat `data`.
fn flatten(rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .flat_map(|w| match w {
            Value::Array(v) => v.clone(),
            other => vec![other.clone()],
        })
        .collect()
}

/// A gRPC refusal: `INVALID_ARGUMENT` whose message holds `wanted`.
fn assert_invalid(status: &tonic::Status, wanted: &str, what: &str) {
    assert_eq!(
        status.code(),
        tonic::Code::InvalidArgument,
        "{what}: {status:?}"
    );
    assert!(
        status.message().contains(wanted),
        "{what}: `{}` lacks `{wanted}`",
        status.message()
    );
}

fn pb_value(v: &Value) -> prost_types::Value {
    use prost_types::value::Kind;
    prost_types::Value {
        kind: Some(match v {
            Value::Null => Kind::NullValue(0),
            Value::Bool(b) => Kind::BoolValue(*b),
            Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
            Value::String(s) => Kind::StringValue(s.clone()),
            Value::Array(items) => Kind::ListValue(prost_types::ListValue {
                values: items.iter().map(pb_value).collect(),
            }),
            Value::Object(_) => unreachable!("rows hold no objects"),
        }),
    }
}

#[tokio::test]
async fn table_models_answer_scikit_learns_numbers_over_every_protocol() {
    for case in cases() {
        let name = case.dir.file_name().unwrap().to_string_lossy().into_owned();
        let server = start(&case.dir);
        let names: Vec<String> = if case.positional {
            Vec::new()
        } else {
            case.columns.clone()
        };

        // Seldon REST: mixed ndarray (+ names for a DataFrame model).
        let body = json!({"data": {"names": names, "ndarray": case.rows}});
        let (status, reply) = post(&server, "/api/v1.0/predictions", &body).await;
        assert_eq!(status, 200, "{name}: {reply}");
        assert!(
            close(&reply["data"]["ndarray"], &Value::from(case.want.clone())),
            "{name} seldon ndarray: {reply}"
        );

        // Seldon REST: jsonData records and split, answered as jsonData.
        if !case.positional {
            let records: Vec<Value> = case
                .rows
                .iter()
                .map(|r| {
                    Value::Object(
                        case.columns
                            .iter()
                            .cloned()
                            .zip(r.iter().cloned())
                            .collect(),
                    )
                })
                .collect();
            for json_data in [
                Value::from(records),
                json!({"columns": case.columns, "data": case.rows}),
            ] {
                let (status, reply) = post(
                    &server,
                    "/api/v1.0/predictions",
                    &json!({"jsonData": json_data}),
                )
                .await;
                assert_eq!(status, 200, "{name}: {reply}");
                assert!(
                    close(&reply["jsonData"], &Value::from(case.want.clone())),
                    "{name} jsonData: {reply}"
                );
            }
        }

        // Seldon gRPC: the same rows as a ListValue.
        let endpoint = format!("http://127.0.0.1:{}", server.grpc);
        let mut seldon = pb::model_client::ModelClient::connect(endpoint.clone())
            .await
            .unwrap();
        let rows = pb_value(&Value::from(case.rows.clone()));
        let Some(prost_types::value::Kind::ListValue(rows)) = rows.kind else {
            unreachable!()
        };
        let reply = seldon
            .predict(pb::SeldonMessage {
                data_oneof: Some(pb::seldon_message::DataOneof::Data(pb::DefaultData {
                    names: names.clone(),
                    data_oneof: Some(pb::default_data::DataOneof::Ndarray(rows)),
                })),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{name} seldon grpc: {e:?}"))
            .into_inner();
        let reply = oxserve_protocol::seldon::grpc::from_pb(
            reply,
            &oxserve_protocol::limits::RequestLimits::default(),
        )
        .unwrap();
        let reply = serde_json::to_value(&reply).unwrap();
        assert!(
            close(&reply["data"]["ndarray"], &Value::from(case.want.clone())),
            "{name} seldon grpc: {reply}"
        );

        // V2 REST and gRPC, one input per column: the rows without a missing value.
        if !case.positional {
            // V2 metadata lists the columns, BYTES where the model reads strings.
            let reply: Value = oxserve_tests::http_client()
                .get(server.url("/v2/models/classifier"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let listed: Vec<Value> = case
                .columns
                .iter()
                .enumerate()
                .map(|(j, c)| {
                    let datatype = if is_string_column(&case.rows, j) {
                        "BYTES"
                    } else {
                        "FP64"
                    };
                    json!({"name": c, "datatype": datatype, "shape": [-1]})
                })
                .collect();
            assert_eq!(reply["inputs"], Value::from(listed), "{name} metadata");

            let (rows, want): (Vec<Vec<Value>>, Vec<Value>) = case
                .rows
                .iter()
                .zip(&case.want)
                .filter(|(r, _)| r.iter().all(|c| !c.is_null()))
                .map(|(r, w)| (r.clone(), w.clone()))
                .unzip();
            let (status, reply) = post(
                &server,
                "/v2/models/classifier/infer",
                &v2_body(&case.columns, &rows),
            )
            .await;
            assert_eq!(status, 200, "{name}: {reply}");
            let output = &reply["outputs"][0];
            assert_eq!(output["name"], case.method, "{name}: {reply}");
            let flat = flatten(&want);
            assert!(
                close(&output["data"], &Value::from(flat.clone())),
                "{name} v2 rest: {reply}"
            );
            // Every output carries MLServer's NumPy content type, as its scikit-learn runtime writes it.
            assert_eq!(
                output["parameters"]["content_type"], "np",
                "{name}: {reply}"
            );

            // Every row, nulls included: a JSON `null` in a BYTES column is a missing string (`None`, as
            // MLServer's pandas codec reads it), in an FP64 column NaN.
            let (status, reply) = post(
                &server,
                "/v2/models/classifier/infer",
                &v2_body(&case.columns, &case.rows),
            )
            .await;
            assert_eq!(status, 200, "{name}: {reply}");
            assert!(
                close(
                    &reply["outputs"][0]["data"],
                    &Value::from(flatten(&case.want))
                ),
                "{name} v2 rest with nulls: {reply}"
            );

            let mut v2 = v2pb::grpc_inference_service_client::GrpcInferenceServiceClient::connect(
                endpoint.clone(),
            )
            .await
            .unwrap();
            let reply = v2
                .model_infer(v2_grpc_request(&case.columns, &rows))
                .await
                .unwrap_or_else(|e| panic!("{name} v2 grpc: {e:?}"))
                .into_inner();
            let got: Vec<Value> = match reply.outputs[0].contents.as_ref() {
                Some(c) if !c.fp64_contents.is_empty() => {
                    c.fp64_contents.iter().map(|&x| Value::from(x)).collect()
                }
                _ => reply.raw_output_contents[0]
                    .chunks_exact(8)
                    .map(|b| Value::from(f64::from_le_bytes(b.try_into().unwrap())))
                    .collect(),
            };
            assert!(
                close(&Value::from(got), &Value::from(flat)),
                "{name} v2 grpc"
            );
            let content_type = reply.outputs[0].parameters.get("content_type");
            assert_eq!(
                content_type.and_then(|p| p.parameter_choice.clone()),
                Some(v2pb::infer_parameter::ParameterChoice::StringParam(
                    "np".into()
                )),
                "{name} v2 grpc"
            );
        }

        // Bad requests: 400 naming the column, over Seldon REST and V2 REST.
        for bad in &case.bad {
            let wanted = bad["error"].as_str().unwrap();
            let bad_names = if case.positional {
                Value::Array(Vec::new())
            } else {
                bad["columns"].clone()
            };
            let body = json!({"data": {"names": bad_names, "ndarray": bad["rows"]}});
            let (status, reply) = post(&server, "/api/v1.0/predictions", &body).await;
            assert_eq!(status, 400, "{name}: {reply}");
            let info = reply["status"]["info"].as_str().unwrap_or_default();
            assert!(info.contains(wanted), "{name}: `{info}` lacks `{wanted}`");
            if !case.positional {
                let columns: Vec<String> = serde_json::from_value(bad["columns"].clone()).unwrap();
                let rows: Vec<Vec<Value>> = serde_json::from_value(bad["rows"].clone()).unwrap();
                let rows: Vec<Vec<Value>> = rows
                    .into_iter()
                    .filter(|r| r.iter().all(|c| !c.is_null()))
                    .collect();
                let (status, reply) = post(
                    &server,
                    "/v2/models/classifier/infer",
                    &v2_body(&columns, &rows),
                )
                .await;
                assert_eq!(status, 400, "{name}: {reply}");
                let error = reply["error"].as_str().unwrap_or_default();
                assert!(error.contains(wanted), "{name}: `{error}` lacks `{wanted}`");

                // V2 gRPC: INVALID_ARGUMENT with the same message.
                let mut v2 =
                    v2pb::grpc_inference_service_client::GrpcInferenceServiceClient::connect(
                        endpoint.clone(),
                    )
                    .await
                    .unwrap();
                let status = v2
                    .model_infer(v2_grpc_request(&columns, &rows))
                    .await
                    .unwrap_err();
                assert_invalid(&status, wanted, &format!("{name} v2 grpc"));
            }

            // Seldon gRPC: the rows as a ListValue (with names for a DataFrame model), INVALID_ARGUMENT naming
            // the column.
            let mut seldon = pb::model_client::ModelClient::connect(endpoint.clone())
                .await
                .unwrap();
            let Some(prost_types::value::Kind::ListValue(rows)) = pb_value(&bad["rows"]).kind
            else {
                unreachable!()
            };
            let names: Vec<String> = serde_json::from_value(bad_names).unwrap();
            let status = seldon
                .predict(pb::SeldonMessage {
                    data_oneof: Some(pb::seldon_message::DataOneof::Data(pb::DefaultData {
                        names,
                        data_oneof: Some(pb::default_data::DataOneof::Ndarray(rows)),
                    })),
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_invalid(&status, wanted, &format!("{name} seldon grpc"));
        }
    }
}

#[tokio::test]
async fn string_labels_come_back_as_a_string_ndarray() {
    let dir = repo_root().join("crates/sklearn/fixtures/tables/df-onehot-logreg");
    let params = json!([
        {"name": "model_uri", "value": dir.display().to_string(), "type": "STRING"},
        {"name": "method", "value": "predict", "type": "STRING"}
    ])
    .to_string();
    let server = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_sklearn-server")),
        &[("PREDICTIVE_UNIT_PARAMETERS", params.as_str())],
    )
    .unwrap();
    let case: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let body = json!({"data": {"names": case["columns"], "ndarray": case["rows"]}});
    let (status, reply) = post(&server, "/api/v1.0/predictions", &body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["data"]["ndarray"], case["outputs"]["predict"],
        "{reply}"
    );
}

/// A `DictVectorizer` pipeline reads records: Seldon `jsonData` records whose keys differ (absent keys, a key and
/// a value never fitted), and V2 with one input per key, a `null` where a record lacks the key.
#[tokio::test]
async fn dict_vectorizer_reads_records_over_seldon_and_v2() {
    let dir = repo_root().join("crates/sklearn/fixtures/tables/dictvec-logreg");
    let case: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("records.json")).unwrap()).unwrap();
    let server = start(&dir);
    let records = case["records"].as_array().unwrap();
    let want = &case["outputs"]["predict_proba"];

    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"jsonData": records}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert!(close(&reply["jsonData"], want), "seldon jsonData: {reply}");

    let mut keys: Vec<String> = Vec::new();
    for r in records {
        for k in r.as_object().unwrap().keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let inputs: Vec<Value> = keys
        .iter()
        .map(|k| {
            let cells: Vec<Value> = records
                .iter()
                .map(|r| match r.get(k) {
                    Some(Value::Bool(b)) => Value::from(u8::from(*b)),
                    Some(v) => v.clone(),
                    None => Value::Null,
                })
                .collect();
            let datatype = if cells.iter().any(Value::is_string) {
                "BYTES"
            } else {
                "FP64"
            };
            json!({"name": k, "datatype": datatype, "shape": [records.len()], "data": cells})
        })
        .collect();
    let body = json!({"parameters": {"content_type": "pd"}, "inputs": inputs});
    let (status, reply) = post(&server, "/v2/models/classifier/infer", &body).await;
    assert_eq!(status, 200, "{reply}");
    let flat = flatten(want.as_array().unwrap());
    assert!(
        close(&reply["outputs"][0]["data"], &Value::from(flat)),
        "v2: {reply}"
    );
}
