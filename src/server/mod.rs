//! HTTP server: the Harbor webhook receiver, health endpoints and Prometheus metrics.
//!
//! [`app`] is what the daemon serves: `GET /healthz`, `GET /readyz`, `GET /metrics` (see
//! [`health`]), plus `POST <webhook path>` when a webhook secret is configured.

mod health;
mod webhook;

pub use health::{HARBOR_CHECK_INTERVAL, HEALTHZ_PATH, METRICS_PATH, READYZ_PATH, watch_harbor};
pub use webhook::{DEFAULT_WEBHOOK_PATH, WebhookReceiver, is_valid_webhook_path};

use crate::metrics::Metrics;

/// The paths the health and metrics endpoints take; the webhook cannot be served on them.
pub const RESERVED_PATHS: [&str; 3] = [HEALTHZ_PATH, READYZ_PATH, METRICS_PATH];

/// The Harbor webhook route: where it is served, and the receiver behind it.
#[derive(Debug)]
pub struct Webhook<'a> {
    pub path: &'a str,
    pub receiver: WebhookReceiver,
}

/// Every route the daemon serves: health, readiness and metrics from `metrics`, and the
/// webhook receiver when given (its deliveries counted in `metrics`).
///
/// A webhook path that is invalid (see [`is_valid_webhook_path`]) or taken by another route
/// ([`RESERVED_PATHS`]) is logged and replaced by [`DEFAULT_WEBHOOK_PATH`].
pub fn app(metrics: &Metrics, webhook: Option<Webhook<'_>>) -> axum::Router {
    let routes = health::routes(metrics.clone());
    match webhook {
        Some(Webhook { path, receiver }) => {
            let path = if RESERVED_PATHS.contains(&path) {
                tracing::error!(
                    path,
                    fallback = DEFAULT_WEBHOOK_PATH,
                    "the webhook path is taken by a health or metrics endpoint, serving the default"
                );
                DEFAULT_WEBHOOK_PATH
            } else {
                path
            };
            routes.merge(webhook::routes(path, receiver, metrics.clone()))
        }
        None => routes,
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
