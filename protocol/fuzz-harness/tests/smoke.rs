//! The stable smoke run of the request-decoder fuzz targets (`protocol/fuzz`, cargo-fuzz on nightly): every
//! decoder under the counting allocator, fed its seeds, the issue #12 reproductions, and seeded mutations of them.
//! Fails when a decode panics, when its peak memory or one allocation exceeds the harness bound (linear in the
//! input, see `allowed_bytes`), when a reproduction is not refused, or when a fast path reads an input otherwise
//! than its general reader (`fast_path_agrees`).
//!
//! `OXSERVE_FUZZ_ITERS` (default 300 per decoder) sets the number of mutated inputs, `OXSERVE_FUZZ_SECS` a time
//! budget instead (shared by the decoders), `OXSERVE_FUZZ_SEED` the seed. A failing input is written to the
//! system temp directory and named in the failure.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use oxserve_protocol_fuzz_harness::{
    CountingAlloc, Decoder, Measured, Mutator, amplifications, check, counting_is_installed,
    fast_path_agrees, reproductions, seeds,
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn keep(decoder: Decoder, input: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!(
        "oxserve-fuzz-{}-{:016x}.bin",
        decoder.name(),
        input
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b))
                .wrapping_mul(0x100_0000_01b3))
    ));
    let _ = std::fs::write(&path, input);
    path.display().to_string()
}

/// Decodes one input; panics with the saved input's path on a panic or a broken bound.
fn run_one(decoder: Decoder, input: &[u8]) -> Result<usize, String> {
    run_measured(decoder, input).outcome
}

fn run_measured(decoder: Decoder, input: &[u8]) -> Measured {
    if let Err(disagreement) = fast_path_agrees(decoder, input) {
        panic!("{disagreement}; input saved at {}", keep(decoder, input));
    }
    match catch_unwind(AssertUnwindSafe(|| check(decoder, input))) {
        Ok(Ok(measured)) => measured,
        Ok(Err(violation)) => panic!("{violation}; input saved at {}", keep(decoder, input)),
        Err(_) => panic!(
            "{} decoder panicked; input saved at {}",
            decoder.name(),
            keep(decoder, input)
        ),
    }
}

#[test]
fn the_counting_allocator_is_installed() {
    assert!(counting_is_installed());
}

#[test]
fn every_reproduction_is_refused_within_the_bound() {
    for (decoder, input) in reproductions() {
        let measured = run_measured(decoder, &input);
        eprintln!(
            "{}: {}-byte reproduction refused, peak {} bytes",
            decoder.name(),
            input.len(),
            measured.peak
        );
        let err = measured.outcome.expect_err(decoder.name());
        assert!(
            err.contains("request limit"),
            "{}: {err} ({})",
            decoder.name(),
            String::from_utf8_lossy(&input)
        );
    }
}

/// Protobuf messages prost would amplify hundreds of times are refused by the gRPC codec's guard before prost
/// decodes them: the decode's peak stays far under the (protobuf) bound, which an unguarded prost decode of
/// them would break.
#[test]
fn protobuf_amplification_is_refused_before_decoding() {
    for (decoder, input) in amplifications() {
        let measured = run_measured(decoder, &input);
        eprintln!(
            "{}: {}-byte amplifying message refused, peak {} bytes",
            decoder.name(),
            input.len(),
            measured.peak
        );
        let err = measured.outcome.expect_err(decoder.name());
        assert!(
            err.contains("refused before decoding"),
            "{}: {err}",
            decoder.name()
        );
        assert!(
            measured.peak < 4 << 20,
            "{}: peak {}",
            decoder.name(),
            measured.peak
        );
    }
}

#[test]
fn every_valid_seed_decodes_within_the_bound() {
    let hostile: Vec<Vec<u8>> = reproductions().into_iter().map(|(_, b)| b).collect();
    for decoder in Decoder::ALL {
        for seed in seeds(decoder) {
            let outcome = run_one(decoder, &seed);
            if !hostile.contains(&seed) {
                assert!(
                    outcome.is_ok(),
                    "{}: {outcome:?} for {}",
                    decoder.name(),
                    String::from_utf8_lossy(&seed)
                );
            }
        }
    }
}

#[test]
fn mutated_requests_stay_within_the_bound() {
    let iters: usize = std::env::var("OXSERVE_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let deadline = std::env::var("OXSERVE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| Duration::from_secs(s) / Decoder::ALL.len() as u32);
    let seed: u64 = std::env::var("OXSERVE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let mut total = 0usize;
    for decoder in Decoder::ALL {
        let seeds = seeds(decoder);
        let mut rng = Mutator::new(seed ^ decoder.name().len() as u64);
        let start = Instant::now();
        let mut n = 0usize;
        let (mut peak, mut ratio) = (0usize, 0f64);
        loop {
            match deadline {
                Some(d) if start.elapsed() >= d => break,
                None if n >= iters => break,
                _ => {}
            }
            let input = rng.input(decoder, &seeds);
            let m = run_measured(decoder, &input);
            peak = peak.max(m.peak);
            ratio = ratio.max(m.peak as f64 / input.len().max(1) as f64);
            n += 1;
        }
        total += n;
        eprintln!(
            "{}: {n} inputs (seed {seed}), largest peak {peak} bytes, largest peak per input byte {ratio:.0}",
            decoder.name()
        );
    }
    assert!(total > 0);
}
