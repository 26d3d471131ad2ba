//! Object semantics through a real kube client: create/get/list/replace/patch/delete,
//! generateName, optimistic concurrency, the status subresource and generation.

mod common;

use common::*;
use k8s_openapi::api::core::v1::Namespace as CoreNamespace;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use kube::discovery::Discovery;
use serde_json::json;

#[tokio::test]
async fn core_namespaces_crud() -> TestResult {
    let (server, client) = server().await?;
    let namespaces: Api<CoreNamespace> = Api::all(client);

    let created = namespaces
        .create(
            &PostParams::default(),
            &CoreNamespace {
                metadata: ObjectMeta {
                    name: Some("team-a".into()),
                    labels: Some([("tier".to_owned(), "gold".to_owned())].into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await?;
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );
    assert_eq!(
        created.spec.and_then(|s| s.finalizers),
        Some(vec!["kubernetes".to_owned()])
    );

    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_owned()) && names.contains(&"team-a".to_owned()));
    let gold = namespaces
        .list(&ListParams::default().labels("tier in (gold,silver)"))
        .await?;
    assert_eq!(gold.items.len(), 1);
    assert_eq!(
        code(
            namespaces
                .create(&PostParams::default(), &created_named("team-a"))
                .await
        ),
        Some(409)
    );
    assert_eq!(
        code(
            namespaces
                .create(&PostParams::default(), &created_named("Bad_Name"))
                .await
        ),
        Some(422)
    );

    namespaces
        .delete("team-a", &DeleteParams::default())
        .await?;
    assert!(
        eventually(std::time::Duration::from_secs(2), || async {
            server.get("v1", "namespaces", None, "team-a").is_none()
        })
        .await
    );
    assert_eq!(code(namespaces.get("team-a").await), Some(404));
    Ok(())
}

fn created_named(name: &str) -> CoreNamespace {
    CoreNamespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn custom_resources_are_served_once_their_crd_exists() -> TestResult {
    let (server, client) = server().await?;
    let repos: Api<Repository> = Api::namespaced(client.clone(), "default");
    assert_eq!(code(repos.list(&ListParams::default()).await), Some(404));

    install::<Repository>(&client).await?;
    install::<Namespace>(&client).await?;
    let created = repos
        .create(&PostParams::default(), &repository("alpine", 1))
        .await?;
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(repos.get("alpine").await?.spec.size, 1);

    // Same plural as core namespaces, different group: a separate, cluster-scoped kind.
    let tenants: Api<Namespace> = Api::all(client.clone());
    tenants
        .create(
            &PostParams::default(),
            &Namespace::new(
                "library",
                NamespaceSpec {
                    display_name: "Library".into(),
                },
            ),
        )
        .await?;
    assert!(
        server
            .get("registry.tkestack.io/v1", "namespaces", None, "library")
            .is_some()
    );
    assert!(server.get("v1", "namespaces", None, "library").is_none());

    // generateName
    let mut generated = repository("", 2);
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("nginx-".into());
    let generated = repos.create(&PostParams::default(), &generated).await?;
    let name = generated.metadata.name.unwrap_or_default();
    assert!(
        name.starts_with("nginx-") && name.len() == "nginx-".len() + 5,
        "{name}"
    );

    // into a missing namespace
    let elsewhere: Api<Repository> = Api::namespaced(client.clone(), "missing");
    assert_eq!(
        reason(
            elsewhere
                .create(&PostParams::default(), &repository("x", 1))
                .await
        )
        .as_deref(),
        Some("NotFound")
    );

    // listing across namespaces, with field selectors and pages
    let all: Api<Repository> = Api::all(client.clone());
    assert_eq!(all.list(&ListParams::default()).await?.items.len(), 2);
    let by_name = all
        .list(&ListParams::default().fields("metadata.name=alpine"))
        .await?;
    assert_eq!(by_name.items.len(), 1);
    assert_eq!(
        code(all.list(&ListParams::default().fields("spec.size=1")).await),
        Some(400)
    );
    let first = all.list(&ListParams::default().limit(1)).await?;
    assert_eq!(first.items.len(), 1);
    let token = first.metadata.continue_.clone().unwrap_or_default();
    let second = all
        .list(&ListParams::default().limit(1).continue_token(&token))
        .await?;
    assert_eq!(second.items.len(), 1);
    assert_ne!(first.items[0].metadata.name, second.items[0].metadata.name);
    assert!(second.metadata.continue_.is_none());

    // discovery sees the custom group
    let discovery = Discovery::new(client).run().await?;
    assert!(
        discovery
            .groups()
            .any(|g| g.name() == "registry.tkestack.io")
    );
    Ok(())
}

#[tokio::test]
async fn stale_replace_conflicts_and_status_is_isolated() -> TestResult {
    let (_server, client) = server_with_crds().await?;
    let repos: Api<Repository> = Api::namespaced(client, "default");
    let original = repos
        .create(&PostParams::default(), &repository("alpine", 1))
        .await?;

    let mut first = original.clone();
    first.spec.size = 2;
    let replaced = repos
        .replace("alpine", &PostParams::default(), &first)
        .await?;
    assert_eq!(replaced.metadata.generation, Some(2));
    let mut stale = original.clone();
    stale.spec.size = 3;
    let conflict = repos
        .replace("alpine", &PostParams::default(), &stale)
        .await;
    let Err(kube::Error::Api(status)) = conflict else {
        panic!("expected a conflict, got {conflict:?}")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status.message.contains("the object has been modified"),
        "{}",
        status.message
    );

    let mut unconditional = replaced.clone();
    unconditional.metadata.resource_version = None;
    assert_eq!(
        code(
            repos
                .replace("alpine", &PostParams::default(), &unconditional)
                .await
        ),
        Some(422)
    );

    // Status writes change only status and leave generation alone.
    let mut status_write = replaced.clone();
    status_write.spec.size = 99;
    status_write.status = Some(RepositoryStatus {
        phase: "Ready".into(),
    });
    let after_status = repos
        .replace_status("alpine", &PostParams::default(), &status_write)
        .await?;
    assert_eq!(after_status.spec.size, 2);
    assert_eq!(
        after_status.status.as_ref().map(|s| s.phase.as_str()),
        Some("Ready")
    );
    assert_eq!(after_status.metadata.generation, Some(2));

    // Main-resource writes ignore status.
    let patched = repos
        .patch(
            "alpine",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}, "status": {"phase": "Lost"}})),
        )
        .await?;
    assert_eq!(patched.spec.size, 5);
    assert_eq!(patched.status.map(|s| s.phase).as_deref(), Some("Ready"));
    assert_eq!(patched.metadata.generation, Some(3));

    // A metadata-only change bumps resourceVersion but not generation; a no-op bumps nothing.
    let labelled = repos
        .patch(
            "alpine",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await?;
    assert_eq!(labelled.metadata.generation, Some(3));
    let again = repos
        .patch(
            "alpine",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await?;
    assert_eq!(
        again.metadata.resource_version,
        labelled.metadata.resource_version
    );
    Ok(())
}

#[tokio::test]
async fn patch_flavours() -> TestResult {
    let (_server, client) = server_with_crds().await?;
    let repos: Api<Repository> = Api::namespaced(client, "default");
    repos
        .create(&PostParams::default(), &repository("alpine", 1))
        .await?;

    let json_patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/size", "value": 1},
        {"op": "replace", "path": "/spec/size", "value": 7},
    ]))?;
    let patched = repos
        .patch(
            "alpine",
            &PatchParams::default(),
            &Patch::<()>::Json(json_patch.clone()),
        )
        .await?;
    assert_eq!(patched.spec.size, 7);
    // The same `test` now fails: 422, the answer kube's finalizer helper relies on.
    assert_eq!(
        code(
            repos
                .patch(
                    "alpine",
                    &PatchParams::default(),
                    &Patch::<()>::Json(json_patch)
                )
                .await
        ),
        Some(422)
    );

    // A resourceVersion in a merge patch is a precondition.
    let stale = json!({"metadata": {"resourceVersion": "1"}, "spec": {"size": 8}});
    assert_eq!(
        code(
            repos
                .patch("alpine", &PatchParams::default(), &Patch::Merge(stale))
                .await
        ),
        Some(409)
    );

    // Strategic merge patch is not available for custom resources.
    let strategic = Patch::Strategic(json!({"spec": {"size": 8}}));
    assert_eq!(
        code(
            repos
                .patch("alpine", &PatchParams::default(), &strategic)
                .await
        ),
        Some(415)
    );

    // Server-side apply updates and creates; it needs a field manager.
    let apply = PatchParams::apply("standin-test");
    let applied = repos
        .patch(
            "alpine",
            &apply,
            &Patch::Apply(json!({
                "apiVersion": "registry.tkestack.io/v1", "kind": "Repository",
                "metadata": {"name": "alpine"}, "spec": {"name": "alpine", "size": 9}
            })),
        )
        .await?;
    assert_eq!(applied.spec.size, 9);
    let created = repos
        .patch(
            "busybox",
            &apply,
            &Patch::Apply(json!({
                "apiVersion": "registry.tkestack.io/v1", "kind": "Repository",
                "metadata": {"name": "busybox"}, "spec": {"name": "busybox", "size": 1}
            })),
        )
        .await?;
    assert_eq!(created.metadata.generation, Some(1));
    let no_manager = Patch::Apply(json!({"spec": {"size": 2}}));
    assert_eq!(
        code(
            repos
                .patch("busybox", &PatchParams::default(), &no_manager)
                .await
        ),
        Some(400)
    );

    // Missing objects.
    assert_eq!(
        code(
            repos
                .patch("nope", &PatchParams::default(), &Patch::Merge(json!({})))
                .await
        ),
        Some(404)
    );
    assert_eq!(
        code(repos.delete("nope", &DeleteParams::default()).await),
        Some(404)
    );
    Ok(())
}
