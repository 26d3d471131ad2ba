//! The request core every Harbor operation goes through: auth, limits, retries, errors, paging.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use url::Url;

use super::error::Error;
use super::tls::{self, TlsError, TlsOptions};
use crate::metrics::Metrics;

/// Harbor's largest accepted `page_size`; anything above gets 422.
pub const PAGE_SIZE: usize = 100;
/// A guard against a server that never stops paging (100 × 10,000 = a million items).
const MAX_PAGES: usize = 10_000;

/// Everything needed to talk to one Harbor. Built from the daemon configuration.
#[derive(Clone)]
pub struct ClientOptions {
    /// Harbor's external URL, e.g. `https://harbor.example.com` (a path prefix is kept).
    pub url: Url,
    pub username: String,
    pub password: SecretString,
    /// Where `password` was read from; re-read when it changes ([`super::rotation`]).
    pub password_file: Option<PathBuf>,
    pub tls: TlsOptions,
    pub connect_timeout: Duration,
    /// Bound on each request, body included. Deleting a large repository is one long request.
    pub request_timeout: Duration,
    pub max_concurrent_requests: usize,
    /// Sustained request rate towards Harbor (bursts up to the concurrency bound).
    pub requests_per_second: NonZeroU32,
    pub retry: RetryOptions,
}

/// Jittered exponential backoff for transient failures.
#[derive(Clone, Debug)]
pub struct RetryOptions {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            max_retries: 4,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("url", &self.url.as_str())
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("password_file", &self.password_file)
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("requests_per_second", &self.requests_per_second)
            .field("retry", &self.retry)
            .finish()
    }
}

/// A problem building the client, found at start-up.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Client for Harbor's v2.0 REST API (and the ChartMuseum API of Harbor ≤ 2.7).
///
/// Cheap to clone; clones share the connection pool and the request limits.
#[derive(Clone)]
pub struct HarborClient {
    inner: Arc<Inner>,
    /// Where each request, answer and retry is counted ([`HarborClient::with_metrics`]).
    metrics: Option<Metrics>,
}

struct Inner {
    /// Swapped for a new one when the CA bundle or client certificate rotates.
    http: RwLock<reqwest::Client>,
    base: String,
    username: String,
    /// Swapped when the password file rotates.
    password: RwLock<SecretString>,
    concurrency: Semaphore,
    max_concurrent_requests: usize,
    rate: DefaultDirectRateLimiter,
    retry: RetryOptions,
}

impl std::fmt::Debug for HarborClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HarborClient")
            .field("base", &self.inner.base)
            .field("username", &self.inner.username)
            .finish_non_exhaustive()
    }
}

/// One HTTP request to Harbor, described before it is sent (so it can be retried).
#[derive(Clone)]
pub(crate) struct Request {
    /// A fixed short name of the client method, e.g. `create_project`: the `operation` label
    /// of the metrics (never a project or repository name).
    pub label: &'static str,
    /// What the call does, with names, for messages only.
    pub operation: String,
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
    /// Sends `X-Is-Resource-Name: true`, so an all-digit project name is not taken for an id.
    pub by_name: bool,
    pub accept: &'static str,
}

impl Request {
    pub fn new(method: Method, label: &'static str, path: String, operation: String) -> Self {
        Self {
            label,
            operation,
            method,
            path,
            query: Vec::new(),
            body: None,
            by_name: false,
            accept: "application/json",
        }
    }

    pub fn by_name(mut self) -> Self {
        self.by_name = true;
        self
    }

    pub fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn accept(mut self, accept: &'static str) -> Self {
        self.accept = accept;
        self
    }
}

/// A successful answer.
pub(crate) struct Reply {
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self, operation: &str) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::protocol(operation, format!("unexpected response body ({e})")))
    }

    fn total_count(&self) -> Option<usize> {
        self.headers
            .get("x-total-count")?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }
}

/// The outcome of a request retried after transport failures.
pub(crate) struct Outcome {
    pub result: Result<Reply, Error>,
    /// An earlier attempt may have reached Harbor without its answer arriving.
    pub earlier_reply_lost: bool,
}

impl HarborClient {
    pub fn new(options: &ClientOptions) -> Result<Self, BuildError> {
        if options.url.scheme() == "http" {
            tracing::warn!(url = %options.url, "Harbor is reached over plain HTTP: credentials cross the network in clear");
        }
        let http = http_client(options)?;
        let burst = NonZeroU32::new(options.max_concurrent_requests.max(1) as u32)
            .unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            inner: Arc::new(Inner {
                http: RwLock::new(http),
                base: options.url.as_str().trim_end_matches('/').to_owned(),
                username: options.username.clone(),
                password: RwLock::new(options.password.clone()),
                concurrency: Semaphore::new(options.max_concurrent_requests.max(1)),
                max_concurrent_requests: options.max_concurrent_requests.max(1),
                rate: RateLimiter::direct(
                    Quota::per_second(options.requests_per_second).allow_burst(burst),
                ),
                retry: options.retry.clone(),
            }),
            metrics: None,
        })
    }

    /// Counts every request, answer and retry in `metrics` (`harbor_requests_total`,
    /// `harbor_request_duration_seconds`, `harbor_retries_total`).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Trusts the CA bundle and presents the client certificate now in `options.tls`'s files.
    /// New connections use them; requests in flight finish on the old ones. On error nothing
    /// changes.
    pub fn reload_tls(&self, options: &ClientOptions) -> Result<(), BuildError> {
        let http = http_client(options)?;
        *self
            .inner
            .http
            .write()
            .unwrap_or_else(PoisonError::into_inner) = http;
        Ok(())
    }

    /// Sends `password` from the next request on.
    pub fn set_password(&self, password: SecretString) {
        *self
            .inner
            .password
            .write()
            .unwrap_or_else(PoisonError::into_inner) = password;
    }

    /// Where reloads are counted, if anywhere.
    pub(crate) fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    /// How many requests may be in flight at once (`harbor.maxConcurrentRequests`).
    pub fn max_concurrent_requests(&self) -> usize {
        self.inner.max_concurrent_requests
    }

    /// Harbor's address as configured (no credentials are ever part of it).
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    pub fn username(&self) -> &str {
        &self.inner.username
    }

    /// Sends a request, retrying transient failures with jittered exponential backoff.
    pub(crate) async fn send(&self, request: &Request) -> Result<Reply, Error> {
        self.send_tracking_lost_replies(request).await.result
    }

    pub(crate) async fn send_tracking_lost_replies(&self, request: &Request) -> Outcome {
        let lost = AtomicBool::new(false);
        let retry = &self.inner.retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(retry.min_delay)
            .with_max_delay(retry.max_delay)
            .with_max_times(retry.max_retries)
            .with_jitter();
        let result = (|| async {
            let result = self.attempt(request).await;
            if let Err(err) = &result
                && err.reply_lost()
            {
                lost.store(true, Ordering::Relaxed);
            }
            result
        })
        .retry(backoff)
        .when(Error::is_retryable)
        .notify(|err, delay| {
            if let Some(metrics) = &self.metrics {
                metrics.harbor_retry(request.label);
            }
            tracing::warn!(
                operation = %request.operation,
                error = %err,
                retry_in_ms = delay.as_millis() as u64,
                "Harbor call failed; retrying"
            );
        })
        .await;
        Outcome {
            result,
            earlier_reply_lost: lost.load(Ordering::Relaxed),
        }
    }

    async fn attempt(&self, request: &Request) -> Result<Reply, Error> {
        let inner = &self.inner;
        inner.rate.until_ready().await;
        let _permit = inner
            .concurrency
            .acquire()
            .await
            .expect("the concurrency semaphore is never closed");
        let url = format!("{}{}", inner.base, request.path);
        // Clones are cheap handles; the locks are held only for the copy.
        let http = inner
            .http
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let password = inner
            .password
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut builder = http
            .request(request.method.clone(), url)
            .basic_auth(&inner.username, Some(password.expose_secret()))
            .header(ACCEPT, request.accept);
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if request.by_name {
            builder = builder.header("X-Is-Resource-Name", "true");
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let started = std::time::Instant::now();
        let answer = async {
            let response = builder.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            Ok::<_, reqwest::Error>((status, headers, response.bytes().await?))
        }
        .await;
        if let Some(metrics) = &self.metrics {
            let status = answer.as_ref().ok().map(|(status, _, _)| status.as_u16());
            metrics.harbor_request(request.label, status, started.elapsed());
        }
        let (status, headers, body) =
            answer.map_err(|e| Error::transport(&request.operation, e))?;
        tracing::debug!(
            operation = %request.operation,
            method = %request.method,
            path = %request.path,
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Harbor call"
        );
        if status.is_success() {
            Ok(Reply { headers, body })
        } else {
            Err(Error::http(
                &request.operation,
                status.as_u16(),
                harbor_message(&body),
            ))
        }
    }

    /// Fetches every page of a list (`page_size=100`), stopping at `X-Total-Count` or a short page.
    pub(crate) async fn list_all<T: DeserializeOwned>(
        &self,
        request: Request,
    ) -> Result<Vec<T>, Error> {
        let mut items = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut paged = request.clone();
            paged.query.push(("page", page.to_string()));
            paged.query.push(("page_size", PAGE_SIZE.to_string()));
            let reply = self.send(&paged).await?;
            let batch: Vec<T> = reply.json(&request.operation)?;
            let fetched = batch.len();
            items.extend(batch);
            let complete = reply
                .total_count()
                .is_some_and(|total| items.len() >= total);
            if fetched < PAGE_SIZE || complete {
                return Ok(items);
            }
        }
        Err(Error::protocol(
            &request.operation,
            format!("more than {MAX_PAGES} pages; refusing to continue"),
        ))
    }
}

/// The HTTP client for `options`: their TLS trust, timeouts and user agent.
fn http_client(options: &ClientOptions) -> Result<reqwest::Client, BuildError> {
    let tls = tls::client_config(&options.tls)?;
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .user_agent(concat!("harbor-bridge/", env!("CARGO_PKG_VERSION")))
        // No cookie store: a kept `sid` cookie turns every later write into a CSRF failure.
        .build()?)
}

/// Extracts Harbor's message from `{"errors":[{"code","message"}]}`, ChartMuseum's `{"error"}`,
/// or falls back to the (truncated) body text.
pub(crate) fn harbor_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    #[derive(serde::Deserialize)]
    struct ChartMuseum {
        error: String,
    }
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body)
        && !parsed.errors.is_empty()
    {
        return parsed
            .errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{} {}", e.code, e.message),
                (true, _) => e.message.clone(),
                (false, true) => e.code.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    if let Ok(parsed) = serde_json::from_slice::<ChartMuseum>(body) {
        return parsed.error;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None if text.is_empty() => "(empty body)".to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harbor_error_bodies_are_read() {
        let body = br#"{"errors":[{"code":"PRECONDITION","message":"precondition failed: the project contains repositories, can not be deleted"}]}
"#;
        assert_eq!(
            harbor_message(body),
            "PRECONDITION precondition failed: the project contains repositories, can not be deleted"
        );
        assert_eq!(
            harbor_message(br#"{"error":"chart not found"}"#),
            "chart not found"
        );
        assert_eq!(harbor_message(b"bad gateway\n"), "bad gateway");
        assert_eq!(harbor_message(b""), "(empty body)");
        assert!(harbor_message("é".repeat(1000).as_bytes()).ends_with('…'));
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let options = ClientOptions {
            url: "https://harbor.example.com".parse().unwrap(),
            username: "admin".into(),
            password: SecretString::from("s3cr3t-Pa55"),
            password_file: None,
            tls: TlsOptions::default(),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            max_concurrent_requests: 4,
            requests_per_second: NonZeroU32::new(10).unwrap(),
            retry: RetryOptions::default(),
        };
        let client = HarborClient::new(&options).unwrap();
        for text in [format!("{options:?}"), format!("{client:?}")] {
            assert!(!text.contains("s3cr3t-Pa55"), "{text}");
            assert!(text.contains("admin"), "{text}");
        }
    }
}
