//! Webhook payloads (Default and CloudEvents) and their asynchronous delivery with retries,
//! the way Harbor's jobservice sends them: POST, `Authorization: <auth_header>` verbatim, a
//! non-2xx answer or a transport error counts as a failed attempt, no ordering guarantee.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::header;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::lock;
use crate::state::{Event, WebhookPolicy, WebhookTarget};

/// Payload format of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    Default,
    CloudEvents,
}

impl PayloadFormat {
    fn of(target: &WebhookTarget) -> Self {
        match target.payload_format.as_deref() {
            Some("CloudEvents") => Self::CloudEvents,
            _ => Self::Default,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Default => "application/json",
            Self::CloudEvents => "application/cloudevents+json",
        }
    }
}

/// One POST attempt to a webhook receiver.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub policy_id: i64,
    pub url: String,
    pub event_type: String,
    pub payload_format: PayloadFormat,
    /// The `Authorization` header sent (the target's `auth_header`), if any.
    pub authorization: Option<String>,
    pub body: Value,
    /// 1 for the first try.
    pub attempt: u32,
    /// The receiver's status; `None` on a transport error or timeout.
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// How deliveries are sent.
#[derive(Debug, Clone)]
pub(crate) struct DeliverySettings {
    pub max_attempts: u32,
    pub retry_interval: Duration,
    /// `<host:port>` of the emulator, Harbor's ext_endpoint without scheme.
    pub ext_host: String,
    /// Harbor's ext_endpoint with scheme.
    pub ext_url: String,
}

/// Sends events to subscribed policies on the emulator's runtime.
pub(crate) struct WebhookSender {
    client: reqwest::Client,
    settings: Arc<DeliverySettings>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    runtime: tokio::runtime::Handle,
}

impl WebhookSender {
    pub(crate) fn new(
        client: reqwest::Client,
        settings: DeliverySettings,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            client,
            settings: Arc::new(settings),
            deliveries: Arc::default(),
            runtime,
        }
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.deliveries).clone()
    }

    /// Spawns one delivery task per http target of each policy.
    pub(crate) fn send(&self, event: &Event, policies: &[WebhookPolicy], request_id: &str) {
        for policy in policies {
            for target in policy.targets.iter().filter(|t| t.kind == "http") {
                let format = PayloadFormat::of(target);
                let body = match format {
                    PayloadFormat::CloudEvents => {
                        cloud_event(event, policy, request_id, &self.settings)
                    }
                    PayloadFormat::Default => None,
                }
                .unwrap_or_else(|| default_payload(event, &self.settings));
                let template = Delivery {
                    policy_id: policy.id,
                    url: target.address.clone(),
                    event_type: event.kind.as_str().to_owned(),
                    payload_format: format,
                    authorization: Some(target.auth_header.clone()).filter(|a| !a.is_empty()),
                    body,
                    attempt: 0,
                    status: None,
                    error: None,
                };
                let job = Job {
                    client: self.client.clone(),
                    settings: self.settings.clone(),
                    log: self.deliveries.clone(),
                };
                self.runtime.spawn(job.run(template));
            }
        }
    }
}

struct Job {
    client: reqwest::Client,
    settings: Arc<DeliverySettings>,
    log: Arc<Mutex<Vec<Delivery>>>,
}

impl Job {
    async fn run(self, template: Delivery) {
        let body = template.body.to_string();
        for attempt in 1..=self.settings.max_attempts {
            let mut request = self
                .client
                .post(&template.url)
                .header(header::CONTENT_TYPE, template.payload_format.content_type())
                .body(body.clone());
            if let Some(auth) = &template.authorization {
                request = request.header(header::AUTHORIZATION, auth);
            }
            let (status, error) = match request.send().await {
                Ok(response) => (Some(response.status().as_u16()), None),
                Err(error) => (None, Some(error.to_string())),
            };
            let delivered = status.is_some_and(|s| (200..300).contains(&s));
            lock(&self.log).push(Delivery {
                attempt,
                status,
                error,
                ..template.clone()
            });
            if delivered {
                return;
            }
            tokio::time::sleep(self.settings.retry_interval).await;
        }
    }
}

fn unix(ts: Timestamp) -> i64 {
    ts.as_second()
}

fn resources(event: &Event, settings: &DeliverySettings) -> Vec<Value> {
    let full_name = format!("{}/{}", event.namespace, event.repo_name);
    event
        .resources
        .iter()
        .map(|resource| match &resource.digest {
            // Chart resources: version as tag, the .tgz URL with scheme, no digest.
            None => json!({
                "tag": resource.tag,
                "resource_url": format!(
                    "{}/chartrepo/{}/charts/{}-{}.tgz",
                    settings.ext_url, event.namespace, event.repo_name, resource.tag
                ),
            }),
            Some(digest) => {
                let reference = if resource.tag == *digest {
                    format!("@{digest}")
                } else {
                    format!(":{}", resource.tag)
                };
                json!({
                    "digest": digest,
                    "tag": resource.tag,
                    "resource_url": format!("{}/{full_name}{reference}", settings.ext_host),
                })
            }
        })
        .collect()
}

fn repository(event: &Event) -> Value {
    let mut repository = json!({
        "name": event.repo_name,
        "namespace": event.namespace,
        "repo_full_name": format!("{}/{}", event.namespace, event.repo_name),
        "repo_type": if event.public { "public" } else { "private" },
    });
    if let (Some(created), Some(object)) = (event.repo_created, repository.as_object_mut()) {
        object.insert("date_created".to_owned(), json!(unix(created)));
    }
    repository
}

/// `HEAD:src/pkg/notifier/model/event.go` shape.
pub(crate) fn default_payload(event: &Event, settings: &DeliverySettings) -> Value {
    json!({
        "type": event.kind.as_str(),
        "occur_at": unix(event.occur_at),
        "operator": event.operator,
        "event_data": {
            "resources": resources(event, settings),
            "repository": repository(event),
        },
    })
}

/// `HEAD:src/pkg/notifier/formats/cloudevents.go` shape; `None` for events it cannot carry.
pub(crate) fn cloud_event(
    event: &Event,
    policy: &WebhookPolicy,
    request_id: &str,
    settings: &DeliverySettings,
) -> Option<Value> {
    Some(json!({
        "specversion": "1.0",
        "id": uuid_v4(),
        "requestid": request_id,
        "source": format!("/projects/{}/webhook/policies/{}", event.project_id, policy.id),
        "type": event.kind.cloud_event_type()?,
        "datacontenttype": "application/json",
        "time": event.occur_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "data": {
            "resources": resources(event, settings),
            "repository": repository(event),
        },
        "operator": event.operator,
    }))
}

fn uuid_v4() -> String {
    let mut bytes = [0u8; 16];
    bytes.iter_mut().for_each(|b| *b = fastrand::u8(..));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{EventResource, EventType};

    fn settings() -> DeliverySettings {
        DeliverySettings {
            max_attempts: 3,
            retry_interval: Duration::from_millis(1),
            ext_host: "127.0.0.1:8080".into(),
            ext_url: "http://127.0.0.1:8080".into(),
        }
    }

    fn event(kind: EventType, digest: Option<&str>, tag: &str) -> Event {
        Event {
            kind,
            project_id: 3,
            namespace: "proj".into(),
            repo_name: "team/app".into(),
            repo_created: Some(Timestamp::from_second(1_677_053_165).unwrap()),
            public: false,
            operator: "admin".into(),
            occur_at: Timestamp::from_second(1_678_082_303).unwrap(),
            resources: vec![EventResource {
                digest: digest.map(str::to_owned),
                tag: tag.into(),
            }],
        }
    }

    #[test]
    fn default_artifact_payload() {
        let body = default_payload(
            &event(EventType::PushArtifact, Some("sha256:ab"), "1.2.3"),
            &settings(),
        );
        assert_eq!(
            body,
            json!({"type":"PUSH_ARTIFACT","occur_at":1_678_082_303,"operator":"admin",
                "event_data":{"resources":[{"digest":"sha256:ab","tag":"1.2.3",
                    "resource_url":"127.0.0.1:8080/proj/team/app:1.2.3"}],
                "repository":{"date_created":1_677_053_165,"name":"team/app","namespace":"proj",
                    "repo_full_name":"proj/team/app","repo_type":"private"}}})
        );
        let untagged = default_payload(
            &event(EventType::DeleteArtifact, Some("sha256:ab"), "sha256:ab"),
            &settings(),
        );
        assert_eq!(
            untagged["event_data"]["resources"][0]["resource_url"],
            "127.0.0.1:8080/proj/team/app@sha256:ab"
        );
    }

    #[test]
    fn chart_payload_has_tgz_url_and_no_digest() {
        let mut chart = event(EventType::UploadChart, None, "0.1.0");
        chart.repo_name = "nginx".into();
        chart.repo_created = None;
        let body = default_payload(&chart, &settings());
        assert_eq!(
            body["event_data"]["resources"][0],
            json!({"tag":"0.1.0","resource_url":"http://127.0.0.1:8080/chartrepo/proj/charts/nginx-0.1.0.tgz"})
        );
        assert!(
            body["event_data"]["repository"]
                .get("date_created")
                .is_none()
        );
    }

    #[test]
    fn cloud_event_shape() {
        let policy = WebhookPolicy {
            id: 7,
            project_id: 3,
            name: "p".into(),
            description: String::new(),
            enabled: true,
            event_types: vec![],
            targets: vec![],
            creator: "admin".into(),
            created: Timestamp::UNIX_EPOCH,
            updated: Timestamp::UNIX_EPOCH,
        };
        let e = event(EventType::DeleteArtifact, Some("sha256:ab"), "v1");
        let body = cloud_event(&e, &policy, "req-1", &settings()).unwrap();
        assert_eq!(body["type"], "harbor.artifact.deleted");
        assert_eq!(body["source"], "/projects/3/webhook/policies/7");
        assert_eq!(body["requestid"], "req-1");
        assert_eq!(body["time"], "2023-03-06T05:58:23Z");
        assert_eq!(body["id"].as_str().unwrap().len(), 36);
        let chart = event(EventType::UploadChart, None, "1");
        assert!(cloud_event(&chart, &policy, "r", &settings()).is_none());
    }
}
