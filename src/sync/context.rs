//! What every reconcile needs: the clients, the options, the caches and the event recorder.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace as KubeNamespace;
use kube::api::{Api, PartialObjectMeta, PostParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use tokio::sync::mpsc;

use super::SyncOptions;
use super::error::Result;
use super::status::Synced;
use crate::harbor::{ChartBackend, HarborClient};
use crate::metrics::{Metrics, ResourceCount};
use crate::resources::{Chart, ChartGroup, RegistryNamespace, Repository};

/// Label on the Kubernetes namespaces the daemon creates (and so may delete).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "harbor-bridge");
/// Label on resources created from what Harbor holds (a push or a resync), as opposed to by
/// a user; only those are removed when Harbor no longer has the object.
pub const ORIGIN_LABEL: (&str, &str) = ("registry.tkestack.io/origin", "harbor");

pub struct Context {
    pub kube: kube::Client,
    pub harbor: HarborClient,
    pub options: SyncOptions,
    pub recorder: Recorder,
    /// The controllers' caches of every registry resource.
    pub caches: Caches,
    /// Ask for a reconcile without writing to the object (webhooks and children use these).
    pub triggers: Triggers,
    /// Reconcile counts and durations.
    pub metrics: Metrics,
    chart_backend: std::sync::Mutex<Option<ChartBackend>>,
    /// Held while Harbor is asked, so that concurrent reconciles ask once between them.
    chart_backend_asking: tokio::sync::Mutex<()>,
    /// The Kubernetes namespaces that exist, so that a resync need not ask for each one.
    kube_namespaces: Arc<KnownNamespaces>,
    /// The metadata watch keeping `kube_namespaces`; stopped with the context.
    kube_namespaces_watch: tokio::task::JoinHandle<()>,
}

impl Drop for Context {
    fn drop(&mut self) {
        self.kube_namespaces_watch.abort();
    }
}

/// Names of the Kubernetes namespaces that exist (terminating ones included), kept current by a
/// metadata watch. `None` until the watch has listed them all, and again after a watch error,
/// until the next full listing: callers then ask the API server, as without the cache.
#[derive(Default)]
struct KnownNamespaces {
    names: Mutex<Option<HashSet<String>>>,
}

impl KnownNamespaces {
    fn with<T>(&self, f: impl FnOnce(&mut Option<HashSet<String>>) -> T) -> T {
        f(&mut self.names.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// `Some(exists)` when the watch knows, `None` when the API server must be asked.
    fn exists(&self, name: &str) -> Option<bool> {
        self.with(|names| names.as_ref().map(|n| n.contains(name)))
    }

    /// Keeps the set current until the task is aborted.
    fn watch(self: Arc<Self>, kube: kube::Client) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let api: Api<PartialObjectMeta<KubeNamespace>> = Api::all(kube);
            let mut listing: Option<HashSet<String>> = None;
            let mut events = watcher::watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::Init) => listing = Some(HashSet::new()),
                    Ok(watcher::Event::InitApply(ns)) => {
                        if let Some(listing) = listing.as_mut() {
                            listing.insert(ns.name_any());
                        }
                    }
                    Ok(watcher::Event::InitDone) => {
                        let listed = listing.take().unwrap_or_default();
                        self.with(|names| *names = Some(listed));
                    }
                    Ok(watcher::Event::Apply(ns)) => self.with(|names| {
                        if let Some(names) = names {
                            names.insert(ns.name_any());
                        }
                    }),
                    Ok(watcher::Event::Delete(ns)) => self.with(|names| {
                        if let Some(names) = names {
                            names.remove(&ns.name_any());
                        }
                    }),
                    Err(error) => {
                        // Events may have been missed: ask the API server until the next listing.
                        tracing::debug!(%error, "Kubernetes namespace watch failed; will retry");
                        listing = None;
                        self.with(|names| *names = None);
                    }
                }
            }
        })
    }
}

/// The reflector stores of the four kinds.
#[derive(Clone)]
pub struct Caches {
    pub namespaces: Store<RegistryNamespace>,
    pub repositories: Store<Repository>,
    pub chart_groups: Store<ChartGroup>,
    pub charts: Store<Chart>,
}

impl Caches {
    /// Waits until every store holds a full list (the watches' first listing is done). Fails
    /// when a controller stopped before that.
    pub async fn wait_until_ready(
        &self,
    ) -> std::result::Result<(), kube::runtime::reflector::store::WriterDropped> {
        self.namespaces.wait_until_ready().await?;
        self.repositories.wait_until_ready().await?;
        self.chart_groups.wait_until_ready().await?;
        self.charts.wait_until_ready().await
    }

    /// How many resources of each kind are `Ready` `True`, `False` or `Unknown` (no condition
    /// yet), every combination listed, for the `resources` gauge.
    pub fn ready_counts(&self) -> Vec<ResourceCount> {
        let mut counts = Vec::with_capacity(12);
        count_ready(&self.namespaces, &mut counts);
        count_ready(&self.repositories, &mut counts);
        count_ready(&self.chart_groups, &mut counts);
        count_ready(&self.charts, &mut counts);
        counts
    }
}

fn count_ready<K: Synced>(store: &Store<K>, counts: &mut Vec<ResourceCount>) {
    let (mut ready, mut not_ready, mut unknown) = (0, 0, 0);
    for object in store.state() {
        let condition = object
            .status()
            .and_then(|status| K::sync(status).ready_condition());
        match condition.map(|c| c.status.as_str()) {
            Some("True") => ready += 1,
            Some("False") => not_ready += 1,
            _ => unknown += 1,
        }
    }
    let kind = K::kind(&());
    counts.extend(
        [("True", ready), ("False", not_ready), ("Unknown", unknown)].map(|(status, count)| {
            ResourceCount {
                kind: kind.clone(),
                ready: status,
                count,
            }
        }),
    );
}

/// Reconcile requests for the four kinds.
pub struct Triggers {
    pub namespaces: mpsc::Sender<ObjectRef<RegistryNamespace>>,
    pub repositories: mpsc::Sender<ObjectRef<Repository>>,
    pub chart_groups: mpsc::Sender<ObjectRef<ChartGroup>>,
    pub charts: mpsc::Sender<ObjectRef<Chart>>,
}

impl Context {
    pub fn new(
        kube: kube::Client,
        harbor: HarborClient,
        options: SyncOptions,
        recorder: Recorder,
        caches: Caches,
        triggers: Triggers,
        metrics: Metrics,
    ) -> Self {
        let kube_namespaces = Arc::new(KnownNamespaces::default());
        let kube_namespaces_watch = kube_namespaces.clone().watch(kube.clone());
        Self {
            kube,
            harbor,
            options,
            recorder,
            caches,
            triggers,
            metrics,
            chart_backend: std::sync::Mutex::new(None),
            chart_backend_asking: tokio::sync::Mutex::new(()),
            kube_namespaces,
            kube_namespaces_watch,
        }
    }

    /// Whether Harbor keeps ChartMuseum charts. Asked once, and again after Harbor was
    /// unreachable (it may come back as another version).
    /// Reconciles asking at the same time wait for one answer (a burst of ChartGroups at start-up
    /// made one `systeminfo` call each).
    pub async fn chart_backend(&self) -> Result<ChartBackend> {
        let known = || *self.chart_backend.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(backend) = known() {
            return Ok(backend);
        }
        let _asking = self.chart_backend_asking.lock().await;
        if let Some(backend) = known() {
            // Another reconcile asked while this one waited.
            return Ok(backend);
        }
        let backend = self.harbor.system_info().await?.chart_backend();
        tracing::info!(%backend, "detected Harbor's chart backend");
        *self.chart_backend.lock().unwrap_or_else(|e| e.into_inner()) = Some(backend);
        Ok(backend)
    }

    /// Counts one reconcile of `kind` that began at `started` (`reconciles_total`,
    /// `reconcile_duration_seconds`, and `reconcile_failures_total` by the error's reason).
    pub fn observe_reconcile<T>(
        &self,
        kind: impl Into<std::borrow::Cow<'static, str>>,
        started: std::time::Instant,
        result: &Result<T>,
    ) {
        let failure = result.as_ref().err().map(super::Error::reason);
        self.metrics.reconciled(kind, started.elapsed(), failure);
    }

    /// Forgets the chart backend, so that it is detected again on the next use.
    pub fn forget_chart_backend(&self) {
        *self.chart_backend.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Publishes a Kubernetes Event on `object`. A failure to publish is logged, never fatal.
    pub async fn event<K>(
        &self,
        object: &K,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) where
        K: Resource<DynamicType = ()>,
    {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            note: Some(note),
            action: action.to_owned(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &object.object_ref(&())).await {
            tracing::warn!(%error, object = %object.name_any(), reason, "could not publish a Kubernetes event");
        }
    }

    /// Ensures the Kubernetes namespace that holds a registry Namespace's `Repository` resources.
    /// One the daemon creates is labelled as its own, so that it is removed with its parent.
    /// A namespace the watch has seen costs no request, one it knows missing only the create
    /// (a GET per owner per reconcile, before).
    pub async fn ensure_kube_namespace(&self, name: &str) -> Result<()> {
        let known = self.kube_namespaces.exists(name);
        if known == Some(true) {
            return Ok(());
        }
        let api: Api<KubeNamespace> = Api::all(self.kube.clone());
        // Unknown to the watch (not listed yet): ask. Known missing: create (409 is fine).
        if known.is_none() && api.get_opt(name).await?.is_some() {
            return Ok(());
        }
        let mut namespace = KubeNamespace::default();
        namespace.metadata.name = Some(name.to_owned());
        namespace.metadata.labels =
            Some([(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned())].into());
        match api.create(&PostParams::default(), &namespace).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Deletes a Kubernetes namespace only if the daemon created it; returns whether it did.
    pub async fn delete_kube_namespace_if_ours(&self, name: &str) -> Result<bool> {
        let api: Api<KubeNamespace> = Api::all(self.kube.clone());
        let Some(namespace) = api.get_opt(name).await? else {
            return Ok(false);
        };
        if namespace.labels().get(MANAGED_BY.0).map(String::as_str) != Some(MANAGED_BY.1) {
            return Ok(false);
        }
        match api.delete(name, &Default::default()).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(true),
            Err(err) => Err(err.into()),
        }
    }

    /// Whether a Kubernetes namespace is gone or being deleted.
    pub async fn kube_namespace_terminating(&self, name: &str) -> Result<bool> {
        let api: Api<KubeNamespace> = Api::all(self.kube.clone());
        Ok(api
            .get_opt(name)
            .await?
            .is_none_or(|ns| ns.metadata.deletion_timestamp.is_some()))
    }
}
