//! The Harbor client over real HTTPS against the emulator: each test pins one behaviour of the
//! client and fails when that behaviour is removed.

mod support;

use std::time::Duration;

use harbor_bridge::harbor::{
    ChartBackend, Created, Deleted, ErrorKind, HarborClient, WebhookPolicy, WebhookTarget,
};
use harbor_emulator::{Method, Profile};
use secrecy::SecretString;
use support::{Harbor, PROFILES};

// ---- TLS -------------------------------------------------------------------------------------

#[tokio::test]
async fn trusts_harbor_through_the_configured_ca_bundle() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    harbor.client().ping().await.expect("ping over HTTPS");
}

#[tokio::test]
async fn refuses_harbor_without_its_ca_and_says_what_to_configure() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let mut options = harbor.options();
    options.tls.ca_file = None;
    let err = HarborClient::new(&options)
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Untrusted, "{err}");
    assert!(err.to_string().contains("harbor.caFile"), "{err}");
}

#[tokio::test]
async fn refuses_harbor_signed_by_another_ca() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let other = harbor_emulator::pki::TestCa::generate("some other CA").unwrap();
    let other_file = harbor.dir().join("other-ca.crt");
    std::fs::write(&other_file, other.cert_pem()).unwrap();
    let mut options = harbor.options();
    options.tls.ca_file = Some(other_file);
    let err = HarborClient::new(&options)
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Untrusted, "{err}");
    assert!(
        !err.is_retryable(),
        "an untrusted certificate is not retried"
    );
}

#[tokio::test]
async fn insecure_option_connects_and_warns() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let mut options = harbor.options();
    options.tls.ca_file = None;
    options.tls.insecure_skip_verify = true;
    let logs = support_logs::capture(|| HarborClient::new(&options).unwrap());
    assert!(
        logs.text
            .lines()
            .any(|line| line.contains("WARN") && line.contains("DISABLED")),
        "no warning logged: {}",
        logs.text
    );
    logs.value.ping().await.expect("insecure mode connects");
}

#[test]
fn unreadable_or_non_pem_ca_file_fails_at_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, b"\x00\x01 not pem").unwrap();
    for path in [dir.path().join("missing.pem"), garbage] {
        let options = support::options_for("https://127.0.0.1:1", Some(path.clone()));
        let err = HarborClient::new(&options).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
}

// ---- Auth and cookies ------------------------------------------------------------------------

#[tokio::test]
async fn credentials_check_fails_on_a_wrong_password_although_reads_succeed() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    harbor.emulator.create_project("open-project", true);
    let mut options = harbor.options();
    options.password = SecretString::from("wrong-password");
    let client = HarborClient::new(&options).unwrap();
    harbor.emulator.create_project("closed-project", false);
    // Harbor answers a wrong password as anonymous: public reads still work...
    let visible = client.list_projects().await.expect("anonymous list");
    let mut names: Vec<_> = visible.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["library", "open-project"]);
    // ...so only the dedicated check tells the truth.
    let err = client.verify_credentials().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized, "{err}");
    harbor
        .client()
        .verify_credentials()
        .await
        .expect("right password");
}

#[tokio::test]
async fn never_sends_cookies_so_writes_never_hit_csrf() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let client = harbor.client();
    for name in ["first", "second", "third"] {
        client.create_project(name, false).await.expect("create");
    }
    client.delete_project("first").await.expect("delete");
    let calls = harbor.emulator.calls();
    assert!(calls.len() >= 4);
    assert!(
        calls.iter().all(|c| !c.had_cookie),
        "a cookie was sent: {calls:?}"
    );
}

// ---- Retries ---------------------------------------------------------------------------------

#[tokio::test]
async fn retries_5xx_429_and_dropped_connections() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let client = harbor.client();
    for status in [500, 503, 429] {
        harbor.emulator.clear_calls();
        harbor.emulator.faults().fail_next(2, status);
        client
            .create_project(&format!("p{status}"), false)
            .await
            .expect("retried to success");
        let posts = harbor
            .emulator
            .calls()
            .iter()
            .filter(|c| c.method == Method::POST)
            .count();
        assert_eq!(posts, 3, "status {status}: two failures then success");
    }
    harbor.emulator.faults().drop_next(1);
    client
        .get_project("p500")
        .await
        .expect("retried after a dropped connection");
}

#[tokio::test]
async fn never_retries_other_4xx() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    harbor.emulator.create_project("taken", false);
    harbor.emulator.push_image("taken", "app", "v1");
    let client = harbor.client();
    harbor.emulator.clear_calls();
    let conflict = client.create_project("taken", false).await.unwrap_err();
    assert_eq!(conflict.kind, ErrorKind::Conflict);
    let precondition = client.delete_project("taken").await.unwrap_err();
    assert_eq!(precondition.kind, ErrorKind::Precondition);
    let invalid = client.create_project("Not_Valid", false).await.unwrap_err();
    assert_eq!(invalid.kind, ErrorKind::Invalid);
    assert_eq!(
        harbor.emulator.calls().len(),
        3,
        "each 4xx was tried exactly once"
    );
}

#[tokio::test]
async fn lost_create_reply_then_409_is_settled_by_reading_the_project() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    harbor
        .emulator
        .faults()
        .lose_reply_next(1, Method::POST, "/api/v2.0/projects");
    let created = harbor
        .client()
        .create_project("tenant-image-a", true)
        .await
        .unwrap();
    let id = harbor
        .emulator
        .project("tenant-image-a")
        .expect("created once")
        .id;
    assert_eq!(created, Created::SettledAfterLostReply { id });
}

#[tokio::test]
async fn retries_give_up_after_the_configured_number() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    harbor.emulator.faults().fail_next(10, 503);
    let err = harbor.client().get_project("x").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(err.status, Some(503));
    assert_eq!(
        harbor.emulator.calls().len(),
        5,
        "1 attempt + max_retries (4)"
    );
}

// ---- Paging and names ------------------------------------------------------------------------

#[tokio::test]
async fn lists_every_page_with_page_size_100() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    harbor.emulator.create_project("big", false);
    for i in 0..250 {
        harbor
            .emulator
            .push_image("big", &format!("team/app-{i:03}"), "v1");
    }
    harbor.emulator.clear_calls();
    let repos = harbor.client().list_repositories("big").await.unwrap();
    assert_eq!(repos.len(), 250);
    let calls = harbor.emulator.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| c.query.as_deref().unwrap_or("").contains("page_size=100")),
        "{calls:?}"
    );
}

#[tokio::test]
async fn all_digit_project_names_are_addressed_by_name() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    // Project "1" is not project id 1 (that is Harbor's default, public `library` project).
    assert_eq!(harbor.emulator.project("library").map(|p| p.id), Some(1));
    harbor.emulator.create_project("1", false);
    let client = harbor.client();
    let project = client
        .get_project("1")
        .await
        .unwrap()
        .expect("found by name");
    assert_eq!(project.name, "1");
    assert!(!project.is_public());
    assert_eq!(client.delete_project("1").await.unwrap(), Deleted::Deleted);
    assert!(harbor.emulator.project("1").is_none());
    assert!(
        harbor.emulator.project("library").is_some(),
        "library must survive"
    );
}

#[tokio::test]
async fn nested_repository_names_are_double_encoded() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    harbor.emulator.create_project("p", false);
    harbor.emulator.push_image("p", "team/app/api", "v1");
    let client = harbor.client();
    let artifacts = client.list_artifacts("p", "team/app/api").await.unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(
        client.delete_repository("p", "team/app/api").await.unwrap(),
        Deleted::Deleted
    );
    assert!(harbor.emulator.repositories("p").is_empty());
    assert!(
        harbor
            .emulator
            .calls()
            .iter()
            .any(|c| c.raw_path.ends_with("team%252Fapp%252Fapi")),
        "{:?}",
        harbor.emulator.calls()
    );
}

// ---- Errors and secrets ----------------------------------------------------------------------

#[tokio::test]
async fn errors_carry_the_operation_and_harbors_message() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    harbor.emulator.create_project("full", false);
    harbor.emulator.push_image("full", "app", "v1");
    let err = harbor.client().delete_project("full").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Precondition);
    assert_eq!(err.status, Some(412));
    assert!(err.operation.contains("delete project \"full\""), "{err}");
    assert!(
        err.message.contains("the project contains repositories"),
        "{err}"
    );
}

#[tokio::test]
async fn credentials_never_appear_in_errors_or_logs() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let secret = "sup3r-s3cret-pw";
    let mut options = harbor.options();
    options.password = SecretString::from(secret);
    let client = HarborClient::new(&options).unwrap();
    let encoded = base64_basic("admin", secret);
    let (logs, errors) = support_logs::capture_async(async {
        let mut errors = Vec::new();
        errors.push(client.verify_credentials().await.unwrap_err());
        errors.push(client.create_project("x", false).await.unwrap_err());
        harbor.emulator.faults().drop_next(10);
        errors.push(client.ping().await.unwrap_err());
        errors
    })
    .await;
    let mut texts = vec![logs, format!("{client:?}"), format!("{options:?}")];
    texts.extend(
        errors
            .iter()
            .flat_map(|e| [e.to_string(), format!("{e:?}")]),
    );
    for text in texts {
        assert!(!text.contains(secret), "password leaked: {text}");
        assert!(!text.contains(&encoded), "auth header leaked: {text}");
    }
}

fn base64_basic(user: &str, password: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

// ---- Operations ------------------------------------------------------------------------------

#[tokio::test]
async fn reports_version_and_chart_backend_per_profile() {
    for profile in PROFILES {
        let harbor = Harbor::start(profile).await;
        let info = harbor.client().system_info().await.unwrap();
        let version = info.harbor_version.clone().unwrap_or_default();
        let (prefix, backend) = match profile {
            Profile::Harbor27 => ("v2.7", ChartBackend::ChartMuseum),
            Profile::Harbor28 => ("v2.", ChartBackend::Oci),
        };
        assert!(version.starts_with(prefix), "{profile:?}: {version}");
        assert_eq!(info.chart_backend(), backend, "{profile:?}");
        harbor.client().ping().await.unwrap();
        assert_eq!(harbor.client().health().await.unwrap().status, "healthy");
    }
}

#[tokio::test]
async fn project_lifecycle() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let client = harbor.client();
    let created = client.create_project("t-image-a", false).await.unwrap();
    let Created::Created { id: Some(id) } = created else {
        panic!("unexpected {created:?}")
    };
    let project = client.get_project("t-image-a").await.unwrap().unwrap();
    assert_eq!((project.project_id, project.is_public()), (id, false));
    assert!(client.project_exists("t-image-a").await.unwrap());
    assert!(
        !client.project_exists("t-image").await.unwrap(),
        "exact, not fuzzy"
    );

    client.set_project_public("t-image-a", true).await.unwrap();
    assert!(harbor.emulator.project("t-image-a").unwrap().public);

    harbor.emulator.push_image("t-image-a", "app", "v1");
    assert!(
        !client
            .project_deletable("t-image-a")
            .await
            .unwrap()
            .deletable
    );
    client.delete_repository("t-image-a", "app").await.unwrap();
    assert!(
        client
            .project_deletable("t-image-a")
            .await
            .unwrap()
            .deletable
    );
    assert_eq!(
        client.delete_project("t-image-a").await.unwrap(),
        Deleted::Deleted
    );
    assert_eq!(
        client.delete_project("t-image-a").await.unwrap(),
        Deleted::AlreadyGone
    );
    assert!(client.get_project("t-image-a").await.unwrap().is_none());
    let names: Vec<_> = client
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["library"]);
}

#[tokio::test]
async fn artifacts_with_tags_digests_and_types() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    harbor.emulator.create_project("p", false);
    let digest = harbor.emulator.push_image("p", "app", "v1");
    harbor.emulator.push_oci_chart("p", "nginx", "1.2.3");
    let client = harbor.client();

    let artifacts = client.list_artifacts("p", "app").await.unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(artifacts[0].digest, digest);
    assert_eq!(artifacts[0].artifact_type, "IMAGE");
    assert_eq!(artifacts[0].tags()[0].name, "v1");
    assert!(artifacts[0].tags()[0].push_time.is_some());

    let charts = client.list_artifacts("p", "nginx").await.unwrap();
    assert!(charts[0].is_chart());
    assert_eq!(charts[0].tags()[0].name, "1.2.3");

    assert_eq!(
        client.delete_artifact("p", "app", "v1").await.unwrap(),
        Deleted::Deleted
    );
    assert!(client.list_artifacts("p", "app").await.unwrap().is_empty());
    let chart_digest = charts[0].digest.clone();
    assert_eq!(
        client
            .delete_artifact("p", "nginx", &chart_digest)
            .await
            .unwrap(),
        Deleted::Deleted
    );
    assert_eq!(
        client
            .delete_artifact("p", "nginx", &chart_digest)
            .await
            .unwrap(),
        Deleted::AlreadyGone
    );
}

#[tokio::test]
async fn chartmuseum_charts_on_harbor_2_7() {
    let harbor = Harbor::start(Profile::Harbor27).await;
    harbor.emulator.create_project("t-chart-apps", false);
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        harbor
            .emulator
            .upload_chart("t-chart-apps", "nginx", version)
            .unwrap();
    }
    harbor
        .emulator
        .upload_chart("t-chart-apps", "redis", "7.0.0")
        .unwrap();
    let client = harbor.client();

    let charts = client.list_charts("t-chart-apps").await.unwrap();
    assert_eq!(charts.len(), 2);
    let versions = client
        .list_chart_versions("t-chart-apps", "nginx")
        .await
        .unwrap();
    assert_eq!(versions.len(), 3);
    assert!(
        client
            .list_chart_versions("t-chart-apps", "absent")
            .await
            .unwrap()
            .is_empty()
    );

    client
        .delete_chart_version("t-chart-apps", "nginx", "1.0.0")
        .await
        .unwrap();
    assert_eq!(
        client
            .list_chart_versions("t-chart-apps", "nginx")
            .await
            .unwrap()
            .len(),
        2
    );

    harbor.emulator.clear_calls();
    assert_eq!(
        client.delete_chart("t-chart-apps", "nginx").await.unwrap(),
        Deleted::Deleted
    );
    assert_eq!(
        harbor.emulator.calls().len(),
        1,
        "one call for the whole chart"
    );
    assert_eq!(
        client.delete_chart("t-chart-apps", "nginx").await.unwrap(),
        Deleted::AlreadyGone
    );
}

#[tokio::test]
async fn chartmuseum_is_absent_on_harbor_2_8() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    harbor.emulator.create_project("t-chart-apps", false);
    let err = harbor
        .client()
        .list_charts("t-chart-apps")
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn webhook_policies() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    harbor.emulator.create_project("p", false);
    let client = harbor.client();
    let policy = WebhookPolicy {
        id: None,
        name: "harbor-bridge".into(),
        description: "managed by harbor-bridge".into(),
        enabled: true,
        event_types: vec!["PUSH_ARTIFACT".into(), "DELETE_ARTIFACT".into()],
        targets: vec![WebhookTarget {
            target_type: "http".into(),
            address: "https://bridge.example/harbor/events".into(),
            auth_header: Some("Bearer s".into()),
            skip_cert_verify: false,
            payload_format: Some("Default".into()),
        }],
    };
    client.create_webhook_policy("p", &policy).await.unwrap();
    let listed = client.list_webhook_policies("p").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].enabled);
    assert_eq!(listed[0].event_types.len(), 2);
    let again = client
        .create_webhook_policy("p", &policy)
        .await
        .unwrap_err();
    assert_eq!(again.kind, ErrorKind::Conflict);
}

// ---- Fast failure ----------------------------------------------------------------------------

#[tokio::test]
async fn unreachable_harbor_fails_within_the_timeouts() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    drop(listener); // nothing listens there now
    let mut options = support::options_for(&url, None);
    options.retry.max_retries = 0;
    let started = std::time::Instant::now();
    let err = HarborClient::new(&options)
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_slow_harbor_is_cut_off_by_the_request_timeout() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    harbor.emulator.faults().latency(Duration::from_secs(3));
    let mut options = harbor.options();
    options.request_timeout = Duration::from_millis(300);
    options.retry.max_retries = 0;
    let started = std::time::Instant::now();
    let err = HarborClient::new(&options)
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

mod support_logs {
    //! Captures what the client logs, at every level, into a string.
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    pub struct Captured<T> {
        pub text: String,
        pub value: T,
    }

    fn subscriber(buffer: Buffer) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(buffer)
            .finish()
    }

    pub fn capture<T>(f: impl FnOnce() -> T) -> Captured<T> {
        let buffer = Buffer::default();
        let value = tracing::subscriber::with_default(subscriber(buffer.clone()), f);
        let text = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
        Captured { text, value }
    }

    pub async fn capture_async<T>(f: impl std::future::Future<Output = T>) -> (String, T) {
        use tracing::instrument::WithSubscriber;
        let buffer = Buffer::default();
        let value = f.with_subscriber(subscriber(buffer.clone())).await;
        let text = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
        (text, value)
    }
}
