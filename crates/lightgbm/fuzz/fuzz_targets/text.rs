//! The text-model reader: any bytes load or are refused, and a loaded model predicts a row without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxserve_lightgbm::{Booster, Predict, Rows};

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = Booster::load(data) {
        if b.n_features() <= 4096 {
            let row = vec![0.5f64; b.n_features()];
            let _ = b.predict(Rows::F64(&row), &Predict::default());
        }
    }
});
