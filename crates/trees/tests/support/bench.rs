//! Helpers the engines' benchmarks share (included with `#[path]`): the raw float64 batch `gen_bench.py` writes,
//! best-of-n timing, and the 1,000-row / 1-row runs of one model.
#![allow(dead_code)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

/// Rows in the batch file.
pub(crate) const ROWS: usize = 1000;

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

/// Times `predict` (which returns whether it succeeded) on the whole batch and on its first row: prints the best
/// of many runs as rows/s, then runs the criterion group `{name}_{rows}_rows`.
pub(crate) fn run(c: &mut Criterion, name: &str, x: &[f64], predict: impl Fn(&[f64]) -> bool) {
    let nf = x.len() / ROWS;
    for rows in [ROWS, 1] {
        let xs = &x[..rows * nf];
        let n = if rows == 1 { 20_000 } else { 200 };
        let b = best(n, || {
            black_box(predict(black_box(xs)));
        });
        println!(
            "{name} {rows:>4} rows: best of {n} = {:.0} rows/s",
            rows as f64 / b.as_secs_f64()
        );
        let mut group = c.benchmark_group(format!("{name}_{rows}_rows"));
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_function("predict", |bch| bch.iter(|| predict(black_box(xs))));
        group.finish();
    }
}

/// For each model `{name}.{ext}` in `dir`: loads it (timed), then [`run`]s it on the batch. Skips with a message
/// what is absent (run the crate's `fixtures/gen_bench.py` first).
pub(crate) fn models<M>(
    c: &mut Criterion,
    dir: &Path,
    names: &[&str],
    ext: &str,
    load: impl Fn(&[u8]) -> Option<M>,
    predict: impl Fn(&M, &[f64]) -> bool,
) {
    let Some(x) = batch(dir) else {
        eprintln!(
            "SKIPPED: {} missing; run fixtures/gen_bench.py",
            dir.join("batch.f64").display()
        );
        return;
    };
    for name in names {
        let Ok(bytes) = std::fs::read(dir.join(format!("{name}.{ext}"))) else {
            eprintln!("SKIPPED {name}: model missing");
            continue;
        };
        let t = Instant::now();
        let Some(model) = load(&bytes) else {
            eprintln!("SKIPPED {name}: does not load");
            continue;
        };
        println!("{name}: load {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
        run(c, name, &x, |xs| predict(&model, xs));
    }
}
