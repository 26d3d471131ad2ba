//! Image tenancy through the real controller loop (watch, finalizer, status, events) against the
//! API stand-in and the Harbor emulator over HTTPS.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use harbor_bridge::resources::{ProjectBinding, RegistryNamespace, Repository, RepositoryTag};
use harbor_bridge::sync::SyncOptions;
use harbor_emulator::{Call, Emulator, Method, Profile, ProjectView};
use k8s_openapi::api::core::v1::Namespace as KubeNamespace;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::{Daemon, Harbor, Platform, eventually, fast_options, wait_gone};

const WAIT: Duration = Duration::from_secs(20);

fn namespace(object_name: &str, tenant: &str, name: &str, visibility: &str) -> RegistryNamespace {
    serde_json::from_value(json!({
        "apiVersion": "registry.tkestack.io/v1",
        "kind": "Namespace",
        "metadata": {"name": object_name},
        "spec": {"name": name, "tenantID": tenant, "visibility": visibility}
    }))
    .unwrap()
}

fn ready_state(ns: &RegistryNamespace) -> (String, String, String) {
    ns.status
        .as_ref()
        .and_then(|s| s.sync.ready_condition())
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
        .unwrap_or_default()
}

/// The Harbor project the Namespace's status is bound to.
fn binding(ns: &RegistryNamespace) -> Option<ProjectBinding> {
    ns.status.as_ref()?.sync.harbor_project.clone()
}

/// The id of the Harbor project the Namespace's status is bound to.
fn bound_id(ns: &RegistryNamespace) -> Option<i64> {
    binding(ns)?.id
}

fn has_finalizer(ns: &RegistryNamespace) -> bool {
    ns.finalizers()
        .iter()
        .any(|f| f == harbor_bridge::sync::FINALIZER)
}

async fn list_repositories(repos: &Api<Repository>) -> Result<Vec<Repository>, String> {
    Ok(repos
        .list(&Default::default())
        .await
        .map_err(|e| e.to_string())?
        .items)
}

/// Waits until there are `count` Repositories in `repos`.
async fn wait_repository_count(repos: &Api<Repository>, what: &str, count: usize) {
    eventually(what, WAIT, || async {
        let n = list_repositories(repos).await?.len();
        (n == count)
            .then_some(())
            .ok_or(format!("{n} Repositories"))
    })
    .await;
}

/// Waits until `check` holds for the number of Repositories in `repos` and all their tags;
/// returns the tags.
async fn wait_tags(
    repos: &Api<Repository>,
    what: &str,
    check: impl Fn(usize, &[RepositoryTag]) -> bool,
) -> Vec<RepositoryTag> {
    eventually(what, WAIT, || async {
        let list = list_repositories(repos).await?;
        let tags: Vec<RepositoryTag> = list
            .iter()
            .flat_map(|r| r.status.iter().flat_map(|s| s.tags.clone()))
            .collect();
        if check(list.len(), &tags) {
            Ok(tags)
        } else {
            Err(format!("{} Repositories, tags {tags:?}", list.len()))
        }
    })
    .await
}

fn tag_names(tags: &[RepositoryTag]) -> Vec<&str> {
    tags.iter().map(|t| t.name.as_str()).collect()
}

/// Harbor, the platform and (unless stopped) the daemon, with the registry Namespace API.
struct Scene {
    harbor: Harbor,
    platform: Platform,
    daemon: Option<Daemon>,
    /// Whether daemons started here install webhook policies.
    webhooks: bool,
    namespaces: Api<RegistryNamespace>,
}

impl Scene {
    /// Harbor of `profile`, the platform and a daemon running with `options`.
    async fn start(profile: Profile, options: SyncOptions, webhooks: bool) -> Self {
        let mut scene = Self::without_daemon(profile, webhooks).await;
        scene.start_daemon(options).await;
        scene
    }

    /// The usual scene: Harbor 2.8, fast options, no webhook policies.
    async fn standard() -> Self {
        Self::start(Profile::Harbor28, fast_options(), false).await
    }

    /// Harbor and the platform only; `start_daemon` brings the daemon.
    async fn without_daemon(profile: Profile, webhooks: bool) -> Self {
        let harbor = Harbor::start(profile).await;
        let platform = Platform::start().await;
        let namespaces = Api::all(platform.client.clone());
        Self {
            harbor,
            platform,
            daemon: None,
            webhooks,
            namespaces,
        }
    }

    async fn start_daemon(&mut self, options: SyncOptions) {
        assert!(self.daemon.is_none(), "a daemon is already running");
        let daemon = Daemon::start(&self.platform, &self.harbor, options, self.webhooks).await;
        self.daemon = Some(daemon);
    }

    /// A graceful stop of the daemon.
    async fn stop_daemon(&mut self) {
        self.daemon.take().expect("a running daemon").stop().await;
    }

    /// Kills the daemon where it is.
    fn crash_daemon(&mut self) {
        self.daemon.take().expect("a running daemon").crash();
    }

    /// Ends the test: stops the daemon if one runs.
    async fn stop(mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.stop().await;
        }
    }

    fn emulator(&self) -> &Emulator {
        &self.harbor.emulator
    }

    fn webhook_url(&self) -> &str {
        &self.daemon.as_ref().expect("a running daemon").webhook_url
    }

    async fn create(&self, object: &RegistryNamespace) {
        self.namespaces
            .create(&PostParams::default(), object)
            .await
            .unwrap();
    }

    /// Creates the registry Namespace `object_name` for project `{tenant}-image-{name}`.
    async fn create_namespace(
        &self,
        object_name: &str,
        tenant: &str,
        name: &str,
        visibility: &str,
    ) {
        self.create(&namespace(object_name, tenant, name, visibility))
            .await;
    }

    /// Creates a registry Namespace and waits until it is synced; returns the synced object.
    async fn create_synced(
        &self,
        object_name: &str,
        tenant: &str,
        name: &str,
        visibility: &str,
    ) -> RegistryNamespace {
        self.create_namespace(object_name, tenant, name, visibility)
            .await;
        self.wait_synced(object_name).await
    }

    /// Waits until `check` holds for the registry Namespace `name`; returns the object.
    async fn wait_namespace(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&RegistryNamespace) -> bool,
    ) -> RegistryNamespace {
        eventually(what, WAIT, || async {
            let ns = self.namespaces.get(name).await.map_err(|e| e.to_string())?;
            if check(&ns) {
                Ok(ns)
            } else {
                Err(format!("status {:?}", ns.status))
            }
        })
        .await
    }

    /// Waits until the Namespace's Ready condition has `status` and `reason`; returns the object.
    async fn wait_ready(&self, name: &str, status: &str, reason: &str) -> RegistryNamespace {
        let what = format!("Namespace {name} Ready={status} ({reason})");
        self.wait_namespace(name, &what, |ns| {
            let state = ready_state(ns);
            state.0 == status && state.1 == reason
        })
        .await
    }

    async fn wait_synced(&self, name: &str) -> RegistryNamespace {
        self.wait_ready(name, "True", "Synced").await
    }

    /// Waits until the Namespace's status counts `count` repositories.
    async fn wait_repo_count(&self, name: &str, count: i32) {
        let what = format!("Namespace {name} repoCount {count}");
        self.wait_namespace(name, &what, |ns| {
            ns.status.as_ref().map(|s| s.repo_count) == Some(count)
        })
        .await;
    }

    async fn delete(&self, name: &str) {
        self.namespaces
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }

    async fn wait_gone(&self, name: &str) {
        wait_gone(&self.namespaces, name).await;
    }

    /// Deletes the registry Namespace and waits until it is gone, finalizer and all.
    async fn delete_and_wait(&self, name: &str) {
        self.delete(name).await;
        self.wait_gone(name).await;
    }

    /// The Repositories in the Kubernetes namespace `namespace`.
    fn repositories(&self, namespace: &str) -> Api<Repository> {
        Api::namespaced(self.platform.client.clone(), namespace)
    }

    fn kube_namespaces(&self) -> Api<KubeNamespace> {
        Api::all(self.platform.client.clone())
    }

    async fn create_kube_namespace(&self, name: &str, labels: Value) {
        let ns: KubeNamespace =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
        self.kube_namespaces()
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }

    /// Waits until Harbor's project `name` exists and satisfies `check`; returns it.
    async fn wait_project(
        &self,
        what: &str,
        name: &str,
        check: impl Fn(&ProjectView) -> bool,
    ) -> ProjectView {
        eventually(what, WAIT, || async {
            match self.harbor.emulator.project(name) {
                Some(p) if check(&p) => Ok(p),
                Some(p) => Err(format!("{name}: id {}, public {}", p.id, p.public)),
                None => Err(format!("{name} missing")),
            }
        })
        .await
    }

    /// The calls the daemon sent to Harbor that `keep` selects, as `METHOD path`.
    fn harbor_calls(&self, keep: impl Fn(&Call) -> bool) -> Vec<String> {
        self.harbor
            .emulator
            .calls()
            .into_iter()
            .filter(|c| keep(c))
            .map(|c| format!("{} {}", c.method, c.raw_path))
            .collect()
    }

    /// Writes (anything but GET/HEAD) the daemon sent to Harbor whose path contains `needle`.
    fn harbor_writes(&self, needle: &str) -> Vec<String> {
        self.harbor_calls(|c| {
            c.method != Method::GET && c.method != Method::HEAD && c.raw_path.contains(needle)
        })
    }

    /// Writes the platform's API received, as `METHOD path`.
    fn kube_writes(&self) -> Vec<String> {
        self.platform
            .api
            .requests()
            .into_iter()
            .filter(|r| r.is_write())
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_gets_its_project_and_keeps_it_in_step() {
    let scene = Scene::standard().await;

    let ready = scene
        .create_synced("rns-test", "default", "test", "Private")
        .await;
    let project = scene
        .emulator()
        .project("default-image-test")
        .expect("project created");
    assert!(!project.public);
    let binding = binding(&ready).unwrap();
    assert_eq!(
        (binding.name.as_str(), binding.id),
        ("default-image-test", Some(project.id))
    );
    assert_eq!(
        ready.status.as_ref().unwrap().sync.observed_generation,
        ready.metadata.generation
    );
    assert!(has_finalizer(&ready));

    // A visibility change on the resource is applied.
    let public = json!({"spec": {"visibility": "Public"}});
    scene
        .namespaces
        .patch("rns-test", &PatchParams::default(), &Patch::Merge(&public))
        .await
        .unwrap();
    scene
        .wait_project("project to turn public", "default-image-test", |p| p.public)
        .await;

    // Drift in Harbor is corrected within a resync: visibility reset, deleted project recreated.
    let client = scene.harbor.client();
    client
        .set_project_public("default-image-test", false)
        .await
        .unwrap();
    scene
        .wait_project("visibility reset", "default-image-test", |p| p.public)
        .await;
    client.delete_project("default-image-test").await.unwrap();
    let recreated = scene
        .wait_project("project recreated", "default-image-test", |p| {
            p.id != project.id
        })
        .await;
    assert!(recreated.public, "recreated with the resource's visibility");
    scene
        .wait_namespace("rns-test", "status bound to the new id", |ns| {
            bound_id(ns) == Some(recreated.id)
        })
        .await;

    // Steady state writes nothing, to Harbor or to Kubernetes.
    scene.emulator().clear_calls();
    scene.platform.api.clear_requests();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(scene.harbor_writes("/api/"), Vec::<String>::new());
    assert_eq!(
        scene.kube_writes(),
        Vec::<String>::new(),
        "steady state wrote to Kubernetes"
    );
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_empties_every_page_then_deletes_the_project() {
    let scene = Scene::standard().await;
    scene
        .create_synced("rns-big", "default", "big", "Private")
        .await;
    for i in 0..250 {
        let repo = if i % 5 == 0 {
            format!("team/app-{i}/api")
        } else {
            format!("app-{i}")
        };
        scene
            .emulator()
            .push_image("default-image-big", &repo, "v1");
    }
    scene.wait_repo_count("rns-big", 250).await;
    scene.emulator().clear_calls();

    scene.delete_and_wait("rns-big").await;
    assert!(
        scene.emulator().project("default-image-big").is_none(),
        "project deleted"
    );
    let mut deletes: BTreeMap<String, usize> = BTreeMap::new();
    for call in scene.emulator().calls() {
        if call.method == Method::DELETE && call.raw_path.contains("/repositories/") {
            *deletes.entry(call.raw_path).or_default() += 1;
        }
    }
    assert_eq!(deletes.len(), 250, "every repository deleted");
    assert!(
        deletes.values().all(|n| *n == 1),
        "a repository was deleted twice: {deletes:?}"
    );
    assert!(
        deletes.keys().any(|p| p.contains("team%252Fapp-0%252Fapi")),
        "nested names double-encoded"
    );
    wait_gone(&scene.kube_namespaces(), "rns-big").await;
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harbor_failing_during_deletion_keeps_the_finalizer_until_it_recovers() {
    let scene = Scene::standard().await;
    scene
        .create_synced("rns-flaky", "default", "flaky", "Private")
        .await;
    for i in 0..30 {
        scene
            .emulator()
            .push_image("default-image-flaky", &format!("app-{i}"), "v1");
    }
    scene.emulator().faults().fail_next_matching(
        100_000,
        Method::DELETE,
        "/api/v2.0/projects/default-image-flaky",
        503,
    );
    scene.delete("rns-flaky").await;
    let stuck = scene
        .wait_ready("rns-flaky", "False", "HarborUnavailable")
        .await;
    assert!(has_finalizer(&stuck));
    assert!(
        ready_state(&stuck).2.contains("503"),
        "{:?}",
        ready_state(&stuck)
    );
    assert!(scene.emulator().project("default-image-flaky").is_some());

    scene.emulator().faults().clear();
    scene.wait_gone("rns-flaky").await;
    assert!(scene.emulator().project("default-image-flaky").is_none());
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_purge_finishes_after_restart() {
    let mut scene = Scene::standard().await;
    scene
        .create_synced("rns-crash", "default", "crash", "Private")
        .await;
    for i in 0..120 {
        scene
            .emulator()
            .push_image("default-image-crash", &format!("team/app-{i}"), "v1");
    }
    scene.emulator().faults().latency(Duration::from_millis(20));
    scene.delete("rns-crash").await;
    eventually("the purge to be under way", WAIT, || async {
        let left = scene.emulator().repositories("default-image-crash").len();
        (left < 100).then_some(()).ok_or(format!("{left} left"))
    })
    .await;
    scene.crash_daemon();
    let left = scene.emulator().repositories("default-image-crash").len();
    assert!(
        left > 0,
        "the purge finished before the crash; slow it down"
    );
    scene.emulator().faults().clear();

    scene.start_daemon(fast_options()).await;
    scene.wait_gone("rns-crash").await;
    assert!(scene.emulator().project("default-image-crash").is_none());
    assert!(
        !scene
            .emulator()
            .project_names()
            .iter()
            .any(|p| p.contains("crash")),
        "nothing leaked"
    );
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_without_touching_harbor() {
    let mut scene = Scene::without_daemon(Profile::Harbor28, false).await;
    scene
        .emulator()
        .create_project("default-image-taken", false);
    scene.start_daemon(fast_options()).await;
    let cases = [
        (
            namespace("rns-upper", "default", "Bad_Name", "Private"),
            "InvalidName",
        ),
        (
            namespace("rns-dashes", "default", "a--b", "Private"),
            "InvalidName",
        ),
        (
            namespace("rns-long", "default", &"x".repeat(250), "Private"),
            "NameTooLong",
        ),
        (
            namespace("rns-notenant", "", "orphan", "Private"),
            "TenantMissing",
        ),
        (
            namespace("rns-taken", "default", "taken", "Private"),
            "ProjectExists",
        ),
    ];
    for (object, _) in &cases {
        scene.create(object).await;
    }
    scene
        .create_synced("rns-first", "default", "dup", "Private")
        .await;
    scene
        .create_namespace("rns-second", "default", "dup", "Private")
        .await;
    scene
        .create_namespace("rns-fine", "default", "fine", "Public")
        .await;

    for (object, reason) in &cases {
        let refused = scene.wait_ready(&object.name_any(), "False", reason).await;
        assert!(!ready_state(&refused).2.is_empty());
    }
    let conflict = scene
        .wait_ready("rns-second", "False", "ProjectConflict")
        .await;
    assert!(
        ready_state(&conflict).2.contains("rns-first"),
        "{:?}",
        ready_state(&conflict)
    );
    scene.wait_synced("rns-fine").await;

    assert_eq!(
        scene.harbor_writes("default-image-taken"),
        Vec::<String>::new()
    );
    let creates =
        scene.harbor_calls(|c| c.method == Method::POST && c.raw_path == "/api/v2.0/projects");
    assert_eq!(
        creates.len(),
        2,
        "only dup and fine were created: {creates:?}"
    );
    let events = scene.platform.api.list("events.k8s.io/v1", "events", None);
    for reason in [
        "InvalidName",
        "TenantMissing",
        "ProjectExists",
        "ProjectConflict",
    ] {
        assert!(
            events.iter().any(|e| e["reason"] == reason),
            "no {reason} event in {events:?}"
        );
    }

    // Deleting a refused resource never deletes the project it names.
    scene.delete_and_wait("rns-taken").await;
    assert!(
        scene.emulator().project("default-image-taken").is_some(),
        "a foreign project was deleted"
    );

    // With adoption allowed, a pre-existing project is taken over.
    scene.stop_daemon().await;
    scene
        .emulator()
        .create_project("default-image-adopt", false);
    scene
        .start_daemon(SyncOptions {
            adopt_existing_projects: true,
            ..fast_options()
        })
        .await;
    let adopted = scene
        .create_synced("rns-adopt", "default", "adopt", "Public")
        .await;
    let id = scene.emulator().project("default-image-adopt").unwrap().id;
    assert_eq!(bound_id(&adopted), Some(id));
    assert!(
        scene
            .emulator()
            .project("default-image-adopt")
            .unwrap()
            .public
    );
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_policy_keeps_the_harbor_data() {
    let scene = Scene::standard().await;
    let mut keep = namespace("rns-keep", "default", "keep", "Private");
    keep.spec.deletion_policy = Some(harbor_bridge::resources::DeletionPolicy::Orphan);
    scene.create(&keep).await;
    scene.wait_synced("rns-keep").await;
    scene
        .emulator()
        .push_image("default-image-keep", "app", "v1");
    wait_repository_count(
        &scene.repositories("rns-keep"),
        "the Repository to appear",
        1,
    )
    .await;
    scene.delete_and_wait("rns-keep").await;
    assert!(scene.emulator().project("default-image-keep").is_some());
    assert_eq!(
        scene.emulator().repositories("default-image-keep"),
        ["default-image-keep/app"]
    );
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_become_repositories_with_tags_and_deletes_flow_both_ways() {
    let options = SyncOptions {
        resync_interval: Duration::from_secs(3600),
        ..fast_options()
    };
    let scene = Scene::start(Profile::Harbor28, options, true).await;
    scene
        .create_synced("rns-web", "acme", "web", "Private")
        .await;
    let policies = scene
        .emulator()
        .project("acme-image-web")
        .unwrap()
        .webhook_policies;
    assert_eq!(policies.len(), 1, "webhook policy installed");

    // With the resync an hour away, only the webhook can make these appear.
    let repos = scene.repositories("rns-web");
    let digest = scene
        .emulator()
        .push_image("acme-image-web", "team/app/api", "v1");
    let first = wait_tags(&repos, "the pushed tag", |n, tags| {
        n == 1 && tags.len() == 1
    })
    .await;
    assert_eq!(
        (first[0].name.as_str(), first[0].digest.as_str()),
        ("v1", digest.as_str())
    );
    assert!(first[0].time_created.is_some());
    scene
        .emulator()
        .push_image("acme-image-web", "team/app/api", "v2");
    wait_tags(&repos, "a second tag", |n, tags| n == 1 && tags.len() == 2).await;

    // DELETE_ARTIFACT (a user deleting v1 in Harbor's UI) updates the tags.
    assert!(
        scene
            .emulator()
            .delete_artifact("acme-image-web", "team/app/api", "v1")
    );
    wait_tags(&repos, "v1 to leave the tags", |n, tags| {
        n == 1 && tag_names(tags) == ["v2"]
    })
    .await;
    scene
        .emulator()
        .push_image("acme-image-web", "team/app/api", "v1");
    wait_tags(&repos, "v1 back", |n, tags| n == 1 && tags.len() == 2).await;

    // Every event for the repository converged on one object with a deterministic name.
    let repository = list_repositories(&repos).await.unwrap().remove(0);
    assert_eq!(repository.spec.name, "team/app/api");

    // Bad webhooks change nothing.
    let http = reqwest::Client::new();
    let body = json!({"type": "PUSH_ARTIFACT", "event_data": {"resources": [{"tag": "evil", "digest": "sha256:00"}],
        "repository": {"name": "evil", "namespace": "acme-image-web", "repo_full_name": "acme-image-web/evil"}}});
    let wrong = http
        .post(scene.webhook_url())
        .header("Authorization", "Bearer wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let malformed = http
        .post(scene.webhook_url())
        .header("Authorization", support::WEBHOOK_SECRET)
        .body("{\"type\": \"PUSH_ARTIFACT\", \"event_da")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(list_repositories(&repos).await.unwrap().len(), 1);

    // Deleting the Repository deletes it in Harbor.
    repos
        .delete(&repository.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&repos, &repository.name_any()).await;
    assert!(scene.emulator().repositories("acme-image-web").is_empty());
    scene.wait_repo_count("rns-web", 0).await;

    // A repository deleted in Harbor disappears from the platform, without a stuck finalizer.
    scene.emulator().push_image("acme-image-web", "other", "v1");
    wait_repository_count(&repos, "the new Repository", 1).await;
    scene
        .harbor
        .client()
        .delete_repository("acme-image-web", "other")
        .await
        .unwrap();
    wait_repository_count(&repos, "the Repository to go", 0).await;
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resync_heals_a_push_whose_webhook_was_lost() {
    // No webhook policies: every push is a "lost" webhook.
    let scene = Scene::start(Profile::Harbor27, fast_options(), false).await;
    scene
        .create_synced("rns-quiet", "default", "quiet", "Private")
        .await;
    scene
        .emulator()
        .push_image("default-image-quiet", "app", "1.0");
    wait_tags(
        &scene.repositories("rns-quiet"),
        "the resync to bring the push",
        |_, tags| tag_names(tags) == ["1.0"],
    )
    .await;
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labelled_kubernetes_namespace_gets_a_project_and_takes_it_along_when_deleted() {
    let scene = Scene::standard().await;
    scene
        .create_kube_namespace("team-a", json!({"registry.tkestack.io/tenant": "default"}))
        .await;
    scene.wait_synced("team-a").await;
    assert!(scene.emulator().project("default-image-team-a").is_some());
    scene
        .emulator()
        .push_image("default-image-team-a", "app", "v1");
    wait_repository_count(
        &scene.repositories("team-a"),
        "the Repository in the tenant's namespace",
        1,
    )
    .await;

    let kube_namespaces = scene.kube_namespaces();
    kube_namespaces
        .delete("team-a", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&kube_namespaces, "team-a").await;
    scene.wait_gone("team-a").await;
    assert!(
        scene.emulator().project("default-image-team-a").is_none(),
        "project deleted with the namespace"
    );
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_harbors_201_and_the_status_write_is_not_a_conflict() {
    let mut scene = Scene::without_daemon(Profile::Harbor28, false).await;
    // The state a crash leaves: the claim recorded, Harbor's project created, no id in status.
    scene
        .create_namespace("rns-half", "default", "half", "Private")
        .await;
    let claim = json!({"status": {"harborProject": {"name": "default-image-half"}}});
    scene
        .namespaces
        .patch_status("rns-half", &PatchParams::default(), &Patch::Merge(&claim))
        .await
        .unwrap();
    let id = scene.emulator().create_project("default-image-half", false);

    scene.start_daemon(fast_options()).await;
    let ready = scene.wait_synced("rns-half").await;
    assert_eq!(bound_id(&ready), Some(id));
    let creates = scene.harbor_calls(|c| c.method == Method::POST);
    assert_eq!(
        creates.len(),
        0,
        "the project was taken as its own, not created again: {creates:?}"
    );
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_status_write_after_harbors_201_is_recovered_without_a_conflict() {
    let scene = Scene::standard().await;
    // Slow the create down, wait for the claim to be recorded, then fail the next status write:
    // the one that would record Harbor's answer.
    scene
        .emulator()
        .faults()
        .latency(Duration::from_millis(300));
    scene
        .create_namespace("rns-window", "default", "window", "Private")
        .await;
    scene
        .wait_namespace("rns-window", "the claim before the create", |ns| {
            binding(ns).is_some_and(|b| b.id.is_none())
        })
        .await;
    let status_writes = kube_standin::RequestMatch::any()
        .method("PATCH")
        .path_contains("rns-window/status");
    scene
        .platform
        .api
        .faults()
        .fail_matching(1, 500, status_writes);
    scene.emulator().faults().clear();
    let ready = scene.wait_synced("rns-window").await;
    let id = scene.emulator().project("default-image-window").unwrap().id;
    assert_eq!(bound_id(&ready), Some(id));
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_recreated_by_someone_else_is_neither_taken_nor_deleted() {
    let mut scene = Scene::standard().await;
    scene
        .create_synced("rns-moved", "default", "moved", "Private")
        .await;
    scene.stop_daemon().await;

    // While the daemon is away, someone deletes the project and makes their own of that name.
    scene
        .harbor
        .client()
        .delete_project("default-image-moved")
        .await
        .unwrap();
    let theirs = scene.emulator().create_project("default-image-moved", true);
    scene
        .emulator()
        .push_image("default-image-moved", "their-app", "v1");

    scene.start_daemon(fast_options()).await;
    scene
        .wait_ready("rns-moved", "False", "ProjectReplaced")
        .await;
    scene.delete_and_wait("rns-moved").await;
    let project = scene
        .emulator()
        .project("default-image-moved")
        .expect("their project survives");
    assert_eq!(project.id, theirs);
    assert_eq!(
        scene.emulator().repositories("default-image-moved"),
        ["default-image-moved/their-app"]
    );
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_matched_by_the_selector_get_the_default_tenant() {
    let options = SyncOptions {
        namespace_selector: Some("registry=enabled".into()),
        default_tenant: Some("shared".into()),
        ..fast_options()
    };
    let scene = Scene::start(Profile::Harbor28, options, false).await;
    for (name, labels) in [
        ("selected", json!({"registry": "enabled"})),
        ("labelled", json!({"registry.tkestack.io/tenant": "acme"})),
        ("ignored", json!({"team": "x"})),
    ] {
        scene.create_kube_namespace(name, labels).await;
    }
    scene.wait_synced("selected").await;
    scene.wait_synced("labelled").await;
    assert!(scene.emulator().project("shared-image-selected").is_some());
    assert!(scene.emulator().project("acme-image-labelled").is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        scene.namespaces.get_opt("ignored").await.unwrap().is_none(),
        "an unselected namespace was synced"
    );
    scene.stop().await;
}
