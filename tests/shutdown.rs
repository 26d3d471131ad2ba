//! SIGTERM in the middle of work: the real binary stops within a bound, exits 0, leaves nothing
//! half-done that a restart does not finish, and hands the leader lease over.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use harbor_bridge::resources::RegistryNamespace;
use harbor_emulator::{Method, Profile};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use support::process::DaemonProcess;
use support::{Daemon, Harbor, Platform, eventually, fast_options, wait_gone};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_purge_exits_cleanly_and_a_restart_finishes_the_job() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    // The default 5 m resync: the purge, not resyncs, is what is in flight at SIGTERM.
    let config = "sync:\n  retryInterval: 200ms\n";
    let daemon = DaemonProcess::start(&harbor, &platform, "bridge-0", config).await;

    let namespaces: Api<RegistryNamespace> = Api::all(platform.client.clone());
    let namespace: RegistryNamespace = serde_json::from_value(json!({
        "apiVersion": "registry.tkestack.io/v1", "kind": "Namespace",
        "metadata": {"name": "rns-term"}, "spec": {"name": "term", "tenantID": "default"}
    }))
    .unwrap();
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    eventually("the project", WAIT, || async {
        harbor
            .emulator
            .project("default-image-term")
            .map(drop)
            .ok_or("missing".to_owned())
    })
    .await;
    for i in 0..150 {
        harbor
            .emulator
            .push_image("default-image-term", &format!("app-{i}"), "v1");
    }
    harbor.emulator.faults().latency(Duration::from_millis(15));
    namespaces
        .delete("rns-term", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the purge to be under way", WAIT, || async {
        let left = harbor.emulator.repositories("default-image-term").len();
        (left < 140).then_some(()).ok_or(format!("{left} left"))
    })
    .await;

    let (exit, took) = daemon.terminate(Duration::from_secs(20)).await;
    assert!(exit.success(), "exit status {exit:?}");

    // Nothing half-done: either the deletion finished, or the resource still holds its finalizer.
    if let Some(left) = namespaces.get_opt("rns-term").await.unwrap() {
        assert!(
            left.metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == harbor_bridge::sync::FINALIZER)
        );
    }
    // The lease is handed over, not left to expire.
    let leases: Api<Lease> = Api::namespaced(platform.client.clone(), "default");
    if let Some(lease) = leases.get_opt("harbor-bridge").await.unwrap() {
        let holder = lease.spec.and_then(|s| s.holder_identity);
        assert_eq!(holder, None, "the lease was not released");
    }

    harbor.emulator.faults().clear();
    let restarted = Daemon::start(&platform, &harbor, fast_options(), false).await;
    wait_gone(&namespaces, "rns-term").await;
    assert!(harbor.emulator.project("default-image-term").is_none());
    let mut deletes: BTreeMap<String, usize> = BTreeMap::new();
    for call in harbor.emulator.calls() {
        if call.method == Method::DELETE
            && call.raw_path.contains("/repositories/")
            && call.status == Some(200)
        {
            *deletes.entry(call.raw_path).or_default() += 1;
        }
    }
    assert_eq!(deletes.len(), 150, "every repository deleted");
    assert!(
        deletes.values().all(|n| *n == 1),
        "a repository was deleted twice"
    );
    restarted.stop().await;
    eprintln!("stopped {took:?} after SIGTERM");
}

/// A stop (SIGTERM, lost leadership) while the caches are still loading ends at once: kube's
/// controller waits for a first listing that the shutdown itself cancels, which used to hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_before_the_caches_have_loaded_does_not_hang() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    // The registry Namespace listing keeps failing, so that cache never loads.
    platform.api.faults().fail_matching(
        u32::MAX,
        500,
        kube_standin::RequestMatch::any()
            .method("GET")
            .path_contains("/registry.tkestack.io/v1/namespaces"),
    );
    let daemon = Daemon::start(&platform, &harbor, fast_options(), false).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::time::timeout(Duration::from_secs(10), daemon.stop())
        .await
        .expect("stopped within 10 s although a cache never loaded");
}
