//! A flat tree-ensemble evaluator that knows no training library.
//!
//! A format reader (XGBoost, LightGBM, scikit-learn, …) describes each tree as a list of [`RawNode`]s in whatever
//! order its file stores them, says how its library compares ([`Rules`]), and gets back a validated [`Ensemble`]
//! that evaluates batches in row blocks into a caller-provided output buffer (margins). Validation happens once, at
//! construction: every walk from the root is proved to end at a leaf (child indices in range, no node reachable
//! twice, so no cycle and no shared subtree), features are below the declared width, thresholds are not NaN, leaf
//! widths and output slots fit. After that evaluation never fails and never panics.
//!
//! Layout: reachable nodes are renumbered depth-first from the root into 24-byte records (threshold, both children,
//! feature, flags), so every child index is greater than its parent's. Leaves point to themselves, so several rows
//! can walk one tree in lockstep ([`LANES`] at a time) until all have arrived; each tree is walked for a whole block
//! of rows before the next tree, and for every row the trees are accumulated in ensemble order (what keeps float32
//! sums bit-identical to libraries that accumulate in that order).
//!
//! Comparisons: every numeric split is stored as "go left iff `x <= threshold`" on an `f64`. A library that
//! compares `float32(x) < float32(t)` (XGBoost) is served exactly by rounding inputs to float32 ([`Rules::round_inputs_to_f32`])
//! and storing the largest float32 below `t` as the threshold ([`Comparison::LessF32`]); LightGBM's
//! `x <= t` in float64 is stored as is.

use std::ops::Range;

/// Most rows evaluated per pass over the trees: each tree is walked for the whole block before the next (a tree of
/// a few hundred nodes stays in L1 meanwhile). A block holds at most [`BLOCK_BYTES`] of loaded values: fewer rows
/// when rows are wide.
pub const BLOCK_ROWS: usize = 512;

/// Loaded bytes of one row block (every row's [`VARIANTS`] copies, float64): as many rows as fit stay in L2 while
/// each tree is walked for all of them (512 rows of 20 features). Smaller blocks re-read deep trees (a random
/// forest's) from memory once per block.
pub const BLOCK_BYTES: usize = 320 * 1024;

/// Loaded bytes of one row block when every node of the ensemble fits in [`SMALL_NODES_BYTES`]: the block stays
/// in L1 while each tree is walked for it, the trees (re-read once per block) in L2.
pub const SMALL_BLOCK_BYTES: usize = 16 * 1024;

/// Node bytes up to which an ensemble is walked in blocks of [`SMALL_BLOCK_BYTES`].
pub const SMALL_NODES_BYTES: usize = 512 * 1024;

/// Batches of fewer rows are walked row by row, [`LANES`] trees at a time in lockstep: one row alone gives the
/// row-lockstep walk no independent walks to overlap, but the trees of one row are independent of each other.
pub const PER_ROW_BELOW: usize = 2 * LANES;

/// Rows walked in lockstep through one tree: independent walks overlap their memory latency and the comparison
/// selects the next node by index instead of by a hard-to-predict branch.
pub const LANES: usize = 8;

/// Largest node count of one tree (the flag bits of a node share its 32-bit word with the leaf ordinal).
pub const MAX_NODES: usize = ORDINAL as usize;

/// A numeric split that reads the raw value and decides in [`Tree::decide`] (its NaN rule cannot be served by a
/// substituted value: a `+inf` threshold whose NaN goes right).
const RAW_NAN: u32 = 1 << 31;
/// Node flags that send a split to [`Tree::decide`].
const DECIDE: u32 = CATEGORICAL | ZERO_MISSING | RAW_NAN;

/// Each row is loaded in [`VARIANTS`] copies, one per NaN rule, so that a numeric split is a single comparison
/// whatever its missing-value rule: the split reads the copy in which NaN was replaced by a value that goes its
/// default way (or by 0.0 where NaN reads as zero). The raw copy (NaN kept) serves [`Tree::decide`].
const VARIANTS: usize = 4;
const VAR_RAW: usize = 0;
/// NaN replaced by `+inf`: goes right at every finite threshold (default right).
const VAR_NAN_RIGHT: usize = 1;
/// NaN replaced by `-inf`: goes left at every threshold (default left).
const VAR_NAN_LEFT: usize = 2;
/// NaN replaced by 0.0 (LightGBM `missing_type` None).
const VAR_NAN_ZERO: usize = 3;
const MISSING_LEFT: u32 = 1 << 30;
const CATEGORICAL: u32 = 1 << 29;
/// LightGBM `missing_type` Zero: a value within ±[`ZERO_THRESHOLD`] (and NaN, read as 0) takes the default side.
const ZERO_MISSING: u32 = 1 << 28;
/// NaN is read as 0.0 and compared (LightGBM `missing_type` None and Zero).
const NAN_AS_ZERO: u32 = 1 << 27;
/// Categorical: members of the set go left (LightGBM); without it they go right (XGBoost).
const CAT_IN_LEFT: u32 = 1 << 26;
const ORDINAL: u32 = (1 << 26) - 1;

/// LightGBM's `kZeroThreshold` (the float literal `1e-35f`, widened).
pub const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// Largest category code a bitset may hold (XGBoost's `kMaxCat`, 2^24: float32 represents every integer below it).
pub const MAX_CATEGORY: u32 = 1 << 24;

/// Why an ensemble was refused. Messages name the tree and node and the values that matter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The structure of one tree is invalid.
    #[error("tree {tree}: {msg}")]
    Tree {
        /// Index of the tree in the ensemble.
        tree: usize,
        /// What is wrong.
        msg: String,
    },
    /// The ensemble as a whole is inconsistent (sizes, weights, groups).
    #[error("{0}")]
    Ensemble(String),
}

/// How the source library compares a feature value with a numeric split's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Left iff `x <= t` in float64 (LightGBM, scikit-learn).
    LessEqual,
    /// Left iff `float32(x) < float32(t)` (XGBoost). Requires [`Rules::round_inputs_to_f32`]; thresholds given to
    /// [`RawNode`] must be float32 values (they are rounded to float32 if not).
    LessF32,
}

/// How leaf values are summed into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accumulate {
    /// In float64 (LightGBM, scikit-learn).
    F64,
    /// In float32, `out = f32(out) + f32(leaf) * f32(weight)` tree by tree (XGBoost's prediction buffer is float).
    F32,
}

/// The library-wide evaluation rules of an ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Numeric split comparison.
    pub comparison: Comparison,
    /// Round every input value to float32 first (XGBoost and scikit-learn trees read float32 data).
    pub round_inputs_to_f32: bool,
    /// Leaf accumulation precision.
    pub accumulate: Accumulate,
    /// Categorical codes: `true` when any negative value is an invalid category (XGBoost's `cat < 0`); `false`
    /// when the value is truncated to an integer first and only a negative integer is invalid (LightGBM's
    /// `static_cast<int>(x) < 0`, so -0.5 reads as category 0).
    pub negative_fraction_invalid: bool,
}

impl Rules {
    /// XGBoost's rules: float32 data, `x < t`, float32 sums, any negative category invalid.
    pub const XGBOOST: Rules = Rules {
        comparison: Comparison::LessF32,
        round_inputs_to_f32: true,
        accumulate: Accumulate::F32,
        negative_fraction_invalid: true,
    };
    /// LightGBM's rules: float64 data, `x <= t`, float64 sums, category = `int(x)`.
    pub const LIGHTGBM: Rules = Rules {
        comparison: Comparison::LessEqual,
        round_inputs_to_f32: false,
        accumulate: Accumulate::F64,
        negative_fraction_invalid: false,
    };
}

/// What a numeric split does with a missing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// NaN takes the default side (XGBoost; LightGBM `missing_type` NaN; scikit-learn).
    NanDefault,
    /// NaN is read as 0.0 and compared (LightGBM `missing_type` None).
    NanAsZero,
    /// NaN is read as 0.0; a value within ±[`ZERO_THRESHOLD`] takes the default side (LightGBM `missing_type` Zero).
    Zero,
}

/// A categorical split: a set of category codes as a bitset, least significant bit first (`code` is in the set
/// iff `bits[code / 32] >> (code % 32) & 1 == 1`). A NaN value takes the node's default side; an invalid code
/// (negative, at least [`MAX_CATEGORY`], or beyond the bitset) counts as not in the set.
///
/// With `known`, the split tells three cases apart instead of two: a member goes to the members' side, a code in
/// `known` that is not a member goes to the other side, and any other code (unseen in training, invalid or beyond
/// both sets) takes the node's default side, as a missing value does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategorySplit {
    /// The set.
    pub bits: Vec<u32>,
    /// Whether members go left (LightGBM) or right (XGBoost).
    pub members_go_left: bool,
    /// The codes the split knows, in the same bitset layout; `None` when every non-member goes to the
    /// non-members' side.
    pub known: Option<Vec<u32>>,
}

impl CategorySplit {
    /// A set from a list of codes (each below [`MAX_CATEGORY`]).
    pub fn from_codes(codes: &[u32], members_go_left: bool) -> Result<CategorySplit, String> {
        let mut bits = Vec::new();
        for &c in codes {
            if c >= MAX_CATEGORY {
                return Err(format!(
                    "category {c} is out of range (max {})",
                    MAX_CATEGORY - 1
                ));
            }
            let w = (c / 32) as usize;
            if bits.len() <= w {
                bits.resize(w + 1, 0);
            }
            bits[w] |= 1 << (c % 32);
        }
        Ok(CategorySplit {
            bits,
            members_go_left,
            known: None,
        })
    }
}

/// One node as a format reads it, before validation. Indices are positions in the tree's node list; the root is
/// node 0.
#[derive(Debug, Clone, PartialEq)]
pub enum RawNode {
    /// A split.
    Split {
        /// Column of the input row.
        feature: usize,
        /// Numeric threshold (see [`Comparison`]); ignored for categorical splits.
        threshold: f64,
        /// Left child node index.
        left: usize,
        /// Right child node index.
        right: usize,
        /// Where a missing value goes (the default direction).
        default_left: bool,
        /// Missing-value rule of a numeric split.
        missing: Missing,
        /// A categorical split's set, instead of the threshold.
        categories: Option<CategorySplit>,
    },
    /// A leaf: its index into the tree's leaf values (`leaf * width ..`).
    Leaf(usize),
}

/// One tree before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTree {
    /// Nodes, root first.
    pub nodes: Vec<RawNode>,
    /// Leaf values, `width` per leaf, leaf-major.
    pub leaf_values: Vec<f64>,
    /// Values per leaf: 1 for a scalar tree, more for vector leaves (multi-target, multi-class per tree).
    pub width: usize,
    /// First output column the leaf values are added to (the tree's group / class).
    pub output: usize,
    /// Factor applied to the leaf values (DART's tree weights; 1.0 otherwise).
    pub weight: f64,
}

/// One node, 24 bytes. A leaf points to itself on both sides and splits on feature 0, so stepping from a leaf is a
/// no-op; its `threshold` holds the leaf's first value.
#[derive(Debug, Clone, Copy)]
struct Node {
    threshold: f64,
    /// `[left, right]`, indexed by "goes right"; a leaf's are itself.
    children: [u32; 2],
    /// Column in the loaded row: `variant × n_features + feature` (see [`VARIANTS`]).
    feature: u32,
    /// Flags, and the ordinal (of the leaf value vector, or of the category set).
    meta: u32,
}

/// Deepest tree walked in the complete layout ([`Complete`]).
pub const COMPLETE_MAX_DEPTH: u32 = 8;

/// A tree without [`Tree::decide`] splits and at most [`COMPLETE_MAX_DEPTH`] levels (XGBoost's default trees have
/// 6), stored as a complete binary tree of `depth` levels: node `p`'s children are `2p + 1` and `2p + 2`, so a step
/// computes the next index instead of loading it, and every walk takes exactly `depth` steps (no arrival test). A
/// leaf above the last level becomes splits that always go left (threshold `+inf`: no value, NaN included, is
/// above it) down to the last level. Kept only where the padding at most quadruples the tree.
#[derive(Debug, Clone, Copy)]
struct Complete {
    depth: u32,
    /// The tree's `2^depth` entries in both of the ensemble's complete arrays (they grow in step):
    /// `Ensemble::complete_nodes[base..]` holds its `2^depth - 1` splits and a spare, and
    /// `Ensemble::complete_leaves[base..]` its `2^depth` last-level slots, each the node index of the leaf it
    /// stands for, as the general walk would reach it.
    base: u32,
}

/// A split of a [`Complete`] tree: go right iff `x > threshold`, `x` read at column `lane_column / LANES` of the
/// loaded row (as [`Node::feature`]), premultiplied for the row groups [`Rows::load_lanes`] writes.
#[derive(Debug, Clone, Copy)]
struct CompleteNode {
    threshold: f64,
    lane_column: u32,
}

/// A validated tree in evaluation layout. Its nodes live in the ensemble's one node array (see
/// [`Ensemble::new`]), at `root..root + n_nodes`, child indices absolute.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Index of the root in the ensemble's node array.
    root: u32,
    n_nodes: u32,
    /// `width` values per leaf ordinal.
    values: Vec<f64>,
    width: usize,
    output: usize,
    weight: f64,
    /// Category sets per categorical node ordinal, as ranges of `cat_bits`.
    cat_sets: Vec<CatSet>,
    cat_bits: Vec<u32>,
    /// Whether a node needs the general decision for non-NaN values too (categorical, zero-as-missing).
    special: bool,
    /// Internal nodes in the tree. In the ensemble's array they sit at `root..root + n_internal` (in the region of
    /// every tree's internal nodes) and the leaves at `leaf_base..` (in the region after it).
    n_internal: u32,
    /// Index of the tree's first leaf in the ensemble's node array.
    leaf_base: u32,
    /// The tree padded to a complete binary tree, for row blocks (see [`Complete`]).
    complete: Option<Complete>,
    /// Depth of the shallowest leaf: every walk takes at least this many steps, so the lockstep loop runs them
    /// without checking for arrival (all of them for a balanced tree).
    min_leaf_depth: u32,
    /// Depth of the deepest leaf: no walk takes more steps (equal to `min_leaf_depth` for a balanced tree, whose
    /// walks are then never checked for arrival).
    max_leaf_depth: u32,
    /// The node's index in the [`RawTree`], per flat node.
    raw_ids: Vec<u32>,
}

impl Tree {
    /// Nodes after validation (reachable nodes only).
    pub fn n_nodes(&self) -> usize {
        self.n_nodes as usize
    }

    /// Values per leaf.
    pub fn width(&self) -> usize {
        self.width
    }

    /// First output column.
    pub fn output(&self) -> usize {
        self.output
    }

    /// Tree weight.
    pub fn weight(&self) -> f64 {
        self.weight
    }

    /// Validates `raw` into a tree and its nodes, numbered from 0 ([`Ensemble::new`] moves them into its array).
    fn build(raw: &RawTree, n_features: usize, rules: &Rules) -> Result<(Tree, Vec<Node>), String> {
        let n = raw.nodes.len();
        if n == 0 {
            return Err("has no nodes".into());
        }
        if n > MAX_NODES {
            return Err(format!("has {n} nodes, more than {MAX_NODES}"));
        }
        if raw.width == 0 {
            return Err("leaf width is 0".into());
        }
        if !raw.weight.is_finite() {
            return Err(format!("weight {} is not finite", raw.weight));
        }
        let n_leaf_vectors = raw.leaf_values.len() / raw.width;
        if !raw.leaf_values.len().is_multiple_of(raw.width) {
            return Err(format!(
                "{} leaf values is not a multiple of the leaf width {}",
                raw.leaf_values.len(),
                raw.width
            ));
        }
        // Depth-first from the root with an explicit stack: `new_index[i]` is node i's position in the flat
        // layout; a node reached twice (a cycle or a shared child) is refused.
        let mut new_index = vec![u32::MAX; n];
        let mut order: Vec<usize> = Vec::with_capacity(n);
        let mut stack = vec![(0usize, 0u32)];
        let mut min_leaf_depth = u32::MAX;
        let mut max_leaf_depth = 0;
        while let Some((i, depth)) = stack.pop() {
            if new_index[i] != u32::MAX {
                return Err(format!(
                    "node {i} is reached twice (a cycle or a shared subtree)"
                ));
            }
            new_index[i] = order.len() as u32;
            order.push(i);
            if let RawNode::Split { left, right, .. } = raw.nodes[i] {
                for c in [right, left] {
                    if c >= n {
                        return Err(format!(
                            "node {i} has child {c} out of range (the tree has {n} nodes)"
                        ));
                    }
                    if c == i {
                        return Err(format!("node {i} is its own child"));
                    }
                    stack.push((c, depth + 1));
                }
            } else {
                min_leaf_depth = min_leaf_depth.min(depth);
                max_leaf_depth = max_leaf_depth.max(depth);
            }
        }
        // Internal nodes first (still depth-first, so every internal child follows its parent), then the leaves:
        // a walk has arrived when its index reaches `n_internal`.
        let is_split = |i: &usize| matches!(raw.nodes[*i], RawNode::Split { .. });
        let n_internal = order.iter().filter(|i| is_split(i)).count();
        let order: Vec<usize> = order
            .iter()
            .copied()
            .filter(is_split)
            .chain(order.iter().copied().filter(|i| !is_split(i)))
            .collect();
        for (k, &i) in order.iter().enumerate() {
            new_index[i] = k as u32;
        }
        let mut nodes = Vec::with_capacity(order.len());
        let mut values = Vec::new();
        let mut cat_sets = Vec::new();
        let mut cat_bits = Vec::new();
        let mut special = false;
        let mut n_leaves: u32 = 0;
        for (me, &i) in order.iter().enumerate() {
            let me = me as u32;
            match &raw.nodes[i] {
                RawNode::Leaf(k) => {
                    let k = *k;
                    if k >= n_leaf_vectors {
                        return Err(format!(
                            "leaf node {i} refers to leaf value {k}, but there are {n_leaf_vectors}"
                        ));
                    }
                    let v = &raw.leaf_values[k * raw.width..(k + 1) * raw.width];
                    if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
                        return Err(format!("leaf node {i} has the non-finite value {bad}"));
                    }
                    values.extend_from_slice(v);
                    nodes.push(Node {
                        threshold: v[0],
                        children: [me, me],
                        feature: 0,
                        meta: n_leaves,
                    });
                    n_leaves += 1;
                }
                RawNode::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    default_left,
                    missing,
                    categories,
                } => {
                    if *feature >= n_features {
                        return Err(format!(
                            "node {i} splits on feature {feature}, but there are {n_features}"
                        ));
                    }
                    let child = |c: usize| new_index[c];
                    let mut variant = VAR_RAW;
                    let mut meta = if *default_left { MISSING_LEFT } else { 0 };
                    let mut t = 0.0;
                    if let Some(cs) = categories {
                        meta |= CATEGORICAL | cat_sets.len() as u32;
                        if cs.members_go_left {
                            meta |= CAT_IN_LEFT;
                        }
                        let members = push_bits(&mut cat_bits, &cs.bits)
                            .map_err(|e| format!("node {i}: {e}"))?;
                        let known = match &cs.known {
                            Some(k) => Some(
                                push_bits(&mut cat_bits, k)
                                    .map_err(|e| format!("node {i}: {e}"))?,
                            ),
                            None => None,
                        };
                        cat_sets.push(CatSet { members, known });
                        special = true;
                    } else {
                        if threshold.is_nan() {
                            return Err(format!("node {i} has a NaN threshold"));
                        }
                        t = match rules.comparison {
                            Comparison::LessEqual => *threshold,
                            Comparison::LessF32 => below_f32(*threshold as f32),
                        };
                        variant = match missing {
                            Missing::NanDefault if *default_left => VAR_NAN_LEFT,
                            Missing::NanDefault if t < f64::INFINITY => VAR_NAN_RIGHT,
                            Missing::NanDefault => {
                                meta |= RAW_NAN;
                                special = true;
                                VAR_RAW
                            }
                            Missing::NanAsZero => {
                                meta |= NAN_AS_ZERO;
                                VAR_NAN_ZERO
                            }
                            Missing::Zero => {
                                meta |= NAN_AS_ZERO | ZERO_MISSING;
                                special = true;
                                VAR_RAW
                            }
                        };
                    }
                    nodes.push(Node {
                        threshold: t,
                        children: [child(*left), child(*right)],
                        feature: (variant * n_features + *feature) as u32,
                        meta,
                    });
                }
            }
        }
        let tree = Tree {
            root: 0,
            n_nodes: nodes.len() as u32,
            values,
            width: raw.width,
            output: raw.output,
            weight: raw.weight,
            cat_sets,
            cat_bits,
            special,
            n_internal: n_internal as u32,
            leaf_base: 0,
            complete: None,
            min_leaf_depth,
            max_leaf_depth,
            raw_ids: order.iter().map(|&i| i as u32).collect(),
        };
        Ok((tree, nodes))
    }

    /// The tree in the complete layout, appended to `cnodes` / `cleaves`, when it qualifies ([`Complete`]).
    fn pad(
        &self,
        nodes: &[Node],
        n_internal: u32,
        cnodes: &mut Vec<CompleteNode>,
        cleaves: &mut Vec<u32>,
    ) -> Option<Complete> {
        let depth = self.max_leaf_depth;
        if self.special
            || depth > COMPLETE_MAX_DEPTH
            || (1u64 << depth) > 4 * u64::from(self.n_nodes)
        {
            return None;
        }
        // Both arrays grow by `2^depth` entries per tree, so the tree's entries start at the same index in each.
        let base = u32::try_from(cnodes.len()).ok()?;
        if cleaves.len() != cnodes.len() {
            return None;
        }
        let n_splits = (1usize << depth) - 1;
        let always_left = CompleteNode {
            threshold: f64::INFINITY,
            lane_column: 0,
        };
        // One spare entry after the splits: each tree owns `2^depth` entries, so a walk indexes them through a
        // mask of a power of two ([`walk_complete`]).
        cnodes.resize(cnodes.len() + n_splits + 1, always_left);
        cleaves.resize(cleaves.len() + n_splits + 1, 0);
        let (splits, slots) = (&mut cnodes[base as usize..], &mut cleaves[base as usize..]);
        // (position in the complete tree, node): every position below the last level gets its split.
        let mut stack = vec![(0usize, self.root)];
        while let Some((p, i)) = stack.pop() {
            let n = &nodes[i as usize];
            if p >= n_splits {
                slots[p - n_splits] = i;
            } else if i < n_internal {
                splits[p] = CompleteNode {
                    threshold: n.threshold,
                    lane_column: n.feature.checked_mul(LANES as u32)?,
                };
                stack.push((2 * p + 1, n.children[0]));
                stack.push((2 * p + 2, n.children[1]));
            } else {
                stack.push((2 * p + 1, i));
                stack.push((2 * p + 2, i));
            }
        }
        Some(Complete { depth, base })
    }

    /// The general decision: categorical sets and LightGBM's missing types; NaN handling for every kind.
    #[inline(never)]
    fn decide(&self, n: &Node, x: f64, negative_fraction_invalid: bool) -> bool {
        let default_left = n.meta & MISSING_LEFT != 0;
        if n.meta & CATEGORICAL != 0 {
            if x.is_nan() {
                return default_left;
            }
            let in_left = n.meta & CAT_IN_LEFT != 0;
            let invalid = if negative_fraction_invalid {
                x < 0.0
            } else {
                x <= -1.0
            };
            let code = (!invalid && x < MAX_CATEGORY as f64).then_some(x as u32);
            let Some(set) = self.cat_sets.get((n.meta & ORDINAL) as usize) else {
                return default_left;
            };
            let member = self.in_set(set.members.clone(), code);
            if !member
                && let Some(known) = &set.known
                && !self.in_set(known.clone(), code)
            {
                return default_left;
            }
            return member == in_left;
        }
        let x = if x.is_nan() {
            if n.meta & NAN_AS_ZERO == 0 {
                return default_left;
            }
            0.0
        } else {
            x
        };
        if n.meta & ZERO_MISSING != 0 && (-ZERO_THRESHOLD..=ZERO_THRESHOLD).contains(&x) {
            return default_left;
        }
        x <= n.threshold
    }

    /// Whether `code` (`None`: an invalid one) is in the bitset `words` of `cat_bits`.
    #[inline]
    fn in_set(&self, words: Range<usize>, code: Option<u32>) -> bool {
        code.is_some_and(|code| {
            let w = (code / 32) as usize;
            w < words.len()
                && self
                    .cat_bits
                    .get(words.start + w)
                    .is_some_and(|b| b >> (code % 32) & 1 == 1)
        })
    }

    /// One step from node `i` (a no-op at a leaf) for lane `lane` of a group of [`LANES`] rows stored column-major (`group[column × LANES +
    /// lane]`, as [`Rows::load_lanes`] writes them): the lane is a constant of the unrolled loop, so no lane holds
    /// a row offset in a register.
    #[inline(always)]
    fn step_lane<const SPECIAL: bool>(
        &self,
        nodes: &[Node],
        i: u32,
        group: &[f64],
        lane: usize,
        nfi: bool,
    ) -> u32 {
        let n = &nodes[i as usize];
        self.go::<SPECIAL>(n, group[n.feature as usize * LANES + lane], nfi)
    }

    /// The child of split `n` that value `x` goes to: right iff the value is above the threshold, the value read
    /// from the row copy whose NaN goes the node's way (see [`VARIANTS`]). `SPECIAL`: the tree has splits that take
    /// [`Tree::decide`] (categorical, zero-as-missing); leaves carry no flag bits, so they never take it.
    #[inline(always)]
    fn go<const SPECIAL: bool>(&self, n: &Node, x: f64, nfi: bool) -> u32 {
        let right = if SPECIAL && n.meta & DECIDE != 0 {
            !self.decide(n, x, nfi)
        } else {
            x > n.threshold
        };
        n.children[usize::from(right)]
    }

    /// The leaf node ordinals of consecutive rows (`rows` as [`Rows::load_lanes`] writes them: groups of
    /// [`LANES`] rows, `stride` columns, column-major within a group; `out.len()` rows).
    fn leaves(&self, e: &Ensemble, rows: &[f64], stride: usize, out: &mut [u32]) {
        let (nodes, n_internal) = (e.nodes.as_slice(), e.n_internal);
        let nfi = e.rules.negative_fraction_invalid;
        if self.n_nodes == 1 {
            out.fill(self.root);
            return;
        }
        if let Some(c) = self.complete {
            let width = 1usize << c.depth;
            let splits = &e.complete_nodes[c.base as usize..][..width];
            let slots = &e.complete_leaves[c.base as usize..][..width];
            let walk = match c.depth {
                1 => walk_complete::<2>,
                2 => walk_complete::<4>,
                3 => walk_complete::<8>,
                4 => walk_complete::<16>,
                5 => walk_complete::<32>,
                6 => walk_complete::<64>,
                7 => walk_complete::<128>,
                8 => walk_complete::<256>,
                _ => |_: &[CompleteNode], _: &[u32], _: &[f64], _: usize, _: &mut [u32]| false,
            };
            // (Every complete tree is walked there: `pad` makes depths 1 to 8 only, of their width.)
            if walk(splits, slots, rows, stride, out) {
                return;
            }
        }
        if self.special {
            self.leaves_impl::<true>(nodes, n_internal, rows, stride, nfi, out);
        } else {
            self.leaves_impl::<false>(nodes, n_internal, rows, stride, nfi, out);
        }
    }

    #[inline(always)]
    fn leaves_impl<const SPECIAL: bool>(
        &self,
        nodes: &[Node],
        n_internal: u32,
        rows: &[f64],
        stride: usize,
        nfi: bool,
        out: &mut [u32],
    ) {
        // A last group of fewer rows is walked whole (its padding lanes hold zeros) and cut when stored.
        for (o, group) in out.chunks_mut(LANES).zip(rows.chunks_exact(stride * LANES)) {
            let mut idx = [self.root; LANES];
            for _ in 0..self.min_leaf_depth {
                for (l, i) in idx.iter_mut().enumerate() {
                    *i = self.step_lane::<SPECIAL>(nodes, *i, group, l, nfi);
                }
            }
            if self.max_leaf_depth > self.min_leaf_depth {
                while idx.iter().fold(u32::MAX, |m, &i| m.min(i)) < n_internal {
                    for (l, i) in idx.iter_mut().enumerate() {
                        *i = self.step_lane::<SPECIAL>(nodes, *i, group, l, nfi);
                    }
                }
            }
            o.copy_from_slice(&idx[..o.len()]);
        }
    }

    /// Adds the leaf values of `leaves` (one per row) into the rows' output slots.
    #[inline]
    fn accumulate(
        &self,
        nodes: &[Node],
        leaves: &[u32],
        out: &mut [f64],
        no: usize,
        f32_sum: bool,
    ) {
        let (o, w) = (self.output, self.weight);
        if self.width == 1 {
            // Scalar leaves: the value sits in the leaf node itself.
            let rows = out.chunks_exact_mut(no).zip(leaves);
            match (f32_sum, w == 1.0) {
                (true, true) => rows.for_each(|(d, &l)| {
                    d[o] = add::<true, false>(d[o], nodes[l as usize].threshold, w);
                }),
                (true, false) => rows.for_each(|(d, &l)| {
                    d[o] = add::<true, true>(d[o], nodes[l as usize].threshold, w);
                }),
                (false, true) => rows.for_each(|(d, &l)| {
                    d[o] = add::<false, false>(d[o], nodes[l as usize].threshold, w);
                }),
                (false, false) => rows.for_each(|(d, &l)| {
                    d[o] = add::<false, true>(d[o], nodes[l as usize].threshold, w);
                }),
            }
            return;
        }
        for (d, &leaf) in out.chunks_exact_mut(no).zip(leaves) {
            self.add_leaf(nodes, leaf, d, f32_sum);
        }
    }

    /// Adds the values of leaf node `leaf` into one row's outputs `d`.
    #[inline(always)]
    fn add_leaf(&self, nodes: &[Node], leaf: u32, d: &mut [f64], f32_sum: bool) {
        let (o, w) = (self.output, self.weight);
        let weighted = w != 1.0;
        if self.width == 1 {
            let v = nodes[leaf as usize].threshold;
            d[o] = match (f32_sum, weighted) {
                (true, false) => add::<true, false>(d[o], v, w),
                (true, true) => add::<true, true>(d[o], v, w),
                (false, false) => add::<false, false>(d[o], v, w),
                (false, true) => add::<false, true>(d[o], v, w),
            };
            return;
        }
        let dst = &mut d[o..o + self.width];
        for (d, &v) in dst.iter_mut().zip(self.values(nodes, leaf)) {
            *d = match (f32_sum, weighted) {
                (true, false) => add::<true, false>(*d, v, w),
                (true, true) => add::<true, true>(*d, v, w),
                (false, false) => add::<false, false>(*d, v, w),
                (false, true) => add::<false, true>(*d, v, w),
            };
        }
    }

    /// The value vector of leaf node `leaf`.
    #[inline(always)]
    fn values(&self, nodes: &[Node], leaf: u32) -> &[f64] {
        let ord = (nodes[leaf as usize].meta & ORDINAL) as usize;
        &self.values[ord * self.width..(ord + 1) * self.width]
    }
}

/// The complete-layout walk of [`Tree::leaves`] for trees of `LEN = 2^depth` entries (`depth` ≤
/// [`COMPLETE_MAX_DEPTH`]): `splits` holds the `LEN - 1` splits and a spare, `slots` the `LEN` last-level slots.
/// Positions are masked by `LEN - 1` (a no-op: a position below the last level is under `LEN - 1`), which lets
/// the compiler drop the bounds check of every step, and the `depth` levels are a constant of each instance.
/// False, `out` untouched, for slices of another length (never made by [`Tree::pad`]).
fn walk_complete<const LEN: usize>(
    splits: &[CompleteNode],
    slots: &[u32],
    rows: &[f64],
    stride: usize,
    out: &mut [u32],
) -> bool {
    let (Ok(splits), Ok(slots)) = (
        <&[CompleteNode; LEN]>::try_from(splits),
        <&[u32; LEN]>::try_from(slots),
    ) else {
        return false;
    };
    for (o, group) in out.chunks_mut(LANES).zip(rows.chunks_exact(stride * LANES)) {
        let mut pos = [0usize; LANES];
        for _ in 0..LEN.trailing_zeros() {
            for (l, p) in pos.iter_mut().enumerate() {
                let n = &splits[*p & (LEN - 1)];
                let right = group[n.lane_column as usize + l] > n.threshold;
                *p = 2 * *p + 1 + usize::from(right);
            }
        }
        // After `depth` steps a position is in `LEN - 1 ..= 2·LEN - 2`: its slot is `position + 1 - LEN`.
        for (o, &p) in o.iter_mut().zip(&pos) {
            *o = slots[(p + 1) & (LEN - 1)];
        }
    }
    true
}

/// `sum + value × weight`, in float32 (`F32`, as XGBoost's prediction buffer) or float64; `WEIGHTED` false skips
/// the product (weight 1).
#[inline(always)]
fn add<const F32: bool, const WEIGHTED: bool>(sum: f64, value: f64, weight: f64) -> f64 {
    match (F32, WEIGHTED) {
        (true, false) => f64::from(sum as f32 + value as f32),
        (true, true) => f64::from(sum as f32 + value as f32 * weight as f32),
        (false, false) => sum + value,
        (false, true) => sum + value * weight,
    }
}

/// A categorical node's sets: ranges of [`Tree::cat_bits`].
#[derive(Debug, Clone)]
struct CatSet {
    members: Range<usize>,
    known: Option<Range<usize>>,
}

/// Appends one bitset to `all`, refusing one longer than [`MAX_CATEGORY`] codes need; returns its range.
fn push_bits(all: &mut Vec<u32>, bits: &[u32]) -> Result<Range<usize>, String> {
    if bits.len() > (MAX_CATEGORY / 32) as usize {
        return Err(format!(
            "a category set of {} words, more than {}",
            bits.len(),
            MAX_CATEGORY / 32
        ));
    }
    let start = all.len();
    all.extend_from_slice(bits);
    Ok(start..all.len())
}

/// The largest float32 below `t`, widened: for float32 `x`, `x < t` iff `x <= below_f32(t)`.
fn below_f32(t: f32) -> f64 {
    let prev = if t == 0.0 {
        -f32::from_bits(1)
    } else if t > 0.0 {
        f32::from_bits(t.to_bits() - 1)
    } else if t.is_infinite() {
        return f64::NEG_INFINITY;
    } else {
        f32::from_bits(t.to_bits() + 1)
    };
    if t == f32::INFINITY {
        return f64::from(f32::MAX);
    }
    f64::from(prev)
}

/// Input rows: a row-major matrix of float32 or float64 values.
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    /// float32 values.
    F32(&'a [f32]),
    /// float64 values.
    F64(&'a [f64]),
}

impl Rows<'_> {
    /// Values in the matrix.
    pub fn len(&self) -> usize {
        match self {
            Rows::F32(v) => v.len(),
            Rows::F64(v) => v.len(),
        }
    }

    /// Whether the matrix holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows of `n_features` values each, or `None` when the values are not whole rows (or `n_features` is 0).
    pub fn n_rows(&self, n_features: usize) -> Option<usize> {
        let len = self.len();
        (n_features > 0 && len.is_multiple_of(n_features)).then(|| len / n_features)
    }

    /// [`Rows::load`] in groups of [`LANES`] rows, column-major within a group (`group[column × LANES + lane]`), the
    /// last group padded with zeros.
    fn load_lanes(
        &self,
        range: Range<usize>,
        nf: usize,
        load: Load<'_>,
        row: &mut Vec<f64>,
        buf: &mut Vec<f64>,
    ) {
        let stride = nf * load.variants.len();
        buf.clear();
        buf.resize(range.len().div_ceil(LANES) * LANES * stride, 0.0);
        for (k, r) in range.enumerate() {
            self.load(r..r + 1, nf, load, row);
            let group = &mut buf[k / LANES * LANES * stride..][..LANES * stride];
            for (c, &x) in row.iter().enumerate() {
                group[c * LANES + k % LANES] = x;
            }
        }
    }

    /// Copies rows `range` of `nf` values into `buf` as the ensemble reads them: per row one copy of its values
    /// per variant in `load.variants` (raw, NaN as `+inf`, NaN as `-inf`, NaN as 0.0), rounded to float32 first
    /// when `load.round`.
    fn load(&self, range: Range<usize>, nf: usize, load: Load<'_>, buf: &mut Vec<f64>) {
        let nv = load.variants.len();
        buf.clear();
        buf.resize(range.len() * nf * nv, 0.0);
        let dst = buf.chunks_exact_mut(nf * nv);
        let round = load.round;
        let read = |k: usize| match self {
            Rows::F32(v) => f64::from(v[k]),
            Rows::F64(v) if round => f64::from(v[k] as f32),
            Rows::F64(v) => v[k],
        };
        for (r, d) in range.zip(dst) {
            for f in 0..nf {
                let x = read(r * nf + f);
                let nan = x.is_nan();
                for (d, &v) in d[f..].iter_mut().step_by(nf).zip(load.variants) {
                    *d = match v {
                        VAR_NAN_RIGHT if nan => f64::INFINITY,
                        VAR_NAN_LEFT if nan => f64::NEG_INFINITY,
                        VAR_NAN_ZERO if nan => 0.0,
                        _ => x,
                    };
                }
            }
        }
    }
}

/// How rows are loaded for one ensemble: the row copies its splits read and whether values are rounded to float32.
#[derive(Debug, Clone, Copy)]
struct Load<'a> {
    variants: &'a [usize],
    round: bool,
}

/// A prediction: `n_rows × n_cols` values, row-major. [`Output::shape`] is what the Python libraries'
/// `predict` returns: `[n_rows]` for one column, `[n_rows, n_cols]` otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The values.
    pub values: Vec<f64>,
    /// Rows.
    pub n_rows: usize,
    /// Columns.
    pub n_cols: usize,
}

impl Output {
    /// The numpy shape the libraries return.
    pub fn shape(&self) -> Vec<usize> {
        if self.n_cols == 1 {
            vec![self.n_rows]
        } else {
            vec![self.n_rows, self.n_cols]
        }
    }
}

/// A validated ensemble of trees over `n_features` columns adding into `n_outputs` output columns per row.
#[derive(Debug, Clone)]
pub struct Ensemble {
    trees: Vec<Tree>,
    /// Every tree's nodes in one allocation the walks index with absolute child indices: first the internal nodes
    /// of every tree (tree after tree), then the leaves of every tree (tree after tree), so that node `i` is a leaf
    /// iff `i >= n_internal` whatever tree it belongs to.
    nodes: Vec<Node>,
    /// Internal nodes of all trees: the start of the leaves in `nodes`.
    n_internal: u32,
    /// Every tree's root, in ensemble order.
    roots: Vec<u32>,
    /// Splits and last-level slots of the trees stored in the complete layout ([`Complete`]).
    complete_nodes: Vec<CompleteNode>,
    complete_leaves: Vec<u32>,
    /// Every tree's first output column, in ensemble order.
    outputs: Vec<u32>,
    /// Per tree boundary `t`, the trees before `t` that have splits for [`Tree::decide`]
    /// (`special_before[t]`) and that have vector leaves or a weight other than 1 (`general_before[t]`): whether
    /// a range of trees holds any is two loads, not a pass over the trees.
    special_before: Vec<u32>,
    general_before: Vec<u32>,
    /// The row copies ([`VARIANTS`]) some split reads, in the order a loaded row holds them (never empty).
    variants: Vec<usize>,
    n_features: usize,
    n_outputs: usize,
    rules: Rules,
}

impl Ensemble {
    /// Validates and flattens `trees`. Refuses a tree whose walk could leave its node list or revisit a node, a
    /// split on a feature at or above `n_features`, a NaN threshold, non-finite leaf values or weights, and leaf
    /// vectors that do not fit the `n_outputs` columns from the tree's `output`.
    pub fn new(
        trees: &[RawTree],
        n_features: usize,
        n_outputs: usize,
        rules: Rules,
    ) -> Result<Ensemble, TreeError> {
        if n_outputs == 0 {
            return Err(TreeError::Ensemble(
                "an ensemble needs at least one output".into(),
            ));
        }
        if rules.comparison == Comparison::LessF32 && !rules.round_inputs_to_f32 {
            return Err(TreeError::Ensemble(
                "float32 comparisons need float32 inputs (round_inputs_to_f32)".into(),
            ));
        }
        if n_features > u32::MAX as usize / VARIANTS {
            return Err(TreeError::Ensemble(format!(
                "{n_features} features is too many"
            )));
        }
        let mut out = Vec::with_capacity(trees.len());
        let mut locals = Vec::with_capacity(trees.len());
        let mut n_internal: u32 = 0;
        let mut n_nodes: u32 = 0;
        for (t, raw) in trees.iter().enumerate() {
            let fits = raw
                .output
                .checked_add(raw.width)
                .is_some_and(|end| end <= n_outputs);
            if !fits {
                return Err(TreeError::Tree {
                    tree: t,
                    msg: format!(
                        "writes outputs {}..{}+{} but the ensemble has {n_outputs}",
                        raw.output, raw.output, raw.width
                    ),
                });
            }
            let (tree, local) = Tree::build(raw, n_features, &rules)
                .map_err(|msg| TreeError::Tree { tree: t, msg })?;
            let too_many = || TreeError::Tree {
                tree: t,
                msg: format!("takes the ensemble past {} nodes", u32::MAX - 1),
            };
            n_internal = n_internal
                .checked_add(tree.n_internal)
                .ok_or_else(too_many)?;
            n_nodes = n_nodes
                .checked_add(tree.n_nodes)
                .filter(|&n| n < u32::MAX)
                .ok_or_else(too_many)?;
            out.push(tree);
            locals.push(local);
        }
        // The row copies the splits read, each given its place in a loaded row.
        let mut slot = [usize::MAX; VARIANTS];
        let mut variants = Vec::new();
        for (tree, local) in out.iter().zip(&locals) {
            for n in &local[..tree.n_internal as usize] {
                let v = n.feature as usize / n_features.max(1);
                if slot[v] == usize::MAX {
                    slot[v] = 0;
                }
            }
        }
        for (v, s) in slot.iter_mut().enumerate() {
            if *s != usize::MAX {
                *s = variants.len();
                variants.push(v);
            }
        }
        if variants.is_empty() {
            variants.push(VAR_RAW);
        }
        // Internal nodes of every tree, then the leaves of every tree.
        let mut nodes = Vec::with_capacity(n_nodes as usize);
        let (mut int_base, mut leaf_base) = (0u32, n_internal);
        for (tree, local) in out.iter_mut().zip(&locals) {
            let n_int = tree.n_internal;
            let place = |c: u32| {
                if c < n_int {
                    int_base + c
                } else {
                    leaf_base + (c - n_int)
                }
            };
            tree.root = if n_int > 0 { int_base } else { leaf_base };
            tree.leaf_base = leaf_base;
            nodes.extend(local[..n_int as usize].iter().map(|n| {
                let (v, f) = (
                    n.feature as usize / n_features,
                    n.feature as usize % n_features,
                );
                Node {
                    children: n.children.map(place),
                    feature: (slot[v] * n_features + f) as u32,
                    ..*n
                }
            }));
            int_base += n_int;
            leaf_base += tree.n_nodes - n_int;
        }
        for (tree, local) in out.iter().zip(&locals) {
            let n_int = tree.n_internal;
            nodes.extend(local[n_int as usize..].iter().enumerate().map(|(k, n)| {
                let me = tree.leaf_base + k as u32;
                Node {
                    children: [me, me],
                    feature: 0,
                    ..*n
                }
            }));
        }
        let (mut complete_nodes, mut complete_leaves) = (Vec::new(), Vec::new());
        for tree in &mut out {
            tree.complete = tree.pad(
                &nodes,
                n_internal,
                &mut complete_nodes,
                &mut complete_leaves,
            );
        }
        let roots = out.iter().map(|t| t.root).collect();
        let outputs = out.iter().map(|t| t.output as u32).collect();
        let prefix = |f: &dyn Fn(&Tree) -> bool| {
            std::iter::once(0)
                .chain(out.iter().scan(0u32, |n, t| {
                    *n += u32::from(f(t));
                    Some(*n)
                }))
                .collect()
        };
        let special_before = prefix(&|t| t.special);
        let general_before = prefix(&|t| t.width != 1 || t.weight != 1.0);
        Ok(Ensemble {
            trees: out,
            nodes,
            n_internal,
            roots,
            complete_nodes,
            complete_leaves,
            outputs,
            special_before,
            general_before,
            variants,
            n_features,
            n_outputs,
            rules,
        })
    }

    /// The trees, in ensemble order.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    /// Input columns.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Output columns.
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// The rules the ensemble evaluates by.
    pub fn rules(&self) -> Rules {
        self.rules
    }

    /// Adds the leaf values of trees `range` (clamped to the ensemble) for every row of `rows` to `out`
    /// (`n_rows × n_outputs`, row-major; the caller fills it with the base margins first). `threads` > 1 splits
    /// large batches over scoped threads (results are identical: each row is summed in tree order either way).
    /// Errors only when the sizes disagree.
    pub fn predict_into(
        &self,
        rows: Rows<'_>,
        out: &mut [f64],
        range: Range<usize>,
        threads: usize,
    ) -> Result<(), TreeError> {
        let nf = self.n_features;
        let n_rows = rows
            .len()
            .checked_div(nf)
            .unwrap_or(out.len() / self.n_outputs);
        if rows.len() != n_rows * nf {
            return Err(TreeError::Ensemble(format!(
                "{} values is not a whole number of rows of {nf} features",
                rows.len()
            )));
        }
        if out.len() != n_rows * self.n_outputs {
            return Err(TreeError::Ensemble(format!(
                "output buffer holds {} values, {n_rows} rows need {}",
                out.len(),
                n_rows * self.n_outputs
            )));
        }
        let end = range.end.min(self.trees.len());
        let trees = range.start.min(end)..end;
        let threads = threads.max(1).min(n_rows.div_ceil(BLOCK_ROWS)).max(1);
        if threads == 1 {
            self.predict_rows(trees, rows, 0..n_rows, out);
            return Ok(());
        }
        let per = n_rows.div_ceil(threads);
        std::thread::scope(|s| {
            for (k, chunk) in out.chunks_mut(per * self.n_outputs).enumerate() {
                let start = k * per;
                let stop = start + chunk.len() / self.n_outputs;
                let trees = trees.clone();
                s.spawn(move || self.predict_rows(trees, rows, start..stop, chunk));
            }
        });
        Ok(())
    }

    /// Rows per block: [`BLOCK_BYTES`] of loaded values ([`SMALL_BLOCK_BYTES`] when every node fits in L2, so
    /// the block stays in L1), a multiple of [`LANES`] between [`LANES`] and [`BLOCK_ROWS`].
    fn block_rows(&self) -> usize {
        let bytes = if self.nodes.len() * size_of::<Node>() <= SMALL_NODES_BYTES {
            SMALL_BLOCK_BYTES
        } else {
            BLOCK_BYTES
        };
        let rows = bytes / (8 * self.variants.len() * self.n_features.max(1));
        (rows / LANES * LANES).clamp(LANES, BLOCK_ROWS)
    }

    fn load(&self) -> Load<'_> {
        Load {
            variants: &self.variants,
            round: self.rules.round_inputs_to_f32,
        }
    }

    /// Evaluates rows `span` of `rows` into `out` (the rows' slice of the output).
    fn predict_rows(
        &self,
        trees: Range<usize>,
        rows: Rows<'_>,
        span: Range<usize>,
        out: &mut [f64],
    ) {
        let nf = self.n_features;
        let no = self.n_outputs;
        let f32_sum = self.rules.accumulate == Accumulate::F32;
        let per_row = span.len() < PER_ROW_BELOW;
        let special = self.special_before[trees.end] > self.special_before[trees.start];
        let block_rows = self.block_rows();
        let stride = nf * self.variants.len();
        let mut leaves = [0u32; BLOCK_ROWS];
        // Grow to one block of the caller's rows (never sized from the model alone).
        let (mut buf, mut row) = (Vec::new(), Vec::new());
        let mut reached = Vec::new();
        let mut start = span.start;
        while start < span.end {
            let end = (start + block_rows).min(span.end);
            if per_row {
                rows.load(start..end, nf, self.load(), &mut buf);
            } else {
                rows.load_lanes(start..end, nf, self.load(), &mut row, &mut buf);
            }
            let out_block = &mut out[(start - span.start) * no..(end - span.start) * no];
            if per_row && special {
                self.per_row::<true>(trees.clone(), &buf, out_block, &mut reached);
            } else if per_row {
                self.per_row::<false>(trees.clone(), &buf, out_block, &mut reached);
            } else {
                let block = &mut leaves[..end - start];
                for tree in &self.trees[trees.clone()] {
                    tree.leaves(self, &buf, stride, block);
                    tree.accumulate(&self.nodes, block, out_block, no, f32_sum);
                }
            }
            start = end;
        }
    }

    /// A few rows, one at a time. [`LANES`] walks run interleaved, each in a different tree; a walk that reaches
    /// its leaf records it and its lane takes its next tree at once, so no lane idles while it has trees left
    /// (trees' walks differ in length: a lockstep group of trees would wait for its longest walk). Then the leaves are added in tree
    /// order, as the libraries sum them. `reached` is scratch space (one slot per tree, and one more).
    fn per_row<const SPECIAL: bool>(
        &self,
        trees: Range<usize>,
        rows: &[f64],
        out: &mut [f64],
        reached: &mut Vec<u32>,
    ) {
        let stride = self.n_features * self.variants.len();
        let nfi = self.rules.negative_fraction_invalid;
        let f32_sum = self.rules.accumulate == Accumulate::F32;
        let nodes = self.nodes.as_slice();
        let n_internal = self.n_internal;
        let roots = &self.roots[trees.clone()];
        let outputs = &self.outputs[trees.clone()];
        let general = self.general_before[trees.end] > self.general_before[trees.start];
        let tree_list = &self.trees[trees];
        let nt = roots.len();
        if nt == 0 {
            return;
        }
        // A lane with no tree left walks `park` (a leaf: stepping stays there) into the spare slot `nt`.
        let park = n_internal;
        reached.clear();
        reached.resize(nt + 1, park);
        for (r, d) in out.chunks_exact_mut(self.n_outputs).enumerate() {
            let row = &rows[r * stride..(r + 1) * stride];
            // Lane `l` walks trees `l`, `l + LANES`, … (no lane waits on another to learn its next tree).
            let mut tree: [usize; LANES] = std::array::from_fn(|l| l.min(nt));
            let mut idx = tree.map(|t| roots.get(t).copied().unwrap_or(park));
            loop {
                for (t, i) in tree.iter_mut().zip(&mut idx) {
                    let n = &nodes[*i as usize];
                    let x = row[n.feature as usize];
                    let right = if SPECIAL && n.meta & DECIDE != 0 {
                        // Only a lane walking a tree (`t < nt`) meets a split.
                        tree_list.get(*t).is_some_and(|tr| !tr.decide(n, x, nfi))
                    } else {
                        x > n.threshold
                    };
                    let step = n.children[usize::from(right)];
                    reached[*t] = step;
                    let arrived = step >= n_internal;
                    let take = if arrived { (*t + LANES).min(nt) } else { *t };
                    *i = if arrived {
                        roots.get(take).copied().unwrap_or(park)
                    } else {
                        step
                    };
                    *t = take;
                }
                if tree.iter().all(|&t| t == nt) {
                    break;
                }
            }
            if !general {
                // Scalar leaves of weight 1: the value sits in the leaf node itself.
                let sum = |d: &mut [f64], add: fn(f64, f64, f64) -> f64| {
                    for (&leaf, &o) in reached.iter().zip(outputs) {
                        let o = o as usize;
                        d[o] = add(d[o], nodes[leaf as usize].threshold, 1.0);
                    }
                };
                if f32_sum {
                    sum(d, add::<true, false>);
                } else {
                    sum(d, add::<false, false>);
                }
            } else {
                for (&leaf, t) in reached.iter().zip(tree_list) {
                    t.add_leaf(nodes, leaf, d, f32_sum);
                }
            }
        }
    }

    /// The leaf each row reaches in each tree, as its node index in the [`RawTree`] (`n_rows × n_trees`), for
    /// `pred_leaf`-style output and tests.
    pub fn leaf_indices(&self, rows: Rows<'_>) -> Result<Vec<u32>, TreeError> {
        let nf = self.n_features;
        if nf == 0 || !rows.len().is_multiple_of(nf) {
            return Err(TreeError::Ensemble(format!(
                "{} values is not a whole number of rows of {nf} features",
                rows.len()
            )));
        }
        let n_rows = rows.len() / nf;
        let nt = self.trees.len();
        let mut out = vec![0u32; n_rows * nt];
        let mut leaves = [0u32; BLOCK_ROWS];
        let (mut buf, mut row) = (Vec::new(), Vec::new());
        let mut start = 0;
        while start < n_rows {
            let end = (start + BLOCK_ROWS).min(n_rows);
            rows.load_lanes(start..end, nf, self.load(), &mut row, &mut buf);
            let block = &mut leaves[..end - start];
            for (t, tree) in self.trees.iter().enumerate() {
                tree.leaves(self, &buf, nf * self.variants.len(), block);
                for (r, &l) in block.iter().enumerate() {
                    // Leaves only: every walk ends at one.
                    let local = tree.n_internal + (l - tree.leaf_base);
                    out[(start + r) * nt + t] = tree.raw_ids[local as usize];
                }
            }
            start = end;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_f32_is_the_previous_float() {
        for t in [1.5f32, -1.5, 0.0, -0.0, 1e-30, f32::MAX, f32::MIN] {
            let b = below_f32(t);
            let x = b as f32;
            assert!(x < t, "{t}");
            assert_eq!(f64::from(x), b);
            // Nothing representable between.
            let next = if x >= 0.0 {
                f32::from_bits(x.to_bits() + 1)
            } else if x == -f32::from_bits(1) {
                0.0
            } else {
                f32::from_bits(x.to_bits() - 1)
            };
            assert!(next >= t, "{t}: {x} {next}");
        }
    }
}
