//! The reader's error type.

/// Why a pickle or joblib file could not be read.
///
/// Offsets are byte offsets into the pickle stream — after decompression when the file is compressed — and `opcode`
/// is the name of the pickle opcode being executed (as in Python's `pickletools`), or a pseudo-opcode such as
/// `array data` for joblib's raw array bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PickleError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The input is empty.
    #[error("empty input: not a pickle or joblib file")]
    Empty,
    /// The stream ended in the middle of an opcode or before `STOP`.
    #[error(
        "truncated pickle: {opcode} at byte {offset} needs {needed} more bytes, {available} left"
    )]
    Truncated {
        /// Where the opcode starts.
        offset: usize,
        /// The opcode.
        opcode: &'static str,
        /// Bytes the opcode needed.
        needed: u64,
        /// Bytes left in the stream.
        available: usize,
    },
    /// A byte that is not a pickle opcode.
    #[error("unknown pickle opcode 0x{byte:02x} at byte {offset}")]
    UnknownOpcode {
        /// Where it is.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// A `GLOBAL`/`STACK_GLOBAL`/`INST` naming something outside the allowlist.
    #[error("forbidden global {global} ({opcode} at byte {offset})")]
    ForbiddenGlobal {
        /// Where the opcode starts.
        offset: usize,
        /// The opcode.
        opcode: &'static str,
        /// `module.name` as written in the file.
        global: String,
    },
    /// A feature of the pickle format this reader refuses (persistent ids, extension registry, out-of-band
    /// buffers, a protocol above 5, ...).
    #[error("unsupported: {what} ({opcode} at byte {offset})")]
    Unsupported {
        /// Where the opcode starts.
        offset: usize,
        /// The opcode.
        opcode: &'static str,
        /// What was refused.
        what: String,
    },
    /// The opcode's operands do not make sense (wrong types, stack underflow, unknown memo key, bad array state...).
    #[error("malformed pickle: {what} ({opcode} at byte {offset})")]
    Malformed {
        /// Where the opcode starts.
        offset: usize,
        /// The opcode.
        opcode: &'static str,
        /// What is wrong.
        what: String,
    },
    /// A resource limit was hit (nesting depth, stack or memo size, output size, nested pickles).
    #[error("limit exceeded: {what} (limit {limit}; {opcode} at byte {offset})")]
    Limit {
        /// Where the opcode starts.
        offset: usize,
        /// The opcode.
        opcode: &'static str,
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
    /// A compressed container could not be decompressed.
    #[error("cannot decompress {format} container: {what}")]
    Decompress {
        /// `zlib`, `gzip`, `bz2`, `lzma`, `xz` or `lz4`.
        format: &'static str,
        /// The decoder's complaint.
        what: String,
    },
    /// A compressed container decompresses to more than the part of [`crate::Limits::max_memory_bytes`] left for
    /// it (the budget less the compressed file itself and the decoder's own memory).
    #[error(
        "{format} container decompresses to more than {limit} bytes (model memory budget of {budget} bytes)"
    )]
    DecompressedTooLarge {
        /// The container format.
        format: &'static str,
        /// The most bytes the decompressed stream could have.
        limit: u64,
        /// The whole budget.
        budget: u64,
    },
    /// Reading the file would hold more memory than [`crate::Limits::max_memory_bytes`] allows: checked before the
    /// buffer is allocated.
    #[error(
        "model memory budget of {budget} bytes exceeded: {what} needs {needed} bytes, {used} already in use"
    )]
    MemoryBudget {
        /// What needed the memory (with the opcode and offset when the VM asked).
        what: String,
        /// The bytes it needed.
        needed: u64,
        /// The bytes already charged.
        used: u64,
        /// The budget.
        budget: u64,
    },
    /// A side file of joblib ≤ 0.9 (an `NDArrayWrapper`'s `.npy` array beside the model) is missing, unreadable,
    /// malformed, or named outside the model's folder.
    #[error("joblib side file {file}: {what}")]
    SideFile {
        /// The file name the pickle gives.
        file: String,
        /// What is wrong.
        what: String,
    },
    /// The file is not a pickle or joblib file but another format recognised by its first bytes (a ZIP archive
    /// such as a PyTorch checkpoint or `.npz`, a `.npy` array, a 7z archive, ...).
    #[error("not a pickle or joblib file: {what}")]
    NotPickle {
        /// What the file looks like.
        what: &'static str,
    },
    /// A skops file (a zip of `schema.json` and `.npy` arrays) is malformed, names a type off the allowlist, or
    /// uses a node this reader does not build.
    #[error("skops file: {what}")]
    Skops {
        /// What is wrong.
        what: String,
    },
}
