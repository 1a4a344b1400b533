//! joblib's compressed containers, recognised by their magic bytes and decompressed by pure-Rust decoders under
//! a size cap, so a decompression bomb is an error rather than an out-of-memory kill.

use std::borrow::Cow;
use std::io::{self, Read, Write};

use crate::{Limits, PickleError};

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
        _ => Container::Raw,
    }
}

/// The pickle stream inside `bytes`: borrowed when the input is a bare pickle, decompressed otherwise.
pub(crate) fn decompress<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<Cow<'a, [u8]>, PickleError> {
    if bytes.is_empty() {
        return Err(PickleError::Empty);
    }
    let format = detect(bytes);
    let limit = limits.max_decompressed_bytes;
    let too_large = || PickleError::DecompressedTooLarge {
        format: format.name(),
        limit,
    };
    let failed = |e: String| PickleError::Decompress {
        format: format.name(),
        what: e,
    };
    let out = match format {
        Container::Raw => return Ok(Cow::Borrowed(bytes)),
        Container::Zlib => read_capped(flate2::read::ZlibDecoder::new(bytes), limit),
        Container::Gzip => read_capped(flate2::read::MultiGzDecoder::new(bytes), limit),
        Container::Bz2 => read_capped(bzip2::read::MultiBzDecoder::new(bytes), limit),
        Container::Lz4 => read_capped(lz4_flex::frame::FrameDecoder::new(bytes), limit),
        Container::Lzma | Container::Xz => {
            let mut sink = CappedWriter {
                buf: Vec::new(),
                limit,
                exceeded: false,
            };
            let mut input = io::BufReader::new(bytes);
            let result = if format == Container::Lzma {
                let options = lzma_rs::decompress::Options {
                    unpacked_size: lzma_rs::decompress::UnpackedSize::ReadFromHeader,
                    memlimit: Some(usize::try_from(limit).unwrap_or(usize::MAX)),
                    allow_incomplete: false,
                };
                lzma_rs::lzma_decompress_with_options(&mut input, &mut sink, &options)
            } else {
                lzma_rs::xz_decompress(&mut input, &mut sink)
            };
            match result {
                Ok(()) => Ok(sink.buf),
                Err(_) if sink.exceeded => Err(Capped::TooLarge),
                Err(e) => Err(Capped::Failed(e.to_string())),
            }
        }
    };
    match out {
        Ok(buf) if buf.is_empty() => Err(failed("empty payload".into())),
        Ok(buf) => Ok(Cow::Owned(buf)),
        Err(Capped::TooLarge) => Err(too_large()),
        Err(Capped::Failed(e)) => Err(failed(e)),
    }
}

enum Capped {
    TooLarge,
    Failed(String),
}

/// Reads all of `reader`, failing once more than `limit` bytes came out.
fn read_capped(reader: impl Read, limit: u64) -> Result<Vec<u8>, Capped> {
    let mut buf = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| Capped::Failed(e.to_string()))?;
    if buf.len() as u64 > limit {
        return Err(Capped::TooLarge);
    }
    Ok(buf)
}

/// A `Write` sink that refuses to grow past `limit` bytes.
struct CappedWriter {
    buf: Vec<u8>,
    limit: u64,
    exceeded: bool,
}

impl Write for CappedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let total = (self.buf.len() as u64).saturating_add(data.len() as u64);
        if total > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
