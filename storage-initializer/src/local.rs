//! Local sources (plain paths, `file://`, `pvc://` mounts): copied like `rclone copy` does.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use crate::error::StorageError;

/// Deepest folder nesting followed; guards against symlink cycles.
const MAX_DEPTH: usize = 64;

/// Copies the file or the folder's contents at `src` into `into`. Returns the number of files.
///
/// Symlinks are followed (a model folder is copied as the files it shows); a folder with no file
/// at any depth is [`StorageError::NotFound`] so an empty source never looks like a model.
pub(crate) async fn copy(src: &Path, display: &str, into: &Path) -> Result<usize, StorageError> {
    let (src, to, display) = (src.to_path_buf(), into.to_path_buf(), display.to_string());
    tokio::task::spawn_blocking(move || copy_blocking(&src, &display, &to))
        .await
        .map_err(|e| StorageError::Destination {
            path: into.to_path_buf(),
            reason: format!("copy task failed: {e}"),
        })?
}

fn copy_blocking(src: &Path, display: &str, into: &Path) -> Result<usize, StorageError> {
    let meta = match fs::metadata(src) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(StorageError::NotFound {
                uri: display.to_string(),
            });
        }
        Err(e) => return Err(StorageError::io("read", src, e)),
    };
    if meta.is_dir() {
        let n = copy_dir(src, into, 0)?;
        if n == 0 {
            return Err(StorageError::NotFound {
                uri: display.to_string(),
            });
        }
        Ok(n)
    } else {
        let name = src.file_name().ok_or_else(|| StorageError::InvalidUri {
            uri: display.to_string(),
            reason: "path has no file name".to_string(),
        })?;
        let to = into.join(name);
        fs::copy(src, &to).map_err(|e| StorageError::io("copy", src, e))?;
        Ok(1)
    }
}

fn copy_dir(src: &Path, to: &Path, depth: usize) -> Result<usize, StorageError> {
    if depth > MAX_DEPTH {
        return Err(StorageError::Destination {
            path: src.to_path_buf(),
            reason: format!("folders nested deeper than {MAX_DEPTH} (symlink cycle?)"),
        });
    }
    let mut count = 0;
    let entries = fs::read_dir(src).map_err(|e| StorageError::io("list", src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list", src, e))?;
        if entry
            .file_name()
            .to_string_lossy()
            .contains(crate::place::STAGING_MARK)
        {
            // Our own staging folder, when DEST lies inside the source.
            continue;
        }
        let from = entry.path();
        let target = to.join(entry.file_name());
        let meta = match fs::metadata(&from) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                tracing::warn!(path = %from.display(), "skipping dangling symlink");
                continue;
            }
            Err(e) => return Err(StorageError::io("read", &from, e)),
        };
        if meta.is_dir() {
            fs::create_dir_all(&target)
                .map_err(|e| StorageError::io("create folder", &target, e))?;
            count += copy_dir(&from, &target, depth + 1)?;
        } else {
            fs::copy(&from, &target).map_err(|e| StorageError::io("copy", &from, e))?;
            count += 1;
        }
    }
    Ok(count)
}
