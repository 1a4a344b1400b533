//! joblib's layer on top of pickle: `NumpyArrayWrapper` objects whose array data follows their `BUILD` in the raw
//! stream, outside any opcode.

use crate::budget::Meter;
use crate::numpy;
use crate::vm::{Node, NodeId, Vm};
use crate::{Limits, PickleError, Value};

/// Reads one (decompressed) joblib or pickle stream, charging what it builds to `meter`.
pub(crate) fn load_stream(
    stream: &[u8],
    limits: &Limits,
    meter: &Meter,
) -> Result<Value, PickleError> {
    Vm::new(stream, 0, limits, meter, 0)
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
