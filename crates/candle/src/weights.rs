//! Reading a state dict: `model.safetensors`, or a PyTorch `pytorch_model.bin` / `*.pt` pickle (read by
//! candle's pickle reader, which builds tensors and never runs code). TorchScript archives are refused.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::CandleError;

/// The weight files tried in a model folder, in order (then any `*.pt` / `*.pth`).
pub const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

/// What the server reads, for error messages.
pub(crate) const SUPPORTED: &str = "model.safetensors, or a PyTorch state dict saved with torch.save \
(pytorch_model.bin, *.pt, *.pth) for a BERT, RoBERTa or DistilBERT config.json (embeddings or \
*ForSequenceClassification), or an MLP described by mlp.json";

/// Finds the weights file in `dir`.
pub fn find_weights(dir: &Path) -> Result<PathBuf, CandleError> {
    for name in WEIGHT_FILES {
        let path = dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    let mut others: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CandleError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e == "pt" || e == "pth" || e == "bin")
        })
        .collect();
    others.sort();
    others.into_iter().next().ok_or_else(|| {
        CandleError::Unsupported(format!(
            "no weights in {}; supported: {SUPPORTED}",
            dir.display()
        ))
    })
}

/// Whether `path` is a zip archive that holds a TorchScript program (`constants.pkl` or a `code/` folder).
fn is_torchscript(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut magic = [0u8; 4];
    if file.take(4).read_exact(&mut magic).is_err() || &magic != b"PK\x03\x04" {
        return false;
    }
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(archive) = zip::ZipArchive::new(file) else {
        return false;
    };
    archive.file_names().filter_map(Result::ok).any(|name| {
        let mut parts = name.split('/');
        // torch.save archives are `<root>/data.pkl`; TorchScript adds `<root>/constants.pkl` and `<root>/code/`.
        let _root = parts.next();
        matches!(parts.next(), Some("constants.pkl") | Some("code"))
    })
}

/// Reads every tensor of a weights file, as float32 on `device`, with keys normalised (see [`normalise_key`]).
pub fn read_state_dict(
    path: &Path,
    device: &Device,
) -> Result<HashMap<String, Tensor>, CandleError> {
    let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
    let raw: Vec<(String, Tensor)> = if is_safetensors {
        candle_core::safetensors::load(path, device)
            .map_err(|e| CandleError::weights(path, e))?
            .into_iter()
            .collect()
    } else {
        if is_torchscript(path) {
            return Err(CandleError::TorchScript {
                path: path.to_path_buf(),
            });
        }
        candle_core::pickle::read_all(path).map_err(|e| CandleError::weights(path, e))?
    };
    let mut out = HashMap::with_capacity(raw.len());
    for (key, tensor) in raw {
        let tensor = if tensor.dtype().is_float() {
            tensor
                .to_dtype(DType::F32)
                .and_then(|t| t.to_device(device))
                .map_err(|e| CandleError::weights(path, e))?
        } else {
            tensor
        };
        out.insert(normalise_key(&key), tensor);
    }
    Ok(out)
}

/// Old checkpoints name LayerNorm parameters `gamma` / `beta`; candle expects `weight` / `bias`. A leading
/// `module.` (a DataParallel wrapper) is dropped.
fn normalise_key(key: &str) -> String {
    let key = key.strip_prefix("module.").unwrap_or(key);
    if let Some(base) = key.strip_suffix(".gamma") {
        format!("{base}.weight")
    } else if let Some(base) = key.strip_suffix(".beta") {
        format!("{base}.bias")
    } else {
        key.to_string()
    }
}

/// A builder over the encoder's tensors at the root: a checkpoint with a head keeps its encoder under `prefix.`
/// (`bert.`, `roberta.`, `distilbert.`), which is stripped; one without (sentence-transformers) has it at the
/// root already. The heads (`pooler.`, `classifier.`, `pre_classifier.`) are read from the full dict.
pub(crate) fn encoder_builder(
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    device: &Device,
) -> VarBuilder<'static> {
    let dotted = format!("{prefix}.");
    let has_prefix = tensors.keys().any(|k| k.starts_with(&dotted));
    let map: HashMap<String, Tensor> = tensors
        .iter()
        .map(|(k, t)| {
            let key = if has_prefix {
                k.strip_prefix(&dotted).unwrap_or(k).to_string()
            } else {
                k.clone()
            };
            (key, t.clone())
        })
        .collect();
    VarBuilder::from_tensors(map, DType::F32, device)
}
