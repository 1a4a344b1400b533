//! numpy dtypes and array data: from pickled dtype codes and states, and from raw bytes in any order and byte
//! order to [`NdArray`]s in C order and little-endian values.

use crate::{ArrayData, Dtype, NdArray, RecordField};

/// A dtype while the VM builds it: the public [`Dtype`] plus what decoding needs (byte order, byte swaps inside
/// record items), or a dtype this reader cannot decode (kept so that a model merely mentioning it still loads).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NpDtype {
    /// The dtype, or why it cannot be decoded.
    pub(crate) kind: Result<Dtype, String>,
    /// The numpy dtype code it was created from (`f8`, `V64`, ...), for messages and inert records.
    pub(crate) code: String,
    /// Whether scalar values are big-endian.
    pub(crate) big_endian: bool,
    /// For record dtypes, the big-endian spans inside one item to reverse: `(offset, unit, count)`.
    pub(crate) swaps: Vec<(usize, usize, usize)>,
}

/// The parts of a dtype's `__setstate__` tuple `(version, byteorder, subarray, names, fields, elsize, alignment,
/// flags[, metadata])` that matter, already extracted from the VM's nodes.
#[derive(Debug, Default)]
pub(crate) struct DtypeState {
    /// `<`, `>`, `=` or `|`.
    pub(crate) byteorder: String,
    /// Whether `subarray` was not `None`.
    pub(crate) has_subarray: bool,
    /// `names` and `fields` combined: `(name, dtype, offset)` in `names` order.
    pub(crate) fields: Option<Vec<(String, NpDtype, i64)>>,
    /// `elsize` (`-1` for fixed-size types).
    pub(crate) elsize: i64,
}

impl NpDtype {
    /// The dtype named by a numpy dtype code as pickled by `numpy.dtype.__reduce__` (`f8`, `<i4`, `U10`, `O8`,
    /// `V64`, `b1`, ...).
    pub(crate) fn from_code(code: &str) -> NpDtype {
        let (big_endian, rest) = match code.as_bytes().first() {
            Some(b'>') => (true, &code[1..]),
            Some(b'<' | b'=' | b'|') => (false, &code[1..]),
            _ => (false, code),
        };
        let mut chars = rest.chars();
        let kind_char = chars.next();
        let digits = chars.as_str();
        let size: Option<usize> = if digits.is_empty() {
            None
        } else if digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse().ok()
        } else {
            return NpDtype::unsupported(code, format!("unsupported dtype `{code}`"));
        };
        let kind = match (kind_char, size) {
            (Some('b'), Some(1)) | (Some('?'), None | Some(1)) => Ok(Dtype::Bool),
            (Some('i'), Some(n @ (1 | 2 | 4 | 8))) => Ok(Dtype::Int(n as u8)),
            (Some('u'), Some(n @ (1 | 2 | 4 | 8))) => Ok(Dtype::UInt(n as u8)),
            (Some('f'), Some(n @ (2 | 4 | 8))) => Ok(Dtype::Float(n as u8)),
            (Some('U'), n) => Ok(Dtype::Unicode(n.unwrap_or(0))),
            (Some('S'), n) => Ok(Dtype::ByteStr(n.unwrap_or(0))),
            (Some('O'), None | Some(4 | 8)) => Ok(Dtype::Object),
            (Some('V'), n) => Ok(Dtype::Record {
                fields: Vec::new(),
                itemsize: n.unwrap_or(0),
            }),
            _ => Err(format!("unsupported dtype `{code}`")),
        };
        NpDtype {
            kind,
            code: code.to_string(),
            big_endian,
            swaps: Vec::new(),
        }
    }

    fn unsupported(code: &str, why: String) -> NpDtype {
        NpDtype {
            kind: Err(why),
            code: code.to_string(),
            big_endian: false,
            swaps: Vec::new(),
        }
    }

    /// Applies numpy's `dtype.__setstate__`. Errors describe a state that contradicts the dtype.
    pub(crate) fn apply_state(&mut self, state: DtypeState) -> Result<(), String> {
        self.big_endian = state.byteorder == ">";
        if state.has_subarray {
            self.kind = Err(format!("sub-array dtype `{}` is not supported", self.code));
            return Ok(());
        }
        let Ok(kind) = &mut self.kind else {
            return Ok(());
        };
        let elsize = usize::try_from(state.elsize).ok().filter(|&n| n > 0);
        match (kind, elsize) {
            (Dtype::Unicode(n), Some(bytes)) => {
                if bytes % 4 != 0 {
                    return Err(format!(
                        "unicode dtype with elsize {bytes}, not a multiple of 4"
                    ));
                }
                *n = bytes / 4;
            }
            (Dtype::ByteStr(n), Some(bytes)) => *n = bytes,
            (Dtype::Record { itemsize, .. }, Some(bytes)) => *itemsize = bytes,
            _ => {}
        }
        if let Some(fields) = state.fields {
            let Ok(Dtype::Record { itemsize, .. }) = &self.kind else {
                return Err(format!(
                    "dtype `{}` has fields but is not a record (void) dtype",
                    self.code
                ));
            };
            let itemsize = *itemsize;
            let mut out = Vec::with_capacity(fields.len());
            let mut swaps = Vec::new();
            for (name, field, offset) in fields {
                let dtype = match field.kind {
                    Ok(Dtype::Object) => {
                        self.kind = Err(format!(
                            "record dtype with object field `{name}` is not supported"
                        ));
                        return Ok(());
                    }
                    Ok(d) => d,
                    Err(why) => {
                        self.kind = Err(format!("record field `{name}`: {why}"));
                        return Ok(());
                    }
                };
                let offset = usize::try_from(offset)
                    .map_err(|_| format!("record field `{name}` at offset {offset}"))?;
                let width = dtype.itemsize().unwrap_or(0);
                if offset.checked_add(width).is_none_or(|end| end > itemsize) {
                    return Err(format!(
                        "record field `{name}` ({} bytes at offset {offset}) overflows the {itemsize}-byte item",
                        dtype.descr()
                    ));
                }
                if field.big_endian {
                    match &dtype {
                        Dtype::Int(n) | Dtype::UInt(n) | Dtype::Float(n) if *n > 1 => {
                            swaps.push((offset, usize::from(*n), 1));
                        }
                        Dtype::Unicode(n) => swaps.push((offset, 4, *n)),
                        _ => {}
                    }
                }
                swaps.extend(field.swaps.iter().map(|&(o, u, c)| (o + offset, u, c)));
                out.push(RecordField {
                    name,
                    dtype,
                    offset,
                });
            }
            if let Ok(Dtype::Record { fields, .. }) = &mut self.kind {
                *fields = out;
            }
            self.swaps = swaps;
        }
        Ok(())
    }

    /// The dtype, or an error naming why it cannot be decoded.
    pub(crate) fn dtype(&self) -> Result<&Dtype, String> {
        self.kind.as_ref().map_err(Clone::clone)
    }
}

/// `prod(shape)`, or an error when it overflows.
pub(crate) fn element_count(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("array shape {shape:?} overflows"))
}

/// Bytes of raw data an array of this dtype and shape holds.
pub(crate) fn byte_len(dtype: &NpDtype, shape: &[usize]) -> Result<usize, String> {
    let d = dtype.dtype()?;
    let itemsize = d.itemsize().ok_or("object arrays have no raw data")?;
    element_count(shape)?
        .checked_mul(itemsize)
        .ok_or_else(|| format!("array of shape {shape:?} and dtype {} overflows", d.descr()))
}

/// An upper bound of the heap bytes an array of `count` elements of `dtype`, decoded from `raw_len` bytes, holds
/// once decoded (as [`crate::vm::value_size`] counts them): numbers are widened to 64 bits, strings carry a
/// 24-byte header and at most twice their raw bytes in UTF-8.
pub(crate) fn decoded_size(dtype: &NpDtype, count: usize, raw_len: usize) -> u64 {
    let (n, raw) = (count as u64, raw_len as u64);
    match dtype.dtype() {
        Ok(Dtype::Bool) => n,
        Ok(Dtype::Int(_) | Dtype::UInt(_) | Dtype::Float(_)) => n.saturating_mul(8),
        Ok(Dtype::Record { .. }) => raw,
        _ => n.saturating_mul(24).saturating_add(raw.saturating_mul(2)),
    }
}

/// The item offsets (in items) of a Fortran-ordered array of `shape`, in C order, computed one at a time: no index
/// vector is built, so reordering costs no memory beyond the decoded array.
struct FortranOffsets {
    shape: Vec<usize>,
    /// Fortran strides in items: the first axis varies fastest.
    strides: Vec<usize>,
    /// The C-order multi-index of the next item.
    index: Vec<usize>,
    /// The Fortran offset of the next item.
    at: usize,
    remaining: usize,
}

impl FortranOffsets {
    fn new(shape: &[usize]) -> Result<FortranOffsets, String> {
        let remaining = element_count(shape)?;
        let mut strides = Vec::with_capacity(shape.len());
        let mut stride = 1usize;
        for &d in shape {
            strides.push(stride);
            stride = stride.saturating_mul(d);
        }
        Ok(FortranOffsets {
            shape: shape.to_vec(),
            strides,
            index: vec![0; shape.len()],
            at: 0,
            remaining,
        })
    }
}

impl Iterator for FortranOffsets {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let current = self.at;
        // Advance the C-order multi-index (last axis fastest) and the Fortran offset with it.
        for axis in (0..self.shape.len()).rev() {
            let (Some(i), Some(&d), Some(&s)) = (
                self.index.get_mut(axis),
                self.shape.get(axis),
                self.strides.get(axis),
            ) else {
                break;
            };
            *i += 1;
            self.at = self.at.wrapping_add(s);
            if *i < d {
                break;
            }
            self.at = self.at.wrapping_sub(s.wrapping_mul(d));
            *i = 0;
        }
        Some(current)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for FortranOffsets {}

/// The order in which to read Fortran-ordered items so that they come out in C order, one offset at a time.
pub(crate) fn fortran_offsets(shape: &[usize]) -> Result<impl Iterator<Item = usize>, String> {
    FortranOffsets::new(shape)
}

/// [`fortran_offsets`], collected.
#[cfg(test)]
pub(crate) fn fortran_to_c_order(shape: &[usize]) -> Result<Vec<usize>, String> {
    Ok(FortranOffsets::new(shape)?.collect())
}

/// The items of raw array data in C order: consecutive chunks, or Fortran-ordered items picked in C order.
enum Items<'r> {
    C(std::slice::ChunksExact<'r, u8>),
    Fortran {
        raw: &'r [u8],
        itemsize: usize,
        offsets: FortranOffsets,
    },
}

impl<'r> Iterator for Items<'r> {
    type Item = &'r [u8];

    fn next(&mut self) -> Option<&'r [u8]> {
        match self {
            Items::C(chunks) => chunks.next(),
            Items::Fortran {
                raw,
                itemsize,
                offsets,
            } => {
                let start = offsets.next()?.checked_mul(*itemsize)?;
                // In range by construction (`raw` holds prod(shape) items); an empty item otherwise.
                Some(
                    start
                        .checked_add(*itemsize)
                        .and_then(|end| raw.get(start..end))
                        .unwrap_or_default(),
                )
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Items::C(chunks) => chunks.size_hint(),
            Items::Fortran { offsets, .. } => offsets.size_hint(),
        }
    }
}

impl ExactSizeIterator for Items<'_> {}

/// Decodes raw array bytes (`shape`, `dtype`, Fortran or C `order`) into an [`NdArray`] in C order with
/// little-endian values. `raw` must hold exactly `prod(shape) × itemsize` bytes, and there may be at most
/// `max_count` elements (this bounds zero-width dtypes such as `S0`, whose element count no input size limits).
///
/// Fortran-ordered data is read in C order item by item: the only buffer allocated is the decoded array, whose
/// size [`decoded_size`] bounds (callers check it against the budget first).
pub(crate) fn decode_array(
    dtype: &NpDtype,
    shape: &[usize],
    fortran: bool,
    raw: &[u8],
    max_count: usize,
) -> Result<NdArray, String> {
    let d = dtype.dtype()?.clone();
    let count = element_count(shape)?;
    if count > max_count {
        return Err(format!(
            "array of shape {shape:?} has more elements than the memory budget allows"
        ));
    }
    let expected = byte_len(dtype, shape)?;
    if raw.len() != expected {
        return Err(format!(
            "array of shape {shape:?} and dtype {} needs {expected} bytes of data, got {}",
            d.descr(),
            raw.len()
        ));
    }
    let itemsize = d.itemsize().unwrap_or(0);
    let fortran = fortran && shape.len() > 1 && itemsize > 0;
    let items = || -> Result<Items<'_>, String> {
        Ok(if fortran {
            Items::Fortran {
                raw,
                itemsize,
                offsets: FortranOffsets::new(shape)?,
            }
        } else {
            Items::C(raw.chunks_exact(itemsize.max(1)))
        })
    };
    let be = dtype.big_endian;
    let data = match &d {
        Dtype::Bool => ArrayData::Bool(items()?.map(|c| c.iter().any(|&b| b != 0)).collect()),
        Dtype::Int(_) => ArrayData::Int(items()?.map(|c| read_int(c, be)).collect()),
        Dtype::UInt(_) => ArrayData::UInt(items()?.map(|c| read_uint(c, be)).collect()),
        Dtype::Float(n) => ArrayData::Float(items()?.map(|c| read_float(c, *n, be)).collect()),
        Dtype::Unicode(0) | Dtype::ByteStr(0) => ArrayData::Str(vec![String::new(); count]),
        Dtype::Unicode(_) => ArrayData::Str(
            items()?
                .map(|c| read_utf32(c, be))
                .collect::<Result<_, _>>()?,
        ),
        Dtype::ByteStr(_) => ArrayData::Str(items()?.map(read_bytestr).collect()),
        Dtype::Record { .. } => {
            let mut bytes = Vec::with_capacity(raw.len());
            for item in items()? {
                bytes.extend_from_slice(item);
            }
            if !dtype.swaps.is_empty() && itemsize > 0 {
                for item in bytes.chunks_exact_mut(itemsize) {
                    swap_spans(item, &dtype.swaps);
                }
            }
            ArrayData::Record(bytes)
        }
        Dtype::Object => return Err("object arrays have no raw data".into()),
    };
    Ok(NdArray {
        dtype: d,
        shape: shape.to_vec(),
        data,
    })
}

fn swap_spans(item: &mut [u8], swaps: &[(usize, usize, usize)]) {
    for &(offset, unit, count) in swaps {
        for k in 0..count {
            let start = offset.saturating_add(k.saturating_mul(unit));
            if let Some(span) = item.get_mut(start..start.saturating_add(unit)) {
                span.reverse();
            }
        }
    }
}

fn le_bytes(chunk: &[u8], be: bool) -> [u8; 8] {
    let mut buf = [0u8; 8];
    let n = chunk.len().min(8);
    for (i, slot) in buf.iter_mut().take(n).enumerate() {
        let src = if be { n - 1 - i } else { i };
        *slot = chunk.get(src).copied().unwrap_or(0);
    }
    buf
}

fn read_uint(chunk: &[u8], be: bool) -> u64 {
    u64::from_le_bytes(le_bytes(chunk, be))
}

fn read_int(chunk: &[u8], be: bool) -> i64 {
    let bits = 8 * chunk.len().clamp(1, 8) as u32;
    let v = read_uint(chunk, be);
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

fn read_float(chunk: &[u8], width: u8, be: bool) -> f64 {
    let v = read_uint(chunk, be);
    match width {
        2 => half_to_f64(v as u16),
        4 => f64::from(f32::from_bits(v as u32)),
        _ => f64::from_bits(v),
    }
}

/// IEEE 754 half precision to f64.
fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        0x1f if frac == 0.0 => sign * f64::INFINITY,
        0x1f => f64::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

fn read_utf32(chunk: &[u8], be: bool) -> Result<String, String> {
    let mut s = String::with_capacity(chunk.len() / 4);
    for unit in chunk.chunks_exact(4) {
        let code = read_uint(unit, be) as u32;
        let c = char::from_u32(code)
            .ok_or_else(|| format!("invalid code point U+{code:X} in a unicode array"))?;
        s.push(c);
    }
    let trimmed = s.trim_end_matches('\0').len();
    s.truncate(trimmed);
    Ok(s)
}

/// `S<n>` items: NUL padding stripped, UTF-8 when valid, otherwise one char per byte (latin-1).
fn read_bytestr(chunk: &[u8]) -> String {
    let end = chunk.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let bytes = chunk.get(..end).unwrap_or_default();
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fortran_order() {
        // shape (2, 3): Fortran data a00 a10 a01 a11 a02 a12 → C order a00 a01 a02 a10 a11 a12.
        assert_eq!(
            fortran_to_c_order(&[2, 3]).ok(),
            Some(vec![0, 2, 4, 1, 3, 5])
        );
        assert_eq!(fortran_to_c_order(&[2, 0]).ok(), Some(vec![]));
        assert_eq!(fortran_to_c_order(&[]).ok(), Some(vec![0]));
    }

    #[test]
    fn scalars() {
        assert_eq!(read_int(&[0xff, 0xfe], false), -257);
        assert_eq!(read_int(&[0xfe, 0xff], true), -257);
        assert_eq!(read_uint(&[0, 0, 0, 1], true), 1);
        assert_eq!(half_to_f64(0x3c00), 1.0);
        assert_eq!(half_to_f64(0xc000), -2.0);
        assert_eq!(read_bytestr(b"ab\0\0"), "ab");
    }

    #[test]
    fn codes() {
        assert_eq!(NpDtype::from_code("<f8").kind, Ok(Dtype::Float(8)));
        assert_eq!(NpDtype::from_code("b1").kind, Ok(Dtype::Bool));
        assert!(NpDtype::from_code(">i4").big_endian);
        assert_eq!(NpDtype::from_code("U10").kind, Ok(Dtype::Unicode(10)));
        assert!(NpDtype::from_code("c16").kind.is_err());
        assert!(NpDtype::from_code("M8").kind.is_err());
    }
}
