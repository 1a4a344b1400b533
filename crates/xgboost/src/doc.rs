//! The JSON and UBJSON documents XGBoost writes, read into one small value tree ([`Doc`]).
//!
//! Both readers are written for untrusted bytes: nesting is limited to [`MAX_DEPTH`], every declared length or
//! count is checked against the bytes that remain before anything is allocated, and numeric arrays are kept as
//! `Vec<f64>` (8 bytes a value) rather than as a tree of values. The JSON reader accepts the `NaN`, `Infinity` and
//! `-Infinity` tokens XGBoost 1.x writes for categorical splits' unused thresholds.

use crate::XgbError;

/// Deepest nesting accepted (XGBoost's documents nest 6 levels).
pub(crate) const MAX_DEPTH: usize = 64;

/// One value of a model document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Doc {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    /// An array whose items are all numbers (JSON) or a typed UBJSON array.
    Nums(Vec<f64>),
    Arr(Vec<Doc>),
    Obj(Vec<(String, Doc)>),
}

fn bad(msg: impl Into<String>) -> XgbError {
    XgbError::Format(msg.into())
}

impl Doc {
    /// The member `key` of an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Doc> {
        match self {
            Doc::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The member `key`, or an error naming `path`.
    pub(crate) fn req(&self, key: &str, path: &str) -> Result<&Doc, XgbError> {
        self.get(key)
            .ok_or_else(|| bad(format!("{path}: missing `{key}`")))
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Doc::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A number, or a string holding one (XGBoost writes most parameters as strings).
    pub(crate) fn num(&self) -> Option<f64> {
        match self {
            Doc::Num(v) => Some(*v),
            Doc::Bool(b) => Some(f64::from(u8::from(*b))),
            Doc::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A non-negative integer (number or string).
    pub(crate) fn count(&self) -> Option<usize> {
        match self {
            Doc::Str(s) => s.trim().parse().ok(),
            _ => self
                .num()
                .filter(|v| v.fract() == 0.0 && *v >= 0.0 && *v < 9.0e15)
                .map(|v| v as usize),
        }
    }

    /// A numeric array (empty for an empty generic array).
    pub(crate) fn nums(&self) -> Option<&[f64]> {
        match self {
            Doc::Nums(v) => Some(v),
            Doc::Arr(v) if v.is_empty() => Some(&[]),
            _ => None,
        }
    }

    pub(crate) fn arr(&self) -> Option<&[Doc]> {
        match self {
            Doc::Arr(v) => Some(v),
            Doc::Nums(v) if v.is_empty() => Some(&[]),
            _ => None,
        }
    }
}

/// Packs an array of numbers (or booleans, as XGBoost 1.0's `default_left`) as [`Doc::Nums`].
fn pack(items: Vec<Doc>) -> Doc {
    if !items.is_empty()
        && items
            .iter()
            .all(|d| matches!(d, Doc::Num(_) | Doc::Bool(_)))
    {
        Doc::Nums(
            items
                .into_iter()
                .map(|d| match d {
                    Doc::Num(v) => v,
                    Doc::Bool(b) => f64::from(u8::from(b)),
                    _ => 0.0,
                })
                .collect(),
        )
    } else {
        Doc::Arr(items)
    }
}

/// Reads a JSON document.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Doc, XgbError> {
    let mut p = Json { b: bytes, i: 0 };
    let d = p.value(0)?;
    p.ws();
    if p.i != bytes.len() {
        return Err(bad(format!("JSON: trailing bytes at offset {}", p.i)));
    }
    Ok(d)
}

struct Json<'a> {
    b: &'a [u8],
    i: usize,
}

impl Json<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn err(&self, what: &str) -> XgbError {
        bad(format!("JSON: {what} at offset {}", self.i))
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Doc, XgbError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.ws();
        let Some(&c) = self.b.get(self.i) else {
            return Err(self.err("unexpected end"));
        };
        match c {
            b'{' => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.eat(b"}") {
                    return Ok(Doc::Obj(m));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(b":") {
                        return Err(self.err("expected `:`"));
                    }
                    let v = self.value(depth + 1)?;
                    m.push((k, v));
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"}") {
                        return Ok(Doc::Obj(m));
                    }
                    return Err(self.err("expected `,` or `}`"));
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Ok(Doc::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"]") {
                        return Ok(pack(items));
                    }
                    return Err(self.err("expected `,` or `]`"));
                }
            }
            b'"' => Ok(Doc::Str(self.string()?)),
            b't' if self.eat(b"true") => Ok(Doc::Bool(true)),
            b'f' if self.eat(b"false") => Ok(Doc::Bool(false)),
            b'n' if self.eat(b"null") => Ok(Doc::Null),
            b'N' if self.eat(b"NaN") => Ok(Doc::Num(f64::NAN)),
            b'I' if self.eat(b"Infinity") => Ok(Doc::Num(f64::INFINITY)),
            b'-' if self.eat(b"-Infinity") => Ok(Doc::Num(f64::NEG_INFINITY)),
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.i < self.b.len()
                    && matches!(
                        self.b[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let s = std::str::from_utf8(&self.b[start..self.i])
                    .map_err(|_| self.err("bad number"))?;
                s.parse::<f64>()
                    .map(Doc::Num)
                    .map_err(|_| self.err(&format!("bad number {s:?}")))
            }
            _ => Err(self.err(&format!("unexpected byte 0x{c:02x}"))),
        }
    }

    fn string(&mut self) -> Result<String, XgbError> {
        if !self.eat(b"\"") {
            return Err(self.err("expected a string"));
        }
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.b.get(self.i) else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = self
                                .b
                                .get(self.i..self.i + 4)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or_else(|| self.err("bad \\u escape"))?;
                            self.i += 4;
                            let ch = char::from_u32(hex).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not UTF-8"))
    }
}

/// Reads a UBJSON document (big-endian numbers, optimised `$type#count` containers).
pub(crate) fn parse_ubjson(bytes: &[u8]) -> Result<Doc, XgbError> {
    let mut p = Ubj { b: bytes, i: 0 };
    let m = p.byte()?;
    let d = p.value(m, 0)?;
    if p.i != bytes.len() {
        return Err(bad(format!("UBJSON: trailing bytes at offset {}", p.i)));
    }
    Ok(d)
}

struct Ubj<'a> {
    b: &'a [u8],
    i: usize,
}

impl Ubj<'_> {
    fn err(&self, what: &str) -> XgbError {
        bad(format!("UBJSON: {what} at offset {}", self.i))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], XgbError> {
        let end = self
            .i
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| {
                self.err(&format!(
                    "{n} bytes declared, {} left",
                    self.b.len() - self.i
                ))
            })?;
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, XgbError> {
        Ok(self.take(1)?[0])
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N], XgbError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// A scalar number of type `m`, if `m` is a numeric type.
    fn number(&mut self, m: u8) -> Result<Option<f64>, XgbError> {
        Ok(Some(match m {
            b'i' => f64::from(self.byte()? as i8),
            b'U' => f64::from(self.byte()?),
            b'I' => f64::from(i16::from_be_bytes(self.arr()?)),
            b'l' => f64::from(i32::from_be_bytes(self.arr()?)),
            b'L' => i64::from_be_bytes(self.arr()?) as f64,
            b'd' => f64::from(f32::from_be_bytes(self.arr()?)),
            b'D' => f64::from_be_bytes(self.arr()?),
            _ => return Ok(None),
        }))
    }

    /// A length or count: an integer marker and value, non-negative.
    fn length(&mut self) -> Result<usize, XgbError> {
        let m = self.byte()?;
        let v = match m {
            b'i' => i64::from(self.byte()? as i8),
            b'U' => i64::from(self.byte()?),
            b'I' => i64::from(i16::from_be_bytes(self.arr()?)),
            b'l' => i64::from(i32::from_be_bytes(self.arr()?)),
            b'L' => i64::from_be_bytes(self.arr()?),
            _ => return Err(self.err(&format!("expected a length, found marker 0x{m:02x}"))),
        };
        let n = usize::try_from(v).map_err(|_| self.err(&format!("negative length {v}")))?;
        // Every item takes at least one byte: a count above the bytes left is a lie.
        if n > self.b.len() - self.i {
            return Err(self.err(&format!(
                "length {n} exceeds the {} bytes left",
                self.b.len() - self.i
            )));
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, XgbError> {
        let n = self.length()?;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| self.err("string is not UTF-8"))
    }

    /// Reads an optional `$type` and `#count` after a container opening.
    fn header(&mut self) -> Result<(Option<u8>, Option<usize>), XgbError> {
        let mut ty = None;
        if self.b.get(self.i) == Some(&b'$') {
            self.i += 1;
            ty = Some(self.byte()?);
        }
        let mut count = None;
        if self.b.get(self.i) == Some(&b'#') {
            self.i += 1;
            count = Some(self.length()?);
        } else if ty.is_some() {
            return Err(self.err("`$` type without a `#` count"));
        }
        Ok((ty, count))
    }

    fn value(&mut self, m: u8, depth: usize) -> Result<Doc, XgbError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        if let Some(v) = self.number(m)? {
            return Ok(Doc::Num(v));
        }
        match m {
            b'Z' => Ok(Doc::Null),
            b'T' => Ok(Doc::Bool(true)),
            b'F' => Ok(Doc::Bool(false)),
            b'C' => Ok(Doc::Str(char::from(self.byte()?).to_string())),
            b'S' | b'H' => Ok(Doc::Str(self.string()?)),
            b'[' => {
                let (ty, count) = self.header()?;
                match (ty, count) {
                    (Some(t), Some(n)) => {
                        let width = match t {
                            b'i' | b'U' => 1,
                            b'I' => 2,
                            b'l' | b'd' => 4,
                            b'L' | b'D' => 8,
                            _ => 0,
                        };
                        if width == 0 {
                            // Typed arrays of containers or strings: read item by item.
                            let mut items = Vec::new();
                            for _ in 0..n {
                                items.push(self.value(t, depth + 1)?);
                            }
                            return Ok(pack(items));
                        }
                        let bytes = n
                            .checked_mul(width)
                            .filter(|&b| b <= self.b.len() - self.i)
                            .ok_or_else(|| {
                                self.err(&format!(
                                    "typed array of {n} items of {width} bytes exceeds the {} bytes left",
                                    self.b.len() - self.i
                                ))
                            })?;
                        let mut out = Vec::with_capacity(n);
                        let end = self.i + bytes;
                        while self.i < end {
                            out.push(self.number(t)?.unwrap_or(0.0));
                        }
                        Ok(Doc::Nums(out))
                    }
                    (None, Some(n)) => {
                        let mut items = Vec::new();
                        for _ in 0..n {
                            let m = self.byte()?;
                            items.push(self.value(m, depth + 1)?);
                        }
                        Ok(pack(items))
                    }
                    _ => {
                        let mut items = Vec::new();
                        loop {
                            let m = self.byte()?;
                            if m == b']' {
                                return Ok(pack(items));
                            }
                            items.push(self.value(m, depth + 1)?);
                        }
                    }
                }
            }
            b'{' => {
                let (ty, count) = self.header()?;
                let mut members = Vec::new();
                match count {
                    Some(n) => {
                        for _ in 0..n {
                            let k = self.string()?;
                            let m = match ty {
                                Some(t) => t,
                                None => self.byte()?,
                            };
                            members.push((k, self.value(m, depth + 1)?));
                        }
                    }
                    None => loop {
                        if self.b.get(self.i) == Some(&b'}') {
                            self.i += 1;
                            break;
                        }
                        let k = self.string()?;
                        let m = self.byte()?;
                        members.push((k, self.value(m, depth + 1)?));
                    },
                }
                Ok(Doc::Obj(members))
            }
            b'N' => {
                // No-op marker: the next value stands.
                let m = self.byte()?;
                self.value(m, depth + 1)
            }
            _ => Err(self.err(&format!("unknown marker 0x{m:02x}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_with_nan_tokens() {
        let d = parse_json(br#"{"a":[1,NaN,-Infinity,2.5E-1],"b":"x\u0041","c":[]}"#).unwrap();
        let a = d.get("a").unwrap().nums().unwrap();
        assert!(a[1].is_nan() && a[2] == f64::NEG_INFINITY && a[3] == 0.25);
        assert_eq!(d.get("b").unwrap().as_str(), Some("xA"));
        assert_eq!(d.get("c").unwrap().nums(), Some(&[][..]));
        let d = parse_json(b"[true,false,1]").unwrap();
        assert_eq!(d.nums(), Some(&[1.0, 0.0, 1.0][..]));
    }

    #[test]
    fn hostile_documents() {
        let deep = "[".repeat(1000);
        assert!(parse_json(deep.as_bytes()).is_err());
        assert!(parse_json(b"{\"a\":1").is_err());
        // A typed array claiming 2^40 floats in 20 bytes.
        let mut b = b"[$d#L".to_vec();
        b.extend_from_slice(&(1u64 << 40).to_be_bytes());
        b.extend_from_slice(&[0; 8]);
        assert!(
            parse_ubjson(&b)
                .unwrap_err()
                .to_string()
                .contains("exceeds")
        );
        let mut b = b"{L".to_vec();
        b.extend_from_slice(&(-5i64).to_be_bytes());
        assert!(
            parse_ubjson(&b)
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
        assert!(parse_ubjson(&[b'['; 1000]).is_err());
    }

    #[test]
    fn ubjson_containers() {
        let mut b = b"{i\x01a[$d#i\x02".to_vec();
        b.extend_from_slice(&1.5f32.to_be_bytes());
        b.extend_from_slice(&(-2.0f32).to_be_bytes());
        b.extend_from_slice(b"i\x01bSi\x02hi}");
        let d = parse_ubjson(&b).unwrap();
        assert_eq!(d.get("a").unwrap().nums(), Some(&[1.5, -2.0][..]));
        assert_eq!(d.get("b").unwrap().as_str(), Some("hi"));
    }
}
