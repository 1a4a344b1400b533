//! A safe reader for Python pickles and joblib files.
//!
//! It runs a pickle VM for protocols 0–5 that builds a [`Value`] tree and resolves `GLOBAL`/`STACK_GLOBAL` only
//! against an allowlist (numpy's array and dtype helpers, joblib's array wrapper, a few builtins, scikit-learn
//! classes, and the XGBoost / LightGBM scikit-learn wrappers and boosters). It never executes anything: objects are inert records of their class, arguments and state; numpy
//! arrays are decoded into typed buffers in C order and native byte order.
//!
//! Every size read from the input is checked against the bytes that remain before anything is allocated, and the
//! work done and the tree produced are bounded by [`Limits`], so a hostile file ends in a [`PickleError`], never in
//! a panic, an abort or an unbounded allocation. One memory budget ([`Limits::max_memory_bytes`], by default half
//! of the container's memory limit) is charged with the file, its decompressed stream, the decoder's dictionary,
//! every decoded array and every copy made, each before it is allocated.

mod budget;
mod compress;
mod error;
mod globals;
mod joblib;
mod numpy;
mod sklearn_estimators;
mod skops;
mod value;
mod vm;

pub use budget::{default_memory_budget, memory_budget_from};
pub use error::PickleError;
pub use skops::{load_skops, load_skops_file};
pub use value::{ArrayData, ArrayError, Dtype, NdArray, Object, QualName, RecordField, Value};

use std::borrow::Cow;
use std::path::Path;

use budget::Meter;

/// Resource limits for one read. [`Limits::default`] suits any scikit-learn model; tests and servers that take
/// untrusted uploads may tighten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The deepest nesting allowed: open `MARK`s during the VM and container depth of the produced tree.
    /// Python's own pickler cannot write objects nested deeper than its recursion limit (1000).
    pub max_depth: usize,
    /// The most items on the VM stack at once.
    pub max_stack: usize,
    /// The most memo entries.
    pub max_memo: usize,
    /// The model memory budget: the most bytes one read may hold at once, counted across the file's bytes, the
    /// decompressed stream, the xz/lzma decoder's dictionary, every decoded array (values widened to 64 bits) and
    /// every copy the VM and the tree builder make, each charged before it is allocated. Default:
    /// [`default_memory_budget`] (half of the container's memory limit).
    pub max_memory_bytes: u64,
    /// The memory budget, in approximate bytes, of the VM's working set and (separately) of the produced tree, as
    /// a multiple of the (decompressed) input size …
    pub budget_per_input_byte: u64,
    /// … but never less than this …
    pub min_budget_bytes: u64,
    /// … and never more than this. Shared references (memo `GET`s) are copied into the tree, so this is what
    /// stops a small file from expanding into a huge tree.
    pub max_budget_bytes: u64,
    /// How deep joblib's embedded pickles (object arrays) may nest.
    pub max_nested_pickles: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 1000,
            max_stack: 1 << 20,
            max_memo: 1 << 24,
            max_memory_bytes: default_memory_budget(),
            budget_per_input_byte: 64,
            min_budget_bytes: 64 << 20,
            max_budget_bytes: 64 << 30,
            max_nested_pickles: 4,
        }
    }
}

impl Limits {
    /// The memory budget for an input of `len` bytes.
    pub(crate) fn budget_for(&self, len: usize) -> u64 {
        (len as u64)
            .saturating_mul(self.budget_per_input_byte)
            .max(self.min_budget_bytes)
            .min(self.max_budget_bytes)
    }
}

/// Reads a joblib or pickle file (compressed or not) into a value tree, with the default [`Limits`].
pub fn load_file(path: &Path) -> Result<Value, PickleError> {
    load_file_with(path, &Limits::default())
}

/// Reads a joblib or pickle file (compressed or not) into a value tree.
///
/// The file's size is checked against [`Limits::max_memory_bytes`] before it is read, and a compressed file's bytes
/// are freed (and returned to the budget) once it is decompressed.
pub fn load_file_with(path: &Path, limits: &Limits) -> Result<Value, PickleError> {
    let io = |source| PickleError::Io {
        path: path.display().to_string(),
        source,
    };
    let meter = Meter::new(limits.max_memory_bytes);
    let size = std::fs::metadata(path).map_err(io)?.len();
    meter.charge(size, || format!("the file {}", path.display()))?;
    let bytes = std::fs::read(path).map_err(io)?;
    // A file that grew since `metadata`: charge the difference.
    meter.charge((bytes.len() as u64).saturating_sub(size), || {
        format!("the file {}", path.display())
    })?;
    sniff(&bytes)?;
    let stream = match compress::decompress(&bytes, &meter)? {
        Cow::Borrowed(_) => None,
        Cow::Owned(stream) => Some(stream),
    };
    let dir = path.parent();
    match stream {
        None => joblib::load_stream(&bytes, limits, &meter, dir),
        Some(stream) => {
            meter.release(bytes.len() as u64);
            drop(bytes);
            joblib::load_stream(&stream, limits, &meter, dir)
        }
    }
}

/// Reads joblib or pickle bytes (compressed or not) into a value tree, with the default [`Limits`].
///
/// The container is recognised by its first bytes: a bare pickle (`80 0N`, or a protocol 0/1 opcode), zlib, gzip,
/// bz2, lzma ("alone"), xz or lz4 frame. joblib's `NumpyArrayWrapper` arrays are read from the raw bytes that
/// follow their `BUILD` and replace the wrapper in the tree; plain pickles of numpy arrays (`_reconstruct`,
/// `_frombuffer`, `scalar`) are decoded too. Bytes after `STOP` are ignored, as Python does.
///
/// ```
/// use oxserve_pickle::{PickleError, Value, loads};
///
/// // pickle.dumps([1, 2], protocol=2)
/// let v = loads(b"\x80\x02]q\x00(K\x01K\x02e.")?;
/// assert_eq!(v, Value::List(vec![Value::Int(1), Value::Int(2)]));
///
/// // pickle.dumps of a call to os.system is refused, never run.
/// let e = loads(b"cos\nsystem\n(S'echo hi'\ntR.").unwrap_err();
/// assert!(matches!(e, PickleError::ForbiddenGlobal { .. }));
/// assert_eq!(e.to_string(), "forbidden global os.system (GLOBAL at byte 0)");
/// # Ok::<(), PickleError>(())
/// ```
pub fn loads(bytes: &[u8]) -> Result<Value, PickleError> {
    loads_with(bytes, &Limits::default())
}

/// [`loads`] with explicit [`Limits`]. `bytes` are charged to the memory budget as well.
pub fn loads_with(bytes: &[u8], limits: &Limits) -> Result<Value, PickleError> {
    let meter = Meter::new(limits.max_memory_bytes);
    meter.charge(bytes.len() as u64, || "the input".to_string())?;
    sniff(bytes)?;
    let stream = compress::decompress(bytes, &meter)?;
    joblib::load_stream(&stream, limits, &meter, None)
}

/// Whether a pickle may name the global `module.name` (as written in the file: `GLOBAL`'s two lines,
/// `STACK_GLOBAL`'s two strings). Everything else is refused with [`PickleError::ForbiddenGlobal`].
pub fn is_allowed_global(module: &str, name: &str) -> bool {
    globals::resolve(module, name).is_some()
}

/// Refuses files that are not pickles but another format with a well-known signature, naming it, rather than
/// failing on their first byte as a pickle opcode.
fn sniff(bytes: &[u8]) -> Result<(), PickleError> {
    let what = match bytes {
        [b'P', b'K', 0x03, 0x04, ..] | [b'P', b'K', 0x05, 0x06, ..] => {
            "a ZIP archive (a PyTorch .pt/.pth/.bin checkpoint, a NumPy .npz or a zipped folder), not a model \
             saved with joblib.dump or pickle.dump"
        }
        [0x93, b'N', b'U', b'M', b'P', b'Y', ..] => {
            "a NumPy .npy array (numpy.save), not a pickled model"
        }
        [b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c, ..] => "a 7z archive; extract it first",
        [0x89, b'H', b'D', b'F', b'\r', b'\n', 0x1a, b'\n', ..] => {
            "an HDF5 file (a Keras .h5 model?)"
        }
        _ if bytes.len() > 262 && bytes.get(257..262) == Some(b"ustar") => {
            "a tar archive; extract it into the model folder first"
        }
        _ => return Ok(()),
    };
    Err(PickleError::NotPickle { what })
}
