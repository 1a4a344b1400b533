//! Where the ONNX file lives: `model.onnx` in the model folder, or TF Serving's `<base>/<version>/model.onnx`.

use std::path::{Path, PathBuf};

use crate::OnnxError;

/// The model file name looked for.
pub const MODEL_FILE: &str = "model.onnx";

/// A TensorFlow SavedModel's graph file, recognised to tell the user how to convert it.
pub const SAVED_MODEL_FILE: &str = "saved_model.pb";

/// The ONNX file to serve and the TF Serving version directory it came from, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    /// The `.onnx` file.
    pub path: PathBuf,
    /// The numeric version directory it was found in (`<base>/<version>/model.onnx`), else `None`.
    pub version: Option<u64>,
}

/// Finds the model in `dir`: a `.onnx` file given directly, `dir/model.onnx`, else the highest numeric version
/// directory holding `model.onnx` or `saved_model.pb` (non-numeric children are ignored, as TF Serving ignores
/// them). A SavedModel without an ONNX file is an error carrying the `tf2onnx` command that converts it.
pub fn find_model(dir: &Path) -> Result<ModelFile, OnnxError> {
    if dir.is_file() {
        return Ok(ModelFile {
            path: dir.to_path_buf(),
            version: None,
        });
    }
    if !dir.is_dir() {
        return Err(OnnxError::NoModel {
            dir: dir.to_path_buf(),
            looked_for: "the folder does not exist".to_owned(),
        });
    }
    if let Some(found) = in_folder(dir, None)? {
        return Ok(found);
    }
    let mut versions: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| OnnxError::Io {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            let is_number = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
            is_number.then(|| name.parse::<u64>().ok().map(|v| (v, e.path())))?
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    for (version, path) in &versions {
        if let Some(found) = in_folder(path, Some(*version))? {
            return Ok(found);
        }
    }
    Err(OnnxError::NoModel {
        dir: dir.to_path_buf(),
        looked_for: format!(
            "{MODEL_FILE} in the folder, or <version>/{MODEL_FILE} in a numeric version folder (TF Serving's \
             layout){}",
            if versions.is_empty() {
                String::new()
            } else {
                format!(
                    "; version folders seen: {}",
                    versions
                        .iter()
                        .map(|(v, _)| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
    })
}

fn in_folder(dir: &Path, version: Option<u64>) -> Result<Option<ModelFile>, OnnxError> {
    let onnx = dir.join(MODEL_FILE);
    if onnx.is_file() {
        return Ok(Some(ModelFile {
            path: onnx,
            version,
        }));
    }
    if dir.join(SAVED_MODEL_FILE).is_file() {
        let dir = dir.display();
        return Err(OnnxError::SavedModel {
            command: format!(
                "python -m tf2onnx.convert --saved-model {dir} --output {dir}/{MODEL_FILE}"
            ),
        });
    }
    Ok(None)
}
