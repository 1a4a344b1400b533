//! Every generated fixture (`fixtures/cases/{v4,v3}/<case>/model.txt`) against what LightGBM's own
//! `Booster.predict` returned (`expected.json`), and the shared corpus's LightGBM cases when present.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use oxserve_lightgbm::{Booster, Predict, Rows};
use serde_json::Value;

#[path = "../../trees/tests/support/conformance.rs"]
mod support;
use support::{close, flat, read_json};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cases")
}

fn check_case(case: &Path) -> Result<(), String> {
    let exp: Value = read_json(&case.join("expected.json"));
    let what = case
        .strip_prefix(cases_dir())
        .unwrap()
        .display()
        .to_string();
    let b = Booster::load(&std::fs::read(case.join("model.txt")).unwrap())
        .map_err(|e| format!("{what}: {e}"))?;
    let x = flat(&exp["X"]);
    let all = Predict::default();
    let two = Predict {
        num_iteration: Some(2),
        ..Predict::default()
    };
    let run = |opts: &Predict, raw: bool| {
        if raw {
            b.predict_raw(Rows::F64(&x), opts)
        } else {
            b.predict(Rows::F64(&x), opts)
        }
        .map(|o| o.values)
        .map_err(|e| e.to_string())
    };
    close(
        &run(&all, true)?,
        &flat(&exp["raw"]),
        1e-9,
        1e-9,
        &format!("{what} raw"),
    )?;
    close(
        &run(&all, false)?,
        &flat(&exp["predict"]),
        1e-9,
        1e-9,
        &format!("{what} predict"),
    )?;
    close(
        &run(&two, true)?,
        &flat(&exp["raw_2"]),
        1e-9,
        1e-9,
        &format!("{what} raw_2"),
    )?;
    close(
        &run(&two, false)?,
        &flat(&exp["predict_2"]),
        1e-9,
        1e-9,
        &format!("{what} predict_2"),
    )?;
    Ok(())
}

#[test]
fn generated_fixtures_match_booster_predict() {
    let mut failures = Vec::new();
    let mut n = 0;
    for version in ["v4", "v3"] {
        let mut cases: Vec<_> = std::fs::read_dir(cases_dir().join(version))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        cases.sort();
        assert!(cases.len() >= 25, "{version}: {} cases", cases.len());
        for case in cases {
            if let Err(e) = check_case(&case) {
                failures.push(e);
            }
            n += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed: {failures:#?}",
        failures.len()
    );
}

/// The shared corpus (`../shared/conformance/public/lightgbm-*`, or `$OXSERVE_SHARED/conformance/public`): the
/// booster's `predict` is the wrapper's `predict_proba` for classifiers, its raw score `decision_function`.
#[test]
fn shared_corpus() {
    let Some(cases) = support::shared_cases(env!("CARGO_MANIFEST_DIR"), "lightgbm-") else {
        return;
    };
    for dir in cases {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let case = read_json(&dir.join("case.json"));
        let model = std::fs::read(dir.join(case["artifact"].as_str().unwrap())).unwrap();
        let b = Booster::load(&model).unwrap();
        let x = flat(&case["X"]);
        let atol = case["atol"].as_f64().unwrap_or(1e-9);
        let rtol = case["rtol"].as_f64().unwrap_or(1e-9);
        let outputs = &case["outputs"];
        let p = b.predict(Rows::F64(&x), &Predict::default()).unwrap();
        let want = outputs.get("predict_proba").unwrap_or(&outputs["predict"]);
        close(&p.values, &flat(want), atol, rtol, &name).unwrap();
        if let Some(df) = outputs.get("decision_function") {
            let raw = b.predict_raw(Rows::F64(&x), &Predict::default()).unwrap();
            close(&raw.values, &flat(df), atol, rtol, &format!("{name} raw")).unwrap();
        }
    }
}

/// DataFrame-trained models with `category` columns (`fixtures/tables`, LightGBM 4.7 with pandas): the categories
/// from `pandas_categorical` paired with the categorical features, and a table of the records (strings, integer
/// categories, missing values, an unseen category and an unseen size, both NaN as in `_data_from_pandas`;
/// columns by name) predicting as `Booster.predict` on the DataFrame.
#[test]
fn tables_with_category_columns_predict_as_on_the_dataframe() {
    use oxserve_core::{Categories, FeatureEncoder, FeatureKind, UnseenCategory};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tables");
    for case in ["binary", "multiclass"] {
        let exp: Value = read_json(&dir.join(case).join("expected.json"));
        let b = Booster::load(&std::fs::read(dir.join(case).join("model.txt")).unwrap()).unwrap();
        let colors = ["blue", "gray", "green", "red", "ünïcode"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            b.feature_kinds(),
            [
                FeatureKind::Numeric,
                FeatureKind::Categorical(Some(Categories::Str(colors))),
                FeatureKind::Numeric,
                FeatureKind::Categorical(Some(Categories::Num(vec![10.0, 20.0, 30.0]))),
                FeatureKind::Numeric,
            ],
            "{case}"
        );
        let encoder = FeatureEncoder::new(
            b.n_features(),
            b.feature_names(),
            b.feature_kinds(),
            UnseenCategory::Missing,
        );
        let x = encoder
            .encode(&support::table_of_records(&exp["records"]))
            .unwrap();
        let got = b.predict(Rows::F64(&x), &Predict::default()).unwrap();
        close(&got.values, &flat(&exp["predict"]), 1e-12, 1e-12, case).unwrap();
    }
}
