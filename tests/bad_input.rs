//! The bad-input corpus: every kind of invalid input the daemon can be handed, listed in two
//! tables (registry resources, webhook deliveries) and run through the real daemon: the
//! controllers against the API stand-in (which, like a cluster without the CRD schemas, lets
//! invalid objects through) and the Harbor emulator, and the webhook receiver over HTTP.
//!
//! Each bad input must get its documented condition or answer, must not change anything in
//! Harbor, and must leave the daemon serving: valid input given after it is still handled.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use harbor_bridge::resources::{Chart, ChartGroup, RegistryNamespace, Repository};
use harbor_emulator::{Method, Profile};
use k8s_openapi::api::core::v1::Namespace as KubeNamespace;
use kube::api::{Api, ApiResource, DynamicObject, ObjectMeta, PostParams};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Daemon, Harbor, Platform, WEBHOOK_SECRET, eventually, fast_options};

const WAIT: Duration = Duration::from_secs(30);
/// Long enough for every resource to be resynced at least twice (`fast_options`: 1.5 s).
const SETTLE: Duration = Duration::from_millis(3500);
/// `max_body_bytes` of the daemon that `support::Daemon` starts.
const MAX_BODY_BYTES: usize = 1 << 20;
const TENANT: &str = "acme";

// ---- Registry resources ----------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Kind {
    Namespace,
    Repository,
    ChartGroup,
    Chart,
}

impl Kind {
    fn api_resource(self) -> ApiResource {
        match self {
            Self::Namespace => ApiResource::erase::<RegistryNamespace>(&()),
            Self::Repository => ApiResource::erase::<Repository>(&()),
            Self::ChartGroup => ApiResource::erase::<ChartGroup>(&()),
            Self::Chart => ApiResource::erase::<Chart>(&()),
        }
    }
}

/// A registry resource as a user would write it, valid or not.
#[derive(Debug)]
struct Resource {
    kind: Kind,
    name: String,
    /// A `Repository`'s or `Chart`'s Kubernetes namespace: its parent's `metadata.name`.
    namespace: Option<String>,
    spec: Value,
}

impl Resource {
    fn owner(kind: Kind, name: &str, tenant: &str, spec_name: &str) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            namespace: None,
            spec: json!({"name": spec_name, "tenantID": tenant, "visibility": "Private"}),
        }
    }

    fn child(kind: Kind, name: &str, parent: &Resource, spec_name: &str) -> Self {
        let parent_field = match kind {
            Kind::Chart => "chartGroupName",
            _ => "namespaceName",
        };
        Self {
            kind,
            name: name.to_owned(),
            namespace: Some(parent.name.clone()),
            spec: json!({"name": spec_name, "tenantID": parent.spec["tenantID"],
                parent_field: parent.spec["name"]}),
        }
    }

    fn api(&self, client: &kube::Client) -> Api<DynamicObject> {
        let resource = self.kind.api_resource();
        match &self.namespace {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
            None => Api::all_with(client.clone(), &resource),
        }
    }

    fn object(&self) -> DynamicObject {
        let mut object = DynamicObject::new(&self.name, &self.kind.api_resource())
            .data(json!({"spec": self.spec}));
        object.metadata.namespace.clone_from(&self.namespace);
        object
    }
}

/// A registry `Namespace` (project `<tenant>-image-<name>`).
fn namespace(object: &str, tenant: &str, name: &str) -> Resource {
    Resource::owner(Kind::Namespace, object, tenant, name)
}

/// A `ChartGroup` (project `<tenant>-chart-<name>`).
fn chart_group(object: &str, tenant: &str, name: &str) -> Resource {
    Resource::owner(Kind::ChartGroup, object, tenant, name)
}

/// A `Repository` under `parent`, a [`namespace`].
fn repository(object: &str, parent: &Resource, path: &str) -> Resource {
    Resource::child(Kind::Repository, object, parent, path)
}

/// A `Chart` under `parent`, a [`chart_group`].
fn chart(object: &str, parent: &Resource, name: &str) -> Resource {
    Resource::child(Kind::Chart, object, parent, name)
}

/// The parent of the `Repository` cases, and the first holder of the duplicated image project.
fn team() -> Resource {
    namespace("rns-team", TENANT, "team")
}

/// The parent of the `Chart` cases, and the first holder of the duplicated chart project.
fn charts() -> Resource {
    chart_group("rcg-charts", TENANT, "charts")
}

/// A bad resource and the `Ready=False` condition it must get.
struct Refused {
    what: &'static str,
    resource: Resource,
    reason: &'static str,
    /// A part of the condition's message: what is wrong, or who holds the project.
    message: &'static str,
}

fn refused_cases() -> Vec<Refused> {
    let case = |what, resource, reason, message| Refused {
        what,
        resource,
        reason,
        message,
    };
    let (team, charts) = (team(), charts());
    let missing_namespace = namespace("rns-nowhere", TENANT, "nowhere");
    let missing_group = chart_group("rcg-nowhere", TENANT, "nowhere");
    let other_namespace = namespace("rns-team", TENANT, "other");
    let long = "a".repeat(256);
    vec![
        case(
            "uppercase name",
            namespace("rns-upper", TENANT, "Team"),
            "InvalidName",
            "invalid character 'T' at position 1",
        ),
        case(
            "uppercase tenant",
            namespace("rns-upper-tenant", "Acme", "team"),
            "InvalidName",
            "the tenant ID \"Acme\"",
        ),
        case(
            "256-character name",
            namespace("rns-long", TENANT, &long),
            "NameTooLong",
            "would be 267 characters long, but Harbor allows at most 255",
        ),
        case(
            "leading '-'",
            namespace("rns-leading-dash", TENANT, "-team"),
            "InvalidName",
            "'-' at position 1, where a lowercase letter or digit must start it",
        ),
        case(
            "trailing '.'",
            namespace("rns-trailing-dot", TENANT, "team."),
            "InvalidName",
            "'.' at position 5, where a lowercase letter or digit must end it",
        ),
        case(
            "a--b",
            namespace("rns-double-dash", TENANT, "a--b"),
            "InvalidName",
            "the separators \"--\" at position 2",
        ),
        case(
            "unicode",
            namespace("rns-unicode", TENANT, "tëam"),
            "InvalidName",
            "invalid character 'ë' at position 2",
        ),
        case(
            "empty tenant",
            namespace("rns-no-tenant", "", "orphan"),
            "TenantMissing",
            "set spec.tenantID",
        ),
        case(
            "empty name",
            namespace("rns-no-name", TENANT, ""),
            "InvalidName",
            "the name is empty",
        ),
        case(
            "duplicate mapping (Namespace)",
            namespace("rns-team-again", TENANT, "team"),
            "ProjectConflict",
            "acme-image-team is already bound to Namespace rns-team",
        ),
        case(
            "a..b (ChartGroup)",
            chart_group("rcg-double-dot", TENANT, "a..b"),
            "InvalidName",
            "the separators \"..\" at position 2",
        ),
        case(
            "empty tenant (ChartGroup)",
            chart_group("rcg-no-tenant", "", "orphan"),
            "TenantMissing",
            "set spec.tenantID",
        ),
        case(
            "duplicate mapping (ChartGroup)",
            chart_group("rcg-charts-again", TENANT, "charts"),
            "ProjectConflict",
            "acme-chart-charts is already bound to ChartGroup rcg-charts",
        ),
        case(
            "missing parent (Repository)",
            repository("app", &missing_namespace, "app"),
            "ParentMissing",
            "no Namespace named rns-nowhere",
        ),
        case(
            "wrong parent name (Repository)",
            repository("mismatch", &other_namespace, "app"),
            "ParentMismatch",
            "declares \"other\"",
        ),
        case(
            "uppercase repository",
            repository("upper", &team, "Team/App"),
            "InvalidName",
            "invalid character 'T' at position 1",
        ),
        case(
            "empty path component",
            repository("double-slash", &team, "team//app"),
            "InvalidName",
            "empty path component at position 6",
        ),
        case(
            "leading '/'",
            repository("leading-slash", &team, "/app"),
            "InvalidName",
            "empty path component at position 1",
        ),
        case(
            "256-character repository",
            repository("long", &team, &long),
            "NameTooLong",
            "at most 255",
        ),
        case(
            "unicode repository",
            repository("unicode", &team, "äpp"),
            "InvalidName",
            "invalid character 'ä' at position 1",
        ),
        case(
            "missing parent (Chart)",
            chart("nginx", &missing_group, "nginx"),
            "ParentMissing",
            "no ChartGroup named rcg-nowhere",
        ),
        case(
            "leading '-' (Chart)",
            chart("leading-dash", &charts, "-nginx"),
            "InvalidName",
            "'-' at position 1",
        ),
    ]
}

/// Valid but unusual input, created after the bad ones: it must still be handled.
struct Accepted {
    what: &'static str,
    resource: Resource,
    reason: &'static str,
    /// The Harbor project it creates and is bound to, if it owns one.
    project: Option<String>,
}

fn accepted_cases() -> Vec<Accepted> {
    let owner = |what, resource, project: &str| Accepted {
        what,
        resource,
        reason: "Synced",
        project: Some(project.to_owned()),
    };
    let child = |what, resource| Accepted {
        what,
        resource,
        reason: "NotPushed",
        project: None,
    };
    let longest = "a".repeat(255 - "acme-image-".len());
    vec![
        owner(
            "all-digit name",
            namespace("rns-digits", TENANT, "12345"),
            "acme-image-12345",
        ),
        owner(
            "all-digit tenant",
            namespace("rns-digit-tenant", "42", "team"),
            "42-image-team",
        ),
        owner(
            "255-character project name",
            namespace("rns-longest", TENANT, &longest),
            &format!("acme-image-{longest}"),
        ),
        child(
            "all-digit repository",
            repository("digits", &team(), "2024/01"),
        ),
        child("chart", chart("nginx", &charts(), "nginx")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_resources_get_their_condition_and_leave_harbor_alone() {
    let scene = Scene::start().await;
    for parent in [team(), charts()] {
        scene.create(&parent).await;
        scene.wait_ready(&parent, "True", "Synced").await;
    }
    scene.harbor.emulator.clear_calls();
    let projects_before = scene.project_names();

    let cases = refused_cases();
    for case in &cases {
        scene.create(&case.resource).await;
    }
    for case in &cases {
        let message = scene.wait_ready(&case.resource, "False", case.reason).await;
        assert!(
            message.contains(case.message),
            "{}: message {message:?} lacks {:?}",
            case.what,
            case.message
        );
    }
    tokio::time::sleep(SETTLE).await;
    scene.assert_harbor_untouched(&projects_before);
    // The first holders keep their projects.
    for (parent, project) in [(team(), "acme-image-team"), (charts(), "acme-chart-charts")] {
        scene.wait_ready(&parent, "True", "Synced").await;
        assert_eq!(scene.bound_project(&parent).await, project);
    }

    // The daemon keeps serving: valid input next to the bad is handled.
    let accepted = accepted_cases();
    for case in &accepted {
        scene.create(&case.resource).await;
    }
    let mut expected_projects = projects_before;
    for case in accepted {
        scene.wait_ready(&case.resource, "True", case.reason).await;
        if let Some(project) = case.project {
            let bound = scene.bound_project(&case.resource).await;
            assert_eq!(bound, project, "{}", case.what);
            expected_projects.insert(project);
        }
    }
    assert_eq!(scene.project_names(), expected_projects);
    scene.assert_healthy().await;
    scene.daemon.stop().await;
}

// ---- Webhook deliveries ----------------------------------------------------------------------

/// A delivery and the answer it must get.
struct Delivery {
    what: &'static str,
    authorization: Option<String>,
    content_type: &'static str,
    body: Vec<u8>,
    status: StatusCode,
    /// The start of the answer's text.
    answer: &'static str,
    /// How the daemon counts it (`harbor_bridge_webhook_deliveries_total{result}`).
    result: &'static str,
}

/// A push of `acme-image-team/<repository>:v1`, as Harbor sends it.
fn push(repository: &str) -> Value {
    json!({"type": "PUSH_ARTIFACT", "occur_at": 1_678_082_303, "operator": "admin",
        "event_data": {
            "resources": [{"digest": "sha256:0123abcd", "tag": "v1"}],
            "repository": {"name": repository, "namespace": "acme-image-team",
                "repo_full_name": format!("acme-image-team/{repository}"), "repo_type": "private"}}})
}

/// A delivery with the right secret, as `application/json`.
fn delivery(
    what: &'static str,
    body: Vec<u8>,
    status: StatusCode,
    answer: &'static str,
    result: &'static str,
) -> Delivery {
    Delivery {
        what,
        authorization: Some(WEBHOOK_SECRET.to_owned()),
        content_type: "application/json",
        body,
        status,
        answer,
        result,
    }
}

fn bad_deliveries() -> Vec<Delivery> {
    let valid = push("app").to_string();
    let oversized = format!("{valid}{}", " ".repeat(MAX_BODY_BYTES)).into_bytes();
    let edited = |edit: fn(&mut Value)| {
        let mut payload = push("app");
        edit(&mut payload);
        payload.to_string().into_bytes()
    };
    let unauthorized = |what, authorization: Option<String>, body: Vec<u8>| Delivery {
        authorization,
        ..delivery(
            what,
            body,
            StatusCode::UNAUTHORIZED,
            "unauthorized\n",
            "unauthorized",
        )
    };
    let invalid = |what, body: &[u8], answer| {
        delivery(
            what,
            body.to_vec(),
            StatusCode::BAD_REQUEST,
            answer,
            "invalid",
        )
    };
    let not_an_object = "invalid payload: payload must be a JSON object\n";
    let unsupported = |what, content_type| Delivery {
        content_type,
        ..delivery(
            what,
            valid.clone().into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid payload: unsupported content type",
            "unsupported",
        )
    };
    vec![
        unauthorized("no Authorization header", None, valid.clone().into()),
        unauthorized(
            "wrong secret",
            Some("Bearer wrong".into()),
            valid.clone().into(),
        ),
        unauthorized(
            "secret without its scheme",
            WEBHOOK_SECRET.strip_prefix("Bearer ").map(str::to_owned),
            valid.clone().into(),
        ),
        unauthorized(
            "secret with a suffix",
            Some(format!("{WEBHOOK_SECRET}x")),
            valid.clone().into(),
        ),
        unauthorized(
            "unauthenticated and oversized: the secret is checked first",
            None,
            oversized.clone(),
        ),
        invalid("empty body", b"", "invalid payload: empty body\n"),
        invalid("blank body", b" \r\n\t", "invalid payload: empty body\n"),
        delivery(
            "over max_body_bytes",
            oversized,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload larger than 1048576 bytes\n",
            "too_large",
        ),
        invalid(
            "truncated JSON",
            &valid.as_bytes()[..valid.len() / 2],
            "invalid payload: body is not valid JSON: EOF while parsing",
        ),
        invalid(
            "not UTF-8",
            b"\xff\xfe{\x00}",
            "invalid payload: body is not valid JSON",
        ),
        invalid("an array", b"[]", not_an_object),
        invalid("a number", b"42", not_an_object),
        invalid("a string", b"\"PUSH_ARTIFACT\"", not_an_object),
        invalid("null", b"null", not_an_object),
        invalid(
            "an object without any field",
            b"{}",
            "invalid payload: missing type\n",
        ),
        invalid(
            "no event_data",
            br#"{"type":"PUSH_ARTIFACT"}"#,
            "invalid payload: missing event_data\n",
        ),
        invalid(
            "no resources",
            &edited(|p| p["event_data"]["resources"] = Value::Null),
            "invalid payload: missing event_data.resources\n",
        ),
        invalid(
            "type is a number",
            &edited(|p| p["type"] = json!(1)),
            "invalid payload: type must be a string\n",
        ),
        invalid(
            "project with '/'",
            &push_to("acme-image-team/../x", "app"),
            "invalid payload: invalid event_data.repository.namespace: must not contain '/'\n",
        ),
        invalid(
            "repository with '..'",
            &push("../../etc").to_string().into_bytes(),
            "invalid payload: invalid event_data.repository.name: must not contain '..'\n",
        ),
        unsupported("text/plain", "text/plain"),
        unsupported("XML", "application/xml"),
    ]
}

/// [`push`], but naming the project `project`.
fn push_to(project: &str, repository: &str) -> Vec<u8> {
    let mut payload = push(repository);
    payload["event_data"]["repository"]["namespace"] = json!(project);
    payload["event_data"]["repository"]["repo_full_name"] =
        json!(format!("{project}/{repository}"));
    payload.to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhooks_get_their_answer_and_leave_harbor_alone() {
    let scene = Scene::start().await;
    let team = team();
    scene.create(&team).await;
    scene.wait_ready(&team, "True", "Synced").await;
    scene.harbor.emulator.clear_calls();
    let projects_before = scene.project_names();

    let deliveries = bad_deliveries();
    let mut expected_counts = BTreeMap::<&str, usize>::new();
    for delivery in &deliveries {
        let (status, answer) = scene.deliver(delivery).await;
        assert_eq!(status, delivery.status, "{}: {answer}", delivery.what);
        assert!(
            answer.starts_with(delivery.answer),
            "{}: answer {answer:?} does not start with {:?}",
            delivery.what,
            delivery.answer
        );
        assert!(
            !answer.contains("test-webhook-secret"),
            "{}: the answer quotes the secret",
            delivery.what
        );
        *expected_counts.entry(delivery.result).or_default() += 1;
    }
    let counted = scene.daemon.metrics.encode().unwrap();
    for (result, count) in expected_counts {
        let line = format!("harbor_bridge_webhook_deliveries_total{{result=\"{result}\"}} {count}");
        assert!(
            counted.lines().any(|l| l == line),
            "{line} not in\n{counted}"
        );
    }
    tokio::time::sleep(SETTLE).await;
    scene.assert_harbor_untouched(&projects_before);
    let repositories: Api<Repository> = Api::namespaced(scene.platform.client.clone(), "rns-team");
    let listed = repositories.list(&Default::default()).await.unwrap();
    assert!(listed.items.is_empty(), "{:?}", listed.items);

    // The daemon keeps serving: a valid delivery is accepted and acted on.
    scene
        .harbor
        .emulator
        .push_image("acme-image-team", "app", "v1");
    let valid = delivery(
        "valid push",
        push("app").to_string().into_bytes(),
        StatusCode::OK,
        "queued\n",
        "queued",
    );
    assert_eq!(
        scene.deliver(&valid).await,
        (StatusCode::OK, valid.answer.to_owned())
    );
    eventually("the pushed repository", WAIT, || async {
        let listed = repositories
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?;
        match listed.items.as_slice() {
            [repository] if repository.spec.name == "app" => Ok(()),
            other => Err(format!("{} Repositories", other.len())),
        }
    })
    .await;
    scene.assert_healthy().await;
    scene.daemon.stop().await;
}

// ---- The scene -------------------------------------------------------------------------------

/// Harbor 2.8, the platform, and the daemon (no webhook policies: the tests post themselves).
struct Scene {
    harbor: Harbor,
    platform: Platform,
    daemon: Daemon,
    http: reqwest::Client,
}

impl Scene {
    async fn start() -> Self {
        let harbor = Harbor::start(Profile::Harbor28).await;
        let platform = Platform::start().await;
        let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(WAIT)
            .build()
            .unwrap();
        Self {
            harbor,
            platform,
            daemon,
            http,
        }
    }

    async fn create(&self, resource: &Resource) {
        if let Some(namespace) = &resource.namespace {
            self.ensure_kube_namespace(namespace).await;
        }
        resource
            .api(&self.platform.client)
            .create(&PostParams::default(), &resource.object())
            .await
            .unwrap_or_else(|e| panic!("creating {resource:?}: {e}"));
    }

    /// Creates the Kubernetes namespace unless it exists (the daemon makes those of the
    /// registry Namespaces it syncs; a missing parent's is made by hand, as a user might).
    async fn ensure_kube_namespace(&self, name: &str) {
        let namespaces: Api<KubeNamespace> = Api::all(self.platform.client.clone());
        let namespace = KubeNamespace {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            ..KubeNamespace::default()
        };
        match namespaces.create(&PostParams::default(), &namespace).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => panic!("creating the Kubernetes namespace {name}: {e}"),
        }
    }

    /// Waits until the resource's `Ready` condition has `status` and `reason`; returns its message.
    async fn wait_ready(&self, resource: &Resource, status: &str, reason: &str) -> String {
        let api = resource.api(&self.platform.client);
        let what = format!(
            "{:?} {} Ready={status} ({reason})",
            resource.kind, resource.name
        );
        eventually(&what, WAIT, || async {
            let object = api.get(&resource.name).await.map_err(|e| e.to_string())?;
            let ready = object.data["status"]["conditions"]
                .as_array()
                .and_then(|conditions| conditions.iter().find(|c| c["type"] == "Ready"))
                .cloned()
                .unwrap_or_default();
            if ready["status"] == status && ready["reason"] == reason {
                Ok(ready["message"].as_str().unwrap_or_default().to_owned())
            } else {
                Err(format!("Ready condition {ready}"))
            }
        })
        .await
    }

    /// The Harbor project in the resource's status.
    async fn bound_project(&self, resource: &Resource) -> String {
        let object = resource
            .api(&self.platform.client)
            .get(&resource.name)
            .await
            .unwrap();
        object.data["status"]["harborProject"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn project_names(&self) -> BTreeSet<String> {
        self.harbor.emulator.project_names().into_iter().collect()
    }

    /// No write reached Harbor since the call log was cleared, and its projects are `before`.
    fn assert_harbor_untouched(&self, before: &BTreeSet<String>) {
        let writes: Vec<String> = self
            .harbor
            .emulator
            .calls()
            .into_iter()
            .filter(|c| c.method != Method::GET && c.method != Method::HEAD)
            .map(|c| format!("{} {}", c.method, c.raw_path))
            .collect();
        assert_eq!(writes, Vec::<String>::new(), "bad input wrote to Harbor");
        assert_eq!(&self.project_names(), before);
    }

    /// POSTs the delivery to the daemon's webhook receiver; returns the status and text.
    async fn deliver(&self, delivery: &Delivery) -> (StatusCode, String) {
        let mut request = self
            .http
            .post(&self.daemon.webhook_url)
            .header(reqwest::header::CONTENT_TYPE, delivery.content_type)
            .body(delivery.body.clone());
        if let Some(authorization) = &delivery.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, authorization);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", delivery.what));
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    async fn assert_healthy(&self) {
        let url = format!("{}/healthz", self.daemon.base_url);
        let response = self.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "/healthz");
    }
}
