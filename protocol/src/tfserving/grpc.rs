//! TF Serving's gRPC messages: `PredictRequest` inputs to tensors (typed `*_val` fields or `tensor_content`),
//! tensors to `PredictResponse` outputs (typed fields, as TF Serving answers), and the signature metadata.

use std::collections::HashMap;

use oxserve_core::{ModelMetadata, NamedTensor, TensorSpec};

use super::rest::check_shape;
use super::{DEFAULT_SIGNATURE, PREDICT_METHOD, RequestError, invalid, tf_dtype, tf_dtype_short};
use crate::limits::{Budget, RequestLimits};
use crate::pb::tensorflow::serving::SignatureDefMap;
use crate::pb::tensorflow::{
    DataType as TfType, SignatureDef, TensorInfo, TensorProto, tensor_info::Encoding,
};
use crate::seldon::tftensor;

/// Reads a `PredictRequest`'s inputs in the signature's order: every signature input must be sent, no other,
/// each with the signature's dtype and shape. A model that declares no inputs takes them as sent (by name).
/// Every input's shape (and any broadcast) is charged to one budget of `limits` before it is allocated.
pub fn inputs_from_protos(
    inputs: &HashMap<String, TensorProto>,
    signature: &[TensorSpec],
    limits: &RequestLimits,
) -> Result<Vec<NamedTensor>, RequestError> {
    let budget = &mut limits.budget();
    if signature.is_empty() {
        let mut named = inputs
            .iter()
            .map(|(name, proto)| convert(name, proto, budget))
            .collect::<Result<Vec<_>, _>>()?;
        named.sort_by(|a, b| a.name.cmp(&b.name));
        return Ok(named);
    }
    let expected = || {
        signature
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut extra: Vec<&str> = inputs
        .keys()
        .filter(|k| !signature.iter().any(|s| &s.name == *k))
        .map(String::as_str)
        .collect();
    if !extra.is_empty() {
        extra.sort_unstable();
        return Err(invalid(format!(
            "input tensor alias not found in signature: {}. Inputs expected to be in the set {{{}}}.",
            extra.join(","),
            expected()
        )));
    }
    let missing: Vec<&str> = signature
        .iter()
        .filter(|s| !inputs.contains_key(&s.name))
        .map(|s| s.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "Request inputs do not match required inputs for the signature. Missing but required: {{{}}}. Inputs expected: {{{}}}.",
            missing.join(","),
            expected()
        )));
    }
    signature
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let proto = inputs
                .get(&spec.name)
                .ok_or_else(|| invalid("missing input"))?;
            let want = tf_dtype(spec.datatype);
            if proto.dtype != want as i32 {
                let got = TfType::try_from(proto.dtype).map_or_else(
                    |_| proto.dtype.to_string(),
                    |t| dtype_short_name(t).to_string(),
                );
                return Err(invalid(format!(
                    "Expects arg[{i}] to be {} but {got} is provided (input `{}`)",
                    tf_dtype_short(spec.datatype),
                    spec.name
                )));
            }
            let named = convert(&spec.name, proto, budget)?;
            check_shape(named.tensor.shape(), spec)?;
            Ok(named)
        })
        .collect()
}

fn convert(
    name: &str,
    proto: &TensorProto,
    budget: &mut Budget,
) -> Result<NamedTensor, RequestError> {
    let tensor = tftensor::from_proto(proto, budget).map_err(|e| {
        invalid(format!(
            "input `{name}`: {}",
            e.replace("tftensor", "TensorProto")
        ))
    })?;
    Ok(NamedTensor::new(name, tensor))
}

/// TensorFlow's short name of a proto dtype (`DT_DOUBLE` → `double`).
fn dtype_short_name(t: TfType) -> String {
    t.as_str_name()
        .trim_start_matches("DT_")
        .to_ascii_lowercase()
}

/// A `PredictResponse`'s outputs: every output, or those in `output_filter` (each must be one of them), in
/// typed `*_val` fields.
pub fn outputs_to_protos(
    outputs: &[NamedTensor],
    output_filter: &[String],
) -> Result<HashMap<String, TensorProto>, RequestError> {
    if let Some(unknown) = output_filter
        .iter()
        .find(|f| !outputs.iter().any(|o| &&o.name == f))
    {
        return Err(invalid(format!(
            "output tensor alias not found in signature: {unknown} Outputs expected to be in the set {{{}}}.",
            outputs
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join(",")
        )));
    }
    Ok(outputs
        .iter()
        .filter(|o| output_filter.is_empty() || output_filter.contains(&o.name))
        .map(|o| (o.name.clone(), tftensor::to_proto(&o.tensor)))
        .collect())
}

/// The model's signature as a `SignatureDef` (`tensorflow/serving/predict`).
pub fn signature_def(metadata: &ModelMetadata) -> SignatureDef {
    let infos = |specs: &[TensorSpec]| -> HashMap<String, TensorInfo> {
        specs
            .iter()
            .map(|s| {
                let info = TensorInfo {
                    dtype: tf_dtype(s.datatype) as i32,
                    tensor_shape: Some(tftensor::shape_proto(&s.shape)),
                    encoding: Some(Encoding::Name(s.name.clone())),
                };
                (s.name.clone(), info)
            })
            .collect()
    };
    SignatureDef {
        inputs: infos(&metadata.inputs),
        outputs: infos(&metadata.outputs),
        method_name: PREDICT_METHOD.into(),
        defaults: HashMap::new(),
    }
}

/// `GetModelMetadataResponse.metadata["signature_def"]`: a `SignatureDefMap` holding `serving_default`, packed
/// in an `Any`.
pub fn signature_def_map_any(metadata: &ModelMetadata) -> prost_types::Any {
    let map = SignatureDefMap {
        signature_def: HashMap::from([(DEFAULT_SIGNATURE.to_string(), signature_def(metadata))]),
    };
    prost_types::Any {
        type_url: "type.googleapis.com/tensorflow.serving.SignatureDefMap".into(),
        value: prost::Message::encode_to_vec(&map),
    }
}
