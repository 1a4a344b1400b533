//! `Booster::load_serialized`, the path `oxserve-sklearn` reads a pickled `XGBClassifier` / `XGBRegressor`'s
//! booster through (the `{"Config", "Model"}` document in UBJSON or JSON, the old `CONFIG-offset:` framing, or a
//! bare model): any bytes load or are refused, and a loaded model predicts a row without panicking. (A pickled
//! LightGBM wrapper's model string goes through `Booster::from_text`, the `text` target of crates/lightgbm/fuzz.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxserve_xgboost::{Booster, Predict, Rows};

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = Booster::load_serialized(data) {
        if b.n_features() <= 4096 {
            let row = vec![0.5f32; b.n_features()];
            let _ = b.predict(Rows::F32(&row), &Predict::default());
        }
    }
});
