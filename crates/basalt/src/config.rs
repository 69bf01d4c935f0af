//! Configuration in layers: built-in defaults, then the TOML file, then environment and flags.
//! The raw file is parsed with unknown keys refused, then resolved into [`ServeConfig`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use basalt_knowledge_bases::{StorageBackend, StorageMapping};
use basalt_s3::RemoteConfig;
use basalt_server::{AuthConfig, AuthMode, Credential, Limits};
use serde::Deserialize;

/// What a `--config` file may hold. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub models_dir: Option<PathBuf>,
    /// A model catalog replacing the built-in one.
    pub catalog: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    /// Requests handled at once; more are refused with ThrottlingException [default: 512].
    pub max_concurrent_requests: Option<usize>,
    /// Seconds a request may take before it is abandoned [default: 300].
    pub request_timeout_secs: Option<u64>,
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// The S3 API's object store.
    pub objects: Option<ObjectsFileConfig>,
    /// `[knowledge_bases]`: how knowledge bases are stored.
    pub knowledge_bases: Option<KnowledgeBasesFileConfig>,
}

/// `[knowledge_bases]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeBasesFileConfig {
    /// `[knowledge_bases.storage]`: a backend (`embedded` or `reject`) per
    /// `storageConfiguration.type`; types not named stay on `embedded`.
    #[serde(default)]
    pub storage: BTreeMap<String, StorageBackend>,
}

/// `[objects]`: where the S3 API and knowledge-base data sources keep buckets — one directory
/// each under `root`, or an S3-compatible `endpoint`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectsFileConfig {
    pub root: Option<PathBuf>,
    /// `http(s)://host[:port]` of an S3-compatible server; replaces `root` when set.
    pub endpoint: Option<String>,
    /// The endpoint's signing region [default: us-east-1].
    pub region: Option<String>,
    /// `<endpoint>/<bucket>` (true, the default) or `<bucket>.<endpoint host>`.
    pub path_style: Option<bool>,
    /// Else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN from the environment.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("config file {} is not valid", path.display()))
    }
}

/// The settings `serve` runs with, after every layer is applied.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub models_dir: PathBuf,
    pub catalog: Option<PathBuf>,
    pub max_body_bytes: usize,
    pub limits: Limits,
    pub auth: AuthConfig,
    /// The S3 API's buckets live here [default: <data_dir>/objects]...
    pub objects_dir: PathBuf,
    /// ...unless an S3-compatible endpoint is configured.
    pub objects_endpoint: Option<RemoteConfig>,
    /// Which knowledge-base storage types are served, and by what.
    pub knowledge_base_storage: StorageMapping,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// `~/.local/share/basalt`, or `./basalt-data` when there is no home directory.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|base| base.join("basalt"))
        .unwrap_or_else(|| PathBuf::from("basalt-data"))
}

/// Overrides from flags and environment (clap reads both).
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub models_dir: Option<PathBuf>,
    pub auth_mode: Option<AuthMode>,
    /// `AKID:SECRET` pairs, comma-separated, added to the file's credentials.
    pub credentials: Option<String>,
    pub objects_dir: Option<PathBuf>,
    pub objects_endpoint: Option<String>,
    pub objects_region: Option<String>,
    pub max_concurrent_requests: Option<usize>,
    pub request_timeout_secs: Option<u64>,
}

impl ServeConfig {
    pub fn resolve(file: FileConfig, overrides: Overrides) -> Result<Self> {
        let listen = match overrides.listen.or(file.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN.parse().context("default listen address")?,
        };
        let data_dir = overrides
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(default_data_dir);
        let models_dir = overrides
            .models_dir
            .or(file.models_dir)
            .unwrap_or_else(|| data_dir.join("models"));
        let objects = file.objects.unwrap_or_default();
        let objects_dir = overrides
            .objects_dir
            .or(objects.root)
            .unwrap_or_else(|| data_dir.join("objects"));
        let objects_endpoint = match overrides.objects_endpoint.or(objects.endpoint) {
            None => None,
            Some(endpoint) => {
                let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
                let (Some(access_key_id), Some(secret_access_key)) = (
                    objects.access_key_id.or_else(|| env("AWS_ACCESS_KEY_ID")),
                    objects
                        .secret_access_key
                        .or_else(|| env("AWS_SECRET_ACCESS_KEY")),
                ) else {
                    anyhow::bail!(
                        "objects endpoint {endpoint} needs credentials: set access_key_id and secret_access_key under [objects] in the config file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
                    );
                };
                Some(RemoteConfig {
                    endpoint,
                    region: overrides
                        .objects_region
                        .or(objects.region)
                        .unwrap_or_else(|| "us-east-1".to_string()),
                    access_key_id,
                    secret_access_key,
                    session_token: env("AWS_SESSION_TOKEN"),
                    path_style: objects.path_style.unwrap_or(true),
                })
            }
        };
        let knowledge_base_storage =
            StorageMapping::with_overrides(&file.knowledge_bases.unwrap_or_default().storage)
                .map_err(anyhow::Error::msg)?;
        let defaults = Limits::default();
        let limits = Limits {
            max_concurrent_requests: overrides
                .max_concurrent_requests
                .or(file.max_concurrent_requests)
                .unwrap_or(defaults.max_concurrent_requests),
            request_timeout: overrides
                .request_timeout_secs
                .or(file.request_timeout_secs)
                .map_or(defaults.request_timeout, Duration::from_secs),
        };
        if limits.max_concurrent_requests == 0 || limits.request_timeout.is_zero() {
            anyhow::bail!("max_concurrent_requests and request_timeout_secs must be at least 1");
        }
        let mut auth = file.auth.unwrap_or_default();
        if let Some(mode) = overrides.auth_mode {
            auth.mode = mode;
        }
        if let Some(pairs) = overrides.credentials {
            for pair in pairs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (access_key_id, secret_access_key) =
                    pair.split_once(':').with_context(|| {
                        "BASALT_AUTH_CREDENTIALS entries are ACCESS_KEY_ID:SECRET_ACCESS_KEY"
                            .to_string()
                    })?;
                auth.credentials.push(Credential {
                    access_key_id: access_key_id.to_string(),
                    secret_access_key: secret_access_key.to_string(),
                });
            }
        }
        if auth.mode == AuthMode::Verify && auth.credentials.is_empty() {
            anyhow::bail!(
                "auth mode `verify` needs at least one credential: add [[auth.credentials]] to the config file or set BASALT_AUTH_CREDENTIALS=AKID:SECRET"
            );
        }
        Ok(ServeConfig {
            listen,
            data_dir,
            models_dir,
            catalog: file.catalog,
            max_body_bytes: file.max_body_bytes.unwrap_or(25 * 1024 * 1024),
            limits,
            auth,
            objects_dir,
            objects_endpoint,
            knowledge_base_storage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_overrides() -> Overrides {
        Overrides {
            listen: None,
            data_dir: None,
            models_dir: None,
            auth_mode: None,
            credentials: None,
            objects_dir: None,
            objects_endpoint: None,
            objects_region: None,
            max_concurrent_requests: None,
            request_timeout_secs: None,
        }
    }

    #[test]
    fn file_values_apply_and_flags_win() {
        let file: FileConfig = toml::from_str(
            r#"
            listen = "127.0.0.1:9000"
            data_dir = "/srv/basalt"
            [auth]
            mode = "verify"
            [[auth.credentials]]
            access_key_id = "AKID"
            secret_access_key = "SECRET"
            "#,
        )
        .expect("valid file");
        let config = ServeConfig::resolve(file, no_overrides()).expect("resolves");
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.models_dir, PathBuf::from("/srv/basalt/models"));
        assert_eq!(config.auth.mode, AuthMode::Verify);

        let file: FileConfig = toml::from_str("listen = \"127.0.0.1:9000\"").expect("valid");
        let overrides = Overrides {
            listen: Some("127.0.0.1:7000".parse().expect("addr")),
            ..no_overrides()
        };
        assert_eq!(
            ServeConfig::resolve(file, overrides)
                .expect("resolves")
                .listen
                .port(),
            7000
        );
    }

    #[test]
    fn limits_and_storage_mapping_come_from_the_file_and_flags() {
        let file: FileConfig = toml::from_str(
            r#"
            max_concurrent_requests = 8
            request_timeout_secs = 20
            [knowledge_bases.storage]
            RDS = "reject"
            "#,
        )
        .expect("valid file");
        let overrides = Overrides {
            request_timeout_secs: Some(5),
            ..no_overrides()
        };
        let config = ServeConfig::resolve(file, overrides).expect("resolves");
        assert_eq!(config.limits.max_concurrent_requests, 8);
        assert_eq!(config.limits.request_timeout, Duration::from_secs(5));
        let rds = config
            .knowledge_base_storage
            .entries()
            .find(|(kind, _)| *kind == "RDS");
        assert_eq!(rds, Some(("RDS", StorageBackend::Reject)));

        let unknown: FileConfig =
            toml::from_str("[knowledge_bases.storage]\nELASTIC = \"embedded\"").expect("parses");
        assert!(ServeConfig::resolve(unknown, no_overrides()).is_err());
        let bad_backend = toml::from_str::<FileConfig>("[knowledge_bases.storage]\nRDS = \"s3\"");
        assert!(bad_backend.is_err());
        let zero: FileConfig = toml::from_str("request_timeout_secs = 0").expect("parses");
        assert!(ServeConfig::resolve(zero, no_overrides()).is_err());
    }

    #[test]
    fn unknown_keys_and_verify_without_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
        let file: FileConfig = toml::from_str("[auth]\nmode = \"verify\"").expect("valid");
        assert!(ServeConfig::resolve(file, no_overrides()).is_err());
    }

    #[test]
    fn credentials_from_the_environment() {
        let overrides = Overrides {
            credentials: Some("A:B, C:D".into()),
            ..no_overrides()
        };
        let config = ServeConfig::resolve(FileConfig::default(), overrides).expect("resolves");
        assert_eq!(config.auth.credentials.len(), 2);
        assert_eq!(config.auth.credentials[1].access_key_id, "C");
    }

    #[test]
    fn an_objects_endpoint_replaces_the_directory() {
        let file: FileConfig = toml::from_str(
            "[objects]\nendpoint = \"http://minio:9000\"\naccess_key_id = \"AK\"\nsecret_access_key = \"SK\"",
        )
        .expect("valid");
        let config = ServeConfig::resolve(file, no_overrides()).expect("resolves");
        let remote = config.objects_endpoint.expect("remote objects");
        assert_eq!(remote.endpoint, "http://minio:9000");
        assert_eq!(remote.region, "us-east-1");
        assert!(remote.path_style);
        assert_eq!(remote.access_key_id, "AK");
        let mut overrides = no_overrides();
        overrides.objects_region = Some("eu-west-1".into());
        let file: FileConfig = toml::from_str(
            "[objects]\nendpoint = \"http://minio:9000\"\naccess_key_id = \"AK\"\nsecret_access_key = \"SK\"\npath_style = false",
        )
        .expect("valid");
        let remote = ServeConfig::resolve(file, overrides)
            .expect("resolves")
            .objects_endpoint
            .expect("remote objects");
        assert_eq!(remote.region, "eu-west-1");
        assert!(!remote.path_style);
        assert!(ServeConfig::resolve(FileConfig::default(), no_overrides())
            .expect("resolves")
            .objects_endpoint
            .is_none());
    }

    #[test]
    fn objects_dir_defaults_under_the_data_dir() {
        let file: FileConfig = toml::from_str("data_dir = \"/srv/b\"").expect("valid");
        let config = ServeConfig::resolve(file, no_overrides()).expect("resolves");
        assert_eq!(config.objects_dir, PathBuf::from("/srv/b/objects"));
        let file: FileConfig = toml::from_str("[objects]\nroot = \"/data/s3\"").expect("valid");
        let config = ServeConfig::resolve(file, no_overrides()).expect("resolves");
        assert_eq!(config.objects_dir, PathBuf::from("/data/s3"));
        let overrides = Overrides {
            objects_dir: Some("/env/s3".into()),
            ..no_overrides()
        };
        let file: FileConfig = toml::from_str("[objects]\nroot = \"/data/s3\"").expect("valid");
        let config = ServeConfig::resolve(file, overrides).expect("resolves");
        assert_eq!(config.objects_dir, PathBuf::from("/env/s3"));
    }
}
