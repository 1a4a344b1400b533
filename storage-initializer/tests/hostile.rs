//! Hostile sources (issue #12, defect 6): archives whose symlink chains try to create folders
//! outside the destination, unbounded reads (huge zip "symlinks", tar metadata, bombs), headers
//! leaking through cross-origin redirects, and servers that trickle bytes forever. The cases that
//! matter run the real `storage-initializer` binary against loopback servers started here; no
//! other peer is needed.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{E, HttpServer, Reply, raw_tar};
use oxserve_storage::{ArchiveKind, ArchiveLimits, StorageError, extract, extract_with};

// ---------------------------------------------------------------------------------------------
// Archive builders

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// One zip entry: a file, a folder or a symlink.
enum Z<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

fn zip_of(entries: &[Z]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for e in entries {
        match e {
            Z::File(n, b) => {
                w.start_file(*n, opts).unwrap();
                w.write_all(b).unwrap();
            }
            Z::Dir(n) => w.add_directory(*n, opts).unwrap(),
            Z::Symlink(n, t) => w.add_symlink(*n, *t, opts).unwrap(),
        }
    }
    w.finish().unwrap().into_inner()
}

/// A zip of one symlink entry `name` whose deflated data inflates to `inflated` zero bytes while
/// its headers declare `declared` bytes: hand-made, so the declared size can lie.
fn zip_symlink_bomb(name: &str, declared: u32, inflated: u64) -> Vec<u8> {
    // 1 MiB of zeros, deflated and sync-flushed (byte-aligned, not final): repeating those bytes
    // inflates to 1 MiB more zeros each time; an empty final block ends the stream.
    let mut c = flate2::Compress::new(flate2::Compression::fast(), false);
    let zeros = vec![0u8; 1 << 20];
    let mut piece = Vec::with_capacity(1 << 16);
    c.compress_vec(&zeros, &mut piece, flate2::FlushCompress::Sync)
        .unwrap();
    assert_eq!(c.total_in(), 1 << 20, "one call deflates the whole MiB");
    let mut data = Vec::new();
    for _ in 0..inflated.div_ceil(1 << 20) {
        data.extend_from_slice(&piece);
    }
    data.extend_from_slice(&[0x03, 0x00]);

    let mut out = Vec::new();
    let n = name.as_bytes();
    let le16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let le32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    // Local file header.
    le32(&mut out, 0x0403_4b50);
    le16(&mut out, 20); // version needed
    le16(&mut out, 0); // flags
    le16(&mut out, 8); // deflate
    le16(&mut out, 0); // time
    le16(&mut out, 0x21); // date
    le32(&mut out, 0); // crc (never reached: the read stops long before the end)
    le32(&mut out, data.len() as u32);
    le32(&mut out, declared);
    le16(&mut out, n.len() as u16);
    le16(&mut out, 0);
    out.extend_from_slice(n);
    out.extend_from_slice(&data);
    let central = out.len() as u32;
    // Central directory entry, made on Unix, mode lrwxrwxrwx.
    le32(&mut out, 0x0201_4b50);
    le16(&mut out, (3 << 8) | 20); // version made by: Unix
    le16(&mut out, 20);
    le16(&mut out, 0);
    le16(&mut out, 8);
    le16(&mut out, 0);
    le16(&mut out, 0x21);
    le32(&mut out, 0);
    le32(&mut out, data.len() as u32);
    le32(&mut out, declared);
    le16(&mut out, n.len() as u16);
    le16(&mut out, 0); // extra
    le16(&mut out, 0); // comment
    le16(&mut out, 0); // disk
    le16(&mut out, 0); // internal attributes
    le32(&mut out, 0o120777 << 16); // external attributes
    le32(&mut out, 0); // local header offset
    out.extend_from_slice(n);
    let central_len = out.len() as u32 - central;
    // End of central directory.
    le32(&mut out, 0x0605_4b50);
    le16(&mut out, 0);
    le16(&mut out, 0);
    le16(&mut out, 1);
    le16(&mut out, 1);
    le32(&mut out, central_len);
    le32(&mut out, central);
    le16(&mut out, 0);
    out
}

// ---------------------------------------------------------------------------------------------
// Unpacking into tmp/outer/dest, so that `dest/..` is a folder we can watch.

struct Unpacked {
    tmp: tempfile::TempDir,
    result: Result<usize, StorageError>,
}

impl Unpacked {
    fn dest(&self) -> PathBuf {
        self.tmp.path().join("outer/dest")
    }
}

fn unpack_with(bytes: &[u8], kind: ArchiveKind, limits: &ArchiveLimits) -> Unpacked {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    std::fs::write(&archive, bytes).unwrap();
    std::fs::write(tmp.path().join("victim"), b"safe").unwrap();
    let dest = tmp.path().join("outer/dest");
    std::fs::create_dir_all(&dest).unwrap();
    let result = extract_with(&archive, kind, &dest, limits);
    Unpacked { tmp, result }
}

/// Asserts that nothing appeared or changed outside `dest` (in `dest/..` and `dest/../..`).
fn nothing_outside(u: &Unpacked) {
    assert_eq!(names(&u.tmp.path().join("outer")), ["dest"]);
    assert_eq!(names(u.tmp.path()), ["archive", "outer", "victim"]);
    assert_eq!(std::fs::read(u.tmp.path().join("victim")).unwrap(), b"safe");
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Unpacks with default limits and expects a refusal that touched nothing outside `dest`;
/// returns the message.
fn refused(bytes: &[u8], kind: ArchiveKind) -> String {
    refused_with(bytes, kind, &ArchiveLimits::default())
}

fn refused_with(bytes: &[u8], kind: ArchiveKind, limits: &ArchiveLimits) -> String {
    let u = unpack_with(bytes, kind, limits);
    nothing_outside(&u);
    match &u.result {
        Err(e @ StorageError::UnsafeArchiveEntry { .. }) => e.to_string(),
        other => panic!("expected an unsafe-entry refusal, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Symlink chains

#[test]
fn tar_symlink_chain_creates_nothing_outside() {
    // The reproduction: `a -> .`, `a/b -> ..` (really dest/..), then a folder `b/X/`.
    let chain = [
        E::Symlink("a", "."),
        E::Symlink("a/b", ".."),
        E::Dir("b/X/"),
    ];
    let msg = refused(&raw_tar(&chain), ArchiveKind::Tar);
    assert!(msg.contains("refusing archive entry `a/b`"), "{msg}");
    assert!(
        msg.ends_with("symlink points outside the destination"),
        "{msg}"
    );
    // The same as .tar.gz.
    let msg = refused(&gzip(&raw_tar(&chain)), ArchiveKind::TarGz);
    assert!(msg.contains("outside the destination"), "{msg}");

    // A link dangling when made, that only later resolves out: `l1 -> l2/..`, then `l2 -> .`;
    // neither a folder nor a file may be created through `l1`.
    for last in [
        E::Dir("l1/X/"),
        E::File("l1/X", b"x"),
        E::File("l1/sub/X", b"x"),
    ] {
        let bytes = raw_tar(&[E::Symlink("l1", "l2/.."), E::Symlink("l2", "."), last]);
        let msg = refused(&bytes, ArchiveKind::Tar);
        assert!(
            msg.contains("leads through the symlink `l1` out of the destination"),
            "{msg}"
        );
    }
    // Deeper chains of the same kind.
    // `d/e/l -> ../..` is the root, so `x -> d/e/l/..` (lexically `d/e`) is really `dest/..`.
    let bytes = raw_tar(&[
        E::Dir("d/e/"),
        E::Symlink("d/e/l", "../.."),
        E::Symlink("x", "d/e/l/.."),
        E::Dir("x/X/"),
    ]);
    let msg = refused(&bytes, ArchiveKind::Tar);
    assert!(msg.contains("refusing archive entry `x`"), "{msg}");
    assert!(
        msg.ends_with("symlink resolves outside the destination"),
        "{msg}"
    );
}

#[test]
fn tar_absolute_and_climbing_links_and_hardlinks_out_are_refused() {
    let msg = refused(
        &raw_tar(&[E::Symlink("abs", "/tmp"), E::Dir("abs/X/")]),
        ArchiveKind::Tar,
    );
    assert!(msg.ends_with("symlink to an absolute path"), "{msg}");
    for target in ["..", "../..", "x/../../..", "./../dest/../.."] {
        let msg = refused(
            &raw_tar(&[E::Symlink("up", target), E::File("up/X", b"x")]),
            ArchiveKind::Tar,
        );
        assert!(msg.contains("outside the destination"), "{target}: {msg}");
    }
    // A hard link to a file outside, reached through a link chain that resolves out.
    let msg = refused(
        &raw_tar(&[
            E::Symlink("l1", "l2/.."),
            E::Symlink("l2", "."),
            E::Hardlink("h", "l1/../victim"),
        ]),
        ArchiveKind::Tar,
    );
    assert!(msg.contains("`..`"), "{msg}");
    for target in ["l1", "l1/dest", "l1/dest/f"] {
        let msg = refused(
            &raw_tar(&[
                E::File("f", b"f"),
                E::Symlink("l1", "l2/.."),
                E::Symlink("l2", "."),
                E::Hardlink("h", target),
            ]),
            ArchiveKind::Tar,
        );
        assert!(
            msg.contains("refusing archive entry `h`"),
            "{target}: {msg}"
        );
        assert!(msg.contains("hard link"), "{target}: {msg}");
    }
}

#[test]
fn writing_through_a_link_inside_the_destination_still_works() {
    // Links that stay inside are followed, as before.
    let bytes = raw_tar(&[
        E::Dir("real/"),
        E::Symlink("alias", "real"),
        E::File("alias/model.bin", b"m"),
        E::Dir("alias/sub/"),
        E::Symlink("alias/sub/up", ".."),
        E::File("alias/sub/up/second.bin", b"s"),
    ]);
    let u = unpack_with(&bytes, ArchiveKind::Tar, &ArchiveLimits::default());
    assert_eq!(u.result.as_ref().unwrap(), &2);
    nothing_outside(&u);
    assert_eq!(
        std::fs::read(u.dest().join("real/model.bin")).unwrap(),
        b"m"
    );
    assert_eq!(
        std::fs::read(u.dest().join("real/second.bin")).unwrap(),
        b"s"
    );
}

#[test]
fn zip_symlink_chain_creates_nothing_outside() {
    let msg = refused(
        &zip_of(&[
            Z::Symlink("a", "."),
            Z::Symlink("a/b", ".."),
            Z::Dir("b/X/"),
        ]),
        ArchiveKind::Zip,
    );
    assert!(
        msg.ends_with("symlink points outside the destination"),
        "{msg}"
    );
    let msg = refused(
        &zip_of(&[
            Z::Symlink("l1", "l2/.."),
            Z::Symlink("l2", "."),
            Z::File("l1/X", b"x"),
        ]),
        ArchiveKind::Zip,
    );
    assert!(msg.contains("out of the destination"), "{msg}");
    let msg = refused(
        &zip_of(&[Z::Symlink("abs", "/tmp"), Z::Dir("abs/X/")]),
        ArchiveKind::Zip,
    );
    assert!(msg.ends_with("symlink to an absolute path"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// Bounded reads

#[test]
fn zip_symlink_targets_are_read_no_further_than_4_kib() {
    let long = "x".repeat(64 * 1024);
    let msg = refused(&zip_of(&[Z::Symlink("l", &long)]), ArchiveKind::Zip);
    assert!(
        msg.ends_with("symlink target of 65536 bytes (at most 4096)"),
        "{msg}"
    );
    // The reproduction: a "symlink" whose data inflates to 2 GiB. Declared honestly, it is
    // refused before any read; declared as 10 bytes, the read stops after 4 KiB.
    let started = Instant::now();
    let two_gib = 2u64 << 30;
    let msg = refused(
        &zip_symlink_bomb("l", (two_gib - 1) as u32, two_gib),
        ArchiveKind::Zip,
    );
    assert!(msg.contains("at most 4096"), "{msg}");
    let u = unpack_with(
        &zip_symlink_bomb("l", 10, two_gib),
        ArchiveKind::Zip,
        &ArchiveLimits::default(),
    );
    nothing_outside(&u);
    assert!(u.result.is_err(), "{:?}", u.result);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a 2 GiB symlink target was read whole ({:?})",
        started.elapsed()
    );
}

#[test]
fn tar_metadata_entries_are_bounded() {
    // A GNU long name of 1 MiB (the tar crate would read it whole into memory).
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(1 << 20);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &vec![b'a'; 1 << 20][..]).unwrap();
    let mut f = tar::Header::new_gnu();
    f.set_size(1);
    f.set_mode(0o644);
    f.set_cksum();
    b.append_data(&mut f, "short", &b"x"[..]).unwrap();
    let msg = refused(&b.into_inner().unwrap(), ArchiveKind::Tar);
    assert!(
        msg.ends_with("tar GNU long name entry over 65536 bytes"),
        "{msg}"
    );

    // Long names within bounds, GNU and pax, and a pax size record, still unpack.
    let long = format!("{}/model.bin", "d".repeat(150));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o755);
    h.set_cksum();
    b.append_data(&mut h, &long, &b"gn"[..]).unwrap();
    let pax_name = format!("{}/pax.bin", "p".repeat(150));
    b.append_pax_extensions([("path", pax_name.as_bytes()), ("size", b"5".as_slice())])
        .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path("ignored").unwrap();
    h.set_size(0);
    h.set_mode(0o644);
    h.set_cksum();
    // The header says 0 bytes; the 5 bytes the pax record announces follow (and their padding).
    let mut data = b"hello".to_vec();
    data.resize(512, 0);
    b.get_mut().extend_from_slice(h.as_bytes());
    b.get_mut().extend_from_slice(&data);
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "after.bin", &b"next"[..]).unwrap();
    let u = unpack_with(
        &b.into_inner().unwrap(),
        ArchiveKind::Tar,
        &ArchiveLimits::default(),
    );
    assert_eq!(u.result.as_ref().unwrap(), &3, "{:?}", u.result);
    assert_eq!(std::fs::read(u.dest().join(&long)).unwrap(), b"gn");
    assert_eq!(std::fs::read(u.dest().join(&pax_name)).unwrap(), b"hello");
    assert_eq!(std::fs::read(u.dest().join("after.bin")).unwrap(), b"next");
}

#[test]
fn archive_bombs_stop_at_the_budgets() {
    let limits = ArchiveLimits {
        max_unpacked_bytes: 1 << 20,
        max_entries: 10,
    };
    // 8 MiB of zeros in a .tgz of a few KiB: refused before anything is written.
    let big = vec![0u8; 8 << 20];
    let bomb = gzip(&raw_tar(&[E::File("a.bin", b"ok"), E::File("zeros", &big)]));
    assert!(bomb.len() < 64 * 1024);
    let msg = refused_with(&bomb, ArchiveKind::TarGz, &limits);
    assert!(
        msg.contains(
            "unpacks to more than 1048576 bytes (raise OXSERVE_STORAGE_MAX_UNPACKED_BYTES"
        ),
        "{msg}"
    );
    let msg = refused_with(
        &zip_of(&[Z::File("a.bin", b"ok"), Z::File("zeros", &big)]),
        ArchiveKind::Zip,
        &limits,
    );
    assert!(msg.contains("unpacks to more than 1048576 bytes"), "{msg}");
    // Hard links count: each is a full copy.
    let half = vec![1u8; 600 << 10];
    let msg = refused_with(
        &raw_tar(&[E::File("f", &half), E::Hardlink("g", "f")]),
        ArchiveKind::Tar,
        &limits,
    );
    assert!(msg.contains("unpacks to more than"), "{msg}");

    // Entry counts.
    let many: Vec<(String, Vec<u8>)> = (0..11).map(|i| (format!("f{i}"), vec![b'x'])).collect();
    let tar_entries: Vec<E> = many.iter().map(|(n, b)| E::File(n, b)).collect();
    let msg = refused_with(&raw_tar(&tar_entries), ArchiveKind::Tar, &limits);
    assert!(
        msg.contains("more than 10 entries (raise OXSERVE_STORAGE_MAX_ENTRIES"),
        "{msg}"
    );
    let zip_entries: Vec<Z> = many.iter().map(|(n, b)| Z::File(n, b)).collect();
    let msg = refused_with(&zip_of(&zip_entries), ArchiveKind::Zip, &limits);
    assert!(msg.contains("more than 10"), "{msg}");

    // Within the budgets, the same shapes unpack.
    let u = unpack_with(&raw_tar(&tar_entries[..10]), ArchiveKind::Tar, &limits);
    assert_eq!(u.result.as_ref().unwrap(), &10);
}

#[test]
fn truncated_tar_entries_are_an_error() {
    let mut bytes = raw_tar(&[E::File("m.bin", &[7u8; 2000])]);
    bytes.truncate(512 + 1000);
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("m.tar");
    std::fs::write(&archive, &bytes).unwrap();
    let dest = tmp.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let err = extract(&archive, ArchiveKind::Tar, &dest).unwrap_err();
    assert!(matches!(err, StorageError::Archive { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("holds 1000 bytes, its header says 2000"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Loopback HTTP servers

fn routes<const N: usize>(pairs: [(&str, Reply); N]) -> HashMap<String, Reply> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Runs the real binary; returns (exit code, stderr, how long it ran). Killed after 120 s.
fn run_binary(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_storage-initializer"))
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("OXSERVE_STORAGE_TIMEOUT")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    (status.code(), reader.join().unwrap(), elapsed)
}

#[test]
fn binary_refuses_a_tar_symlink_chain_and_creates_nothing_outside() {
    let chain = raw_tar(&[
        E::Symlink("a", "."),
        E::Symlink("a/b", ".."),
        E::Dir("b/X/"),
    ]);
    let server = HttpServer::start_on("127.0.0.1", routes([("/model.tar", Reply::Body(chain))]));
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("outer/models");
    std::fs::create_dir_all(&dest).unwrap();
    let url = format!("http://{}/model.tar", server.addr);
    let (code, stderr, _) = run_binary(&[&url, dest.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("refusing archive entry `a/b`")
            && stderr.contains("symlink points outside the destination"),
        "{stderr}"
    );
    assert_eq!(names(&tmp.path().join("outer")), ["models"]);
    assert_eq!(names(tmp.path()), ["outer"]);
    assert!(names(&dest).is_empty(), "{:?}", names(&dest));
}

#[test]
fn binary_stops_at_the_unpacked_bytes_budget() {
    let bomb = gzip(&raw_tar(&[E::File("zeros", &vec![0u8; 4 << 20])]));
    let server = HttpServer::start_on("127.0.0.1", routes([("/m.tgz", Reply::Body(bomb))]));
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("models");
    let url = format!("http://{}/m.tgz", server.addr);
    let (code, stderr, _) = run_binary(
        &[&url, dest.to_str().unwrap()],
        &[("OXSERVE_STORAGE_MAX_UNPACKED_BYTES", "1000000")],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("unpacks to more than 1000000 bytes"),
        "{stderr}"
    );
    assert!(!dest.exists());
    assert!(names(tmp.path()).is_empty(), "{:?}", names(tmp.path()));
}

/// Runs the binary with `headers` configured for 127.0.0.1 and expects success.
fn fetch_ok(url: &str, dest: &Path, headers: &str) {
    let (code, stderr, _) = run_binary(
        &[url, dest.to_str().unwrap()],
        &[("127.0.0.1-headers", headers)],
    );
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn binary_sends_per_host_headers_to_their_origin_only() {
    // The other origin: another address where the system has it, else another port.
    let other_ip = if TcpListener::bind(("127.0.0.2", 0)).is_ok() {
        "127.0.0.2"
    } else {
        "127.0.0.1"
    };
    let other = HttpServer::start_on(
        other_ip,
        routes([("/model.joblib", Reply::Body(b"model".to_vec()))]),
    );
    let by_name = HttpServer::start_on(
        "127.0.0.1",
        routes([("/model.joblib", Reply::Body(b"model".to_vec()))]),
    );
    let by_name_port = by_name.addr.rsplit_once(':').unwrap().1.to_string();
    let first = HttpServer::start_on(
        "127.0.0.1",
        routes([
            (
                "/model.joblib",
                Reply::Redirect(format!("http://{}/model.joblib?next=1", other.addr)),
            ),
            (
                "/by-name/model.joblib",
                Reply::Redirect(format!("http://localhost:{by_name_port}/model.joblib")),
            ),
            (
                "/moved/model.joblib",
                Reply::Redirect("/same/model.joblib".into()),
            ),
            ("/same/model.joblib", Reply::Body(b"same".to_vec())),
        ]),
    );
    let headers = r#"{"X-Api-Key": "per-host-secret", "Authorization": "Bearer t0ken"}"#;
    let tmp = tempfile::tempdir().unwrap();

    let dest = tmp.path().join("a");
    let url = format!(
        "http://user:pw@{}/model.joblib?sig=signed-secret",
        first.addr
    );
    fetch_ok(&url, &dest, headers);
    assert_eq!(std::fs::read(dest.join("model.joblib")).unwrap(), b"model");
    let asked = first.seen();
    assert!(
        asked[0].has("x-api-key") && asked[0].has("authorization"),
        "{asked:?}"
    );
    let seen = other.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    for name in ["x-api-key", "authorization", "referer", "cookie"] {
        assert!(
            !seen[0].has(name),
            "{name} reached the other origin: {seen:?}"
        );
    }
    assert!(!format!("{seen:?}").contains("secret"), "{seen:?}");

    // By host name (localhost, the same address), not only by address or port.
    let dest = tmp.path().join("b");
    let url = format!("http://{}/by-name/model.joblib", first.addr);
    fetch_ok(&url, &dest, headers);
    let seen = by_name.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    for name in ["x-api-key", "authorization", "referer"] {
        assert!(!seen[0].has(name), "{name} reached localhost: {seen:?}");
    }

    // A redirect within the origin keeps the headers.
    let dest = tmp.path().join("c");
    let url = format!("http://{}/moved/model.joblib", first.addr);
    fetch_ok(&url, &dest, headers);
    assert_eq!(std::fs::read(dest.join("model.joblib")).unwrap(), b"same");
    let asked = first.seen();
    let hop = asked
        .iter()
        .find(|s| s.target == "/same/model.joblib")
        .unwrap();
    assert!(hop.has("x-api-key") && !hop.has("referer"), "{asked:?}");
}

#[test]
fn binary_gives_up_on_a_trickling_server_at_its_deadline() {
    // One byte every 300 ms never trips the 30 s read timeout: only the deadline ends it.
    let server = HttpServer::start_on(
        "127.0.0.1",
        routes([(
            "/model.bin",
            Reply::Trickle(100_000, Duration::from_millis(300)),
        )]),
    );
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("http://{}/model.bin", server.addr);
    for (args, env) in [
        (vec!["--timeout", "2"], vec![]),
        (vec![], vec![("OXSERVE_STORAGE_TIMEOUT", "2")]),
    ] {
        let dest = tmp.path().join("models");
        let mut all = args.clone();
        all.extend([url.as_str(), dest.to_str().unwrap()]);
        let (code, stderr, elapsed) = run_binary(&all, &env);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains("did not finish within 2 s, so it was stopped")
                && stderr.contains("OXSERVE_STORAGE_TIMEOUT"),
            "{stderr}"
        );
        assert!(elapsed < Duration::from_secs(30), "ran {elapsed:?}");
        assert!(elapsed >= Duration::from_secs(2), "ran {elapsed:?}");
        assert!(!dest.exists());
        assert!(names(tmp.path()).is_empty(), "{:?}", names(tmp.path()));
    }
}

#[tokio::test]
async fn library_deadline_comes_from_the_environment() {
    let server = HttpServer::start_on(
        "127.0.0.1",
        routes([("/m.bin", Reply::Trickle(1000, Duration::from_millis(200)))]),
    );
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("m");
    let env = HashMap::from([("OXSERVE_STORAGE_TIMEOUT".to_string(), "1".to_string())]);
    let started = Instant::now();
    let err = oxserve_storage::fetch(&format!("http://{}/m.bin", server.addr), &dest, &env)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::DeadlineExceeded { .. }),
        "{err}"
    );
    assert_eq!(err.kind(), oxserve_storage::ErrorKind::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!dest.exists());
}
