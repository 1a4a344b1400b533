//! Atomic placement: everything is downloaded into a hidden staging folder on the same
//! filesystem as the destination and moved into place only once complete.
//!
//! - DEST absent: staging is `.<name>.oxserve-staging-*` beside it, and one `rename` publishes
//!   the whole model.
//! - DEST an existing folder (the init container's empty mount point): staging is
//!   `DEST/.oxserve-staging-*` (a sibling could be on another filesystem), and its children are
//!   renamed into DEST one by one at the end. Entries already in DEST with the same names are
//!   replaced, as `rclone copy` would overwrite them.
//!
//! A failed fetch removes its staging folder; a staging folder left by a killed process is
//! removed by the next fetch into the same destination.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::StorageError;

/// Marker in the names of staging folders.
pub(crate) const STAGING_MARK: &str = "oxserve-staging-";

/// A staging area for one fetch.
pub(crate) struct Staging {
    /// Removed on drop unless the content was moved out.
    tmp: tempfile::TempDir,
    dest: PathBuf,
    into_existing: bool,
}

impl Staging {
    /// Creates the staging folder for `dest`.
    pub(crate) fn new(dest: &Path) -> Result<Self, StorageError> {
        let dest_err = |reason: String| StorageError::Destination {
            path: dest.to_path_buf(),
            reason,
        };
        match fs::metadata(dest) {
            Ok(m) if m.is_dir() => {
                remove_stale(dest);
                let tmp = tempfile::Builder::new()
                    .prefix(&format!(".{STAGING_MARK}"))
                    .tempdir_in(dest)
                    .map_err(|e| dest_err(format!("cannot create a staging folder in it: {e}")))?;
                Ok(Self {
                    tmp,
                    dest: dest.to_path_buf(),
                    into_existing: true,
                })
            }
            Ok(_) => Err(dest_err("exists and is not a folder".to_string())),
            Err(_) => {
                let name = dest
                    .file_name()
                    .ok_or_else(|| dest_err("has no folder name".to_string()))?
                    .to_string_lossy()
                    .into_owned();
                let parent = match dest.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                fs::create_dir_all(&parent)
                    .map_err(|e| StorageError::io("create folder", &parent, e))?;
                remove_stale_named(&parent, &format!(".{name}.{STAGING_MARK}"));
                let tmp = tempfile::Builder::new()
                    .prefix(&format!(".{name}.{STAGING_MARK}"))
                    .tempdir_in(&parent)
                    .map_err(|e| {
                        dest_err(format!("cannot create a staging folder beside it: {e}"))
                    })?;
                Ok(Self {
                    tmp,
                    dest: dest.to_path_buf(),
                    into_existing: false,
                })
            }
        }
    }

    /// The folder to download into.
    pub(crate) fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Moves the staged content into the destination and returns the destination.
    ///
    /// Refuses to publish an empty staging folder: an empty model folder must never look like a
    /// successful fetch.
    pub(crate) fn commit(self, source: &str) -> Result<PathBuf, StorageError> {
        let staged = self.tmp.path();
        if count_files(staged)? == 0 {
            return Err(StorageError::NotFound {
                uri: source.to_string(),
            });
        }
        if !self.into_existing {
            match fs::rename(staged, &self.dest) {
                Ok(()) => {
                    // The folder now lives at dest; stop TempDir from deleting it.
                    let _ = self.tmp.keep();
                    return Ok(self.dest);
                }
                // Someone created DEST meanwhile: fall back to moving children in.
                Err(_) if self.dest.is_dir() => {}
                Err(e) => return Err(StorageError::io("move into place", &self.dest, e)),
            }
        }
        let entries = fs::read_dir(staged).map_err(|e| StorageError::io("list", staged, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io("list", staged, e))?;
            let target = self.dest.join(entry.file_name());
            if let Ok(m) = fs::symlink_metadata(&target) {
                tracing::warn!(path = %target.display(), "replacing existing entry in destination");
                let removed = if m.is_dir() {
                    fs::remove_dir_all(&target)
                } else {
                    fs::remove_file(&target)
                };
                removed.map_err(|e| StorageError::io("replace", &target, e))?;
            }
            fs::rename(entry.path(), &target)
                .map_err(|e| StorageError::io("move into place", &target, e))?;
        }
        Ok(self.dest)
    }
}

/// Regular files (and links) under `dir`, at any depth.
pub(crate) fn count_files(dir: &Path) -> Result<usize, StorageError> {
    let mut n = 0;
    for entry in fs::read_dir(dir).map_err(|e| StorageError::io("list", dir, e))? {
        let entry = entry.map_err(|e| StorageError::io("list", dir, e))?;
        let ft = entry
            .file_type()
            .map_err(|e| StorageError::io("read", entry.path(), e))?;
        if ft.is_dir() {
            n += count_files(&entry.path())?;
        } else {
            n += 1;
        }
    }
    Ok(n)
}

fn remove_stale(dest: &Path) {
    remove_stale_named(dest, &format!(".{STAGING_MARK}"));
}

/// Best effort: a leftover we cannot remove only wastes space.
fn remove_stale_named(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            tracing::info!(path = %entry.path().display(), "removing staging folder left by an earlier run");
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn new_dest_is_published_by_one_rename() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("models");
        let staging = Staging::new(&dest).unwrap();
        assert!(staging.path().starts_with(root.path()));
        assert!(!dest.exists(), "nothing visible at DEST while staging");
        fs::write(staging.path().join("model.joblib"), b"x").unwrap();
        let placed = staging.commit("src").unwrap();
        assert_eq!(placed, dest);
        assert_eq!(fs::read(dest.join("model.joblib")).unwrap(), b"x");
        let leftovers: Vec<_> = fs::read_dir(root.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only DEST remains");
    }

    #[test]
    fn existing_mount_point_gets_children_moved_in() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("mnt-models");
        fs::create_dir(&dest).unwrap();
        fs::create_dir(dest.join(".oxserve-staging-stale")).unwrap();
        fs::write(dest.join("old.txt"), b"old").unwrap();
        let staging = Staging::new(&dest).unwrap();
        assert!(staging.path().starts_with(&dest));
        assert!(!dest.join(".oxserve-staging-stale").exists());
        fs::create_dir(staging.path().join("sub")).unwrap();
        fs::write(staging.path().join("sub/a"), b"a").unwrap();
        fs::write(staging.path().join("old.txt"), b"new").unwrap();
        staging.commit("src").unwrap();
        assert_eq!(fs::read(dest.join("sub/a")).unwrap(), b"a");
        assert_eq!(fs::read(dest.join("old.txt")).unwrap(), b"new");
        let mut names: Vec<_> = fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["old.txt", "sub"]);
    }

    #[test]
    fn failed_fetch_leaves_nothing_and_empty_result_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("m");
        let staging = Staging::new(&dest).unwrap();
        fs::create_dir(staging.path().join("empty-dir")).unwrap();
        let err = staging.commit("s3://b/empty").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no model found at `s3://b/empty`: no object or non-empty prefix by that name"
        );
        assert!(!dest.exists());
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);

        let staging = Staging::new(&dest).unwrap();
        fs::write(staging.path().join("partial"), b"p").unwrap();
        drop(staging);
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn dest_that_is_a_file_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("f");
        fs::write(&dest, b"").unwrap();
        let err = Staging::new(&dest).err().unwrap();
        assert!(err.to_string().ends_with("exists and is not a folder"));
    }
}
