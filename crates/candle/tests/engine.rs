//! The candle engine against outputs computed by the Python libraries themselves (transformers,
//! sentence-transformers, torch; see `scripts/gen-candle-reference.sh`), on the committed tiny fixtures and on
//! all-MiniLM-L6-v2 (`scripts/fetch-minilm.sh`).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use oxserve_candle::{CandleError, CandleModel, LoadOptions, Task};
use oxserve_core::{Model, ModelError, NamedTensor, PredictRequest, Tensor, TensorData};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn load(name: &str) -> CandleModel {
    CandleModel::load(&fixtures().join(name), LoadOptions::default()).unwrap()
}

fn text_request(texts: &[&str]) -> PredictRequest {
    let data = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    PredictRequest {
        inputs: vec![NamedTensor::new(
            "args",
            Tensor::new(vec![texts.len()], TensorData::Bytes(data)).unwrap(),
        )],
        outputs: vec![],
    }
}

fn f32s(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().unwrap()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(numbers).collect(),
        v => vec![v.as_f64().unwrap()],
    }
}

/// Embeds `texts` in one batch, returning one row per text.
fn embed(model: &CandleModel, texts: &[&str]) -> Vec<Vec<f64>> {
    let reply = model.predict(text_request(texts)).unwrap();
    let out = &reply.outputs[0];
    assert_eq!(out.name, "embedding");
    let [n, dim] = *out.tensor.shape() else {
        panic!("shape {:?}", out.tensor.shape())
    };
    assert_eq!(n, texts.len());
    f32s(&out.tensor).chunks(dim).map(<[f64]>::to_vec).collect()
}

/// Checks a model's embeddings against `(text, embedding)` references: each sentence alone, and all of them
/// in one padded batch (which must agree with the singles).
fn check_embeddings(model: &CandleModel, cases: &[(String, Vec<f64>)], min_cos: f64) {
    let texts: Vec<&str> = cases.iter().map(|(t, _)| t.as_str()).collect();
    let batch = embed(model, &texts);
    for (i, (text, want)) in cases.iter().enumerate() {
        let alone = &embed(model, &[text])[0];
        assert_eq!(alone.len(), want.len(), "{text:?}");
        let c = cosine(alone, want);
        assert!(c >= min_cos, "{text:?}: cosine {c} < {min_cos}");
        let c = cosine(&batch[i], want);
        assert!(c >= min_cos, "{text:?} in a batch: cosine {c} < {min_cos}");
        let c = cosine(&batch[i], alone);
        assert!(c >= 0.99999, "{text:?}: batched vs alone cosine {c}");
    }
}

fn minilm_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("OXSERVE_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.models/all-MiniLM-L6-v2")
        });
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("OXSERVE_REQUIRE_PEERS").as_deref() != Ok("1"),
        "all-MiniLM-L6-v2 missing in {}: run scripts/fetch-minilm.sh",
        dir.display()
    );
    eprintln!(
        "SKIPPED: all-MiniLM-L6-v2 not in {}; run scripts/fetch-minilm.sh",
        dir.display()
    );
    None
}

#[test]
fn minilm_matches_sentence_transformers() {
    let Some(dir) = minilm_dir() else { return };
    let model = CandleModel::load(&dir, LoadOptions::default()).unwrap();
    let reference = read(&fixtures().join("minilm_reference.json"));
    let cases: Vec<(String, Vec<f64>)> = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["text"].as_str().unwrap().to_string(),
                numbers(&s["embedding"]),
            )
        })
        .collect();
    assert!(
        cases.iter().any(|(t, _)| t.len() > 1000),
        "a sentence longer than max_seq_length"
    );
    check_embeddings(&model, &cases, 0.9999);
    // Unit length (the Normalize module).
    let v = &embed(&model, &["This is an example sentence"])[0];
    let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    // The model card's published first values.
    for (got, want) in v.iter().zip([0.0677, 0.0635, 0.0487, 0.0793, 0.0374]) {
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
}

#[test]
fn minilm_matches_the_shared_conformance_reference() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/minilm/reference.json");
    if !shared.is_file() {
        eprintln!(
            "SKIPPED: {} absent (shared corpus not beside the checkout)",
            shared.display()
        );
        return;
    }
    let Some(dir) = minilm_dir() else { return };
    let model = CandleModel::load(&dir, LoadOptions::default()).unwrap();
    let reference = read(&shared);
    let cases: Vec<(String, Vec<f64>)> = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["text"].as_str().unwrap().to_string(),
                numbers(&s["embedding"]),
            )
        })
        .collect();
    check_embeddings(&model, &cases, 0.9999);
}

#[test]
fn sentence_transformers_cls_and_max_pooling_with_normalize() {
    let model = load("tiny-bert-embed-cls-max");
    assert_eq!(model.metadata().outputs[0].shape, vec![-1, 64]);
    let expected = read(&fixtures().join("tiny-bert-embed-cls-max/expected.json"));
    let cases: Vec<(String, Vec<f64>)> = expected["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["text"].as_str().unwrap().to_string(),
                numbers(&c["embedding"]),
            )
        })
        .collect();
    check_embeddings(&model, &cases, 0.9999);
    let texts: Vec<&str> = cases.iter().map(|(t, _)| t.as_str()).collect();
    for (got, (_, want)) in embed(&model, &texts).iter().zip(&cases) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-4, "{g} vs {w}");
        }
    }
}

fn check_classifier(name: &str, atol: f64) {
    let model = load(name);
    let expected = read(&fixtures().join(name).join("expected.json"));
    let cases = expected["cases"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let labels: Vec<String> = model.column_names("scores").unwrap();
    for batch in [texts.clone(), texts.iter().rev().copied().collect()] {
        let reply = model.predict(text_request(&batch)).unwrap();
        assert_eq!(reply.outputs.len(), 2);
        assert_eq!(reply.outputs[0].name, "scores");
        assert_eq!(reply.outputs[1].name, "label");
        let k = labels.len();
        assert_eq!(reply.outputs[0].tensor.shape(), [batch.len(), k]);
        let scores = f32s(&reply.outputs[0].tensor);
        let TensorData::Bytes(got_labels) = reply.outputs[1].tensor.data() else {
            panic!("labels not BYTES")
        };
        for (i, text) in batch.iter().enumerate() {
            let case = cases.iter().find(|c| c["text"] == *text).unwrap();
            let want = numbers(&case["scores"]);
            for (g, w) in scores[i * k..(i + 1) * k].iter().zip(&want) {
                assert!((g - w).abs() <= atol, "{name} {text:?}: {g} vs {w}");
            }
            assert_eq!(
                String::from_utf8(got_labels[i].clone()).unwrap(),
                case["label"].as_str().unwrap(),
                "{name} {text:?}"
            );
        }
    }
    // One output asked for by name.
    let mut request = text_request(&texts[..2]);
    request.outputs = vec!["label".into()];
    let reply = model.predict(request).unwrap();
    assert_eq!(reply.outputs.len(), 1);
    assert_eq!(reply.outputs[0].tensor.shape(), [2]);
}

#[test]
fn bert_sequence_classification_matches_transformers() {
    check_classifier("tiny-bert-cls", 1e-5);
    assert_eq!(
        load("tiny-bert-cls").column_names("scores").unwrap(),
        ["class_a", "class_b", "class_c"]
    );
}

#[test]
fn roberta_multi_label_classification_matches_transformers() {
    check_classifier("tiny-roberta-cls", 1e-5);
}

#[test]
fn distilbert_classification_from_pytorch_model_bin_matches_transformers() {
    // candle-transformers 0.11's DistilBERT applies the tanh approximation of GELU where transformers uses the
    // exact (erf) form; on this random model that moves probabilities by up to ~1e-4.
    check_classifier("tiny-distilbert-cls", 5e-4);
}

fn check_mlp(name: &str) {
    let model = load(name);
    let expected = read(&fixtures().join(name).join("expected.json"));
    let x = numbers(&expected["X"]);
    let want = numbers(&expected["output"]);
    let rows = expected["X"].as_array().unwrap().len();
    let request = PredictRequest {
        inputs: vec![NamedTensor::new(
            "input-0",
            Tensor::new(vec![rows, x.len() / rows], TensorData::F64(x)).unwrap(),
        )],
        outputs: vec![],
    };
    let reply = model.predict(request).unwrap();
    assert_eq!(reply.outputs[0].name, "output");
    assert_eq!(reply.outputs[0].tensor.shape(), [rows, want.len() / rows]);
    for (g, w) in f32s(&reply.outputs[0].tensor).iter().zip(&want) {
        assert!((g - w).abs() < 1e-5, "{name}: {g} vs {w}");
    }
}

#[test]
fn mlp_from_safetensors_matches_torch() {
    check_mlp("mlp-safetensors");
}

#[test]
fn mlp_from_a_sequential_state_dict_matches_torch() {
    check_mlp("mlp-sequential-pt");
}

#[test]
fn torchscript_is_refused_with_what_is_supported() {
    let err =
        CandleModel::load(&fixtures().join("torchscript"), LoadOptions::default()).unwrap_err();
    assert!(matches!(err, CandleError::TorchScript { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("TorchScript") && text.contains("model.safetensors"),
        "{text}"
    );
}

#[test]
fn unknown_architectures_and_missing_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type":"gpt2","architectures":["GPT2LMHeadModel"]}"#,
    )
    .unwrap();
    let err = CandleModel::load(dir.path(), LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gpt2") && err.contains("bert, roberta, distilbert"),
        "{err}"
    );
    std::fs::write(dir.path().join("config.json"), "{not json").unwrap();
    assert!(CandleModel::load(dir.path(), LoadOptions::default()).is_err());
    let empty = tempfile::tempdir().unwrap();
    let err = CandleModel::load(empty.path(), LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("config.json"), "{err}");
    // Garbage weights: an error, not a panic.
    let bad = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("mlp-safetensors/mlp.json"),
        bad.path().join("mlp.json"),
    )
    .unwrap();
    std::fs::write(
        bad.path().join("model.safetensors"),
        b"\x10\x00\x00\x00\x00\x00\x00\x00garbage!",
    )
    .unwrap();
    assert!(CandleModel::load(bad.path(), LoadOptions::default()).is_err());
    std::fs::remove_file(bad.path().join("model.safetensors")).unwrap();
    std::fs::write(bad.path().join("model.pt"), b"\x80\x02}q\x00.garbage").unwrap();
    assert!(CandleModel::load(bad.path(), LoadOptions::default()).is_err());
}

#[test]
fn bad_input_is_bad_input() {
    let model = load("tiny-bert-cls");
    let bad = |request: PredictRequest| {
        let err = model.predict(request).unwrap_err();
        assert!(matches!(err, ModelError::BadInput(_)), "{err:?}");
        err.to_string()
    };
    let tensor = |shape: Vec<usize>, data| PredictRequest {
        inputs: vec![NamedTensor::new("args", Tensor::new(shape, data).unwrap())],
        outputs: vec![],
    };
    let msg = bad(tensor(
        vec![1],
        TensorData::Bytes(vec![vec![0xff, 0xfe, b'a']]),
    ));
    assert!(msg.contains("UTF-8"), "{msg}");
    let msg = bad(tensor(vec![2], TensorData::F64(vec![1.0, 2.0])));
    assert!(msg.contains("BYTES"), "{msg}");
    let msg = bad(tensor(vec![0], TensorData::Bytes(vec![])));
    assert!(msg.contains("no text"), "{msg}");
    bad(tensor(vec![2, 2], TensorData::Bytes(vec![vec![b'a']; 4])));
    bad(PredictRequest::default());
    // [N, 1] is accepted.
    let reply = model
        .predict(tensor(
            vec![2, 1],
            TensorData::Bytes(vec![b"good".to_vec(), b"bad".to_vec()]),
        ))
        .unwrap();
    assert_eq!(reply.outputs[0].tensor.shape(), [2, 3]);
    let mut unknown = text_request(&["a"]);
    unknown.outputs = vec!["embedding".into()];
    assert!(matches!(
        model.predict(unknown),
        Err(ModelError::UnknownOutput { .. })
    ));
    // The MLP: wrong width, text.
    let mlp = load("mlp-safetensors");
    let err = mlp
        .predict(tensor(vec![1, 3], TensorData::F64(vec![1.0; 3])))
        .unwrap_err();
    assert!(matches!(err, ModelError::BadInput(_)), "{err:?}");
    let err = mlp
        .predict(tensor(
            vec![1, 4],
            TensorData::Bytes(vec![b"x".to_vec(); 4]),
        ))
        .unwrap_err();
    assert!(matches!(err, ModelError::BadInput(_)), "{err:?}");
}

#[test]
fn task_and_normalize_options() {
    // A classifier's encoder asked for embeddings: mean pooling over its hidden states.
    let model = CandleModel::load(
        &fixtures().join("tiny-bert-cls"),
        LoadOptions {
            task: Some(Task::Embeddings),
            normalize: Some(true),
        },
    )
    .unwrap();
    let v = &embed(&model, &["the movie was great"])[0];
    assert_eq!(v.len(), 32);
    let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    assert!(!model.runs_inline());
}

#[test]
fn batches_larger_than_one_forward_pass_run_in_chunks() {
    let model = load("tiny-bert-cls");
    let expected = read(&fixtures().join("tiny-bert-cls/expected.json"));
    let cases = expected["cases"].as_array().unwrap();
    let texts: Vec<&str> = (0..150)
        .map(|i| cases[i % cases.len()]["text"].as_str().unwrap())
        .collect();
    let reply = model.predict(text_request(&texts)).unwrap();
    assert_eq!(reply.outputs[0].tensor.shape(), [150, 3]);
    let scores = f32s(&reply.outputs[0].tensor);
    for (i, row) in scores.chunks(3).enumerate() {
        for (g, w) in row.iter().zip(numbers(&cases[i % cases.len()]["scores"])) {
            assert!((g - w).abs() < 1e-5, "row {i}: {g} vs {w}");
        }
    }
}
