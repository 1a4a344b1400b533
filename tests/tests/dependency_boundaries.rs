//! The crate boundaries ARCHITECTURE.md promises, checked on the resolved dependency graph: engines never build an
//! HTTP or gRPC stack (nor the protocol crate), `protocol` builds tonic's codegen but no transport, and the TF
//! Serving proxy is an HTTP/1 client with no server stack. Reads `cargo tree --offline -e normal` (normal edges
//! only: dev-dependencies may serve and call gRPC), so it needs no network and takes about a second.

use std::path::Path;
use std::process::Command;

/// The packages in the normal dependency graph of `packages` (themselves included), by name.
fn graph(packages: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root).args([
        "tree",
        "--offline",
        "--edges",
        "normal",
        "--prefix",
        "none",
        "--format",
        "{p}",
    ]);
    for p in packages {
        cmd.args(["--package", p]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo tree: {e}"));
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Fails naming every package of `banned` that the graph of `packages` holds.
fn assert_absent(packages: &[&str], banned: &[&str]) {
    let names = graph(packages);
    assert!(
        packages.iter().all(|p| names.iter().any(|n| n == p)),
        "cargo tree did not list {packages:?}: {names:?}"
    );
    let found: Vec<&str> = banned
        .iter()
        .copied()
        .filter(|b| names.iter().any(|n| n == b))
        .collect();
    assert!(
        found.is_empty(),
        "{packages:?} depend (normal edges) on {found:?}; find the path with `cargo tree -e normal -i <crate>`"
    );
}

#[test]
fn engines_build_no_http_or_grpc_stack_nor_the_protocol_crate() {
    assert_absent(
        &[
            "oxserve-core",
            "oxserve-trees",
            "oxserve-pickle",
            "oxserve-sklearn",
            "oxserve-xgboost",
            "oxserve-lightgbm",
            "oxserve-rustml",
            "oxserve-batching",
            "oxserve-onnx",
            "oxserve-candle",
        ],
        &[
            "axum",
            "axum-core",
            "hyper",
            "hyper-util",
            "h2",
            "tonic",
            "tonic-reflection",
            "oxserve-protocol",
            "oxserve-runtime",
        ],
    );
}

#[test]
fn protocol_builds_tonic_codegen_without_a_transport() {
    // tonic's `server` and `channel` features bring hyper and h2, `router` brings axum.
    assert_absent(
        &["oxserve-protocol"],
        &["axum", "axum-core", "hyper", "hyper-util", "h2"],
    );
}

#[test]
fn the_tf_serving_proxy_is_a_client_without_a_server_stack() {
    // Its own HTTP/1 client is hyper; a server (axum) or HTTP/2 (tonic's transport) would come from elsewhere.
    assert_absent(
        &["oxserve-tfproxy"],
        &[
            "axum",
            "axum-core",
            "h2",
            "tonic-reflection",
            "oxserve-runtime",
        ],
    );
}
