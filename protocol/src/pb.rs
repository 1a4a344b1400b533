//! Generated protobuf messages and tonic services, in modules that mirror the proto packages.
#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]

/// The encoded `FileDescriptorSet` of every proto above, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));

/// TensorFlow's `TensorProto` and friends (package `tensorflow`).
pub mod tensorflow {
    tonic::include_proto!("tensorflow");

    /// TensorFlow's canonical error codes (package `tensorflow.error`).
    pub mod error {
        tonic::include_proto!("tensorflow.error");
    }

    /// TF Serving's API: `PredictionService`, `ModelService` and their messages (package `tensorflow.serving`).
    pub mod serving {
        tonic::include_proto!("tensorflow.serving");
    }
}

/// Seldon Core v1 (package `seldon.protos`).
pub mod seldon {
    /// Package `seldon.protos`.
    pub mod protos {
        tonic::include_proto!("seldon.protos");
    }

    /// Building and reading the messages a gRPC client sends and gets (tests of the Seldon services).
    #[cfg(feature = "client")]
    pub mod messages {
        use super::protos as pb;
        use prost_types::value::Kind;

        /// A `SeldonMessage` with `data.ndarray` of these rows.
        pub fn ndarray(rows: &[&[f64]]) -> pb::SeldonMessage {
            let row = |r: &[f64]| prost_types::Value {
                kind: Some(Kind::ListValue(prost_types::ListValue {
                    values: r
                        .iter()
                        .map(|&x| prost_types::Value {
                            kind: Some(Kind::NumberValue(x)),
                        })
                        .collect(),
                })),
            };
            data(pb::default_data::DataOneof::Ndarray(
                prost_types::ListValue {
                    values: rows.iter().map(|r| row(r)).collect(),
                },
            ))
        }

        /// A `SeldonMessage` with `data.tensor` of this shape and these values.
        pub fn tensor(shape: &[i32], values: &[f64]) -> pb::SeldonMessage {
            data(pb::default_data::DataOneof::Tensor(pb::Tensor {
                shape: shape.to_vec(),
                values: values.to_vec(),
            }))
        }

        fn data(array: pb::default_data::DataOneof) -> pb::SeldonMessage {
            pb::SeldonMessage {
                data_oneof: Some(pb::seldon_message::DataOneof::Data(pb::DefaultData {
                    names: Vec::new(),
                    data_oneof: Some(array),
                })),
                ..Default::default()
            }
        }

        /// A reply's `data` as numbers (`ndarray` rows flattened, or `tensor` values) and its names; `None` when
        /// it holds no numeric `ndarray` or `tensor`.
        pub fn numbers(reply: &pb::SeldonMessage) -> Option<(Vec<f64>, Vec<String>)> {
            fn flat(v: &prost_types::Value, out: &mut Vec<f64>) -> Option<()> {
                match &v.kind {
                    Some(Kind::NumberValue(x)) => out.push(*x),
                    Some(Kind::ListValue(l)) => {
                        for v in &l.values {
                            flat(v, out)?;
                        }
                    }
                    _ => return None,
                }
                Some(())
            }
            let Some(pb::seldon_message::DataOneof::Data(d)) = &reply.data_oneof else {
                return None;
            };
            let mut out = Vec::new();
            match &d.data_oneof {
                Some(pb::default_data::DataOneof::Ndarray(l)) => {
                    for v in &l.values {
                        flat(v, &mut out)?;
                    }
                }
                Some(pb::default_data::DataOneof::Tensor(t)) => out.clone_from(&t.values),
                _ => return None,
            }
            Some((out, d.names.clone()))
        }
    }
}

/// The Open Inference Protocol V2 (package `inference`).
pub mod inference {
    tonic::include_proto!("inference");

    /// MLServer's `ModelRepositoryService` (package `inference.model_repository`): the repository calls on a
    /// service of their own, with MLServer's message layout.
    pub mod model_repository {
        tonic::include_proto!("inference.model_repository");
    }
}
