//! XGBoost's legacy binary model format (`save_model` to a name other than `.json`/`.ubj` up to 1.7, and
//! `save_raw()` before 2.0): little-endian C structs written back to back.
//!
//! Layout (from dmlc/xgboost `src/learner.cc` `LearnerModelParamLegacy`, `src/gbm/gbtree_model.cc`,
//! `include/xgboost/tree_model.h`, checked byte by byte against files written by XGBoost 1.7.6):
//! optional `binf` magic; learner parameters (136 bytes: base_score f32, num_feature u32, num_class i32,
//! contain_extra_attrs i32, contain_eval_metrics i32, major u32, minor u32, num_target u32, boost_from_average i32,
//! 25 reserved); objective and booster names (u64 length + bytes); the booster; then, when flagged, the attributes
//! (u64 count of string pairs; the objective's configuration JSON is the `objective` one).
//! gbtree/dart: 160-byte model parameters (num_trees i32, num_parallel_tree i32, …); per tree 148-byte TreeParam
//! (num_roots, num_nodes, num_deleted, max_depth, num_feature, size_leaf_vector, 31 reserved), `num_nodes` 20-byte
//! nodes (parent i32, left i32, right i32, split index u32 whose top bit is default-left, threshold-or-leaf f32),
//! `num_nodes` 16-byte statistics, and a float vector when size_leaf_vector ≠ 0; then tree_info (i32 per tree);
//! dart adds its weight_drop float vector. gblinear: 136-byte parameters then the weight float vector.

use crate::{BoosterKind, Parts, TreeParts, XgbError};

fn bad(msg: impl Into<String>) -> XgbError {
    XgbError::Format(format!("legacy binary: {}", msg.into()))
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.b.len() - self.i
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], XgbError> {
        if n > self.left() {
            return Err(bad(format!(
                "{what}: {n} bytes needed at offset {}, {} left (truncated file?)",
                self.i,
                self.left()
            )));
        }
        let s = &self.b[self.i..self.i + n];
        self.i += n;
        Ok(s)
    }

    fn i32s(&mut self, n: usize, what: &str) -> Result<Vec<i32>, XgbError> {
        let bytes = n
            .checked_mul(4)
            .ok_or_else(|| bad(format!("{what}: count {n} overflows")))?;
        Ok(self
            .take(bytes, what)?
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn u64(&mut self, what: &str) -> Result<u64, XgbError> {
        let s = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    /// A length-prefixed count whose items take `item` bytes each, checked against the bytes left.
    fn count(&mut self, item: usize, what: &str) -> Result<usize, XgbError> {
        let n = self.u64(what)?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n.checked_mul(item).is_some_and(|b| b <= self.left()))
            .ok_or_else(|| {
                bad(format!(
                    "{what}: {n} items declared, only {} bytes left",
                    self.left()
                ))
            })
    }

    fn string(&mut self, what: &str) -> Result<String, XgbError> {
        let n = self.count(1, what)?;
        let s = self.take(n, what)?;
        String::from_utf8(s.to_vec()).map_err(|_| bad(format!("{what} is not UTF-8")))
    }

    fn f32_vec(&mut self, what: &str) -> Result<Vec<f64>, XgbError> {
        let n = self.count(4, what)?;
        Ok(self
            .take(n * 4, what)?
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect())
    }
}

fn nonneg(v: i32, what: &str) -> Result<usize, XgbError> {
    usize::try_from(v).map_err(|_| bad(format!("{what} is negative ({v})")))
}

/// Reads a legacy binary model.
pub(crate) fn read(bytes: &[u8]) -> Result<Parts, XgbError> {
    let mut r = Reader { b: bytes, i: 0 };
    if bytes.starts_with(b"binf") {
        r.i = 4;
    }
    let mp = r.i32s(34, "learner parameters")?;
    let base_score = f64::from(f32::from_bits(mp[0] as u32));
    let num_feature = mp[1] as u32 as usize;
    let num_class = nonneg(mp[2], "num_class")?;
    let extra_attrs = mp[3] != 0;
    let num_target = (mp[7] as u32 as usize).max(1);
    let objective = r.string("objective name")?;
    let booster = r.string("booster name")?;
    let mut parts = Parts {
        objective,
        base_score: vec![base_score],
        num_feature,
        num_class,
        num_target,
        ..Parts::default()
    };
    match booster.as_str() {
        "gbtree" | "dart" => {
            let gp = r.i32s(40, "gbtree parameters")?;
            let num_trees = nonneg(gp[0], "num_trees")?;
            parts.num_parallel_tree = nonneg(gp[1], "num_parallel_tree")?.max(1);
            // Each tree takes at least 148 + 36 bytes.
            if num_trees.saturating_mul(184) > r.left() {
                return Err(bad(format!(
                    "{num_trees} trees declared, only {} bytes left",
                    r.left()
                )));
            }
            for t in 0..num_trees {
                parts.trees.push(read_tree(&mut r, t)?);
            }
            let info = r.i32s(num_trees, "tree_info")?;
            parts.tree_info = info
                .into_iter()
                .map(|g| nonneg(g, "tree_info"))
                .collect::<Result<_, _>>()?;
            if booster == "dart" {
                parts.kind = BoosterKind::Dart;
                if num_trees > 0 {
                    parts.weight_drop = Some(r.f32_vec("weight_drop")?);
                }
            }
        }
        "gblinear" => {
            r.take(136, "gblinear parameters")?;
            parts.kind = BoosterKind::GbLinear;
            parts.linear_weights = r.f32_vec("gblinear weights")?;
        }
        other => return Err(bad(format!("unknown booster {other:?}"))),
    }
    if extra_attrs {
        let n = r.count(16, "attributes")?;
        for _ in 0..n {
            let k = r.string("attribute name")?;
            let v = r.string("attribute value")?;
            parts.attributes.push((k, v));
        }
    }
    Ok(parts)
}

fn read_tree(r: &mut Reader<'_>, t: usize) -> Result<TreeParts, XgbError> {
    let what = format!("tree {t}");
    let tp = r.i32s(37, &what)?;
    let n = nonneg(tp[1], "num_nodes")?;
    if n == 0 || n.saturating_mul(36) > r.left() {
        return Err(bad(format!(
            "{what}: {n} nodes declared, {} bytes left",
            r.left()
        )));
    }
    let size_leaf_vector = nonneg(tp[5], "size_leaf_vector")?;
    let raw = r.take(n * 20, &what)?;
    let mut tree = TreeParts::with_capacity(n);
    for c in raw.chunks_exact(20) {
        let w = |k: usize| [c[4 * k], c[4 * k + 1], c[4 * k + 2], c[4 * k + 3]];
        let left = i32::from_le_bytes(w(1));
        let right = i32::from_le_bytes(w(2));
        let sindex = u32::from_le_bytes(w(3));
        let value = f32::from_le_bytes(w(4));
        tree.left.push(i64::from(left));
        tree.right.push(i64::from(right));
        tree.feature.push(i64::from(sindex & 0x7fff_ffff));
        tree.default_left.push(sindex >> 31 == 1);
        tree.value.push(f64::from(value));
        tree.categorical.push(None);
    }
    r.take(n * 16, &what)?;
    if size_leaf_vector != 0 {
        let v = r.f32_vec(&what)?;
        if size_leaf_vector > 1 {
            return Err(bad(format!(
                "{what}: vector leaves (size_leaf_vector {size_leaf_vector}) are not defined in this format"
            )));
        }
        drop(v);
    }
    Ok(tree)
}
