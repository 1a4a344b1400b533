//! http(s) single files against an in-test HTTP server, and local sources.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::HashMap;

use common::*;
use oxserve_storage::{ErrorKind, fetch};

fn routes(pairs: Vec<(&str, Reply)>) -> HashMap<String, Reply> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[tokio::test]
async fn http_single_file_lands_named_after_the_path() {
    init();
    let server = HttpServer::start(routes(vec![(
        "/models/iris/model.joblib",
        Reply::Body(b"joblib".to_vec()),
    )]));
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("models");
    fetch(
        &server.url("/models/iris/model.joblib?token=secret"),
        &dest,
        &HashMap::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        tree(&dest),
        vec![("model.joblib".into(), b"joblib".to_vec())]
    );
}

#[tokio::test]
async fn http_archives_are_unpacked() {
    init();
    let zipped = zip(&[("model.joblib", b"z"), ("a/b.txt", b"b")]);
    let tarred = tar_gz(&[("model.bst", b"t")]);
    let server = HttpServer::start(routes(vec![
        ("/m.zip", Reply::Body(zipped)),
        ("/m.tgz", Reply::Body(tarred)),
    ]));
    let tmp = tempfile::tempdir().unwrap();
    let (d1, d2) = (tmp.path().join("zip"), tmp.path().join("tgz"));
    fetch(&server.url("/m.zip"), &d1, &HashMap::new())
        .await
        .unwrap();
    fetch(&server.url("/m.tgz"), &d2, &HashMap::new())
        .await
        .unwrap();
    assert_eq!(
        tree(&d1),
        vec![
            ("a/b.txt".into(), b"b".to_vec()),
            ("model.joblib".into(), b"z".to_vec())
        ]
    );
    assert_eq!(tree(&d2), vec![("model.bst".into(), b"t".to_vec())]);
}

#[tokio::test]
async fn http_errors_are_classified_and_transient_ones_retried() {
    init();
    let server = HttpServer::start(routes(vec![
        ("/flaky.bin", Reply::FailFirst(2, b"ok".to_vec())),
        ("/down.bin", Reply::FailFirst(100, b"".to_vec())),
        (
            "/private.bin",
            Reply::NeedsHeader("Authorization", "Bearer t", b"p".to_vec()),
        ),
        ("/short.bin", Reply::Short(100, b"only ten b".to_vec())),
    ]));
    let tmp = tempfile::tempdir().unwrap();
    let none = HashMap::new();

    let d = tmp.path().join("flaky");
    fetch(&server.url("/flaky.bin"), &d, &none).await.unwrap();
    assert_eq!(tree(&d), vec![("flaky.bin".into(), b"ok".to_vec())]);
    assert_eq!(server.hits.lock().unwrap()["/flaky.bin"], 3);

    let d = tmp.path().join("down");
    let err = fetch(&server.url("/down.bin"), &d, &none)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.to_string().contains("HTTP 503"), "{err}");
    assert_eq!(
        server.hits.lock().unwrap()["/down.bin"],
        3,
        "S3_MAX_ATTEMPTS default"
    );

    let d = tmp.path().join("missing");
    let err = fetch(&server.url("/nope.bin?sig=secret"), &d, &none)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(!err.to_string().contains("secret"), "{err}");

    let d = tmp.path().join("private");
    let err = fetch(&server.url("/private.bin"), &d, &none)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
    let headers = env(&[("127.0.0.1-headers", r#"{"Authorization": "Bearer t"}"#)]);
    fetch(&server.url("/private.bin"), &d, &headers)
        .await
        .unwrap();
    assert_eq!(tree(&d), vec![("private.bin".into(), b"p".to_vec())]);

    let d = tmp.path().join("short");
    let err = fetch(&server.url("/short.bin"), &d, &none)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(!d.exists());

    let err = fetch(&server.url("/"), &d, &none).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(!d.exists());
    // Only the folders the successful fetches created remain: no staging left behind.
    let mut names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["flaky", "private"]);
}

#[tokio::test]
async fn local_folder_and_file_are_copied() {
    init();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("sub")).unwrap();
    std::fs::write(src.path().join("model.joblib"), b"m").unwrap();
    std::fs::write(src.path().join("sub/x"), b"x").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("a");
    fetch(src.path().to_str().unwrap(), &d, &HashMap::new())
        .await
        .unwrap();
    assert_eq!(
        tree(&d),
        vec![
            ("model.joblib".into(), b"m".to_vec()),
            ("sub/x".into(), b"x".to_vec())
        ]
    );
    let d = tmp.path().join("b");
    let uri = format!("file://{}", src.path().join("model.joblib").display());
    fetch(&uri, &d, &HashMap::new()).await.unwrap();
    assert_eq!(tree(&d), vec![("model.joblib".into(), b"m".to_vec())]);
}

#[tokio::test]
async fn empty_or_missing_local_source_is_an_error() {
    init();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir(src.path().join("only-folders")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("m");
    let err = fetch(src.path().to_str().unwrap(), &d, &HashMap::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = fetch("/definitely/not/here", &d, &HashMap::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no model found at `/definitely/not/here`: no object or non-empty prefix by that name"
    );
    assert!(!d.exists());
}

#[tokio::test]
async fn unknown_scheme_and_unconfigured_remote_are_explained() {
    init();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("m");
    let err = fetch("minio://bucket/p", &d, &HashMap::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .starts_with("unsupported scheme `minio` in `minio://bucket/p`; supported:"),
        "{err}"
    );
    assert!(
        err.to_string().contains("RCLONE_CONFIG_<REMOTE>_TYPE"),
        "{err}"
    );
    let err = fetch(
        "minio://bucket/p",
        &d,
        &env(&[("RCLONE_CONFIG_MINIO_TYPE", "sftp")]),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot configure storage for `minio://bucket/p`: rclone remote `minio` has type `sftp`; \
         supported types: s3, google cloud storage (gcs), azureblob"
    );
    let err = fetch("az://container/p", &d, &HashMap::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("AZURE_STORAGE_ACCOUNT_NAME"),
        "{err}"
    );
    assert!(!d.exists());
}

#[tokio::test]
async fn source_that_is_the_destination_is_left_alone() {
    init();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("models");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("model.joblib"), b"m").unwrap();
    let placed = fetch(d.to_str().unwrap(), &d, &HashMap::new())
        .await
        .unwrap();
    assert_eq!(placed, d);
    assert_eq!(tree(&d), vec![("model.joblib".into(), b"m".to_vec())]);

    // DEST inside the source: the staging folder is not copied into itself.
    let inner = tmp.path().join("models/copy");
    fetch(d.to_str().unwrap(), &inner, &HashMap::new())
        .await
        .unwrap();
    assert_eq!(tree(&inner), vec![("model.joblib".into(), b"m".to_vec())]);
}
