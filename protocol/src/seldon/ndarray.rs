//! Seldon's `ndarray`: a nested JSON list read straight into a [`Tensor`] (no intermediate JSON tree), and a
//! [`Tensor`] written back as a nested list.

use std::fmt;

use oxserve_core::{Tensor, TensorData};
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Deserializer, Serialize};

/// How deep an `ndarray` may nest.
const MAX_DEPTH: usize = 32;

/// The leaves seen so far while flattening.
#[derive(Debug, Default)]
enum Leaves {
    #[default]
    Empty,
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Strings(Vec<Vec<u8>>),
    Bools(Vec<bool>),
}

/// Flattening state: the leaves and the shape implied by the first path through the array.
#[derive(Debug, Default)]
struct Flat {
    leaves: Leaves,
    shape: Vec<usize>,
    /// Depth at which leaves sit, once known.
    leaf_depth: Option<usize>,
}

/// A decoded `ndarray`: rectangular, one element type (integers, floats, strings or booleans).
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray(pub Tensor);

/// Nested JSON lists (a flat list is one row), rectangular, of one element type.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for NdArray {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(<serde_json::Value as utoipa::PartialSchema>::schema())
            .description(Some(
                "Nested lists, one inner list per row (a flat list is one row).",
            ))
            .into()
    }
}

impl<'de> Deserialize<'de> for NdArray {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut flat = Flat::default();
        Level {
            flat: &mut flat,
            depth: 0,
        }
        .deserialize(deserializer)?;
        let Flat { leaves, shape, .. } = flat;
        if shape.is_empty() {
            return Err(de::Error::custom("ndarray must be a list"));
        }
        let data = match leaves {
            Leaves::Empty => TensorData::F64(Vec::new()),
            Leaves::Ints(v) => TensorData::I64(v),
            Leaves::Floats(v) => TensorData::F64(v),
            Leaves::Strings(v) => TensorData::Bytes(v),
            Leaves::Bools(v) => TensorData::Bool(v),
        };
        // An empty list `[]` has shape [0]; deeper empties keep the shape seen.
        Tensor::new(shape, data)
            .map(NdArray)
            .map_err(de::Error::custom)
    }
}

struct Level<'a> {
    flat: &'a mut Flat,
    depth: usize,
}

impl Level<'_> {
    fn leaf<E: de::Error>(&mut self) -> Result<(), E> {
        match self.flat.leaf_depth {
            None => {
                self.flat.leaf_depth = Some(self.depth);
                Ok(())
            }
            Some(d) if d == self.depth => Ok(()),
            Some(_) => Err(E::custom(
                "ndarray is ragged: rows nest to different depths",
            )),
        }
    }

    fn push_int<E: de::Error>(&mut self, v: i64) -> Result<(), E> {
        self.leaf()?;
        match &mut self.flat.leaves {
            Leaves::Empty => self.flat.leaves = Leaves::Ints(vec![v]),
            Leaves::Ints(xs) => xs.push(v),
            Leaves::Floats(xs) => xs.push(v as f64),
            _ => return Err(mixed()),
        }
        Ok(())
    }

    fn push_float<E: de::Error>(&mut self, v: f64) -> Result<(), E> {
        self.leaf()?;
        match &mut self.flat.leaves {
            Leaves::Empty => self.flat.leaves = Leaves::Floats(vec![v]),
            Leaves::Floats(xs) => xs.push(v),
            Leaves::Ints(xs) => {
                let mut fs: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
                fs.push(v);
                self.flat.leaves = Leaves::Floats(fs);
            }
            _ => return Err(mixed()),
        }
        Ok(())
    }
}

fn mixed<E: de::Error>() -> E {
    E::custom("ndarray mixes element types; use numbers only, or strings only")
}

impl<'de> DeserializeSeed<'de> for Level<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a nested list of numbers or strings")
    }

    fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<(), E> {
        self.push_int(v)
    }

    fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<(), E> {
        match i64::try_from(v) {
            Ok(i) => self.push_int(i),
            Err(_) => self.push_float(v as f64),
        }
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<(), E> {
        self.push_float(v)
    }

    fn visit_bool<E: de::Error>(mut self, v: bool) -> Result<(), E> {
        self.leaf()?;
        match &mut self.flat.leaves {
            Leaves::Empty => self.flat.leaves = Leaves::Bools(vec![v]),
            Leaves::Bools(xs) => xs.push(v),
            _ => return Err(mixed()),
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<(), E> {
        self.leaf()?;
        match &mut self.flat.leaves {
            Leaves::Empty => self.flat.leaves = Leaves::Strings(vec![v.as_bytes().to_vec()]),
            Leaves::Strings(xs) => xs.push(v.as_bytes().to_vec()),
            _ => return Err(mixed()),
        }
        Ok(())
    }

    /// `null` is a missing value (NaN), the only way standard JSON can carry one; estimators that accept
    /// missing values (e.g. HistGradientBoosting) need it.
    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        self.push_float(f64::NAN)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _map: A) -> Result<(), A::Error> {
        Err(de::Error::custom(
            "ndarray elements must be numbers or strings, not objects",
        ))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = self.depth;
        if depth >= MAX_DEPTH {
            return Err(de::Error::custom(format!(
                "ndarray nests deeper than {MAX_DEPTH} levels"
            )));
        }
        if self.flat.leaf_depth.is_some_and(|d| d <= depth) {
            return Err(de::Error::custom(
                "ndarray is ragged: rows nest to different depths",
            ));
        }
        // Reserve this depth's slot before the children claim deeper ones; `usize::MAX` = length not yet known.
        if self.flat.shape.len() == depth {
            self.flat.shape.push(usize::MAX);
        }
        let mut len = 0usize;
        while seq
            .next_element_seed(Level {
                flat: &mut *self.flat,
                depth: depth + 1,
            })?
            .is_some()
        {
            len += 1;
        }
        match self.flat.shape.get_mut(depth) {
            Some(slot) if *slot == usize::MAX => *slot = len,
            Some(slot) if *slot == len => {}
            other => {
                let expected = other.map_or(0, |s| *s);
                return Err(de::Error::custom(format!(
                    "ndarray is ragged: a row of length {len} where {expected} was expected"
                )));
            }
        }
        if len == 0 && self.flat.leaf_depth.is_none() {
            // `[]` (or `[[]]`): the leaves would sit one level down.
            self.flat.leaf_depth = Some(depth + 1);
        }
        Ok(())
    }
}

/// Writes a tensor as Seldon's nested `ndarray` list, by its shape (a 0-d tensor as a bare value).
#[derive(Debug, Clone, Copy)]
pub struct NdArrayRef<'a>(pub &'a Tensor);

impl Serialize for NdArrayRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_nested(self.0.data(), self.0.shape(), serializer)
    }
}

/// Writes a tensor's elements as one flat list (Seldon's `tensor.values`), keeping their type.
#[derive(Debug, Clone, Copy)]
pub struct FlatRef<'a>(pub &'a Tensor);

impl Serialize for FlatRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_nested(self.0.data(), &[self.0.len()], serializer)
    }
}

fn serialize_nested<S: Serializer>(
    data: &TensorData,
    shape: &[usize],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    {
        match data {
            TensorData::F64(v) => Nested { shape, values: v }.serialize(serializer),
            TensorData::F32(v) => Nested { shape, values: v }.serialize(serializer),
            TensorData::I64(v) => Nested { shape, values: v }.serialize(serializer),
            TensorData::I32(v) => Nested { shape, values: v }.serialize(serializer),
            TensorData::U8(v) => Nested { shape, values: v }.serialize(serializer),
            TensorData::Bool(v) => Nested { shape, values: v }.serialize(serializer),
            TensorData::Bytes(v) => {
                let strings: Vec<Utf8Lossy<'_>> = v.iter().map(|b| Utf8Lossy(b)).collect();
                Nested {
                    shape,
                    values: &strings,
                }
                .serialize(serializer)
            }
        }
    }
}

/// Bytes written as a JSON string (invalid UTF-8 replaced).
struct Utf8Lossy<'a>(&'a [u8]);

impl Serialize for Utf8Lossy<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&String::from_utf8_lossy(self.0))
    }
}

struct Nested<'a, T> {
    shape: &'a [usize],
    values: &'a [T],
}

impl<T: Serialize> Serialize for Nested<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.shape {
            [] => match self.values.first() {
                Some(v) => v.serialize(serializer),
                None => serializer.serialize_seq(Some(0))?.end(),
            },
            [n] => {
                let mut seq = serializer.serialize_seq(Some(*n))?;
                for v in self.values.iter().take(*n) {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            [n, rest @ ..] => {
                let stride: usize = rest.iter().product();
                let mut seq = serializer.serialize_seq(Some(*n))?;
                for i in 0..*n {
                    let start = i * stride;
                    let values = self.values.get(start..start + stride).unwrap_or(&[]);
                    seq.serialize_element(&Nested {
                        shape: rest,
                        values,
                    })?;
                }
                seq.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Tensor, String> {
        serde_json::from_str::<NdArray>(s)
            .map(|n| n.0)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn nested_numbers_flatten_with_shape() {
        let t = parse("[[1, 2.5], [3, 4]]").unwrap();
        assert_eq!(t.shape(), &[2, 2]);
        assert_eq!(t.data(), &TensorData::F64(vec![1.0, 2.5, 3.0, 4.0]));
        let t = parse("[1,2,3,4]").unwrap();
        assert_eq!(t.shape(), &[4]);
        assert_eq!(t.data(), &TensorData::I64(vec![1, 2, 3, 4]));
        let t = parse("[]").unwrap();
        assert_eq!(t.shape(), &[0]);
        // Strings keep the shape they were sent in: a column of texts is [N,1], a list [N].
        let t = parse(r#"[["a"],["b"]]"#).unwrap();
        assert_eq!(t.shape(), &[2, 1]);
        assert_eq!(parse(r#"["a","b","c"]"#).unwrap().shape(), &[3]);
        let t = parse(r#"[["a","b"]]"#).unwrap();
        assert_eq!(
            t.data(),
            &TensorData::Bytes(vec![b"a".to_vec(), b"b".to_vec()])
        );
    }

    #[test]
    fn ragged_and_mixed_are_rejected() {
        assert!(parse("[[1,2],[3]]").unwrap_err().contains("ragged"));
        assert!(parse("[[1,2],3]").unwrap_err().contains("ragged"));
        assert!(parse("[1,[2,3]]").unwrap_err().contains("ragged"));
        assert!(parse(r#"[1,"a"]"#).unwrap_err().contains("mixes"));
        let t = parse("[[1, null]]").unwrap();
        assert!(matches!(t.data(), TensorData::F64(v) if v[0] == 1.0 && v[1].is_nan()));
        assert!(parse(r#"["a", null]"#).is_err());
        assert!(parse(r#"[{"a":1}]"#).is_err());
        assert!(parse(r#""AAA""#).unwrap_err().contains("must be a list"));
        assert!(parse("3").unwrap_err().contains("must be a list"));
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert!(parse(&deep).unwrap_err().contains("deeper"));
    }

    #[test]
    fn tensors_write_back_nested() {
        let t = Tensor::new(vec![2, 2], TensorData::I64(vec![1, 2, 3, 4])).unwrap();
        assert_eq!(
            serde_json::to_string(&NdArrayRef(&t)).unwrap(),
            "[[1,2],[3,4]]"
        );
        let t = Tensor::new(
            vec![2],
            TensorData::Bytes(vec![b"x".to_vec(), b"y".to_vec()]),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&NdArrayRef(&t)).unwrap(),
            r#"["x","y"]"#
        );
    }
}
