//! JSON written the way Seldon's Python wrapper (Flask `jsonify`) writes it: compact, keys sorted (our structs
//! declare fields in sorted order and maps are `BTreeMap`s), floats as Python's `repr` (`1e-05`, `100.0`,
//! `1e+16`), non-ASCII escaped as `\uXXXX`, and one trailing newline.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};

/// A compact serde_json formatter that prints floats as Python's `repr` and escapes non-ASCII characters.
#[derive(Debug, Default, Clone, Copy)]
pub struct PyFormatter;

impl Formatter for PyFormatter {
    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        let mut ryu_buf = ryu::Buffer::new();
        if let Some(s) = fast_repr(value, &mut ryu_buf) {
            return writer.write_all(s.as_bytes());
        }
        let mut buf = String::with_capacity(32);
        write_py_float(&mut buf, value);
        writer.write_all(buf.as_bytes())
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

/// Appends `x` formatted as Python's `repr(float)`: shortest round-trip digits, fixed notation for decimal
/// exponents in `-4..16` (always with a fractional part: `100.0`), otherwise `d.ddde±XX`. NaN and infinities are
/// written as Python's `json` module writes them (`NaN`, `Infinity`, `-Infinity`).
pub fn write_py_float(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    let mut ryu_buf = ryu::Buffer::new();
    if let Some(s) = fast_repr(x, &mut ryu_buf) {
        out.push_str(s);
        return;
    }
    write_py_float_slow(out, ryu_buf.format_finite(x));
}

/// Where ryu already writes fixed notation and Python does too (finite, |x| >= 1e-4 or zero), the two agree digit
/// for digit (shortest round-trip, `.0` on integral values): ryu's text is Python's repr, with no allocation.
fn fast_repr(x: f64, ryu_buf: &mut ryu::Buffer) -> Option<&str> {
    if !x.is_finite() || (x != 0.0 && x.abs() < 1e-4) {
        return None;
    }
    let s = ryu_buf.format_finite(x);
    (!s.contains(['e', 'E'])).then_some(s)
}

/// Rebuilds ryu's shortest digits in Python's layout (used for scientific notation and tiny fixed values).
fn write_py_float_slow(out: &mut String, s: &str) {
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    // Decompose ryu's output into significant digits and the exponent of the first digit.
    let (mantissa, exp_part) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: String = int_part.chars().chain(frac_part.chars()).collect();
    // Position of the decimal point relative to the start of `digits`.
    let mut point = int_part.len() as i32 + exp_part;
    let leading = digits.len() - digits.trim_start_matches('0').len();
    if leading == digits.len() {
        out.push_str(if negative { "-0.0" } else { "0.0" });
        return;
    }
    digits.drain(..leading);
    point -= leading as i32;
    let trimmed = digits.trim_end_matches('0').len();
    digits.truncate(trimmed);
    let exp10 = point - 1;
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp10) {
        if point <= 0 {
            out.push_str("0.");
            for _ in 0..(-point) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let p = point as usize;
            if digits.len() <= p {
                out.push_str(&digits);
                for _ in digits.len()..p {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..p]);
                out.push('.');
                out.push_str(&digits[p..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp10 < 0 { '-' } else { '+' });
        let e = exp10.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn fast_path_agrees_with_the_general_layout() {
        let mut x = 1.234_567_890_123e-7_f64;
        for _ in 0..2000 {
            for v in [x, -x, x.round(), 1.0 / x] {
                let mut fast = String::new();
                write_py_float(&mut fast, v);
                let mut slow = String::new();
                if v.is_finite() {
                    write_py_float_slow(&mut slow, ryu::Buffer::new().format_finite(v));
                    assert_eq!(fast, slow, "{v:e}");
                }
            }
            x *= 1.037;
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
