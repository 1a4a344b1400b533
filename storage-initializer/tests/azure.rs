//! Azure Blob against Azurite, through KServe's and rclone's variables.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;
use oxserve_storage::{ErrorKind, fetch};

fn service_url(peer: &Peer) -> String {
    format!("{}/{AZURITE_ACCOUNT}", peer.url())
}

fn model_container(peer: &Peer, public: bool) -> String {
    let container = unique_bucket("models").replace('_', "-");
    azure_put(
        peer,
        &container,
        &[
            ("iris/model.joblib", b"az-joblib"),
            ("iris/sub/meta.yaml", b"m: 1"),
            ("iris-old/x", b"no"),
        ],
        public,
    );
    container
}

fn iris() -> Vec<(String, Vec<u8>)> {
    vec![
        ("model.joblib".into(), b"az-joblib".to_vec()),
        ("sub/meta.yaml".into(), b"m: 1".to_vec()),
    ]
}

#[tokio::test]
async fn kserve_access_key_fetches_a_prefix() {
    init();
    let Some(peer) = azurite("kserve_access_key_fetches_a_prefix") else {
        return;
    };
    let container = model_container(peer, false);
    let tmp = tempfile::tempdir().unwrap();
    let vars = env(&[
        ("AZURE_STORAGE_ACCOUNT_NAME", AZURITE_ACCOUNT),
        ("AZURE_STORAGE_ACCESS_KEY", AZURITE_KEY),
        ("AZURE_SERVICE_URL", &service_url(peer)),
    ]);
    fetch(&format!("az://{container}/iris"), tmp.path(), &vars)
        .await
        .unwrap();
    assert_eq!(tree(tmp.path()), iris());
}

#[tokio::test]
async fn rclone_azureblob_remote_fetches_one_blob() {
    init();
    let Some(peer) = azurite("rclone_azureblob_remote_fetches_one_blob") else {
        return;
    };
    let container = model_container(peer, false);
    let tmp = tempfile::tempdir().unwrap();
    let vars = env(&[
        ("RCLONE_CONFIG_AZUREBLOB_TYPE", "azureblob"),
        ("RCLONE_CONFIG_AZUREBLOB_ACCOUNT", AZURITE_ACCOUNT),
        ("RCLONE_CONFIG_AZUREBLOB_ENV_AUTH", "false"),
        ("RCLONE_CONFIG_AZUREBLOB_KEY", AZURITE_KEY),
        ("RCLONE_CONFIG_AZUREBLOB_ENDPOINT", &service_url(peer)),
    ]);
    fetch(
        &format!("azureblob://{container}/iris/model.joblib"),
        tmp.path(),
        &vars,
    )
    .await
    .unwrap();
    assert_eq!(
        tree(tmp.path()),
        vec![("model.joblib".into(), b"az-joblib".to_vec())]
    );
}

#[tokio::test]
async fn public_container_is_read_anonymously_and_wrong_key_is_refused() {
    init();
    let Some(peer) = azurite("public_container_is_read_anonymously_and_wrong_key_is_refused")
    else {
        return;
    };
    let container = model_container(peer, true);
    let tmp = tempfile::tempdir().unwrap();
    let anonymous = env(&[
        ("AZURE_STORAGE_ACCOUNT_NAME", AZURITE_ACCOUNT),
        ("AZURE_SERVICE_URL", &service_url(peer)),
    ]);
    let d = tmp.path().join("anon");
    fetch(
        &format!("az://{container}/iris/model.joblib"),
        &d,
        &anonymous,
    )
    .await
    .unwrap();
    assert_eq!(
        tree(&d),
        vec![("model.joblib".into(), b"az-joblib".to_vec())]
    );

    let private = model_container(peer, false);
    let wrong = env(&[
        ("AZURE_STORAGE_ACCOUNT_NAME", AZURITE_ACCOUNT),
        ("AZURE_STORAGE_ACCESS_KEY", "d3Jvbmcta2V5"),
        ("AZURE_SERVICE_URL", &service_url(peer)),
    ]);
    let d = tmp.path().join("denied");
    let err = fetch(&format!("az://{private}/iris"), &d, &wrong)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied, "{err}");
    assert!(!d.exists());

    let key = env(&[
        ("AZURE_STORAGE_ACCOUNT_NAME", AZURITE_ACCOUNT),
        ("AZURE_STORAGE_ACCESS_KEY", AZURITE_KEY),
        ("AZURE_SERVICE_URL", &service_url(peer)),
    ]);
    let err = fetch(&format!("az://{private}/nothing-here"), &d, &key)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}
