//! The common V2 REST request read in one pass without serde:
//! `{"id":"…","inputs":[{"name":"…","shape":[…],"datatype":"FP64","data":[…]}]}`, FP64 inputs whose `datatype`
//! comes before their `data` (as every client we know writes them), an optional plain `id`; and the binary
//! extension's JSON header, whose inputs carry `"parameters":{"binary_data_size":N}` instead of `data` (any
//! datatype: the values follow the JSON).
//!
//! Like Seldon's (`seldon/quick.rs`) it is a fast path, not a second reader: it builds exactly the
//! [`InferenceRequest`] that serde builds from the same text ([`InferenceRequest::from_json_general`]), or
//! declines (`None`) and serde reads the text, errors included. It declines on another key (request-level
//! `parameters`, `outputs`, another input parameter), a duplicate key, a string with an escape or a control
//! character, another datatype, `data` before `datatype`, `null` or a non-number in `data`, an empty or ragged
//! `data` list, a nesting of more than 32 lists, an integer of more than 18 digits, a number that overflows `f64`,
//! or invalid JSON. The fuzz harness (`protocol/fuzz-harness`) checks the equivalence on every input it runs. What
//! it saves on the seed's iris request: serde reads it in ~5,700 instructions; with this the whole request takes
//! ~4,400 fewer (`scripts/bench-instructions.sh`).

use oxserve_core::TensorData;

use serde_json::{Map, Value};

use super::BINARY_DATA_SIZE;
use super::json_data::TensorJson;
use super::rest::{InferenceRequest, RequestInput};
use crate::scan::{Leaves, Number, Reader};

/// Reads `json` if it is the common request shape; `None` to leave it to serde.
pub(crate) fn read(json: &[u8]) -> Option<InferenceRequest> {
    let mut r = Reader::new(json);
    let mut id = None;
    let mut inputs = None;
    r.object(|r, key| match key {
        b"id" if id.is_none() => {
            id = Some(r.owned_string()?);
            Some(())
        }
        b"inputs" if inputs.is_none() => {
            inputs = Some(r.list(input)?);
            Some(())
        }
        _ => None,
    })?;
    if !r.at_end() {
        return None;
    }
    Some(InferenceRequest {
        id,
        parameters: None,
        inputs: inputs?,
        outputs: None,
    })
}

/// One input: `name`, `shape`, `datatype`, and either FP64 `data` (after `datatype`) or, for a binary-extension
/// input whose values follow the JSON, `parameters` holding `binary_data_size` alone; nothing else.
fn input(r: &mut Reader<'_>) -> Option<RequestInput> {
    let mut name = None;
    let mut shape = None;
    let mut datatype: Option<String> = None;
    let mut parameters = None;
    let mut data = None;
    r.object(|r, key| match key {
        b"name" if name.is_none() => {
            name = Some(r.owned_string()?);
            Some(())
        }
        b"shape" if shape.is_none() => {
            shape = Some(r.list(integer)?);
            Some(())
        }
        b"datatype" if datatype.is_none() => {
            datatype = Some(r.owned_string()?);
            Some(())
        }
        b"parameters" if parameters.is_none() => {
            let mut size = None;
            r.object(|r, key| match key {
                b"binary_data_size" if size.is_none() => {
                    size = Some(integer(r)?);
                    Some(())
                }
                _ => None,
            })?;
            let mut map = Map::new();
            map.insert(BINARY_DATA_SIZE.to_owned(), Value::from(size?));
            parameters = Some(map);
            Some(())
        }
        // Serde reads `data` typed only when `datatype` came first.
        b"data" if data.is_none() && datatype.as_deref() == Some("FP64") => {
            let (_, leaves) = r.nested_numbers()?;
            data = Some(match leaves {
                Leaves::Floats(v) => v,
                Leaves::Ints(v) => v.into_iter().map(|x| x as f64).collect(),
                Leaves::None => return None,
            });
            Some(())
        }
        _ => None,
    })?;
    // An input with neither is serde's to refuse (or to read, with `data` untyped).
    if data.is_none() && parameters.is_none() {
        return None;
    }
    Some(RequestInput {
        name: name?,
        shape: shape?,
        datatype: datatype?,
        parameters,
        data: data.map(|values| TensorJson::from(TensorData::F64(values))),
    })
}

/// A JSON integer as serde_json reads it into an `i64` or a `Value` (a float, `-0` included, is declined).
fn integer(r: &mut Reader<'_>) -> Option<i64> {
    match r.number()? {
        Number::Int(v) => Some(v),
        Number::Float(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path's request, checked against serde's (by `Debug`, so that -0.0 and 0.0 differ).
    fn agreed(json: &str) -> Option<InferenceRequest> {
        let fast = read(json.as_bytes());
        if let Some(request) = &fast {
            let general = InferenceRequest::from_json_general(json.as_bytes());
            assert_eq!(
                format!("{:?}", Ok::<_, ()>(request)),
                format!("{:?}", general.as_ref().map_err(|_| ())),
                "{json}"
            );
        }
        fast
    }

    #[test]
    fn reads_the_common_requests_as_serde_does() {
        for json in [
            r#"{"inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP64","data":[5.1,3.5,1.4,0.2]}]}"#,
            r#"{"id":"x","inputs":[{"name":"a","shape":[2,2],"datatype":"FP64","data":[[1,2],[3,4.5]]}]}"#,
            r#"{"inputs":[{"shape":[-1],"datatype":"FP64","data":[-0,1e-400],"name":"ü"}],"id":"7"}"#,
            r#"{"inputs":[]}"#,
            r#"{"inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP64","parameters":{"binary_data_size":32}}]}"#,
            r#"{"inputs":[{"parameters":{"binary_data_size":-1},"name":"b","shape":[2],"datatype":"BYTES"}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","parameters":{"binary_data_size":8},"data":[1]}]}"#,
        ] {
            assert!(agreed(json).is_some(), "{json}");
        }
    }

    #[test]
    fn leaves_everything_else_to_serde() {
        for json in [
            r#"{"inputs":[{"name":"x","shape":[4],"datatype":"FP32","data":[1,2,3,4]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[4],"data":[1,2,3,4],"datatype":"FP64"}]}"#,
            r#"{"inputs":[{"name":"x","shape":[4],"datatype":"FP64","data":[1,2,3,null]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP64","data":[[1],2]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[0],"datatype":"FP64","data":[]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1.5],"datatype":"FP64","data":[1]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1],"parameters":{}}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","datatype":"FP64","data":[1]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}],"outputs":[]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}],"parameters":{}}"#,
            r#"{"id":null,"inputs":[]}"#,
            r#"{"id":"a\"b","inputs":[]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1e400]}]}"#,
            r#"{"inputs":[]} x"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[1]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64"}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","parameters":{"binary_data_size":1.0}}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","parameters":{"binary_data_size":8,"x":"y"}}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","parameters":{"content_type":"np"},"data":[1]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","parameters":null,"data":[1]}]}"#,
        ] {
            assert!(agreed(json).is_none(), "{json}");
        }
    }
}
