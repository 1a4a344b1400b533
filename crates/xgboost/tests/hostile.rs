//! Hostile model files are refused at load with a clear message: never a panic, a hang or a huge allocation.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use oxserve_xgboost::{Booster, Predict, Rows};

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/cases")
            .join(rel),
    )
    .unwrap()
}

fn refused(bytes: &[u8]) -> String {
    match Booster::load(bytes) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_truncation_is_refused() {
    for rel in [
        "v17/dart/model.bst",
        "v3/multi-softprob/model.ubj",
        "v17/linear-multi/model.bst",
    ] {
        let b = fixture(rel);
        for n in 0..b.len() {
            assert!(Booster::load(&b[..n]).is_err(), "{rel} cut at {n} accepted");
        }
    }
    let j = fixture("v3/binary-logistic/model.json");
    for n in (0..j.len()).step_by(97) {
        assert!(Booster::load(&j[..n]).is_err());
    }
}

#[test]
fn flipped_bytes_never_panic() {
    // Every byte of a small legacy file and a UBJSON file, each set to a few hostile values.
    for rel in ["v17/feature-names/model.bst", "v3/feature-names/model.ubj"] {
        let b = fixture(rel);
        for i in 0..b.len() {
            for v in [0x00, 0x7f, 0x80, 0xff] {
                let mut m = b.clone();
                m[i] = v;
                if let Ok(booster) = Booster::load(&m) {
                    let x = vec![0.5f64; booster.n_features()];
                    let _ = booster.predict(Rows::F64(&x), &Predict::default());
                }
            }
        }
    }
}

fn edit_json(rel: &str, from: &str, to: &str) -> Vec<u8> {
    let s = String::from_utf8(fixture(rel)).unwrap();
    assert!(s.contains(from), "{from} not in {rel}");
    s.replacen(from, to, 1).into_bytes()
}

#[test]
fn structural_lies_are_refused() {
    let rel = "v3/feature-names/model.json";
    // A child pointing back to the root: a cycle.
    let e = refused(&edit_json(
        rel,
        "\"left_children\":[1,",
        "\"left_children\":[0,",
    ));
    assert!(
        e.contains("its own child") || e.contains("reached twice"),
        "{e}"
    );
    let e = refused(&edit_json(
        rel,
        "\"left_children\":[1,",
        "\"left_children\":[99,",
    ));
    assert!(e.contains("out of range"), "{e}");
    let e = refused(&edit_json(
        rel,
        "\"split_indices\":[",
        "\"split_indices\":[7,",
    ));
    assert!(e.contains("entries"), "{e}");
    let e = refused(&edit_json(
        rel,
        "\"split_conditions\":[",
        "\"split_conditions\":[NaN,",
    ));
    assert!(e.contains("entries") || e.contains("NaN"), "{e}");
    let e = refused(&edit_json(
        rel,
        "\"num_feature\":\"5\",\"num_target",
        "\"num_feature\":\"1\",\"num_target",
    ));
    assert!(e.contains("feature"), "{e}");
    let e = refused(&edit_json(
        rel,
        "\"num_trees\":\"3\"",
        "\"num_trees\":\"4\"",
    ));
    assert!(e.contains("num_trees"), "{e}");
    let e = refused(&edit_json(
        rel,
        "\"name\":\"reg:squarederror\"",
        "\"name\":\"reg:unknown\"",
    ));
    assert!(e.contains("reg:unknown"), "{e}");
}

#[test]
fn nan_threshold_on_a_numeric_split_is_refused() {
    let s = String::from_utf8(fixture("v3/feature-names/model.json")).unwrap();
    let start = s.find("\"split_conditions\":[").unwrap() + "\"split_conditions\":[".len();
    let end = start + s[start..].find(',').unwrap();
    let hostile = format!("{}NaN{}", &s[..start], &s[end..]);
    let e = refused(hostile.as_bytes());
    assert!(e.contains("NaN threshold"), "{e}");
}

#[test]
fn huge_declared_sizes_are_refused() {
    let b = fixture("v17/reg-squarederror/model.bst");
    // num_trees (first int after the names) set to 2^31 - 1.
    let pos = b.windows(6).position(|w| w == b"gbtree").unwrap() + 6;
    let mut m = b.clone();
    m[pos..pos + 4].copy_from_slice(&i32::MAX.to_le_bytes());
    assert!(refused(&m).contains("trees declared"));
    // num_nodes of the first tree.
    let mut m = b.clone();
    let tree = pos + 160;
    m[tree + 4..tree + 8].copy_from_slice(&i32::MAX.to_le_bytes());
    assert!(refused(&m).contains("nodes declared"));
    // The objective name's length.
    let mut m = b.clone();
    m[140..148].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(refused(&m).contains("declared"));
    // num_feature.
    let mut m = b;
    m[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(refused(&m).contains("num_feature"));
}

#[test]
fn wrong_input_widths_are_errors() {
    let b = Booster::load(&fixture("v3/reg-squarederror/model.json")).unwrap();
    assert!(
        b.predict(Rows::F64(&[0.0; 7]), &Predict::default())
            .is_err()
    );
    let opts = Predict {
        iteration_range: Some((0, 99)),
        threads: 1,
    };
    assert!(b.predict(Rows::F64(&[0.0; 5]), &opts).is_err());
    // Threads give the same answer as one.
    let x: Vec<f64> = (0..5 * 3000)
        .map(|i| ((i * 37) % 101) as f64 / 50.0 - 1.0)
        .collect();
    let one = b.predict(Rows::F64(&x), &Predict::default()).unwrap();
    let four = b
        .predict(
            Rows::F64(&x),
            &Predict {
                iteration_range: None,
                threads: 4,
            },
        )
        .unwrap();
    assert_eq!(one, four);
}
