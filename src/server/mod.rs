//! HTTP server: the Harbor webhook receiver (health and metrics come later).

mod webhook;

pub use webhook::{DEFAULT_WEBHOOK_PATH, WebhookReceiver, is_valid_webhook_path};

/// The daemon's HTTP routes: `POST <webhook_path>` for Harbor's webhook deliveries.
///
/// An invalid `webhook_path` (see [`is_valid_webhook_path`]) is logged and replaced by
/// [`DEFAULT_WEBHOOK_PATH`].
pub fn router(webhook_path: &str, receiver: WebhookReceiver) -> axum::Router {
    webhook::routes(webhook_path, receiver)
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
