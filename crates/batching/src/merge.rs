//! Joining requests along dim 0 and splitting outputs back: one allocation per input per batch.

use oxserve_core::{NamedTensor, PredictRequest, PredictResponse, Tensor, TensorData, TensorError};

/// The rows a request carries: dim 0, shared by every input. `None` when there is nothing to batch on
/// (no inputs, a 0-d input, or inputs that disagree on dim 0).
pub(crate) fn request_rows(request: &PredictRequest) -> Option<usize> {
    let mut rows = None;
    for input in &request.inputs {
        let n = *input.tensor.shape().first()?;
        match rows {
            None => rows = Some(n),
            Some(r) if r == n => {}
            Some(_) => return None,
        }
    }
    rows
}

/// Whether two requests can run as one: the same requested outputs, and inputs with the same names, types
/// and dims after the first.
pub(crate) fn compatible(a: &PredictRequest, b: &PredictRequest) -> bool {
    a.outputs == b.outputs
        && a.inputs.len() == b.inputs.len()
        && a.inputs.iter().zip(&b.inputs).all(|(x, y)| {
            x.name == y.name
                && x.tensor.dtype() == y.tensor.dtype()
                && x.tensor.shape().get(1..) == y.tensor.shape().get(1..)
        })
}

/// One request holding every part's rows in order. The parts must be [`compatible`] and non-empty.
pub(crate) fn merge(parts: &[&PredictRequest]) -> Result<PredictRequest, TensorError> {
    let Some(first) = parts.first() else {
        return Ok(PredictRequest::default());
    };
    let inputs = (0..first.inputs.len())
        .map(|i| {
            let tensors: Vec<&Tensor> = parts
                .iter()
                .filter_map(|p| p.inputs.get(i).map(|t| &t.tensor))
                .collect();
            let name = first
                .inputs
                .get(i)
                .map(|t| t.name.clone())
                .unwrap_or_default();
            concat(&tensors).map(|t| NamedTensor::new(name, t))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PredictRequest {
        inputs,
        outputs: first.outputs.clone(),
    })
}

macro_rules! gather {
    ($parts:expr, $variant:ident, $clone:expr) => {{
        let total: usize = $parts.iter().map(|t| t.len()).sum();
        let mut out = Vec::with_capacity(total);
        for t in $parts {
            match t.data() {
                TensorData::$variant(v) => out.extend(v.iter().map($clone)),
                // Unreachable for compatible parts (same type); refused rather than trusted.
                other => return Err(TensorError::NotNumeric(other.dtype())),
            }
        }
        TensorData::$variant(out)
    }};
}

/// Concatenates tensors of one type and trailing shape along dim 0.
fn concat(parts: &[&Tensor]) -> Result<Tensor, TensorError> {
    let Some(first) = parts.first() else {
        return Tensor::new(vec![0], TensorData::F64(Vec::new()));
    };
    let mut shape = first.shape().to_vec();
    if let Some(rows) = shape.first_mut() {
        *rows = parts
            .iter()
            .map(|t| t.shape().first().copied().unwrap_or(0))
            .sum();
    }
    let data = match first.data() {
        TensorData::Bool(_) => gather!(parts, Bool, |x: &bool| *x),
        TensorData::U8(_) => gather!(parts, U8, |x: &u8| *x),
        TensorData::I32(_) => gather!(parts, I32, |x: &i32| *x),
        TensorData::I64(_) => gather!(parts, I64, |x: &i64| *x),
        TensorData::F32(_) => gather!(parts, F32, |x: &f32| *x),
        TensorData::F64(_) => gather!(parts, F64, |x: &f64| *x),
        TensorData::Bytes(_) => gather!(parts, Bytes, |x: &Vec<u8>| x.clone()),
    };
    // A table's string or boolean column carries its `null`s as a mask: the merged column keeps each part's.
    let missing = parts.iter().any(|t| t.missing().is_some()).then(|| {
        let mut mask = Vec::with_capacity(data.len());
        for t in parts {
            match t.missing() {
                Some(m) => mask.extend_from_slice(m),
                None => mask.resize(mask.len() + t.len(), false),
            }
        }
        mask
    });
    Ok(Tensor::new(shape, data)?.with_missing(missing))
}

/// Splits every output of a merged call back into one response per request, by the requests' row counts.
/// `None` when some output's dim 0 is not the total row count (the model answered something that is not
/// per-row, so the requests cannot share a call).
pub(crate) fn split(response: PredictResponse, rows: &[usize]) -> Option<Vec<PredictResponse>> {
    let total: usize = rows.iter().sum();
    let mut parts: Vec<PredictResponse> = rows.iter().map(|_| PredictResponse::default()).collect();
    for output in response.outputs {
        if output.tensor.shape().first() != Some(&total) {
            return None;
        }
        let missing = output.tensor.missing().map(<[bool]>::to_vec);
        let (shape, data) = output.tensor.into_parts();
        let stride: usize = shape.get(1..).map_or(1, |rest| rest.iter().product());
        let mut start = 0;
        for (part, &n) in parts.iter_mut().zip(rows) {
            let mut part_shape = shape.clone();
            if let Some(d0) = part_shape.first_mut() {
                *d0 = n;
            }
            let range = start * stride..(start + n) * stride;
            let part_missing = match &missing {
                Some(mask) => Some(mask.get(range.clone())?.to_vec()),
                None => None,
            };
            let sliced = slice(&data, range)?;
            start += n;
            part.outputs.push(NamedTensor::new(
                output.name.clone(),
                Tensor::new(part_shape, sliced)
                    .ok()?
                    .with_missing(part_missing),
            ));
        }
    }
    Some(parts)
}

fn slice(data: &TensorData, range: std::ops::Range<usize>) -> Option<TensorData> {
    Some(match data {
        TensorData::Bool(v) => TensorData::Bool(v.get(range)?.to_vec()),
        TensorData::U8(v) => TensorData::U8(v.get(range)?.to_vec()),
        TensorData::I32(v) => TensorData::I32(v.get(range)?.to_vec()),
        TensorData::I64(v) => TensorData::I64(v.get(range)?.to_vec()),
        TensorData::F32(v) => TensorData::F32(v.get(range)?.to_vec()),
        TensorData::F64(v) => TensorData::F64(v.get(range)?.to_vec()),
        TensorData::Bytes(v) => TensorData::Bytes(v.get(range)?.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, t: Tensor) -> PredictRequest {
        PredictRequest {
            inputs: vec![NamedTensor::new(name, t)],
            outputs: Vec::new(),
        }
    }

    #[test]
    fn merge_and_split_round_trip() {
        let a = req(
            "x",
            Tensor::new(vec![1, 2], TensorData::F32(vec![1.0, 2.0])).unwrap(),
        );
        let b = req(
            "x",
            Tensor::new(vec![2, 2], TensorData::F32(vec![3.0, 4.0, 5.0, 6.0])).unwrap(),
        );
        assert!(compatible(&a, &b));
        let merged = merge(&[&a, &b]).unwrap();
        assert_eq!(merged.inputs[0].tensor.shape(), &[3, 2]);
        let response = PredictResponse {
            outputs: merged.inputs.clone(),
        };
        let parts = split(response, &[1, 2]).unwrap();
        assert_eq!(parts[0].outputs, a.inputs);
        assert_eq!(parts[1].outputs, b.inputs);
    }

    #[test]
    fn incompatible_and_unsplittable() {
        let a = req(
            "x",
            Tensor::new(vec![1, 2], TensorData::F32(vec![1.0, 2.0])).unwrap(),
        );
        let c = req(
            "x",
            Tensor::new(vec![1, 1], TensorData::F32(vec![1.0])).unwrap(),
        );
        let d = req(
            "x",
            Tensor::new(vec![1, 2], TensorData::F64(vec![1.0, 2.0])).unwrap(),
        );
        let e = req(
            "y",
            Tensor::new(vec![1, 2], TensorData::F32(vec![1.0, 2.0])).unwrap(),
        );
        assert!(!compatible(&a, &c) && !compatible(&a, &d) && !compatible(&a, &e));
        let scalar = PredictResponse {
            outputs: vec![NamedTensor::new(
                "s",
                Tensor::new(vec![1], TensorData::F64(vec![1.0])).unwrap(),
            )],
        };
        assert!(split(scalar, &[1, 2]).is_none());
        assert_eq!(request_rows(&a), Some(1));
        assert_eq!(request_rows(&PredictRequest::default()), None);
    }
}
