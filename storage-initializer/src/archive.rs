//! Unpacking `.tar`, `.tar.gz`/`.tgz` and `.zip` the way KServe does, without letting an entry
//! land outside the destination or exhaust memory or disk.
//!
//! Every entry's path is resolved one component at a time against the real destination before
//! anything is created: a missing folder is created only inside a folder already proven to lie
//! in the destination, and a symlink on the way is followed only when it resolves (fully, by the
//! OS) to a folder inside it. Nothing is ever created through a link that leads out, so a chain
//! of individually harmless links (`a -> .`, `a/b -> ..`, then `b/X/`) cannot make a folder
//! outside the destination.
//!
//! Refused: absolute names, names with `..`, entries written through a symlink that leads out of
//! the destination, symlinks whose target is absolute, longer than [`MAX_LINK_TARGET`] bytes or
//! resolves outside it, hard links to anything outside it, device/FIFO/sparse entries, tar
//! metadata (long names, pax headers) over [`MAX_TAR_METADATA`] bytes, entries holding more data
//! than they declare, and archives over their [`ArchiveLimits`]. Any refusal fails the whole
//! fetch. Every read is bounded: no entry is ever read whole into memory.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::env::{OXSERVE_STORAGE_MAX_ENTRIES, OXSERVE_STORAGE_MAX_UNPACKED_BYTES};
use crate::error::StorageError;

/// Longest symlink target accepted (Linux's `PATH_MAX`); a zip "symlink" entry is read no
/// further than this.
pub const MAX_LINK_TARGET: usize = 4096;
/// Largest tar metadata entry (GNU long name/link, pax extended header) read into memory.
pub const MAX_TAR_METADATA: u64 = 64 * 1024;
/// Bytes copied per read while unpacking.
const COPY_BUFFER: usize = 64 * 1024;

/// Bounds on what one archive may unpack to (archive bombs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Most bytes all entries together may unpack to, hard-link copies included
    /// ([`OXSERVE_STORAGE_MAX_UNPACKED_BYTES`], default 256 GiB).
    pub max_unpacked_bytes: u64,
    /// Most entries (files, folders, links) an archive may hold
    /// ([`OXSERVE_STORAGE_MAX_ENTRIES`], default 1,000,000).
    pub max_entries: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self {
            max_unpacked_bytes: 256 * 1024 * 1024 * 1024,
            max_entries: 1_000_000,
        }
    }
}

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

/// Unpacks `archive` into the existing folder `dest` with the default [`ArchiveLimits`].
/// Returns the number of files written.
///
/// Blocking: call it from `spawn_blocking`.
pub fn extract(archive: &Path, kind: ArchiveKind, dest: &Path) -> Result<usize, StorageError> {
    extract_with(archive, kind, dest, &ArchiveLimits::default())
}

/// [`extract`] with explicit limits.
pub fn extract_with(
    archive: &Path,
    kind: ArchiveKind,
    dest: &Path,
    limits: &ArchiveLimits,
) -> Result<usize, StorageError> {
    extract_cancellable(archive, kind, dest, limits, None)
}

/// [`extract_with`] that stops (with an error) soon after `cancel` is set.
pub(crate) fn extract_cancellable(
    archive: &Path,
    kind: ArchiveKind,
    dest: &Path,
    limits: &ArchiveLimits,
    cancel: Option<Arc<AtomicBool>>,
) -> Result<usize, StorageError> {
    let root = fs::canonicalize(dest).map_err(|e| StorageError::io("open", dest, e))?;
    let mut out = Unpacker {
        archive: archive.to_path_buf(),
        root,
        limits: *limits,
        cancel,
        files: 0,
        entries: 0,
        unpacked: 0,
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

/// A reader shared between the tar parser and the unpacker, so the unpacker can read the data
/// of an entry whose size only a pax header gives (the parser, in raw mode, does not apply it).
struct Shared<R>(Rc<RefCell<R>>);

impl<R> Clone for Shared<R> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<R: Read> Read for Shared<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

/// What the metadata entries before a tar entry said about it.
#[derive(Default)]
struct TarMeta {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_link: Option<Vec<u8>>,
    pax_size: Option<u64>,
    pending: bool,
}

struct Unpacker {
    archive: PathBuf,
    /// Canonical destination.
    root: PathBuf,
    limits: ArchiveLimits,
    cancel: Option<Arc<AtomicBool>>,
    files: usize,
    entries: u64,
    /// Bytes written so far.
    unpacked: u64,
}

impl Unpacker {
    fn bad(&self, reason: impl std::fmt::Display) -> StorageError {
        StorageError::Archive {
            path: self.archive.clone(),
            reason: reason.to_string(),
        }
    }

    fn unsafe_entry(&self, entry: &str, reason: impl std::fmt::Display) -> StorageError {
        StorageError::UnsafeArchiveEntry {
            archive: self.archive.clone(),
            entry: entry.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Counts one entry against [`ArchiveLimits::max_entries`] and checks for cancellation.
    fn next_entry(&mut self, shown: &str) -> Result<(), StorageError> {
        self.check_cancel()?;
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(self.unsafe_entry(
                shown,
                format!(
                    "the archive holds more than {} entries (raise {OXSERVE_STORAGE_MAX_ENTRIES} \
                     if it really is that large)",
                    self.limits.max_entries
                ),
            ));
        }
        Ok(())
    }

    fn check_cancel(&self) -> Result<(), StorageError> {
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Err(self.bad("unpacking cancelled"));
        }
        Ok(())
    }

    fn tar<R: Read>(&mut self, reader: R) -> Result<(), StorageError> {
        let shared = Shared(Rc::new(RefCell::new(reader)));
        let mut direct = shared.clone();
        let mut tar = tar::Archive::new(shared);
        // Raw mode: long names and pax headers are read here, bounded, instead of whole by the
        // tar crate.
        let entries = tar.entries().map_err(|e| self.bad(e))?.raw(true);
        let mut meta = TarMeta::default();
        for entry in entries {
            let mut entry = entry.map_err(|e| self.bad(e))?;
            use tar::EntryType as T;
            let kind = entry.header().entry_type();
            match kind {
                T::GNULongName | T::GNULongLink => {
                    let (slot, what) = if kind == T::GNULongName {
                        (&mut meta.long_name, "GNU long name")
                    } else {
                        (&mut meta.long_link, "GNU long link")
                    };
                    let data = self.tar_metadata(&mut entry, what)?;
                    if slot.replace(trim_nul(data)).is_some() {
                        return Err(self.bad(format!("two {what} entries for one entry")));
                    }
                    meta.pending = true;
                    continue;
                }
                T::XHeader => {
                    if meta.pax_path.is_some() || meta.pax_link.is_some() || meta.pax_size.is_some()
                    {
                        return Err(self.bad("two pax headers for one entry"));
                    }
                    let data = self.tar_metadata(&mut entry, "pax header")?;
                    for ext in tar::PaxExtensions::new(&data) {
                        let ext = ext.map_err(|e| self.bad(format!("pax header: {e}")))?;
                        match ext.key_bytes() {
                            b"path" => meta.pax_path = Some(ext.value_bytes().to_vec()),
                            b"linkpath" => meta.pax_link = Some(ext.value_bytes().to_vec()),
                            b"size" => {
                                let size = ext
                                    .value()
                                    .ok()
                                    .and_then(|v| v.parse::<u64>().ok())
                                    .ok_or_else(|| self.bad("pax header: invalid size"))?;
                                meta.pax_size = Some(size);
                            }
                            _ => {}
                        }
                    }
                    meta.pending = true;
                    continue;
                }
                // Global pax headers only carry defaults we do not use; the parser skips their
                // data without reading it into memory.
                T::XGlobalHeader => continue,
                _ => {}
            }
            let info = std::mem::take(&mut meta);
            let name_bytes = info
                .long_name
                .or(info.pax_path)
                .unwrap_or_else(|| entry.header().path_bytes().into_owned());
            let shown = String::from_utf8_lossy(&name_bytes).into_owned();
            self.next_entry(&shown)?;
            let name = PathBuf::from(OsStr::from_bytes(&name_bytes));
            let header_size = entry.header().entry_size().map_err(|e| self.bad(e))?;
            // Old tars mark folders with a trailing `/` on a regular entry.
            let is_dir = kind == T::Directory
                || (matches!(kind, T::Regular | T::Continuous) && name_bytes.ends_with(b"/"));
            let link = || {
                info.long_link
                    .clone()
                    .or(info.pax_link.clone())
                    .or_else(|| entry.header().link_name_bytes().map(|l| l.into_owned()))
            };
            if is_dir {
                if let Some(rel) = self.relative(&name, &shown)? {
                    self.resolve_dir(&rel, &shown, true)?;
                }
                continue;
            }
            match kind {
                T::Regular | T::Continuous => {
                    let (parent, file_name) = self.file_target(&name, &shown)?;
                    let mode = entry.header().mode().unwrap_or(0o644);
                    match info.pax_size {
                        Some(size) if size != header_size => {
                            if header_size != 0 {
                                return Err(self.bad(format!(
                                    "{shown}: pax size {size} disagrees with the header's \
                                     {header_size}"
                                )));
                            }
                            // The parser thinks this entry is empty; its data follows directly.
                            let mut data = (&mut direct).take(size);
                            self.file(&parent, &file_name, &shown, &mut data, size, mode)?;
                            let pad = size.next_multiple_of(512) - size;
                            let skipped = io::copy(&mut (&mut direct).take(pad), &mut io::sink())
                                .map_err(|e| self.bad(e))?;
                            if skipped != pad {
                                return Err(self.bad(format!("{shown}: the archive is truncated")));
                            }
                        }
                        _ => {
                            self.file(&parent, &file_name, &shown, &mut entry, header_size, mode)?
                        }
                    }
                }
                T::Symlink => {
                    let target = link()
                        .ok_or_else(|| self.unsafe_entry(&shown, "symlink without a target"))?;
                    let (parent, file_name) = self.file_target(&name, &shown)?;
                    self.symlink(&parent, &file_name, &shown, &target)?;
                }
                T::Link => {
                    let target = link()
                        .ok_or_else(|| self.unsafe_entry(&shown, "hard link without a target"))?;
                    let (parent, file_name) = self.file_target(&name, &shown)?;
                    let target = PathBuf::from(OsStr::from_bytes(&target));
                    self.hard_link(&parent, &file_name, &shown, &target)?;
                }
                T::GNUSparse => {
                    return Err(self.unsafe_entry(
                        &shown,
                        "sparse entries are not supported (repack without --sparse)",
                    ));
                }
                _ => {
                    return Err(self.unsafe_entry(
                        &shown,
                        "device, FIFO or unknown entries are not allowed in a model archive",
                    ));
                }
            }
        }
        if meta.pending {
            return Err(self.bad("metadata entries at the end describe no entry"));
        }
        Ok(())
    }

    /// Reads a tar metadata entry, refusing one over [`MAX_TAR_METADATA`] before reading it.
    fn tar_metadata(&self, entry: &mut impl Read, what: &str) -> Result<Vec<u8>, StorageError> {
        let mut data = Vec::new();
        entry
            .take(MAX_TAR_METADATA + 1)
            .read_to_end(&mut data)
            .map_err(|e| self.bad(e))?;
        if data.len() as u64 > MAX_TAR_METADATA {
            return Err(self.unsafe_entry(
                what,
                format!("tar {what} entry over {MAX_TAR_METADATA} bytes"),
            ));
        }
        Ok(data)
    }

    fn zip(&mut self, file: File) -> Result<(), StorageError> {
        let mut zip = zip::ZipArchive::new(file).map_err(|e| self.bad(e))?;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(|e| self.bad(e))?;
            let shown = entry.name().map_err(|e| self.bad(e))?.into_owned();
            self.next_entry(&shown)?;
            let name = PathBuf::from(&shown);
            let mode = entry.unix_mode();
            let declared = entry.size();
            if entry.is_dir() {
                if let Some(rel) = self.relative(&name, &shown)? {
                    self.resolve_dir(&rel, &shown, true)?;
                }
            } else if mode.is_some_and(|m| m & 0o170000 == 0o120000) {
                if declared > MAX_LINK_TARGET as u64 {
                    return Err(self.unsafe_entry(
                        &shown,
                        format!("symlink target of {declared} bytes (at most {MAX_LINK_TARGET})"),
                    ));
                }
                let mut target = Vec::new();
                (&mut entry)
                    .take(MAX_LINK_TARGET as u64 + 1)
                    .read_to_end(&mut target)
                    .map_err(|e| self.bad(format!("{shown}: {e}")))?;
                if target.len() > MAX_LINK_TARGET {
                    return Err(self.unsafe_entry(
                        &shown,
                        format!("symlink target over {MAX_LINK_TARGET} bytes"),
                    ));
                }
                let (parent, file_name) = self.file_target(&name, &shown)?;
                self.symlink(&parent, &file_name, &shown, &target)?;
            } else {
                let (parent, file_name) = self.file_target(&name, &shown)?;
                self.file(
                    &parent,
                    &file_name,
                    &shown,
                    &mut entry,
                    declared,
                    mode.unwrap_or(0o644),
                )?;
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

    /// The real folder `rel` (clean, relative) names under the root, resolved one component at a
    /// time: a symlink is followed only when the OS resolves it to a folder inside the root, and
    /// a missing folder is created (when `create`) only inside a folder already resolved. So
    /// nothing is ever created outside the root, whatever links earlier entries made.
    fn resolve_dir(&self, rel: &Path, shown: &str, create: bool) -> Result<PathBuf, StorageError> {
        let mut cur = self.root.clone();
        for c in rel.components() {
            let next = cur.join(c);
            match fs::symlink_metadata(&next) {
                Ok(m) if m.file_type().is_symlink() => {
                    let link = self.show(&next);
                    let real = fs::canonicalize(&next).map_err(|_| {
                        self.unsafe_entry(
                            shown,
                            format!("path goes through `{link}`, a symlink to nothing"),
                        )
                    })?;
                    if !real.starts_with(&self.root) {
                        return Err(self.unsafe_entry(
                            shown,
                            format!(
                                "path leads through the symlink `{link}` out of the destination"
                            ),
                        ));
                    }
                    if !real.is_dir() {
                        return Err(self.unsafe_entry(
                            shown,
                            format!("path goes through `{link}`, a symlink to a file"),
                        ));
                    }
                    cur = real;
                }
                Ok(m) if m.is_dir() => cur = next,
                Ok(_) => {
                    return Err(self.unsafe_entry(
                        shown,
                        format!(
                            "`{}` was unpacked as a file, not a folder",
                            self.show(&next)
                        ),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::create_dir(&next)
                        .map_err(|e| StorageError::io("create folder", &next, e))?;
                    cur = next;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(self.unsafe_entry(
                        shown,
                        format!("`{}` is not in the archive", self.show(&next)),
                    ));
                }
                Err(e) => return Err(StorageError::io("read", &next, e)),
            }
        }
        Ok(cur)
    }

    /// `path` relative to the root, for messages.
    fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// For entries that name something (a file or a link): the real parent folder (created and
    /// proven to lie inside the destination) and the last name, with any previous file or link
    /// of that name removed so nothing is written through it.
    fn file_target(&self, name: &Path, shown: &str) -> Result<(PathBuf, PathBuf), StorageError> {
        let rel = self
            .relative(name, shown)?
            .ok_or_else(|| self.unsafe_entry(shown, "empty name"))?;
        let file_name = PathBuf::from(
            rel.file_name()
                .ok_or_else(|| self.unsafe_entry(shown, "empty name"))?,
        );
        let parent = self.resolve_dir(rel.parent().unwrap_or(Path::new("")), shown, true)?;
        let full = parent.join(&file_name);
        match fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => {
                return Err(self.unsafe_entry(shown, "a folder of that name was unpacked before"));
            }
            // Removes a link itself, never its target.
            Ok(_) => fs::remove_file(&full).map_err(|e| StorageError::io("replace", &full, e))?,
            Err(_) => {}
        }
        Ok((parent, file_name))
    }

    /// Writes an entry of `declared` bytes, refusing more data than declared and anything over
    /// the archive's byte budget before it reaches the disk.
    fn file(
        &mut self,
        parent: &Path,
        file_name: &Path,
        shown: &str,
        reader: &mut impl Read,
        declared: u64,
        mode: u32,
    ) -> Result<(), StorageError> {
        let full = parent.join(file_name);
        self.reserve(shown, declared)?;
        // `create_new` (O_EXCL) never follows a symlink at the final name.
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&full)
            .map_err(|e| StorageError::io("create", &full, e))?;
        let written = self.copy(reader, &mut out, &full, shown, declared)?;
        if written != declared {
            return Err(self.bad(format!(
                "{shown}: holds {written} bytes, its header says {declared} (truncated archive)"
            )));
        }
        if mode & 0o111 != 0 {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&full, fs::Permissions::from_mode(0o755))
                .map_err(|e| StorageError::io("chmod", &full, e))?;
        }
        self.files += 1;
        Ok(())
    }

    /// Counts `bytes` against [`ArchiveLimits::max_unpacked_bytes`].
    fn reserve(&mut self, shown: &str, bytes: u64) -> Result<(), StorageError> {
        let total = self.unpacked.saturating_add(bytes);
        if total > self.limits.max_unpacked_bytes {
            return Err(self.unsafe_entry(
                shown,
                format!(
                    "the archive unpacks to more than {} bytes (raise \
                     {OXSERVE_STORAGE_MAX_UNPACKED_BYTES} if the model really is that large)",
                    self.limits.max_unpacked_bytes
                ),
            ));
        }
        self.unpacked = total;
        Ok(())
    }

    /// Copies at most `limit` bytes, failing on more; checks for cancellation as it goes.
    fn copy(
        &self,
        reader: &mut impl Read,
        out: &mut File,
        path: &Path,
        shown: &str,
        limit: u64,
    ) -> Result<u64, StorageError> {
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut written = 0u64;
        loop {
            self.check_cancel()?;
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.bad(format!("{shown}: {e}"))),
            };
            written += n as u64;
            if written > limit {
                return Err(self.unsafe_entry(
                    shown,
                    format!("entry holds more data than the {limit} bytes it declares"),
                ));
            }
            out.write_all(&buf[..n])
                .map_err(|e| StorageError::io("write", path, e))?;
        }
        Ok(written)
    }

    fn symlink(
        &mut self,
        parent: &Path,
        file_name: &Path,
        shown: &str,
        target: &[u8],
    ) -> Result<(), StorageError> {
        if target.len() > MAX_LINK_TARGET {
            return Err(self.unsafe_entry(
                shown,
                format!("symlink target over {MAX_LINK_TARGET} bytes"),
            ));
        }
        if target.is_empty() || target.contains(&0) {
            return Err(self.unsafe_entry(shown, "symlink with an empty or invalid target"));
        }
        let target = Path::new(OsStr::from_bytes(target));
        if target.has_root() {
            return Err(self.unsafe_entry(shown, "symlink to an absolute path"));
        }
        // Checked from the link's real folder, not the folder its name suggests: in
        // `a -> .` then `a/b -> ..`, `b` lives in the root and `..` leaves it.
        let rel_parent = parent.strip_prefix(&self.root).unwrap_or(Path::new(".."));
        if lexical_escape(&rel_parent.join(target)) {
            return Err(self.unsafe_entry(shown, "symlink points outside the destination"));
        }
        let full = parent.join(file_name);
        std::os::unix::fs::symlink(target, &full)
            .map_err(|e| StorageError::io("create symlink", &full, e))?;
        // Through links made earlier, a lexically harmless target can still lead out.
        if let Ok(real) = fs::canonicalize(&full)
            && !real.starts_with(&self.root)
        {
            return Err(self.unsafe_entry(shown, "symlink resolves outside the destination"));
        }
        Ok(())
    }

    fn hard_link(
        &mut self,
        parent: &Path,
        file_name: &Path,
        shown: &str,
        target: &Path,
    ) -> Result<(), StorageError> {
        let target_rel = self
            .relative(target, shown)?
            .ok_or_else(|| self.unsafe_entry(shown, "hard link to the archive root"))?;
        let not_in_archive = || self.unsafe_entry(shown, "hard link to a file not in the archive");
        let target_dir = self
            .resolve_dir(target_rel.parent().unwrap_or(Path::new("")), shown, false)
            .map_err(|_| not_in_archive())?;
        let source = target_dir.join(target_rel.file_name().ok_or_else(not_in_archive)?);
        let real = fs::canonicalize(&source).map_err(|_| not_in_archive())?;
        if !real.starts_with(&self.root) {
            return Err(self.unsafe_entry(shown, "hard link points outside the destination"));
        }
        let meta = fs::metadata(&real).map_err(|e| StorageError::io("read", &real, e))?;
        if !meta.is_file() {
            return Err(self.unsafe_entry(shown, "hard link to something other than a file"));
        }
        let mut input = File::open(&real).map_err(|e| StorageError::io("open", &real, e))?;
        let mode = if is_executable(&meta) { 0o755 } else { 0o644 };
        self.file(parent, file_name, shown, &mut input, meta.len(), mode)
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
                let shown = self.show(&path);
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
                        let rel_parent = dir.strip_prefix(&self.root).unwrap_or(Path::new(".."));
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

fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

/// A GNU long name/link without the NUL terminator(s).
fn trim_nul(mut data: Vec<u8>) -> Vec<u8> {
    while data.last() == Some(&0) {
        data.pop();
    }
    data
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
