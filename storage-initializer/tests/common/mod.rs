//! Protocol peers for the integration tests, started on ephemeral loopback ports.
//!
//! Peers come from `scripts/install-storage-peers.sh` (`.venv-storage`, `.cache/npm`). A missing
//! peer skips the test with a `SKIPPED:` line, unless `OXSERVE_REQUIRE_PEERS=1`, which fails it.
//!
//! Each peer runs under `sh -c '<peer> & wait-for-stdin-EOF; kill'`, with stdin a pipe held by
//! the test process: when the test binary exits, however it exits, the pipe closes and the peer
//! is killed. One peer per kind is shared by all tests of a binary (they use distinct buckets).
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Repository root (the workspace).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate lives in the workspace")
        .to_path_buf()
}

/// A peer executable if installed; otherwise `None` after printing why (or a panic when peers
/// are required).
pub fn peer_binary(rel: &str, test: &str) -> Option<PathBuf> {
    let path = repo().join(rel);
    if path.exists() {
        return Some(path);
    }
    let missing = format!("{test}: {} not found", path.display());
    if std::env::var("OXSERVE_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!(
            "missing peer ({missing}); OXSERVE_REQUIRE_PEERS=1 requires it: run scripts/install-storage-peers.sh"
        );
    }
    let msg = format!("SKIPPED: run scripts/install-storage-peers.sh ({missing})");
    eprintln!("{msg}");
    None
}

/// A running peer; killed when the test process exits (see the module docs).
pub struct Peer {
    pub port: u16,
    _child: Mutex<Child>,
}

impl Peer {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// Starts `cmd` (with `{port}` replaced) and waits until it accepts connections.
fn start(cmd: &str, env: &[(&str, &str)]) -> Peer {
    for _ in 0..3 {
        let port = free_port();
        let script = format!(
            "{} & p=$!; cat >/dev/null; kill $p 2>/dev/null; wait $p",
            cmd.replace("{port}", &port.to_string())
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Peer {
                    port,
                    _child: Mutex::new(child),
                };
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("peer did not start: {cmd}");
}

/// moto in server mode (S3), shared by the test binary; `None` when not installed.
pub fn moto(test: &str) -> Option<&'static Peer> {
    static PEER: OnceLock<Peer> = OnceLock::new();
    let bin = peer_binary(".venv-storage/bin/moto_server", test)?;
    Some(PEER.get_or_init(|| {
        start(
            &format!("'{}' -H 127.0.0.1 -p {{port}}", bin.display()),
            &[],
        )
    }))
}

/// A moto server that enforces credentials after its first `free_actions` requests.
pub fn moto_with_auth(test: &str, free_actions: u32) -> Option<Peer> {
    let bin = peer_binary(".venv-storage/bin/moto_server", test)?;
    let count = free_actions.to_string();
    Some(start(
        &format!("'{}' -H 127.0.0.1 -p {{port}}", bin.display()),
        &[("INITIAL_NO_AUTH_ACTION_COUNT", count.as_str())],
    ))
}

/// Azurite's blob service, shared by the test binary.
pub fn azurite(test: &str) -> Option<&'static Peer> {
    static PEER: OnceLock<Peer> = OnceLock::new();
    let bin = peer_binary(".cache/npm/node_modules/.bin/azurite-blob", test)?;
    Some(PEER.get_or_init(|| {
        start(
            &format!(
                "'{}' --blobHost 127.0.0.1 --blobPort {{port}} --inMemoryPersistence --silent \
                 --skipApiVersionCheck --loose --disableTelemetry",
                bin.display(),
            ),
            &[],
        )
    }))
}

/// fake-gcs-server (GCS JSON and XML APIs), shared by the test binary.
pub fn gcs_emulator(test: &str) -> Option<&'static Peer> {
    static PEER: OnceLock<Peer> = OnceLock::new();
    let bin = peer_binary(".venv-storage/bin/fake-gcs-server", test)?;
    Some(PEER.get_or_init(|| {
        start(
            &format!(
                "'{}' -scheme http -host 127.0.0.1 -port {{port}} -backend memory \
                 -public-host 127.0.0.1:{{port}} -log-level error",
                bin.display()
            ),
            &[],
        )
    }))
}

/// Creates a bucket and objects in fake-gcs-server through the JSON API.
pub fn gcs_put(peer: &Peer, bucket: &str, objects: &[(&str, &[u8])]) {
    let body = format!(r#"{{"name":"{bucket}"}}"#);
    let code = http_request(
        peer.port,
        "POST",
        "/storage/v1/b?project=test",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(code, 200, "create bucket");
    for (name, body) in objects {
        let code = http_request(
            peer.port,
            "POST",
            &format!("/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}"),
            &[("Content-Type", "application/octet-stream")],
            body,
        );
        assert_eq!(code, 200, "upload {name}");
    }
}

/// A bucket name no other test in this process uses.
pub fn unique_bucket(stem: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{stem}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Environment map from pairs.
pub fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Plain blocking HTTP/1.1 request to 127.0.0.1; returns the status code.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write head");
    s.write_all(body).expect("write body");
    let mut reader = BufReader::new(s);
    let mut status = String::new();
    reader.read_line(&mut status).expect("read status");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Creates a bucket and objects in moto with unsigned path-style requests (moto accepts them).
pub fn s3_put(peer: &Peer, bucket: &str, objects: &[(&str, &[u8])]) {
    s3_put_acl(peer, bucket, objects, "private");
}

/// [`s3_put`] with a canned ACL (`public-read` for anonymous access) on bucket and objects.
pub fn s3_put_acl(peer: &Peer, bucket: &str, objects: &[(&str, &[u8])], acl: &str) {
    let acl = [("x-amz-acl", acl)];
    let code = http_request(peer.port, "PUT", &format!("/{bucket}"), &acl, b"");
    assert!(code == 200 || code == 409, "create bucket: HTTP {code}");
    for (key, body) in objects {
        let code = http_request(peer.port, "PUT", &format!("/{bucket}/{key}"), &acl, body);
        assert_eq!(code, 200, "put {key}");
    }
}

/// Every file under `dir` as relative path → content, sorted.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).expect("under root");
                out.push((
                    rel.to_string_lossy().into_owned(),
                    std::fs::read(&p).expect("read"),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A `.tar.gz` holding the given files.
pub fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *body).expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gz")
}

/// A `.zip` holding the given files.
pub fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("start");
        w.write_all(body).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

/// One raw tar entry; names are written into the header bytes so `..` and `/` survive.
pub enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Fifo(&'a str),
}

pub fn raw_tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_old();
        let (name, link, kind, body): (&str, &str, tar::EntryType, &[u8]) = match e {
            E::File(n, b) => (n, "", tar::EntryType::Regular, b),
            E::Dir(n) => (n, "", tar::EntryType::Directory, b""),
            E::Symlink(n, t) => (n, t, tar::EntryType::Symlink, b""),
            E::Hardlink(n, t) => (n, t, tar::EntryType::Link, b""),
            E::Fifo(n) => (n, "", tar::EntryType::Fifo, b""),
        };
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, body).expect("tar");
    }
    b.into_inner().expect("tar")
}

/// A canned response of the test HTTP server.
#[derive(Clone)]
pub enum Reply {
    /// 200 with this body.
    Body(Vec<u8>),
    /// 200 only when the request carries this header (`name`, `value`), else 401.
    NeedsHeader(&'static str, &'static str, Vec<u8>),
    /// 503 for the first `n` requests, then 200 with the body.
    FailFirst(usize, Vec<u8>),
    /// Announces `len` bytes but sends only the body, then closes.
    Short(u64, Vec<u8>),
    /// 302 to this location.
    Redirect(String),
    /// Announces `len` bytes, then sends one every `every` (until the client goes away).
    Trickle(u64, Duration),
}

/// One request the test HTTP server received: its target (path and query) and its headers,
/// names lower-cased.
#[derive(Debug, Clone)]
pub struct Seen {
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    /// Whether the request carried a header of that (lower-case) name.
    pub fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|(k, _)| k == name)
    }
}

/// A tiny HTTP/1.1 server on an ephemeral port, one thread per connection; 404 for unknown paths.
pub struct HttpServer {
    pub port: u16,
    /// `ip:port` it listens on.
    pub addr: String,
    pub hits: Arc<Mutex<HashMap<String, usize>>>,
    /// Every request, in order.
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl HttpServer {
    pub fn start(routes: HashMap<String, Reply>) -> Self {
        Self::start_on("127.0.0.1", routes)
    }

    /// [`HttpServer::start`] on another loopback address (`127.0.0.2`, ...).
    pub fn start_on(ip: &str, routes: HashMap<String, Reply>) -> Self {
        let listener = TcpListener::bind((ip, 0)).expect("bind");
        let local = listener.local_addr().expect("addr");
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let routes = Arc::new(routes);
        let (h, s) = (hits.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (routes, hits, seen) = (routes.clone(), h.clone(), s.clone());
                std::thread::spawn(move || serve(stream, &routes, &hits, &seen));
            }
        });
        Self {
            port: local.port(),
            addr: local.to_string(),
            hits,
            seen,
        }
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn serve(
    stream: TcpStream,
    routes: &HashMap<String, Reply>,
    hits: &Mutex<HashMap<String, usize>>,
    seen: &Mutex<Vec<Seen>>,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let path = target.split('?').next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    seen.lock().expect("seen").push(Seen {
        target,
        headers: headers.clone(),
    });
    let n = {
        let mut hits = hits.lock().expect("hits");
        let c = hits.entry(path.clone()).or_insert(0);
        *c += 1;
        *c
    };
    let mut out = stream;
    let send = |out: &mut TcpStream, code: &str, len: u64, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {code}\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
        );
        let _ = out.write_all(head.as_bytes());
        let _ = out.write_all(body);
    };
    match routes.get(&path) {
        None => send(&mut out, "404 Not Found", 9, b"not found"),
        Some(Reply::Body(b)) => send(&mut out, "200 OK", b.len() as u64, b),
        Some(Reply::NeedsHeader(k, v, b)) => {
            if headers
                .iter()
                .any(|(hk, hv)| hk == &k.to_ascii_lowercase() && hv == v)
            {
                send(&mut out, "200 OK", b.len() as u64, b);
            } else {
                send(&mut out, "401 Unauthorized", 0, b"");
            }
        }
        Some(Reply::FailFirst(fails, b)) => {
            if n <= *fails {
                send(&mut out, "503 Service Unavailable", 0, b"");
            } else {
                send(&mut out, "200 OK", b.len() as u64, b);
            }
        }
        Some(Reply::Short(len, b)) => send(&mut out, "200 OK", *len, b),
        Some(Reply::Redirect(to)) => {
            let head = format!(
                "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = out.write_all(head.as_bytes());
        }
        Some(Reply::Trickle(len, every)) => {
            send(&mut out, "200 OK", *len, b"");
            for _ in 0..*len {
                if out.write_all(b"x").and_then(|()| out.flush()).is_err() {
                    return;
                }
                std::thread::sleep(*every);
            }
        }
    }
    let _ = out.flush();
}

/// Installs rustls' ring provider for the tests' own reqwest use, if any.
pub fn init() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
    });
}

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key.
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// One Azure Blob REST request signed with Azurite's shared key; returns the status code.
fn azure_request(
    peer: &Peer,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    extra: &[(&str, &str)],
    body: &[u8],
) -> u16 {
    use base64::Engine;
    let date = httpdate_now();
    let mut ms: Vec<(String, String)> = vec![
        ("x-ms-date".into(), date),
        ("x-ms-version".into(), "2021-08-06".into()),
    ];
    ms.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ms.sort();
    let canon_headers: String = ms.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    // Path-style (Azurite) resources are signed with the account twice: once as the account,
    // once as the first path segment.
    let mut resource = format!("/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}{path}");
    let mut q: Vec<_> = query.to_vec();
    q.sort();
    for (k, v) in &q {
        resource.push_str(&format!("\n{k}:{v}"));
    }
    let length = if body.is_empty() {
        String::new()
    } else {
        body.len().to_string()
    };
    let to_sign = format!("{method}\n\n\n{length}\n\n\n\n\n\n\n\n\n{canon_headers}{resource}");
    let key = base64::engine::general_purpose::STANDARD
        .decode(AZURITE_KEY)
        .expect("key");
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        to_sign.as_bytes(),
    );
    let auth = format!(
        "SharedKey {AZURITE_ACCOUNT}:{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    );
    let query: String = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let target = if query.is_empty() {
        format!("/{AZURITE_ACCOUNT}{path}")
    } else {
        format!("/{AZURITE_ACCOUNT}{path}?{query}")
    };
    let mut headers: Vec<(&str, &str)> = ms.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    headers.push(("Authorization", &auth));
    http_request(peer.port, method, &target, &headers, body)
}

/// Creates a container (optionally with public blob access) and blobs in Azurite.
pub fn azure_put(peer: &Peer, container: &str, blobs: &[(&str, &[u8])], public: bool) {
    let access: &[(&str, &str)] = if public {
        &[("x-ms-blob-public-access", "blob")]
    } else {
        &[]
    };
    let code = azure_request(
        peer,
        "PUT",
        &format!("/{container}"),
        &[("restype", "container")],
        access,
        b"",
    );
    assert_eq!(code, 201, "create container");
    for (name, body) in blobs {
        let code = azure_request(
            peer,
            "PUT",
            &format!("/{container}/{name}"),
            &[],
            &[("x-ms-blob-type", "BlockBlob")],
            body,
        );
        assert_eq!(code, 201, "put blob {name}");
    }
}

/// RFC 1123 date for `x-ms-date`.
fn httpdate_now() -> String {
    httpdate::fmt_http_date(std::time::SystemTime::now())
}

/// A loopback TCP proxy in front of `upstream` that cuts the first `faults` ranged GET responses
/// after `cut_after` body-ish bytes, as a dropped connection would. Every request is forwarded
/// with `Connection: close`, so each one gets its own connection.
pub struct FaultyProxy {
    pub port: u16,
    pub cut: Arc<AtomicUsize>,
}

impl FaultyProxy {
    pub fn start(upstream: u16, faults: usize, cut_after: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let remaining = Arc::new(AtomicUsize::new(faults));
        let cut = Arc::new(AtomicUsize::new(0));
        let (r, c) = (remaining.clone(), cut.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let (r, c) = (r.clone(), c.clone());
                std::thread::spawn(move || proxy_one(client, upstream, &r, &c, cut_after));
            }
        });
        Self { port, cut }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn proxy_one(
    client: TcpStream,
    upstream: u16,
    remaining: &AtomicUsize,
    cut: &AtomicUsize,
    cut_after: usize,
) {
    let mut reader = BufReader::new(client.try_clone().expect("clone"));
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line == "\r\n" {
            break;
        }
        if !line.to_ascii_lowercase().starts_with("connection:") {
            head.push_str(&line);
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    let ranged = head.starts_with("GET ") && head.to_ascii_lowercase().contains("\nrange:");
    let fault = ranged
        && remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if up.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut client = client;
    let mut buf = [0u8; 16 * 1024];
    let mut sent = 0;
    loop {
        let n = match up.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if fault && sent + n > cut_after {
            let _ = client.write_all(&buf[..cut_after.saturating_sub(sent)]);
            cut.fetch_add(1, Ordering::SeqCst);
            break;
        }
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n;
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
}
