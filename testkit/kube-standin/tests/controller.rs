//! A kube-runtime `Controller` with the `finalizer` helper, a server-side-apply status patch
//! and an Events `Recorder`, run end to end against the stand-in.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use futures::StreamExt;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

const FINALIZER: &str = "registry.tkestack.io/harbor-cleanup";

struct Context {
    client: Client,
    recorder: Recorder,
    cleanups: AtomicUsize,
}

async fn reconcile(
    repo: Arc<Repository>,
    ctx: Arc<Context>,
) -> Result<Action, finalizer::Error<kube::Error>> {
    let api: Api<Repository> =
        Api::namespaced(ctx.client.clone(), &repo.namespace().unwrap_or_default());
    finalizer(&api, FINALIZER, repo, |event| async {
        match event {
            finalizer::Event::Apply(repo) => {
                let status = json!({
                    "apiVersion": "registry.tkestack.io/v1",
                    "kind": "Repository",
                    "status": {"phase": "Synced"},
                });
                api.patch_status(
                    &repo.name_any(),
                    &PatchParams::apply("standin-test").force(),
                    &Patch::Apply(status),
                )
                .await?;
                let event = Event {
                    type_: EventType::Normal,
                    reason: "Synced".into(),
                    note: Some("repository is in step with Harbor".into()),
                    action: "Reconcile".into(),
                    secondary: None,
                };
                ctx.recorder.publish(&event, &repo.object_ref(&())).await?;
                Ok(Action::await_change())
            }
            finalizer::Event::Cleanup(_) => {
                ctx.cleanups.fetch_add(1, Ordering::SeqCst);
                Ok(Action::await_change())
            }
        }
    })
    .await
}

fn error_policy(_: Arc<Repository>, _: &finalizer::Error<kube::Error>, _: Arc<Context>) -> Action {
    Action::requeue(Duration::from_millis(100))
}

#[tokio::test]
async fn controller_with_finalizer_status_and_events() -> TestResult {
    let (server, client) = server_with_crds().await?;
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "harbor-bridge".into(),
                instance: None,
            },
        ),
        cleanups: AtomicUsize::new(0),
    });
    let controller = Controller::new(
        Api::<Repository>::all(client.clone()),
        watcher::Config::default(),
    )
    .run(reconcile, error_policy, ctx.clone())
    .for_each(|_| async {});
    let controller = tokio::spawn(controller);

    let repos: Api<Repository> = Api::namespaced(client.clone(), "default");
    repos
        .create(&PostParams::default(), &repository("alpine", 1))
        .await?;
    let reconciled = eventually(Duration::from_secs(10), || async {
        repos.get("alpine").await.is_ok_and(|r| {
            r.finalizers().contains(&FINALIZER.to_owned())
                && r.status.is_some_and(|s| s.phase == "Synced")
        })
    })
    .await;
    assert!(
        reconciled,
        "finalizer and status should be written: {:?}",
        repos.get("alpine").await
    );

    let events: Api<K8sEvent> = Api::namespaced(client.clone(), "default");
    let published = eventually(Duration::from_secs(5), || async {
        events.list(&Default::default()).await.is_ok_and(|l| {
            l.items.iter().any(|e| {
                e.reason.as_deref() == Some("Synced")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("alpine")
            })
        })
    })
    .await;
    assert!(published, "the recorder's event should be stored");
    assert!(
        !server
            .list("events.k8s.io/v1", "events", Some("default"))
            .is_empty()
    );

    repos.delete("alpine", &DeleteParams::default()).await?;
    let cleaned = eventually(Duration::from_secs(10), || async {
        server
            .get(
                "registry.tkestack.io/v1",
                "repositories",
                Some("default"),
                "alpine",
            )
            .is_none()
    })
    .await;
    assert!(
        cleaned,
        "cleanup should remove the finalizer and let the object go"
    );
    assert_eq!(ctx.cleanups.load(Ordering::SeqCst), 1);

    controller.abort();
    server.shutdown().await;
    Ok(())
}
