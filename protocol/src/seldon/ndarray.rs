//! Seldon's `ndarray`: a nested JSON list read straight into a [`Tensor`] (no intermediate JSON tree), and a
//! [`Tensor`] written back as a nested list.

use std::fmt;

use oxserve_core::{Column, ColumnData, Table, Tensor, TensorData};
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Deserializer, Serialize};

/// How deep an `ndarray` may nest.
pub(crate) use crate::scan::MAX_DEPTH;

/// The leaves seen so far while flattening.
#[derive(Debug, Default)]
enum Leaves {
    #[default]
    Empty,
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Strings(Vec<Vec<u8>>),
    Bools(Vec<bool>),
    /// Rows of different element types (numbers, strings, booleans, `null`): a table's rows, kept only where
    /// [`Flat::allow_mixed`] says so.
    Mixed(Vec<Cell>),
}

/// One element of a mixed `ndarray`.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
}

impl Leaves {
    /// The leaves so far as cells, for the switch to [`Leaves::Mixed`].
    fn into_cells(self) -> Vec<Cell> {
        match self {
            Leaves::Empty => Vec::new(),
            Leaves::Ints(v) => v.into_iter().map(Cell::Int).collect(),
            Leaves::Floats(v) => v
                .into_iter()
                .map(|x| {
                    if x.is_nan() {
                        Cell::Null
                    } else {
                        Cell::Float(x)
                    }
                })
                .collect(),
            Leaves::Strings(v) => v
                .into_iter()
                .map(|b| Cell::Str(String::from_utf8_lossy(&b).into_owned()))
                .collect(),
            Leaves::Bools(v) => v.into_iter().map(Cell::Bool).collect(),
            Leaves::Mixed(v) => v,
        }
    }
}

/// Flattening state: the leaves and the shape implied by the first path through the array.
#[derive(Debug, Default)]
struct Flat {
    leaves: Leaves,
    shape: Vec<usize>,
    /// Depth at which leaves sit, once known.
    leaf_depth: Option<usize>,
    /// Whether rows may mix element types (a table's rows) instead of being refused.
    allow_mixed: bool,
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
        match Rows::read(deserializer, false)? {
            Rows::Tensor(t) => Ok(NdArray(t)),
            Rows::Table(_) => Err(mixed()),
        }
    }
}

/// A request's `ndarray`: one tensor when every element has one type (the numeric fast path, unchanged), else
/// a table whose columns are the rows' positions (named `0`, `1`, ... until `names` renames them), each typed by
/// what it holds: numbers (`null` = NaN), strings or booleans (`null` = missing).
#[derive(Debug, Clone, PartialEq)]
pub enum Rows {
    /// Elements of one type.
    Tensor(Tensor),
    /// Mixed rows (numbers, strings, booleans, `null`).
    Table(Table),
}

impl<'de> Deserialize<'de> for Rows {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Rows::read(deserializer, true)
    }
}

impl Rows {
    fn read<'de, D: Deserializer<'de>>(
        deserializer: D,
        allow_mixed: bool,
    ) -> Result<Self, D::Error> {
        let mut flat = Flat {
            allow_mixed,
            ..Flat::default()
        };
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
            Leaves::Mixed(cells) => return table_of(&shape, cells).map(Rows::Table),
        };
        // An empty list `[]` has shape [0]; deeper empties keep the shape seen.
        Tensor::new(shape, data)
            .map(Rows::Tensor)
            .map_err(de::Error::custom)
    }
}

/// Mixed rows as a table: a 1-D list is one row, a 2-D one rows × columns; each column typed by its cells.
fn table_of<E: de::Error>(shape: &[usize], cells: Vec<Cell>) -> Result<Table, E> {
    let cols = match *shape {
        [n] => n,
        [_, n] => n,
        _ => {
            return Err(E::custom(format!(
                "an ndarray of mixed element types must be rows x columns, got shape {shape:?}"
            )));
        }
    };
    let mut columns: Vec<Vec<Cell>> = vec![Vec::new(); cols];
    for (i, cell) in cells.into_iter().enumerate() {
        if let Some(c) = columns.get_mut(i % cols.max(1)) {
            c.push(cell);
        }
    }
    let columns = columns
        .into_iter()
        .enumerate()
        .map(|(j, cells)| column_of(j.to_string(), cells))
        .collect::<Result<Vec<_>, String>>()
        .map_err(E::custom)?;
    Table::new(columns).map_err(E::custom)
}

/// One column's cells, typed: strings (with `null`), booleans (with `null`), else numbers (`null` as NaN;
/// int64 when every cell is an integer). A column that mixes strings with numbers or booleans is refused,
/// naming it.
fn column_of(name: String, cells: Vec<Cell>) -> Result<Column, String> {
    let has = |f: fn(&Cell) -> bool| cells.iter().any(f);
    let strings = has(|c| matches!(c, Cell::Str(_)));
    let bools = has(|c| matches!(c, Cell::Bool(_)));
    let numbers = has(|c| matches!(c, Cell::Int(_) | Cell::Float(_)));
    let data = match (strings, bools, numbers) {
        (true, false, false) => ColumnData::Str(
            cells
                .into_iter()
                .map(|c| match c {
                    Cell::Str(s) => Some(s),
                    _ => None,
                })
                .collect(),
        ),
        (false, true, false) => ColumnData::Bool(
            cells
                .into_iter()
                .map(|c| match c {
                    Cell::Bool(b) => Some(b),
                    _ => None,
                })
                .collect(),
        ),
        (false, false, _) if !has(|c| matches!(c, Cell::Float(_) | Cell::Null)) => ColumnData::I64(
            cells
                .into_iter()
                .map(|c| match c {
                    Cell::Int(i) => Some(i),
                    _ => None,
                })
                .collect(),
        ),
        (false, false, _) => ColumnData::F64(
            cells
                .into_iter()
                .map(|c| match c {
                    Cell::Int(i) => i as f64,
                    Cell::Float(x) => x,
                    _ => f64::NAN,
                })
                .collect(),
        ),
        _ => {
            return Err(format!(
                "column `{name}` mixes strings, numbers and booleans; a column holds one type"
            ));
        }
    };
    Ok(Column::new(name, data))
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
            _ => return self.push_mixed(Cell::Int(v)),
        }
        Ok(())
    }

    /// Pushes a cell of another type than the leaves so far: the rows become mixed, or are refused.
    fn push_mixed<E: de::Error>(&mut self, cell: Cell) -> Result<(), E> {
        if !self.flat.allow_mixed {
            return Err(mixed());
        }
        let mut cells = std::mem::take(&mut self.flat.leaves).into_cells();
        cells.push(cell);
        self.flat.leaves = Leaves::Mixed(cells);
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
            Leaves::Mixed(cells) => cells.push(if v.is_nan() {
                Cell::Null
            } else {
                Cell::Float(v)
            }),
            _ => {
                return self.push_mixed(if v.is_nan() {
                    Cell::Null
                } else {
                    Cell::Float(v)
                });
            }
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
            Leaves::Mixed(cells) => cells.push(Cell::Bool(v)),
            _ => return self.push_mixed(Cell::Bool(v)),
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<(), E> {
        self.leaf()?;
        match &mut self.flat.leaves {
            Leaves::Empty => self.flat.leaves = Leaves::Strings(vec![v.as_bytes().to_vec()]),
            Leaves::Strings(xs) => xs.push(v.as_bytes().to_vec()),
            Leaves::Mixed(cells) => cells.push(Cell::Str(v.to_string())),
            _ => return self.push_mixed(Cell::Str(v.to_string())),
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

/// A table from `jsonData` in pandas' two JSON orients: records (`[{"age": 70, "color": "red"}, ...]`, columns in
/// the order first seen, a key missing from a record is a missing value) and split
/// (`{"columns": [...], "data": [[...], ...]}`, an `index` ignored). `None` when the JSON is neither form; an error
/// names the column or row at fault (ragged rows, a column mixing strings and numbers, nested values).
pub fn table_from_json(json: &serde_json::Value) -> Option<Result<Table, String>> {
    use serde_json::Value;
    let cell = |v: &Value, col: &str| -> Result<Cell, String> {
        Ok(match v {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Cell::Int(i),
                None => Cell::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Cell::Str(s.clone()),
            _ => {
                return Err(format!(
                    "column `{col}` holds a nested value; cells must be numbers, strings, booleans or null"
                ));
            }
        })
    };
    let build = |names: Vec<String>, mut cols: Vec<Vec<Cell>>| -> Result<Table, String> {
        let columns = names
            .into_iter()
            .zip(cols.drain(..))
            .map(|(n, c)| column_of(n, c))
            .collect::<Result<Vec<_>, _>>()?;
        Table::new(columns).map_err(|e| e.to_string())
    };
    match json {
        Value::Array(records) if records.first().is_some_and(Value::is_object) => Some((|| {
            // Columns are every record's keys in the order first seen, as `pandas.DataFrame(records)` builds
            // them (a `DictVectorizer`'s records rarely share their keys).
            let mut names: Vec<String> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for (i, r) in records.iter().enumerate() {
                let Value::Object(r) = r else {
                    return Err(format!("jsonData record {i} is not an object"));
                };
                for k in r.keys() {
                    if seen.insert(k.as_str()) {
                        names.push(k.clone());
                    }
                }
            }
            // Records with keys of their own make a sparse table of keys × records cells: bounded, so that
            // a body of many one-key records cannot ask for a quadratic table.
            const MAX_CELLS: usize = 1 << 24;
            if names.len().saturating_mul(records.len()) > MAX_CELLS {
                return Err(format!(
                    "jsonData records have {} distinct keys over {} records, more than {MAX_CELLS} cells",
                    names.len(),
                    records.len()
                ));
            }
            let mut cols: Vec<Vec<Cell>> = vec![Vec::with_capacity(records.len()); names.len()];
            for r in records.iter() {
                let Value::Object(r) = r else { continue };
                for (name, col) in names.iter().zip(cols.iter_mut()) {
                    col.push(r.get(name).map_or(Ok(Cell::Null), |v| cell(v, name))?);
                }
            }
            build(names, cols)
        })(
        )),
        Value::Object(split) if split.contains_key("columns") && split.contains_key("data") => {
            Some((|| {
                let names: Vec<String> = match split.get("columns") {
                    Some(Value::Array(c)) => c
                        .iter()
                        .map(|n| match n {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect(),
                    _ => return Err("jsonData `columns` is not a list".to_string()),
                };
                let Some(Value::Array(rows)) = split.get("data") else {
                    return Err("jsonData `data` is not a list of rows".to_string());
                };
                let mut cols: Vec<Vec<Cell>> = vec![Vec::with_capacity(rows.len()); names.len()];
                for (i, row) in rows.iter().enumerate() {
                    match row {
                        Value::Array(cells) if cells.len() == names.len() => {
                            for ((name, col), v) in names.iter().zip(cols.iter_mut()).zip(cells) {
                                col.push(cell(v, name)?);
                            }
                        }
                        Value::Array(cells) => {
                            return Err(format!(
                                "jsonData row {i} has {} values but there are {} columns",
                                cells.len(),
                                names.len()
                            ));
                        }
                        _ => return Err(format!("jsonData row {i} is not a list")),
                    }
                }
                build(names, cols)
            })())
        }
        _ => None,
    }
}

/// Writes a table as Seldon's mixed `ndarray`: one list per row, each cell in its column's type, missing
/// values as `null`.
#[derive(Debug, Clone, Copy)]
pub struct TableRows<'a>(pub &'a Table);

impl Serialize for TableRows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let table = self.0;
        let mut rows = serializer.serialize_seq(Some(table.rows()))?;
        for i in 0..table.rows() {
            rows.serialize_element(&TableRow(table, i))?;
        }
        rows.end()
    }
}

struct TableRow<'a>(&'a Table, usize);

impl Serialize for TableRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let TableRow(table, i) = *self;
        let mut row = serializer.serialize_seq(Some(table.columns().len()))?;
        for c in table.columns() {
            match &c.data {
                ColumnData::F64(v) => row.serialize_element(&v.get(i).filter(|x| !x.is_nan()))?,
                ColumnData::I64(v) => row.serialize_element(&v.get(i).copied().flatten())?,
                ColumnData::Bool(v) => row.serialize_element(&v.get(i).copied().flatten())?,
                ColumnData::Str(v) => row.serialize_element(&v.get(i).cloned().flatten())?,
            }
        }
        row.end()
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
    fn mixed_rows_become_a_table() {
        let rows: Rows =
            serde_json::from_str(r#"[[70.5, "red", true, 3], [null, null, null, 4]]"#).unwrap();
        let Rows::Table(t) = rows else {
            panic!("not a table")
        };
        assert_eq!(t.rows(), 2);
        assert_eq!(t.names().collect::<Vec<_>>(), ["0", "1", "2", "3"]);
        assert!(matches!(&t.columns()[0].data, ColumnData::F64(v) if v[1].is_nan()));
        assert_eq!(
            t.columns()[1].data,
            ColumnData::Str(vec![Some("red".into()), None])
        );
        assert_eq!(
            t.columns()[2].data,
            ColumnData::Bool(vec![Some(true), None])
        );
        assert_eq!(t.columns()[3].data, ColumnData::I64(vec![Some(3), Some(4)]));
        assert_eq!(
            serde_json::to_string(&TableRows(&t)).unwrap(),
            r#"[[70.5,"red",true,3],[null,null,null,4]]"#
        );
        let err = serde_json::from_str::<Rows>(r#"[[1, "a"], ["b", 2]]"#).unwrap_err();
        assert!(err.to_string().contains("column `0` mixes"), "{err}");
        let err = serde_json::from_str::<Rows>(r#"[[1, "a"], [2]]"#).unwrap_err();
        assert!(err.to_string().contains("ragged"), "{err}");
        // One type throughout stays the tensor fast path.
        assert!(matches!(
            serde_json::from_str::<Rows>("[[1.0, 2.0]]").unwrap(),
            Rows::Tensor(_)
        ));
    }

    #[test]
    fn json_data_records_and_split() {
        let records = serde_json::json!([{"age": 70, "color": "red"}, {"age": 57.5}]);
        let t = table_from_json(&records).unwrap().unwrap();
        assert_eq!(t.names().collect::<Vec<_>>(), ["age", "color"]);
        assert_eq!(
            t.columns()[1].data,
            ColumnData::Str(vec![Some("red".into()), None])
        );
        let split = serde_json::json!({"columns": ["a", "b"], "data": [[1, "x"], [2, "y"]]});
        let t = table_from_json(&split).unwrap().unwrap();
        assert_eq!(t.rows(), 2);
        let bad = serde_json::json!({"columns": ["a", "b"], "data": [[1]]});
        assert!(
            table_from_json(&bad)
                .unwrap()
                .unwrap_err()
                .contains("row 0 has 1 values")
        );
        assert!(table_from_json(&serde_json::json!("text")).is_none());
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
