//! Little-endian, row-major tensor blobs: the binary tensor data extension's payloads and gRPC's
//! `raw_input_contents` / `raw_output_contents` share this layout (BOOL one byte, BYTES a 4-byte little-endian
//! length before each element).

use oxserve_core::TensorData;

use super::{V2DataType, V2Error};

/// Decodes one blob of `count` elements of `dtype`. Sizes are checked before anything is allocated, so the
/// allocation is bounded by the blob's length.
pub(crate) fn decode_blob(
    name: &str,
    dtype: V2DataType,
    count: usize,
    blob: &[u8],
) -> Result<TensorData, V2Error> {
    decode_segments(name, dtype, count, &[blob])
}

/// Decodes one blob that arrived as consecutive `segments` (a REST body as the transport received it, in
/// chunks whose boundaries fall anywhere, even inside an element) straight into the tensor's typed buffer: the
/// conversion from little-endian bytes is the one copy, and no segment is joined to another first (BYTES
/// elements excepted: their few segments are joined, as each element is copied into its own buffer anyway).
/// The total length is checked against `count` before anything is allocated.
pub(crate) fn decode_segments(
    name: &str,
    dtype: V2DataType,
    count: usize,
    segments: &[&[u8]],
) -> Result<TensorData, V2Error> {
    let total = segments.iter().map(|s| s.len() as u128).sum::<u128>();
    let Some(size) = dtype.wire_size() else {
        return match segments {
            [] => decode_bytes(name, count, &[]),
            [one] => decode_bytes(name, count, one),
            more => decode_bytes(name, count, &more.concat()),
        }
        .map(TensorData::Bytes);
    };
    let expected = count as u128 * size as u128;
    if total != expected {
        return Err(V2Error::BinarySize {
            name: name.to_owned(),
            datatype: dtype.name(),
            count,
            expected,
            size: usize::try_from(total).unwrap_or(usize::MAX),
        });
    }
    let blob = Elements { segments, count };
    Ok(match dtype {
        V2DataType::Bool => TensorData::Bool(blob.map(|[b]: [u8; 1]| b != 0)),
        V2DataType::U8 => TensorData::U8(blob.map(|[b]: [u8; 1]| b)),
        V2DataType::I8 => TensorData::I32(blob.map(|[b]: [u8; 1]| i32::from(b as i8))),
        V2DataType::I16 => TensorData::I32(blob.map(|c| i32::from(i16::from_le_bytes(c)))),
        V2DataType::U16 => TensorData::I32(blob.map(|c| i32::from(u16::from_le_bytes(c)))),
        V2DataType::I32 => TensorData::I32(blob.map(i32::from_le_bytes)),
        V2DataType::U32 => TensorData::I64(blob.map(|c| i64::from(u32::from_le_bytes(c)))),
        V2DataType::I64 => TensorData::I64(blob.map(i64::from_le_bytes)),
        V2DataType::U64 => {
            // Read as i64 in one pass; a value above i64::MAX reads as negative, and is refused.
            let values = blob.map(i64::from_le_bytes);
            if let Some((index, &v)) = values.iter().enumerate().find(|(_, v)| **v < 0) {
                return Err(V2Error::OutOfRange {
                    name: name.to_owned(),
                    datatype: dtype.name(),
                    index,
                    value: (v as u64).to_string(),
                });
            }
            TensorData::I64(values)
        }
        V2DataType::F16 => TensorData::F32(blob.map(|c| f16_to_f32(u16::from_le_bytes(c)))),
        V2DataType::Bf16 => {
            TensorData::F32(blob.map(|c| f32::from_bits(u32::from(u16::from_le_bytes(c)) << 16)))
        }
        V2DataType::F32 => TensorData::F32(blob.map(f32::from_le_bytes)),
        V2DataType::F64 => TensorData::F64(blob.map(f64::from_le_bytes)),
        V2DataType::Bytes => {
            return decode_bytes(name, count, &blob.segments.concat()).map(TensorData::Bytes);
        }
    })
}

/// A fixed-width blob's `count` elements, in `segments` whose lengths add up to `count` × the width (checked by
/// the caller).
struct Elements<'a> {
    segments: &'a [&'a [u8]],
    count: usize,
}

impl Elements<'_> {
    /// Converts every `N`-byte element with `f` into one buffer allocated once: whole elements of each segment
    /// in bulk (`chunks_exact`, which the compiler turns into wide loads), an element split across a segment
    /// boundary through a small carry.
    fn map<const N: usize, T>(&self, f: impl Fn([u8; N]) -> T) -> Vec<T> {
        let mut out = Vec::with_capacity(self.count);
        let mut carry = [0u8; N];
        let mut held = 0;
        for &segment in self.segments {
            let mut segment = segment;
            if held > 0 {
                let take = (N - held).min(segment.len());
                let (head, tail) = segment.split_at(take);
                carry[held..held + take].copy_from_slice(head);
                held += take;
                segment = tail;
                if held < N {
                    continue;
                }
                out.push(f(carry));
            }
            let whole = segment.chunks_exact(N);
            let rest = whole.remainder();
            out.extend(whole.map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            }));
            carry[..rest.len()].copy_from_slice(rest);
            held = rest.len();
        }
        out
    }
}

/// Splits a BYTES blob into exactly `count` length-prefixed elements that use up the blob.
fn decode_bytes(name: &str, count: usize, blob: &[u8]) -> Result<Vec<Vec<u8>>, V2Error> {
    let framing = |reason: String| V2Error::BytesFraming {
        name: name.to_owned(),
        reason,
    };
    let mut out = Vec::with_capacity(count.min(blob.len() / 4));
    let mut rest = blob;
    while !rest.is_empty() {
        let index = out.len();
        if index == count {
            return Err(framing(format!(
                "{} bytes remain after the {count} elements the shape holds",
                rest.len()
            )));
        }
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(framing(format!(
                "element {index}: {} bytes left, too few for a 4-byte length",
                rest.len()
            )));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > tail.len() {
            return Err(framing(format!(
                "element {index}: length {len} but only {} bytes remain",
                tail.len()
            )));
        }
        let (element, tail) = tail.split_at(len);
        out.push(element.to_vec());
        rest = tail;
    }
    if out.len() != count {
        return Err(framing(format!(
            "the blob holds {} elements but the shape holds {count}",
            out.len()
        )));
    }
    Ok(out)
}

/// Appends a tensor's blob to `out`; fails only for a BYTES element longer than `u32::MAX`.
pub(crate) fn encode_blob(name: &str, data: &TensorData, out: &mut Vec<u8>) -> Result<(), V2Error> {
    match data {
        TensorData::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        TensorData::U8(v) => out.extend_from_slice(v),
        TensorData::I32(v) => {
            out.reserve(v.len() * 4);
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        TensorData::I64(v) => {
            out.reserve(v.len() * 8);
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        TensorData::F32(v) => {
            out.reserve(v.len() * 4);
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        TensorData::F64(v) => {
            out.reserve(v.len() * 8);
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        TensorData::Bytes(v) => {
            for (index, element) in v.iter().enumerate() {
                let len = u32::try_from(element.len()).map_err(|_| V2Error::ElementTooLong {
                    name: name.to_owned(),
                    index,
                    len: element.len(),
                })?;
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(element);
            }
        }
    }
    Ok(())
}

/// The byte length of a tensor's blob, without building it.
pub(crate) fn blob_len(data: &TensorData) -> usize {
    match data {
        TensorData::Bytes(v) => v
            .iter()
            .map(|e| e.len().saturating_add(4))
            .fold(0, usize::saturating_add),
        other => other
            .len()
            .saturating_mul(other.dtype().element_size().unwrap_or(1)),
    }
}

/// IEEE 754 half → single, exactly (every half is representable as a single).
fn f16_to_f32(h: u16) -> f32 {
    let negative = h & 0x8000 != 0;
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match exp {
        0 if man == 0 => sign,
        0 => {
            // Subnormal: man × 2^-24, exact in f32.
            let v = man as f32 * f32::from_bits(0x3380_0000);
            return if negative { -v } else { v };
        }
        0x1f => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn half_conversions() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x8001), -(2f32.powi(-24)));
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn fp16_and_bf16_blobs() {
        let blob = [0x00, 0x3c, 0x00, 0xc0];
        assert_eq!(
            decode_blob("x", V2DataType::F16, 2, &blob).unwrap(),
            TensorData::F32(vec![1.0, -2.0])
        );
        let blob = [0x80, 0x3f, 0x40, 0xc0];
        assert_eq!(
            decode_blob("x", V2DataType::Bf16, 2, &blob).unwrap(),
            TensorData::F32(vec![1.0, -3.0])
        );
    }

    #[test]
    fn narrow_integers_widen() {
        assert_eq!(
            decode_blob("x", V2DataType::I8, 2, &[0xff, 0x7f]).unwrap(),
            TensorData::I32(vec![-1, 127])
        );
        assert_eq!(
            decode_blob("x", V2DataType::U16, 1, &[0xff, 0xff]).unwrap(),
            TensorData::I32(vec![65535])
        );
        assert_eq!(
            decode_blob("x", V2DataType::U32, 1, &[0xff; 4]).unwrap(),
            TensorData::I64(vec![4_294_967_295])
        );
        assert!(matches!(
            decode_blob("x", V2DataType::U64, 1, &[0xff; 8]),
            Err(V2Error::OutOfRange { index: 0, .. })
        ));
        assert_eq!(
            decode_blob("x", V2DataType::Bool, 3, &[0, 1, 7]).unwrap(),
            TensorData::Bool(vec![false, true, true])
        );
    }

    #[test]
    fn bytes_framing_is_checked() {
        let mut blob = Vec::new();
        encode_blob(
            "x",
            &TensorData::Bytes(vec![b"ab".to_vec(), vec![]]),
            &mut blob,
        )
        .unwrap();
        assert_eq!(blob, [2, 0, 0, 0, b'a', b'b', 0, 0, 0, 0]);
        assert_eq!(
            blob_len(&TensorData::Bytes(vec![b"ab".to_vec(), vec![]])),
            10
        );
        assert_eq!(
            decode_blob("x", V2DataType::Bytes, 2, &blob).unwrap(),
            TensorData::Bytes(vec![b"ab".to_vec(), vec![]])
        );
        for (count, bad) in [
            (2, &blob[..9]),
            (1, &blob[..]),
            (3, &blob[..]),
            (1, &[0xff, 0xff, 0xff, 0xff, 1][..]),
            (1, &[1, 0][..]),
        ] {
            assert!(
                matches!(
                    decode_blob("x", V2DataType::Bytes, count, bad),
                    Err(V2Error::BytesFraming { .. })
                ),
                "{count} {bad:?}"
            );
        }
        // A huge shape with a tiny blob allocates nothing big and fails cleanly.
        assert!(decode_blob("x", V2DataType::Bytes, usize::MAX, &blob).is_err());
    }

    /// Every element type, its blob cut at every pair of points (inside elements too), decodes as the whole.
    #[test]
    fn segments_cut_anywhere_decode_as_the_whole_blob() {
        let cases: [(V2DataType, usize); 9] = [
            (V2DataType::F64, 8),
            (V2DataType::F32, 4),
            (V2DataType::I64, 8),
            (V2DataType::U64, 8),
            (V2DataType::I32, 4),
            (V2DataType::U32, 4),
            (V2DataType::I16, 2),
            (V2DataType::F16, 2),
            (V2DataType::U8, 1),
        ];
        for (dtype, size) in cases {
            let count = 5;
            // Bytes 0..0x3f: no sign bit set anywhere, so UINT64 stays in range.
            let blob: Vec<u8> = (0..(count * size) as u8).collect();
            let whole = decode_blob("x", dtype, count, &blob).unwrap();
            assert_eq!(whole.len(), count);
            for a in 0..=blob.len() {
                for b in a..=blob.len() {
                    let parts = [&blob[..a], &blob[a..b], &blob[b..]];
                    assert_eq!(
                        decode_segments("x", dtype, count, &parts).unwrap(),
                        whole,
                        "{dtype} cut at {a}, {b}"
                    );
                }
            }
            let short = [&blob[..3], &blob[3..blob.len() - 1]];
            assert!(matches!(
                decode_segments("x", dtype, count, &short),
                Err(V2Error::BinarySize { .. })
            ));
        }
        assert_eq!(
            decode_segments(
                "x",
                V2DataType::F64,
                2,
                &[
                    &1f64.to_le_bytes()[..3],
                    &1f64.to_le_bytes()[3..],
                    &(-2f64).to_le_bytes()
                ]
            )
            .unwrap(),
            TensorData::F64(vec![1.0, -2.0])
        );
        // BYTES across segments; the out-of-range UINT64 is found wherever it sits.
        let blob = [1, 0, 0, 0, b'a', 2, 0, 0, 0, b'b', b'c'];
        assert_eq!(
            decode_segments("x", V2DataType::Bytes, 2, &[&blob[..6], &blob[6..]]).unwrap(),
            TensorData::Bytes(vec![b"a".to_vec(), b"bc".to_vec()])
        );
        let mut blob = 1u64.to_le_bytes().to_vec();
        blob.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode_segments("x", V2DataType::U64, 2, &[&blob[..9], &blob[9..]]),
            Err(V2Error::OutOfRange { index: 1, .. })
        ));
    }

    #[test]
    fn fixed_sizes_are_checked() {
        assert!(matches!(
            decode_blob("x", V2DataType::F64, 2, &[0; 15]),
            Err(V2Error::BinarySize {
                expected: 16,
                size: 15,
                ..
            })
        ));
        assert!(matches!(
            decode_blob("x", V2DataType::F64, usize::MAX, &[0; 16]),
            Err(V2Error::BinarySize { .. })
        ));
    }
}
