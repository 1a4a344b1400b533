//! `multipart/form-data` requests as Seldon's Python wrapper reads them (`seldon-v1-details.md` §3.3): every form
//! field is a top-level key of the message, parsed as JSON (`strData` kept as text), every file part too
//! (`binData`'s bytes base64-encoded, any other file as UTF-8 text). Read on component servers only (the
//! wrapper's users post files to their own classes); a model server still refuses multipart.

use base64::Engine as _;
use bytes::Bytes;

/// One part of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// The `name` of its Content-Disposition.
    pub(crate) name: String,
    /// Whether it is a file (a `filename` is given).
    pub(crate) is_file: bool,
    /// Its bytes.
    pub(crate) data: Bytes,
}

/// Why a multipart body could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum MultipartError {
    /// The Content-Type names no boundary.
    #[error("multipart/form-data without a boundary")]
    NoBoundary,
    /// A part is not framed as RFC 7578 says.
    #[error("malformed multipart/form-data body: {0}")]
    Malformed(&'static str),
}

/// The boundary parameter of a `multipart/form-data` Content-Type.
pub(crate) fn boundary(content_type: &str) -> Result<String, MultipartError> {
    content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|b| !b.is_empty())
        .ok_or(MultipartError::NoBoundary)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Splits `body` into its named parts (parts without a name are skipped, as Werkzeug skips them).
pub(crate) fn parse(body: &Bytes, boundary: &str) -> Result<Vec<Part>, MultipartError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let start =
        find(body, delimiter).ok_or(MultipartError::Malformed("no boundary in the body"))?;
    let mut rest = body.slice(start + delimiter.len()..);
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        let after_line =
            find(&rest, b"\r\n").ok_or(MultipartError::Malformed("no line after a boundary"))?;
        rest = rest.slice(after_line + 2..);
        let headers_end = find(&rest, b"\r\n\r\n")
            .ok_or(MultipartError::Malformed("a part has no header end"))?;
        let headers = String::from_utf8_lossy(&rest[..headers_end]).into_owned();
        rest = rest.slice(headers_end + 4..);
        let mut closing = Vec::with_capacity(delimiter.len() + 2);
        closing.extend_from_slice(b"\r\n");
        closing.extend_from_slice(delimiter);
        let end = find(&rest, &closing).ok_or(MultipartError::Malformed("a part is not closed"))?;
        let data = rest.slice(..end);
        rest = rest.slice(end + closing.len()..);
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .unwrap_or("");
        let param = |key: &str| {
            disposition.split(';').skip(1).find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
            })
        };
        if let Some(name) = param("name") {
            parts.push(Part {
                name,
                is_file: param("filename").is_some(),
                data,
            });
        }
    }
}

/// The message a multipart body stands for, as JSON text: fields first, then files, a later part of the same
/// name replacing an earlier one (as the wrapper's dict does).
pub(crate) fn to_json(body: &Bytes, content_type: &str) -> Result<Vec<u8>, String> {
    let parts = parse(body, &boundary(content_type).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let mut message = serde_json::Map::new();
    let (files, fields): (Vec<_>, Vec<_>) = parts.into_iter().partition(|p| p.is_file);
    for part in fields {
        let text = String::from_utf8_lossy(&part.data).into_owned();
        let value = if part.name == "strData" {
            serde_json::Value::String(text)
        } else {
            serde_json::from_str(&text)
                .map_err(|e| format!("multipart field `{}` is not JSON: {e}", part.name))?
        };
        message.insert(part.name, value);
    }
    for part in files {
        let value = if part.name == "binData" {
            base64::engine::general_purpose::STANDARD.encode(&part.data)
        } else {
            String::from_utf8_lossy(&part.data).into_owned()
        };
        message.insert(part.name, serde_json::Value::String(value));
    }
    serde_json::to_vec(&serde_json::Value::Object(message)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_fields_and_files() {
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"strData\"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"binData\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\r\n--XyZ--\r\n",
        );
        let parts = parse(
            &body,
            &boundary("multipart/form-data; boundary=XyZ").unwrap(),
        )
        .unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].is_file, &parts[0].data[..]),
            ("strData", false, &b"hello"[..])
        );
        assert_eq!(
            (parts[1].name.as_str(), parts[1].is_file, &parts[1].data[..]),
            ("binData", true, &b"\x00\x01"[..])
        );
        assert_eq!(
            parse(&Bytes::from_static(b"junk"), "XyZ"),
            Err(MultipartError::Malformed("no boundary in the body"))
        );
        assert_eq!(
            boundary("multipart/form-data"),
            Err(MultipartError::NoBoundary)
        );
    }

    #[test]
    fn builds_the_message_as_the_wrapper_does() {
        let body = Bytes::from_static(
            b"--B\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n{\"puid\": \"m1\"}\r\n--B\r\nContent-Disposition: form-data; name=\"binData\"; filename=\"x\"\r\n\r\nraw\r\n--B--\r\n",
        );
        let json = to_json(&body, "multipart/form-data; boundary=B").unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"binData":"cmF3","meta":{"puid":"m1"}}"#
        );
        let bad = Bytes::from_static(
            b"--B\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\nnot json\r\n--B--\r\n",
        );
        assert!(
            to_json(&bad, "multipart/form-data; boundary=B")
                .unwrap_err()
                .contains("`data` is not JSON")
        );
        // Hostile framing: no panic, a reason.
        for junk in [&b"--B"[..], b"--B\r\n", b"--B\r\nX\r\n\r\n", b"", b"--B--"] {
            let _ = to_json(
                &Bytes::copy_from_slice(junk),
                "multipart/form-data; boundary=B",
            );
        }
    }
}
