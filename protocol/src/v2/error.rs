//! The one error type of V2 decoding and encoding.

/// Why a V2 request could not be decoded or a response encoded. Every variant is the client's fault except
/// [`V2Error::NotUtf8`] and [`V2Error::ElementTooLong`], which a client fixes by asking for binary output; the
/// runtime maps all of them to HTTP 400 / gRPC `INVALID_ARGUMENT`.
#[derive(Debug, thiserror::Error)]
pub enum V2Error {
    /// The JSON (or the JSON header of a binary body) does not parse as an inference request.
    #[error("invalid inference request JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `Inference-Header-Content-Length` points past the body.
    #[error(
        "Inference-Header-Content-Length is {header_len} but the body has only {body_len} bytes"
    )]
    HeaderLength {
        /// The header's value.
        header_len: usize,
        /// The body's length.
        body_len: usize,
    },
    /// An unknown or misspelled datatype.
    #[error(
        "`{name}`: unknown datatype `{datatype}`; expected one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, \
         INT16, INT32, INT64, FP16, BF16, FP32, FP64, BYTES"
    )]
    UnknownDatatype {
        /// The tensor's name.
        name: String,
        /// The datatype as sent.
        datatype: String,
    },
    /// A shape with a negative dimension.
    #[error("`{name}`: shape {shape:?} has a negative dimension")]
    NegativeDimension {
        /// The tensor's name.
        name: String,
        /// The shape as sent.
        shape: Vec<i64>,
    },
    /// A shape whose element count overflows.
    #[error("`{name}`: shape {shape:?} is too large")]
    ShapeOverflow {
        /// The tensor's name.
        name: String,
        /// The shape as sent.
        shape: Vec<i64>,
    },
    /// A shape larger than the request's budget ([`crate::limits`]): a dimension or element count beyond what
    /// the body limit allows, zero-width shapes included.
    #[error("`{name}`: {source}")]
    Limit {
        /// The tensor's name.
        name: String,
        /// Which limit.
        source: crate::limits::LimitError,
    },
    /// The data holds a different number of elements than the shape.
    #[error("`{name}`: shape {shape:?} holds {expected} elements but {what} has {got}")]
    ElementCount {
        /// The tensor's name.
        name: String,
        /// The shape as sent.
        shape: Vec<i64>,
        /// Elements the shape implies.
        expected: usize,
        /// Where the elements came from (`data`, `fp64_contents`, ...).
        what: &'static str,
        /// Elements present.
        got: usize,
    },
    /// Nested `data` that is not rectangular.
    #[error("`{name}`: nested data is ragged (rows of different lengths or mixed nesting depth)")]
    Ragged {
        /// The tensor's name.
        name: String,
    },
    /// Nested `data` deeper than any tensor has dimensions.
    #[error("`{name}`: data is nested more than {max} levels deep")]
    TooDeep {
        /// The tensor's name.
        name: String,
        /// The nesting limit.
        max: usize,
    },
    /// An element of the wrong JSON type for the datatype.
    #[error("`{name}`: element {index} of {datatype} data is {found}")]
    ElementType {
        /// The tensor's name.
        name: String,
        /// The declared datatype.
        datatype: &'static str,
        /// The element's flat index.
        index: usize,
        /// What was found (`a string`, `a boolean`, `null`, `the non-integer 1.5`).
        found: String,
    },
    /// A number outside the datatype's range.
    #[error("`{name}`: element {index} ({value}) is out of range for {datatype}")]
    OutOfRange {
        /// The tensor's name.
        name: String,
        /// The declared datatype.
        datatype: &'static str,
        /// The element's flat index.
        index: usize,
        /// The value, as text.
        value: String,
    },
    /// A datatype this encoding cannot carry (FP16/BF16 in JSON or typed gRPC contents).
    #[error("`{name}`: {datatype} is not supported in {encoding}; send it as binary data")]
    UnsupportedEncoding {
        /// The tensor's name.
        name: String,
        /// The datatype.
        datatype: &'static str,
        /// `JSON data` or `typed contents`.
        encoding: &'static str,
    },
    /// An input with neither `data` nor `binary_data_size`.
    #[error("input `{name}` has neither `data` nor `parameters.binary_data_size`")]
    MissingData {
        /// The input's name.
        name: String,
    },
    /// An input with both `data` and `binary_data_size`.
    #[error("input `{name}` has both `data` and `parameters.binary_data_size`")]
    DataAndBinary {
        /// The input's name.
        name: String,
    },
    /// A parameter of the wrong JSON type.
    #[error("`{name}`: parameter `{key}` must be {expected}")]
    BadParameter {
        /// The tensor's name, or `request`.
        name: String,
        /// The parameter's key.
        key: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// `binary_data_size` used without `Inference-Header-Content-Length`.
    #[error(
        "input `{name}` has `binary_data_size` but the request has no Inference-Header-Content-Length"
    )]
    BinaryWithoutHeader {
        /// The input's name.
        name: String,
    },
    /// A blob that extends past the end of the body.
    #[error(
        "input `{name}`: binary_data_size is {size} but only {available} bytes remain in the body"
    )]
    BinaryTruncated {
        /// The input's name.
        name: String,
        /// The size claimed.
        size: u64,
        /// The bytes left.
        available: usize,
    },
    /// A blob whose size does not fit the shape and datatype.
    #[error(
        "`{name}`: {size} bytes of binary data do not hold {count} {datatype} elements ({expected} bytes)"
    )]
    BinarySize {
        /// The tensor's name.
        name: String,
        /// The datatype.
        datatype: &'static str,
        /// Elements the shape implies.
        count: usize,
        /// Bytes expected.
        expected: u128,
        /// Bytes present.
        size: usize,
    },
    /// A `BYTES` blob whose length prefixes do not add up.
    #[error("`{name}`: bad BYTES framing: {reason}")]
    BytesFraming {
        /// The tensor's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Bytes left after the last binary input.
    #[error("{extra} bytes follow the last binary input")]
    TrailingBytes {
        /// Unread bytes.
        extra: usize,
    },
    /// `raw_input_contents` entries that do not pair with the inputs.
    #[error("{raw} raw_input_contents entries for {inputs} inputs without typed contents")]
    RawCount {
        /// Inputs that needed a raw entry.
        inputs: usize,
        /// Raw entries sent.
        raw: usize,
    },
    /// Typed gRPC contents in the wrong field for the datatype.
    #[error(
        "input `{name}`: datatype {datatype} expects `{expected}` but the elements are in `{found}`"
    )]
    ContentsField {
        /// The input's name.
        name: String,
        /// The datatype.
        datatype: &'static str,
        /// The field the datatype uses.
        expected: &'static str,
        /// The field that was filled.
        found: &'static str,
    },
    /// A `BYTES` output that is not UTF-8 cannot be written as a JSON string.
    #[error("output `{name}`: element {index} is not valid UTF-8; request it with `binary_data`")]
    NotUtf8 {
        /// The output's name.
        name: String,
        /// The element's flat index.
        index: usize,
    },
    /// A request-level content type that takes one input (`np`, `str`) on a request with another number.
    #[error("The '{content_type}' codec only supports a single input tensor ({got} were received)")]
    CodecInputs {
        /// The request's `parameters.content_type`.
        content_type: String,
        /// Inputs sent.
        got: usize,
    },
    /// An input content type (`str`, `base64`, `datetime`) on an input that is not `BYTES`.
    #[error("input `{name}`: content type `{content_type}` needs BYTES data, not {datatype}")]
    CodecDatatype {
        /// The input's name.
        name: String,
        /// Its `parameters.content_type`.
        content_type: &'static str,
        /// Its datatype.
        datatype: &'static str,
    },
    /// An element the input's content type cannot decode (`str`: not UTF-8; `datetime`: not ISO 8601).
    #[error(
        "input `{name}`: element {index} ({value}) is not {what} (content type `{content_type}`)"
    )]
    CodecValue {
        /// The input's name.
        name: String,
        /// Its `parameters.content_type`.
        content_type: &'static str,
        /// The element's flat index.
        index: usize,
        /// The element, quoted (and cut short).
        value: String,
        /// What it should be.
        what: &'static str,
    },
    /// A `BYTES` element longer than its 4-byte length prefix can say.
    #[error("`{name}`: element {index} is {len} bytes, more than a BYTES element can hold")]
    ElementTooLong {
        /// The tensor's name.
        name: String,
        /// The element's flat index.
        index: usize,
        /// Its length.
        len: usize,
    },
}
