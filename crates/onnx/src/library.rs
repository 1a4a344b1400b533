//! Finding ONNX Runtime's shared library and creating the process's one ort environment.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::OnnxError;
use crate::env::ORT_DYLIB_PATH;

/// The ONNX Runtime version whose C API this crate's `ort` targets (`scripts/fetch-onnxruntime.sh` fetches it).
pub const ONNXRUNTIME_VERSION: &str = "1.31.1";

/// Where to look for `libonnxruntime.so`, in order: `ORT_DYLIB_PATH`, then a `libonnxruntime.so*` beside the
/// running executable, then `fallback` (tests pass the repo's `.onnxruntime/`).
pub fn find_library(fallback: Option<&Path>) -> Result<PathBuf, OnnxError> {
    let mut tried = Vec::new();
    if let Some(path) = std::env::var_os(ORT_DYLIB_PATH).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        return Err(OnnxError::LibraryNotFound {
            tried: format!("{ORT_DYLIB_PATH}={} (no such file)", path.display()),
        });
    }
    tried.push(format!("{ORT_DYLIB_PATH} (unset)"));
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    for dir in exe_dir.iter().map(PathBuf::as_path).chain(fallback) {
        if let Some(found) = library_in(dir) {
            return Ok(found);
        }
        tried.push(format!("{}/libonnxruntime.so*", dir.display()));
    }
    Err(OnnxError::LibraryNotFound {
        tried: tried.join(", "),
    })
}

/// `libonnxruntime.so.<ONNXRUNTIME_VERSION>`, else `libonnxruntime.so`, else any `libonnxruntime.so.*` in `dir`.
fn library_in(dir: &Path) -> Option<PathBuf> {
    let exact = [
        format!("libonnxruntime.so.{ONNXRUNTIME_VERSION}"),
        "libonnxruntime.so".to_owned(),
    ];
    if let Some(found) = exact.iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
        return Some(found);
    }
    let mut others: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libonnxruntime.so."))
        })
        .collect();
    others.sort();
    others.pop()
}

static ENVIRONMENT: OnceLock<Result<Environment, OnnxError>> = OnceLock::new();

/// The process's ort environment, created on first use from the library [`find_library`] finds; ONNX Runtime
/// allows one environment per process, so a failure is remembered and returned to every later caller too.
pub fn environment(fallback: Option<&Path>) -> Result<&'static Environment, OnnxError> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = find_library(fallback)?;
            let builder = ort::init_from(&path).map_err(|e| OnnxError::LibraryLoad {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let env = builder
                .with_name("oxserve")
                .build()
                .map_err(|e| OnnxError::LibraryLoad {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            tracing::info!(library = %path.display(), "ONNX Runtime loaded");
            Ok(env)
        })
        .as_ref()
        .map_err(Clone::clone)
}
