//! The global allocator of every oxserve server binary: [mimalloc](https://github.com/microsoft/mimalloc).
//!
//! Why not glibc's malloc (measured, README "Memory"): a model's many small allocations (a forest's nodes) stay
//! in glibc's heap after the model is unloaded, so the V2 model repository's unload gave nothing back to the OS
//! (RSS 39.6 → 69.9 → 69.9 MiB for a 150-tree forest), and `malloc_trim` needs `unsafe`, which the workspace
//! forbids. mimalloc returns freed pages to the OS on its own (its purge delay), keeps idle RSS and start-up
//! as low or lower, and adds little code to the static images.
//!
//! A binary opts in with one line in its `main.rs`, `use oxserve_alloc as _;` (a library never sets the global
//! allocator, so test binaries and the fuzz harness keep theirs). The features `system` and `jemalloc` exist
//! to measure the alternatives (`scripts/bench-startup.sh` with `ALLOC=…`); no shipped build enables them.

#[cfg(not(any(feature = "system", feature = "jemalloc")))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(feature = "jemalloc", not(feature = "system")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
