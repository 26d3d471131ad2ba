//! Image tenancy through the real controller loop (watch, finalizer, status, events) against the
//! API stand-in and the Harbor emulator over HTTPS.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use harbor_bridge::resources::{RegistryNamespace, Repository};
use harbor_bridge::sync::SyncOptions;
use harbor_emulator::{Method, Profile};
use k8s_openapi::api::core::v1::Namespace as KubeNamespace;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{Daemon, Harbor, Platform, eventually, fast_options};

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

/// Waits until the Namespace's Ready condition has `status` and `reason`; returns the object.
async fn wait_ready(
    api: &Api<RegistryNamespace>,
    name: &str,
    status: &str,
    reason: &str,
) -> RegistryNamespace {
    eventually(
        &format!("Namespace {name} Ready={status} ({reason})"),
        WAIT,
        || async {
            let ns = api.get(name).await.map_err(|e| e.to_string())?;
            let state = ready_state(&ns);
            if state.0 == status && state.1 == reason {
                Ok(ns)
            } else {
                Err(format!("{state:?}"))
            }
        },
    )
    .await
}

async fn wait_gone<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(&format!("{name} to be deleted"), WAIT, || async {
        match api.get_opt(name).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(o) => Err(format!("still there, finalizers {:?}", o.finalizers())),
        }
    })
    .await;
}

/// Writes (anything but GET/HEAD) the daemon sent to Harbor whose path contains `needle`.
fn harbor_writes(harbor: &Harbor, needle: &str) -> Vec<String> {
    harbor
        .emulator
        .calls()
        .into_iter()
        .filter(|c| c.method != Method::GET && c.method != Method::HEAD)
        .filter(|c| c.raw_path.contains(needle))
        .map(|c| format!("{} {}", c.method, c.raw_path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_gets_its_project_and_keeps_it_in_step() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    let api: Api<RegistryNamespace> = Api::all(platform.client.clone());

    api.create(
        &PostParams::default(),
        &namespace("rns-test", "default", "test", "Private"),
    )
    .await
    .unwrap();
    let ready = wait_ready(&api, "rns-test", "True", "Synced").await;
    let project = harbor
        .emulator
        .project("default-image-test")
        .expect("project created");
    assert!(!project.public);
    let binding = ready
        .status
        .as_ref()
        .unwrap()
        .sync
        .harbor_project
        .clone()
        .unwrap();
    assert_eq!(
        (binding.name.as_str(), binding.id),
        ("default-image-test", Some(project.id))
    );
    assert_eq!(
        ready.status.as_ref().unwrap().sync.observed_generation,
        ready.metadata.generation
    );
    assert!(
        ready
            .finalizers()
            .iter()
            .any(|f| f == harbor_bridge::sync::FINALIZER)
    );

    // A visibility change on the resource is applied.
    let public = json!({"spec": {"visibility": "Public"}});
    api.patch("rns-test", &PatchParams::default(), &Patch::Merge(&public))
        .await
        .unwrap();
    eventually("project to turn public", WAIT, || async {
        harbor
            .emulator
            .project("default-image-test")
            .filter(|p| p.public)
            .map(drop)
            .ok_or("private".to_owned())
    })
    .await;

    // Drift in Harbor is corrected within a resync: visibility reset, deleted project recreated.
    let client = harbor.client();
    client
        .set_project_public("default-image-test", false)
        .await
        .unwrap();
    eventually("visibility reset", WAIT, || async {
        harbor
            .emulator
            .project("default-image-test")
            .filter(|p| p.public)
            .map(drop)
            .ok_or("still private".to_owned())
    })
    .await;
    client.delete_project("default-image-test").await.unwrap();
    eventually("project recreated", WAIT, || async {
        harbor
            .emulator
            .project("default-image-test")
            .filter(|p| p.id != project.id)
            .map(drop)
            .ok_or("missing".to_owned())
    })
    .await;
    let recreated = harbor.emulator.project("default-image-test").unwrap();
    assert!(recreated.public, "recreated with the resource's visibility");
    eventually("status bound to the new id", WAIT, || async {
        let ns = api.get("rns-test").await.map_err(|e| e.to_string())?;
        let id = ns
            .status
            .and_then(|s| s.sync.harbor_project)
            .and_then(|b| b.id);
        (id == Some(recreated.id))
            .then_some(())
            .ok_or(format!("{id:?}"))
    })
    .await;

    // Steady state writes nothing, to Harbor or to Kubernetes.
    harbor.emulator.clear_calls();
    platform.api.clear_requests();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(harbor_writes(&harbor, "/api/"), Vec::<String>::new());
    let kube_writes: Vec<String> = platform
        .api
        .requests()
        .into_iter()
        .filter(|r| r.is_write())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        kube_writes,
        Vec::<String>::new(),
        "steady state wrote to Kubernetes"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_empties_every_page_then_deletes_the_project() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    let api: Api<RegistryNamespace> = Api::all(platform.client.clone());
    api.create(
        &PostParams::default(),
        &namespace("rns-big", "default", "big", "Private"),
    )
    .await
    .unwrap();
    wait_ready(&api, "rns-big", "True", "Synced").await;
    for i in 0..250 {
        let repo = if i % 5 == 0 {
            format!("team/app-{i}/api")
        } else {
            format!("app-{i}")
        };
        harbor.emulator.push_image("default-image-big", &repo, "v1");
    }
    eventually("repoCount 250", WAIT, || async {
        let ns = api.get("rns-big").await.map_err(|e| e.to_string())?;
        let count = ns.status.map(|s| s.repo_count).unwrap_or_default();
        (count == 250).then_some(()).ok_or(format!("{count}"))
    })
    .await;
    harbor.emulator.clear_calls();

    api.delete("rns-big", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "rns-big").await;
    assert!(
        harbor.emulator.project("default-image-big").is_none(),
        "project deleted"
    );
    let mut deletes: BTreeMap<String, usize> = BTreeMap::new();
    for call in harbor.emulator.calls() {
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
    let kube_ns: Api<KubeNamespace> = Api::all(platform.client.clone());
    wait_gone(&kube_ns, "rns-big").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harbor_failing_during_deletion_keeps_the_finalizer_until_it_recovers() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    let api: Api<RegistryNamespace> = Api::all(platform.client.clone());
    api.create(
        &PostParams::default(),
        &namespace("rns-flaky", "default", "flaky", "Private"),
    )
    .await
    .unwrap();
    wait_ready(&api, "rns-flaky", "True", "Synced").await;
    for i in 0..30 {
        harbor
            .emulator
            .push_image("default-image-flaky", &format!("app-{i}"), "v1");
    }
    harbor.emulator.faults().fail_next_matching(
        100_000,
        Method::DELETE,
        "/api/v2.0/projects/default-image-flaky",
        503,
    );
    api.delete("rns-flaky", &DeleteParams::default())
        .await
        .unwrap();
    let stuck = wait_ready(&api, "rns-flaky", "False", "HarborUnavailable").await;
    assert!(
        stuck
            .finalizers()
            .iter()
            .any(|f| f == harbor_bridge::sync::FINALIZER)
    );
    assert!(
        ready_state(&stuck).2.contains("503"),
        "{:?}",
        ready_state(&stuck)
    );
    assert!(harbor.emulator.project("default-image-flaky").is_some());

    harbor.emulator.faults().clear();
    wait_gone(&api, "rns-flaky").await;
    assert!(harbor.emulator.project("default-image-flaky").is_none());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_purge_finishes_after_restart() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    let api: Api<RegistryNamespace> = Api::all(platform.client.clone());
    api.create(
        &PostParams::default(),
        &namespace("rns-crash", "default", "crash", "Private"),
    )
    .await
    .unwrap();
    wait_ready(&api, "rns-crash", "True", "Synced").await;
    for i in 0..120 {
        harbor
            .emulator
            .push_image("default-image-crash", &format!("team/app-{i}"), "v1");
    }
    harbor.emulator.faults().latency(Duration::from_millis(20));
    api.delete("rns-crash", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the purge to be under way", WAIT, || async {
        let left = harbor.emulator.repositories("default-image-crash").len();
        (left < 100).then_some(()).ok_or(format!("{left} left"))
    })
    .await;
    daemon.crash();
    let left = harbor.emulator.repositories("default-image-crash").len();
    assert!(
        left > 0,
        "the purge finished before the crash; slow it down"
    );
    harbor.emulator.faults().clear();

    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    wait_gone(&api, "rns-crash").await;
    assert!(harbor.emulator.project("default-image-crash").is_none());
    assert!(
        !harbor
            .emulator
            .project_names()
            .iter()
            .any(|p| p.contains("crash")),
        "nothing leaked"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_without_touching_harbor() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    harbor.emulator.create_project("default-image-taken", false);
    let platform = Platform::start().await;
    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    let api: Api<RegistryNamespace> = Api::all(platform.client.clone());
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
        api.create(&PostParams::default(), object).await.unwrap();
    }
    api.create(
        &PostParams::default(),
        &namespace("rns-first", "default", "dup", "Private"),
    )
    .await
    .unwrap();
    wait_ready(&api, "rns-first", "True", "Synced").await;
    api.create(
        &PostParams::default(),
        &namespace("rns-second", "default", "dup", "Private"),
    )
    .await
    .unwrap();
    api.create(
        &PostParams::default(),
        &namespace("rns-fine", "default", "fine", "Public"),
    )
    .await
    .unwrap();

    for (object, reason) in &cases {
        let refused = wait_ready(&api, &object.name_any(), "False", reason).await;
        assert!(!ready_state(&refused).2.is_empty());
    }
    let conflict = wait_ready(&api, "rns-second", "False", "ProjectConflict").await;
    assert!(
        ready_state(&conflict).2.contains("rns-first"),
        "{:?}",
        ready_state(&conflict)
    );
    wait_ready(&api, "rns-fine", "True", "Synced").await;

    assert_eq!(
        harbor_writes(&harbor, "default-image-taken"),
        Vec::<String>::new()
    );
    let creates: Vec<_> = harbor
        .emulator
        .calls()
        .into_iter()
        .filter(|c| c.method == Method::POST && c.raw_path == "/api/v2.0/projects")
        .collect();
    assert_eq!(
        creates.len(),
        2,
        "only dup and fine were created: {creates:?}"
    );
    let events = platform.api.list("events.k8s.io/v1", "events", None);
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
    api.delete("rns-taken", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "rns-taken").await;
    assert!(
        harbor.emulator.project("default-image-taken").is_some(),
        "a foreign project was deleted"
    );

    // With adoption allowed, a pre-existing project is taken over.
    daemon.stop().await;
    harbor.emulator.create_project("default-image-adopt", false);
    let options = SyncOptions {
        adopt_existing_projects: true,
        ..fast_options()
    };
    let daemon = Daemon::start(&platform, &harbor, options, false).await;
    api.create(
        &PostParams::default(),
        &namespace("rns-adopt", "default", "adopt", "Public"),
    )
    .await
    .unwrap();
    let adopted = wait_ready(&api, "rns-adopt", "True", "Synced").await;
    let id = harbor.emulator.project("default-image-adopt").unwrap().id;
    assert_eq!(
        adopted.status.unwrap().sync.harbor_project.unwrap().id,
        Some(id)
    );
    assert!(
        harbor
            .emulator
            .project("default-image-adopt")
            .unwrap()
            .public
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_policy_keeps_the_harbor_data() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    let api: Api<RegistryNamespace> = Api::all(platform.client.clone());
    let mut keep = namespace("rns-keep", "default", "keep", "Private");
    keep.spec.deletion_policy = Some(harbor_bridge::resources::DeletionPolicy::Orphan);
    api.create(&PostParams::default(), &keep).await.unwrap();
    wait_ready(&api, "rns-keep", "True", "Synced").await;
    harbor
        .emulator
        .push_image("default-image-keep", "app", "v1");
    let repos: Api<Repository> = Api::namespaced(platform.client.clone(), "rns-keep");
    eventually("the Repository to appear", WAIT, || async {
        let list = repos
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?;
        (list.items.len() == 1)
            .then_some(())
            .ok_or(format!("{}", list.items.len()))
    })
    .await;
    api.delete("rns-keep", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "rns-keep").await;
    assert!(harbor.emulator.project("default-image-keep").is_some());
    assert_eq!(
        harbor.emulator.repositories("default-image-keep"),
        ["default-image-keep/app"]
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_become_repositories_with_tags_and_deletes_flow_both_ways() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    let options = SyncOptions {
        resync_interval: Duration::from_secs(3600),
        ..fast_options()
    };
    let daemon = Daemon::start(&platform, &harbor, options, true).await;
    let api: Api<RegistryNamespace> = Api::all(platform.client.clone());
    api.create(
        &PostParams::default(),
        &namespace("rns-web", "acme", "web", "Private"),
    )
    .await
    .unwrap();
    wait_ready(&api, "rns-web", "True", "Synced").await;
    let policies = harbor
        .emulator
        .project("acme-image-web")
        .unwrap()
        .webhook_policies;
    assert_eq!(policies.len(), 1, "webhook policy installed");

    // With the resync an hour away, only the webhook can make these appear.
    let repos: Api<Repository> = Api::namespaced(platform.client.clone(), "rns-web");
    let digest = harbor
        .emulator
        .push_image("acme-image-web", "team/app/api", "v1");
    let tags = |expected: usize| {
        let repos = repos.clone();
        async move {
            let list = repos
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let tags: Vec<_> = list
                .items
                .iter()
                .flat_map(|r| r.status.iter().flat_map(|s| s.tags.clone()))
                .collect();
            (list.items.len() == 1 && tags.len() == expected)
                .then_some(tags.clone())
                .ok_or(format!("{tags:?}"))
        }
    };
    eventually("the pushed tag", WAIT, || async { tags(1).await.map(drop) }).await;
    let first = tags(1).await.unwrap();
    assert_eq!(
        (first[0].name.as_str(), first[0].digest.as_str()),
        ("v1", digest.as_str())
    );
    assert!(first[0].time_created.is_some());
    harbor
        .emulator
        .push_image("acme-image-web", "team/app/api", "v2");
    eventually("a second tag", WAIT, || async { tags(2).await.map(drop) }).await;

    // Duplicate delivery of the same event converges on the same object.
    let repository = repos
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(repository.spec.name, "team/app/api");

    // Bad webhooks change nothing.
    let http = reqwest::Client::new();
    let body = json!({"type": "PUSH_ARTIFACT", "event_data": {"resources": [{"tag": "evil", "digest": "sha256:00"}],
        "repository": {"name": "evil", "namespace": "acme-image-web", "repo_full_name": "acme-image-web/evil"}}});
    let wrong = http
        .post(&daemon.webhook_url)
        .header("Authorization", "Bearer wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let malformed = http
        .post(&daemon.webhook_url)
        .header("Authorization", support::WEBHOOK_SECRET)
        .body("{\"type\": \"PUSH_ARTIFACT\", \"event_da")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        repos.list(&Default::default()).await.unwrap().items.len(),
        1
    );

    // Deleting the Repository deletes it in Harbor.
    repos
        .delete(&repository.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&repos, &repository.name_any()).await;
    assert!(harbor.emulator.repositories("acme-image-web").is_empty());
    eventually("repoCount back to 0", WAIT, || async {
        let count = api
            .get("rns-web")
            .await
            .map_err(|e| e.to_string())?
            .status
            .map(|s| s.repo_count);
        (count == Some(0)).then_some(()).ok_or(format!("{count:?}"))
    })
    .await;

    // A repository deleted in Harbor disappears from the platform, without a stuck finalizer.
    harbor.emulator.push_image("acme-image-web", "other", "v1");
    eventually("the new Repository", WAIT, || async {
        let n = repos
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        (n == 1).then_some(()).ok_or(format!("{n}"))
    })
    .await;
    harbor
        .client()
        .delete_repository("acme-image-web", "other")
        .await
        .unwrap();
    eventually("the Repository to go", WAIT, || async {
        let n = repos
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        (n == 0).then_some(()).ok_or(format!("{n}"))
    })
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resync_heals_a_push_whose_webhook_was_lost() {
    let harbor = Harbor::start(Profile::Harbor27).await;
    let platform = Platform::start().await;
    // No webhook policies: every push is a "lost" webhook.
    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    let api: Api<RegistryNamespace> = Api::all(platform.client.clone());
    api.create(
        &PostParams::default(),
        &namespace("rns-quiet", "default", "quiet", "Private"),
    )
    .await
    .unwrap();
    wait_ready(&api, "rns-quiet", "True", "Synced").await;
    harbor
        .emulator
        .push_image("default-image-quiet", "app", "1.0");
    let repos: Api<Repository> = Api::namespaced(platform.client.clone(), "rns-quiet");
    eventually("the resync to bring the push", WAIT, || async {
        let list = repos
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?;
        let tags: Vec<String> = list
            .items
            .iter()
            .flat_map(|r| {
                r.status
                    .iter()
                    .flat_map(|s| s.tags.iter().map(|t| t.name.clone()))
            })
            .collect();
        (tags == ["1.0"]).then_some(()).ok_or(format!("{tags:?}"))
    })
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labelled_kubernetes_namespace_gets_a_project_and_takes_it_along_when_deleted() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    let namespaces: Api<KubeNamespace> = Api::all(platform.client.clone());
    let team: KubeNamespace = serde_json::from_value(json!({
        "metadata": {"name": "team-a", "labels": {"registry.tkestack.io/tenant": "default"}}
    }))
    .unwrap();
    namespaces
        .create(&PostParams::default(), &team)
        .await
        .unwrap();
    let api: Api<RegistryNamespace> = Api::all(platform.client.clone());
    wait_ready(&api, "team-a", "True", "Synced").await;
    assert!(harbor.emulator.project("default-image-team-a").is_some());
    harbor
        .emulator
        .push_image("default-image-team-a", "app", "v1");
    let repos: Api<Repository> = Api::namespaced(platform.client.clone(), "team-a");
    eventually("the Repository in the tenant's namespace", WAIT, || async {
        let n = repos
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        (n == 1).then_some(()).ok_or(format!("{n}"))
    })
    .await;

    namespaces
        .delete("team-a", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&namespaces, "team-a").await;
    wait_gone(&api, "team-a").await;
    assert!(
        harbor.emulator.project("default-image-team-a").is_none(),
        "project deleted with the namespace"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_harbors_201_and_the_status_write_is_not_a_conflict() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    let api: Api<RegistryNamespace> = Api::all(platform.client.clone());
    // The state a crash leaves: the claim recorded, Harbor's project created, no id in status.
    api.create(
        &PostParams::default(),
        &namespace("rns-half", "default", "half", "Private"),
    )
    .await
    .unwrap();
    let claim = json!({"status": {"harborProject": {"name": "default-image-half"}}});
    api.patch_status("rns-half", &PatchParams::default(), &Patch::Merge(&claim))
        .await
        .unwrap();
    let id = harbor.emulator.create_project("default-image-half", false);

    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    let ready = wait_ready(&api, "rns-half", "True", "Synced").await;
    assert_eq!(
        ready.status.unwrap().sync.harbor_project.unwrap().id,
        Some(id)
    );
    let creates = harbor
        .emulator
        .calls()
        .into_iter()
        .filter(|c| c.method == Method::POST)
        .count();
    assert_eq!(
        creates, 0,
        "the project was taken as its own, not created again"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_status_write_after_harbors_201_is_recovered_without_a_conflict() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    let api: Api<RegistryNamespace> = Api::all(platform.client.clone());
    // Slow the create down, wait for the claim to be recorded, then fail the next status write:
    // the one that would record Harbor's answer.
    harbor.emulator.faults().latency(Duration::from_millis(300));
    api.create(
        &PostParams::default(),
        &namespace("rns-window", "default", "window", "Private"),
    )
    .await
    .unwrap();
    eventually("the claim before the create", WAIT, || async {
        let ns = api.get("rns-window").await.map_err(|e| e.to_string())?;
        let binding = ns.status.and_then(|s| s.sync.harbor_project);
        match &binding {
            Some(b) if b.id.is_none() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let status_writes = kube_standin::RequestMatch::any()
        .method("PATCH")
        .path_contains("rns-window/status");
    platform.api.faults().fail_matching(1, 500, status_writes);
    harbor.emulator.faults().clear();
    let ready = wait_ready(&api, "rns-window", "True", "Synced").await;
    let id = harbor.emulator.project("default-image-window").unwrap().id;
    assert_eq!(
        ready.status.unwrap().sync.harbor_project.unwrap().id,
        Some(id)
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_recreated_by_someone_else_is_neither_taken_nor_deleted() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    let api: Api<RegistryNamespace> = Api::all(platform.client.clone());
    api.create(
        &PostParams::default(),
        &namespace("rns-moved", "default", "moved", "Private"),
    )
    .await
    .unwrap();
    wait_ready(&api, "rns-moved", "True", "Synced").await;
    daemon.stop().await;

    // While the daemon is away, someone deletes the project and makes their own of that name.
    harbor
        .client()
        .delete_project("default-image-moved")
        .await
        .unwrap();
    let theirs = harbor.emulator.create_project("default-image-moved", true);
    harbor
        .emulator
        .push_image("default-image-moved", "their-app", "v1");

    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    wait_ready(&api, "rns-moved", "False", "ProjectReplaced").await;
    api.delete("rns-moved", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "rns-moved").await;
    let project = harbor
        .emulator
        .project("default-image-moved")
        .expect("their project survives");
    assert_eq!(project.id, theirs);
    assert_eq!(
        harbor.emulator.repositories("default-image-moved"),
        ["default-image-moved/their-app"]
    );
    daemon.stop().await;
}
