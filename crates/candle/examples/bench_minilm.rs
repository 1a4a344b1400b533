//! Sentences per second of the candle engine on all-MiniLM-L6-v2 at batch 1 and batch 32 (run by
//! `scripts/bench-candle.sh`, which compares it with sentence-transformers on the same sentences and threads).
//!
//! Usage: `bench_minilm <model_dir> [seconds_per_case]`; threads from `RAYON_NUM_THREADS`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use oxserve_candle::{CandleModel, LoadOptions};
use oxserve_core::{Model, NamedTensor, PredictRequest, Tensor, TensorData};

/// The benchmark's sentences (the same list as `scripts/bench-candle.py`).
fn sentences() -> Vec<String> {
    let base = [
        "A man is eating food.",
        "A man is riding a white horse on an enclosed ground.",
        "Seldon Core turns machine learning models into production REST and gRPC microservices.",
        "The new movie is awesome, and the soundtrack is even better than the trailer promised.",
        "Two dogs are playing in the snow while their owner takes pictures from the porch.",
        "Dynamic batching pads every sequence to the longest one in the batch before the encoder runs.",
        "How do I reset my password if I no longer have access to the email address on my account?",
        "The quick brown fox jumps over the lazy dog.",
    ];
    (0..32).map(|i| base[i % base.len()].to_string()).collect()
}

fn request(texts: &[String]) -> Result<PredictRequest, Box<dyn std::error::Error>> {
    let data = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    Ok(PredictRequest {
        inputs: vec![NamedTensor::new(
            "args",
            Tensor::new(vec![texts.len()], TensorData::Bytes(data))?,
        )],
        outputs: vec![],
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: bench_minilm <model_dir> [seconds]")?,
    );
    let seconds: f64 = args.next().map_or(Ok(5.0), |s| s.parse())?;
    let model = CandleModel::load(&dir, LoadOptions::default())?;
    let all = sentences();
    for batch in [1usize, 32] {
        // Warm-up.
        model.predict(request(&all[..batch])?)?;
        let started = Instant::now();
        let mut done = 0usize;
        let mut i = 0usize;
        while started.elapsed() < Duration::from_secs_f64(seconds) {
            let texts: Vec<String> = (0..batch)
                .map(|k| all[(i + k) % all.len()].clone())
                .collect();
            model.predict(request(&texts)?)?;
            done += batch;
            i += batch;
        }
        let rate = done as f64 / started.elapsed().as_secs_f64();
        println!("candle batch={batch}: {rate:.1} sentences/s");
    }
    Ok(())
}
