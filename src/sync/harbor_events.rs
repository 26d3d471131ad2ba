//! Harbor → platform: webhook events are hints. Each one makes sure the `Repository` exists and
//! asks for a reconcile, which reads Harbor; so duplicate, late or reordered deliveries all end
//! in the same state, and a lost one is healed by the periodic resync.

use std::sync::Arc;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc;

use super::context::Context;
use super::error::Result;
use super::namespace::create_repository_resource;
use super::project;
use crate::harbor::events::{EventKind, HarborEvent};
use crate::resources::{RegistryNamespace, Repository};

/// Applies events until the channel closes.
pub async fn consume(mut events: mpsc::Receiver<HarborEvent>, ctx: Arc<Context>) {
    while let Some(event) = events.recv().await {
        if let Err(error) = apply(&event, &ctx).await {
            tracing::warn!(%error, kind = event.kind.as_str(), project = %event.project, repository = %event.repository, "could not apply a Harbor event; the next resync will");
        }
    }
}

async fn apply(event: &HarborEvent, ctx: &Context) -> Result<()> {
    if !matches!(
        event.kind,
        EventKind::PushArtifact | EventKind::DeleteArtifact
    ) {
        return Ok(());
    }
    let Some(namespace) = project::bound_to::<RegistryNamespace>(ctx, &event.project) else {
        tracing::debug!(project = %event.project, "event for a project no Namespace is bound to; ignored");
        return Ok(());
    };
    let kube_namespace = namespace.name_any();
    let existing = ctx.repositories.state().into_iter().find(|r| {
        r.namespace().as_deref() == Some(kube_namespace.as_str()) && r.spec.name == event.repository
    });
    match (existing, &event.kind) {
        (Some(repository), _) => {
            let _ = ctx
                .repository_triggers
                .send(ObjectRef::from_obj(repository.as_ref()))
                .await;
        }
        (None, EventKind::PushArtifact) => {
            let api: Api<Repository> = Api::namespaced(ctx.kube.clone(), &kube_namespace);
            create_repository_resource(&api, &namespace, &event.repository).await?;
        }
        (None, _) => return Ok(()),
    }
    // The repository count is computed from Harbor's list, so the parent reads it again.
    let _ = ctx
        .namespace_triggers
        .send(ObjectRef::from_obj(namespace.as_ref()))
        .await;
    Ok(())
}
