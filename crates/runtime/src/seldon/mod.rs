//! Seldon's protocol without its transports: a SeldonMessage in, the model run, a SeldonMessage back in the
//! request's form; the reply `meta`, default column names and metadata. [`rest`] (JSON over HTTP) and [`grpc`]
//! (`seldon.protos`) decode and encode around it, so both answer the same thing for the same message.

pub(crate) mod grpc;
mod multipart;
pub(crate) mod rest;

use std::path::Path;

use oxserve_core::{DataType, NamedTensor, PredictRequest, Table, Tensor, TensorData, TensorSpec};
use oxserve_protocol::seldon::{
    self, ArrayKind, DataArray, DefaultData, Feedback, Meta, ModelMetadataMessage, NdArrayRef,
    Payload, SeldonMessage,
};

use crate::component::{Component, ComponentError, FeedbackOutcome, HookJob, Node, Slot};
use crate::config::Config;
use crate::error::ServeError;
use crate::state::ServerState;

/// The reply `meta`: the request's `puid`, `tags` and `metrics`, plus `requestPath` with this node.
pub(crate) fn reply_meta(state: &ServerState, request: &Meta) -> Meta {
    meta_with_path(state.request_path.as_ref(), request)
}

/// [`reply_meta`] for a request that is consumed: its `puid`, `tags`, `metrics` and `requestPath` move into the
/// reply instead of being copied (the same `meta` as [`reply_meta`] answers).
pub(crate) fn into_reply_meta(state: &ServerState, request: Meta) -> Meta {
    moved_meta_with_path(state.request_path.as_ref(), request)
}

/// [`meta_with_path`] for a request that is consumed.
fn moved_meta_with_path(path: Option<&(String, String)>, mut request: Meta) -> Meta {
    request.routing = Default::default();
    if let Some((unit, image)) = path
        && !request.request_path.contains_key(unit)
    {
        request.request_path.insert(unit.clone(), image.clone());
    }
    request
}

/// The reply `meta` of a node whose `requestPath` entry is `path` (`PREDICTIVE_UNIT_ID` → image; the request's
/// entries win); the request's `routing` is dropped (and not copied).
pub(crate) fn meta_with_path(path: Option<&(String, String)>, request: &Meta) -> Meta {
    let copy = Meta {
        metrics: request.metrics.clone(),
        puid: request.puid.clone(),
        request_path: request.request_path.clone(),
        routing: Default::default(),
        tags: request.tags.clone(),
    };
    moved_meta_with_path(path, copy)
}

/// Seldon's `transform-input` / `transform-output` on a MODEL node: the payload passes through with the reply
/// `meta`, and `data` gets the names the Python wrapper gives every reply (`t:0 … t:{cols-1}` for 2-D and more,
/// none for 1-D: the request's own names never come back), on REST and gRPC alike.
pub(crate) fn transform(state: &ServerState, message: SeldonMessage) -> SeldonMessage {
    SeldonMessage {
        meta: into_reply_meta(state, message.meta),
        payload: echo_payload(message.payload),
        status: None,
    }
}

/// A payload as the wrapper echoes it from a transform it does not implement: `data` renamed `t:0 … t:{cols-1}`
/// for 2-D and more (none for 1-D), anything else unchanged.
pub(crate) fn echo_payload(payload: Payload) -> Payload {
    match payload {
        Payload::Data(DefaultData { array, .. }) => {
            let names = match array.tensor().map(Tensor::shape) {
                Some([_, cols, ..]) => default_names(*cols),
                _ => Vec::new(),
            };
            Payload::Data(DefaultData { names, array })
        }
        other => other,
    }
}

/// Seldon's reply to feedback on a MODEL node, after the reward is counted: the prepackaged servers learn
/// nothing from it and answer an empty result, which the wrapper builds through protobuf — so the empty array
/// shows as `ndarray: []` when the feedback's request had `data` and as an empty `tensor` otherwise — with the
/// reply `meta` of the feedback's request.
#[derive(Debug)]
pub(crate) struct FeedbackReply {
    meta: Meta,
    request_had_data: bool,
}

/// Counts a feedback's reward and builds its reply ([`FeedbackReply`]), for both transports.
pub(crate) fn feedback(state: &ServerState, feedback: &Feedback) -> FeedbackReply {
    state.metrics.feedback(feedback.reward);
    let request = feedback.request.as_ref();
    FeedbackReply {
        meta: reply_meta(state, request.map_or(&Meta::default(), |r| &r.meta)),
        request_had_data: request.is_some_and(|r| matches!(r.payload, Payload::Data(_))),
    }
}

impl FeedbackReply {
    /// The reply as a message (gRPC writes it with `to_pb`: the empty `ndarray`, or the `tensor` of shape `[0]`).
    pub(crate) fn into_message(self) -> Result<SeldonMessage, ServeError> {
        let empty = Tensor::new(vec![0], TensorData::F64(Vec::new()))
            .map_err(|e| ServeError::Internal(e.to_string()))?;
        let array = if self.request_had_data {
            DataArray::NdArray(empty)
        } else {
            DataArray::Tensor(empty)
        };
        Ok(SeldonMessage {
            meta: self.meta,
            payload: Payload::Data(DefaultData {
                names: Vec::new(),
                array,
            }),
            status: None,
        })
    }
}

/// The JSON protobuf's `MessageToJson` writes (empty fields vanish, as in the wrapper's REST reply):
/// `{"data":{"ndarray":[]},"meta":…}` or `{"data":{"tensor":{"shape":[0]}},"meta":…}`.
impl serde::Serialize for FeedbackReply {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        #[derive(serde::Serialize)]
        struct Shape {
            shape: [u8; 1],
        }
        #[derive(serde::Serialize)]
        enum Empty {
            #[serde(rename = "ndarray")]
            NdArray([u8; 0]),
            #[serde(rename = "tensor")]
            Tensor(Shape),
        }
        let data = if self.request_had_data {
            Empty::NdArray([])
        } else {
            Empty::Tensor(Shape { shape: [0] })
        };
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("data", &data)?;
        map.serialize_entry("meta", &self.meta)?;
        map.end()
    }
}

/// Runs one hook of a component server's component: inline on the request's task, or, when the component says
/// its hooks block ([`Component::blocking`]), on its own threads ([`Component::spawn_hook`]) or else a blocking
/// thread, the result coming back through a oneshot channel. A panic in the hook is this request's 500.
async fn call<T: Send + 'static>(
    slot: &Slot,
    hook: impl FnOnce(&dyn Component, &Node) -> Result<T, ComponentError> + Send + 'static,
) -> Result<T, ServeError> {
    if !slot.component.blocking() {
        return hook(slot.component.as_ref(), &slot.node).map_err(ServeError::from);
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    let owned = slot.clone();
    let job: HookJob = Box::new(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            hook(owned.component.as_ref(), &owned.node)
        }));
        // The request may have gone (its client disconnected): nobody is left to answer.
        let _ = reply.send(outcome);
    });
    if let Err(job) = slot.component.spawn_hook(job) {
        drop(tokio::task::spawn_blocking(job));
    }
    match answer.await {
        Ok(Ok(result)) => result.map_err(ServeError::from),
        Ok(Err(_)) => Err(ServeError::Internal("the component's hook panicked".into())),
        Err(_) => Err(ServeError::Internal(
            "the component's hook was dropped before it answered".into(),
        )),
    }
}

/// `transform-input`: a component's hook, else a MODEL's pass-through ([`transform`]).
pub(crate) async fn transform_input(
    state: &ServerState,
    message: SeldonMessage,
) -> Result<SeldonMessage, ServeError> {
    match &state.component {
        Some(slot) => call(slot, move |c, node| c.transform_input(node, message)).await,
        None => Ok(transform(state, message)),
    }
}

/// `transform-output`: a component's hook, else a MODEL's pass-through ([`transform`]).
pub(crate) async fn transform_output(
    state: &ServerState,
    message: SeldonMessage,
) -> Result<SeldonMessage, ServeError> {
    match &state.component {
        Some(slot) => call(slot, move |c, node| c.transform_output(node, message)).await,
        None => Ok(transform(state, message)),
    }
}

/// `route`: a component's hook; a prepackaged MODEL server answers `route is not implemented`.
pub(crate) async fn route(
    state: &ServerState,
    message: SeldonMessage,
) -> Result<SeldonMessage, ServeError> {
    match &state.component {
        Some(slot) => call(slot, move |c, node| c.route(node, message)).await,
        None => Err(ServeError::NotImplemented("route")),
    }
}

/// `aggregate`: a component's hook; a prepackaged MODEL server answers `aggregate is not implemented`.
pub(crate) async fn aggregate(
    state: &ServerState,
    messages: Vec<SeldonMessage>,
) -> Result<SeldonMessage, ServeError> {
    match &state.component {
        Some(slot) => call(slot, move |c, node| c.aggregate(node, messages)).await,
        None => Err(ServeError::NotImplemented("aggregate")),
    }
}

/// Whether the server is a component's (REST reads a `route` / `aggregate` body only then, so a MODEL server's
/// answer stays `… is not implemented` whatever it is sent).
pub(crate) fn is_component(state: &ServerState) -> bool {
    state.component.is_some()
}

/// `health/status`: a component's hook, else `healthy`.
pub(crate) async fn health(state: &ServerState) -> Result<SeldonMessage, ServeError> {
    match &state.component {
        Some(slot) => call(slot, |c, node| c.health_status(node)).await,
        None => Ok(SeldonMessage {
            meta: reply_meta(state, &Meta::default()),
            payload: Payload::StrData("healthy".into()),
            status: None,
        }),
    }
}

/// The answer to feedback: the wrapper's empty reply, or a component's own message.
#[derive(Debug)]
pub(crate) enum FeedbackAnswer {
    /// The empty reply.
    Empty(FeedbackReply),
    /// A component's message.
    Message(SeldonMessage),
}

impl FeedbackAnswer {
    /// The reply as a message (gRPC).
    pub(crate) fn into_message(self) -> Result<SeldonMessage, ServeError> {
        match self {
            FeedbackAnswer::Empty(reply) => reply.into_message(),
            FeedbackAnswer::Message(message) => Ok(message),
        }
    }
}

impl serde::Serialize for FeedbackAnswer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FeedbackAnswer::Empty(reply) => reply.serialize(serializer),
            FeedbackAnswer::Message(message) => message.serialize(serializer),
        }
    }
}

/// Feedback: the reward counted, then a component's hook (with this node's routing for the request, read from
/// `response.meta.routing[PREDICTIVE_UNIT_ID]`), else the empty reply ([`feedback`]).
pub(crate) async fn send_feedback(
    state: &ServerState,
    feedback_message: Feedback,
) -> Result<FeedbackAnswer, ServeError> {
    let Some(slot) = &state.component else {
        return Ok(FeedbackAnswer::Empty(feedback(state, &feedback_message)));
    };
    state.metrics.feedback(feedback_message.reward);
    let request_had_data = feedback_message
        .request
        .as_ref()
        .is_some_and(|r| matches!(r.payload, Payload::Data(_)));
    let routing = feedback_message
        .response
        .as_ref()
        .and_then(|r| r.meta.routing.get(slot.node.unit_id()).copied());
    let outcome = call(slot, move |c, node| {
        c.send_feedback(node, feedback_message, routing)
    })
    .await?;
    Ok(match outcome {
        FeedbackOutcome::Empty(meta) => FeedbackAnswer::Empty(FeedbackReply {
            meta,
            request_had_data,
        }),
        FeedbackOutcome::Message(message) => FeedbackAnswer::Message(message),
    })
}

/// Runs a Seldon prediction: one tensor in, the model's default output back in the request's form.
///
/// A numeric model takes `data` only (a 1-D array is one row). A model whose first input is `BYTES` (text
/// models) also takes strings: `strData` (one string, shape `[1]`), `jsonData` holding a string, a list of
/// strings or `{"inputs": string | [strings]}` (MLServer's Hugging Face form), `binData` (one byte string),
/// and a `data.ndarray` of strings, passed with the shape it was sent in (`["a","b"]` → `[2]`,
/// `[["a"],["b"]]` → `[2,1]`). The reply follows Seldon's Python wrapper (see `SeldonForm` in this module).
pub(crate) async fn predict(
    state: &ServerState,
    request: SeldonMessage,
) -> Result<SeldonMessage, ServeError> {
    if let Some(slot) = &state.component {
        return call(slot, move |c, node| c.predict(node, request)).await;
    }
    let meta = into_reply_meta(state, request.meta);
    let payload = if state.model.accepts_table() {
        match table_request(request.payload)? {
            Ok((form, table)) => {
                let response = state
                    .predict(PredictRequest::from_table(table, Vec::new()))
                    .await?;
                return reply(state, meta, form, response);
            }
            Err(payload) => payload,
        }
    } else {
        request.payload
    };
    let takes_strings = state
        .model
        .metadata()
        .inputs
        .first()
        .is_some_and(|spec| spec.datatype == DataType::Bytes);
    let (form, tensor) = if takes_strings {
        string_request(payload)?
    } else {
        numeric_request(payload)?
    };
    let input_name = state
        .model
        .metadata()
        .inputs
        .first()
        .map_or_else(|| "input-0".to_string(), |spec| spec.name.clone());
    let response = state
        .predict(PredictRequest {
            inputs: vec![NamedTensor::new(input_name, tensor)],
            outputs: Vec::new(),
        })
        .await?;
    reply(state, meta, form, response)
}

/// A table model's request as a table: a mixed `ndarray` (columns named by `names`, else `0`, `1`, ...), a
/// one-type `ndarray` or `tensor` with one name per column, or `jsonData` records / split. Anything else (an
/// unnamed numeric array stays the matrix it is) comes back as `Err(payload)`, untouched; a mixed `ndarray` is
/// moved into the request, not copied.
fn table_request(payload: Payload) -> Result<Result<(SeldonForm, Table), Payload>, ServeError> {
    Ok(match payload {
        Payload::Data(DefaultData {
            array: DataArray::Table(t),
            ..
        }) => Ok((SeldonForm::Array(ArrayKind::NdArray), t)),
        Payload::Data(DefaultData {
            ref names,
            ref array,
        }) if !names.is_empty() => {
            let table = match (array.kind(), array.tensor()) {
                (Some(kind), Some(t)) => {
                    Table::from_matrix(t, names).map(|t| (SeldonForm::Array(kind), t))
                }
                _ => None,
            };
            table.ok_or(payload)
        }
        Payload::JsonData(ref json) => match seldon::table_from_json(json) {
            Some(table) => Ok((SeldonForm::Json, table.map_err(ServeError::BadRequest)?)),
            None => Err(payload),
        },
        other => Err(other),
    })
}

/// The reply to a prediction: the first output in the request's form.
fn reply(
    state: &ServerState,
    meta: Meta,
    form: SeldonForm,
    response: oxserve_core::PredictResponse,
) -> Result<SeldonMessage, ServeError> {
    let output = response
        .outputs
        .into_iter()
        .next()
        .ok_or_else(|| ServeError::Internal("the model returned no output".into()))?;
    let payload = match form {
        SeldonForm::Json => Payload::JsonData(tensor_to_json(&output.tensor)?),
        SeldonForm::Str | SeldonForm::Bin
            if output.tensor.dtype() == DataType::Bytes && output.tensor.len() == 1 =>
        {
            let one = match output.tensor.into_parts().1 {
                TensorData::Bytes(mut strings) => strings.pop().unwrap_or_default(),
                _ => Vec::new(),
            };
            if form == SeldonForm::Bin {
                Payload::BinData(one)
            } else {
                Payload::StrData(String::from_utf8_lossy(&one).into_owned())
            }
        }
        SeldonForm::Str | SeldonForm::Bin => data_payload(state, output, ArrayKind::Tensor),
        SeldonForm::Array(kind) => data_payload(state, output, kind),
    };
    Ok(SeldonMessage {
        meta,
        payload,
        status: None,
    })
}

/// `data` for an output: numbers in `kind`, strings always as `ndarray` (as the Python wrapper answers a
/// non-numeric result), with `names`.
fn data_payload(state: &ServerState, output: NamedTensor, kind: ArrayKind) -> Payload {
    let kind = if output.tensor.dtype() == DataType::Bytes {
        ArrayKind::NdArray
    } else {
        kind
    };
    let names = output_names(state, &output);
    Payload::Data(DefaultData {
        names,
        array: DataArray::of_kind(kind, output.tensor),
    })
}

/// Seldon's `names` for an output: the model's column names, else `t:0 … t:{n-1}` for 2-D outputs and none
/// for 1-D ones.
fn output_names(state: &ServerState, output: &NamedTensor) -> Vec<String> {
    match output.tensor.shape() {
        [_, cols, ..] => state
            .model
            .column_names(&output.name)
            .filter(|names| names.len() == *cols)
            .unwrap_or_else(|| default_names(*cols)),
        _ => Vec::new(),
    }
}

/// A 1-D request is one row (the seed's quickstart sends `[1,2,3,4]`); 0-d is one row of one feature.
fn as_rows(tensor: Tensor) -> Result<Tensor, ServeError> {
    let shape = tensor.shape().to_vec();
    let reshaped = match shape.as_slice() {
        [] => tensor.reshape(vec![1, 1]),
        [n] => tensor.reshape(vec![1, *n]),
        _ => Ok(tensor),
    };
    reshaped.map_err(|e| ServeError::BadRequest(e.to_string()))
}

/// The form a Seldon reply takes, decided by the request's payload as Seldon's Python wrapper decides it.
///
/// - `data` request → `data` in the request's array form (`ndarray`, `tensor`, `tftensor`); a `BYTES` output is
///   always an `ndarray` of strings.
/// - `strData` request → `strData` when the output is one string; otherwise `data.tensor` for numbers and
///   `data.ndarray` for strings (the wrapper's rule for a request without `data`).
/// - `binData` request → `binData` when the output is one byte string; otherwise as for `strData`.
/// - `jsonData` request → `jsonData` holding the output as nested JSON lists (the REST wrapper echoes `jsonData`
///   whatever the model returns; oxserve's gRPC path answers the same, so REST and gRPC agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeldonForm {
    Array(ArrayKind),
    Str,
    Bin,
    Json,
}

/// A numeric model's request: `data` only, a 1-D array as one row.
fn numeric_request(payload: Payload) -> Result<(SeldonForm, Tensor), ServeError> {
    match payload {
        Payload::Data(DefaultData {
            array: DataArray::Table(_),
            ..
        }) => Err(ServeError::BadRequest(
            "ndarray mixes element types; use numbers only, or strings only (this model takes no table)"
                .into(),
        )),
        Payload::Data(DefaultData { array, .. }) => {
            let kind = array.kind().unwrap_or(ArrayKind::NdArray);
            let tensor = array.into_tensor().ok_or_else(|| {
                ServeError::BadRequest("request `data` holds no ndarray, tensor or tftensor".into())
            })?;
            Ok((SeldonForm::Array(kind), as_rows(tensor)?))
        }
        Payload::None => Err(ServeError::BadRequest(
            "Invalid request data type: no data".into(),
        )),
        _ => Err(ServeError::BadRequest(
            "this model takes `data` (ndarray, tensor or tftensor), not strData, binData or jsonData"
                .into(),
        )),
    }
}

/// A text model's request: strings from `strData`, `jsonData`, `binData` or a string `ndarray` (shape kept);
/// a numeric `data` array goes the numeric way (and the model says what it thinks of it).
fn string_request(payload: Payload) -> Result<(SeldonForm, Tensor), ServeError> {
    let one = |bytes: Vec<u8>| {
        Tensor::new(vec![1], TensorData::Bytes(vec![bytes]))
            .map_err(|e| ServeError::Internal(e.to_string()))
    };
    match payload {
        Payload::StrData(s) => Ok((SeldonForm::Str, one(s.into_bytes())?)),
        Payload::BinData(b) => Ok((SeldonForm::Bin, one(b)?)),
        Payload::JsonData(value) => Ok((SeldonForm::Json, strings_from_json(value)?)),
        Payload::Data(DefaultData { array, .. })
            if array.tensor().is_some_and(|t| t.dtype() == DataType::Bytes) =>
        {
            let kind = array.kind().unwrap_or(ArrayKind::NdArray);
            let tensor = array
                .into_tensor()
                .ok_or_else(|| ServeError::BadRequest("request `data` holds no ndarray".into()))?;
            Ok((SeldonForm::Array(kind), tensor))
        }
        other => numeric_request(other),
    }
}

/// The strings of a `jsonData` payload: a string (shape `[1]`), a list of strings (`[N]`), or an object whose
/// `inputs` is either (MLServer's and Hugging Face's request shape).
fn strings_from_json(value: serde_json::Value) -> Result<Tensor, ServeError> {
    const EXPECTED: &str = "jsonData must be a string, a list of strings, or {\"inputs\": a string or a list of strings}";
    let value = match value {
        // Only `inputs`: other keys (Hugging Face's `parameters`) would be silently ignored.
        serde_json::Value::Object(mut map) => match map.remove("inputs") {
            Some(inputs) if map.is_empty() => inputs,
            inputs => {
                let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
                if inputs.is_some() {
                    keys.push("inputs");
                }
                keys.sort_unstable();
                return Err(ServeError::BadRequest(format!(
                    "{EXPECTED}; got an object with keys {keys:?}"
                )));
            }
        },
        other => other,
    };
    let strings = match value {
        serde_json::Value::String(s) => vec![s.into_bytes()],
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::String(s) => Ok(s.into_bytes()),
                other => Err(ServeError::BadRequest(format!(
                    "{EXPECTED}; got a list holding {other}"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(ServeError::BadRequest(format!("{EXPECTED}; got {other}")));
        }
    };
    let n = strings.len();
    Tensor::new(vec![n], TensorData::Bytes(strings))
        .map_err(|e| ServeError::Internal(e.to_string()))
}

/// An output as nested JSON lists (`jsonData` replies): numbers keep their type, strings are strings.
fn tensor_to_json(tensor: &Tensor) -> Result<serde_json::Value, ServeError> {
    serde_json::to_value(NdArrayRef(tensor))
        .map_err(|e| ServeError::Internal(format!("cannot encode the output as JSON: {e}")))
}

/// Splits an image reference `repo/name:tag` into name and tag (a `:` inside the registry host is not a tag).
pub(crate) fn split_image(image: Option<&str>) -> (String, String) {
    match image {
        Some(image) => match image.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
            _ => (image.to_string(), String::new()),
        },
        None => (String::new(), String::new()),
    }
}

/// Seldon's default column names for a 2-D output: `t:0 … t:{cols-1}`.
/// Every reply to a 2-D prediction carries them, so the first sixteen are copied from constants instead of
/// being formatted per request (the formatting machinery was ~1% of a small Seldon request's instructions).
pub(crate) fn default_names(cols: usize) -> Vec<String> {
    const FIRST: [&str; 16] = [
        "t:0", "t:1", "t:2", "t:3", "t:4", "t:5", "t:6", "t:7", "t:8", "t:9", "t:10", "t:11",
        "t:12", "t:13", "t:14", "t:15",
    ];
    (0..cols)
        .map(|i| {
            FIRST
                .get(i)
                .map_or_else(|| format!("t:{i}"), |name| (*name).to_owned())
        })
        .collect()
}

/// Seldon's tensor metadata (`{"messagetype": "tensor", "schema": {"names", "types", "shape"}}`) for each model
/// input whose columns the model file names or types; empty when none does (Seldon's default then holds).
fn feature_inputs(inputs: &[TensorSpec]) -> Vec<seldon::MessageMetadata> {
    inputs
        .iter()
        .filter(|spec| !spec.features.is_empty())
        .map(|spec| {
            let mut schema = serde_json::Map::new();
            if !spec.features.names.is_empty() {
                schema.insert("names".into(), spec.features.names.clone().into());
            }
            if !spec.features.types.is_empty() {
                schema.insert("types".into(), spec.features.types.clone().into());
            }
            let columns = spec.shape.iter().skip(1).copied().collect::<Vec<i64>>();
            schema.insert("shape".into(), columns.into());
            seldon::MessageMetadata {
                messagetype: Some("tensor".into()),
                schema: Some(schema.into()),
                ..Default::default()
            }
        })
        .collect()
}

/// The default Seldon metadata: name and version from the image (`repo/name:tag`).
pub(crate) fn default_metadata(image: Option<&str>) -> seldon::ModelMetadataMessage {
    let (name, version) = split_image(image);
    seldon::ModelMetadataMessage {
        name,
        versions: vec![version],
        ..Default::default()
    }
}

/// Seldon metadata: defaults from the image (and, where the model file names its features, the model's
/// inputs), `metadata.yaml` in the model folder over them, `MODEL_METADATA` over that; `None` when the result
/// fails Seldon's schema (every metadata call then answers 500).
pub(crate) fn load_metadata(
    config: &Config,
    model_dir: &Path,
    model_inputs: &[TensorSpec],
) -> Option<ModelMetadataMessage> {
    let file = std::fs::read_to_string(model_dir.join("metadata.yaml")).ok();
    merge_metadata(
        config,
        file.as_deref().and_then(parse_metadata),
        model_inputs,
    )
}

/// Seldon metadata of a component: its own (the wrapper's `init_metadata`) over the defaults from the image,
/// `MODEL_METADATA` over that; `None` when the result fails Seldon's schema.
pub(crate) fn metadata_over(
    config: &Config,
    init: serde_json::Value,
) -> Option<ModelMetadataMessage> {
    match init {
        serde_json::Value::Object(m) => merge_metadata(config, Some(m), &[]),
        _ => {
            tracing::warn!("the component's metadata is not a mapping; ignoring it");
            merge_metadata(config, None, &[])
        }
    }
}

/// A YAML/JSON mapping, or `None` (logged) for anything else.
fn parse_metadata(text: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_yaml::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(m)) => Some(m),
        Ok(_) | Err(_) => {
            tracing::warn!("model metadata is not a YAML/JSON mapping; ignoring it");
            None
        }
    }
}

/// The defaults from the image (inputs from `model_inputs` where they name their features), `own` over them,
/// `MODEL_METADATA` over that, checked against Seldon's schema.
fn merge_metadata(
    config: &Config,
    own: Option<serde_json::Map<String, serde_json::Value>>,
    model_inputs: &[TensorSpec],
) -> Option<ModelMetadataMessage> {
    let mut defaults = default_metadata(config.predictive_unit_image.as_deref());
    defaults.inputs = feature_inputs(model_inputs);
    let mut merged = match serde_json::to_value(&defaults) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Some(defaults),
    };
    let env = config.model_metadata.as_deref().and_then(parse_metadata);
    for m in [own, env].into_iter().flatten() {
        merged.extend(m);
    }
    match serde_json::from_value(serde_json::Value::Object(merged)) {
        Ok(meta) => Some(meta),
        Err(e) => {
            tracing::error!(error = %e, "model metadata fails Seldon's schema; metadata calls will answer 500");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_count_from_t0_past_the_constants() {
        assert_eq!(default_names(0), Vec::<String>::new());
        assert_eq!(default_names(3), ["t:0", "t:1", "t:2"]);
        let many = default_names(18);
        assert_eq!(many.len(), 18);
        for (i, name) in many.iter().enumerate() {
            assert_eq!(name, &format!("t:{i}"));
        }
    }

    #[test]
    fn a_consumed_request_meta_answers_what_the_borrowed_one_does() {
        let mut request = Meta {
            puid: "p-1".into(),
            ..Meta::default()
        };
        request.tags.insert("k".into(), serde_json::json!(1));
        request.routing.insert("router".into(), 1);
        request
            .request_path
            .insert("upstream".into(), "img:1".into());
        for path in [
            None,
            Some((
                "classifier".to_string(),
                "seldonio/sklearnserver:1".to_string(),
            )),
            // The request's own entry for this node wins.
            Some(("upstream".to_string(), "other:2".to_string())),
        ] {
            let borrowed = meta_with_path(path.as_ref(), &request);
            assert_eq!(
                moved_meta_with_path(path.as_ref(), request.clone()),
                borrowed
            );
            assert!(borrowed.routing.is_empty());
            assert_eq!(borrowed.puid, "p-1");
            assert_eq!(borrowed.tags, request.tags);
            assert_eq!(borrowed.request_path["upstream"], "img:1");
            let expected_len = match &path {
                Some((unit, _)) if unit == "classifier" => 2,
                _ => 1,
            };
            assert_eq!(borrowed.request_path.len(), expected_len);
        }
    }
}
