//! MLServer's content types (`parameters.content_type`), applied once to a decoded request of either transport.
//!
//! MLServer picks a codec per request and per input from `parameters.content_type` (`mlserver/codecs/*`); what
//! each does to the values, and what the model then receives here:
//!
//! | where | content type | MLServer | here |
//! |---|---|---|---|
//! | request | `pd` | each input is a DataFrame column | each input is a table column (unchanged) |
//! | request | `np` | exactly one input, as an ndarray | exactly one input, else 400 with MLServer's message |
//! | request | `str` | exactly one input, a list of `str` | exactly one `BYTES` input of UTF-8 text |
//! | input | `np` | the values reshaped to `shape` | unchanged |
//! | input | `str` | each element decoded as UTF-8 | `BYTES` only; each element checked as UTF-8 |
//! | input | `base64` | each element base64-decoded when it is valid base64, kept as sent otherwise | the same |
//! | input | `datetime` | each element through `datetime.fromisoformat` | an `INT64` column of nanoseconds since the Unix epoch (UTC), what pandas' `datetime64[ns]` holds |
//! | input, under request `pd` | `pd_json` | each element through `json.loads`, the column `pd.Series` of the values | a typed column: numbers `FP64` (`INT64` when all are integers; `null` as NaN), strings `BYTES`, booleans `BOOL` (`null` missing) |
//!
//! Other content types, and a request without one, are left alone (MLServer finds no codec and hands the raw
//! request on; `pd_json` is read by its pandas codec only, so it too is ignored outside a `pd` request). Deliberate differences: MLServer turns a number under `str` into `""`, here a non-`BYTES` input
//! under `str`, `base64` or `datetime` is a 400; a `datetime` reaches the model as its epoch nanoseconds (a naive
//! time read as UTC, an offset applied), because the table has no datetime column type.

use oxserve_core::{NamedTensor, Tensor, TensorData};
use serde_json::{Map, Value};

use super::{DecodedInfer, InputInfo, V2DataType, V2Error};

/// The parameter that names a codec.
pub const CONTENT_TYPE: &str = "content_type";
/// MLServer's NumPy codec: what its scikit-learn, XGBoost and LightGBM runtimes write on every output.
pub const NUMPY: &str = "np";
/// MLServer's string codec.
pub const STRING: &str = "str";
/// MLServer's pandas codec: one input per column.
pub const PANDAS: &str = "pd";
/// MLServer's base64 codec (inputs only).
pub const BASE64: &str = "base64";
/// MLServer's datetime codec (inputs only).
pub const DATETIME: &str = "datetime";
/// MLServer's pandas codec's JSON column (`PandasCodec.JsonContentType`): each `BYTES` element is one JSON value.
pub const PANDAS_JSON: &str = "pd_json";

/// A parameter map's `content_type`, when it is a string.
fn content_type(parameters: &Map<String, Value>) -> Option<&str> {
    parameters.get(CONTENT_TYPE).and_then(Value::as_str)
}

/// Applies the request's and every input's content type to a decoded request (see the module docs).
pub(crate) fn apply(decoded: &mut DecodedInfer) -> Result<(), V2Error> {
    for (input, info) in decoded.request.inputs.iter_mut().zip(&decoded.inputs) {
        decode_input(input, info)?;
    }
    let request_codec = content_type(&decoded.parameters);
    if request_codec == Some(PANDAS) {
        for (input, info) in decoded.request.inputs.iter_mut().zip(&decoded.inputs) {
            if content_type(&info.parameters) == Some(PANDAS_JSON) {
                json_column(input, info)?;
            }
        }
    }
    if let Some(codec @ (NUMPY | STRING)) = request_codec {
        let got = decoded.request.inputs.len();
        if got != 1 {
            return Err(V2Error::CodecInputs {
                content_type: codec.to_owned(),
                got,
            });
        }
        if codec == STRING
            && let (Some(input), Some(info)) =
                (decoded.request.inputs.first(), decoded.inputs.first())
            && content_type(&info.parameters) != Some(STRING)
        {
            check_text(input, info, STRING)?;
        }
    }
    Ok(())
}

/// Applies one input's content type.
fn decode_input(input: &mut NamedTensor, info: &InputInfo) -> Result<(), V2Error> {
    match content_type(&info.parameters) {
        Some(STRING) => check_text(input, info, STRING),
        Some(BASE64) => {
            bytes_only(input, info, BASE64)?;
            let tensor = std::mem::replace(&mut input.tensor, empty());
            let missing = tensor.missing().map(<[bool]>::to_vec);
            let (shape, data) = tensor.into_parts();
            let TensorData::Bytes(values) = data else {
                return Ok(());
            };
            let decoded = values.into_iter().map(base64_or_raw).collect();
            input.tensor =
                rebuild(&input.name, shape, TensorData::Bytes(decoded))?.with_missing(missing);
            Ok(())
        }
        Some(DATETIME) => {
            bytes_only(input, info, DATETIME)?;
            let TensorData::Bytes(values) = input.tensor.data() else {
                return Ok(());
            };
            let missing = input.tensor.missing();
            let mut nanos = Vec::with_capacity(values.len());
            for (index, value) in values.iter().enumerate() {
                if missing.is_some_and(|m| m.get(index) == Some(&true)) {
                    return Err(bad_value(
                        input,
                        DATETIME,
                        index,
                        value,
                        "a datetime (it is null)",
                    ));
                }
                let parsed = std::str::from_utf8(value).ok().and_then(iso_datetime_nanos);
                match parsed {
                    Some(n) => nanos.push(n),
                    None => {
                        return Err(bad_value(
                            input,
                            DATETIME,
                            index,
                            value,
                            "an ISO 8601 datetime within pandas' datetime64[ns] range",
                        ));
                    }
                }
            }
            let shape = input.tensor.shape().to_vec();
            input.tensor = rebuild(&input.name, shape, TensorData::I64(nanos))?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `pd_json`: every element one JSON value, the column typed by what they are (see the module docs). A column
/// mixing kinds (numbers and strings), or holding arrays or objects, is a 400: pandas would make it an `object`
/// column, which a table has no type for.
fn json_column(input: &mut NamedTensor, info: &InputInfo) -> Result<(), V2Error> {
    bytes_only(input, info, PANDAS_JSON)?;
    let TensorData::Bytes(values) = input.tensor.data() else {
        return Ok(());
    };
    let missing = input.tensor.missing();
    let mut parsed = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        if missing.is_some_and(|m| m.get(index) == Some(&true)) {
            parsed.push(Value::Null);
            continue;
        }
        match serde_json::from_slice::<Value>(value) {
            Ok(v @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_))) => {
                parsed.push(v);
            }
            _ => {
                return Err(bad_value(
                    input,
                    PANDAS_JSON,
                    index,
                    value,
                    "one JSON number, string, boolean or null",
                ));
            }
        }
    }
    let mixed = |index: usize| {
        let value = values.get(index).map_or(&[][..], Vec::as_slice);
        bad_value(
            input,
            PANDAS_JSON,
            index,
            value,
            "of the same kind as the column's first value (numbers, strings or booleans)",
        )
    };
    let first = parsed.iter().find(|v| !v.is_null());
    let nulls: Vec<bool> = parsed.iter().map(Value::is_null).collect();
    let data = match first {
        Some(Value::Number(_)) => {
            if let Some(i) = parsed.iter().position(|v| !v.is_null() && !v.is_number()) {
                return Err(mixed(i));
            }
            let ints: Option<Vec<i64>> = parsed.iter().map(Value::as_i64).collect();
            match ints {
                Some(ints) => TensorData::I64(ints),
                None => TensorData::F64(
                    parsed
                        .iter()
                        .map(|v| v.as_f64().unwrap_or(f64::NAN))
                        .collect(),
                ),
            }
        }
        Some(Value::Bool(_)) => {
            if let Some(i) = parsed.iter().position(|v| !v.is_null() && !v.is_boolean()) {
                return Err(mixed(i));
            }
            TensorData::Bool(parsed.iter().map(|v| v.as_bool() == Some(true)).collect())
        }
        _ => {
            if let Some(i) = parsed.iter().position(|v| !v.is_null() && !v.is_string()) {
                return Err(mixed(i));
            }
            TensorData::Bytes(
                parsed
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default().as_bytes().to_vec())
                    .collect(),
            )
        }
    };
    let keep_mask = !matches!(data, TensorData::F64(_));
    let shape = input.tensor.shape().to_vec();
    input.tensor = rebuild(&input.name, shape, data)?.with_missing(keep_mask.then_some(nulls));
    Ok(())
}

fn empty() -> Tensor {
    Tensor::from_column(TensorData::Bytes(Vec::new()), None)
}

fn rebuild(name: &str, shape: Vec<usize>, data: TensorData) -> Result<Tensor, V2Error> {
    let got = data.len();
    Tensor::new(shape.clone(), data).map_err(|_| V2Error::ElementCount {
        name: name.to_owned(),
        shape: shape.iter().map(|&d| d as i64).collect(),
        expected: shape.iter().product(),
        what: "decoded data",
        got,
    })
}

fn bytes_only(input: &NamedTensor, info: &InputInfo, codec: &'static str) -> Result<(), V2Error> {
    if info.datatype == V2DataType::Bytes {
        Ok(())
    } else {
        Err(V2Error::CodecDatatype {
            name: input.name.clone(),
            content_type: codec,
            datatype: info.datatype.name(),
        })
    }
}

/// `str`: `BYTES` whose every element is UTF-8 text.
fn check_text(input: &NamedTensor, info: &InputInfo, codec: &'static str) -> Result<(), V2Error> {
    bytes_only(input, info, codec)?;
    if let TensorData::Bytes(values) = input.tensor.data()
        && let Some((index, value)) = values
            .iter()
            .enumerate()
            .find(|(_, v)| std::str::from_utf8(v).is_err())
    {
        return Err(bad_value(input, codec, index, value, "UTF-8 text"));
    }
    Ok(())
}

fn bad_value(
    input: &NamedTensor,
    content_type: &'static str,
    index: usize,
    value: &[u8],
    what: &'static str,
) -> V2Error {
    let text = String::from_utf8_lossy(&value[..value.len().min(40)]);
    V2Error::CodecValue {
        name: input.name.clone(),
        content_type,
        index,
        value: format!("{text:?}"),
        what,
    }
}

/// MLServer's base64 input codec: the decoded bytes when the element is valid (strict, padded) standard
/// base64, the element itself otherwise (`base64.b64decode(validate=True)`, falling back on `binascii.Error`).
fn base64_or_raw(value: Vec<u8>) -> Vec<u8> {
    use base64::Engine as _;
    use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
    // Python's decoder ignores the unused bits of the last character; base64's strict default does not.
    const PYTHON: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    PYTHON.decode(&value).unwrap_or(value)
}

/// Nanoseconds since 1970-01-01T00:00:00 UTC of an ISO 8601 text as Python's `datetime.fromisoformat` (3.11+)
/// reads it: a date `YYYY-MM-DD` or `YYYYMMDD`, optionally followed by any one separator character and a time
/// `HH[:MM[:SS[.f…]]]` (or `HHMM[SS]`; fraction digits after the sixth are dropped, as Python truncates to
/// microseconds; `,` may stand for `.`), then optionally `Z` or an offset `±HH[:MM[:SS[.ffffff]]]`. A naive time
/// is read as UTC (pandas' `datetime64[ns]`). `None` when the text is not such a datetime, names an impossible
/// date, or falls outside what a signed 64-bit nanosecond count holds (pandas' own bounds, 1677–2262).
pub(crate) fn iso_datetime_nanos(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let (year, month, day, rest) = if b.get(4) == Some(&b'-') {
        let (y, m, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
        (b.get(7) == Some(&b'-')).then_some(())?;
        (y, m, d, b.get(10..)?)
    } else {
        (
            digits(b, 0, 4)?,
            digits(b, 4, 2)?,
            digits(b, 6, 2)?,
            b.get(8..)?,
        )
    };
    let days = days_from_civil(year, month, day)?;
    let mut micros: i64 = 0;
    if let Some((_, time)) = rest.split_first() {
        // Python takes the separator as any single character; the time and its offset follow.
        let tz_at = time
            .iter()
            .position(|&c| c == b'Z' || c == b'+' || c == b'-')
            .unwrap_or(time.len());
        let (clock, tz) = time.split_at(tz_at);
        micros = clock_micros(clock)?;
        micros -= offset_micros(tz)?;
    }
    let total = i64::from(days)
        .checked_mul(86_400_000_000)?
        .checked_add(micros)?;
    total.checked_mul(1000)
}

/// `count` ASCII digits at `at`, as a number.
fn digits(b: &[u8], at: usize, count: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(count)?)?;
    s.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date in Python's range (years 1–9999), or `None` when the date
/// does not exist.
fn days_from_civil(year: u32, month: u32, day: u32) -> Option<i32> {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let max = *month_days.get(usize::try_from(month).ok()?.checked_sub(1)?)?;
    if !(1..=9999).contains(&year) || day == 0 || day > max {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146_097 + doe - 719_468).ok()
}

/// Microseconds into the day of `HH[:MM[:SS[.f…]]]` or `HH[MM[SS[.f…]]]`.
fn clock_micros(clock: &[u8]) -> Option<i64> {
    let (main, fraction) = match clock.iter().position(|&c| c == b'.' || c == b',') {
        Some(at) => (&clock[..at], Some(&clock[at + 1..])),
        None => (clock, None),
    };
    let parts: Vec<u32> = if main.contains(&b':') {
        main.split(|&c| c == b':')
            .map(|p| (p.len() == 2).then(|| digits(p, 0, 2)).flatten())
            .collect::<Option<_>>()?
    } else {
        if !main.len().is_multiple_of(2) {
            return None;
        }
        main.chunks(2)
            .map(|p| digits(p, 0, 2))
            .collect::<Option<_>>()?
    };
    let (h, m, s) = match parts[..] {
        [h] => (h, 0, 0),
        [h, m] => (h, m, 0),
        [h, m, s] => (h, m, s),
        _ => return None,
    };
    if h > 23 || m > 59 || s > 59 || (fraction.is_some() && parts.len() != 3) {
        return None;
    }
    let mut micros = 0i64;
    if let Some(f) = fraction {
        if f.is_empty() || !f.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for i in 0..6 {
            micros = micros * 10 + f.get(i).map_or(0, |&c| i64::from(c - b'0'));
        }
    }
    Some(((i64::from(h) * 60 + i64::from(m)) * 60 + i64::from(s)) * 1_000_000 + micros)
}

/// Microseconds east of UTC of `Z`, `±HH[:MM[:SS[.ffffff]]]` or `±HHMM`; `0` for none.
fn offset_micros(tz: &[u8]) -> Option<i64> {
    match tz.split_first() {
        None => Some(0),
        Some((b'Z', [])) => Some(0),
        Some((&sign @ (b'+' | b'-'), rest)) => {
            let value = clock_micros(rest)?;
            Some(if sign == b'-' { -value } else { value })
        }
        _ => None,
    }
}

/// The `content_type` MLServer writes on one output of a response, for the runtimes that answer through its
/// NumPy codec (scikit-learn, XGBoost, LightGBM): `np` on every output.
pub fn output_parameters(content_type: &str) -> Map<String, Value> {
    let mut parameters = Map::new();
    parameters.insert(CONTENT_TYPE.to_owned(), Value::from(content_type));
    parameters
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000_000;

    #[test]
    fn datetimes_as_python_reads_them() {
        assert_eq!(iso_datetime_nanos("1970-01-01"), Some(0));
        assert_eq!(iso_datetime_nanos("19700102"), Some(DAY));
        assert_eq!(
            iso_datetime_nanos("2024-02-29T12:30"),
            Some(19_782 * DAY + 45_000_000_000_000)
        );
        assert_eq!(
            iso_datetime_nanos("1970-01-01 00:00:01.5"),
            Some(1_500_000_000)
        );
        // Digits after the sixth are dropped, as Python truncates to microseconds.
        assert_eq!(
            iso_datetime_nanos("1970-01-01T00:00:00.1234567"),
            Some(123_456_000)
        );
        assert_eq!(iso_datetime_nanos("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(iso_datetime_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            iso_datetime_nanos("1970-01-01T00:00:00-0130"),
            Some(5_400_000_000_000)
        );
        assert_eq!(
            iso_datetime_nanos("1970-01-01T010203"),
            Some(3_723_000_000_000)
        );
        for bad in [
            "",
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "2024-01-01T25:00",
            "2024-01-01T12:3",
            "2024-01-01T12:30+5",
            "2024-01-01T12:30.5",
            "yesterday",
            // pandas' datetime64[ns] ends in 2262.
            "2300-01-01",
        ] {
            assert_eq!(iso_datetime_nanos(bad), None, "{bad}");
        }
    }

    #[test]
    fn base64_falls_back_to_the_raw_bytes() {
        assert_eq!(base64_or_raw(b"aGVsbG8=".to_vec()), b"hello");
        assert_eq!(base64_or_raw(b"hello!".to_vec()), b"hello!");
        assert_eq!(base64_or_raw(b"aGVsbG8".to_vec()), b"aGVsbG8");
        assert_eq!(base64_or_raw(b"aGVsbG9=".to_vec()), b"hello");
    }
}
