//! Feeds arbitrary bytes to `oxserve_pickle::loads_with`: any outcome but a panic, an abort, a leak or an
//! out-of-memory is fine. Limits are tightened so that libFuzzer's 2 GiB RSS cap flags real bugs only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxserve_pickle::{Limits, loads_with};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_memory_bytes: 64 << 20,
        min_budget_bytes: 16 << 20,
        max_budget_bytes: 256 << 20,
        ..Limits::default()
    };
    let _ = loads_with(data, &limits);
});
