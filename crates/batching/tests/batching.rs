//! The batcher under concurrency, with a mock model that records every call it gets.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::time::{Duration, Instant};

use oxserve_batching::{BatchConfig, BatchingModel};
use oxserve_core::{
    DataType, Model, ModelError, ModelMetadata, NamedTensor, PredictFuture, PredictRequest,
    PredictResponse, Submission, Tensor, TensorData, TensorSpec,
};

/// Adds 1000 to every element of its one F64 input and also returns, for BYTES input, the byte length of each
/// string. Records the dim 0 of every call. A value of -1 is bad input, -2 an internal error, -3 a panic; a
/// string "scalar" makes it answer one value whatever the rows (an output that cannot be split).
struct Recorder {
    metadata: ModelMetadata,
    calls: Mutex<Vec<usize>>,
    delay: Duration,
}

impl Recorder {
    fn new(delay: Duration) -> Arc<Self> {
        Arc::new(Recorder {
            metadata: ModelMetadata {
                platform: "test".into(),
                inputs: vec![TensorSpec::new("x", DataType::F64, vec![-1, -1])],
                outputs: vec![TensorSpec::new("y", DataType::F64, vec![-1, -1])],
            },
            calls: Mutex::new(Vec::new()),
            delay,
        })
    }

    fn calls(&self) -> Vec<usize> {
        self.calls.lock().unwrap().clone()
    }
}

impl Model for Recorder {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let input = &request.inputs[0].tensor;
        self.calls.lock().unwrap().push(input.shape()[0]);
        std::thread::sleep(self.delay);
        let output = match input.data() {
            TensorData::F64(v) => {
                if v.contains(&-1.0) {
                    return Err(ModelError::BadInput("negative one".into()));
                }
                if v.contains(&-2.0) {
                    return Err(ModelError::Internal("model broke".into()));
                }
                if v.contains(&-3.0) {
                    panic!("asked to panic");
                }
                Tensor::new(
                    input.shape().to_vec(),
                    TensorData::F64(v.iter().map(|x| x + 1000.0).collect()),
                )
                .unwrap()
            }
            TensorData::Bytes(v) => {
                if v.iter().any(|s| s == b"scalar") {
                    Tensor::new(vec![1], TensorData::F32(vec![0.0])).unwrap()
                } else if let Some(missing) = input.missing() {
                    let lens = v
                        .iter()
                        .zip(missing)
                        .map(|(s, &m)| if m { -1.0 } else { s.len() as f32 })
                        .collect();
                    Tensor::new(input.shape().to_vec(), TensorData::F32(lens)).unwrap()
                } else {
                    let lens = v.iter().map(|s| s.len() as f32).collect();
                    Tensor::new(input.shape().to_vec(), TensorData::F32(lens)).unwrap()
                }
            }
            other => return Err(ModelError::BadInput(format!("{:?}", other.dtype()))),
        };
        Ok(PredictResponse {
            outputs: vec![NamedTensor::new("y", output)],
        })
    }

    fn accepts_table(&self) -> bool {
        true
    }
}

fn rows(values: &[&[f64]]) -> PredictRequest {
    let cols = values[0].len();
    let flat: Vec<f64> = values.iter().flat_map(|r| r.iter().copied()).collect();
    PredictRequest {
        inputs: vec![NamedTensor::new(
            "x",
            Tensor::new(vec![values.len(), cols], TensorData::F64(flat)).unwrap(),
        )],
        outputs: Vec::new(),
    }
}

fn strings(values: &[&str]) -> PredictRequest {
    PredictRequest {
        inputs: vec![NamedTensor::new(
            "x",
            Tensor::new(
                vec![values.len()],
                TensorData::Bytes(values.iter().map(|s| s.as_bytes().to_vec()).collect()),
            )
            .unwrap(),
        )],
        outputs: Vec::new(),
    }
}

fn values(response: &PredictResponse) -> (Vec<usize>, Vec<f64>) {
    let t = &response.outputs[0].tensor;
    (t.shape().to_vec(), t.to_f64_vec().unwrap())
}

/// Runs every request on its own thread, all released at once; answers in request order.
fn concurrently(
    model: &Arc<BatchingModel>,
    requests: Vec<PredictRequest>,
) -> Vec<Result<PredictResponse, ModelError>> {
    let barrier = Arc::new(Barrier::new(requests.len()));
    let threads: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let model = model.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                model.predict(request)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn batching(inner: &Arc<Recorder>, size: usize, time: Duration) -> Arc<BatchingModel> {
    let model = BatchingModel::new(inner.clone(), BatchConfig::new(size, time));
    assert!(model.is_batching());
    assert!(!model.runs_inline());
    Arc::new(model)
}

#[test]
fn concurrent_requests_share_calls_and_each_gets_its_own_rows() {
    let inner = Recorder::new(Duration::ZERO);
    let model = batching(&inner, 64, Duration::from_millis(300));
    let n = 12;
    let requests = (0..n)
        .map(|i| {
            let i = i as f64;
            // Request i carries 1 + i % 3 rows, each row [i, r].
            let r: Vec<Vec<f64>> = (0..1 + (i as usize) % 3)
                .map(|r| vec![i, r as f64])
                .collect();
            let refs: Vec<&[f64]> = r.iter().map(Vec::as_slice).collect();
            rows(&refs)
        })
        .collect();
    let results = concurrently(&model, requests);
    for (i, result) in results.iter().enumerate() {
        let (shape, got) = values(result.as_ref().unwrap());
        let n_rows = 1 + i % 3;
        assert_eq!(shape, vec![n_rows, 2]);
        let want: Vec<f64> = (0..n_rows)
            .flat_map(|r| [i as f64 + 1000.0, r as f64 + 1000.0])
            .collect();
        assert_eq!(got, want, "request {i}");
    }
    let calls = inner.calls();
    let total_rows: usize = (0..n).map(|i| 1 + i % 3).sum();
    assert_eq!(calls.iter().sum::<usize>(), total_rows);
    assert!(calls.len() < n, "no batching happened: {calls:?}");
    let stats = model.stats().snapshot();
    assert_eq!(stats.batches as usize, calls.len());
    assert_eq!(stats.rows as usize, total_rows);
    assert_eq!(stats.requests as usize, n);
    assert_eq!(
        stats.largest_batch_rows as usize,
        *calls.iter().max().unwrap()
    );
}

#[test]
fn a_batch_never_exceeds_max_batch_size_and_big_requests_run_alone() {
    let inner = Recorder::new(Duration::ZERO);
    let model = batching(&inner, 4, Duration::from_millis(200));
    let mut requests: Vec<PredictRequest> = (0..8).map(|i| rows(&[&[i as f64]])).collect();
    let big: Vec<Vec<f64>> = (0..6).map(|r| vec![100.0 + r as f64]).collect();
    let big_refs: Vec<&[f64]> = big.iter().map(Vec::as_slice).collect();
    requests.push(rows(&big_refs));
    let results = concurrently(&model, requests);
    for (i, result) in results.iter().take(8).enumerate() {
        assert_eq!(values(result.as_ref().unwrap()).1, vec![i as f64 + 1000.0]);
    }
    let (shape, got) = values(results[8].as_ref().unwrap());
    assert_eq!(shape, vec![6, 1]);
    assert_eq!(got[5], 1105.0);
    let calls = inner.calls();
    assert!(calls.contains(&6), "{calls:?}");
    assert!(
        calls.iter().filter(|&&c| c != 6).all(|&c| c <= 4),
        "{calls:?}"
    );
    assert_eq!(calls.iter().sum::<usize>(), 14);
}

#[test]
fn a_lone_request_waits_max_batch_time_and_no_longer() {
    let inner = Recorder::new(Duration::ZERO);
    let wait = Duration::from_millis(100);
    let model = batching(&inner, 8, wait);
    let start = Instant::now();
    let result = model.predict(rows(&[&[1.0, 2.0]])).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(values(&result).1, vec![1001.0, 1002.0]);
    assert!(
        elapsed >= wait,
        "answered before the batch closed: {elapsed:?}"
    );
    // Slack for a loaded CI machine; what matters is that the request does not wait for company forever.
    assert!(elapsed < wait + Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(inner.calls(), vec![1]);
}

#[test]
fn a_full_batch_runs_without_waiting_for_the_timer() {
    let inner = Recorder::new(Duration::ZERO);
    let model = batching(&inner, 4, Duration::from_secs(30));
    let start = Instant::now();
    let results = concurrently(&model, (0..4).map(|i| rows(&[&[i as f64]])).collect());
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(inner.calls(), vec![4]);
}

/// A string column with `null`s (a table's column, as the pandas codec or a mixed `ndarray` decodes it).
fn column(values: &[Option<&str>]) -> PredictRequest {
    let data = values
        .iter()
        .map(|s| s.unwrap_or("").as_bytes().to_vec())
        .collect();
    let missing = values.iter().map(Option::is_none).collect();
    PredictRequest {
        inputs: vec![NamedTensor::new(
            "x",
            Tensor::new(vec![values.len()], TensorData::Bytes(data))
                .unwrap()
                .with_missing(Some(missing)),
        )],
        outputs: Vec::new(),
    }
}

#[test]
fn tables_are_batched_with_their_missing_values() {
    let inner = Recorder::new(Duration::ZERO);
    let model = batching(&inner, 16, Duration::from_millis(300));
    // Before, a batched table model refused tables (the wrapper said it read none) and a merged column lost
    // its `null`s.
    assert!(model.accepts_table());
    let requests = vec![
        column(&[Some("a"), None]),
        column(&[Some("bb")]),
        column(&[None, Some("ccc")]),
    ];
    let results = concurrently(&model, requests);
    let got: Vec<Vec<f64>> = results
        .iter()
        .map(|r| values(r.as_ref().unwrap()).1)
        .collect();
    assert_eq!(got, vec![vec![1.0, -1.0], vec![2.0], vec![-1.0, 3.0]]);
    assert_eq!(inner.calls(), vec![5]);
}

#[test]
fn strings_are_concatenated_and_split() {
    let inner = Recorder::new(Duration::ZERO);
    let model = batching(&inner, 16, Duration::from_millis(300));
    let requests = vec![
        strings(&["a"]),
        strings(&["bb", "ccc"]),
        strings(&["dddd", "", "héllo"]),
    ];
    let results = concurrently(&model, requests);
    let got: Vec<Vec<f64>> = results
        .iter()
        .map(|r| values(r.as_ref().unwrap()).1)
        .collect();
    assert_eq!(got, vec![vec![1.0], vec![2.0, 3.0], vec![4.0, 0.0, 6.0]]);
    assert_eq!(inner.calls(), vec![6]);
}

#[test]
fn incompatible_shapes_run_as_separate_calls() {
    let inner = Recorder::new(Duration::ZERO);
    let model = batching(&inner, 16, Duration::from_millis(300));
    let requests = vec![
        rows(&[&[1.0, 2.0]]),
        rows(&[&[3.0, 4.0, 5.0]]),
        rows(&[&[6.0, 7.0]]),
        strings(&["x"]),
    ];
    let results = concurrently(&model, requests);
    assert_eq!(values(results[0].as_ref().unwrap()).1, vec![1001.0, 1002.0]);
    assert_eq!(
        values(results[1].as_ref().unwrap()).1,
        vec![1003.0, 1004.0, 1005.0]
    );
    assert_eq!(values(results[2].as_ref().unwrap()).1, vec![1006.0, 1007.0]);
    assert_eq!(values(results[3].as_ref().unwrap()).1, vec![1.0]);
    let mut calls = inner.calls();
    calls.sort_unstable();
    assert_eq!(calls, vec![1, 1, 2]);
}

#[test]
fn one_bad_request_does_not_fail_its_batch() {
    let inner = Recorder::new(Duration::ZERO);
    let model = batching(&inner, 16, Duration::from_millis(300));
    let requests = vec![rows(&[&[1.0]]), rows(&[&[-1.0]]), rows(&[&[3.0]])];
    let results = concurrently(&model, requests);
    assert_eq!(values(results[0].as_ref().unwrap()).1, vec![1001.0]);
    assert_eq!(
        results[1].as_ref().unwrap_err(),
        &ModelError::BadInput("negative one".into())
    );
    assert_eq!(values(results[2].as_ref().unwrap()).1, vec![1003.0]);
    assert_eq!(inner.calls(), vec![3, 1, 1, 1]);
    assert_eq!(model.stats().snapshot().retried_alone, 3);
}

#[test]
fn an_internal_error_reaches_every_request_of_the_batch() {
    let inner = Recorder::new(Duration::ZERO);
    let model = batching(&inner, 16, Duration::from_millis(300));
    let results = concurrently(&model, vec![rows(&[&[1.0]]), rows(&[&[-2.0]])]);
    for r in &results {
        assert_eq!(
            r.as_ref().unwrap_err(),
            &ModelError::Internal("model broke".into())
        );
    }
    assert_eq!(inner.calls(), vec![2]);
}

#[test]
fn a_panic_fails_its_batch_and_the_worker_goes_on() {
    let inner = Recorder::new(Duration::ZERO);
    let model = batching(&inner, 16, Duration::from_millis(200));
    let results = concurrently(&model, vec![rows(&[&[1.0]]), rows(&[&[-3.0]])]);
    for r in &results {
        assert!(matches!(r, Err(ModelError::Internal(_))), "{r:?}");
    }
    let after = model.predict(rows(&[&[5.0]])).unwrap();
    assert_eq!(values(&after).1, vec![1005.0]);
}

#[test]
fn an_output_that_is_not_per_row_runs_the_requests_alone() {
    let inner = Recorder::new(Duration::ZERO);
    let model = batching(&inner, 16, Duration::from_millis(300));
    let results = concurrently(&model, vec![strings(&["scalar"]), strings(&["ab", "c"])]);
    assert_eq!(values(results[0].as_ref().unwrap()), (vec![1], vec![0.0]));
    assert_eq!(
        values(results[1].as_ref().unwrap()),
        (vec![2], vec![2.0, 1.0])
    );
    let calls = inner.calls();
    assert_eq!(calls[0], 3, "{calls:?}");
    let mut alone = calls[1..].to_vec();
    alone.sort_unstable();
    assert_eq!(alone, vec![1, 2]);
}

#[test]
fn size_one_or_zero_time_passes_calls_straight_through() {
    for config in [
        BatchConfig::new(1, Duration::from_secs(1)),
        BatchConfig::new(8, Duration::ZERO),
    ] {
        let inner = Recorder::new(Duration::ZERO);
        let model = BatchingModel::new(inner.clone(), config);
        assert!(!model.is_batching());
        assert_eq!(model.runs_inline(), inner.runs_inline());
        assert_eq!(model.metadata(), inner.metadata());
        let start = Instant::now();
        let result = model.predict(rows(&[&[1.0]])).unwrap();
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(values(&result).1, vec![1001.0]);
        assert_eq!(model.stats().snapshot().batches, 0);
    }
}

#[test]
fn a_request_without_a_batch_dim_skips_the_queue() {
    let inner = Recorder::new(Duration::ZERO);
    let model = batching(&inner, 8, Duration::from_secs(30));
    let scalar = PredictRequest {
        inputs: vec![NamedTensor::new(
            "x",
            Tensor::new(vec![], TensorData::F64(vec![2.0])).unwrap(),
        )],
        outputs: Vec::new(),
    };
    let start = Instant::now();
    // The recorder indexes dim 0 and would panic on a 0-d input: the panic is an error, not a crash.
    assert!(matches!(
        model.predict(scalar),
        Err(ModelError::Internal(_))
    ));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(model.stats().snapshot().bypassed, 1);
}

#[test]
fn dropping_the_model_stops_the_worker() {
    let inner = Recorder::new(Duration::ZERO);
    let model = BatchingModel::new(
        inner.clone(),
        BatchConfig::new(8, Duration::from_millis(10)),
    );
    model.predict(rows(&[&[1.0]])).unwrap();
    assert_eq!(Arc::strong_count(&inner), 3, "test, model, worker");
    drop(model);
    assert_eq!(
        Arc::strong_count(&inner),
        1,
        "the worker still holds the model"
    );
}

#[test]
fn a_slow_model_applies_backpressure_without_losing_requests() {
    let inner = Recorder::new(Duration::from_millis(20));
    // Queue of 2 × 4 = 8 requests; 40 callers must all be answered.
    let model = batching(&inner, 2, Duration::from_millis(5));
    let results = concurrently(&model, (0..40).map(|i| rows(&[&[i as f64]])).collect());
    for (i, r) in results.iter().enumerate() {
        assert_eq!(values(r.as_ref().unwrap()).1, vec![i as f64 + 1000.0]);
    }
    assert!(inner.calls().iter().all(|&c| c <= 2));
}

/// The future of a request the batcher takes on its waiting path.
fn submit(model: &BatchingModel, request: PredictRequest) -> PredictFuture {
    match model.predict_async(request) {
        Submission::Pending(answer) => answer,
        Submission::Direct(request) => panic!("not queued: {request:?}"),
    }
}

#[tokio::test]
async fn async_callers_on_one_thread_meet_in_one_batch() {
    // A current-thread runtime: a caller that held its thread while waiting would run its batch alone.
    let inner = Recorder::new(Duration::ZERO);
    let model = batching(&inner, 32, Duration::from_millis(300));
    let tasks: Vec<_> = (0..32)
        .map(|i| tokio::spawn(submit(&model, rows(&[&[i as f64]]))))
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let answer = task.await.unwrap().unwrap();
        assert_eq!(values(&answer).1, vec![i as f64 + 1000.0]);
    }
    assert_eq!(inner.calls(), vec![32]);
    let scalar = PredictRequest {
        inputs: vec![NamedTensor::new(
            "x",
            Tensor::new(vec![], TensorData::F64(vec![2.0])).unwrap(),
        )],
        outputs: Vec::new(),
    };
    assert!(
        matches!(model.predict_async(scalar.clone()), Submission::Direct(r) if r == scalar),
        "a request without a batch dim is handed back untouched"
    );
}

/// A model that holds its calls at a gate until the test opens it (drops the sender), and counts the calls
/// that reached it.
struct Gated {
    inner: Arc<Recorder>,
    gate: Mutex<mpsc::Receiver<()>>,
    entered: AtomicUsize,
}

impl Model for Gated {
    fn metadata(&self) -> &ModelMetadata {
        self.inner.metadata()
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let _ = self.gate.lock().unwrap().recv();
        self.inner.predict(request)
    }
}

#[tokio::test]
async fn callers_that_went_away_are_not_computed_and_the_others_are_answered() {
    let inner = Recorder::new(Duration::ZERO);
    let (open, gate) = mpsc::channel::<()>();
    let gated = Arc::new(Gated {
        inner: inner.clone(),
        gate: Mutex::new(gate),
        entered: AtomicUsize::new(0),
    });
    let model = Arc::new(BatchingModel::new(
        gated.clone(),
        BatchConfig::new(4, Duration::from_millis(50)),
    ));
    // A full batch runs at once and holds the worker at the gate while the next callers queue behind it.
    let full = tokio::spawn(submit(&model, rows(&[&[0.0], &[0.0], &[0.0], &[0.0]])));
    let start = Instant::now();
    while gated.entered.load(Ordering::SeqCst) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the first batch never ran"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let kept = tokio::spawn(submit(&model, rows(&[&[1.0]])));
    // A caller whose timeout fires, one whose task is aborted, one that never awaited its answer.
    let timed_out =
        tokio::time::timeout(Duration::from_millis(20), submit(&model, rows(&[&[2.0]])));
    assert!(
        timed_out.await.is_err(),
        "answered while the worker was held"
    );
    let aborted = tokio::spawn(submit(&model, rows(&[&[3.0]])));
    aborted.abort();
    assert!(aborted.await.unwrap_err().is_cancelled());
    drop(submit(&model, rows(&[&[5.0]])));
    let also_kept = tokio::spawn(submit(&model, rows(&[&[4.0]])));
    drop(open);
    assert_eq!(values(&full.await.unwrap().unwrap()).1, vec![1000.0; 4]);
    assert_eq!(values(&kept.await.unwrap().unwrap()).1, vec![1001.0]);
    assert_eq!(values(&also_kept.await.unwrap().unwrap()).1, vec![1004.0]);
    // The three gone callers never reached the model: the second batch carried the two live rows.
    assert_eq!(inner.calls(), vec![4, 2]);
    let stats = model.stats().snapshot();
    assert_eq!(stats.abandoned, 3);
    assert_eq!((stats.batches, stats.requests, stats.rows), (2, 3, 6));
}

#[tokio::test]
async fn a_caller_that_leaves_while_its_batch_fills_is_dropped_before_the_model_runs() {
    let inner = Recorder::new(Duration::ZERO);
    let model = batching(&inner, 8, Duration::from_millis(500));
    let kept = tokio::spawn(submit(&model, rows(&[&[1.0]])));
    let gone = tokio::time::timeout(Duration::from_millis(20), submit(&model, rows(&[&[2.0]])));
    assert!(gone.await.is_err(), "answered before the batch closed");
    assert_eq!(values(&kept.await.unwrap().unwrap()).1, vec![1001.0]);
    assert_eq!(inner.calls(), vec![1]);
    assert_eq!(model.stats().snapshot().abandoned, 1);
}
