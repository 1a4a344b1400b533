//! [`StorageUri`]: what a model URI names, parsed without looking at credentials.

use std::fmt;
use std::path::{Path, PathBuf};

use url::Url;

use crate::error::StorageError;

/// Where the operator mounts a `pvc://<claim>/...` source.
pub const PVC_MOUNT: &str = "/mnt/pvc";

/// Schemes with a built-in meaning; any other `name://` is an rclone remote name.
pub const SUPPORTED_SCHEMES: &str = "local path, file://, pvc://, s3://, gs://, az://, \
     https://<account>.blob.core.windows.net/..., http(s)://, or <remote>:// with RCLONE_CONFIG_<REMOTE>_TYPE";

/// Schemes KServe supports that oxserve deliberately does not (named in the error).
const KNOWN_UNSUPPORTED: [&str; 6] = ["hf", "modelscope", "oci", "hdfs", "webhdfs", "git"];

/// A parsed model URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUri {
    /// A path on this machine, given plainly or as `file://`.
    Local {
        /// The path.
        path: PathBuf,
    },
    /// `pvc://<claim>/<path>`, which the operator mounts at `/mnt/pvc`.
    Pvc {
        /// Claim name (informational: the mount hides it).
        claim: String,
        /// Path inside the claim, without leading `/`.
        path: String,
    },
    /// `<scheme>://<bucket>/<key>`: `s3`, `gs`, `az`, or the name of an rclone remote.
    Bucket {
        /// Scheme, lower-case; picks the backend and the rclone remote.
        scheme: String,
        /// Bucket (container for Azure).
        bucket: String,
        /// Key or prefix inside the bucket, without leading or trailing `/` (empty = all).
        key: String,
    },
    /// `https://<account>.blob.core.windows.net/<container>/<path>[?sas]`.
    AzureBlob {
        /// Storage account (first host label).
        account: String,
        /// `scheme://host[:port]` of the blob service.
        endpoint: String,
        /// Container.
        container: String,
        /// Blob name or prefix (empty = whole container).
        key: String,
        /// Query string kept as a SAS token, if any.
        sas: Option<String>,
    },
    /// Any other `http(s)://` URL: one file.
    Http {
        /// The URL.
        url: Url,
    },
}

impl StorageUri {
    /// Parses a model URI.
    ///
    /// Every string that is not `scheme://...` is a local path. Schemes are matched
    /// case-insensitively. Errors name the URI and what is wrong with it.
    pub fn parse(uri: &str) -> Result<Self, StorageError> {
        let uri = uri.trim();
        if uri.is_empty() {
            return Err(invalid(uri, "empty URI"));
        }
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Ok(Self::Local {
                path: PathBuf::from(uri),
            });
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.'))
        {
            return Err(invalid(uri, "malformed scheme"));
        }
        match scheme.as_str() {
            "file" => {
                if rest.is_empty() {
                    return Err(invalid(uri, "empty path"));
                }
                Ok(Self::Local {
                    path: PathBuf::from(rest),
                })
            }
            "pvc" => {
                let (claim, path) = rest.split_once('/').unwrap_or((rest, ""));
                if claim.is_empty() {
                    return Err(invalid(uri, "missing claim name"));
                }
                Ok(Self::Pvc {
                    claim: claim.to_string(),
                    path: path.trim_matches('/').to_string(),
                })
            }
            "http" | "https" => {
                let url = Url::parse(uri).map_err(|e| invalid(uri, &e.to_string()))?;
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(invalid(uri, "missing host"));
                }
                if url.path().ends_with(".git") {
                    return Err(StorageError::UnsupportedScheme {
                        uri: uri.to_string(),
                        scheme: "git".to_string(),
                    });
                }
                match azure_blob_account(&url) {
                    Some(account) => Self::azure_from_url(uri, &url, account),
                    None => Ok(Self::Http { url }),
                }
            }
            s if KNOWN_UNSUPPORTED.contains(&s) => Err(StorageError::UnsupportedScheme {
                uri: uri.to_string(),
                scheme: scheme.clone(),
            }),
            _ => {
                let rest = rest.trim_start_matches('/');
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(invalid(uri, "missing bucket"));
                }
                Ok(Self::Bucket {
                    scheme,
                    bucket: bucket.to_string(),
                    key: key.trim_matches('/').to_string(),
                })
            }
        }
    }

    fn azure_from_url(uri: &str, url: &Url, account: String) -> Result<Self, StorageError> {
        let path = url.path().trim_start_matches('/');
        let (container, key) = path.split_once('/').unwrap_or((path, ""));
        if container.is_empty() {
            return Err(invalid(uri, "missing container"));
        }
        let host = url.host_str().unwrap_or_default();
        let endpoint = match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        Ok(Self::AzureBlob {
            account,
            endpoint,
            container: decode(container),
            key: decode(key.trim_matches('/')),
            sas: url.query().filter(|q| !q.is_empty()).map(str::to_string),
        })
    }

    /// The local path this URI reads from without a network fetch (`Local` and `Pvc`), if any.
    pub fn local_path(&self) -> Option<PathBuf> {
        match self {
            Self::Local { path } => Some(path.clone()),
            Self::Pvc { path, .. } => Some(Path::new(PVC_MOUNT).join(path)),
            _ => None,
        }
    }

    /// Whether fetching needs the network (everything but local paths and `pvc://`).
    pub fn is_remote(&self) -> bool {
        self.local_path().is_none()
    }
}

impl std::str::FromStr for StorageUri {
    type Err = StorageError;

    /// Same as [`StorageUri::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for StorageUri {
    /// Renders the URI without any SAS token, so it is safe to log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local { path } => write!(f, "{}", path.display()),
            Self::Pvc { claim, path } => write!(f, "pvc://{claim}/{path}"),
            Self::Bucket {
                scheme,
                bucket,
                key,
            } => write!(f, "{scheme}://{bucket}/{key}"),
            Self::AzureBlob {
                endpoint,
                container,
                key,
                ..
            } => write!(f, "{endpoint}/{container}/{key}"),
            Self::Http { url } => {
                let mut shown = url.clone();
                shown.set_query(None);
                let _ = shown.set_password(None);
                write!(f, "{shown}")
            }
        }
    }
}

/// `Some(account)` for Azure Blob hosts: `<acct>.blob.core.windows.net` and
/// `<acct>.z<NN>.blob.storage.azure.net` (KServe's two patterns).
fn azure_blob_account(url: &Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    if let Some(account) = host.strip_suffix(".blob.core.windows.net") {
        return (!account.is_empty() && !account.contains('.')).then(|| account.to_string());
    }
    let front = host.strip_suffix(".blob.storage.azure.net")?;
    let (account, zone) = front.split_once('.')?;
    let zone_ok =
        zone.len() > 1 && zone.starts_with('z') && zone[1..].chars().all(|c| c.is_ascii_digit());
    (zone_ok && !account.is_empty()).then(|| account.to_string())
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn invalid(uri: &str, reason: &str) -> StorageError {
    StorageError::InvalidUri {
        uri: uri.to_string(),
        reason: reason.to_string(),
    }
}

/// Whether a model URI needs a network fetch (see [`StorageUri::is_remote`]).
///
/// Unparseable URIs count as remote, so the caller hands them to [`crate::fetch`], which reports
/// the parse error.
pub fn is_remote(uri: &str) -> bool {
    StorageUri::parse(uri).map_or(true, |u| u.is_remote())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn bucket(scheme: &str, bucket: &str, key: &str) -> StorageUri {
        StorageUri::Bucket {
            scheme: scheme.into(),
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    #[test]
    fn parses_each_scheme() {
        assert_eq!(
            StorageUri::parse("s3://b/models/iris/").unwrap(),
            bucket("s3", "b", "models/iris")
        );
        assert_eq!(
            StorageUri::parse("gs://seldon-models/v1.19.0/sklearn/iris").unwrap(),
            bucket("gs", "seldon-models", "v1.19.0/sklearn/iris")
        );
        assert_eq!(StorageUri::parse("S3://b").unwrap(), bucket("s3", "b", ""));
        assert_eq!(
            StorageUri::parse("minio://bucket/p").unwrap(),
            bucket("minio", "bucket", "p")
        );
        assert_eq!(
            StorageUri::parse("az://container/a/b").unwrap(),
            bucket("az", "container", "a/b")
        );
        assert_eq!(
            StorageUri::parse("/mnt/models").unwrap(),
            StorageUri::Local {
                path: "/mnt/models".into()
            }
        );
        assert_eq!(
            StorageUri::parse("file:///tmp/m").unwrap(),
            StorageUri::Local {
                path: "/tmp/m".into()
            }
        );
        let pvc = StorageUri::parse("pvc://claim/models/iris/").unwrap();
        assert_eq!(pvc.local_path().unwrap(), Path::new("/mnt/pvc/models/iris"));
        assert!(!pvc.is_remote());
        match StorageUri::parse("https://example.com/m/model.tar.gz?sig=1").unwrap() {
            StorageUri::Http { url } => assert_eq!(url.path(), "/m/model.tar.gz"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_azure_blob_urls() {
        let u =
            StorageUri::parse("https://acct.blob.core.windows.net/c/dir/x%20y?sv=1&sig=2").unwrap();
        assert_eq!(
            u,
            StorageUri::AzureBlob {
                account: "acct".into(),
                endpoint: "https://acct.blob.core.windows.net".into(),
                container: "c".into(),
                key: "dir/x y".into(),
                sas: Some("sv=1&sig=2".into()),
            }
        );
        assert_eq!(
            u.to_string(),
            "https://acct.blob.core.windows.net/c/dir/x y"
        );
        assert!(matches!(
            StorageUri::parse("https://acct.z12.blob.storage.azure.net/c").unwrap(),
            StorageUri::AzureBlob { ref account, ref key, .. } if account == "acct" && key.is_empty()
        ));
        assert!(matches!(
            StorageUri::parse("https://x.blob.core.windows.net/").unwrap_err(),
            StorageError::InvalidUri { .. }
        ));
    }

    #[test]
    fn rejects_bad_uris_with_reasons() {
        let msg = |u: &str| StorageUri::parse(u).unwrap_err().to_string();
        assert_eq!(msg(""), "invalid model URI ``: empty URI");
        assert_eq!(msg("s3://"), "invalid model URI `s3://`: missing bucket");
        assert_eq!(
            msg("pvc:///x"),
            "invalid model URI `pvc:///x`: missing claim name"
        );
        assert!(msg("hf://org/model").starts_with("unsupported scheme `hf` in `hf://org/model`"));
        assert!(msg("https://github.com/o/r.git").contains("unsupported scheme `git`"));
        assert_eq!(
            msg("http://:80/x"),
            "invalid model URI `http://:80/x`: empty host"
        );
    }

    #[test]
    fn remote_or_not() {
        assert!(is_remote("s3://b/k"));
        assert!(is_remote("https://h/f.joblib"));
        assert!(!is_remote("/mnt/models"));
        assert!(!is_remote("file:///mnt/models"));
        assert!(!is_remote("pvc://c/p"));
        assert!(is_remote(""));
    }
}
