//! S3 against moto in server mode, through both credential conventions.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;

use common::*;
use oxserve_storage::{ErrorKind, StorageError, fetch};

fn kserve_env(peer: &Peer) -> std::collections::HashMap<String, String> {
    env(&[
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", &peer.url()),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ])
}

fn iris_bucket(peer: &Peer) -> String {
    iris_bucket_acl(peer, "private")
}

fn iris_bucket_acl(peer: &Peer, acl: &str) -> String {
    let bucket = unique_bucket("iris");
    s3_put_acl(
        peer,
        &bucket,
        &[
            ("models/iris/model.joblib", b"joblib-bytes"),
            ("models/iris/metadata.yaml", b"name: iris"),
            ("models/iris/sub/deep.txt", b"deep"),
            ("models/iris-old/stale.joblib", b"must not be fetched"),
            // A zero-byte "folder" object named like the prefix must not hide the folder.
            ("models/iris", b""),
        ],
        acl,
    );
    bucket
}

fn iris_tree() -> Vec<(String, Vec<u8>)> {
    vec![
        ("metadata.yaml".into(), b"name: iris".to_vec()),
        ("model.joblib".into(), b"joblib-bytes".to_vec()),
        ("sub/deep.txt".into(), b"deep".to_vec()),
    ]
}

#[tokio::test]
async fn kserve_env_mirrors_a_prefix_as_a_folder_tree() {
    init();
    let Some(peer) = moto("kserve_env_mirrors_a_prefix_as_a_folder_tree") else {
        return;
    };
    let bucket = iris_bucket(peer);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("models");
    let placed = fetch(
        &format!("s3://{bucket}/models/iris/"),
        &dest,
        &kserve_env(peer),
    )
    .await
    .unwrap();
    assert_eq!(placed, dest);
    assert_eq!(tree(&dest), iris_tree());
}

#[tokio::test]
async fn kserve_s3_endpoint_with_use_https_0() {
    init();
    let Some(peer) = moto("kserve_s3_endpoint_with_use_https_0") else {
        return;
    };
    let bucket = iris_bucket(peer);
    let tmp = tempfile::tempdir().unwrap();
    let host = format!("127.0.0.1:{}", peer.port);
    let vars = env(&[
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("S3_ENDPOINT", &host),
        ("S3_USE_HTTPS", "0"),
        ("S3_VERIFY_SSL", "0"),
        ("AWS_REGION", "us-east-1"),
    ]);
    fetch(&format!("s3://{bucket}/models/iris"), tmp.path(), &vars)
        .await
        .unwrap();
    assert_eq!(tree(tmp.path()), iris_tree());
}

#[tokio::test]
async fn rclone_s3_remote_fetches_a_single_object() {
    init();
    let Some(peer) = moto("rclone_s3_remote_fetches_a_single_object") else {
        return;
    };
    let bucket = iris_bucket(peer);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("m");
    let vars = env(&[
        ("RCLONE_CONFIG_S3_TYPE", "s3"),
        ("RCLONE_CONFIG_S3_PROVIDER", "minio"),
        ("RCLONE_CONFIG_S3_ENV_AUTH", "false"),
        ("RCLONE_CONFIG_S3_ACCESS_KEY_ID", "minioadmin"),
        ("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", "minioadmin"),
        ("RCLONE_CONFIG_S3_ENDPOINT", &peer.url()),
        // KServe variables pointing elsewhere must not be used when the remote is configured.
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ]);
    fetch(
        &format!("s3://{bucket}/models/iris/model.joblib"),
        &dest,
        &vars,
    )
    .await
    .unwrap();
    assert_eq!(
        tree(&dest),
        vec![("model.joblib".into(), b"joblib-bytes".to_vec())]
    );
}

#[tokio::test]
async fn rclone_remote_named_by_a_custom_scheme() {
    init();
    let Some(peer) = moto("rclone_remote_named_by_a_custom_scheme") else {
        return;
    };
    let bucket = iris_bucket(peer);
    let tmp = tempfile::tempdir().unwrap();
    let vars = env(&[
        ("RCLONE_CONFIG_MINIO_TYPE", "s3"),
        ("RCLONE_CONFIG_MINIO_PROVIDER", "Minio"),
        ("RCLONE_CONFIG_MINIO_ACCESS_KEY_ID", "k"),
        ("RCLONE_CONFIG_MINIO_SECRET_ACCESS_KEY", "s"),
        ("RCLONE_CONFIG_MINIO_ENDPOINT", &peer.url()),
        ("RCLONE_CONFIG_MINIO_REGION", "us-east-1"),
    ]);
    fetch(&format!("minio://{bucket}/models/iris"), tmp.path(), &vars)
        .await
        .unwrap();
    assert_eq!(tree(tmp.path()), iris_tree());
}

#[tokio::test]
async fn no_credentials_means_unsigned_requests() {
    init();
    let Some(peer) = moto("no_credentials_means_unsigned_requests") else {
        return;
    };
    let bucket = iris_bucket_acl(peer, "public-read");
    let tmp = tempfile::tempdir().unwrap();
    let vars = env(&[("AWS_ENDPOINT_URL", &peer.url())]);
    fetch(&format!("s3://{bucket}/models/iris"), tmp.path(), &vars)
        .await
        .unwrap();
    assert_eq!(tree(tmp.path()), iris_tree());
}

#[tokio::test]
async fn large_object_arrives_intact_through_ranged_chunks() {
    init();
    let Some(peer) = moto("large_object_arrives_intact_through_ranged_chunks") else {
        return;
    };
    let bucket = unique_bucket("large");
    // 40 MiB + 7 bytes: three 16 MiB ranges, the last one short.
    let body = data(40 * 1024 * 1024 + 7, 42);
    s3_put(peer, &bucket, &[("big/weights.bin", &body)]);
    let tmp = tempfile::tempdir().unwrap();
    fetch(
        &format!("s3://{bucket}/big/weights.bin"),
        tmp.path(),
        &kserve_env(peer),
    )
    .await
    .unwrap();
    let got = std::fs::read(tmp.path().join("weights.bin")).unwrap();
    assert_eq!(got.len(), body.len());
    assert!(got == body, "content differs");
}

#[tokio::test]
async fn dropped_range_responses_are_retried_per_chunk() {
    init();
    let Some(peer) = moto("dropped_range_responses_are_retried_per_chunk") else {
        return;
    };
    let bucket = unique_bucket("flaky");
    let body = data(33 * 1024 * 1024, 7);
    s3_put(peer, &bucket, &[("m/weights.bin", &body)]);
    // The first two ranged responses die after 100 kB; S3_MAX_ATTEMPTS=3 leaves room.
    let proxy = FaultyProxy::start(peer.port, 2, 100_000);
    let tmp = tempfile::tempdir().unwrap();
    let vars = env(&[
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", &proxy.url()),
    ]);
    fetch(&format!("s3://{bucket}/m"), tmp.path(), &vars)
        .await
        .unwrap();
    assert_eq!(proxy.cut.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(std::fs::read(tmp.path().join("weights.bin")).unwrap() == body);

    // Every ranged response dies: the fetch fails after its attempts and leaves nothing.
    let proxy = FaultyProxy::start(peer.port, usize::MAX, 100_000);
    let dest = tmp.path().join("never");
    let vars = env(&[
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", &proxy.url()),
    ]);
    let err = fetch(&format!("s3://{bucket}/m"), &dest, &vars)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::BadData),
        "{err}"
    );
    assert!(!dest.exists());
}

#[tokio::test]
async fn single_tar_gz_object_is_unpacked() {
    init();
    let Some(peer) = moto("single_tar_gz_object_is_unpacked") else {
        return;
    };
    let bucket = unique_bucket("archive");
    let archive = tar_gz(&[("model.joblib", b"m"), ("conf/settings.json", b"{}")]);
    s3_put(peer, &bucket, &[("packed/model.tar.gz", &archive)]);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out");
    // As a prefix holding exactly one archive (KServe's rule), nested one level down.
    fetch(&format!("s3://{bucket}/packed"), &dest, &kserve_env(peer))
        .await
        .unwrap();
    assert_eq!(
        tree(&dest),
        vec![
            ("conf/settings.json".into(), b"{}".to_vec()),
            ("model.joblib".into(), b"m".to_vec()),
        ]
    );
}

#[tokio::test]
async fn missing_object_or_empty_prefix_fails_and_leaves_no_folder() {
    init();
    let Some(peer) = moto("missing_object_or_empty_prefix_fails_and_leaves_no_folder") else {
        return;
    };
    let bucket = iris_bucket(peer);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("models");
    let uri = format!("s3://{bucket}/models/iri");
    let err = fetch(&uri, &dest, &kserve_env(peer)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(
        err.to_string(),
        format!("no model found at `{uri}`: no object or non-empty prefix by that name")
    );
    assert!(!dest.exists());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no staging left"
    );

    let err = fetch(&format!("s3://{bucket}-nope/x"), &dest, &kserve_env(peer))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn bad_credentials_are_reported_as_access_denied() {
    init();
    // Two free actions: create the bucket and put one object; then moto checks signatures.
    let Some(peer) = moto_with_auth("bad_credentials_are_reported_as_access_denied", 2) else {
        return;
    };
    let bucket = unique_bucket("auth");
    s3_put(&peer, &bucket, &[("m/model.joblib", b"x")]);
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("models");
    let err = fetch(&format!("s3://{bucket}/m"), &dest, &kserve_env(&peer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::AccessDenied { .. }),
        "expected access denied, got {err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("access denied to `s3://{bucket}/m`")),
        "{err}"
    );
    assert!(!dest.exists());
}

#[test]
fn binary_fills_an_existing_mount_point_and_exits_0() {
    let Some(peer) = moto("binary_fills_an_existing_mount_point_and_exits_0") else {
        return;
    };
    let bucket = iris_bucket(peer);
    let tmp = tempfile::tempdir().unwrap();
    let mount = tmp.path().join("mnt-models");
    std::fs::create_dir(&mount).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_storage-initializer"))
        .arg(format!("s3://{bucket}/models/iris"))
        .arg(&mount)
        .env_clear()
        .env("RCLONE_CONFIG_S3_TYPE", "s3")
        .env("RCLONE_CONFIG_S3_ACCESS_KEY_ID", "a")
        .env("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", "b")
        .env("RCLONE_CONFIG_S3_ENDPOINT", peer.url())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tree(&mount), iris_tree());
    assert_eq!(
        std::fs::read_dir(&mount).unwrap().count(),
        3,
        "no staging folder left in the mount point"
    );
}

#[test]
fn binary_exits_1_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("models");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_storage-initializer"))
        .arg("ftp://host/model")
        .arg(&dest)
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("storage-initializer: unsupported scheme `ftp` in `ftp://host/model`"),
        "{stderr}"
    );
    assert!(!dest.exists());
    let _ = Path::new("");
}
