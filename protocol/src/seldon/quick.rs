//! The common Seldon request read in one pass without serde: `{"data":{"names":[…],"ndarray":[[…]]},"meta":{}}`,
//! a numeric `ndarray` with optional plain `names` and an empty (or absent) `meta`.
//!
//! It is a fast path, not a second reader: it either builds exactly the [`SeldonMessage`] that the general
//! reader ([`SeldonMessage::from_json_general`], serde) builds from the same text, or it declines (`None`) and
//! the general reader reads the text, errors included. It declines on anything outside that shape: another
//! key, a duplicate key, an escape or control character in a string, `null`, a string or a boolean in the
//! array, an empty or ragged list, a nesting of more than 32 lists, an integer of more than 18 digits, a number that
//! overflows `f64`, invalid JSON, or a shape its budget refuses. The protocol's fuzz harness checks the
//! equivalence on every input it runs (`protocol/fuzz-harness`).
//!
//! What it saves: serde's derived struct visitors, the `WireMessage` step and serde_json's number parser (the
//! seed's iris request: ~4,100 instructions read by serde, ~1,000 by this; `scripts/bench-instructions.sh`).

use oxserve_core::{Tensor, TensorData};

use super::message::{DataArray, DefaultData, Meta, Payload, SeldonMessage};
use super::ndarray::MAX_DEPTH;
use crate::limits::Budget;

/// Reads `json` if it is the common request shape; `None` to leave it to the general reader.
pub(crate) fn read(json: &[u8], budget: &mut Budget) -> Option<SeldonMessage> {
    let mut r = Reader { json, pos: 0 };
    let mut data = None;
    let mut meta = false;
    r.object(|r, key| match key {
        b"data" if data.is_none() => {
            data = Some(r.data()?);
            Some(())
        }
        b"meta" if !meta => {
            meta = true;
            r.empty_object()
        }
        _ => None,
    })?;
    r.ws();
    if r.pos != json.len() {
        return None;
    }
    let (names, tensor) = data?;
    budget.shape(tensor.shape()).ok()?;
    Some(SeldonMessage {
        meta: Meta::default(),
        payload: Payload::Data(DefaultData {
            names,
            array: DataArray::NdArray(tensor),
        }),
        status: None,
    })
}

/// A cursor over the text.
struct Reader<'a> {
    json: &'a [u8],
    pos: usize,
}

/// The numbers of an `ndarray` so far: integers until the first float, as the general reader keeps them.
enum Leaves {
    None,
    Ints(Vec<i64>),
    Floats(Vec<f64>),
}

impl Leaves {
    /// The first list's capacity: a row of a few features without growing.
    const FIRST: usize = 8;

    fn push_int(&mut self, v: i64) {
        match self {
            Leaves::None => {
                let mut xs = Vec::with_capacity(Self::FIRST);
                xs.push(v);
                *self = Leaves::Ints(xs);
            }
            Leaves::Ints(xs) => xs.push(v),
            Leaves::Floats(xs) => xs.push(v as f64),
        }
    }

    fn push_float(&mut self, v: f64) {
        match self {
            Leaves::None => {
                let mut xs = Vec::with_capacity(Self::FIRST);
                xs.push(v);
                *self = Leaves::Floats(xs);
            }
            Leaves::Floats(xs) => xs.push(v),
            Leaves::Ints(xs) => {
                let mut fs: Vec<f64> = Vec::with_capacity(xs.capacity().max(xs.len() + 1));
                fs.extend(xs.iter().map(|&x| x as f64));
                fs.push(v);
                *self = Leaves::Floats(fs);
            }
        }
    }
}

/// 10^0 … 10^22: the powers of ten that are exact in an `f64`.
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// 10^0 … 10^19.
const POWERS_OF_TEN_U64: [u64; 20] = {
    let mut p = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// The value of at most 19 decimal digits.
fn decimal(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |acc, &d| {
        acc.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
    })
}

/// One JSON number, as serde_json hands it to a visitor.
enum Number {
    Int(i64),
    Float(f64),
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.json.get(self.pos).copied()
    }

    /// Skips JSON whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `byte` after whitespace.
    fn eat(&mut self, byte: u8) -> Option<()> {
        self.ws();
        if self.peek()? != byte {
            return None;
        }
        self.pos += 1;
        Some(())
    }

    /// An object whose members `member` reads, given each key (at least one member).
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        loop {
            self.ws();
            let key = self.plain_string()?;
            self.eat(b':')?;
            self.ws();
            member(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `{}`.
    fn empty_object(&mut self) -> Option<()> {
        self.eat(b'{')?;
        self.eat(b'}')
    }

    /// A string without escapes or control characters (bytes from 0x20 on other than `"` and `\`), valid UTF-8.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        let json = self.json;
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.pos + 1;
        let mut ascii = true;
        let mut end = start;
        loop {
            match *json.get(end)? {
                b'"' => break,
                b'\\' | 0..0x20 => return None,
                b => ascii &= b.is_ascii(),
            }
            end += 1;
        }
        self.pos = end + 1;
        let text = json.get(start..end)?;
        if !ascii {
            std::str::from_utf8(text).ok()?;
        }
        Some(text)
    }

    /// `data`: `names` (optional) and `ndarray`, nothing else.
    fn data(&mut self) -> Option<(Vec<String>, Tensor)> {
        let mut names = None;
        let mut ndarray = None;
        self.object(|r, key| match key {
            b"names" if names.is_none() => {
                names = Some(r.names()?);
                Some(())
            }
            b"ndarray" if ndarray.is_none() => {
                ndarray = Some(r.ndarray()?);
                Some(())
            }
            _ => None,
        })?;
        Some((names.unwrap_or_default(), ndarray?))
    }

    /// `names`: a list of plain strings (possibly empty).
    fn names(&mut self) -> Option<Vec<String>> {
        self.eat(b'[')?;
        let mut names = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(names);
        }
        loop {
            self.ws();
            let name = self.plain_string()?;
            names.push(String::from_utf8(name.to_vec()).ok()?);
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(names);
                }
                _ => return None,
            }
        }
    }

    /// A rectangular nested list of numbers, none of its lists empty, read as the general reader's `Rows` reads
    /// it: int64 when every number is an integer, else float64.
    fn ndarray(&mut self) -> Option<Tensor> {
        // `shape[d]`: the length of the lists at depth d, `usize::MAX` until the first one closes;
        // `counts[d]`: the elements seen so far in the open list at depth d (`depth` lists are open).
        let mut shape = [usize::MAX; MAX_DEPTH];
        let mut counts = [0usize; MAX_DEPTH];
        let mut depth = 0;
        let mut leaf_depth = None;
        let mut leaves = Leaves::None;
        loop {
            // A value at depth `depth`.
            self.ws();
            match self.peek()? {
                b'[' => {
                    if depth >= MAX_DEPTH || leaf_depth.is_some_and(|d| d <= depth) {
                        return None;
                    }
                    *counts.get_mut(depth)? = 0;
                    depth += 1;
                    self.pos += 1;
                    self.ws();
                    if self.peek()? == b']' {
                        return None;
                    }
                    continue;
                }
                b'-' | b'0'..=b'9' if depth > 0 => {
                    if *leaf_depth.get_or_insert(depth) != depth {
                        return None;
                    }
                    match self.number()? {
                        Number::Int(v) => leaves.push_int(v),
                        Number::Float(v) => leaves.push_float(v),
                    }
                }
                _ => return None,
            }
            // After a value: the next one, or the ends of lists.
            loop {
                self.ws();
                let byte = self.peek()?;
                self.pos += 1;
                let count = counts.get_mut(depth.checked_sub(1)?)?;
                *count += 1;
                match byte {
                    b',' => break,
                    b']' => {
                        let len = *count;
                        depth -= 1;
                        let slot = shape.get_mut(depth)?;
                        if *slot == usize::MAX {
                            *slot = len;
                        } else if *slot != len {
                            return None;
                        }
                        if depth == 0 {
                            let data = match leaves {
                                Leaves::Ints(v) => TensorData::I64(v),
                                Leaves::Floats(v) => TensorData::F64(v),
                                // Every list holds an element, so a number was read.
                                Leaves::None => return None,
                            };
                            let dims = shape.get(..leaf_depth?)?.to_vec();
                            return Tensor::new(dims, data).ok();
                        }
                    }
                    _ => return None,
                }
            }
        }
    }

    /// A JSON number: an integer of at most 18 digits (`-0` is the float -0.0, as serde_json reads it), or a
    /// finite float, correctly rounded (as serde_json's `float_roundtrip` reads it): exactly, from at most 19
    /// significant digits and a power of ten up to 1e22 (one correctly rounded operation on two exact values,
    /// Clinger's fast path), else by the standard library's parser.
    fn number(&mut self) -> Option<Number> {
        let start = self.pos;
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let int_end = self.pos;
        let (mut frac_start, mut frac_end) = (int_end, int_end);
        let mut exponent: Option<i32> = None;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            frac_start = self.pos;
            self.some_digits()?;
            frac_end = self.pos;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            let sign = match self.peek() {
                Some(b'-') => {
                    self.pos += 1;
                    -1
                }
                Some(b'+') => {
                    self.pos += 1;
                    1
                }
                _ => 1,
            };
            let exp_start = self.pos;
            self.some_digits()?;
            let exp_digits = self.json.get(exp_start..self.pos)?;
            // More than four digits: left to the general parse below (which handles any length).
            exponent = Some(if exp_digits.len() <= 4 {
                sign * decimal(exp_digits) as i32
            } else {
                i32::MAX
            });
        }
        let int_digits = self.json.get(int_start..int_end)?;
        if frac_end == int_end && exponent.is_none() {
            if int_digits.len() > 18 {
                return None;
            }
            return Some(match (negative, decimal(int_digits) as i64) {
                (true, 0) => Number::Float(-0.0),
                (true, m) => Number::Int(-m),
                (false, m) => Number::Int(m),
            });
        }
        let frac_digits = self.json.get(frac_start..frac_end)?;
        let exponent = exponent.unwrap_or(0);
        if int_digits.len() + frac_digits.len() <= 19 && exponent != i32::MAX {
            let mantissa =
                decimal(frac_digits) + decimal(int_digits) * POWERS_OF_TEN_U64[frac_digits.len()];
            let power = exponent - frac_digits.len() as i32;
            if mantissa <= 1 << 53
                && let Some(&scale) = POWERS_OF_TEN.get(power.unsigned_abs() as usize)
            {
                let m = mantissa as f64;
                let v = if power < 0 { m / scale } else { m * scale };
                return Some(Number::Float(if negative { -v } else { v }));
            }
        }
        let text = std::str::from_utf8(self.json.get(start..self.pos)?).ok()?;
        let value: f64 = text.parse().ok()?;
        value.is_finite().then_some(Number::Float(value))
    }

    /// Zero or more decimal digits.
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// One or more decimal digits.
    fn some_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::RequestLimits;

    fn quick(json: &str) -> Option<SeldonMessage> {
        read(json.as_bytes(), &mut RequestLimits::default().budget())
    }

    /// The fast path's message, or `None`, after checking it against the general reader's.
    fn agreed(json: &str) -> Option<SeldonMessage> {
        let fast = quick(json);
        if let Some(message) = &fast {
            let general =
                SeldonMessage::from_json_general(json.as_bytes(), &RequestLimits::default());
            assert_eq!(
                format!("{:?}", Ok::<_, ()>(message)),
                format!("{:?}", general.as_ref().map_err(|_| ())),
                "{json}"
            );
        }
        fast
    }

    #[test]
    fn reads_the_common_requests_as_the_general_reader_does() {
        for json in [
            r#"{"data":{"ndarray":[[5.1,3.5,1.4,0.2]]}}"#,
            r#"{"meta":{},"data":{"names":["a","b","c","d"],"ndarray":[[5.1,3.5,1.4,0.2],[1,2,3,4]]}}"#,
            r#" {"data" : {"ndarray" : [1, 2, 3], "names": []} , "meta" : {} }  "#,
            r#"{"data":{"ndarray":[[-0,0,-0.0,1E2,1e-400,2.5e+3]]}}"#,
            r#"{"data":{"ndarray":[[[1],[2]],[[3],[4]]]}}"#,
            r#"{"data":{"ndarray":[1,2.5,-3]}}"#,
            r#"{"data":{"ndarray":[123456789012345678,-123456789012345678]}}"#,
            r#"{"data":{"names":["ü","a b"],"ndarray":[[1]]}}"#,
        ] {
            assert!(agreed(json).is_some(), "{json}");
        }
        let Some(SeldonMessage {
            payload: Payload::Data(data),
            ..
        }) = quick(r#"{"data":{"names":["x"],"ndarray":[[1,2],[3,4]]}}"#)
        else {
            panic!("not read");
        };
        assert_eq!(data.names, ["x"]);
        let tensor = data.array.tensor().expect("a tensor");
        assert_eq!(tensor.shape(), [2, 2]);
        assert_eq!(tensor.data(), &TensorData::I64(vec![1, 2, 3, 4]));
    }

    #[test]
    fn leaves_everything_else_to_the_general_reader() {
        for json in [
            r#"{"data":{"ndarray":[[1,2],[3]]}}"#,
            r#"{"data":{"ndarray":[[1,2],3]}}"#,
            r#"{"data":{"ndarray":[1,[2]]}}"#,
            r#"{"data":{"ndarray":[]}}"#,
            r#"{"data":{"ndarray":[[]]}}"#,
            r#"{"data":{"ndarray":5}}"#,
            r#"{"data":{"ndarray":[[1,null]]}}"#,
            r#"{"data":{"ndarray":[["a"]]}}"#,
            r#"{"data":{"ndarray":[[true]]}}"#,
            r#"{"data":{"ndarray":[1e400]}}"#,
            r#"{"data":{"ndarray":[1234567890123456789]}}"#,
            r#"{"data":{"ndarray":[01]}}"#,
            r#"{"data":{"ndarray":[1.]}}"#,
            r#"{"data":{"ndarray":[.5]}}"#,
            r#"{"data":{"ndarray":[+1]}}"#,
            r#"{"data":{"ndarray":[1,]}}"#,
            r#"{"data":{"ndarray":[1]},}"#,
            r#"{"data":{"ndarray":[1]}} x"#,
            r#"{"data":{"ndarray":[1]},"data":{"ndarray":[2]}}"#,
            r#"{"data":{"ndarray":[1],"ndarray":[2]}}"#,
            r#"{"data":{"ndarray":[1]},"meta":{"puid":"x"}}"#,
            r#"{"data":{"ndarray":[1]},"meta":{},"meta":{}}"#,
            r#"{"data":{"ndarray":[1]},"status":{}}"#,
            r#"{"data":{"tensor":{"shape":[1],"values":[1]}}}"#,
            r#"{"data":{"names":["a\"b"],"ndarray":[1]}}"#,
            r#"{"data":{"names":["a\u0062"],"ndarray":[1]}}"#,
            "{\"data\":{\"names\":[\"a\tb\"],\"ndarray\":[1]}}",
            r#"{"d\u0061ta":{"ndarray":[1]}}"#,
            r#"{"data":{"names":[1],"ndarray":[1]}}"#,
            r#"{"data":{}}"#,
            r#"{}"#,
            r#"[]"#,
            "",
        ] {
            assert!(agreed(json).is_none(), "{json}");
        }
        let deep = format!(
            r#"{{"data":{{"ndarray":{}1{}}}}}"#,
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert!(quick(&deep).is_none());
        assert!(SeldonMessage::from_json(deep.as_bytes(), &RequestLimits::default()).is_err());
        let deepest = format!(
            r#"{{"data":{{"ndarray":{}1{}}}}}"#,
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert!(agreed(&deepest).is_some());
    }

    /// The budget refuses what it would refuse the general reader: no message, and the general reader's error.
    #[test]
    fn charges_the_shape_to_the_budget() {
        let limits = RequestLimits::from_body_limit(64);
        let json = format!(r#"{{"data":{{"ndarray":[{}1]}}}}"#, "1,".repeat(100));
        assert!(read(json.as_bytes(), &mut limits.budget()).is_none());
        assert!(SeldonMessage::from_json(json.as_bytes(), &limits).is_err());
    }

    /// Numbers of every form the grammar allows, in generated arrays: whatever the fast path reads, the general
    /// reader reads the same.
    #[test]
    fn generated_numbers_agree_with_serde_json() {
        struct Rng(u64);
        impl Rng {
            fn next(&mut self, n: u64) -> u64 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 % n
            }
            fn digits(&mut self, number: &mut String, n: u64) {
                for _ in 0..n {
                    number.push(char::from(b'0' + self.next(10) as u8));
                }
            }
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut read_fast = 0;
        for _ in 0..20_000 {
            let mut number = String::new();
            if rng.next(2) == 0 {
                number.push('-');
            }
            match rng.next(22) {
                0 => number.push('0'),
                n => {
                    number.push(char::from(b'1' + rng.next(9) as u8));
                    rng.digits(&mut number, n - 1);
                }
            }
            if rng.next(2) == 0 {
                number.push('.');
                let n = 1 + rng.next(24);
                rng.digits(&mut number, n);
            }
            if rng.next(3) == 0 {
                number.push_str(["e", "E", "e+", "e-"][rng.next(4) as usize]);
                let exponent = if rng.next(2) == 0 {
                    rng.next(30)
                } else {
                    rng.next(700)
                };
                number.push_str(&exponent.to_string());
            }
            let json = format!(r#"{{"data":{{"ndarray":[[{number},7],[1,-2.5]]}}}}"#);
            if agreed(&json).is_some() {
                read_fast += 1;
            }
        }
        assert!(read_fast > 10_000, "{read_fast}");
    }
}
