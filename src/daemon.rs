//! The daemon's main job: check the surroundings, serve Harbor's webhooks, run the controllers,
//! and stop cleanly.

use std::future::Future;

use anyhow::Context as _;
use futures::FutureExt;

use crate::config::Settings;
use crate::harbor::HarborClient;
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

/// Runs until `shutdown` completes. Refuses to start without the CRDs; an unreachable Harbor is
/// only reported, since the controllers retry until it answers.
pub async fn run(
    settings: Settings,
    kube: kube::Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let harbor = HarborClient::new(&settings.harbor).context("building the Harbor client")?;
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
    let server = match &settings.webhook {
        Some(webhook) => {
            let listener = tokio::net::TcpListener::bind(settings.listen)
                .await
                .with_context(|| format!("listening on {} (server.listen)", settings.listen))?;
            tracing::info!(address = %settings.listen, path = %webhook.path, "receiving Harbor webhooks");
            let receiver = server::WebhookReceiver {
                secret: webhook.auth_header.clone(),
                max_body_bytes: webhook.max_body_bytes,
                events,
            };
            let router = server::router(&webhook.path, receiver);
            Some(tokio::spawn(server::serve(
                listener,
                router,
                shutdown.clone(),
            )))
        }
        None => {
            tracing::info!(
                "no webhook secret configured: Harbor events are not received; the periodic resync keeps the platform up to date"
            );
            drop(events);
            None
        }
    };
    tracing::info!(harbor = harbor.base_url(), "harbor-bridge is running");
    sync::run(kube, harbor, settings.sync, received, shutdown).await;
    if let Some(server) = server {
        server
            .await
            .context("webhook server task")?
            .context("webhook server")?;
    }
    tracing::info!("stopped");
    Ok(())
}
