//! Numeric helpers shared by the estimator families: the logistic function, row-wise softmax and logsumexp,
//! argmax with numpy's tie rule, affine maps over a batch, and input validation with scikit-learn's wording.

use crate::{Labels, Matrix, Output, SklearnError};

/// The logistic function `1 / (1 + e^{-z})` (scipy's `expit`): 0 for very negative `z`, 1 for very positive.
pub(crate) fn expit(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Replaces `row` by its softmax, subtracting the maximum first as scikit-learn's `softmax` does.
pub(crate) fn softmax_in_place(row: &mut [f64]) {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// Row-wise softmax of a whole batch, in place.
pub(crate) fn softmax_rows(m: &mut Matrix) {
    let cols = m.cols();
    if cols == 0 {
        return;
    }
    for row in m.data_mut().chunks_exact_mut(cols) {
        softmax_in_place(row);
    }
}

/// `log Σ e^{v}` computed stably (scipy's `logsumexp`: shift by the maximum).
pub(crate) fn logsumexp(row: &[f64]) -> f64 {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
    sum.ln() + max
}

/// Replaces each row of joint log-likelihoods by `exp(jll − logsumexp(jll))`, the naive Bayes
/// `predict_proba` formula.
pub(crate) fn exp_normalize_rows(m: &mut Matrix) {
    let cols = m.cols();
    if cols == 0 {
        return;
    }
    for row in m.data_mut().chunks_exact_mut(cols) {
        let lse = logsumexp(row);
        for v in row.iter_mut() {
            *v = (*v - lse).exp();
        }
    }
}

/// Index of the first maximum (`np.argmax`: ties go to the lowest index; a NaN counts as the maximum).
pub(crate) fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v.is_nan() {
            return i;
        }
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Index of the first minimum (`np.argmin`).
pub(crate) fn argmin(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v.is_nan() {
            return i;
        }
        if v < row[best] {
            best = i;
        }
    }
    best
}

/// The dot product of two equally long slices.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `x · wᵀ + b` for a batch `x` (n × f), weights `w` (k × f) and an intercept of length k (or empty for none).
/// Callers check that `x.cols() == w.cols()`.
pub(crate) fn affine(x: &Matrix, w: &Matrix, b: &[f64]) -> Matrix {
    let k = w.rows();
    let mut out = Matrix::zeros(x.rows(), k);
    if k == 0 {
        return out;
    }
    for (xr, orow) in x.iter_rows().zip(out.data_mut().chunks_exact_mut(k)) {
        for (j, o) in orow.iter_mut().enumerate() {
            *o = dot(xr, w.row(j)) + b.get(j).copied().unwrap_or(0.0);
        }
    }
    out
}

/// `x · m` for a batch `x` (n × f) and a matrix `m` (f × k). Callers check that `x.cols() == m.rows()`.
pub(crate) fn matmul(x: &Matrix, m: &Matrix) -> Matrix {
    let k = m.cols();
    let mut out = Matrix::zeros(x.rows(), k);
    if k == 0 {
        return out;
    }
    for (xr, orow) in x.iter_rows().zip(out.data_mut().chunks_exact_mut(k)) {
        for (&xv, mrow) in xr.iter().zip(m.data().chunks_exact(k)) {
            for (o, &mv) in orow.iter_mut().zip(mrow) {
                *o += xv * mv;
            }
        }
    }
    out
}

/// The labels at each row's argmax of `scores` (scores has one column per class).
pub(crate) fn argmax_labels(scores: &Matrix, classes: &Labels) -> Labels {
    labels_at_argmax(scores.iter_rows(), classes)
}

/// [`argmax_labels`] over a row-major `rows × width` buffer (the tree ensembles' output).
pub(crate) fn argmax_labels_flat(data: &[f64], width: usize, classes: &Labels) -> Labels {
    labels_at_argmax(data.chunks_exact(width.max(1)), classes)
}

/// Each row's argmax as a label; a row wider than `classes` (a model file with more score columns than classes)
/// takes the last class rather than indexing past it.
fn labels_at_argmax<'a>(rows: impl Iterator<Item = &'a [f64]>, classes: &Labels) -> Labels {
    let last = classes.len().saturating_sub(1);
    let idx: Vec<usize> = rows.map(|r| argmax(r).min(last)).collect();
    classes.take(&idx)
}

/// Binary labels from one decision value per row: `classes[1]` where `d > 0`, else `classes[0]`.
pub(crate) fn threshold_labels(d: &[f64], classes: &Labels, threshold: f64) -> Labels {
    let top = classes.len().saturating_sub(1).min(1);
    let idx: Vec<usize> = d
        .iter()
        .map(|&v| if v > threshold { top } else { 0 })
        .collect();
    classes.take(&idx)
}

/// Two probability columns `[1 − p, p]` from one probability per row.
pub(crate) fn two_columns(p: &[f64]) -> Matrix {
    let mut out = Matrix::zeros(p.len(), 2);
    for (row, &v) in out.data_mut().chunks_exact_mut(2).zip(p) {
        row[0] = 1.0 - v;
        row[1] = v;
    }
    out
}

/// Column `j` of a matrix.
pub(crate) fn column(m: &Matrix, j: usize) -> Vec<f64> {
    m.iter_rows()
        .map(|r| r.get(j).copied().unwrap_or(f64::NAN))
        .collect()
}

/// Concatenates matrices with the same number of rows side by side (`np.hstack`).
pub(crate) fn hstack(rows: usize, parts: &[Matrix]) -> Matrix {
    let cols: usize = parts.iter().map(Matrix::cols).sum();
    let mut out = Matrix::zeros(rows, cols);
    if cols == 0 {
        return out;
    }
    for (i, orow) in out.data_mut().chunks_exact_mut(cols).enumerate() {
        let mut at = 0;
        for p in parts {
            let c = p.cols();
            if c > 0 && i < p.rows() {
                orow[at..at + c].copy_from_slice(p.row(i));
            }
            at += c;
        }
    }
    out
}

/// Checks the feature count (scikit-learn's wording) and, unless `allow_nan`, that every value is finite
/// (scikit-learn's `check_array` message for NaN and infinity).
pub(crate) fn check_input(
    x: &Matrix,
    n_features: Option<usize>,
    class: &str,
    allow_nan: bool,
) -> Result<(), SklearnError> {
    if let Some(n) = n_features {
        x.expect_features(n, class)?;
    }
    check_finite(x, class, allow_nan)
}

/// Rejects NaN (unless `allow_nan`) and ±infinity with scikit-learn's messages.
pub(crate) fn check_finite(x: &Matrix, class: &str, allow_nan: bool) -> Result<(), SklearnError> {
    for &v in x.data() {
        if v.is_nan() {
            if !allow_nan {
                return Err(SklearnError::BadInput(format!(
                    "Input X contains NaN.\n{class} does not accept missing values encoded as NaN natively."
                )));
            }
        } else if v.is_infinite() {
            return Err(SklearnError::BadInput(
                "Input X contains infinity or a value too large for dtype('float64').".into(),
            ));
        }
    }
    Ok(())
}

/// The inverse of a square matrix by Gauss–Jordan elimination with partial pivoting; `None` when singular.
pub(crate) fn invert(m: &Matrix) -> Option<Matrix> {
    let n = m.rows();
    if m.cols() != n {
        return None;
    }
    let mut a = m.clone();
    let mut inv = Matrix::zeros(n, n);
    for i in 0..n {
        inv.row_mut(i)[i] = 1.0;
    }
    for col in 0..n {
        let pivot =
            (col..n).max_by(|&i, &j| a.row(i)[col].abs().total_cmp(&a.row(j)[col].abs()))?;
        let p = a.row(pivot)[col];
        if p == 0.0 || !p.is_finite() {
            return None;
        }
        if pivot != col {
            for mat in [&mut a, &mut inv] {
                let data = mat.data_mut();
                for k in 0..n {
                    data.swap(pivot * n + k, col * n + k);
                }
            }
        }
        for k in 0..n {
            a.row_mut(col)[k] /= p;
            inv.row_mut(col)[k] /= p;
        }
        for r in 0..n {
            let f = a.row(r)[col];
            if r == col || f == 0.0 {
                continue;
            }
            for k in 0..n {
                let (av, iv) = (a.row(col)[k], inv.row(col)[k]);
                a.row_mut(r)[k] -= f * av;
                inv.row_mut(r)[k] -= f * iv;
            }
        }
    }
    Some(inv)
}

/// `log det m` for a square matrix with a positive determinant, else −∞ (scikit-learn's `fast_logdet`), by LU
/// decomposition with partial pivoting.
pub(crate) fn logdet(m: &Matrix) -> f64 {
    let n = m.rows();
    if m.cols() != n {
        return f64::NEG_INFINITY;
    }
    let mut a = m.clone();
    let mut sign = 1.0;
    let mut acc = 0.0;
    for col in 0..n {
        let Some(pivot) =
            (col..n).max_by(|&i, &j| a.row(i)[col].abs().total_cmp(&a.row(j)[col].abs()))
        else {
            return f64::NEG_INFINITY;
        };
        if pivot != col {
            let data = a.data_mut();
            for k in 0..n {
                data.swap(pivot * n + k, col * n + k);
            }
            sign = -sign;
        }
        let p = a.row(col)[col];
        if p == 0.0 || !p.is_finite() {
            return f64::NEG_INFINITY;
        }
        if p < 0.0 {
            sign = -sign;
        }
        acc += p.abs().ln();
        for r in col + 1..n {
            let f = a.row(r)[col] / p;
            for k in col..n {
                let v = a.row(col)[k];
                a.row_mut(r)[k] -= f * v;
            }
        }
    }
    if sign > 0.0 { acc } else { f64::NEG_INFINITY }
}

/// Labels as numbers (integer and float labels; `None` for strings).
pub(crate) fn labels_f64(labels: &Labels) -> Option<Vec<f64>> {
    match labels {
        Labels::Int(v) => Some(v.iter().map(|&i| i as f64).collect()),
        Labels::Float(v) => Some(v.clone()),
        Labels::Str(_) => None,
    }
}

/// A method's output as a 2-D matrix (`np.asarray(out).reshape(n, -1)`): a column becomes one column, numeric
/// labels become floats. String labels are an error naming `class`.
pub(crate) fn output_matrix(out: Output, rows: usize, class: &str) -> Result<Matrix, SklearnError> {
    let column = |v: Vec<f64>| Matrix::new(rows, 1, v);
    match out {
        Output::Matrix(m) => Ok(m),
        Output::Column(v) => column(v),
        Output::Labels(l) => match labels_f64(&l) {
            Some(v) => column(v),
            None => Err(SklearnError::BadInput(format!(
                "`{class}` predicts string labels, which cannot be used as numeric features"
            ))),
        },
    }
}

/// A method's output flattened to one float per value (`np.ravel`), as [`output_matrix`] reads it.
pub(crate) fn output_vec(out: Output, rows: usize, class: &str) -> Result<Vec<f64>, SklearnError> {
    output_matrix(out, rows, class).map(Matrix::into_data)
}

/// For each predicted label, its index in `classes` (`None` when it is not one of them).
pub(crate) fn label_positions(pred: &Labels, classes: &Labels) -> Vec<Option<usize>> {
    match (pred, classes) {
        (Labels::Int(p), Labels::Int(c)) => {
            p.iter().map(|x| c.iter().position(|y| y == x)).collect()
        }
        (Labels::Float(p), Labels::Float(c)) => {
            p.iter().map(|x| c.iter().position(|y| y == x)).collect()
        }
        (Labels::Int(p), Labels::Float(c)) => p
            .iter()
            .map(|&x| c.iter().position(|&y| y == x as f64))
            .collect(),
        (Labels::Float(p), Labels::Int(c)) => p
            .iter()
            .map(|&x| c.iter().position(|&y| y as f64 == x))
            .collect(),
        (Labels::Str(p), Labels::Str(c)) => {
            p.iter().map(|x| c.iter().position(|y| y == x)).collect()
        }
        (p, _) => vec![None; p.len()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_labels_clamp_rows_wider_than_the_classes() {
        // A model file whose trees give three score columns for two classes: the flat (tree) path used to index
        // `classes` with 2 and panic; both paths now take the last class, as the matrix path always did.
        let classes = Labels::Int(vec![7, 9]);
        let flat = [0.1, 0.2, 0.7, 0.6, 0.3, 0.1];
        assert_eq!(
            argmax_labels_flat(&flat, 3, &classes),
            Labels::Int(vec![9, 7])
        );
        let m = Matrix::new(2, 3, flat.to_vec()).expect("2 x 3");
        assert_eq!(argmax_labels(&m, &classes), Labels::Int(vec![9, 7]));
    }

    #[test]
    fn softmax_sums_to_one_and_argmax_takes_first() {
        let mut r = [1.0, 2.0, 2.0];
        softmax_in_place(&mut r);
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmin(&[1.0, 0.0, 0.0]), 1);
        assert!((logsumexp(&[0.0, 0.0]) - 2f64.ln()).abs() < 1e-15);
        assert!((expit(0.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn inverse_and_logdet_of_a_small_matrix() {
        let m = Matrix::new(2, 2, vec![0.0, 2.0, 4.0, 3.0]).expect("2x2");
        let inv = invert(&m).expect("invertible");
        let want = [-0.375, 0.25, 0.5, 0.0];
        assert!(
            inv.data()
                .iter()
                .zip(want)
                .all(|(g, w)| (g - w).abs() < 1e-15)
        );
        let spd = Matrix::new(2, 2, vec![2.0, 1.0, 1.0, 2.0]).expect("2x2");
        assert!((logdet(&spd) - 3f64.ln()).abs() < 1e-15);
        assert_eq!(logdet(&m), f64::NEG_INFINITY);
    }

    #[test]
    fn affine_and_matmul_agree() {
        let x = Matrix::new(2, 2, vec![1.0, 2.0, 3.0, 4.0]).expect("2x2");
        let w = Matrix::new(1, 2, vec![0.5, -1.0]).expect("1x2");
        let wt = Matrix::new(2, 1, vec![0.5, -1.0]).expect("2x1");
        assert_eq!(affine(&x, &w, &[1.0]).data(), &[-0.5, -1.5]);
        assert_eq!(matmul(&x, &wt).data(), &[-1.5, -2.5]);
    }
}
