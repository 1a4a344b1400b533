//! Compiles the crate's `.proto` files with protox (pure Rust: no system `protoc`) and generates prost messages
//! plus tonic clients and servers. The servers need only tonic's codegen; the clients' modules are compiled with the
//! `client` feature (which brings tonic's channel), so serving never builds an HTTP client.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/seldon/prediction.proto",
        "proto/inference/grpc_predict_v2.proto",
        "proto/inference/model_repository.proto",
        "proto/tensorflow/core/framework/tensor.proto",
        "proto/tensorflow_serving/apis/prediction_service.proto",
        "proto/tensorflow_serving/apis/model_service.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    // Imported by the protos above.
    println!("cargo:rerun-if-changed=proto/tensorflow_serving");
    println!("cargo:rerun-if-changed=proto/tensorflow/core/protobuf");
    let fds = protox::compile(protos, ["proto"])?;
    // The descriptor set, for gRPC server reflection (grpcurl, Postman, …).
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("descriptors.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    // Every message names itself (`prost::Name`), so the codec can look up its schema, and every service
    // decodes through `WireBudgetCodec`, which refuses a message whose decoded size would be out of proportion
    // to its wire size before prost allocates anything for it (see `src/wire_budget.rs`).
    let mut config = prost_build::Config::new();
    config.enable_type_names();
    // A V2 request's raw tensors as `bytes::Bytes`: prost slices them out of the buffer tonic received the
    // message in (`Buf::copy_to_bytes` on tonic's `DecodeBuf` is a reference count, not a copy), so the one copy
    // after the socket's is the conversion into the tensor (`v2::decode_grpc`). Responses keep `Vec<u8>`.
    config.bytes([".inference.ModelInferRequest.raw_input_contents"]);
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .client_mod_attribute(".", r#"#[cfg(feature = "client")]"#)
        .codec_path("crate::wire_budget::WireBudgetCodec")
        .compile_fds_with_config(fds, config)?;
    Ok(())
}
