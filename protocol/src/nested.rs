//! A row-major buffer written as JSON nested lists by its shape: the one walk behind the hand-written writers
//! (Seldon's direct reply, `seldon/pyjson.rs`; TF Serving's and KServe V1's rows and columns, `tfserving/rest.rs`),
//! each writing its own elements.

/// Writes the elements of a row-major buffer from index `start` as nested lists of `shape` (a scalar for an empty
/// shape), each element by `element(out, index)`.
pub(crate) fn write_nested(
    out: &mut Vec<u8>,
    shape: &[usize],
    start: usize,
    element: &mut impl FnMut(&mut Vec<u8>, usize),
) {
    match shape {
        [] => element(out, start),
        [n] => {
            out.push(b'[');
            for i in 0..*n {
                if i > 0 {
                    out.push(b',');
                }
                element(out, start + i);
            }
            out.push(b']');
        }
        [n, rest @ ..] => {
            let stride: usize = rest.iter().product();
            out.push(b'[');
            for i in 0..*n {
                if i > 0 {
                    out.push(b',');
                }
                write_nested(out, rest, start + i * stride, element);
            }
            out.push(b']');
        }
    }
}
