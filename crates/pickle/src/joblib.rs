//! joblib's layer on top of pickle: `NumpyArrayWrapper` objects whose array data follows their `BUILD` in the raw
//! stream, outside any opcode, and joblib ≤ 0.9's `NDArrayWrapper` whose array is a `.npy` file beside the model.

use std::path::Path;

use crate::budget::Meter;
use crate::numpy;
use crate::vm::{Node, NodeId, Vm};
use crate::{Limits, PickleError, Value};

/// The largest `.npy` header read (numpy itself refuses headers over 10 000 bytes by default).
const MAX_NPY_HEADER: usize = 64 << 10;

/// Reads one (decompressed) joblib or pickle stream, charging what it builds to `meter`; `dir` is the folder of
/// the file it came from, where joblib ≤ 0.9's side files are.
pub(crate) fn load_stream(
    stream: &[u8],
    limits: &Limits,
    meter: &Meter,
    dir: Option<&Path>,
) -> Result<Value, PickleError> {
    Vm::new(stream, 0, limits, meter, 0)
        .with_dir(dir)
        .run()
        .map(|(value, _end)| value)
}

impl<'a> Vm<'a> {
    /// Called right after the `BUILD` of a `NumpyArrayWrapper` (`target`): reads the array it describes from the
    /// stream and puts it in the wrapper's place (for the stack and the memo alike), as joblib's
    /// `NumpyUnpickler.load_build` does.
    ///
    /// The wrapper's state says `shape`, `order` (`C`/`F`), `dtype` and, since joblib 1.2,
    /// `numpy_array_alignment_bytes`; when that is present a padding-length byte and that many padding bytes come
    /// first. Object arrays are instead an embedded pickle, read by a nested VM with the same limits.
    pub(crate) fn read_wrapped_array(&mut self, target: NodeId) -> Result<(), PickleError> {
        let entry = |vm: &Self, key: &str| {
            vm.state_entry(target, key)
                .ok_or_else(|| vm.malformed(format!("NumpyArrayWrapper state has no `{key}`")))
        };
        let dtype = self.dtype_of(entry(self, "dtype")?)?;
        let shape = self.shape_of(entry(self, "shape")?)?;
        let fortran = match self.node(entry(self, "order")?)? {
            Node::Leaf(Value::Str(s)) => s == "F",
            _ => return Err(self.malformed("NumpyArrayWrapper order must be 'C' or 'F'")),
        };
        let aligned = self
            .state_entry(target, "numpy_array_alignment_bytes")
            .is_some_and(|id| !matches!(self.nodes.get(id), Some(Node::Leaf(Value::None))));
        self.op = "array data";
        self.op_at = self.pos;

        if dtype.kind == Ok(crate::Dtype::Object) {
            if self.nesting >= self.limits.max_nested_pickles {
                return Err(self.limit("nested pickles", self.limits.max_nested_pickles as u64));
            }
            let (value, end) = Vm::new(
                self.data_all(),
                self.pos,
                self.limits,
                self.meter,
                self.nesting + 1,
            )
            .run()?;
            self.pos = end;
            if !matches!(value, Value::Array(_)) {
                return Err(self.malformed(format!(
                    "object array payload is a {}, not an array",
                    value.kind()
                )));
            }
            self.charge(crate::vm::value_size(&value))?;
            *self.node_mut(target)? = Node::Leaf(value);
            return Ok(());
        }

        if aligned {
            let padding = self.u8()?;
            self.take(u64::from(padding))?;
        }
        let len = numpy::byte_len(&dtype, &shape).map_err(|e| self.malformed(e))?;
        // `take` checks the bytes are there before anything is allocated for them.
        let raw = self.take(len as u64)?;
        let array = self.decode(&dtype, &shape, fortran, raw)?;
        let value = Value::Array(array);
        self.charge(crate::vm::value_size(&value))?;
        *self.node_mut(target)? = Node::Leaf(value);
        Ok(())
    }
}

impl Vm<'_> {
    /// Called right after the `BUILD` of a joblib ≤ 0.9 `NDArrayWrapper` (`target`, state `{filename, subclass,
    /// allow_mmap}`): reads the `.npy` side file it names from the model's folder and puts the array in the
    /// wrapper's place, as joblib's `NDArrayWrapper.read` does.
    ///
    /// The name must be a plain file name (no `/`, `\\`, `..` or NUL: a pickle cannot make the server read outside
    /// the model's folder); the file's size is charged to the memory budget before it is read and released once
    /// the array is decoded. `ZNDArrayWrapper` (joblib's compressed format) reads the array's raw bytes from a
    /// Z-file (`ZF` header, zlib) with its dtype, shape and order from the pickle.
    pub(crate) fn read_side_file(&mut self, target: NodeId) -> Result<(), PickleError> {
        let zipped = matches!(self.nodes.get(target), Some(Node::Object(o)) if o.class.name == "ZNDArrayWrapper");
        let name = match self.state_entry(target, "filename").map(|id| self.node(id)) {
            Some(Ok(Node::Leaf(Value::Str(s)))) => s.clone(),
            _ => return Err(self.malformed("NDArrayWrapper state has no string `filename`")),
        };
        let side = |what: String| PickleError::SideFile {
            file: name.clone(),
            what,
        };
        if name.is_empty()
            || name.contains(['/', '\\', '\0'])
            || name.contains("..")
            || name.starts_with('~')
        {
            return Err(side(
                "refused: a side file must be a plain file name in the model's folder".into(),
            ));
        }
        let Some(dir) = self.dir else {
            return Err(side(
                "the model was given as bytes, not as a file whose folder holds its side files"
                    .into(),
            ));
        };
        // A Z-file's array: `state = (version, shape, dtype, is_fortran)`, its data the whole decompressed file.
        let zstate = if zipped {
            Some(self.zfile_array_state(target)?)
        } else {
            None
        };
        let path = dir.join(&name);
        let size = std::fs::metadata(&path)
            .map_err(|e| {
                side(format!(
                    "missing beside the model in {}: {e}",
                    dir.display()
                ))
            })?
            .len();
        self.meter
            .charge(size, || format!("the side file {name}"))?;
        let result = std::fs::read(&path)
            .map_err(|e| side(format!("cannot read it: {e}")))
            .and_then(|bytes| match &zstate {
                Some((dtype, shape, fortran)) => {
                    if crate::compress::detect(&bytes) != crate::compress::Container::Zfile {
                        return Err(side("not a joblib Z-file (no ZF header)".into()));
                    }
                    let data = crate::compress::decompress(&bytes, self.meter)?;
                    let len = data.len() as u64;
                    let array = self
                        .decode(dtype, shape, *fortran, &data)
                        .map_err(|e| side(e.to_string()));
                    self.meter.release(len);
                    array
                }
                None => {
                    let (dtype, shape, fortran, data) = parse_npy(&bytes).map_err(side)?;
                    if dtype.kind == Ok(crate::Dtype::Object) {
                        return Err(side(
                            "object arrays in side files are pickles; re-save the model with a current joblib"
                                .into(),
                        ));
                    }
                    self.decode(&dtype, &shape, fortran, data)
                        .map_err(|e| side(e.to_string()))
                }
            });
        self.meter.release(size);
        let value = Value::Array(result?);
        self.charge(crate::vm::value_size(&value))?;
        *self.node_mut(target)? = Node::Leaf(value);
        Ok(())
    }

    /// A `ZNDArrayWrapper`'s `state`: `(version, shape, dtype, is_fortran)`, the array's `__reduce__` state less
    /// its data.
    fn zfile_array_state(
        &mut self,
        target: NodeId,
    ) -> Result<(numpy::NpDtype, Vec<usize>, bool), PickleError> {
        let malformed = |vm: &Self| {
            vm.malformed("ZNDArrayWrapper state must be (version, shape, dtype, is_fortran)")
        };
        let id = self
            .state_entry(target, "state")
            .ok_or_else(|| malformed(self))?;
        let (shape, dtype, fortran) = match self.node(id)? {
            Node::Tuple(items) => match items[..] {
                [_, shape, dtype, fortran] => (shape, dtype, fortran),
                _ => return Err(malformed(self)),
            },
            _ => return Err(malformed(self)),
        };
        let fortran = matches!(
            self.node(fortran)?,
            Node::Leaf(Value::Bool(true) | Value::Int(1))
        );
        Ok((self.dtype_of(dtype)?, self.shape_of(shape)?, fortran))
    }
}

/// A `.npy` file's header and data: dtype, shape, whether Fortran order, the data bytes.
pub(crate) type Npy<'a> = (numpy::NpDtype, Vec<usize>, bool, &'a [u8]);

/// Splits a `.npy` file (format 1.0, 2.0 or 3.0) into its dtype, shape, order and data bytes. Only the header
/// numpy writes is understood: `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
pub(crate) fn parse_npy(bytes: &[u8]) -> Result<Npy<'_>, String> {
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or("not a .npy file (no \\x93NUMPY magic)")?;
    let (len, start) = match rest {
        [1, _, a, b, ..] => (usize::from(u16::from_le_bytes([*a, *b])), 10usize),
        [2 | 3, _, a, b, c, d, ..] => (u32::from_le_bytes([*a, *b, *c, *d]) as usize, 12),
        [v, ..] => return Err(format!(".npy format version {v} is not supported")),
        [] => return Err("truncated .npy header".into()),
    };
    if len > MAX_NPY_HEADER {
        return Err(format!(
            ".npy header of {len} bytes (limit {MAX_NPY_HEADER})"
        ));
    }
    let header = start
        .checked_add(len)
        .and_then(|end| bytes.get(start..end))
        .ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| ".npy header is not text")?;
    let data = bytes.get(start + len..).unwrap_or_default();
    let field = |key: &str| -> Result<&str, String> {
        let at = header
            .find(&format!("'{key}':"))
            .ok_or_else(|| format!(".npy header has no '{key}': {header:?}"))?;
        Ok(header[at + key.len() + 3..].trim_start())
    };
    let descr = field("descr")?;
    let dtype = match descr.strip_prefix('\'') {
        Some(d) => d
            .split_once('\'')
            .map(|(d, _)| numpy::NpDtype::from_code(d))
            .ok_or_else(|| format!(".npy dtype is not a simple type: {header:?}"))?,
        None => record_descr(descr)
            .ok_or_else(|| format!(".npy dtype is not understood: {header:?}"))?,
    };
    let fortran = match field("fortran_order")? {
        f if f.starts_with("True") => true,
        f if f.starts_with("False") => false,
        _ => return Err(format!(".npy fortran_order is not a boolean: {header:?}")),
    };
    let shape = field("shape")?
        .strip_prefix('(')
        .and_then(|s| s.split_once(')'))
        .map(|(s, _)| s)
        .ok_or_else(|| format!(".npy shape is not a tuple: {header:?}"))?;
    let shape = shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!(".npy shape is not a tuple of sizes: {header:?}"))?;
    Ok((dtype, shape, fortran, data))
}

/// A packed record dtype from a `.npy` header's `[('name', '<i8'), ('other', '<f8'), ...]` (what `np.save` writes
/// for a structured array such as a tree's node records); `None` for anything else (nested or shaped fields).
fn record_descr(descr: &str) -> Option<numpy::NpDtype> {
    let list = descr.strip_prefix('[')?.split_once(']')?.0;
    let mut fields = Vec::new();
    let mut offset = 0usize;
    for item in list.split(')').map(str::trim).filter(|s| !s.is_empty()) {
        let item = item.trim_start_matches(',').trim().strip_prefix('(')?;
        let mut parts = item.split(',').map(str::trim);
        let name = parts.next()?.strip_prefix('\'')?.strip_suffix('\'')?;
        let code = parts.next()?.strip_prefix('\'')?.strip_suffix('\'')?;
        if parts.next().is_some() {
            return None;
        }
        let field = numpy::NpDtype::from_code(code);
        let width = field.dtype().ok()?.itemsize()?;
        fields.push((name.to_string(), field, i64::try_from(offset).ok()?));
        offset = offset.checked_add(width)?;
    }
    let mut dtype = numpy::NpDtype::from_code(&format!("V{offset}"));
    dtype
        .apply_state(numpy::DtypeState {
            byteorder: "|".into(),
            has_subarray: false,
            fields: Some(fields),
            elsize: i64::try_from(offset).ok()?,
        })
        .ok()?;
    Some(dtype)
}
