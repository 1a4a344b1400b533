//! A small JSON reader for TF Serving request bodies.
//!
//! TF Serving's parser (rapidjson) accepts the bare tokens `NaN`, `Infinity` and `-Infinity`, which strict JSON
//! parsers refuse, and the element type of a tensor comes from the signature, not from the JSON. So numbers keep
//! their text here and each input's dtype decides how to read them (an int64 beyond 2^53 stays exact).

use std::borrow::Cow;

use super::RequestError;

/// Nesting deeper than this is refused (a hostile body must not exhaust the stack).
const MAX_DEPTH: usize = 256;

/// A parsed JSON value, borrowing from the body where it can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as written.
    Num(&'a str),
    /// `NaN`, `Infinity`, `-Infinity`.
    NonFinite(f64),
    /// A string, unescaped.
    Str(Cow<'a, str>),
    /// An array.
    Arr(Vec<Json<'a>>),
    /// An object, in the order written.
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// The value of `key` in an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The payload of `{"b64": "..."}`, the only form of a binary value.
    pub(crate) fn as_b64(&self) -> Option<&str> {
        match self {
            Json::Obj(members) => match members.as_slice() {
                [(k, Json::Str(s))] if k == "b64" => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// rapidjson's type name, as TF Serving's messages print it.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "Null",
            Json::Bool(false) => "False",
            Json::Bool(true) => "True",
            Json::Num(_) | Json::NonFinite(_) => "Number",
            Json::Str(_) => "String",
            Json::Arr(_) => "Array",
            Json::Obj(_) => "Object",
        }
    }

    /// A short text of the value for error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Json::Null => "null".into(),
            Json::Bool(b) => b.to_string(),
            Json::Num(n) => (*n).to_string(),
            Json::NonFinite(f) if f.is_nan() => "NaN".into(),
            Json::NonFinite(f) if *f > 0.0 => "Infinity".into(),
            Json::NonFinite(_) => "-Infinity".into(),
            Json::Str(s) => format!("{s:?}"),
            Json::Arr(_) => "[...]".into(),
            Json::Obj(_) => "{...}".into(),
        }
    }
}

/// Parses a whole body.
pub(crate) fn parse(text: &[u8]) -> Result<Json<'_>, RequestError> {
    let text = std::str::from_utf8(text).map_err(|e| RequestError::Json {
        reason: "Invalid encoding in string.".into(),
        offset: e.valid_up_to(),
    })?;
    let mut p = Parser {
        s: text,
        b: text.as_bytes(),
        i: 0,
    };
    p.ws();
    if p.i == p.b.len() {
        return Err(p.err("The document is empty."));
    }
    let value = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("The document root must not be followed by other values."));
    }
    Ok(value)
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, reason: &str) -> RequestError {
        RequestError::Json {
            reason: reason.into(),
            offset: self.i,
        }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>, RequestError> {
        if depth > MAX_DEPTH {
            return Err(self.err("Nesting is too deep."));
        }
        match self.b.get(self.i) {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') if self.eat("true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Json::Bool(false)),
            Some(b'n') if self.eat("null") => Ok(Json::Null),
            Some(b'N') if self.eat("NaN") => Ok(Json::NonFinite(f64::NAN)),
            Some(b'I') if self.eat("Infinity") => Ok(Json::NonFinite(f64::INFINITY)),
            Some(b'-') if self.eat("-Infinity") => Ok(Json::NonFinite(f64::NEG_INFINITY)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("Invalid value.")),
        }
    }

    fn number(&mut self) -> Result<Json<'a>, RequestError> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let from = p.i;
            while let Some(b'0'..=b'9') = p.b.get(p.i) {
                p.i += 1;
            }
            p.i > from
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        if !digits(self) {
            return Err(self.err("Invalid value."));
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return Err(self.err("Missing fraction part in number."));
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(self.err("Missing exponent in number."));
            }
        }
        Ok(Json::Num(&self.s[start..self.i]))
    }

    fn string(&mut self) -> Result<Cow<'a, str>, RequestError> {
        // At the opening quote.
        self.i += 1;
        let start = self.i;
        loop {
            match self.b.get(self.i) {
                None => return Err(self.err("Missing a closing quotation mark in string.")),
                Some(b'"') => {
                    let s = &self.s[start..self.i];
                    self.i += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(c) if *c < 0x20 => return Err(self.err("Invalid character in string.")),
                Some(_) => self.i += 1,
            }
        }
        let mut out = String::from(&self.s[start..self.i]);
        loop {
            match self.b.get(self.i) {
                None => return Err(self.err("Missing a closing quotation mark in string.")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = match self.b.get(self.i) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.i += 1;
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.eat("\\u") {
                                    return Err(
                                        self.err("The surrogate pair in string is invalid.")
                                    );
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(
                                        self.err("The surrogate pair in string is invalid.")
                                    );
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(code).ok_or_else(|| {
                                self.err("Incorrect hex digit after \\u escape in string.")
                            })?);
                            continue;
                        }
                        _ => return Err(self.err("Invalid escape character in string.")),
                    };
                    out.push(c);
                    self.i += 1;
                }
                Some(c) if *c < 0x20 => return Err(self.err("Invalid character in string.")),
                Some(_) => {
                    let from = self.i;
                    while let Some(c) = self.b.get(self.i) {
                        if *c == b'"' || *c == b'\\' || *c < 0x20 {
                            break;
                        }
                        self.i += 1;
                    }
                    out.push_str(&self.s[from..self.i]);
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, RequestError> {
        let digits = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("Incorrect hex digit after \\u escape in string."))?;
        self.i += 4;
        Ok(digits)
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>, RequestError> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                _ => return Err(self.err("Missing a comma or ']' after an array element.")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json<'a>, RequestError> {
        self.i += 1;
        let mut members = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Json::Obj(members));
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return Err(self.err("Missing a name for object member."));
            }
            let key = self.string()?;
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return Err(self.err("Missing a colon after a name of object member."));
            }
            self.i += 1;
            self.ws();
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Json::Obj(members));
                }
                _ => return Err(self.err("Missing a comma or '}' after an object member.")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tf_servings_extensions_and_escapes() {
        let v = parse(br#" {"a": [1, -2.5e3, NaN, Infinity, -Infinity], "b": "x\"\u00e9\ud83d\ude00", "c": [true, null]} "#)
            .unwrap();
        let Json::Arr(a) = v.get("a").unwrap() else {
            panic!()
        };
        assert_eq!(a[0], Json::Num("1"));
        assert_eq!(a[1], Json::Num("-2.5e3"));
        assert!(matches!(a[2], Json::NonFinite(f) if f.is_nan()));
        assert_eq!(a[4], Json::NonFinite(f64::NEG_INFINITY));
        assert_eq!(v.get("b").unwrap(), &Json::Str("x\"é😀".into()));
    }

    #[test]
    fn errors_carry_the_offset() {
        let err = parse(b"{\"a\": [1,}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "JSON Parse error: Invalid value. at offset: 9"
        );
        assert!(parse(b"").is_err());
        assert!(parse(b"[1] 2").is_err());
        assert!(parse(b"\"abc").is_err());
        assert!(parse(b"01x").is_err());
        let deep = "[".repeat(100_000);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
