//! The global allocator of every oxserve server binary: [mimalloc](https://github.com/microsoft/mimalloc).
//!
//! Why not glibc's malloc (measured, README "Memory"): a model's many small allocations (a forest's nodes) stay
//! in glibc's heap after the model is unloaded, so the V2 model repository's unload gave nothing back to the OS
//! (RSS 39.6 → 69.9 → 69.9 MiB for a 150-tree forest), and `malloc_trim` needs `unsafe`, which the workspace
//! forbids. mimalloc returns freed pages to the OS on its own (its purge delay). Its default of reserving
//! arenas 1 GiB at a time and committing them eagerly made idle RSS worse (a static release sklearn-server on
//! iris: 35.9 MB, glibc 16.0 MB), so the repo compiles it with 16 MiB arenas committed as they are used
//! (`.cargo/config.toml`: `MI_DEFAULT_ARENA_RESERVE=16384` KiB, `MI_DEFAULT_ARENA_EAGER_COMMIT=0`; 10.0 MB idle),
//! and objects over 8 MiB straight from the OS (`MI_DEFAULT_ARENA_MAX_OBJECT_SIZE=8192`), so a freed large buffer
//! goes back at once instead of after the arena's purge delay: a decompression bomb's doubling buffer otherwise
//! kept its freed halves resident (peak RSS 1.01 GB against the 1 GB that `servers/sklearn/tests/model_memory.rs`
//! allows; 0.57 GB with this).
//! Not with no arena at all (`MI_DEFAULT_ARENA_RESERVE=0`, this crate's setting until #20's profile): RSS is the
//! same, but every fresh mimalloc page then comes from `mmap` and goes back with `munmap` as soon as it empties,
//! so a heap whose live size hovers at a page boundary pays syscalls and page faults per request. Under gRPC load
//! that was 120 `munmap`s a second; once HTTP/2 replies were coalesced (more requests' buffers alive at once) it
//! was 20k `munmap`s and 27k page faults a second, which ate the coalescing's gain (75k → 72k req/s instead of
//! 113k).
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
