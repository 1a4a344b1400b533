//! oxserve-onnx on the committed fixtures (`scripts/gen-onnx-fixtures.sh`): every output of every case against
//! onnxruntime's Python results, input conversion and validation, the model folder layouts, and the shared
//! corpus's ONNX case when `../shared` exists. Needs ONNX Runtime (`scripts/fetch-onnxruntime.sh`): without it the
//! tests skip with a note, unless `OXSERVE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use oxserve_core::{DataType, Model, ModelError, NamedTensor, PredictRequest, Tensor, TensorData};
use oxserve_onnx::{LoadOptions, OnnxError, OnnxModel, PLATFORM};
use serde::Deserialize;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Load options for tests, or `None` (skip) when no ONNX Runtime library is available.
fn options() -> Option<LoadOptions> {
    let fallback = repo().join(".onnxruntime");
    if oxserve_onnx::find_library(Some(&fallback)).is_err() {
        assert!(
            std::env::var("OXSERVE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "ONNX Runtime missing and OXSERVE_REQUIRE_PEERS=1: run scripts/fetch-onnxruntime.sh"
        );
        eprintln!("skipped: no ONNX Runtime library (run scripts/fetch-onnxruntime.sh)");
        return None;
    }
    Some(LoadOptions {
        intra_op_threads: Some(1),
        library_fallback: Some(fallback),
    })
}

fn load(case: &str) -> Option<OnnxModel> {
    let options = options()?;
    Some(OnnxModel::load(&fixtures().join(case), &options).unwrap())
}

#[derive(Deserialize)]
struct Expected {
    inputs: Vec<Wire>,
    outputs: Vec<Wire>,
}

#[derive(Deserialize, Clone)]
struct Wire {
    name: String,
    datatype: String,
    shape: Vec<usize>,
    data: Vec<serde_json::Value>,
}

fn expected(case: &str) -> Expected {
    let text = std::fs::read_to_string(fixtures().join(case).join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A wire tensor in its own datatype.
fn tensor(w: &Wire) -> Tensor {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let i = |v: &serde_json::Value| v.as_i64().unwrap();
    let data = match w.datatype.as_str() {
        "FP32" => TensorData::F32(w.data.iter().map(|v| f(v) as f32).collect()),
        "FP64" => TensorData::F64(w.data.iter().map(f).collect()),
        "INT64" => TensorData::I64(w.data.iter().map(i).collect()),
        "INT32" => TensorData::I32(w.data.iter().map(|v| i(v) as i32).collect()),
        "UINT8" => TensorData::U8(w.data.iter().map(|v| i(v) as u8).collect()),
        "BOOL" => TensorData::Bool(w.data.iter().map(|v| v.as_bool().unwrap()).collect()),
        "BYTES" => TensorData::Bytes(
            w.data
                .iter()
                .map(|v| v.as_str().unwrap().as_bytes().to_vec())
                .collect(),
        ),
        other => panic!("datatype {other}"),
    };
    Tensor::new(w.shape.clone(), data).unwrap()
}

/// The same values as JSON numbers arrive: FP64 for floats, INT64 for integers.
fn as_json_numbers(w: &Wire) -> Tensor {
    let data = match w.datatype.as_str() {
        "FP32" | "FP64" => TensorData::F64(
            w.data
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                .collect(),
        ),
        "INT64" | "INT32" | "UINT8" => {
            TensorData::I64(w.data.iter().map(|v| v.as_i64().unwrap()).collect())
        }
        _ => return tensor(w),
    };
    Tensor::new(w.shape.clone(), data).unwrap()
}

/// f32 outputs: |Δ| ≤ 1e-5·|want| + 1e-6; f64: 1e-12 relative; others exact.
fn assert_matches(case: &str, got: &Tensor, want: &Wire) {
    assert_eq!(
        got.shape(),
        want.shape.as_slice(),
        "{case}/{}: shape",
        want.name
    );
    let want_t = tensor(want);
    assert_eq!(got.dtype(), want_t.dtype(), "{case}/{}: dtype", want.name);
    match (got.data(), want_t.data()) {
        (TensorData::F32(g), TensorData::F32(w)) => {
            for (k, (g, w)) in g.iter().zip(w).enumerate() {
                let ok = (g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-5 * w.abs() + 1e-6;
                assert!(ok, "{case}/{}[{k}]: got {g}, want {w}", want.name);
            }
        }
        (TensorData::F64(g), TensorData::F64(w)) => {
            for (k, (g, w)) in g.iter().zip(w).enumerate() {
                let ok = (g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-12 * w.abs();
                assert!(ok, "{case}/{}[{k}]: got {g}, want {w}", want.name);
            }
        }
        (g, w) => assert_eq!(g, w, "{case}/{}", want.name),
    }
}

const CASES: [&str; 4] = ["keras-two-io", "sklearn-pipeline", "keras-conv", "dtypes"];

#[test]
fn every_output_of_every_fixture_matches_onnxruntime_python() {
    for case in CASES {
        let Some(model) = load(case) else { return };
        let exp = expected(case);
        for numbers in [false, true] {
            let inputs = exp
                .inputs
                .iter()
                .map(|w| {
                    NamedTensor::new(
                        &w.name,
                        if numbers {
                            as_json_numbers(w)
                        } else {
                            tensor(w)
                        },
                    )
                })
                .collect();
            let reply = model
                .predict(PredictRequest {
                    inputs,
                    outputs: vec![],
                })
                .unwrap();
            let names: Vec<&str> = reply.outputs.iter().map(|o| o.name.as_str()).collect();
            let want: Vec<&str> = exp.outputs.iter().map(|o| o.name.as_str()).collect();
            assert_eq!(
                names, want,
                "{case}: default outputs are all, in graph order"
            );
            for (got, want) in reply.outputs.iter().zip(&exp.outputs) {
                assert_matches(case, &got.tensor, want);
            }
        }
    }
}

#[test]
fn requested_outputs_come_back_alone_and_in_the_requested_order() {
    let Some(model) = load("keras-two-io") else {
        return;
    };
    let exp = expected("keras-two-io");
    let inputs: Vec<NamedTensor> = exp
        .inputs
        .iter()
        .map(|w| NamedTensor::new(&w.name, tensor(w)))
        .collect();
    let reply = model
        .predict(PredictRequest {
            inputs: inputs.clone(),
            outputs: vec!["logits".into()],
        })
        .unwrap();
    assert_eq!(reply.outputs.len(), 1);
    assert_matches("keras-two-io", &reply.outputs[0].tensor, &exp.outputs[1]);
    let reply = model
        .predict(PredictRequest {
            inputs,
            outputs: vec!["logits".into(), "score".into()],
        })
        .unwrap();
    assert_eq!(reply.outputs[0].name, "logits");
    assert_matches("keras-two-io", &reply.outputs[1].tensor, &exp.outputs[0]);
}

#[test]
fn metadata_is_the_graph_signature() {
    let Some(model) = load("keras-two-io") else {
        return;
    };
    let meta = model.metadata();
    assert_eq!(meta.platform, PLATFORM);
    let sig = |specs: &[oxserve_core::TensorSpec]| {
        specs
            .iter()
            .map(|s| (s.name.clone(), s.datatype, s.shape.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sig(&meta.inputs),
        vec![
            ("features".into(), DataType::F32, vec![-1, 4]),
            ("counts".into(), DataType::I64, vec![-1, 3])
        ]
    );
    assert_eq!(
        sig(&meta.outputs),
        vec![
            ("score".into(), DataType::F32, vec![-1, 1]),
            ("logits".into(), DataType::F32, vec![-1, 3])
        ]
    );
    let model = load("sklearn-pipeline").unwrap();
    assert_eq!(
        sig(&model.metadata().outputs),
        vec![
            ("label".into(), DataType::I64, vec![-1]),
            ("probabilities".into(), DataType::F32, vec![-1, 3])
        ]
    );
    let model = load("dtypes").unwrap();
    let types: Vec<DataType> = model.metadata().inputs.iter().map(|s| s.datatype).collect();
    assert_eq!(
        types,
        [
            DataType::F64,
            DataType::I32,
            DataType::U8,
            DataType::Bool,
            DataType::Bytes
        ]
    );
    let model = load("keras-conv").unwrap();
    assert_eq!(model.metadata().inputs[0].shape, vec![-1, 16, 16, 3]);
    assert!(!model.runs_inline());
}

fn bad_input(model: &OnnxModel, inputs: Vec<NamedTensor>, outputs: Vec<String>) -> String {
    match model.predict(PredictRequest { inputs, outputs }) {
        Err(ModelError::BadInput(message)) => message,
        other => panic!("expected BadInput, got {other:?}"),
    }
}

fn t(shape: &[usize], data: TensorData) -> Tensor {
    Tensor::new(shape.to_vec(), data).unwrap()
}

#[test]
fn bad_input_is_bad_input_never_a_panic() {
    let Some(two) = load("keras-two-io") else {
        return;
    };
    let features = || NamedTensor::new("features", t(&[2, 4], TensorData::F64(vec![0.5; 8])));
    let counts = |data: TensorData| NamedTensor::new("counts", t(&[2, 3], data));
    let ok = two.predict(PredictRequest {
        inputs: vec![
            features(),
            counts(TensorData::F64(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
        ],
        outputs: vec![],
    });
    assert!(ok.is_ok(), "integral floats go to an int64 input: {ok:?}");
    let m = bad_input(
        &two,
        vec![
            features(),
            counts(TensorData::F64(vec![1.5, 2.0, 3.0, 4.0, 5.0, 6.0])),
        ],
        vec![],
    );
    assert!(m.contains("counts") && m.contains("1.5"), "{m}");
    let m = bad_input(
        &two,
        vec![features(), counts(TensorData::F64(vec![1e30; 6]))],
        vec![],
    );
    assert!(m.contains("int64"), "{m}");
    let m = bad_input(
        &two,
        vec![
            features(),
            counts(TensorData::Bytes(vec![b"1".to_vec(); 6])),
        ],
        vec![],
    );
    assert!(m.contains("BYTES") && m.contains("int64"), "{m}");
    // strings to a float input
    let m = bad_input(
        &two,
        vec![
            NamedTensor::new(
                "features",
                t(&[2, 4], TensorData::Bytes(vec![b"a".to_vec(); 8])),
            ),
            counts(TensorData::I64(vec![1; 6])),
        ],
        vec![],
    );
    assert!(m.contains("features") && m.contains("float32"), "{m}");
    // wrong rank, wrong fixed dim
    let m = bad_input(
        &two,
        vec![
            NamedTensor::new("features", t(&[8], TensorData::F32(vec![0.5; 8]))),
            counts(TensorData::I64(vec![1; 6])),
        ],
        vec![],
    );
    assert!(m.contains("[-1, 4]") && m.contains("[8]"), "{m}");
    let m = bad_input(
        &two,
        vec![
            NamedTensor::new("features", t(&[2, 3], TensorData::F32(vec![0.5; 6]))),
            counts(TensorData::I64(vec![1; 6])),
        ],
        vec![],
    );
    assert!(m.contains("features") && m.contains("[2, 3]"), "{m}");
    // missing, unknown and unnamed inputs on a two-input graph
    let m = bad_input(&two, vec![features()], vec![]);
    assert!(m.contains("missing input `counts`"), "{m}");
    let m = bad_input(
        &two,
        vec![
            features(),
            NamedTensor::new("input-0", t(&[2, 3], TensorData::I64(vec![1; 6]))),
        ],
        vec![],
    );
    assert!(
        m.contains("unknown input `input-0`") && m.contains("`features`, `counts`"),
        "{m}"
    );
    // batch sizes that disagree between inputs: ONNX Runtime's own error, still the client's fault
    let m = bad_input(
        &two,
        vec![
            features(),
            NamedTensor::new("counts", t(&[3, 3], TensorData::I64(vec![1; 9]))),
        ],
        vec![],
    );
    assert!(!m.is_empty());
    // unknown output
    let err = two
        .predict(PredictRequest {
            inputs: vec![features(), counts(TensorData::I64(vec![1; 6]))],
            outputs: vec!["nope".into()],
        })
        .unwrap_err();
    assert!(
        matches!(err, ModelError::UnknownOutput { ref name, ref available } if name == "nope" && available == "score, logits"),
        "{err:?}"
    );

    let conv = load("keras-conv").unwrap();
    let m = bad_input(
        &conv,
        vec![NamedTensor::new(
            "x",
            t(&[1, 15, 16, 3], TensorData::F32(vec![0.0; 720])),
        )],
        vec![],
    );
    assert!(
        m.contains("[-1, 16, 16, 3]") && m.contains("[1, 15, 16, 3]"),
        "{m}"
    );

    let dtypes = load("dtypes").unwrap();
    let exp = expected("dtypes");
    let with = |name: &str, replacement: Tensor| -> Vec<NamedTensor> {
        exp.inputs
            .iter()
            .map(|w| {
                NamedTensor::new(
                    &w.name,
                    if w.name == name {
                        replacement.clone()
                    } else {
                        tensor(w)
                    },
                )
            })
            .collect()
    };
    let m = bad_input(
        &dtypes,
        with(
            "i32",
            t(&[3, 2], TensorData::I64(vec![1 << 40, 0, 0, 0, 0, 0])),
        ),
        vec![],
    );
    assert!(m.contains("does not fit int32"), "{m}");
    let m = bad_input(
        &dtypes,
        with("u8", t(&[3, 2], TensorData::I64(vec![256, 0, 0, 0, 0, 0]))),
        vec![],
    );
    assert!(m.contains("does not fit uint8"), "{m}");
    let m = bad_input(
        &dtypes,
        with("u8", t(&[3, 2], TensorData::I64(vec![-1, 0, 0, 0, 0, 0]))),
        vec![],
    );
    assert!(m.contains("does not fit uint8"), "{m}");
    let m = bad_input(
        &dtypes,
        with("flag", t(&[3, 2], TensorData::I64(vec![2, 0, 0, 0, 0, 0]))),
        vec![],
    );
    assert!(m.contains("boolean"), "{m}");
    let m = bad_input(
        &dtypes,
        with(
            "text",
            t(&[3, 1], TensorData::Bytes(vec![vec![0xff], vec![], vec![]])),
        ),
        vec![],
    );
    assert!(m.contains("UTF-8"), "{m}");
    let m = bad_input(
        &dtypes,
        with("text", t(&[3, 1], TensorData::F64(vec![1.0; 3]))),
        vec![],
    );
    assert!(m.contains("string"), "{m}");
    let m = bad_input(
        &dtypes,
        with("f64", t(&[3, 2], TensorData::Bool(vec![true; 6]))),
        vec![],
    );
    assert!(m.contains("BOOL"), "{m}");
    // 0/1 numbers are booleans; ints convert to a float64 input
    let ok = dtypes
        .predict(PredictRequest {
            inputs: with("flag", t(&[3, 2], TensorData::I64(vec![1, 0, 0, 1, 1, 1]))),
            outputs: vec!["flag_not".into()],
        })
        .unwrap();
    assert_eq!(
        ok.outputs[0].tensor.data(),
        &TensorData::Bool(vec![false, true, true, false, false, false])
    );
}

#[test]
fn nan_is_a_value_and_a_single_unnamed_tensor_feeds_a_single_input() {
    let Some(model) = load("sklearn-pipeline") else {
        return;
    };
    let mut x = vec![5.1, 3.5, 1.4, 0.2, f64::NAN, 3.0, 5.0, 1.8];
    let reply = model
        .predict(PredictRequest {
            inputs: vec![NamedTensor::new(
                "input-0",
                t(&[2, 4], TensorData::F64(x.clone())),
            )],
            outputs: vec![],
        })
        .unwrap();
    let TensorData::F32(p) = reply.outputs[1].tensor.data() else {
        panic!()
    };
    assert!(
        p[..3].iter().all(|v| v.is_finite()) && p[3..].iter().all(|v| v.is_nan()),
        "{p:?}"
    );
    x.truncate(4);
    let reply = model
        .predict(PredictRequest {
            inputs: vec![NamedTensor::new("", t(&[1, 4], TensorData::F64(x)))],
            outputs: vec![],
        })
        .unwrap();
    assert_eq!(reply.outputs[0].tensor.data(), &TensorData::I64(vec![0]));
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap();
}

#[test]
fn version_folders_serve_the_highest_number() {
    let Some(options) = options() else { return };
    let dir = tempfile::tempdir().unwrap();
    copy(
        &fixtures().join("dtypes/model.onnx"),
        &dir.path().join("9/model.onnx"),
    );
    copy(
        &fixtures().join("sklearn-pipeline/model.onnx"),
        &dir.path().join("10/model.onnx"),
    );
    copy(
        &fixtures().join("dtypes/model.onnx"),
        &dir.path().join("latest/model.onnx"),
    );
    std::fs::create_dir_all(dir.path().join("11")).unwrap();
    let model = OnnxModel::load(dir.path(), &options).unwrap();
    assert_eq!(model.file().version, Some(10));
    assert_eq!(model.metadata().inputs[0].name, "X");
    // model.onnx in the folder itself wins over version folders
    copy(
        &fixtures().join("keras-conv/model.onnx"),
        &dir.path().join("model.onnx"),
    );
    let model = OnnxModel::load(dir.path(), &options).unwrap();
    assert_eq!(
        (
            model.file().version,
            model.metadata().inputs[0].name.as_str()
        ),
        (None, "image")
    );
    // a file given directly
    let model = OnnxModel::load(&fixtures().join("dtypes/model.onnx"), &options).unwrap();
    assert_eq!(model.metadata().inputs.len(), 5);
}

#[test]
fn saved_models_missing_and_corrupt_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = oxserve_onnx::find_model(dir.path()).unwrap_err();
    assert!(matches!(err, OnnxError::NoModel { .. }));
    assert!(
        err.to_string().contains("model.onnx") && err.to_string().contains("<version>/model.onnx"),
        "{err}"
    );

    std::fs::write(dir.path().join("saved_model.pb"), b"").unwrap();
    let err = oxserve_onnx::find_model(dir.path()).unwrap_err();
    let d = dir.path().display();
    assert_eq!(
        err.to_string(),
        format!(
            "found a TensorFlow SavedModel but no ONNX file; convert it with: python -m tf2onnx.convert \
             --saved-model {d} --output {d}/model.onnx"
        )
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("3/variables")).unwrap();
    std::fs::write(dir.path().join("3/saved_model.pb"), b"").unwrap();
    copy(
        &fixtures().join("dtypes/model.onnx"),
        &dir.path().join("2/model.onnx"),
    );
    let err = oxserve_onnx::find_model(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "--saved-model {}/3 --output {}/3/model.onnx",
            dir.path().display(),
            dir.path().display()
        )),
        "{err}"
    );

    let Some(options) = options() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (i, junk) in [
        b"not an onnx file at all".to_vec(),
        Vec::new(),
        vec![0x08; 3],
        vec![0xff; 4096],
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.path().join(format!("{i}.onnx"));
        std::fs::write(&path, junk).unwrap();
        let err = OnnxModel::load(&path, &options).unwrap_err();
        assert!(matches!(err, OnnxError::Session { .. }), "{err:?}");
        assert!(
            err.to_string().contains("cannot load the ONNX model"),
            "{err}"
        );
    }
}

#[test]
fn shared_corpus_onnx_case() {
    let dir = repo().join("../shared/conformance/public/onnx-rf-iris");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let Some(options) = options() else { return };
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let model = OnnxModel::load(&dir, &options).unwrap();
    let x: Vec<f64> = case["X"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    let rows = case["X"].as_array().unwrap().len();
    let reply = model
        .predict(PredictRequest {
            inputs: vec![NamedTensor::new(
                "X",
                t(&[rows, x.len() / rows], TensorData::F64(x)),
            )],
            outputs: vec![],
        })
        .unwrap();
    let (atol, rtol) = (
        case["atol"].as_f64().unwrap(),
        case["rtol"].as_f64().unwrap(),
    );
    for out in &reply.outputs {
        let want: Vec<f64> = match &case["onnx_outputs"][&out.name] {
            serde_json::Value::Array(rows) => rows
                .iter()
                .flat_map(|r| match r {
                    serde_json::Value::Array(v) => v.iter().map(|v| v.as_f64().unwrap()).collect(),
                    v => vec![v.as_f64().unwrap()],
                })
                .collect(),
            other => panic!("{other}"),
        };
        let got = out.tensor.to_f64_vec().unwrap();
        assert_eq!(got.len(), want.len(), "{}", out.name);
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= atol + rtol * w.abs(),
                "{}: {g} vs {w}",
                out.name
            );
        }
    }
}
