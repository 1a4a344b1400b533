//! Trains smartcore's logistic regression on iris and writes `model.smartcore.json` the way a Rust user would:
//! `cargo run -p oxserve-rustml --example train_iris -- OUT_DIR`. The repo's `examples/iris-smartcore` was written
//! this way.

use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::LogisticRegression;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).unwrap_or_else(|| ".".to_string());
    let d = smartcore::dataset::iris::load_dataset();
    let x: Vec<f64> = d.data.iter().map(|&v| f64::from(v)).collect();
    let y: Vec<i64> = d.target.iter().map(|&t| i64::from(t)).collect();
    let x = DenseMatrix::new(d.num_samples, d.num_features, x, false)?;
    let model = LogisticRegression::fit(&x, &y, Default::default())?;
    let json = oxserve_rustml::save("smartcore", "LogisticRegression", &model)?;
    let path = std::path::Path::new(&out).join(oxserve_rustml::SMARTCORE_FILE);
    std::fs::write(&path, json)?;
    println!("{}", path.display());
    Ok(())
}
