//! `Decoder::V2Json` under the counting allocator: any outcome but a panic, an abort, an allocation over the
//! harness bound (`oxserve_protocol_fuzz_harness::allowed_bytes`) or a fast-path read that differs from serde's
//! (`fast_path_agrees`) is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxserve_protocol_fuzz_harness::{CountingAlloc, Decoder, check, fast_path_agrees};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = check(Decoder::V2Json, data) {
        panic!("{violation}");
    }
    if let Err(disagreement) = fast_path_agrees(Decoder::V2Json, data) {
        panic!("{disagreement}");
    }
});
