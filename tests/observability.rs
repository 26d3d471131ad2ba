//! Metrics, health and readiness over real HTTP: the daemon (`daemon::run`, wired as in
//! production) against the Harbor emulator and the API stand-in, and the server's routes alone.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use harbor_bridge::config::{EnvSecrets, FileConfig, Overrides, Settings};
use harbor_bridge::daemon;
use harbor_bridge::harbor::crypto_provider;
use harbor_bridge::metrics::Metrics;
use harbor_bridge::resources::RegistryNamespace;
use harbor_bridge::server::{self, DEFAULT_WEBHOOK_PATH, METRICS_PATH, Webhook, WebhookReceiver};
use harbor_emulator::{Method, Profile};
use jiff::SignedDuration;
use kube::api::{Api, PostParams};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use secrecy::SecretString;
use serde_json::json;
use support::{Harbor, PASSWORD, Platform, WEBHOOK_SECRET, eventually, free_port};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(30);

/// `daemon::run` in a task, serving on a free port.
struct Running {
    base: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Starts the daemon as `harbor-bridge run` would, from settings naming files; with
    /// `webhooks`, a webhook secret and callback URL are configured.
    async fn start(harbor: &Harbor, platform: &Platform, webhooks: bool) -> Self {
        let dir = harbor.dir();
        std::fs::write(dir.join("password"), PASSWORD).unwrap();
        std::fs::write(dir.join("webhook-secret"), WEBHOOK_SECRET).unwrap();
        let listen = free_port();
        let mut overrides = Overrides {
            harbor_url: Some(harbor.emulator.base_url()),
            harbor_username: Some("admin".into()),
            harbor_password_file: Some(dir.join("password")),
            harbor_ca_file: Some(harbor.ca_file.clone()),
            harbor_max_retries: Some(1),
            sync_retry_interval: Some(SignedDuration::from_millis(200)),
            server_listen: Some(listen),
            ..Overrides::default()
        };
        if webhooks {
            overrides.webhook_secret_file = Some(dir.join("webhook-secret"));
            overrides.webhook_callback_url = Some(format!("http://{listen}{DEFAULT_WEBHOOK_PATH}"));
        }
        let settings =
            Settings::resolve(FileConfig::default(), overrides, EnvSecrets::default()).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(daemon::run(settings, platform.client.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{listen}"),
            stop,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the daemon stops")
            .expect("the daemon task does not panic")
            .expect("the daemon stops cleanly");
    }
}

fn client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Status and body of a GET, or why there is none.
/// Stops Harbor and waits for `/readyz` to answer 503; returns the reasons it gives. Harbor is
/// pinged every 10 s, with the client's retries.
async fn readyz_after_harbor_stops(
    http: &reqwest::Client,
    readyz: &str,
    harbor: &Harbor,
) -> String {
    harbor.emulator.clone().shutdown().await;
    eventually("/readyz to report Harbor down", WAIT, || async {
        match get(http, readyz).await? {
            (503, body) => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

async fn get(http: &reqwest::Client, url: &str) -> Result<(u16, String), String> {
    let response = http.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.map_err(|e| e.to_string())?))
}

/// Every sample of a scrape, by series (`name{labels}`), after checking the content type.
async fn scrape(http: &reqwest::Client, url: &str) -> Result<BTreeMap<String, f64>, String> {
    let response = http.get(url).send().await.map_err(|e| e.to_string())?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("/metrics answered {}", response.status()));
    }
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    let text = response.text().await.map_err(|e| e.to_string())?;
    assert!(text.ends_with("# EOF\n"), "{text}");
    Ok(samples(&text))
}

fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or_else(|| {
        let names: Vec<&String> = samples.keys().collect();
        panic!("no {series} in {names:#?}")
    })
}

fn namespace(object_name: &str, tenant: &str, name: &str) -> RegistryNamespace {
    serde_json::from_value(json!({
        "apiVersion": "registry.tkestack.io/v1",
        "kind": "Namespace",
        "metadata": {"name": object_name},
        "spec": {"name": name, "tenantID": tenant, "visibility": "Private"}
    }))
    .unwrap()
}

async fn ready_status(api: &Api<RegistryNamespace>, name: &str) -> Result<(), String> {
    let object = api.get(name).await.map_err(|e| e.to_string())?;
    let condition = object
        .status
        .as_ref()
        .and_then(|s| s.sync.ready_condition())
        .map(|c| (c.status.clone(), c.message.clone()));
    match condition {
        Some((status, _)) if status == "True" => Ok(()),
        other => Err(format!("Ready is {other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_reconciles_harbor_calls_and_webhooks() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    // Harbor refuses the first two creations: the client retries once, the reconcile fails
    // (HarborUnavailable) and is retried, and then the project is created.
    harbor
        .emulator
        .faults()
        .fail_next_matching(2, Method::POST, "/api/v2.0/projects", 503);
    let daemon = Running::start(&harbor, &platform, true).await;
    let http = client();
    let healthz = daemon.url("/healthz");
    eventually("/healthz to answer", WAIT, || async {
        match get(&http, &healthz).await? {
            (200, body) if body == "ok\n" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    let namespaces: Api<RegistryNamespace> = Api::all(platform.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &namespace("rns-acme-web", "acme", "web"),
        )
        .await
        .unwrap();
    eventually("the Namespace to be Ready", WAIT, || {
        ready_status(&namespaces, "rns-acme-web")
    })
    .await;
    // Harbor posts the push to the daemon's webhook receiver (the policy the daemon installed).
    harbor
        .emulator
        .push_image("acme-image-web", "frontend", "v1");

    let metrics_url = daemon.url(METRICS_PATH);
    let queued = "harbor_bridge_webhook_deliveries_total{result=\"queued\"}";
    let ready = "harbor_bridge_resources{kind=\"Namespace\",ready=\"True\"}";
    let repository_resources = "harbor_bridge_resources{kind=\"Repository\"";
    let samples = eventually(
        "the delivery, the Ready Namespace and the Repository to show",
        WAIT,
        || async {
            let samples = scrape(&http, &metrics_url).await?;
            // Queued is counted at receipt; the Repository appears once the event is applied.
            let repositories: f64 = samples
                .iter()
                .filter(|(series, _)| series.starts_with(repository_resources))
                .map(|(_, count)| count)
                .sum();
            match (samples.get(queued), samples.get(ready)) {
                (Some(q), Some(r)) if *q >= 1.0 && *r == 1.0 && repositories >= 1.0 => Ok(samples),
                other => Err(format!("{other:?}, {repositories} Repository resources")),
            }
        },
    )
    .await;

    assert!(
        value(
            &samples,
            "harbor_bridge_reconciles_total{kind=\"Namespace\"}"
        ) >= 2.0
    );
    assert!(
        value(
            &samples,
            "harbor_bridge_reconcile_duration_seconds_count{kind=\"Namespace\"}"
        ) >= 2.0
    );
    assert!(
        value(
            &samples,
            "harbor_bridge_reconcile_failures_total{kind=\"Namespace\",reason=\"HarborUnavailable\"}"
        ) >= 1.0
    );
    assert_eq!(
        value(
            &samples,
            "harbor_bridge_harbor_requests_total{operation=\"create_project\",status=\"201\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "harbor_bridge_harbor_requests_total{operation=\"create_project\",status=\"503\"}"
        ),
        2.0
    );
    assert!(
        value(
            &samples,
            "harbor_bridge_harbor_retries_total{operation=\"create_project\"}"
        ) >= 1.0
    );
    assert!(
        value(
            &samples,
            "harbor_bridge_harbor_request_duration_seconds_count{operation=\"create_project\"}"
        ) >= 3.0
    );
    assert!(
        value(
            &samples,
            "harbor_bridge_harbor_requests_total{operation=\"create_webhook_policy\",status=\"201\"}"
        ) >= 1.0
    );
    assert!(
        value(
            &samples,
            "harbor_bridge_harbor_requests_total{operation=\"ping\",status=\"200\"}"
        ) >= 1.0
    );
    assert!(
        value(
            &samples,
            "harbor_bridge_queue_depth{queue=\"webhook_events\"}"
        ) >= 0.0
    );
    assert_eq!(value(&samples, "harbor_bridge_leader"), 1.0);
    assert_eq!(value(&samples, "harbor_bridge_harbor_up"), 1.0);
    assert_eq!(
        value(
            &samples,
            "harbor_bridge_resources{kind=\"Repository\",ready=\"Unknown\"}"
        ) + value(
            &samples,
            "harbor_bridge_resources{kind=\"Repository\",ready=\"True\"}"
        ),
        1.0,
        "the pushed repository is one Repository resource"
    );
    // No names in labels: tenants, projects and repositories stay out of the series.
    for series in samples.keys() {
        for value in series.split("=\"").skip(1) {
            let value = value.split('"').next().unwrap();
            for name in ["acme", "frontend"] {
                assert!(!value.contains(name), "{series} carries the name {name}");
            }
        }
    }
    let readyz = daemon.url("/readyz");
    eventually("/readyz to say ok", WAIT, || async {
        match get(&http, &readyz).await? {
            (200, body) if body == "ok\n" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_follows_harbor_and_health_does_not() {
    let harbor = Harbor::start(Profile::Harbor27).await;
    let platform = Platform::start().await;
    // No webhook secret: the server still starts, with health and metrics only.
    let daemon = Running::start(&harbor, &platform, false).await;
    let http = client();
    let readyz = daemon.url("/readyz");
    eventually("/readyz to say ok", WAIT, || async {
        match get(&http, &readyz).await? {
            (200, body) if body == "ok\n" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let webhook = http
        .post(daemon.url(DEFAULT_WEBHOOK_PATH))
        .header(AUTHORIZATION, WEBHOOK_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status(), reqwest::StatusCode::NOT_FOUND);

    let address = harbor.emulator.base_url();
    let reasons = readyz_after_harbor_stops(&http, &readyz, &harbor).await;
    assert!(
        reasons.starts_with(&format!("Harbor at {address} is unreachable: ")),
        "{reasons}"
    );
    assert_eq!(reasons.lines().count(), 1, "{reasons}");
    assert_eq!(
        get(&http, &daemon.url("/healthz")).await.unwrap(),
        (200, "ok\n".to_owned())
    );
    let samples = scrape(&http, &daemon.url(METRICS_PATH)).await.unwrap();
    assert_eq!(value(&samples, "harbor_bridge_harbor_up"), 0.0);
    assert!(
        value(
            &samples,
            "harbor_bridge_harbor_requests_total{operation=\"ping\",status=\"error\"}"
        ) >= 1.0
    );
    daemon.stop().await;
}

/// The routes alone, with the Harbor watcher pinging fast: not ready until Harbor answers (and,
/// on the leader, the caches sync), and naming Harbor's address once it is gone.
#[tokio::test(flavor = "multi_thread")]
async fn readiness_reasons_over_http() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let metrics = Metrics::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(server::serve(
        listener,
        server::app(&metrics, None),
        async {
            let _ = stopped.await;
        },
    ));
    let http = client();
    let readyz = format!("{base}/readyz");
    // A standby runs no controllers, so only Harbor counts for it...
    assert_eq!(
        get(&http, &readyz).await.unwrap(),
        (503, "Harbor not checked yet\n".to_owned())
    );
    // ...while the leader also needs its caches.
    metrics.set_leader(true);
    assert_eq!(
        get(&http, &readyz).await.unwrap(),
        (
            503,
            "caches not synced yet\nHarbor not checked yet\n".to_owned()
        )
    );
    let watcher = tokio::spawn(server::watch_harbor(
        harbor.client().with_metrics(metrics.clone()),
        metrics.clone(),
        Duration::from_millis(100),
    ));
    eventually("Harbor to be checked", WAIT, || async {
        match get(&http, &readyz).await? {
            (503, body) if body == "caches not synced yet\n" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    metrics.set_caches_synced(true);
    assert_eq!(get(&http, &readyz).await.unwrap(), (200, "ok\n".to_owned()));

    let address = harbor.emulator.base_url();
    let reasons = readyz_after_harbor_stops(&http, &readyz, &harbor).await;
    assert!(
        reasons.starts_with(&format!("Harbor at {address} ")),
        "{reasons}"
    );
    watcher.abort();
    let _ = stop.send(());
    served.await.unwrap().unwrap();
}

/// A webhook path that collides with an endpoint is moved to the default; the endpoint stays,
/// and deliveries are counted.
#[tokio::test(flavor = "multi_thread")]
async fn the_webhook_cannot_shadow_the_endpoints() {
    let metrics = Metrics::new();
    let (events, _received) = tokio::sync::mpsc::channel(4);
    let receiver = WebhookReceiver {
        secret: SecretString::from(WEBHOOK_SECRET),
        max_body_bytes: 1024,
        events,
    };
    let webhook = Webhook {
        path: METRICS_PATH,
        receiver,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(server::serve(
        listener,
        server::app(&metrics, Some(webhook)),
        async {
            let _ = stopped.await;
        },
    ));
    let http = client();
    let refused = http
        .post(format!("{base}{DEFAULT_WEBHOOK_PATH}"))
        .header(AUTHORIZATION, "Bearer wrong")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    let samples = scrape(&http, &format!("{base}{METRICS_PATH}"))
        .await
        .unwrap();
    assert_eq!(
        value(
            &samples,
            "harbor_bridge_webhook_deliveries_total{result=\"unauthorized\"}"
        ),
        1.0
    );
    assert_eq!(value(&samples, "harbor_bridge_leader"), 0.0);
    let _ = stop.send(());
    served.await.unwrap().unwrap();
}
