//! Every generated fixture (`fixtures/cases/{v3,v17}/<case>/model.{json,ubj,bst}`) against what XGBoost's own
//! `Booster.predict` returned (`expected.json`), and the shared conformance corpus's XGBoost cases when present.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use oxserve_core::FeatureKind;
use oxserve_xgboost::{Booster, Format, Predict, Rows};
use serde_json::Value;

#[path = "../../trees/tests/support/conformance.rs"]
mod support;
use support::{flat, read_json};

fn close(got: &[f64], want: &[f64], atol: f64, rtol: f64, what: &str) {
    if let Err(e) = support::close(got, want, atol, rtol, what) {
        panic!("{e}");
    }
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cases")
}

#[test]
fn generated_fixtures_match_booster_predict() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for version in ["v3", "v17"] {
        let dir = cases_dir().join(version);
        let mut cases: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        cases.sort();
        assert!(cases.len() >= 25, "{version}: only {} cases", cases.len());
        for case in cases {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let exp: Value = read_json(&case.join("expected.json"));
                let x = flat(&exp["X"]);
                for ext in ["json", "ubj", "bst"] {
                    let path = case.join(format!("model.{ext}"));
                    let Ok(bytes) = std::fs::read(&path) else {
                        continue;
                    };
                    let what = format!("{}", path.strip_prefix(cases_dir()).unwrap().display());
                    let b = match Booster::load(&bytes) {
                        Ok(b) => b,
                        Err(e) => {
                            failures.push(format!("{what}: {e}"));
                            continue;
                        }
                    };
                    let want_format = match (ext, version) {
                        ("json", _) => Format::Json,
                        ("bst", "v17") => Format::LegacyBinary,
                        _ => Format::Ubjson,
                    };
                    assert_eq!(b.format(), want_format, "{what}");
                    assert_eq!(
                        b.n_features(),
                        exp["n_features"].as_u64().unwrap() as usize,
                        "{what}"
                    );
                    let opts = Predict::default();
                    let m = b.predict_margin(Rows::F64(&x), &opts).unwrap();
                    close(
                        &m.values,
                        &flat(&exp["margin"]),
                        1e-6,
                        1e-6,
                        &format!("{what} margin"),
                    );
                    let p = b.predict(Rows::F64(&x), &opts).unwrap();
                    close(
                        &p.values,
                        &flat(&exp["predict"]),
                        1e-6,
                        1e-6,
                        &format!("{what} predict"),
                    );
                    // float32 input gives the same answers.
                    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                    assert_eq!(b.predict(Rows::F32(&x32), &opts).unwrap(), p, "{what} f32");
                    if let Some(best) = exp.get("best_iteration").and_then(Value::as_u64) {
                        assert_eq!(b.best_iteration(), Some(best as usize), "{what}");
                        let opts = Predict {
                            iteration_range: Some((0, best as usize + 1)),
                            threads: 1,
                        };
                        let m = b.predict_margin(Rows::F64(&x), &opts).unwrap();
                        close(
                            &m.values,
                            &flat(&exp["margin_best"]),
                            1e-6,
                            1e-6,
                            &format!("{what} margin_best"),
                        );
                        let p = b.predict(Rows::F64(&x), &opts).unwrap();
                        close(
                            &p.values,
                            &flat(&exp["predict_best"]),
                            1e-6,
                            1e-6,
                            &format!("{what} predict_best"),
                        );
                    }
                    checked += 1;
                }
            }));
            if r.is_err() {
                failures.push(format!("{}", case.display()));
            }
        }
    }
    assert!(failures.is_empty(), "failures: {failures:#?}");
    assert!(checked >= 100, "only {checked} model files checked");
}

#[test]
fn feature_names_and_types_come_from_the_file() {
    let dir = cases_dir().join("v3");
    let b = Booster::load(&std::fs::read(dir.join("feature-names/model.json")).unwrap()).unwrap();
    assert_eq!(b.feature_names(), ["f_0", "f_1", "f_2", "f_3", "f_4"]);
    let b = Booster::load(&std::fs::read(dir.join("categorical/model.ubj")).unwrap()).unwrap();
    assert_eq!(b.feature_types(), ["q", "q", "q", "c", "q"]);
    let b = Booster::load(&std::fs::read(dir.join("multi-softprob/model.json")).unwrap()).unwrap();
    assert_eq!(
        (b.num_class(), b.n_outputs(), b.objective()),
        (3, 3, "multi:softprob")
    );
}

/// DataFrame-trained models with `category` columns (`fixtures/tables`, XGBoost 3.2 with pandas): the categories
/// the file records, and a table of the records (strings, integer categories, missing values; columns by name)
/// encoded into codes predicting as `Booster.predict` on the DataFrame; an unseen category refused naming it.
#[test]
fn tables_with_category_columns_predict_as_on_the_dataframe() {
    use oxserve_core::{Categories, FeatureEncoder, UnseenCategory};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tables");
    for case in ["binary", "multi-onehot"] {
        let exp: Value = read_json(&dir.join(case).join("expected.json"));
        for ext in ["json", "ubj"] {
            let what = format!("{case}/model.{ext}");
            let b =
                Booster::load(&std::fs::read(dir.join(case).join(format!("model.{ext}"))).unwrap())
                    .unwrap();
            let kinds = b.feature_kinds();
            let colors = ["blue", "gray", "green", "red", "yellow"]
                .map(String::from)
                .to_vec();
            assert_eq!(
                kinds,
                vec![
                    FeatureKind::Numeric,
                    FeatureKind::Categorical(Some(Categories::Str(colors))),
                    FeatureKind::Numeric,
                    FeatureKind::Categorical(Some(Categories::Num(vec![10.0, 20.0, 30.0]))),
                    FeatureKind::Numeric,
                ],
                "{what}"
            );
            let encoder = FeatureEncoder::new(
                b.n_features(),
                b.feature_names(),
                &kinds,
                UnseenCategory::Refuse,
            );
            let x = encoder
                .encode(&support::table_of_records(&exp["records"]))
                .unwrap();
            let got = b.predict(Rows::F64(&x), &Predict::default()).unwrap();
            close(&got.values, &flat(&exp["predict"]), 1e-6, 1e-6, &what);
            let err = encoder
                .encode(&support::table_of_records(&exp["unseen"]))
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                "Found a category not in the training set for column `color`: `purple`",
                "{what}"
            );
        }
    }
    // A model trained on codes (numpy with feature_types) records no categories: codes only.
    let b = Booster::load(&std::fs::read(cases_dir().join("v3/categorical/model.json")).unwrap())
        .unwrap();
    assert!(b.categories().iter().all(Option::is_none));
    assert_eq!(b.feature_kinds()[3], FeatureKind::Categorical(None));
}

/// The shared corpus's `xgboost-*` cases: the booster's `predict` is the wrapper's `predict_proba` for classifiers
/// and `predict` for regressors.
#[test]
fn shared_corpus() {
    let Some(cases) = support::shared_cases(env!("CARGO_MANIFEST_DIR"), "xgboost-") else {
        return;
    };
    for dir in cases {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let case = read_json(&dir.join("case.json"));
        let model = std::fs::read(dir.join(case["artifact"].as_str().unwrap())).unwrap();
        let b = Booster::load(&model).unwrap_or_else(|e| panic!("{name}: {e}"));
        let x = flat(&case["X"]);
        let atol = case["atol"].as_f64().unwrap_or(1e-6);
        let rtol = case["rtol"].as_f64().unwrap_or(1e-6);
        let p = b.predict(Rows::F64(&x), &Predict::default()).unwrap();
        let outputs = &case["outputs"];
        let want = outputs.get("predict_proba").unwrap_or(&outputs["predict"]);
        close(&p.values, &flat(want), atol, rtol, &name);
        if outputs.get("predict_proba").is_some() {
            // Class labels: the argmax of the probabilities.
            let labels: Vec<f64> = p
                .values
                .chunks(p.n_cols)
                .map(|r| (0..r.len()).fold(0, |b, k| if r[k] > r[b] { k } else { b }) as f64)
                .collect();
            assert_eq!(labels, flat(&outputs["predict"]), "{name} labels");
        }
    }
}
