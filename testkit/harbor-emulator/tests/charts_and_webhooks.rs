//! ChartMuseum routes per profile, webhook policy API and webhook delivery.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::Who::{Admin, Anonymous};
use common::{Api, Reply, RequestExt, pluck, start, start_with};
use harbor_emulator::{Emulator, EmulatorConfig, PayloadFormat, Profile};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Clone, Debug)]
struct Received {
    authorization: Option<String>,
    content_type: Option<String>,
    body: Value,
}

#[derive(Clone, Default)]
struct Receiver {
    /// Where it listens.
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    /// Statuses to answer with, in order; 200 once exhausted.
    script: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    /// Starts a webhook receiver.
    async fn start(script: Vec<u16>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Self {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            script: Arc::new(Mutex::new(script)),
            ..Self::default()
        };
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..300 {
            if self.received().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.received()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    receiver.received.lock().unwrap().push(Received {
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    });
    let mut script = receiver.script.lock().unwrap();
    let status = if script.is_empty() {
        200
    } else {
        script.remove(0)
    };
    StatusCode::from_u16(status).unwrap()
}

async fn create_policy(api: &Api, project: &str, body: Value) -> Reply {
    api.admin(
        Method::POST,
        &format!("/api/v2.0/projects/{project}/webhook/policies"),
    )
    .by_name()
    .json(&body)
    .reply()
    .await
}

/// An enabled policy sending `events` to `url` with an auth header.
fn policy(name: &str, events: &[&str], url: &str) -> Value {
    json!({"name": name, "enabled": true, "event_types": events,
        "targets": [{"type": "http", "address": url, "auth_header": "Bearer s3cret"}]})
}

/// A policy with only the required fields.
fn bare_policy(name: &str, events: &[&str], targets: Value) -> Value {
    json!({"name": name, "event_types": events, "targets": targets})
}

/// A webhook target with only the required fields.
fn http_target(address: &str) -> Value {
    json!({"type": "http", "address": address})
}

#[tokio::test]
async fn chartmuseum_routes_exist_only_on_27() {
    let emu = start(Profile::Harbor27).await;
    emu.create_project("charts", false);
    emu.upload_chart("charts", "nginx", "1.0.0").unwrap();
    emu.upload_chart("charts", "nginx", "1.1.0").unwrap();
    let api = Api::new(&emu);
    let get = |path: &str| api.call(Admin, Method::GET, path);
    let delete = |path: &str| api.status(Admin, Method::DELETE, path);

    let reply = get("/api/chartrepo/health").await;
    assert_eq!((reply.status, reply.body), (200, json!({"healthy": true})));
    assert_eq!(
        api.status(Anonymous, Method::GET, "/api/chartrepo/health")
            .await,
        401
    );

    let list = get("/api/chartrepo/charts/charts").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body[0]["name"], "nginx");
    assert_eq!(list.body[0]["total_versions"], 2);
    assert_eq!(list.body[0]["latest_version"], "1.1.0");

    let versions = get("/api/chartrepo/charts/charts/nginx").await;
    assert_eq!(versions.status, 200);
    assert_eq!(versions.body.as_array().unwrap().len(), 2);
    assert!(
        versions.body[0]["urls"][0]
            .as_str()
            .unwrap()
            .ends_with(".tgz")
    );
    let details = get("/api/chartrepo/charts/charts/nginx/1.0.0").await;
    assert_eq!(
        (details.status, details.body["metadata"]["version"].as_str()),
        (200, Some("1.0.0"))
    );
    assert_eq!(
        get("/api/chartrepo/charts/charts/missing").await.status,
        404
    );

    // ChartMuseum charts block project deletion on 2.7.
    let project_path = "/api/v2.0/projects/charts";
    let reply = api.call(Admin, Method::DELETE, project_path).await;
    assert_eq!(reply.status, 412);
    assert_eq!(
        reply.message(),
        "precondition failed: the project contains helm charts, can not be deleted"
    );
    assert_eq!(get(project_path).await.body["chart_count"], 1);

    let version_path = "/api/chartrepo/charts/charts/nginx/1.0.0";
    assert_eq!(delete(version_path).await, 200);
    assert_eq!(delete(version_path).await, 404);
    assert_eq!(
        emu.charts("charts"),
        [("nginx".to_owned(), vec!["1.1.0".to_owned()])]
    );
    let chart_path = "/api/chartrepo/charts/charts/nginx";
    assert_eq!(delete(chart_path).await, 200);
    assert_eq!(delete(chart_path).await, 404);
    assert_eq!(delete(project_path).await, 200);

    let emu = start(Profile::Harbor28).await;
    emu.create_project("charts", false);
    assert!(emu.upload_chart("charts", "nginx", "1.0.0").is_err());
    let api = Api::new(&emu);
    for path in ["/api/chartrepo/health", "/api/chartrepo/charts/charts"] {
        let reply = api.call(Admin, Method::GET, path).await;
        assert_eq!((reply.status, reply.code()), (404, "NOT_FOUND"), "{path}");
    }
    let project = api.call(Admin, Method::GET, project_path).await.body;
    assert!(project.get("chart_count").is_none());
}

#[tokio::test]
async fn webhook_policy_api_rules() {
    let emu = start(Profile::Harbor28).await;
    emu.create_project("p", false);
    let api = Api::new(&emu);
    let policies = "/api/v2.0/projects/p/webhook/policies";
    let events_path = "/api/v2.0/projects/p/webhook/events";

    let targets = json!([http_target("http://example.invalid/x")]);
    let reply = create_policy(&api, "p", bare_policy("a", &["PUSH_ARTIFACT"], targets)).await;
    assert_eq!(reply.status, 201);
    let location = reply.header("location");
    assert!(location.starts_with(&format!("{policies}/")), "{location}");
    let stored = api.call_by_name(Admin, Method::GET, location).await;
    assert_eq!(stored.status, 200);
    let stored = stored.body;
    assert_eq!(stored["enabled"], false, "enabled defaults to false");
    assert_eq!(stored["targets"][0]["address"], "http://example.invalid/x");
    assert_eq!(stored["targets"][0]["payload_format"], "Default");

    let http_x = || json!([http_target("http://x")]);
    let mut xml = http_target("http://x");
    xml["payload_format"] = json!("Xml");
    let bad: [(&str, &[&str], Value, u16); 7] = [
        ("a", &["PUSH_ARTIFACT"], http_x(), 409), // the name is taken
        ("b", &[], http_x(), 400),
        ("b", &["PUSH_ARTIFACT"], json!([]), 400),
        ("b", &["UPLOAD_CHART"], http_x(), 400), // a chart event on 2.8
        ("b", &["NOPE"], http_x(), 400),
        (
            "b",
            &["PUSH_ARTIFACT"],
            json!([http_target("ftp://x")]),
            400,
        ),
        ("b", &["PUSH_ARTIFACT"], json!([xml]), 400),
    ];
    for (name, events, targets, want) in bad {
        let body = bare_policy(name, events, targets);
        let reply = create_policy(&api, "p", body.clone()).await;
        assert_eq!(reply.status, want, "{body} -> {}", reply.body);
    }

    let id = location.rsplit('/').next().unwrap();
    let update = policy("a", &["DELETE_ARTIFACT"], "http://example.invalid/y");
    let put = api
        .send_json(Admin, Method::PUT, &format!("{policies}/{id}"), &update)
        .await;
    assert_eq!(put.status, 200);
    let list = api.call(Admin, Method::GET, policies).await.body;
    assert_eq!(list[0]["enabled"], true);
    assert_eq!(list[0]["event_types"], json!(["DELETE_ARTIFACT"]));

    let events = api.call(Admin, Method::GET, events_path).await.body;
    let event_types = events["event_type"].as_array().unwrap();
    assert!(event_types.contains(&json!("PUSH_ARTIFACT")));
    assert!(!event_types.contains(&json!("UPLOAD_CHART")));
    assert!(events["payload_formats"].is_array());

    // Policies outlive their project.
    let project_id = emu.project("p").unwrap().id;
    assert_eq!(
        api.status(Admin, Method::DELETE, "/api/v2.0/projects/p")
            .await,
        200
    );
    assert!(
        emu.webhook_policies()
            .iter()
            .any(|p| p.project_id == project_id)
    );

    let emu = start(Profile::Harbor27).await;
    emu.create_project("p", false);
    let api = Api::new(&emu);
    let chart_policy = policy("c", &["UPLOAD_CHART", "DELETE_CHART"], "http://x");
    assert_eq!(create_policy(&api, "p", chart_policy).await.status, 201);
    let events = api.call(Admin, Method::GET, events_path).await.body;
    assert!(events.get("payload_formats").is_none());
}

async fn emulator_with_policy(
    profile: Profile,
    events: &[&str],
    url: &str,
    format: Option<&str>,
) -> Emulator {
    let emu = start_with(EmulatorConfig {
        profile,
        webhook_retry_interval: Duration::from_millis(10),
        ..EmulatorConfig::default()
    })
    .await;
    emu.create_project("proj", false);
    let mut body = policy("sync", events, url);
    if let Some(format) = format {
        body["targets"][0]["payload_format"] = json!(format);
    }
    let reply = create_policy(&Api::new(&emu), "proj", body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    emu
}

/// A receiver answering with `script`, and an emulator with a policy sending
/// `events` of project "proj" to it.
async fn hooked(
    profile: Profile,
    events: &[&str],
    format: Option<&str>,
    script: Vec<u16>,
) -> (Receiver, Emulator) {
    let receiver = Receiver::start(script).await;
    let emu = emulator_with_policy(profile, events, &receiver.url, format).await;
    (receiver, emu)
}

#[tokio::test]
async fn push_and_delete_events_are_delivered_with_default_payload() {
    let events = ["PUSH_ARTIFACT", "DELETE_ARTIFACT"];
    let (receiver, emu) = hooked(Profile::Harbor28, &events, None, vec![]).await;
    let digest = emu.push_image("proj", "team/app", "1.2.3");
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1);
    let push = &got[0];
    assert_eq!(push.authorization.as_deref(), Some("Bearer s3cret"));
    assert_eq!(push.content_type.as_deref(), Some("application/json"));
    assert_eq!(push.body["type"], "PUSH_ARTIFACT");
    assert_eq!(push.body["operator"], "admin");
    let host = emu.base_url().trim_start_matches("http://").to_owned();
    assert_eq!(
        push.body["event_data"]["resources"],
        json!([{"digest": digest, "tag": "1.2.3", "resource_url": format!("{host}/proj/team/app:1.2.3")}])
    );
    let repository = &push.body["event_data"]["repository"];
    assert_eq!(repository["name"], "team/app");
    assert_eq!(repository["namespace"], "proj");
    assert_eq!(repository["repo_full_name"], "proj/team/app");
    assert_eq!(repository["repo_type"], "private");
    assert!(repository["date_created"].is_i64());

    // Tag deletes send nothing; a repository delete sends one DELETE_ARTIFACT per artifact.
    emu.push_image("proj", "team/app", "2.0");
    receiver.wait_for(2).await;
    let api = Api::new(&emu);
    let repo = "/api/v2.0/projects/proj/repositories/team%252Fapp";
    let tag = format!("{repo}/artifacts/{digest}/tags/1.2.3");
    assert_eq!(api.status(Admin, Method::DELETE, &tag).await, 200);
    assert_eq!(api.status(Admin, Method::DELETE, repo).await, 200);
    let got = receiver.wait_for(4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got_now = receiver.received();
    assert_eq!(got_now.len(), 4, "{got:?}");
    let deletes: Vec<_> = got_now
        .iter()
        .filter(|r| r.body["type"] == "DELETE_ARTIFACT")
        .collect();
    assert_eq!(deletes.len(), 2);
    assert!(deletes.iter().all(|d| {
        d.body["event_data"]["repository"]
            .get("date_created")
            .is_none()
    }));
    // The untagged artifact is reported by digest.
    assert!(deletes.iter().any(|d| {
        d.body["event_data"]["resources"][0]["tag"] == digest.as_str()
            && d.body["event_data"]["resources"][0]["resource_url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("@{digest}"))
    }));
}

#[tokio::test]
async fn disabled_and_unsubscribed_policies_stay_silent() {
    let (receiver, emu) = hooked(Profile::Harbor28, &["DELETE_ARTIFACT"], None, vec![]).await;
    let api = Api::new(&emu);
    let mut disabled = policy("off", &["PUSH_ARTIFACT"], &receiver.url);
    disabled["enabled"] = json!(false);
    assert_eq!(create_policy(&api, "proj", disabled).await.status, 201);
    emu.push_image("proj", "app", "v1");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(receiver.received().is_empty());
    assert!(emu.delete_artifact("proj", "app", "v1"));
    assert_eq!(
        receiver.wait_for(1).await[0].body["type"],
        "DELETE_ARTIFACT"
    );
}

#[tokio::test]
async fn cloud_events_on_28() {
    let events = ["DELETE_ARTIFACT"];
    let (receiver, emu) = hooked(Profile::Harbor28, &events, Some("CloudEvents"), vec![]).await;
    emu.push_image("proj", "app", "v1");
    let api = Api::new(&emu);
    let reply = api
        .admin(
            Method::DELETE,
            "/api/v2.0/projects/proj/repositories/app/artifacts/v1",
        )
        .header("x-request-id", "req-42")
        .reply()
        .await;
    assert_eq!(reply.status, 200);
    let got = receiver.wait_for(1).await;
    let event = &got[0];
    assert_eq!(
        event.content_type.as_deref(),
        Some("application/cloudevents+json")
    );
    assert_eq!(event.body["specversion"], "1.0");
    assert_eq!(event.body["type"], "harbor.artifact.deleted");
    assert_eq!(event.body["requestid"], "req-42");
    let policy_id = emu.project("proj").unwrap().webhook_policies[0].id;
    let project_id = emu.project("proj").unwrap().id;
    assert_eq!(
        event.body["source"],
        format!("/projects/{project_id}/webhook/policies/{policy_id}")
    );
    assert_eq!(event.body["data"]["resources"][0]["tag"], "v1");
    assert_eq!(
        emu.deliveries()[0].payload_format,
        PayloadFormat::CloudEvents
    );
}

#[tokio::test]
async fn chart_events_on_27() {
    let events = ["UPLOAD_CHART", "DELETE_CHART"];
    let (receiver, emu) = hooked(Profile::Harbor27, &events, Some("CloudEvents"), vec![]).await;
    emu.upload_chart("proj", "nginx", "1.0.0").unwrap();
    emu.upload_chart("proj", "nginx", "1.1.0").unwrap();
    receiver.wait_for(2).await;
    let api = Api::new(&emu);
    let chart = "/api/chartrepo/proj/charts/nginx";
    assert_eq!(api.status(Admin, Method::DELETE, chart).await, 200);
    let got = receiver.wait_for(3).await;
    let upload = got
        .iter()
        .find(|r| r.body["type"] == "UPLOAD_CHART")
        .unwrap();
    assert_eq!(
        upload.content_type.as_deref(),
        Some("application/json"),
        "no CloudEvents on 2.7"
    );
    let resource = &upload.body["event_data"]["resources"][0];
    assert!(resource.get("digest").is_none());
    assert!(
        resource["resource_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/chartrepo/proj/charts/nginx-", emu.base_url()))
    );
    let delete = got
        .iter()
        .find(|r| r.body["type"] == "DELETE_CHART")
        .unwrap();
    assert_eq!(
        pluck(&delete.body["event_data"]["resources"], "tag"),
        ["1.0.0", "1.1.0"],
        "one DELETE_CHART listing every version"
    );
    assert_eq!(
        delete.body["event_data"]["repository"]["repo_full_name"],
        "proj/nginx"
    );
}

#[tokio::test]
async fn deliveries_are_retried_until_2xx_or_the_attempt_limit() {
    let push = ["PUSH_ARTIFACT"];
    let (receiver, emu) = hooked(Profile::Harbor28, &push, None, vec![500, 503]).await;
    emu.push_image("proj", "app", "v1");
    let got = receiver.wait_for(3).await;
    assert_eq!(got.len(), 3);
    let statuses: Vec<_> = emu
        .wait_for_deliveries(3, Duration::from_secs(2))
        .await
        .iter()
        .map(|d| d.status)
        .collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(200)]);

    // 2.8 gives up after 3 attempts; 2.7 keeps going up to 10.
    for (profile, attempts) in [(Profile::Harbor28, 3), (Profile::Harbor27, 10)] {
        let (receiver, emu) = hooked(profile, &push, None, vec![500; 20]).await;
        emu.push_image("proj", "app", "v1");
        receiver.wait_for(attempts).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(receiver.received().len(), attempts, "{profile:?}");
        assert_eq!(emu.deliveries().last().unwrap().attempt as usize, attempts);
    }
}

#[tokio::test]
async fn unreachable_receivers_are_recorded_as_transport_errors() {
    let emu = emulator_with_policy(
        Profile::Harbor28,
        &["PUSH_ARTIFACT"],
        "http://127.0.0.1:9/hook",
        None,
    )
    .await;
    emu.push_image("proj", "app", "v1");
    let deliveries = emu.wait_for_deliveries(3, Duration::from_secs(5)).await;
    assert_eq!(deliveries.len(), 3);
    assert!(
        deliveries
            .iter()
            .all(|d| d.status.is_none() && d.error.is_some())
    );
}
