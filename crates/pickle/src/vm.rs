//! The pickle virtual machine.
//!
//! Objects live in an arena of [`Node`]s addressed by index while the VM runs, so that an object mutated after it
//! was memoized (`APPEND`, `SETITEMS`, `BUILD` on it, then `GET`) is seen mutated wherever it is referenced. At
//! `STOP` the graph is turned into a [`Value`] tree: shared nodes are copied (charged to a memory budget, so a few
//! bytes of `GET`s cannot expand into gigabytes), cycles are refused, and nesting is bounded.

use std::collections::HashMap;

use crate::budget::Meter;
use crate::error::PickleError;
use crate::globals::{self, Callable};
use crate::numpy::{self, DtypeState, NpDtype};
use crate::{ArrayData, Dtype, Limits, NdArray, Object, QualName, Value};

/// Index of a node in the arena.
pub(crate) type NodeId = usize;

/// What one arena node costs the budget, besides its payload.
const NODE_COST: u64 = 64;
/// What one memo entry costs the budget (a hash map slot of key and node id, with the map's spare capacity).
const MEMO_COST: u64 = 48;
/// What one produced [`Value`] costs the budget, besides its payload.
const VALUE_COST: u64 = 32;
/// Python refuses to parse integers with more decimal digits than this (`sys.int_info.default_max_str_digits`);
/// so do we, which also keeps decimal-to-binary conversion cheap.
const MAX_INT_DIGITS: usize = 4300;

/// A hashable dict key, so that `SETITEM` on an existing key replaces its value as Python does without a
/// quadratic scan. Keys of other kinds (tuples, objects) are kept in insertion order without deduplication.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    None,
    Int(i64),
    Big(Vec<u8>),
    Float(u64),
    Str(String),
    Bytes(Vec<u8>),
    Global(String),
}

/// A dict under construction.
#[derive(Debug, Default)]
pub(crate) struct DictNode {
    items: Vec<(NodeId, NodeId)>,
    index: HashMap<Key, usize>,
}

impl DictNode {
    fn insert(&mut self, key: Option<Key>, k: NodeId, v: NodeId) {
        match key {
            Some(key) => match self.index.get(&key).and_then(|&i| self.items.get_mut(i)) {
                Some(slot) => slot.1 = v,
                None => {
                    self.index.insert(key, self.items.len());
                    self.items.push((k, v));
                }
            },
            None => self.items.push((k, v)),
        }
    }

    fn detached(&self) -> DictNode {
        DictNode {
            items: self.items.clone(),
            index: HashMap::new(),
        }
    }
}

/// An object's state as `BUILD`s accumulate it.
#[derive(Debug)]
pub(crate) enum ObjState {
    /// No `BUILD` yet.
    None,
    /// Merged dict state (the instance `__dict__`, and dict items of dict subclasses such as `Bunch`).
    Dict(DictNode),
    /// A non-dict state, kept as given (Cython `__setstate__` tuples, ...).
    Other(NodeId),
}

/// An instance of an allowlisted class.
#[derive(Debug)]
pub(crate) struct ObjNode {
    pub(crate) class: QualName,
    pub(crate) callable: Callable,
    pub(crate) args: Vec<NodeId>,
    pub(crate) state: ObjState,
}

/// One object in the VM's arena.
#[derive(Debug)]
pub(crate) enum Node {
    /// A finished value: scalars, strings, bytes, decoded arrays.
    Leaf(Value),
    List(Vec<NodeId>),
    Tuple(Vec<NodeId>),
    Set(Vec<NodeId>),
    Dict(DictNode),
    /// An allowlisted global that has not been called.
    Global(QualName, Callable),
    Object(ObjNode),
    Dtype(NpDtype),
    /// `_reconstruct(ndarray, (0,), b'b')` waiting for its `BUILD`.
    PendingArray,
    /// An object-dtype array: its elements are nodes.
    ObjArray {
        shape: Vec<usize>,
        items: Vec<NodeId>,
    },
    /// Moved into the output tree (only ever seen after its last reference).
    Taken,
}

fn op_name(byte: u8) -> &'static str {
    match byte {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    }
}

/// The pickle VM over one stream. joblib's raw array data is read from the same stream (see `joblib.rs`).
pub(crate) struct Vm<'a> {
    data: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) limits: &'a Limits,
    /// The read's memory budget, shared with the decompressor, nested VMs and the tree builder.
    pub(crate) meter: &'a Meter,
    /// How many embedded pickles enclose this one.
    pub(crate) nesting: usize,
    pub(crate) nodes: Vec<Node>,
    stack: Vec<NodeId>,
    marks: Vec<usize>,
    memo: HashMap<u64, NodeId>,
    budget_total: u64,
    budget_left: u64,
    /// The opcode being executed and where it starts, for errors.
    pub(crate) op: &'static str,
    pub(crate) op_at: usize,
    /// The folder of the file being read, where joblib ≤ 0.9's side files are; `None` for bytes in memory.
    pub(crate) dir: Option<&'a std::path::Path>,
}

type Result<T> = std::result::Result<T, PickleError>;

impl<'a> Vm<'a> {
    /// A VM reading `data` from byte `start`.
    pub(crate) fn new(
        data: &'a [u8],
        start: usize,
        limits: &'a Limits,
        meter: &'a Meter,
        nesting: usize,
    ) -> Vm<'a> {
        let budget = limits.budget_for(data.len().saturating_sub(start));
        Vm {
            data,
            pos: start,
            limits,
            meter,
            nesting,
            nodes: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            budget_total: budget,
            budget_left: budget,
            op: "PROTO",
            op_at: start,
            dir: None,
        }
    }

    /// The same VM, reading joblib ≤ 0.9's side files from `dir`.
    pub(crate) fn with_dir(mut self, dir: Option<&'a std::path::Path>) -> Vm<'a> {
        self.dir = dir;
        self
    }

    /// The whole stream this VM reads from.
    pub(crate) fn data_all(&self) -> &'a [u8] {
        self.data
    }

    // ----- errors -----

    pub(crate) fn malformed(&self, what: impl Into<String>) -> PickleError {
        PickleError::Malformed {
            offset: self.op_at,
            opcode: self.op,
            what: what.into(),
        }
    }

    pub(crate) fn unsupported(&self, what: impl Into<String>) -> PickleError {
        PickleError::Unsupported {
            offset: self.op_at,
            opcode: self.op,
            what: what.into(),
        }
    }

    pub(crate) fn limit(&self, what: &'static str, limit: u64) -> PickleError {
        PickleError::Limit {
            offset: self.op_at,
            opcode: self.op,
            what,
            limit,
        }
    }

    fn truncated(&self, needed: u64) -> PickleError {
        PickleError::Truncated {
            offset: self.op_at,
            opcode: self.op,
            needed,
            available: self.data.len().saturating_sub(self.pos),
        }
    }

    /// Charges `bytes` to this VM's working-set budget (proportional to its input) and to the read's memory
    /// budget.
    pub(crate) fn charge(&mut self, bytes: u64) -> Result<()> {
        match self.budget_left.checked_sub(bytes) {
            Some(left) => self.budget_left = left,
            None => return Err(self.limit("memory budget (bytes)", self.budget_total)),
        }
        let (op, at) = (self.op, self.op_at);
        self.meter
            .charge(bytes, || format!("{op} at byte {at} of the pickle stream"))
    }

    /// Whether both budgets still have `bytes` free, without charging them (for a buffer whose exact size is
    /// charged once it is built).
    fn check_room(&self, bytes: u64, what: impl FnOnce() -> String) -> Result<()> {
        if bytes > self.budget_left {
            return Err(self.limit("memory budget (bytes)", self.budget_total));
        }
        if bytes > self.meter.left() {
            return Err(PickleError::MemoryBudget {
                what: format!("{} ({} at byte {})", what(), self.op, self.op_at),
                needed: bytes,
                used: self.meter.budget().saturating_sub(self.meter.left()),
                budget: self.meter.budget(),
            });
        }
        Ok(())
    }

    // ----- reading -----

    /// The next `n` bytes, or a truncation error naming the current opcode. Nothing is allocated before the
    /// bytes are known to be there.
    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let slice = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .and_then(|end| self.data.get(self.pos..end));
        match slice {
            Some(s) => {
                self.pos += s.len();
                Ok(s)
            }
            None => Err(self.truncated(n)),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N as u64)?;
        s.try_into().map_err(|_| self.truncated(N as u64))
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A text line without its `\n`.
    fn line(&mut self) -> Result<&'a [u8]> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return Err(self.truncated(rest.len() as u64 + 1));
        };
        let line = self.take(n as u64)?;
        self.pos += 1;
        Ok(line)
    }

    fn line_str(&mut self) -> Result<&'a str> {
        let line = self.line()?;
        std::str::from_utf8(line).map_err(|_| self.malformed("text argument is not UTF-8"))
    }

    // ----- arena and stack -----

    pub(crate) fn alloc(&mut self, node: Node) -> Result<NodeId> {
        let payload = match &node {
            Node::Leaf(v) => value_size(v),
            _ => 0,
        };
        self.charge(NODE_COST.saturating_add(payload))?;
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn push(&mut self, id: NodeId) -> Result<()> {
        if self.stack.len() >= self.limits.max_stack {
            return Err(self.limit("stack size", self.limits.max_stack as u64));
        }
        self.stack.push(id);
        Ok(())
    }

    fn push_new(&mut self, node: Node) -> Result<()> {
        let id = self.alloc(node)?;
        self.push(id)
    }

    fn push_value(&mut self, v: Value) -> Result<()> {
        self.push_new(Node::Leaf(v))
    }

    /// The stack floor above the innermost `MARK`: opcodes that pop single items cannot reach below it.
    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<NodeId> {
        if self.stack.len() <= self.floor() {
            return Err(self.malformed("stack underflow"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.malformed("stack underflow"))
    }

    fn top(&self) -> Result<NodeId> {
        if self.stack.len() <= self.floor() {
            return Err(self.malformed("stack underflow"));
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.malformed("stack underflow"))
    }

    fn pop_mark(&mut self) -> Result<Vec<NodeId>> {
        let Some(mark) = self.marks.pop() else {
            return Err(self.malformed("no MARK on the stack"));
        };
        if mark > self.stack.len() {
            return Err(self.malformed("MARK above the stack top"));
        }
        Ok(self.stack.split_off(mark))
    }

    pub(crate) fn node(&self, id: NodeId) -> Result<&Node> {
        self.nodes
            .get(id)
            .ok_or_else(|| self.malformed("dangling node reference"))
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> Result<&mut Node> {
        let (offset, opcode) = (self.op_at, self.op);
        self.nodes
            .get_mut(id)
            .ok_or_else(move || PickleError::Malformed {
                offset,
                opcode,
                what: String::from("dangling node reference"),
            })
    }

    fn kind_of(&self, id: NodeId) -> String {
        match self.nodes.get(id) {
            Some(Node::Leaf(v)) => v.kind(),
            Some(Node::List(_)) => "list".into(),
            Some(Node::Tuple(_)) => "tuple".into(),
            Some(Node::Set(_)) => "set".into(),
            Some(Node::Dict(_)) => "dict".into(),
            Some(Node::Global(q, _)) => format!("global {}", q.dotted()),
            Some(Node::Object(o)) => o.class.dotted(),
            Some(Node::Dtype(_)) => "dtype".into(),
            Some(Node::PendingArray) | Some(Node::ObjArray { .. }) => "ndarray".into(),
            Some(Node::Taken) | None => "?".into(),
        }
    }

    // ----- typed views of nodes -----

    fn str_of(&self, id: NodeId) -> Option<&str> {
        match self.nodes.get(id) {
            Some(Node::Leaf(Value::Str(s))) => Some(s),
            _ => None,
        }
    }

    fn int_of(&self, id: NodeId) -> Option<i64> {
        match self.nodes.get(id) {
            Some(Node::Leaf(Value::Int(i))) => Some(*i),
            Some(Node::Leaf(Value::Bool(b))) => Some(i64::from(*b)),
            _ => None,
        }
    }

    fn is_none(&self, id: NodeId) -> bool {
        matches!(self.nodes.get(id), Some(Node::Leaf(Value::None)))
    }

    /// Charges the budget for copying node `id`'s payload: every copy the VM makes of input-controlled data is
    /// paid for, so repeating a `GET` of something large cannot make the work quadratic.
    fn charge_copy(&mut self, id: NodeId) -> Result<()> {
        let bytes = match self.node(id)? {
            Node::Tuple(v) | Node::List(v) | Node::Set(v) => 8 * v.len() as u64,
            Node::Dict(d) => 16 * d.items.len() as u64,
            Node::Leaf(v) => value_size(v),
            Node::Dtype(d) => 64 * (d.swaps.len() as u64 + 1) + record_fields(d),
            _ => 0,
        };
        self.charge(bytes)
    }

    fn tuple_items(&mut self, id: NodeId, what: &str) -> Result<Vec<NodeId>> {
        self.charge_copy(id)?;
        match self.node(id)? {
            Node::Tuple(items) | Node::List(items) => Ok(items.clone()),
            _ => Err(self.malformed(format!("{what} must be a tuple, got {}", self.kind_of(id)))),
        }
    }

    fn global_of(&self, id: NodeId, what: &str) -> Result<(QualName, Callable)> {
        match self.node(id)? {
            Node::Global(q, c) => Ok((q.clone(), *c)),
            _ => Err(self.malformed(format!("{what} must be a class, got {}", self.kind_of(id)))),
        }
    }

    /// A byte buffer argument: `bytes`/`bytearray`, or a `str` of code points below 256 (Python 2's `str`).
    fn bytes_of(&mut self, id: NodeId, what: &str) -> Result<Vec<u8>> {
        self.charge_copy(id)?;
        match self.node(id)? {
            Node::Leaf(Value::Bytes(b)) => Ok(b.clone()),
            Node::Leaf(Value::Str(s)) => {
                latin1(s).ok_or_else(|| self.malformed(format!("{what}: not latin-1")))
            }
            _ => Err(self.malformed(format!("{what} must be bytes, got {}", self.kind_of(id)))),
        }
    }

    pub(crate) fn dtype_of(&mut self, id: NodeId) -> Result<NpDtype> {
        self.charge_copy(id)?;
        match self.node(id)? {
            Node::Dtype(d) => Ok(d.clone()),
            _ => Err(self.malformed(format!("expected a numpy dtype, got {}", self.kind_of(id)))),
        }
    }

    pub(crate) fn shape_of(&mut self, id: NodeId) -> Result<Vec<usize>> {
        self.charge_copy(id)?;
        let dims = match self.node(id)? {
            Node::Tuple(items) | Node::List(items) => items.clone(),
            Node::Leaf(Value::Int(_)) => vec![id],
            _ => {
                return Err(self.malformed(format!(
                    "array shape must be a tuple, got {}",
                    self.kind_of(id)
                )));
            }
        };
        dims.iter()
            .map(|&d| {
                self.int_of(d)
                    .and_then(|i| usize::try_from(i).ok())
                    .ok_or_else(|| self.malformed("array shape must hold non-negative integers"))
            })
            .collect()
    }

    fn key_of(&self, id: NodeId) -> Option<Key> {
        match self.nodes.get(id)? {
            Node::Leaf(v) => match v {
                Value::None => Some(Key::None),
                Value::Bool(b) => Some(Key::Int(i64::from(*b))),
                Value::Int(i) => Some(Key::Int(*i)),
                Value::BigInt(b) => Some(Key::Big(b.clone())),
                Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    Some(Key::Int(*f as i64))
                }
                Value::Float(f) => Some(Key::Float(f.to_bits())),
                Value::Str(s) => Some(Key::Str(s.clone())),
                Value::Bytes(b) => Some(Key::Bytes(b.clone())),
                _ => None,
            },
            Node::Global(q, _) => Some(Key::Global(q.dotted())),
            _ => None,
        }
    }

    /// The value under the string key `key` in an object's dict state.
    pub(crate) fn state_entry(&self, obj: NodeId, key: &str) -> Option<NodeId> {
        let Some(Node::Object(o)) = self.nodes.get(obj) else {
            return None;
        };
        let ObjState::Dict(d) = &o.state else {
            return None;
        };
        let at = *d.index.get(&Key::Str(key.to_string()))?;
        d.items.get(at).map(|&(_, v)| v)
    }

    // ----- the main loop -----

    /// Runs to `STOP`; returns the value and the offset just past `STOP`.
    pub(crate) fn run(mut self) -> Result<(Value, usize)> {
        loop {
            self.op_at = self.pos;
            let Some(&byte) = self.data.get(self.pos) else {
                self.op = "STOP";
                return Err(self.truncated(1));
            };
            self.pos += 1;
            self.op = op_name(byte);
            if byte == b'.' {
                let root = self.pop()?;
                let end = self.pos;
                let value = self.tree_from(root)?;
                return Ok((value, end));
            }
            self.step(byte)?;
        }
    }

    fn step(&mut self, byte: u8) -> Result<()> {
        match byte {
            0x80 => {
                let proto = self.u8()?;
                if proto > 5 {
                    return Err(self.unsupported(format!("pickle protocol {proto}")));
                }
            }
            0x95 => {
                let len = self.u64()?;
                let left = self.data.len().saturating_sub(self.pos) as u64;
                if len > left {
                    return Err(self.truncated(len));
                }
            }
            b'(' => {
                if self.marks.len() >= self.limits.max_depth {
                    return Err(
                        self.limit("nesting depth (open MARKs)", self.limits.max_depth as u64)
                    );
                }
                self.marks.push(self.stack.len());
            }
            b'0' => {
                if self.stack.len() > self.floor() {
                    self.stack.pop();
                } else {
                    self.pop_mark()?;
                }
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let top = self.top()?;
                self.push(top)?;
            }
            // ----- scalars -----
            b'N' => self.push_value(Value::None)?,
            0x88 => self.push_value(Value::Bool(true))?,
            0x89 => self.push_value(Value::Bool(false))?,
            b'J' => {
                let v = self.i32()?;
                self.push_value(Value::Int(i64::from(v)))?;
            }
            b'K' => {
                let v = self.u8()?;
                self.push_value(Value::Int(i64::from(v)))?;
            }
            b'M' => {
                let v = self.u16()?;
                self.push_value(Value::Int(i64::from(v)))?;
            }
            0x8a => {
                let n = self.u8()?;
                let bytes = self.take(u64::from(n))?;
                self.push_value(long_from_le(bytes))?;
            }
            0x8b => {
                let n = self.i32()?;
                let n = u64::try_from(n).map_err(|_| self.malformed("negative LONG4 length"))?;
                let bytes = self.take(n)?;
                self.push_value(long_from_le(bytes))?;
            }
            b'I' => {
                let line = self.line_str()?;
                let v = match line {
                    "00" => Value::Bool(false),
                    "01" => Value::Bool(true),
                    s => parse_int_text(s).map_err(|e| self.malformed(e))?,
                };
                self.push_value(v)?;
            }
            b'L' => {
                let line = self.line_str()?;
                let digits = line.strip_suffix('L').unwrap_or(line);
                let v = parse_int_text(digits).map_err(|e| self.malformed(e))?;
                self.push_value(v)?;
            }
            b'F' => {
                let line = self.line_str()?;
                let v: f64 = line
                    .trim()
                    .parse()
                    .map_err(|_| self.malformed(format!("bad float {line:?}")))?;
                self.push_value(Value::Float(v))?;
            }
            b'G' => {
                let v = f64::from_be_bytes(self.array()?);
                self.push_value(Value::Float(v))?;
            }
            // ----- strings and bytes -----
            b'S' => {
                let line = self.line()?;
                let inner = match line {
                    [q, inner @ .., last] if (*q == b'\'' || *q == b'"') && q == last => inner,
                    _ => return Err(self.malformed("STRING argument must be quoted")),
                };
                let bytes = escape_decode(inner);
                self.push_value(py2_str(bytes))?;
            }
            b'T' => {
                let n = self.i32()?;
                let n =
                    u64::try_from(n).map_err(|_| self.malformed("negative BINSTRING length"))?;
                let bytes = self.take(n)?.to_vec();
                self.push_value(py2_str(bytes))?;
            }
            b'U' => {
                let n = self.u8()?;
                let bytes = self.take(u64::from(n))?.to_vec();
                self.push_value(py2_str(bytes))?;
            }
            b'V' => {
                let line = self.line()?;
                let s = raw_unicode_escape_decode(line).map_err(|e| self.malformed(e))?;
                self.push_value(Value::Str(s))?;
            }
            b'X' | 0x8c | 0x8d => {
                let n = match byte {
                    b'X' => u64::from(self.u32()?),
                    0x8c => u64::from(self.u8()?),
                    _ => self.u64()?,
                };
                let bytes = self.take(n)?;
                let s = std::str::from_utf8(bytes)
                    .map_err(|_| self.malformed("string is not valid UTF-8"))?;
                self.push_value(Value::Str(s.to_string()))?;
            }
            b'B' | b'C' | 0x8e | 0x96 => {
                let n = match byte {
                    b'B' => u64::from(self.u32()?),
                    b'C' => u64::from(self.u8()?),
                    _ => self.u64()?,
                };
                let bytes = self.take(n)?.to_vec();
                self.push_value(Value::Bytes(bytes))?;
            }
            // ----- containers -----
            b']' => self.push_new(Node::List(Vec::new()))?,
            b')' => self.push_new(Node::Tuple(Vec::new()))?,
            b'}' => self.push_new(Node::Dict(DictNode::default()))?,
            0x8f => self.push_new(Node::Set(Vec::new()))?,
            b'l' => {
                let items = self.pop_mark()?;
                self.charge(8 * items.len() as u64)?;
                self.push_new(Node::List(items))?;
            }
            b't' => {
                let items = self.pop_mark()?;
                self.charge(8 * items.len() as u64)?;
                self.push_new(Node::Tuple(items))?;
            }
            0x91 => {
                let items = self.pop_mark()?;
                self.charge(8 * items.len() as u64)?;
                self.push_new(Node::Set(items))?;
            }
            0x85..=0x87 => {
                let n = usize::from(byte - 0x84);
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.push_new(Node::Tuple(items))?;
            }
            b'd' => {
                let items = self.pop_mark()?;
                let id = self.alloc(Node::Dict(DictNode::default()))?;
                self.set_items(id, items)?;
                self.push(id)?;
            }
            b'a' => {
                let v = self.pop()?;
                let target = self.top()?;
                self.append_items(target, vec![v])?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                let target = self.top()?;
                self.append_items(target, items)?;
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                let target = self.top()?;
                self.set_items(target, vec![k, v])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                let target = self.top()?;
                self.set_items(target, items)?;
            }
            0x90 => {
                let items = self.pop_mark()?;
                let target = self.top()?;
                self.charge(8 * items.len() as u64)?;
                match self.node_mut(target)? {
                    Node::Set(set) => set.extend(items),
                    _ => {
                        return Err(self.malformed(format!("ADDITEMS on {}", self.kind_of(target))));
                    }
                }
            }
            // ----- memo -----
            b'p' => {
                let key = self.line_str()?;
                let key = key
                    .trim()
                    .parse()
                    .map_err(|_| self.malformed("bad PUT index"))?;
                self.memo_put(key)?;
            }
            b'q' => {
                let key = self.u8()?;
                self.memo_put(u64::from(key))?;
            }
            b'r' => {
                let key = self.u32()?;
                self.memo_put(u64::from(key))?;
            }
            0x94 => self.memo_put(self.memo.len() as u64)?,
            b'g' => {
                let key = self.line_str()?;
                let key = key
                    .trim()
                    .parse()
                    .map_err(|_| self.malformed("bad GET index"))?;
                self.memo_get(key)?;
            }
            b'h' => {
                let key = self.u8()?;
                self.memo_get(u64::from(key))?;
            }
            b'j' => {
                let key = self.u32()?;
                self.memo_get(u64::from(key))?;
            }
            // ----- globals and calls -----
            b'c' => {
                let module = self.line_str()?;
                let name = self.line_str()?;
                let id = self.global(module, name)?;
                self.push(id)?;
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Some(module), Some(name)) = (self.str_of(module), self.str_of(name)) else {
                    return Err(self.malformed("STACK_GLOBAL needs two strings"));
                };
                let (module, name) = (module.to_string(), name.to_string());
                let id = self.global(&module, &name)?;
                self.push(id)?;
            }
            b'R' => {
                let args = self.pop()?;
                let func = self.pop()?;
                let args = self.tuple_items(args, "REDUCE arguments")?;
                let (qn, callable) = self.global_of(func, "REDUCE's callable")?;
                let id = self.call(qn, callable, args)?;
                self.push(id)?;
            }
            0x81 => {
                let args = self.pop()?;
                let cls = self.pop()?;
                let args = self.tuple_items(args, "NEWOBJ arguments")?;
                let (qn, callable) = self.global_of(cls, "NEWOBJ's class")?;
                let id = self.new_object(qn, callable, args, None)?;
                self.push(id)?;
            }
            0x92 => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                let cls = self.pop()?;
                let args = self.tuple_items(args, "NEWOBJ_EX arguments")?;
                let (qn, callable) = self.global_of(cls, "NEWOBJ_EX's class")?;
                let id = self.new_object(qn, callable, args, Some(kwargs))?;
                self.push(id)?;
            }
            b'o' => {
                let mut items = self.pop_mark()?;
                if items.is_empty() {
                    return Err(self.malformed("OBJ needs a class"));
                }
                let cls = items.remove(0);
                let (qn, callable) = self.global_of(cls, "OBJ's class")?;
                let id = self.call(qn, callable, items)?;
                self.push(id)?;
            }
            b'i' => {
                let module = self.line_str()?;
                let name = self.line_str()?;
                let cls = self.global(module, name)?;
                let args = self.pop_mark()?;
                let (qn, callable) = self.global_of(cls, "INST's class")?;
                let id = self.call(qn, callable, args)?;
                self.push(id)?;
            }
            b'b' => {
                let state = self.pop()?;
                let target = self.top()?;
                self.build(target, state)?;
            }
            // ----- refused -----
            b'P' | b'Q' => {
                return Err(self.unsupported("persistent IDs (objects stored outside the pickle)"));
            }
            0x82..=0x84 => {
                return Err(self.unsupported("extension registry codes (copyreg.add_extension)"));
            }
            0x97 => {
                return Err(
                    self.unsupported("out-of-band buffers (pickle protocol 5 buffer_callback)")
                );
            }
            0x98 => {
                self.top()?;
            }
            _ => {
                return Err(PickleError::UnknownOpcode {
                    offset: self.op_at,
                    byte,
                });
            }
        }
        Ok(())
    }

    fn memo_put(&mut self, key: u64) -> Result<()> {
        let top = self.top()?;
        if !self.memo.contains_key(&key) {
            if self.memo.len() >= self.limits.max_memo {
                return Err(self.limit("memo entries", self.limits.max_memo as u64));
            }
            self.charge(MEMO_COST)?;
        }
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Result<()> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.malformed(format!("memo key {key} was never stored")))?;
        self.push(id)
    }

    fn global(&mut self, module: &str, name: &str) -> Result<NodeId> {
        match globals::resolve(module, name) {
            Some((qn, callable)) => self.alloc(Node::Global(qn, callable)),
            None => Err(PickleError::ForbiddenGlobal {
                offset: self.op_at,
                opcode: self.op,
                global: format!("{module}.{name}"),
            }),
        }
    }

    fn append_items(&mut self, target: NodeId, items: Vec<NodeId>) -> Result<()> {
        self.charge(8 * items.len() as u64)?;
        match self.node_mut(target)? {
            Node::List(list) => {
                list.extend(items);
                Ok(())
            }
            _ => Err(self.malformed(format!("cannot append to {}", self.kind_of(target)))),
        }
    }

    /// `SETITEM(S)`/`DICT`: `flat` is `k0, v0, k1, v1, ...`. On an object (a dict subclass such as `Bunch`), the
    /// items go into its dict state.
    fn set_items(&mut self, target: NodeId, flat: Vec<NodeId>) -> Result<()> {
        if !flat.len().is_multiple_of(2) {
            return Err(self.malformed("odd number of items for a dict"));
        }
        self.charge(16 * flat.len() as u64)?;
        for &k in flat.iter().step_by(2) {
            self.charge_copy(k)?;
        }
        let keyed: Vec<(Option<Key>, NodeId, NodeId)> = flat
            .chunks_exact(2)
            .filter_map(|kv| match kv {
                [k, v] => Some((self.key_of(*k), *k, *v)),
                _ => None,
            })
            .collect();
        if !matches!(self.node(target)?, Node::Dict(_) | Node::Object(_)) {
            return Err(self.malformed(format!("cannot set items on {}", self.kind_of(target))));
        }
        let dict = match self.node_mut(target)? {
            Node::Dict(d) => d,
            Node::Object(o) => {
                if !matches!(o.state, ObjState::Dict(_)) {
                    o.state = ObjState::Dict(DictNode::default());
                }
                match &mut o.state {
                    ObjState::Dict(d) => d,
                    _ => return Err(self.malformed("object state is not a dict")),
                }
            }
            _ => return Err(self.malformed("cannot set items here")),
        };
        for (key, k, v) in keyed {
            dict.insert(key, k, v);
        }
        Ok(())
    }

    // ----- calls -----

    /// `callable(*args)` for an allowlisted global.
    fn call(&mut self, qn: QualName, callable: Callable, args: Vec<NodeId>) -> Result<NodeId> {
        let arg = |i: usize| args.get(i).copied();
        let name = qn.dotted();
        match callable {
            Callable::NumpyDtype => {
                let code = arg(0)
                    .and_then(|a| self.str_of(a))
                    .ok_or_else(|| self.malformed("numpy.dtype needs a type code string"))?;
                let dtype = NpDtype::from_code(code);
                self.alloc(Node::Dtype(dtype))
            }
            Callable::NumpyNdarray => {
                Err(self.malformed("numpy.ndarray cannot be called directly"))
            }
            Callable::NumpyReconstruct => self.alloc(Node::PendingArray),
            Callable::NumpyFromBuffer => {
                let (Some(buf), Some(dtype), Some(shape)) = (arg(0), arg(1), arg(2)) else {
                    return Err(self.malformed("_frombuffer needs (buffer, dtype, shape, order)"));
                };
                let fortran = arg(3).and_then(|o| self.str_of(o)) == Some("F");
                let dtype = self.dtype_of(dtype)?;
                let shape = self.shape_of(shape)?;
                let raw = self.bytes_of(buf, "_frombuffer buffer")?;
                self.decode_leaf(&dtype, &shape, fortran, &raw)
            }
            Callable::NumpyScalar => {
                let (Some(dtype), Some(data)) = (arg(0), arg(1)) else {
                    return Err(self.malformed("scalar needs (dtype, data)"));
                };
                let dtype = self.dtype_of(dtype)?;
                if dtype.kind == Ok(Dtype::Object) {
                    return self.alloc(Node::ObjArray {
                        shape: Vec::new(),
                        items: vec![data],
                    });
                }
                let raw = self.bytes_of(data, "numpy scalar data")?;
                self.decode_leaf(&dtype, &[], false, &raw)
            }
            Callable::CopyregReconstructor => {
                let (Some(cls), Some(base)) = (arg(0), arg(1)) else {
                    return Err(self.malformed("_reconstructor needs (cls, base, state)"));
                };
                let (cls_qn, cls_callable) = self.global_of(cls, "_reconstructor's class")?;
                let (base_qn, _) = self.global_of(base, "_reconstructor's base")?;
                let extra = match arg(2) {
                    Some(state)
                        if !self.is_none(state) && base_qn.dotted() != "builtins.object" =>
                    {
                        vec![state]
                    }
                    _ => Vec::new(),
                };
                self.new_object(cls_qn, cls_callable, extra, None)
            }
            Callable::CopyregNewobj => {
                let cls = arg(0).ok_or_else(|| self.malformed("__newobj__ needs a class"))?;
                let (cls_qn, cls_callable) = self.global_of(cls, "__newobj__'s class")?;
                self.new_object(
                    cls_qn,
                    cls_callable,
                    args.get(1..).unwrap_or_default().to_vec(),
                    None,
                )
            }
            Callable::CopyregNewobjEx => {
                let (Some(cls), Some(cargs)) = (arg(0), arg(1)) else {
                    return Err(self.malformed("__newobj_ex__ needs (cls, args, kwargs)"));
                };
                let (cls_qn, cls_callable) = self.global_of(cls, "__newobj_ex__'s class")?;
                let cargs = self.tuple_items(cargs, "__newobj_ex__ arguments")?;
                self.new_object(cls_qn, cls_callable, cargs, arg(2))
            }
            Callable::CodecsEncode | Callable::Bytes | Callable::Bytearray => {
                let bytes = match (arg(0), arg(1)) {
                    (None, _) if callable != Callable::CodecsEncode => Vec::new(),
                    (Some(s), enc) if self.str_of(s).is_some() => {
                        let enc = match enc {
                            Some(e) => self
                                .str_of(e)
                                .ok_or_else(|| self.malformed("encoding must be a str"))?,
                            None => "utf-8",
                        };
                        let s = self.str_of(s).unwrap_or_default();
                        encode(s, enc).map_err(|e| self.malformed(format!("{name}: {e}")))?
                    }
                    (Some(b), None) if callable != Callable::CodecsEncode => {
                        self.bytes_of(b, &name)?
                    }
                    _ => return Err(self.malformed(format!("unsupported arguments to {name}"))),
                };
                self.alloc(Node::Leaf(Value::Bytes(bytes)))
            }
            Callable::Set | Callable::List | Callable::Tuple => {
                let items = match arg(0) {
                    None => Vec::new(),
                    Some(seq) => match self.node(seq)? {
                        Node::List(v) | Node::Tuple(v) | Node::Set(v) => v.clone(),
                        _ => return Err(self.malformed(format!("{name} of {}", self.kind_of(seq)))),
                    },
                };
                self.charge(8 * items.len() as u64)?;
                self.alloc(match callable {
                    Callable::Set => Node::Set(items),
                    Callable::List => Node::List(items),
                    _ => Node::Tuple(items),
                })
            }
            Callable::DefaultDict => {
                // `defaultdict(factory)`: the factory (a global such as `collections.OrderedDict`, or `None`) only
                // makes values for missing keys, which an inert tree never looks up; the items follow by `SETITEMS`.
                if let Some(factory) = arg(0)
                    && !matches!(
                        self.node(factory)?,
                        Node::Global(..) | Node::Leaf(Value::None)
                    )
                {
                    return Err(self.malformed(format!(
                        "{name}'s default factory is {}, not a class",
                        self.kind_of(factory)
                    )));
                }
                if args.len() > 1 {
                    return Err(self.malformed(format!("{name} takes only its default factory")));
                }
                self.alloc(Node::Dict(DictNode::default()))
            }
            Callable::Dict => {
                let mut flat = Vec::new();
                if let Some(src) = arg(0) {
                    match self.node(src)? {
                        Node::Dict(d) => flat.extend(d.items.iter().flat_map(|&(k, v)| [k, v])),
                        Node::List(pairs) | Node::Tuple(pairs) => {
                            for &p in pairs {
                                match self.node(p)? {
                                    Node::Tuple(kv) | Node::List(kv) if kv.len() == 2 => {
                                        flat.extend(kv)
                                    }
                                    _ => {
                                        return Err(
                                            self.malformed(format!("{name} needs key/value pairs"))
                                        );
                                    }
                                }
                            }
                        }
                        _ => return Err(self.malformed(format!("{name} of {}", self.kind_of(src)))),
                    }
                }
                let id = self.alloc(Node::Dict(DictNode::default()))?;
                self.set_items(id, flat)?;
                Ok(id)
            }
            Callable::JoblibArrayWrapper | Callable::JoblibLegacyWrapper | Callable::Inert => {
                self.object(qn, callable, args)
            }
        }
    }

    /// `cls.__new__(cls, *args)` (`NEWOBJ`, `copyreg.__newobj__`): an inert object for classes, the matching
    /// empty container for builtin container types.
    fn new_object(
        &mut self,
        qn: QualName,
        callable: Callable,
        mut args: Vec<NodeId>,
        kwargs: Option<NodeId>,
    ) -> Result<NodeId> {
        match callable {
            Callable::Set
            | Callable::List
            | Callable::Tuple
            | Callable::Dict
            | Callable::DefaultDict
            | Callable::Bytes
            | Callable::Bytearray => self.call(qn, callable, args),
            Callable::JoblibArrayWrapper | Callable::JoblibLegacyWrapper | Callable::Inert => {
                if let Some(kw) = kwargs {
                    match self.node(kw)? {
                        Node::Dict(d) if d.items.is_empty() => {}
                        Node::Dict(_) => args.push(kw),
                        _ => {
                            return Err(
                                self.malformed("NEWOBJ_EX keyword arguments must be a dict")
                            );
                        }
                    }
                }
                self.object(qn, callable, args)
            }
            _ => Err(self.malformed(format!(
                "{} is not a class that can be instantiated",
                qn.dotted()
            ))),
        }
    }

    fn object(&mut self, class: QualName, callable: Callable, args: Vec<NodeId>) -> Result<NodeId> {
        self.charge(8 * args.len() as u64)?;
        self.alloc(Node::Object(ObjNode {
            class,
            callable,
            args,
            state: ObjState::None,
        }))
    }

    /// Decodes raw array bytes into a new leaf node, within the budget.
    pub(crate) fn decode_leaf(
        &mut self,
        dtype: &NpDtype,
        shape: &[usize],
        fortran: bool,
        raw: &[u8],
    ) -> Result<NodeId> {
        let array = self.decode(dtype, shape, fortran, raw)?;
        self.alloc(Node::Leaf(Value::Array(array)))
    }

    pub(crate) fn decode(
        &mut self,
        dtype: &NpDtype,
        shape: &[usize],
        fortran: bool,
        raw: &[u8],
    ) -> Result<NdArray> {
        let count = numpy::element_count(shape).map_err(|e| self.malformed(e))?;
        // Claimed sizes are checked against the data actually present first, then against the budget.
        if let Ok(expected) = numpy::byte_len(dtype, shape)
            && expected != raw.len()
        {
            return Err(self.malformed(format!(
                "array of shape {shape:?} and dtype {} needs {expected} bytes of data, got {}",
                dtype.code,
                raw.len()
            )));
        }
        // What the decoded array will hold (values widened to 64 bits), checked against both budgets before
        // anything is allocated; the caller charges the array's actual size when it stores it.
        let size = numpy::decoded_size(dtype, count, raw.len());
        self.check_room(size, || {
            format!("array of shape {shape:?} and dtype {}", dtype.code)
        })?;
        let array = numpy::decode_array(dtype, shape, fortran, raw, count)
            .map_err(|e| self.malformed(e))?;
        Ok(array)
    }

    // ----- BUILD -----

    fn build(&mut self, target: NodeId, state: NodeId) -> Result<()> {
        match self.node(target)? {
            Node::Object(o) => match o.callable {
                Callable::JoblibLegacyWrapper => {
                    self.merge_state(target, state)?;
                    self.read_side_file(target)
                }
                Callable::JoblibArrayWrapper => {
                    self.merge_state(target, state)?;
                    self.read_wrapped_array(target)
                }
                _ => self.merge_state(target, state),
            },
            Node::Dtype(_) => self.build_dtype(target, state),
            Node::PendingArray => self.build_array(target, state),
            Node::Dict(_) | Node::List(_) | Node::Set(_) => match self.node(state)? {
                Node::Leaf(Value::None) | Node::Dict(_) => Ok(()),
                _ => Err(self.malformed(format!(
                    "BUILD on {} with a {} state",
                    self.kind_of(target),
                    self.kind_of(state)
                ))),
            },
            _ => Err(self.malformed(format!("BUILD on {}", self.kind_of(target)))),
        }
    }

    /// `inst.__setstate__(state)` for an inert object: dict states (and the dicts of a `(state, slotstate)` pair)
    /// merge into its state dict; any other state replaces it.
    fn merge_state(&mut self, target: NodeId, state: NodeId) -> Result<()> {
        let dicts: Option<Vec<NodeId>> = match self.node(state)? {
            Node::Leaf(Value::None) => Some(Vec::new()),
            Node::Dict(_) => Some(vec![state]),
            Node::Tuple(pair)
                if pair.len() == 2
                    && pair.iter().all(|&p| {
                        matches!(
                            self.nodes.get(p),
                            Some(Node::Dict(_) | Node::Leaf(Value::None))
                        )
                    }) =>
            {
                Some(pair.iter().copied().filter(|&p| !self.is_none(p)).collect())
            }
            _ => None,
        };
        match dicts {
            Some(dicts) => {
                for d in dicts {
                    let flat: Vec<NodeId> = match self.node(d)? {
                        Node::Dict(d) => d.items.iter().flat_map(|&(k, v)| [k, v]).collect(),
                        _ => Vec::new(),
                    };
                    self.set_items(target, flat)?;
                }
            }
            None => {
                if let Node::Object(o) = self.node_mut(target)? {
                    o.state = ObjState::Other(state);
                }
            }
        }
        Ok(())
    }

    /// numpy's `dtype.__setstate__((version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata]))`.
    fn build_dtype(&mut self, target: NodeId, state: NodeId) -> Result<()> {
        let items = self.tuple_items(state, "dtype state")?;
        let version = items.first().and_then(|&v| self.int_of(v));
        if !matches!(version, Some(3 | 4)) || items.len() < 8 {
            return Err(self.unsupported(format!(
                "dtype state version {version:?} with {} items (numpy >= 1.x writes version 3)",
                items.len()
            )));
        }
        let at = |i: usize| items.get(i).copied().unwrap_or(0);
        let byteorder = self.str_of(at(1)).unwrap_or("|").to_string();
        let has_subarray = !self.is_none(at(2));
        let fields = if self.is_none(at(3)) {
            None
        } else {
            let names = self.tuple_items(at(3), "dtype names")?;
            let Node::Dict(fields) = self.node(at(4))? else {
                return Err(self.malformed("record dtype names without a fields dict"));
            };
            let mut entries = Vec::with_capacity(names.len());
            for name in names {
                let name_str = self
                    .str_of(name)
                    .ok_or_else(|| self.malformed("dtype field name must be a str"))?;
                let entry = fields
                    .index
                    .get(&Key::Str(name_str.to_string()))
                    .and_then(|&i| fields.items.get(i))
                    .map(|&(_, v)| v)
                    .ok_or_else(|| {
                        self.malformed(format!("dtype field `{name_str}` missing from fields"))
                    })?;
                entries.push((name_str.to_string(), entry));
            }
            let mut out = Vec::with_capacity(entries.len());
            for (name, entry) in entries {
                let spec = self.tuple_items(entry, "dtype field")?;
                let (Some(&fd), Some(offset)) =
                    (spec.first(), spec.get(1).and_then(|&o| self.int_of(o)))
                else {
                    return Err(
                        self.malformed(format!("dtype field `{name}` must be (dtype, offset)"))
                    );
                };
                let dtype = self.dtype_of(fd)?;
                out.push((name, dtype, offset));
            }
            Some(out)
        };
        let elsize = self.int_of(at(5)).unwrap_or(-1);
        let parsed = DtypeState {
            byteorder,
            has_subarray,
            fields,
            elsize,
        };
        let result = match self.node_mut(target)? {
            Node::Dtype(d) => d.apply_state(parsed),
            _ => Ok(()),
        };
        result.map_err(|e| self.malformed(e))
    }

    /// numpy's `ndarray.__setstate__((version, shape, dtype, is_fortran, rawdata))` on a `_reconstruct`ed array.
    fn build_array(&mut self, target: NodeId, state: NodeId) -> Result<()> {
        let items = self.tuple_items(state, "array state")?;
        let items = match items.len() {
            5 => items.get(1..).unwrap_or_default().to_vec(),
            4 => items,
            n => return Err(self.malformed(format!("array state must have 4 or 5 items, got {n}"))),
        };
        let [shape, dtype, fortran, raw] = items[..] else {
            return Err(self.malformed("array state"));
        };
        let shape = self.shape_of(shape)?;
        let dtype = self.dtype_of(dtype)?;
        let fortran = self
            .int_of(fortran)
            .ok_or_else(|| self.malformed("is_fortran must be a bool"))?
            != 0;
        let node = if dtype.kind == Ok(Dtype::Object) {
            let mut elems = match self.node(raw)? {
                Node::List(v) | Node::Tuple(v) => v.clone(),
                _ => return Err(self.malformed("object array data must be a list")),
            };
            let count = numpy::element_count(&shape).map_err(|e| self.malformed(e))?;
            if elems.len() != count {
                return Err(self.malformed(format!(
                    "object array of shape {shape:?} has {} elements",
                    elems.len()
                )));
            }
            if fortran && shape.len() > 1 {
                let order = numpy::fortran_offsets(&shape).map_err(|e| self.malformed(e))?;
                elems = order.filter_map(|i| elems.get(i).copied()).collect();
            }
            self.charge(8 * elems.len() as u64)?;
            Node::ObjArray {
                shape,
                items: elems,
            }
        } else {
            let raw = self.bytes_of(raw, "array data")?;
            let array = self.decode(&dtype, &shape, fortran, &raw)?;
            let array = Value::Array(array);
            self.charge(value_size(&array))?;
            Node::Leaf(array)
        };
        *self.node_mut(target)? = node;
        Ok(())
    }

    // ----- the value tree -----

    /// Turns the graph under `root` into a tree (see the module docs).
    ///
    /// A first, iterative pass orders the reachable nodes topologically (refusing cycles) and counts how many
    /// times each will be converted — the number of paths from the root to it, since every shared parent is
    /// copied. The conversion then moves a node out of the arena at its last use and clones it before.
    fn tree_from(&mut self, root: NodeId) -> Result<Value> {
        let n = self.nodes.len();
        // 0: unvisited, 1: on the DFS path, 2: done.
        let mut mark = vec![0u8; n];
        let mut postorder = Vec::new();
        let mut path: Vec<(NodeId, Vec<NodeId>, usize)> = Vec::new();
        let children_of = |nodes: &[Node], id: NodeId| {
            let mut out = Vec::new();
            if let Some(node) = nodes.get(id) {
                node_children(node, &mut out);
            }
            out
        };
        if let Some(m) = mark.get_mut(root) {
            *m = 1;
            path.push((root, children_of(&self.nodes, root), 0));
        }
        while let Some((id, children, next)) = path.last_mut() {
            let Some(&child) = children.get(*next) else {
                if let Some(m) = mark.get_mut(*id) {
                    *m = 2;
                }
                postorder.push(*id);
                path.pop();
                continue;
            };
            *next += 1;
            match mark.get(child).copied() {
                Some(0) => {
                    if let Some(m) = mark.get_mut(child) {
                        *m = 1;
                    }
                    let grandchildren = children_of(&self.nodes, child);
                    path.push((child, grandchildren, 0));
                }
                Some(1) => {
                    return Err(
                        self.malformed("the object graph is recursive (an object contains itself)")
                    );
                }
                _ => {}
            }
        }
        let mut uses = vec![0u64; n];
        if let Some(u) = uses.get_mut(root) {
            *u = 1;
        }
        let mut children = Vec::new();
        for &id in postorder.iter().rev() {
            let count = uses.get(id).copied().unwrap_or(0);
            children.clear();
            if let Some(node) = self.nodes.get(id) {
                node_children(node, &mut children);
            }
            for &c in &children {
                if let Some(u) = uses.get_mut(c) {
                    *u = u.saturating_add(count);
                }
            }
        }
        let mut conv = Converter {
            nodes: &mut self.nodes,
            meter: self.meter,
            copied: false,
            uses,
            budget_total: self.budget_total,
            budget_left: self.budget_total,
            max_depth: self.limits.max_depth,
            offset: self.op_at,
        };
        conv.convert(root, 0)
    }
}

fn node_children(node: &Node, out: &mut Vec<NodeId>) {
    match node {
        Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::ObjArray { items: v, .. } => {
            out.extend(v)
        }
        Node::Dict(d) => out.extend(d.items.iter().flat_map(|&(k, v)| [k, v])),
        Node::Object(o) => {
            out.extend(&o.args);
            match &o.state {
                ObjState::Dict(d) => out.extend(d.items.iter().flat_map(|&(k, v)| [k, v])),
                ObjState::Other(s) => out.push(*s),
                ObjState::None => {}
            }
        }
        Node::Leaf(_) | Node::Global(..) | Node::Dtype(_) | Node::PendingArray | Node::Taken => {}
    }
}

/// Builds the output tree from the arena, moving nodes at their last reference and copying shared ones.
///
/// It runs on an explicit task stack rather than by recursion, so the depth limit, not the thread's stack size,
/// bounds nesting (servers load models on small-stack worker threads).
struct Converter<'n> {
    nodes: &'n mut Vec<Node>,
    /// The read's memory budget: copies of shared values are charged to it too.
    meter: &'n Meter,
    /// Whether the node last detached is a copy (shared and not at its last use) rather than moved.
    copied: bool,
    /// How many more times each node will be converted.
    uses: Vec<u64>,
    budget_total: u64,
    budget_left: u64,
    max_depth: usize,
    offset: usize,
}

/// One step of the conversion.
enum Task {
    /// Convert this node, found at this depth.
    Visit(NodeId, usize),
    /// Assemble a value from the converted children on top of the value stack.
    Finish(Finish),
}

/// How to assemble a container from its converted children (counts of values to take).
enum Finish {
    List(usize),
    Tuple(usize),
    Set(usize),
    Dict(usize),
    Object {
        class: QualName,
        args: usize,
        state: StateShape,
    },
    ObjArray {
        shape: Vec<usize>,
        items: usize,
    },
}

/// Which converted children after an object's arguments make its state.
enum StateShape {
    None,
    Dict(usize),
    Other,
}

fn pairs(flat: Vec<Value>) -> Vec<(Value, Value)> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

impl Converter<'_> {
    fn malformed(&self, what: impl Into<String>) -> PickleError {
        PickleError::Malformed {
            offset: self.offset,
            opcode: "STOP",
            what: what.into(),
        }
    }

    /// Charges the tree's size budget and the read's memory budget.
    fn charge(&mut self, bytes: u64) -> Result<()> {
        self.charge_tree(bytes)?;
        let offset = self.offset;
        self.meter.charge(bytes, || {
            format!("the value tree built at STOP (byte {offset}; shared references are copied)")
        })
    }

    /// Charges the tree's size budget only.
    fn charge_tree(&mut self, bytes: u64) -> Result<()> {
        match self.budget_left.checked_sub(bytes) {
            Some(left) => self.budget_left = left,
            None => {
                return Err(PickleError::Limit {
                    offset: self.offset,
                    opcode: "STOP",
                    what: "size of the value tree (bytes; shared references are copied)",
                    limit: self.budget_total,
                });
            }
        }
        Ok(())
    }

    /// The node itself at its last use, a shallow copy before.
    fn detach(&mut self, id: NodeId) -> Result<Node> {
        let last = match self.uses.get_mut(id) {
            Some(r) => {
                *r = r.saturating_sub(1);
                *r == 0
            }
            None => return Err(self.malformed("dangling node reference")),
        };
        let Some(node) = self.nodes.get_mut(id) else {
            return Err(self.malformed("dangling node reference"));
        };
        self.copied = !last;
        if last {
            return Ok(std::mem::replace(node, Node::Taken));
        }
        Ok(match node {
            Node::Leaf(v) => Node::Leaf(v.clone()),
            Node::List(v) => Node::List(v.clone()),
            Node::Tuple(v) => Node::Tuple(v.clone()),
            Node::Set(v) => Node::Set(v.clone()),
            Node::Dict(d) => Node::Dict(d.detached()),
            Node::Global(q, c) => Node::Global(q.clone(), *c),
            Node::Object(o) => Node::Object(ObjNode {
                class: o.class.clone(),
                callable: o.callable,
                args: o.args.clone(),
                state: match &o.state {
                    ObjState::None => ObjState::None,
                    ObjState::Dict(d) => ObjState::Dict(d.detached()),
                    ObjState::Other(s) => ObjState::Other(*s),
                },
            }),
            Node::Dtype(d) => Node::Dtype(d.clone()),
            Node::PendingArray => Node::PendingArray,
            Node::ObjArray { shape, items } => Node::ObjArray {
                shape: shape.clone(),
                items: items.clone(),
            },
            Node::Taken => Node::Taken,
        })
    }

    fn convert(&mut self, root: NodeId, depth: usize) -> Result<Value> {
        let mut tasks = vec![Task::Visit(root, depth)];
        let mut values: Vec<Value> = Vec::new();
        while let Some(task) = tasks.pop() {
            match task {
                Task::Visit(id, depth) => {
                    if depth > self.max_depth {
                        return Err(PickleError::Limit {
                            offset: self.offset,
                            opcode: "STOP",
                            what: "nesting depth of the value tree",
                            limit: self.max_depth as u64,
                        });
                    }
                    let node = self.detach(id)?;
                    self.charge(VALUE_COST)?;
                    if let Some(v) = self.visit(node, depth, &mut tasks)? {
                        values.push(v);
                    }
                }
                Task::Finish(finish) => {
                    let v = self.finish(finish, &mut values)?;
                    values.push(v);
                }
            }
        }
        match (values.pop(), values.is_empty()) {
            (Some(v), true) => Ok(v),
            _ => Err(self.malformed("internal: unbalanced conversion")),
        }
    }

    /// A leaf's value at once, or a `Finish` task preceded by visits of the children.
    fn visit(&mut self, node: Node, depth: usize, tasks: &mut Vec<Task>) -> Result<Option<Value>> {
        let mut children: Vec<NodeId> = Vec::new();
        let finish = match node {
            Node::Leaf(v) => {
                // The tree's size counts every leaf; the memory budget only a copy (a moved leaf was charged
                // when the VM built it).
                if self.copied {
                    self.charge(value_size(&v))?;
                } else {
                    self.charge_tree(value_size(&v))?;
                }
                return Ok(Some(v));
            }
            Node::Global(q, _) => return Ok(Some(Value::Global(q))),
            Node::Dtype(d) => {
                return Ok(Some(match d.kind {
                    Ok(dtype) => Value::Dtype(dtype),
                    Err(_) => Value::Object(Box::new(Object {
                        class: QualName {
                            module: "numpy".into(),
                            name: "dtype".into(),
                        },
                        args: vec![Value::Str(d.code)],
                        state: Value::None,
                    })),
                }));
            }
            Node::PendingArray => {
                return Err(self.malformed("a _reconstruct array never received its state"));
            }
            Node::Taken => {
                return Err(self.malformed("internal: node used after its last reference"));
            }
            Node::List(v) => {
                children = v;
                Finish::List(children.len())
            }
            Node::Tuple(v) => {
                children = v;
                Finish::Tuple(children.len())
            }
            Node::Set(v) => {
                children = v;
                Finish::Set(children.len())
            }
            Node::Dict(d) => {
                children.extend(d.items.iter().flat_map(|&(k, v)| [k, v]));
                Finish::Dict(d.items.len())
            }
            Node::ObjArray { shape, items } => {
                children = items;
                Finish::ObjArray {
                    shape,
                    items: children.len(),
                }
            }
            Node::Object(o) => {
                children = o.args;
                let args = children.len();
                let state = match o.state {
                    ObjState::None => StateShape::None,
                    ObjState::Dict(d) => {
                        children.extend(d.items.iter().flat_map(|&(k, v)| [k, v]));
                        StateShape::Dict(d.items.len())
                    }
                    ObjState::Other(s) => {
                        children.push(s);
                        StateShape::Other
                    }
                };
                Finish::Object {
                    class: o.class,
                    args,
                    state,
                }
            }
        };
        self.charge(VALUE_COST.saturating_mul(children.len() as u64))?;
        tasks.push(Task::Finish(finish));
        tasks.extend(children.iter().rev().map(|&c| Task::Visit(c, depth + 1)));
        Ok(None)
    }

    fn take(&self, values: &mut Vec<Value>, n: usize) -> Result<Vec<Value>> {
        let at = values
            .len()
            .checked_sub(n)
            .ok_or_else(|| self.malformed("internal: unbalanced conversion"))?;
        Ok(values.split_off(at))
    }

    fn finish(&self, finish: Finish, values: &mut Vec<Value>) -> Result<Value> {
        Ok(match finish {
            Finish::List(n) => Value::List(self.take(values, n)?),
            Finish::Tuple(n) => Value::Tuple(self.take(values, n)?),
            Finish::Set(n) => Value::Set(self.take(values, n)?),
            Finish::Dict(n) => Value::Dict(pairs(self.take(values, 2 * n)?)),
            Finish::ObjArray { shape, items } => Value::Array(NdArray {
                dtype: Dtype::Object,
                shape,
                data: ArrayData::Object(self.take(values, items)?),
            }),
            Finish::Object { class, args, state } => {
                let state_len = match state {
                    StateShape::None => 0,
                    StateShape::Dict(n) => 2 * n,
                    StateShape::Other => 1,
                };
                let mut args_values = self.take(values, args + state_len)?;
                let state_values = args_values.split_off(args);
                let state = match state {
                    StateShape::None => Value::None,
                    StateShape::Dict(_) => Value::Dict(pairs(state_values)),
                    StateShape::Other => state_values.into_iter().next().unwrap_or(Value::None),
                };
                Value::Object(Box::new(Object {
                    class,
                    args: args_values,
                    state,
                }))
            }
        })
    }
}

/// Approximate heap bytes of a value (for the budget), without recursion.
pub(crate) fn value_size(v: &Value) -> u64 {
    let mut total = 0u64;
    let mut todo = vec![v];
    while let Some(v) = todo.pop() {
        let n = |len: usize, each: u64| (len as u64).saturating_mul(each);
        let own = match v {
            Value::Str(s) => s.len() as u64,
            Value::Bytes(b) | Value::BigInt(b) => b.len() as u64,
            Value::Array(a) => match &a.data {
                ArrayData::Bool(x) => n(x.len(), 1),
                ArrayData::Int(x) => n(x.len(), 8),
                ArrayData::UInt(x) => n(x.len(), 8),
                ArrayData::Float(x) => n(x.len(), 8),
                ArrayData::Str(x) => x
                    .iter()
                    .fold(0u64, |acc, s| acc.saturating_add(24 + s.len() as u64)),
                ArrayData::Record(x) => x.len() as u64,
                ArrayData::Object(x) => {
                    todo.extend(x);
                    n(x.len(), VALUE_COST)
                }
            },
            Value::List(x) | Value::Tuple(x) | Value::Set(x) => {
                todo.extend(x);
                n(x.len(), VALUE_COST)
            }
            Value::Dict(x) => {
                todo.extend(x.iter().flat_map(|(k, v)| [k, v]));
                n(x.len(), 2 * VALUE_COST)
            }
            Value::Object(o) => {
                todo.extend(&o.args);
                todo.push(&o.state);
                n(o.args.len() + 1, VALUE_COST)
            }
            _ => 0,
        };
        total = total.saturating_add(own);
    }
    total
}

/// Approximate bytes of a record dtype's field list.
fn record_fields(d: &NpDtype) -> u64 {
    match &d.kind {
        Ok(Dtype::Record { fields, .. }) => fields
            .iter()
            .fold(0u64, |acc, f| acc.saturating_add(48 + f.name.len() as u64)),
        _ => 0,
    }
}

/// `LONG1`/`LONG4` payload: little-endian two's complement.
fn long_from_le(bytes: &[u8]) -> Value {
    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
    let fill = if negative { 0xff } else { 0x00 };
    let significant = bytes.iter().rposition(|&b| b != fill).map_or(0, |i| i + 1);
    // One more byte than the significant ones carries the sign; it must fit in 8.
    if significant < 8
        || (significant == 8 && bytes.get(7).is_some_and(|&b| (b & 0x80 != 0) == negative))
    {
        let mut buf = [fill; 8];
        for (slot, &b) in buf.iter_mut().zip(bytes) {
            *slot = b;
        }
        Value::Int(i64::from_le_bytes(buf))
    } else {
        Value::BigInt(bytes.to_vec())
    }
}

/// A decimal integer (protocol 0 `INT`/`LONG`), as `Int` or `BigInt`.
fn parse_int_text(s: &str) -> std::result::Result<Value, String> {
    let s = s.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..).unwrap_or_default()),
        Some(b'+') => (false, s.get(1..).unwrap_or_default()),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad integer {s:?}"));
    }
    if digits.len() > MAX_INT_DIGITS {
        return Err(format!("integer with more than {MAX_INT_DIGITS} digits"));
    }
    // Magnitude, little-endian base 256.
    let mut mag: Vec<u8> = vec![0];
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for byte in mag.iter_mut() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            mag.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    if mag.last().is_some_and(|&b| b & 0x80 != 0) {
        mag.push(0);
    }
    if negative {
        let mut carry = true;
        for byte in mag.iter_mut() {
            let (v, c) = (!*byte).overflowing_add(u8::from(carry));
            *byte = v;
            carry = c;
        }
    }
    Ok(long_from_le(&mag))
}

/// Python 2 `str` payloads (`STRING`, `BINSTRING`, `SHORT_BINSTRING`): ASCII becomes `Str` (what Python 3 reads
/// with its default `encoding="ASCII"`), anything else stays `Bytes`.
fn py2_str(bytes: Vec<u8>) -> Value {
    if bytes.is_ascii() {
        Value::Str(bytes.into_iter().map(char::from).collect())
    } else {
        Value::Bytes(bytes)
    }
}

fn latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

fn encode(s: &str, encoding: &str) -> std::result::Result<Vec<u8>, String> {
    match encoding.to_ascii_lowercase().replace('_', "-").as_str() {
        "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" | "l1" => {
            latin1(s).ok_or_else(|| "string not encodable as latin-1".to_string())
        }
        "utf-8" | "utf8" | "ascii" => Ok(s.as_bytes().to_vec()),
        other => Err(format!("unsupported encoding {other:?}")),
    }
}

/// Python's `codecs.escape_decode`, for protocol 0 `STRING`.
fn escape_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(&e) = s.get(i) else {
            out.push(b'\\');
            break;
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'x' => {
                let hex = s.get(i..i + 2).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.extend_from_slice(b"\\x"),
                }
            }
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match s.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    out
}

/// Python's `raw-unicode-escape` decoding, for protocol 0 `UNICODE`: `\uXXXX` and `\UXXXXXXXX` escapes, every
/// other byte one latin-1 character.
fn raw_unicode_escape_decode(s: &[u8]) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut backslashes = 0usize;
    while let Some(&b) = s.get(i) {
        if b == b'\\' && backslashes.is_multiple_of(2) {
            let width = match s.get(i + 1) {
                Some(b'u') => Some(4),
                Some(b'U') => Some(8),
                _ => None,
            };
            if let Some(width) = width {
                let hex = s
                    .get(i + 2..i + 2 + width)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .ok_or("truncated \\u escape")?;
                let code = u32::from_str_radix(hex, 16).map_err(|_| "bad \\u escape")?;
                out.push(char::from_u32(code).ok_or("invalid code point in \\u escape")?);
                i += 2 + width;
                backslashes = 0;
                continue;
            }
        }
        backslashes = if b == b'\\' { backslashes + 1 } else { 0 };
        out.push(char::from(b));
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs() {
        assert_eq!(long_from_le(&[]), Value::Int(0));
        assert_eq!(long_from_le(&[0xff]), Value::Int(-1));
        assert_eq!(long_from_le(&[0x80, 0x00]), Value::Int(128));
        assert_eq!(
            long_from_le(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            Value::Int(i64::MAX)
        );
        assert_eq!(
            long_from_le(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]),
            Value::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0x80, 0])
        );
        assert_eq!(
            long_from_le(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0xff]),
            Value::Int(i64::MIN)
        );
        assert_eq!(parse_int_text("-12"), Ok(Value::Int(-12)));
        assert_eq!(
            parse_int_text("9223372036854775808"),
            Ok(Value::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0x80, 0]))
        );
        assert_eq!(
            parse_int_text("-9223372036854775809"),
            Ok(Value::BigInt(vec![
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff
            ]))
        );
    }

    #[test]
    fn text_escapes() {
        assert_eq!(escape_decode(br"a\x41\n\101\\"), b"aA\nA\\".to_vec());
        assert_eq!(
            raw_unicode_escape_decode(br"a\u00e9\u005c\U0001F600").ok(),
            Some("aé\\😀".to_string())
        );
    }
}
