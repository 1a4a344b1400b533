//! Model storage: puts a model named by a URI into a local folder.
//!
//! This is the library behind the `storage-initializer` binary that Seldon's operator runs as
//! `<image> <SOURCE_URI> /mnt/models`, and what a server's runtime calls when its `model_uri` is
//! remote.
//!
//! # API
//!
//! ```no_run
//! # async fn demo() -> Result<(), oxserve_storage::StorageError> {
//! use std::collections::HashMap;
//! use std::path::Path;
//!
//! let uri = "s3://models/sklearn/iris";
//! if oxserve_storage::is_remote(uri) {
//!     let env: HashMap<String, String> = std::env::vars().collect();
//!     let folder = oxserve_storage::fetch(uri, Path::new("/mnt/models"), &env).await?;
//!     // load the model from `folder`
//! }
//! # Ok(()) }
//! ```
//!
//! [`fetch`] takes the environment as a map so callers (and tests) choose which credentials apply;
//! [`StorageEnv::from_map`] reads it once and [`fetch_with`] takes the parsed forms.
//!
//! # Sources ([`StorageUri`])
//!
//! | URI | backend |
//! |---|---|
//! | `/path`, `file:///path` | local copy |
//! | `pvc://claim/path` | local copy from `/mnt/pvc/path` (where the operator mounts the claim) |
//! | `s3://bucket/key` | S3 or S3-compatible (MinIO, ...) |
//! | `gs://bucket/key` | Google Cloud Storage |
//! | `az://container/key`, `https://<acct>.blob.core.windows.net/<container>/<key>` | Azure Blob |
//! | `http(s)://host/path/file` | one file |
//! | `<remote>://bucket/key` | the rclone remote `<remote>` (`RCLONE_CONFIG_<REMOTE>_TYPE` = `s3`, `google cloud storage`, `azureblob`) |
//!
//! # Credentials ([`env`](mod@env))
//!
//! Both conventions users already have: Seldon's rclone remotes (the remote is the URI's scheme:
//! `s3://` uses `RCLONE_CONFIG_S3_*`, `minio://` uses `RCLONE_CONFIG_MINIO_*`), which win when
//! configured, and KServe's `AWS_*`/`S3_*`, `GOOGLE_APPLICATION_CREDENTIALS` and `AZURE_*`
//! variables. With no credentials, requests go unsigned (public buckets such as
//! `gs://seldon-models`).
//!
//! # What callers may rely on
//!
//! - A key naming one object lands as `DEST/<basename>`; otherwise the key is a folder (never a
//!   bare string prefix: `models/iris` does not pull `models/iris-old`) mirrored as a tree.
//! - When exactly one file was fetched and it is a `.tar`, `.tar.gz`/`.tgz` or `.zip`, it is
//!   unpacked into DEST and removed (KServe's rule). Entries escaping DEST are refused, and
//!   nothing is created outside DEST on the way (every path component is resolved against the
//!   real folder first); archives are bounded in entries and unpacked bytes ([`ArchiveLimits`]:
//!   `OXSERVE_STORAGE_MAX_ENTRIES`, `OXSERVE_STORAGE_MAX_UNPACKED_BYTES`).
//! - A whole fetch ends by its deadline (`OXSERVE_STORAGE_TIMEOUT`, default an hour) with
//!   [`StorageError::DeadlineExceeded`], however slowly the source keeps sending.
//! - `http(s)://`: the `<host>-headers` and any credentials in the URL go to the URL's own
//!   origin only; a redirect to another origin gets neither, and no request carries a `Referer`.
//! - The result is complete or absent: downloads go to a hidden staging folder on DEST's
//!   filesystem and are moved into place at the end; a failure leaves DEST as it was.
//! - A missing object, an empty prefix or an empty source folder is an error, never an empty
//!   folder.
//! - Large objects are fetched in concurrent ranged chunks streamed to disk: memory use does not
//!   grow with the model's size. Transient failures are retried with backoff.

mod archive;
mod backend;
mod download;
pub mod env;
mod error;
mod http;
mod local;
mod place;
mod uri;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use archive::{
    ArchiveKind, ArchiveLimits, MAX_LINK_TARGET, MAX_TAR_METADATA, extract, extract_with,
};
pub use env::StorageEnv;
pub use error::{ErrorKind, StorageError};
pub use uri::{PVC_MOUNT, SUPPORTED_SCHEMES, StorageUri, is_remote};

/// Fetches the model at `uri` into `dest` and returns the folder holding it (`dest`).
///
/// `env` is the environment to take credentials and tuning from (the binary passes the process
/// environment). See the crate docs for the guarantees.
pub async fn fetch(
    uri: &str,
    dest: &Path,
    env: &HashMap<String, String>,
) -> Result<PathBuf, StorageError> {
    let env = StorageEnv::from_map(env)?;
    let uri = StorageUri::parse(uri)?;
    fetch_with(&uri, dest, &env).await
}

/// [`fetch`] with the URI and environment already parsed.
///
/// Ends with [`StorageError::DeadlineExceeded`] once `env.tuning.deadline` passes, however slowly
/// the source is still sending; nothing of the partial fetch is left in `dest`.
pub async fn fetch_with(
    uri: &StorageUri,
    dest: &Path,
    env: &StorageEnv,
) -> Result<PathBuf, StorageError> {
    install_crypto_provider();
    let Some(limit) = env.tuning.deadline else {
        return fetch_inner(uri, dest, env, None).await;
    };
    // Unpacking runs on a blocking thread that a timeout cannot drop: it polls this flag.
    let cancel = Arc::new(AtomicBool::new(false));
    match tokio::time::timeout(limit, fetch_inner(uri, dest, env, Some(cancel.clone()))).await {
        Ok(result) => result,
        Err(_) => {
            cancel.store(true, Ordering::Relaxed);
            Err(StorageError::DeadlineExceeded {
                uri: uri.to_string(),
                limit,
            })
        }
    }
}

async fn fetch_inner(
    uri: &StorageUri,
    dest: &Path,
    env: &StorageEnv,
    cancel: Option<Arc<AtomicBool>>,
) -> Result<PathBuf, StorageError> {
    let shown = uri.to_string();
    // KServe treats a source that already is the destination (`/mnt/models`) as a no-op.
    if let Some(path) = uri.local_path()
        && let (Ok(a), Ok(b)) = (std::fs::canonicalize(&path), std::fs::canonicalize(dest))
        && a == b
    {
        if place::count_files(&b)? == 0 {
            return Err(StorageError::NotFound { uri: shown });
        }
        tracing::info!(source = %shown, "source is the destination; nothing to copy");
        return Ok(dest.to_path_buf());
    }
    let staging = place::Staging::new(dest)?;
    let into = staging.path().to_path_buf();
    tracing::info!(source = %shown, dest = %dest.display(), "fetching model");
    let files = match uri {
        StorageUri::Local { .. } | StorageUri::Pvc { .. } => {
            let path = uri.local_path().unwrap_or_default();
            local::copy(&path, &shown, &into).await?
        }
        StorageUri::Http { url } => http::download(url, &shown, &into, env).await?,
        StorageUri::Bucket { .. } | StorageUri::AzureBlob { .. } => {
            let remote = backend::build(uri, env)?;
            download::download(&remote, &into, &env.tuning).await?
        }
    };
    if files == 1 {
        unpack_single_archive(&into, env.tuning.archive, cancel).await?;
    }
    let placed = staging.commit(&shown)?;
    tracing::info!(source = %shown, dest = %placed.display(), "model in place");
    Ok(placed)
}

/// If the only file under `dir` is an archive, unpacks it into `dir` and removes it.
async fn unpack_single_archive(
    dir: &Path,
    limits: ArchiveLimits,
    cancel: Option<Arc<AtomicBool>>,
) -> Result<(), StorageError> {
    let dir = dir.to_path_buf();
    let task_dir = dir.clone();
    tokio::task::spawn_blocking(move || -> Result<(), StorageError> {
        let Some(file) = only_file(&task_dir)? else {
            return Ok(());
        };
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(kind) = ArchiveKind::from_name(&name) else {
            return Ok(());
        };
        // Park the archive under a name no entry will use, and clear the (empty) folders that
        // led to it, so DEST ends up holding exactly the archive's contents.
        let parked = task_dir.join(format!(".{}archive-{name}", place::STAGING_MARK));
        std::fs::rename(&file, &parked).map_err(|e| StorageError::io("move", &file, e))?;
        for entry in
            std::fs::read_dir(&task_dir).map_err(|e| StorageError::io("list", &task_dir, e))?
        {
            let entry = entry.map_err(|e| StorageError::io("list", &task_dir, e))?;
            if entry.path() != parked {
                std::fs::remove_dir_all(entry.path())
                    .map_err(|e| StorageError::io("remove", entry.path(), e))?;
            }
        }
        tracing::info!(archive = %name, "unpacking");
        let unpacked = archive::extract_cancellable(&parked, kind, &task_dir, &limits, cancel);
        std::fs::remove_file(&parked).map_err(|e| StorageError::io("remove", &parked, e))?;
        let n = unpacked?;
        tracing::info!(archive = %name, files = n, "unpacked");
        Ok(())
    })
    .await
    .map_err(|e| StorageError::Destination {
        path: dir,
        reason: format!("unpack task failed: {e}"),
    })?
}

/// The single regular file under `dir` (at any depth), or `None` if there are more or none.
fn only_file(dir: &Path) -> Result<Option<PathBuf>, StorageError> {
    let mut found = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| StorageError::io("list", &d, e))? {
            let entry = entry.map_err(|e| StorageError::io("list", &d, e))?;
            let ft = entry
                .file_type()
                .map_err(|e| StorageError::io("read", entry.path(), e))?;
            if ft.is_dir() {
                stack.push(entry.path());
            } else if found.replace(entry.path()).is_some() {
                return Ok(None);
            }
        }
    }
    Ok(found)
}

/// reqwest is built without a default TLS provider (ring instead of aws-lc, for build time);
/// install ring once per process. A provider installed earlier by the host program is kept.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
