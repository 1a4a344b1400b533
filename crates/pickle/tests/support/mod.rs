//! Test support shared by the pickle crate's tests and, through `#[path]`, the servers' tests: a tiny pickle
//! writer and builders of decompression and array bombs in every container joblib writes. The bombs are built
//! in memory from a few compressed segments repeated (or, for lzma and xz, a hand-written LZMA encoder of
//! zeros), so a 10 GiB bomb takes milliseconds to make and no big file is committed.
#![allow(dead_code)]

use std::io::Write;

/// A tiny pickle writer for hand-built streams.
#[derive(Default)]
pub(crate) struct P(pub(crate) Vec<u8>);

impl P {
    pub(crate) fn proto(v: u8) -> P {
        P(vec![0x80, v])
    }
    pub(crate) fn op(mut self, bytes: &[u8]) -> P {
        self.0.extend_from_slice(bytes);
        self
    }
    pub(crate) fn str(mut self, s: &str) -> P {
        self.0.push(0x8c);
        self.0.push(u8::try_from(s.len()).expect("short string"));
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    pub(crate) fn global(self, module: &str, name: &str) -> P {
        self.str(module).str(name).op(&[0x93])
    }
    pub(crate) fn int(mut self, v: i64) -> P {
        // LONG1 with 8 bytes covers every i64.
        self.0.extend_from_slice(&[0x8a, 8]);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// `numpy.dtype(code, False, True)` with the usual version-3 state.
    pub(crate) fn dtype(self, code: &str) -> P {
        self.global("numpy", "dtype")
            .str(code)
            .op(&[0x89, 0x88, 0x87, b'R', b'('])
            .int(3)
            .str("<")
            .op(b"NNN")
            .int(-1)
            .int(-1)
            .int(0)
            .op(b"tb")
    }
    /// A joblib `NumpyArrayWrapper` header for `shape` and `code`, up to and including its `BUILD`.
    pub(crate) fn wrapper(self, shape: &[i64], code: &str) -> P {
        self.wrapper_in(shape, code, "C")
    }
    /// [`P::wrapper`] with the array's `order` (`C` or `F`).
    pub(crate) fn wrapper_in(self, shape: &[i64], code: &str, order: &str) -> P {
        let mut p = self
            .global("joblib.numpy_pickle", "NumpyArrayWrapper")
            .op(&[b')', 0x81, b'}', b'('])
            .str("subclass")
            .global("numpy", "ndarray")
            .str("shape")
            .op(b"(");
        for &d in shape {
            p = p.int(d);
        }
        p.op(b"t")
            .str("order")
            .str(order)
            .str("dtype")
            .dtype(code)
            .str("allow_mmap")
            .op(&[0x89])
            .op(b"ub")
    }
    pub(crate) fn stop(self) -> Vec<u8> {
        self.op(b".").0
    }
}

/// The peak resident set (`VmHWM`) of process `pid` (this process when `None`), in bytes, where /proc can tell.
pub(crate) fn peak_rss(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_string(),
    };
    let kb = std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

/// A compression container joblib can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Zlib,
    Gzip,
    Bz2,
    Lz4,
    Lzma,
    Xz,
}

impl Codec {
    pub(crate) const ALL: [Codec; 6] = [
        Codec::Zlib,
        Codec::Gzip,
        Codec::Bz2,
        Codec::Lz4,
        Codec::Lzma,
        Codec::Xz,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Codec::Zlib => "zlib",
            Codec::Gzip => "gzip",
            Codec::Bz2 => "bz2",
            Codec::Lz4 => "lz4",
            Codec::Lzma => "lzma",
            Codec::Xz => "xz",
        }
    }
}

/// How many zeros one repeated segment holds.
const SEGMENT: usize = 1 << 20;

/// `prefix`, then `zeros` zero bytes, then `suffix`, compressed in `codec`'s container. lzma and xz take no
/// prefix or suffix (their bombs are zeros only).
pub(crate) fn compress(codec: Codec, prefix: &[u8], zeros: u64, suffix: &[u8]) -> Vec<u8> {
    match codec {
        Codec::Zlib => zlib(prefix, zeros, suffix),
        Codec::Gzip => gzip(prefix, zeros, suffix),
        Codec::Bz2 => bz2(prefix, zeros, suffix),
        Codec::Lz4 => lz4(prefix, zeros, suffix),
        Codec::Lzma => {
            assert!(
                prefix.is_empty() && suffix.is_empty(),
                "lzma bombs are zeros only"
            );
            lzma_alone(zeros)
        }
        Codec::Xz => {
            assert!(
                prefix.is_empty() && suffix.is_empty(),
                "xz bombs are zeros only"
            );
            xz(zeros)
        }
    }
}

/// A decompression bomb: `zeros` zero bytes in `codec`'s container.
pub(crate) fn bomb(codec: Codec, zeros: u64) -> Vec<u8> {
    compress(codec, &[], zeros, &[])
}

/// A joblib file (pickle protocol 4) holding one zero-filled array of `shape` and `dtype`, in `order` (`C`/`F`),
/// compressed with `codec` (zlib, gzip, bz2 or lz4).
pub(crate) fn joblib_zero_array(
    codec: Codec,
    shape: &[i64],
    dtype: &str,
    order: &str,
    itemsize: u64,
) -> Vec<u8> {
    let header = P::proto(4).wrapper_in(shape, dtype, order).0;
    let count: u64 = shape.iter().map(|&d| d as u64).product();
    compress(codec, &header, count * itemsize, b".")
}

/// The calls of `f` on every run of segments (the full ones, then the rest).
fn for_zero_runs(zeros: u64, mut f: impl FnMut(usize)) {
    let mut left = zeros;
    while left > 0 {
        let n = left.min(SEGMENT as u64) as usize;
        f(n);
        left -= n as u64;
    }
}

/// Raw deflate of `data` by a fresh encoder, ending byte-aligned (sync flush) or with the final block.
fn deflate(data: &[u8], last: bool) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).expect("deflate");
    if last {
        e.finish().expect("deflate")
    } else {
        e.flush().expect("deflate");
        e.get_ref().clone()
    }
}

/// The deflate stream of prefix + zeros + suffix: independently compressed, byte-aligned segments (each from a
/// fresh encoder, so no back-reference crosses a segment), the zero segment repeated.
fn deflate_stream(prefix: &[u8], zeros: u64, suffix: &[u8]) -> Vec<u8> {
    let full = deflate(&vec![0u8; SEGMENT], false);
    let mut out = deflate(prefix, false);
    for_zero_runs(zeros, |n| {
        if n == SEGMENT {
            out.extend_from_slice(&full);
        } else {
            out.extend(deflate(&vec![0u8; n], false));
        }
    });
    out.extend(deflate(suffix, true));
    out
}

fn zlib(prefix: &[u8], zeros: u64, suffix: &[u8]) -> Vec<u8> {
    // Adler-32 of prefix + zeros + suffix: a run of zeros leaves `a` alone and adds `a` to `b` per byte.
    const M: u64 = 65521;
    let (mut a, mut b) = (1u64, 0u64);
    let feed = |bytes: &[u8], a: &mut u64, b: &mut u64| {
        for &x in bytes {
            *a = (*a + u64::from(x)) % M;
            *b = (*b + *a) % M;
        }
    };
    feed(prefix, &mut a, &mut b);
    b = (b + a * (zeros % M)) % M;
    feed(suffix, &mut a, &mut b);
    let mut out = vec![0x78, 0xda];
    out.extend(deflate_stream(prefix, zeros, suffix));
    out.extend_from_slice(&(((b << 16) | a) as u32).to_be_bytes());
    out
}

fn gzip(prefix: &[u8], zeros: u64, suffix: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(prefix);
    let mut segment = flate2::Crc::new();
    segment.update(&vec![0u8; SEGMENT]);
    for_zero_runs(zeros, |n| {
        if n == SEGMENT {
            crc.combine(&segment);
        } else {
            crc.update(&vec![0u8; n]);
        }
    });
    crc.update(suffix);
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff];
    out.extend(deflate_stream(prefix, zeros, suffix));
    out.extend_from_slice(&crc.sum().to_le_bytes());
    let len = (prefix.len() as u64 + zeros + suffix.len() as u64) as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out
}

fn bz2_stream(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    e.write_all(data).expect("bz2");
    e.finish().expect("bz2")
}

/// Concatenated bz2 streams (Python's and our reader take several): prefix, the zero segments, suffix.
fn bz2(prefix: &[u8], zeros: u64, suffix: &[u8]) -> Vec<u8> {
    const BZ_SEGMENT: u64 = 8 << 20;
    let full = bz2_stream(&vec![0u8; BZ_SEGMENT as usize]);
    let mut out = if prefix.is_empty() {
        Vec::new()
    } else {
        bz2_stream(prefix)
    };
    let mut left = zeros;
    while left > 0 {
        let n = left.min(BZ_SEGMENT);
        if n == BZ_SEGMENT {
            out.extend_from_slice(&full);
        } else {
            out.extend(bz2_stream(&vec![0u8; n as usize]));
        }
        left -= n;
    }
    if !suffix.is_empty() {
        out.extend(bz2_stream(suffix));
    }
    out
}

/// One lz4 frame of independent blocks (the frame header taken from lz4_flex's encoder): prefix, the zero
/// segments, suffix, each one block.
fn lz4(prefix: &[u8], zeros: u64, suffix: &[u8]) -> Vec<u8> {
    let info = lz4_flex::frame::FrameInfo::new()
        .block_size(lz4_flex::frame::BlockSize::Max4MB)
        .block_mode(lz4_flex::frame::BlockMode::Independent);
    let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
    e.write_all(b"x").expect("lz4");
    let frame = e.finish().expect("lz4");
    // magic, FLG (no content size, no dictionary id), BD, header checksum.
    assert_eq!(
        frame.get(4).map(|f| f & 0x1d),
        Some(0),
        "unexpected lz4 frame flags"
    );
    let mut out = frame.get(..7).expect("lz4 header").to_vec();
    let block = |data: &[u8]| {
        let c = lz4_flex::block::compress(data);
        let mut b = (c.len() as u32).to_le_bytes().to_vec();
        b.extend(c);
        b
    };
    if !prefix.is_empty() {
        out.extend(block(prefix));
    }
    let full = block(&vec![0u8; SEGMENT]);
    for_zero_runs(zeros, |n| {
        if n == SEGMENT {
            out.extend_from_slice(&full);
        } else {
            out.extend(block(&vec![0u8; n]));
        }
    });
    if !suffix.is_empty() {
        out.extend(block(suffix));
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

/// LZMA's range encoder (as in the LZMA SDK).
struct RangeEncoder {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u64,
    out: Vec<u8>,
}

impl RangeEncoder {
    fn new() -> Self {
        RangeEncoder {
            low: 0,
            range: 0xffff_ffff,
            cache: 0,
            cache_size: 1,
            out: Vec::new(),
        }
    }

    fn shift_low(&mut self) {
        if (self.low as u32) < 0xff00_0000 || (self.low >> 32) != 0 {
            let carry = (self.low >> 32) as u8;
            let mut temp = self.cache;
            loop {
                self.out.push(temp.wrapping_add(carry));
                temp = 0xff;
                self.cache_size -= 1;
                if self.cache_size == 0 {
                    break;
                }
            }
            self.cache = ((self.low >> 24) & 0xff) as u8;
        }
        self.cache_size += 1;
        self.low = (self.low & 0x00ff_ffff) << 8;
    }

    fn bit(&mut self, prob: &mut u16, bit: u32) {
        let bound = (self.range >> 11) * u32::from(*prob);
        if bit == 0 {
            self.range = bound;
            *prob += (2048 - *prob) >> 5;
        } else {
            self.low += u64::from(bound);
            self.range -= bound;
            *prob -= *prob >> 5;
        }
        while self.range < (1 << 24) {
            self.range <<= 8;
            self.shift_low();
        }
    }

    fn tree(&mut self, probs: &mut [u16], bits: u32, value: u64) {
        let mut m = 1usize;
        for i in (0..bits).rev() {
            let bit = ((value >> i) & 1) as u32;
            self.bit(&mut probs[m], bit);
            m = (m << 1) | bit as usize;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        self.out
    }
}

/// Raw LZMA data (lc=3, lp=0, pb=2, no end marker) for `n >= 1` zero bytes: one literal, then rep0 matches of
/// distance 1 and length 273 (a 1-byte tail is a short rep).
fn lzma_zeros(n: u64) -> Vec<u8> {
    let mut rc = RangeEncoder::new();
    let mut is_match = [[1024u16; 4]; 12];
    let mut is_rep = [1024u16; 12];
    let mut is_rep_g0 = [1024u16; 12];
    let mut is_rep0_long = [[1024u16; 4]; 12];
    let mut literal = [1024u16; 0x300];
    let (mut choice, mut choice2) = (1024u16, 1024u16);
    let mut low = [[1024u16; 8]; 4];
    let mut mid = [[1024u16; 8]; 4];
    let mut high = [1024u16; 256];
    rc.bit(&mut is_match[0][0], 0);
    rc.tree(&mut literal, 8, 0);
    let mut state = 0usize;
    let mut pos = 1u64;
    while pos < n {
        let ps = (pos & 3) as usize;
        let len = (n - pos).min(273);
        rc.bit(&mut is_match[state][ps], 1);
        rc.bit(&mut is_rep[state], 1);
        rc.bit(&mut is_rep_g0[state], 0);
        if len == 1 {
            rc.bit(&mut is_rep0_long[state][ps], 0);
            state = if state < 7 { 9 } else { 11 };
        } else {
            rc.bit(&mut is_rep0_long[state][ps], 1);
            let l = len - 2;
            if l < 8 {
                rc.bit(&mut choice, 0);
                rc.tree(&mut low[ps], 3, l);
            } else if l < 16 {
                rc.bit(&mut choice, 1);
                rc.bit(&mut choice2, 0);
                rc.tree(&mut mid[ps], 3, l - 8);
            } else {
                rc.bit(&mut choice, 1);
                rc.bit(&mut choice2, 1);
                rc.tree(&mut high, 8, l - 16);
            }
            state = if state < 7 { 8 } else { 11 };
        }
        pos += len;
    }
    rc.finish()
}

/// The legacy `.lzma` ("alone") container of `zeros` zero bytes, its size in the header.
fn lzma_alone(zeros: u64) -> Vec<u8> {
    let mut out = vec![0x5d];
    out.extend_from_slice(&(1u32 << 20).to_le_bytes());
    out.extend_from_slice(&zeros.to_le_bytes());
    if zeros > 0 {
        out.extend(lzma_zeros(zeros));
    }
    out
}

fn crc32(bytes: &[u8]) -> [u8; 4] {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum().to_le_bytes()
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// An `.xz` stream of `zeros` zero bytes in ONE block (no integrity check): LZMA2 chunks of 2 MiB, each
/// resetting the dictionary, so one chunk's bytes serve for all. A decoder that buffers whole blocks holds all
/// of it at once.
fn xz(zeros: u64) -> Vec<u8> {
    const CHUNK: u64 = 2 << 20;
    let chunk = |n: u64| {
        let data = lzma_zeros(n);
        assert!(data.len() <= 1 << 16, "LZMA2 chunk too large");
        let (u, c) = (n - 1, data.len() as u64 - 1);
        // LZMA chunk, dictionary reset + new properties, sizes minus one.
        let mut out = vec![
            0xe0 | (u >> 16) as u8,
            (u >> 8) as u8,
            u as u8,
            (c >> 8) as u8,
            c as u8,
            0x5d,
        ];
        out.extend(data);
        out
    };
    let mut out = vec![0xfd, b'7', b'z', b'X', b'Z', 0, 0, 0];
    out.extend_from_slice(&crc32(&[0, 0]));
    // Block header: size, flags (one filter, no sizes), LZMA2 with a 1 MiB dictionary, padding, CRC32.
    let header = [0x02, 0x00, 0x21, 0x01, 0x10, 0, 0, 0];
    out.extend_from_slice(&header);
    out.extend_from_slice(&crc32(&header));
    let block_start = out.len() - 12;
    let full = chunk(CHUNK);
    let mut left = zeros;
    while left > 0 {
        let n = left.min(CHUNK);
        if n == CHUNK {
            out.extend_from_slice(&full);
        } else {
            out.extend(chunk(n));
        }
        left -= n;
    }
    out.push(0x00);
    let unpadded = (out.len() - block_start) as u64;
    while out.len() % 4 != 0 {
        out.push(0);
    }
    let mut index = vec![0x00];
    varint(1, &mut index);
    varint(unpadded, &mut index);
    varint(zeros, &mut index);
    while index.len() % 4 != 0 {
        index.push(0);
    }
    let index_crc = crc32(&index);
    index.extend_from_slice(&index_crc);
    out.extend_from_slice(&index);
    let mut footer = ((index.len() / 4 - 1) as u32).to_le_bytes().to_vec();
    footer.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&crc32(&footer));
    out.extend(footer);
    out.extend_from_slice(b"YZ");
    out
}
