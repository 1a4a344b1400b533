//! `ServerState::predict` and a model's waiting path (`Model::predict_async`): the answer is awaited on the
//! request's task, with no blocking thread per waiting caller, and a panic on that path fails only its request.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use oxserve_core::{
    DataType, Model, ModelError, ModelMetadata, NamedTensor, PredictRequest, PredictResponse,
    Submission, Tensor, TensorData, TensorSpec,
};
use oxserve_runtime::metrics::FeedbackIdentity;
use oxserve_runtime::{Metrics, ServeError, ServerState};
use tokio::sync::Barrier;

/// Answers every request only once `barrier` has seen all of them waiting; its blocking `predict` must never
/// be called. The value 7 panics while submitting, 8 panics while the answer is awaited, 9 goes the blocking
/// way (handed back).
struct Meeting {
    metadata: ModelMetadata,
    barrier: Arc<Barrier>,
}

fn first_value(request: &PredictRequest) -> f64 {
    request.inputs[0].tensor.to_f64_vec().unwrap()[0]
}

impl Model for Meeting {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        if first_value(&request) == 9.0 {
            return Ok(PredictResponse {
                outputs: request.inputs,
            });
        }
        panic!("a waiting request reached the blocking path");
    }

    fn predict_async(&self, request: PredictRequest) -> Submission {
        match first_value(&request) {
            7.0 => panic!("asked to panic while submitting"),
            9.0 => return Submission::Direct(request),
            _ => {}
        }
        let barrier = self.barrier.clone();
        Submission::Pending(Box::pin(async move {
            if first_value(&request) == 8.0 {
                panic!("asked to panic while answering");
            }
            barrier.wait().await;
            Ok(PredictResponse {
                outputs: request.inputs,
            })
        }))
    }
}

fn state(callers: usize) -> Arc<ServerState> {
    let model = Meeting {
        metadata: ModelMetadata {
            platform: "test".into(),
            inputs: vec![TensorSpec::new("x", DataType::F64, vec![-1, 1])],
            outputs: vec![],
        },
        barrier: Arc::new(Barrier::new(callers)),
    };
    let metrics = Metrics::new(FeedbackIdentity::default()).unwrap();
    Arc::new(ServerState::new(
        Arc::new(model),
        "m".into(),
        None,
        None,
        None,
        metrics,
        0,
    ))
}

fn one(value: f64) -> PredictRequest {
    PredictRequest {
        inputs: vec![NamedTensor::new(
            "x",
            Tensor::new(vec![1, 1], TensorData::F64(vec![value])).unwrap(),
        )],
        outputs: vec![],
    }
}

#[tokio::test]
async fn more_callers_wait_at_once_than_there_are_blocking_threads() {
    // 2,000 callers, each answered only when all of them wait together: more than the 512 threads the
    // blocking path allows, so this ends only if no caller holds a thread while it waits.
    let callers = 2_000;
    let state = state(callers);
    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            let state = state.clone();
            tokio::spawn(async move { state.predict(one(10.0 + i as f64)).await })
        })
        .collect();
    let all = async {
        for (i, task) in tasks.into_iter().enumerate() {
            let answer = task.await.unwrap().unwrap();
            assert_eq!(
                answer.outputs[0].tensor.to_f64_vec().unwrap(),
                vec![10.0 + i as f64]
            );
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("callers waited on threads");
}

#[tokio::test]
async fn a_panic_on_the_waiting_path_fails_its_request_alone() {
    let state = state(1);
    for value in [7.0, 8.0] {
        match state.predict(one(value)).await {
            Err(ServeError::Internal(_)) => {}
            other => panic!("{value}: {other:?}"),
        }
    }
    // A request the model hands back goes the blocking way; the next waiting one is answered.
    let direct = state.predict(one(9.0)).await.unwrap();
    assert_eq!(direct.outputs[0].tensor.to_f64_vec().unwrap(), vec![9.0]);
    let waited = state.predict(one(1.0)).await.unwrap();
    assert_eq!(waited.outputs[0].tensor.to_f64_vec().unwrap(), vec![1.0]);
}
