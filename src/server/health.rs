//! `/healthz`, `/readyz` and `/metrics`, and the task that keeps pinging Harbor for `/readyz`.
//!
//! - `/healthz`: `200 ok` while the process serves HTTP at all (a liveness probe).
//! - `/readyz`: `200 ok` when the controllers' caches have synced and Harbor answered a recent
//!   ping; otherwise `503` with one line per reason, e.g.
//!   `Harbor at https://harbor.example.com is unreachable: connection refused`.
//! - `/metrics`: every metric in the OpenMetrics text format.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::time::MissedTickBehavior;

use crate::harbor::{self, HarborClient};
use crate::metrics::{self, Metrics};

pub const HEALTHZ_PATH: &str = "/healthz";
pub const READYZ_PATH: &str = "/readyz";
pub const METRICS_PATH: &str = "/metrics";

/// How often the daemon pings Harbor for `/readyz`.
pub const HARBOR_CHECK_INTERVAL: Duration = Duration::from_secs(10);
/// A ping's answer counts for this many intervals; after that Harbor counts as unchecked
/// (the watcher itself is stuck or gone).
const CHECK_VALID_FOR_INTERVALS: u32 = 3;

pub(super) fn routes(metrics: Metrics) -> Router {
    Router::new()
        .route(HEALTHZ_PATH, get(healthz))
        .route(READYZ_PATH, get(readyz))
        .route(METRICS_PATH, get(scrape))
        .with_state(metrics)
}

async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

async fn readyz(State(metrics): State<Metrics>) -> Response {
    match metrics.readiness() {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(reasons) => {
            let mut text = reasons.join("\n");
            text.push('\n');
            (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
        }
    }
}

async fn scrape(State(metrics): State<Metrics>) -> Response {
    match metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "could not encode the metrics");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not encode the metrics\n",
            )
                .into_response()
        }
    }
}

/// Pings Harbor now and then every `interval`, recording each outcome in `metrics` (for
/// `/readyz` and `harbor_up`). A ping that takes longer than `interval` (retries included)
/// counts as failed. Never returns: run it in a task and abort it, or select on shutdown.
pub async fn watch_harbor(harbor: HarborClient, metrics: Metrics, interval: Duration) {
    let interval = interval.max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut was_up = None;
    loop {
        ticks.tick().await;
        let address = harbor.base_url();
        let problem = match tokio::time::timeout(interval, harbor.ping()).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(describe(address, &error)),
            Err(_elapsed) => Some(format!(
                "Harbor at {address} did not answer a ping within {} ms",
                interval.as_millis()
            )),
        };
        let up = problem.is_none();
        if was_up != Some(up) {
            match &problem {
                None => tracing::info!(harbor = address, "Harbor answers pings"),
                Some(problem) => tracing::warn!("{problem}"),
            }
            was_up = Some(up);
        }
        metrics.record_harbor_check(address, problem, interval * CHECK_VALID_FOR_INTERVALS);
    }
}

/// One sentence naming Harbor's address and what went wrong.
fn describe(address: &str, error: &harbor::Error) -> String {
    match error.status {
        Some(status) => format!(
            "Harbor at {address} answered a ping with HTTP {status} ({}): {}",
            error.kind, error.message
        ),
        None => format!("Harbor at {address} is unreachable: {}", error.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(response: Response) -> (StatusCode, Option<String>, String) {
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn readiness_lists_every_reason() {
        let metrics = Metrics::new();
        metrics.set_leader(true);
        assert_eq!(text(healthz().await).await.2, "ok\n");
        let (status, _, body) = text(readyz(State(metrics.clone())).await).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "caches not synced yet\nHarbor not checked yet\n");
        metrics.set_caches_synced(true);
        metrics.record_harbor_check("https://h.example", None, HARBOR_CHECK_INTERVAL);
        let (status, _, body) = text(readyz(State(metrics.clone())).await).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
        let (status, content_type, body) = text(scrape(State(metrics)).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some(metrics::CONTENT_TYPE));
        assert!(body.contains("harbor_bridge_harbor_up 1\n"), "{body}");
    }

    #[test]
    fn failures_name_harbor() {
        let refused = harbor::Error::http("ping", 503, "maintenance".into());
        assert_eq!(
            describe("https://h.example", &refused),
            "Harbor at https://h.example answered a ping with HTTP 503 (Transient): maintenance"
        );
    }
}
