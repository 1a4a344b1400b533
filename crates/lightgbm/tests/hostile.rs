//! Hostile text models are refused at load with a clear message: never a panic, a hang or a huge allocation.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use oxserve_lightgbm::{Booster, Predict, Rows};

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/cases")
            .join(rel),
    )
    .unwrap()
}

fn refused(text: &str) -> String {
    match Booster::from_text(text) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

/// Replaces the first line starting with `key=` in the first tree.
fn edit(text: &str, key: &str, value: &str) -> String {
    let tree = text.find("Tree=0").unwrap();
    let at = tree + text[tree..].find(&format!("\n{key}=")).unwrap() + 1;
    let end = at + text[at..].find('\n').unwrap();
    format!("{}{key}={value}{}", &text[..at], &text[end..])
}

#[test]
fn every_truncation_is_refused_or_consistent() {
    let t = fixture("v4/categorical/model.txt");
    let lines: Vec<&str> = t.lines().collect();
    for n in 0..lines.len() {
        let cut = lines[..n].join("\n");
        if let Ok(b) = Booster::from_text(&cut) {
            let _ = b.predict(Rows::F64(&vec![0.0; b.n_features()]), &Predict::default());
        }
    }
    for n in (0..t.len()).step_by(53) {
        if let Ok(b) = Booster::from_text(&t[..n]) {
            let _ = b.predict(Rows::F64(&vec![0.0; b.n_features()]), &Predict::default());
        }
    }
    assert!(refused("").contains("end of trees"));
}

#[test]
fn structural_lies_are_refused() {
    let t = fixture("v4/regression/model.txt");
    let tree0 = &t[t.find("Tree=0").unwrap()..];
    let line = |k: &str| {
        let at = tree0.find(&format!("\n{k}=")).unwrap() + k.len() + 2;
        tree0[at..at + tree0[at..].find('\n').unwrap()].to_string()
    };
    let left = line("left_child");
    let n = left.split(' ').count();
    // A child pointing back to the root: a cycle.
    let cyc = format!("{} 0", left.rsplit_once(' ').unwrap().0);
    let e = refused(&edit(&t, "left_child", &cyc));
    assert!(
        e.contains("reached twice") || e.contains("own child"),
        "{e}"
    );
    let e = refused(&edit(
        &t,
        "left_child",
        &format!("{} 99", left.rsplit_once(' ').unwrap().0),
    ));
    assert!(e.contains("out of range"), "{e}");
    let e = refused(&edit(
        &t,
        "left_child",
        &format!("{} -99", left.rsplit_once(' ').unwrap().0),
    ));
    assert!(e.contains("leaf child"), "{e}");
    let e = refused(&edit(&t, "threshold", &vec!["nan"; n].join(" ")));
    assert!(e.contains("NaN threshold"), "{e}");
    let e = refused(&edit(&t, "split_feature", &vec!["7"; n].join(" ")));
    assert!(e.contains("feature 7"), "{e}");
    let e = refused(&edit(&t, "decision_type", &vec!["12"; n].join(" ")));
    assert!(e.contains("missing type 3"), "{e}");
    let e = refused(&edit(&t, "leaf_value", "1 2"));
    assert!(e.contains("leaf_value has 2 values"), "{e}");
    let e = refused(&edit(&t, "num_leaves", "99999999999"));
    assert!(e.contains("out of range"), "{e}");
    let e = refused(&t.replacen("max_feature_idx=4", "max_feature_idx=99999999999", 1));
    assert!(e.contains("max_feature_idx"), "{e}");
    let e = refused(&t.replacen("objective=regression", "objective=mystery", 1));
    assert!(e.contains("mystery"), "{e}");
    assert!(Booster::load(&[0xff, 0xfe, 0x00]).is_err());
}

#[test]
fn category_set_lies_are_refused() {
    let t = fixture("v4/categorical/model.txt");
    let e = refused(&edit(&t, "cat_boundaries", "0 99"));
    assert!(e.contains("cat_threshold"), "{e}");
    let e = refused(&edit(&t, "cat_boundaries", "3 2"));
    assert!(e.contains("cat_boundaries"), "{e}");
}

#[test]
fn wrong_input_widths_are_errors_and_threads_agree() {
    let b = Booster::from_text(&fixture("v4/multiclass/model.txt")).unwrap();
    assert!(
        b.predict(Rows::F64(&[0.0; 7]), &Predict::default())
            .is_err()
    );
    let x: Vec<f64> = (0..5 * 3000)
        .map(|i| ((i * 37) % 101) as f64 / 50.0 - 1.0)
        .collect();
    let one = b.predict(Rows::F64(&x), &Predict::default()).unwrap();
    let four = b
        .predict(
            Rows::F64(&x),
            &Predict {
                threads: 4,
                ..Predict::default()
            },
        )
        .unwrap();
    assert_eq!(one, four);
}
