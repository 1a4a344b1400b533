//! The value tree a pickle is read into: plain data, numpy arrays, and inert records of allowlisted objects.

/// A Python value as read from a pickle. Nothing in it can run code: objects are records of their class name,
/// constructor arguments and state.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// An integer too large for 64 bits, as its little-endian two's-complement bytes (pickle's `LONG1`/`LONG4`).
    BigInt(Vec<u8>),
    /// A float.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes` or `bytearray`.
    Bytes(Vec<u8>),
    /// A `list`.
    List(Vec<Value>),
    /// A `tuple`.
    Tuple(Vec<Value>),
    /// A `dict` (or `OrderedDict`), in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A `set` or `frozenset`.
    Set(Vec<Value>),
    /// A numpy array (from joblib's wrapper, `_reconstruct`, or `_frombuffer`), or a numpy scalar as a 0-d array.
    Array(NdArray),
    /// A numpy dtype object. A dtype the reader cannot decode (complex, datetime, sub-array, records with object
    /// fields) is instead an inert [`Value::Object`] of class `numpy.dtype` whose one argument is the type code
    /// (`c16`, `M8`, ...); the file still loads as long as no array of that dtype is in it.
    Dtype(Dtype),
    /// A reference to an allowlisted global that was never called (e.g. `numpy.float64` as a `dtype=` parameter).
    Global(QualName),
    /// An instance of an allowlisted class, rebuilt as an inert record.
    Object(Box<Object>),
}

/// A Python global's module and qualified name, e.g. `sklearn.linear_model._logistic` / `LogisticRegression`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QualName {
    /// The module path.
    pub module: String,
    /// The (qualified) name inside the module.
    pub name: String,
}

impl QualName {
    /// `module.name`.
    pub fn dotted(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }
}

/// An instance of an allowlisted class: its class, the arguments it was created with (`NEWOBJ`/`REDUCE`), and the
/// state given to `BUILD` (usually the instance `__dict__` as a [`Value::Dict`]; [`Value::None`] when absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The class.
    pub class: QualName,
    /// Constructor arguments (`cls(*args)`, `cls.__new__(cls, *args)`, or a Cython `__pyx_unpickle_*` call's args;
    /// for a Cython helper the object's `class` is the helper, e.g. `sklearn._loss._loss` /
    /// `__pyx_unpickle_CyHalfMultinomialLoss`, and `args[0]` the class it rebuilds). Keyword arguments of
    /// `NEWOBJ_EX`, when there are any, come last as one [`Value::Dict`].
    pub args: Vec<Value>,
    /// The `BUILD` state. Dict states from several `BUILD`s are merged; a `(state, slotstate)` tuple is merged too.
    /// The items of a dict subclass (`sklearn.utils._bunch.Bunch`, set by `SETITEMS` on the object) are merged
    /// into the same dict. Any other state (a Cython `__setstate__` tuple, `functools.partial`'s
    /// `(func, args, kwds, dict)`) is kept as given.
    pub state: Value,
}

impl Object {
    /// The state entry `key` when the state is a dict with string keys (an instance `__dict__`).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.state.get(key)
    }

    /// The class name without the module (`LogisticRegression`).
    pub fn class_name(&self) -> &str {
        &self.class.name
    }
}

impl Value {
    /// For a dict with string keys (or an object's state dict), the value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            Value::Object(obj) => obj.get(key),
            _ => None,
        }
    }

    /// A short name of the value's kind for error messages (`int`, `list`, `sklearn.tree._tree.Tree`, ...).
    pub fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) | Value::BigInt(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Str(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::List(_) => "list".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::Dict(_) => "dict".into(),
            Value::Set(_) => "set".into(),
            Value::Array(a) => format!("ndarray[{}]", a.dtype.descr()),
            Value::Dtype(_) => "dtype".into(),
            Value::Global(q) => q.dotted(),
            Value::Object(o) => o.class.dotted(),
        }
    }

    /// The value as a float when it is a number (bool, int, float, or a 0-d/1-element numeric array).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Array(a) if a.len() == 1 => a.to_f64().ok().and_then(|v| v.first().copied()),
            _ => None,
        }
    }

    /// The value as an integer when it is a bool, an int, or a 0-d/1-element integer array.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Bool(b) => Some(i64::from(*b)),
            Value::Int(i) => Some(*i),
            Value::Array(a) if a.len() == 1 => a.to_i64().ok().and_then(|v| v.first().copied()),
            _ => None,
        }
    }

    /// The value as a string slice when it is a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The elements of a list or tuple.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// The array when the value is one.
    pub fn as_array(&self) -> Option<&NdArray> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The object when the value is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// Whether the value is `None`.
    pub fn is_none(&self) -> bool {
        matches!(self, Value::None)
    }
}

/// A numpy dtype as far as inference needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Dtype {
    /// `b1`.
    Bool,
    /// A signed integer of this many bytes (1, 2, 4, 8).
    Int(u8),
    /// An unsigned integer of this many bytes (1, 2, 4, 8).
    UInt(u8),
    /// A float of this many bytes (4 or 8; 2 for half).
    Float(u8),
    /// Fixed-width unicode `U<n>`: `n` code points per element, UTF-32.
    Unicode(usize),
    /// Fixed-width bytes `S<n>`.
    ByteStr(usize),
    /// Python objects (`O`).
    Object,
    /// A structured (record) dtype: named fields at byte offsets within an item of `itemsize` bytes.
    Record {
        /// The fields in declaration order.
        fields: Vec<RecordField>,
        /// Bytes per item, padding included.
        itemsize: usize,
    },
}

impl Dtype {
    /// Bytes per element (`None` for object arrays, whose elements are values).
    pub fn itemsize(&self) -> Option<usize> {
        match self {
            Dtype::Bool => Some(1),
            Dtype::Int(n) | Dtype::UInt(n) | Dtype::Float(n) => Some(usize::from(*n)),
            Dtype::Unicode(n) => n.checked_mul(4),
            Dtype::ByteStr(n) => Some(*n),
            Dtype::Object => None,
            Dtype::Record { itemsize, .. } => Some(*itemsize),
        }
    }

    /// numpy's short description (`f8`, `i4`, `U10`, `O`, `V64` for records).
    pub fn descr(&self) -> String {
        match self {
            Dtype::Bool => "b1".into(),
            Dtype::Int(n) => format!("i{n}"),
            Dtype::UInt(n) => format!("u{n}"),
            Dtype::Float(n) => format!("f{n}"),
            Dtype::Unicode(n) => format!("U{n}"),
            Dtype::ByteStr(n) => format!("S{n}"),
            Dtype::Object => "O".into(),
            Dtype::Record { itemsize, .. } => format!("V{itemsize}"),
        }
    }
}

/// One field of a record dtype.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordField {
    /// The field name (`left_child`, `threshold`, ...).
    pub name: String,
    /// Its scalar dtype.
    pub dtype: Dtype,
    /// Its byte offset inside an item.
    pub offset: usize,
}

/// A numpy array: dtype, shape and elements, always stored in C (row-major) order and native (little-endian)
/// byte order — the reader converts Fortran-ordered and big-endian arrays when it builds them.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    /// The dtype as written in the file.
    pub dtype: Dtype,
    /// The shape (empty for a 0-d array / numpy scalar).
    pub shape: Vec<usize>,
    /// The elements.
    pub data: ArrayData,
}

/// The elements of an [`NdArray`], in C order.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    /// `b1`.
    Bool(Vec<bool>),
    /// Any signed integer width, widened.
    Int(Vec<i64>),
    /// Any unsigned integer width, widened.
    UInt(Vec<u64>),
    /// Any float width, widened.
    Float(Vec<f64>),
    /// `U<n>` / `S<n>` arrays as strings (NUL padding stripped).
    Str(Vec<String>),
    /// `O` arrays: one value per element.
    Object(Vec<Value>),
    /// Record arrays: the raw items, `itemsize` bytes each, little-endian; read fields with [`NdArray::field_f64`]
    /// and [`NdArray::field_i64`].
    Record(Vec<u8>),
}

/// Why an array could not be viewed the way a caller asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArrayError {
    /// The array's dtype does not convert to the asked type.
    #[error("array of dtype {got} cannot be read as {wanted}")]
    WrongType {
        /// What the caller asked for.
        wanted: &'static str,
        /// The array's dtype.
        got: String,
    },
    /// A record field that does not exist.
    #[error("record array has no field `{0}`")]
    NoField(String),
}

impl NdArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            ArrayData::Bool(v) => v.len(),
            ArrayData::Int(v) => v.len(),
            ArrayData::UInt(v) => v.len(),
            ArrayData::Float(v) => v.len(),
            ArrayData::Str(v) => v.len(),
            ArrayData::Object(v) => v.len(),
            ArrayData::Record(bytes) => match self.dtype.itemsize() {
                Some(size) if size > 0 => bytes.len() / size,
                _ => 0,
            },
        }
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The elements as float64 (bool, integer and float arrays).
    pub fn to_f64(&self) -> Result<Vec<f64>, ArrayError> {
        match &self.data {
            ArrayData::Float(v) => Ok(v.clone()),
            ArrayData::Int(v) => Ok(v.iter().map(|&x| x as f64).collect()),
            ArrayData::UInt(v) => Ok(v.iter().map(|&x| x as f64).collect()),
            ArrayData::Bool(v) => Ok(v.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect()),
            _ => Err(self.wrong("float")),
        }
    }

    /// The elements as i64 (bool and integer arrays; unsigned values above `i64::MAX` are an error).
    pub fn to_i64(&self) -> Result<Vec<i64>, ArrayError> {
        match &self.data {
            ArrayData::Int(v) => Ok(v.clone()),
            ArrayData::UInt(v) => v
                .iter()
                .map(|&x| i64::try_from(x).map_err(|_| self.wrong("int")))
                .collect(),
            ArrayData::Bool(v) => Ok(v.iter().map(|&x| i64::from(x)).collect()),
            _ => Err(self.wrong("int")),
        }
    }

    /// One field of a record array, each item's value widened to f64.
    pub fn field_f64(&self, name: &str) -> Result<Vec<f64>, ArrayError> {
        self.read_field(name, |dtype, raw| match dtype {
            Dtype::Float(8) => raw.try_into().ok().map(f64::from_le_bytes),
            Dtype::Float(4) => raw
                .try_into()
                .ok()
                .map(|b| f64::from(f32::from_le_bytes(b))),
            other => int_field(other, raw).map(|i| i as f64),
        })
    }

    /// One field of a record array, each item's value as i64 (integer and bool fields).
    pub fn field_i64(&self, name: &str) -> Result<Vec<i64>, ArrayError> {
        self.read_field(name, int_field)
    }

    fn read_field<T>(
        &self,
        name: &str,
        read: impl Fn(&Dtype, &[u8]) -> Option<T>,
    ) -> Result<Vec<T>, ArrayError> {
        let (Dtype::Record { fields, itemsize }, ArrayData::Record(bytes)) =
            (&self.dtype, &self.data)
        else {
            return Err(self.wrong("record"));
        };
        let field = fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| ArrayError::NoField(name.to_string()))?;
        let width = field.dtype.itemsize().unwrap_or(0);
        if *itemsize == 0 || field.offset + width > *itemsize {
            return Err(self.wrong("record"));
        }
        bytes
            .chunks_exact(*itemsize)
            .map(|item| {
                read(&field.dtype, &item[field.offset..field.offset + width]).ok_or(
                    ArrayError::WrongType {
                        wanted: "numeric field",
                        got: field.dtype.descr(),
                    },
                )
            })
            .collect()
    }

    fn wrong(&self, wanted: &'static str) -> ArrayError {
        ArrayError::WrongType {
            wanted,
            got: self.dtype.descr(),
        }
    }
}

fn int_field(dtype: &Dtype, raw: &[u8]) -> Option<i64> {
    match dtype {
        Dtype::Bool | Dtype::UInt(1) => raw.first().map(|&b| i64::from(b)),
        Dtype::Int(1) => raw.first().map(|&b| i64::from(b as i8)),
        Dtype::Int(2) => raw
            .try_into()
            .ok()
            .map(|b| i64::from(i16::from_le_bytes(b))),
        Dtype::UInt(2) => raw
            .try_into()
            .ok()
            .map(|b| i64::from(u16::from_le_bytes(b))),
        Dtype::Int(4) => raw
            .try_into()
            .ok()
            .map(|b| i64::from(i32::from_le_bytes(b))),
        Dtype::UInt(4) => raw
            .try_into()
            .ok()
            .map(|b| i64::from(u32::from_le_bytes(b))),
        Dtype::Int(8) => raw.try_into().ok().map(i64::from_le_bytes),
        Dtype::UInt(8) => raw
            .try_into()
            .ok()
            .and_then(|b| i64::try_from(u64::from_le_bytes(b)).ok()),
        _ => None,
    }
}
