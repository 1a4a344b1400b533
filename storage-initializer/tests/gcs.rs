//! Google Cloud Storage against fake-gcs-server (XML API, which object_store's client speaks).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;
use oxserve_storage::{ErrorKind, fetch};

fn bucket(peer: &Peer) -> String {
    let bucket = unique_bucket("gcs");
    gcs_put(
        peer,
        &bucket,
        &[
            ("sklearn/iris/model.joblib", b"gcs-joblib"),
            ("sklearn/iris/sub/x.txt", b"x"),
            ("sklearn/iris2/model.joblib", b"other"),
        ],
    );
    bucket
}

fn iris() -> Vec<(String, Vec<u8>)> {
    vec![
        ("model.joblib".into(), b"gcs-joblib".to_vec()),
        ("sub/x.txt".into(), b"x".to_vec()),
    ]
}

#[tokio::test]
async fn emulator_host_means_anonymous_access_to_the_emulator() {
    init();
    let Some(peer) = gcs_emulator("emulator_host_means_anonymous_access_to_the_emulator") else {
        return;
    };
    let b = bucket(peer);
    let tmp = tempfile::tempdir().unwrap();
    let host = format!("127.0.0.1:{}", peer.port);
    let vars = env(&[("STORAGE_EMULATOR_HOST", &host)]);
    fetch(&format!("gs://{b}/sklearn/iris"), tmp.path(), &vars)
        .await
        .unwrap();
    assert_eq!(tree(tmp.path()), iris());

    let d = tmp.path().join("missing");
    let err = fetch(&format!("gs://{b}/sklearn/nope"), &d, &vars)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn rclone_gs_remote_anonymous_like_seldons_image() {
    init();
    let Some(peer) = gcs_emulator("rclone_gs_remote_anonymous_like_seldons_image") else {
        return;
    };
    let b = bucket(peer);
    let tmp = tempfile::tempdir().unwrap();
    // What Seldon's rclone image bakes in, plus an endpoint pointing at the emulator.
    let vars = env(&[
        ("RCLONE_CONFIG_GS_TYPE", "google cloud storage"),
        ("RCLONE_CONFIG_GS_ANONYMOUS", "true"),
        ("RCLONE_CONFIG_GS_ENDPOINT", &peer.url()),
    ]);
    fetch(
        &format!("gs://{b}/sklearn/iris/model.joblib"),
        tmp.path(),
        &vars,
    )
    .await
    .unwrap();
    assert_eq!(
        tree(tmp.path()),
        vec![("model.joblib".into(), b"gcs-joblib".to_vec())]
    );
}

#[tokio::test]
async fn rclone_gcs_remote_with_service_account_json() {
    init();
    let Some(peer) = gcs_emulator("rclone_gcs_remote_with_service_account_json") else {
        return;
    };
    let b = bucket(peer);
    let tmp = tempfile::tempdir().unwrap();
    // `disable_oauth` and `gcs_base_url` are object_store's extensions for emulators: the JSON is
    // parsed as a service account but no token is requested.
    let sa = format!(
        r#"{{"type":"service_account","private_key":"unused","private_key_id":"k","client_email":"sa@p.iam.gserviceaccount.com","disable_oauth":true,"gcs_base_url":"{}"}}"#,
        peer.url()
    );
    let vars = env(&[
        ("RCLONE_CONFIG_GCS_TYPE", "google cloud storage"),
        ("RCLONE_CONFIG_GCS_ANONYMOUS", "false"),
        ("RCLONE_CONFIG_GCS_SERVICE_ACCOUNT_CREDENTIALS", &sa),
    ]);
    fetch(&format!("gcs://{b}/sklearn/iris"), tmp.path(), &vars)
        .await
        .unwrap();
    assert_eq!(tree(tmp.path()), iris());
}
