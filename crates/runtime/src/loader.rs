//! What servers' loaders and tabular models share: the model file a folder holds, a thread-count parameter, and
//! a request's one `rows × features` input.

use std::path::{Path, PathBuf};

use oxserve_core::{ModelError, PredictRequest, Tensor};

use crate::Parameters;

/// The first of `names` present in the model folder `dir` (or `dir` itself when it is a file, as a `model_uri`
/// may name one). Without any, the error names the folder and the files looked for, `what` saying whose
/// (`"XGBoost model"`).
pub fn find_model_file(dir: &Path, names: &[&str], what: &str) -> anyhow::Result<PathBuf> {
    if dir.is_file() {
        return Ok(dir.to_path_buf());
    }
    names
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no {what} in {}: expected {}",
                dir.display(),
                names.join(", or ")
            )
        })
}

/// [`find_model_file`], then its bytes (an error names the file).
pub fn read_model_file(
    dir: &Path,
    names: &[&str],
    what: &str,
) -> anyhow::Result<(PathBuf, Vec<u8>)> {
    let file = find_model_file(dir, names, what)?;
    let bytes =
        std::fs::read(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    Ok((file, bytes))
}

/// A count parameter such as `nthread` (`INT` or text): `default` when absent; a value that is not a whole
/// number from 1 to `max` refuses the start, naming the parameter.
pub fn count_parameter(
    parameters: &Parameters,
    name: &str,
    default: usize,
    max: usize,
) -> anyhow::Result<usize> {
    let Some(text) = parameters.get_text(name) else {
        return Ok(default);
    };
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            anyhow::anyhow!("parameter {name} must be a whole number from 1 to {max}, got {text:?}")
        })
}

/// The request's one input, a `rows × features` matrix (a 1-D tensor is one row), with exactly `n_features`
/// columns: else a [`ModelError::BadInput`] naming `server` for a wrong input count, or `mismatch(columns)` for a
/// wrong width (each library words it its own way).
pub fn single_matrix<'a>(
    request: &'a PredictRequest,
    server: &str,
    n_features: usize,
    mismatch: impl FnOnce(usize) -> String,
) -> Result<&'a Tensor, ModelError> {
    let [input] = request.inputs.as_slice() else {
        return Err(ModelError::BadInput(format!(
            "{server} takes exactly one input tensor (rows x features), got {}",
            request.inputs.len()
        )));
    };
    let cols = match *input.tensor.shape() {
        [_, cols] | [cols] => cols,
        ref other => {
            return Err(ModelError::BadInput(format!(
                "expected a 2-D array (rows x features), got shape {other:?}"
            )));
        }
    };
    if cols != n_features {
        return Err(ModelError::BadInput(mismatch(cols)));
    }
    Ok(&input.tensor)
}
