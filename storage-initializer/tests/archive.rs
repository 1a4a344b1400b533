//! Archive extraction, including entries that try to escape the destination.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::Write;
use std::path::Path;

use common::*;
use oxserve_storage::{ArchiveKind, StorageError, extract};

fn unpack(
    bytes: &[u8],
    kind: ArchiveKind,
    name: &str,
) -> (tempfile::TempDir, Result<usize, StorageError>) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join(name);
    std::fs::write(&archive, bytes).unwrap();
    let dest = tmp.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let result = extract(&archive, kind, &dest);
    (tmp, result)
}

fn refused(bytes: &[u8], kind: ArchiveKind, name: &str) -> String {
    let (tmp, result) = unpack(bytes, kind, name);
    let err = result.expect_err("entry must be refused");
    assert!(
        matches!(err, StorageError::UnsafeArchiveEntry { .. }),
        "{err}"
    );
    // Nothing was written outside dest.
    let mut names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [name, "dest"]);
    err.to_string()
}

#[test]
fn tar_with_folders_files_and_inner_links_unpacks() {
    let bytes = raw_tar(&[
        E::Dir("./"),
        E::Dir("./model/"),
        E::File("./model/model.joblib", b"m"),
        E::Symlink("./model/latest", "model.joblib"),
        E::Symlink("./alias", "model/../model"),
        E::Hardlink("./copy.joblib", "model/model.joblib"),
    ]);
    let (tmp, result) = unpack(&bytes, ArchiveKind::Tar, "m.tar");
    assert_eq!(result.unwrap(), 2);
    let dest = tmp.path().join("dest");
    assert_eq!(std::fs::read(dest.join("model/latest")).unwrap(), b"m");
    assert_eq!(
        std::fs::read(dest.join("alias/model.joblib")).unwrap(),
        b"m"
    );
    assert_eq!(std::fs::read(dest.join("copy.joblib")).unwrap(), b"m");
}

#[test]
fn tar_traversal_and_absolute_names_are_refused() {
    let msg = refused(
        &raw_tar(&[E::File("../evil", b"x")]),
        ArchiveKind::Tar,
        "a.tar",
    );
    assert!(msg.ends_with("path contains `..`"), "{msg}");
    let msg = refused(
        &raw_tar(&[E::File("ok/../../evil", b"x")]),
        ArchiveKind::Tar,
        "a.tar",
    );
    assert!(
        msg.contains("refusing archive entry `ok/../../evil`"),
        "{msg}"
    );
    let msg = refused(
        &raw_tar(&[E::File("/tmp/evil", b"x")]),
        ArchiveKind::Tar,
        "a.tar",
    );
    assert!(msg.ends_with("absolute path"), "{msg}");
}

#[test]
fn tar_symlinks_out_are_refused() {
    let msg = refused(
        &raw_tar(&[E::Symlink("etc", "/etc")]),
        ArchiveKind::Tar,
        "a.tar",
    );
    assert!(msg.ends_with("symlink to an absolute path"), "{msg}");
    let msg = refused(
        &raw_tar(&[E::Symlink("up", "sub/../..")]),
        ArchiveKind::Tar,
        "a.tar",
    );
    assert!(
        msg.ends_with("symlink points outside the destination"),
        "{msg}"
    );
    // Each link harmless on its own, but `here/up` really is dest/..
    let msg = refused(
        &raw_tar(&[E::Symlink("here", "."), E::Symlink("here/up", "..")]),
        ArchiveKind::Tar,
        "a.tar",
    );
    assert!(msg.contains("outside the destination"), "{msg}");
    // Writing through a symlinked folder that leads out.
    let msg = refused(
        &raw_tar(&[
            E::Dir("d/"),
            E::Symlink("d/x", "."),
            E::Symlink("here", "."),
            E::File("here/../x", b"x"),
        ]),
        ArchiveKind::Tar,
        "a.tar",
    );
    assert!(msg.contains("`..`"), "{msg}");
    let msg = refused(
        &raw_tar(&[E::Hardlink("h", "../outside")]),
        ArchiveKind::Tar,
        "a.tar",
    );
    assert!(msg.ends_with("path contains `..`"), "{msg}");
    let msg = refused(&raw_tar(&[E::Fifo("p")]), ArchiveKind::Tar, "a.tar");
    assert!(msg.contains("device, FIFO"), "{msg}");
}

#[test]
fn a_file_replacing_an_earlier_symlink_is_not_written_through_it() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("victim");
    std::fs::write(&target, b"safe").unwrap();
    // A link pointing inside, then a file of the same name: the link is replaced, not followed.
    let bytes = raw_tar(&[
        E::File("real", b"r"),
        E::Symlink("link", "real"),
        E::File("link", b"new"),
    ]);
    let (tmp, result) = unpack(&bytes, ArchiveKind::Tar, "a.tar");
    result.unwrap();
    let dest = tmp.path().join("dest");
    assert_eq!(std::fs::read(dest.join("real")).unwrap(), b"r");
    assert_eq!(std::fs::read(dest.join("link")).unwrap(), b"new");
    assert_eq!(std::fs::read(&target).unwrap(), b"safe");
}

#[test]
fn zip_traversal_and_symlinks_out_are_refused() {
    let msg = refused(&zip(&[("../evil.txt", b"x")]), ArchiveKind::Zip, "a.zip");
    assert!(msg.ends_with("path contains `..`"), "{msg}");

    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.add_symlink(
        "passwd",
        "/etc/passwd",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    let bytes = w.finish().unwrap().into_inner();
    let msg = refused(&bytes, ArchiveKind::Zip, "a.zip");
    assert!(msg.ends_with("symlink to an absolute path"), "{msg}");
}

#[test]
fn invalid_archives_say_so() {
    let (_tmp, result) = unpack(b"this is not a zip", ArchiveKind::Zip, "m.zip");
    let msg = result.unwrap_err().to_string();
    assert!(msg.starts_with("failed to unpack archive `"), "{msg}");
    assert!(msg.contains("the file format is not valid"), "{msg}");

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"not a tar at all, but long enough to look like something")
        .unwrap();
    let (_tmp, result) = unpack(&gz.finish().unwrap(), ArchiveKind::TarGz, "m.tgz");
    assert!(
        matches!(result, Err(StorageError::Archive { .. })),
        "{result:?}"
    );
    let _ = Path::new("");
}
