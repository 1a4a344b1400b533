//! The `data` array of a REST tensor, parsed straight into one typed buffer.
//!
//! [`DataSeed`] is a serde `DeserializeSeed` that knows the datatype: it walks flat or nested arrays and pushes
//! each number into a typed `Vec` (one growing allocation per tensor, none per element, no `serde_json::Value`
//! tree). It records rather than raises type and shape problems, so the caller can name the tensor in the error
//! even when `name` follows `data` in the object.

use std::fmt;

use oxserve_core::TensorData;
use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, Serializer};
use serde_json::Value;

use super::{V2DataType, V2Error};

/// Deepest nesting accepted in `data`; deeper input is rejected without recursing further. The fast path's scanner
/// (`v2/quick.rs`) declines past the same depth, so it is one constant.
pub(crate) use crate::scan::MAX_DEPTH;
/// Most elements reserved up front from a declared shape (a lying shape must not allocate gigabytes).
const MAX_RESERVE: usize = 1 << 17;

/// The `data` of one REST tensor: a flat, row-major array of values.
///
/// Built from a [`TensorData`] to encode (`TensorJson::from(data)`); parsed by [`RequestInput`]'s deserializer
/// straight into typed values when the datatype is known by then. Serializes as a flat JSON array with NaN and
/// ±inf as `null`; a `BYTES` element that is not UTF-8 fails serialization.
///
/// [`RequestInput`]: super::RequestInput
#[derive(Debug, Clone, PartialEq)]
pub struct TensorJson(pub(crate) Repr);

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Repr {
    /// Typed values, flattened (parsed with the datatype known, or built from a tensor).
    Typed(TensorData),
    /// Parsed before the datatype was known; typed on conversion.
    Untyped(Value),
    /// Parsed, but wrong; becomes a [`V2Error`] naming the tensor on conversion.
    Invalid(Problem),
    /// `BYTES` values with JSON `null`s among them, and the mask marking them (a missing string in a pandas
    /// column, as MLServer's pandas codec reads it: `None`).
    Missing(TensorData, Vec<bool>),
}

impl From<TensorData> for TensorJson {
    fn from(data: TensorData) -> Self {
        TensorJson(Repr::Typed(data))
    }
}

impl TensorJson {
    /// Types the values as `dtype` (parsing them now if they were read before the datatype), or reports the
    /// problem found while parsing, naming the tensor; with the mask of the `null`s a `BYTES` array held (`None`
    /// when it held none).
    pub(crate) fn resolve_column(
        self,
        name: &str,
        dtype: V2DataType,
    ) -> Result<(TensorData, Option<Vec<bool>>), V2Error> {
        let repr = match self.0 {
            Repr::Untyped(value) => match (DataSeed { dtype, hint: 0 }).deserialize(value) {
                Ok(parsed) => parsed.0,
                Err(err) => return Err(V2Error::Json(err)),
            },
            other => other,
        };
        match repr {
            Repr::Typed(data) if V2DataType::from(data.dtype()).core() == dtype.core() => {
                Ok((data, None))
            }
            Repr::Missing(data, mask) if dtype == V2DataType::Bytes => Ok((data, Some(mask))),
            Repr::Typed(data) | Repr::Missing(data, _) => Err(V2Error::ElementType {
                name: name.to_owned(),
                datatype: dtype.name(),
                index: 0,
                found: format!("{} data", data.dtype()),
            }),
            Repr::Untyped(_) => Err(V2Error::ElementType {
                name: name.to_owned(),
                datatype: dtype.name(),
                index: 0,
                found: "unparsed".to_owned(),
            }),
            Repr::Invalid(problem) => Err(problem.into_error(name, dtype)),
        }
    }

    /// The typed values, if they are typed.
    pub(crate) fn typed(&self) -> Option<&TensorData> {
        match &self.0 {
            Repr::Typed(data) | Repr::Missing(data, _) => Some(data),
            _ => None,
        }
    }

    /// The typed values, if they are typed and have no missing elements.
    pub(crate) fn complete(&self) -> Option<&TensorData> {
        match &self.0 {
            Repr::Typed(data) => Some(data),
            _ => None,
        }
    }

    /// Takes the typed values out, if they are typed.
    pub(crate) fn into_typed(self) -> Option<TensorData> {
        match self.0 {
            Repr::Typed(data) | Repr::Missing(data, _) => Some(data),
            _ => None,
        }
    }
}

/// What was wrong with a `data` array.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    /// Element `index` has the wrong JSON type (`found` says what it is).
    Type { index: usize, found: String },
    /// Element `index` is outside the datatype's range.
    Range { index: usize, value: String },
    /// Rows of different lengths, or leaves at different depths.
    Ragged,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A scalar or object where the array should be.
    NotArray,
    /// A datatype JSON cannot carry (FP16, BF16).
    Unsupported,
}

impl Problem {
    fn into_error(self, name: &str, dtype: V2DataType) -> V2Error {
        let name = name.to_owned();
        match self {
            Problem::Type { index, found } => V2Error::ElementType {
                name,
                datatype: dtype.name(),
                index,
                found,
            },
            Problem::Range { index, value } => V2Error::OutOfRange {
                name,
                datatype: dtype.name(),
                index,
                value,
            },
            Problem::Ragged => V2Error::Ragged { name },
            Problem::TooDeep => V2Error::TooDeep {
                name,
                max: MAX_DEPTH,
            },
            Problem::NotArray => V2Error::ElementType {
                name,
                datatype: dtype.name(),
                index: 0,
                found: "not inside an array (`data` must be a JSON array)".to_owned(),
            },
            Problem::Unsupported => V2Error::UnsupportedEncoding {
                name,
                datatype: dtype.name(),
                encoding: "JSON data",
            },
        }
    }
}

/// Why one element was refused by a sink.
enum Refused {
    Type(String),
    Range(String),
}

fn wrong(found: &str) -> Result<(), Refused> {
    Err(Refused::Type(found.to_owned()))
}

/// A typed buffer that JSON scalars are pushed into.
trait Sink {
    fn push_u64(&mut self, v: u64) -> Result<(), Refused>;
    fn push_i64(&mut self, v: i64) -> Result<(), Refused>;
    fn push_f64(&mut self, v: f64) -> Result<(), Refused>;
    fn push_bool(&mut self, _v: bool) -> Result<(), Refused> {
        wrong("a boolean")
    }
    fn push_str(&mut self, _v: &str) -> Result<(), Refused> {
        wrong("a string")
    }
    fn push_string(&mut self, v: String) -> Result<(), Refused> {
        self.push_str(&v)
    }
    fn push_null(&mut self) -> Result<(), Refused> {
        wrong("null")
    }
    fn len(&self) -> usize;
    fn finish(self) -> TensorData;
    /// The mask of `null`s taken, for the sinks that take them as missing values.
    fn take_missing(&mut self) -> Option<Vec<bool>> {
        None
    }
}

struct BoolSink(Vec<bool>);

impl Sink for BoolSink {
    fn push_u64(&mut self, _v: u64) -> Result<(), Refused> {
        wrong("a number")
    }
    fn push_i64(&mut self, _v: i64) -> Result<(), Refused> {
        wrong("a number")
    }
    fn push_f64(&mut self, _v: f64) -> Result<(), Refused> {
        wrong("a number")
    }
    fn push_bool(&mut self, v: bool) -> Result<(), Refused> {
        self.0.push(v);
        Ok(())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn finish(self) -> TensorData {
        TensorData::Bool(self.0)
    }
}

/// Integers of one wire type, range-checked and stored as `T` (u8, i32 or i64).
struct IntSink<T> {
    values: Vec<T>,
    min: i64,
    max: i64,
    wrap: fn(Vec<T>) -> TensorData,
}

impl<T: TryFrom<i64>> IntSink<T> {
    fn push_checked(&mut self, v: i64) -> Result<(), Refused> {
        if v < self.min || v > self.max {
            return Err(Refused::Range(v.to_string()));
        }
        let v = T::try_from(v).map_err(|_| Refused::Range(v.to_string()))?;
        self.values.push(v);
        Ok(())
    }
}

impl<T: TryFrom<i64>> Sink for IntSink<T> {
    fn push_u64(&mut self, v: u64) -> Result<(), Refused> {
        match i64::try_from(v) {
            Ok(v) => self.push_checked(v),
            Err(_) => Err(Refused::Range(v.to_string())),
        }
    }
    fn push_i64(&mut self, v: i64) -> Result<(), Refused> {
        self.push_checked(v)
    }
    fn push_f64(&mut self, v: f64) -> Result<(), Refused> {
        if v.fract() != 0.0 || !v.is_finite() {
            return Err(Refused::Type(format!("the non-integer {v}")));
        }
        // 2^63 is exact in f64; an integral float in [-2^63, 2^63) converts exactly.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if !(-LIMIT..LIMIT).contains(&v) {
            return Err(Refused::Range(v.to_string()));
        }
        self.push_checked(v as i64)
    }
    fn len(&self) -> usize {
        self.values.len()
    }
    fn finish(self) -> TensorData {
        (self.wrap)(self.values)
    }
}

struct F64Sink(Vec<f64>);

impl Sink for F64Sink {
    fn push_u64(&mut self, v: u64) -> Result<(), Refused> {
        self.0.push(v as f64);
        Ok(())
    }
    fn push_i64(&mut self, v: i64) -> Result<(), Refused> {
        self.0.push(v as f64);
        Ok(())
    }
    fn push_f64(&mut self, v: f64) -> Result<(), Refused> {
        self.0.push(v);
        Ok(())
    }
    fn push_null(&mut self) -> Result<(), Refused> {
        self.0.push(f64::NAN);
        Ok(())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn finish(self) -> TensorData {
        TensorData::F64(self.0)
    }
}

struct F32Sink(Vec<f32>);

impl Sink for F32Sink {
    fn push_u64(&mut self, v: u64) -> Result<(), Refused> {
        self.0.push(v as f32);
        Ok(())
    }
    fn push_i64(&mut self, v: i64) -> Result<(), Refused> {
        self.0.push(v as f32);
        Ok(())
    }
    fn push_f64(&mut self, v: f64) -> Result<(), Refused> {
        let f = v as f32;
        if f.is_infinite() && v.is_finite() {
            return Err(Refused::Range(v.to_string()));
        }
        self.0.push(f);
        Ok(())
    }
    fn push_null(&mut self) -> Result<(), Refused> {
        self.0.push(f32::NAN);
        Ok(())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn finish(self) -> TensorData {
        TensorData::F32(self.0)
    }
}

/// Strings; a JSON `null` is a missing value (an empty element marked in the mask), as MLServer's pandas codec
/// hands `None` to the model.
struct BytesSink(Vec<Vec<u8>>, Option<Vec<bool>>);

impl Sink for BytesSink {
    fn push_null(&mut self) -> Result<(), Refused> {
        let n = self.0.len();
        let mask = self.1.get_or_insert_with(|| vec![false; n]);
        mask.push(true);
        self.0.push(Vec::new());
        Ok(())
    }
    fn take_missing(&mut self) -> Option<Vec<bool>> {
        self.1.take()
    }
    fn push_u64(&mut self, _v: u64) -> Result<(), Refused> {
        wrong("a number")
    }
    fn push_i64(&mut self, _v: i64) -> Result<(), Refused> {
        wrong("a number")
    }
    fn push_f64(&mut self, _v: f64) -> Result<(), Refused> {
        wrong("a number")
    }
    fn push_str(&mut self, v: &str) -> Result<(), Refused> {
        if let Some(mask) = &mut self.1 {
            mask.push(false);
        }
        self.0.push(v.as_bytes().to_vec());
        Ok(())
    }
    fn push_string(&mut self, v: String) -> Result<(), Refused> {
        if let Some(mask) = &mut self.1 {
            mask.push(false);
        }
        self.0.push(v.into_bytes());
        Ok(())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn finish(self) -> TensorData {
        TensorData::Bytes(self.0)
    }
}

/// Parses a `data` array as `dtype`, reserving up to `hint` elements.
pub(crate) struct DataSeed {
    pub(crate) dtype: V2DataType,
    pub(crate) hint: usize,
}

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = TensorJson;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<TensorJson, D::Error> {
        let n = self.hint.min(MAX_RESERVE);
        match self.dtype {
            V2DataType::Bool => run(d, BoolSink(Vec::with_capacity(n))),
            V2DataType::F64 => run(d, F64Sink(Vec::with_capacity(n))),
            V2DataType::F32 => run(d, F32Sink(Vec::with_capacity(n))),
            V2DataType::Bytes => run(d, BytesSink(Vec::with_capacity(n.min(4096)), None)),
            V2DataType::F16 | V2DataType::Bf16 => {
                IgnoredAny::deserialize(d)?;
                Ok(TensorJson(Repr::Invalid(Problem::Unsupported)))
            }
            V2DataType::U8 => {
                let (min, max) = range_i64(self.dtype);
                run(
                    d,
                    IntSink::<u8> {
                        values: Vec::with_capacity(n),
                        min,
                        max,
                        wrap: TensorData::U8,
                    },
                )
            }
            V2DataType::I8 | V2DataType::I16 | V2DataType::I32 | V2DataType::U16 => {
                let (min, max) = range_i64(self.dtype);
                run(
                    d,
                    IntSink::<i32> {
                        values: Vec::with_capacity(n),
                        min,
                        max,
                        wrap: TensorData::I32,
                    },
                )
            }
            V2DataType::U32 | V2DataType::U64 | V2DataType::I64 => {
                let (min, max) = range_i64(self.dtype);
                run(
                    d,
                    IntSink::<i64> {
                        values: Vec::with_capacity(n),
                        min,
                        max,
                        wrap: TensorData::I64,
                    },
                )
            }
        }
    }
}

/// The integer range of an integer datatype, clamped to `i64` (our storage never exceeds it).
fn range_i64(dtype: V2DataType) -> (i64, i64) {
    let (min, max) = dtype.int_range().unwrap_or((0, 0));
    let clamp = |v: i128| i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX });
    (clamp(min), clamp(max))
}

/// The nesting seen so far: the length of every array at each depth, and the depth of the scalars.
struct Nest {
    dims: [usize; MAX_DEPTH],
    leaf_depth: Option<usize>,
    problem: Option<Problem>,
}

const UNSET: usize = usize::MAX;

fn run<'de, D: de::Deserializer<'de>, S: Sink>(d: D, mut sink: S) -> Result<TensorJson, D::Error> {
    let mut nest = Nest {
        dims: [UNSET; MAX_DEPTH],
        leaf_depth: None,
        problem: None,
    };
    Level {
        sink: &mut sink,
        nest: &mut nest,
        depth: 0,
    }
    .deserialize(d)?;
    if nest.problem.is_none() {
        let levels = nest.dims.iter().take_while(|&&d| d != UNSET).count();
        let contiguous = nest.dims[levels..].iter().all(|&d| d == UNSET);
        let leaves_at_bottom = nest.leaf_depth.is_none_or(|l| l == levels);
        if !contiguous || !leaves_at_bottom {
            nest.problem = Some(Problem::Ragged);
        }
    }
    Ok(TensorJson(match nest.problem {
        Some(p) => Repr::Invalid(p),
        None => match sink.take_missing() {
            Some(mask) => Repr::Missing(sink.finish(), mask),
            None => Repr::Typed(sink.finish()),
        },
    }))
}

/// One array (or scalar) at `depth` of the `data` tree.
struct Level<'a, S> {
    sink: &'a mut S,
    nest: &'a mut Nest,
    depth: usize,
}

impl<S: Sink> Level<'_, S> {
    fn scalar<E>(self, push: impl FnOnce(&mut S) -> Result<(), Refused>) -> Result<(), E> {
        if self.nest.problem.is_some() {
            return Ok(());
        }
        if self.depth == 0 {
            self.nest.problem = Some(Problem::NotArray);
            return Ok(());
        }
        match self.nest.leaf_depth {
            None => self.nest.leaf_depth = Some(self.depth),
            Some(l) if l != self.depth => {
                self.nest.problem = Some(Problem::Ragged);
                return Ok(());
            }
            Some(_) => {}
        }
        let index = self.sink.len();
        if let Err(refused) = push(self.sink) {
            self.nest.problem = Some(match refused {
                Refused::Type(found) => Problem::Type { index, found },
                Refused::Range(value) => Problem::Range { index, value },
            });
        }
        Ok(())
    }
}

impl<'de, S: Sink> DeserializeSeed<'de> for Level<'_, S> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, S: Sink> Visitor<'de> for Level<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of tensor elements")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(|s| s.push_bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(|s| s.push_i64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(|s| s.push_u64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.scalar(|s| s.push_f64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(|s| s.push_str(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.scalar(|s| s.push_string(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(|s| s.push_null())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar(|s| s.push_null())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.scalar(|_| wrong("an object"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Level { sink, nest, depth } = self;
        if depth >= MAX_DEPTH && nest.problem.is_none() {
            nest.problem = Some(Problem::TooDeep);
        }
        let mut n = 0usize;
        loop {
            if nest.problem.is_some() {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(());
            }
            let next = Level {
                sink: &mut *sink,
                nest: &mut *nest,
                depth: depth + 1,
            };
            if seq.next_element_seed(next)?.is_none() {
                break;
            }
            n += 1;
        }
        match nest.dims[depth] {
            UNSET => nest.dims[depth] = n,
            d if d != n => nest.problem = Some(Problem::Ragged),
            _ => {}
        }
        Ok(())
    }
}

impl Serialize for TensorJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Typed(data) => match data {
                TensorData::Bool(v) => s.collect_seq(v),
                TensorData::U8(v) => s.collect_seq(v),
                TensorData::I32(v) => s.collect_seq(v),
                TensorData::I64(v) => s.collect_seq(v),
                TensorData::F32(v) => s.collect_seq(v),
                TensorData::F64(v) => s.collect_seq(v),
                TensorData::Bytes(v) => s.collect_seq(v.iter().map(|b| Utf8(b))),
            },
            Repr::Missing(TensorData::Bytes(v), mask) => s.collect_seq(
                v.iter()
                    .zip(mask)
                    .map(|(b, &missing)| (!missing).then_some(Utf8(b))),
            ),
            Repr::Missing(..) => Err(ser::Error::custom("only BYTES data has missing values")),
            Repr::Untyped(value) => value.serialize(s),
            Repr::Invalid(_) => Err(ser::Error::custom("tensor data failed to parse")),
        }
    }
}

/// A BYTES element written as a JSON string; fails if it is not UTF-8.
struct Utf8<'a>(&'a [u8]);

impl Serialize for Utf8<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => Err(ser::Error::custom("BYTES element is not valid UTF-8")),
        }
    }
}

/// `data`: a JSON array, flat or nested, of the tensor's `datatype` (numbers, booleans or strings; `null` for a
/// NaN). Inlined where it is used ([`data_schema`]), not a component of its own.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for TensorJson {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(<Value as utoipa::PartialSchema>::schema())
            .description(Some(
                "The elements, flat or nested; absent when they travel as a binary blob.",
            ))
            .into()
    }
}

/// The schema of a tensor's `data` field (the derive's `schema_with` takes a function).
#[cfg(feature = "openapi")]
pub(crate) fn data_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    <TensorJson as utoipa::PartialSchema>::schema()
}

impl<'de> de::Deserialize<'de> for TensorJson {
    /// Without a datatype the values stay an untyped JSON tree, typed when converted to a tensor.
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(|v| TensorJson(Repr::Untyped(v)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(dtype: V2DataType, json: &str) -> Result<TensorData, V2Error> {
        let mut de = serde_json::Deserializer::from_str(json);
        let parsed = DataSeed { dtype, hint: 4 }
            .deserialize(&mut de)
            .map_err(V2Error::Json)?;
        parsed.resolve_column("x", dtype).map(|(data, _)| data)
    }

    #[test]
    fn flat_and_nested_agree() {
        let flat = parse(V2DataType::F64, "[1, 2.5, -3, 4]").unwrap();
        let nested = parse(V2DataType::F64, "[[1, 2.5], [-3, 4]]").unwrap();
        assert_eq!(flat, TensorData::F64(vec![1.0, 2.5, -3.0, 4.0]));
        assert_eq!(flat, nested);
        assert_eq!(
            parse(V2DataType::F64, "[[[]],[[]]]").unwrap(),
            TensorData::F64(vec![])
        );
    }

    #[test]
    fn ragged_is_rejected() {
        for json in [
            "[[1, 2], [3]]",
            "[[1, 2], 3]",
            "[1, [2]]",
            "[[1], [[2]]]",
            "[[[]], [1]]",
            "[[], [1]]",
            "[[1], []]",
        ] {
            assert!(
                matches!(parse(V2DataType::F64, json), Err(V2Error::Ragged { .. })),
                "{json}"
            );
        }
    }

    #[test]
    fn element_types_are_checked() {
        let err = parse(V2DataType::F64, r#"[1, "a"]"#).unwrap_err();
        assert_eq!(err.to_string(), "`x`: element 1 of FP64 data is a string");
        let err = parse(V2DataType::I64, "[1, 1.5]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`x`: element 1 of INT64 data is the non-integer 1.5"
        );
        assert_eq!(
            parse(V2DataType::I64, "[2.0, -7]").unwrap(),
            TensorData::I64(vec![2, -7])
        );
        let err = parse(V2DataType::I8, "[127, 128]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`x`: element 1 (128) is out of range for INT8"
        );
        assert!(matches!(
            parse(V2DataType::U8, "[-1]"),
            Err(V2Error::OutOfRange { .. })
        ));
        assert!(matches!(
            parse(V2DataType::U64, "[18446744073709551615]"),
            Err(V2Error::OutOfRange { .. })
        ));
        assert!(matches!(
            parse(V2DataType::I64, "[9.3e18]"),
            Err(V2Error::OutOfRange { .. })
        ));
        assert!(matches!(
            parse(V2DataType::F32, "[1e300]"),
            Err(V2Error::OutOfRange { .. })
        ));
        assert!(matches!(
            parse(V2DataType::Bool, "[1]"),
            Err(V2Error::ElementType { .. })
        ));
        assert!(matches!(
            parse(V2DataType::Bytes, "[1]"),
            Err(V2Error::ElementType { .. })
        ));
        assert!(matches!(
            parse(V2DataType::I32, "[null]"),
            Err(V2Error::ElementType { .. })
        ));
        assert!(matches!(
            parse(V2DataType::I32, "[{}]"),
            Err(V2Error::ElementType { .. })
        ));
        assert!(matches!(
            parse(V2DataType::I32, "3"),
            Err(V2Error::ElementType { .. })
        ));
        assert!(matches!(
            parse(V2DataType::F16, "[1]"),
            Err(V2Error::UnsupportedEncoding { .. })
        ));
    }

    #[test]
    fn null_is_nan_for_floats() {
        let TensorData::F64(v) = parse(V2DataType::F64, "[null, 1]").unwrap() else {
            panic!("not f64")
        };
        assert!(v[0].is_nan());
        let TensorData::F32(v) = parse(V2DataType::F32, "[null]").unwrap() else {
            panic!("not f32")
        };
        assert!(v[0].is_nan());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let json = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(matches!(
            parse(V2DataType::F64, &json),
            Err(V2Error::TooDeep { .. })
        ));
    }

    #[test]
    fn serializes_flat_with_null_for_non_finite() {
        let json = serde_json::to_string(&TensorJson::from(TensorData::F64(vec![
            0.1,
            f64::NAN,
            f64::INFINITY,
            1e300,
        ])))
        .unwrap();
        assert_eq!(json, "[0.1,null,null,1e+300]");
        assert!(
            serde_json::to_string(&TensorJson::from(TensorData::Bytes(vec![vec![0xff]]))).is_err()
        );
    }
}
