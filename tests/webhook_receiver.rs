//! The Harbor webhook receiver over real HTTP on 127.0.0.1: authentication, limits, bad
//! payloads, back-pressure, and real deliveries from the Harbor emulator (2.7 and 2.8+).

use std::time::Duration;

use harbor_bridge::harbor::crypto_provider;
use harbor_bridge::harbor::events::{EventKind, EventResource, HarborEvent};
use harbor_bridge::server::{self, DEFAULT_WEBHOOK_PATH, WebhookReceiver};
use harbor_emulator::{Emulator, EmulatorConfig, Profile};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const SECRET: &str = "Bearer s3cret";
const MAX_BODY: usize = 16 * 1024;
const WAIT: Duration = Duration::from_secs(10);

/// The receiver running on a free port, as the daemon runs it.
struct Daemon {
    url: String,
    events: mpsc::Receiver<HarborEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Daemon {
    async fn start(capacity: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}{DEFAULT_WEBHOOK_PATH}",
            listener.local_addr().unwrap()
        );
        let (sender, events) = mpsc::channel(capacity);
        let receiver = WebhookReceiver {
            secret: SecretString::from(SECRET),
            max_body_bytes: MAX_BODY,
            events: sender,
        };
        // Served as the daemon serves it, by the instance that leads.
        let metrics = harbor_bridge::metrics::Metrics::new();
        metrics.set_leader(true);
        let webhook = server::Webhook {
            path: DEFAULT_WEBHOOK_PATH,
            receiver,
        };
        let router = server::app(&metrics, Some(webhook));
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(server::serve(listener, router, shutdown));
        Self {
            url,
            events,
            stop: Some(stop),
            task,
        }
    }

    /// The next queued event, failing the test after [`WAIT`].
    async fn next_event(&mut self) -> HarborEvent {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("no event within the timeout")
            .expect("channel closed")
    }

    fn assert_nothing_queued(&mut self) {
        assert!(
            self.events.try_recv().is_err(),
            "an event was queued unexpectedly"
        );
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = tokio::time::timeout(WAIT, self.task).await;
        served
            .expect("server did not stop")
            .expect("server task panicked")
            .expect("server failed");
    }
}

fn client() -> Client {
    let tls = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap()
}

fn push_payload() -> Value {
    json!({"type":"PUSH_ARTIFACT","occur_at":1_678_082_303,"operator":"admin",
        "event_data":{"resources":[{"digest":"sha256:0123abcd","tag":"1.2.3",
            "resource_url":"harbor.example.com/proj/team/app:1.2.3"}],
        "repository":{"date_created":1_677_053_165,"name":"team/app","namespace":"proj",
            "repo_full_name":"proj/team/app","repo_type":"private"}}})
}

/// POSTs `body` with `authorization` and `content_type`; returns status, headers and text.
async fn post(
    url: &str,
    authorization: Option<&str>,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut request = client()
        .post(url)
        .header(CONTENT_TYPE, content_type)
        .body(body);
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn right_secret_queues_the_event() {
    let mut daemon = Daemon::start(8).await;
    let body = push_payload().to_string();
    let (status, _, text) = post(&daemon.url, Some(SECRET), "application/json", body).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "queued\n"));
    assert_eq!(
        daemon.next_event().await,
        HarborEvent {
            kind: EventKind::PushArtifact,
            project: "proj".into(),
            repository: "team/app".into(),
            resources: vec![EventResource {
                tag: Some("1.2.3".into()),
                digest: Some("sha256:0123abcd".into()),
            }],
            occurred_at: Some(1_678_082_303),
            operator: Some("admin".into()),
        }
    );

    let cloud = json!({"specversion":"1.0","id":"0d7e","requestid":"r1",
        "source":"/projects/3/webhook/policies/7","type":"harbor.artifact.deleted",
        "datacontenttype":"application/json","time":"2023-03-06T06:08:43Z",
        "data":push_payload()["event_data"].clone(),"operator":"admin"});
    let (status, _, _) = post(
        &daemon.url,
        Some(SECRET),
        "application/cloudevents+json",
        cloud.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(daemon.next_event().await.kind, EventKind::DeleteArtifact);
    daemon.stop().await;
}

#[tokio::test]
async fn wrong_or_missing_secret_is_401() {
    let mut daemon = Daemon::start(8).await;
    let body = push_payload().to_string();
    for authorization in [
        None,
        Some("Bearer wrong"),
        Some("Bearer s3cre"),
        Some("bearer s3cret"),
        Some("s3cret"),
        Some(""),
    ] {
        let (status, _, text) =
            post(&daemon.url, authorization, "application/json", body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(text, "unauthorized\n");
    }
    // Checked before the body: an oversized unauthenticated body is still just 401.
    let (status, _, _) = post(
        &daemon.url,
        None,
        "application/json",
        vec![b'x'; MAX_BODY * 2],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    daemon.assert_nothing_queued();
    daemon.stop().await;
}

#[tokio::test]
async fn bad_payloads_are_400_with_the_reason() {
    let mut daemon = Daemon::start(8).await;
    let full = push_payload().to_string();
    let mut wrong_type = push_payload();
    wrong_type["event_data"]["repository"]["namespace"] = json!(42);
    let mut missing = push_payload();
    missing["event_data"]["repository"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    let mut traversal = push_payload();
    traversal["event_data"]["repository"]["name"] = json!("../app");
    traversal["event_data"]["repository"]["repo_full_name"] = json!("proj/../app");
    let cases = [
        (String::new(), "invalid payload: empty body"),
        (
            "not json".to_owned(),
            "invalid payload: body is not valid JSON",
        ),
        (
            full[..full.len() / 2].to_owned(),
            "invalid payload: body is not valid JSON",
        ),
        (
            "[]".to_owned(),
            "invalid payload: payload must be a JSON object",
        ),
        (
            wrong_type.to_string(),
            "invalid payload: event_data.repository.namespace must be a string",
        ),
        (
            missing.to_string(),
            "invalid payload: missing event_data.repository.namespace",
        ),
        (
            traversal.to_string(),
            "invalid payload: invalid event_data.repository.name: must not contain '..'",
        ),
    ];
    for (body, expected) in cases {
        let (status, _, text) =
            post(&daemon.url, Some(SECRET), "application/json", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(text.starts_with(expected), "{body}: {text}");
        assert!(!text.contains("s3cret"));
    }
    let (status, _, _) = post(&daemon.url, Some(SECRET), "text/plain", full).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    daemon.assert_nothing_queued();
    daemon.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let mut daemon = Daemon::start(8).await;
    // Valid JSON padded past the limit: the size is refused, not the content.
    let padded = format!("{}{}", push_payload(), " ".repeat(MAX_BODY));
    let (status, _, text) = post(&daemon.url, Some(SECRET), "application/json", padded).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(text, format!("payload larger than {MAX_BODY} bytes\n"));

    // Chunked, so no Content-Length to go by: refused while reading.
    let chunked = chunked_post(&daemon.url, MAX_BODY + 1).await;
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    daemon.assert_nothing_queued();
    daemon.stop().await;
}

/// Sends an authenticated chunked POST of `size` spaces by hand; returns the raw response.
async fn chunked_post(url: &str, size: usize) -> String {
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches(DEFAULT_WEBHOOK_PATH);
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {DEFAULT_WEBHOOK_PATH} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {SECRET}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 1024];
    let mut sent = 0;
    while sent < size {
        let len = chunk.len().min(size - sent);
        let frame = format!("{len:x}\r\n");
        // The server may answer and close before everything is sent.
        if stream.write_all(frame.as_bytes()).await.is_err()
            || stream.write_all(&chunk[..len]).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
        sent += len;
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn full_queue_is_503_with_retry_after() {
    let mut daemon = Daemon::start(1).await;
    let body = push_payload().to_string();
    let (status, _, _) = post(&daemon.url, Some(SECRET), "application/json", body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, _) =
        post(&daemon.url, Some(SECRET), "application/json", body.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[RETRY_AFTER], "1");

    // Once the controllers catch up, the retry goes through.
    daemon.next_event().await;
    let (status, _, _) = post(&daemon.url, Some(SECRET), "application/json", body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    daemon.next_event().await;
    daemon.stop().await;
}

#[tokio::test]
async fn only_post_on_the_webhook_path() {
    let daemon = Daemon::start(1).await;
    let response = client()
        .get(&daemon.url)
        .header(AUTHORIZATION, SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let other = daemon.url.replace(DEFAULT_WEBHOOK_PATH, "/other");
    let (status, _, _) = post(
        &other,
        Some(SECRET),
        "application/json",
        push_payload().to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    daemon.stop().await;
}

// ---- real deliveries from the Harbor emulator ----

async fn emulator(profile: Profile) -> Emulator {
    Emulator::start(EmulatorConfig {
        profile,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Installs a webhook policy on project `p` through Harbor's REST API.
async fn install_policy(
    emu: &Emulator,
    daemon: &Daemon,
    event_types: &[&str],
    format: Option<&str>,
) {
    let mut target = json!({"type": "http", "address": daemon.url, "auth_header": SECRET});
    if let Some(format) = format {
        target["payload_format"] = json!(format);
    }
    let policy = json!({"name": "bridge", "enabled": true, "event_types": event_types,
        "targets": [target]});
    let response = client()
        .post(format!(
            "{}/api/v2.0/projects/p/webhook/policies",
            emu.base_url()
        ))
        .basic_auth("admin", Some("Harbor12345"))
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{:?}",
        response.text().await
    );
}

fn resource(tag: Option<&str>, digest: &str) -> Vec<EventResource> {
    vec![EventResource {
        tag: tag.map(str::to_owned),
        digest: Some(digest.to_owned()),
    }]
}

#[tokio::test]
async fn harbor28_cloud_events_end_to_end() {
    let emu = emulator(Profile::Harbor28).await;
    let mut daemon = Daemon::start(8).await;
    emu.create_project("p", false);
    install_policy(
        &emu,
        &daemon,
        &["PUSH_ARTIFACT", "DELETE_ARTIFACT"],
        Some("CloudEvents"),
    )
    .await;

    let digest = emu.push_image("p", "team/app", "v1");
    let pushed = daemon.next_event().await;
    assert_eq!(pushed.kind, EventKind::PushArtifact);
    assert_eq!(
        (pushed.project.as_str(), pushed.repository.as_str()),
        ("p", "team/app")
    );
    assert_eq!(pushed.resources, resource(Some("v1"), &digest));
    assert_eq!(pushed.operator.as_deref(), Some("admin"));
    assert!(pushed.occurred_at.is_some());

    assert!(emu.delete_artifact("p", "team/app", "v1"));
    let deleted = daemon.next_event().await;
    assert_eq!(deleted.kind, EventKind::DeleteArtifact);
    assert_eq!(deleted.repository, "team/app");
    assert_eq!(deleted.resources, resource(Some("v1"), &digest));

    // An untagged artifact: Harbor puts the digest in `tag`.
    let digest = emu.push_image("p", "team/app", "v2");
    daemon.next_event().await;
    let tag_url = format!(
        "{}/api/v2.0/projects/p/repositories/team%252Fapp/artifacts/v2/tags/v2",
        emu.base_url()
    );
    let untag = client()
        .delete(tag_url)
        .basic_auth("admin", Some("Harbor12345"))
        .send()
        .await
        .unwrap();
    assert_eq!(untag.status(), StatusCode::OK);
    assert!(emu.delete_artifact("p", "team/app", &digest));
    let deleted = daemon.next_event().await;
    assert_eq!(deleted.kind, EventKind::DeleteArtifact);
    assert_eq!(deleted.resources, resource(None, &digest));

    let deliveries = emu.wait_for_deliveries(4, WAIT).await;
    assert!(
        deliveries.iter().all(|d| d.status == Some(200)),
        "{deliveries:?}"
    );
    daemon.assert_nothing_queued();
    daemon.stop().await;
}

#[tokio::test]
async fn harbor27_default_payloads_and_charts_end_to_end() {
    let emu = emulator(Profile::Harbor27).await;
    let mut daemon = Daemon::start(8).await;
    emu.create_project("p", false);
    install_policy(
        &emu,
        &daemon,
        &["PUSH_ARTIFACT", "DELETE_ARTIFACT", "UPLOAD_CHART"],
        None,
    )
    .await;

    let digest = emu.push_image("p", "team/app", "v1");
    let pushed = daemon.next_event().await;
    assert_eq!(pushed.kind, EventKind::PushArtifact);
    assert_eq!(
        (pushed.project.as_str(), pushed.repository.as_str()),
        ("p", "team/app")
    );
    assert_eq!(pushed.resources, resource(Some("v1"), &digest));

    assert!(emu.delete_artifact("p", "team/app", "v1"));
    let deleted = daemon.next_event().await;
    assert_eq!(deleted.kind, EventKind::DeleteArtifact);
    assert_eq!(deleted.resources, resource(Some("v1"), &digest));

    emu.upload_chart("p", "nginx", "1.0.0").unwrap();
    let chart = daemon.next_event().await;
    assert_eq!(chart.kind, EventKind::UploadChart);
    assert_eq!(
        (chart.project.as_str(), chart.repository.as_str()),
        ("p", "nginx")
    );
    assert_eq!(
        chart.resources,
        vec![EventResource {
            tag: Some("1.0.0".into()),
            digest: None,
        }]
    );
    daemon.assert_nothing_queued();
    daemon.stop().await;
}

#[tokio::test]
async fn harbor_retries_after_a_full_queue() {
    let emu = emulator(Profile::Harbor28).await;
    let mut daemon = Daemon::start(1).await;
    emu.create_project("p", false);
    install_policy(&emu, &daemon, &["PUSH_ARTIFACT"], Some("CloudEvents")).await;

    // Fill the queue so the delivery is refused with 503.
    let body = push_payload().to_string();
    let (status, _, _) = post(&daemon.url, Some(SECRET), "application/json", body).await;
    assert_eq!(status, StatusCode::OK);
    emu.push_image("p", "app", "v1");
    let first = emu.wait_for_deliveries(1, WAIT).await;
    assert_eq!(first.first().and_then(|d| d.status), Some(503));

    // Draining makes room; Harbor's next attempt lands.
    assert_eq!(daemon.next_event().await.project, "proj");
    let retried = daemon.next_event().await;
    assert_eq!(
        (retried.project.as_str(), retried.repository.as_str()),
        ("p", "app")
    );
    let deliveries = emu.wait_for_deliveries(2, WAIT).await;
    assert_eq!(
        deliveries.last().and_then(|d| d.status),
        Some(200),
        "{deliveries:?}"
    );
    daemon.stop().await;
}
