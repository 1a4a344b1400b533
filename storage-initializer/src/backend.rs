//! Turns a bucket URI plus the environment into an `object_store` client.
//!
//! Resolution order for `<scheme>://bucket/key`: the rclone remote named by the scheme when
//! `RCLONE_CONFIG_<SCHEME>_TYPE` is set (Seldon's convention), else the scheme's own backend with
//! KServe's variables (`s3`, `gs`/`gcs`, `az`/`azure`/`azureblob`). Without any credentials the
//! client sends unsigned requests, which is how public buckets such as `gs://seldon-models` work.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use crate::env::{self, RcloneRemote, StorageEnv, Tuning};
use crate::error::StorageError;
use crate::uri::StorageUri;

/// A client for one bucket and the key or prefix inside it.
pub(crate) struct Remote {
    /// Client scoped to the bucket.
    pub(crate) store: Arc<dyn ObjectStore>,
    /// Key or prefix inside the bucket (no leading/trailing `/`).
    pub(crate) key: String,
    /// URI safe to log.
    pub(crate) display: String,
}

/// Which backend an rclone `TYPE` or a scheme selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    S3,
    Gcs,
    Azure,
}

impl Backend {
    fn from_rclone_type(t: &str) -> Option<Self> {
        match t.trim().to_ascii_lowercase().as_str() {
            "s3" => Some(Self::S3),
            "google cloud storage" | "gcs" | "google_cloud_storage" => Some(Self::Gcs),
            "azureblob" => Some(Self::Azure),
            _ => None,
        }
    }

    fn from_scheme(s: &str) -> Option<Self> {
        match s {
            "s3" => Some(Self::S3),
            "gs" | "gcs" => Some(Self::Gcs),
            "az" | "azure" | "azureblob" => Some(Self::Azure),
            _ => None,
        }
    }
}

/// Builds the client for a [`StorageUri::Bucket`] or [`StorageUri::AzureBlob`].
pub(crate) fn build(uri: &StorageUri, env: &StorageEnv) -> Result<Remote, StorageError> {
    let display = uri.to_string();
    let config_err = |reason: String| StorageError::Config {
        uri: display.clone(),
        reason,
    };
    let options = client_options(&env.tuning);
    let retry = retry_config(&env.tuning);
    match uri {
        StorageUri::Bucket {
            scheme,
            bucket,
            key,
        } => {
            let remote = env.remote(scheme);
            let backend = match remote {
                Some(r) => {
                    let t = r.get(env::RCLONE_TYPE).unwrap_or_default();
                    Backend::from_rclone_type(t).ok_or_else(|| {
                        config_err(format!(
                            "rclone remote `{scheme}` has type `{t}`; supported types: s3, \
                             google cloud storage (gcs), azureblob"
                        ))
                    })?
                }
                None => {
                    Backend::from_scheme(scheme).ok_or_else(|| StorageError::UnsupportedScheme {
                        uri: display.clone(),
                        scheme: scheme.clone(),
                    })?
                }
            };
            let store: Arc<dyn ObjectStore> = match backend {
                Backend::S3 => Arc::new(
                    s3_builder(bucket, remote, env, options, retry)
                        .build()
                        .map_err(|e| config_err(e.to_string()))?,
                ),
                Backend::Gcs => Arc::new(
                    gcs_builder(bucket, remote, env, options, retry)
                        .build()
                        .map_err(|e| config_err(e.to_string()))?,
                ),
                Backend::Azure => {
                    let builder = azure_builder(bucket, remote, env, options, retry);
                    let builder = builder.map_err(config_err)?;
                    Arc::new(builder.build().map_err(|e| config_err(e.to_string()))?)
                }
            };
            Ok(Remote {
                store,
                key: key.clone(),
                display,
            })
        }
        StorageUri::AzureBlob {
            account,
            endpoint,
            container,
            key,
            sas,
        } => {
            let mut b = azure_credentials(
                MicrosoftAzureBuilder::new()
                    .with_account(account)
                    .with_container_name(container)
                    .with_endpoint(endpoint.clone())
                    .with_client_options(options.with_allow_http(endpoint.starts_with("http:")))
                    .with_retry(retry),
                &env.azure,
            );
            if let Some(sas) = sas {
                let pairs: Vec<(String, String)> = url::form_urlencoded::parse(sas.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                b = b.with_sas_authorization(pairs);
            }
            let store = b.build().map_err(|e| config_err(e.to_string()))?;
            Ok(Remote {
                store: Arc::new(store),
                key: key.clone(),
                display,
            })
        }
        _ => Err(config_err("not a bucket URI".to_string())),
    }
}

fn client_options(t: &Tuning) -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(t.connect_timeout)
        .with_read_timeout(t.read_timeout)
        // Whole-request timeouts would cap a chunk's transfer time; the read timeout catches
        // stalls instead.
        .with_timeout_disabled()
}

fn retry_config(t: &Tuning) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: t.max_attempts.saturating_sub(1).max(1),
        retry_timeout: std::time::Duration::from_secs(120),
    }
}

/// How S3 requests are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum S3Auth {
    /// Static keys.
    Keys {
        key: String,
        secret: String,
        token: Option<String>,
    },
    /// The SDK chain (IRSA web identity, ECS container credentials, instance metadata),
    /// configured from the `AWS_*` variables given.
    Ambient,
    /// Unsigned requests.
    Anonymous,
}

/// S3 settings resolved from one convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Settings {
    pub(crate) endpoint: Option<String>,
    pub(crate) verify_ssl: bool,
    pub(crate) region: String,
    pub(crate) virtual_hosted: bool,
    pub(crate) auth: S3Auth,
}

impl S3Settings {
    /// From an rclone `s3` remote. `ENV_AUTH=true` without keys selects the SDK chain; no keys
    /// and no `ENV_AUTH` is anonymous, as in rclone.
    pub(crate) fn from_rclone(r: &RcloneRemote) -> Self {
        let keys = (
            r.get(env::RCLONE_ACCESS_KEY_ID),
            r.get(env::RCLONE_SECRET_ACCESS_KEY),
        );
        let auth = match keys {
            (Some(key), Some(secret)) => S3Auth::Keys {
                key: key.to_string(),
                secret: secret.to_string(),
                token: r.get(env::RCLONE_SESSION_TOKEN).map(str::to_string),
            },
            _ if r.flag(env::RCLONE_ENV_AUTH) => S3Auth::Ambient,
            _ => S3Auth::Anonymous,
        };
        Self {
            endpoint: r.get(env::RCLONE_ENDPOINT).map(endpoint_url),
            verify_ssl: true,
            region: r
                .get(env::RCLONE_REGION)
                .unwrap_or(DEFAULT_REGION)
                .to_string(),
            virtual_hosted: r
                .get(env::RCLONE_FORCE_PATH_STYLE)
                .is_some_and(|v| !env::truthy(v)),
            auth,
        }
    }

    /// From KServe's variables. `awsAnonymousCredential=true` forces unsigned requests; IRSA
    /// variables without keys select the SDK chain; nothing at all is anonymous.
    pub(crate) fn from_kserve(a: &env::AwsEnv) -> Self {
        let auth = match (&a.access_key_id, &a.secret_access_key) {
            _ if a.anonymous => S3Auth::Anonymous,
            (Some(key), Some(secret)) => S3Auth::Keys {
                key: key.clone(),
                secret: secret.clone(),
                token: a.session_token.clone(),
            },
            _ if a.ambient => S3Auth::Ambient,
            _ => S3Auth::Anonymous,
        };
        Self {
            endpoint: a.endpoint.as_deref().map(endpoint_url),
            verify_ssl: a.verify_ssl,
            region: a.region.as_deref().unwrap_or(DEFAULT_REGION).to_string(),
            virtual_hosted: a.virtual_hosted,
            auth,
        }
    }
}

/// Region when none is configured (boto3 and rclone default to it too).
const DEFAULT_REGION: &str = "us-east-1";

/// rclone accepts a bare host for the endpoint; object_store needs a URL.
fn endpoint_url(ep: &str) -> String {
    if ep.contains("://") {
        ep.to_string()
    } else {
        format!("https://{ep}")
    }
}

fn s3_builder(
    bucket: &str,
    remote: Option<&RcloneRemote>,
    env: &StorageEnv,
    options: ClientOptions,
    retry: RetryConfig,
) -> AmazonS3Builder {
    let settings = match remote {
        Some(r) => S3Settings::from_rclone(r),
        None => S3Settings::from_kserve(&env.aws),
    };
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_retry(retry)
        .with_region(&settings.region)
        .with_virtual_hosted_style_request(settings.virtual_hosted);
    let mut options = options.with_allow_invalid_certificates(!settings.verify_ssl);
    if let Some(ep) = settings.endpoint {
        options = options.with_allow_http(ep.starts_with("http:"));
        b = b.with_endpoint(ep);
    }
    match settings.auth {
        S3Auth::Keys { key, secret, token } => {
            b = b.with_access_key_id(key).with_secret_access_key(secret);
            if let Some(token) = token {
                b = b.with_token(token);
            }
        }
        S3Auth::Ambient => {
            for (name, value) in &env.aws_passthrough {
                if let Ok(k) = name.to_ascii_lowercase().parse() {
                    b = b.with_config(k, value);
                }
            }
        }
        S3Auth::Anonymous => b = b.with_skip_signature(true),
    }
    if let Some(ca) = &env.aws.ca_bundle
        && remote.is_none()
    {
        match std::fs::read(ca).map(|pem| object_store::Certificate::from_pem_bundle(&pem)) {
            Ok(Ok(certs)) => {
                for c in certs {
                    options = options.with_root_certificate(c);
                }
            }
            _ => tracing::warn!(path = %ca, "cannot read {}; ignoring it", env::AWS_CA_BUNDLE),
        }
    }
    b.with_client_options(options)
}

fn gcs_builder(
    bucket: &str,
    remote: Option<&RcloneRemote>,
    env: &StorageEnv,
    options: ClientOptions,
    retry: RetryConfig,
) -> GoogleCloudStorageBuilder {
    let mut b = GoogleCloudStorageBuilder::new()
        .with_bucket_name(bucket)
        .with_retry(retry);
    let mut endpoint = env.gcs.emulator_url.clone();
    let mut anonymous = env.gcs.emulator_url.is_some();
    let mut key = None;
    let mut file = env.gcs.application_credentials.clone();
    if let Some(r) = remote {
        if let Some(ep) = r.get(env::RCLONE_ENDPOINT) {
            endpoint = Some(ep.to_string());
        }
        key = r
            .get(env::RCLONE_SERVICE_ACCOUNT_CREDENTIALS)
            .map(str::to_string);
        if let Some(f) = r.get(env::RCLONE_SERVICE_ACCOUNT_FILE) {
            file = Some(f.to_string());
        } else if !r.flag(env::RCLONE_ENV_AUTH) {
            file = None;
        }
        anonymous = r.flag(env::RCLONE_ANONYMOUS) || (key.is_none() && file.is_none());
    } else if file.is_none() {
        // Seldon's image presets an anonymous `gs` remote; KServe falls back to an anonymous
        // client too.
        anonymous = true;
    }
    // object_store lets a service-account JSON carry its own `gcs_base_url` (emulators).
    let key_url = key.as_deref().and_then(|k| {
        serde_json::from_str::<serde_json::Value>(k)
            .ok()?
            .get("gcs_base_url")?
            .as_str()
            .map(str::to_string)
    });
    let mut options = options;
    if let Some(ep) = endpoint {
        options = options.with_allow_http(ep.starts_with("http:"));
        b = b.with_base_url(ep.trim_end_matches('/'));
    } else if let Some(url) = key_url {
        options = options.with_allow_http(url.starts_with("http:"));
    }
    if anonymous {
        b = b.with_skip_signature(true);
    } else if let Some(key) = key {
        b = b.with_service_account_key(key);
    } else if let Some(file) = file {
        b = b.with_application_credentials(file);
    }
    b.with_client_options(options)
}

fn azure_builder(
    container: &str,
    remote: Option<&RcloneRemote>,
    env: &StorageEnv,
    options: ClientOptions,
    retry: RetryConfig,
) -> Result<MicrosoftAzureBuilder, String> {
    let mut b = MicrosoftAzureBuilder::new()
        .with_container_name(container)
        .with_retry(retry);
    let mut endpoint = env.azure.service_url.clone();
    match remote {
        Some(r) => {
            let account = r
                .get(env::RCLONE_ACCOUNT)
                .or(env.azure.account.as_deref())
                .ok_or("rclone azureblob remote needs an ACCOUNT")?;
            b = b.with_account(account);
            if let Some(ep) = r.get(env::RCLONE_ENDPOINT) {
                endpoint = Some(ep.to_string());
            }
            if let Some(k) = r.get(env::RCLONE_KEY) {
                b = b.with_access_key(k);
            } else if let Some(sas) = r.get(env::RCLONE_SAS_URL) {
                let query = sas.split_once('?').map_or(sas, |(_, q)| q);
                let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                b = b.with_sas_authorization(pairs);
            } else if let (Some(id), Some(secret), Some(tenant)) = (
                r.get(env::RCLONE_CLIENT_ID),
                r.get(env::RCLONE_CLIENT_SECRET),
                r.get(env::RCLONE_TENANT),
            ) {
                b = b
                    .with_client_id(id)
                    .with_client_secret(secret)
                    .with_tenant_id(tenant);
            } else if r.flag(env::RCLONE_ENV_AUTH) {
                b = azure_credentials(b, &env.azure);
            } else {
                b = b.with_skip_signature(true);
            }
        }
        None => {
            let account = env.azure.account.as_deref().ok_or_else(|| {
                format!(
                    "az:// needs the storage account in {} (or use https://<account>.blob.core.windows.net/...)",
                    env::AZURE_STORAGE_ACCOUNT_NAME
                )
            })?;
            b = azure_credentials(b.with_account(account), &env.azure);
        }
    }
    let mut options = options;
    if let Some(ep) = endpoint {
        options = options.with_allow_http(ep.starts_with("http:"));
        b = b.with_endpoint(ep.trim_end_matches('/').to_string());
    }
    Ok(b.with_client_options(options))
}

/// KServe's order: service principal, else access key, else anonymous.
fn azure_credentials(b: MicrosoftAzureBuilder, a: &env::AzureEnv) -> MicrosoftAzureBuilder {
    if let (Some(id), Some(secret), Some(tenant)) = (&a.client_id, &a.client_secret, &a.tenant_id) {
        b.with_client_id(id)
            .with_client_secret(secret)
            .with_tenant_id(tenant)
    } else if let Some(key) = &a.access_key {
        b.with_access_key(key)
    } else {
        b.with_skip_signature(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn storage_env(pairs: &[(&str, &str)]) -> StorageEnv {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        StorageEnv::from_map(&map).unwrap()
    }

    #[test]
    fn rclone_s3_remote_resolution() {
        let env = storage_env(&[
            ("RCLONE_CONFIG_S3_TYPE", "s3"),
            ("RCLONE_CONFIG_S3_ENDPOINT", "minio.minio-system:9000"),
            ("RCLONE_CONFIG_S3_ACCESS_KEY_ID", "k"),
            ("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", "s"),
            ("RCLONE_CONFIG_S3_FORCE_PATH_STYLE", "false"),
            ("RCLONE_CONFIG_AWS_TYPE", "s3"),
            ("RCLONE_CONFIG_AWS_ENV_AUTH", "true"),
            ("RCLONE_CONFIG_AWS_REGION", "eu-west-1"),
            ("RCLONE_CONFIG_PUB_TYPE", "s3"),
        ]);
        let s3 = S3Settings::from_rclone(env.remote("s3").unwrap());
        assert_eq!(
            s3.endpoint.as_deref(),
            Some("https://minio.minio-system:9000")
        );
        assert!(s3.virtual_hosted);
        assert_eq!(s3.region, "us-east-1");
        assert_eq!(
            s3.auth,
            S3Auth::Keys {
                key: "k".into(),
                secret: "s".into(),
                token: None
            }
        );
        let aws = S3Settings::from_rclone(env.remote("aws").unwrap());
        assert_eq!(
            (aws.auth, aws.region.as_str()),
            (S3Auth::Ambient, "eu-west-1")
        );
        let public = S3Settings::from_rclone(env.remote("pub").unwrap());
        assert_eq!(public.auth, S3Auth::Anonymous);
    }

    #[test]
    fn kserve_s3_resolution() {
        let keys = storage_env(&[
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_SESSION_TOKEN", "t"),
        ]);
        assert_eq!(
            S3Settings::from_kserve(&keys.aws).auth,
            S3Auth::Keys {
                key: "k".into(),
                secret: "s".into(),
                token: Some("t".into())
            }
        );
        let forced = storage_env(&[
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("awsAnonymousCredential", "true"),
        ]);
        assert_eq!(S3Settings::from_kserve(&forced.aws).auth, S3Auth::Anonymous);
        let irsa = storage_env(&[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ]);
        assert_eq!(S3Settings::from_kserve(&irsa.aws).auth, S3Auth::Ambient);
        assert_eq!(
            S3Settings::from_kserve(&storage_env(&[]).aws).auth,
            S3Auth::Anonymous
        );
    }

    #[test]
    fn backend_from_scheme_or_rclone_type() {
        assert_eq!(
            Backend::from_rclone_type("Google Cloud Storage"),
            Some(Backend::Gcs)
        );
        assert_eq!(Backend::from_rclone_type("azureblob"), Some(Backend::Azure));
        assert_eq!(Backend::from_rclone_type("sftp"), None);
        assert_eq!(Backend::from_scheme("gs"), Some(Backend::Gcs));
        assert_eq!(Backend::from_scheme("az"), Some(Backend::Azure));
        assert_eq!(Backend::from_scheme("minio"), None);
    }
}
