//! TF Serving's gRPC services on a real tonic server on loopback, called with the generated clients.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{PairModel, TextModel, state};
use oxserve_core::Model;
use oxserve_protocol::pb::tensorflow::serving::model_service_client::ModelServiceClient;
use oxserve_protocol::pb::tensorflow::serving::prediction_service_client::PredictionServiceClient;
use oxserve_protocol::pb::tensorflow::serving::{
    GetModelMetadataRequest, GetModelStatusRequest, ModelSpec, PredictRequest, SignatureDefMap,
    model_spec,
};
use oxserve_protocol::pb::tensorflow::{
    DataType as TfType, TensorProto, TensorShapeProto, tensor_info,
};
use tonic::transport::Channel;

/// Serves `model` as `name` on an ephemeral port; returns a channel to it.
async fn serve(model: Arc<dyn Model>, name: &str) -> Channel {
    common::serve_grpc(state(model, name, None)).await
}

fn shape(dims: &[i64]) -> Option<TensorShapeProto> {
    Some(oxserve_protocol::seldon::tftensor::shape_proto(dims))
}

fn spec(name: &str) -> Option<ModelSpec> {
    Some(ModelSpec {
        name: name.into(),
        version_choice: None,
        signature_name: String::new(),
    })
}

/// `x` as `tf.make_tensor_proto` sends a numpy array: raw little-endian bytes in `tensor_content`.
fn x_content(values: &[f32], rows: i64) -> TensorProto {
    TensorProto {
        dtype: TfType::DtFloat as i32,
        tensor_shape: shape(&[rows, 3]),
        tensor_content: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..TensorProto::default()
    }
}

fn n_typed(values: &[i64]) -> TensorProto {
    TensorProto {
        dtype: TfType::DtInt64 as i32,
        tensor_shape: shape(&[values.len() as i64]),
        int64_val: values.to_vec(),
        ..TensorProto::default()
    }
}

fn request(name: &str, inputs: Vec<(&str, TensorProto)>, filter: &[&str]) -> PredictRequest {
    PredictRequest {
        model_spec: spec(name),
        inputs: inputs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        output_filter: filter.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test]
async fn predict_reads_tensor_content_and_typed_values_and_answers_typed_values() {
    let channel = serve(Arc::new(PairModel::default()), "pair").await;
    let mut client = PredictionServiceClient::new(channel);
    let reply = client
        .predict(request(
            "pair",
            vec![
                ("x", x_content(&[1.0, 2.0, 3.0, 0.5, 1.0, -1.0], 2)),
                ("n", n_typed(&[2, -1])),
            ],
            &[],
        ))
        .await
        .unwrap()
        .into_inner();
    let spec = reply.model_spec.unwrap();
    assert_eq!(spec.name, "pair");
    assert_eq!(spec.signature_name, "serving_default");
    assert_eq!(
        spec.version_choice,
        Some(model_spec::VersionChoice::Version(1))
    );
    let scaled = &reply.outputs["scaled"];
    assert_eq!(scaled.dtype, TfType::DtFloat as i32);
    assert_eq!(scaled.tensor_shape, shape(&[2, 3]));
    assert_eq!(scaled.float_val, [2.0, 4.0, 6.0, -0.5, -1.0, 1.0]);
    assert!(scaled.tensor_content.is_empty());
    let total = &reply.outputs["total"];
    assert_eq!(total.dtype, TfType::DtDouble as i32);
    assert_eq!(total.double_val, [8.0, -0.5]);

    // Typed float_val in, an output filter, a version and a label.
    let mut x = TensorProto {
        dtype: TfType::DtFloat as i32,
        tensor_shape: shape(&[1, 3]),
        float_val: vec![1.0, 1.0, 1.0],
        ..TensorProto::default()
    };
    let mut req = request(
        "pair",
        vec![("x", x.clone()), ("n", n_typed(&[5]))],
        &["total"],
    );
    req.model_spec.as_mut().unwrap().version_choice = Some(model_spec::VersionChoice::Version(1));
    let reply = client.predict(req).await.unwrap().into_inner();
    assert_eq!(reply.outputs.keys().collect::<Vec<_>>(), ["total"]);
    assert_eq!(reply.outputs["total"].double_val, [8.0]);
    // One value stands for the whole tensor (TensorProto's broadcast rule).
    x.float_val = vec![2.0];
    let mut req = request("pair", vec![("x", x), ("n", n_typed(&[1]))], &["scaled"]);
    req.model_spec.as_mut().unwrap().version_choice =
        Some(model_spec::VersionChoice::VersionLabel("stable".into()));
    let reply = client.predict(req).await.unwrap().into_inner();
    assert_eq!(reply.outputs["scaled"].float_val, [2.0, 2.0, 2.0]);
}

#[tokio::test]
async fn predict_errors_are_tf_servings_codes() {
    let channel = serve(Arc::new(PairModel::default()), "pair").await;
    let mut client = PredictionServiceClient::new(channel);
    let good = || vec![("x", x_content(&[1.0, 2.0, 3.0], 1)), ("n", n_typed(&[1]))];
    let cases: Vec<(PredictRequest, tonic::Code, &str)> = vec![
        (
            request("other", good(), &[]),
            tonic::Code::NotFound,
            "Servable not found for request: Latest(other)",
        ),
        (
            {
                let mut r = request("pair", good(), &[]);
                r.model_spec.as_mut().unwrap().signature_name = "predict_images".into();
                r
            },
            tonic::Code::InvalidArgument,
            "Serving signature name: \"predict_images\" not found in signature def",
        ),
        (
            {
                let mut r = request("pair", good(), &[]);
                r.model_spec.as_mut().unwrap().version_choice =
                    Some(model_spec::VersionChoice::Version(4));
                r
            },
            tonic::Code::NotFound,
            "Servable not found for request: Specific(pair, 4)",
        ),
        (
            request("pair", vec![("x", x_content(&[1.0, 2.0, 3.0], 1))], &[]),
            tonic::Code::InvalidArgument,
            "Request inputs do not match required inputs for the signature. Missing but required: {n}. Inputs expected: {x,n}.",
        ),
        (
            {
                let mut inputs = good();
                inputs.push(("z", n_typed(&[1])));
                request("pair", inputs, &[])
            },
            tonic::Code::InvalidArgument,
            "input tensor alias not found in signature: z. Inputs expected to be in the set {x,n}.",
        ),
        (
            request(
                "pair",
                vec![
                    ("x", x_content(&[1.0, 2.0, 3.0], 1)),
                    (
                        "n",
                        TensorProto {
                            dtype: TfType::DtDouble as i32,
                            tensor_shape: shape(&[1]),
                            double_val: vec![1.0],
                            ..TensorProto::default()
                        },
                    ),
                ],
                &[],
            ),
            tonic::Code::InvalidArgument,
            "Expects arg[1] to be int64 but double is provided (input `n`)",
        ),
        (
            request(
                "pair",
                vec![
                    ("x", x_content(&[1.0, 2.0, 3.0, 4.0], 1)),
                    ("n", n_typed(&[1])),
                ],
                &[],
            ),
            tonic::Code::InvalidArgument,
            "input `x`: TensorProto tensor_content has 16 bytes, shape [1, 3] needs 12",
        ),
        (
            request(
                "pair",
                vec![
                    (
                        "x",
                        TensorProto {
                            dtype: TfType::DtFloat as i32,
                            tensor_shape: shape(&[1, 4]),
                            float_val: vec![1.0; 4],
                            ..TensorProto::default()
                        },
                    ),
                    ("n", n_typed(&[1])),
                ],
                &[],
            ),
            tonic::Code::InvalidArgument,
            "input `x` has shape [1, 4], but the signature expects [-1, 3] (-1 is any size)",
        ),
        (
            request("pair", good(), &["nope"]),
            tonic::Code::InvalidArgument,
            "output tensor alias not found in signature: nope Outputs expected to be in the set {scaled,total}.",
        ),
    ];
    for (req, code, message) in cases {
        let status = client.predict(req).await.unwrap_err();
        assert_eq!((status.code(), status.message()), (code, message));
    }
}

#[tokio::test]
async fn strings_travel_in_string_val() {
    let channel = serve(Arc::new(TextModel::default()), "text").await;
    let mut client = PredictionServiceClient::new(channel);
    let text = TensorProto {
        dtype: TfType::DtString as i32,
        tensor_shape: shape(&[2]),
        string_val: vec![b"hi".to_vec(), vec![0xff, b'a']],
        ..TensorProto::default()
    };
    let reply = client
        .predict(request("text", vec![("text", text)], &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.outputs["length"].int64_val, [2, 2]);
    assert_eq!(
        reply.outputs["upper_bytes"].string_val,
        [b"HI".to_vec(), vec![0xff, b'A']]
    );
}

#[tokio::test]
async fn metadata_and_status() {
    let channel = serve(Arc::new(PairModel::default()), "pair").await;
    let mut client = PredictionServiceClient::new(channel.clone());
    let reply = client
        .get_model_metadata(GetModelMetadataRequest {
            model_spec: spec("pair"),
            metadata_field: vec!["signature_def".into()],
        })
        .await
        .unwrap()
        .into_inner();
    let any = &reply.metadata["signature_def"];
    assert_eq!(
        any.type_url,
        "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    );
    let map: SignatureDefMap = prost::Message::decode(any.value.as_slice()).unwrap();
    let sig = &map.signature_def["serving_default"];
    assert_eq!(sig.method_name, "tensorflow/serving/predict");
    let x = &sig.inputs["x"];
    assert_eq!(x.dtype, TfType::DtFloat as i32);
    assert_eq!(x.tensor_shape, shape(&[-1, 3]));
    assert_eq!(x.encoding, Some(tensor_info::Encoding::Name("x".into())));
    assert_eq!(sig.inputs["n"].dtype, TfType::DtInt64 as i32);
    assert_eq!(sig.outputs["total"].dtype, TfType::DtDouble as i32);
    let mut outputs: Vec<&String> = sig.outputs.keys().collect();
    outputs.sort();
    assert_eq!(outputs, ["scaled", "total"]);
    let err = client
        .get_model_metadata(GetModelMetadataRequest {
            model_spec: spec("pair"),
            metadata_field: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    let mut status = ModelServiceClient::new(channel);
    let reply = status
        .get_model_status(GetModelStatusRequest {
            model_spec: spec("pair"),
        })
        .await
        .unwrap()
        .into_inner();
    let version = &reply.model_version_status[0];
    assert_eq!(version.version, 1);
    assert_eq!(version.state, 30);
    assert_eq!(version.status.as_ref().unwrap().error_code, 0);
    let err = status
        .get_model_status(GetModelStatusRequest {
            model_spec: spec("nope"),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
}
