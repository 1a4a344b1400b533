//! A one-pass JSON scanner for the protocol's fast paths (`seldon/quick.rs`, `v2/quick.rs`): objects whose keys
//! the caller matches, strings without escapes, numbers read exactly as serde_json reads them, nested lists of
//! numbers. Every method returns `None` on anything outside that subset, so that the caller leaves the text to
//! its general (serde) reader, which also words the errors; nothing here ever reports one.

use crate::powers;

/// How deep a nested list may be: what Seldon's `ndarray` and V2's `data` readers accept (32 lists).
pub(crate) const MAX_DEPTH: usize = 32;

/// A cursor over the text.
pub(crate) struct Reader<'a> {
    json: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `json`.
    pub(crate) fn new(json: &'a [u8]) -> Self {
        Reader { json, pos: 0 }
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.ws();
        self.pos == self.json.len()
    }
}

/// The numbers of a nested list so far: integers until the first float, as Seldon's general reader keeps them.
pub(crate) enum Leaves {
    /// None yet.
    None,
    /// Integers only so far.
    Ints(Vec<i64>),
    /// Floats (integers read before the first float converted).
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
pub(crate) enum Number {
    /// An integer (`visit_i64` / `visit_u64`).
    Int(i64),
    /// A float (`visit_f64`).
    Float(f64),
}

impl<'a> Reader<'a> {
    pub(crate) fn peek(&self) -> Option<u8> {
        self.json.get(self.pos).copied()
    }

    /// Skips JSON whitespace.
    pub(crate) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `byte` after whitespace.
    pub(crate) fn eat(&mut self, byte: u8) -> Option<()> {
        self.ws();
        if self.peek()? != byte {
            return None;
        }
        self.pos += 1;
        Some(())
    }

    /// An object whose members `member` reads, given each key (at least one member).
    pub(crate) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
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
    pub(crate) fn empty_object(&mut self) -> Option<()> {
        self.eat(b'{')?;
        self.eat(b'}')
    }

    /// A string without escapes or control characters (bytes from 0x20 on other than `"` and `\`), valid UTF-8.
    pub(crate) fn plain_string(&mut self) -> Option<&'a [u8]> {
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

    /// A rectangular nested list of numbers, none of its lists empty, at most [`MAX_DEPTH`] lists deep: its
    /// shape and its numbers, flat and row-major (integers until the first float, then floats, as Seldon's
    /// `Rows` keeps them). `None` for anything else, a ragged list or leaves at different depths included.
    pub(crate) fn nested_numbers(&mut self) -> Option<(Vec<usize>, Leaves)> {
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
                            let dims = shape.get(..leaf_depth?)?.to_vec();
                            return Some((dims, leaves));
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
    pub(crate) fn number(&mut self) -> Option<Number> {
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
                && power.unsigned_abs() <= powers::MAX_EXACT
                && let Some(v) = powers::scaled(mantissa as f64, power)
            {
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

    /// A plain string ([`Reader::plain_string`]), owned.
    pub(crate) fn owned_string(&mut self) -> Option<String> {
        String::from_utf8(self.plain_string()?.to_vec()).ok()
    }

    /// A list (possibly empty) whose items `item` reads.
    pub(crate) fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(items);
        }
        loop {
            self.ws();
            items.push(item(self)?);
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(items);
                }
                _ => return None,
            }
        }
    }
}
