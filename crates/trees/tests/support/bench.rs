//! Helpers the engines' benchmarks share (included with `#[path]`): the raw float64 batch `gen_bench.py` writes
//! and best-of-n timing.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

/// The batch file (`batch.f64`: raw little-endian float64, row-major), or `None` when absent.
pub(crate) fn batch(dir: &Path) -> Option<Vec<f64>> {
    let bytes = std::fs::read(dir.join("batch.f64")).ok()?;
    Some(
        bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .collect(),
    )
}

/// The best of `n` runs: on a shared machine the least contended one, as the Python scripts report too.
pub(crate) fn best(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}
