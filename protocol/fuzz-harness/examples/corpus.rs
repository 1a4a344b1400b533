//! Writes every decoder's seeds into `<dir>/<target>/` (the cargo-fuzz corpus layout), for
//! `scripts/fuzz-requests.sh`: `cargo run -p oxserve-protocol-fuzz-harness --example corpus -- protocol/fuzz/corpus`.

use oxserve_protocol_fuzz_harness::{Decoder, seeds};

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "protocol/fuzz/corpus".into());
    for decoder in Decoder::ALL {
        let target = std::path::Path::new(&dir).join(decoder.name());
        std::fs::create_dir_all(&target)?;
        for (i, seed) in seeds(decoder).iter().enumerate() {
            std::fs::write(target.join(format!("seed-{i:02}")), seed)?;
        }
    }
    Ok(())
}
