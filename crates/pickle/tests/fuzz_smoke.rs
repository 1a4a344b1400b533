//! A bounded, dependency-free stand-in for the `cargo fuzz` target `loads` (crates/pickle/fuzz): mutates the
//! committed fixtures and the fuzz corpus with a seeded xorshift generator and feeds them to `loads_with` under the
//! fuzz target's limits. Runs on stable in every `cargo test`; `scripts/fuzz-pickle.sh` runs it longer.
//!
//! `OXSERVE_FUZZ_ITERS` (default 3000) sets the number of inputs, `OXSERVE_FUZZ_SECS` a time budget instead (and
//! adds the libFuzzer corpus to the seeds), and
//! `OXSERVE_FUZZ_SEED` the seed. An input that panics is written to the system temp directory and named in the
//! failure.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use oxserve_pickle::{Limits, loads_with};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The committed fixtures; in a timed run (`OXSERVE_FUZZ_SECS`) also the libFuzzer corpus, which is git-ignored
/// and so is left out of ordinary test runs to keep them deterministic.
fn seeds(timed: bool) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let dirs: &[&str] = if timed {
        &["tests/fixtures", "fuzz/corpus/loads"]
    } else {
        &["tests/fixtures"]
    };
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let skip = matches!(p.extension().and_then(|e| e.to_str()), Some("py" | "json"));
            if p.is_file()
                && !skip
                && let Ok(bytes) = std::fs::read(&p)
                && !bytes.is_empty()
            {
                out.push(bytes);
            }
        }
    }
    out.push(b"\x80\x04\x95\x05\0\0\0\0\0\0\0]\x94(K\x01e.".to_vec());
    out
}

/// Values that make length fields and opcodes interesting.
const INTERESTING: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'(', b'.', b'b', b'R', 0x93, 0x94, 0x95,
];

fn mutate(rng: &mut XorShift, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut buf = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(6) {
        let len = buf.len();
        let at = rng.below(len + 1);
        match rng.below(8) {
            0 => {
                if let Some(b) = buf.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => {
                if let Some(b) = buf.get_mut(at) {
                    *b = INTERESTING[rng.below(INTERESTING.len())];
                }
            }
            2 => {
                if let Some(b) = buf.get_mut(at) {
                    *b = rng.next() as u8;
                }
            }
            3 => buf.truncate(at),
            4 => {
                let end = (at + rng.below(64)).min(len);
                buf.drain(at..end);
            }
            5 => {
                let extra: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                buf.splice(at..at, extra);
            }
            6 => {
                // Duplicate a slice (repeats opcodes, grows nesting and sharing).
                let end = (at + rng.below(128)).min(len);
                let piece = buf[at..end].to_vec();
                buf.splice(at..at, piece);
            }
            _ => {
                // Splice in a piece of another seed.
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let end = (from + rng.below(256)).min(other.len());
                buf.splice(at..at, other[from..end].iter().copied());
            }
        }
    }
    buf
}

#[test]
fn fuzz_smoke_loads() {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let seed = env("OXSERVE_FUZZ_SEED").unwrap_or(0x005E_ED0F_0C5E);
    let deadline = env("OXSERVE_FUZZ_SECS").map(|s| Instant::now() + Duration::from_secs(s));
    let iters = if deadline.is_some() {
        u64::MAX
    } else {
        env("OXSERVE_FUZZ_ITERS").unwrap_or(3000)
    };
    let limits = Limits {
        max_memory_bytes: 64 << 20,
        min_budget_bytes: 16 << 20,
        max_budget_bytes: 256 << 20,
        ..Limits::default()
    };
    let seeds = seeds(deadline.is_some());
    let mut rng = XorShift(seed | 1);
    let (mut ok, mut runs) = (0u64, 0u64);
    while runs < iters && deadline.is_none_or(|d| Instant::now() < d) {
        let input = mutate(&mut rng, &seeds);
        runs += 1;
        match catch_unwind(AssertUnwindSafe(|| loads_with(&input, &limits))) {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(_)) => {}
            Err(_) => {
                let path =
                    std::env::temp_dir().join(format!("oxserve-pickle-crash-{seed:x}-{runs}.bin"));
                let _ = std::fs::write(&path, &input);
                panic!(
                    "loads panicked on input #{runs} (saved to {})",
                    path.display()
                );
            }
        }
    }
    println!("fuzz smoke: {runs} inputs, {ok} loaded, the rest rejected cleanly (seed {seed:#x})");
}
