//! Chart tenancy through the real controller loop, each scenario against both Harbor
//! generations: 2.7 (charts in ChartMuseum) and 2.8+ (charts as OCI artifacts).

mod support;

use std::time::Duration;

use harbor_bridge::resources::{Chart, ChartGroup, Phase};
use harbor_bridge::sync::chart::DELETE_VERSIONS;
use harbor_bridge::sync::status::Synced;
use harbor_emulator::{Method, Profile};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{Daemon, Harbor, PROFILES, Platform, eventually, fast_options, wait_gone};

const WAIT: Duration = Duration::from_secs(30);

fn group(object_name: &str, tenant: &str, name: &str, visibility: &str) -> ChartGroup {
    serde_json::from_value(json!({
        "apiVersion": "registry.tkestack.io/v1",
        "kind": "ChartGroup",
        "metadata": {"name": object_name},
        "spec": {"name": name, "tenantID": tenant, "visibility": visibility}
    }))
    .unwrap()
}

/// A chart push as each Harbor generation takes it: ChartMuseum upload on 2.7, OCI on 2.8+.
fn push_chart(harbor: &Harbor, project: &str, chart: &str, version: &str) {
    match harbor.emulator.profile() {
        Profile::Harbor27 => harbor
            .emulator
            .upload_chart(project, chart, version)
            .unwrap(),
        Profile::Harbor28 => {
            harbor.emulator.push_oci_chart(project, chart, version);
        }
    }
}

fn ready<K: Synced>(object: &K) -> (String, String) {
    object
        .status()
        .and_then(|s| K::sync(s).ready_condition())
        .map(|c| (c.status.clone(), c.reason.clone()))
        .unwrap_or_default()
}

async fn wait_ready<K>(api: &Api<K>, name: &str, status: &str, reason: &str) -> K
where
    K: Synced + kube::Resource,
{
    eventually(
        &format!("{name} Ready={status} ({reason})"),
        WAIT,
        || async {
            let object = api.get(name).await.map_err(|e| e.to_string())?;
            let state = ready(&object);
            if state.0 == status && state.1 == reason {
                Ok(object)
            } else {
                Err(format!("{state:?}"))
            }
        },
    )
    .await
}

/// The Charts in a group's namespace, by chart name, once `expected` of them are there.
async fn wait_charts(charts: &Api<Chart>, expected: usize) -> Vec<Chart> {
    eventually(&format!("{expected} Chart resources"), WAIT, || async {
        let list = charts
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        if list.items.len() == expected {
            Ok(list.items)
        } else {
            Err(format!("{} charts", list.items.len()))
        }
    })
    .await
}

/// Waits until the chart's status lists exactly `expected` versions; returns them.
async fn wait_versions(charts: &Api<Chart>, name: &str, expected: &[&str]) -> Vec<String> {
    let mut want: Vec<String> = expected.iter().map(|v| (*v).to_owned()).collect();
    want.sort();
    eventually(
        &format!("chart {name} to list {expected:?}"),
        WAIT,
        || async {
            let chart = charts.get(name).await.map_err(|e| e.to_string())?;
            let mut versions: Vec<String> = chart
                .status
                .iter()
                .flat_map(|s| s.versions.iter().map(|v| v.version.clone()))
                .collect();
            versions.sort();
            if versions == want {
                Ok(versions)
            } else {
                Err(format!("{versions:?}"))
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_group_gets_its_project_and_mirrors_its_charts() {
    for profile in PROFILES {
        let harbor = Harbor::start(profile).await;
        let platform = Platform::start().await;
        let daemon = Daemon::start(&platform, &harbor, fast_options(), true).await;
        let groups: Api<ChartGroup> = Api::all(platform.client.clone());
        groups
            .create(
                &PostParams::default(),
                &group("rcg-apps", "default", "apps", "User"),
            )
            .await
            .unwrap();
        let ready_group = wait_ready(&groups, "rcg-apps", "True", "Synced").await;
        assert_eq!(
            ready_group.status.as_ref().unwrap().phase,
            Phase::Available,
            "{profile:?}"
        );
        let project = harbor
            .emulator
            .project("default-chart-apps")
            .expect("project created");
        assert!(!project.public, "User visibility makes a private project");
        let events = &project.webhook_policies[0].event_types;
        assert_eq!(
            events.iter().any(|e| e == "UPLOAD_CHART"),
            profile == Profile::Harbor27,
            "{events:?}"
        );

        // Three versions of one chart, and an image that is not a chart.
        for version in ["1.0.0", "1.1.0", "1.2.0"] {
            push_chart(&harbor, "default-chart-apps", "nginx", version);
        }
        harbor
            .emulator
            .push_image("default-chart-apps", "not-a-chart", "v1");
        let charts: Api<Chart> = Api::namespaced(platform.client.clone(), "rcg-apps");
        let listed = wait_charts(&charts, 1).await;
        let nginx = listed[0].name_any();
        assert_eq!(listed[0].spec.name, "nginx");
        assert_eq!(listed[0].spec.chart_group_name, "apps");
        wait_versions(&charts, &nginx, &["1.0.0", "1.1.0", "1.2.0"]).await;
        eventually("chartCount 1", WAIT, || async {
            let count = groups
                .get("rcg-apps")
                .await
                .map_err(|e| e.to_string())?
                .status
                .map(|s| s.chart_count);
            (count == Some(1)).then_some(()).ok_or(format!("{count:?}"))
        })
        .await;

        // The annotation deletes one version, in Harbor and in status, and is cleared.
        let annotate = json!({"metadata": {"annotations": {DELETE_VERSIONS: "1.1.0"}}});
        charts
            .patch(&nginx, &PatchParams::default(), &Patch::Merge(&annotate))
            .await
            .unwrap();
        wait_versions(&charts, &nginx, &["1.0.0", "1.2.0"]).await;
        let left = match profile {
            Profile::Harbor27 => harbor.emulator.charts("default-chart-apps")[0].1.clone(),
            Profile::Harbor28 => harbor.emulator.tags("default-chart-apps", "nginx"),
        };
        let mut left = left;
        left.sort();
        assert_eq!(left, ["1.0.0", "1.2.0"], "{profile:?}");
        let annotations = charts.get(&nginx).await.unwrap().annotations().clone();
        assert!(
            !annotations.contains_key(DELETE_VERSIONS),
            "annotation not cleared: {annotations:?}"
        );

        // Deleting the Chart removes the chart, all versions, in one call.
        harbor.emulator.clear_calls();
        charts
            .delete(&nginx, &DeleteParams::default())
            .await
            .unwrap();
        wait_gone(&charts, &nginx).await;
        let deletes: Vec<String> = harbor
            .emulator
            .calls()
            .into_iter()
            .filter(|c| c.method == Method::DELETE)
            .map(|c| c.raw_path)
            .collect();
        assert_eq!(deletes.len(), 1, "{profile:?}: {deletes:?}");
        assert!(harbor.emulator.charts("default-chart-apps").is_empty());
        assert!(
            harbor
                .emulator
                .tags("default-chart-apps", "nginx")
                .is_empty()
        );
        assert_eq!(
            harbor.emulator.repositories("default-chart-apps"),
            ["default-chart-apps/not-a-chart"]
        );
        daemon.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_charts_count_on_harbor_2_7_too() {
    let harbor = Harbor::start(Profile::Harbor27).await;
    let platform = Platform::start().await;
    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    let groups: Api<ChartGroup> = Api::all(platform.client.clone());
    groups
        .create(
            &PostParams::default(),
            &group("rcg-mixed", "default", "mixed", "Public"),
        )
        .await
        .unwrap();
    wait_ready(&groups, "rcg-mixed", "True", "Synced").await;
    harbor
        .emulator
        .upload_chart("default-chart-mixed", "museum-chart", "1.0.0")
        .unwrap();
    harbor
        .emulator
        .push_oci_chart("default-chart-mixed", "oci-chart", "2.0.0");
    let charts: Api<Chart> = Api::namespaced(platform.client.clone(), "rcg-mixed");
    let mut names: Vec<String> = wait_charts(&charts, 2)
        .await
        .into_iter()
        .map(|c| c.spec.name)
        .collect();
    names.sort();
    assert_eq!(names, ["museum-chart", "oci-chart"]);
    eventually("chartCount 2", WAIT, || async {
        let count = groups
            .get("rcg-mixed")
            .await
            .map_err(|e| e.to_string())?
            .status
            .map(|s| s.chart_count);
        (count == Some(2)).then_some(()).ok_or(format!("{count:?}"))
    })
    .await;
    daemon.stop().await;
}

/// Fills a group's project with 120 charts and 3 image repositories.
async fn big_group(
    harbor: &Harbor,
    platform: &Platform,
    object: &str,
    name: &str,
) -> Api<ChartGroup> {
    let groups: Api<ChartGroup> = Api::all(platform.client.clone());
    groups
        .create(
            &PostParams::default(),
            &group(object, "default", name, "User"),
        )
        .await
        .unwrap();
    wait_ready(&groups, object, "True", "Synced").await;
    let project = format!("default-chart-{name}");
    for i in 0..120 {
        push_chart(harbor, &project, &format!("chart-{i}"), "1.0.0");
    }
    for i in 0..3 {
        harbor
            .emulator
            .push_image(&project, &format!("image-{i}"), "v1");
    }
    eventually("chartCount 120", WAIT, || async {
        let count = groups
            .get(object)
            .await
            .map_err(|e| e.to_string())?
            .status
            .map(|s| s.chart_count);
        (count == Some(120))
            .then_some(())
            .ok_or(format!("{count:?}"))
    })
    .await;
    groups
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_chart_group_survives_harbor_failures_and_empties_everything() {
    for profile in PROFILES {
        let harbor = Harbor::start(profile).await;
        let platform = Platform::start().await;
        let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
        let groups = big_group(&harbor, &platform, "rcg-big", "big").await;
        // Harbor fails a stretch of the deletions with 503: more than the client's retries.
        harbor
            .emulator
            .faults()
            .fail_next_matching(30, Method::DELETE, "/api/", 503);
        groups
            .delete("rcg-big", &DeleteParams::default())
            .await
            .unwrap();
        wait_gone(&groups, "rcg-big").await;
        assert!(
            harbor.emulator.project("default-chart-big").is_none(),
            "{profile:?}"
        );
        assert!(
            harbor.emulator.faults().injected() > 0,
            "no fault was injected"
        );
        daemon.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_while_deleting_a_chart_group_finishes_after_restart() {
    for profile in PROFILES {
        let harbor = Harbor::start(profile).await;
        let platform = Platform::start().await;
        let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
        let groups = big_group(&harbor, &platform, "rcg-crash", "crash").await;
        harbor.emulator.faults().latency(Duration::from_millis(20));
        groups
            .delete("rcg-crash", &DeleteParams::default())
            .await
            .unwrap();
        eventually("the purge to be under way", WAIT, || async {
            let calls = harbor.emulator.calls();
            let deleted = calls.iter().filter(|c| c.method == Method::DELETE).count();
            (deleted >= 10)
                .then_some(())
                .ok_or(format!("{deleted} deletions"))
        })
        .await;
        daemon.crash();
        assert!(
            harbor.emulator.project("default-chart-crash").is_some(),
            "finished before the crash"
        );
        harbor.emulator.faults().clear();
        let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
        wait_gone(&groups, "rcg-crash").await;
        assert!(
            harbor.emulator.project("default-chart-crash").is_none(),
            "{profile:?}"
        );
        daemon.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_groups_refuse_bad_names_conflicts_and_foreign_projects() {
    for profile in PROFILES {
        let harbor = Harbor::start(profile).await;
        harbor.emulator.create_project("default-chart-taken", false);
        let platform = Platform::start().await;
        let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
        let groups: Api<ChartGroup> = Api::all(platform.client.clone());
        groups
            .create(
                &PostParams::default(),
                &group("rcg-first", "default", "dup", "Public"),
            )
            .await
            .unwrap();
        wait_ready(&groups, "rcg-first", "True", "Synced").await;
        for (object, name) in [
            ("rcg-bad", "Bad.Name"),
            ("rcg-taken", "taken"),
            ("rcg-second", "dup"),
        ] {
            groups
                .create(
                    &PostParams::default(),
                    &group(object, "default", name, "Public"),
                )
                .await
                .unwrap();
        }
        for (object, reason) in [
            ("rcg-bad", "InvalidName"),
            ("rcg-taken", "ProjectExists"),
            ("rcg-second", "ProjectConflict"),
        ] {
            let refused = wait_ready(&groups, object, "False", reason).await;
            assert_eq!(
                refused.status.unwrap().phase,
                Phase::Failed,
                "{profile:?} {object}"
            );
        }
        let writes: Vec<String> = harbor
            .emulator
            .calls()
            .into_iter()
            .filter(|c| c.method != Method::GET && c.method != Method::HEAD)
            .filter(|c| c.raw_path.contains("taken"))
            .map(|c| c.raw_path)
            .collect();
        assert!(writes.is_empty(), "{writes:?}");
        let creates = harbor
            .emulator
            .calls()
            .iter()
            .filter(|c| c.method == Method::POST)
            .count();
        assert_eq!(creates, 1, "only rcg-first created a project");
        daemon.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_pushes_and_deletions_arrive_by_webhook() {
    for profile in PROFILES {
        let harbor = Harbor::start(profile).await;
        let platform = Platform::start().await;
        // With the resync an hour away, only Harbor's webhooks can bring these changes.
        let options = harbor_bridge::sync::SyncOptions {
            resync_interval: Duration::from_secs(3600),
            ..fast_options()
        };
        let daemon = Daemon::start(&platform, &harbor, options, true).await;
        let groups: Api<ChartGroup> = Api::all(platform.client.clone());
        groups
            .create(
                &PostParams::default(),
                &group("rcg-hooks", "acme", "hooks", "Public"),
            )
            .await
            .unwrap();
        wait_ready(&groups, "rcg-hooks", "True", "Synced").await;
        let charts: Api<Chart> = Api::namespaced(platform.client.clone(), "rcg-hooks");

        harbor
            .emulator
            .push_image("acme-chart-hooks", "an-image", "v1");
        push_chart(&harbor, "acme-chart-hooks", "redis", "7.0.0");
        let listed = wait_charts(&charts, 1).await;
        assert_eq!(
            listed[0].spec.name, "redis",
            "{profile:?}: the image is not a chart"
        );
        push_chart(&harbor, "acme-chart-hooks", "redis", "7.1.0");
        wait_versions(&charts, &listed[0].name_any(), &["7.0.0", "7.1.0"]).await;

        // Deleted in Harbor (UI or API): the Chart follows.
        match profile {
            Profile::Harbor27 => {
                harbor
                    .client()
                    .delete_chart("acme-chart-hooks", "redis")
                    .await
                    .unwrap();
            }
            Profile::Harbor28 => {
                for version in ["7.0.0", "7.1.0"] {
                    assert!(
                        harbor
                            .emulator
                            .delete_artifact("acme-chart-hooks", "redis", version)
                    );
                }
            }
        }
        wait_charts(&charts, 0).await;
        daemon.stop().await;
    }
}
