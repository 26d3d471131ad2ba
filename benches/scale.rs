//! Scale benchmark (issue 5): the real `harbor-bridge run` binary, as a child process, against
//! the Harbor emulator (HTTPS, per-call latency) and the Kubernetes API stand-in, both served
//! over loopback HTTP by this process.
//!
//! ```text
//! cargo bench --bench scale -- [--n 1000] [--runs 5] [--latency-ms 5] [--concurrency 16]
//!                              [--scenario initial,steady,delete,webhook] [--quick]
//! ```
//!
//! Scenarios (each run starts a fresh emulator, stand-in and daemon):
//! - `initial`: N registry `Namespace` + N `ChartGroup` are seeded, then the daemon starts; wall
//!   time until every one is `Ready` with its project bound, Harbor calls against the minimum,
//!   Kubernetes requests, and the daemon's peak RSS (`VmHWM`).
//! - `steady`: after `initial`, one resync period with nothing changed: Harbor writes (must be 0),
//!   Harbor reads, Kubernetes writes, per period.
//! - `delete`: one `Namespace` whose project holds `--repositories` repositories (with their
//!   `Repository` resources) is deleted: wall time and calls against the concurrency bound.
//! - `webhook`: images pushed at `--push-rate` per second into `--webhook-namespaces` projects;
//!   Harbor (the emulator) delivers the webhooks; latency from the push to the `Repository`
//!   status showing the tag, seen through a watch.
//!
//! Results go to stdout as a markdown table: the median over `--runs`, and min–max as noise.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;

use clap::{Parser, ValueEnum};
use futures::StreamExt;
use harbor_bridge::resources::{ChartGroup, RegistryNamespace, Repository, SyncStatus, names};
use harbor_emulator::{Emulator, Method, Profile};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::watcher;
use kube_standin::ApiServer;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WEBHOOK_SECRET: &str = "bench-webhook-secret";
const TENANT: &str = "t";
/// Harbor's largest page (`page_size` is capped at 100).
const HARBOR_PAGE: usize = 100;

#[derive(Parser, Debug, Clone)]
#[command(about = "harbor-bridge scale benchmark")]
struct Args {
    /// Registry Namespaces and ChartGroups (N of each) for `initial` and `steady`.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Repetitions of each scenario; the table shows the median and min–max.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Latency the emulator adds to every Harbor call, in milliseconds.
    #[arg(long, default_value_t = 5)]
    latency_ms: u64,
    /// `harbor.maxConcurrentRequests` of the daemon.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// `sync.deleteConcurrency` of the daemon.
    #[arg(long, default_value_t = 8)]
    delete_concurrency: usize,
    /// Resync interval in seconds; default 30 s up to N = 2,000, else 300 s.
    #[arg(long)]
    resync_secs: Option<u64>,
    /// Scenarios to run (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "initial,steady,delete,webhook"
    )]
    scenario: Vec<Scenario>,
    /// Repositories in the project of the `delete` scenario.
    #[arg(long, default_value_t = 1000)]
    repositories: usize,
    /// Pushes per second in the `webhook` scenario.
    #[arg(long, default_value_t = 200)]
    push_rate: u32,
    /// Seconds of pushing in the `webhook` scenario.
    #[arg(long, default_value_t = 10)]
    push_seconds: u64,
    /// Projects the `webhook` pushes are spread over.
    #[arg(long, default_value_t = 10)]
    webhook_namespaces: usize,
    /// A first look in about a minute: N = 200, 3 runs, 3 s of pushes, 200 repositories.
    #[arg(long)]
    quick: bool,
    /// Give up on a scenario step after this many seconds.
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum Scenario {
    Initial,
    Steady,
    Delete,
    Webhook,
}

impl Args {
    fn resync(&self) -> Duration {
        Duration::from_secs(
            self.resync_secs
                .unwrap_or(if self.n <= 2000 { 30 } else { 300 }),
        )
    }
    fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

// ---- measurements ---------------------------------------------------------------------------

/// One figure of one run; `target` says what it is compared with in the table.
#[derive(Clone, Debug)]
struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
}

#[derive(Default)]
struct Results {
    /// (scenario, figure name) → values over the runs, in order of first appearance.
    order: Vec<(String, String)>,
    values: HashMap<(String, String), (Vec<f64>, &'static str)>,
}

impl Results {
    fn add(&mut self, scenario: &str, figures: Vec<Figure>) {
        for f in figures {
            let key = (scenario.to_owned(), f.name);
            if !self.values.contains_key(&key) {
                self.order.push(key.clone());
            }
            self.values
                .entry(key)
                .or_insert_with(|| (Vec::new(), f.unit))
                .0
                .push(f.value);
        }
    }

    fn print(&self, args: &Args) {
        println!();
        println!("## harbor-bridge scale benchmark");
        println!();
        println!("{}", machine());
        println!(
            "Settings: N = {} (of each kind), Harbor latency {} ms/call, maxConcurrentRequests {}, \
             deleteConcurrency {}, resync {} s, requestsPerSecond unbounded (10^6).",
            args.n,
            args.latency_ms,
            args.concurrency,
            args.delete_concurrency,
            args.resync().as_secs()
        );
        println!();
        println!("| scenario | figure | median | min – max | runs |");
        println!("|---|---|---:|---:|---:|");
        for key in &self.order {
            let (values, unit) = &self.values[key];
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let median = median(&sorted);
            println!(
                "| {} | {} | {} {unit} | {} – {} | {} |",
                key.0,
                key.1,
                fmt(median),
                fmt(sorted[0]),
                fmt(sorted[sorted.len() - 1]),
                sorted.len()
            );
        }
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        f64::midpoint(sorted[n / 2 - 1], sorted[n / 2])
    }
}

fn fmt(v: f64) -> String {
    if (v.fract() == 0.0 && v.abs() < 1e12) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn fig(name: impl Into<String>, value: f64, unit: &'static str) -> Figure {
    Figure {
        name: name.into(),
        value,
        unit,
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "Machine: {cores} cores ({cpu}); load average at the end {} (other work on the machine adds noise).",
        load.join(" ")
    )
}

// ---- the environment: emulator, stand-in, daemon --------------------------------------------

struct Env {
    harbor: support::Harbor,
    platform: support::Platform,
    kubeconfig: PathBuf,
}

impl Env {
    async fn start(latency: Duration) -> Self {
        let harbor = support::Harbor::start(Profile::Harbor28).await;
        harbor.emulator.faults().latency(latency);
        let platform = support::Platform::start().await;
        let kubeconfig = support::process::kubeconfig(&harbor, &platform);
        Self {
            harbor,
            platform,
            kubeconfig,
        }
    }

    fn seed_namespace(&self, name: &str) {
        self.platform
            .api
            .create(
                "registry.tkestack.io/v1",
                "namespaces",
                None,
                json!({
                    "apiVersion": "registry.tkestack.io/v1", "kind": "Namespace",
                    "metadata": {"name": name},
                    "spec": {"name": name, "tenantID": TENANT}
                }),
            )
            .expect("Namespace seeded");
    }

    fn seed_chart_group(&self, name: &str) {
        self.platform
            .api
            .create(
                "registry.tkestack.io/v1",
                "chartgroups",
                None,
                json!({
                    "apiVersion": "registry.tkestack.io/v1", "kind": "ChartGroup",
                    "metadata": {"name": name},
                    "spec": {"name": name, "tenantID": TENANT}
                }),
            )
            .expect("ChartGroup seeded");
    }

    async fn shutdown(self) {
        self.platform.api.shutdown().await;
        self.harbor.emulator.shutdown().await;
    }
}

fn image_project(name: &str) -> String {
    format!("{TENANT}-image-{name}")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Daemon {
    child: tokio::process::Child,
    port: u16,
}

/// Scrapes a daemon's `/metrics` without owning the process.
struct Probe {
    port: u16,
}

impl Probe {
    /// The daemon's `/metrics` text (empty when unreachable).
    async fn scrape(&self) -> String {
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return String::new();
        };
        let request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if stream.write_all(request.as_bytes()).await.is_err() {
            return String::new();
        }
        let mut body = String::new();
        let _ = stream.read_to_string(&mut body).await;
        body
    }

    /// Sum of the samples whose line contains every one of `needles`.
    async fn metric(&self, needles: &[&str]) -> f64 {
        self.scrape()
            .await
            .lines()
            .filter(|l| !l.starts_with('#') && needles.iter().all(|n| l.contains(n)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Daemon {
    fn spawn(env: &Env, args: &Args, resync: Duration, webhooks: bool) -> Self {
        let port = free_port();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_harbor-bridge"));
        command
            .arg("run")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KUBECONFIG", &env.kubeconfig)
            .env("POD_NAME", "bridge-bench")
            .env("HARBOR_BRIDGE_LOG_LEVEL", "warn")
            .env("HARBOR_BRIDGE_HARBOR_URL", env.harbor.emulator.base_url())
            .env("HARBOR_BRIDGE_HARBOR_CA_FILE", &env.harbor.ca_file)
            .env("HARBOR_BRIDGE_HARBOR_PASSWORD", support::PASSWORD)
            .env(
                "HARBOR_BRIDGE_HARBOR_MAX_CONCURRENT_REQUESTS",
                args.concurrency.to_string(),
            )
            .env("HARBOR_BRIDGE_HARBOR_REQUESTS_PER_SECOND", "1000000")
            .env(
                "HARBOR_BRIDGE_SYNC_DELETE_CONCURRENCY",
                args.delete_concurrency.to_string(),
            )
            .env(
                "HARBOR_BRIDGE_SYNC_RESYNC_INTERVAL",
                format!("{}ms", resync.as_millis()),
            )
            .env("HARBOR_BRIDGE_SYNC_RETRY_INTERVAL", "1s")
            .env("HARBOR_BRIDGE_SERVER_LISTEN", format!("127.0.0.1:{port}"))
            // One replica: no lease traffic in the figures.
            .env("HARBOR_BRIDGE_LEADER_ELECTION_ENABLED", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if webhooks {
            command
                .env("HARBOR_BRIDGE_WEBHOOK_SECRET", WEBHOOK_SECRET)
                .env(
                    "HARBOR_BRIDGE_WEBHOOK_CALLBACK_URL",
                    format!("http://127.0.0.1:{port}/harbor/events"),
                );
        }
        let child = command.spawn().expect("the daemon starts");
        Self { child, port }
    }

    /// Peak resident set size (`VmHWM`) in MiB.
    fn peak_rss_mib(&self) -> f64 {
        let Some(pid) = self.child.id() else {
            return f64::NAN;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }

    /// Sum of `reconciles_total` over the kinds given.
    async fn reconciles(&self, kinds: &[&str]) -> f64 {
        let mut total = 0.0;
        for kind in kinds {
            total += Probe { port: self.port }
                .metric(&["reconciles_total{", &format!("kind=\"{kind}\"")])
                .await;
        }
        total
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

// ---- watching readiness -----------------------------------------------------------------------

fn ready(sync: &SyncStatus) -> bool {
    sync.ready_condition().is_some_and(|c| c.status == "True")
        && sync.harbor_project.as_ref().is_some_and(|b| b.id.is_some())
}

/// Names of the objects of one kind that are ready, kept current by a watch.
#[derive(Clone, Default)]
struct ReadySet {
    inner: Arc<Mutex<ReadyInner>>,
}

#[derive(Default)]
struct ReadyInner {
    ready: HashSet<String>,
    seen: HashSet<String>,
    gone: HashSet<String>,
    listed: bool,
}

impl ReadySet {
    fn watch<K>(
        client: &kube::Client,
        is_ready: fn(&K) -> bool,
    ) -> (Self, tokio::task::JoinHandle<()>)
    where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
    {
        let set = Self::default();
        let api: Api<K> = Api::all(client.clone());
        let inner = set.inner.clone();
        let task = tokio::spawn(async move {
            let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                let mut state = inner.lock().unwrap();
                match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                        let key = key_of(&o);
                        state.seen.insert(key.clone());
                        state.gone.remove(&key);
                        if is_ready(&o) {
                            state.ready.insert(key);
                        } else {
                            state.ready.remove(&key);
                        }
                    }
                    Ok(watcher::Event::Delete(o)) => {
                        let key = key_of(&o);
                        state.ready.remove(&key);
                        state.seen.remove(&key);
                        state.gone.insert(key);
                    }
                    Ok(watcher::Event::InitDone) => state.listed = true,
                    Ok(watcher::Event::Init) | Err(_) => {}
                }
            }
        });
        (set, task)
    }

    fn ready_count(&self) -> usize {
        self.inner.lock().unwrap().ready.len()
    }
    fn seen_count(&self) -> usize {
        self.inner.lock().unwrap().seen.len()
    }
    fn is_gone(&self, key: &str) -> bool {
        self.inner.lock().unwrap().gone.contains(key)
    }
    fn listed(&self) -> bool {
        self.inner.lock().unwrap().listed
    }
}

fn key_of<K: kube::Resource>(o: &K) -> String {
    match o.meta().namespace.as_deref() {
        Some(ns) => format!("{ns}/{}", o.meta().name.as_deref().unwrap_or_default()),
        None => o.meta().name.clone().unwrap_or_default(),
    }
}

fn namespace_ready(o: &RegistryNamespace) -> bool {
    o.status.as_ref().is_some_and(|s| ready(&s.sync))
}
fn chart_group_ready(o: &ChartGroup) -> bool {
    o.status.as_ref().is_some_and(|s| ready(&s.sync))
}
fn repository_ready(o: &Repository) -> bool {
    o.status.as_ref().is_some_and(|s| {
        !s.tags.is_empty() && s.sync.ready_condition().is_some_and(|c| c.status == "True")
    })
}

/// Waits until the emulator has seen no call for a second; when the last call came.
async fn quiescent(emulator: &Emulator, timeout: Duration) -> Instant {
    let start = Instant::now();
    let (mut count, mut changed) = (emulator.call_count(), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = emulator.call_count();
        if now != count {
            (count, changed) = (now, Instant::now());
        } else if changed.elapsed() >= Duration::from_secs(1) {
            return changed;
        }
        assert!(start.elapsed() < timeout, "Harbor calls never stopped");
    }
}

/// Polls `done` every 20 ms until it holds; the elapsed time, or an error after `timeout`.
async fn until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if done() {
            return start.elapsed();
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- call accounting --------------------------------------------------------------------------

#[derive(Default, Debug)]
struct HarborTally {
    reads: usize,
    writes: usize,
    /// "METHOD route" → count.
    by_route: BTreeMap<String, usize>,
}

fn harbor_tally(emulator: &Emulator) -> HarborTally {
    let mut tally = HarborTally::default();
    for call in emulator.calls() {
        if call.method == Method::GET || call.method == Method::HEAD {
            tally.reads += 1;
        } else {
            tally.writes += 1;
        }
        let route = call.route.as_deref().unwrap_or(call.raw_path.as_str());
        let route = route.strip_prefix("/api/v2.0").unwrap_or(route);
        *tally
            .by_route
            .entry(format!("{} {route}", call.method))
            .or_default() += 1;
    }
    tally
}

fn routes(tally: &HarborTally) -> String {
    tally
        .by_route
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Default, Debug)]
struct KubeTally {
    reads: usize,
    writes: usize,
    by_kind: BTreeMap<String, usize>,
}

fn kube_tally(api: &ApiServer) -> KubeTally {
    let mut tally = KubeTally::default();
    for r in api.requests() {
        if r.is_write() {
            tally.writes += 1;
        } else {
            tally.reads += 1;
        }
        // "/apis/g/v/namespaces/x/repositories/y/status" → "PATCH repositories/status"
        let parts: Vec<&str> = r.path.split('/').filter(|p| !p.is_empty()).collect();
        let skip = if parts.first() == Some(&"api") { 2 } else { 3 };
        let mut rest: Vec<&str> = parts.iter().skip(skip).copied().collect();
        if rest.first() == Some(&"namespaces") && rest.len() > 2 {
            rest.drain(..2);
        }
        let resource = match rest.as_slice() {
            [] => String::new(),
            [kind] | [kind, _] => (*kind).to_owned(),
            [kind, _, sub, ..] => format!("{kind}/{sub}"),
        };
        let watch = if r.query.contains("watch=") {
            " (watch)"
        } else {
            ""
        };
        *tally
            .by_kind
            .entry(format!("{} {resource}{watch}", r.method))
            .or_default() += 1;
    }
    tally
}

// ---- scenarios --------------------------------------------------------------------------------

/// Initial sync, then (with `steady`) one resync period with nothing to do.
async fn initial_and_steady(args: &Args, run: usize, steady: bool) -> (Vec<Figure>, Vec<Figure>) {
    let n = args.n;
    let resync = args.resync();
    let env = Env::start(args.latency()).await;
    let seeding = Instant::now();
    for i in 0..n {
        env.seed_namespace(&format!("ns-{i:05}"));
        env.seed_chart_group(&format!("cg-{i:05}"));
    }
    let seeded = seeding.elapsed();
    let (namespaces, ns_task) =
        ReadySet::watch::<RegistryNamespace>(&env.platform.client, namespace_ready);
    let (groups, cg_task) = ReadySet::watch::<ChartGroup>(&env.platform.client, chart_group_ready);
    until("the bench's watches to list", args.timeout(), || {
        namespaces.listed() && groups.listed()
    })
    .await;
    env.harbor.emulator.clear_calls();
    env.platform.api.clear_requests();

    let started = Instant::now();
    let daemon = Daemon::spawn(&env, args, resync, false);
    let ns_time = until("every Namespace to be Ready", args.timeout(), || {
        namespaces.ready_count() >= n
    })
    .await;
    until("every ChartGroup to be Ready", args.timeout(), || {
        groups.ready_count() >= n
    })
    .await;
    let all_time = started.elapsed();
    // Ready is written before the children are listed: wait until Harbor sees no more calls.
    let quiet = quiescent(&env.harbor.emulator, args.timeout()).await;
    let quiet_time = quiet.duration_since(started);
    let rss = daemon.peak_rss_mib();
    let harbor = harbor_tally(&env.harbor.emulator);
    let kube = kube_tally(&env.platform.api);
    let projects = env.harbor.emulator.project_names().len();
    // One create per project, plus the pages of one project listing (100 a page).
    let minimum = 2 * n + projects.div_ceil(HARBOR_PAGE);
    let harbor_calls = harbor.reads + harbor.writes;
    // N × latency / concurrency: the time N calls take at full concurrency.
    let unit = args.latency().as_secs_f64() / args.concurrency as f64;
    eprintln!(
        "[initial run {run}] seeded {n}+{n} in {seeded:.1?}; Namespaces Ready after {ns_time:.2?}, all after {all_time:.2?}, Harbor quiet after {quiet_time:.2?}; \
         {harbor_calls} Harbor calls ({}); Kubernetes: {} reads, {} writes ({:?}); peak RSS {rss:.1} MiB",
        routes(&harbor),
        kube.reads,
        kube.writes,
        kube.by_kind
    );
    let initial = vec![
        fig("wall time, N Namespaces Ready", ns_time.as_secs_f64(), "s"),
        fig("wall time, all 2N Ready", all_time.as_secs_f64(), "s"),
        fig(
            "wall time, until the last Harbor call",
            quiet_time.as_secs_f64(),
            "s",
        ),
        fig(
            "Namespaces Ready / (N × latency / concurrency) [target ≤ 2]",
            ns_time.as_secs_f64() / (n as f64 * unit),
            "×",
        ),
        fig(
            "all 2N Ready / (2N × latency / concurrency)",
            all_time.as_secs_f64() / (2.0 * n as f64 * unit),
            "×",
        ),
        fig("Harbor calls", harbor_calls as f64, ""),
        fig(
            "Harbor calls / minimum [target ≤ 1.05]",
            harbor_calls as f64 / minimum as f64,
            "×",
        ),
        fig("Harbor writes", harbor.writes as f64, ""),
        fig(
            "Kubernetes requests (reads + writes)",
            (kube.reads + kube.writes) as f64,
            "",
        ),
        fig("Kubernetes writes", kube.writes as f64, ""),
        fig("daemon peak RSS (VmHWM) [target ≤ 100]", rss, "MiB"),
    ];

    let mut steady_figures = Vec::new();
    if steady {
        // Harbor is quiet already; then one period.
        env.harbor.emulator.clear_calls();
        env.platform.api.clear_requests();
        let kinds = ["Namespace", "ChartGroup"];
        let before = daemon.reconciles(&kinds).await;
        tokio::time::sleep(resync).await;
        let after = daemon.reconciles(&kinds).await;
        let harbor = harbor_tally(&env.harbor.emulator);
        let kube = kube_tally(&env.platform.api);
        let reconciles = after - before;
        let rss = daemon.peak_rss_mib();
        // Reconciles in the window are resyncs (nothing changed); scale to one per object.
        let per_period = |count: usize| count as f64 / reconciles.max(1.0) * (2 * n) as f64;
        eprintln!(
            "[steady run {run}] {reconciles} project reconciles in {resync:?}; Harbor: {} reads, {} writes ({}); \
             Kubernetes: {} reads, {} writes ({:?}); peak RSS {rss:.1} MiB",
            harbor.reads,
            harbor.writes,
            routes(&harbor),
            kube.reads,
            kube.writes,
            kube.by_kind
        );
        steady_figures = vec![
            fig("Harbor writes in one period", harbor.writes as f64, ""),
            fig(
                "Harbor reads in one period (raw window)",
                harbor.reads as f64,
                "",
            ),
            fig(
                "Harbor reads per period (per project resync × 2N)",
                per_period(harbor.reads),
                "",
            ),
            fig("project reconciles in the window", reconciles, ""),
            fig("Kubernetes writes in one period", kube.writes as f64, ""),
            fig("Kubernetes reads in one period", kube.reads as f64, ""),
            fig("daemon peak RSS (VmHWM)", rss, "MiB"),
        ];
    }
    daemon.stop().await;
    ns_task.abort();
    cg_task.abort();
    env.shutdown().await;
    (initial, steady_figures)
}

/// Deleting a Namespace whose project holds `--repositories` repositories.
async fn delete(args: &Args, run: usize) -> Vec<Figure> {
    let repos = args.repositories;
    // Long resync: nothing but the deletion happens in the measured window.
    let env = Env::start(args.latency()).await;
    let name = "ns-doomed";
    env.seed_namespace(name);
    let (namespaces, ns_task) =
        ReadySet::watch::<RegistryNamespace>(&env.platform.client, namespace_ready);
    let (repositories, repo_task) =
        ReadySet::watch::<Repository>(&env.platform.client, repository_ready);
    let daemon = Daemon::spawn(&env, args, Duration::from_secs(3600), false);
    until("the Namespace to be Ready", args.timeout(), || {
        namespaces.ready_count() >= 1
    })
    .await;
    let project = image_project(name);
    for i in 0..repos {
        env.harbor
            .emulator
            .push_image(&project, &format!("app-{i:04}"), "v1");
    }
    // Any change makes the controller reconcile: the Namespace then creates a Repository each.
    let api: Api<RegistryNamespace> = Api::all(env.platform.client.clone());
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"bench/touch": "1"}}})),
    )
    .await
    .expect("touch");
    until("every Repository to be Ready", args.timeout(), || {
        repositories.ready_count() >= repos
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.harbor.emulator.clear_calls();
    env.platform.api.clear_requests();

    let started = Instant::now();
    api.delete(name, &DeleteParams::default())
        .await
        .expect("delete");
    let project_gone = until("the Harbor project to be deleted", args.timeout(), || {
        env.harbor.emulator.project(&project).is_none()
    })
    .await;
    until("the Namespace to be gone", args.timeout(), || {
        namespaces.is_gone(name)
    })
    .await;
    let ns_gone = started.elapsed();
    until("every Repository to be gone", args.timeout(), || {
        repositories.seen_count() == 0
    })
    .await;
    let all_gone = started.elapsed();
    let harbor = harbor_tally(&env.harbor.emulator);
    let kube = kube_tally(&env.platform.api);
    let concurrency = args.delete_concurrency.min(args.concurrency).max(1);
    let latency = args.latency().as_secs_f64();
    // Sequential: get project, list pages (twice: the purge lists until empty, then checks),
    // list + delete webhook policies, delete project; concurrent: the repository deletions.
    let minimum_calls = repos + repos.div_ceil(HARBOR_PAGE) + 3;
    let bound = (repos.div_ceil(concurrency) + repos.div_ceil(HARBOR_PAGE) + 3) as f64 * latency;
    let calls = harbor.reads + harbor.writes;
    eprintln!(
        "[delete run {run}] project gone after {project_gone:.2?}, Namespace gone after {ns_gone:.2?}, Repositories gone after {all_gone:.2?}; \
         {calls} Harbor calls ({}); Kubernetes {} reads, {} writes ({:?})",
        routes(&harbor),
        kube.reads,
        kube.writes,
        kube.by_kind
    );
    let figures = vec![
        fig(
            "wall time, Harbor project deleted",
            project_gone.as_secs_f64(),
            "s",
        ),
        fig("wall time, Namespace gone", ns_gone.as_secs_f64(), "s"),
        fig(
            "wall time, all Repositories gone",
            all_gone.as_secs_f64(),
            "s",
        ),
        fig("concurrency bound", bound, "s"),
        fig("Namespace gone / bound", ns_gone.as_secs_f64() / bound, "×"),
        fig("Harbor calls", calls as f64, ""),
        fig(
            "Harbor calls / minimum",
            calls as f64 / minimum_calls as f64,
            "×",
        ),
        fig("Kubernetes requests", (kube.reads + kube.writes) as f64, ""),
        fig("daemon peak RSS (VmHWM)", daemon.peak_rss_mib(), "MiB"),
    ];
    daemon.stop().await;
    ns_task.abort();
    repo_task.abort();
    env.shutdown().await;
    figures
}

/// Pushes at a fixed rate; Harbor delivers the webhooks; push → `Repository` status latency.
async fn webhook(args: &Args, run: usize) -> Vec<Figure> {
    let env = Env::start(args.latency()).await;
    let spaces: Vec<String> = (0..args.webhook_namespaces)
        .map(|i| format!("wh-{i:03}"))
        .collect();
    for name in &spaces {
        env.seed_namespace(name);
    }
    let (namespaces, ns_task) =
        ReadySet::watch::<RegistryNamespace>(&env.platform.client, namespace_ready);
    let daemon = Daemon::spawn(&env, args, Duration::from_secs(3600), true);
    until("the Namespaces to be Ready", args.timeout(), || {
        namespaces.ready_count() >= spaces.len()
    })
    .await;
    until("the webhook policies", args.timeout(), || {
        spaces.iter().all(|s| {
            env.harbor
                .emulator
                .project(&image_project(s))
                .is_some_and(|p| !p.webhook_policies.is_empty())
        })
    })
    .await;

    // When each Repository was first seen with its tag, by "namespace/object name".
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let watch = {
        let seen = seen.clone();
        let api: Api<Repository> = Api::all(env.platform.client.clone());
        tokio::spawn(async move {
            let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = event
                    && repository_ready(&o)
                {
                    let now = Instant::now();
                    seen.lock().unwrap().entry(key_of(&o)).or_insert(now);
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.harbor.emulator.clear_calls();

    // The daemon's webhook event queue, sampled while pushing and draining.
    let max_queue = Arc::new(Mutex::new(0.0_f64));
    let sampler = {
        let max_queue = max_queue.clone();
        let port = daemon.port;
        tokio::spawn(async move {
            let probe = Probe { port };
            loop {
                let depth = probe.metric(&["queue_depth{", "webhook_events"]).await;
                {
                    let mut max = max_queue.lock().unwrap();
                    *max = max.max(depth);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let total = args.push_rate as usize * args.push_seconds as usize;
    let mut pushed: Vec<(String, Instant)> = Vec::with_capacity(total);
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.push_rate)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let first = Instant::now();
    for i in 0..total {
        ticks.tick().await;
        let space = &spaces[i % spaces.len()];
        let repository = format!("app-{i:05}");
        let at = Instant::now();
        env.harbor
            .emulator
            .push_image(&image_project(space), &repository, "v1");
        pushed.push((format!("{space}/{}", names::object_name(&repository)), at));
    }
    let push_time = first.elapsed();
    let drained = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let done = {
                let seen = seen.lock().unwrap();
                pushed.iter().all(|(k, _)| seen.contains_key(k))
            };
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_ok();
    sampler.abort();
    let max_queue = *max_queue.lock().unwrap();
    let seen = seen.lock().unwrap().clone();
    let mut latencies: Vec<f64> = pushed
        .iter()
        .filter_map(|(k, at)| {
            seen.get(k)
                .map(|t| t.duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let completed = latencies.len();
    let last = pushed
        .iter()
        .filter_map(|(k, _)| seen.get(k))
        .max()
        .copied()
        .unwrap_or(first);
    let sustained = completed as f64 / last.duration_since(first).as_secs_f64().max(1e-9);
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i]
    };
    let deliveries = env.harbor.emulator.deliveries();
    let failed = deliveries.iter().filter(|d| d.status != Some(200)).count();
    let harbor = harbor_tally(&env.harbor.emulator);
    eprintln!(
        "[webhook run {run}] {total} pushes in {push_time:.2?} ({:.0}/s offered); {completed} statuses{}; \
         p50 {:.1} ms p99 {:.1} ms max {:.1} ms; {} deliveries, {failed} not 200; event queue max {max_queue}; Harbor calls: {}",
        total as f64 / push_time.as_secs_f64(),
        if drained { "" } else { " (TIMED OUT)" },
        pct(0.5),
        pct(0.99),
        pct(1.0),
        deliveries.len(),
        routes(&harbor)
    );
    let figures = vec![
        fig(
            "pushes offered per second",
            total as f64 / push_time.as_secs_f64(),
            "/s",
        ),
        fig("pushes completed per second (sustained)", sustained, "/s"),
        fig(
            "statuses written / pushes",
            completed as f64 / total as f64,
            "",
        ),
        fig("push → Repository status p50", pct(0.5), "ms"),
        fig("push → Repository status p99", pct(0.99), "ms"),
        fig("push → Repository status max", pct(1.0), "ms"),
        fig(
            "Harbor calls per push",
            (harbor.reads + harbor.writes) as f64 / total as f64,
            "",
        ),
        fig("webhook deliveries not answered 200", failed as f64, ""),
        fig("daemon's webhook event queue, max depth", max_queue, ""),
        fig("daemon peak RSS (VmHWM)", daemon.peak_rss_mib(), "MiB"),
    ];
    watch.abort();
    ns_task.abort();
    daemon.stop().await;
    env.shutdown().await;
    figures
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = Args::parse();
    if args.quick {
        args.n = 200;
        args.runs = args.runs.min(3);
        args.push_seconds = 3;
        args.repositories = 200;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut scenarios = args.scenario.clone();
    scenarios.sort();
    scenarios.dedup();
    eprintln!("{}", machine());
    eprintln!("{args:?}");
    let mut results = Results::default();
    for run in 1..=args.runs {
        let steady = scenarios.contains(&Scenario::Steady);
        if scenarios.contains(&Scenario::Initial) || steady {
            let (initial, steady_figures) = initial_and_steady(&args, run, steady).await;
            results.add(&format!("initial sync, N = {}", args.n), initial);
            if steady {
                results.add(
                    &format!("steady-state resync, {} projects", 2 * args.n),
                    steady_figures,
                );
            }
        }
        if scenarios.contains(&Scenario::Delete) {
            let figures = delete(&args, run).await;
            results.add(
                &format!("delete, {} repositories", args.repositories),
                figures,
            );
        }
        if scenarios.contains(&Scenario::Webhook) {
            let figures = webhook(&args, run).await;
            results.add(&format!("webhooks, {}/s", args.push_rate), figures);
        }
    }
    results.print(&args);
}
