//! Finalizers, deletionTimestamp, ownerReference garbage collection, namespace termination.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace as CoreNamespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::core::ObjectMeta;
use kube::{Resource, ResourceExt};
use serde_json::json;

async fn remove_finalizers(api: &Api<Repository>, name: &str) -> kube::Result<Repository> {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
}

#[tokio::test]
async fn finalizers_hold_an_object_until_removed() -> TestResult {
    let (server, client) = server_with_crds().await?;
    let repos: Api<Repository> = Api::namespaced(client, "default");
    let mut held = repository("alpine", 1);
    held.metadata.finalizers = Some(vec!["harbor-bridge/cleanup".into()]);
    let created = repos.create(&PostParams::default(), &held).await?;

    // Preconditions are honoured.
    let wrong_uid = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("other".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    assert_eq!(code(repos.delete("alpine", &wrong_uid).await), Some(409));

    let deleting = repos.delete("alpine", &DeleteParams::default()).await?;
    let deleting = deleting
        .left()
        .ok_or_else(|| anyhow::anyhow!("expected the object back"))?;
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(deleting.metadata.deletion_grace_period_seconds, Some(0));
    assert_eq!(deleting.metadata.generation, Some(2));
    assert_eq!(repos.get("alpine").await?.uid(), created.uid());

    // No new finalizers while deleting.
    let more =
        Patch::Merge(json!({"metadata": {"finalizers": ["harbor-bridge/cleanup", "other"]}}));
    assert_eq!(
        code(repos.patch("alpine", &PatchParams::default(), &more).await),
        Some(422)
    );

    remove_finalizers(&repos, "alpine").await?;
    assert_eq!(code(repos.get("alpine").await), Some(404));
    assert!(
        server
            .get(
                "registry.tkestack.io/v1",
                "repositories",
                Some("default"),
                "alpine"
            )
            .is_none()
    );

    // Without finalizers deletion is immediate.
    repos
        .create(&PostParams::default(), &repository("busybox", 1))
        .await?;
    assert!(
        repos
            .delete("busybox", &DeleteParams::default())
            .await?
            .is_left()
    );
    assert_eq!(code(repos.get("busybox").await), Some(404));
    Ok(())
}

#[tokio::test]
async fn dependents_are_garbage_collected_with_their_owner() -> TestResult {
    let (_server, client) = server_with_crds().await?;
    let repos: Api<Repository> = Api::namespaced(client.clone(), "default");
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    let owner = repos
        .create(&PostParams::default(), &repository("alpine", 1))
        .await?;
    let owner_ref = owner
        .controller_owner_ref(&())
        .ok_or_else(|| anyhow::anyhow!("no owner ref"))?;
    for name in ["tags", "manifest"] {
        configmaps
            .create(
                &PostParams::default(),
                &ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(name.into()),
                        owner_references: Some(vec![owner_ref.clone()]),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await?;
    }
    let unrelated = ConfigMap {
        metadata: ObjectMeta {
            name: Some("unrelated".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    configmaps
        .create(&PostParams::default(), &unrelated)
        .await?;

    repos.delete("alpine", &DeleteParams::default()).await?;
    let gone = eventually(Duration::from_secs(2), || async {
        code(configmaps.get("tags").await) == Some(404)
            && code(configmaps.get("manifest").await) == Some(404)
    })
    .await;
    assert!(gone, "dependents should be collected");
    configmaps.get("unrelated").await?;

    // Orphan propagation keeps dependents and drops the reference.
    let owner = repos
        .create(&PostParams::default(), &repository("nginx", 1))
        .await?;
    let owner_ref = owner
        .controller_owner_ref(&())
        .ok_or_else(|| anyhow::anyhow!("no owner ref"))?;
    configmaps
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("kept".into()),
                    owner_references: Some(vec![owner_ref]),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await?;
    repos.delete("nginx", &DeleteParams::orphan()).await?;
    let kept = configmaps.get("kept").await?;
    assert!(kept.metadata.owner_references.is_none_or(|r| r.is_empty()));
    Ok(())
}

#[tokio::test]
async fn namespace_termination_waits_for_finalized_content() -> TestResult {
    let (server, client) = server_with_crds().await?;
    let namespaces: Api<CoreNamespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &CoreNamespace {
                metadata: ObjectMeta {
                    name: Some("team".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await?;
    let repos: Api<Repository> = Api::namespaced(client.clone(), "team");
    let mut held = repository("held", 1);
    held.metadata.finalizers = Some(vec!["harbor-bridge/cleanup".into()]);
    repos.create(&PostParams::default(), &held).await?;
    repos
        .create(&PostParams::default(), &repository("free", 1))
        .await?;

    namespaces.delete("team", &DeleteParams::default()).await?;
    let ns = namespaces.get("team").await?;
    assert!(ns.metadata.deletion_timestamp.is_some());
    assert_eq!(
        ns.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    assert_eq!(code(repos.get("free").await), Some(404));
    assert!(
        repos
            .get("held")
            .await?
            .metadata
            .deletion_timestamp
            .is_some()
    );

    // Nothing new may be created in a terminating namespace.
    let refused = repos
        .create(&PostParams::default(), &repository("late", 1))
        .await;
    let Err(kube::Error::Api(status)) = refused else {
        panic!("expected Forbidden, got {refused:?}")
    };
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert!(
        status.message.contains("because it is being terminated"),
        "{}",
        status.message
    );

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        server.get("v1", "namespaces", None, "team").is_some(),
        "the finalizer must hold the namespace"
    );
    remove_finalizers(&repos, "held").await?;
    let gone = eventually(Duration::from_secs(2), || async {
        code(namespaces.get("team").await) == Some(404)
    })
    .await;
    assert!(gone, "namespace should go once its content is gone");
    Ok(())
}

#[tokio::test]
async fn deleting_a_crd_removes_its_instances_and_stops_serving() -> TestResult {
    let (_server, client) = server_with_crds().await?;
    let repos: Api<Repository> = Api::namespaced(client.clone(), "default");
    repos
        .create(&PostParams::default(), &repository("alpine", 1))
        .await?;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(client);
    crds.delete(
        &format!("repositories.{}", Repository::group(&())),
        &DeleteParams::default(),
    )
    .await?;
    assert_eq!(code(repos.get("alpine").await), Some(404));
    assert_eq!(
        code(
            repos
                .create(&PostParams::default(), &repository("x", 1))
                .await
        ),
        Some(404)
    );
    Ok(())
}
