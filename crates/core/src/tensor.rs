//! One tensor type: a shape plus one typed, contiguous, row-major buffer.

use std::fmt;

/// The element types a [`Tensor`] can hold, named as the Open Inference Protocol names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `BOOL`: one byte per element on the wire.
    Bool,
    /// `UINT8`.
    U8,
    /// `INT32`.
    I32,
    /// `INT64`.
    I64,
    /// `FP32`.
    F32,
    /// `FP64`.
    F64,
    /// `BYTES`: variable-length byte strings (UTF-8 text included).
    Bytes,
}

impl DataType {
    /// The Open Inference Protocol name (`FP64`, `INT64`, `BYTES`, ...).
    pub fn v2_name(self) -> &'static str {
        match self {
            DataType::Bool => "BOOL",
            DataType::U8 => "UINT8",
            DataType::I32 => "INT32",
            DataType::I64 => "INT64",
            DataType::F32 => "FP32",
            DataType::F64 => "FP64",
            DataType::Bytes => "BYTES",
        }
    }

    /// Size in bytes of one element in the binary (raw) wire encoding; `None` for `BYTES`.
    pub fn element_size(self) -> Option<usize> {
        match self {
            DataType::Bool | DataType::U8 => Some(1),
            DataType::I32 | DataType::F32 => Some(4),
            DataType::I64 | DataType::F64 => Some(8),
            DataType::Bytes => None,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.v2_name())
    }
}

/// The typed, contiguous element buffer of a [`Tensor`], row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// Booleans.
    Bool(Vec<bool>),
    /// Unsigned bytes.
    U8(Vec<u8>),
    /// 32-bit integers.
    I32(Vec<i32>),
    /// 64-bit integers.
    I64(Vec<i64>),
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit floats.
    F64(Vec<f64>),
    /// Byte strings, one per element (text is stored as its UTF-8 bytes).
    Bytes(Vec<Vec<u8>>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::Bool(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::Bytes(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn dtype(&self) -> DataType {
        match self {
            TensorData::Bool(_) => DataType::Bool,
            TensorData::U8(_) => DataType::U8,
            TensorData::I32(_) => DataType::I32,
            TensorData::I64(_) => DataType::I64,
            TensorData::F32(_) => DataType::F32,
            TensorData::F64(_) => DataType::F64,
            TensorData::Bytes(_) => DataType::Bytes,
        }
    }
}

/// Why a tensor could not be built or converted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorError {
    /// The shape's element count and the buffer's length disagree.
    #[error("shape {shape:?} holds {expected} elements but {got} values were given")]
    ShapeMismatch {
        /// The declared shape.
        shape: Vec<usize>,
        /// Elements the shape implies.
        expected: usize,
        /// Elements present.
        got: usize,
    },
    /// The shape's element count overflows `usize`.
    #[error("shape {0:?} is too large")]
    ShapeOverflow(Vec<usize>),
    /// A conversion to numbers met a non-numeric element.
    #[error("expected numeric data, got {0}")]
    NotNumeric(DataType),
}

/// A tensor: a shape and one typed, contiguous, row-major buffer whose length is the shape's product.
///
/// The invariant `data.len() == shape.iter().product()` holds for every value built through
/// [`Tensor::new`]; the fields are private so that it cannot be broken afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
    /// Per element, whether it is missing (`None` in a pandas / numpy `object` column); `None` when nothing
    /// is, which every tensor but a table's string or boolean column is.
    missing: Option<Vec<bool>>,
}

/// The number of elements a shape holds, or `None` on overflow.
pub(crate) fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

impl Tensor {
    /// Builds a tensor, checking that the buffer holds exactly the shape's element count.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Self, TensorError> {
        let expected =
            element_count(&shape).ok_or_else(|| TensorError::ShapeOverflow(shape.clone()))?;
        if expected != data.len() {
            return Err(TensorError::ShapeMismatch {
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(Tensor {
            shape,
            data,
            missing: None,
        })
    }

    /// A 1-D tensor holding one table column, with its missing mask (one flag per element, or `None`).
    ///
    /// A mask whose length is not the column's is dropped rather than trusted.
    pub fn from_column(data: TensorData, missing: Option<Vec<bool>>) -> Self {
        let missing = missing.filter(|m| m.len() == data.len() && m.iter().any(|&b| b));
        Tensor {
            shape: vec![data.len()],
            data,
            missing,
        }
    }

    /// The same tensor with a missing mask (one flag per element): a decoded string column that held `null`s.
    /// A mask of another length, or with nothing missing, is dropped rather than trusted.
    pub fn with_missing(mut self, missing: Option<Vec<bool>>) -> Self {
        self.missing = missing.filter(|m| m.len() == self.data.len() && m.iter().any(|&b| b));
        self
    }

    /// Per element, whether the value is missing (a table's `None` strings or booleans; float columns use NaN).
    /// `None` when no element is missing: consumers that know nothing of tables lose nothing.
    pub fn missing(&self) -> Option<&[bool]> {
        self.missing.as_deref()
    }

    /// A 2-D float64 tensor of `rows` × `cols` from a row-major buffer.
    pub fn from_f64_matrix(
        rows: usize,
        cols: usize,
        values: Vec<f64>,
    ) -> Result<Self, TensorError> {
        Tensor::new(vec![rows, cols], TensorData::F64(values))
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element buffer.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Takes the shape and buffer apart.
    pub fn into_parts(self) -> (Vec<usize>, TensorData) {
        (self.shape, self.data)
    }

    /// The element type.
    pub fn dtype(&self) -> DataType {
        self.data.dtype()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Same data under another shape with the same element count.
    pub fn reshape(self, shape: Vec<usize>) -> Result<Self, TensorError> {
        Tensor::new(shape, self.data)
    }

    /// The elements as float64 (numeric and boolean types widen; `BYTES` is an error).
    ///
    /// Borrows nothing: one allocation of the element count.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>, TensorError> {
        Ok(match &self.data {
            TensorData::F64(v) => v.clone(),
            TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect(),
            TensorData::Bytes(_) => return Err(TensorError::NotNumeric(DataType::Bytes)),
        })
    }

    /// Converts into a float64 tensor of the same shape, reusing the buffer when it already is one.
    pub fn into_f64(self) -> Result<Tensor, TensorError> {
        match self.data {
            TensorData::F64(_) => Ok(self),
            _ => {
                let values = self.to_f64_vec()?;
                Ok(Tensor {
                    shape: self.shape,
                    data: TensorData::F64(values),
                    missing: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_element_count() {
        assert!(Tensor::new(vec![2, 2], TensorData::F64(vec![1.0; 4])).is_ok());
        let err = Tensor::new(vec![2, 3], TensorData::F64(vec![1.0; 4])).unwrap_err();
        assert_eq!(
            err,
            TensorError::ShapeMismatch {
                shape: vec![2, 3],
                expected: 6,
                got: 4
            }
        );
    }

    #[test]
    fn overflowing_shape_is_rejected() {
        let err = Tensor::new(vec![usize::MAX, 2], TensorData::F64(vec![])).unwrap_err();
        assert!(matches!(err, TensorError::ShapeOverflow(_)));
    }

    #[test]
    fn widening_to_f64() {
        let t = Tensor::new(vec![3], TensorData::I64(vec![1, -2, 3])).unwrap();
        assert_eq!(t.to_f64_vec().unwrap(), vec![1.0, -2.0, 3.0]);
        let b = Tensor::new(vec![1], TensorData::Bytes(vec![b"x".to_vec()])).unwrap();
        assert_eq!(
            b.into_f64().unwrap_err(),
            TensorError::NotNumeric(DataType::Bytes)
        );
    }
}
