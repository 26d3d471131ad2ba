//! The daemon's main job: check the surroundings, serve health, metrics and Harbor's webhooks,
//! run the controllers, and stop cleanly.

use std::future::Future;

use anyhow::Context as _;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::config::{LeaderElection, Settings};
use crate::harbor::{HarborClient, rotation};
use crate::leader::{Elector, LeaseSettings};
use crate::metrics::Metrics;
use crate::{check, resources, server, sync};

/// One Kubernetes permission the daemon uses: API group, resource (with subresource), verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    pub group: &'static str,
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
    /// Needed only in the daemon's own namespace (a Role), not cluster-wide.
    pub own_namespace: bool,
}

const fn cluster(
    group: &'static str,
    resource: &'static str,
    verbs: &'static [&'static str],
) -> Permission {
    Permission {
        group,
        resource,
        verbs,
        own_namespace: false,
    }
}

/// Every Kubernetes call the daemon makes, as RBAC sees it. `deploy/` grants exactly these
/// (a test checks both ways), so a new call must be added here and to the manifests together.
pub const PERMISSIONS: &[Permission] = &[
    // Controllers watch all four kinds, hold finalizers (patch) and write status.
    cluster(
        "registry.tkestack.io",
        "namespaces",
        &["get", "list", "watch", "create", "patch"],
    ),
    cluster("registry.tkestack.io", "namespaces/status", &["patch"]),
    cluster(
        "registry.tkestack.io",
        "repositories",
        &[
            "list",
            "watch",
            "create",
            "patch",
            "delete",
            "deletecollection",
        ],
    ),
    cluster("registry.tkestack.io", "repositories/status", &["patch"]),
    cluster(
        "registry.tkestack.io",
        "chartgroups",
        &["list", "watch", "patch"],
    ),
    cluster("registry.tkestack.io", "chartgroups/status", &["patch"]),
    cluster(
        "registry.tkestack.io",
        "charts",
        &[
            "list",
            "watch",
            "create",
            "patch",
            "delete",
            "deletecollection",
        ],
    ),
    cluster("registry.tkestack.io", "charts/status", &["patch"]),
    // Labelled tenant namespaces are watched; namespaces for Repository/Chart resources are made
    // (and removed) when missing.
    cluster(
        "",
        "namespaces",
        &["get", "list", "watch", "create", "delete"],
    ),
    // Events on the resources (kube's Recorder creates, then patches a series).
    cluster("events.k8s.io", "events", &["create", "patch"]),
    // The start-up check that the CRDs are installed.
    cluster(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        &["get"],
    ),
    // Leader election.
    Permission {
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "create", "update"],
        own_namespace: true,
    },
];

/// The names of the CRDs the daemon needs.
pub fn crd_names() -> Vec<String> {
    resources::crds()
        .iter()
        .filter_map(|crd| crd.metadata.name.clone())
        .collect()
}

/// The lease of this instance: its namespace (configured, else the pod's), and the pod name as
/// identity (outside Kubernetes: host name and process id).
fn lease_settings(election: &LeaderElection) -> LeaseSettings {
    let namespace = election
        .namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| "default".to_owned());
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "harbor-bridge".to_owned());
        format!("{host}-{}", std::process::id())
    });
    LeaseSettings {
        name: election.lease_name.clone(),
        lease_duration: election.lease_duration,
        renew_deadline: election.renew_deadline,
        renew_interval: election.renew_interval,
        retry_interval: election.renew_interval,
        ..LeaseSettings::new(&namespace, &identity)
    }
}

/// Runs until `shutdown` completes. Refuses to start without the CRDs; an unreachable Harbor is
/// only reported, since the controllers retry until it answers.
///
/// Serves on `server.listen`: `/healthz`, `/readyz` and `/metrics` always, and Harbor's
/// webhooks when a webhook secret is configured. Harbor is pinged every
/// [`server::HARBOR_CHECK_INTERVAL`] for `/readyz`.
pub async fn run(
    settings: Settings,
    kube: kube::Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = Metrics::new();
    let harbor = HarborClient::new(&settings.harbor)
        .context("building the Harbor client")?
        .with_metrics(metrics.clone());
    let findings = check::probe(&settings.harbor, Ok(kube.clone()), &crd_names()).await;
    if let Ok(crds) = &findings.crds
        && let Some((missing, _)) = crds.iter().find(|(_, installed)| !installed)
    {
        anyhow::bail!(
            "the CRD {missing} is not installed; install the CRDs with `harbor-bridge crds | kubectl apply -f -`"
        );
    }
    let report = findings.report();
    for (key, value) in &report.facts {
        tracing::info!("{key}: {value}");
    }
    for problem in &report.problems {
        tracing::warn!("{problem} The controllers keep retrying.");
    }

    let shutdown = shutdown.shared();
    let (events, received) = tokio::sync::mpsc::channel(1024);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {} (server.listen)", settings.listen))?;
    let webhook = match &settings.webhook {
        Some(webhook) => {
            tracing::info!(address = %settings.listen, path = %webhook.path, "receiving Harbor webhooks");
            Some(server::Webhook {
                path: &webhook.path,
                receiver: server::WebhookReceiver {
                    secret: webhook.auth_header.clone(),
                    max_body_bytes: webhook.max_body_bytes,
                    events,
                },
            })
        }
        None => {
            tracing::info!(
                "no webhook secret configured: Harbor events are not received; the periodic resync keeps the platform up to date"
            );
            drop(events);
            None
        }
    };
    tracing::info!(address = %settings.listen, "serving /healthz, /readyz and /metrics");
    let server = tokio::spawn(server::serve(
        listener,
        server::app(&metrics, webhook),
        shutdown.clone(),
    ));
    let watcher = tokio::spawn(server::watch_harbor(
        harbor.clone(),
        metrics.clone(),
        server::HARBOR_CHECK_INTERVAL,
    ));
    let rotation = tokio::spawn(rotation::watch_files(
        harbor.clone(),
        settings.harbor.clone(),
        rotation::ROTATION_CHECK_INTERVAL,
    ));
    tracing::info!(harbor = harbor.base_url(), "harbor-bridge is running");
    let events: sync::harbor_events::SharedEvents = Arc::new(tokio::sync::Mutex::new(received));
    let controllers = |stop: BoxFuture<'static, ()>| {
        let (kube, harbor, options) = (kube.clone(), harbor.clone(), settings.sync.clone());
        sync::run(kube, harbor, options, events.clone(), metrics.clone(), stop)
    };
    match settings.leader_election {
        None => {
            metrics.set_leader(true);
            controllers(shutdown.boxed()).await;
            metrics.set_leader(false);
        }
        Some(election) => {
            let lease = lease_settings(&election);
            tracing::info!(namespace = %lease.namespace, lease = %lease.name, identity = %lease.identity, "waiting to lead");
            Elector::new(kube.clone(), lease)
                .run(shutdown, controllers, |leader| metrics.set_leader(leader))
                .await;
        }
    }
    watcher.abort();
    rotation.abort();
    server
        .await
        .context("HTTP server task")?
        .context("HTTP server")?;
    tracing::info!("stopped");
    Ok(())
}
