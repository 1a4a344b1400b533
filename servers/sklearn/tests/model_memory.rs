//! The model memory budget against the real binary (issue #12, defect 5): every decompression and array bomb is
//! refused at start-up with an error naming the budget, and the server's peak RSS stays under 1 GB; a real model
//! still loads under the same budget.
//!
//! The bombs are built in memory by the pickle crate's test support (a few compressed segments repeated), written
//! to a temporary model folder as `model.joblib`, and served with `--max-model-memory` (here through its env var)
//! of 512 MiB. Peak RSS is read two ways: the child's `VmHWM` sampled from /proc while it runs (per bomb), and
//! `getrusage(RUSAGE_CHILDREN)` after it was reaped (the most any child of this test reached; this file's only
//! test starts every server, one at a time).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../crates/pickle/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxserve_tests::{TempDir, repo_root};
use support::{Codec, bomb, joblib_zero_array, peak_rss};

const BUDGET: u64 = 512 << 20;
const PEAK_LIMIT: u64 = 1_000_000_000;

/// How one start-up went.
struct Run {
    exited: Option<std::process::ExitStatus>,
    stderr: String,
    /// The highest `VmHWM` seen, in bytes.
    peak: u64,
}

/// Starts sklearn-server on `model_dir` and samples its peak RSS until it exits or, when `ready_is_enough`, until
/// it wrote its ports file (then it is stopped). Bounded at 120 s (debug builds decompress slowly).
fn run_server(model_dir: &Path, ready_is_enough: bool) -> Run {
    let dir = TempDir::new("oxserve-memory").unwrap();
    let ports_file = dir.0.join("ports.json");
    let stderr_file = dir.0.join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sklearn-server"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OXSERVE_HOST", "127.0.0.1")
        .env("OXSERVE_PORTS_FILE", &ports_file)
        .env("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "0")
        .env("OXSERVE_MAX_MODEL_MEMORY", BUDGET.to_string())
        .args(["--model-uri", &model_dir.display().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_file).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut peak = 0;
    let exited = loop {
        if let Some(hwm) = peak_rss(Some(pid)) {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if ready_is_enough && ports_file.exists() {
            break None;
        }
        assert!(
            Instant::now() < deadline,
            "sklearn-server neither exited nor became ready in 120 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    if exited.is_none() {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    Run {
        exited,
        stderr: std::fs::read_to_string(&stderr_file).unwrap_or_default(),
        peak,
    }
}

/// The most any reaped child of this process reached, in bytes.
fn children_peak_rss() -> u64 {
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    // Linux reports kilobytes.
    u64::try_from(usage.max_rss()).unwrap_or(0) * 1024
}

#[test]
fn every_bomb_is_refused_under_one_gigabyte_and_a_real_model_loads() {
    let gib = 1u64 << 30;
    let bombs: Vec<(&str, Vec<u8>)> = vec![
        // ~2 MB of xz whose single block holds 10 GiB (before: 20.5 GB RSS for 1.5 MB).
        ("xz 10 GiB", bomb(Codec::Xz, 10 * gib)),
        ("zlib 10 GiB", bomb(Codec::Zlib, 10 * gib)),
        ("gzip 10 GiB", bomb(Codec::Gzip, 10 * gib)),
        ("bz2 10 GiB", bomb(Codec::Bz2, 10 * gib)),
        ("lz4 10 GiB", bomb(Codec::Lz4, 10 * gib)),
        ("lzma 2 GiB", bomb(Codec::Lzma, 2 * gib)),
        // A 256 MiB int8 array (before: 2.3 GB, the values widened to i64 outside the budget).
        (
            "int8 array 256 MiB",
            joblib_zero_array(Codec::Zlib, &[256 << 20], "i1", "C", 1),
        ),
        // A Fortran-order int8 array (before: an 8-byte index per element and a reordered copy, uncounted).
        (
            "fortran int8 array 2 x 96 Mi",
            joblib_zero_array(Codec::Zlib, &[2, 96 << 20], "i1", "F", 1),
        ),
        // 2.68 G elements in Fortran order (before: a single 21.5 GB index allocation).
        (
            "fortran int8 array 2 x 1.34 G",
            joblib_zero_array(Codec::Zlib, &[2, 1_342_177_280], "i1", "F", 1),
        ),
    ];
    let mut report = Vec::new();
    for (name, bytes) in &bombs {
        let dir = TempDir::new("oxserve-bomb").unwrap();
        std::fs::write(dir.0.join("model.joblib"), bytes).unwrap();
        let run = run_server(&dir.0, false);
        let status = run.exited.expect("exits");
        assert!(!status.success(), "{name}: started");
        assert!(
            run.stderr
                .contains(&format!("model memory budget of {BUDGET} bytes"))
                && run.stderr.contains("--max-model-memory"),
            "{name}: the start-up error does not name the budget:\n{}",
            run.stderr
        );
        assert!(
            run.peak <= PEAK_LIMIT,
            "{name}: peak RSS {} bytes over 1 GB",
            run.peak
        );
        report.push(format!(
            "{name}: {} byte file, peak RSS {} MB",
            bytes.len(),
            run.peak / 1_000_000
        ));
    }
    // A real model still loads under the same budget.
    let iris = repo_root().join("examples/iris");
    let run = run_server(&iris, true);
    assert!(run.exited.is_none(), "iris did not start:\n{}", run.stderr);
    report.push(format!("iris: peak RSS {} MB", run.peak / 1_000_000));

    let all = children_peak_rss();
    report.push(format!(
        "getrusage(RUSAGE_CHILDREN) max RSS: {} MB",
        all / 1_000_000
    ));
    eprintln!("{}", report.join("\n"));
    assert!(all <= PEAK_LIMIT, "a child reached {all} bytes");
}
