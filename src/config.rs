//! Settings: defaults, then the YAML file, then environment variables and flags (clap merges those
//! two, flags winning). Secrets come only from a file or the environment, never from the YAML
//! file or a flag value. Every validation error names the key.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use jiff::SignedDuration;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::harbor::{ClientIdentityFiles, ClientOptions, RetryOptions, TlsOptions, rotation};
use crate::sync::{SyncOptions, WebhookPolicyTarget};

/// Environment variable holding the Harbor password (the alternative to `harbor.passwordFile`).
pub const PASSWORD_ENV: &str = "HARBOR_BRIDGE_HARBOR_PASSWORD";
/// Environment variable holding the webhook shared secret (the alternative to `webhook.secretFile`).
pub const WEBHOOK_SECRET_ENV: &str = "HARBOR_BRIDGE_WEBHOOK_SECRET";

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
    #[serde(default)]
    pub sync: SyncFile,
    #[serde(default)]
    pub server: ServerFile,
    #[serde(default)]
    pub webhook: WebhookFile,
    #[serde(default)]
    pub leader_election: LeaderFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LeaderFile {
    pub enabled: Option<bool>,
    pub namespace: Option<String>,
    pub lease_name: Option<String>,
    pub lease_duration: Option<SignedDuration>,
    pub renew_deadline: Option<SignedDuration>,
    pub renew_interval: Option<SignedDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SyncFile {
    pub adopt_existing_projects: Option<bool>,
    pub resync_interval: Option<SignedDuration>,
    pub retry_interval: Option<SignedDuration>,
    pub delete_concurrency: Option<usize>,
    pub tenant_label: Option<String>,
    pub namespace_selector: Option<String>,
    pub default_tenant: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServerFile {
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookFile {
    pub path: Option<String>,
    pub callback_url: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// Accepted only to refuse it with a clear message, like `harbor.password`.
    secret: Option<serde::de::IgnoredAny>,
    pub payload_format: Option<String>,
    pub max_body_bytes: Option<usize>,
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
    /// Take over existing Harbor projects not created for the resource [file: sync.adoptExistingProjects; default: false]
    #[arg(
        long,
        env = "HARBOR_BRIDGE_SYNC_ADOPT_EXISTING_PROJECTS",
        global = true
    )]
    pub sync_adopt_existing_projects: Option<bool>,
    /// How often each resource is compared with Harbor, e.g. 5m [file: sync.resyncInterval; default: 5m]
    #[arg(long, env = "HARBOR_BRIDGE_SYNC_RESYNC_INTERVAL", global = true)]
    pub sync_resync_interval: Option<SignedDuration>,
    /// How soon a failed reconcile is retried, e.g. 10s [file: sync.retryInterval; default: 10s]
    #[arg(long, env = "HARBOR_BRIDGE_SYNC_RETRY_INTERVAL", global = true)]
    pub sync_retry_interval: Option<SignedDuration>,
    /// Repository deletions in flight while emptying a project [file: sync.deleteConcurrency; default: 8]
    #[arg(long, env = "HARBOR_BRIDGE_SYNC_DELETE_CONCURRENCY", global = true)]
    pub sync_delete_concurrency: Option<usize>,
    /// Namespace label naming the tenant [file: sync.tenantLabel; default: registry.tkestack.io/tenant]
    #[arg(long, env = "HARBOR_BRIDGE_SYNC_TENANT_LABEL", global = true)]
    pub sync_tenant_label: Option<String>,
    /// Label selector of namespaces synced without the tenant label [file: sync.namespaceSelector]
    #[arg(long, env = "HARBOR_BRIDGE_SYNC_NAMESPACE_SELECTOR", global = true)]
    pub sync_namespace_selector: Option<String>,
    /// Tenant of namespaces matched by the selector [file: sync.defaultTenant]
    #[arg(long, env = "HARBOR_BRIDGE_SYNC_DEFAULT_TENANT", global = true)]
    pub sync_default_tenant: Option<String>,
    /// Address of the HTTP server (webhook receiver) [file: server.listen; default: 0.0.0.0:8080]
    #[arg(long, env = "HARBOR_BRIDGE_SERVER_LISTEN", global = true)]
    pub server_listen: Option<SocketAddr>,
    /// Path Harbor posts events to [file: webhook.path; default: /harbor/events]
    #[arg(long, env = "HARBOR_BRIDGE_WEBHOOK_PATH", global = true)]
    pub webhook_path: Option<String>,
    /// URL Harbor reaches the receiver at; set it to install webhook policies [file: webhook.callbackUrl]
    #[arg(long, env = "HARBOR_BRIDGE_WEBHOOK_CALLBACK_URL", global = true)]
    pub webhook_callback_url: Option<String>,
    /// File holding the webhook shared secret (or set HARBOR_BRIDGE_WEBHOOK_SECRET) [file: webhook.secretFile]
    #[arg(long, env = "HARBOR_BRIDGE_WEBHOOK_SECRET_FILE", global = true)]
    pub webhook_secret_file: Option<PathBuf>,
    /// Payload format of installed policies: Default or CloudEvents [file: webhook.payloadFormat; default: Default]
    #[arg(long, env = "HARBOR_BRIDGE_WEBHOOK_PAYLOAD_FORMAT", global = true)]
    pub webhook_payload_format: Option<String>,
    /// Largest webhook body accepted, in bytes [file: webhook.maxBodyBytes; default: 1048576]
    #[arg(long, env = "HARBOR_BRIDGE_WEBHOOK_MAX_BODY_BYTES", global = true)]
    pub webhook_max_body_bytes: Option<usize>,
    /// Run the controllers only while holding the leader lease [file: leaderElection.enabled; default: true]
    #[arg(long, env = "HARBOR_BRIDGE_LEADER_ELECTION_ENABLED", global = true)]
    pub leader_election_enabled: Option<bool>,
    /// Namespace of the lease [file: leaderElection.namespace; default: $POD_NAMESPACE, else default]
    #[arg(long, env = "HARBOR_BRIDGE_LEADER_ELECTION_NAMESPACE", global = true)]
    pub leader_election_namespace: Option<String>,
}

/// Leader election settings; the identity (pod name) and default namespace come from the
/// environment at start-up (`POD_NAME`, `POD_NAMESPACE`).
#[derive(Clone, Debug)]
pub struct LeaderElection {
    pub namespace: Option<String>,
    pub lease_name: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub renew_interval: Duration,
}

/// Secrets taken from the environment, passed in so tests need not touch the process environment.
#[derive(Clone, Debug, Default)]
pub struct EnvSecrets {
    /// `HARBOR_BRIDGE_HARBOR_PASSWORD`
    pub harbor_password: Option<String>,
    /// `HARBOR_BRIDGE_WEBHOOK_SECRET`
    pub webhook_secret: Option<String>,
}

impl EnvSecrets {
    pub fn from_process() -> Self {
        Self {
            harbor_password: std::env::var(PASSWORD_ENV).ok(),
            webhook_secret: std::env::var(WEBHOOK_SECRET_ENV).ok(),
        }
    }
}

/// The webhook receiver's settings; present when a shared secret is configured.
#[derive(Debug)]
pub struct WebhookSettings {
    pub path: String,
    /// The exact `Authorization` header Harbor must send (`Bearer <secret>`).
    pub auth_header: SecretString,
    pub max_body_bytes: usize,
}

/// Validated settings, ready to use.
#[derive(Debug)]
pub struct Settings {
    pub harbor: ClientOptions,
    pub log_format: LogFormat,
    pub log_level: String,
    pub sync: SyncOptions,
    pub listen: SocketAddr,
    /// `None` when no webhook secret is configured: the receiver is then not served.
    pub webhook: Option<WebhookSettings>,
    /// `None` when leader election is off (a single replica).
    pub leader_election: Option<LeaderElection>,
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
    /// Merges file and overrides (overrides win) and validates.
    pub fn resolve(
        file: FileConfig,
        flags: Overrides,
        env: EnvSecrets,
    ) -> Result<Self, ConfigError> {
        let (webhook, webhook_policy) = resolve_webhook(file.webhook, &flags, env.webhook_secret)?;
        let sync = resolve_sync(file.sync, &flags, webhook_policy)?;
        let listen = flags
            .server_listen
            .or(file.server.listen)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 8080)));
        let leader_election = resolve_leader(file.leader_election, &flags)?;
        let password_env = env.harbor_password;
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
        let password_file = flags.harbor_password_file.or(h.password_file);
        let password = read_password(password_file.as_deref(), password_env)?;
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
                password_file,
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
            sync,
            listen,
            webhook,
            leader_election,
        })
    }
}

fn resolve_leader(
    file: LeaderFile,
    flags: &Overrides,
) -> Result<Option<LeaderElection>, ConfigError> {
    if !flags
        .leader_election_enabled
        .or(file.enabled)
        .unwrap_or(true)
    {
        return Ok(None);
    }
    let lease_duration = positive_duration(
        "leaderElection.leaseDuration",
        file.lease_duration,
        Duration::from_secs(15),
    )?;
    let renew_deadline = positive_duration(
        "leaderElection.renewDeadline",
        file.renew_deadline,
        Duration::from_secs(10),
    )?;
    let renew_interval = positive_duration(
        "leaderElection.renewInterval",
        file.renew_interval,
        Duration::from_secs(2),
    )?;
    // The holder must give up before a follower may take over, or both would write.
    if renew_deadline >= lease_duration {
        return Err(invalid(
            "leaderElection.renewDeadline",
            "must be shorter than leaderElection.leaseDuration",
        ));
    }
    if renew_interval >= renew_deadline {
        return Err(invalid(
            "leaderElection.renewInterval",
            "must be shorter than leaderElection.renewDeadline",
        ));
    }
    let lease_name = file
        .lease_name
        .unwrap_or_else(|| "harbor-bridge".to_owned());
    if lease_name.trim().is_empty() {
        return Err(invalid("leaderElection.leaseName", "must not be empty"));
    }
    Ok(Some(LeaderElection {
        namespace: flags
            .leader_election_namespace
            .clone()
            .or(file.namespace)
            .filter(|n| !n.is_empty()),
        lease_name,
        lease_duration,
        renew_deadline,
        renew_interval,
    }))
}

fn resolve_sync(
    file: SyncFile,
    flags: &Overrides,
    webhook_policy: Option<WebhookPolicyTarget>,
) -> Result<SyncOptions, ConfigError> {
    let defaults = SyncOptions::default();
    let delete_concurrency = flags
        .sync_delete_concurrency
        .or(file.delete_concurrency)
        .unwrap_or(defaults.delete_concurrency);
    if delete_concurrency == 0 {
        return Err(invalid("sync.deleteConcurrency", "must be at least 1"));
    }
    let tenant_label = flags
        .sync_tenant_label
        .clone()
        .or(file.tenant_label)
        .unwrap_or(defaults.tenant_label);
    if tenant_label.trim().is_empty() {
        return Err(invalid("sync.tenantLabel", "must not be empty"));
    }
    let namespace_selector = flags
        .sync_namespace_selector
        .clone()
        .or(file.namespace_selector)
        .filter(|s| !s.trim().is_empty());
    let default_tenant = flags
        .sync_default_tenant
        .clone()
        .or(file.default_tenant)
        .filter(|s| !s.trim().is_empty());
    if namespace_selector.is_some() && default_tenant.is_none() {
        return Err(invalid(
            "sync.defaultTenant",
            "is required with sync.namespaceSelector (the tenant of unlabelled namespaces)",
        ));
    }
    Ok(SyncOptions {
        adopt_existing_projects: flags
            .sync_adopt_existing_projects
            .or(file.adopt_existing_projects)
            .unwrap_or(defaults.adopt_existing_projects),
        resync_interval: positive_duration(
            "sync.resyncInterval",
            flags.sync_resync_interval.or(file.resync_interval),
            defaults.resync_interval,
        )?,
        retry_interval: positive_duration(
            "sync.retryInterval",
            flags.sync_retry_interval.or(file.retry_interval),
            defaults.retry_interval,
        )?,
        delete_concurrency,
        tenant_label,
        namespace_selector,
        default_tenant,
        webhook_policy,
    })
}

/// The receiver is served when a secret is configured; policies are installed when, in
/// addition, Harbor has a URL to post to.
fn resolve_webhook(
    file: WebhookFile,
    flags: &Overrides,
    secret_env: Option<String>,
) -> Result<(Option<WebhookSettings>, Option<WebhookPolicyTarget>), ConfigError> {
    if file.secret.is_some() {
        return Err(invalid(
            "webhook.secret",
            format!(
                "secrets are not read from the configuration file; put it in a file named by                  webhook.secretFile or in {WEBHOOK_SECRET_ENV}"
            ),
        ));
    }
    let secret = match flags.webhook_secret_file.clone().or(file.secret_file) {
        Some(path) => Some(read_secret_file("webhook.secretFile", &path)?),
        None => secret_env.map(|s| s.trim_end_matches(['\r', '\n']).to_owned()),
    };
    let callback_url = flags.webhook_callback_url.clone().or(file.callback_url);
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        if callback_url.is_some() {
            return Err(invalid(
                "webhook.callbackUrl",
                format!("needs a shared secret: set webhook.secretFile or {WEBHOOK_SECRET_ENV}"),
            ));
        }
        return Ok((None, None));
    };
    let auth_header = SecretString::from(format!("Bearer {secret}"));
    let path = flags
        .webhook_path
        .clone()
        .or(file.path)
        .unwrap_or_else(|| "/harbor/events".to_owned());
    if !crate::server::is_valid_webhook_path(&path) {
        return Err(invalid(
            "webhook.path",
            format!("{path:?} must start with / and use only letters, digits and /-._~"),
        ));
    }
    let payload_format = flags.webhook_payload_format.clone().or(file.payload_format);
    if let Some(format) = &payload_format
        && !matches!(format.as_str(), "Default" | "CloudEvents")
    {
        return Err(invalid(
            "webhook.payloadFormat",
            format!("must be Default or CloudEvents (got {format:?})"),
        ));
    }
    let max_body_bytes = flags
        .webhook_max_body_bytes
        .or(file.max_body_bytes)
        .unwrap_or(1 << 20);
    if max_body_bytes < 1024 {
        return Err(invalid("webhook.maxBodyBytes", "must be at least 1024"));
    }
    let policy = match callback_url {
        None => None,
        Some(text) => {
            let callback_url = Url::parse(&text)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    invalid(
                        "webhook.callbackUrl",
                        format!("{text:?} is not an http(s) URL Harbor can post to"),
                    )
                })?;
            Some(WebhookPolicyTarget {
                callback_url,
                auth_header: auth_header.clone(),
                payload_format,
            })
        }
    };
    Ok((
        Some(WebhookSettings {
            path,
            auth_header,
            max_body_bytes,
        }),
        policy,
    ))
}

/// Reads a secret mounted from a file; a Secret made with `kubectl create secret --from-file`
/// often ends with a newline, which is not part of the secret.
fn read_secret_file(key: &'static str, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
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

fn read_password(file: Option<&Path>, env: Option<String>) -> Result<SecretString, ConfigError> {
    const KEY: &str = "harbor.passwordFile";
    let password = match (file, env) {
        (Some(path), _) => {
            return rotation::read_password_file(path).map_err(|e| invalid(KEY, e.to_string()));
        }
        (None, Some(value)) => value.trim_end_matches(['\r', '\n']).to_owned(),
        (None, None) => {
            return Err(invalid(
                KEY,
                format!("no Harbor password: set harbor.passwordFile or {PASSWORD_ENV}"),
            ));
        }
    };
    if password.is_empty() {
        return Err(invalid(KEY, "the Harbor password is empty"));
    }
    Ok(SecretString::from(password))
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
        Settings::resolve(FileConfig::parse(yaml).unwrap(), flags, env_password("pw"))
    }

    fn env_password(password: &str) -> EnvSecrets {
        EnvSecrets {
            harbor_password: Some(password.into()),
            ..EnvSecrets::default()
        }
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
    fn sync_and_webhook_settings() {
        let env = EnvSecrets {
            harbor_password: Some("pw".into()),
            webhook_secret: Some("hook-secret\n".into()),
        };
        let yaml = "harbor:\n  url: https://x\nsync:\n  resyncInterval: 2m\n  adoptExistingProjects: true\n\
                    webhook:\n  callbackUrl: https://bridge.example/harbor/events\n  payloadFormat: CloudEvents\n";
        let s = Settings::resolve(
            FileConfig::parse(yaml).unwrap(),
            Overrides::default(),
            env.clone(),
        )
        .unwrap();
        assert_eq!(s.sync.resync_interval, Duration::from_secs(120));
        assert!(s.sync.adopt_existing_projects);
        let webhook = s.webhook.expect("receiver enabled by the secret");
        assert_eq!(webhook.path, "/harbor/events");
        assert_eq!(webhook.auth_header.expose_secret(), "Bearer hook-secret");
        let policy = s
            .sync
            .webhook_policy
            .expect("policies installed with a callback URL");
        assert_eq!(
            policy.callback_url.as_str(),
            "https://bridge.example/harbor/events"
        );
        assert_eq!(policy.payload_format.as_deref(), Some("CloudEvents"));

        let without_secret = Settings::resolve(
            FileConfig::parse(MINIMAL).unwrap(),
            Overrides::default(),
            env_password("pw"),
        )
        .unwrap();
        assert!(without_secret.webhook.is_none() && without_secret.sync.webhook_policy.is_none());

        let cases = [
            (
                "harbor:\n  url: https://x\nleaderElection:\n  renewDeadline: 20s\n",
                "leaderElection.renewDeadline",
            ),
            (
                "harbor:\n  url: https://x\nleaderElection:\n  renewInterval: 12s\n",
                "leaderElection.renewInterval",
            ),
            (
                "harbor:\n  url: https://x\nsync:\n  deleteConcurrency: 0\n",
                "sync.deleteConcurrency",
            ),
            (
                "harbor:\n  url: https://x\nsync:\n  namespaceSelector: team=a\n",
                "sync.defaultTenant",
            ),
            (
                "harbor:\n  url: https://x\nwebhook:\n  secret: hunter2\n",
                "webhook.secret",
            ),
            (
                "harbor:\n  url: https://x\nwebhook:\n  path: events\n",
                "webhook.path",
            ),
            (
                "harbor:\n  url: https://x\nwebhook:\n  payloadFormat: Xml\n",
                "webhook.payloadFormat",
            ),
            (
                "harbor:\n  url: https://x\nwebhook:\n  callbackUrl: ftp://x\n",
                "webhook.callbackUrl",
            ),
        ];
        for (yaml, key) in cases {
            let err = Settings::resolve(
                FileConfig::parse(yaml).unwrap(),
                Overrides::default(),
                env.clone(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.starts_with(key), "{yaml:?} gave {err:?}");
            assert!(
                !err.contains("hunter2") && !err.contains("hook-secret"),
                "{err}"
            );
        }
        let no_secret = "harbor:\n  url: https://x\nwebhook:\n  callbackUrl: https://b/e\n";
        let err = Settings::resolve(
            FileConfig::parse(no_secret).unwrap(),
            Overrides::default(),
            env_password("pw"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("webhook.callbackUrl"), "{err}");
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
            env_password("env"),
        )
        .unwrap();
        assert_eq!(s.harbor.password.expose_secret(), "from-file");

        let err = Settings::resolve(
            FileConfig::parse(MINIMAL).unwrap(),
            Overrides::default(),
            EnvSecrets::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains(PASSWORD_ENV), "{err}");

        let missing = Overrides {
            harbor_password_file: Some(dir.join("absent")),
            ..Overrides::default()
        };
        let err = Settings::resolve(
            FileConfig::parse(MINIMAL).unwrap(),
            missing,
            EnvSecrets::default(),
        )
        .unwrap_err();
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
        let settings = Settings::resolve(file, flags, EnvSecrets::default()).unwrap();
        assert_eq!(settings.harbor.url.as_str(), "https://harbor.example.com/");
        assert!(settings.harbor.tls.ca_file.is_some());
        assert!(!settings.harbor.tls.insecure_skip_verify);
    }
}
