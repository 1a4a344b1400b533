//! Seldon v1's JSON messages: `SeldonMessage`, `Meta`, `Status`, `Feedback`, metadata.

use std::collections::BTreeMap;

use base64::Engine as _;
use oxserve_core::{Tensor, TensorData};
use serde::de::DeserializeSeed;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ndarray::{FlatRef, NdArray, NdArrayRef};
use super::tftensor;
use crate::limits::{Budget, RequestLimits};

/// A Seldon message: metadata plus exactly one payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeldonMessage {
    /// `meta`.
    pub meta: Meta,
    /// `data`, `binData`, `strData` or `jsonData`.
    pub payload: Payload,
    /// `status`, set on error replies and by some clients.
    pub status: Option<Status>,
}

/// The one payload a [`SeldonMessage`] carries.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Payload {
    /// `data`: named columns and a numeric or string array.
    Data(DefaultData),
    /// `binData`: bytes (base64 in JSON).
    BinData(Vec<u8>),
    /// `strData`: a string.
    StrData(String),
    /// `jsonData`: any JSON.
    JsonData(serde_json::Value),
    /// No payload (`{"meta":{}}`).
    #[default]
    None,
}

/// `data`: column names and one array form.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DefaultData {
    /// `names`: one per column (feature names in requests, output names in replies).
    pub names: Vec<String>,
    /// The array, in the form it came in (replies use the request's form).
    pub array: DataArray,
}

/// The array forms of `data`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum DataArray {
    /// `ndarray`: nested lists.
    NdArray(Tensor),
    /// `tensor`: `{shape, values}`.
    Tensor(Tensor),
    /// `tftensor`: a TensorFlow `TensorProto`.
    TfTensor(Tensor),
    /// `data` without an array (`{"data":{}}`).
    #[default]
    None,
}

/// Which array form a request used, so the reply can use the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayKind {
    /// `ndarray`.
    NdArray,
    /// `tensor`.
    Tensor,
    /// `tftensor`.
    TfTensor,
}

impl DataArray {
    /// The array's form, if any.
    pub fn kind(&self) -> Option<ArrayKind> {
        match self {
            DataArray::NdArray(_) => Some(ArrayKind::NdArray),
            DataArray::Tensor(_) => Some(ArrayKind::Tensor),
            DataArray::TfTensor(_) => Some(ArrayKind::TfTensor),
            DataArray::None => None,
        }
    }

    /// Wraps a tensor in the given form.
    pub fn of_kind(kind: ArrayKind, tensor: Tensor) -> DataArray {
        match kind {
            ArrayKind::NdArray => DataArray::NdArray(tensor),
            ArrayKind::Tensor => DataArray::Tensor(tensor),
            ArrayKind::TfTensor => DataArray::TfTensor(tensor),
        }
    }

    /// The tensor, whatever the form.
    pub fn tensor(&self) -> Option<&Tensor> {
        match self {
            DataArray::NdArray(t) | DataArray::Tensor(t) | DataArray::TfTensor(t) => Some(t),
            DataArray::None => None,
        }
    }

    /// Takes the tensor out, whatever the form.
    pub fn into_tensor(self) -> Option<Tensor> {
        match self {
            DataArray::NdArray(t) | DataArray::Tensor(t) | DataArray::TfTensor(t) => Some(t),
            DataArray::None => None,
        }
    }
}

/// `meta`. Keys serialize in sorted order; empty ones are omitted, as the Python wrapper does.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Meta {
    /// `metrics`: custom metrics, copied from request to reply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    /// `puid`: the prediction's id, copied from the request only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub puid: String,
    /// `requestPath`: node name → image, one entry per graph node that handled the request.
    #[serde(
        rename = "requestPath",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub request_path: BTreeMap<String, String>,
    /// `routing`: router decisions; read from requests, never written back by a model.
    #[serde(default, skip_serializing)]
    pub routing: BTreeMap<String, i32>,
    /// `tags`: free-form tags, copied from request to reply.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, serde_json::Value>,
}

/// One custom metric in `meta.metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The metric's name.
    pub key: String,
    /// Its tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// `COUNTER`, `GAUGE` or `TIMER`.
    #[serde(rename = "type", default = "default_metric_type")]
    pub kind: String,
    /// The value.
    #[serde(default)]
    pub value: f64,
}

fn default_metric_type() -> String {
    "COUNTER".to_string()
}

/// The error (or success) status of a Seldon reply: `{"code":-1,"info":"…","reason":"…","status":1}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// `code`: -1 on the Python wrapper's errors.
    #[serde(default)]
    pub code: i32,
    /// `info`: the message.
    #[serde(default)]
    pub info: String,
    /// `reason`: `MICROSERVICE_BAD_DATA`, `MICROSERVICE_INTERNAL_ERROR`, ...
    #[serde(default)]
    pub reason: String,
    /// `status`: 0 success, 1 failure (written as the integer; `"SUCCESS"`/`"FAILURE"` accepted on input).
    #[serde(default, deserialize_with = "status_flag")]
    pub status: i32,
}

fn status_flag<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Int(i32),
        Name(String),
    }
    Ok(match Flag::deserialize(d)? {
        Flag::Int(i) => i,
        Flag::Name(s) if s == "FAILURE" => 1,
        Flag::Name(_) => 0,
    })
}

impl Status {
    /// A failure status as the Python wrapper writes it.
    pub fn failure(reason: &str, info: impl Into<String>) -> Self {
        Status {
            code: -1,
            info: info.into(),
            reason: reason.to_string(),
            status: 1,
        }
    }
}

/// The body of an error reply: `{"status":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorBody {
    /// The status.
    pub status: Status,
}

/// `Feedback`: a request, the reply it got, a reward and the truth. Unknown fields are rejected, as the
/// wrapper's protobuf parse does.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// The original request.
    #[serde(default)]
    pub request: Option<SeldonMessage>,
    /// The reply it got.
    #[serde(default)]
    pub response: Option<SeldonMessage>,
    /// The reward.
    #[serde(default)]
    pub reward: f64,
    /// The true answer.
    #[serde(default)]
    pub truth: Option<SeldonMessage>,
}

impl Feedback {
    /// Reads a JSON `Feedback` (already parsed to a [`serde_json::Value`]), charging the tensors of its request,
    /// response and truth to one budget of `limits`; servers call this with their own body limit. The plain
    /// [`Deserialize`] impl charges each message to its own [`RequestLimits::default`] budget instead.
    pub fn from_value(
        value: serde_json::Value,
        limits: &RequestLimits,
    ) -> serde_json::Result<Feedback> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            #[serde(default)]
            request: Option<serde_json::Value>,
            #[serde(default)]
            response: Option<serde_json::Value>,
            #[serde(default)]
            reward: f64,
            #[serde(default)]
            truth: Option<serde_json::Value>,
        }
        let wire = Wire::deserialize(value)?;
        let mut budget = limits.budget();
        let mut message = |v: Option<serde_json::Value>| {
            v.map(|v| MessageSeed(&mut budget).deserialize(v))
                .transpose()
        };
        Ok(Feedback {
            request: message(wire.request)?,
            response: message(wire.response)?,
            reward: wire.reward,
            truth: message(wire.truth)?,
        })
    }
}

/// One input or output description in model metadata. Either Seldon's `{messagetype, schema}` form or the
/// V2-style `{name, datatype, shape}` form; absent keys are omitted.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageMetadata {
    /// `datatype` (V2 style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<String>,
    /// `messagetype`: `tensor`, `ndarray`, `tftensor`, `jsonData`, `strData`, `binData`, or custom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messagetype: Option<String>,
    /// `name` (V2 style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// `shape` (V2 style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<i64>>,
}

/// Model metadata as `GET /metadata` returns it (keys sorted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMetadataMessage {
    /// `custom`: string → string.
    #[serde(default)]
    pub custom: BTreeMap<String, String>,
    /// `inputs`.
    #[serde(default)]
    pub inputs: Vec<MessageMetadata>,
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `outputs`.
    #[serde(default)]
    pub outputs: Vec<MessageMetadata>,
    /// `platform`.
    #[serde(default)]
    pub platform: String,
    /// `versions`.
    #[serde(default)]
    pub versions: Vec<String>,
}

// ---- JSON (de)serialization of SeldonMessage ----

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    meta: Option<Meta>,
    #[serde(default)]
    data: Option<WireData>,
    #[serde(default, rename = "binData")]
    bin_data: Option<String>,
    #[serde(default, rename = "strData")]
    str_data: Option<String>,
    #[serde(default, rename = "jsonData", deserialize_with = "present_json")]
    json_data: Option<serde_json::Value>,
    #[serde(default)]
    status: Option<Status>,
}

/// Keeps `"jsonData": null` distinguishable from an absent key.
fn present_json<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct WireData {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    ndarray: Option<NdArray>,
    #[serde(default)]
    tensor: Option<WireTensor>,
    #[serde(default)]
    tftensor: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireTensor {
    #[serde(default)]
    shape: Vec<i64>,
    #[serde(default)]
    values: Vec<f64>,
}

/// Builds a float64 tensor from Seldon's `tensor` form, checking the shape (charged to `budget`) against the
/// values.
pub fn tensor_from_shape_values(
    shape: &[i64],
    values: Vec<f64>,
    budget: &mut Budget,
) -> Result<Tensor, String> {
    let dims = shape
        .iter()
        .map(|&d| {
            usize::try_from(d)
                .map_err(|_| format!("tensor shape {shape:?} has a negative dimension"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    budget.shape(&dims).map_err(|e| e.to_string())?;
    Tensor::new(dims, TensorData::F64(values)).map_err(|e| format!("tensor: {e}"))
}

impl SeldonMessage {
    /// Parses a JSON `SeldonMessage`, charging every tensor it declares to one budget of `limits` (a
    /// `tftensor` broadcast is refused before it allocates). The plain [`Deserialize`] impl does the same with
    /// [`RequestLimits::default`]; servers call this with their own body limit.
    pub fn from_json(json: &[u8], limits: &RequestLimits) -> serde_json::Result<SeldonMessage> {
        let mut budget = limits.budget();
        let mut de = serde_json::Deserializer::from_slice(json);
        let message = MessageSeed(&mut budget).deserialize(&mut de)?;
        de.end()?;
        Ok(message)
    }
}

/// Deserializes a [`SeldonMessage`] against a budget.
struct MessageSeed<'a>(&'a mut Budget);

impl<'de> DeserializeSeed<'de> for MessageSeed<'_> {
    type Value = SeldonMessage;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<SeldonMessage, D::Error> {
        let wire = WireMessage::deserialize(deserializer)?;
        wire.into_message(self.0).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for SeldonMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        MessageSeed(&mut Budget::default()).deserialize(deserializer)
    }
}

impl WireMessage {
    fn into_message(self, budget: &mut Budget) -> Result<SeldonMessage, String> {
        let wire = self;
        // The wrapper checks `data`, `jsonData`, `strData`, `binData` in that order.
        let payload = if let Some(data) = wire.data {
            let array = if let Some(nd) = data.ndarray {
                budget.shape(nd.0.shape()).map_err(|e| e.to_string())?;
                DataArray::NdArray(nd.0)
            } else if let Some(t) = data.tensor {
                DataArray::Tensor(tensor_from_shape_values(&t.shape, t.values, budget)?)
            } else if let Some(tf) = data.tftensor {
                DataArray::TfTensor(tftensor::from_json(&tf, budget)?)
            } else {
                DataArray::None
            };
            Payload::Data(DefaultData {
                names: data.names,
                array,
            })
        } else if let Some(j) = wire.json_data {
            Payload::JsonData(j)
        } else if let Some(s) = wire.str_data {
            Payload::StrData(s)
        } else if let Some(b) = wire.bin_data {
            Payload::BinData(
                base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .map_err(|e| format!("binData is not base64: {e}"))?,
            )
        } else {
            Payload::None
        };
        Ok(SeldonMessage {
            meta: wire.meta.unwrap_or_default(),
            payload,
            status: wire.status,
        })
    }
}

impl Serialize for SeldonMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Keys in sorted order: binData, data, jsonData, meta, status, strData.
        let mut map = serializer.serialize_map(None)?;
        match &self.payload {
            Payload::BinData(b) => map.serialize_entry(
                "binData",
                &base64::engine::general_purpose::STANDARD.encode(b),
            )?,
            Payload::Data(d) => map.serialize_entry("data", d)?,
            Payload::JsonData(j) => map.serialize_entry("jsonData", j)?,
            Payload::StrData(_) | Payload::None => {}
        }
        map.serialize_entry("meta", &self.meta)?;
        if let Some(status) = &self.status {
            map.serialize_entry("status", status)?;
        }
        if let Payload::StrData(s) = &self.payload {
            map.serialize_entry("strData", s)?;
        }
        map.end()
    }
}

impl Serialize for DefaultData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("names", &self.names)?;
        match &self.array {
            DataArray::NdArray(t) => map.serialize_entry("ndarray", &NdArrayRef(t))?,
            DataArray::Tensor(t) => map.serialize_entry("tensor", &TensorRef(t))?,
            DataArray::TfTensor(t) => map.serialize_entry("tftensor", &tftensor::JsonRef(t))?,
            DataArray::None => {}
        }
        map.end()
    }
}

/// Writes a tensor in Seldon's `{shape, values}` form; values keep their type (integers stay integers).
struct TensorRef<'a>(&'a Tensor);

impl Serialize for TensorRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("shape", self.0.shape())?;
        map.serialize_entry("values", &FlatRef(self.0))?;
        map.end()
    }
}
