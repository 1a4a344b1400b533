//! KServe's V1 data plane JSON, as KServe's Python model server reads and writes it (`kserve.utils.utils`'s
//! `get_predict_input` / `get_predict_response`, `kserve.errors`):
//!
//! - a request is an object with `instances` or `inputs` (`inputs` wins when both are present), a list with
//!   one entry per row — TF Serving's row format, read by the same code ([`crate::tfserving`]): an unnamed
//!   value per row for a single-input model, or an object per row keyed by input name;
//! - a reply is `{"predictions": <the output as nested lists>}` (`ndarray.tolist()`); floats are written as
//!   orjson writes Python floats (the shortest text that reads back, a float32 widened first, `null` for NaN);
//!   a model answering several outputs gets TF Serving's row objects keyed by output name;
//! - an error is `{"error": "<message>"}`.
//!
//! Unlike TF Serving, `inputs` is not the columnar form: KServe reads it exactly as `instances`.

use oxserve_core::{NamedTensor, TensorSpec};

use crate::limits::RequestLimits;
use crate::tfserving::RequestError;
use crate::tfserving::json::{self, Json};
use crate::tfserving::rest::{Floats, decode_rows, write_nested, write_rows};

/// Reads a V1 `:predict` body against the model's inputs: the rows of `inputs`, else of `instances`, as
/// tensors in the signature's order. Every tensor's shape is charged to one budget of `limits` before its
/// buffer is reserved. A body that is not JSON is [`RequestError::Json`]; one without rows is
/// [`RequestError::Invalid`].
pub fn decode_predict(
    body: &[u8],
    signature: &[TensorSpec],
    limits: &RequestLimits,
) -> Result<Vec<NamedTensor>, RequestError> {
    let root = json::parse(body)?;
    let Json::Obj(_) = &root else {
        return Err(RequestError::Invalid(
            "Expected the request body to be a JSON object with \"instances\" or \"inputs\"".into(),
        ));
    };
    let (key, rows) = match (root.get("inputs"), root.get("instances")) {
        (Some(rows), _) => ("inputs", rows),
        (None, Some(rows)) => ("instances", rows),
        (None, None) => {
            return Err(RequestError::Invalid(
                "Expected \"instances\" or \"inputs\" in the request body".into(),
            ));
        }
    };
    if !matches!(rows, Json::Arr(_)) {
        return Err(RequestError::Invalid(format!(
            "Expected \"{key}\" to be a list"
        )));
    }
    decode_rows(rows, signature, &mut limits.budget())
}

/// Checks that a body is JSON, as KServe decodes every V1 body before the verb runs (`:explain` included).
pub fn check_json(body: &[u8]) -> Result<(), RequestError> {
    json::parse(body).map(|_| ())
}

/// Writes a V1 reply: `{"predictions": ...}` with the one output as nested lists (a scalar for a 0-d output),
/// or, with several outputs, one object per row keyed by output name (sorted by name).
pub fn encode_predict(outputs: &[NamedTensor]) -> Result<Vec<u8>, RequestError> {
    let bytes: usize = outputs.iter().map(|o| o.tensor.len() * 12).sum();
    let mut out = Vec::with_capacity(bytes + 32);
    out.extend_from_slice(b"{\"predictions\":");
    match outputs {
        [one] => write_nested(&mut out, one, one.tensor.shape(), 0, Floats::Shortest),
        many => {
            let mut sorted: Vec<&NamedTensor> = many.iter().collect();
            sorted.sort_by(|a, b| a.name.cmp(&b.name));
            write_rows(&mut out, &sorted, Floats::Shortest)?;
        }
    }
    out.push(b'}');
    Ok(out)
}

/// KServe's error body: `{"error": "<message>"}`.
pub fn error_body(message: &str) -> Vec<u8> {
    crate::tfserving::error_body(message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use oxserve_core::{DataType, Tensor, TensorData};

    use super::*;

    fn iris() -> Vec<TensorSpec> {
        vec![TensorSpec::new("input-0", DataType::F64, vec![-1, 4])]
    }

    fn decode(body: &str) -> Result<Vec<NamedTensor>, String> {
        decode_predict(body.as_bytes(), &iris(), &RequestLimits::default())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn instances_or_inputs_are_rows() {
        let quickstart = r#"{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}"#;
        let got = decode(quickstart).unwrap();
        assert_eq!(got[0].name, "input-0");
        assert_eq!(got[0].tensor.shape(), &[2, 4]);
        assert_eq!(got[0].tensor.to_f64_vec().unwrap()[4], 6.0);
        let got =
            decode(r#"{"inputs": [[1, 2, 3, 4]], "instances": [[0, 0, 0, 0], [0, 0, 0, 0]]}"#)
                .unwrap();
        assert_eq!(got[0].tensor.shape(), &[1, 4], "inputs wins, as in KServe");
        assert_eq!(
            decode(r#"{"instances": {"a": 1}}"#),
            Err("Expected \"instances\" to be a list".into())
        );
        assert_eq!(
            decode(r#"{"rows": []}"#),
            Err("Expected \"instances\" or \"inputs\" in the request body".into())
        );
        assert!(decode("[1]").is_err());
        assert!(decode("{").unwrap_err().starts_with("JSON Parse error"));
        assert!(
            decode(r#"{"instances": [[1, 2, 3]]}"#)
                .unwrap_err()
                .contains("[-1, 4]")
        );
        assert!(check_json(b"{}").is_ok());
        assert!(check_json(b"nope").is_err());
    }

    #[test]
    fn predictions_as_kserve_writes_them() {
        let labels = NamedTensor::new(
            "predict",
            Tensor::new(vec![2], TensorData::I64(vec![1, 1])).unwrap(),
        );
        assert_eq!(
            encode_predict(std::slice::from_ref(&labels)).unwrap(),
            br#"{"predictions":[1,1]}"#
        );
        let proba = NamedTensor::new(
            "p",
            Tensor::new(vec![1, 3], TensorData::F32(vec![0.9, 1.0, f32::NAN])).unwrap(),
        );
        assert_eq!(
            String::from_utf8(encode_predict(&[proba]).unwrap()).unwrap(),
            r#"{"predictions":[[0.8999999761581421,1.0,null]]}"#
        );
        let scalar = NamedTensor::new(
            "s",
            Tensor::new(vec![], TensorData::F64(vec![0.1])).unwrap(),
        );
        assert_eq!(
            encode_predict(&[scalar]).unwrap(),
            br#"{"predictions":0.1}"#
        );
        let second = NamedTensor::new(
            "a",
            Tensor::new(vec![2], TensorData::F64(vec![1e-7, 2.5])).unwrap(),
        );
        assert_eq!(
            String::from_utf8(encode_predict(&[labels, second]).unwrap()).unwrap(),
            r#"{"predictions":[{"a":1e-7,"predict":1},{"a":2.5,"predict":1}]}"#
        );
        assert_eq!(error_body("x"), br#"{"error":"x"}"#);
    }
}
