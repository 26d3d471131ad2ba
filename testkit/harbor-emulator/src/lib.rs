//! An in-memory Harbor for harbor-bridge's integration tests, benchmarks and demo.
//!
//! It speaks Harbor's REST API over real HTTP or HTTPS, with Harbor's quirks where a client can
//! trip on them (anonymous fallback, CSRF with a `sid` cookie, 412 on non-empty projects,
//! soft-deleted projects, double-encoded repository names, pagination headers, ...), and two
//! profiles: 2.7 with ChartMuseum and 2.8+ without. Tests drive it from the user's side with
//! the simulation methods ([`Emulator::push_image`], ...), inject faults with
//! [`Emulator::faults`], and inspect the result ([`Emulator::calls`], [`Emulator::deliveries`]).

mod app;
mod auth;
mod error;
mod faults;
mod middleware;
pub mod pki;
mod query;
mod routes;
mod server;
pub mod spec;
mod state;
mod webhook_delivery;

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use axum::http::Method;

pub use crate::error::HarborError;
pub use crate::faults::{Faults, InjectedFault};
pub use crate::middleware::Call;
pub use crate::state::{HELM_CONFIG_MEDIA_TYPE, WebhookPolicy, WebhookTarget};
pub use crate::webhook_delivery::{Delivery, PayloadFormat};

use crate::app::Shared;
use crate::server::Server;
use crate::state::{ADMIN_USER_ID, ArtifactKind, ProjectRef, State, fake_digest};
use crate::webhook_delivery::{DeliverySettings, WebhookSender};

/// Poison-tolerant lock: a panicking test thread must not wedge the emulator.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Which Harbor to behave like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// v2.7.0 with ChartMuseum: chart routes, chart events, `chart_count`, `with_chartmuseum`.
    Harbor27,
    /// 2.8+ (reports v2.11.0): no ChartMuseum, webhook `payload_format` (CloudEvents).
    Harbor28,
}

impl Profile {
    /// `systeminfo.harbor_version`.
    pub fn harbor_version(self) -> &'static str {
        match self {
            Self::Harbor27 => "v2.7.0-6113469a",
            Self::Harbor28 => "v2.11.0-abcdef12",
        }
    }

    pub fn has_chartmuseum(self) -> bool {
        self == Self::Harbor27
    }

    pub fn has_payload_formats(self) -> bool {
        self == Self::Harbor28
    }

    /// Jobservice's webhook max fails: 10 up to 2.7, 3 from 2.8.
    fn webhook_attempts(self) -> u32 {
        match self {
            Self::Harbor27 => 10,
            Self::Harbor28 => 3,
        }
    }

    /// 2.8+ uses a 3 s client timeout; 2.7 has none.
    fn webhook_timeout(self) -> Duration {
        match self {
            // guess: 2.7 waits forever; a bound keeps test runs from hanging.
            Self::Harbor27 => Duration::from_secs(10),
            Self::Harbor28 => Duration::from_secs(3),
        }
    }
}

/// A non-admin account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAccount {
    pub username: String,
    pub password: String,
}

impl UserAccount {
    pub fn new(username: &str, password: &str) -> Self {
        Self {
            username: username.to_owned(),
            password: password.to_owned(),
        }
    }
}

/// Harbor's `project_creation_restriction` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CreationRestriction {
    #[default]
    Everyone,
    AdminOnly,
}

impl CreationRestriction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Everyone => "everyone",
            Self::AdminOnly => "adminonly",
        }
    }

    pub(crate) fn admin_only(self) -> bool {
        self == Self::AdminOnly
    }
}

#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub profile: Profile,
    pub admin_username: String,
    pub admin_password: String,
    /// Serve HTTPS with this identity.
    pub tls: Option<pki::ServerIdentity>,
    /// An optional non-admin user: 403 (not 404) on missing projects, owns what it creates.
    pub user: Option<UserAccount>,
    pub project_creation_restriction: CreationRestriction,
    /// Create the public `library` project (id 1) every fresh Harbor has.
    pub library_project: bool,
    /// CA (PEM) trusted for https webhook receivers; nothing else is trusted.
    pub webhook_ca_pem: Option<String>,
    /// Pause between webhook delivery attempts (Harbor backs off for minutes; tests can't).
    pub webhook_retry_interval: Duration,
    /// Per-attempt timeout; `None` = the profile's (3 s on 2.8+).
    pub webhook_timeout: Option<Duration>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            profile: Profile::Harbor28,
            admin_username: "admin".to_owned(),
            admin_password: "Harbor12345".to_owned(),
            tls: None,
            user: None,
            project_creation_restriction: CreationRestriction::Everyone,
            library_project: true,
            webhook_ca_pem: None,
            webhook_retry_interval: Duration::from_millis(100),
            webhook_timeout: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("ChartMuseum does not exist on {0:?}")]
    NoChartMuseum(Profile),
    #[error("the emulator was started without TLS")]
    NotTls,
    #[error(transparent)]
    Harbor(#[from] HarborError),
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
}

/// A live project, for assertions.
#[derive(Debug, Clone)]
pub struct ProjectView {
    pub id: i64,
    pub name: String,
    pub public: bool,
    pub owner_name: String,
    pub metadata: BTreeMap<String, String>,
    pub repo_count: usize,
    /// ChartMuseum charts (always 0 on Harbor28).
    pub chart_count: usize,
    pub webhook_policies: Vec<WebhookPolicy>,
}

struct Inner {
    shared: Arc<Shared>,
    server: Mutex<Option<Server>>,
    base_url: String,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(server) = lock(&self.server).as_ref() {
            server.stop();
        }
    }
}

/// A running emulator; cheap to clone. Stops when the last clone is dropped or on
/// [`Emulator::shutdown`].
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.inner.base_url)
            .field("profile", &self.profile())
            .finish()
    }
}

impl Emulator {
    /// Binds 127.0.0.1 on a free port and serves HTTP, or HTTPS when `cfg.tls` is set.
    pub async fn start(cfg: EmulatorConfig) -> io::Result<Self> {
        let tls = cfg
            .tls
            .as_ref()
            .map(pki::server_config)
            .transpose()
            .map_err(io::Error::other)?;
        let listener = Server::bind()?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base_url = format!("{scheme}://{addr}");

        let client_tls =
            pki::client_config(cfg.webhook_ca_pem.as_deref()).map_err(io::Error::other)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(client_tls)
            .no_proxy()
            .timeout(cfg.webhook_timeout.unwrap_or(cfg.profile.webhook_timeout()))
            .build()
            .map_err(io::Error::other)?;
        let settings = DeliverySettings {
            max_attempts: cfg.profile.webhook_attempts(),
            retry_interval: cfg.webhook_retry_interval,
            ext_host: addr.to_string(),
            ext_url: base_url.clone(),
        };
        let webhooks = WebhookSender::new(client, settings, tokio::runtime::Handle::current());

        let mut state = State::new(cfg.profile);
        if cfg.library_project {
            let public = BTreeMap::from([("public".to_owned(), "true".to_owned())]);
            state
                .create_project("library", public, ADMIN_USER_ID, &cfg.admin_username)
                .map_err(io::Error::other)?;
        }
        let shared = Arc::new(Shared {
            config: cfg,
            base_url: base_url.clone(),
            state: Mutex::new(state),
            calls: Mutex::default(),
            faults: Faults::default(),
            webhooks,
        });
        let server = Server::start(listener, routes::router(shared.clone()), tls)?;
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                server: Mutex::new(Some(server)),
                base_url,
            }),
        })
    }

    /// `http(s)://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    pub fn profile(&self) -> Profile {
        self.shared().config.profile
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(self) {
        let server = lock(&self.inner.server).take();
        if let Some(server) = server {
            server.join().await;
        }
    }

    /// Swaps the server certificate; new handshakes see it at once.
    pub fn set_tls_identity(&self, identity: pki::ServerIdentity) -> Result<(), EmulatorError> {
        let config = pki::server_config(&identity)?;
        let reloaded = lock(&self.inner.server)
            .as_ref()
            .is_some_and(|server| server.reload_tls(config));
        if reloaded {
            Ok(())
        } else {
            Err(EmulatorError::NotTls)
        }
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    fn operator(&self) -> &str {
        &self.shared().config.admin_username
    }

    fn publish(&self, events: impl IntoIterator<Item = state::Event>) {
        // Simulated user actions have no HTTP request; make up the id CloudEvents carry.
        let request_id = format!("sim-{:016x}", fastrand::u64(..));
        self.shared().publish(events, &request_id);
    }

    // ---- simulating users ----

    /// Creates a project as a user would in Harbor's UI (owned by the admin).
    ///
    /// # Panics
    /// On an invalid or taken name: that is a broken test setup.
    pub fn create_project(&self, name: &str, public: bool) -> i64 {
        let metadata = BTreeMap::from([("public".to_owned(), public.to_string())]);
        self.shared()
            .state()
            .create_project(name, metadata, ADMIN_USER_ID, self.operator())
            .unwrap_or_else(|e| panic!("create_project({name}): {e}"))
    }

    /// Pushes an image whose content is derived from `project/repository:tag`; returns its
    /// digest. Fires PUSH_ARTIFACT.
    ///
    /// # Panics
    /// When the project does not exist or the repository name is invalid.
    pub fn push_image(&self, project: &str, repository: &str, tag: &str) -> String {
        let digest = fake_digest(&format!("{project}/{repository}:{tag}"));
        self.push_image_with_digest(project, repository, tag, &digest)
    }

    /// Pushes an image with explicit content: the same digest twice under two tags is one
    /// artifact with two tags.
    ///
    /// # Panics
    /// When the project does not exist or the repository name is invalid.
    pub fn push_image_with_digest(
        &self,
        project: &str,
        repository: &str,
        tag: &str,
        digest: &str,
    ) -> String {
        self.push(project, repository, tag, digest, ArtifactKind::Image)
    }

    /// `helm push` of an OCI chart: a CHART artifact in `<project>/<chart>` tagged with the
    /// version (`+` becomes `_`, as Helm does). Returns the digest.
    ///
    /// # Panics
    /// When the project does not exist or the chart name is invalid.
    pub fn push_oci_chart(&self, project: &str, chart: &str, version: &str) -> String {
        let tag = version.replace('+', "_");
        let digest = fake_digest(&format!("chart:{project}/{chart}:{version}"));
        self.push(project, chart, &tag, &digest, ArtifactKind::Chart)
    }

    fn push(
        &self,
        project: &str,
        repository: &str,
        tag: &str,
        digest: &str,
        kind: ArtifactKind,
    ) -> String {
        let event = self
            .shared()
            .state()
            .push_artifact(
                project,
                repository,
                Some(tag),
                digest,
                kind,
                self.operator(),
            )
            .unwrap_or_else(|e| panic!("push to {project}/{repository}:{tag}: {e}"));
        self.publish([event]);
        digest.to_owned()
    }

    /// Uploads a chart version to ChartMuseum (Harbor27 only); fires UPLOAD_CHART.
    pub fn upload_chart(
        &self,
        project: &str,
        chart: &str,
        version: &str,
    ) -> Result<(), EmulatorError> {
        let profile = self.profile();
        if !profile.has_chartmuseum() {
            return Err(EmulatorError::NoChartMuseum(profile));
        }
        let event = self
            .shared()
            .state()
            .upload_chart(project, chart, version, self.operator())?;
        self.publish([event]);
        Ok(())
    }

    /// Deletes an artifact (by tag or digest) as a user in the UI; fires DELETE_ARTIFACT.
    /// Returns false when there was nothing to delete.
    pub fn delete_artifact(&self, project: &str, repository: &str, reference: &str) -> bool {
        let result =
            self.shared()
                .state()
                .delete_artifact(project, repository, reference, self.operator());
        result.map(|event| self.publish([event])).is_ok()
    }

    // ---- inspection ----

    /// A live project by name.
    pub fn project(&self, name: &str) -> Option<ProjectView> {
        let state = self.shared().state();
        let project = state.project(ProjectRef::Name(name))?;
        Some(ProjectView {
            id: project.id,
            name: project.name.clone(),
            public: project.is_public(),
            owner_name: project.owner_name.clone(),
            metadata: project.metadata.clone(),
            repo_count: project.repositories.len(),
            chart_count: project.charts.len(),
            webhook_policies: state.policies_of(project.id).into_iter().cloned().collect(),
        })
    }

    /// Names of live (not soft-deleted) projects, sorted.
    pub fn project_names(&self) -> Vec<String> {
        let state = self.shared().state();
        state.projects().iter().map(|p| p.name.clone()).collect()
    }

    /// Full repository names (`proj/a/b`) of a live project.
    pub fn repositories(&self, project: &str) -> Vec<String> {
        let state = self.shared().state();
        state
            .project(ProjectRef::Name(project))
            .map(|p| p.repositories.iter().map(|r| r.name.clone()).collect())
            .unwrap_or_default()
    }

    /// Tags of every artifact in a repository (`repository` without the project prefix).
    pub fn tags(&self, project: &str, repository: &str) -> Vec<String> {
        let state = self.shared().state();
        state
            .project(ProjectRef::Name(project))
            .and_then(|p| p.repository(repository))
            .map(|r| {
                r.artifacts
                    .iter()
                    .flat_map(|a| a.tags.iter().map(|t| t.name.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// ChartMuseum charts of a project: chart name -> versions (upload order).
    pub fn charts(&self, project: &str) -> Vec<(String, Vec<String>)> {
        let state = self.shared().state();
        state
            .project(ProjectRef::Name(project))
            .map(|p| {
                p.charts
                    .iter()
                    .map(|(name, versions)| {
                        let versions = versions.iter().map(|v| v.version.clone()).collect();
                        (name.clone(), versions)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every webhook policy, including orphans left behind by deleted projects.
    pub fn webhook_policies(&self) -> Vec<WebhookPolicy> {
        let state = self.shared().state();
        state.all_policies().into_iter().cloned().collect()
    }

    /// The call log, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.shared().calls).clone()
    }

    /// How many calls the log holds (cheaper than `calls().len()` on a long log).
    pub fn call_count(&self) -> usize {
        lock(&self.shared().calls).len()
    }

    pub fn clear_calls(&self) {
        lock(&self.shared().calls).clear();
    }

    /// Every webhook POST attempt so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared().webhooks.deliveries()
    }

    /// Polls until at least `count` deliveries were attempted or `timeout` passed.
    pub async fn wait_for_deliveries(&self, count: usize, timeout: Duration) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let deliveries = self.deliveries();
            if deliveries.len() >= count || tokio::time::Instant::now() >= deadline {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.shared().faults
    }

    /// Every `(method, spec template)` served by either profile.
    pub fn served_routes() -> Vec<(Method, &'static str)> {
        let mut all = Self::served_routes_for(Profile::Harbor27);
        all.extend(Self::served_routes_for(Profile::Harbor28));
        all.sort_by(|a, b| (a.1, a.0.as_str()).cmp(&(b.1, b.0.as_str())));
        all.dedup();
        all
    }

    /// The `(method, spec template)` pairs one profile serves.
    pub fn served_routes_for(profile: Profile) -> Vec<(Method, &'static str)> {
        routes::table(profile)
            .into_iter()
            .map(|route| (route.method, route.path))
            .collect()
    }
}
