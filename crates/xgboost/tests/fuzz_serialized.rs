//! A bounded, dependency-free stand-in for the `cargo fuzz` target `serialized` (crates/xgboost/fuzz): seeded
//! mutations of serialized boosters — what a pickled `XGBClassifier` / `XGBRegressor` carries and `oxserve-sklearn`
//! reads through `Booster::load_serialized` — built from the committed fixtures in each framing that function
//! reads. Every input must load or be refused, and a loaded model must predict a row, without a panic.
//!
//! `OXSERVE_FUZZ_ITERS` (default 1500) sets the number of inputs, `OXSERVE_FUZZ_SECS` a time budget instead
//! (`scripts/fuzz-boosters.sh`), `OXSERVE_FUZZ_SEED` the seed. An input that panics is written to the system temp
//! directory and named in the failure.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use oxserve_xgboost::{Booster, Predict, Rows};

#[path = "../../trees/tests/support/rng.rs"]
mod rng;
use rng::XorShift;

fn fixture(path: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/cases")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A UBJSON string key or value body: `i`/`l` length, then the bytes.
fn ubj_str(s: &str) -> Vec<u8> {
    let mut out = vec![b'l'];
    out.extend_from_slice(&(s.len() as i32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    out
}

/// Serialized boosters in every framing `load_serialized` reads, from small committed models.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for case in ["v3/binary-logistic", "v3/categorical", "v3/forest"] {
        let json = fixture(&format!("{case}/model.json"));
        let ubj = fixture(&format!("{case}/model.ubj"));
        // XGBoost >= 1.6: UBJSON {"Config": {...}, "Model": <the saved model>}.
        let mut doc = vec![b'{'];
        doc.extend(ubj_str("Config"));
        doc.push(b'{');
        doc.extend(ubj_str("learner"));
        doc.extend_from_slice(b"{}");
        doc.push(b'}');
        doc.extend(ubj_str("Model"));
        doc.extend_from_slice(&ubj);
        doc.push(b'}');
        out.push(doc);
        // Before 1.6: the same document as JSON text, with num_parallel_tree in the config only.
        let mut text = br#"{"Config":{"learner":{"gradient_booster":{"gbtree_train_param":{"num_parallel_tree":"1"}}}},"Model":"#.to_vec();
        text.extend_from_slice(&json);
        text.push(b'}');
        out.push(text);
        out.push(ubj);
    }
    // The oldest framing: CONFIG-offset:, the model's length, the legacy binary model, then the JSON config.
    for case in ["v17/binary-logistic", "v17/multi-softprob"] {
        let bst = fixture(&format!("{case}/model.bst"));
        let mut framed = b"CONFIG-offset:".to_vec();
        framed.extend_from_slice(&(bst.len() as i64).to_le_bytes());
        framed.extend_from_slice(&bst);
        framed.extend_from_slice(br#"{"learner":{}}"#);
        out.push(framed);
    }
    out
}

fn mutate(g: &mut XorShift, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..=g.below(4) {
        match g.below(6) {
            0 if !b.is_empty() => {
                let i = g.below(b.len());
                b[i] = g.next() as u8;
            }
            1 if !b.is_empty() => {
                let i = g.below(b.len());
                b[i] ^= 1 << g.below(8);
            }
            2 => b.truncate(g.below(b.len() + 1)),
            3 if !b.is_empty() => {
                // A length-like field made huge or negative.
                let i = g.below(b.len());
                let v = [0xff, 0x7f, 0x80, 0x00][g.below(4)];
                for x in b.iter_mut().skip(i).take(4) {
                    *x = v;
                }
            }
            4 if b.len() > 2 => {
                let i = g.below(b.len());
                let n = g.below(16).min(b.len() - i);
                b.drain(i..i + n);
            }
            _ => {
                let i = g.below(b.len() + 1);
                let chunk: Vec<u8> = (0..g.below(8) + 1).map(|_| g.next() as u8).collect();
                b.splice(i..i, chunk);
            }
        }
    }
    b
}

fn run_one(input: &[u8]) {
    if let Ok(b) = Booster::load_serialized(input)
        && b.n_features() <= 4096
    {
        let row = vec![0.5f32; b.n_features()];
        let _ = b.predict(Rows::F32(&row), &Predict::default());
    }
}

#[test]
fn serialized_boosters_load_or_are_refused_without_panicking() {
    let seeds = seeds();
    for s in &seeds {
        let b = Booster::load_serialized(s).unwrap_or_else(|e| panic!("a seed does not load: {e}"));
        assert!(b.n_rounds() > 0);
    }
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let deadline = env("OXSERVE_FUZZ_SECS").map(|s| Instant::now() + Duration::from_secs(s));
    let iters = env("OXSERVE_FUZZ_ITERS").unwrap_or(1500);
    let seed = env("OXSERVE_FUZZ_SEED").unwrap_or(1);
    let mut g = XorShift(seed.max(1));
    let mut n = 0u64;
    loop {
        match deadline {
            Some(d) if Instant::now() >= d => break,
            None if n >= iters => break,
            _ => {}
        }
        let pick = g.below(seeds.len());
        let input = mutate(&mut g, &seeds[pick]);
        if catch_unwind(AssertUnwindSafe(|| run_one(&input))).is_err() {
            let path =
                std::env::temp_dir().join(format!("oxserve-xgb-serialized-crash-{seed}-{n}"));
            let _ = std::fs::write(&path, &input);
            panic!(
                "input {n} (seed {seed}) panicked; written to {}",
                path.display()
            );
        }
        n += 1;
    }
    eprintln!("{n} inputs (seed {seed})");
}
