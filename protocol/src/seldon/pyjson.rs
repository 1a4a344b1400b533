//! JSON written the way Seldon's Python wrapper (Flask `jsonify`) writes it: compact, keys sorted (our structs
//! declare fields in sorted order and maps are `BTreeMap`s), floats as Python's `repr` (`1e-05`, `100.0`,
//! `1e+16`), non-ASCII escaped as `\uXXXX`, and one trailing newline.

use std::io::{self, Write};

use oxserve_core::TensorData;
use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};

use super::{DataArray, Payload, SeldonMessage};

/// A compact serde_json formatter that prints floats as Python's `repr` and escapes non-ASCII characters.
#[derive(Debug, Default, Clone, Copy)]
pub struct PyFormatter;

impl Formatter for PyFormatter {
    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        let mut ryu_buf = ryu::Buffer::new();
        writer.write_all(py_repr(value, &mut ryu_buf).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        // Seldon widens float32 outputs to float64 digits before printing (numpy → Python float).
        self.write_f64(writer, f64::from(value))
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.is_ascii() {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        serde_json::ser::CompactFormatter.write_char_escape(writer, char_escape)
    }
}

/// Serializes `value` as Seldon's Python wrapper would, with the trailing newline.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    // A one-row reply with its `meta` is about 150–250 bytes: one allocation, not a few growing ones.
    let mut out = Vec::with_capacity(256);
    let mut ser = Serializer::with_formatter(&mut out, PyFormatter);
    value.serialize(&mut ser)?;
    out.push(b'\n');
    Ok(out)
}

/// Serializes a Seldon message as [`to_vec`] does, byte for byte. The common reply (an `ndarray` of float64 or
/// int64 numbers, names and `meta` strings of printable ASCII without quotes or backslashes, no `metrics`,
/// `tags` or `status`) is written directly; any other message, or one whose strings need escaping, goes through
/// serde. The direct writer spares serde's map and string machinery (the seed's iris reply: ~4,500
/// instructions through serde, ~3,100 here, of which Python's float text is ~2,300; `scripts/bench-instructions.sh`).
pub fn message_to_vec(message: &SeldonMessage) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    if write_common(message, &mut out).is_some() {
        return Ok(out);
    }
    to_vec(message)
}

/// The common reply of [`message_to_vec`], or `None` (with `out` partly written) for anything else.
fn write_common(message: &SeldonMessage, out: &mut Vec<u8>) -> Option<()> {
    let SeldonMessage {
        meta,
        payload: Payload::Data(data),
        status: None,
    } = message
    else {
        return None;
    };
    let DataArray::NdArray(tensor) = &data.array else {
        return None;
    };
    if !meta.metrics.is_empty() || !meta.tags.is_empty() {
        return None;
    }
    out.extend_from_slice(b"{\"data\":{\"names\":[");
    for (i, name) in data.names.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        plain_string(out, name)?;
    }
    out.extend_from_slice(b"],\"ndarray\":");
    match tensor.data() {
        // serde_json writes a non-finite float as `null` before any formatter sees it.
        TensorData::F64(values) => nested(out, tensor.shape(), values, &mut |out, &v| {
            if v.is_finite() {
                let mut ryu_buf = ryu::Buffer::new();
                out.extend_from_slice(py_repr(v, &mut ryu_buf).as_bytes());
            } else {
                out.extend_from_slice(b"null");
            }
        }),
        TensorData::I64(values) => nested(out, tensor.shape(), values, &mut |out, &v| {
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        }),
        _ => return None,
    }
    out.extend_from_slice(b"},\"meta\":{");
    // `Meta`'s keys in order: metrics (none here), puid, requestPath, routing (never written), tags (none here).
    let mut first = true;
    if !meta.puid.is_empty() {
        out.extend_from_slice(b"\"puid\":");
        plain_string(out, &meta.puid)?;
        first = false;
    }
    if !meta.request_path.is_empty() {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"\"requestPath\":{");
        for (i, (node, image)) in meta.request_path.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            plain_string(out, node)?;
            out.push(b':');
            plain_string(out, image)?;
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"}}\n");
    Some(())
}

/// A JSON string that needs no escape (printable ASCII other than `"` and `\`), else `None`.
fn plain_string(out: &mut Vec<u8>, s: &str) -> Option<()> {
    if !s
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        return None;
    }
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
    Some(())
}

/// `values` as nested lists by `shape`, as [`super::NdArrayRef`] writes them (a 0-d tensor as its bare value).
fn nested<T>(
    out: &mut Vec<u8>,
    shape: &[usize],
    values: &[T],
    write: &mut impl FnMut(&mut Vec<u8>, &T),
) {
    // A tensor's shape is its buffer's length, so every index is in it.
    crate::nested::write_nested(out, shape, 0, &mut |out, i| {
        if let Some(v) = values.get(i) {
            write(out, v);
        }
    });
}

/// Appends `x` formatted as Python's `repr(float)`: shortest round-trip digits, fixed notation for decimal
/// exponents in `-4..16` (always with a fractional part: `100.0`), otherwise `d.ddde±XX`. NaN and infinities are
/// written as Python's `json` module writes them (`NaN`, `Infinity`, `-Infinity`).
pub fn write_py_float(out: &mut String, x: f64) {
    let mut ryu_buf = ryu::Buffer::new();
    out.push_str(py_repr(x, &mut ryu_buf).as_str());
}

/// `x` as [`write_py_float`] writes it, ryu's shortest digits formatted once: NaN and the infinities as Python's
/// `json` writes them; ryu's own text where it writes fixed notation and Python does too (|x| >= 1e-4 or zero:
/// shortest round-trip, `.0` on integral values, digit for digit Python's repr, no copy); ryu's scientific text
/// with Python's exponent ([`PyRepr::scientific`]); otherwise (`1e-05` ≤ |x| < `1e-04`, which ryu writes in
/// fixed notation) ryu's digits laid out again on the stack ([`PyRepr::layout`]).
fn py_repr(x: f64, ryu_buf: &mut ryu::Buffer) -> Repr<'_> {
    if x.is_nan() {
        return Repr::Text("NaN");
    }
    if x.is_infinite() {
        return Repr::Text(if x > 0.0 { "Infinity" } else { "-Infinity" });
    }
    let s = ryu_buf.format_finite(x);
    let magnitude = x.abs();
    // Where ryu writes fixed notation and Python does too (no scan of the text needed).
    if x == 0.0 || (1e-4..1e16).contains(&magnitude) {
        return Repr::Text(s);
    }
    // ryu writes a lowercase `e` only, for decimal exponents below -5 or above 15 (|x| < 1e-5 or |x| >= 1e16: both
    // bounds are the doubles nearest those powers, which print as them), where Python writes scientific notation
    // too: the same digits, only the exponent written as Python does (`e-06`, `e+16`). The exponent is the last
    // at most four bytes.
    if let Some(e) = s.as_bytes().iter().rposition(|&b| b == b'e') {
        let (mantissa, exponent) = s.as_bytes().split_at(e);
        return Repr::Laid(PyRepr::scientific(
            mantissa,
            exponent.get(1..).unwrap_or_default(),
        ));
    }
    Repr::Laid(PyRepr::layout(s))
}

/// A float's Python text: borrowed (ryu's buffer, or a constant), or laid out on the stack.
enum Repr<'a> {
    Text(&'a str),
    Laid(PyRepr),
}

impl Repr<'_> {
    /// The text's bytes, for a writer (no UTF-8 check: ryu's text and ours are ASCII).
    fn as_bytes(&self) -> &[u8] {
        match self {
            Repr::Text(s) => s.as_bytes(),
            Repr::Laid(laid) => laid.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Repr::Text(s) => s,
            Repr::Laid(laid) => laid.as_str(),
        }
    }
}

/// Python's `repr` of a finite float that ryu writes in scientific notation or that is tiny (`|x| < 1e-4`),
/// rebuilt from ryu's shortest digits in a buffer on the stack: the longest such text (`-d.dddddddddddddddde-XXX`
/// or `-0.000ddddddddddddddddd`) is 24 bytes.
struct PyRepr {
    buf: [u8; 40],
    len: usize,
}

impl PyRepr {
    const EMPTY: PyRepr = PyRepr {
        buf: [0; 40],
        len: 0,
    };

    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(self.buf.len());
        if let (Some(slot), Some(bytes)) =
            (self.buf.get_mut(self.len..end), bytes.get(..end - self.len))
        {
            slot.copy_from_slice(bytes);
            self.len = end;
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits, signs, `.` and `e` are ever pushed.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// Python's text of ryu's scientific `mantissa` `e` `exponent` (`1.5e-7`, `-1e16`): the mantissa as it is,
    /// then `e`, the exponent's sign (`+` too) and at least two digits.
    fn scientific(mantissa: &[u8], exponent: &[u8]) -> PyRepr {
        let mut out = PyRepr::EMPTY;
        out.extend(mantissa);
        match exponent.split_first() {
            Some((b'-', digits)) => out.exponent(true, digits),
            _ => out.exponent(false, exponent),
        }
        out
    }

    /// Python's exponent: `e`, its sign (`+` too) and at least two digits of `digits` (the magnitude's).
    fn exponent(&mut self, negative: bool, digits: &[u8]) {
        self.push(b'e');
        self.push(if negative { b'-' } else { b'+' });
        if digits.len() < 2 {
            self.push(b'0');
        }
        self.extend(digits);
    }

    /// Lays out ryu's text `s` (`[-]digits[.digits][e[-]exp]`) as Python does: the significant digits with
    /// fixed notation for decimal exponents in `-4..16` (with a fractional part), otherwise `d.ddde±XX`.
    fn layout(s: &str) -> PyRepr {
        let mut out = PyRepr::EMPTY;
        let (negative, s) = match s.as_bytes().split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, s.as_bytes()),
        };
        // Decompose ryu's output into significant digits and the exponent of the first digit.
        let (mantissa, exp_part) = match s.iter().position(|&b| b == b'e' || b == b'E') {
            Some(i) => (
                &s[..i],
                std::str::from_utf8(&s[i + 1..])
                    .ok()
                    .and_then(|e| e.parse::<i32>().ok())
                    .unwrap_or(0),
            ),
            None => (s, 0),
        };
        let (int_part, frac_part) = match mantissa.iter().position(|&b| b == b'.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, &[][..]),
        };
        let mut all = [0u8; 32];
        let mut n = 0;
        for &d in int_part.iter().chain(frac_part) {
            if let Some(slot) = all.get_mut(n) {
                *slot = d;
                n += 1;
            }
        }
        // Position of the decimal point relative to the first significant digit.
        let leading = all[..n].iter().take_while(|&&d| d == b'0').count();
        if leading == n {
            out.extend(if negative { b"-0.0" } else { b"0.0" });
            return out;
        }
        let point = int_part.len() as i32 + exp_part - leading as i32;
        let significant = &all[leading..n];
        let trailing = significant.iter().rev().take_while(|&&d| d == b'0').count();
        let digits = &significant[..significant.len() - trailing];
        let exp10 = point - 1;
        if negative {
            out.push(b'-');
        }
        if (-4..16).contains(&exp10) {
            if point <= 0 {
                out.extend(b"0.");
                for _ in 0..(-point) {
                    out.push(b'0');
                }
                out.extend(digits);
            } else {
                let p = point as usize;
                if digits.len() <= p {
                    out.extend(digits);
                    for _ in digits.len()..p {
                        out.push(b'0');
                    }
                    out.extend(b".0");
                } else {
                    out.extend(&digits[..p]);
                    out.push(b'.');
                    out.extend(&digits[p..]);
                }
            }
        } else {
            out.extend(&digits[..1]);
            if digits.len() > 1 {
                out.push(b'.');
                out.extend(&digits[1..]);
            }
            let mut text = [0u8; 10];
            let mut k = text.len();
            let mut rest = exp10.unsigned_abs();
            loop {
                k -= 1;
                text[k] = b'0' + (rest % 10) as u8;
                rest /= 10;
                if rest == 0 {
                    break;
                }
            }
            out.exponent(exp10 < 0, &text[k..]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct writer of the common reply writes what serde writes, byte for byte, for every shape, number,
    /// name and `meta` it takes, and declines the rest (which then go through serde, the same bytes again).
    #[test]
    fn the_common_reply_is_written_as_serde_writes_it() {
        use std::collections::BTreeMap;

        use oxserve_core::Tensor;

        use crate::seldon::{DefaultData, Meta, Metric};

        let floats = vec![
            0.8780303050243248,
            1.0794924957148087e-05,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            1e16,
            100.0,
            5e-324,
        ];
        let tensors = [
            Tensor::new(vec![2, 4], TensorData::F64(floats.clone())),
            Tensor::new(vec![8], TensorData::F64(floats.clone())),
            Tensor::new(vec![2, 2, 2], TensorData::F64(floats)),
            Tensor::new(vec![], TensorData::F64(vec![2.5])),
            Tensor::new(vec![0, 3], TensorData::F64(vec![])),
            Tensor::new(vec![3, 0], TensorData::F64(vec![])),
            Tensor::new(vec![3], TensorData::I64(vec![i64::MIN, 0, i64::MAX])),
            Tensor::new(vec![2], TensorData::F32(vec![0.1, 2.0])),
            Tensor::new(vec![1], TensorData::Bytes(vec![b"setosa".to_vec()])),
        ]
        .map(|t| t.expect("a tensor"));
        let names = [
            vec![],
            vec!["t:0".to_string(), "t:1".to_string()],
            vec!["a\"b".to_string()],
            vec!["é".to_string()],
            vec!["tab\there".to_string()],
        ];
        let metas = [
            Meta::default(),
            Meta {
                puid: "abc123".into(),
                request_path: BTreeMap::from([
                    ("classifier".to_string(), String::new()),
                    ("b".to_string(), "seldonio/sklearnserver:1.17".to_string()),
                ]),
                ..Meta::default()
            },
            Meta {
                request_path: BTreeMap::from([("classifier".to_string(), String::new())]),
                ..Meta::default()
            },
            Meta {
                puid: "x\\y".into(),
                ..Meta::default()
            },
            Meta {
                tags: BTreeMap::from([("a".to_string(), serde_json::json!(1))]),
                ..Meta::default()
            },
            Meta {
                metrics: vec![Metric {
                    key: "k".into(),
                    tags: BTreeMap::new(),
                    kind: "COUNTER".into(),
                    value: 1.0,
                }],
                ..Meta::default()
            },
        ];
        let mut direct = 0;
        for tensor in &tensors {
            for names in &names {
                for meta in &metas {
                    for array in [
                        DataArray::NdArray(tensor.clone()),
                        DataArray::Tensor(tensor.clone()),
                    ] {
                        let message = SeldonMessage {
                            meta: meta.clone(),
                            payload: Payload::Data(DefaultData {
                                names: names.clone(),
                                array,
                            }),
                            status: None,
                        };
                        let expected = to_vec(&message).expect("serde writes it");
                        assert_eq!(
                            String::from_utf8_lossy(&message_to_vec(&message).expect("written")),
                            String::from_utf8_lossy(&expected)
                        );
                        if write_common(&message, &mut Vec::new()).is_some() {
                            direct += 1;
                        }
                    }
                }
            }
        }
        // Float and int ndarrays, plain names (2 of 5), the first three metas.
        assert_eq!(direct, 7 * 2 * 3);
    }

    fn py(x: f64) -> String {
        let mut s = String::new();
        write_py_float(&mut s, x);
        s
    }

    #[test]
    fn floats_print_like_python_repr() {
        assert_eq!(py(1.0794924957147897e-05), "1.0794924957147897e-05");
        assert_eq!(py(1e-5), "1e-05");
        assert_eq!(py(1e16), "1e+16");
        assert_eq!(py(100.0), "100.0");
        assert_eq!(py(0.0001), "0.0001");
        assert_eq!(py(0.8780303050243092), "0.8780303050243092");
        assert_eq!(py(123456789012345.6), "123456789012345.6");
        assert_eq!(py(1234567890123456.0), "1234567890123456.0");
        assert_eq!(py(1.5e300), "1.5e+300");
        assert_eq!(py(-2.5e-7), "-2.5e-07");
        assert_eq!(py(0.0), "0.0");
        assert_eq!(py(-0.0), "-0.0");
        assert_eq!(py(f64::NAN), "NaN");
        assert_eq!(py(5e-324), "5e-324");
    }

    /// Around the bounds where Python's and ryu's notations switch, the value-based choice of `py_repr` writes
    /// what the general layout writes, and Python's text.
    #[test]
    fn notation_bounds_agree_with_the_general_layout() {
        for bound in [1e-5_f64, 1e-4, 1e16] {
            for bits in bound.to_bits() - 3..=bound.to_bits() + 3 {
                for v in [f64::from_bits(bits), -f64::from_bits(bits)] {
                    let mut fast = String::new();
                    write_py_float(&mut fast, v);
                    let slow = PyRepr::layout(ryu::Buffer::new().format_finite(v));
                    assert_eq!(fast, slow.as_str(), "{v:e}");
                }
            }
        }
        assert_eq!(py(9999999999999998.0), "9999999999999998.0");
        assert_eq!(py(1e-4), "0.0001");
        assert_eq!(py(9.999999999999999e-5), "9.999999999999999e-05");
        assert_eq!(py(-1e-5), "-1e-05");
        assert_eq!(py(9.999999999999999e-6), "9.999999999999999e-06");
    }

    #[test]
    fn fast_path_agrees_with_the_general_layout() {
        let mut x = 1.234_567_890_123e-300_f64;
        for _ in 0..40_000 {
            for v in [x, -x, x.round(), 1.0 / x] {
                let mut fast = String::new();
                write_py_float(&mut fast, v);
                let mut slow = String::new();
                if v.is_finite() {
                    slow.push_str(PyRepr::layout(ryu::Buffer::new().format_finite(v)).as_str());
                    assert_eq!(fast, slow, "{v:e}");
                }
            }
            x *= 1.037;
        }
    }

    /// The allocating layout the stack one replaced (strings and a `to_string` per exponent), kept as the
    /// reference it must match.
    fn reference_layout(s: &str) -> String {
        let mut out = String::new();
        let (negative, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (mantissa, exp_part) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().unwrap()),
            None => (s, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let mut digits: String = int_part.chars().chain(frac_part.chars()).collect();
        let mut point = int_part.len() as i32 + exp_part;
        let leading = digits.len() - digits.trim_start_matches('0').len();
        if leading == digits.len() {
            return if negative { "-0.0" } else { "0.0" }.into();
        }
        digits.drain(..leading);
        point -= leading as i32;
        digits.truncate(digits.trim_end_matches('0').len());
        let exp10 = point - 1;
        if negative {
            out.push('-');
        }
        if (-4..16).contains(&exp10) {
            if point <= 0 {
                out.push_str("0.");
                out.push_str(&"0".repeat((-point) as usize));
                out.push_str(&digits);
            } else if digits.len() <= point as usize {
                out.push_str(&digits);
                out.push_str(&"0".repeat(point as usize - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point as usize]);
                out.push('.');
                out.push_str(&digits[point as usize..]);
            }
        } else {
            out.push_str(&digits[..1]);
            if digits.len() > 1 {
                out.push('.');
                out.push_str(&digits[1..]);
            }
            out.push_str(&format!(
                "e{}{:02}",
                if exp10 < 0 { '-' } else { '+' },
                exp10.unsigned_abs()
            ));
        }
        out
    }

    /// The stack layout writes what the allocating one wrote, for every kind of finite double (random bit
    /// patterns: subnormals, tiny, huge, integral) and the edges of the fixed-notation range.
    #[test]
    fn stack_layout_matches_the_reference_layout() {
        let mut bits = 0x9e37_79b9_7f4a_7c15u64;
        let mut values = vec![
            1e-4,
            9.999e-5,
            1e16,
            9.999_999_999_999_998e15,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
        ];
        for _ in 0..20_000 {
            bits ^= bits << 13;
            bits ^= bits >> 7;
            bits ^= bits << 17;
            values.push(f64::from_bits(bits));
        }
        for v in values.into_iter().filter(|v| v.is_finite()) {
            for v in [v, -v] {
                let text = ryu::Buffer::new().format_finite(v).to_owned();
                assert_eq!(
                    PyRepr::layout(&text).as_str(),
                    reference_layout(&text),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn non_ascii_is_escaped_and_keys_stay_compact() {
        let v = serde_json::json!({"b": "é→😀", "a": [1.0, 2]});
        let s = String::from_utf8(to_vec(&v).unwrap()).unwrap();
        assert_eq!(
            s,
            "{\"a\":[1.0,2],\"b\":\"\\u00e9\\u2192\\ud83d\\ude00\"}\n"
        );
    }
}
