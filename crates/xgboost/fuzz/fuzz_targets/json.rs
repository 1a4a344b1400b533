//! The json reader: any bytes load or are refused, and a loaded model predicts a row without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxserve_xgboost::{Booster, Format, Predict, Rows};

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = Booster::load_as(data, Format::Json) {
        if b.n_features() <= 4096 {
            let row = vec![0.5f32; b.n_features()];
            let _ = b.predict(Rows::F32(&row), &Predict::default());
        }
    }
});
