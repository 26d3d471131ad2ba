//! An in-memory stand-in for the Kubernetes API server, for tests that drive a real
//! `kube::Client` and kube-runtime machinery (watchers, controllers, finalizers, events,
//! leases) without a cluster.
//!
//! It keeps state and honours the apiserver semantics those rely on: resourceVersions and
//! optimistic concurrency, the status subresource and `generation`, finalizers and
//! `deletionTimestamp`, ownerReference garbage collection, namespace termination, CRDs that
//! start serving their custom resources, the four PATCH flavours, list paging and selectors,
//! and watches with history replay, bookmarks and 410 Gone after compaction.
//! Deviations are marked `simplification:` in the source.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = kube_standin::ApiServer::start().await?;
//! // kube::Client::try_from(kube::Config::new(server.url().parse().unwrap()))
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod cluster;
mod discovery;
mod error;
mod faults;
mod gc;
mod http;
mod kinds;
mod meta;
mod patch;
mod render;
mod resources;
mod selectors;
mod server;
mod store;
mod watch;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use error::ApiError;
pub use faults::{Faults, RequestMatch};
pub use watch::BOOKMARK_INTERVAL;

use render::View;
use resources::ResourceType;
use selectors::Selector;
use server::Shared;

/// One request as the server saw it, for assertions such as counting writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The raw (still percent-encoded) query string, empty if none.
    pub query: String,
    pub status: u16,
    pub content_type: Option<String>,
}

impl RequestRecord {
    /// Whether this request could change state (anything but GET).
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// A running stand-in; cheap to clone, every clone addresses the same server.
#[derive(Clone)]
pub struct ApiServer {
    shared: Arc<Shared>,
    running: Arc<Mutex<Option<Running>>>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("url", &self.url())
            .finish()
    }
}

/// `"v1"` -> `("", "v1")`, `"g/v"` -> `("g", "v")`.
fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

impl ApiServer {
    /// Binds `127.0.0.1:0` and serves plain HTTP until [`ApiServer::shutdown`].
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let shared = Arc::new(Shared::new(listener.local_addr()?));
        let app = http::router(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serving.await {
                tracing::warn!("kube-standin stopped serving: {e}");
            }
        });
        Ok(Self {
            shared,
            running: Arc::new(Mutex::new(Some(Running { stop, task }))),
        })
    }

    /// `http://127.0.0.1:PORT`, for `kube::Config::new(url.parse()?)`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// Ends every watch and stops serving (also for the other clones of this handle).
    pub async fn shutdown(self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(Running { stop, task }) = running else {
            return;
        };
        self.shared.restart_watches();
        let _ = stop.send(());
        let abort = task.abort_handle();
        // Idle keep-alive connections of clients still alive may hold the graceful shutdown.
        if tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }

    fn kind(&self, api_version: &str, plural: &str) -> Option<(ResourceType, String)> {
        let (group, version) = split_api_version(api_version);
        self.shared.read(|c| {
            c.registry
                .resolve(group, version, plural)
                .map(|rt| (rt.clone(), version.to_owned()))
        })
    }

    /// The stored object as served at `api_version`, e.g. `get("v1", "namespaces", None, "default")`.
    pub fn get(
        &self,
        api_version: &str,
        kind_plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let (rt, version) = self.kind(api_version, kind_plural)?;
        let obj = self.shared.read(|c| c.get(&rt, namespace, name)).ok()?;
        Some(render::object(&obj, &rt, &version, View::Full))
    }

    /// All objects of a kind (in `namespace`, or everywhere when `None`), ordered by namespace and name.
    pub fn list(
        &self,
        api_version: &str,
        kind_plural: &str,
        namespace: Option<&str>,
    ) -> Vec<Value> {
        let Some((rt, version)) = self.kind(api_version, kind_plural) else {
            return Vec::new();
        };
        let page = self
            .shared
            .read(|c| c.list(&rt, namespace, &Selector::default(), None, None));
        page.map(|p| {
            p.items
                .iter()
                .map(|o| render::object(o, &rt, &version, View::Full))
                .collect()
        })
        .unwrap_or_default()
    }

    /// Seeds an object with the same semantics as a POST (watches see it).
    pub fn create(
        &self,
        api_version: &str,
        kind_plural: &str,
        namespace: Option<&str>,
        object: Value,
    ) -> Result<Value, ApiError> {
        let (rt, version) = self
            .kind(api_version, kind_plural)
            .ok_or_else(ApiError::no_route)?;
        let created = self
            .shared
            .write(false, |c| c.create(&rt, namespace, object))?;
        Ok(render::object(&created, &rt, &version, View::Full))
    }

    /// Every request served so far, oldest first (including injected failures).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests()
    }

    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Fault injection: failures for the next requests, latency.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Like an apiserver restart: every open watch stream ends; stored state is kept.
    // simplification: streams end cleanly (as on a graceful apiserver shutdown) rather than
    // with a dropped connection; the listener stays up.
    pub fn restart(&self) {
        self.shared.restart_watches();
    }

    /// Forgets the watch history: a watch from an older resourceVersion then gets a
    /// 410 Gone `ERROR` event ("too old resource version"), as after an etcd compaction.
    pub fn compact(&self) {
        self.shared.write(false, |c| c.store.compact());
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.read(|c| c.store.revision())
    }
}
