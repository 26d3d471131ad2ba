//! The daemon's main job: check the surroundings, serve Harbor's webhooks, run the controllers,
//! and stop cleanly.

use std::future::Future;

use anyhow::Context as _;
use futures::FutureExt;

use crate::config::Settings;
use crate::harbor::HarborClient;
use crate::{check, resources, server, sync};

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
