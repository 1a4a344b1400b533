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
