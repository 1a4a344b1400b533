//! [`StorageError`]: every way a fetch can fail, each with the values that matter.

use std::path::PathBuf;

use crate::env::EnvError;

/// Why a model could not be put in place.
///
/// Messages name the URI (never a credential or a SAS token) and say what to do where there is
/// something to do. [`StorageError::kind`] classifies them for callers that map errors to
/// statuses.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The URI cannot be parsed.
    #[error("invalid model URI `{uri}`: {reason}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The scheme is neither built in nor a configured rclone remote.
    #[error(
        "unsupported scheme `{scheme}` in `{uri}`; supported: {}",
        crate::uri::SUPPORTED_SCHEMES
    )]
    UnsupportedScheme {
        /// The URI as given.
        uri: String,
        /// Its scheme.
        scheme: String,
    },
    /// A malformed environment variable.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The credentials or backend settings are unusable (before any request is sent).
    #[error("cannot configure storage for `{uri}`: {reason}")]
    Config {
        /// The URI (safe to log).
        uri: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// Nothing exists at the URI: no object, and no object under it as a prefix.
    #[error("no model found at `{uri}`: no object or non-empty prefix by that name")]
    NotFound {
        /// The URI (safe to log).
        uri: String,
    },
    /// The store refused the credentials, or has no credentials and refused anonymous access.
    #[error("access denied to `{uri}` (check the credentials in the environment): {detail}")]
    AccessDenied {
        /// The URI (safe to log).
        uri: String,
        /// What the store said.
        detail: String,
    },
    /// A storage request failed after its retries.
    #[error("storage request for `{uri}` failed: {source}")]
    Store {
        /// The URI (safe to log).
        uri: String,
        /// The underlying error.
        #[source]
        source: object_store::Error,
    },
    /// An HTTP download failed.
    #[error("download of `{url}` failed: {reason}")]
    Http {
        /// The URL without its query string.
        url: String,
        /// Status or transport error.
        reason: String,
    },
    /// A downloaded object is shorter or longer than the store said.
    #[error("download of `{path}` was truncated: expected {expected} bytes, got {actual}")]
    Truncated {
        /// Object key or URL.
        path: String,
        /// Size the store reported.
        expected: u64,
        /// Bytes received.
        actual: u64,
    },
    /// An archive cannot be read.
    #[error("failed to unpack archive `{}`: the file format is not valid ({reason})", path.display())]
    Archive {
        /// The archive file.
        path: PathBuf,
        /// What the reader said.
        reason: String,
    },
    /// An archive entry would land outside the destination or is of a forbidden kind.
    #[error("refusing archive entry `{entry}` in `{}`: {reason}", archive.display())]
    UnsafeArchiveEntry {
        /// The archive file.
        archive: PathBuf,
        /// The entry name as stored.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// The destination cannot be prepared or the result cannot be moved into it.
    #[error("destination `{}`: {reason}", path.display())]
    Destination {
        /// The destination or staging path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The whole fetch took longer than its deadline ([`crate::env::OXSERVE_STORAGE_TIMEOUT`]);
    /// what was fetched so far is removed.
    #[error(
        "fetching `{uri}` did not finish within {} s, so it was stopped; if the model really \
         takes that long, raise {} (or --timeout)",
        limit.as_secs(),
        crate::env::OXSERVE_STORAGE_TIMEOUT
    )]
    DeadlineExceeded {
        /// The URI (safe to log).
        uri: String,
        /// The deadline that passed.
        limit: std::time::Duration,
    },
    /// A local file operation failed.
    #[error("{op} `{}`: {source}", path.display())]
    Io {
        /// What was being done (`read`, `create`, ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Coarse classes of [`StorageError`], for callers mapping errors to statuses or exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's input (URI, environment) is wrong.
    InvalidInput,
    /// The model does not exist.
    NotFound,
    /// Credentials were refused.
    AccessDenied,
    /// The store or network failed.
    Unavailable,
    /// The downloaded data is unusable (truncated, bad or unsafe archive).
    BadData,
    /// A local filesystem problem.
    Local,
}

impl StorageError {
    /// The error's class.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidUri { .. }
            | Self::UnsupportedScheme { .. }
            | Self::Env(_)
            | Self::Config { .. } => ErrorKind::InvalidInput,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::AccessDenied { .. } => ErrorKind::AccessDenied,
            Self::Store { .. } | Self::Http { .. } | Self::DeadlineExceeded { .. } => {
                ErrorKind::Unavailable
            }
            Self::Truncated { .. } | Self::Archive { .. } | Self::UnsafeArchiveEntry { .. } => {
                ErrorKind::BadData
            }
            Self::Destination { .. } | Self::Io { .. } => ErrorKind::Local,
        }
    }

    /// Classifies an `object_store` error for `uri`.
    pub(crate) fn from_store(uri: &str, source: object_store::Error) -> Self {
        match source {
            object_store::Error::NotFound { .. } => Self::NotFound {
                uri: uri.to_string(),
            },
            // S3 and Azure report a missing bucket/container as a generic error.
            ref e
                if ["NoSuchBucket", "ContainerNotFound"]
                    .iter()
                    .any(|code| e.to_string().contains(code)) =>
            {
                Self::NotFound {
                    uri: uri.to_string(),
                }
            }
            object_store::Error::PermissionDenied { source, .. }
            | object_store::Error::Unauthenticated { source, .. } => Self::AccessDenied {
                uri: uri.to_string(),
                detail: source.to_string(),
            },
            source => Self::Store {
                uri: uri.to_string(),
                source,
            },
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
