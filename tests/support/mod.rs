//! Shared test set-up: an HTTPS Harbor emulator with a generated CA, and client options for it.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod process;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use harbor_bridge::harbor::{ClientOptions, HarborClient, RetryOptions, TlsOptions};
use harbor_emulator::pki::TestCa;
use harbor_emulator::{Emulator, EmulatorConfig, Profile};
use secrecy::SecretString;

pub const PASSWORD: &str = "Harbor12345-test";

pub struct Harbor {
    pub emulator: Emulator,
    pub ca: TestCa,
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harbor {
    pub async fn start(profile: Profile) -> Self {
        let ca = TestCa::generate("harbor-bridge test CA").expect("CA");
        let identity = ca
            .issue_server(&["127.0.0.1", "localhost"])
            .expect("server certificate");
        let emulator = Emulator::start(EmulatorConfig {
            profile,
            admin_username: "admin".into(),
            admin_password: PASSWORD.into(),
            tls: Some(identity),
            ..EmulatorConfig::default()
        })
        .await
        .expect("emulator starts");
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.crt");
        std::fs::write(&ca_file, ca.cert_pem()).unwrap();
        Self {
            emulator,
            ca,
            ca_file,
            _dir: dir,
        }
    }

    /// Options trusting the emulator's CA, with fast retries so tests stay quick.
    pub fn options(&self) -> ClientOptions {
        options_for(&self.emulator.base_url(), Some(self.ca_file.clone()))
    }

    pub fn client(&self) -> HarborClient {
        HarborClient::new(&self.options()).expect("client builds")
    }

    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

pub fn options_for(url: &str, ca_file: Option<PathBuf>) -> ClientOptions {
    ClientOptions {
        url: url.parse().unwrap(),
        username: "admin".into(),
        password: SecretString::from(PASSWORD),
        password_file: None,
        tls: TlsOptions {
            ca_file,
            ..TlsOptions::default()
        },
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        max_concurrent_requests: 8,
        requests_per_second: NonZeroU32::new(1000).unwrap(),
        retry: RetryOptions {
            max_retries: 4,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
    }
}

/// Both Harbor generations the daemon supports.
pub const PROFILES: [Profile; 2] = [Profile::Harbor27, Profile::Harbor28];

// ---- The platform (API stand-in) and the daemon, for tests through the controller loop -------

use std::future::Future;
use std::time::Instant;

use harbor_bridge::harbor::events::HarborEvent;
use harbor_bridge::metrics::Metrics;
use harbor_bridge::resources;
use harbor_bridge::server;
use harbor_bridge::sync::{self, SyncOptions, WebhookPolicyTarget};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube_standin::ApiServer;
use tokio::sync::{mpsc, oneshot};

pub const WEBHOOK_SECRET: &str = "Bearer test-webhook-secret";

/// The Kubernetes side: an API stand-in with the CRDs installed, and a client for it.
pub struct Platform {
    pub api: ApiServer,
    pub client: kube::Client,
}

impl Platform {
    pub async fn start() -> Self {
        let api = ApiServer::start().await.expect("API stand-in starts");
        let client = kube::Client::try_from(kube::Config::new(api.url().parse().unwrap())).unwrap();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in resources::crds() {
            crds.create(&PostParams::default(), &crd)
                .await
                .expect("CRD installs");
        }
        Self { api, client }
    }
}

/// Options that make the loops fast enough for tests.
pub fn fast_options() -> SyncOptions {
    SyncOptions {
        resync_interval: Duration::from_millis(1500),
        retry_interval: Duration::from_millis(200),
        ..SyncOptions::default()
    }
}

/// The daemon's controllers and HTTP server (webhook receiver, health, metrics), running in
/// this process. Harbor is not pinged in the background (that would take requests meant for
/// the tests' injected faults), so `/readyz` says Harbor was not checked unless a test runs
/// [`server::watch_harbor`] itself.
pub struct Daemon {
    task: tokio::task::JoinHandle<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: oneshot::Sender<()>,
    /// Where the webhook receiver listens.
    pub webhook_url: String,
    /// The server's address, e.g. `http://127.0.0.1:1234` (`/healthz`, `/readyz`, `/metrics`).
    pub base_url: String,
    /// What the controllers, the Harbor client and the webhook receiver count.
    pub metrics: Metrics,
}

impl Daemon {
    /// Starts the controllers and the webhook receiver; with `install_webhooks`, every project
    /// gets a webhook policy pointing at the receiver.
    pub async fn start(
        platform: &Platform,
        harbor: &Harbor,
        options: SyncOptions,
        install_webhooks: bool,
    ) -> Self {
        Self::start_with_client(platform, harbor.client(), options, install_webhooks).await
    }

    /// [`Daemon::start`] with a Harbor client the test built (and may change while it runs).
    pub async fn start_with_client(
        platform: &Platform,
        harbor: HarborClient,
        mut options: SyncOptions,
        install_webhooks: bool,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let webhook_url = format!("{base_url}/harbor/events");
        if install_webhooks {
            options.webhook_policy = Some(WebhookPolicyTarget {
                callback_url: webhook_url.parse().unwrap(),
                auth_header: SecretString::from(WEBHOOK_SECRET),
                payload_format: None,
            });
        }
        let (events, received) = mpsc::channel::<HarborEvent>(256);
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = futures::FutureExt::shared(async {
            let _ = stopped.await;
        });
        let receiver = server::WebhookReceiver {
            secret: SecretString::from(WEBHOOK_SECRET),
            max_body_bytes: 1 << 20,
            events,
        };
        let metrics = Metrics::new();
        let webhook = server::Webhook {
            path: "/harbor/events",
            receiver,
        };
        let server = tokio::spawn(server::serve(
            listener,
            server::app(&metrics, Some(webhook)),
            stopped.clone(),
        ));
        metrics.set_leader(true);
        let task = tokio::spawn(sync::run(
            platform.client.clone(),
            harbor.with_metrics(metrics.clone()),
            options,
            std::sync::Arc::new(tokio::sync::Mutex::new(received)),
            metrics.clone(),
            stopped,
        ));
        Self {
            task,
            server,
            stop,
            webhook_url,
            base_url,
            metrics,
        }
    }

    /// A graceful stop (SIGTERM): reconciles in flight finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        let _ = self.server.await;
    }

    /// A kill: everything stops where it is.
    pub fn crash(self) {
        self.task.abort();
        self.server.abort();
    }
}

/// A free loopback address (released again for the server to take; a race only with other
/// tests binding port 0 at the same moment).
pub fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|probe| probe.local_addr())
        .unwrap()
}

/// Polls `check` until it returns `Ok`, and returns that value; fails the test with the last
/// error after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let outcome = check().await;
        match outcome {
            Ok(value) => return value,
            Err(last) if Instant::now() > deadline => {
                panic!("timed out after {timeout:?} waiting for {what}: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Waits until the object is gone (its finalizers done); fails the test after 30 s.
pub async fn wait_gone<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(
        &format!("{name} to be deleted"),
        Duration::from_secs(30),
        || async {
            match api.get_opt(name).await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(o) => Err(format!(
                    "still there, finalizers {:?}",
                    kube::ResourceExt::finalizers(&o)
                )),
            }
        },
    )
    .await
}
