//! Hand-built trees through the public API: routing, missing values, categorical sets, accumulation, threads and
//! hostile structures.
#![allow(clippy::unwrap_used)]

#[path = "support/rng.rs"]
mod rng;
use rng::XorShift;

use oxserve_trees::{
    Accumulate, CategorySplit, Ensemble, Missing, RawNode, RawTree, Rows, Rules, TreeError,
};

fn split(feature: usize, threshold: f64, left: usize, right: usize, default_left: bool) -> RawNode {
    RawNode::Split {
        feature,
        threshold,
        left,
        right,
        default_left,
        missing: Missing::NanDefault,
        categories: None,
    }
}

/// x0 < 0.5 → (x1 < 2 → 1.0 : 2.0) : 3.0, NaN on x0 goes right, NaN on x1 goes left.
fn tree() -> RawTree {
    RawTree {
        nodes: vec![
            split(0, 0.5, 1, 2, false),
            split(1, 2.0, 3, 4, true),
            RawNode::Leaf(2),
            RawNode::Leaf(0),
            RawNode::Leaf(1),
        ],
        leaf_values: vec![1.0, 2.0, 3.0],
        width: 1,
        output: 0,
        weight: 1.0,
    }
}

fn eval(e: &Ensemble, rows: &[f64]) -> Vec<f64> {
    let n = rows.len() / e.n_features();
    let mut out = vec![0.0; n * e.n_outputs()];
    e.predict_into(Rows::F64(rows), &mut out, 0..usize::MAX, 1)
        .unwrap();
    out
}

#[test]
fn routes_like_each_library() {
    let nan = f64::NAN;
    let rows = [
        0.0,
        1.0,
        0.0,
        2.0,
        0.5,
        0.0,
        nan,
        0.0,
        0.0,
        nan,
        0.4999999999,
        5.0,
    ];
    // XGBoost: x < t on float32 values (0.4999999999 rounds to 0.5 in float32, so goes right).
    let x = Ensemble::new(&[tree()], 2, 1, Rules::XGBOOST).unwrap();
    assert_eq!(eval(&x, &rows), [1.0, 2.0, 3.0, 3.0, 1.0, 3.0]);
    // LightGBM: x <= t on float64 values.
    let l = Ensemble::new(&[tree()], 2, 1, Rules::LIGHTGBM).unwrap();
    assert_eq!(eval(&l, &rows), [1.0, 1.0, 1.0, 3.0, 1.0, 2.0]);
    // float32 input gives the same answers as float64 input under XGBoost's rules.
    let rows32: Vec<f32> = rows.iter().map(|&v| v as f32).collect();
    let mut out = vec![0.0; 6];
    x.predict_into(Rows::F32(&rows32), &mut out, 0..1, 1)
        .unwrap();
    assert_eq!(out, [1.0, 2.0, 3.0, 3.0, 1.0, 3.0]);
}

#[test]
fn lightgbm_missing_types() {
    let mk = |missing| RawTree {
        nodes: vec![
            RawNode::Split {
                feature: 0,
                threshold: -1.0,
                left: 1,
                right: 2,
                default_left: true,
                missing,
                categories: None,
            },
            RawNode::Leaf(0),
            RawNode::Leaf(1),
        ],
        leaf_values: vec![10.0, 20.0],
        width: 1,
        output: 0,
        weight: 1.0,
    };
    let rows = [f64::NAN, 0.0, 1e-36, -2.0, 1.0];
    let e = |m| {
        eval(
            &Ensemble::new(&[mk(m)], 1, 1, Rules::LIGHTGBM).unwrap(),
            &rows,
        )
    };
    assert_eq!(e(Missing::NanDefault), [10.0, 20.0, 20.0, 10.0, 20.0]);
    assert_eq!(e(Missing::NanAsZero), [20.0, 20.0, 20.0, 10.0, 20.0]);
    assert_eq!(e(Missing::Zero), [10.0, 10.0, 10.0, 10.0, 20.0]);
}

/// A categorical stump on feature 0: left leaf -1.0, right leaf 1.0.
fn cat_stump(set: CategorySplit, default_left: bool) -> RawTree {
    RawTree {
        nodes: vec![
            RawNode::Split {
                feature: 0,
                threshold: 0.0,
                left: 1,
                right: 2,
                default_left,
                missing: Missing::NanDefault,
                categories: Some(set),
            },
            RawNode::Leaf(0),
            RawNode::Leaf(1),
        ],
        leaf_values: vec![-1.0, 1.0],
        width: 1,
        output: 0,
        weight: 1.0,
    }
}

#[test]
fn categorical_sets_both_ways() {
    let mk = |left_members| {
        cat_stump(
            CategorySplit::from_codes(&[1, 3, 40], left_members).unwrap(),
            true,
        )
    };
    let rows = [1.0, 2.0, 3.7, 40.0, 41.0, 1e9, -0.5, f64::NAN, 0.0];
    // XGBoost: members go right; invalid (negative, huge) and non-members go left; NaN the default side.
    let x = eval(
        &Ensemble::new(&[mk(false)], 1, 1, Rules::XGBOOST).unwrap(),
        &rows,
    );
    assert_eq!(x, [1.0, -1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0, -1.0]);
    // LightGBM: members go left; -0.5 truncates to category 0.
    let l = eval(
        &Ensemble::new(&[mk(true)], 1, 1, Rules::LIGHTGBM).unwrap(),
        &rows,
    );
    assert_eq!(l, [-1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, 1.0]);
}

/// A split that knows its categories: members go left, other known codes right, and unknown codes (unseen,
/// negative, fractional below zero, beyond both sets) take the default side like NaN, on either side.
#[test]
fn categorical_sets_with_known_codes() {
    let mk = |default_left| {
        let mut set = CategorySplit::from_codes(&[1, 40], true).unwrap();
        set.known = Some(
            CategorySplit::from_codes(&[0, 1, 2, 3, 40], true)
                .unwrap()
                .bits,
        );
        cat_stump(set, default_left)
    };
    let rows = [
        1.0,
        40.0,
        1.7,
        0.0,
        3.0,
        5.0,
        -1.0,
        -0.5,
        f64::NAN,
        1e9,
        255.0,
    ];
    let rules = Rules {
        round_inputs_to_f32: false,
        ..Rules::LIGHTGBM
    };
    let strict = Rules {
        negative_fraction_invalid: true,
        ..rules
    };
    let go = |default_left, r| eval(&Ensemble::new(&[mk(default_left)], 1, 1, r).unwrap(), &rows);
    let known = [-1.0, -1.0, -1.0, 1.0, 1.0];
    let unknown = |d: f64| [d, d, d, d, d, d];
    let want = |d: f64| [known.as_slice(), &unknown(d)].concat();
    assert_eq!(go(true, strict), want(-1.0));
    assert_eq!(go(false, strict), want(1.0));
    // Without `negative_fraction_invalid`, -0.5 truncates to the known category 0 and goes right.
    let mut lenient = want(1.0);
    lenient[7] = 1.0;
    assert_eq!(go(false, rules), lenient);
    let mut lenient = want(-1.0);
    lenient[7] = 1.0;
    assert_eq!(go(true, rules), lenient);
    // Many rows walk in lockstep: the same answers.
    let many: Vec<f64> = rows.iter().copied().cycle().take(rows.len() * 9).collect();
    let e = Ensemble::new(&[mk(true)], 1, 1, strict).unwrap();
    assert_eq!(eval(&e, &many), want(-1.0).repeat(9));
    // A known set as long as every category code allows, and no longer.
    let mut huge = mk(true);
    if let RawNode::Split {
        categories: Some(c),
        ..
    } = &mut huge.nodes[0]
    {
        c.known = Some(vec![0; (oxserve_trees::MAX_CATEGORY / 32) as usize + 1]);
    }
    let err = Ensemble::new(&[huge], 1, 1, strict).unwrap_err();
    assert!(err.to_string().contains("category set of"), "{err}");
}

#[test]
fn vector_leaves_groups_weights_and_ranges() {
    let mut t0 = tree();
    t0.output = 1;
    t0.weight = 0.5;
    let vec_tree = RawTree {
        nodes: vec![
            split(0, 0.5, 1, 2, false),
            RawNode::Leaf(0),
            RawNode::Leaf(1),
        ],
        leaf_values: vec![1.0, 2.0, 3.0, 4.0],
        width: 2,
        output: 0,
        weight: 1.0,
    };
    let e = Ensemble::new(&[t0, vec_tree], 2, 2, Rules::LIGHTGBM).unwrap();
    assert_eq!(eval(&e, &[0.0, 0.0, 1.0, 0.0]), [1.0, 2.5, 3.0, 5.5]);
    let mut out = vec![0.0; 4];
    e.predict_into(Rows::F64(&[0.0, 0.0, 1.0, 0.0]), &mut out, 1..2, 1)
        .unwrap();
    assert_eq!(out, [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(e.leaf_indices(Rows::F64(&[0.0, 0.0])).unwrap(), [3, 1]);
}

#[test]
fn float32_accumulation_matches_a_float_buffer() {
    let leaf = 0.1f32;
    let t = RawTree {
        nodes: vec![RawNode::Leaf(0)],
        leaf_values: vec![f64::from(leaf)],
        width: 1,
        output: 0,
        weight: 1.0,
    };
    let trees = vec![t; 1000];
    let x = Ensemble::new(&trees, 1, 1, Rules::XGBOOST).unwrap();
    let mut want = 0.5f32;
    for _ in 0..1000 {
        want += leaf;
    }
    let mut out = vec![0.5];
    x.predict_into(Rows::F64(&[0.0]), &mut out, 0..1000, 1)
        .unwrap();
    assert_eq!(out[0], f64::from(want));
    let f64_rules = Rules {
        accumulate: Accumulate::F64,
        ..Rules::XGBOOST
    };
    let y = Ensemble::new(&trees, 1, 1, f64_rules).unwrap();
    let mut out = vec![0.5];
    y.predict_into(Rows::F64(&[0.0]), &mut out, 0..1000, 1)
        .unwrap();
    assert_ne!(out[0], f64::from(want));
}

#[test]
fn threads_give_identical_results() {
    let trees: Vec<RawTree> = (0..20)
        .map(|k| {
            let mut t = tree();
            t.nodes[0] = split(0, f64::from(k) / 20.0, 1, 2, k % 2 == 0);
            t.leaf_values = vec![0.1 * f64::from(k), 0.2, -0.3];
            t
        })
        .collect();
    let e = Ensemble::new(&trees, 2, 1, Rules::XGBOOST).unwrap();
    let n = 5000;
    let rows: Vec<f64> = (0..n * 2)
        .map(|i| {
            if i % 97 == 0 {
                f64::NAN
            } else {
                ((i * 7919) % 1000) as f64 / 1000.0
            }
        })
        .collect();
    let mut one = vec![0.0; n];
    let mut four = vec![0.0; n];
    e.predict_into(Rows::F64(&rows), &mut one, 0..20, 1)
        .unwrap();
    e.predict_into(Rows::F64(&rows), &mut four, 0..20, 4)
        .unwrap();
    assert_eq!(one, four);
}

fn refused(t: RawTree, n_features: usize) -> String {
    match Ensemble::new(&[t], n_features, 1, Rules::XGBOOST) {
        Err(e @ TreeError::Tree { .. }) => e.to_string(),
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn hostile_structures_are_refused() {
    let mut t = tree();
    t.nodes[1] = split(1, 2.0, 0, 4, true);
    assert!(refused(t, 2).contains("reached twice"), "cycle to the root");
    let mut t = tree();
    t.nodes[1] = split(1, 2.0, 1, 4, true);
    assert!(refused(t, 2).contains("its own child"));
    let mut t = tree();
    t.nodes[1] = split(1, 2.0, 2, 4, true);
    assert!(refused(t, 2).contains("reached twice"), "shared child");
    let mut t = tree();
    t.nodes[1] = split(1, 2.0, 3, 99, true);
    assert!(refused(t, 2).contains("out of range"));
    assert!(refused(tree(), 1).contains("feature 1"));
    let mut t = tree();
    t.nodes[0] = split(0, f64::NAN, 1, 2, true);
    assert!(refused(t, 2).contains("NaN threshold"));
    let mut t = tree();
    t.nodes[2] = RawNode::Leaf(7);
    assert!(refused(t, 2).contains("leaf value 7"));
    let mut t = tree();
    t.leaf_values[0] = f64::INFINITY;
    assert!(refused(t, 2).contains("non-finite"));
    let mut t = tree();
    t.nodes.clear();
    assert!(refused(t, 2).contains("no nodes"));
    let mut t = tree();
    t.width = 2;
    assert!(refused(t, 2).contains("outputs"));
    let mut t = tree();
    t.output = usize::MAX;
    assert!(refused(t, 2).contains("outputs"));
    // A deep chain is fine (no recursion anywhere): node 2k splits, its right child 2k+1 is a leaf, its left child
    // the next split.
    let mut fixed = Vec::new();
    for k in 0..50_000 {
        fixed.push(split(0, -(k as f64), 2 * k + 2, 2 * k + 1, true));
        fixed.push(RawNode::Leaf(0));
    }
    fixed.push(RawNode::Leaf(0));
    let t = RawTree {
        nodes: fixed,
        leaf_values: vec![1.0],
        width: 1,
        output: 0,
        weight: 1.0,
    };
    let e = Ensemble::new(&[t], 1, 1, Rules::LIGHTGBM).unwrap();
    assert_eq!(eval(&e, &[-1e9]), [1.0]);
}

#[test]
fn size_mismatches_are_errors() {
    let e = Ensemble::new(&[tree()], 2, 1, Rules::XGBOOST).unwrap();
    let mut out = vec![0.0; 2];
    assert!(
        e.predict_into(Rows::F64(&[0.0; 3]), &mut out, 0..1, 1)
            .is_err()
    );
    assert!(
        e.predict_into(Rows::F64(&[0.0; 2]), &mut out, 0..1, 1)
            .is_err()
    );
}

#[test]
fn rows_and_output_shapes() {
    assert_eq!(Rows::F64(&[0.0; 6]).n_rows(3), Some(2));
    assert_eq!(Rows::F32(&[0.0; 6]).n_rows(4), None);
    assert_eq!(Rows::F32(&[]).n_rows(0), None);
    let one = oxserve_trees::Output {
        values: vec![0.0; 3],
        n_rows: 3,
        n_cols: 1,
    };
    assert_eq!(one.shape(), [3]);
    let two = oxserve_trees::Output {
        values: vec![0.0; 6],
        n_rows: 3,
        n_cols: 2,
    };
    assert_eq!(two.shape(), [3, 2]);
    // XGBoost's rules need float32 inputs.
    let bad = Rules {
        round_inputs_to_f32: false,
        ..Rules::XGBOOST
    };
    assert!(Ensemble::new(&[tree()], 2, 1, bad).is_err());
}

/// A random unbalanced tree: splits grown at random leaves (so depths differ), numeric splits with every missing
/// type and some categorical ones, leaves of `width` values.
fn random_tree(
    g: &mut XorShift,
    n_features: usize,
    width: usize,
    output: usize,
    lightgbm: bool,
) -> RawTree {
    let n_splits = 1 + g.below(40);
    let mut nodes = vec![RawNode::Leaf(0)];
    let mut leaves = vec![0usize];
    for _ in 0..n_splits {
        let at = leaves.swap_remove(g.below(leaves.len()));
        let (l, r) = (nodes.len(), nodes.len() + 1);
        nodes.push(RawNode::Leaf(0));
        nodes.push(RawNode::Leaf(0));
        leaves.extend([l, r]);
        let categories = (g.below(6) == 0).then(|| {
            let codes: Vec<u32> = (0..3).map(|_| g.below(8) as u32).collect();
            let mut set = CategorySplit::from_codes(&codes, lightgbm).unwrap();
            if g.below(2) == 0 {
                set.known = Some(vec![0x3f]);
            }
            set
        });
        let missing = match (lightgbm, g.below(3)) {
            (true, 1) => Missing::NanAsZero,
            (true, 2) => Missing::Zero,
            _ => Missing::NanDefault,
        };
        nodes[at] = RawNode::Split {
            feature: g.below(n_features),
            threshold: g.unit() * 2.0 - 1.0,
            left: l,
            right: r,
            default_left: g.below(2) == 0,
            missing,
            categories,
        };
    }
    let k = number_leaves(&mut nodes);
    RawTree {
        nodes,
        leaf_values: (0..k * width).map(|_| g.unit() - 0.5).collect(),
        width,
        output,
        weight: if g.below(4) == 0 { 0.5 } else { 1.0 },
    }
}

#[test]
fn single_rows_small_and_large_batches_agree_bit_for_bit() {
    // The per-row walk (batches under PER_ROW_BELOW rows, trees in lockstep) and the block walk (rows in
    // lockstep, several blocks) must give identical bits, for unbalanced trees of every kind of split.
    let mut g = XorShift(7);
    let nf = 6;
    for (rules, lightgbm) in [(Rules::XGBOOST, false), (Rules::LIGHTGBM, true)] {
        for n_trees in [1, 7, 8, 9, 61] {
            let trees: Vec<RawTree> = (0..n_trees)
                .map(|t| {
                    if t % 5 == 4 {
                        random_tree(&mut g, nf, 2, 1, lightgbm)
                    } else {
                        random_tree(&mut g, nf, 1, t % 3, lightgbm)
                    }
                })
                .collect();
            let e = Ensemble::new(&trees, nf, 3, rules).unwrap();
            let n = 3 * oxserve_trees::BLOCK_ROWS + 13;
            let rows: Vec<f64> = (0..n * nf)
                .map(|_| match g.below(20) {
                    0 => f64::NAN,
                    1 => 0.0,
                    2 => g.below(9) as f64,
                    3 => -0.5,
                    _ => g.unit() * 2.2 - 1.1,
                })
                .collect();
            let all = eval(&e, &rows);
            for r in 0..n {
                let one = eval(&e, &rows[r * nf..(r + 1) * nf]);
                assert_eq!(one, all[r * 3..(r + 1) * 3], "{n_trees} trees, row {r}");
            }
            for (k, chunk) in rows.chunks(5 * nf).enumerate() {
                let got = eval(&e, chunk);
                assert_eq!(
                    got,
                    all[k * 15..k * 15 + got.len()],
                    "{n_trees} trees, rows of 5"
                );
            }
        }
    }
}

/// A random numeric tree grown level by level up to `depth` levels, each node splitting with probability `p_split`
/// percent (100: a complete tree): the shapes XGBoost's depth-wise growth gives, which the ensemble also stores in
/// its complete layout for row blocks. Missing values take the default side only.
fn depthwise_tree(g: &mut XorShift, n_features: usize, depth: usize, p_split: usize) -> RawTree {
    let mut nodes = vec![RawNode::Leaf(0)];
    let mut level = vec![0usize];
    for _ in 0..depth {
        let mut next = Vec::new();
        for at in level {
            if g.below(100) >= p_split {
                continue;
            }
            let (l, r) = (nodes.len(), nodes.len() + 1);
            nodes.extend([RawNode::Leaf(0), RawNode::Leaf(0)]);
            // Float32 thresholds, some on values the rows hold (ties decide `<` against `<=`).
            let t = f64::from((g.below(40) as f32 - 20.0) / 16.0);
            nodes[at] = split(g.below(n_features), t, l, r, g.below(2) == 0);
            next.extend([l, r]);
        }
        level = next;
    }
    let k = number_leaves(&mut nodes);
    RawTree {
        nodes,
        leaf_values: (0..k).map(|_| g.unit() - 0.5).collect(),
        width: 1,
        output: 0,
        weight: 1.0,
    }
}

/// The leaf (raw node index) a row reaches, walking the raw tree as the library compares: XGBoost `float32(x) <
/// float32(t)`, LightGBM `x <= t`; NaN to the default side.
fn reference_leaf(t: &RawTree, row: &[f64], xgboost: bool) -> usize {
    let mut i = 0;
    while let RawNode::Split {
        feature,
        threshold,
        left,
        right,
        default_left,
        ..
    } = &t.nodes[i]
    {
        let x = row[*feature];
        let go_left = if x.is_nan() {
            *default_left
        } else if xgboost {
            (x as f32) < (*threshold as f32)
        } else {
            x <= *threshold
        };
        i = if go_left { *left } else { *right };
    }
    i
}

#[test]
fn depthwise_trees_match_a_reference_walk_in_every_path() {
    // Depth-wise trees of up to 8 levels (complete, pruned, single leaves) and deeper ones, through the per-row
    // walk and row blocks, whole and over tree ranges, against a plain walk of the raw trees summed in tree order.
    let mut g = XorShift(11);
    let nf = 5;
    for (rules, xgboost) in [(Rules::XGBOOST, true), (Rules::LIGHTGBM, false)] {
        // Every depth of the complete layout's walks (1 to 8, each its own instance), full and pruned.
        let trees: Vec<RawTree> = (0..40)
            .map(|t| match t % 8 {
                0 => depthwise_tree(&mut g, nf, 0, 100),
                1 => depthwise_tree(&mut g, nf, 6, 100),
                2 => depthwise_tree(&mut g, nf, 8, 100),
                3 => depthwise_tree(&mut g, nf, 9, 85),
                4 => depthwise_tree(&mut g, nf, 3, 70),
                5 => depthwise_tree(&mut g, nf, 1 + t % 7, 100),
                6 => depthwise_tree(&mut g, nf, 1 + (t / 8) % 7, 100),
                _ => depthwise_tree(&mut g, nf, 6, 80),
            })
            .collect();
        let e = Ensemble::new(&trees, nf, 1, rules).unwrap();
        let n = oxserve_trees::BLOCK_ROWS + 21;
        let rows: Vec<f64> = (0..n * nf)
            .map(|_| match g.below(25) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                3 => f64::from((g.below(40) as f32 - 20.0) / 16.0),
                _ => g.unit() * 3.0 - 1.5,
            })
            .collect();
        let leaves = e.leaf_indices(Rows::F64(&rows)).unwrap();
        for range in [0..40, 3..29, 17..18, 40..40] {
            let expected: Vec<f64> = rows
                .chunks(nf)
                .enumerate()
                .map(|(r, row)| {
                    let mut sum = 0.0f64;
                    for (k, t) in trees.iter().enumerate().take(range.end).skip(range.start) {
                        let leaf = reference_leaf(t, row, xgboost);
                        assert_eq!(
                            leaves[r * trees.len() + k] as usize,
                            leaf,
                            "row {r} tree {k}"
                        );
                        let RawNode::Leaf(v) = t.nodes[leaf] else {
                            unreachable!()
                        };
                        sum = if xgboost {
                            f64::from(sum as f32 + t.leaf_values[v] as f32)
                        } else {
                            sum + t.leaf_values[v]
                        };
                    }
                    sum
                })
                .collect();
            let mut all = vec![0.0; n];
            e.predict_into(Rows::F64(&rows), &mut all, range.clone(), 1)
                .unwrap();
            assert_eq!(all, expected, "{range:?}: row blocks");
            for (r, row) in rows.chunks(nf).enumerate().step_by(7) {
                let mut one = [0.0];
                e.predict_into(Rows::F64(row), &mut one, range.clone(), 1)
                    .unwrap();
                assert_eq!(
                    one[0].to_bits(),
                    expected[r].to_bits(),
                    "{range:?}: row {r}"
                );
            }
        }
    }
}

/// Numbers the leaves in node order (each leaf's value index) and answers how many there are.
fn number_leaves(nodes: &mut [RawNode]) -> usize {
    let mut k = 0;
    for n in nodes {
        if let RawNode::Leaf(v) = n {
            *v = k;
            k += 1;
        }
    }
    k
}
