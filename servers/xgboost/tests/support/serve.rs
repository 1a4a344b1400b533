//! What the tree servers' process tests share (included with `#[path]` by `oxserve-xgboost-server` and
//! `oxserve-lightgbm-server`): starting a binary on a model, the Seldon v1, V2 REST and V2 gRPC calls, reading
//! numbers back, and a start that must fail.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use oxserve_protocol::pb::inference as pb;
use oxserve_tests::ServerProcess;
use serde_json::{Value, json};

/// Starts `binary` on `model` (a folder or a file) with extra `PREDICTIVE_UNIT_PARAMETERS` entries.
pub(crate) fn start(
    binary: &Path,
    model: &Path,
    params: &[(&str, &str, &str)],
) -> anyhow::Result<ServerProcess> {
    let mut list =
        vec![json!({"name": "model_uri", "value": model.display().to_string(), "type": "STRING"})];
    list.extend(
        params
            .iter()
            .map(|(n, v, t)| json!({"name": n, "value": v, "type": t})),
    );
    let params = Value::Array(list).to_string();
    ServerProcess::start(
        binary,
        &[
            ("PREDICTIVE_UNIT_PARAMETERS", params.as_str()),
            ("PREDICTIVE_UNIT_ID", "booster"),
        ],
    )
}

/// Reads a JSON file.
pub(crate) fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Posts a Seldon v1 request.
pub(crate) async fn seldon(server: &ServerProcess, body: &Value) -> (u16, Value) {
    post(server, "/api/v1.0/predictions", body).await
}

/// Posts a V2 REST inference of `rows` (`rows × cols` float64 values) asking for `outputs` (none: the default).
pub(crate) async fn v2(
    server: &ServerProcess,
    rows: &[f64],
    cols: usize,
    outputs: &[&str],
) -> (u16, Value) {
    let mut body = json!({
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [rows.len() / cols, cols], "data": rows}]
    });
    if !outputs.is_empty() {
        body["outputs"] = outputs.iter().map(|o| json!({"name": o})).collect();
    }
    post(server, "/v2/models/booster/infer", &body).await
}

/// GETs a path; the status and the JSON body.
pub(crate) async fn get(server: &ServerProcess, path: &str) -> (u16, Value) {
    let reply = oxserve_tests::http_client()
        .get(server.url(path))
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

/// Posts `body` to `path`; the status and the JSON reply.
pub(crate) async fn post(server: &ServerProcess, path: &str, body: &Value) -> (u16, Value) {
    let reply = oxserve_tests::http_client()
        .post(server.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

/// One V2 gRPC inference of `rows` (NaN allowed: protobuf carries it); each output's name, shape and values.
pub(crate) async fn grpc(
    server: &ServerProcess,
    rows: &[f64],
    cols: usize,
    outputs: &[&str],
) -> Vec<(String, Vec<i64>, Vec<f64>)> {
    let input = pb::model_infer_request::InferInputTensor {
        name: "input-0".into(),
        datatype: "FP64".into(),
        shape: vec![(rows.len() / cols) as i64, cols as i64],
        contents: Some(pb::InferTensorContents {
            fp64_contents: rows.to_vec(),
            ..Default::default()
        }),
        ..Default::default()
    };
    grpc_infer(server, vec![input], outputs).await
}

/// One V2 gRPC inference of `inputs`; each output's name, shape and values.
pub(crate) async fn grpc_infer(
    server: &ServerProcess,
    inputs: Vec<pb::model_infer_request::InferInputTensor>,
    outputs: &[&str],
) -> Vec<(String, Vec<i64>, Vec<f64>)> {
    let endpoint = format!("http://127.0.0.1:{}", server.grpc);
    let mut client =
        pb::grpc_inference_service_client::GrpcInferenceServiceClient::connect(endpoint)
            .await
            .unwrap();
    let request = pb::ModelInferRequest {
        model_name: "booster".into(),
        inputs,
        outputs: outputs
            .iter()
            .map(|o| pb::model_infer_request::InferRequestedOutputTensor {
                name: (*o).into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let reply = client.model_infer(request).await.unwrap().into_inner();
    reply
        .outputs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let values: Vec<f64> = match (&o.contents, reply.raw_output_contents.get(i)) {
                (Some(c), _) if !c.fp64_contents.is_empty() => c.fp64_contents.clone(),
                (Some(c), _) if !c.int64_contents.is_empty() => {
                    c.int64_contents.iter().map(|&v| v as f64).collect()
                }
                (_, Some(raw)) if o.datatype == "FP64" => raw
                    .chunks(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
                (_, Some(raw)) if o.datatype == "INT64" => raw
                    .chunks(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                other => panic!("output {} has no contents: {other:?}", o.name),
            };
            (o.name.clone(), o.shape.clone(), values)
        })
        .collect()
}

/// The feature names and types of the model's input as V2 REST metadata shows them (`parameters`, `null`
/// where absent), after checking that V2 gRPC metadata (JSON text parameters) and Seldon's `/metadata` (the
/// input's `schema`) say the same.
pub(crate) async fn declared_features(server: &ServerProcess) -> (Value, Value) {
    let (status, meta) = get(server, "/v2/models/booster").await;
    assert_eq!(status, 200, "{meta}");
    let params = &meta["inputs"][0]["parameters"];
    let (names, types) = (
        params["feature_names"].clone(),
        params["feature_types"].clone(),
    );
    let endpoint = format!("http://127.0.0.1:{}", server.grpc);
    let mut client =
        pb::grpc_inference_service_client::GrpcInferenceServiceClient::connect(endpoint)
            .await
            .unwrap();
    let request = pb::ModelMetadataRequest {
        name: "booster".into(),
        ..Default::default()
    };
    let reply = client.model_metadata(request).await.unwrap().into_inner();
    let grpc_list = |key: &str| match reply.inputs[0]
        .parameters
        .get(key)
        .and_then(|p| p.parameter_choice.clone())
    {
        Some(pb::infer_parameter::ParameterChoice::StringParam(text)) => {
            serde_json::from_str(&text).unwrap()
        }
        None => Value::Null,
        other => panic!("{key} is {other:?}"),
    };
    assert_eq!(grpc_list("feature_names"), names);
    assert_eq!(grpc_list("feature_types"), types);
    let (status, seldon) = get(server, "/api/v1.0/metadata").await;
    assert_eq!(status, 200, "{seldon}");
    let schema = &seldon["inputs"][0]["schema"];
    assert_eq!(
        (&schema["names"], &schema["types"]),
        (&names, &types),
        "{seldon}"
    );
    if names.is_null() && types.is_null() {
        assert_eq!(seldon["inputs"], json!([]), "{seldon}");
    } else {
        assert_eq!(seldon["inputs"][0]["messagetype"], "tensor", "{seldon}");
        assert_eq!(
            schema["shape"],
            json!([meta["inputs"][0]["shape"][1]]),
            "{seldon}"
        );
    }
    (names, types)
}

/// A V2 REST reply's output by name: its shape and values.
pub(crate) fn v2_output(reply: &Value, name: &str) -> Option<(Vec<i64>, Vec<f64>)> {
    let o = reply["outputs"]
        .as_array()?
        .iter()
        .find(|o| o["name"] == name)?;
    let shape = o["shape"]
        .as_array()?
        .iter()
        .map(|d| d.as_i64().unwrap())
        .collect();
    Some((shape, numbers(&o["data"])))
}

/// Every number of a nested JSON array, row-major; `null` reads as NaN.
pub(crate) fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(numbers).collect(),
        Value::Null => vec![f64::NAN],
        v => vec![v.as_f64().unwrap()],
    }
}

/// `|got - want| <= atol + rtol·|want|` everywhere (NaN matches NaN), or why not.
pub(crate) fn close(got: &[f64], want: &[f64], atol: f64, rtol: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} values, want {}", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = (g.is_nan() && w.is_nan()) || (g - w).abs() <= atol + rtol * w.abs();
        if !same {
            return Err(format!("[{i}]: got {g}, want {w}"));
        }
    }
    Ok(())
}

/// The expected rows as a Seldon `ndarray` (NaN as `null`) and flat (NaN kept).
pub(crate) fn rows(x: &Value) -> (Value, Vec<f64>, usize) {
    let cols = x[0].as_array().map_or(0, Vec::len);
    (x.clone(), numbers(x), cols)
}

/// Runs `binary` on a folder holding `file` = `bytes`; returns (exit success, stderr).
pub(crate) fn start_and_fail(binary: &Path, file: &str, bytes: &[u8]) -> (bool, String) {
    let dir = oxserve_tests::TempDir::new("badmodel").unwrap();
    if !file.is_empty() {
        std::fs::write(dir.0.join(file), bytes).unwrap();
    }
    let params = Value::Array(vec![
        json!({"name": "model_uri", "value": dir.0.display().to_string(), "type": "STRING"}),
    ])
    .to_string();
    let out = std::process::Command::new(binary)
        .env("PREDICTIVE_UNIT_PARAMETERS", params)
        .env("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "0")
        .env("OXSERVE_HOST", "127.0.0.1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The first line `binary --help` prints.
pub(crate) fn help_first_line(binary: &Path) -> String {
    let out = std::process::Command::new(binary)
        .arg("--help")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// The rows without a NaN (V2 JSON has no NaN) and the expected values of those rows (`want` holds
/// `rows × width` values).
pub(crate) fn finite_rows(x: &[f64], cols: usize, want: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = x.len() / cols;
    let width = want.len() / n;
    (0..n)
        .filter(|r| x[r * cols..(r + 1) * cols].iter().all(|v| v.is_finite()))
        .fold((Vec::new(), Vec::new()), |(mut xs, mut ws), r| {
            xs.extend_from_slice(&x[r * cols..(r + 1) * cols]);
            ws.extend_from_slice(&want[r * width..(r + 1) * width]);
            (xs, ws)
        })
}

/// KServe v1's `:predict` with `instances` (`rows × cols` values): the reply's `predictions`.
pub(crate) async fn kserve_v1(server: &ServerProcess, rows: &[f64], cols: usize) -> Value {
    let instances: Vec<&[f64]> = rows.chunks(cols).collect();
    let reply = oxserve_tests::http_client()
        .post(server.url("/v1/models/booster:predict"))
        .json(&json!({ "instances": instances }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    let reply: Value = reply.json().await.unwrap();
    reply["predictions"].clone()
}

/// KServe V1's routes besides `:predict` on a server whose model is `booster`: liveness, the model list,
/// readiness, and `:explain` (501 without an explainer), in KServe's bodies.
pub(crate) async fn kserve_v1_routes(server: &ServerProcess) {
    let client = oxserve_tests::http_client();
    for (path, want) in [
        ("/", json!({"status": "alive"})),
        ("/v1/models", json!({"models": ["booster"]})),
        (
            "/v1/models/booster",
            json!({"name": "booster", "ready": true}),
        ),
    ] {
        let reply = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 200, "{path}");
        assert_eq!(reply.json::<Value>().await.unwrap(), want, "{path}");
    }
    let reply = client
        .post(server.url("/v1/models/booster:explain"))
        .json(&json!({"instances": [[1.0]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 501);
    assert_eq!(
        reply.json::<Value>().await.unwrap(),
        json!({"error": "Could not find explainer_host."})
    );
}

/// The argmax of each row of `rows × k` probabilities.
fn labels(p: &[f64], k: usize) -> Vec<f64> {
    p.chunks(k)
        .map(|r| (0..k).fold(0, |b, i| if r[i] > r[b] { i } else { b }) as f64)
        .collect()
}

/// The shared corpus's cases named `prefix*` (`../shared/conformance/public` from the repository root, or
/// `$OXSERVE_SHARED/conformance/public`) through `binary`: Seldon v1 answers the default method's values
/// (`predict_proba` for classifiers, else `predict`), V2 that same output by name, and the argmax of the
/// probabilities are the labels. The failures; `None` when the corpus is absent (the suite skips).
pub(crate) async fn shared_corpus(binary: &Path, prefix: &str, tol: f64) -> Option<Vec<String>> {
    let root = std::env::var_os("OXSERVE_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| oxserve_tests::repo_root().join("../shared"))
        .join("conformance/public");
    let Ok(entries) = std::fs::read_dir(&root) else {
        eprintln!("SKIPPED: {} not present", root.display());
        return None;
    };
    let mut dirs: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no {prefix}* case in {}", root.display());
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(dir.join("case.json"))
            .unwrap()
            .replace("NaN", "null");
        let case: Value = serde_json::from_str(&text).unwrap();
        let (atol, rtol) = (
            case["atol"].as_f64().unwrap_or(tol),
            case["rtol"].as_f64().unwrap_or(tol),
        );
        let outputs = &case["outputs"];
        let proba = outputs.get("predict_proba");
        let want = numbers(proba.unwrap_or(&outputs["predict"]));
        let server = match start(binary, &dir.join(case["artifact"].as_str().unwrap()), &[]) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{name}: did not start: {e}"));
                continue;
            }
        };
        let request = case
            .get("seldon_request")
            .cloned()
            .unwrap_or(json!({"data": {"ndarray": case["X"]}}));
        let (status, reply) = seldon(&server, &request).await;
        if let Err(e) = close(&numbers(&reply["data"]["ndarray"]), &want, atol, rtol) {
            failures.push(format!("{name}: seldon {status} {e}"));
        }
        let (_, x, cols) = rows(&case["X"]);
        let asked = if proba.is_some() {
            "predict_proba"
        } else {
            "predict"
        };
        let (status, reply) = v2(&server, &x, cols, &[asked]).await;
        let Some((_, got)) = v2_output(&reply, asked) else {
            failures.push(format!("{name}: v2 {status} {reply}"));
            continue;
        };
        if let Err(e) = close(&got, &want, atol, rtol) {
            failures.push(format!("{name}: v2 {asked} {e}"));
        }
        if proba.is_some()
            && labels(&got, got.len() / (x.len() / cols)) != numbers(&outputs["predict"])
        {
            failures.push(format!(
                "{name}: the probabilities' argmax are not the labels"
            ));
        }
    }
    Some(failures)
}

/// A DataFrame-trained model with `category` columns (a `fixtures/tables` case: `names`, `records`, `predict`)
/// served as tables: Seldon v1 as a mixed `ndarray` with `names` (in reverse order, read by name) and as
/// `jsonData` records, V2 REST with MLServer's pandas codec (one input per column, strings as `BYTES`, `null` a
/// missing string; rows with a missing number left out, as JSON has no NaN), again with every column as `pd_json`
/// (all rows), V2 gRPC one input per column (rows without a missing value); every answer `Booster.predict`'s on the DataFrame, V2 outputs labelled `content_type: np`.
/// Then the bad tables: a missing column, a string in a numeric column, both answered 400 naming the column.
pub(crate) async fn check_tables(server: &ServerProcess, exp: &Value, tol: f64) {
    let names: Vec<&str> = exp["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let records = exp["records"].as_array().unwrap();
    let want = numbers(&exp["predict"]);
    let width = want.len() / records.len();
    let want_rows = |keep: &[usize]| -> Vec<f64> {
        keep.iter()
            .flat_map(|&r| want[r * width..(r + 1) * width].to_vec())
            .collect()
    };
    let reversed: Vec<&str> = names.iter().rev().copied().collect();
    let ndarray: Vec<Value> = records
        .iter()
        .map(|r| Value::Array(reversed.iter().map(|n| r[*n].clone()).collect()))
        .collect();
    let (status, reply) = seldon(
        server,
        &json!({"data": {"names": reversed, "ndarray": ndarray}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    close(&numbers(&reply["data"]["ndarray"]), &want, tol, tol).unwrap();
    let (status, reply) = seldon(server, &json!({ "jsonData": records })).await;
    assert_eq!(status, 200, "{reply}");
    close(&numbers(&reply["jsonData"]), &want, tol, tol).unwrap();

    let is_string = |name: &str| records.iter().any(|r| r[name].is_string());
    let numbers_present = |r: &Value| names.iter().all(|n| is_string(n) || !r[*n].is_null());
    let keep: Vec<usize> = (0..records.len())
        .filter(|&r| numbers_present(&records[r]))
        .collect();
    assert!(keep.len() >= 10, "only {} rows for V2", keep.len());
    let inputs: Vec<Value> = names
        .iter()
        .map(|n| {
            let data: Vec<Value> = keep.iter().map(|&r| records[r][*n].clone()).collect();
            let datatype = if is_string(n) {
                "BYTES"
            } else if data.iter().all(|v| v.is_i64()) {
                "INT64"
            } else {
                "FP64"
            };
            json!({"name": n, "datatype": datatype, "shape": [keep.len()], "data": data})
        })
        .collect();
    let body = json!({"parameters": {"content_type": "pd"}, "inputs": inputs});
    let (status, reply) = post(server, "/v2/models/booster/infer", &body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["outputs"][0]["parameters"]["content_type"], "np",
        "{reply}"
    );
    close(
        &numbers(&reply["outputs"][0]["data"]),
        &want_rows(&keep),
        tol,
        tol,
    )
    .unwrap();
    // The same rows with every column as MLServer's `pd_json` (one JSON value per BYTES element), missing
    // numbers included.
    let json_inputs: Vec<Value> = names
        .iter()
        .map(|n| {
            let data: Vec<String> = records.iter().map(|r| r[*n].to_string()).collect();
            json!({"name": n, "datatype": "BYTES", "shape": [records.len()], "data": data,
                   "parameters": {"content_type": "pd_json"}})
        })
        .collect();
    let body = json!({"parameters": {"content_type": "pd"}, "inputs": json_inputs});
    let (status, reply) = post(server, "/v2/models/booster/infer", &body).await;
    assert_eq!(status, 200, "{reply}");
    close(&numbers(&reply["outputs"][0]["data"]), &want, tol, tol).unwrap();

    let complete: Vec<usize> = keep
        .iter()
        .copied()
        .filter(|&r| names.iter().all(|n| !records[r][*n].is_null()))
        .collect();
    let grpc_inputs = names
        .iter()
        .map(|n| {
            let column: Vec<&Value> = complete.iter().map(|&r| &records[r][*n]).collect();
            let mut contents = pb::InferTensorContents::default();
            let datatype = if is_string(n) {
                contents.bytes_contents = column
                    .iter()
                    .map(|v| v.as_str().unwrap().as_bytes().to_vec())
                    .collect();
                "BYTES"
            } else {
                contents.fp64_contents = column.iter().map(|v| v.as_f64().unwrap()).collect();
                "FP64"
            };
            pb::model_infer_request::InferInputTensor {
                name: (*n).into(),
                datatype: datatype.into(),
                shape: vec![complete.len() as i64],
                contents: Some(contents),
                ..Default::default()
            }
        })
        .collect();
    let got = grpc_infer(server, grpc_inputs, &[]).await.remove(0).2;
    close(&got, &want_rows(&complete), tol, tol).unwrap();

    let first = &records[0];
    let mut without = first.clone();
    let dropped = names[names.len() - 1];
    without.as_object_mut().unwrap().remove(dropped);
    let (status, reply) = seldon(server, &json!({ "jsonData": [without] })).await;
    assert_eq!(status, 400, "{reply}");
    let info = reply["status"]["info"].as_str().unwrap();
    assert!(
        info.contains(&format!("missing columns: ['{dropped}']")),
        "{info}"
    );
    let numeric = names.iter().find(|n| !is_string(n)).unwrap();
    let mut text = first.clone();
    text[*numeric] = json!("old");
    let (status, reply) = seldon(server, &json!({ "jsonData": [text] })).await;
    assert_eq!(status, 400, "{reply}");
    let info = reply["status"]["info"].as_str().unwrap();
    assert!(info.contains(&format!("column `{numeric}`")), "{info}");
}
