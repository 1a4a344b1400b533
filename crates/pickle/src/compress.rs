//! joblib's compressed containers, recognised by their magic bytes and decompressed by pure-Rust streaming decoders
//! under the model memory budget, so a decompression bomb is an error rather than an out-of-memory kill.

use std::borrow::Cow;
use std::io::{self, Read};

use crate::PickleError;
use crate::budget::Meter;

/// A container format joblib can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    /// A bare pickle stream.
    Raw,
    /// `compress=3` / `("zlib", n)`: a zlib stream.
    Zlib,
    /// `("gzip", n)`.
    Gzip,
    /// `("bz2", n)`.
    Bz2,
    /// `("lzma", n)`: the legacy "lzma alone" format.
    Lzma,
    /// `("xz", n)`.
    Xz,
    /// `("lz4", n)`: an lz4 frame.
    Lz4,
    /// joblib ≤ 0.9's compressed format (a "Z-file"): `ZF`, the payload's length in hex padded to 19 bytes, then
    /// a zlib stream.
    Zfile,
}

impl Container {
    fn name(self) -> &'static str {
        match self {
            Container::Raw => "raw",
            Container::Zlib => "zlib",
            Container::Gzip => "gzip",
            Container::Bz2 => "bz2",
            Container::Lzma => "lzma",
            Container::Xz => "xz",
            Container::Lz4 => "lz4",
            Container::Zfile => "joblib <= 0.9 zfile",
        }
    }
}

/// Which container `bytes` is, from its first bytes. No pickle starts with one of these magics: `0x78`, `0x1f`,
/// `0xfd` and `0x04` are not opcodes, and `]` (`EMPTY_LIST`) followed by `0x00` (not an opcode) or `B` (`BINBYTES`)
/// as a pickle's first opcode would not be written by Python, which starts protocol 2+ streams with `PROTO`.
pub(crate) fn detect(bytes: &[u8]) -> Container {
    match bytes {
        [0x78, b1, ..] if (0x7800u16 | u16::from(*b1)).is_multiple_of(31) => Container::Zlib,
        [0x1f, 0x8b, ..] => Container::Gzip,
        [b'B', b'Z', b'h', ..] => Container::Bz2,
        [0x5d, 0x00, 0x00, ..] => Container::Lzma,
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Container::Xz,
        [0x04, 0x22, 0x4d, 0x18, ..] => Container::Lz4,
        [b'Z', b'F', ..] => Container::Zfile,
        _ => Container::Raw,
    }
}

/// What a decoder other than xz/lzma may hold besides its output (bz2's 900 kB block tables, lz4's 4 MiB blocks,
/// zlib's window), charged to the budget while it runs.
const DECODER_MEMORY: u64 = 16 << 20;
/// The largest dictionary an xz/lzma decoder is allowed, whatever the budget: xz's own maximum (1.5 GiB), far
/// above the 64 MiB of `xz -9` or joblib's `("xz", 9)`.
const MAX_DICTIONARY: u64 = 1536 << 20;

/// The pickle stream inside `bytes`: borrowed when the input is a bare pickle, decompressed otherwise.
///
/// The decoder's own memory and its output are charged to `meter`: the output may use what the budget has left
/// after the input and the decoder, and is refused as soon as it would pass that (the decoders stream: no block is
/// decoded whole before the cap applies). The decoder's memory is returned to the budget when it is done.
pub(crate) fn decompress<'a>(bytes: &'a [u8], meter: &Meter) -> Result<Cow<'a, [u8]>, PickleError> {
    if bytes.is_empty() {
        return Err(PickleError::Empty);
    }
    let format = detect(bytes);
    let failed = |e: String| PickleError::Decompress {
        format: format.name(),
        what: e,
    };
    if format == Container::Raw {
        return Ok(Cow::Borrowed(bytes));
    }
    // xz and lzma size their dictionary from the header: give them at most a quarter of what is left.
    let decoder_memory = match format {
        Container::Lzma | Container::Xz => (meter.left() / 4).min(MAX_DICTIONARY),
        _ => DECODER_MEMORY.min(meter.left() / 4),
    };
    meter.charge(decoder_memory, || format!("the {} decoder", format.name()))?;
    let limit = meter.left();
    let dictionary_kb = u32::try_from(decoder_memory / 1024).unwrap_or(u32::MAX - 1);
    let out = match format {
        Container::Raw => Ok(Vec::new()),
        Container::Zlib => read_capped(flate2::read::ZlibDecoder::new(bytes), limit),
        Container::Gzip => read_capped(flate2::read::MultiGzDecoder::new(bytes), limit),
        Container::Bz2 => read_capped(bzip2::read::MultiBzDecoder::new(bytes), limit),
        Container::Lz4 => read_capped(lz4_flex::frame::FrameDecoder::new(bytes), limit),
        Container::Zfile => match zfile_payload(bytes) {
            Some(z) => read_capped(flate2::read::ZlibDecoder::new(z), limit),
            None => Err(Capped::Failed("truncated ZF header".into())),
        },
        Container::Xz => read_capped(
            lzma_rust2::XzReader::new_mem_limit(bytes, true, dictionary_kb),
            limit,
        ),
        Container::Lzma => {
            match lzma_rust2::LzmaReader::new_mem_limit(bytes, dictionary_kb, None) {
                Ok(reader) => read_capped(reader, limit),
                Err(e) => Err(Capped::from_io(&e)),
            }
        }
    };
    meter.release(decoder_memory);
    match out {
        Ok(buf) if buf.is_empty() => Err(failed("empty payload".into())),
        Ok(buf) => {
            meter.charge(buf.len() as u64, || {
                format!("the decompressed {} stream", format.name())
            })?;
            Ok(Cow::Owned(buf))
        }
        Err(Capped::TooLarge) => Err(PickleError::DecompressedTooLarge {
            format: format.name(),
            limit,
            budget: meter.budget(),
        }),
        Err(Capped::DictionaryTooLarge) => Err(PickleError::MemoryBudget {
            what: format!(
                "the {} decoder's dictionary (more than the {decoder_memory} bytes allowed)",
                format.name()
            ),
            needed: decoder_memory.saturating_add(1),
            used: meter.budget().saturating_sub(meter.left()),
            budget: meter.budget(),
        }),
        Err(Capped::Failed(e)) => Err(failed(e)),
    }
}

/// The zlib stream of a joblib ≤ 0.9 Z-file (`numpy_pickle_compat.read_zfile`): after `ZF` and the 19-byte
/// length field, and after one more space that joblib ≤ 0.8.4 wrote (a zlib stream never starts with a space).
pub(crate) fn zfile_payload(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(b"ZF")?.get(19..)?;
    Some(rest.strip_prefix(b" ").unwrap_or(rest))
}

enum Capped {
    TooLarge,
    DictionaryTooLarge,
    Failed(String),
}

impl Capped {
    fn from_io(e: &io::Error) -> Capped {
        if e.kind() == io::ErrorKind::OutOfMemory {
            Capped::DictionaryTooLarge
        } else {
            Capped::Failed(e.to_string())
        }
    }
}

/// Reads all of `reader`, failing once more than `limit` bytes came out (so at most `limit + 1` are ever held).
fn read_capped(reader: impl Read, limit: u64) -> Result<Vec<u8>, Capped> {
    let mut buf = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| Capped::from_io(&e))?;
    if buf.len() as u64 > limit {
        return Err(Capped::TooLarge);
    }
    Ok(buf)
}
