//! Seldon v1 REST routes: predictions, feedback, metadata, health, and the graph-node routes a model echoes.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oxserve_core::{DataType, NamedTensor, PredictRequest, Tensor, TensorData};
use oxserve_protocol::RequestLimits;
use oxserve_protocol::seldon::{
    self, ArrayKind, DataArray, DefaultData, Feedback, Meta, NdArrayRef, Payload, SeldonMessage,
    pyjson,
};

use crate::error::{ServeError, json_response};
use crate::state::ServerState;

type Shared = State<Arc<ServerState>>;

/// The wrapper's message when a request has no readable JSON.
const NO_JSON: &str = "Can't find JSON in data";

/// Reads the request's JSON text the way Seldon's wrapper does: the `json` query parameter, a `json` form field,
/// or the body itself.
pub(crate) async fn request_json(
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
    limit: usize,
) -> Result<Bytes, ServeError> {
    if let Some(q) = query
        && let Some(json) = form_field(q.as_bytes(), "json")
    {
        return Ok(Bytes::from(json));
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ServeError::TooLarge(limit))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/x-www-form-urlencoded")
        && let Some(json) = form_field(&bytes, "json")
    {
        return Ok(Bytes::from(json));
    }
    if content_type.starts_with("multipart/form-data") {
        return Err(ServeError::BadRequest(
            "multipart/form-data requests are not supported; send the SeldonMessage as a JSON body"
                .into(),
        ));
    }
    Ok(bytes)
}

fn form_field(form: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(form)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Parses a SeldonMessage in one pass; only a failed parse is looked at again, to answer with the wrapper's
/// wording (`Can't find JSON in data`, `Invalid request data type: …`).
/// Every tensor the message declares is charged to a budget derived from the body limit.
fn parse_message(json: &[u8], max_body_bytes: usize) -> Result<SeldonMessage, ServeError> {
    match SeldonMessage::from_json(json, &RequestLimits::from_body_limit(max_body_bytes)) {
        Ok(message) => Ok(message),
        Err(e) => {
            let value: serde_json::Value =
                serde_json::from_slice(json).map_err(|_| ServeError::BadRequest(NO_JSON.into()))?;
            if value.is_object() {
                Err(ServeError::BadRequest(format!("Invalid request: {e}")))
            } else {
                Err(ServeError::BadRequest(format!(
                    "Invalid request data type: {value}"
                )))
            }
        }
    }
}

impl ServerState {
    /// The reply `meta`: the request's `puid`, `tags` and `metrics`, plus `requestPath` with this node.
    pub(crate) fn reply_meta(&self, request: &Meta) -> Meta {
        let mut meta = Meta {
            metrics: request.metrics.clone(),
            puid: request.puid.clone(),
            request_path: Default::default(),
            routing: Default::default(),
            tags: request.tags.clone(),
        };
        if let Some((unit, image)) = &self.request_path {
            meta.request_path.insert(unit.clone(), image.clone());
        }
        meta.request_path.extend(
            request
                .request_path
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        meta
    }

    /// Runs a Seldon prediction: one tensor in, the model's default output back in the request's form.
    ///
    /// A numeric model takes `data` only (a 1-D array is one row). A model whose first input is `BYTES` (text
    /// models) also takes strings: `strData` (one string, shape `[1]`), `jsonData` holding a string, a list of
    /// strings or `{"inputs": string | [strings]}` (MLServer's Hugging Face form), `binData` (one byte string),
    /// and a `data.ndarray` of strings, passed with the shape it was sent in (`["a","b"]` → `[2]`,
    /// `[["a"],["b"]]` → `[2,1]`). The reply follows Seldon's Python wrapper (see `SeldonForm` in this module).
    pub async fn seldon_predict(
        &self,
        request: SeldonMessage,
    ) -> Result<SeldonMessage, ServeError> {
        let meta = self.reply_meta(&request.meta);
        let takes_strings = self
            .model
            .metadata()
            .inputs
            .first()
            .is_some_and(|spec| spec.datatype == DataType::Bytes);
        let (form, tensor) = if takes_strings {
            string_request(request.payload)?
        } else {
            numeric_request(request.payload)?
        };
        let input_name = self
            .model
            .metadata()
            .inputs
            .first()
            .map_or_else(|| "input-0".to_string(), |spec| spec.name.clone());
        let response = self
            .predict(PredictRequest {
                inputs: vec![NamedTensor::new(input_name, tensor)],
                outputs: Vec::new(),
            })
            .await?;
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
            SeldonForm::Str | SeldonForm::Bin => self.data_payload(output, ArrayKind::Tensor),
            SeldonForm::Array(kind) => self.data_payload(output, kind),
        };
        Ok(SeldonMessage {
            meta,
            payload,
            status: None,
        })
    }

    /// `data` for an output: numbers in `kind`, strings always as `ndarray` (as the Python wrapper answers a
    /// non-numeric result), with `names`.
    fn data_payload(&self, output: NamedTensor, kind: ArrayKind) -> Payload {
        let kind = if output.tensor.dtype() == DataType::Bytes {
            ArrayKind::NdArray
        } else {
            kind
        };
        let names = self.output_names(&output);
        Payload::Data(DefaultData {
            names,
            array: DataArray::of_kind(kind, output.tensor),
        })
    }

    /// Seldon's `names` for an output: the model's column names, else `t:0 … t:{n-1}` for 2-D outputs and none
    /// for 1-D ones.
    fn output_names(&self, output: &NamedTensor) -> Vec<String> {
        match output.tensor.shape() {
            [_, cols, ..] => self
                .model
                .column_names(&output.name)
                .filter(|names| names.len() == *cols)
                .unwrap_or_else(|| default_names(*cols)),
            _ => Vec::new(),
        }
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

fn ok_json(message: &impl serde::Serialize) -> Response {
    match pyjson::to_vec(message) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => ServeError::Internal(format!("cannot encode reply: {e}")).into_seldon_response(),
    }
}

/// `POST /predict`, `/api/v1.0/predictions`, `/api/v0.1/predictions` (and `GET /predict?json=`).
pub(crate) async fn predict(
    State(state): Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let json = request_json(&headers, query.as_deref(), body, state.max_body_bytes).await?;
        let message = parse_message(&json, state.max_body_bytes)?;
        state.seldon_predict(message).await
    }
    .await;
    match result {
        Ok(reply) => ok_json(&reply),
        Err(e) => e.into_seldon_response(),
    }
}

/// `POST /send-feedback`, `/api/v1.0/feedback`, `/api/v0.1/feedback`.
pub(crate) async fn feedback(
    State(state): Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let json = request_json(&headers, query.as_deref(), body, state.max_body_bytes).await?;
        let value: serde_json::Value =
            serde_json::from_slice(&json).map_err(|_| ServeError::BadRequest(NO_JSON.into()))?;
        if !value.is_object() {
            return Err(ServeError::BadRequest(format!(
                "Invalid JSON: a Feedback must be an object, got {value}"
            )));
        }
        let feedback =
            Feedback::from_value(value, &RequestLimits::from_body_limit(state.max_body_bytes))
                .map_err(|e| ServeError::BadRequest(format!("Invalid JSON: {e}")))?;
        state.metrics.feedback(feedback.reward);
        let request_meta = feedback
            .request
            .as_ref()
            .map(|r| r.meta.clone())
            .unwrap_or_default();
        // The wrapper builds this reply through protobuf, so empty fields vanish: an empty ndarray when the
        // request had data, an empty tensor otherwise.
        let has_data = matches!(
            feedback.request.as_ref().map(|r| &r.payload),
            Some(Payload::Data(_))
        );
        let data = if has_data {
            serde_json::json!({"ndarray": []})
        } else {
            serde_json::json!({"tensor": {"shape": [0]}})
        };
        Ok::<_, ServeError>(
            serde_json::json!({"data": data, "meta": state.reply_meta(&request_meta)}),
        )
    }
    .await;
    match result {
        Ok(reply) => ok_json(&reply),
        Err(e) => e.into_seldon_response(),
    }
}

/// `POST /transform-input`, `/transform-output`: a MODEL node passes the payload through, with `t:i` names.
pub(crate) async fn transform(
    State(state): Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let json = request_json(&headers, query.as_deref(), body, state.max_body_bytes).await?;
        let message = parse_message(&json, state.max_body_bytes)?;
        let meta = state.reply_meta(&message.meta);
        let payload = match message.payload {
            Payload::Data(DefaultData { array, .. }) => {
                let names = match array.tensor().map(Tensor::shape) {
                    Some([_, cols, ..]) => default_names(*cols),
                    _ => Vec::new(),
                };
                Payload::Data(DefaultData { names, array })
            }
            other => other,
        };
        Ok::<_, ServeError>(SeldonMessage {
            meta,
            payload,
            status: None,
        })
    }
    .await;
    match result {
        Ok(reply) => ok_json(&reply),
        Err(e) => e.into_seldon_response(),
    }
}

/// `POST /route`: not implemented by a MODEL.
pub(crate) async fn route() -> Response {
    ServeError::NotImplemented("route").into_seldon_response()
}

/// `POST /aggregate`: not implemented by a MODEL.
pub(crate) async fn aggregate() -> Response {
    ServeError::NotImplemented("aggregate").into_seldon_response()
}

/// `GET /metadata`, `/api/v1.0/metadata`.
pub(crate) async fn metadata(State(state): Shared) -> Response {
    match &state.seldon_metadata {
        Some(meta) => ok_json(meta),
        None => ServeError::BadMetadata.into_seldon_response(),
    }
}

/// `GET /health/ping` → `pong`.
pub(crate) async fn ping() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], "pong").into_response()
}

/// `GET /health/status`, `/api/v1.0/health/status`.
pub(crate) async fn health_status(State(state): Shared) -> Response {
    let reply = SeldonMessage {
        meta: state.reply_meta(&Meta::default()),
        payload: Payload::StrData("healthy".into()),
        status: None,
    };
    ok_json(&reply)
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
pub(crate) fn default_names(cols: usize) -> Vec<String> {
    (0..cols).map(|i| format!("t:{i}")).collect()
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
