//! `Repository` → the Harbor repository `<project>/<spec.name>`: status mirrors Harbor (tags,
//! digests, push times, pull count); deleting the resource deletes the repository.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use kube::{Resource, ResourceExt};

use super::FINALIZER;
use super::context::{Context, ORIGIN_LABEL};
use super::error::{Error, Result};
use super::plan;
use super::status;
use crate::harbor::Artifact;
use crate::resources::status::ready_condition;
use crate::resources::{
    ProjectName, RegistryNamespace, Repository, RepositoryStatus, RepositoryTag, names,
};

pub async fn reconcile(repository: Arc<Repository>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = repository.namespace().unwrap_or_default();
    let api: Api<Repository> = Api::namespaced(ctx.kube.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, repository.clone(), |event| async {
        match event {
            Event::Apply(repository) => apply(&repository, &api, &ctx).await,
            Event::Cleanup(repository) => cleanup(&repository, &ctx).await,
        }
    })
    .await
    .map_err(Error::from);
    if let Err(err) = &result {
        let message = err.to_string();
        tracing::warn!(repository = %repository.name_any(), %namespace, reason = err.reason(), %message, "reconcile failed");
        if let Err(error) = not_ready(&repository, &api, &ctx, err.reason(), message).await {
            tracing::debug!(%error, "could not record the failure in status");
        }
    }
    result
}

/// The parent `Namespace` and the project it is bound to, or why the repository cannot be synced.
fn parent_project(
    repository: &Repository,
    ctx: &Context,
) -> Result<(Arc<RegistryNamespace>, ProjectName), (&'static str, String)> {
    let namespace = repository.namespace().unwrap_or_default();
    let Some(parent) = ctx.namespace_named(&namespace) else {
        return Err((
            "ParentMissing",
            format!(
                "no registry Namespace named {namespace}: a Repository lives in the Kubernetes namespace \
                 named after its Namespace's metadata.name"
            ),
        ));
    };
    if parent.spec.name != repository.spec.namespace_name {
        return Err((
            "ParentMismatch",
            format!(
                "spec.namespaceName is {:?} but the Namespace {namespace} is named {:?}",
                repository.spec.namespace_name, parent.spec.name
            ),
        ));
    }
    let bound = parent
        .status
        .as_ref()
        .and_then(|s| s.sync.harbor_project.as_ref())
        .filter(|b| b.id.is_some())
        .and_then(|b| b.name.parse::<ProjectName>().ok());
    match bound {
        Some(project) => Ok((parent, project)),
        None => Err((
            "ParentNotReady",
            format!("the Namespace {namespace} has no Harbor project yet"),
        )),
    }
}

async fn apply(repository: &Repository, api: &Api<Repository>, ctx: &Context) -> Result<Action> {
    let resync = Action::requeue(plan::jittered(
        ctx.options.resync_interval,
        &repository.name_any(),
    ));
    let generation = repository.meta().generation;
    let (_, project) = match parent_project(repository, ctx) {
        Ok(found) => found,
        Err((reason, message)) => {
            let retry = reason == "ParentNotReady";
            not_ready(repository, api, ctx, reason, message).await?;
            return Ok(if retry {
                Action::requeue(ctx.options.retry_interval)
            } else {
                resync
            });
        }
    };
    if let Err(err) = names::repository_name(&project, &repository.spec.name) {
        not_ready(repository, api, ctx, err.reason(), err.to_string()).await?;
        return Ok(resync);
    }
    let path = repository.spec.name.as_str();
    let (tags, pull_count, reason, message) = match ctx
        .harbor
        .get_repository(project.as_str(), path)
        .await?
    {
        None if from_harbor(repository) => {
            // Harbor dropped it: the resource goes too, and its finalizer finds nothing to delete.
            api.delete(&repository.name_any(), &DeleteParams::default())
                .await?;
            tracing::info!(repository = path, %project, "Harbor no longer has this repository; removed");
            return Ok(Action::await_change());
        }
        None => (
            Vec::new(),
            0,
            "NotPushed",
            format!("nothing has been pushed to {project}/{path} yet"),
        ),
        Some(found) => {
            let artifacts = ctx.harbor.list_artifacts(project.as_str(), path).await?;
            let pulls = i32::try_from(found.pull_count).unwrap_or(i32::MAX);
            (
                image_tags(&artifacts),
                pulls,
                "Synced",
                format!("mirrors Harbor repository {project}/{path}"),
            )
        }
    };
    write_status(api, repository, |s| {
        s.tags = tags;
        s.pull_count = pull_count;
        s.sync.observed_generation = generation;
        s.sync
            .set_condition(ready_condition(true, reason, message, generation));
    })
    .await?;
    Ok(resync)
}

/// Tags of the image artifacts, newest push first; chart artifacts belong to `Chart` resources.
fn image_tags(artifacts: &[Artifact]) -> Vec<RepositoryTag> {
    let mut tags: Vec<RepositoryTag> = artifacts
        .iter()
        .filter(|a| !a.is_chart())
        .flat_map(|artifact| {
            artifact.tags().iter().map(|tag| RepositoryTag {
                name: tag.name.clone(),
                digest: artifact.digest.clone(),
                time_created: tag
                    .push_time
                    .as_deref()
                    .or(artifact.push_time.as_deref())
                    .and_then(|t| t.parse().ok())
                    .map(Time),
            })
        })
        .collect();
    tags.sort_by(|a, b| {
        b.time_created
            .cmp(&a.time_created)
            .then_with(|| a.name.cmp(&b.name))
    });
    tags
}

fn from_harbor(repository: &Repository) -> bool {
    repository.labels().get(ORIGIN_LABEL.0).map(String::as_str) == Some(ORIGIN_LABEL.1)
}

async fn not_ready(
    repository: &Repository,
    api: &Api<Repository>,
    ctx: &Context,
    reason: &str,
    message: String,
) -> Result<()> {
    let generation = repository.meta().generation;
    let changed = write_status(api, repository, |s| {
        s.sync.observed_generation = generation;
        s.sync
            .set_condition(ready_condition(false, reason, &message, generation));
    })
    .await?;
    if changed {
        ctx.event(repository, true, reason, "Validate", message)
            .await;
    }
    Ok(())
}

async fn write_status(
    api: &Api<Repository>,
    repository: &Repository,
    change: impl FnOnce(&mut RepositoryStatus),
) -> Result<bool> {
    let mut next = repository.status.clone().unwrap_or_default();
    change(&mut next);
    status::write(api, repository, repository.status.as_ref(), &next).await
}

/// Deletes the repository in Harbor, unless its parent is going away (then the parent empties or
/// orphans the whole project) or has no project.
async fn cleanup(repository: &Repository, ctx: &Context) -> Result<Action> {
    let namespace = repository.namespace().unwrap_or_default();
    let Ok((parent, project)) = parent_project(repository, ctx) else {
        return Ok(Action::await_change());
    };
    if parent.meta().deletion_timestamp.is_some()
        || ctx.kube_namespace_terminating(&namespace).await?
    {
        return Ok(Action::await_change());
    }
    let path = repository.spec.name.as_str();
    if names::repository_name(&project, path).is_err() {
        return Ok(Action::await_change());
    }
    let outcome = ctx.harbor.delete_repository(project.as_str(), path).await?;
    tracing::info!(repository = path, %project, ?outcome, "deleted Harbor repository");
    if outcome == crate::harbor::Deleted::Deleted {
        let note = format!("Deleted Harbor repository {project}/{path}");
        ctx.event(
            repository,
            false,
            "RepositoryDeleted",
            "DeleteRepository",
            note,
        )
        .await;
        let _ = ctx
            .namespace_triggers
            .try_send(kube::runtime::reflector::ObjectRef::from_obj(
                parent.as_ref(),
            ));
    }
    Ok(Action::await_change())
}
