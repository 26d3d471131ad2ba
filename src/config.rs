//! Settings: defaults, then the YAML file, then environment variables and flags (clap merges those
//! two, flags winning). Secrets come only from a file or the environment, never from the YAML
//! file or a flag value. Every validation error names the key.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use jiff::SignedDuration;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::harbor::{ClientIdentityFiles, ClientOptions, RetryOptions, TlsOptions};

/// Environment variable holding the Harbor password (the alternative to `harbor.passwordFile`).
pub const PASSWORD_ENV: &str = "HARBOR_BRIDGE_HARBOR_PASSWORD";

/// A configuration problem. The message names the key and says what is expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration file {path} is not valid: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{key}: {problem}")]
    Invalid { key: &'static str, problem: String },
}

fn invalid(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: problem.into(),
    }
}

/// The YAML file (`config/harbor-bridge.yaml` documents every key).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileConfig {
    #[serde(default)]
    pub harbor: HarborFile,
    #[serde(default)]
    pub log: LogFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HarborFile {
    pub url: Option<String>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Accepted only to refuse it with a clear message: passwords do not belong in this file.
    password: Option<serde::de::IgnoredAny>,
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: Option<bool>,
    pub allow_plain_http: Option<bool>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    pub connect_timeout: Option<SignedDuration>,
    pub request_timeout: Option<SignedDuration>,
    pub max_concurrent_requests: Option<usize>,
    pub requests_per_second: Option<u32>,
    pub max_retries: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LogFile {
    pub format: Option<LogFormat>,
    pub level: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Flags, each also readable from its environment variable.
#[derive(Args, Clone, Debug, Default)]
pub struct Overrides {
    /// Harbor's URL, e.g. https://harbor.example.com [file: harbor.url]
    #[arg(long, env = "HARBOR_BRIDGE_HARBOR_URL", global = true)]
    pub harbor_url: Option<String>,
    /// Harbor user: an admin or a system-level robot account [file: harbor.username; default: admin]
    #[arg(long, env = "HARBOR_BRIDGE_HARBOR_USERNAME", global = true)]
    pub harbor_username: Option<String>,
    /// File holding the Harbor password (or set HARBOR_BRIDGE_HARBOR_PASSWORD) [file: harbor.passwordFile]
    #[arg(long, env = "HARBOR_BRIDGE_HARBOR_PASSWORD_FILE", global = true)]
    pub harbor_password_file: Option<PathBuf>,
    /// PEM CA bundle trusted in addition to the system roots [file: harbor.caFile]
    #[arg(long, env = "HARBOR_BRIDGE_HARBOR_CA_FILE", global = true)]
    pub harbor_ca_file: Option<PathBuf>,
    /// Do not verify Harbor's certificate (emergencies only; logged loudly) [file: harbor.insecureSkipVerify]
    #[arg(long, env = "HARBOR_BRIDGE_HARBOR_INSECURE_SKIP_VERIFY", global = true)]
    pub harbor_insecure_skip_verify: Option<bool>,
    /// Allow an http:// Harbor URL (credentials then cross the network in clear) [file: harbor.allowPlainHttp]
    #[arg(long, env = "HARBOR_BRIDGE_HARBOR_ALLOW_PLAIN_HTTP", global = true)]
    pub harbor_allow_plain_http: Option<bool>,
    /// Client certificate (PEM) for mutual TLS [file: harbor.clientCertFile]
    #[arg(long, env = "HARBOR_BRIDGE_HARBOR_CLIENT_CERT_FILE", global = true)]
    pub harbor_client_cert_file: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS [file: harbor.clientKeyFile]
    #[arg(long, env = "HARBOR_BRIDGE_HARBOR_CLIENT_KEY_FILE", global = true)]
    pub harbor_client_key_file: Option<PathBuf>,
    /// Time to establish a connection, e.g. 5s [file: harbor.connectTimeout; default: 5s]
    #[arg(long, env = "HARBOR_BRIDGE_HARBOR_CONNECT_TIMEOUT", global = true)]
    pub harbor_connect_timeout: Option<SignedDuration>,
    /// Time for a whole request, e.g. 60s [file: harbor.requestTimeout; default: 60s]
    #[arg(long, env = "HARBOR_BRIDGE_HARBOR_REQUEST_TIMEOUT", global = true)]
    pub harbor_request_timeout: Option<SignedDuration>,
    /// Requests in flight to Harbor at most [file: harbor.maxConcurrentRequests; default: 16]
    #[arg(
        long,
        env = "HARBOR_BRIDGE_HARBOR_MAX_CONCURRENT_REQUESTS",
        global = true
    )]
    pub harbor_max_concurrent_requests: Option<usize>,
    /// Sustained requests per second to Harbor [file: harbor.requestsPerSecond; default: 50]
    #[arg(long, env = "HARBOR_BRIDGE_HARBOR_REQUESTS_PER_SECOND", global = true)]
    pub harbor_requests_per_second: Option<u32>,
    /// Retries of a failed call (connection errors, 5xx, 429 only) [file: harbor.maxRetries; default: 4]
    #[arg(long, env = "HARBOR_BRIDGE_HARBOR_MAX_RETRIES", global = true)]
    pub harbor_max_retries: Option<usize>,
    /// Log format [file: log.format; default: text]
    #[arg(long, env = "HARBOR_BRIDGE_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. info or harbor_bridge=debug (RUST_LOG syntax) [file: log.level; default: info]
    #[arg(long, env = "HARBOR_BRIDGE_LOG_LEVEL", global = true)]
    pub log_level: Option<String>,
}

/// Validated settings, ready to use.
#[derive(Debug)]
pub struct Settings {
    pub harbor: ClientOptions,
    pub log_format: LogFormat,
    pub log_level: String,
}

impl FileConfig {
    /// Reads the YAML file; a missing file is an error only when it was asked for explicitly.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Syntax {
            path: path.to_owned(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }
}

impl Settings {
    /// Merges file and overrides (overrides win) and validates. `password_env` is the value of
    /// `HARBOR_BRIDGE_HARBOR_PASSWORD`, passed in so tests need not touch the process environment.
    pub fn resolve(
        file: FileConfig,
        flags: Overrides,
        password_env: Option<String>,
    ) -> Result<Self, ConfigError> {
        let h = file.harbor;
        if h.password.is_some() {
            return Err(invalid(
                "harbor.password",
                format!(
                    "passwords are not read from the configuration file; put it in a file named \
                     by harbor.passwordFile or in {PASSWORD_ENV}"
                ),
            ));
        }
        let url = parse_url(
            flags.harbor_url.or(h.url),
            flags
                .harbor_allow_plain_http
                .or(h.allow_plain_http)
                .unwrap_or(false),
        )?;
        let username = flags
            .harbor_username
            .or(h.username)
            .unwrap_or_else(|| "admin".to_owned());
        if username.trim().is_empty() {
            return Err(invalid("harbor.username", "must not be empty"));
        }
        let password = read_password(flags.harbor_password_file.or(h.password_file), password_env)?;
        let client_identity = match (
            flags.harbor_client_cert_file.or(h.client_cert_file),
            flags.harbor_client_key_file.or(h.client_key_file),
        ) {
            (None, None) => None,
            (Some(cert_file), Some(key_file)) => Some(ClientIdentityFiles {
                cert_file,
                key_file,
            }),
            (Some(_), None) => {
                return Err(invalid(
                    "harbor.clientKeyFile",
                    "must be set together with harbor.clientCertFile",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "harbor.clientCertFile",
                    "must be set together with harbor.clientKeyFile",
                ));
            }
        };
        let tls = TlsOptions {
            ca_file: flags.harbor_ca_file.or(h.ca_file),
            client_identity,
            insecure_skip_verify: flags
                .harbor_insecure_skip_verify
                .or(h.insecure_skip_verify)
                .unwrap_or(false),
        };
        let connect_timeout = positive_duration(
            "harbor.connectTimeout",
            flags.harbor_connect_timeout.or(h.connect_timeout),
            Duration::from_secs(5),
        )?;
        let request_timeout = positive_duration(
            "harbor.requestTimeout",
            flags.harbor_request_timeout.or(h.request_timeout),
            Duration::from_secs(60),
        )?;
        let max_concurrent_requests = flags
            .harbor_max_concurrent_requests
            .or(h.max_concurrent_requests)
            .unwrap_or(16);
        if max_concurrent_requests == 0 {
            return Err(invalid(
                "harbor.maxConcurrentRequests",
                "must be at least 1",
            ));
        }
        let requests_per_second = NonZeroU32::new(
            flags
                .harbor_requests_per_second
                .or(h.requests_per_second)
                .unwrap_or(50),
        )
        .ok_or_else(|| invalid("harbor.requestsPerSecond", "must be at least 1"))?;
        let retry = RetryOptions {
            max_retries: flags.harbor_max_retries.or(h.max_retries).unwrap_or(4),
            ..RetryOptions::default()
        };
        Ok(Self {
            harbor: ClientOptions {
                url,
                username,
                password,
                tls,
                connect_timeout,
                request_timeout,
                max_concurrent_requests,
                requests_per_second,
                retry,
            },
            log_format: flags.log_format.or(file.log.format).unwrap_or_default(),
            log_level: flags
                .log_level
                .or(file.log.level)
                .unwrap_or_else(|| "info".to_owned()),
        })
    }
}

fn parse_url(value: Option<String>, allow_plain_http: bool) -> Result<Url, ConfigError> {
    const KEY: &str = "harbor.url";
    let text = value.ok_or_else(|| {
        invalid(
            KEY,
            "is required (e.g. https://harbor.example.com; TKEStack's https://<domainSuffix>)",
        )
    })?;
    let url =
        Url::parse(text.trim()).map_err(|e| invalid(KEY, format!("{text:?} is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            KEY,
            "must not contain credentials; use harbor.username and harbor.passwordFile",
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_plain_http => {}
        "http" => {
            return Err(invalid(
                KEY,
                "is http://; use https:// (or set harbor.allowPlainHttp: true for a test setup)",
            ));
        }
        other => {
            return Err(invalid(
                KEY,
                format!("scheme {other:?} is not supported; use https://"),
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(KEY, "must not have a query or fragment"));
    }
    Ok(url)
}

fn read_password(file: Option<PathBuf>, env: Option<String>) -> Result<SecretString, ConfigError> {
    let password = match (file, env) {
        (Some(path), _) => std::fs::read_to_string(&path).map_err(|e| {
            invalid(
                "harbor.passwordFile",
                format!("cannot read {}: {e}", path.display()),
            )
        })?,
        (None, Some(value)) => value,
        (None, None) => {
            return Err(invalid(
                "harbor.passwordFile",
                format!("no Harbor password: set harbor.passwordFile or {PASSWORD_ENV}"),
            ));
        }
    };
    // A Secret mounted from `kubectl create secret --from-file` often ends with a newline.
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(invalid(
            "harbor.passwordFile",
            "the Harbor password is empty",
        ));
    }
    Ok(SecretString::from(password.to_owned()))
}

fn positive_duration(
    key: &'static str,
    value: Option<SignedDuration>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(d) if d.is_positive() => {
            Duration::try_from(d).map_err(|e| invalid(key, e.to_string()))
        }
        Some(d) => Err(invalid(key, format!("must be positive (got {d})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn resolve(yaml: &str, flags: Overrides) -> Result<Settings, ConfigError> {
        Settings::resolve(FileConfig::parse(yaml).unwrap(), flags, Some("pw".into()))
    }

    const MINIMAL: &str = "harbor:\n  url: https://harbor.example.com\n";

    #[test]
    fn defaults_apply() {
        let s = resolve(MINIMAL, Overrides::default()).unwrap();
        assert_eq!(s.harbor.username, "admin");
        assert_eq!(s.harbor.max_concurrent_requests, 16);
        assert_eq!(s.harbor.requests_per_second.get(), 50);
        assert_eq!(s.harbor.request_timeout, Duration::from_secs(60));
        assert_eq!(s.harbor.password.expose_secret(), "pw");
        assert_eq!(s.log_format, LogFormat::Text);
    }

    #[test]
    fn flags_and_env_override_the_file() {
        let yaml = "harbor:\n  url: https://file.example.com\n  maxConcurrentRequests: 4\n  connectTimeout: 2s\n";
        let flags = Overrides {
            harbor_url: Some("https://flag.example.com".into()),
            ..Overrides::default()
        };
        let s = resolve(yaml, flags).unwrap();
        assert_eq!(s.harbor.url.as_str(), "https://flag.example.com/");
        assert_eq!(s.harbor.max_concurrent_requests, 4);
        assert_eq!(s.harbor.connect_timeout, Duration::from_secs(2));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("harbor:\n  url: ftp://x\n", "harbor.url"),
            ("harbor:\n  url: http://x\n", "harbor.url"),
            ("harbor:\n  url: https://admin:pw@x\n", "harbor.url"),
            ("harbor: {}\n", "harbor.url"),
            (
                "harbor:\n  url: https://x\n  maxConcurrentRequests: 0\n",
                "harbor.maxConcurrentRequests",
            ),
            (
                "harbor:\n  url: https://x\n  requestsPerSecond: 0\n",
                "harbor.requestsPerSecond",
            ),
            (
                "harbor:\n  url: https://x\n  connectTimeout: -5s\n",
                "harbor.connectTimeout",
            ),
            (
                "harbor:\n  url: https://x\n  password: hunter2\n",
                "harbor.password",
            ),
            (
                "harbor:\n  url: https://x\n  clientCertFile: /c.pem\n",
                "harbor.clientKeyFile",
            ),
            (
                "harbor:\n  url: https://x\n  username: ' '\n",
                "harbor.username",
            ),
        ];
        for (yaml, key) in cases {
            let err = resolve(yaml, Overrides::default()).unwrap_err().to_string();
            assert!(err.starts_with(key), "{yaml:?} gave {err:?}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_types_are_refused_by_name() {
        let err = FileConfig::parse("harbor:\n  urll: https://x\n").unwrap_err();
        assert!(err.contains("urll"), "{err}");
        let err = FileConfig::parse("harbor:\n  maxRetries: many\n").unwrap_err();
        assert!(err.contains("maxRetries") || err.contains("many"), "{err}");
    }

    #[test]
    fn password_comes_from_a_file_or_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let path = dir.join("password");
        std::fs::write(&path, "from-file\n").unwrap();
        let flags = Overrides {
            harbor_password_file: Some(path),
            ..Overrides::default()
        };
        let s = Settings::resolve(
            FileConfig::parse(MINIMAL).unwrap(),
            flags,
            Some("env".into()),
        )
        .unwrap();
        assert_eq!(s.harbor.password.expose_secret(), "from-file");

        let err = Settings::resolve(
            FileConfig::parse(MINIMAL).unwrap(),
            Overrides::default(),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains(PASSWORD_ENV), "{err}");

        let missing = Overrides {
            harbor_password_file: Some(dir.join("absent")),
            ..Overrides::default()
        };
        let err =
            Settings::resolve(FileConfig::parse(MINIMAL).unwrap(), missing, None).unwrap_err();
        assert!(err.to_string().starts_with("harbor.passwordFile"), "{err}");
    }

    #[test]
    fn the_shipped_example_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/harbor-bridge.yaml");
        let file = FileConfig::load(&path).unwrap();
        let secret = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(secret.path(), "pw\n").unwrap();
        let flags = Overrides {
            harbor_password_file: Some(secret.path().to_owned()),
            ..Overrides::default()
        };
        let settings = Settings::resolve(file, flags, None).unwrap();
        assert_eq!(settings.harbor.url.as_str(), "https://harbor.example.com/");
        assert!(settings.harbor.tls.ca_file.is_some());
        assert!(!settings.harbor.tls.insecure_skip_verify);
    }
}
