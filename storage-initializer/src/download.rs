//! Object-store downloads: list, then stream each object to disk in concurrent ranged chunks.
//!
//! Memory stays bounded whatever the model size: each in-flight chunk holds at most one
//! [`WRITE_BUFFER`] of data before it reaches the file, and at most `chunk_concurrency` chunks are
//! in flight across all objects.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};
use tokio::sync::Semaphore;

use crate::backend::Remote;
use crate::env::Tuning;
use crate::error::StorageError;

/// Bytes buffered per chunk before a write to the file.
const WRITE_BUFFER: usize = 1024 * 1024;
/// How often a long transfer logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Downloads what `remote` names into `into` (an existing, empty folder).
///
/// A key naming an object lands as `into/<basename>`; otherwise the key is a folder prefix
/// (directory semantics: `models/iris` matches `models/iris/...`, never `models/iris-old`) and its
/// tree is mirrored. Returns the number of files written.
pub(crate) async fn download(
    remote: &Remote,
    into: &Path,
    tuning: &Tuning,
) -> Result<usize, StorageError> {
    let store_err = |e| StorageError::from_store(&remote.display, e);
    let mut exact: Option<(ObjectMeta, PathBuf)> = None;
    if !remote.key.is_empty() {
        let location = ObjectPath::from(remote.key.as_str());
        match remote.store.head(&location).await {
            Ok(meta) => {
                if let Some(name) = location.filename() {
                    let local = into.join(name);
                    exact = Some((meta, local));
                }
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_err(e)),
        }
    }
    let jobs = match exact {
        // An object by that name wins (KServe), unless it is an empty folder marker.
        Some(job) if job.0.size > 0 => vec![job],
        exact => {
            let prefix = (!remote.key.is_empty()).then(|| ObjectPath::from(remote.key.as_str()));
            let listed: Vec<ObjectMeta> = remote
                .store
                .list(prefix.as_ref())
                .try_collect()
                .await
                .map_err(store_err)?;
            let tree = plan_tree(listed, prefix.as_ref(), into);
            if tree.is_empty() {
                exact.into_iter().collect()
            } else {
                tree
            }
        }
    };
    if jobs.is_empty() {
        return Err(StorageError::NotFound {
            uri: remote.display.clone(),
        });
    }

    let total: u64 = jobs.iter().map(|(m, _)| m.size).sum();
    tracing::info!(
        uri = %remote.display,
        files = jobs.len(),
        bytes = total,
        "downloading"
    );
    let progress = Progress::start(total, remote.display.clone());
    let chunks = Arc::new(Semaphore::new(tuning.chunk_concurrency.max(1)));
    let count = jobs.len();
    futures::stream::iter(jobs)
        .map(|(meta, local)| {
            let ctx = ObjectDownload {
                store: remote.store.clone(),
                display: remote.display.clone(),
                progress: progress.clone(),
                chunks: chunks.clone(),
                tuning: *tuning,
            };
            async move { ctx.run(meta, local).await }
        })
        .buffer_unordered(tuning.file_concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    progress.finish();
    Ok(count)
}

/// Maps listed objects to local paths under `into`, skipping folder markers (`dir/` keys and
/// empty objects whose name is a folder of another object) and keys that cannot be a safe
/// relative path.
fn plan_tree(
    listed: Vec<ObjectMeta>,
    prefix: Option<&ObjectPath>,
    into: &Path,
) -> Vec<(ObjectMeta, PathBuf)> {
    let mut planned: Vec<(ObjectMeta, Vec<String>)> = Vec::new();
    for meta in listed {
        let parts: Vec<String> = match prefix {
            Some(p) => match meta.location.prefix_match(p) {
                Some(rest) => rest.map(|part| part.as_ref().to_string()).collect(),
                None => continue,
            },
            None => meta
                .location
                .parts()
                .map(|p| p.as_ref().to_string())
                .collect(),
        };
        if parts.is_empty() {
            continue;
        }
        if parts
            .iter()
            .any(|p| p.is_empty() || p == "." || p == ".." || p.contains('\\'))
        {
            tracing::warn!(key = %meta.location, "skipping object whose key is not a safe relative path");
            continue;
        }
        planned.push((meta, parts));
    }
    let folders: std::collections::HashSet<Vec<String>> = planned
        .iter()
        .flat_map(|(_, parts)| (1..parts.len()).map(|n| parts[..n].to_vec()))
        .collect();
    planned
        .into_iter()
        .filter(|(meta, parts)| !(meta.size == 0 && folders.contains(parts)))
        .map(|(meta, parts)| {
            let local = parts.iter().fold(into.to_path_buf(), |acc, p| acc.join(p));
            (meta, local)
        })
        .collect()
}

/// What one object's download needs.
struct ObjectDownload {
    store: Arc<dyn ObjectStore>,
    display: String,
    progress: Arc<Progress>,
    chunks: Arc<Semaphore>,
    tuning: Tuning,
}

impl ObjectDownload {
    async fn run(&self, meta: ObjectMeta, local: PathBuf) -> Result<(), StorageError> {
        if let Some(parent) = local.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| StorageError::io("create folder", parent, e))?;
        }
        let file = tokio::fs::File::create(&local)
            .await
            .map_err(|e| StorageError::io("create", &local, e))?;
        file.set_len(meta.size)
            .await
            .map_err(|e| StorageError::io("allocate", &local, e))?;
        drop(file);
        tracing::debug!(key = %meta.location, size = meta.size, "fetching object");
        let size = meta.size;
        let step = self.tuning.chunk_size.max(1);
        let ranges: Vec<Range<u64>> = (0..size.div_ceil(step))
            .map(|i| i * step..((i + 1) * step).min(size))
            .collect();
        futures::stream::iter(ranges)
            .map(|range| self.chunk_with_retries(&meta, &local, range))
            .buffer_unordered(self.tuning.chunk_concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn chunk_with_retries(
        &self,
        meta: &ObjectMeta,
        local: &Path,
        range: Range<u64>,
    ) -> Result<(), StorageError> {
        // The semaphore is never closed, so acquiring only fails if that invariant breaks.
        let _permit = self
            .chunks
            .acquire()
            .await
            .map_err(|_| StorageError::Destination {
                path: local.to_path_buf(),
                reason: "download cancelled".to_string(),
            })?;
        let attempts = self.tuning.max_attempts.max(1);
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            let mut written = 0;
            match self.chunk(meta, local, range.clone(), &mut written).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < attempts && transient(&e) => {
                    self.progress.done.fetch_sub(written, Ordering::Relaxed);
                    tracing::warn!(key = %meta.location, attempt, error = %e, "chunk failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn chunk(
        &self,
        meta: &ObjectMeta,
        local: &Path,
        range: Range<u64>,
        written: &mut u64,
    ) -> Result<(), StorageError> {
        let expected = range.end - range.start;
        let key = meta.location.to_string();
        let options = GetOptions {
            // A zero-length object takes a plain GET: an empty range is not a valid request.
            range: (expected > 0).then(|| GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&meta.location, options)
            .await
            .map_err(|e| {
                StorageError::from_store(&format!("{} (object {key})", self.display), e)
            })?;
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(local)
            .await
            .map_err(|e| StorageError::io("open", local, e))?;
        let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
        out.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(|e| StorageError::io("seek", local, e))?;
        let mut body = result.into_stream();
        while let Some(bytes) = body.next().await {
            let bytes = bytes.map_err(|e| {
                StorageError::from_store(&format!("{} (object {key})", self.display), e)
            })?;
            if *written + bytes.len() as u64 > expected {
                return Err(StorageError::Truncated {
                    path: key,
                    expected,
                    actual: *written + bytes.len() as u64,
                });
            }
            out.write_all(&bytes)
                .await
                .map_err(|e| StorageError::io("write", local, e))?;
            *written += bytes.len() as u64;
            self.progress
                .done
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        out.flush()
            .await
            .map_err(|e| StorageError::io("write", local, e))?;
        if *written != expected {
            return Err(StorageError::Truncated {
                path: key,
                expected,
                actual: *written,
            });
        }
        Ok(())
    }
}

/// Errors worth another attempt: transport failures and cut-short bodies, not refusals.
fn transient(e: &StorageError) -> bool {
    matches!(
        e,
        StorageError::Store { .. } | StorageError::Truncated { .. }
    )
}

/// Byte counter shared by a transfer's tasks, logged periodically while it runs.
pub(crate) struct Progress {
    /// Bytes written so far.
    pub(crate) done: AtomicU64,
    total: u64,
    started: Instant,
    label: String,
    reporter: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Progress {
    /// Starts counting towards `total` bytes and logging every few seconds.
    pub(crate) fn start(total: u64, label: String) -> Arc<Self> {
        let progress = Arc::new(Self {
            done: AtomicU64::new(0),
            total,
            started: Instant::now(),
            label,
            reporter: std::sync::Mutex::new(None),
        });
        let weak = Arc::downgrade(&progress);
        let handle = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROGRESS_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(p) = weak.upgrade() else { break };
                p.log("progress");
            }
        });
        if let Ok(mut slot) = progress.reporter.lock() {
            *slot = Some(handle);
        }
        progress
    }

    fn log(&self, what: &str) {
        let done = self.done.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        tracing::info!(
            uri = %self.label,
            "{what}: {:.1} of {:.1} MiB ({:.1} MiB/s)",
            done as f64 / MIB,
            self.total as f64 / MIB,
            done as f64 / MIB / secs
        );
    }

    /// Stops the periodic log and logs the final figures.
    pub(crate) fn finish(&self) {
        if let Ok(mut slot) = self.reporter.lock()
            && let Some(h) = slot.take()
        {
            h.abort();
        }
        self.log("downloaded");
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.reporter.lock()
            && let Some(h) = slot.take()
        {
            h.abort();
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn meta(key: &str, size: u64) -> ObjectMeta {
        ObjectMeta {
            location: ObjectPath::from(key),
            last_modified: chrono_epoch(),
            size,
            e_tag: None,
            version: None,
        }
    }

    fn chrono_epoch() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::UNIX_EPOCH
    }

    #[test]
    fn tree_plan_uses_directory_semantics_and_skips_markers() {
        let prefix = ObjectPath::from("models/iris");
        let plan = plan_tree(
            vec![
                meta("models/iris/model.joblib", 10),
                meta("models/iris/sub", 0),
                meta("models/iris/sub/a.txt", 3),
                meta("models/iris/empty.txt", 0),
            ],
            Some(&prefix),
            Path::new("/d"),
        );
        let paths: Vec<_> = plan.iter().map(|(_, p)| p.clone()).collect();
        assert_eq!(
            paths,
            vec![
                PathBuf::from("/d/model.joblib"),
                PathBuf::from("/d/sub/a.txt"),
                PathBuf::from("/d/empty.txt"),
            ]
        );
    }
}
