//! Unpacking `.tar`, `.tar.gz`/`.tgz` and `.zip` the way KServe does, without letting an entry
//! land outside the destination.
//!
//! Refused: absolute names, names with `..`, entries written through a symlink that leads out of
//! the destination, symlinks whose target is absolute or resolves outside it, hard links to
//! anything outside it, and device/FIFO entries. Any refusal fails the whole fetch.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use crate::error::StorageError;

/// The archive formats KServe unpacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// `.tar`
    Tar,
    /// `.tar.gz` or `.tgz`
    TarGz,
    /// `.zip`
    Zip,
}

impl ArchiveKind {
    /// The kind a file name's suffix names (case-insensitive), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
            Some(Self::TarGz)
        } else if lower.ends_with(".tar") {
            Some(Self::Tar)
        } else if lower.ends_with(".zip") {
            Some(Self::Zip)
        } else {
            None
        }
    }
}

/// Unpacks `archive` into the existing folder `dest`. Returns the number of files written.
///
/// Blocking: call it from `spawn_blocking`.
pub fn extract(archive: &Path, kind: ArchiveKind, dest: &Path) -> Result<usize, StorageError> {
    let root = fs::canonicalize(dest).map_err(|e| StorageError::io("open", dest, e))?;
    let mut out = Unpacker {
        archive: archive.to_path_buf(),
        root,
        files: 0,
    };
    let file = File::open(archive).map_err(|e| StorageError::io("open", archive, e))?;
    match kind {
        ArchiveKind::Tar => out.tar(BufReader::new(file))?,
        ArchiveKind::TarGz => out.tar(flate2::read::MultiGzDecoder::new(BufReader::new(file)))?,
        ArchiveKind::Zip => out.zip(file)?,
    }
    out.verify_links(&out.root.clone())?;
    Ok(out.files)
}

struct Unpacker {
    archive: PathBuf,
    /// Canonical destination.
    root: PathBuf,
    files: usize,
}

impl Unpacker {
    fn bad(&self, reason: impl std::fmt::Display) -> StorageError {
        StorageError::Archive {
            path: self.archive.clone(),
            reason: reason.to_string(),
        }
    }

    fn unsafe_entry(&self, entry: &str, reason: &str) -> StorageError {
        StorageError::UnsafeArchiveEntry {
            archive: self.archive.clone(),
            entry: entry.to_string(),
            reason: reason.to_string(),
        }
    }

    fn tar(&mut self, reader: impl Read) -> Result<(), StorageError> {
        let mut tar = tar::Archive::new(reader);
        let entries = tar.entries().map_err(|e| self.bad(e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.bad(e))?;
            let name = entry.path().map_err(|e| self.bad(e))?.into_owned();
            let shown = name.display().to_string();
            let kind = entry.header().entry_type();
            use tar::EntryType as T;
            match kind {
                T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => continue,
                T::Directory => {
                    if let Some(rel) = self.relative(&name, &shown)? {
                        self.dir(&rel, &shown)?;
                    }
                }
                T::Regular | T::Continuous | T::GNUSparse => {
                    let rel = self.file_target(&name, &shown)?;
                    let mode = entry.header().mode().unwrap_or(0o644);
                    self.file(&rel, &shown, &mut entry, mode)?;
                }
                T::Symlink => {
                    let rel = self.file_target(&name, &shown)?;
                    let target = entry
                        .link_name()
                        .map_err(|e| self.bad(e))?
                        .ok_or_else(|| self.unsafe_entry(&shown, "symlink without a target"))?
                        .into_owned();
                    self.symlink(&rel, &shown, &target)?;
                }
                T::Link => {
                    let rel = self.file_target(&name, &shown)?;
                    let target = entry
                        .link_name()
                        .map_err(|e| self.bad(e))?
                        .ok_or_else(|| self.unsafe_entry(&shown, "hard link without a target"))?
                        .into_owned();
                    self.hard_link(&rel, &shown, &target)?;
                }
                _ => {
                    return Err(self.unsafe_entry(
                        &shown,
                        "device, FIFO or unknown entries are not allowed in a model archive",
                    ));
                }
            }
        }
        Ok(())
    }

    fn zip(&mut self, file: File) -> Result<(), StorageError> {
        let mut zip = zip::ZipArchive::new(file).map_err(|e| self.bad(e))?;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(|e| self.bad(e))?;
            let shown = entry.name().map_err(|e| self.bad(e))?.into_owned();
            let name = PathBuf::from(&shown);
            let mode = entry.unix_mode();
            if entry.is_dir() {
                if let Some(rel) = self.relative(&name, &shown)? {
                    self.dir(&rel, &shown)?;
                }
            } else if mode.is_some_and(|m| m & 0o170000 == 0o120000) {
                let rel = self.file_target(&name, &shown)?;
                let mut target = String::new();
                entry.read_to_string(&mut target).map_err(|e| self.bad(e))?;
                self.symlink(&rel, &shown, Path::new(&target))?;
            } else {
                let rel = self.file_target(&name, &shown)?;
                self.file(&rel, &shown, &mut entry, mode.unwrap_or(0o644))?;
            }
        }
        Ok(())
    }

    /// The entry's name as a clean relative path; `None` for the archive root (`./`).
    fn relative(&self, name: &Path, shown: &str) -> Result<Option<PathBuf>, StorageError> {
        let mut rel = PathBuf::new();
        for c in name.components() {
            match c {
                Component::Normal(p) => rel.push(p),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(self.unsafe_entry(shown, "path contains `..`"));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.unsafe_entry(shown, "absolute path"));
                }
            }
        }
        Ok((!rel.as_os_str().is_empty()).then_some(rel))
    }

    /// Like [`Self::relative`] for entries that must name something (a file or a link), with the
    /// parent folder created and proven to lie inside the destination, and any previous file or
    /// link at that name removed so nothing is written through it.
    fn file_target(&self, name: &Path, shown: &str) -> Result<PathBuf, StorageError> {
        let rel = self
            .relative(name, shown)?
            .ok_or_else(|| self.unsafe_entry(shown, "empty name"))?;
        let full = self.root.join(&rel);
        if let Some(parent) = full.parent() {
            self.inside(parent, shown)?;
        }
        match fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => {
                return Err(self.unsafe_entry(shown, "a folder of that name was unpacked before"));
            }
            Ok(_) => fs::remove_file(&full).map_err(|e| StorageError::io("replace", &full, e))?,
            Err(_) => {}
        }
        Ok(rel)
    }

    /// Creates `dir` (absolute, under the root) if needed and checks that, with symlinks
    /// resolved, it is still under the root.
    fn inside(&self, dir: &Path, shown: &str) -> Result<(), StorageError> {
        fs::create_dir_all(dir).map_err(|e| StorageError::io("create folder", dir, e))?;
        let real = fs::canonicalize(dir).map_err(|e| StorageError::io("open", dir, e))?;
        if real.starts_with(&self.root) {
            Ok(())
        } else {
            Err(self.unsafe_entry(shown, "path leads through a symlink out of the destination"))
        }
    }

    fn dir(&self, rel: &Path, shown: &str) -> Result<(), StorageError> {
        self.inside(&self.root.join(rel), shown)
    }

    fn file(
        &mut self,
        rel: &Path,
        shown: &str,
        reader: &mut impl Read,
        mode: u32,
    ) -> Result<(), StorageError> {
        let full = self.root.join(rel);
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&full)
            .map_err(|e| StorageError::io("create", &full, e))?;
        io::copy(reader, &mut out).map_err(|e| self.bad(format!("{shown}: {e}")))?;
        if mode & 0o111 != 0 {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&full, fs::Permissions::from_mode(0o755))
                .map_err(|e| StorageError::io("chmod", &full, e))?;
        }
        self.files += 1;
        Ok(())
    }

    fn symlink(&mut self, rel: &Path, shown: &str, target: &Path) -> Result<(), StorageError> {
        if target.has_root() {
            return Err(self.unsafe_entry(shown, "symlink to an absolute path"));
        }
        let parent = rel.parent().unwrap_or(Path::new(""));
        if lexical_escape(&parent.join(target)) {
            return Err(self.unsafe_entry(shown, "symlink points outside the destination"));
        }
        let full = self.root.join(rel);
        std::os::unix::fs::symlink(target, &full)
            .map_err(|e| StorageError::io("create symlink", &full, e))?;
        Ok(())
    }

    fn hard_link(&mut self, rel: &Path, shown: &str, target: &Path) -> Result<(), StorageError> {
        let target_rel = self
            .relative(target, shown)?
            .ok_or_else(|| self.unsafe_entry(shown, "hard link to the archive root"))?;
        let source = self.root.join(target_rel);
        let real = fs::canonicalize(&source)
            .map_err(|_| self.unsafe_entry(shown, "hard link to a file not in the archive"))?;
        if !real.starts_with(&self.root) {
            return Err(self.unsafe_entry(shown, "hard link points outside the destination"));
        }
        let full = self.root.join(rel);
        fs::copy(&real, &full).map_err(|e| StorageError::io("copy", &full, e))?;
        self.files += 1;
        Ok(())
    }

    /// After unpacking, every symlink must resolve inside the root (chains of individually
    /// harmless links can still lead out). Dangling links are allowed only if they would not.
    fn verify_links(&self, dir: &Path) -> Result<(), StorageError> {
        let entries = fs::read_dir(dir).map_err(|e| StorageError::io("list", dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io("list", dir, e))?;
            let path = entry.path();
            let meta =
                fs::symlink_metadata(&path).map_err(|e| StorageError::io("read", &path, e))?;
            if meta.file_type().is_symlink() {
                let shown = path
                    .strip_prefix(&self.root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                match fs::canonicalize(&path) {
                    Ok(real) if real.starts_with(&self.root) => {}
                    Ok(_) => {
                        return Err(
                            self.unsafe_entry(&shown, "symlink resolves outside the destination")
                        );
                    }
                    Err(_) => {
                        let target = fs::read_link(&path)
                            .map_err(|e| StorageError::io("read link", &path, e))?;
                        let rel_parent = dir.strip_prefix(&self.root).unwrap_or(Path::new(""));
                        if target.has_root() || lexical_escape(&rel_parent.join(target)) {
                            return Err(self.unsafe_entry(
                                &shown,
                                "dangling symlink points outside the destination",
                            ));
                        }
                    }
                }
            } else if meta.is_dir() {
                self.verify_links(&path)?;
            }
        }
        Ok(())
    }
}

/// Whether a relative path climbs above its starting folder once `..` are applied in order.
fn lexical_escape(path: &Path) -> bool {
    let mut depth: isize = 0;
    for c in path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn kinds_from_names() {
        assert_eq!(ArchiveKind::from_name("m.TAR.GZ"), Some(ArchiveKind::TarGz));
        assert_eq!(ArchiveKind::from_name("m.tgz"), Some(ArchiveKind::TarGz));
        assert_eq!(ArchiveKind::from_name("m.tar"), Some(ArchiveKind::Tar));
        assert_eq!(ArchiveKind::from_name("m.zip"), Some(ArchiveKind::Zip));
        assert_eq!(ArchiveKind::from_name("model.joblib"), None);
        assert_eq!(ArchiveKind::from_name("m.gz"), None);
    }

    #[test]
    fn lexical_escapes() {
        assert!(!lexical_escape(Path::new("a/../b")));
        assert!(!lexical_escape(Path::new("a/b/../../c")));
        assert!(lexical_escape(Path::new("a/../../b")));
        assert!(lexical_escape(Path::new("..")));
        assert!(!lexical_escape(Path::new("")));
    }
}
