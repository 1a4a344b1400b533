//! Conversions between the protobuf `seldon.protos.SeldonMessage` and [`SeldonMessage`].

use std::collections::BTreeMap;

use oxserve_core::{Table, Tensor, TensorData};
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value as PbValue};

use super::message::{
    DataArray, DefaultData, Feedback, Meta, Metric, Payload, SeldonMessage, Status,
};
use super::tftensor;
use crate::limits::{Budget, RequestLimits};
use crate::pb::seldon::protos as pb;

/// Why a protobuf SeldonMessage (or Feedback) could not be read: always the sender's fault (a shape its values do
/// not fill, a ragged or mixed `ndarray`, a tensor over the request's budget, `customData`). It reads as its
/// message (`Deref<Target = str>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

impl std::ops::Deref for DecodeError {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<DecodeError> for String {
    fn from(e: DecodeError) -> String {
        e.0
    }
}

/// Reads a protobuf SeldonMessage, charging the tensor it declares to one budget of `limits` before
/// allocating it (a `tftensor` broadcast or a `[2147483647, 0]` shape is refused).
pub fn from_pb(
    msg: pb::SeldonMessage,
    limits: &RequestLimits,
) -> Result<SeldonMessage, DecodeError> {
    message_from_pb(msg, &mut limits.budget()).map_err(DecodeError)
}

fn message_from_pb(msg: pb::SeldonMessage, budget: &mut Budget) -> Result<SeldonMessage, String> {
    let payload = match msg.data_oneof {
        Some(pb::seldon_message::DataOneof::Data(d)) => {
            let array = match d.data_oneof {
                Some(pb::default_data::DataOneof::Tensor(t)) => {
                    DataArray::Tensor(super::tensor_from_shape_values(
                        &t.shape.iter().map(|&d| i64::from(d)).collect::<Vec<_>>(),
                        t.values,
                        budget,
                    )?)
                }
                Some(pb::default_data::DataOneof::Ndarray(l)) => match list_to_tensor(&l, budget) {
                    Ok(t) => DataArray::NdArray(t),
                    Err(e) => match mixed_rows(&l, budget, &d.names) {
                        Some(table) => DataArray::Table(table),
                        None => return Err(e),
                    },
                },
                Some(pb::default_data::DataOneof::Tftensor(t)) => {
                    DataArray::TfTensor(tftensor::from_proto(&t, budget)?)
                }
                None => DataArray::None,
            };
            Payload::Data(DefaultData {
                names: d.names,
                array,
            })
        }
        Some(pb::seldon_message::DataOneof::BinData(b)) => Payload::BinData(b),
        Some(pb::seldon_message::DataOneof::StrData(s)) => Payload::StrData(s),
        Some(pb::seldon_message::DataOneof::JsonData(v)) => Payload::JsonData(pb_to_json(&v)),
        Some(pb::seldon_message::DataOneof::CustomData(_)) => {
            return Err("customData is not supported by this server".to_string());
        }
        None => Payload::None,
    };
    Ok(SeldonMessage {
        meta: msg.meta.map(meta_from_pb).unwrap_or_default(),
        payload,
        status: msg.status.map(|s| Status {
            code: s.code,
            info: s.info,
            reason: s.reason,
            status: s.status,
        }),
    })
}

/// Writes a protobuf SeldonMessage. `ndarray` numbers become doubles, as in the Python wrapper's gRPC replies.
pub fn to_pb(msg: &SeldonMessage) -> pb::SeldonMessage {
    let data_oneof = match &msg.payload {
        Payload::Data(d) => Some(pb::seldon_message::DataOneof::Data(pb::DefaultData {
            names: d.names.clone(),
            data_oneof: match &d.array {
                DataArray::NdArray(t) => {
                    Some(pb::default_data::DataOneof::Ndarray(tensor_to_list(t)))
                }
                DataArray::Tensor(t) => Some(pb::default_data::DataOneof::Tensor(pb::Tensor {
                    shape: t
                        .shape()
                        .iter()
                        .map(|&d| i32::try_from(d).unwrap_or(i32::MAX))
                        .collect(),
                    values: t.to_f64_vec().unwrap_or_default(),
                })),
                DataArray::TfTensor(t) => {
                    Some(pb::default_data::DataOneof::Tftensor(tftensor::to_proto(t)))
                }
                DataArray::Table(t) => Some(pb::default_data::DataOneof::Ndarray(table_to_list(t))),
                DataArray::None => None,
            },
        })),
        Payload::BinData(b) => Some(pb::seldon_message::DataOneof::BinData(b.clone())),
        Payload::StrData(s) => Some(pb::seldon_message::DataOneof::StrData(s.clone())),
        Payload::JsonData(j) => Some(pb::seldon_message::DataOneof::JsonData(json_to_pb(j))),
        Payload::None => None,
    };
    pb::SeldonMessage {
        status: msg.status.as_ref().map(|s| pb::Status {
            code: s.code,
            info: s.info.clone(),
            reason: s.reason.clone(),
            status: s.status,
        }),
        meta: Some(meta_to_pb(&msg.meta)),
        data_oneof,
    }
}

/// Reads a protobuf Feedback; its three messages share one budget of `limits`.
pub fn feedback_from_pb(fb: pb::Feedback, limits: &RequestLimits) -> Result<Feedback, DecodeError> {
    let mut budget = limits.budget();
    let mut read = |m: Option<pb::SeldonMessage>| {
        m.map(|m| message_from_pb(m, &mut budget).map_err(DecodeError))
            .transpose()
    };
    Ok(Feedback {
        request: read(fb.request)?,
        response: read(fb.response)?,
        reward: f64::from(fb.reward),
        truth: read(fb.truth)?,
    })
}

fn meta_from_pb(m: pb::Meta) -> Meta {
    Meta {
        metrics: m
            .metrics
            .into_iter()
            .map(|x| Metric {
                key: x.key,
                tags: x.tags.into_iter().collect(),
                kind: pb::metric::MetricType::try_from(x.r#type)
                    .map(|t| t.as_str_name().to_string())
                    .unwrap_or_else(|_| "COUNTER".to_string()),
                value: f64::from(x.value),
            })
            .collect(),
        puid: m.puid,
        request_path: m.request_path.into_iter().collect(),
        routing: m.routing.into_iter().collect(),
        tags: m
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), pb_to_json(v)))
            .collect(),
    }
}

fn meta_to_pb(m: &Meta) -> pb::Meta {
    pb::Meta {
        puid: m.puid.clone(),
        tags: m
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), json_to_pb(v)))
            .collect(),
        routing: Default::default(),
        request_path: m
            .request_path
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        metrics: m
            .metrics
            .iter()
            .map(|x| pb::Metric {
                key: x.key.clone(),
                r#type: pb::metric::MetricType::from_str_name(&x.kind)
                    .unwrap_or(pb::metric::MetricType::Counter) as i32,
                value: x.value as f32,
                tags: x.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            })
            .collect(),
    }
}

/// Converts a protobuf `Value` to JSON.
pub fn pb_to_json(v: &PbValue) -> serde_json::Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::NumberValue(n)) => {
            serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, Into::into)
        }
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::StructValue(s)) => serde_json::Value::Object(
            s.fields
                .iter()
                .map(|(k, v)| (k.clone(), pb_to_json(v)))
                .collect::<serde_json::Map<_, _>>(),
        ),
        Some(Kind::ListValue(l)) => {
            serde_json::Value::Array(l.values.iter().map(pb_to_json).collect())
        }
    }
}

/// Converts JSON to a protobuf `Value`.
pub fn json_to_pb(v: &serde_json::Value) -> PbValue {
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => Kind::ListValue(ListValue {
            values: a.iter().map(json_to_pb).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(Struct {
            fields: o
                .iter()
                .map(|(k, v)| (k.clone(), json_to_pb(v)))
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect(),
        }),
    };
    PbValue { kind: Some(kind) }
}

/// Flattens a rectangular `ListValue` of numbers (or of strings) into a tensor.
fn list_to_tensor(list: &ListValue, budget: &mut Budget) -> Result<Tensor, String> {
    let mut shape = Vec::new();
    let mut numbers = Vec::new();
    let mut strings = Vec::new();
    walk(list, 0, &mut shape, &mut numbers, &mut strings)?;
    let data = if strings.is_empty() {
        TensorData::F64(numbers)
    } else if numbers.is_empty() {
        TensorData::Bytes(strings)
    } else {
        return Err("ndarray mixes element types; use numbers only, or strings only".to_string());
    };
    budget.shape(&shape).map_err(|e| e.to_string())?;
    Tensor::new(shape, data).map_err(|e| e.to_string())
}

fn walk(
    list: &ListValue,
    depth: usize,
    shape: &mut Vec<usize>,
    numbers: &mut Vec<f64>,
    strings: &mut Vec<Vec<u8>>,
) -> Result<(), String> {
    if depth > 32 {
        return Err("ndarray nests deeper than 32 levels".to_string());
    }
    match shape.get(depth) {
        None if shape.len() == depth => shape.push(list.values.len()),
        Some(&n) if n == list.values.len() => {}
        _ => return Err("ndarray is ragged".to_string()),
    }
    let is_leaf_level = depth + 1 == shape.len()
        || list
            .values
            .first()
            .is_some_and(|v| !matches!(v.kind, Some(Kind::ListValue(_))));
    for v in &list.values {
        match &v.kind {
            Some(Kind::ListValue(inner)) => walk(inner, depth + 1, shape, numbers, strings)?,
            Some(Kind::NumberValue(n)) if is_leaf_level && shape.len() == depth + 1 => {
                numbers.push(*n)
            }
            Some(Kind::BoolValue(b)) if is_leaf_level && shape.len() == depth + 1 => {
                numbers.push(if *b { 1.0 } else { 0.0 })
            }
            Some(Kind::StringValue(s)) if is_leaf_level && shape.len() == depth + 1 => {
                strings.push(s.as_bytes().to_vec())
            }
            Some(Kind::NumberValue(_) | Kind::BoolValue(_) | Kind::StringValue(_)) => {
                return Err("ndarray is ragged".to_string());
            }
            _ => return Err("ndarray elements must be numbers or strings".to_string()),
        }
    }
    Ok(())
}

/// Rows that mix numbers, strings, booleans and `null` as a table (as the JSON `ndarray` reads them), named by
/// `names`; `None` when the list is not such rows (the one-type decoder's error then stands).
fn mixed_rows(list: &ListValue, budget: &mut Budget, names: &[String]) -> Option<Table> {
    let json = pb_to_json(&PbValue {
        kind: Some(Kind::ListValue(list.clone())),
    });
    match serde_json::from_value::<super::Rows>(json).ok()? {
        super::Rows::Table(t) => {
            budget.shape(&[t.rows(), t.columns().len()]).ok()?;
            Some(super::message::name_columns(t, names))
        }
        super::Rows::Tensor(_) => None,
    }
}

/// Writes a table as a nested `ListValue` of rows (numbers as doubles, missing values as `null`).
fn table_to_list(t: &Table) -> ListValue {
    let cell = |c: &oxserve_core::Column, i: usize| -> Kind {
        use oxserve_core::ColumnData;
        let null = Kind::NullValue(0);
        match &c.data {
            ColumnData::Str(v) => v.get(i).cloned().flatten().map_or(null, Kind::StringValue),
            ColumnData::Bool(v) => v.get(i).copied().flatten().map_or(null, Kind::BoolValue),
            data => data
                .f64_at(i)
                .filter(|x| !x.is_nan())
                .map_or(null, Kind::NumberValue),
        }
    };
    ListValue {
        values: (0..t.rows())
            .map(|i| PbValue {
                kind: Some(Kind::ListValue(ListValue {
                    values: t
                        .columns()
                        .iter()
                        .map(|c| PbValue {
                            kind: Some(cell(c, i)),
                        })
                        .collect(),
                })),
            })
            .collect(),
    }
}

/// Writes a tensor as a nested `ListValue` (numbers as doubles).
fn tensor_to_list(t: &Tensor) -> ListValue {
    let leaves: Vec<Kind> = match t.data() {
        TensorData::Bytes(v) => v
            .iter()
            .map(|b| Kind::StringValue(String::from_utf8_lossy(b).into_owned()))
            .collect(),
        TensorData::Bool(v) => v.iter().map(|&b| Kind::BoolValue(b)).collect(),
        _ => t
            .to_f64_vec()
            .unwrap_or_default()
            .into_iter()
            .map(Kind::NumberValue)
            .collect(),
    };
    let mut iter = leaves.into_iter();
    nest(t.shape(), &mut iter)
}

fn nest(shape: &[usize], leaves: &mut impl Iterator<Item = Kind>) -> ListValue {
    match shape {
        [] => ListValue {
            values: leaves
                .next()
                .map(|k| PbValue { kind: Some(k) })
                .into_iter()
                .collect(),
        },
        [n] => ListValue {
            values: leaves.take(*n).map(|k| PbValue { kind: Some(k) }).collect(),
        },
        [n, rest @ ..] => ListValue {
            values: (0..*n)
                .map(|_| PbValue {
                    kind: Some(Kind::ListValue(nest(rest, leaves))),
                })
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndarray_round_trips_through_protobuf() {
        let t = Tensor::new(vec![2, 2], TensorData::F64(vec![1.0, 2.0, 3.0, 4.0])).unwrap();
        let list = tensor_to_list(&t);
        assert_eq!(list_to_tensor(&list, &mut Budget::default()).unwrap(), t);
    }

    #[test]
    fn ragged_protobuf_ndarray_is_rejected() {
        let row = |n: usize| PbValue {
            kind: Some(Kind::ListValue(ListValue {
                values: (0..n)
                    .map(|i| PbValue {
                        kind: Some(Kind::NumberValue(i as f64)),
                    })
                    .collect(),
            })),
        };
        let ragged = ListValue {
            values: vec![row(2), row(3)],
        };
        assert!(list_to_tensor(&ragged, &mut Budget::default()).is_err());
        let mixed = ListValue {
            values: vec![
                row(2),
                PbValue {
                    kind: Some(Kind::NumberValue(1.0)),
                },
            ],
        };
        assert!(list_to_tensor(&mixed, &mut Budget::default()).is_err());
    }
}
