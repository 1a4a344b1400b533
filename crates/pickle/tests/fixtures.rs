//! The committed fixtures written by `tests/fixtures/gen.py` (real pickle, joblib, numpy and scikit-learn) read
//! back to exactly the values that script recorded in `expected.json`.

use std::path::{Path, PathBuf};

use oxserve_pickle::{ArrayData, Dtype, NdArray, Value};
use serde_json::{Value as J, json};

/// Every container and protocol the generator writes; each holds the same data structure.
const DATA_FILES: &[&str] = &[
    "data_p0.pkl",
    "data_p1.pkl",
    "data_p2.pkl",
    "data_p3.pkl",
    "data_p4.pkl",
    "data_p5.pkl",
    "data_p2.joblib",
    "data_p4.joblib",
    "data_p5.joblib",
    "data.joblib.z",
    "data.joblib.gz",
    "data.joblib.bz2",
    "data.joblib.lzma",
    "data.joblib.xz",
    "data.joblib.lz4",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(name: &str) -> Value {
    match oxserve_pickle::load_file(&fixture(name)) {
        Ok(v) => v,
        Err(e) => panic!("{name}: {e}"),
    }
}

fn expected() -> J {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Objects that pickle rebuilds through a helper: the helper's name stands for the class gen.py records.
fn class_alias(dotted: &str) -> &str {
    match dotted {
        "numpy.random._pickle.__generator_ctor" => "numpy.random._generator.Generator",
        other => other,
    }
}

fn canon_array(a: &NdArray) -> J {
    let data = match &a.data {
        ArrayData::Bool(v) => json!(v),
        ArrayData::Int(v) => json!(v),
        ArrayData::UInt(v) => json!(v),
        ArrayData::Float(v) => json!(v),
        ArrayData::Str(v) => json!(v),
        ArrayData::Object(v) => J::Array(v.iter().map(canon).collect()),
        ArrayData::Record(_) => {
            let Dtype::Record { fields, .. } = &a.dtype else {
                panic!("record data without a record dtype")
            };
            let mut out = serde_json::Map::new();
            for f in fields {
                let values = match f.dtype {
                    Dtype::Float(_) => json!(a.field_f64(&f.name).expect("float field")),
                    _ => json!(a.field_i64(&f.name).expect("int field")),
                };
                out.insert(f.name.clone(), values);
            }
            json!({ "fields": out })
        }
    };
    json!({ "array": { "dtype": a.dtype.descr(), "shape": a.shape, "data": data } })
}

/// The canonical JSON of gen.py's docstring.
fn canon(v: &Value) -> J {
    match v {
        Value::None => J::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::BigInt(b) => json!({ "bigint_le": hex(b) }),
        Value::Float(f) => json!(f),
        Value::Str(s) => json!(s),
        Value::Bytes(b) => json!({ "bytes": hex(b) }),
        Value::List(items) => json!({ "list": items.iter().map(canon).collect::<Vec<_>>() }),
        Value::Tuple(items) => json!({ "tuple": items.iter().map(canon).collect::<Vec<_>>() }),
        Value::Set(items) => json!({ "set": items.iter().map(canon).collect::<Vec<_>>() }),
        Value::Dict(items) => {
            json!({ "dict": items.iter().map(|(k, v)| json!([canon(k), canon(v)])).collect::<Vec<_>>() })
        }
        Value::Array(a) => canon_array(a),
        Value::Dtype(d) => json!({ "dtype": d.descr() }),
        Value::Global(q) => json!({ "global": q.dotted() }),
        Value::Object(o) if o.class.dotted() == "builtins.slice" => {
            json!({ "object": "builtins.slice", "args": o.args.iter().map(canon).collect::<Vec<_>>() })
        }
        Value::Object(o) => json!({ "object": class_alias(&o.class.dotted()) }),
    }
}

/// Sorts the elements of every `{"set": [...]}`, so that set order does not matter.
fn normalise(j: &mut J) {
    match j {
        J::Array(items) => items.iter_mut().for_each(normalise),
        J::Object(map) => {
            map.values_mut().for_each(normalise);
            if let Some(J::Array(items)) = map.get_mut("set") {
                items.sort_by_key(|a| a.to_string());
            }
        }
        _ => {}
    }
}

#[test]
fn every_protocol_and_container_reads_the_same_values() {
    let mut want = expected()["data"].clone();
    normalise(&mut want);
    let want_entries = want["dict"].as_array().expect("data is a dict").clone();
    let mut failures = Vec::new();
    for file in DATA_FILES {
        let mut got = canon(&load(file));
        normalise(&mut got);
        let got_entries = got["dict"].as_array().cloned().unwrap_or_default();
        if got_entries.len() != want_entries.len() {
            failures.push(format!(
                "{file}: {} entries, want {}",
                got_entries.len(),
                want_entries.len()
            ));
        }
        for (g, w) in got_entries.iter().zip(&want_entries) {
            if g != w {
                failures.push(format!("{file}: {}\n   got  {g}\n   want {w}", w[0]));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tiny_tree_model() {
    let want = &expected()["models"]["tree"];
    let model = load("tree.joblib");
    let tree_clf = model.as_object().expect("object");
    assert_eq!(
        tree_clf.class.dotted(),
        "sklearn.tree._classes.DecisionTreeClassifier"
    );
    let classes = tree_clf
        .get("classes_")
        .and_then(Value::as_array)
        .expect("classes_");
    assert!(
        matches!(classes.dtype, Dtype::Unicode(_)),
        "string labels are a U array"
    );
    assert_eq!(canon_array(classes)["array"]["data"], want["classes"]);
    let tree = tree_clf
        .get("tree_")
        .and_then(Value::as_object)
        .expect("tree_");
    assert_eq!(
        tree.get("node_count").and_then(Value::as_i64),
        want["node_count"].as_i64()
    );
    let nodes = tree.get("nodes").and_then(Value::as_array).expect("nodes");
    assert_eq!(
        json!(nodes.field_f64("threshold").expect("threshold")),
        want["threshold"]
    );
    assert_eq!(
        json!(nodes.field_i64("feature").expect("feature")),
        want["feature"]
    );
    assert_eq!(
        json!(nodes.field_i64("left_child").expect("left_child")),
        want["left_child"]
    );
}

#[test]
fn tiny_pipeline_model() {
    let want = &expected()["models"]["pipeline"];
    let model = load("pipeline.joblib.z");
    let pipe = model.as_object().expect("object");
    assert_eq!(pipe.class.dotted(), "sklearn.pipeline.Pipeline");
    let steps = pipe.get("steps").and_then(Value::as_seq).expect("steps");
    let names: Vec<&str> = steps
        .iter()
        .filter_map(|s| s.as_seq()?.first()?.as_str())
        .collect();
    assert_eq!(json!(names), want["steps"]);
    let step = |i: usize| {
        steps[i]
            .as_seq()
            .and_then(|s| s.get(1))
            .and_then(Value::as_object)
            .expect("step")
    };
    let mean = step(0)
        .get("mean_")
        .and_then(Value::as_array)
        .expect("mean_");
    assert_eq!(json!(mean.to_f64().expect("f64")), want["mean"]);
    let coef = step(1)
        .get("coef_")
        .and_then(Value::as_array)
        .expect("coef_");
    assert_eq!(json!(coef.shape), want["coef_shape"]);
    assert_eq!(json!(coef.to_f64().expect("f64")), want["coef"]);
}
