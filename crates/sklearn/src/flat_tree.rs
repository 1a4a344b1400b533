//! The shared tree engine: every tree of every family (decision trees, forests, gradient boosting, histogram
//! gradient boosting, AdaBoost, isolation forests) becomes one [`FlatTree`] at load time, and batches are evaluated
//! in row blocks over all trees of an ensemble.
//!
//! A [`FlatTree`] is a compact array of 24-byte nodes (threshold, feature, left, right, missing-goes-left) plus the
//! leaves' value vectors. It is validated once when built — features in range, every child index greater than its
//! parent's (so no cycle can exist and every walk ends at a leaf) — so evaluation never fails and never panics.
//!
//! Also here: reading `sklearn.tree._tree.Tree` objects ([`SkTree`]), the float32 input preparation scikit-learn's
//! trees need ([`prepare_rows`]) and the small link functions the boosting families share.

use oxserve_pickle::{Object, Value};

use crate::{Labels, Matrix, SklearnError};

/// Rows evaluated per pass over the trees: each tree is walked for the whole block before the next
/// (tree-major, as a tree of a few hundred nodes stays in L1 meanwhile), and a block of rows of a
/// few dozen features stays in L2.
const BLOCK_ROWS: usize = 1024;

/// Rows walked in lockstep through one tree: independent walks overlap their memory latency, and the
/// comparisons select the next node by index instead of by a hard-to-predict branch. 8 measured best
/// (4 leaves latency exposed, 16 spills registers).
const LANES: usize = 8;

/// [`Node::meta`] bit: the node is a leaf (the low 29 bits are then its ordinal in [`FlatTree::values`]).
/// Also set on every child reference (`Node::children`) that points to a leaf.
const LEAF_BIT: u32 = 1 << 31;
/// [`Node::meta`] bit: NaN goes left.
const MISSING_LEFT: u32 = 1 << 30;
/// [`Node::meta`] bit: a categorical split (the low 29 bits are then its index in [`FlatTree::cats`]).
const CATEGORICAL: u32 = 1 << 29;
/// The ordinal bits of [`Node::meta`].
const ORDINAL: u32 = CATEGORICAL - 1;

/// One node, 24 bytes. A leaf points to itself on both sides and splits on feature 0, so stepping from a leaf is a
/// no-op (what lets [`LANES`] walks advance together until all have arrived); its `threshold` holds the leaf's
/// first value, so single-value trees never touch the value table.
#[derive(Debug, Clone, Copy)]
struct Node {
    threshold: f64,
    /// `[left, right]`, indexed by "goes right" so that a step is a load, not a branch.
    children: [u32; 2],
    feature: u32,
    meta: u32,
}

/// A node as a family reads it from its file, before validation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawNode {
    /// Left child index; ignored for leaves.
    pub(crate) left: i64,
    /// Right child index; ignored for leaves.
    pub(crate) right: i64,
    /// Feature index; ignored for leaves.
    pub(crate) feature: i64,
    /// Go left iff `x <= threshold`.
    pub(crate) threshold: f64,
    /// Where NaN goes.
    pub(crate) missing_left: bool,
    /// Whether the node is a leaf.
    pub(crate) is_leaf: bool,
    /// For a categorical split (HGB), its category sets; `threshold` is then unused.
    pub(crate) categories: Option<CatSplit>,
}

/// A categorical split of a histogram gradient boosting tree: 256-bit sets of category codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CatSplit {
    /// The codes that go left (`raw_left_cat_bitsets[bitset_idx]`).
    pub(crate) left: [u32; 8],
    /// The codes seen in training for the feature (`known_cat_bitsets[f_idx_map[feature]]`).
    pub(crate) known: [u32; 8],
}

impl CatSplit {
    fn contains(set: &[u32; 8], code: u32) -> bool {
        set[(code >> 5) as usize & 7] >> (code & 31) & 1 == 1
    }
}

/// A validated tree in evaluation layout.
#[derive(Debug, Clone)]
pub(crate) struct FlatTree {
    nodes: Vec<Node>,
    /// `width` values per leaf, leaf-major.
    values: Vec<f64>,
    width: usize,
    /// The categorical splits' category sets (empty for every tree but HGB's with categorical features).
    cats: Vec<CatSplit>,
}

impl FlatTree {
    /// Builds and validates a tree. `leaf_value(node, out)` appends the `width` values of leaf `node` to `out`;
    /// `feature_map`, when given, renames each split's feature (`feature_map[f]` is the column of the batch).
    pub(crate) fn new(
        raw: &[RawNode],
        n_features: usize,
        feature_map: Option<&[usize]>,
        width: usize,
        mut leaf_value: impl FnMut(usize, &mut Vec<f64>) -> Result<(), String>,
    ) -> Result<FlatTree, String> {
        if raw.is_empty() {
            return Err("tree has no nodes".into());
        }
        if raw.len() > ORDINAL as usize {
            return Err(format!("tree has {} nodes, too many", raw.len()));
        }
        let mut nodes = Vec::with_capacity(raw.len());
        let mut values = Vec::new();
        let mut cats = Vec::new();
        let mut n_leaves: u32 = 0;
        for (i, r) in raw.iter().enumerate() {
            let me = i as u32;
            if r.is_leaf {
                let start = values.len();
                leaf_value(i, &mut values)?;
                if values.len() != start + width {
                    return Err(format!(
                        "leaf {i} has {} values, expected {width}",
                        values.len() - start
                    ));
                }
                nodes.push(Node {
                    threshold: values.get(start).copied().unwrap_or(0.0),
                    children: [me | LEAF_BIT, me | LEAF_BIT],
                    feature: 0,
                    meta: LEAF_BIT | n_leaves,
                });
                n_leaves += 1;
                continue;
            }
            // Children strictly after their parent: sklearn's builders (depth-first and best-first trees, HGB's
            // predictor arrays) all number nodes that way, and it proves every walk reaches a leaf.
            let child = |c: i64| -> Result<u32, String> {
                usize::try_from(c)
                    .ok()
                    .filter(|&c| c > i && c < raw.len())
                    .map(|c| c as u32 | if raw[c].is_leaf { LEAF_BIT } else { 0 })
                    .ok_or_else(|| {
                        format!(
                            "node {i} has child {c} out of range (must be in {}..{})",
                            i + 1,
                            raw.len()
                        )
                    })
            };
            let f = usize::try_from(r.feature)
                .ok()
                .filter(|&f| match feature_map {
                    Some(m) => f < m.len(),
                    None => f < n_features,
                })
                .ok_or_else(|| format!("node {i} splits on feature {} out of range", r.feature))?;
            let f = match feature_map {
                Some(m) => m[f],
                None => f,
            };
            if f >= n_features || f > u32::MAX as usize {
                return Err(format!(
                    "node {i} maps to feature {f}, but there are {n_features}"
                ));
            }
            let mut meta = if r.missing_left { MISSING_LEFT } else { 0 };
            if let Some(c) = r.categories {
                meta |= CATEGORICAL | cats.len() as u32;
                cats.push(c);
            }
            nodes.push(Node {
                threshold: r.threshold,
                children: [child(r.left)?, child(r.right)?],
                feature: f as u32,
                meta,
            });
        }
        Ok(FlatTree {
            nodes,
            values,
            cats,
            width,
        })
    }

    /// Values per leaf.
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    /// One step from node `i` for `row` (a no-op at a leaf). `CAT`: whether the tree has categorical
    /// splits; `NAN`: whether the batch may hold NaN. Node references carry [`LEAF_BIT`] when they
    /// point to a leaf, so the caller knows a walk has ended without another load.
    #[inline(always)]
    fn step<const CAT: bool, const NAN: bool>(&self, i: u32, rows: &[f64], row: usize) -> u32 {
        let n = &self.nodes[(i & !LEAF_BIT) as usize];
        // `row` is the offset of the row's first value; features were checked against the row
        // width at load.
        let x = rows[row + n.feature as usize];
        let missing_left = n.meta & MISSING_LEFT != 0;
        let left = if CAT && n.meta & CATEGORICAL != 0 {
            self.categorical_left(n, x, missing_left)
        } else if NAN {
            // NaN fails `<=`; it follows the node's learnt missing-value direction (sklearn >= 1.3
            // trees, HGB). Bitwise `|`/`&` keep this free of data-dependent branches.
            (x <= n.threshold) | (x.is_nan() & missing_left)
        } else {
            x <= n.threshold
        };
        n.children[usize::from(!left)]
    }

    /// HGB's categorical rule (sklearn 1.9.1 `_predictor.pyx`): NaN and negative codes count as
    /// missing; a code in the node's left set goes left, another known code goes right, an unknown
    /// code counts as missing. Codes are ordinal encodings below 256 (`max_bins` <= 255); anything
    /// from 256 up is treated as unknown.
    #[inline(never)]
    fn categorical_left(&self, n: &Node, x: f64, missing_left: bool) -> bool {
        // NaN is outside the range too.
        if !(0.0..256.0).contains(&x) {
            return missing_left;
        }
        // Truncation toward zero, as sklearn's cast to its uint8 bin type.
        let code = x as u32;
        let Some(split) = self.cats.get((n.meta & ORDINAL) as usize) else {
            return missing_left;
        };
        if CatSplit::contains(&split.left, code) {
            true
        } else if CatSplit::contains(&split.known, code) {
            false
        } else {
            missing_left
        }
    }

    /// The leaf node `row` ends in. `row` must have the tree's `n_features` columns.
    #[cfg(test)]
    pub(crate) fn leaf(&self, row: &[f64]) -> u32 {
        let mut out = [0];
        self.leaves(row, row.len(), true, &mut out);
        out[0]
    }

    /// The leaf nodes of consecutive rows (`rows` row-major with `nf` columns, `out.len()` rows).
    fn leaves(&self, rows: &[f64], nf: usize, nan: bool, out: &mut [u32]) {
        match (self.cats.is_empty(), nan) {
            (true, false) => self.leaves_impl::<false, false>(rows, nf, out),
            (true, true) => self.leaves_impl::<false, true>(rows, nf, out),
            (false, _) => self.leaves_impl::<true, true>(rows, nf, out),
        }
    }

    /// Walks [`LANES`] rows in lockstep until all have reached a leaf, then the next group; the last
    /// rows one at a time.
    #[inline(always)]
    fn leaves_impl<const CAT: bool, const NAN: bool>(
        &self,
        rows: &[f64],
        nf: usize,
        out: &mut [u32],
    ) {
        // A lone leaf (the only tree possible over zero features) reads no column.
        if self.nodes.len() == 1 {
            out.fill(0);
            return;
        }
        let mut groups = out.chunks_exact_mut(LANES);
        let mut base = 0;
        for group in &mut groups {
            let lane_rows: [usize; LANES] = std::array::from_fn(|l| (base + l) * nf);
            let mut idx = [0u32; LANES];
            loop {
                let mut done = LEAF_BIT;
                for l in 0..LANES {
                    idx[l] = self.step::<CAT, NAN>(idx[l], rows, lane_rows[l]);
                    done &= idx[l];
                }
                if done != 0 {
                    break;
                }
            }
            for (o, i) in group.iter_mut().zip(idx) {
                *o = i & !LEAF_BIT;
            }
            base += LANES;
        }
        for (l, o) in groups.into_remainder().iter_mut().enumerate() {
            let row = (base + l) * nf;
            let mut i = 0;
            while i & LEAF_BIT == 0 {
                i = self.step::<CAT, NAN>(i, rows, row);
            }
            *o = i & !LEAF_BIT;
        }
    }

    /// The first value of leaf node `leaf` (the only one for single-output regression trees).
    #[inline(always)]
    pub(crate) fn value(&self, leaf: u32) -> f64 {
        self.nodes[leaf as usize].threshold
    }

    /// The value vector of leaf node `leaf`.
    #[inline(always)]
    pub(crate) fn values(&self, leaf: u32) -> &[f64] {
        let ord = (self.nodes[leaf as usize].meta & ORDINAL) as usize;
        &self.values[ord * self.width..(ord + 1) * self.width]
    }
}

/// Runs `visit(tree_index, first_row, tree, leaves)` for every tree over blocks of a row-major batch
/// (`nf` columns): `leaves[i]` is the leaf node of row `first_row + i`. Inside a block all trees are
/// visited in order, so for each row the trees come in ensemble order (the order scikit-learn
/// accumulates in). One stack buffer, no allocation.
#[inline]
pub(crate) fn for_each_leaf(
    trees: &[FlatTree],
    rows: &[f64],
    nf: usize,
    n_rows: usize,
    mut visit: impl FnMut(usize, usize, &FlatTree, &[u32]),
) {
    let mut leaves = [0u32; BLOCK_ROWS];
    let mut start = 0;
    while start < n_rows {
        let end = (start + BLOCK_ROWS).min(n_rows);
        let block = &rows[start * nf..end * nf];
        let nan = block.iter().any(|v| v.is_nan());
        let out = &mut leaves[..end - start];
        for (t, tree) in trees.iter().enumerate() {
            tree.leaves(block, nf, nan, out);
            visit(t, start, tree, out);
        }
        start = end;
    }
}

/// How an estimator validates non-finite input, as its `validate_data(..., ensure_all_finite=...)` call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finite {
    /// `ensure_all_finite=True`: NaN and infinity are errors.
    Require,
    /// `"allow-nan"`: NaN passes, infinity is an error.
    AllowNan,
    /// `False`: anything passes.
    Any,
}

/// Checks the feature count and returns the batch as scikit-learn's trees see it: each value rounded to float32
/// (sklearn validates X with `dtype=np.float32` and compares `float32(x) <= threshold` with a float64 threshold),
/// widened back to f64, row-major. One allocation per batch.
pub(crate) fn prepare_rows(
    x: &Matrix,
    n_features: usize,
    class: &str,
    finite: Finite,
) -> Result<Vec<f64>, SklearnError> {
    x.expect_features(n_features, class)?;
    let mut out = Vec::with_capacity(x.data().len());
    for &v in x.data() {
        let r = f64::from(v as f32);
        check_finite(r, finite, "float32")?;
        out.push(r);
    }
    Ok(out)
}

/// Checks a float64 batch for non-finite values as `validate_data` does.
pub(crate) fn check_batch(
    x: &Matrix,
    n_features: usize,
    class: &str,
    finite: Finite,
) -> Result<(), SklearnError> {
    x.expect_features(n_features, class)?;
    if finite != Finite::Any {
        for &v in x.data() {
            check_finite(v, finite, "float64")?;
        }
    }
    Ok(())
}

fn check_finite(v: f64, finite: Finite, dtype: &str) -> Result<(), SklearnError> {
    match finite {
        Finite::Any => Ok(()),
        _ if v.is_nan() && finite == Finite::Require => {
            Err(SklearnError::BadInput("Input X contains NaN.".into()))
        }
        _ if v.is_infinite() => Err(SklearnError::BadInput(format!(
            "Input X contains infinity or a value too large for dtype('{dtype}')."
        ))),
        _ => Ok(()),
    }
}

/// A `sklearn.tree._tree.Tree` as read from its pickled state.
#[derive(Debug, Clone)]
pub(crate) struct SkTree {
    /// `n_features` (constructor argument).
    pub(crate) n_features: usize,
    /// `n_outputs`.
    pub(crate) n_outputs: usize,
    /// `n_classes` per output (all 1 for regressors).
    pub(crate) n_classes: Vec<usize>,
    /// `max_n_classes`: the last axis of `values`.
    pub(crate) max_n_classes: usize,
    /// The node records.
    pub(crate) nodes: Vec<RawNode>,
    /// `n_node_samples` per node.
    pub(crate) n_node_samples: Vec<i64>,
    /// `values`, (node_count, n_outputs, max_n_classes) flattened.
    pub(crate) values: Vec<f64>,
}

impl SkTree {
    /// Reads the `tree_` attribute of a fitted sklearn tree estimator.
    pub(crate) fn from_estimator(est: &Object) -> Result<SkTree, SklearnError> {
        let class = est.class_name();
        let tree = crate::attrs::req(est, "tree_")?
            .as_object()
            .ok_or_else(|| SklearnError::bad_model(class, "`tree_` is not a Tree object"))?;
        SkTree::from_object(tree).map_err(|e| SklearnError::bad_model(class, format!("tree_: {e}")))
    }

    /// Reads a `Tree` object: args `(n_features, n_classes, n_outputs)`, state `{node_count, nodes, values}`.
    fn from_object(tree: &Object) -> Result<SkTree, String> {
        if tree.class_name() != "Tree" {
            return Err(format!(
                "expected sklearn.tree._tree.Tree, found {}",
                tree.class.dotted()
            ));
        }
        let arg = |i: usize| {
            tree.args
                .get(i)
                .ok_or_else(|| format!("missing constructor argument {i}"))
        };
        let n_features = arg(0)?
            .as_i64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| (1..=crate::guard::MAX_FEATURES).contains(&n))
            .ok_or("n_features is not a count between 1 and 2^24")?;
        let n_classes: Vec<usize> = match arg(1)? {
            Value::Array(a) => a
                .to_i64()
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|n| usize::try_from(n).ok().filter(|&n| n > 0))
                .collect::<Option<_>>()
                .ok_or("n_classes holds a count that is not positive")?,
            other => {
                let n = other.as_i64().ok_or("n_classes is not a number")?;
                vec![
                    usize::try_from(n)
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("n_classes is {n}; it must be positive"))?,
                ]
            }
        };
        let n_outputs = arg(2)?
            .as_i64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or("bad n_outputs")?;
        if n_outputs == 0 || n_classes.len() != n_outputs {
            return Err(format!(
                "n_outputs {n_outputs} does not match n_classes {n_classes:?}"
            ));
        }
        let max_n_classes = n_classes.iter().copied().max().unwrap_or(1);
        let nodes = tree
            .get("nodes")
            .and_then(Value::as_array)
            .ok_or("missing `nodes` array")?;
        let field_i = |name: &str| {
            nodes
                .field_i64(name)
                .map_err(|e| format!("nodes.{name}: {e}"))
        };
        let left = field_i("left_child")?;
        let right = field_i("right_child")?;
        let feature = field_i("feature")?;
        let threshold = nodes
            .field_f64("threshold")
            .map_err(|e| format!("nodes.threshold: {e}"))?;
        // Trees pickled before sklearn 1.3 have no `missing_go_to_left`; they never saw NaN, and sklearn reads
        // them with the field zeroed (NaN goes right).
        let missing = nodes
            .field_i64("missing_go_to_left")
            .unwrap_or_else(|_| vec![0; left.len()]);
        let n_node_samples = field_i("n_node_samples")?;
        let count = left.len();
        if let Some(nc) = tree.get("node_count").and_then(Value::as_i64)
            && usize::try_from(nc).ok() != Some(count)
        {
            return Err(format!("node_count {nc} but {count} node records"));
        }
        let values_arr = tree
            .get("values")
            .and_then(Value::as_array)
            .ok_or("missing `values` array")?;
        let values = values_arr.to_f64().map_err(|e| format!("values: {e}"))?;
        if values_arr.shape != [count, n_outputs, max_n_classes] {
            return Err(format!(
                "values has shape {:?}, expected [{count}, {n_outputs}, {max_n_classes}]",
                values_arr.shape
            ));
        }
        let nodes = (0..count)
            .map(|i| RawNode {
                left: left[i],
                right: right[i],
                feature: feature[i],
                threshold: threshold[i],
                missing_left: missing[i] != 0,
                // sklearn's TREE_LEAF: a leaf has left_child == -1.
                is_leaf: left[i] == -1,
                categories: None,
            })
            .collect();
        Ok(SkTree {
            n_features,
            n_outputs,
            n_classes,
            max_n_classes,
            nodes,
            n_node_samples,
            values,
        })
    }

    /// The `values` entries of node `i`, output `k`: `max_n_classes` numbers.
    pub(crate) fn node_values(&self, i: usize, k: usize) -> &[f64] {
        let stride = self.n_outputs * self.max_n_classes;
        let start = i * stride + k * self.max_n_classes;
        &self.values[start..start + self.max_n_classes]
    }

    /// The tree as a [`FlatTree`] whose leaves carry `values[leaf, :, 0]` (regression: one value per output).
    pub(crate) fn regression(&self, feature_map: Option<&[usize]>) -> Result<FlatTree, String> {
        FlatTree::new(
            &self.nodes,
            self.n_features,
            feature_map,
            self.n_outputs,
            |i, out| {
                for k in 0..self.n_outputs {
                    out.push(self.node_values(i, k)[0]);
                }
                Ok(())
            },
        )
    }

    /// The tree as a [`FlatTree`] whose leaves carry the class probabilities of a single-output classifier:
    /// `values[leaf, 0, :n_classes]` as stored. Since sklearn 1.4 these are already fractions and `predict_proba`
    /// returns them unnormalised; trees from older releases stored weighted counts, which are normalised here
    /// (sum 0 → left as is), as those releases' `predict_proba` did.
    pub(crate) fn classification(&self) -> Result<FlatTree, String> {
        if self.n_outputs != 1 {
            return Err(format!(
                "{} outputs; only single-output classifiers are supported",
                self.n_outputs
            ));
        }
        let n = self.n_classes[0];
        FlatTree::new(&self.nodes, self.n_features, None, n, |i, out| {
            let v = &self.node_values(i, 0)[..n];
            let sum: f64 = v.iter().sum();
            if (sum - 1.0).abs() <= 1e-6 || sum == 0.0 {
                out.extend_from_slice(v);
            } else {
                out.extend(v.iter().map(|x| x / sum));
            }
            Ok(())
        })
    }
}

pub(crate) use crate::math::{argmax, expit, softmax_in_place};

/// Row-wise argmax of a row-major `rows × width` buffer, mapped to labels.
pub(crate) fn argmax_labels(data: &[f64], width: usize, classes: &Labels) -> Labels {
    let idx: Vec<usize> = data.chunks_exact(width.max(1)).map(argmax).collect();
    classes.take(&idx)
}

/// scipy's `logit`: `log(p/(1-p))` away from ½, `log1p(2(p-½)) - log1p(-2(p-½))` near it (more precise there).
pub(crate) fn logit(p: f64) -> f64 {
    if !(0.3..=0.65).contains(&p) {
        (p / (1.0 - p)).ln()
    } else {
        let s = 2.0 * (p - 0.5);
        s.ln_1p() - (-s).ln_1p()
    }
}

/// Labels in `classes` order for a classifier's `classes_` (any dtype).
pub(crate) fn classes(obj: &Object) -> Result<Labels, SklearnError> {
    let labels = crate::attrs::labels(obj, "classes_")?;
    if labels.is_empty() {
        return Err(SklearnError::bad_model(
            obj.class_name(),
            "`classes_` is empty",
        ));
    }
    Ok(labels)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn stump() -> Vec<RawNode> {
        vec![
            RawNode {
                left: 1,
                right: 2,
                feature: 0,
                threshold: 0.5,
                missing_left: true,
                is_leaf: false,
                categories: None,
            },
            RawNode {
                left: -1,
                right: -1,
                feature: -2,
                threshold: -2.0,
                missing_left: false,
                is_leaf: true,
                categories: None,
            },
            RawNode {
                left: -1,
                right: -1,
                feature: -2,
                threshold: -2.0,
                missing_left: false,
                is_leaf: true,
                categories: None,
            },
        ]
    }

    #[test]
    fn walks_and_routes_nan() {
        let t = FlatTree::new(&stump(), 1, None, 1, |i, out| {
            out.push(i as f64);
            Ok(())
        })
        .unwrap();
        assert_eq!(t.value(t.leaf(&[0.5])), 1.0);
        assert_eq!(t.value(t.leaf(&[0.6])), 2.0);
        assert_eq!(t.value(t.leaf(&[f64::NAN])), 1.0);
        assert_eq!(t.values(t.leaf(&[f64::INFINITY])), &[2.0]);
        let rows: Vec<f64> = (0..21)
            .map(|i| {
                if i % 3 == 0 {
                    f64::NAN
                } else {
                    i as f64 / 20.0
                }
            })
            .collect();
        let mut got = Vec::new();
        for_each_leaf(
            std::slice::from_ref(&t),
            &rows,
            1,
            rows.len(),
            |_, start, tree, leaves| {
                for (i, &leaf) in leaves.iter().enumerate() {
                    got.push((start + i, tree.value(leaf)));
                }
            },
        );
        let want: Vec<(usize, f64)> = rows
            .iter()
            .enumerate()
            .map(|(r, &x)| (r, t.value(t.leaf(&[x]))))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn categorical_split() {
        let mut nodes = stump();
        // Codes 1 and 40 go left; 0..=3 and 40 are known; missing goes left.
        let mut known = [0u32; 8];
        known[0] = 0b1111;
        known[1] = 1 << 8;
        let mut left = [0u32; 8];
        left[0] = 0b10;
        left[1] = 1 << 8;
        nodes[0].categories = Some(CatSplit { left, known });
        let t = FlatTree::new(&nodes, 1, None, 1, |i, out| {
            out.push(i as f64);
            Ok(())
        })
        .unwrap();
        let go = |x: f64| t.value(t.leaf(&[x]));
        assert_eq!(go(1.0), 1.0);
        assert_eq!(go(40.0), 1.0);
        assert_eq!(go(1.7), 1.0, "codes truncate");
        assert_eq!(go(0.0), 2.0);
        assert_eq!(go(3.0), 2.0);
        assert_eq!(go(5.0), 1.0, "unknown code counts as missing");
        assert_eq!(go(-1.0), 1.0);
        assert_eq!(go(f64::NAN), 1.0);
        assert_eq!(go(1e9), 1.0);
        let mut rows = vec![0.0, 1.0, 3.0, 5.0, 40.0, f64::NAN, 2.0, 3.0, 1.0];
        rows.extend_from_within(..);
        let mut got = Vec::new();
        for_each_leaf(
            std::slice::from_ref(&t),
            &rows,
            1,
            rows.len(),
            |_, _, tree, leaves| {
                got.extend(leaves.iter().map(|&leaf| tree.value(leaf)));
            },
        );
        let want: Vec<f64> = rows.iter().map(|&x| go(x)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn rejects_cycles_and_bad_features() {
        let mut cyc = stump();
        cyc[0].left = 0;
        assert!(
            FlatTree::new(&cyc, 1, None, 1, |_, o| {
                o.push(0.0);
                Ok(())
            })
            .is_err()
        );
        let mut far = stump();
        far[0].right = 7;
        assert!(
            FlatTree::new(&far, 1, None, 1, |_, o| {
                o.push(0.0);
                Ok(())
            })
            .is_err()
        );
        assert!(
            FlatTree::new(&stump(), 0, None, 1, |_, o| {
                o.push(0.0);
                Ok(())
            })
            .is_err()
        );
        assert!(
            FlatTree::new(&stump(), 1, None, 2, |_, o| {
                o.push(0.0);
                Ok(())
            })
            .is_err()
        );
    }

    #[test]
    fn links() {
        assert!((logit(expit(0.3)) - 0.3).abs() < 1e-15);
        assert!((logit(0.9) - 9f64.ln()).abs() < 1e-15);
        let mut r = [1.0, 2.0, 3.0];
        softmax_in_place(&mut r);
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    }

    /// Batches no caller should send: each must give an answer or a `BadInput`, never a panic, and a wrong
    /// feature count must be `BadInput`.
    fn hostile_batches(
        name: &str,
        est: &dyn crate::Estimator,
        cols: usize,
        failures: &mut Vec<String>,
    ) {
        let methods: Vec<_> = crate::Method::ALL
            .into_iter()
            .filter(|&m| est.supports(m))
            .collect();
        let fill = |rows: usize, v: f64| Matrix::new(rows, cols, vec![v; rows * cols]).unwrap();
        for &m in &methods {
            for bad in [
                Matrix::zeros(2, cols + 1),
                Matrix::zeros(1, cols.saturating_sub(1)),
            ] {
                if !matches!(est.call(m, &bad), Err(SklearnError::BadInput(_))) {
                    failures.push(format!("{name}.{}: wrong feature count accepted", m.name()));
                }
            }
            match est.call(m, &fill(0, 0.0)) {
                Ok(crate::Output::Matrix(out)) if out.rows() == 0 => {}
                Ok(crate::Output::Column(v)) if v.is_empty() => {}
                Ok(crate::Output::Labels(l)) if l.is_empty() => {}
                other => failures.push(format!("{name}.{}: empty batch gave {other:?}", m.name())),
            }
            for v in [
                f64::NAN,
                f64::INFINITY,
                -f64::INFINITY,
                1e300,
                -1e300,
                f64::MIN_POSITIVE,
            ] {
                match est.call(m, &fill(130, v)) {
                    Ok(_) | Err(SklearnError::BadInput(_)) => {}
                    Err(e) => failures.push(format!("{name}.{}({v}): {e}", m.name())),
                }
            }
        }
    }

    /// The tree families' fixture cases, including those whose rows hold NaN: Python's `json` writes NaN as a bare
    /// `NaN` token, which `tests/conformance.rs` cannot parse (it silently skips such cases), so they are checked
    /// here with `NaN` read as NaN.
    #[test]
    fn tree_fixture_cases_with_nan_rows() {
        use serde_json::Value as Json;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cases");
        let prefixes = ["tree-", "forest-", "gb-", "hgb-", "ada-", "iforest-"];
        let mut dirs: Vec<_> = std::fs::read_dir(&root)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        dirs.sort();
        let mut failures = Vec::new();
        let mut checked = 0;
        for dir in dirs {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !prefixes.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(dir.join("case.json")) else {
                continue;
            };
            let case: Json = serde_json::from_str(&text.replace("NaN", "null")).unwrap();
            checked += 1;
            let est = match crate::load_file(&dir.join(case["artifact"].as_str().unwrap())) {
                Ok(e) => e,
                Err(e) => {
                    failures.push(format!("{name}: load: {e}"));
                    continue;
                }
            };
            let rows: Vec<Vec<f64>> = case["X"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap_or(f64::NAN))
                        .collect()
                })
                .collect();
            let x = Matrix::new(rows.len(), rows[0].len(), rows.concat()).unwrap();
            hostile_batches(&name, est.as_ref(), x.cols(), &mut failures);
            let (atol, rtol) = (
                case["atol"].as_f64().unwrap_or(1e-9),
                case["rtol"].as_f64().unwrap_or(1e-9),
            );
            for (method, want) in case["outputs"].as_object().unwrap() {
                let Some(m) = crate::Method::from_name(method) else {
                    continue;
                };
                let got: Vec<Json> = match est.call(m, &x) {
                    Err(e) => {
                        failures.push(format!("{name}.{method}: {e}"));
                        continue;
                    }
                    Ok(crate::Output::Labels(Labels::Int(v))) => {
                        v.iter().map(|&x| Json::from(x)).collect()
                    }
                    Ok(crate::Output::Labels(Labels::Float(v)) | crate::Output::Column(v)) => {
                        v.iter().map(|&x| Json::from(x)).collect()
                    }
                    Ok(crate::Output::Labels(Labels::Str(v))) => {
                        v.iter().map(|x| Json::from(x.as_str())).collect()
                    }
                    Ok(crate::Output::Matrix(m)) => {
                        m.data().iter().map(|&x| Json::from(x)).collect()
                    }
                };
                let want: Vec<&Json> = want
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|v| match v {
                        Json::Array(inner) => inner.iter().collect::<Vec<_>>(),
                        other => vec![other],
                    })
                    .collect();
                if got.len() != want.len() {
                    failures.push(format!(
                        "{name}.{method}: {} values, want {}",
                        got.len(),
                        want.len()
                    ));
                    continue;
                }
                for (i, (g, w)) in got.iter().zip(want).enumerate() {
                    let ok = match (g.as_f64(), w.as_f64()) {
                        (Some(g), Some(w)) => (g - w).abs() <= atol + rtol * w.abs(),
                        _ => g == w,
                    };
                    if !ok {
                        failures.push(format!("{name}.{method}[{i}]: got {g}, want {w}"));
                        break;
                    }
                }
            }
        }
        assert!(
            checked > 0,
            "no tree fixture cases under {}",
            root.display()
        );
        assert!(
            failures.is_empty(),
            "{} failures in {checked} cases:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
