//! Every request decoder of `oxserve-protocol`, run under a counting allocator so that a fuzzer can assert what
//! issue #12 asks of them: **no request, however small, makes a decoder allocate without bound**.
//!
//! - [`CountingAlloc`]: a global allocator that counts, per thread and only while armed, the live bytes, their
//!   peak and the largest single allocation, and refuses (with a diagnostic on stderr, then the usual
//!   allocation-failure abort) any single allocation over [`HARD_CAP_BYTES`] so that a runaway decoder is caught
//!   before it takes the machine down.
//! - [`Decoder`]: each decoder as the servers call it (Seldon JSON and protobuf, V2 JSON, binary extension and
//!   gRPC, TF Serving JSON and protobuf).
//! - [`check`]: decodes one input under the allocator and fails if the peak or any single allocation exceeds
//!   [`allowed_bytes`], a bound linear in the input's length plus the request budget's expansion limit.
//! - [`seeds`] (valid requests of every form and the reproductions of issue #12) and [`Mutator`].
//!
//! Used by the cargo-fuzz targets in `protocol/fuzz` (nightly, libFuzzer) and by this crate's `tests/smoke.rs`
//! (stable, every CI run). This crate does not inherit the workspace lints because an allocator is an
//! `unsafe impl GlobalAlloc` and the workspace forbids unsafe code; the unsafe code is this file's allocator only.

#![warn(missing_docs, unreachable_pub)]
#![deny(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::io::Write as _;

use oxserve_core::{DataType, TensorSpec};
use oxserve_protocol::RequestLimits;
use oxserve_protocol::pb::inference::ModelInferRequest;
use oxserve_protocol::pb::seldon::protos as seldon_pb;
use oxserve_protocol::pb::tensorflow::serving::PredictRequest;
use oxserve_protocol::seldon::{self, SeldonMessage};
use oxserve_protocol::{tfserving, v2, wire_budget};

mod seeds;

pub use seeds::{Mutator, amplifications, reproductions, seeds};

/// A single allocation larger than this while armed is refused (the process then aborts, as it would on a real
/// allocation failure, after naming the size on stderr). Well above [`allowed_bytes`] for any input the fuzzers
/// make, far below what would hurt the machine.
pub const HARD_CAP_BYTES: usize = 256 << 20;

/// The body limit the harness decodes under (a server's `--max-body-bytes`): 1 MiB, larger than any fuzz input.
pub const HARNESS_BODY_LIMIT: usize = 1 << 20;

/// Fixed allowance of a decode, whatever the input: reservations capped at a constant (V2 JSON reserves up to
/// 2^17 elements, TF Serving JSON up to 2^16), parser state.
pub const BASE_BYTES: usize = 4 << 20;

/// Bytes a decode may hold per input byte: parse trees (a JSON number of two bytes becomes a 32-byte tree node in
/// a vector that may have doubled) and prost's structs (an empty protobuf sub-message of two bytes is a struct of
/// a few hundred bytes).
pub const BYTES_PER_INPUT_BYTE: usize = 768;

/// The most a decode of `input_len` bytes may hold at once, and the largest single allocation it may make:
/// [`BASE_BYTES`] + [`BYTES_PER_INPUT_BYTE`] per input byte + twice the limits' expansion allowance (a broadcast
/// and its conversion).
pub fn allowed_bytes(input_len: usize, limits: &RequestLimits) -> usize {
    BASE_BYTES
        .saturating_add(input_len.saturating_mul(BYTES_PER_INPUT_BYTE))
        .saturating_add(limits.max_expanded_bytes().saturating_mul(2))
}

/// The bound for `decoder`: [`allowed_bytes`], and for a protobuf decoder no more than twice what the gRPC
/// codec's guard lets prost decode a message of `input_len` bytes to ([`wire_budget::decoded_limit`]; twice for
/// vectors that doubled while growing) plus the same base and expansion allowance — so a large message that
/// prost would amplify (hundreds of bytes per empty sub-message) breaks the bound unless the guard refuses it.
pub fn allowed_bytes_for(decoder: Decoder, input_len: usize, limits: &RequestLimits) -> usize {
    let linear = allowed_bytes(input_len, limits);
    if !decoder.is_protobuf() {
        return linear;
    }
    let guarded = BASE_BYTES
        .saturating_add(wire_budget::decoded_limit(input_len).saturating_mul(2))
        .saturating_add(limits.max_expanded_bytes().saturating_mul(2));
    linear.min(guarded)
}

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

/// The counting allocator. Install it in the binary that runs the harness:
/// `#[global_allocator] static ALLOC: CountingAlloc = CountingAlloc;`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

/// Notes an allocation of `size` bytes on this thread; `false` when it is refused.
fn note_alloc(size: usize) -> bool {
    let armed = ARMED.try_with(Cell::get).unwrap_or(false);
    if !armed {
        return true;
    }
    if size > HARD_CAP_BYTES {
        let _ = ARMED.try_with(|a| a.set(false));
        let _ = writeln!(
            std::io::stderr(),
            "oxserve-protocol-fuzz-harness: a request decoder asked for one allocation of {size} bytes \
             (hard cap {HARD_CAP_BYTES}); refusing it"
        );
        return false;
    }
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(size);
        live.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    let _ = COUNT.try_with(|c| c.set(c.get().saturating_add(1)));
    true
}

fn note_free(size: usize) {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(size)));
    }
}

// SAFETY: every method forwards to `System` with the caller's layout unchanged; the bookkeeping touches only
// const-initialised thread-locals (no allocation, no lock), and a refused allocation returns null as the trait
// allows.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !note_alloc(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `alloc`'s contract for `layout`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !note_alloc(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !note_alloc(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `realloc`'s contract; `ptr` came from `System` with `layout`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if new.is_null() {
            note_free(new_size);
        } else {
            note_free(layout.size());
        }
        new
    }
}

/// What one measured decode did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    /// The decoder's answer: the number of tensors decoded, or its error message.
    pub outcome: Result<usize, String>,
    /// The most bytes live at once during the decode (0 when [`CountingAlloc`] is not installed).
    pub peak: usize,
    /// The largest single allocation.
    pub largest: usize,
    /// The number of allocations.
    pub allocations: usize,
}

/// Runs `f` with counting armed on this thread, from zero.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Measured) {
    LIVE.with(|c| c.set(0));
    PEAK.with(|c| c.set(0));
    LARGEST.with(|c| c.set(0));
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let out = f();
    ARMED.with(|a| a.set(false));
    let measured = Measured {
        outcome: Ok(0),
        peak: PEAK.with(Cell::get),
        largest: LARGEST.with(Cell::get),
        allocations: COUNT.with(Cell::get),
    };
    (out, measured)
}

/// Whether [`CountingAlloc`] is this process's global allocator (it counts an allocation made while armed).
pub fn counting_is_installed() -> bool {
    let (_, m) = measure(|| std::hint::black_box(vec![0u8; 64]));
    m.allocations > 0
}

/// One request decoder, as a server calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decoder {
    /// Seldon v1 REST: a JSON `SeldonMessage` (`ndarray`, `tensor`, `tftensor`, `strData`, ...).
    SeldonJson,
    /// Seldon v1 gRPC: a protobuf `SeldonMessage`.
    SeldonPb,
    /// Seldon v1 gRPC: a protobuf `Feedback` (three messages sharing one budget).
    SeldonFeedbackPb,
    /// V2 REST, JSON body.
    V2Json,
    /// V2 REST with the binary tensor data extension: the input's first 4 bytes (little-endian) are the
    /// `Inference-Header-Content-Length`, the rest is the body.
    V2Binary,
    /// V2 gRPC: a protobuf `ModelInferRequest` (typed contents or `raw_input_contents`).
    V2Pb,
    /// TF Serving REST `:predict` JSON for a model that declares no signature (names and dtypes as sent).
    TfJson,
    /// TF Serving REST `:predict` JSON against a signature `x: DT_DOUBLE [-1, 4]`.
    TfJsonSigned,
    /// TF Serving gRPC `PredictRequest`, no signature.
    TfPb,
    /// TF Serving gRPC `PredictRequest` against the signature `x: DT_DOUBLE [-1, 4]`.
    TfPbSigned,
}

impl Decoder {
    /// Every decoder.
    pub const ALL: [Decoder; 10] = [
        Decoder::SeldonJson,
        Decoder::SeldonPb,
        Decoder::SeldonFeedbackPb,
        Decoder::V2Json,
        Decoder::V2Binary,
        Decoder::V2Pb,
        Decoder::TfJson,
        Decoder::TfJsonSigned,
        Decoder::TfPb,
        Decoder::TfPbSigned,
    ];

    /// A short name (also the cargo-fuzz target's).
    pub fn name(self) -> &'static str {
        match self {
            Decoder::SeldonJson => "seldon_json",
            Decoder::SeldonPb => "seldon_pb",
            Decoder::SeldonFeedbackPb => "seldon_feedback_pb",
            Decoder::V2Json => "v2_json",
            Decoder::V2Binary => "v2_binary",
            Decoder::V2Pb => "v2_pb",
            Decoder::TfJson => "tfserving_json",
            Decoder::TfJsonSigned => "tfserving_json_signed",
            Decoder::TfPb => "tfserving_pb",
            Decoder::TfPbSigned => "tfserving_pb_signed",
        }
    }

    /// Whether the input is a protobuf message (else JSON, or the binary extension's framing).
    pub fn is_protobuf(self) -> bool {
        matches!(
            self,
            Decoder::SeldonPb
                | Decoder::SeldonFeedbackPb
                | Decoder::V2Pb
                | Decoder::TfPb
                | Decoder::TfPbSigned
        )
    }

    /// Decodes `input` as the servers do; the number of tensors decoded, or the error message.
    pub fn decode(self, input: &[u8], limits: &RequestLimits) -> Result<usize, String> {
        let tensors = |m: &SeldonMessage| match &m.payload {
            seldon::Payload::Data(d) => usize::from(d.array.tensor().is_some()),
            _ => 0,
        };
        match self {
            Decoder::SeldonJson => SeldonMessage::from_json(input, limits)
                .map(|m| tensors(&m))
                .map_err(|e| e.to_string()),
            Decoder::SeldonPb => {
                let msg: seldon_pb::SeldonMessage = protobuf(input)?;
                seldon::grpc::from_pb(msg, limits)
                    .map(|m| tensors(&m))
                    .map_err(String::from)
            }
            Decoder::SeldonFeedbackPb => {
                let fb: seldon_pb::Feedback = protobuf(input)?;
                seldon::grpc::feedback_from_pb(fb, limits)
                    .map(|f| {
                        [&f.request, &f.response, &f.truth]
                            .into_iter()
                            .flatten()
                            .map(tensors)
                            .sum()
                    })
                    .map_err(String::from)
            }
            Decoder::V2Json => v2::decode_rest(input, None, limits)
                .map(|d| d.request.inputs.len())
                .map_err(|e| e.to_string()),
            Decoder::V2Binary => {
                let Some((len, body)) = input.split_first_chunk::<4>() else {
                    return Err("shorter than the 4-byte header length".into());
                };
                let header_len = u32::from_le_bytes(*len) as usize;
                v2::decode_rest(body, Some(header_len), limits)
                    .map(|d| d.request.inputs.len())
                    .map_err(|e| e.to_string())
            }
            Decoder::V2Pb => {
                let request: ModelInferRequest = protobuf(input)?;
                v2::decode_grpc(request, limits)
                    .map(|d| d.request.inputs.len())
                    .map_err(|e| e.to_string())
            }
            Decoder::TfJson | Decoder::TfJsonSigned => {
                tfserving::decode_predict(input, &signature(self), limits)
                    .map(|b| b.inputs.len())
                    .map_err(|e| e.to_string())
            }
            Decoder::TfPb | Decoder::TfPbSigned => {
                let request: PredictRequest = protobuf(input)?;
                let inputs: HashMap<_, _> = request.inputs.into_iter().collect();
                tfserving::inputs_from_protos(&inputs, &signature(self), limits)
                    .map(|t| t.len())
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// Decodes a protobuf message as the gRPC servers do: through the codec's guard (`wire_budget`), which refuses a
/// message prost would amplify out of proportion before prost allocates it, then prost.
fn protobuf<U: prost::Message + prost::Name + Default>(input: &[u8]) -> Result<U, String> {
    wire_budget::decode_message(input).map_err(|status| status.message().to_owned())
}

/// The model signature a TF Serving decoder reads against.
fn signature(decoder: Decoder) -> Vec<TensorSpec> {
    match decoder {
        Decoder::TfJsonSigned | Decoder::TfPbSigned => {
            vec![TensorSpec::new("x", DataType::F64, vec![-1, 4])]
        }
        _ => Vec::new(),
    }
}

/// A decode that broke the allocation bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which decoder.
    pub decoder: Decoder,
    /// The input's length.
    pub input_len: usize,
    /// What was measured.
    pub measured: Measured,
    /// The bound it broke.
    pub allowed: usize,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} decoder: a {}-byte input peaked at {} bytes (largest allocation {}), over the bound of {} bytes; \
             outcome {:?}",
            self.decoder.name(),
            self.input_len,
            self.measured.peak,
            self.measured.largest,
            self.allowed,
            self.measured.outcome
        )
    }
}

/// Whether a decoder's fast path agrees with its general reader on `input`: the same message (compared by its
/// `Debug` text, so that `-0.0` and `0.0` differ) or the same error. Seldon JSON has one
/// (`SeldonMessage::from_json` tries `seldon/quick.rs` before serde, `from_json_general` is serde alone), and
/// the message read is written back both ways too (`pyjson::message_to_vec`, direct for the common reply,
/// against `pyjson::to_vec`, serde): the same bytes. V2 JSON has one too (`v2/quick.rs`, also reading the binary
/// extension's JSON header), and the request's tensors are written back as a response by `v2::encode_response`
/// (direct for the common response) and by serde. Every other decoder agrees
/// trivially. `Err` shows both outcomes.
pub fn fast_path_agrees(decoder: Decoder, input: &[u8]) -> Result<(), String> {
    let limits = RequestLimits::from_body_limit(HARNESS_BODY_LIMIT);
    if decoder == Decoder::V2Json {
        return v2_reply_agrees(input, &limits);
    }
    if decoder == Decoder::V2Binary {
        // The JSON header the decoder would read (its length leads the input, as in `Decoder::decode`).
        let Some((len, body)) = input.split_first_chunk::<4>() else {
            return Ok(());
        };
        let header = body
            .get(..u32::from_le_bytes(*len) as usize)
            .unwrap_or(body);
        return v2_request_agrees(header);
    }
    if decoder != Decoder::SeldonJson {
        return Ok(());
    }
    let read = SeldonMessage::from_json(input, &limits);
    let fast = format!("{read:?}");
    let general = format!("{:?}", SeldonMessage::from_json_general(input, &limits));
    if fast != general {
        return Err(format!(
            "the Seldon JSON fast path read {fast}, the general reader {general}"
        ));
    }
    // The message written back: the direct writer of the common reply against serde.
    if let Ok(message) = read {
        let direct = seldon::pyjson::message_to_vec(&message).map_err(|e| e.to_string());
        let serde = seldon::pyjson::to_vec(&message).map_err(|e| e.to_string());
        if direct != serde {
            return Err(format!(
                "the Seldon reply writer wrote {direct:?}, serde {serde:?}"
            ));
        }
    }
    Ok(())
}

/// A V2 request (or binary-extension header) read by the fast path and by serde alone: the same request or the
/// same error.
fn v2_request_agrees(json: &[u8]) -> Result<(), String> {
    let fast = format!("{:?}", v2::InferenceRequest::from_json(json));
    let general = format!("{:?}", v2::InferenceRequest::from_json_general(json));
    if fast == general {
        Ok(())
    } else {
        Err(format!(
            "the V2 JSON fast path read {fast}, serde {general}"
        ))
    }
}

/// A V2 request read by the fast path and by serde alone (`InferenceRequest::from_json` against
/// `from_json_general`: the same request or the same error), then its tensors sent back as a response's outputs (with the request's `id` and `parameters` where
/// they are strings): `v2::encode_response`, which writes the common response directly, against serde.
fn v2_reply_agrees(input: &[u8], limits: &RequestLimits) -> Result<(), String> {
    v2_request_agrees(input)?;
    let Ok(decoded) = v2::decode_rest(input, None, limits) else {
        return Ok(());
    };
    let Ok(mut response) = v2::InferenceResponse::from_outputs(
        "model",
        Some("1"),
        decoded.id.unwrap_or_default(),
        decoded.request.inputs,
    ) else {
        return Ok(());
    };
    response.parameters = Some(decoded.parameters);
    let serde = serde_json::to_vec(&response).map_err(|e| e.to_string());
    let direct = v2::encode_response(response, &v2::BinaryOutputs::none())
        .map(|encoded| encoded.body)
        .map_err(|e| e.to_string());
    match (&direct, &serde) {
        (Ok(d), Ok(s)) if d == s => Ok(()),
        // serde refusing (a BYTES element that is not UTF-8) is refused by the encoder too, with its own words.
        (Err(_), Err(_)) => Ok(()),
        _ => Err(format!(
            "the V2 response writer wrote {:?}, serde {:?}",
            direct.map(|b| String::from_utf8_lossy(&b).into_owned()),
            serde.map(|b| String::from_utf8_lossy(&b).into_owned())
        )),
    }
}

/// Decodes `input` with `decoder` under [`HARNESS_BODY_LIMIT`]'s limits with counting armed; fails when the
/// peak or the largest single allocation exceeds [`allowed_bytes`]. (Without [`CountingAlloc`] installed nothing
/// is counted and only panics are caught by the caller.)
pub fn check(decoder: Decoder, input: &[u8]) -> Result<Measured, Violation> {
    let limits = RequestLimits::from_body_limit(HARNESS_BODY_LIMIT);
    let (outcome, mut measured) = measure(|| decoder.decode(input, &limits));
    measured.outcome = outcome;
    let allowed = allowed_bytes_for(decoder, input.len(), &limits);
    if measured.peak > allowed || measured.largest > allowed {
        return Err(Violation {
            decoder,
            input_len: input.len(),
            measured,
            allowed,
        });
    }
    Ok(measured)
}
