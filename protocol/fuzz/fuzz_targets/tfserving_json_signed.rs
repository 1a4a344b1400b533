//! `Decoder::TfJsonSigned` under the counting allocator: any outcome but a panic, an abort or an allocation over the
//! harness bound (`oxserve_protocol_fuzz_harness::allowed_bytes`) is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxserve_protocol_fuzz_harness::{CountingAlloc, Decoder, check};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = check(Decoder::TfJsonSigned, data) {
        panic!("{violation}");
    }
});
