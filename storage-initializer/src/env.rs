//! Every environment variable the initializer reads, named once, and the [`StorageEnv`] they are
//! read into.
//!
//! Two conventions coexist because users already keep their secrets in one or the other:
//! KServe's (`AWS_*`, `S3_*`, `GOOGLE_APPLICATION_CREDENTIALS`, `AZURE_*`) and Seldon's rclone
//! remotes (`RCLONE_CONFIG_<REMOTE>_<OPTION>`). The environment is passed in as a map so the
//! library never reads the process environment behind its caller's back.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::archive::ArchiveLimits;

/// KServe S3: access key id.
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// KServe S3: secret access key.
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// Session token for temporary credentials (boto3 reads it too).
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// KServe S3: full endpoint URL, e.g. `http://minio.minio-system:9000`.
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// KServe S3: endpoint as `host[:port]`, scheme chosen by [`S3_USE_HTTPS`].
pub const S3_ENDPOINT: &str = "S3_ENDPOINT";
/// KServe S3: `0` selects `http://` for [`S3_ENDPOINT`].
pub const S3_USE_HTTPS: &str = "S3_USE_HTTPS";
/// KServe S3: `0`/`false` disables certificate verification.
pub const S3_VERIFY_SSL: &str = "S3_VERIFY_SSL";
/// KServe S3: virtual-hosted-style addressing (the misspelling is KServe's).
pub const S3_USER_VIRTUAL_BUCKET: &str = "S3_USER_VIRTUAL_BUCKET";
/// KServe S3: region (KServe sets this one).
pub const AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// AWS SDK region, used when [`AWS_DEFAULT_REGION`] is unset.
pub const AWS_REGION: &str = "AWS_REGION";
/// KServe S3: `true` sends unsigned requests.
pub const AWS_ANONYMOUS_CREDENTIAL: &str = "awsAnonymousCredential";
/// KServe S3: PEM bundle for a private endpoint's CA.
pub const AWS_CA_BUNDLE: &str = "AWS_CA_BUNDLE";
/// IRSA: web identity token file (EKS service-account role).
pub const AWS_WEB_IDENTITY_TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";
/// IRSA: role to assume with the web identity token.
pub const AWS_ROLE_ARN: &str = "AWS_ROLE_ARN";
/// The AWS SDK variables that feed the ambient credential chain (rclone `ENV_AUTH=true`, IRSA):
/// static keys, web identity, ECS container credentials, instance metadata.
pub const AMBIENT_AWS_VARS: [&str; 11] = [
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN,
    AWS_WEB_IDENTITY_TOKEN_FILE,
    AWS_ROLE_ARN,
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_METADATA_ENDPOINT",
];
/// KServe: parallel object downloads for S3 (default 4).
pub const S3_MAX_FILE_CONCURRENCY: &str = "S3_MAX_FILE_CONCURRENCY";
/// KServe: connect timeout in seconds (default 15).
pub const S3_CONNECT_TIMEOUT: &str = "S3_CONNECT_TIMEOUT";
/// KServe: read timeout in seconds (default 30).
pub const S3_READ_TIMEOUT: &str = "S3_READ_TIMEOUT";
/// KServe: attempts per request (default 3).
pub const S3_MAX_ATTEMPTS: &str = "S3_MAX_ATTEMPTS";

/// Overall deadline for a fetch in seconds, download and unpacking together (default 3600; `0`
/// means none). The binary's `--timeout` sets it too.
pub const OXSERVE_STORAGE_TIMEOUT: &str = "OXSERVE_STORAGE_TIMEOUT";
/// Most bytes one archive may unpack to (default 256 GiB).
pub const OXSERVE_STORAGE_MAX_UNPACKED_BYTES: &str = "OXSERVE_STORAGE_MAX_UNPACKED_BYTES";
/// Most entries one archive may hold (default 1,000,000).
pub const OXSERVE_STORAGE_MAX_ENTRIES: &str = "OXSERVE_STORAGE_MAX_ENTRIES";

/// Path of a GCP service-account (or authorized-user) JSON file.
pub const GOOGLE_APPLICATION_CREDENTIALS: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// `host:port` or URL of a GCS emulator, the convention of Google's client libraries; implies
/// anonymous access.
pub const STORAGE_EMULATOR_HOST: &str = "STORAGE_EMULATOR_HOST";

/// Azure storage account name (KServe, azure SDK).
pub const AZURE_STORAGE_ACCOUNT_NAME: &str = "AZURE_STORAGE_ACCOUNT_NAME";
/// Azure storage account name as KServe's webhook passes it.
pub const AZURE_ACCOUNT_NAME: &str = "AZURE_ACCOUNT_NAME";
/// Azure shared access key.
pub const AZURE_STORAGE_ACCESS_KEY: &str = "AZURE_STORAGE_ACCESS_KEY";
/// Azure service principal: client id.
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
/// Azure service principal: client secret.
pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
/// Azure service principal: tenant id.
pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
/// Legacy KServe spelling of [`AZURE_CLIENT_ID`].
pub const AZ_CLIENT_ID: &str = "AZ_CLIENT_ID";
/// Legacy KServe spelling of [`AZURE_CLIENT_SECRET`].
pub const AZ_CLIENT_SECRET: &str = "AZ_CLIENT_SECRET";
/// Legacy KServe spelling of [`AZURE_TENANT_ID`].
pub const AZ_TENANT_ID: &str = "AZ_TENANT_ID";
/// Blob service URL overriding `https://<account>.blob.core.windows.net` (Azurite, sovereign
/// clouds, private endpoints).
pub const AZURE_SERVICE_URL: &str = "AZURE_SERVICE_URL";

/// Prefix of every rclone remote option: `RCLONE_CONFIG_<REMOTE>_<OPTION>`.
pub const RCLONE_CONFIG_PREFIX: &str = "RCLONE_CONFIG_";
/// Suffix of KServe's per-host HTTP header variables: `<hostname>-headers` holds a JSON object.
pub const HTTP_HEADERS_SUFFIX: &str = "-headers";

/// rclone option: backend type (`s3`, `google cloud storage`/`gcs`, `azureblob`).
pub const RCLONE_TYPE: &str = "TYPE";
/// rclone S3 option: provider (`AWS`, `Minio`, ...); informational here.
pub const RCLONE_PROVIDER: &str = "PROVIDER";
/// rclone option: `true` takes credentials from the environment/instance (IRSA, IMDS, ...).
pub const RCLONE_ENV_AUTH: &str = "ENV_AUTH";
/// rclone S3 option: access key id.
pub const RCLONE_ACCESS_KEY_ID: &str = "ACCESS_KEY_ID";
/// rclone S3 option: secret access key.
pub const RCLONE_SECRET_ACCESS_KEY: &str = "SECRET_ACCESS_KEY";
/// rclone S3 option: session token.
pub const RCLONE_SESSION_TOKEN: &str = "SESSION_TOKEN";
/// rclone option: endpoint URL (S3, GCS, Azure).
pub const RCLONE_ENDPOINT: &str = "ENDPOINT";
/// rclone S3 option: region.
pub const RCLONE_REGION: &str = "REGION";
/// rclone S3 option: `false` selects virtual-hosted-style addressing.
pub const RCLONE_FORCE_PATH_STYLE: &str = "FORCE_PATH_STYLE";
/// rclone GCS option: `true` for unauthenticated access.
pub const RCLONE_ANONYMOUS: &str = "ANONYMOUS";
/// rclone GCS option: the service-account JSON itself.
pub const RCLONE_SERVICE_ACCOUNT_CREDENTIALS: &str = "SERVICE_ACCOUNT_CREDENTIALS";
/// rclone GCS option: path of a service-account JSON file.
pub const RCLONE_SERVICE_ACCOUNT_FILE: &str = "SERVICE_ACCOUNT_FILE";
/// rclone Azure option: storage account name.
pub const RCLONE_ACCOUNT: &str = "ACCOUNT";
/// rclone Azure option: shared key.
pub const RCLONE_KEY: &str = "KEY";
/// rclone Azure option: SAS URL (container or account level).
pub const RCLONE_SAS_URL: &str = "SAS_URL";
/// rclone Azure option: service principal client id.
pub const RCLONE_CLIENT_ID: &str = "CLIENT_ID";
/// rclone Azure option: service principal secret.
pub const RCLONE_CLIENT_SECRET: &str = "CLIENT_SECRET";
/// rclone Azure option: service principal tenant.
pub const RCLONE_TENANT: &str = "TENANT";

const DEFAULT_FILE_CONCURRENCY: usize = 4;
const DEFAULT_CHUNK_CONCURRENCY: usize = 8;
const DEFAULT_CHUNK_SIZE: u64 = 16 * 1024 * 1024;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_ATTEMPTS: usize = 3;
/// An hour: a trickling server cannot hold a pod in its init container forever, and a model of a
/// few hundred GB still downloads on an ordinary link.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(3600);

/// S3 settings in KServe's convention.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsEnv {
    /// [`AWS_ACCESS_KEY_ID`].
    pub access_key_id: Option<String>,
    /// [`AWS_SECRET_ACCESS_KEY`].
    pub secret_access_key: Option<String>,
    /// [`AWS_SESSION_TOKEN`].
    pub session_token: Option<String>,
    /// [`AWS_ENDPOINT_URL`], else [`S3_ENDPOINT`] with the scheme [`S3_USE_HTTPS`] picks.
    pub endpoint: Option<String>,
    /// `false` when [`S3_VERIFY_SSL`] is `0`/`false`.
    pub verify_ssl: bool,
    /// [`AWS_DEFAULT_REGION`], else [`AWS_REGION`].
    pub region: Option<String>,
    /// [`AWS_ANONYMOUS_CREDENTIAL`] is `true`.
    pub anonymous: bool,
    /// [`S3_USER_VIRTUAL_BUCKET`] is true.
    pub virtual_hosted: bool,
    /// [`AWS_CA_BUNDLE`].
    pub ca_bundle: Option<String>,
    /// IRSA or other ambient AWS settings are present ([`AWS_WEB_IDENTITY_TOKEN_FILE`] and
    /// [`AWS_ROLE_ARN`]), so unsigned access is not the fallback.
    pub ambient: bool,
}

/// GCS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcsEnv {
    /// [`GOOGLE_APPLICATION_CREDENTIALS`].
    pub application_credentials: Option<String>,
    /// [`STORAGE_EMULATOR_HOST`] as a base URL.
    pub emulator_url: Option<String>,
}

/// Azure Blob settings in KServe's convention.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureEnv {
    /// [`AZURE_STORAGE_ACCOUNT_NAME`], else [`AZURE_ACCOUNT_NAME`].
    pub account: Option<String>,
    /// [`AZURE_STORAGE_ACCESS_KEY`].
    pub access_key: Option<String>,
    /// [`AZURE_CLIENT_ID`] (or legacy [`AZ_CLIENT_ID`]).
    pub client_id: Option<String>,
    /// [`AZURE_CLIENT_SECRET`] (or legacy [`AZ_CLIENT_SECRET`]).
    pub client_secret: Option<String>,
    /// [`AZURE_TENANT_ID`] (or legacy [`AZ_TENANT_ID`]).
    pub tenant_id: Option<String>,
    /// [`AZURE_SERVICE_URL`].
    pub service_url: Option<String>,
}

/// One rclone remote: its options, keyed by upper-case option name (`TYPE`, `ENDPOINT`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcloneRemote {
    /// Options as given, keyed by upper-case option name.
    pub options: BTreeMap<String, String>,
}

impl RcloneRemote {
    /// The option's value, `None` when unset or empty.
    pub fn get(&self, option: &str) -> Option<&str> {
        self.options
            .get(option)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The option read as rclone reads booleans (`true`, `1`, `yes`).
    pub fn flag(&self, option: &str) -> bool {
        self.get(option).is_some_and(truthy)
    }
}

/// Download tuning (KServe's knobs where it has them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Objects downloaded at once ([`S3_MAX_FILE_CONCURRENCY`], default 4).
    pub file_concurrency: usize,
    /// Ranged requests in flight across all objects (default 8).
    pub chunk_concurrency: usize,
    /// Bytes per ranged request; objects up to this size take one request (default 16 MiB).
    pub chunk_size: u64,
    /// Attempts per request and per chunk ([`S3_MAX_ATTEMPTS`], default 3).
    pub max_attempts: usize,
    /// [`S3_CONNECT_TIMEOUT`], default 15 s.
    pub connect_timeout: Duration,
    /// Longest silence while reading a response ([`S3_READ_TIMEOUT`], default 30 s).
    pub read_timeout: Duration,
    /// Longest a whole fetch may take, retries and unpacking included
    /// ([`OXSERVE_STORAGE_TIMEOUT`], default 1 hour; `None` for no deadline). A server that
    /// trickles bytes slower than [`Self::read_timeout`] can notice still ends here.
    pub deadline: Option<Duration>,
    /// Bounds on unpacked archives.
    pub archive: ArchiveLimits,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            file_concurrency: DEFAULT_FILE_CONCURRENCY,
            chunk_concurrency: DEFAULT_CHUNK_CONCURRENCY,
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            deadline: Some(DEFAULT_DEADLINE),
            archive: ArchiveLimits::default(),
        }
    }
}

/// Everything the initializer takes from its environment, read once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageEnv {
    /// KServe-style S3 settings.
    pub aws: AwsEnv,
    /// GCS settings.
    pub gcs: GcsEnv,
    /// KServe-style Azure settings.
    pub azure: AzureEnv,
    /// rclone remotes keyed by lower-case remote name (`s3`, `gs`, `minio`, ...).
    pub rclone: BTreeMap<String, RcloneRemote>,
    /// Extra HTTP request headers per host name, from `<hostname>-headers` JSON objects.
    pub http_headers: BTreeMap<String, BTreeMap<String, String>>,
    /// The [`AMBIENT_AWS_VARS`] that are set, for the ambient (IRSA/ECS/IMDS) credential chain.
    pub aws_passthrough: BTreeMap<String, String>,
    /// Download tuning.
    pub tuning: Tuning,
}

impl StorageEnv {
    /// Reads the environment given as a map (the binary passes `std::env::vars()`).
    ///
    /// Malformed values of optional knobs (a non-numeric concurrency, a header variable that is
    /// not a JSON object of strings) are reported as [`EnvError`].
    pub fn from_map(env: &HashMap<String, String>) -> Result<Self, EnvError> {
        let get = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();
        let use_https = get(S3_USE_HTTPS).is_none_or(|v| truthy(&v));
        let endpoint = get(AWS_ENDPOINT_URL).or_else(|| {
            get(S3_ENDPOINT).map(|ep| {
                if ep.contains("://") {
                    ep
                } else if use_https {
                    format!("https://{ep}")
                } else {
                    format!("http://{ep}")
                }
            })
        });
        let aws = AwsEnv {
            access_key_id: get(AWS_ACCESS_KEY_ID),
            secret_access_key: get(AWS_SECRET_ACCESS_KEY),
            session_token: get(AWS_SESSION_TOKEN),
            endpoint,
            verify_ssl: get(S3_VERIFY_SSL).is_none_or(|v| truthy(&v)),
            region: get(AWS_DEFAULT_REGION).or_else(|| get(AWS_REGION)),
            anonymous: get(AWS_ANONYMOUS_CREDENTIAL).is_some_and(|v| truthy(&v)),
            virtual_hosted: get(S3_USER_VIRTUAL_BUCKET).is_some_and(|v| truthy(&v)),
            ca_bundle: get(AWS_CA_BUNDLE),
            ambient: get(AWS_WEB_IDENTITY_TOKEN_FILE).is_some() && get(AWS_ROLE_ARN).is_some(),
        };
        let gcs = GcsEnv {
            application_credentials: get(GOOGLE_APPLICATION_CREDENTIALS),
            emulator_url: get(STORAGE_EMULATOR_HOST).map(|h| {
                if h.contains("://") {
                    h
                } else {
                    format!("http://{h}")
                }
            }),
        };
        let azure = AzureEnv {
            account: get(AZURE_STORAGE_ACCOUNT_NAME).or_else(|| get(AZURE_ACCOUNT_NAME)),
            access_key: get(AZURE_STORAGE_ACCESS_KEY),
            client_id: get(AZURE_CLIENT_ID).or_else(|| get(AZ_CLIENT_ID)),
            client_secret: get(AZURE_CLIENT_SECRET).or_else(|| get(AZ_CLIENT_SECRET)),
            tenant_id: get(AZURE_TENANT_ID).or_else(|| get(AZ_TENANT_ID)),
            service_url: get(AZURE_SERVICE_URL),
        };

        let mut rclone: BTreeMap<String, RcloneRemote> = BTreeMap::new();
        // Options first, then keep only remotes that name a TYPE: a stray option alone does not
        // configure a remote in rclone either.
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(RCLONE_CONFIG_PREFIX) else {
                continue;
            };
            if let Some((remote, option)) = split_remote_option(rest) {
                rclone
                    .entry(remote.to_ascii_lowercase())
                    .or_default()
                    .options
                    .insert(option.to_string(), value.clone());
            }
        }
        rclone.retain(|_, r| r.get(RCLONE_TYPE).is_some());

        let mut http_headers = BTreeMap::new();
        for (name, value) in env {
            if let Some(host) = name.strip_suffix(HTTP_HEADERS_SUFFIX)
                && !host.is_empty()
            {
                let headers: BTreeMap<String, String> =
                    serde_json::from_str(value).map_err(|e| EnvError::Invalid {
                        name: name.clone(),
                        reason: format!("expected a JSON object of string headers: {e}"),
                    })?;
                http_headers.insert(host.to_ascii_lowercase(), headers);
            }
        }

        let aws_passthrough = env
            .iter()
            .filter(|(k, v)| AMBIENT_AWS_VARS.contains(&k.as_str()) && !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();

        let defaults = Tuning::default();
        let tuning = Tuning {
            file_concurrency: parse_num(env, S3_MAX_FILE_CONCURRENCY, defaults.file_concurrency)?
                .max(1),
            chunk_concurrency: defaults.chunk_concurrency,
            chunk_size: defaults.chunk_size,
            max_attempts: parse_num(env, S3_MAX_ATTEMPTS, defaults.max_attempts)?.max(1),
            connect_timeout: Duration::from_secs(parse_num(
                env,
                S3_CONNECT_TIMEOUT,
                defaults.connect_timeout.as_secs(),
            )?),
            read_timeout: Duration::from_secs(parse_num(
                env,
                S3_READ_TIMEOUT,
                defaults.read_timeout.as_secs(),
            )?),
            deadline: match parse_num(
                env,
                OXSERVE_STORAGE_TIMEOUT,
                defaults.deadline.map_or(0, |d| d.as_secs()),
            )? {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            archive: ArchiveLimits {
                max_unpacked_bytes: parse_num(
                    env,
                    OXSERVE_STORAGE_MAX_UNPACKED_BYTES,
                    defaults.archive.max_unpacked_bytes,
                )?,
                max_entries: parse_num(
                    env,
                    OXSERVE_STORAGE_MAX_ENTRIES,
                    defaults.archive.max_entries,
                )?,
            },
        };

        Ok(Self {
            aws,
            gcs,
            azure,
            rclone,
            http_headers,
            aws_passthrough,
            tuning,
        })
    }

    /// The rclone remote of that name (case-insensitive), when it names a `TYPE`.
    pub fn remote(&self, name: &str) -> Option<&RcloneRemote> {
        self.rclone.get(&name.to_ascii_lowercase())
    }
}

/// A malformed environment variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvError {
    /// The variable is set but its value cannot be used.
    #[error("environment variable {name}: {reason}")]
    Invalid {
        /// Variable name.
        name: String,
        /// What is wrong with its value.
        reason: String,
    },
}

/// rclone's and KServe's booleans: `true`/`1`/`yes`/`on`, case-insensitive.
pub(crate) fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on" | "y" | "t"
    )
}

/// Splits `<REMOTE>_<OPTION>` where OPTION is one of the options rclone knows with underscores
/// (e.g. `SECRET_ACCESS_KEY`), so remotes whose names contain `_` still resolve.
fn split_remote_option(rest: &str) -> Option<(&str, &str)> {
    const MULTI_WORD: [&str; 10] = [
        RCLONE_ACCESS_KEY_ID,
        RCLONE_SECRET_ACCESS_KEY,
        RCLONE_SESSION_TOKEN,
        RCLONE_ENV_AUTH,
        RCLONE_FORCE_PATH_STYLE,
        RCLONE_SERVICE_ACCOUNT_CREDENTIALS,
        RCLONE_SERVICE_ACCOUNT_FILE,
        RCLONE_CLIENT_SECRET,
        RCLONE_CLIENT_ID,
        RCLONE_SAS_URL,
    ];
    for option in MULTI_WORD {
        if let Some(remote) = rest.strip_suffix(option)
            && let Some(remote) = remote.strip_suffix('_')
            && !remote.is_empty()
        {
            return Some((remote, option));
        }
    }
    let (remote, option) = rest.rsplit_once('_')?;
    (!remote.is_empty() && !option.is_empty()).then_some((remote, option))
}

fn parse_num<T: std::str::FromStr>(
    env: &HashMap<String, String>,
    name: &str,
    default: T,
) -> Result<T, EnvError> {
    match env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| EnvError::Invalid {
            name: name.to_string(),
            reason: format!("`{v}` is not a non-negative integer"),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rclone_remotes_group_options_and_need_a_type() {
        let env = StorageEnv::from_map(&map(&[
            ("RCLONE_CONFIG_S3_TYPE", "s3"),
            ("RCLONE_CONFIG_S3_PROVIDER", "minio"),
            ("RCLONE_CONFIG_S3_ENV_AUTH", "false"),
            ("RCLONE_CONFIG_S3_ACCESS_KEY_ID", "minioadmin"),
            ("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", "minio123"),
            ("RCLONE_CONFIG_S3_ENDPOINT", "http://minio:9000"),
            ("RCLONE_CONFIG_MY_MINIO_TYPE", "s3"),
            ("RCLONE_CONFIG_MY_MINIO_SECRET_ACCESS_KEY", "k"),
            ("RCLONE_CONFIG_ORPHAN_ENDPOINT", "http://x"),
        ]))
        .unwrap();
        let s3 = env.remote("S3").unwrap();
        assert_eq!(s3.get(RCLONE_TYPE), Some("s3"));
        assert_eq!(s3.get(RCLONE_ACCESS_KEY_ID), Some("minioadmin"));
        assert_eq!(s3.get(RCLONE_SECRET_ACCESS_KEY), Some("minio123"));
        assert_eq!(s3.get(RCLONE_ENDPOINT), Some("http://minio:9000"));
        assert!(!s3.flag(RCLONE_ENV_AUTH));
        let mine = env.remote("my_minio").unwrap();
        assert_eq!(mine.get(RCLONE_SECRET_ACCESS_KEY), Some("k"));
        assert!(env.remote("orphan").is_none());
    }

    #[test]
    fn kserve_s3_endpoint_scheme_follows_use_https() {
        let env = StorageEnv::from_map(&map(&[
            ("S3_ENDPOINT", "minio:9000"),
            ("S3_USE_HTTPS", "0"),
            ("S3_VERIFY_SSL", "0"),
            ("AWS_REGION", "eu-west-1"),
        ]))
        .unwrap();
        assert_eq!(env.aws.endpoint.as_deref(), Some("http://minio:9000"));
        assert!(!env.aws.verify_ssl);
        assert_eq!(env.aws.region.as_deref(), Some("eu-west-1"));

        let env = StorageEnv::from_map(&map(&[
            ("S3_ENDPOINT", "minio:9000"),
            ("AWS_ENDPOINT_URL", "http://other:1"),
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("AWS_REGION", "eu-west-1"),
        ]))
        .unwrap();
        assert_eq!(env.aws.endpoint.as_deref(), Some("http://other:1"));
        assert!(env.aws.verify_ssl);
        assert_eq!(env.aws.region.as_deref(), Some("us-east-2"));

        let env = StorageEnv::from_map(&map(&[("S3_ENDPOINT", "s3.example.com")])).unwrap();
        assert_eq!(env.aws.endpoint.as_deref(), Some("https://s3.example.com"));
    }

    #[test]
    fn azure_legacy_names_and_headers() {
        let env = StorageEnv::from_map(&map(&[
            ("AZ_CLIENT_ID", "id"),
            ("AZURE_CLIENT_SECRET", "secret"),
            ("AZURE_ACCOUNT_NAME", "acct"),
            (
                "models.example.com-headers",
                r#"{"Authorization":"Bearer t"}"#,
            ),
        ]))
        .unwrap();
        assert_eq!(env.azure.client_id.as_deref(), Some("id"));
        assert_eq!(env.azure.client_secret.as_deref(), Some("secret"));
        assert_eq!(env.azure.account.as_deref(), Some("acct"));
        assert_eq!(
            env.http_headers["models.example.com"]["Authorization"],
            "Bearer t"
        );
    }

    #[test]
    fn deadline_and_archive_limits() {
        let defaults = StorageEnv::from_map(&HashMap::new()).unwrap().tuning;
        assert_eq!(defaults.deadline, Some(Duration::from_secs(3600)));
        assert_eq!(defaults.archive, ArchiveLimits::default());
        let t = StorageEnv::from_map(&map(&[
            (OXSERVE_STORAGE_TIMEOUT, "90"),
            (OXSERVE_STORAGE_MAX_UNPACKED_BYTES, "1000"),
            (OXSERVE_STORAGE_MAX_ENTRIES, "7"),
        ]))
        .unwrap()
        .tuning;
        assert_eq!(t.deadline, Some(Duration::from_secs(90)));
        assert_eq!(
            t.archive,
            ArchiveLimits {
                max_unpacked_bytes: 1000,
                max_entries: 7
            }
        );
        let t = StorageEnv::from_map(&map(&[(OXSERVE_STORAGE_TIMEOUT, "0")]))
            .unwrap()
            .tuning;
        assert_eq!(t.deadline, None, "0 means no deadline");
        let err = StorageEnv::from_map(&map(&[(OXSERVE_STORAGE_TIMEOUT, "5m")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable OXSERVE_STORAGE_TIMEOUT: `5m` is not a non-negative integer"
        );
    }

    #[test]
    fn malformed_values_are_named() {
        let err = StorageEnv::from_map(&map(&[("S3_MAX_FILE_CONCURRENCY", "many")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable S3_MAX_FILE_CONCURRENCY: `many` is not a non-negative integer"
        );
        let err = StorageEnv::from_map(&map(&[("h-headers", "[1]")])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("environment variable h-headers:")
        );
    }
}
