//! Leases with optimistic concurrency (for leader election) and fault injection.

mod common;

use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Namespace as CoreNamespace;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use kube_standin::RequestMatch;
use serde_json::json;

fn lease(holder: &str) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some("harbor-bridge".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn lease_replace_is_guarded_by_resource_version() -> TestResult {
    let (_server, client) = server().await?;
    let leases: Api<Lease> = Api::namespaced(client, "kube-system");
    let created = leases.create(&PostParams::default(), &lease("a")).await?;
    assert_eq!(
        reason(leases.create(&PostParams::default(), &lease("b")).await).as_deref(),
        Some("AlreadyExists")
    );

    let mut take = lease("b");
    take.metadata.resource_version = created.metadata.resource_version.clone();
    let taken = leases
        .replace("harbor-bridge", &PostParams::default(), &take)
        .await?;
    assert_eq!(
        taken.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("b")
    );

    // A contender still holding the old resourceVersion loses.
    let mut late = lease("c");
    late.metadata.resource_version = created.metadata.resource_version.clone();
    assert_eq!(
        reason(
            leases
                .replace("harbor-bridge", &PostParams::default(), &late)
                .await
        )
        .as_deref(),
        Some("Conflict")
    );
    assert_eq!(
        leases
            .get("harbor-bridge")
            .await?
            .spec
            .and_then(|s| s.holder_identity)
            .as_deref(),
        Some("b")
    );
    Ok(())
}

#[tokio::test]
async fn injected_faults_reach_the_client() -> TestResult {
    let (server, client) = server().await?;
    let namespaces: Api<CoreNamespace> = Api::all(client.clone());

    server.faults().fail_next(1, 500);
    let failed = namespaces.get("default").await;
    let Err(kube::Error::Api(status)) = failed else {
        panic!("expected a 500, got {failed:?}")
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (500, "InternalError")
    );
    namespaces.get("default").await?;

    let leases: Api<Lease> = Api::namespaced(client, "default");
    leases.create(&PostParams::default(), &lease("a")).await?;
    server.faults().fail_matching(
        1,
        409,
        RequestMatch::any()
            .method("PATCH")
            .path_contains("/leases/"),
    );
    let patch = Patch::Merge(json!({"spec": {"holderIdentity": "b"}}));
    assert_eq!(
        reason(
            leases
                .patch("harbor-bridge", &PatchParams::default(), &patch)
                .await
        )
        .as_deref(),
        Some("Conflict")
    );
    leases
        .patch("harbor-bridge", &PatchParams::default(), &patch)
        .await?;

    // 503 carries Retry-After; kube's client retries it, which shows in the request log.
    server.clear_requests();
    server.faults().fail_next(1, 503);
    namespaces.get("default").await?;
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 200]);

    server.faults().set_latency(Duration::from_millis(200));
    let started = Instant::now();
    namespaces.get("default").await?;
    assert!(started.elapsed() >= Duration::from_millis(200));
    server.faults().clear();
    assert_eq!(server.faults().pending(), 0);
    Ok(())
}
