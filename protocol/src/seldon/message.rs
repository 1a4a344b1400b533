//! Seldon v1's JSON messages: `SeldonMessage`, `Meta`, `Status`, `Feedback`, metadata.

use std::collections::BTreeMap;

use base64::Engine as _;
use oxserve_core::{Column, Table, Tensor, TensorData};
use serde::de::DeserializeSeed;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[cfg(feature = "openapi")]
use super::ndarray::NdArray;
use super::ndarray::{FlatRef, NdArrayRef, Rows, TableRows};
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
    /// `ndarray` whose rows mix element types (numbers, strings, booleans, `null`): a table whose columns are
    /// named by `names` when it has one per column, else `0`, `1`, ... Requests only.
    Table(Table),
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
            DataArray::NdArray(_) | DataArray::Table(_) => Some(ArrayKind::NdArray),
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
            DataArray::Table(_) | DataArray::None => None,
        }
    }

    /// Takes the tensor out, whatever the form.
    pub fn into_tensor(self) -> Option<Tensor> {
        match self {
            DataArray::NdArray(t) | DataArray::Tensor(t) | DataArray::TfTensor(t) => Some(t),
            DataArray::Table(_) | DataArray::None => None,
        }
    }
}

/// `meta`. Keys serialize in sorted order; empty ones are omitted, as the Python wrapper does.
///
/// Its OpenAPI schema (feature `openapi`) is written by hand below: `routing` is read but never written, which a
/// derive would drop from the schema altogether.
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::status_flag))]
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
///
/// Its OpenAPI schema (feature `openapi`, named `SeldonError`) is narrower than [`Status`]'s: `code` -1, `status`
/// 1 and `reason` one of the `REASON_*` constants, as [`Status::failure`] writes them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorBody {
    /// The status.
    pub status: Status,
}

/// `Feedback`: a request, the reply it got, a reward and the truth. Unknown fields are rejected, as the
/// wrapper's protobuf parse does.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    ///
    /// Anything but a JSON object, unknown fields, wrong types and tensors over the budget are a
    /// [`FeedbackError`] (the sender's fault).
    pub fn from_value(
        value: serde_json::Value,
        limits: &RequestLimits,
    ) -> Result<Feedback, FeedbackError> {
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
        if !value.is_object() {
            return Err(FeedbackError(serde::de::Error::custom(format!(
                "a Feedback must be an object, got {value}"
            ))));
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

/// Why a JSON `Feedback` could not be read: always the sender's fault (not an object, an unknown field, a wrong
/// type, a tensor over the request's budget). It reads as the Python wrapper's message, `Invalid JSON: …`.
#[derive(Debug, thiserror::Error)]
#[error("Invalid JSON: {0}")]
pub struct FeedbackError(#[from] serde_json::Error);

/// One input or output description in model metadata. Either Seldon's `{messagetype, schema}` form or the
/// V2-style `{name, datatype, shape}` form; absent keys are omitted.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MessageMetadata {
    /// `datatype` (V2 style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub datatype: Option<String>,
    /// `messagetype`: `tensor`, `ndarray`, `tftensor`, `jsonData`, `strData`, `binData`, or custom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub messagetype: Option<String>,
    /// `name` (V2 style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub name: Option<String>,
    /// `schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub schema: Option<serde_json::Value>,
    /// `shape` (V2 style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub shape: Option<Vec<i64>>,
}

/// Model metadata as `GET /metadata` returns it (keys sorted).
// Every field is always written, so the OpenAPI schema (feature `openapi`, named `SeldonModelMetadata`: it
// describes the reply) requires them all, though a metadata file may leave them out.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = SeldonModelMetadata)
)]
#[serde(deny_unknown_fields)]
pub struct ModelMetadataMessage {
    /// `custom`: string → string.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub custom: BTreeMap<String, String>,
    /// `inputs`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub inputs: Vec<MessageMetadata>,
    /// `name`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub name: String,
    /// `outputs`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub outputs: Vec<MessageMetadata>,
    /// `platform`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub platform: String,
    /// `versions`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub versions: Vec<String>,
}

// ---- JSON (de)serialization of SeldonMessage ----

// The wire structs below are what a JSON `SeldonMessage` is read into, so their derived OpenAPI schemas (feature
// `openapi`) are the schemas of `SeldonMessage`, `DefaultData` and Seldon's `tensor` form; the public types'
// `ToSchema` hands them out (see `openapi` at the end of this file). What `Serialize` writes is a subset.

/// A Seldon message: `meta` plus one payload (`data`, `binData`, `strData` or `jsonData`; the first present, in
/// that order, is used).
#[derive(Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = SeldonMessage)
)]
struct WireMessage {
    #[serde(default)]
    data: Option<WireData>,
    /// Bytes, base64-encoded.
    #[serde(default, rename = "binData")]
    #[cfg_attr(feature = "openapi", schema(format = Byte))]
    bin_data: Option<String>,
    #[serde(default, rename = "strData")]
    str_data: Option<String>,
    /// Any JSON.
    #[serde(default, rename = "jsonData", deserialize_with = "present_json")]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    json_data: Option<serde_json::Value>,
    #[serde(default)]
    meta: Option<Meta>,
    #[serde(default)]
    status: Option<Status>,
}

/// Keeps `"jsonData": null` distinguishable from an absent key.
fn present_json<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// A mixed `ndarray`'s table with the request's `names`, when it has one distinct name per column.
pub(crate) fn name_columns(table: Table, names: &[String]) -> Table {
    let distinct = names
        .iter()
        .enumerate()
        .all(|(i, n)| !names[..i].contains(n));
    if names.len() != table.columns().len() || !distinct {
        return table;
    }
    let columns = table
        .into_columns()
        .into_iter()
        .zip(names)
        .map(|(c, n)| Column::new(n.clone(), c.data))
        .collect::<Vec<_>>();
    // Same lengths as before and distinct names: `new` cannot refuse them.
    Table::new(columns).unwrap_or_default()
}

/// `data`: column names and one array form.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = DefaultData))]
struct WireData {
    /// One name per column (feature names in requests, output names such as `t:0` in replies).
    #[serde(default)]
    names: Vec<String>,
    /// Nested lists, one inner list per row (a flat list is one row).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::ndarray))]
    ndarray: Option<Rows>,
    #[serde(default)]
    tensor: Option<WireTensor>,
    /// A TensorFlow `TensorProto` in its JSON form (read only when neither `ndarray` nor `tensor` is present).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    tftensor: Option<serde_json::Value>,
}

/// Seldon's `tensor` form: a shape and the values, flat and row-major.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = SeldonTensor))]
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
    ///
    /// The common request (a numeric `ndarray`, plain `names`, an empty or absent `meta`) is read by a fast path that builds the
    /// same message; everything else by [`SeldonMessage::from_json_general`].
    pub fn from_json(json: &[u8], limits: &RequestLimits) -> serde_json::Result<SeldonMessage> {
        if let Some(message) = super::quick::read(json, &mut limits.budget()) {
            return Ok(message);
        }
        Self::from_json_general(json, limits)
    }

    /// [`SeldonMessage::from_json`] without its fast path: the serde reader of every form and every error, what
    /// the fast path must agree with (the fuzz harness compares the two on each input).
    pub fn from_json_general(
        json: &[u8],
        limits: &RequestLimits,
    ) -> serde_json::Result<SeldonMessage> {
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
                match nd {
                    Rows::Tensor(t) => {
                        budget.shape(t.shape()).map_err(|e| e.to_string())?;
                        DataArray::NdArray(t)
                    }
                    Rows::Table(t) => {
                        budget
                            .shape(&[t.rows(), t.columns().len()])
                            .map_err(|e| e.to_string())?;
                        DataArray::Table(name_columns(t, &data.names))
                    }
                }
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
            DataArray::Table(t) => map.serialize_entry("ndarray", &TableRows(t))?,
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

/// The OpenAPI schemas (feature `openapi`) of the types whose serde is written by hand: each says what that code
/// reads and writes.
#[cfg(feature = "openapi")]
mod openapi {
    use std::borrow::Cow;

    use utoipa::openapi::schema::{
        ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType,
        Type,
    };
    use utoipa::openapi::{Ref, RefOr};
    use utoipa::{PartialSchema, ToSchema};

    use super::{
        DefaultData, ErrorBody, Meta, Metric, NdArray, SeldonMessage, WireData, WireMessage,
    };
    use crate::seldon::{
        REASON_BAD_DATA, REASON_BAD_METADATA, REASON_INTERNAL_ERROR, REASON_OVERLOADED,
    };

    type Schemas = Vec<(String, RefOr<Schema>)>;

    /// `Status.status`: the integer, or any string (`"FAILURE"` reads as 1, any other as 0).
    pub(super) fn status_flag() -> Schema {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32))),
            )
            .item(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(
                "0 success, 1 failure; `\"SUCCESS\"`/`\"FAILURE\"` accepted on input.",
            ))
            .into()
    }

    /// `data.ndarray`: [`NdArray`]'s schema, or `null` for none.
    pub(super) fn ndarray() -> RefOr<Schema> {
        let mut schema = NdArray::schema();
        if let RefOr::T(Schema::Array(array)) = &mut schema {
            array.schema_type = SchemaType::from_iter([Type::Array, Type::Null]);
        }
        schema
    }

    impl PartialSchema for SeldonMessage {
        fn schema() -> RefOr<Schema> {
            WireMessage::schema()
        }
    }

    /// `SeldonMessage`: what [`SeldonMessage::from_json`] reads (its wire struct's derived schema).
    impl ToSchema for SeldonMessage {
        fn name() -> Cow<'static, str> {
            WireMessage::name()
        }

        fn schemas(schemas: &mut Schemas) {
            WireMessage::schemas(schemas);
        }
    }

    impl PartialSchema for DefaultData {
        fn schema() -> RefOr<Schema> {
            WireData::schema()
        }
    }

    /// `DefaultData`: what the message reader reads into `data`.
    impl ToSchema for DefaultData {
        fn name() -> Cow<'static, str> {
            WireData::name()
        }

        fn schemas(schemas: &mut Schemas) {
            WireData::schemas(schemas);
        }
    }

    impl PartialSchema for Meta {
        fn schema() -> RefOr<Schema> {
            let map = |values: RefOr<Schema>, description: &str| {
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .additional_properties(Some(values))
                    .property_names(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .description(Some(description))
            };
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(
                    "`meta`: copied from request to reply, with this node added to `requestPath`.",
                ))
                .property(
                    "metrics",
                    ArrayBuilder::new()
                        .items(RefOr::Ref(Ref::from_schema_name(Metric::name())))
                        .description(Some("Custom metrics.")),
                )
                .property(
                    "puid",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .description(Some("The prediction's id.")),
                )
                .property(
                    "requestPath",
                    map(String::schema(), "Graph node name → image."),
                )
                .property(
                    "routing",
                    map(
                        i32::schema(),
                        "Router decisions (read from requests, never written).",
                    )
                    .write_only(true),
                )
                .property("tags", map(serde_json::Value::schema(), "Free-form tags."))
                .into()
        }
    }

    /// `Meta`: every key optional; `routing` is read from requests only (a derive would drop it, since serde
    /// skips it when writing).
    impl ToSchema for Meta {
        fn schemas(schemas: &mut Schemas) {
            schemas.push((Metric::name().into_owned(), Metric::schema()));
            Metric::schemas(schemas);
        }
    }

    /// The error reply's `status`: always `code` -1 and `status` 1 ([`Status::failure`](super::Status::failure)).
    fn error_status() -> Schema {
        let int = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
                .description(Some(description))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("The status of an error reply."))
            .property("code", int("Always -1."))
            .required("code")
            .property(
                "info",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("What went wrong.")),
            )
            .required("info")
            .property("reason", RefOr::Ref(Ref::from_schema_name("ErrorReason")))
            .required("reason")
            .property("status", int("Always 1 (failure)."))
            .required("status")
            .into()
    }

    /// Why a request failed: the `REASON_*` constants the runtime's error table writes.
    fn error_reason() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "Why a request failed: bad data (or size), an internal error, metadata that fails Seldon's \
                 schema, or too many requests at once.",
            ))
            .enum_values(Some([
                REASON_BAD_DATA,
                REASON_INTERNAL_ERROR,
                REASON_BAD_METADATA,
                REASON_OVERLOADED,
            ]))
            .into()
    }

    impl PartialSchema for ErrorBody {
        // `example`, as the other schemas' `#[schema(example = …)]` write it (Swagger UI shows it).
        #[allow(deprecated)]
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(
                    "A Seldon error reply, e.g. \
                     `{\"status\":{\"code\":-1,\"info\":\"…\",\"reason\":\"MICROSERVICE_BAD_DATA\",\"status\":1}}`.",
                ))
                .property("status", RefOr::Ref(Ref::from_schema_name("ErrorStatus")))
                .required("status")
                .example(Some(serde_json::json!({"status": {
                    "code": -1,
                    "info": "Can't find JSON in data",
                    "reason": REASON_BAD_DATA,
                    "status": 1,
                }})))
                .into()
        }
    }

    /// `SeldonError`, with its `ErrorStatus` and `ErrorReason`.
    impl ToSchema for ErrorBody {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("SeldonError")
        }

        fn schemas(schemas: &mut Schemas) {
            schemas.push(("ErrorStatus".to_owned(), error_status().into()));
            schemas.push(("ErrorReason".to_owned(), error_reason().into()));
        }
    }
}
