//! MLmodel parsing, signature enforcement and the scoring protocol's bodies, without a server.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use oxserve_core::ColumnData;
use oxserve_mlflow::scoring::{self, Form};
use oxserve_mlflow::{Cell, Flavor, MlModel, MlflowError, TransformersTask, signature};

const IRIS: &str = r#"
flavors:
  python_function: {loader_module: mlflow.sklearn, model_path: model.skops, predict_fn: predict}
  sklearn: {pickled_model: model.skops, serialization_format: skops, code: null}
mlflow_version: 3.17.2
signature:
  inputs: '[{"type": "double", "name": "a", "required": true}, {"type": "long", "name": "b", "required": true},
    {"type": "double", "name": "c", "required": false}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
  params: '[{"name": "k", "type": "long", "default": 3, "shape": null}]'
"#;

fn iris() -> MlModel {
    MlModel::parse(Path::new("/m"), IRIS).unwrap()
}

#[test]
fn mlmodel_names_the_flavour_signature_and_version() {
    let m = iris();
    assert_eq!(
        m.flavor,
        Flavor::Skops {
            file: Path::new("/m/model.skops").to_path_buf(),
            flavor: "sklearn"
        }
    );
    assert_eq!(m.mlflow_version.as_deref(), Some("3.17.2"));
    let sig = m.signature.unwrap();
    assert!(sig.named_columns());
    assert_eq!(sig.params[0].name, "k");
    assert_eq!(
        sig.describe(),
        "['a': double (required), 'b': long (required), 'c': double (optional)]"
    );
}

#[test]
fn binary_columns_are_refused_at_load() {
    let text = IRIS.replace(
        r#""type": "long", "name": "b""#,
        r#""type": "binary", "name": "b""#,
    );
    let e = MlModel::parse(Path::new("/m"), &text).unwrap_err();
    assert!(
        matches!(e, MlflowError::Unsupported(ref m) if m.contains("`b` of type `binary`")),
        "{e}"
    );
}

#[test]
fn columns_by_name_optional_filled_and_mlflow_conversions() {
    let sig = iris().signature.unwrap();
    let inv = scoring::parse_json(
        br#"{"dataframe_records": [{"b": 2, "a": 1, "x": 9}, {"a": "2.5", "b": 3}]}"#,
    )
    .unwrap();
    assert_eq!(inv.form, Form::DataFrame);
    let m = signature::enforce(Some(&sig), &inv.frame).unwrap();
    assert_eq!((m.rows, m.cols), (2, 3));
    assert_eq!(&m.values[..2], &[1.0, 2.0]);
    assert!(m.values[2].is_nan());
    assert_eq!(&m.values[3..5], &[2.5, 3.0]);

    let inv =
        scoring::parse_json(br#"{"dataframe_split": {"columns": ["b", "z"], "data": [[1, 2]]}}"#)
            .unwrap();
    let e = signature::enforce(Some(&sig), &inv.frame).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Model is missing inputs ['a']. Note that there were extra inputs: ['z']."
    );
    let inv =
        scoring::parse_json(br#"{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2.5]]}}"#)
            .unwrap();
    let e = signature::enforce(Some(&sig), &inv.frame).unwrap_err();
    assert!(
        e.to_string()
            .contains("Can not safely convert float64 to int64"),
        "{e}"
    );
    let inv =
        scoring::parse_json(br#"{"dataframe_split": {"columns": ["a", "b"], "data": [["x", 1]]}}"#)
            .unwrap();
    let e = signature::enforce(Some(&sig), &inv.frame).unwrap_err();
    assert!(
        e.to_string()
            .contains("could not convert string to float: 'x'"),
        "{e}"
    );
}

#[test]
fn bodies_mlflow_refuses_are_refused() {
    for (body, want) in [
        (&b"{"[..], "valid JSON"),
        (
            br#"{"dataframe_splitt": {}}"#,
            "exactly one of the input fields",
        ),
        (
            br#"{"inputs": [[1]], "instances": [[1]]}"#,
            "exactly one of the input fields",
        ),
        (br#"{"inputs": [[1, 2], [3]]}"#, "row 1 has 1 values"),
        (br#"{"inputs": [[[1]]]}"#, "number, string, boolean or null"),
        (
            br#"{"inputs": {"a": [1, 2], "b": [3]}}"#,
            "column `b` has 1 values",
        ),
    ] {
        let e = scoring::parse_json(body).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    }
    let e = scoring::parse(Some("text/csv"), b"a,b\n1,2\n3\n").unwrap_err();
    assert!(
        e.to_string().contains("Expected 2 fields in line 3, saw 1"),
        "{e}"
    );
    let e = scoring::parse(Some("application/xml"), b"<a/>").unwrap_err();
    assert!(e.to_string().contains("Got 'application/xml'"), "{e}");
}

#[test]
fn csv_reads_as_pandas_does() {
    let inv = scoring::parse(
        Some("text/csv; charset=utf-8"),
        b"a,b,c\n1,2.5,\"x,y\"\n,-3,True\n",
    )
    .unwrap();
    let f = inv.frame;
    assert!(f.named);
    assert_eq!(f.rows, 2);
    assert_eq!(f.columns[0].cells, vec![Cell::Int(1), Cell::Null]);
    assert_eq!(f.columns[1].cells, vec![Cell::Float(2.5), Cell::Int(-3)]);
    assert_eq!(
        f.columns[2].cells,
        vec![Cell::Str("x,y".into()), Cell::Bool(true)]
    );
}

#[test]
fn custom_and_code_models_are_refused() {
    let custom = "flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n    python_model: python_model.pkl\n";
    let e = MlModel::parse(Path::new("/m"), custom).unwrap_err();
    assert!(matches!(e, MlflowError::CustomPython(_)), "{e}");
    let code = "flavors:\n  sklearn:\n    pickled_model: model.pkl\n    code: code\n";
    let e = MlModel::parse(Path::new("/m"), code).unwrap_err();
    assert!(e.to_string().contains("`code` paths"), "{e}");
    let outside = "flavors:\n  xgboost:\n    data: /etc/passwd\n";
    let e = MlModel::parse(Path::new("/m"), outside).unwrap_err();
    assert!(
        e.to_string()
            .contains("relative path inside the model folder"),
        "{e}"
    );
}

const TABLE: &str = r#"
flavors:
  sklearn: {pickled_model: model.skops, serialization_format: skops}
signature:
  inputs: '[{"type": "double", "name": "age"}, {"type": "string", "name": "color"},
    {"type": "boolean", "name": "member", "required": false}, {"type": "long", "name": "n"}]'
  outputs: '[{"type": "string", "name": "label", "required": true}]'
  params: '[{"name": "threshold", "default": 0.5, "shape": null, "type": "double"},
    {"name": "ks", "default": [1, 2], "shape": [-1], "type": "long"},
    {"name": "mode", "default": "fast", "shape": null, "type": "string"}]'
"#;

#[test]
fn string_and_boolean_columns_are_typed_in_the_signature_order() {
    let sig = MlModel::parse(Path::new("/m"), TABLE)
        .unwrap()
        .signature
        .unwrap();
    assert_eq!(sig.output_name(), Some("label"));
    let inv = scoring::parse_json(
        br#"{"dataframe_records": [{"n": "3", "color": "red", "age": 1, "x": 0},
            {"n": 4, "color": null, "age": 2.5, "member": true}]}"#,
    )
    .unwrap();
    let t = signature::enforce_table(Some(&sig), &inv.frame).unwrap();
    let names: Vec<&str> = t.names().collect();
    assert_eq!(names, ["age", "color", "member", "n"]);
    assert_eq!(t.columns()[0].data, ColumnData::F64(vec![1.0, 2.5]));
    assert_eq!(
        t.columns()[1].data,
        ColumnData::Str(vec![Some("red".into()), None])
    );
    assert_eq!(
        t.columns()[2].data,
        ColumnData::Bool(vec![None, Some(true)])
    );
    assert_eq!(t.columns()[3].data, ColumnData::I64(vec![Some(3), Some(4)]));
    // Numbers in a string column are their text; anything but booleans in a boolean column is refused.
    let inv = scoring::parse_json(
        br#"{"dataframe_split": {"columns": ["age", "color", "n", "member"], "data": [[1, 7, 1, "x"]]}}"#,
    )
    .unwrap();
    let e = signature::enforce_table(Some(&sig), &inv.frame).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Incompatible input types for column member. Can not safely convert object to bool."
    );
    let inv = scoring::parse_json(
        br#"{"dataframe_split": {"columns": ["age", "color", "n"], "data": [[1, 7, 1]]}}"#,
    )
    .unwrap();
    let t = signature::enforce_table(Some(&sig), &inv.frame).unwrap();
    assert_eq!(t.columns()[1].data, ColumnData::Str(vec![Some("7".into())]));
    // A numeric engine cannot take a string column.
    assert!(signature::enforce(Some(&sig), &inv.frame).is_err());
}

#[test]
fn params_take_defaults_and_mlflow_conversions_and_wording() {
    let sig = MlModel::parse(Path::new("/m"), TABLE)
        .unwrap()
        .signature
        .unwrap();
    let given = |body: &str| -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(body).unwrap()
    };
    let (params, ignored) = sig
        .enforce_params(Some(&given(r#"{"threshold": 1, "nope": 2}"#)))
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(params),
        serde_json::json!({"threshold": 1.0, "ks": [1, 2], "mode": "fast"})
    );
    assert_eq!(ignored, ["nope"]);
    let (params, _) = sig.enforce_params(None).unwrap();
    assert_eq!(params["threshold"], 0.5);
    for (body, want) in [
        (
            r#"{"threshold": "high"}"#,
            "Invalid parameters found: {('threshold', \"Failed to validate type and shape for 'threshold': \
             double (default: 0.5), error: Can not safely convert `<class 'str'>` to `DataType.double` for \
             value `high`\")}",
        ),
        (
            r#"{"mode": [1, "a"]}"#,
            "Invalid parameters found: {('mode', \"Failed to validate type and shape for 'mode': string \
             (default: fast), error: Value must be a scalar for type `DataType.string`, got `[1, 'a']`\")}",
        ),
        (
            r#"{"ks": [1.5]}"#,
            "Invalid parameters found: {('ks', \"Failed to validate type and shape for 'ks': long (default: \
             [1, 2]) (shape: (-1,)), error: Can not safely convert `<class 'float'>` to `DataType.long` for \
             value `1.5`\")}",
        ),
        (
            r#"{"ks": 3}"#,
            "Invalid parameters found: {('ks', \"Value must be a 1D array with shape (-1,) for param 'ks': long \
             (default: [1, 2]) (shape: (-1,)), received int with ndim 0\")}",
        ),
    ] {
        let e = sig.enforce_params(Some(&given(body))).unwrap_err();
        assert_eq!(e.to_string(), want, "{body}");
    }
}

/// The feature-extraction fixture (written by `mlflow.transformers.save_model`) is a served transformers task;
/// what would change pyfunc's answer (an `inference_task`, a `prompt_template`, a pipeline class of its own)
/// is refused with the reason.
#[test]
fn transformers_feature_extraction_is_served_and_its_variants_refused() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/cases/transformers_feature_extraction");
    let text = std::fs::read_to_string(dir.join("MLmodel")).unwrap();
    let m = MlModel::parse(&dir, &text).unwrap();
    assert_eq!(
        m.flavor,
        Flavor::Transformers {
            model_dir: dir.join("model"),
            tokenizer_dir: dir.join("components").join("tokenizer"),
            task: TransformersTask::FeatureExtraction,
        }
    );
    let refused = |text: String, want: &str| {
        let e = MlModel::parse(&dir, &text).unwrap_err();
        assert!(matches!(e, MlflowError::Unsupported(_)), "{e}");
        assert!(e.to_string().contains(want), "{e}");
    };
    refused(
        text.replace(
            "    task: feature-extraction",
            "    task: feature-extraction\n    inference_task: llm/v1/embeddings",
        ),
        "inference_task `llm/v1/embeddings`",
    );
    refused(
        format!("{text}metadata:\n  prompt_template: 'Q: {{prompt}}'\n"),
        "prompt_template",
    );
    refused(
        text.replace("FeatureExtractionPipeline", "MyPipeline"),
        "rather than transformers' FeatureExtractionPipeline",
    );
    refused(
        text.replace("task: feature-extraction", "task: fill-mask"),
        "task `fill-mask` is not served",
    );
}
