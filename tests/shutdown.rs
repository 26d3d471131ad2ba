//! SIGTERM in the middle of work: the real binary stops within a bound, exits 0, leaves nothing
//! half-done that a restart does not finish, and hands the leader lease over.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use harbor_bridge::resources::RegistryNamespace;
use harbor_emulator::{Method, Profile};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use support::{Daemon, Harbor, PASSWORD, Platform, eventually, fast_options, wait_gone};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "hangs after the SIGTERM step since leader election was wired in; open item of issue 6"]
async fn sigterm_mid_purge_exits_cleanly_and_a_restart_finishes_the_job() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    let kubeconfig = harbor.dir().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster:\n    server: {}\nusers:\n- name: s\n  user: {{}}\n\
             contexts:\n- name: s\n  context:\n    cluster: s\n    user: s\ncurrent-context: s\n",
            platform.api.url()
        ),
    )
    .unwrap();
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_harbor-bridge"))
        .arg("run")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAME", "bridge-0")
        .env("HARBOR_BRIDGE_HARBOR_URL", harbor.emulator.base_url())
        .env("HARBOR_BRIDGE_HARBOR_CA_FILE", &harbor.ca_file)
        .env("HARBOR_BRIDGE_HARBOR_PASSWORD", PASSWORD)
        .env("HARBOR_BRIDGE_SERVER_LISTEN", "127.0.0.1:0")
        .env("HARBOR_BRIDGE_SYNC_RESYNC_INTERVAL", "30s")
        .env("HARBOR_BRIDGE_SYNC_RETRY_INTERVAL", "200ms")
        .kill_on_drop(true)
        .spawn()
        .expect("the daemon starts");

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

    let pid = daemon.id().expect("running").to_string();
    let stopping = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), daemon.wait())
        .await
        .expect("stopped within 20 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    let took = stopping.elapsed();

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
