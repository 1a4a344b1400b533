//! skops files (`skops.io.dump`, MLflow 3's default format for scikit-learn models): a zip holding `schema.json`
//! (a tree of typed nodes) and one `.npy` file per numeric array. Read into the same inert [`Value`] tree the
//! pickle reader builds, under the same allowlist (an `ObjectNode`'s class must be a global a pickle may name)
//! and the same memory budget; nothing is executed, and nodes that stand for code (functions, methods,
//! `functools.partial`, `__reduce__` calls) are refused.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;

use serde_json::Value as Json;

use crate::budget::Meter;
use crate::value::{ArrayData, Dtype, NdArray, Object, QualName, Value};
use crate::{Limits, PickleError, numpy};

/// The largest `schema.json` read (real ones are tens of KB; a forest's trees are `.npy` files).
const MAX_SCHEMA_BYTES: u64 = 64 << 20;

/// Types a `TypeNode` may name besides the pickle allowlist: what skops itself trusts there (primitive and
/// container types, numpy scalar types), all inert references.
const INERT_TYPES: &[(&str, &str)] = &[
    ("builtins", "str"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "bool"),
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "NoneType"),
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
];

fn err(what: impl Into<String>) -> PickleError {
    PickleError::Skops { what: what.into() }
}

/// Reads a skops file from disk with `limits`.
pub fn load_skops_file(path: &Path, limits: &Limits) -> Result<Value, PickleError> {
    let bytes = std::fs::read(path).map_err(|source| PickleError::Io {
        path: path.display().to_string(),
        source,
    })?;
    load_skops(&bytes, limits)
}

/// Reads a skops file's bytes with `limits`: the tree `schema.json` describes, with its arrays decoded.
pub fn load_skops(bytes: &[u8], limits: &Limits) -> Result<Value, PickleError> {
    let meter = Meter::new(limits.max_memory_bytes);
    meter.charge(bytes.len() as u64, || "the skops file".to_string())?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| err(format!("not a zip archive: {e}")))?;
    let schema = read_member(
        &mut zip,
        "schema.json",
        MAX_SCHEMA_BYTES.min(meter.left()),
        &meter,
    )?;
    let schema: Json = serde_json::from_slice(&schema)
        .map_err(|e| err(format!("schema.json is not JSON: {e}")))?;
    let mut reader = Reader {
        zip,
        meter: &meter,
        memo: HashMap::new(),
        max_depth: limits.max_depth,
    };
    reader.node(&schema, 0)
}

fn read_member(
    zip: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
    name: &str,
    limit: u64,
    meter: &Meter,
) -> Result<Vec<u8>, PickleError> {
    let file = zip
        .by_name(name)
        .map_err(|e| err(format!("no `{name}` in the archive: {e}")))?;
    let size = file.size();
    if size > limit {
        return Err(err(format!("`{name}` is {size} bytes (limit {limit})")));
    }
    meter.charge(size, || format!("`{name}` in the skops file"))?;
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(size)
        .read_to_end(&mut out)
        .map_err(|e| err(format!("cannot read `{name}`: {e}")))?;
    Ok(out)
}

struct Reader<'a> {
    zip: zip::ZipArchive<std::io::Cursor<&'a [u8]>>,
    meter: &'a Meter,
    /// Nodes already built, by `__id__` (what a `CachedNode` refers to).
    memo: HashMap<i64, Value>,
    max_depth: usize,
}

fn text<'j>(node: &'j Json, key: &str) -> Result<&'j str, PickleError> {
    node.get(key)
        .and_then(Json::as_str)
        .ok_or_else(|| err(format!("a node has no string `{key}`")))
}

impl Reader<'_> {
    fn node(&mut self, node: &Json, depth: usize) -> Result<Value, PickleError> {
        if depth > self.max_depth {
            return Err(err(format!("nodes nested deeper than {}", self.max_depth)));
        }
        let loader = text(node, "__loader__")?;
        let id = node.get("__id__").and_then(Json::as_i64);
        if loader == "CachedNode" {
            return id
                .and_then(|id| self.memo.get(&id).cloned())
                .ok_or_else(|| {
                    err(format!(
                        "a CachedNode refers to an unknown object id {id:?}"
                    ))
                });
        }
        let module = text(node, "__module__")?;
        let class = text(node, "__class__")?;
        let content = node.get("content");
        let children = |r: &mut Self, items: Option<&Json>| -> Result<Vec<Value>, PickleError> {
            items
                .and_then(Json::as_array)
                .ok_or_else(|| err(format!("a {loader} has no `content` list")))?
                .iter()
                .map(|c| r.node(c, depth + 1))
                .collect()
        };
        let value = match loader {
            "JsonNode" => json_value(
                &serde_json::from_str(content.and_then(Json::as_str).unwrap_or("null"))
                    .map_err(|e| err(format!("a JsonNode's content is not JSON: {e}")))?,
            )?,
            "ListNode" => Value::List(children(self, content)?),
            "TupleNode" => Value::Tuple(children(self, content)?),
            "SetNode" => Value::Set(children(self, content)?),
            "DictNode" => self.dict(node, depth)?,
            "DefaultDictNode" => {
                let main = content
                    .and_then(|c| c.get("main"))
                    .ok_or_else(|| err("a DefaultDictNode has no `main`"))?;
                self.node(main, depth + 1)?
            }
            "TypeNode" => {
                if !crate::is_allowed_global(module, class)
                    && !INERT_TYPES.contains(&(module, class))
                    && module != "numpy"
                {
                    return Err(err(format!(
                        "forbidden type {module}.{class} (not on the allowlist)"
                    )));
                }
                Value::Global(QualName {
                    module: module.to_owned(),
                    name: class.to_owned(),
                })
            }
            "NdArrayNode" => self.array(node, depth)?,
            // `slice(start, stop, step)` (ColumnTransformer's `output_indices_`): plain data, held as the pickle
            // reader holds a pickled slice (an inert `builtins.slice` object with its three arguments).
            "SliceNode" => {
                let bound = |key: &str| -> Result<Value, PickleError> {
                    match content.and_then(|c| c.get(key)) {
                        None | Some(Json::Null) => Ok(Value::None),
                        Some(v) => v.as_i64().map(Value::Int).ok_or_else(|| {
                            err(format!("a SliceNode's `{key}` is not an integer or null"))
                        }),
                    }
                };
                Value::Object(Box::new(Object {
                    class: QualName {
                        module: "builtins".to_owned(),
                        name: "slice".to_owned(),
                    },
                    args: vec![bound("start")?, bound("stop")?, bound("step")?],
                    state: Value::None,
                }))
            }
            "ObjectNode" => {
                if !crate::is_allowed_global(module, class) {
                    return Err(err(format!(
                        "forbidden class {module}.{class} (not on the allowlist of classes the reader rebuilds)"
                    )));
                }
                let state = match content {
                    Some(c) if !c.is_null() => self.node(c, depth + 1)?,
                    _ => Value::None,
                };
                let size = crate::vm::value_size(&state);
                self.meter
                    .charge(size, || format!("the state of {module}.{class}"))?;
                Value::Object(Box::new(Object {
                    class: QualName {
                        module: module.to_owned(),
                        name: class.to_owned(),
                    },
                    args: Vec::new(),
                    state,
                }))
            }
            other => {
                return Err(err(format!(
                    "{other} ({module}.{class}) is not read: it stands for code or a type this reader does not \
                     rebuild"
                )));
            }
        };
        if let Some(id) = id {
            self.memo.insert(id, value.clone());
        }
        Ok(value)
    }

    fn dict(&mut self, node: &Json, depth: usize) -> Result<Value, PickleError> {
        let content = node
            .get("content")
            .and_then(Json::as_object)
            .ok_or_else(|| err("a DictNode has no `content` object"))?;
        let key_types = match node.get("key_types") {
            Some(k) if !k.is_null() => match self.node(k, depth + 1)? {
                Value::List(types) => types,
                _ => return Err(err("a DictNode's `key_types` is not a list")),
            },
            _ => Vec::new(),
        };
        let mut items = Vec::with_capacity(content.len());
        for (i, (key, child)) in content.iter().enumerate() {
            let key = match key_types.get(i) {
                Some(Value::Global(q)) if q.module == "builtins" && q.name == "int" => Value::Int(
                    key.parse()
                        .map_err(|_| err(format!("dict key `{key}` is not an int")))?,
                ),
                Some(Value::Global(q)) if q.module == "builtins" && q.name == "float" => {
                    Value::Float(
                        key.parse()
                            .map_err(|_| err(format!("dict key `{key}` is not a float")))?,
                    )
                }
                _ => Value::Str(key.clone()),
            };
            items.push((key, self.node(child, depth + 1)?));
        }
        Ok(Value::Dict(items))
    }

    fn array(&mut self, node: &Json, depth: usize) -> Result<Value, PickleError> {
        match node.get("type").and_then(Json::as_str) {
            Some("numpy") => {
                let file = text(node, "file")?.to_owned();
                if file.contains(['/', '\\', '\0']) || file.contains("..") {
                    return Err(err(format!(
                        "array file `{file}` is not a plain name in the archive"
                    )));
                }
                let left = self.meter.left();
                let bytes = read_member(&mut self.zip, &file, left, self.meter)?;
                let (dtype, shape, fortran, raw) =
                    crate::joblib::parse_npy(&bytes).map_err(|e| err(format!("{file}: {e}")))?;
                if dtype.kind == Ok(Dtype::Object) {
                    return Err(err(format!(
                        "{file}: object arrays are not stored as .npy by skops"
                    )));
                }
                let count =
                    numpy::element_count(&shape).map_err(|e| err(format!("{file}: {e}")))?;
                let size = numpy::decoded_size(&dtype, count, raw.len());
                self.meter
                    .charge(size, || format!("array {file} of shape {shape:?}"))?;
                let array = numpy::decode_array(&dtype, &shape, fortran, raw, count)
                    .map_err(|e| err(format!("{file}: {e}")))?;
                self.meter.release(bytes.len() as u64);
                Ok(Value::Array(array))
            }
            Some("json") => {
                let items = node
                    .get("content")
                    .and_then(Json::as_array)
                    .ok_or_else(|| err("an object array has no `content` list"))?
                    .iter()
                    .map(|c| self.node(c, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                let shape = match node.get("shape") {
                    Some(s) => match self.node(s, depth + 1)? {
                        Value::List(d) | Value::Tuple(d) => {
                            d.iter()
                                .map(|v| match v {
                                    Value::Int(n) => usize::try_from(*n)
                                        .map_err(|_| err("negative array dimension")),
                                    _ => Err(err("an array dimension is not an int")),
                                })
                                .collect::<Result<Vec<_>, _>>()?
                        }
                        _ => return Err(err("an object array's shape is not a list")),
                    },
                    None => vec![items.len()],
                };
                if numpy::element_count(&shape).ok() != Some(items.len()) {
                    return Err(err(format!(
                        "an object array of shape {shape:?} holds {} items",
                        items.len()
                    )));
                }
                Ok(Value::Array(NdArray {
                    dtype: Dtype::Object,
                    shape,
                    data: ArrayData::Object(items),
                }))
            }
            other => Err(err(format!("unknown array node type {other:?}"))),
        }
    }
}

fn json_value(v: &Json) -> Result<Value, PickleError> {
    Ok(match v {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(
                n.as_f64()
                    .ok_or_else(|| err(format!("number {n} out of range")))?,
            ),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::List(items.iter().map(json_value).collect::<Result<_, _>>()?),
        Json::Object(map) => Value::Dict(
            map.iter()
                .map(|(k, v)| Ok((Value::Str(k.clone()), json_value(v)?)))
                .collect::<Result<_, PickleError>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write as _;

    use super::*;

    fn skops(schema: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in files {
            zip.start_file(*name, stored).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.start_file("schema.json", stored).unwrap();
        zip.write_all(schema.as_bytes()).unwrap();
        zip.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn a_class_off_the_allowlist_is_refused() {
        let schema = r#"{"__class__": "Popen", "__module__": "subprocess", "__loader__": "ObjectNode", "__id__": 1}"#;
        let e = load_skops(&skops(schema, &[]), &Limits::default()).unwrap_err();
        assert!(
            e.to_string().contains("forbidden class subprocess.Popen"),
            "{e}"
        );
    }

    #[test]
    fn slices_are_read_as_a_pickled_slice_and_bad_bounds_refused() {
        let schema = r#"{"__class__": "slice", "__module__": "builtins", "__loader__": "SliceNode",
            "content": {"start": 0, "stop": 2, "step": null}}"#;
        let Value::Object(o) = load_skops(&skops(schema, &[]), &Limits::default()).unwrap() else {
            panic!("not an object")
        };
        assert_eq!(o.class_name(), "slice");
        assert_eq!(o.args, vec![Value::Int(0), Value::Int(2), Value::None]);
        let schema = r#"{"__class__": "slice", "__module__": "builtins", "__loader__": "SliceNode",
            "content": {"start": "os.system", "stop": 2, "step": null}}"#;
        let e = load_skops(&skops(schema, &[]), &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("`start` is not an integer"), "{e}");
    }

    #[test]
    fn code_nodes_are_refused() {
        let schema = r#"{"__class__": "system", "__module__": "os", "__loader__": "FunctionNode", "content": {}}"#;
        let e = load_skops(&skops(schema, &[]), &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("FunctionNode"), "{e}");
    }

    #[test]
    fn arrays_and_cached_nodes_are_read_within_the_budget() {
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
        let mut header = header.to_string();
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        npy.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
        npy.extend_from_slice(header.as_bytes());
        npy.extend_from_slice(&1.5f64.to_le_bytes());
        npy.extend_from_slice(&(-2.0f64).to_le_bytes());
        let schema = r#"{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": [
            {"__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "numpy", "file": "a.npy", "__id__": 7},
            {"__class__": "ndarray", "__module__": "numpy", "__loader__": "CachedNode", "__id__": 7}]}"#;
        let file = skops(schema, &[("a.npy", &npy)]);
        let Value::List(items) = load_skops(&file, &Limits::default()).unwrap() else {
            panic!("not a list")
        };
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], items[1]);
        let Value::Array(a) = &items[0] else {
            panic!("not an array")
        };
        assert_eq!(a.data, ArrayData::Float(vec![1.5, -2.0]));
        let tiny = Limits {
            max_memory_bytes: 64,
            ..Limits::default()
        };
        let e = load_skops(&file, &tiny).unwrap_err();
        assert!(matches!(e, PickleError::MemoryBudget { .. }), "{e}");
    }
}
