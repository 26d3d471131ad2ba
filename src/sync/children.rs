//! The namespaced children of a project owner (`Repository` under `Namespace`, `Chart` under
//! `ChartGroup`): one per Harbor repository or chart, living in the Kubernetes namespace named
//! after the parent, created from Harbor when missing and removed when Harbor drops them.

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};

use serde_json::json;
use tokio::sync::mpsc;

use super::FINALIZER;
use super::context::{Context, ORIGIN_LABEL};
use super::error::{Error, Result};
use super::plan::{self, ExistingChild};
use super::project::ProjectOwner;
use super::status::{self, Synced};
use crate::resources::{ProjectName, names};

pub trait Child: Synced + Resource<Scope = kube::core::NamespaceResourceScope> {
    type Parent: ProjectOwner;
    /// The repository path (or chart name) in Harbor.
    fn harbor_name(&self) -> &str;
    /// The parent's `spec.name` as the child declares it.
    fn declared_parent(&self) -> &str;
    fn store(ctx: &Context) -> &Store<Self>;
    /// Where to ask for a reconcile (a webhook said the Harbor object changed).
    fn trigger(ctx: &Context) -> &mpsc::Sender<ObjectRef<Self>>;
    /// A new child for `harbor_name`, with [`metadata`].
    fn for_harbor(parent: &Self::Parent, harbor_name: &str) -> Self;
    /// Work asked of Harbor through the resource before it is read (chart version deletions).
    fn act(
        &self,
        _ctx: &Context,
        _project: &ProjectName,
        _api: &Api<Self>,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }
    /// Reads what Harbor holds for this child into `status`; `false` when it holds nothing.
    fn read_harbor(
        &self,
        ctx: &Context,
        project: &ProjectName,
        status: &mut Self::Status,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Deletes the child's object in Harbor; whether anything was there to delete.
    fn delete_in_harbor(
        &self,
        ctx: &Context,
        project: &ProjectName,
    ) -> impl Future<Output = Result<bool>> + Send;
}

pub async fn reconcile<C: Child>(child: Arc<C>, ctx: Arc<Context>) -> Result<Action> {
    if !parents_listed::<C>(&ctx) {
        return Ok(Action::requeue(ctx.options.retry_interval));
    }
    let started = std::time::Instant::now();
    let namespace = child.namespace().unwrap_or_default();
    let api: Api<C> = Api::namespaced(ctx.kube.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, child.clone(), |event| async {
        match event {
            Event::Apply(child) => apply(child.as_ref(), &api, &ctx).await,
            Event::Cleanup(child) => cleanup(child.as_ref(), &ctx).await,
        }
    })
    .await
    .map_err(Error::from);
    if let Err(err) = &result
        && let Err(error) =
            status::not_ready(&ctx, &api, child.as_ref(), err.reason(), &err.to_string()).await
    {
        tracing::debug!(%error, "could not record the failure in status");
    }
    ctx.observe_reconcile(C::kind(&()), started, &result);
    result
}

async fn apply<C: Child>(child: &C, api: &Api<C>, ctx: &Context) -> Result<Action> {
    let resync = Action::requeue(plan::jittered(
        ctx.options.resync_interval,
        &child.name_any(),
    ));
    let project = match parent(ctx, child) {
        Ok((_, project)) => project,
        Err(Unsyncable { reason, message }) => {
            status::not_ready(ctx, api, child, reason, &message).await?;
            let soon = reason == "ParentNotReady";
            return Ok(if soon {
                Action::requeue(ctx.options.retry_interval)
            } else {
                resync
            });
        }
    };
    if let Err(err) = names::repository_name(&project, child.harbor_name()) {
        status::not_ready(ctx, api, child, err.reason(), &err.to_string()).await?;
        return Ok(resync);
    }
    child.act(ctx, &project, api).await?;
    let mut status = child.status().cloned().unwrap_or_default();
    let in_harbor = child.read_harbor(ctx, &project, &mut status).await?;
    let name = child.harbor_name();
    if !in_harbor && from_harbor(child) {
        // Harbor dropped it: the resource goes too.
        remove_gone(api, child).await?;
        return Ok(Action::await_change());
    }
    let (reason, message) = if in_harbor {
        ("Synced", format!("mirrors {project}/{name} in Harbor"))
    } else {
        (
            "NotPushed",
            format!("nothing has been pushed to {project}/{name} yet"),
        )
    };
    status::set_ready(child, &mut status, reason, &message);
    status::write(api, child, child.status(), &status).await?;
    Ok(resync)
}

/// Whether the parents' cache (another controller's) holds its first full listing. Until then,
/// right after a start, a parent missing from it may only be not listed yet: taken for a
/// deleted parent, it would let a child's deletion skip Harbor and leak the repository.
fn parents_listed<C: Child>(ctx: &Context) -> bool {
    matches!(
        C::Parent::store(ctx).wait_until_ready().now_or_never(),
        Some(Ok(()))
    )
}

/// Deletes the child's object in Harbor, unless its parent is going away (the parent then
/// empties or orphans the whole project) or has no project.
async fn cleanup<C: Child>(child: &C, ctx: &Context) -> Result<Action> {
    let Some((parent, project)) = deletion_project(ctx, child).await? else {
        return Ok(Action::await_change());
    };
    let name = child.harbor_name();
    if names::repository_name(&project, name).is_err() {
        return Ok(Action::await_change());
    }
    if child.delete_in_harbor(ctx, &project).await? {
        let kind = C::kind(&());
        tracing::info!(%kind, harbor = name, %project, "deleted in Harbor");
        let note = format!("Deleted {kind} {name} from Harbor project {project}");
        ctx.event(child, false, "DeletedInHarbor", "Delete", note)
            .await;
        let _ = C::Parent::trigger(ctx).try_send(ObjectRef::from_obj(parent.as_ref()));
    }
    Ok(Action::await_change())
}

/// Metadata of a child created from Harbor: a deterministic name (so duplicate or reordered
/// webhooks and resyncs converge on one object), the origin label, and an owner reference to
/// the parent (so it goes with it).
pub fn metadata<P: ProjectOwner>(parent: &P, harbor_name: &str) -> ObjectMeta {
    let owner = parent.controller_owner_ref(&()).map(|mut owner| {
        owner.controller = Some(false);
        owner
    });
    ObjectMeta {
        name: Some(names::object_name(harbor_name)),
        labels: Some([(ORIGIN_LABEL.0.to_owned(), ORIGIN_LABEL.1.to_owned())].into()),
        owner_references: owner.map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

/// Created by harbor-bridge from what Harbor holds, as opposed to by a user.
pub fn from_harbor<C: Resource>(child: &C) -> bool {
    child
        .meta()
        .labels
        .as_ref()
        .and_then(|l| l.get(ORIGIN_LABEL.0))
        .map(String::as_str)
        == Some(ORIGIN_LABEL.1)
}

/// Why a child cannot be synced yet: a condition reason and message.
pub struct Unsyncable {
    pub reason: &'static str,
    pub message: String,
}

/// The parent and the Harbor project it is bound to, or why the child cannot be synced.
pub fn parent<C: Child>(
    ctx: &Context,
    child: &C,
) -> Result<(Arc<C::Parent>, ProjectName), Unsyncable> {
    let namespace = child.namespace().unwrap_or_default();
    let kind = C::Parent::kind(&());
    let Some(parent) = C::Parent::store(ctx).get(&ObjectRef::new(&namespace)) else {
        return Err(Unsyncable {
            reason: "ParentMissing",
            message: format!(
                "no {kind} named {namespace}: a {} lives in the Kubernetes namespace named after its {kind}'s metadata.name",
                C::kind(&())
            ),
        });
    };
    if parent.spec_name() != child.declared_parent() {
        return Err(Unsyncable {
            reason: "ParentMismatch",
            message: format!(
                "the {kind} {namespace} is named {:?}, but this {} declares {:?}",
                parent.spec_name(),
                C::kind(&()),
                child.declared_parent()
            ),
        });
    }
    let bound = parent
        .status()
        .and_then(|s| C::Parent::sync(s).harbor_project.as_ref())
        .filter(|b| b.id.is_some())
        .and_then(|b| b.name.parse::<ProjectName>().ok());
    match bound {
        Some(project) => Ok((parent, project)),
        None => Err(Unsyncable {
            reason: "ParentNotReady",
            message: format!("the {kind} {namespace} has no Harbor project yet"),
        }),
    }
}

/// The project a child's deletion should delete from, or `None` when its parent is going away
/// (the parent then empties or orphans the whole project) or has none.
pub async fn deletion_project<C: Child>(
    ctx: &Context,
    child: &C,
) -> Result<Option<(Arc<C::Parent>, ProjectName)>> {
    let Ok((parent, project)) = parent(ctx, child) else {
        return Ok(None);
    };
    let namespace = child.namespace().unwrap_or_default();
    if parent.meta().deletion_timestamp.is_some()
        || ctx.kube_namespace_terminating(&namespace).await?
    {
        return Ok(None);
    }
    Ok(Some((parent, project)))
}

/// Creates the children Harbor has and the platform lacks; removes those created from Harbor
/// whose object Harbor no longer has ([`remove_gone`]).
pub async fn sync<C: Child>(ctx: &Context, parent: &C::Parent, harbor: &[String]) -> Result<()> {
    let namespace = parent.name_any();
    let children: Vec<Arc<C>> = C::store(ctx)
        .state()
        .into_iter()
        .filter(|c| c.namespace().as_deref() == Some(namespace.as_str()))
        .collect();
    let existing: Vec<ExistingChild> = children
        .iter()
        .map(|c| ExistingChild {
            object_name: c.name_any(),
            harbor_name: c.harbor_name().to_owned(),
            from_harbor: from_harbor(c.as_ref()),
            deleting: c.meta().deletion_timestamp.is_some(),
        })
        .collect();
    let diff = plan::diff_children(harbor, &existing);
    for name in &diff.create {
        create::<C>(ctx, parent, name).await?;
    }
    let api: Api<C> = Api::namespaced(ctx.kube.clone(), &namespace);
    let gone = children
        .iter()
        .filter(|c| diff.delete.contains(&c.name_any()));
    for child in gone {
        remove_gone(&api, child.as_ref()).await?;
    }
    Ok(())
}

/// Removes a child whose Harbor object is gone, leaving Harbor alone. Harbor was read a moment
/// ago and the object may have been pushed again since: the finalizer, which deletes the Harbor
/// object, must not run. So it comes off first, and the child is deleted only if still at that
/// version. A reconcile that changed it in between (putting the finalizer back) makes either
/// step fail with 409, and the next reconcile decides again.
async fn remove_gone<C: Child>(api: &Api<C>, child: &C) -> Result<()> {
    let name = child.name_any();
    let mut version = child.resource_version();
    if child.finalizers().iter().any(|f| f == FINALIZER) {
        let others: Vec<&String> = child
            .finalizers()
            .iter()
            .filter(|f| *f != FINALIZER)
            .collect();
        // The resourceVersion makes the patch conditional.
        let patch = json!({ "metadata": { "resourceVersion": version, "finalizers": others } });
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(updated) => version = updated.resource_version(),
            Err(kube::Error::Api(status)) if [404, 409].contains(&status.code) => return Ok(()),
            Err(err) => return Err(err.into()),
        }
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: version,
            uid: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => {
            let (kind, harbor) = (C::kind(&()), child.harbor_name());
            tracing::info!(%kind, object = %name, harbor, "Harbor no longer has it; removed");
            Ok(())
        }
        Err(kube::Error::Api(status)) if [404, 409].contains(&status.code) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Creates the child for a Harbor object (a conflict means it exists already: fine).
pub async fn create<C: Child>(ctx: &Context, parent: &C::Parent, harbor_name: &str) -> Result<()> {
    let namespace = parent.name_any();
    let api: Api<C> = Api::namespaced(ctx.kube.clone(), &namespace);
    match api
        .create(&PostParams::default(), &C::for_harbor(parent, harbor_name))
        .await
    {
        Ok(_) => {
            tracing::info!(kind = %C::kind(&()), harbor = harbor_name, %namespace, "created from Harbor");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// The child of `parent` for a Harbor object, if the platform has one.
pub fn find<C: Child>(ctx: &Context, parent: &C::Parent, harbor_name: &str) -> Option<Arc<C>> {
    let namespace = parent.name_any();
    C::store(ctx).state().into_iter().find(|c| {
        c.namespace().as_deref() == Some(namespace.as_str()) && c.harbor_name() == harbor_name
    })
}
