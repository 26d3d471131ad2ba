//! Prometheus metrics and the readiness signals, in one cheap-to-clone handle.
//!
//! Every family is prefixed `harbor_bridge_` and carries low-cardinality labels only: kinds,
//! reasons, fixed operation names, HTTP codes. Never a project, repository or resource name.
//!
//! | family | type | labels |
//! |---|---|---|
//! | `reconciles_total` | counter | `kind` |
//! | `reconcile_failures_total` | counter | `kind`, `reason` ([`crate::sync::Error::reason`]) |
//! | `reconcile_duration_seconds` | histogram | `kind` |
//! | `harbor_requests_total` | counter | `operation`, `status` (HTTP code, or `error`) |
//! | `harbor_request_duration_seconds` | histogram | `operation` |
//! | `harbor_retries_total` | counter | `operation` |
//! | `harbor_up` | gauge | (1 when Harbor answered the last health ping) |
//! | `webhook_deliveries_total` | counter | `result` ([`WebhookResult`]) |
//! | `queue_depth` | gauge | `queue` (`webhook_events`) |
//! | `leader` | gauge | (1 while this instance runs the controllers) |
//! | `resources` | gauge | `kind`, `ready` (`True`, `False`, `Unknown`) |
//!
//! `resources` is computed at scrape time from the controllers' caches (a source installed with
//! [`Metrics::count_resources_with`]), so it is exact at every scrape and costs nothing between
//! scrapes; counting walks the in-memory caches, which is cheap next to a scrape interval.
//!
//! The handle also carries what `/readyz` reports on ([`Metrics::readiness`]): whether the
//! controllers' caches have synced, and the outcome of the latest Harbor ping. It is the one
//! handle that reaches the controllers, the Harbor client and the HTTP server alike.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The prefix of every metric name.
pub const PREFIX: &str = "harbor_bridge";
/// The `queue` label of the Harbor webhook event queue.
pub const WEBHOOK_EVENTS_QUEUE: &str = "webhook_events";
/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What became of one webhook delivery (the `result` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookResult {
    /// Handed to the controllers.
    Queued,
    /// Acknowledged, but an event the daemon does not act on (pulls, quota, scans, ...).
    Ignored,
    /// Missing or wrong `Authorization` header.
    Unauthorized,
    /// A body that could not be read or parsed.
    Invalid,
    /// Larger than `webhook.maxBodyBytes`.
    TooLarge,
    /// A content type Harbor does not send.
    Unsupported,
    /// The queue was full (503; Harbor retries).
    Busy,
    /// The controllers no longer take events (shutting down).
    Closed,
    /// This replica is a standby (503; Harbor retries, and may reach the leader).
    Standby,
}

impl WebhookResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Ignored => "ignored",
            Self::Unauthorized => "unauthorized",
            Self::Invalid => "invalid",
            Self::TooLarge => "too_large",
            Self::Unsupported => "unsupported",
            Self::Busy => "busy",
            Self::Closed => "closed",
            Self::Standby => "standby",
        }
    }
}

/// A file re-read while running ([`crate::harbor::rotation`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// The CA bundle and client certificate.
    Tls,
    Password,
}

impl Reloaded {
    fn as_str(self) -> &'static str {
        match self {
            Self::Tls => "tls",
            Self::Password => "password",
        }
    }
}

/// How many resources of one kind have one `Ready` status, for the `resources` gauge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceCount {
    /// `Namespace`, `Repository`, `ChartGroup` or `Chart`.
    pub kind: Cow<'static, str>,
    /// `True`, `False` or `Unknown` (no `Ready` condition yet).
    pub ready: &'static str,
    pub count: u64,
}

/// Why the daemon is not ready: one plain sentence per reason.
pub type NotReady = Vec<String>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    kind: Cow<'static, str>,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    status: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    file: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    kind: Cow<'static, str>,
    ready: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// 5 ms to ~41 s: a Harbor call or a reconcile, from a cache hit to emptying a project.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The daemon's metrics and readiness signals. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    reconciles: Family<KindLabels, Counter>,
    reconcile_failures: Family<FailureLabels, Counter>,
    reconcile_duration: HistogramFamily<KindLabels>,
    harbor_requests: Family<RequestLabels, Counter>,
    harbor_request_duration: HistogramFamily<OperationLabels>,
    harbor_retries: Family<OperationLabels, Counter>,
    harbor_up: Gauge,
    webhook_deliveries: Family<ResultLabels, Counter>,
    file_reloads: Family<ReloadLabels, Counter>,
    queue_depth: Family<QueueLabels, Gauge>,
    leader: Gauge,
    resources: Arc<ResourcesCollector>,
    caches_synced: AtomicBool,
    harbor_check: Mutex<Option<HarborCheck>>,
}

/// The latest Harbor ping, as the health watcher recorded it.
struct HarborCheck {
    at: Instant,
    /// Harbor's address, for the messages.
    address: String,
    /// `None` when Harbor answered.
    problem: Option<String>,
    /// After this long without a new ping, the answer no longer counts.
    valid_for: Duration,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A fresh registry with every family registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let reconciles = Family::<KindLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles run, by resource kind",
            reconciles.clone(),
        );
        let reconcile_failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "reconcile_failures",
            "Reconciles that failed (and will be retried), by kind and condition reason",
            reconcile_failures.clone(),
        );
        let reconcile_duration: HistogramFamily<KindLabels> =
            Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "reconcile_duration",
            "Time spent in one reconcile, by resource kind",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let harbor_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "harbor_requests",
            "HTTP requests sent to Harbor (each retry counts), by operation and HTTP status, \
             or status=\"error\" when no answer arrived",
            harbor_requests.clone(),
        );
        let harbor_request_duration: HistogramFamily<OperationLabels> =
            Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "harbor_request_duration",
            "Time from sending a request to Harbor to having read its answer, by operation",
            Unit::Seconds,
            harbor_request_duration.clone(),
        );
        let harbor_retries = Family::<OperationLabels, Counter>::default();
        registry.register(
            "harbor_retries",
            "Harbor requests retried after a transient failure, by operation",
            harbor_retries.clone(),
        );
        let harbor_up = Gauge::default();
        registry.register(
            "harbor_up",
            "1 when Harbor answered the latest health ping, else 0",
            harbor_up.clone(),
        );
        let webhook_deliveries = Family::<ResultLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Harbor webhook deliveries received, by outcome",
            webhook_deliveries.clone(),
        );
        let file_reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "file_reloads",
            "Rotated files re-read while running, by file (tls, password) and result (ok, error)",
            file_reloads.clone(),
        );
        let queue_depth = Family::<QueueLabels, Gauge>::default();
        queue_depth
            .get_or_create(&QueueLabels {
                queue: WEBHOOK_EVENTS_QUEUE,
            })
            .set(0);
        registry.register(
            "queue_depth",
            "Items waiting in an internal queue",
            queue_depth.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this instance runs the controllers, else 0",
            leader.clone(),
        );
        let resources = Arc::new(ResourcesCollector::default());
        registry.register_collector(Box::new(resources.clone()));
        Self {
            inner: Arc::new(Inner {
                registry,
                reconciles,
                reconcile_failures,
                reconcile_duration,
                harbor_requests,
                harbor_request_duration,
                harbor_retries,
                harbor_up,
                webhook_deliveries,
                file_reloads,
                queue_depth,
                leader,
                resources,
                caches_synced: AtomicBool::new(false),
                harbor_check: Mutex::new(None),
            }),
        }
    }

    /// Every metric in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.inner.registry)?;
        Ok(text)
    }

    /// One reconcile of a `kind` ended after `elapsed`; `failure` is the error's reason.
    pub fn reconciled(
        &self,
        kind: impl Into<Cow<'static, str>>,
        elapsed: Duration,
        failure: Option<&'static str>,
    ) {
        let kind = KindLabels { kind: kind.into() };
        let inner = &self.inner;
        inner.reconciles.get_or_create(&kind).inc();
        inner
            .reconcile_duration
            .get_or_create(&kind)
            .observe(elapsed.as_secs_f64());
        if let Some(reason) = failure {
            inner
                .reconcile_failures
                .get_or_create(&FailureLabels {
                    kind: kind.kind,
                    reason,
                })
                .inc();
        }
    }

    /// One HTTP request to Harbor ended after `elapsed`: with an answer (`Some(status)`) or
    /// without (connection, TLS or timeout failure).
    pub fn harbor_request(&self, operation: &'static str, status: Option<u16>, elapsed: Duration) {
        let status = match status {
            Some(code) => Cow::Owned(code.to_string()),
            None => Cow::Borrowed("error"),
        };
        let inner = &self.inner;
        inner
            .harbor_requests
            .get_or_create(&RequestLabels { operation, status })
            .inc();
        inner
            .harbor_request_duration
            .get_or_create(&OperationLabels { operation })
            .observe(elapsed.as_secs_f64());
    }

    /// A Harbor request is about to be retried.
    pub fn harbor_retry(&self, operation: &'static str) {
        self.inner
            .harbor_retries
            .get_or_create(&OperationLabels { operation })
            .inc();
    }

    pub fn webhook_delivery(&self, result: WebhookResult) {
        self.inner
            .webhook_deliveries
            .get_or_create(&ResultLabels {
                result: result.as_str(),
            })
            .inc();
    }

    /// A rotated file was re-read; `ok` is false when it could not be used.
    pub fn file_reloaded(&self, what: Reloaded, ok: bool) {
        self.inner
            .file_reloads
            .get_or_create(&ReloadLabels {
                file: what.as_str(),
                result: if ok { "ok" } else { "error" },
            })
            .inc();
    }

    /// Sets the number of items waiting in `queue`.
    pub fn set_queue_depth(&self, queue: &'static str, depth: usize) {
        self.inner
            .queue_depth
            .get_or_create(&QueueLabels { queue })
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Whether this instance runs the controllers (leader election, or the daemon without it).
    pub fn set_leader(&self, leader: bool) {
        self.inner.leader.set(i64::from(leader));
    }

    pub fn is_leader(&self) -> bool {
        self.inner.leader.get() == 1
    }

    /// Installs what the `resources` gauge reports; called on each scrape. Replaces any
    /// earlier source.
    pub fn count_resources_with(
        &self,
        source: impl Fn() -> Vec<ResourceCount> + Send + Sync + 'static,
    ) {
        *self
            .inner
            .resources
            .source
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(Box::new(source));
    }

    /// Stops reporting the `resources` gauge (the caches are gone).
    pub fn stop_counting_resources(&self) {
        *self
            .inner
            .resources
            .source
            .write()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Whether the controllers' caches hold a full list of every kind (for `/readyz`).
    pub fn set_caches_synced(&self, synced: bool) {
        self.inner.caches_synced.store(synced, Ordering::Relaxed);
    }

    /// Records a Harbor ping: `problem` is `None` when Harbor answered, else a sentence naming
    /// Harbor's address. The result counts for `valid_for`, after which `/readyz` says Harbor
    /// has not been checked recently.
    pub fn record_harbor_check(&self, address: &str, problem: Option<String>, valid_for: Duration) {
        self.inner.harbor_up.set(i64::from(problem.is_none()));
        *self
            .inner
            .harbor_check
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(HarborCheck {
            at: Instant::now(),
            address: address.to_owned(),
            problem,
            valid_for,
        });
    }

    /// `Ok` when Harbor answered a recent ping and, on the leader, the caches have synced;
    /// otherwise one sentence per reason. A standby is ready without caches (it runs no
    /// controllers), so that a rolling update can proceed while another replica leads.
    pub fn readiness(&self) -> Result<(), NotReady> {
        let mut reasons = Vec::new();
        if self.is_leader() && !self.inner.caches_synced.load(Ordering::Relaxed) {
            reasons.push("caches not synced yet".to_owned());
        }
        let check = self
            .inner
            .harbor_check
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match check.as_ref() {
            None => reasons.push("Harbor not checked yet".to_owned()),
            Some(check) if check.at.elapsed() > check.valid_for => reasons.push(format!(
                "Harbor at {} has not been checked for {} s",
                check.address,
                check.at.elapsed().as_secs()
            )),
            Some(HarborCheck {
                problem: Some(problem),
                ..
            }) => reasons.push(problem.clone()),
            Some(_) => {}
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }
}

type ResourceSource = Box<dyn Fn() -> Vec<ResourceCount> + Send + Sync>;

/// Encodes `resources{kind,ready}` from its source at scrape time.
#[derive(Default)]
struct ResourcesCollector {
    source: RwLock<Option<ResourceSource>>,
}

impl fmt::Debug for ResourcesCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourcesCollector").finish_non_exhaustive()
    }
}

impl Collector for ResourcesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let counts = match &*self.source.read().unwrap_or_else(|e| e.into_inner()) {
            Some(source) => source(),
            None => return Ok(()),
        };
        let family = Family::<ResourceLabels, Gauge>::default();
        for ResourceCount { kind, ready, count } in counts {
            family
                .get_or_create(&ResourceLabels { kind, ready })
                .inc_by(i64::try_from(count).unwrap_or(i64::MAX));
        }
        let metric = encoder.encode_descriptor(
            "resources",
            "Registry resources in the controllers' caches, by kind and Ready status",
            None,
            family.metric_type(),
        )?;
        family.encode(metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn families_carry_the_prefix_and_labels() {
        let metrics = Metrics::new();
        metrics.reconciled("Namespace", Duration::from_millis(20), None);
        metrics.reconciled(
            "Namespace",
            Duration::from_millis(20),
            Some("HarborUnavailable"),
        );
        metrics.harbor_request("create_project", Some(201), Duration::from_millis(3));
        metrics.harbor_request("ping", None, Duration::from_millis(3));
        metrics.harbor_retry("ping");
        metrics.webhook_delivery(WebhookResult::TooLarge);
        metrics.set_queue_depth(WEBHOOK_EVENTS_QUEUE, 3);
        metrics.set_leader(true);
        metrics.count_resources_with(|| {
            vec![ResourceCount {
                kind: "Chart".into(),
                ready: "False",
                count: 2,
            }]
        });
        let text = metrics.encode().unwrap();
        for expected in [
            "harbor_bridge_reconciles_total{kind=\"Namespace\"} 2",
            "harbor_bridge_reconcile_failures_total{kind=\"Namespace\",reason=\"HarborUnavailable\"} 1",
            "harbor_bridge_reconcile_duration_seconds_count{kind=\"Namespace\"} 2",
            "harbor_bridge_harbor_requests_total{operation=\"create_project\",status=\"201\"} 1",
            "harbor_bridge_harbor_requests_total{operation=\"ping\",status=\"error\"} 1",
            "harbor_bridge_harbor_request_duration_seconds_count{operation=\"ping\"} 1",
            "harbor_bridge_harbor_retries_total{operation=\"ping\"} 1",
            "harbor_bridge_webhook_deliveries_total{result=\"too_large\"} 1",
            "harbor_bridge_queue_depth{queue=\"webhook_events\"} 3",
            "harbor_bridge_leader 1",
            "harbor_bridge_resources{kind=\"Chart\",ready=\"False\"} 2",
            "# EOF",
        ] {
            assert!(
                line(&text, expected).is_some(),
                "{expected} missing in\n{text}"
            );
        }
        metrics.stop_counting_resources();
        assert!(
            !metrics
                .encode()
                .unwrap()
                .contains("harbor_bridge_resources")
        );
    }

    #[test]
    fn readiness_needs_synced_caches_and_a_recent_answer() {
        let metrics = Metrics::new();
        metrics.set_leader(true);
        assert_eq!(
            metrics.readiness(),
            Err(vec![
                "caches not synced yet".to_owned(),
                "Harbor not checked yet".to_owned()
            ])
        );
        metrics.set_caches_synced(true);
        let down = "Harbor at https://h.example is unreachable: connection refused";
        metrics.record_harbor_check("https://h.example", Some(down.into()), Duration::MAX);
        assert_eq!(metrics.readiness(), Err(vec![down.to_owned()]));
        assert!(
            metrics
                .encode()
                .unwrap()
                .contains("harbor_bridge_harbor_up 0")
        );
        metrics.record_harbor_check("https://h.example", None, Duration::MAX);
        assert_eq!(metrics.readiness(), Ok(()));
        assert!(
            metrics
                .encode()
                .unwrap()
                .contains("harbor_bridge_harbor_up 1")
        );
        metrics.record_harbor_check("https://h.example", None, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        let stale = metrics.readiness().unwrap_err();
        assert!(
            stale[0].starts_with("Harbor at https://h.example has not been checked"),
            "{stale:?}"
        );
    }
}
