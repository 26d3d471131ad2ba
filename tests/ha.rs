//! Two replicas of the real binary: one writer at a time, a standby that takes over when the
//! leader stops (at once, the lease is released) or dies (once the lease expires).

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use harbor_bridge::resources::RegistryNamespace;
use harbor_emulator::Profile;
use kube::api::{Api, PostParams};
use serde_json::json;
use support::process::{DaemonProcess, FAST_CONFIG};
use support::{Harbor, Platform, eventually};

const WAIT: Duration = Duration::from_secs(30);
/// `leaderElection.leaseDuration` in [`FAST_CONFIG`].
const LEASE: Duration = Duration::from_secs(2);

fn sum(samples: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| series.starts_with(prefix))
        .map(|(_, value)| value)
        .sum()
}

/// What a replica has done: whether it leads, reconciles run, and Harbor requests other than
/// the readiness ping (which every replica sends).
#[derive(Debug)]
struct Activity {
    leading: bool,
    reconciles: f64,
    harbor_work: f64,
}

async fn activity(replica: &DaemonProcess) -> Result<Activity, String> {
    let samples = replica.metrics().await?;
    let harbor_requests = sum(&samples, "harbor_bridge_harbor_requests_total");
    let pings = sum(
        &samples,
        "harbor_bridge_harbor_requests_total{operation=\"ping\"",
    );
    Ok(Activity {
        leading: samples.get("harbor_bridge_leader") == Some(&1.0),
        reconciles: sum(&samples, "harbor_bridge_reconciles_total"),
        harbor_work: harbor_requests - pings,
    })
}

/// Waits until exactly one of `replicas` leads; returns its index.
async fn the_leader(replicas: &[&DaemonProcess]) -> usize {
    eventually("exactly one leader", WAIT, || async {
        let mut leaders = Vec::new();
        for (index, replica) in replicas.iter().enumerate() {
            if activity(replica).await?.leading {
                leaders.push(index);
            }
        }
        match leaders[..] {
            [one] => Ok(one),
            _ => Err(format!("leaders: {leaders:?}")),
        }
    })
    .await
}

/// Waits until `replica` leads; returns how long that took.
async fn leads_after(replica: &DaemonProcess) -> Duration {
    let since = Instant::now();
    eventually(&format!("{} to lead", replica.identity), WAIT, || async {
        activity(replica)
            .await?
            .leading
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    since.elapsed()
}

async fn create_namespace(api: &Api<RegistryNamespace>, name: &str) {
    let namespace: RegistryNamespace = serde_json::from_value(json!({
        "apiVersion": "registry.tkestack.io/v1", "kind": "Namespace",
        "metadata": {"name": name}, "spec": {"name": name, "tenantID": "ha"}
    }))
    .unwrap();
    api.create(&PostParams::default(), &namespace)
        .await
        .unwrap();
}

async fn wait_project(harbor: &Harbor, name: &str) {
    let project = format!("ha-image-{name}");
    eventually(&project, WAIT, || async {
        harbor
            .emulator
            .project(&project)
            .map(drop)
            .ok_or_else(|| "missing".to_owned())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_writes_at_a_time_and_a_standby_takes_over() {
    let harbor = Harbor::start(Profile::Harbor28).await;
    let platform = Platform::start().await;
    let namespaces: Api<RegistryNamespace> = Api::all(platform.client.clone());
    let a = DaemonProcess::start(&harbor, &platform, "bridge-a", FAST_CONFIG).await;
    let b = DaemonProcess::start(&harbor, &platform, "bridge-b", FAST_CONFIG).await;
    let (leader, standby) = match the_leader(&[&a, &b]).await {
        0 => (a, b),
        _ => (b, a),
    };

    for name in ["first", "second", "third"] {
        create_namespace(&namespaces, name).await;
    }
    for name in ["first", "second", "third"] {
        wait_project(&harbor, name).await;
    }
    // Several resyncs (2 s each) later, the standby has still done nothing.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (led, stood_by) = (
        activity(&leader).await.unwrap(),
        activity(&standby).await.unwrap(),
    );
    assert!(led.reconciles > 0.0 && led.harbor_work > 0.0, "{led:?}");
    assert_eq!(
        stood_by.reconciles, 0.0,
        "the standby reconciled: {stood_by:?}"
    );
    assert_eq!(
        stood_by.harbor_work, 0.0,
        "the standby called Harbor: {stood_by:?}"
    );
    // Both are alive and ready for their role: a standby is ready without running controllers.
    standby.get("/readyz").await.expect("the standby is ready");

    // A clean stop releases the lease: the standby leads well before it would have expired.
    let (exit, _) = leader.terminate(Duration::from_secs(15)).await;
    assert!(exit.success(), "{exit:?}");
    let took = leads_after(&standby).await;
    assert!(took < LEASE, "took over {took:?} after a clean stop");
    create_namespace(&namespaces, "fourth").await;
    wait_project(&harbor, "fourth").await;

    // A crash leaves the lease held until it expires; then the new standby takes over.
    let c = DaemonProcess::start(&harbor, &platform, "bridge-c", FAST_CONFIG).await;
    standby.signal("-KILL");
    let took = leads_after(&c).await;
    assert!(
        took <= LEASE * 3,
        "took over {took:?} after a crash, lease {LEASE:?}"
    );
    create_namespace(&namespaces, "fifth").await;
    wait_project(&harbor, "fifth").await;
    let (exit, _) = c.terminate(Duration::from_secs(15)).await;
    assert!(exit.success(), "{exit:?}");
    eprintln!("takeover after a crash: {took:?}");
}
