//! Fault-injection soak (issue 5): a seeded random mix of creates, visibility changes and
//! deletes of all four kinds, while Harbor fails a fifth of the calls (error statuses, dropped
//! connections, timeouts) and the daemon is stopped or killed and started again; then, with the
//! faults off, Harbor and the platform must match the desired state exactly.
//!
//! `cargo test --test soak -- --nocapture` prints the figures. `SOAK_SEED=<n>` replays a seed:
//! the same operations, fault draws and restart points (the interleaving with the daemon still
//! depends on timing). `SOAK_LONG=1` runs five times the resources and restarts;
//! `SOAK_RESOURCES=<n>` sets the number of resources.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::{Duration, Instant};

use harbor_bridge::harbor::HarborClient;
use harbor_bridge::resources::{Chart, ChartGroup, RegistryNamespace, Repository, names};
use harbor_bridge::sync::status::Synced;
use harbor_bridge::sync::{FINALIZER, SyncOptions};
use harbor_emulator::{InjectedFault, Profile};
use k8s_openapi::api::core::v1::Namespace as KubeNamespace;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use support::{Daemon, Harbor, Platform, fast_options};

/// Share of Harbor calls that fail while the operations run.
const FAULT_RATE: f64 = 0.2;
/// The daemon's Harbor request timeout; injected timeouts hold replies longer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
const TIMEOUT_HOLD: Duration = Duration::from_millis(1500);
/// How long convergence may take once the faults stop.
const CONVERGENCE_LIMIT: Duration = Duration::from_secs(90);
/// Pause between two operations, at most, so that they interleave with the daemon's work.
const MAX_PACE_MS: u64 = 40;

/// What a run does, from the environment.
struct Settings {
    seed: u64,
    resources: usize,
    restarts: usize,
}

impl Settings {
    fn from_env() -> Self {
        let scale = if std::env::var("SOAK_LONG").is_ok_and(|v| v == "1") {
            5
        } else {
            1
        };
        Self {
            seed: env_number("SOAK_SEED").unwrap_or_else(|| fastrand::u64(..)),
            resources: env_number("SOAK_RESOURCES").map_or(300 * scale, |n| n as usize),
            restarts: 10 * scale,
        }
    }
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}")),
    )
}

/// Prints the seed again if the test fails, whatever failed.
struct ReplayHint(u64);

impl Drop for ReplayHint {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "soak FAILED with seed {0}; replay: SOAK_SEED={0} cargo test --test soak -- --nocapture",
                self.0
            );
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A registry `Namespace`, with `Repository` children.
    Namespace,
    /// A `ChartGroup`, with `Chart` children.
    ChartGroup,
}

/// A parent resource as it should be, with the children that should exist under it.
struct Parent {
    kind: Kind,
    /// `metadata.name`, which is also the Kubernetes namespace of its children.
    object: String,
    spec_name: String,
    tenant: String,
    project: String,
    public: bool,
    /// Harbor names (repository paths, chart names) of the children that should exist.
    children: BTreeSet<String>,
}

impl Parent {
    fn visibility(&self) -> &'static str {
        match (self.public, self.kind) {
            (true, _) => "Public",
            (false, Kind::Namespace) => "Private",
            (false, Kind::ChartGroup) => "User",
        }
    }

    fn manifest(&self) -> Value {
        let kind = match self.kind {
            Kind::Namespace => "Namespace",
            Kind::ChartGroup => "ChartGroup",
        };
        json!({
            "apiVersion": "registry.tkestack.io/v1",
            "kind": kind,
            "metadata": {"name": self.object},
            "spec": {"name": self.spec_name, "tenantID": self.tenant, "visibility": self.visibility()}
        })
    }

    /// A child made by a user (no origin label), under the name the daemon would give it.
    fn child_manifest(&self, harbor_name: &str) -> Value {
        let (kind, parent_field) = match self.kind {
            Kind::Namespace => ("Repository", "namespaceName"),
            Kind::ChartGroup => ("Chart", "chartGroupName"),
        };
        json!({
            "apiVersion": "registry.tkestack.io/v1",
            "kind": kind,
            "metadata": {"name": names::object_name(harbor_name), "namespace": self.object},
            "spec": {
                "name": harbor_name,
                "tenantID": self.tenant,
                parent_field: self.spec_name,
                "visibility": self.visibility()
            }
        })
    }
}

/// The random choices of one operation, all drawn whether used or not, so that a seed replays
/// the same choices even when timing makes an operation fall back to another.
struct Draw {
    what: f64,
    which: usize,
    flag: bool,
}

#[derive(Default)]
struct Counts {
    creates: usize,
    visibility_changes: usize,
    deletes: usize,
    /// Operations not possible at that moment (e.g. deleting a child the daemon has not taken
    /// charge of yet); the model is left as it was.
    skipped: usize,
    stops: usize,
    kills: usize,
}

struct Soak {
    seed: u64,
    rng: fastrand::Rng,
    harbor: Harbor,
    platform: Platform,
    daemon: Option<Daemon>,
    /// The daemon's Harbor client: it gives up on a request after [`REQUEST_TIMEOUT`].
    client: HarborClient,
    options: SyncOptions,
    /// By object name.
    parents: BTreeMap<String, Parent>,
    created: usize,
    next_id: usize,
    counts: Counts,
}

impl Soak {
    async fn start(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let profile = if rng.bool() {
            Profile::Harbor27
        } else {
            Profile::Harbor28
        };
        let harbor = Harbor::start(profile).await;
        let platform = Platform::start().await;
        let mut client_options = harbor.options();
        client_options.request_timeout = REQUEST_TIMEOUT;
        let client = HarborClient::new(&client_options).expect("client builds");
        let options = SyncOptions {
            // Longer than the usual test value: 300 resources resyncing every 1.5 s would
            // swamp two cores; 3 s still heals what missed webhooks leave behind quickly.
            resync_interval: Duration::from_secs(3),
            ..fast_options()
        };
        harbor.emulator.faults().fail_fraction_with_transport(
            FAULT_RATE,
            rng.u64(..),
            TIMEOUT_HOLD,
        );
        let mut soak = Self {
            seed,
            rng,
            harbor,
            platform,
            daemon: None,
            client,
            options,
            parents: BTreeMap::new(),
            created: 0,
            next_id: 0,
            counts: Counts::default(),
        };
        soak.start_daemon().await;
        soak
    }

    async fn start_daemon(&mut self) {
        let daemon = Daemon::start_with_client(
            &self.platform,
            self.client.clone(),
            self.options.clone(),
            true,
        )
        .await;
        self.daemon = Some(daemon);
    }

    /// A graceful stop or a kill, half and half.
    async fn take_daemon_down(&mut self) {
        let daemon = self.daemon.take().expect("a running daemon");
        if self.rng.bool() {
            self.counts.stops += 1;
            daemon.stop().await;
        } else {
            self.counts.kills += 1;
            daemon.crash();
        }
    }

    fn emulator(&self) -> &harbor_emulator::Emulator {
        &self.harbor.emulator
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    {
        Api::all(self.platform.client.clone())
    }

    /// The API of a parent kind (`Namespace`, `ChartGroup`) as untyped objects.
    fn parent_api(&self, kind: Kind) -> Api<kube::api::DynamicObject> {
        let resource = match kind {
            Kind::Namespace => kube::api::ApiResource::erase::<RegistryNamespace>(&()),
            Kind::ChartGroup => kube::api::ApiResource::erase::<ChartGroup>(&()),
        };
        Api::all_with(self.platform.client.clone(), &resource)
    }

    fn child_api(&self, parent: &Parent) -> Api<kube::api::DynamicObject> {
        let resource = match parent.kind {
            Kind::Namespace => kube::api::ApiResource::erase::<Repository>(&()),
            Kind::ChartGroup => kube::api::ApiResource::erase::<Chart>(&()),
        };
        Api::namespaced_with(self.platform.client.clone(), &parent.object, &resource)
    }

    /// One random operation.
    async fn step(&mut self) {
        let draw = Draw {
            what: self.rng.f64(),
            which: self.rng.usize(..),
            flag: self.rng.bool(),
        };
        let parents: Vec<String> = self.parents.keys().cloned().collect();
        let parent = (!parents.is_empty()).then(|| parents[draw.which % parents.len()].clone());
        match (draw.what, parent) {
            (w, Some(parent)) if w < 0.15 => self.toggle_visibility(&parent).await,
            (w, Some(parent)) if w < 0.28 => self.delete_child(&parent, &draw).await,
            (w, Some(parent)) if w < 0.34 => self.delete_parent(&parent).await,
            (w, Some(parent)) if w < 0.80 => self.create_child(&parent, &draw).await,
            _ => self.create_parent(&draw).await,
        }
    }

    async fn create_parent(&mut self, draw: &Draw) {
        let id = self.next_id;
        self.next_id += 1;
        let (kind, prefix, infix) = if draw.which.is_multiple_of(2) {
            (Kind::Namespace, "rns", "image")
        } else {
            (Kind::ChartGroup, "rcg", "chart")
        };
        let tenant = format!("t{}", id % 3);
        let spec_name = format!("s{id}");
        let parent = Parent {
            kind,
            object: format!("{prefix}-{id}"),
            project: format!("{tenant}-{infix}-{spec_name}"),
            spec_name,
            tenant,
            public: draw.flag,
            children: BTreeSet::new(),
        };
        let object = serde_json::from_value(parent.manifest()).unwrap();
        self.parent_api(kind)
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("seed {}: create {}: {e}", self.seed, parent.object));
        self.parents.insert(parent.object.clone(), parent);
        self.created += 1;
        self.counts.creates += 1;
    }

    /// Pushes content into the parent's project, sometimes after creating the child resource
    /// as a user would; the daemon creates it otherwise. Needs the project in Harbor.
    async fn create_child(&mut self, object: &str, draw: &Draw) {
        let parent = &self.parents[object];
        if self.emulator().project(&parent.project).is_none() {
            return self.create_parent(draw).await;
        }
        let id = self.next_id;
        self.next_id += 1;
        let name = match (parent.kind, id % 4) {
            (Kind::Namespace, 0) => format!("team/app-{id}"),
            (Kind::Namespace, _) => format!("app-{id}"),
            (Kind::ChartGroup, _) => format!("chart-{id}"),
        };
        if draw.flag {
            let child = serde_json::from_value(parent.child_manifest(&name)).unwrap();
            match self
                .child_api(parent)
                .create(&PostParams::default(), &child)
                .await
            {
                // 409: the daemon was first; 404: its Kubernetes namespace is not there yet.
                Ok(_) => {}
                Err(kube::Error::Api(status)) if [409, 404].contains(&status.code) => {}
                Err(e) => panic!("seed {}: create child {name}: {e}", self.seed),
            }
        }
        let emulator = self.emulator();
        match (parent.kind, emulator.profile()) {
            (Kind::Namespace, _) => {
                emulator.push_image(&parent.project, &name, "v1");
            }
            (Kind::ChartGroup, Profile::Harbor27) => {
                emulator
                    .upload_chart(&parent.project, &name, "1.0.0")
                    .unwrap();
            }
            (Kind::ChartGroup, Profile::Harbor28) => {
                emulator.push_oci_chart(&parent.project, &name, "1.0.0");
            }
        }
        let parent = self.parents.get_mut(object).unwrap();
        parent.children.insert(name);
        self.created += 1;
        self.counts.creates += 1;
    }

    async fn toggle_visibility(&mut self, object: &str) {
        let parent = self.parents.get_mut(object).unwrap();
        parent.public = !parent.public;
        let patch = json!({"spec": {"visibility": parent.visibility()}});
        let kind = parent.kind;
        self.parent_api(kind)
            .patch(object, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("seed {}: patch {object}: {e}", self.seed));
        self.counts.visibility_changes += 1;
    }

    /// Deletes a child the daemon has taken charge of (its finalizer is on it): deleting one
    /// it never saw cannot reach Harbor, and the next resync would bring it back from there.
    async fn delete_child(&mut self, object: &str, draw: &Draw) {
        let parent = &self.parents[object];
        let Some(name) = parent
            .children
            .iter()
            .nth(draw.which % parent.children.len().max(1))
            .cloned()
        else {
            self.counts.skipped += 1;
            return;
        };
        let api = self.child_api(parent);
        let object_name = names::object_name(&name);
        let in_charge = api
            .get_opt(&object_name)
            .await
            .unwrap()
            .is_some_and(|child| child.finalizers().iter().any(|f| f == FINALIZER));
        if !in_charge {
            self.counts.skipped += 1;
            return;
        }
        api.delete(&object_name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("seed {}: delete child {name}: {e}", self.seed));
        self.parents.get_mut(object).unwrap().children.remove(&name);
        self.counts.deletes += 1;
    }

    async fn delete_parent(&mut self, object: &str) {
        let kind = self.parents[object].kind;
        self.parent_api(kind)
            .delete(object, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("seed {}: delete {object}: {e}", self.seed));
        self.parents.remove(object);
        self.counts.deletes += 1;
    }

    /// Every way Harbor and the platform differ from the desired state; empty once converged.
    async fn differences(&self) -> Vec<String> {
        let mut problems = Vec::new();
        self.harbor_differences(&mut problems);
        self.platform_differences(&mut problems).await;
        problems
    }

    fn harbor_differences(&self, problems: &mut Vec<String>) {
        let emulator = self.emulator();
        let wanted: BTreeMap<&str, &Parent> = self
            .parents
            .values()
            .map(|p| (p.project.as_str(), p))
            .collect();
        let mut live_ids = BTreeSet::new();
        for project in emulator.project_names() {
            if project != "library" && !wanted.contains_key(project.as_str()) {
                problems.push(format!("leaked Harbor project {project}"));
            }
        }
        for (project, parent) in &wanted {
            let Some(found) = emulator.project(project) else {
                problems.push(format!("missing Harbor project {project}"));
                continue;
            };
            live_ids.insert(found.id);
            if found.public != parent.public {
                problems.push(format!(
                    "Harbor project {project} public={}, want {}",
                    found.public, parent.public
                ));
            }
            let prefix = format!("{project}/");
            let repositories = emulator
                .repositories(project)
                .into_iter()
                .map(|r| r.strip_prefix(&prefix).map_or(r.clone(), str::to_owned));
            let content: BTreeSet<String> = match (parent.kind, emulator.profile()) {
                (Kind::ChartGroup, Profile::Harbor27) => {
                    let charts = emulator.charts(project).into_iter().map(|(name, _)| name);
                    charts.chain(repositories).collect()
                }
                _ => repositories.collect(),
            };
            compare(
                problems,
                &format!("in Harbor project {project}"),
                &parent.children,
                &content,
            );
        }
        for policy in emulator.webhook_policies() {
            if !live_ids.contains(&policy.project_id) {
                problems.push(format!(
                    "webhook policy {} left on deleted project {}",
                    policy.name, policy.project_id
                ));
            }
        }
    }

    async fn platform_differences(&self, problems: &mut Vec<String>) {
        let of_kind = |kind| {
            self.parents
                .values()
                .filter(move |p| p.kind == kind)
                .map(|p| p.object.clone())
                .collect::<BTreeSet<String>>()
        };
        let children_of = |kind| {
            self.parents
                .values()
                .filter(move |p| p.kind == kind)
                .flat_map(|p| p.children.iter().map(|c| format!("{}/{c}", p.object)))
                .collect::<BTreeSet<String>>()
        };
        let found = self
            .list::<RegistryNamespace>(problems, |o| o.name_any())
            .await;
        compare(problems, "Namespaces", &of_kind(Kind::Namespace), &found);
        let found = self.list::<ChartGroup>(problems, |o| o.name_any()).await;
        compare(problems, "ChartGroups", &of_kind(Kind::ChartGroup), &found);
        let found = self
            .list(problems, |r: &Repository| child_key(r, &r.spec.name))
            .await;
        compare(
            problems,
            "Repositories",
            &children_of(Kind::Namespace),
            &found,
        );
        let found = self
            .list(problems, |c: &Chart| child_key(c, &c.spec.name))
            .await;
        compare(problems, "Charts", &children_of(Kind::ChartGroup), &found);
        // The daemon's own Kubernetes namespaces go with their parents.
        let kube_namespaces: Vec<KubeNamespace> = self
            .api::<KubeNamespace>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        let found: BTreeSet<String> = kube_namespaces
            .iter()
            .map(ResourceExt::name_any)
            .filter(|n| n.starts_with("rns-") || n.starts_with("rcg-"))
            .collect();
        let wanted: BTreeSet<String> = self.parents.keys().cloned().collect();
        compare(problems, "Kubernetes namespaces", &wanted, &found);
    }

    /// Lists every object of a kind, noting those not `Ready` for their generation or stuck
    /// deleting; returns their keys.
    async fn list<K>(
        &self,
        problems: &mut Vec<String>,
        key: impl Fn(&K) -> String,
    ) -> BTreeSet<String>
    where
        K: Synced + Resource<DynamicType = ()>,
    {
        let objects = self
            .api::<K>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        let kind = K::kind(&());
        for object in &objects {
            let name = key(object);
            if object.meta().deletion_timestamp.is_some() {
                problems.push(format!(
                    "{kind} {name} stuck deleting, finalizers {:?}",
                    object.finalizers()
                ));
            }
            let sync = object.status().map(K::sync);
            let ready = sync.and_then(|s| s.ready_condition());
            let current = sync.is_some_and(|s| s.observed_generation == object.meta().generation);
            match ready {
                Some(c) if c.status == "True" && current => {}
                Some(c) => problems.push(format!(
                    "{kind} {name} Ready={} ({}: {}), observed generation current: {current}",
                    c.status, c.reason, c.message
                )),
                None => problems.push(format!("{kind} {name} has no Ready condition")),
            }
        }
        objects.iter().map(key).collect()
    }
}

/// `<Kubernetes namespace>/<Harbor name>`, as the model keys children.
fn child_key(child: &impl Resource, harbor_name: &str) -> String {
    let namespace = child.meta().namespace.as_deref().unwrap_or_default();
    format!("{namespace}/{harbor_name}")
}

/// Notes what is in `wanted` but not `found` (missing) and the reverse (left over).
fn compare(
    problems: &mut Vec<String>,
    what: &str,
    wanted: &BTreeSet<String>,
    found: &BTreeSet<String>,
) {
    for missing in wanted.difference(found) {
        problems.push(format!("{what}: {missing} missing"));
    }
    for extra in found.difference(wanted) {
        problems.push(format!("{what}: {extra} left over"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harbor_matches_the_desired_state_after_faults_and_restarts() {
    // `RUST_LOG=harbor_bridge=info` shows what the daemon did, to follow a failing seed.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let settings = Settings::from_env();
    let seed = settings.seed;
    eprintln!(
        "soak: seed {seed} (replay: SOAK_SEED={seed} cargo test --test soak -- --nocapture), \
         {} resources, {} restarts",
        settings.resources, settings.restarts
    );
    let _hint = ReplayHint(seed);
    let started = Instant::now();
    let mut soak = Soak::start(seed).await;
    eprintln!("soak: {:?}", soak.emulator().profile());

    // Restarts at random points: when this many resources have been created.
    let mut restart_points: Vec<usize> = (0..settings.restarts)
        .map(|_| soak.rng.usize(1..settings.resources))
        .collect();
    restart_points.sort_unstable_by(|a, b| b.cmp(a));
    // Operations left to run while the daemon is down.
    let mut down_for = 0;
    let mut ops = 0;
    while soak.created < settings.resources {
        if restart_points.last().is_some_and(|p| *p <= soak.created) && soak.daemon.is_some() {
            restart_points.pop();
            soak.take_daemon_down().await;
            down_for = soak.rng.usize(0..=3);
        }
        soak.step().await;
        ops += 1;

        if soak.daemon.is_none() {
            if down_for == 0 {
                soak.start_daemon().await;
            } else {
                down_for -= 1;
            }
        }
        let pace = soak.rng.u64(0..MAX_PACE_MS);
        tokio::time::sleep(Duration::from_millis(pace)).await;
    }
    if soak.daemon.is_none() {
        soak.start_daemon().await;
    }

    let faults_off = Instant::now();
    soak.emulator().faults().clear();
    let mut problems = soak.differences().await;
    while !problems.is_empty() && faults_off.elapsed() < CONVERGENCE_LIMIT {
        tokio::time::sleep(Duration::from_millis(250)).await;
        problems = soak.differences().await;
    }
    let convergence = faults_off.elapsed();
    // And it stays so: nothing the daemon still does undoes it.
    if problems.is_empty() {
        tokio::time::sleep(soak.options.resync_interval * 2).await;
        problems = soak.differences().await;
    }

    let calls = soak.emulator().calls();
    let mut fault_kinds: BTreeMap<String, usize> = BTreeMap::new();
    for fault in calls.iter().filter_map(|c| c.fault) {
        let name = match fault {
            InjectedFault::Status(status) => status.to_string(),
            other => format!("{other:?}"),
        };
        *fault_kinds.entry(name).or_default() += 1;
    }
    let counts = &soak.counts;
    eprintln!(
        "soak: seed {seed}: {ops} ops ({} creates, {} visibility changes, {} deletes, {} skipped); \
         {} restarts ({} graceful, {} kills); {} faults injected {fault_kinds:?}; {} Harbor calls; \
         {} parents left; converged in {convergence:.1?}; wall time {:.1?}",
        counts.creates,
        counts.visibility_changes,
        counts.deletes,
        counts.skipped,
        counts.stops + counts.kills,
        counts.stops,
        counts.kills,
        soak.emulator().faults().injected(),
        calls.len(),
        soak.parents.len(),
        started.elapsed(),
    );
    if let Some(daemon) = soak.daemon.take() {
        daemon.stop().await;
    }
    assert!(
        problems.is_empty(),
        "seed {seed}: not converged {convergence:.1?} after the faults stopped ({} problems):\n{}",
        problems.len(),
        problems
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
