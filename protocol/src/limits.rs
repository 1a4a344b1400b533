//! How much one request may declare: every decoder charges each tensor's shape to a per-request [`Budget`]
//! *before* it allocates anything for it, so no request — however few bytes it has — can make the server
//! allocate more than the limits allow or hand a model a tensor with billions of (empty) rows.
//!
//! The limits derive from the body limit (`--max-body-bytes`), so an operator tunes one number:
//! - **dimensions and elements**: a tensor's *cells* — the product of its dimensions with an empty dimension
//!   counted as one — may not exceed the body limit, summed over the request. A request of the body limit can
//!   carry at most that many literal elements (one byte each, at best), and a zero-width tensor such as
//!   `[1000000000000, 0]` counts its rows, since models allocate per row.
//! - **expansion**: a decoder that creates elements the request does not spell out (a TensorFlow `TensorProto`
//!   whose single value is broadcast to its shape) may create at most as many bytes as a request of the body
//!   limit could have sent, summed over the request.

/// The per-request limits, from the body limit. Cheap to copy; make one [`Budget`] per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    max_cells: usize,
    max_expanded_bytes: usize,
}

impl RequestLimits {
    /// The runtime's default body limit (`--max-body-bytes`), 64 MiB; [`RequestLimits::default`] uses it.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

    /// The limits for a server whose requests are at most `max_body_bytes` long (REST body or gRPC message).
    pub fn from_body_limit(max_body_bytes: usize) -> Self {
        let bytes = max_body_bytes.max(1);
        RequestLimits {
            max_cells: bytes,
            max_expanded_bytes: bytes,
        }
    }

    /// The most cells (elements, with an empty dimension counted as one) one request's tensors may declare in
    /// all; also the largest any one dimension may be.
    pub fn max_cells(&self) -> usize {
        self.max_cells
    }

    /// The most bytes one request's broadcasts may create in all.
    pub fn max_expanded_bytes(&self) -> usize {
        self.max_expanded_bytes
    }

    /// A fresh budget for one request.
    pub fn budget(&self) -> Budget {
        Budget {
            limits: *self,
            cells_left: self.max_cells,
            expanded_left: self.max_expanded_bytes,
        }
    }
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits::from_body_limit(Self::DEFAULT_MAX_BODY_BYTES)
    }
}

/// What is left of one request's [`RequestLimits`]. Decoders call [`Budget::shape`] for every tensor before
/// allocating its values, and [`Budget::expand`] before creating values the request does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    limits: RequestLimits,
    cells_left: usize,
    expanded_left: usize,
}

impl Budget {
    /// Charges one tensor's declared shape and returns its element count (with checked arithmetic). Refuses a
    /// dimension larger than the limit, and a shape whose cells (empty dimensions counted as one) overflow or
    /// exceed what is left of the request's budget; on refusal nothing is charged.
    pub fn shape(&mut self, shape: &[usize]) -> Result<usize, LimitError> {
        let max = self.limits.max_cells;
        if let Some((axis, &size)) = shape.iter().enumerate().find(|&(_, &d)| d > max) {
            return Err(LimitError::Dimension {
                shape: shape.to_vec(),
                axis,
                size,
                max,
            });
        }
        let cells = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d.max(1)))
            .filter(|&c| c <= self.cells_left)
            .ok_or_else(|| LimitError::Cells {
                shape: shape.to_vec(),
                max,
            })?;
        self.cells_left -= cells;
        // Cells bound the element count (each element is a cell), so this product cannot overflow.
        Ok(shape.iter().product())
    }

    /// Charges `elements` values of `element_bytes` each that a decoder is about to create from fewer values
    /// in the request (a broadcast). Refuses when that exceeds what is left; on refusal nothing is charged.
    pub fn expand(
        &mut self,
        shape: &[usize],
        elements: usize,
        element_bytes: usize,
    ) -> Result<(), LimitError> {
        let bytes = elements
            .checked_mul(element_bytes.max(1))
            .filter(|&b| b <= self.expanded_left)
            .ok_or_else(|| LimitError::Expansion {
                shape: shape.to_vec(),
                element_bytes,
                max: self.limits.max_expanded_bytes,
            })?;
        self.expanded_left -= bytes;
        Ok(())
    }
}

impl Default for Budget {
    fn default() -> Self {
        RequestLimits::default().budget()
    }
}

/// Why a request's declared shape was refused. Always the client's fault (HTTP 400, gRPC `INVALID_ARGUMENT`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// One dimension alone is larger than the limit.
    #[error(
        "tensor shape {shape:?} declares {size} {what}, more than the request limit allows ({max}, set by the \
         body limit)",
        what = if *axis == 0 && shape.len() > 1 { "rows" } else { "elements along one dimension" }
    )]
    Dimension {
        /// The declared shape.
        shape: Vec<usize>,
        /// Which dimension.
        axis: usize,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The product of the dimensions (empty ones counted as one), alone or with the request's other tensors,
    /// is larger than the limit.
    #[error(
        "tensor shape {shape:?} declares more elements than the request limit allows ({max} in all, an empty \
         dimension counting as one; set by the body limit)"
    )]
    Cells {
        /// The declared shape.
        shape: Vec<usize>,
        /// The limit.
        max: usize,
    },
    /// A broadcast would create more bytes than the limit.
    #[error(
        "tensor shape {shape:?} broadcasts one value to more data than the request limit allows ({max} bytes of \
         {element_bytes}-byte elements; set by the body limit)"
    )]
    Expansion {
        /// The declared shape.
        shape: Vec<usize>,
        /// Bytes per created element.
        element_bytes: usize,
        /// The limit.
        max: usize,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn zero_width_shapes_count_their_rows() {
        let mut b = RequestLimits::default().budget();
        let e = b.shape(&[1_000_000_000_000, 0]).unwrap_err();
        assert!(matches!(e, LimitError::Dimension { axis: 0, .. }), "{e}");
        assert!(
            e.to_string()
                .contains("tensor shape [1000000000000, 0] declares 1000000000000 rows"),
            "{e}"
        );
        assert!(b.shape(&[(1 << 31) - 1, 0]).is_err());
        // Many dimensions each under the limit, whose product is not.
        assert!(matches!(
            b.shape(&[1 << 20, 0, 1 << 20]),
            Err(LimitError::Cells { .. })
        ));
        assert!(matches!(
            b.shape(&[usize::MAX >> 40; 8]),
            Err(LimitError::Cells { .. })
        ));
        assert_eq!(b.shape(&[1000, 0]).unwrap(), 0);
        assert_eq!(b.shape(&[3, 4]).unwrap(), 12);
        assert_eq!(b.shape(&[]).unwrap(), 1);
    }

    #[test]
    fn the_budget_is_shared_by_a_request() {
        let mut b = RequestLimits::from_body_limit(100).budget();
        assert_eq!(b.shape(&[10, 6]).unwrap(), 60);
        assert!(b.shape(&[41]).is_err());
        assert_eq!(b.shape(&[40]).unwrap(), 40);
        assert!(b.shape(&[1]).is_err());
        let mut b = RequestLimits::from_body_limit(100).budget();
        assert!(b.expand(&[13], 13, 8).is_err());
        b.expand(&[12], 12, 8).unwrap();
        assert!(b.expand(&[1], 1, 8).is_err());
        assert!(b.expand(&[usize::MAX], usize::MAX, 8).is_err());
    }
}
