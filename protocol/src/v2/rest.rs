//! REST JSON: the wire types, and the decoding / encoding of inference bodies (with the binary tensor data
//! extension).

use std::borrow::Cow;
use std::fmt;

use oxserve_core::{ModelMetadata, NamedTensor, PredictRequest, Tensor, TensorData, TensorSpec};
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::binary::{blob_len, decode_segments, encode_blob};
use super::json_data::{DataSeed, TensorJson};
use super::{
    BINARY_DATA, BINARY_DATA_OUTPUT, BINARY_DATA_SIZE, BinaryOutputs, DecodedInfer, InputInfo,
    V2DataType, V2Error, charged_shape, checked_shape, wire_shape,
};
use crate::limits::{Budget, RequestLimits};

/// An inference request body (`POST /v2/models/{name}/infer`), or the JSON header of a binary-extension body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InferenceRequest {
    /// The request id, echoed in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Free-form request parameters (`content_type`, `binary_data_output`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BTreeMap<String, Value>>))]
    pub parameters: Option<Map<String, Value>>,
    /// The input tensors.
    pub inputs: Vec<RequestInput>,
    /// The outputs asked for; absent means the model's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<RequestOutput>>,
}

impl InferenceRequest {
    /// Reads a request body (or a binary-extension body's JSON header): the common request (FP64 inputs, an
    /// optional `id`) by a fast path that builds the same request (`v2/quick.rs`), everything else by
    /// [`InferenceRequest::from_json_general`].
    pub fn from_json(json: &[u8]) -> serde_json::Result<InferenceRequest> {
        match super::quick::read(json) {
            Some(request) => Ok(request),
            None => Self::from_json_general(json),
        }
    }

    /// [`InferenceRequest::from_json`] without its fast path: serde, for every form and every error; what the
    /// fast path must agree with (the fuzz harness compares the two on each input).
    pub fn from_json_general(json: &[u8]) -> serde_json::Result<InferenceRequest> {
        serde_json::from_slice(json)
    }
}

/// One tensor in REST JSON: a request input or, with the same fields, a response output.
///
/// Deserializing parses `data` straight into typed values when `datatype` precedes it in the object (as every
/// client we know writes it); otherwise the values are typed on conversion. That hand-written reader takes the
/// fields the derived writer writes (`name`, `shape`, `datatype` required; `parameters` may be `null`; other keys
/// ignored), so the OpenAPI schema (feature `openapi`, named `V2Tensor`) is derived from the fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = V2Tensor, description = "A tensor in JSON: a request input or, with the same fields, a response output.")
)]
pub struct RequestInput {
    /// The tensor's name.
    pub name: String,
    /// Its shape (the whole batch).
    pub shape: Vec<i64>,
    /// Its datatype name (`BOOL`, `UINT8`…`UINT64`, `INT8`…`INT64`, `FP16`, `BF16`, `FP32`, `FP64` or `BYTES`),
    /// kept as sent so that a bad name is reported by conversion, naming the tensor.
    pub datatype: String,
    /// Per-tensor parameters (`content_type`, `binary_data_size`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BTreeMap<String, Value>>))]
    pub parameters: Option<Map<String, Value>>,
    /// The elements, flat or nested; absent when they travel as a binary blob.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = super::json_data::data_schema))]
    pub data: Option<TensorJson>,
}

/// One response output: the same JSON object as a request input.
pub type ResponseOutput = RequestInput;

impl RequestInput {
    /// An input or output carrying a tensor's values as JSON `data`.
    pub fn from_tensor(name: impl Into<String>, tensor: Tensor) -> Result<Self, V2Error> {
        let name = name.into();
        let datatype = tensor.dtype().v2_name().to_owned();
        let (shape, data) = tensor.into_parts();
        Ok(RequestInput {
            shape: wire_shape(&name, &shape)?,
            name,
            datatype,
            parameters: None,
            data: Some(TensorJson::from(data)),
        })
    }

    /// The tensor this object carries in `data` (binary blobs are resolved by [`decode_rest`]).
    /// The shape is charged to `budget` first.
    pub fn into_named_tensor(self, budget: &mut Budget) -> Result<NamedTensor, V2Error> {
        let dtype = parse_datatype(&self.name, &self.datatype)?;
        let (dims, count) = charged_shape(&self.name, &self.shape, budget)?;
        let Some(data) = self.data else {
            return Err(V2Error::MissingData { name: self.name });
        };
        let (values, missing) = data.resolve_column(&self.name, dtype)?;
        let tensor = build_tensor(&self.name, &self.shape, dims, count, "data", values)?
            .with_missing(missing);
        Ok(NamedTensor::new(self.name, tensor))
    }
}

/// One requested output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestOutput {
    /// The output's name.
    pub name: String,
    /// Its parameters (`binary_data`, `content_type`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BTreeMap<String, Value>>))]
    pub parameters: Option<Map<String, Value>>,
}

/// An inference response body.
// Its OpenAPI schema (feature `openapi`) describes what the server writes: optional keys are left out, never
// `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InferenceResponse {
    /// The model that answered.
    pub model_name: String,
    /// Its version; omitted when the model is unversioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub model_version: Option<String>,
    /// The request id, echoed (or generated by the runtime).
    pub id: String,
    /// Response parameters; omitted when there are none.
    // MLServer always writes `{}`: set `Some(Map::new())` to do the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Value>))]
    pub parameters: Option<Map<String, Value>>,
    /// The outputs, in order.
    pub outputs: Vec<ResponseOutput>,
}

impl InferenceResponse {
    /// A response carrying `outputs` as JSON data, with no parameters: what [`encode_rest`] sends. Build it
    /// here and adjust it (parameters, per-output `content_type`) before [`encode_response`] when needed.
    pub fn from_outputs(
        model_name: &str,
        model_version: Option<&str>,
        id: String,
        outputs: Vec<NamedTensor>,
    ) -> Result<Self, V2Error> {
        Ok(InferenceResponse {
            model_name: model_name.to_owned(),
            model_version: model_version.map(str::to_owned),
            id,
            parameters: None,
            outputs: outputs
                .into_iter()
                .map(|o| ResponseOutput::from_tensor(o.name, o.tensor))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A tensor's description in model metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetadataTensor {
    /// The tensor's name.
    pub name: String,
    /// Its datatype name.
    pub datatype: String,
    /// Its shape; `-1` marks a variable dimension.
    pub shape: Vec<i64>,
    /// MLServer's optional tensor parameters (its `MetadataTensor.parameters`; the Open Inference Protocol's
    /// metadata tensor has none): `feature_names` / `feature_types` (arrays of strings, one per column) when
    /// the model file declares them; omitted otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BTreeMap<String, Value>>))]
    pub parameters: Option<Map<String, Value>>,
}

impl From<&TensorSpec> for MetadataTensor {
    fn from(spec: &TensorSpec) -> Self {
        let mut parameters = Map::new();
        for (key, list) in feature_lists(spec) {
            parameters.insert(key.to_owned(), Value::from(list.to_vec()));
        }
        MetadataTensor {
            name: spec.name.clone(),
            datatype: spec.datatype.v2_name().to_owned(),
            shape: spec.shape.clone(),
            parameters: (!parameters.is_empty()).then_some(parameters),
        }
    }
}

/// The tensor parameters a spec's declared features become, each list only when non-empty: `feature_names`,
/// then `feature_types` (REST writes them as arrays, gRPC as JSON text in a string parameter).
pub(crate) fn feature_lists(spec: &TensorSpec) -> impl Iterator<Item = (&'static str, &[String])> {
    [
        ("feature_names", spec.features.names.as_slice()),
        ("feature_types", spec.features.types.as_slice()),
    ]
    .into_iter()
    .filter(|(_, list)| !list.is_empty())
}

/// The model metadata body (`GET /v2/models/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = V2ModelMetadata)
)]
pub struct MetadataModelResponse {
    /// The model's name.
    pub name: String,
    /// Its versions (MLServer: the model-settings `versions` strings).
    pub versions: Vec<String>,
    /// Its platform.
    pub platform: String,
    /// Its inputs.
    pub inputs: Vec<MetadataTensor>,
    /// Its outputs.
    pub outputs: Vec<MetadataTensor>,
    /// The model's parameters (MLServer's model settings); omitted when there are none.
    // MLServer writes `{}`: set `Some(Map::new())` to do the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Value>))]
    pub parameters: Option<Map<String, Value>>,
}

/// The server metadata body (`GET /v2`); all three fields are always written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = V2ServerMetadata)
)]
pub struct MetadataServerResponse {
    /// The server's name (`mlserver` in MLServer mode).
    pub name: String,
    /// The server's version.
    pub version: String,
    /// The protocol extensions supported (`binary_tensor_data`, ...).
    pub extensions: Vec<String>,
}

/// The error body of every V2 failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = V2Error, example = json!({"error": "Model x not found"}))
)]
pub struct ErrorResponse {
    /// The message.
    pub error: String,
}

impl ErrorResponse {
    /// An error body with `message`.
    pub fn new(message: impl fmt::Display) -> Self {
        ErrorResponse {
            error: message.to_string(),
        }
    }
}

/// The server liveness body (`GET /v2/health/live`): `{"live":true}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = V2Live))]
pub struct ServerLiveResponse {
    /// Whether the server is live (it always is when it answers).
    pub live: bool,
}

/// The server readiness body (`GET /v2/health/ready`) when ready: `{"ready":true}` (a server that is not ready
/// answers 503 with an error body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = V2Ready))]
pub struct ServerReadyResponse {
    /// Whether the server is ready.
    pub ready: bool,
}

/// The model readiness body (`GET /v2/models/{name}/ready`): `{"name":…,"ready":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = V2ModelReady))]
pub struct ModelReadyResponse {
    /// The model's name.
    pub name: String,
    /// Whether it is ready to infer.
    pub ready: bool,
}

/// The REST metadata of a model named `name`.
pub fn model_metadata_rest(
    name: &str,
    versions: Vec<String>,
    metadata: &ModelMetadata,
) -> MetadataModelResponse {
    MetadataModelResponse {
        name: name.to_owned(),
        versions,
        platform: metadata.platform.clone(),
        inputs: metadata.inputs.iter().map(MetadataTensor::from).collect(),
        outputs: metadata.outputs.iter().map(MetadataTensor::from).collect(),
        parameters: None,
    }
}

/// An encoded response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBody {
    /// The bytes to send: JSON, followed by binary blobs when there are any.
    pub body: Vec<u8>,
    /// The JSON header's length when binary blobs follow: the runtime sends it as
    /// `Inference-Header-Content-Length` (and `Content-Type: application/octet-stream`). `None` for plain JSON.
    pub header_len: Option<usize>,
}

/// Decodes a REST inference body. `header_len` is the `Inference-Header-Content-Length` header when present: the
/// JSON is then the first `header_len` bytes and the blobs of inputs with `binary_data_size` follow in input
/// order. Every size is checked against what remains, and every shape is charged to one budget of `limits`
/// before its values are read; no input can panic or over-allocate.
pub fn decode_rest(
    body: &[u8],
    header_len: Option<usize>,
    limits: &RequestLimits,
) -> Result<DecodedInfer, V2Error> {
    decode_rest_chunks(&[body], header_len, limits)
}

/// [`decode_rest`] of a body held as the chunks the transport received it in (hyper hands a large body over in
/// several), without joining them: each binary input is converted from its chunks straight into its tensor, so
/// the one copy after the socket's is the one into the tensor's typed buffer. Only a JSON header that straddles
/// a chunk boundary is joined (it is small; the blobs are not).
pub fn decode_rest_chunks<B: AsRef<[u8]>>(
    body: &[B],
    header_len: Option<usize>,
    limits: &RequestLimits,
) -> Result<DecodedInfer, V2Error> {
    let mut budget = limits.budget();
    let (json, mut rest) = split_body(body, header_len)?;
    let request = InferenceRequest::from_json(&json)?;
    let parameters = request.parameters.unwrap_or_default();

    let mut inputs = Vec::with_capacity(request.inputs.len());
    let mut infos = Vec::with_capacity(request.inputs.len());
    for input in request.inputs {
        let (tensor, info) = decode_tensor(input, &mut rest, header_len.is_some(), &mut budget)?;
        inputs.push(tensor);
        infos.push(info);
    }
    if rest.remaining != 0 {
        return Err(V2Error::TrailingBytes {
            extra: rest.remaining,
        });
    }

    let mut binary_outputs = BinaryOutputs {
        default: bool_param(&parameters, BINARY_DATA_OUTPUT, "request")?.unwrap_or(false),
        per_output: Vec::new(),
    };
    let requested = request.outputs.unwrap_or_default();
    let mut outputs = Vec::with_capacity(requested.len());
    let mut output_parameters = Vec::with_capacity(requested.len());
    for output in requested {
        let params = output.parameters.unwrap_or_default();
        if let Some(flag) = bool_param(&params, BINARY_DATA, &output.name)? {
            binary_outputs.per_output.push((output.name.clone(), flag));
        }
        outputs.push(output.name);
        output_parameters.push(params);
    }

    let mut decoded = DecodedInfer {
        id: request.id,
        parameters,
        request: PredictRequest { inputs, outputs },
        inputs: infos,
        output_parameters,
        binary_outputs,
        raw_output: false,
    };
    super::codecs::apply(&mut decoded)?;
    Ok(decoded)
}

/// Decodes one REST tensor, taking its blob (if `binary_data_size` says it has one) from the front of `rest`.
fn decode_tensor(
    input: RequestInput,
    rest: &mut Blobs<'_>,
    has_header: bool,
    budget: &mut Budget,
) -> Result<(NamedTensor, InputInfo), V2Error> {
    let dtype = parse_datatype(&input.name, &input.datatype)?;
    let (dims, count) = charged_shape(&input.name, &input.shape, budget)?;
    let params = input.parameters.unwrap_or_default();
    let size = match params.get(BINARY_DATA_SIZE) {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| V2Error::BadParameter {
            name: input.name.clone(),
            key: BINARY_DATA_SIZE,
            expected: "a non-negative integer",
        })?),
    };
    let mut missing = None;
    let (values, what) = match (input.data, size) {
        (Some(_), Some(_)) => return Err(V2Error::DataAndBinary { name: input.name }),
        (None, None) => return Err(V2Error::MissingData { name: input.name }),
        (Some(data), None) => {
            let (values, mask) = data.resolve_column(&input.name, dtype)?;
            missing = mask;
            (values, "data")
        }
        (None, Some(size)) => {
            if !has_header {
                return Err(V2Error::BinaryWithoutHeader { name: input.name });
            }
            let blob = usize::try_from(size)
                .ok()
                .and_then(|s| rest.take(s))
                .ok_or_else(|| V2Error::BinaryTruncated {
                    name: input.name.clone(),
                    size,
                    available: rest.remaining,
                })?;
            (
                decode_segments(&input.name, dtype, count, &blob)?,
                "binary data",
            )
        }
    };
    let tensor =
        build_tensor(&input.name, &input.shape, dims, count, what, values)?.with_missing(missing);
    Ok((
        NamedTensor::new(input.name, tensor),
        InputInfo {
            datatype: dtype,
            parameters: params,
        },
    ))
}

/// A decoded REST inference response (the client side: tests, and proxies).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedResponse {
    /// The model that answered.
    pub model_name: String,
    /// Its version, when it has one.
    pub model_version: Option<String>,
    /// The echoed request id.
    pub id: String,
    /// Response parameters; empty when absent.
    pub parameters: Map<String, Value>,
    /// The outputs, in order, with binary blobs resolved.
    pub outputs: Vec<NamedTensor>,
    /// Per output: the datatype as sent and its parameters.
    pub output_info: Vec<InputInfo>,
}

/// Decodes a REST inference response body, JSON or binary (`header_len` from
/// `Inference-Header-Content-Length`), with the same checks as [`decode_rest`] against a budget of the body's own
/// length (a literal response never declares more cells than it has bytes).
pub fn decode_rest_response(
    body: &[u8],
    header_len: Option<usize>,
) -> Result<DecodedResponse, V2Error> {
    let mut budget = RequestLimits::from_body_limit(body.len()).budget();
    let parts = [body];
    let (json, mut rest) = split_body(&parts, header_len)?;
    let response: InferenceResponse = serde_json::from_slice(&json)?;
    let mut outputs = Vec::with_capacity(response.outputs.len());
    let mut output_info = Vec::with_capacity(response.outputs.len());
    for output in response.outputs {
        let (tensor, info) = decode_tensor(output, &mut rest, header_len.is_some(), &mut budget)?;
        outputs.push(tensor);
        output_info.push(info);
    }
    if rest.remaining != 0 {
        return Err(V2Error::TrailingBytes {
            extra: rest.remaining,
        });
    }
    Ok(DecodedResponse {
        model_name: response.model_name,
        model_version: response.model_version,
        id: response.id,
        parameters: response.parameters.unwrap_or_default(),
        outputs,
        output_info,
    })
}

/// Splits a body (in its transport chunks) into its JSON header — borrowed, unless it straddles chunks — and the
/// blobs after it.
fn split_body<B: AsRef<[u8]>>(
    body: &[B],
    header_len: Option<usize>,
) -> Result<(Cow<'_, [u8]>, Blobs<'_>), V2Error> {
    let mut all = Blobs::new(body);
    let json_len = header_len.unwrap_or(all.remaining);
    let body_len = all.remaining;
    let json = all.take(json_len).ok_or(V2Error::HeaderLength {
        header_len: json_len,
        body_len,
    })?;
    let json = match json.as_slice() {
        [] => Cow::Borrowed(&[][..]),
        [one] => Cow::Borrowed(*one),
        more => Cow::Owned(more.concat()),
    };
    Ok((json, all))
}

/// The part of a body after the JSON header, as the transport's chunks, taken from the front blob by blob.
struct Blobs<'a> {
    /// The chunks not yet taken (the first possibly cut at its front), empty ones left out.
    chunks: Vec<&'a [u8]>,
    /// Index of the first chunk not yet taken whole.
    next: usize,
    /// Bytes not yet taken.
    remaining: usize,
}

impl<'a> Blobs<'a> {
    fn new<B: AsRef<[u8]>>(body: &'a [B]) -> Self {
        let chunks: Vec<&[u8]> = body
            .iter()
            .map(AsRef::as_ref)
            .filter(|c| !c.is_empty())
            .collect();
        let remaining = chunks.iter().map(|c| c.len()).sum();
        Blobs {
            chunks,
            next: 0,
            remaining,
        }
    }

    /// The next `len` bytes as the pieces of chunks that hold them, or `None` when fewer remain.
    fn take(&mut self, mut len: usize) -> Option<Vec<&'a [u8]>> {
        if len > self.remaining {
            return None;
        }
        self.remaining -= len;
        let mut pieces = Vec::with_capacity(1);
        while len > 0 {
            let chunk = self.chunks.get_mut(self.next)?;
            if chunk.len() > len {
                let (head, tail) = chunk.split_at(len);
                pieces.push(head);
                *chunk = tail;
                break;
            }
            pieces.push(*chunk);
            len -= chunk.len();
            self.next += 1;
        }
        Some(pieces)
    }
}

/// Encodes a REST inference response: outputs as flat JSON `data`, or as binary blobs where `binary` says so
/// (with `parameters.binary_data_size` and no `data`). `model_version` is omitted when `None`.
pub fn encode_rest(
    model_name: &str,
    model_version: Option<&str>,
    id: String,
    outputs: Vec<NamedTensor>,
    binary: &BinaryOutputs,
) -> Result<EncodedBody, V2Error> {
    encode_response(
        InferenceResponse::from_outputs(model_name, model_version, id, outputs)?,
        binary,
    )
}

/// Encodes a prepared response (see [`InferenceResponse::from_outputs`]), moving the outputs `binary` selects
/// into blobs after the JSON.
pub fn encode_response(
    mut response: InferenceResponse,
    binary: &BinaryOutputs,
) -> Result<EncodedBody, V2Error> {
    let mut blobs: Vec<(usize, TensorData)> = Vec::new();
    let mut estimate = 256usize;
    for (index, output) in response.outputs.iter_mut().enumerate() {
        if binary.is_binary(&output.name)
            && let Some(data) = output.data.take()
        {
            match data.into_typed() {
                Some(values) => {
                    output
                        .parameters
                        .get_or_insert_with(Map::new)
                        .insert(BINARY_DATA_SIZE.to_owned(), Value::from(blob_len(&values)));
                    blobs.push((index, values));
                }
                None => {
                    return Err(V2Error::MissingData {
                        name: output.name.clone(),
                    });
                }
            }
        } else if let Some(data) = &output.data {
            estimate = estimate.saturating_add(json_estimate(&output.name, data)?);
        }
    }
    let blob_total = blobs
        .iter()
        .map(|(_, v)| blob_len(v))
        .fold(0usize, usize::saturating_add);
    let mut body = Vec::with_capacity(estimate.saturating_add(blob_total).min(1 << 30));
    if !blobs.is_empty() || super::reply_json::write(&response, &mut body).is_none() {
        body.clear();
        serde_json::to_writer(&mut body, &response)?;
    }
    if blobs.is_empty() {
        return Ok(EncodedBody {
            body,
            header_len: None,
        });
    }
    let header_len = body.len();
    for (index, values) in &blobs {
        let name = response.outputs.get(*index).map_or("", |o| o.name.as_str());
        encode_blob(name, values, &mut body)?;
    }
    Ok(EncodedBody {
        body,
        header_len: Some(header_len),
    })
}

/// A rough JSON size for an output's data, for one up-front allocation; checks BYTES are UTF-8 so the error
/// names the output.
fn json_estimate(name: &str, data: &TensorJson) -> Result<usize, V2Error> {
    let Some(values) = data.typed() else {
        return Ok(64);
    };
    Ok(match values {
        TensorData::Bytes(v) => {
            for (index, element) in v.iter().enumerate() {
                if std::str::from_utf8(element).is_err() {
                    return Err(V2Error::NotUtf8 {
                        name: name.to_owned(),
                        index,
                    });
                }
            }
            v.iter().map(|e| e.len() + 3).fold(0, usize::saturating_add)
        }
        TensorData::F64(v) => v.len().saturating_mul(20),
        TensorData::F32(v) => v.len().saturating_mul(12),
        other => other.len().saturating_mul(6),
    })
}

fn parse_datatype(name: &str, datatype: &str) -> Result<V2DataType, V2Error> {
    V2DataType::parse(datatype).ok_or_else(|| V2Error::UnknownDatatype {
        name: name.to_owned(),
        datatype: datatype.to_owned(),
    })
}

/// A tensor from decoded values, checking their count against the shape.
pub(crate) fn build_tensor(
    name: &str,
    shape: &[i64],
    dims: Vec<usize>,
    count: usize,
    what: &'static str,
    values: TensorData,
) -> Result<Tensor, V2Error> {
    let count_error = |got| V2Error::ElementCount {
        name: name.to_owned(),
        shape: shape.to_vec(),
        expected: count,
        what,
        got,
    };
    if values.len() != count {
        return Err(count_error(values.len()));
    }
    let got = values.len();
    Tensor::new(dims, values).map_err(|_| count_error(got))
}

fn bool_param(
    params: &Map<String, Value>,
    key: &'static str,
    name: &str,
) -> Result<Option<bool>, V2Error> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(V2Error::BadParameter {
            name: name.to_owned(),
            key,
            expected: "a boolean",
        }),
    }
}

impl<'de> Deserialize<'de> for RequestInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(InputVisitor)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Name,
    Shape,
    Datatype,
    Parameters,
    Data,
    #[serde(other)]
    Other,
}

struct InputVisitor;

impl<'de> Visitor<'de> for InputVisitor {
    type Value = RequestInput;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tensor object with name, shape, datatype and data")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RequestInput, A::Error> {
        let mut name: Option<String> = None;
        let mut shape: Option<Vec<i64>> = None;
        let mut datatype: Option<String> = None;
        let mut parameters: Option<Option<Map<String, Value>>> = None;
        let mut data: Option<TensorJson> = None;
        fn dup<E: de::Error>(seen: bool, field: &'static str) -> Result<(), E> {
            if seen {
                Err(E::duplicate_field(field))
            } else {
                Ok(())
            }
        }
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Name => {
                    dup(name.is_some(), "name")?;
                    name = Some(map.next_value()?);
                }
                Field::Shape => {
                    dup(shape.is_some(), "shape")?;
                    shape = Some(map.next_value()?);
                }
                Field::Datatype => {
                    dup(datatype.is_some(), "datatype")?;
                    datatype = Some(map.next_value()?);
                }
                Field::Parameters => {
                    dup(parameters.is_some(), "parameters")?;
                    parameters = Some(map.next_value()?);
                }
                Field::Data => {
                    dup(data.is_some(), "data")?;
                    let dtype = datatype.as_deref().and_then(V2DataType::parse);
                    data = Some(match dtype {
                        Some(dtype) => {
                            let hint = shape
                                .as_deref()
                                .and_then(|s| checked_shape("", s).ok())
                                .map_or(0, |(_, count)| count);
                            map.next_value_seed(DataSeed { dtype, hint })?
                        }
                        None => map.next_value::<TensorJson>()?,
                    });
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(RequestInput {
            name: name.ok_or_else(|| de::Error::missing_field("name"))?,
            shape: shape.ok_or_else(|| de::Error::missing_field("shape"))?,
            datatype: datatype.ok_or_else(|| de::Error::missing_field("datatype"))?,
            parameters: parameters.flatten(),
            data,
        })
    }
}
