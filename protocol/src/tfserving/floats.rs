//! TF Serving's float text: C's `%g` at the shortest of two precisions that reads back as the same value (6,
//! else 9 for a float and 17 for a double), always with a `.` or an exponent, bare `NaN` and `Infinity`.

use std::cmp::Ordering;
use std::fmt::Write as _;

use crate::powers::scaled;

/// Writes a double as TF Serving does: `%.6g` when that reads back as the same value, else `%.17g`; always with
/// a `.` or an exponent (`3.0`); `NaN`, `Infinity`, `-Infinity` bare.
pub fn write_float(out: &mut Vec<u8>, v: f64) {
    if write_non_finite(out, v) {
        return;
    }
    if v == 0.0 || v.abs() >= f64::MIN_POSITIVE {
        let mut buf = ryu::Buffer::new();
        let shortest = Digits::parse(buf.format_finite(v));
        if shortest.n <= 6 {
            return shortest.write_g(out, 6);
        }
    } else {
        // Subnormal: fewer bits than the shortcut assumes; round to 6 digits and read back.
        let mut scratch = Scratch::default();
        let _ = write!(scratch, "{v:.5e}");
        if scratch.text().parse::<f64>().is_ok_and(|back| back == v) {
            return Digits::parse(scratch.text()).write_g(out, 6);
        }
    }
    let mut scratch = Scratch::default();
    let _ = write!(scratch, "{v:.16e}");
    Digits::parse(scratch.text()).write_g(out, 17);
}

/// [`write_float`] for a float: `%.6g`, else `%.9g`.
pub fn write_float32(out: &mut Vec<u8>, v: f32) {
    if write_non_finite(out, f64::from(v)) {
        return;
    }
    match v.is_normal().then(|| quick_float32(v)).flatten() {
        Some(rounded) => rounded.write(out),
        None => write_float32_exact(out, v),
    }
}

/// A float's digits rounded to `precision` places in integer form: `digits` (no trailing zeros) with the
/// decimal exponent `exp` of the first.
struct Rounded {
    negative: bool,
    digits: u64,
    exp: i32,
    precision: i32,
}

impl Rounded {
    /// `value`, an integer of `precision` digits (or `10^precision`, rounded up from below), standing for
    /// `value × 10^(exp - precision + 1)`.
    fn new(negative: bool, value: u64, precision: i32, exp: i32) -> Rounded {
        let (mut digits, mut exp) = (value, exp);
        if digits >= 10u64.pow(precision.unsigned_abs()) {
            // Rounded up to the next power of ten.
            exp += 1;
        }
        while digits % 10 == 0 && digits > 0 {
            digits /= 10;
        }
        Rounded {
            negative,
            digits,
            exp,
            precision,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let mut buf = itoa::Buffer::new();
        let digits = buf.format(self.digits).as_bytes();
        write_g(out, self.negative, digits, self.exp, self.precision);
    }
}

/// A normal float's `%.6g`-or-`%.9g` digits, computed in double arithmetic; `None` when the
/// computation's error could change the answer and exact integers ([`edge_distance`], [`fraction_vs_half`])
/// would overflow, which [`write_float32_exact`] then decides.
///
/// Why it is exact otherwise: the float is exact as a double, so `|v| × 10^(8-k)` (k its decimal exponent,
/// [`scaled`]) is within 2^-52 relative, under 2.3e-7 units of the 9th digit, of the true value: its integer
/// part and which side of one half its fraction lies on are those of the true digits. `%.6g` reads back as the float when the
/// 6-digit decimal nearest it lies within half the gap to the neighbouring float on its side (a quarter ulp
/// below a power of two); both distances are known to within 1e-9 units of the 6th digit.
fn quick_float32(v: f32) -> Option<Rounded> {
    let a = f64::from(v.abs());
    let binary_exp = i32::try_from((a.to_bits() >> 52) & 0x7ff).ok()? - 1023;
    // floor(binary_exp × log10 2) is the decimal exponent or one less.
    let mut k = (binary_exp * 78_913) >> 18;
    let mut x9 = scaled(a, 8 - k)?;
    if x9 >= 1e9 {
        k += 1;
        x9 = scaled(a, 8 - k)?;
    }
    if !(1e8..1e9).contains(&x9) {
        return None;
    }
    let negative = v.is_sign_negative();
    let mantissa = u64::from(v.to_bits() & 0x007f_ffff | 0x0080_0000);
    let (whole6, fraction6) = whole_and_fraction(scaled(a, 5 - k)?);
    let (nearest6, distance) = if fraction6 < 0.5 {
        (whole6, fraction6)
    } else {
        (whole6 + 1, 1.0 - fraction6)
    };
    let ulp = f64::from_bits(u64::try_from(binary_exp - 23 + 1023).ok()? << 52);
    // The 6-digit decimal lies below the float.
    let below = fraction6 > 0.0 && fraction6 < 0.5;
    let mut half_gap = scaled(ulp / 2.0, 5 - k)?;
    if below && mantissa == 0x0080_0000 {
        // Below a power of two the neighbouring float is half as far.
        half_gap /= 2.0;
    }
    let reads_back = if (distance - half_gap).abs() < 1e-8 {
        // Large integers such as 89317904 lie exactly half a gap from a 6-digit decimal (89317900), which
        // reads back as the float whose mantissa is even. Exact integers decide.
        match edge_distance(nearest6, k - 5, mantissa, binary_exp - 23, below)? {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => mantissa % 2 == 0,
        }
    } else {
        distance < half_gap
    };
    if reads_back {
        return Some(Rounded::new(negative, nearest6, 6, k));
    }
    let (whole, fraction) = whole_and_fraction(x9);
    let up = if (fraction - 0.5).abs() < 1e-6 {
        // Floats near a million carry few fractional bits: 564593.6875 is a true tie at 9 digits. Exact
        // integers decide, and a tie rounds to even as C does.
        match fraction_vs_half(mantissa, binary_exp - 23, 8 - k)? {
            Ordering::Less => false,
            Ordering::Greater => true,
            Ordering::Equal => whole % 2 == 1,
        }
    } else {
        fraction > 0.5
    };
    let nearest9 = whole + u64::from(up);
    Some(Rounded::new(negative, nearest9, 9, k))
}

/// A positive double below 2^63 split into its integer part and fraction. Truncation is the floor here, with no
/// libm call as `floor` would make; and through `i64`, whose conversions are single instructions, unlike `u64`'s.
fn whole_and_fraction(x: f64) -> (u64, f64) {
    let whole = x as i64;
    (whole.unsigned_abs(), x - whole as f64)
}

/// How the fractional part of `mantissa × 2^exp2 × 10^p` compares with one half, in exact integers; `None`
/// where they would overflow (never near a tie: only floats between about 2^8 and 2^21 have so few digits).
fn fraction_vs_half(mantissa: u64, exp2: i32, p: i32) -> Option<Ordering> {
    let m = u128::from(mantissa);
    if p >= 0 {
        // m × 5^p × 2^(exp2 + p)
        let n = m.checked_mul(5u128.checked_pow(p.unsigned_abs())?)?;
        let Ok(shift) = u32::try_from(-(exp2 + p)) else {
            return Some(Ordering::Less); // an integer
        };
        if shift == 0 {
            return Some(Ordering::Less);
        }
        let low = n & 1u128.checked_shl(shift)?.wrapping_sub(1);
        Some(low.cmp(&(1u128 << (shift - 1))))
    } else {
        // An integer m × 2^exp2 divided by 10^-p.
        let shift = u32::try_from(exp2).ok()?;
        if shift > 100 {
            return None;
        }
        let divisor = 10u128.checked_pow(p.unsigned_abs())?;
        Some(((m << shift) % divisor * 2).cmp(&divisor))
    }
}

/// How far the decimal `decimal × 10^q` lies from the float `mantissa × 2^exp2`, against half the gap to the
/// float's neighbour on the decimal's side (`below`), in exact integers; `None` where they would overflow.
fn edge_distance(decimal: u64, q: i32, mantissa: u64, exp2: i32, below: bool) -> Option<Ordering> {
    // Everything times 2^t × 10^u, which makes each term an integer.
    let t = (2 - exp2).max(0);
    let u = (-q).max(0);
    let pow2 = |e: i32| 1u128.checked_shl(u32::try_from(e).ok()?);
    let pow10 = |e: i32| 10u128.checked_pow(u32::try_from(e).ok()?);
    let scaled_decimal = u128::from(decimal)
        .checked_mul(pow10(q + u)?)?
        .checked_mul(pow2(t)?)?;
    let scaled_float = u128::from(mantissa)
        .checked_mul(pow2(exp2 + t)?)?
        .checked_mul(pow10(u)?)?;
    let narrow = below && mantissa == 0x0080_0000;
    let half_gap = pow2(exp2 - if narrow { 2 } else { 1 } + t)?.checked_mul(pow10(u)?)?;
    Some(scaled_decimal.abs_diff(scaled_float).cmp(&half_gap))
}

/// [`write_float32`] the slow, exact way: the shortest round-trip digits decide `%.6g`, the double's shortest
/// digits rounded give `%.9g`, and Rust's exact formatting the rest.
fn write_float32_exact(out: &mut Vec<u8>, v: f32) {
    if v == 0.0 || v.abs() >= f32::MIN_POSITIVE {
        let mut buf = ryu::Buffer::new();
        let shortest = Digits::parse(buf.format_finite(v));
        if shortest.n <= 6 {
            return shortest.write_g(out, 6);
        }
        let wide = Digits::parse(buf.format_finite(f64::from(v)));
        if let Some(rounded) = wide.round_to(9) {
            return rounded.write_g(out, 9);
        }
    } else {
        let mut scratch = Scratch::default();
        let _ = write!(scratch, "{v:.5e}");
        if scratch.text().parse::<f32>().is_ok_and(|back| back == v) {
            return Digits::parse(scratch.text()).write_g(out, 6);
        }
    }
    let mut scratch = Scratch::default();
    let _ = write!(scratch, "{v:.8e}");
    Digits::parse(scratch.text()).write_g(out, 9);
}

fn write_non_finite(out: &mut Vec<u8>, v: f64) -> bool {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"Infinity");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Infinity");
    } else {
        return false;
    }
    true
}

/// A finite decimal: sign, significant digits (no leading or trailing zeros; empty for zero) and the decimal
/// exponent of the first digit.
///
/// Why the fast paths are exact: for a normal float, when the shortest round-trip form (ryu) has at most 6
/// digits, `%.6g` has exactly those digits (a half-ulp, relative 2^-24 or less, is far below half a unit in the
/// 6th digit, relative 5e-7 or more), and when it has more, no 6-digit decimal reads back the same, so TF
/// Serving prints more. A float's `%.9g` is its double's shortest form (within relative 1.2e-16 of the exact
/// value, i.e. 1.2e-7 of a unit in the 9th digit) rounded to 9 digits, unless the digits dropped are within
/// 1e-5 units of one half: then the exact path decides.
struct Digits {
    negative: bool,
    digits: [u8; 40],
    n: usize,
    exp: i32,
}

impl Digits {
    /// Reads `-ddd.ddd` or `-d.ddde±x` (ryu's and Rust's `{:e}` forms).
    fn parse(text: &str) -> Digits {
        let (negative, text) = match text.strip_prefix('-') {
            Some(t) => (true, t),
            None => (false, text),
        };
        let (mantissa, e) = match text.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
            None => (text, 0),
        };
        let int_len = mantissa
            .split_once('.')
            .map_or(mantissa.len(), |(i, _)| i.len());
        let mut digits = [b'0'; 40];
        let mut n = 0;
        let mut leading = 0i32;
        for b in mantissa.bytes().filter(u8::is_ascii_digit) {
            if n == 0 && b == b'0' {
                leading += 1;
                continue;
            }
            if n < digits.len() {
                digits[n] = b;
                n += 1;
            }
        }
        while n > 0 && digits[n - 1] == b'0' {
            n -= 1;
        }
        let exp = e + i32::try_from(int_len).unwrap_or(0) - 1 - leading;
        Digits {
            negative,
            digits,
            n,
            exp: if n == 0 { 0 } else { exp },
        }
    }

    /// Rounded to `places` significant digits (half up), or `None` when the dropped digits are within 1e-5 of
    /// one half of the last kept digit (too near a tie to trust a rounded input).
    fn round_to(mut self, places: usize) -> Option<Digits> {
        if self.n <= places {
            return Some(self);
        }
        // Digits past `n` are '0': the tail is padded.
        let tail = &self.digits[places..places + 5];
        if tail == b"49999" || tail == b"50000" {
            return None;
        }
        let up = self.digits[places] >= b'5';
        self.n = places;
        if up {
            let mut i = places;
            loop {
                if i == 0 {
                    self.digits[0] = b'1';
                    self.n = 1;
                    self.exp += 1;
                    break;
                }
                i -= 1;
                if self.digits[i] == b'9' {
                    self.digits[i] = b'0';
                } else {
                    self.digits[i] += 1;
                    break;
                }
            }
        }
        while self.n > 0 && self.digits[self.n - 1] == b'0' {
            self.n -= 1;
        }
        Some(self)
    }

    /// Writes C's `%.{precision}g` of these digits (at most `precision` of them), then `.0` when the result
    /// has neither `.` nor an exponent.
    fn write_g(&self, out: &mut Vec<u8>, precision: i32) {
        let digits: &[u8] = if self.n == 0 {
            b"0"
        } else {
            &self.digits[..self.n]
        };
        write_g(out, self.negative, digits, self.exp, precision);
    }
}

/// Writes C's `%.{precision}g` of a decimal (its significant `digits`, at most `precision` of them, and the
/// decimal exponent of the first), then `.0` when the result has neither `.` nor an exponent.
fn write_g(out: &mut Vec<u8>, negative: bool, digits: &[u8], exp: i32, precision: i32) {
    if negative {
        out.push(b'-');
    }
    if exp < -4 || exp >= precision {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        // C prints at least two exponent digits.
        let magnitude = exp.unsigned_abs();
        if magnitude < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(magnitude).as_bytes());
    } else if exp < 0 {
        out.extend_from_slice(b"0.");
        for _ in 0..(-exp - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
    } else {
        let int_len = usize::try_from(exp).unwrap_or(0) + 1;
        if digits.len() > int_len {
            out.extend_from_slice(&digits[..int_len]);
            out.push(b'.');
            out.extend_from_slice(&digits[int_len..]);
        } else {
            out.extend_from_slice(digits);
            for _ in digits.len()..int_len {
                out.push(b'0');
            }
            out.extend_from_slice(b".0");
        }
    }
}

/// A stack buffer for one formatted float (at most 25 bytes).
struct Scratch {
    buf: [u8; 48],
    len: usize,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl Scratch {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("0")
    }
}

impl std::fmt::Write for Scratch {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64s(values: &[f64]) -> Vec<String> {
        values
            .iter()
            .map(|&v| {
                let mut out = Vec::new();
                write_float(&mut out, v);
                String::from_utf8(out).unwrap()
            })
            .collect()
    }

    #[test]
    fn floats_print_as_tf_serving_prints_them() {
        assert_eq!(
            f64s(&[3.0, 0.0, -0.5, 2.5, 1e20, 1e-7, 123456.0, 1234567.0, 0.1]),
            [
                "3.0",
                "0.0",
                "-0.5",
                "2.5",
                "1e+20",
                "1e-07",
                "123456.0",
                "1234567.0",
                "0.1"
            ]
        );
        // Not round-tripping at 6 digits: 17.
        assert_eq!(f64s(&[1.0 / 3.0]), ["0.33333333333333331"]);
        assert_eq!(
            f64s(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
            ["NaN", "Infinity", "-Infinity"]
        );
        let mut out = Vec::new();
        write_float32(&mut out, 0.1f32);
        out.push(b' ');
        write_float32(&mut out, 1.0f32 / 3.0);
        assert_eq!(String::from_utf8(out).unwrap(), "0.1 0.333333343");
        // True ties at the 9th digit round to even, as C's printf does (Python's `'%.9g' % v`).
        let f32s = |values: &[f32]| -> Vec<String> {
            values
                .iter()
                .map(|&v| {
                    let mut out = Vec::new();
                    write_float32(&mut out, v);
                    String::from_utf8(out).unwrap()
                })
                .collect()
        };
        assert_eq!(
            f32s(&[564_593.7, 1_026.140_6, 2.5e-6, -1.25e-5]),
            ["564593.688", "1026.14062", "2.5e-06", "-1.25e-05"]
        );
    }

    /// C's `%.{p}g` the slow way (Rust's exact `{:.Ne}` for the digits and exponent, then C's choice between
    /// fixed and scientific), the reference the fast path must equal.
    fn c_g(v: f64, p: usize) -> String {
        let sci = format!("{:.*e}", p - 1, v);
        let (m, e) = sci.split_once('e').unwrap();
        let e: i32 = e.parse().unwrap();
        let trim = |s: &str| -> String {
            if s.contains('.') {
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                s.to_string()
            }
        };
        if e < -4 || e >= p as i32 {
            format!(
                "{}e{}{:02}",
                trim(m),
                if e < 0 { '-' } else { '+' },
                e.abs()
            )
        } else {
            trim(&format!("{v:.*}", (p as i32 - 1 - e) as usize))
        }
    }

    fn reference(v: f64, single: bool) -> String {
        let short = c_g(v, 6);
        let exact = if single {
            short.parse::<f32>().unwrap() == v as f32
        } else {
            short.parse::<f64>().unwrap() == v
        };
        let mut text = if exact {
            short
        } else {
            c_g(v, if single { 9 } else { 17 })
        };
        if !text.contains(['.', 'e']) {
            text.push_str(".0");
        }
        text
    }

    #[test]
    fn fast_float_printing_equals_c_printf() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            3.0,
            0.1,
            0.5,
            1e-5,
            1e-4,
            9.999995e-5,
            99999.95,
            999999.5,
            1e6,
            123456.0,
            1234567.0,
            1e20,
            1e-7,
            2.5e-310,
            1.7976931348623157e308,
            0.30000000000000004,
        ];
        for _ in 0..20_000 {
            let r = next();
            // Random bit patterns (all exponents) and "ordinary" numbers with few digits.
            values.push(f64::from_bits(r));
            values.push((r % 2_000_000) as f64 / 1000.0 - 1000.0);
            values.push(f64::from(f32::from_bits(r as u32)));
        }
        for v in values.into_iter().filter(|v| v.is_finite()) {
            let mut out = Vec::new();
            write_float(&mut out, v);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                reference(v, false),
                "{v:e}"
            );
            let single = v as f32;
            if single.is_finite() {
                let mut out = Vec::new();
                write_float32(&mut out, single);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    reference(f64::from(single), true),
                    "{single:e}"
                );
            }
        }
    }

    fn fast_and_exact(v: f32) -> (String, String) {
        let (mut fast, mut exact) = (Vec::new(), Vec::new());
        write_float32(&mut fast, v);
        write_float32_exact(&mut exact, v);
        (
            String::from_utf8(fast).unwrap(),
            String::from_utf8(exact).unwrap(),
        )
    }

    /// The floats where double arithmetic is nearest to the wrong answer: powers of two (a narrower gap below),
    /// the floats around 6-digit decimals (the edge of reading back), around 9-digit ties and around powers of
    /// ten, with their neighbours, and a stride through every bit pattern.
    #[test]
    fn quick_float32_equals_the_exact_path_where_it_is_hardest() {
        let mut floats = Vec::new();
        let around = |floats: &mut Vec<f32>, v: f32| {
            let bits = v.to_bits();
            for d in 0..=3u32 {
                floats.push(f32::from_bits(bits.wrapping_add(d)));
                floats.push(f32::from_bits(bits.wrapping_sub(d)));
            }
        };
        for e in -126..=127 {
            around(&mut floats, 2f32.powi(e));
        }
        for e in -38..=38 {
            around(&mut floats, format!("1e{e}").parse().unwrap());
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let e = (x >> 40) as i32 % 76 - 38;
            around(
                &mut floats,
                format!("{}e{e}", 100_000 + x % 900_000).parse().unwrap(),
            );
            around(
                &mut floats,
                format!("{}5e{e}", 100_000_000 + x % 900_000_000)
                    .parse()
                    .unwrap(),
            );
        }
        let stride: Vec<f32> = (0..u32::MAX / 65_537)
            .map(|i| f32::from_bits(i * 65_537))
            .collect();
        for &v in floats.iter().chain(&stride).filter(|v| v.is_finite()) {
            let (fast, exact) = fast_and_exact(v);
            assert_eq!(fast, exact, "{v:e} ({:#x})", v.to_bits());
        }
        // The shortcut must decide nearly every float, or it is no shortcut.
        let normal: Vec<f32> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                f32::from_bits(x as u32)
            })
            .filter(|v| v.is_normal())
            .collect();
        let quick = normal
            .iter()
            .filter(|&&v| quick_float32(v).is_some())
            .count();
        assert!(
            quick * 10_000 >= normal.len() * 9_999,
            "{quick} of {}",
            normal.len()
        );
    }

    /// Every positive float (the sign only adds `-`); about two and a half minutes on two cores in release:
    /// `cargo test --release -p oxserve-protocol every_float32 -- --ignored`.
    #[test]
    #[ignore = "exhaustive: 2^31 floats"]
    fn every_float32_prints_as_the_exact_path_does() {
        let halves = [0..0x4000_0000u32, 0x4000_0000..0x7f80_0000];
        std::thread::scope(|scope| {
            for range in halves {
                scope.spawn(move || {
                    let (mut fast, mut exact) = (Vec::new(), Vec::new());
                    for bits in range {
                        let v = f32::from_bits(bits);
                        fast.clear();
                        exact.clear();
                        write_float32(&mut fast, v);
                        if v.is_normal() && quick_float32(v).is_some() {
                            write_float32_exact(&mut exact, v);
                            assert_eq!(fast, exact, "{v:e} ({bits:#x})");
                        }
                    }
                });
            }
        });
    }
}
