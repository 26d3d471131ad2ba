//! The endpoint Harbor's webhook policies POST to: authenticate, bound the body, parse, and hand
//! the event to the controllers without waiting for them.
//!
//! Harbor retries any non-2xx answer (10 times up to 2.7, 3 times from 2.8) and gives up on a
//! receiver slower than 3 s (2.8+), so the handler never blocks: a full queue answers 503 and
//! Harbor's retry brings the event back later.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;

use crate::harbor::events::{self, HarborEvent, PayloadError, PayloadFormat};
use crate::metrics::{Metrics, WEBHOOK_EVENTS_QUEUE, WebhookResult};

/// Where Harbor posts events unless configured otherwise.
pub const DEFAULT_WEBHOOK_PATH: &str = "/harbor/events";

/// Harbor 2.8+ itself gives up after 3 s; a body still trickling in after this is not Harbor.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The webhook endpoint's settings and the channel events go out on.
#[derive(Debug, Clone)]
pub struct WebhookReceiver {
    /// The exact `Authorization` value Harbor sends (the policy target's `auth_header`), e.g.
    /// `Bearer abc`. Surrounding whitespace is ignored; an empty secret refuses every delivery.
    pub secret: SecretString,
    /// Larger bodies get 413.
    pub max_body_bytes: usize,
    /// Parsed events that change a project's content; the controllers hold the receiver.
    pub events: Sender<HarborEvent>,
}

/// Whether `path` can be served as the webhook path: absolute, and only unreserved URL
/// characters, so it can neither fail nor turn into a route pattern (`{id}`, `*rest`).
pub fn is_valid_webhook_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains("//")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-._~".contains(c))
}

/// The handler's state: the receiver, and where deliveries are counted.
#[derive(Debug)]
struct Endpoint {
    receiver: WebhookReceiver,
    metrics: Metrics,
}

/// `POST <path>` only; other methods get axum's 405. Every delivery is counted
/// by outcome (`webhook_deliveries_total`) and the queue's depth kept (`queue_depth`).
pub(super) fn routes(path: &str, receiver: WebhookReceiver, metrics: Metrics) -> Router {
    // The signature can't report errors and axum panics on bad patterns: serve the default
    // path rather than crash. Configuration should reject such paths up front.
    let path = if is_valid_webhook_path(path) {
        path
    } else {
        tracing::error!(
            path,
            fallback = DEFAULT_WEBHOOK_PATH,
            "invalid webhook path, serving the default"
        );
        DEFAULT_WEBHOOK_PATH
    };
    if expected_authorization(&receiver.secret).is_empty() {
        tracing::warn!("the webhook secret is empty: every Harbor delivery will be refused");
    }
    Router::new()
        .route(path, post(receive))
        .with_state(Arc::new(Endpoint { receiver, metrics }))
}

async fn receive(
    State(endpoint): State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Only the leader applies events; a standby has Harbor retry (through the Service, the retry
    // may reach the leader; the periodic resync heals whatever is still missed).
    let metrics = &endpoint.metrics;
    let standby = !metrics.is_leader();
    let (result, response) = deliver(&endpoint.receiver, standby, headers, body).await;
    metrics.webhook_delivery(result);
    let events = &endpoint.receiver.events;
    if !events.is_closed() {
        metrics.set_queue_depth(
            WEBHOOK_EVENTS_QUEUE,
            events.max_capacity() - events.capacity(),
        );
    }
    response
}

/// Handles one delivery; says what became of it, for the metrics.
async fn deliver(
    receiver: &WebhookReceiver,
    standby: bool,
    headers: HeaderMap,
    body: Body,
) -> (WebhookResult, Response) {
    // Before anything else: an unauthenticated caller gets no work done and learns nothing.
    if !authorized(&headers, &receiver.secret) {
        tracing::warn!("refused a webhook delivery: missing or wrong Authorization header");
        return (
            WebhookResult::Unauthorized,
            text(StatusCode::UNAUTHORIZED, "unauthorized"),
        );
    }
    if standby {
        let retry_after = [(header::RETRY_AFTER, "1")];
        let reason = "standby replica: events are applied by the leader; retry";
        let response = (StatusCode::SERVICE_UNAVAILABLE, retry_after, reason).into_response();
        return (WebhookResult::Standby, response);
    }
    if declared_length(&headers).is_some_and(|length| length > receiver.max_body_bytes) {
        return (WebhookResult::TooLarge, too_large(receiver.max_body_bytes));
    }
    let body = match tokio::time::timeout(
        BODY_READ_TIMEOUT,
        read_limited(body, receiver.max_body_bytes),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(BodyError::TooLarge)) => {
            return (WebhookResult::TooLarge, too_large(receiver.max_body_bytes));
        }
        Ok(Err(BodyError::Unreadable)) => {
            return (
                WebhookResult::Invalid,
                text(StatusCode::BAD_REQUEST, "could not read the request body"),
            );
        }
        Err(_elapsed) => {
            return (
                WebhookResult::Invalid,
                text(
                    StatusCode::REQUEST_TIMEOUT,
                    "timed out reading the request body",
                ),
            );
        }
    };
    match content_type(&headers).and_then(|ct| events::parse_with_format(ct, &body)) {
        Ok((format, event)) => dispatch(&receiver.events, format, event),
        Err(error) => {
            tracing::warn!(%error, "refused a webhook delivery: invalid payload");
            let result = match error {
                PayloadError::UnsupportedContentType => WebhookResult::Unsupported,
                _ => WebhookResult::Invalid,
            };
            let response = text(status_for(&error), format!("invalid payload: {error}"));
            (result, response)
        }
    }
}

/// Sends the event on without waiting: Harbor's retry is the back-pressure.
fn dispatch(
    events: &Sender<HarborEvent>,
    format: PayloadFormat,
    event: HarborEvent,
) -> (WebhookResult, Response) {
    let kind = event.kind.clone();
    let project = event.project.clone();
    let repository = event.repository.clone();
    let resources = event.resources.len();
    if !kind.changes_content() {
        tracing::debug!(%kind, project, repository, ?format, "ignored a Harbor event");
        return (WebhookResult::Ignored, text(StatusCode::OK, "ignored"));
    }
    match events.try_send(event) {
        Ok(()) => {
            tracing::info!(%kind, project, repository, resources, ?format, "queued a Harbor event");
            (WebhookResult::Queued, text(StatusCode::OK, "queued"))
        }
        Err(TrySendError::Full(_)) => {
            tracing::warn!(%kind, project, repository, "event queue full, Harbor will retry");
            let retry_after = [(header::RETRY_AFTER, "1")];
            let response = (
                StatusCode::SERVICE_UNAVAILABLE,
                retry_after,
                "event queue full\n",
            )
                .into_response();
            (WebhookResult::Busy, response)
        }
        Err(TrySendError::Closed(_)) => {
            tracing::warn!(%kind, project, repository, "event queue closed, Harbor will retry");
            let response = text(StatusCode::SERVICE_UNAVAILABLE, "not accepting events");
            (WebhookResult::Closed, response)
        }
    }
}

/// The header Harbor must send. HTTP strips whitespace around header values, so a secret read
/// from a file with a trailing newline must not make every delivery fail.
fn expected_authorization(secret: &SecretString) -> &str {
    secret.expose_secret().trim()
}

/// Exactly one `Authorization` header equal to the secret, compared in constant time (only
/// the length can leak, which says nothing about the content).
fn authorized(headers: &HeaderMap, secret: &SecretString) -> bool {
    let expected = expected_authorization(secret).as_bytes();
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (Some(value), None) if !expected.is_empty() => value.as_bytes().ct_eq(expected).into(),
        _ => false,
    }
}

/// `Content-Length`, when present and readable.
fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// `Content-Type`; one that isn't even visible ASCII is certainly not one Harbor sends.
fn content_type(headers: &HeaderMap) -> Result<Option<&str>, PayloadError> {
    headers
        .get(header::CONTENT_TYPE)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| PayloadError::UnsupportedContentType)
        })
        .transpose()
}

#[derive(Debug, PartialEq, Eq)]
enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads at most `limit` bytes, stopping as soon as a chunked body goes over.
async fn read_limited(body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut stream = body.into_data_stream();
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if buffer.len().saturating_add(chunk.len()) > limit {
            return Err(BodyError::TooLarge);
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer)
}

fn status_for(error: &PayloadError) -> StatusCode {
    match error {
        PayloadError::UnsupportedContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn too_large(limit: usize) -> Response {
    tracing::warn!(limit, "refused a webhook delivery: body too large");
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("payload larger than {limit} bytes"),
    )
}

/// A short `text/plain` answer (Harbor records it in the webhook job log).
fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut message = message.into();
    message.push('\n');
    (status, message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harbor::events::EventKind;
    use axum::http::HeaderValue;
    use tokio::sync::mpsc::{self, Receiver};

    const SECRET: &str = "Bearer s3cret";
    const PUSH: &str = r#"{"type":"PUSH_ARTIFACT","occur_at":1678082303,"operator":"admin",
        "event_data":{"resources":[{"digest":"sha256:ab","tag":"v1","resource_url":"h/p/app:v1"}],
        "repository":{"name":"app","namespace":"p","repo_full_name":"p/app","repo_type":"private"}}}"#;

    fn receiver(capacity: usize) -> (Arc<Endpoint>, Receiver<HarborEvent>) {
        let (events, rx) = mpsc::channel(capacity);
        let receiver = WebhookReceiver {
            secret: SecretString::from(SECRET),
            max_body_bytes: 4096,
            events,
        };
        let metrics = Metrics::new();
        // The leader applies events; a standby's 503 is tested on its own.
        metrics.set_leader(true);
        (Arc::new(Endpoint { receiver, metrics }), rx)
    }

    /// What the endpoint's metrics say about deliveries and the queue.
    fn counted(endpoint: &Endpoint) -> Vec<String> {
        let text = endpoint.metrics.encode().unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with("harbor_bridge_webhook") || l.starts_with("harbor_bridge_queue")
            })
            .map(str::to_owned)
            .collect()
    }

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(value) = authorization {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    async fn call(
        receiver: &Arc<Endpoint>,
        headers: HeaderMap,
        body: impl Into<Body>,
    ) -> (StatusCode, String) {
        let response = receive(State(receiver.clone()), headers, body.into()).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[test]
    fn authorization_must_match_exactly() {
        let secret = SecretString::from(SECRET);
        assert!(authorized(&headers(Some(SECRET)), &secret));
        for wrong in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "bearer s3cret",
            "s3cret",
            "",
        ] {
            assert!(!authorized(&headers(Some(wrong)), &secret), "{wrong}");
        }
        assert!(!authorized(&headers(None), &secret));
        let mut twice = headers(Some(SECRET));
        twice.append(header::AUTHORIZATION, HeaderValue::from_static(SECRET));
        assert!(!authorized(&twice, &secret));
        // Trailing newline from a mounted secret file.
        assert!(authorized(
            &headers(Some(SECRET)),
            &SecretString::from("Bearer s3cret\n")
        ));
        // An empty secret never authorizes, not even an empty header.
        assert!(!authorized(&headers(Some("")), &SecretString::from("")));
        assert!(!authorized(&headers(None), &SecretString::from(" ")));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let (receiver, _rx) = receiver(1);
        let printed = format!("{receiver:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
    }

    #[test]
    fn webhook_paths() {
        for path in ["/harbor/events", "/", "/a-b_c.d~e/f"] {
            assert!(is_valid_webhook_path(path), "{path}");
        }
        for path in [
            "", "harbor", "/a//b", "/{id}", "/*rest", "/:id", "/a b", "/ä", "/a?b",
        ] {
            assert!(!is_valid_webhook_path(path), "{path}");
        }
        // Falls back instead of panicking.
        let (receiver, _rx) = receiver(1);
        let _router = routes("/{broken", receiver.receiver.clone(), Metrics::new());
    }

    #[tokio::test]
    async fn accepted_event_is_queued() {
        let (receiver, mut rx) = receiver(1);
        let (status, body) = call(&receiver, headers(Some(SECRET)), PUSH).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "queued\n"));
        assert_eq!(
            counted(&receiver),
            [
                "harbor_bridge_webhook_deliveries_total{result=\"queued\"} 1",
                "harbor_bridge_queue_depth{queue=\"webhook_events\"} 1",
            ]
        );
        let event = rx.try_recv().unwrap();
        assert_eq!(event.kind, EventKind::PushArtifact);
        assert_eq!(
            (event.project.as_str(), event.repository.as_str()),
            ("p", "app")
        );
    }

    #[tokio::test]
    async fn unauthorized_before_anything_else() {
        let (receiver, mut rx) = receiver(1);
        // Oversized and garbage, but the missing secret is what counts.
        let mut headers = headers(Some("Bearer nope"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999999"));
        let (status, body) = call(&receiver, headers, "not json").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::UNAUTHORIZED, "unauthorized\n")
        );
        assert!(rx.try_recv().is_err());
        assert_eq!(
            counted(&receiver),
            [
                "harbor_bridge_webhook_deliveries_total{result=\"unauthorized\"} 1",
                "harbor_bridge_queue_depth{queue=\"webhook_events\"} 0",
            ]
        );
    }

    #[tokio::test]
    async fn bad_payloads() {
        let (receiver, mut rx) = receiver(1);
        let (status, body) = call(&receiver, headers(Some(SECRET)), "{\"type\":1}").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, "invalid payload: type must be a string\n");
        assert!(!body.contains("s3cret"));

        let mut plain = headers(Some(SECRET));
        plain.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let (status, _) = call(&receiver, plain, PUSH).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

        let mut opaque = headers(Some(SECRET));
        opaque.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_bytes(b"application/\xffjson").unwrap(),
        );
        let (status, _) = call(&receiver, opaque, PUSH).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(rx.try_recv().is_err());
        let counted = counted(&receiver);
        for line in [
            "harbor_bridge_webhook_deliveries_total{result=\"invalid\"} 1",
            "harbor_bridge_webhook_deliveries_total{result=\"unsupported\"} 2",
        ] {
            assert!(
                counted.iter().any(|l| l == line),
                "{line} not in {counted:?}"
            );
        }
    }

    #[tokio::test]
    async fn body_limits() {
        let (receiver, _rx) = receiver(1);
        let big = vec![b' '; 4097];
        let (status, body) = call(&receiver, headers(Some(SECRET)), big).await;
        assert_eq!(
            (status, body.as_str()),
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload larger than 4096 bytes\n"
            )
        );
        assert!(
            counted(&receiver)
                .contains(&"harbor_bridge_webhook_deliveries_total{result=\"too_large\"} 1".into())
        );

        // Chunked: no length up front, refused once the chunks add up past the limit.
        let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1000]));
        let body = Body::from_stream(futures::stream::iter(chunks));
        assert_eq!(read_limited(body, 4096).await, Err(BodyError::TooLarge));
        let chunks = (0..4).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024]));
        let body = Body::from_stream(futures::stream::iter(chunks));
        assert_eq!(read_limited(body, 4096).await.map(|b| b.len()), Ok(4096));

        let broken = futures::stream::iter([
            Ok(vec![b'{']),
            Err(std::io::Error::other("connection reset")),
        ]);
        assert_eq!(
            read_limited(Body::from_stream(broken), 4096).await,
            Err(BodyError::Unreadable)
        );
    }

    #[tokio::test]
    async fn a_standby_has_harbor_retry_and_queues_nothing() {
        let (endpoint, mut rx) = receiver(4);
        endpoint.metrics.set_leader(false);
        let response = receive(State(endpoint.clone()), headers(Some(SECRET)), PUSH.into()).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert!(rx.try_recv().is_err(), "a standby queued an event");
        // Authentication still comes first.
        let response = receive(State(endpoint), headers(Some("Bearer wrong")), PUSH.into()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn queue_full_or_closed_is_503() {
        let (receiver, rx) = receiver(1);
        assert_eq!(
            call(&receiver, headers(Some(SECRET)), PUSH).await.0,
            StatusCode::OK
        );
        let response = receive(State(receiver.clone()), headers(Some(SECRET)), PUSH.into()).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");

        drop(rx);
        let response = receive(State(receiver.clone()), headers(Some(SECRET)), PUSH.into()).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!response.headers().contains_key(header::RETRY_AFTER));
        let counted = counted(&receiver);
        for line in [
            "harbor_bridge_webhook_deliveries_total{result=\"queued\"} 1",
            "harbor_bridge_webhook_deliveries_total{result=\"busy\"} 1",
            "harbor_bridge_webhook_deliveries_total{result=\"closed\"} 1",
            "harbor_bridge_queue_depth{queue=\"webhook_events\"} 1",
        ] {
            assert!(
                counted.iter().any(|l| l == line),
                "{line} not in {counted:?}"
            );
        }
    }

    #[tokio::test]
    async fn events_not_acted_on_are_acknowledged_but_not_queued() {
        let (receiver, mut rx) = receiver(1);
        for kind in ["PULL_ARTIFACT", "DOWNLOAD_CHART", "QUOTA_EXCEED"] {
            let body = PUSH.replace("PUSH_ARTIFACT", kind);
            let (status, text) = call(&receiver, headers(Some(SECRET)), body).await;
            assert_eq!(
                (status, text.as_str()),
                (StatusCode::OK, "ignored\n"),
                "{kind}"
            );
        }
        assert!(rx.try_recv().is_err());
        assert!(
            counted(&receiver)
                .contains(&"harbor_bridge_webhook_deliveries_total{result=\"ignored\"} 3".into())
        );
    }
}
