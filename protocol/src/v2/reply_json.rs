//! The common V2 REST response written without serde's map and string machinery: byte for byte what
//! `serde_json::to_writer` writes for the same [`InferenceResponse`], or nothing (the caller then uses serde).
//!
//! It writes a response whose strings need no JSON escape (no control character, `"` or `\`), whose
//! `parameters` hold only such strings, and whose outputs carry typed `data` of numbers or booleans (no `BYTES`,
//! no `FP32`, no missing values, no binary blobs). Numbers go through serde_json's own formatter
//! (`CompactFormatter`), and a non-finite float is `null` as serde_json writes it. What it saves, on the seed's
//! iris request: ~4,400 instructions through serde, ~2,200 here (`scripts/bench-instructions.sh`).

use oxserve_core::TensorData;
use serde_json::ser::{CompactFormatter, Formatter};
use serde_json::{Map, Value};

use super::rest::InferenceResponse;

/// Writes `response` into `out` if it is a common one; `None` (with `out` partly written) otherwise.
pub(crate) fn write(response: &InferenceResponse, out: &mut Vec<u8>) -> Option<()> {
    out.extend_from_slice(b"{\"model_name\":");
    plain_string(out, &response.model_name)?;
    if let Some(version) = &response.model_version {
        out.extend_from_slice(b",\"model_version\":");
        plain_string(out, version)?;
    }
    out.extend_from_slice(b",\"id\":");
    plain_string(out, &response.id)?;
    if let Some(parameters) = &response.parameters {
        out.extend_from_slice(b",\"parameters\":");
        string_map(out, parameters)?;
    }
    out.extend_from_slice(b",\"outputs\":[");
    for (i, output) in response.outputs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        plain_string(out, &output.name)?;
        out.extend_from_slice(b",\"shape\":[");
        for (j, &d) in output.shape.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            CompactFormatter.write_i64(out, d).ok()?;
        }
        out.extend_from_slice(b"],\"datatype\":");
        plain_string(out, &output.datatype)?;
        if let Some(parameters) = &output.parameters {
            out.extend_from_slice(b",\"parameters\":");
            string_map(out, parameters)?;
        }
        if let Some(data) = &output.data {
            out.extend_from_slice(b",\"data\":");
            values(out, data.complete()?)?;
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Some(())
}

/// A JSON string serde_json writes without escapes (no control character, `"` or `\`), else `None`.
fn plain_string(out: &mut Vec<u8>, s: &str) -> Option<()> {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        return None;
    }
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
    Some(())
}

/// A map of plain strings to plain strings, in the map's order (serde's), else `None`.
fn string_map(out: &mut Vec<u8>, map: &Map<String, Value>) -> Option<()> {
    out.push(b'{');
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        plain_string(out, key)?;
        out.push(b':');
        plain_string(out, value.as_str()?)?;
    }
    out.push(b'}');
    Some(())
}

/// A flat array of numbers or booleans as serde_json writes them, else `None`.
fn values(out: &mut Vec<u8>, data: &TensorData) -> Option<()> {
    fn list<T: Copy>(
        out: &mut Vec<u8>,
        values: &[T],
        write: impl Fn(&mut Vec<u8>, T) -> std::io::Result<()>,
    ) -> Option<()> {
        out.push(b'[');
        for (i, &v) in values.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write(out, v).ok()?;
        }
        out.push(b']');
        Some(())
    }
    match data {
        TensorData::F64(v) => list(out, v, |out, x| {
            if x.is_finite() {
                CompactFormatter.write_f64(out, x)
            } else {
                CompactFormatter.write_null(out)
            }
        }),
        TensorData::I64(v) => list(out, v, |out, x| CompactFormatter.write_i64(out, x)),
        TensorData::I32(v) => list(out, v, |out, x| CompactFormatter.write_i32(out, x)),
        TensorData::U8(v) => list(out, v, |out, x| CompactFormatter.write_u8(out, x)),
        TensorData::Bool(v) => list(out, v, |out, x| CompactFormatter.write_bool(out, x)),
        TensorData::F32(_) | TensorData::Bytes(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use oxserve_core::Tensor;
    use serde_json::json;

    use super::*;
    use crate::v2::ResponseOutput;

    /// Every response written directly is what serde writes; the others are declined.
    #[test]
    fn the_common_response_is_written_as_serde_writes_it() {
        let datas = [
            TensorData::F64(vec![
                0.8780303050243248,
                1.0794924957148087e-05,
                -0.0,
                f64::NAN,
                f64::NEG_INFINITY,
                1e300,
            ]),
            TensorData::I64(vec![i64::MIN, 0, 7, i64::MAX, -1, 2]),
            TensorData::I32(vec![i32::MIN, 0, 7, i32::MAX, -1, 2]),
            TensorData::U8(vec![0, 1, 255, 3, 4, 5]),
            TensorData::Bool(vec![true, false, true, true, false, false]),
            TensorData::F32(vec![0.1; 6]),
            TensorData::Bytes(vec![b"a".to_vec(); 6]),
        ];
        let parameters = [
            None,
            Some(Map::new()),
            Some(
                json!({"content_type": "np", "b": "é"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
            Some(
                json!({"binary_data_size": 48})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
            Some(
                json!({"q": "a\"b"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        ];
        let names = ["predict_proba", "ünïcode", "tab\there", "back\\slash"];
        let mut direct = 0;
        for data in &datas {
            for params in &parameters {
                for name in names {
                    for version in [None, Some("v1".to_string())] {
                        let tensor = Tensor::new(vec![2, 3], data.clone()).expect("a tensor");
                        let mut output =
                            ResponseOutput::from_tensor(name, tensor).expect("an output");
                        output.parameters = params.clone();
                        let response = InferenceResponse {
                            model_name: "classifier".into(),
                            model_version: version,
                            id: "2dfac916-7ebb-401a-b4db-75e5d00b110d".into(),
                            parameters: params.clone(),
                            outputs: vec![output.clone(), output],
                        };
                        let serde = serde_json::to_vec(&response).expect("serde writes it");
                        let mut out = Vec::new();
                        if write(&response, &mut out).is_some() {
                            assert_eq!(
                                String::from_utf8_lossy(&out),
                                String::from_utf8_lossy(&serde)
                            );
                            direct += 1;
                        }
                    }
                }
            }
        }
        // Five datatypes, three parameter forms (none, empty, strings), two names (plain, non-ASCII), two versions.
        assert_eq!(direct, 5 * 3 * 2 * 2);
        let mut no_data = InferenceResponse {
            model_name: "m".into(),
            model_version: None,
            id: "i".into(),
            parameters: None,
            outputs: vec![],
        };
        let mut out = Vec::new();
        assert!(write(&no_data, &mut out).is_some());
        assert_eq!(out, serde_json::to_vec(&no_data).expect("serde"));
        no_data.model_name = "a\nb".into();
        assert!(write(&no_data, &mut Vec::new()).is_none());
    }
}
