//! Powers of ten as doubles, for the fast number paths: reading a JSON number exactly (`scan.rs`) and writing
//! TF Serving's float text within an error bound (`tfserving/floats.rs`).

/// The largest power of ten a double holds exactly.
pub(crate) const MAX_EXACT: u32 = 22;

/// `1e0` to `1e46`: exact to `1e22`, correctly rounded beyond.
const POWERS: [f64; 47] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32,
    1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43, 1e44, 1e45, 1e46,
];

/// `a × 10^p` in one double operation (a multiply, or a divide for negative `p`), `None` past `10^±46`: the
/// correctly rounded result for `|p|` up to [`MAX_EXACT`] (one rounding of exact operands), within 2^-52
/// relative beyond (the power itself rounded too).
pub(crate) fn scaled(a: f64, p: i32) -> Option<f64> {
    let power = *POWERS.get(usize::try_from(p.unsigned_abs()).ok()?)?;
    Some(if p >= 0 { a * power } else { a / power })
}
