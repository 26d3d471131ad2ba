//! Controllers: make Harbor match the registry resources, and the resources match Harbor.
//!
//! - [`project`]: the loop of a project owner (registry `Namespace`, `ChartGroup`): bind, create,
//!   correct, refuse, purge and delete its Harbor project; [`plan`] holds the pure decisions.
//! - [`children`]: the loop of their children (`Repository`, `Chart`), one per Harbor object.
//! - [`namespace`], [`repository`], [`chart_group`], [`chart`]: what is specific to each kind.
//! - [`tenant_namespaces`]: labelled Kubernetes namespaces → registry `Namespace`.
//! - [`harbor_events`]: Harbor webhooks → reconciles.

pub mod chart;
pub mod chart_group;
pub mod children;
pub mod context;
pub mod error;
pub mod harbor_events;
pub mod namespace;
pub mod plan;
pub mod project;
pub mod purge;
pub mod repository;
pub mod status;
pub mod tenant_namespaces;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Namespace as KubeNamespace;
use kube::api::Api;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use url::Url;

use crate::harbor::HarborClient;
use crate::metrics::Metrics;
use crate::resources::{Chart, ChartGroup, RegistryNamespace, Repository};
pub use context::Context;
use context::{Caches, Triggers};
pub use error::Error;

/// The daemon's finalizer, in `metadata.finalizers` (TKEStack's `spec.finalizers` is left alone).
pub const FINALIZER: &str = "registry.tkestack.io/harbor-bridge";
/// Name under which the daemon writes Events.
pub const CONTROLLER_NAME: &str = "harbor-bridge";

/// How the controllers behave; built from the configuration.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Take over a Harbor project that exists but was not created for the resource.
    pub adopt_existing_projects: bool,
    /// How often every resource is compared with Harbor, to heal missed webhooks and drift.
    pub resync_interval: Duration,
    /// How soon a failed reconcile is tried again.
    pub retry_interval: Duration,
    /// Repository deletions in flight while emptying one project.
    pub delete_concurrency: usize,
    /// Label on a Kubernetes namespace naming its tenant; such namespaces get a registry Namespace.
    pub tenant_label: String,
    /// Optional label selector: namespaces matching it are synced even without the tenant label,
    /// under `default_tenant`.
    pub namespace_selector: Option<String>,
    pub default_tenant: Option<String>,
    /// Where Harbor should post events; when set, each project gets the daemon's webhook policy.
    pub webhook_policy: Option<WebhookPolicyTarget>,
}

/// The webhook policy the daemon installs on the projects it manages.
#[derive(Clone, Debug)]
pub struct WebhookPolicyTarget {
    pub callback_url: Url,
    /// Sent by Harbor verbatim as the `Authorization` header.
    pub auth_header: SecretString,
    /// `Default` or `CloudEvents` (Harbor ≥ 2.8 only; older versions ignore it).
    pub payload_format: Option<String>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            adopt_existing_projects: false,
            resync_interval: Duration::from_secs(300),
            retry_interval: Duration::from_secs(10),
            delete_concurrency: 8,
            tenant_label: "registry.tkestack.io/tenant".to_owned(),
            namespace_selector: None,
            default_tenant: None,
            webhook_policy: None,
        }
    }
}

/// Runs every controller, and applies Harbor's webhook events, until `shutdown` completes.
/// In-flight reconciles finish first (kube-runtime's graceful shutdown).
///
/// `metrics` counts the reconciles, counts the resources in the caches at each scrape, and
/// learns when the caches have synced (for `/readyz`), until the controllers stop.
pub async fn run(
    kube: kube::Client,
    harbor: HarborClient,
    options: SyncOptions,
    events: harbor_events::SharedEvents,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shutdown = shutdown.shared();
    let reporter = Reporter {
        controller: CONTROLLER_NAME.to_owned(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let recorder = Recorder::new(kube.clone(), reporter);
    // Without a bound, a start with 20,000 objects runs 20,000 reconciles at once, all but a few
    // waiting on the Harbor client's limiter while holding memory (600 MiB measured). Four per
    // request slot keeps Harbor busy while a reconcile also waits on Kubernetes; fewer slots
    // also let the scheduler merge the repeated triggers of one object (measured in the README).
    let reconciles = u16::try_from(4 * harbor.max_concurrent_requests()).unwrap_or(u16::MAX);
    let (namespace_triggers, namespace_requests) = mpsc::channel(1024);
    let (repository_triggers, repository_requests) = mpsc::channel(1024);
    let (chart_group_triggers, chart_group_requests) = mpsc::channel(1024);
    let (chart_triggers, chart_requests) = mpsc::channel(1024);
    let namespaces =
        controller::<RegistryNamespace>(&kube, namespace_requests, reconciles, shutdown.clone());
    let repositories =
        controller::<Repository>(&kube, repository_requests, reconciles, shutdown.clone());
    let chart_groups =
        controller::<ChartGroup>(&kube, chart_group_requests, reconciles, shutdown.clone());
    let charts = controller::<Chart>(&kube, chart_requests, reconciles, shutdown.clone());
    let caches = Caches {
        namespaces: namespaces.store(),
        repositories: repositories.store(),
        chart_groups: chart_groups.store(),
        charts: charts.store(),
    };
    let triggers = Triggers {
        namespaces: namespace_triggers,
        repositories: repository_triggers,
        chart_groups: chart_group_triggers,
        charts: chart_triggers,
    };
    let tenant_selectors: Vec<String> = std::iter::once(options.tenant_label.clone())
        .chain(options.namespace_selector.clone())
        .collect();
    metrics.count_resources_with({
        let caches = caches.clone();
        move || caches.ready_counts()
    });
    let synced = {
        let (caches, metrics, shutdown) = (caches.clone(), metrics.clone(), shutdown.clone());
        async move {
            tokio::select! {
                ready = caches.wait_until_ready() => if ready.is_ok() {
                    tracing::info!("controller caches synced");
                    metrics.set_caches_synced(true);
                },
                () = shutdown => {}
            }
        }
    };
    let ctx = Arc::new(Context::new(
        kube.clone(),
        harbor,
        options,
        recorder,
        caches,
        triggers,
        metrics.clone(),
    ));
    let tenants = futures::future::join_all(tenant_selectors.into_iter().map(|selector| {
        let tenants = Controller::new(
            Api::<KubeNamespace>::all(kube.clone()),
            watcher::Config::default().labels(&selector),
        )
        .graceful_shutdown_on(shutdown.clone());
        let unsynced = stopped_unsynced(tenants.store(), shutdown.clone());
        tenants
            .run(tenant_namespaces::reconcile, retry_later, ctx.clone())
            .take_until(unsynced)
            .for_each(log_outcome)
    }));
    let webhooks = async {
        tokio::select! {
            () = harbor_events::consume(events, ctx.clone()) => {}
            () = shutdown.clone() => {}
        }
    };
    tokio::join!(
        namespaces
            .run(project::reconcile, retry_later, ctx.clone())
            .take_until(stopped_unsynced(
                ctx.caches.namespaces.clone(),
                shutdown.clone()
            ))
            .for_each(log_outcome),
        repositories
            .run(children::reconcile, retry_later, ctx.clone())
            .take_until(stopped_unsynced(
                ctx.caches.repositories.clone(),
                shutdown.clone()
            ))
            .for_each(log_outcome),
        chart_groups
            .run(project::reconcile, retry_later, ctx.clone())
            .take_until(stopped_unsynced(
                ctx.caches.chart_groups.clone(),
                shutdown.clone()
            ))
            .for_each(log_outcome),
        charts
            .run(children::reconcile, retry_later, ctx.clone())
            .take_until(stopped_unsynced(
                ctx.caches.charts.clone(),
                shutdown.clone()
            ))
            .for_each(log_outcome),
        tenants,
        webhooks,
        synced,
    );
    metrics.set_caches_synced(false);
    metrics.stop_counting_resources();
    tracing::info!("controllers stopped");
}

/// A controller over every object of kind `K`, also reconciling on request (webhooks, children).
fn controller<K>(
    kube: &kube::Client,
    requests: mpsc::Receiver<ObjectRef<K>>,
    concurrency: u16,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Controller<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    Controller::new(Api::<K>::all(kube.clone()), watcher::Config::default())
        .with_config(controller::Config::default().concurrency(concurrency))
        .reconcile_on(ReceiverStream::new(requests))
        .graceful_shutdown_on(shutdown)
}

/// Completes at `shutdown` if the controller's cache never finished its first listing, so that
/// its stream can be dropped; otherwise never (the graceful shutdown then lets reconciles
/// finish). kube-runtime's runner waits for that listing before it ends, and the listing stops
/// with the shutdown: a stop during start-up would hang. No reconcile has started before the
/// listing, so nothing is cut short.
async fn stopped_unsynced<K>(store: Store<K>, shutdown: impl Future<Output = ()>)
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    shutdown.await;
    if store.wait_until_ready().now_or_never().is_none() {
        tracing::info!(kind = %K::kind(&()), "stopped before the first listing finished");
    } else {
        std::future::pending::<()>().await;
    }
}

/// A failed reconcile (already recorded on the resource) is retried after `retryInterval`.
fn retry_later<K>(_: Arc<K>, _: &Error, ctx: Arc<Context>) -> Action {
    Action::requeue(ctx.options.retry_interval)
}

async fn log_outcome<K, E>(outcome: Result<(kube::runtime::reflector::ObjectRef<K>, Action), E>)
where
    K: kube::Resource + std::fmt::Debug,
    E: std::fmt::Display,
{
    match outcome {
        Ok((object, _)) => tracing::trace!(%object, "reconciled"),
        Err(error) => tracing::debug!(%error, "controller error"),
    }
}
