//! `Repository` → the Harbor repository `<project>/<spec.name>`: status mirrors Harbor (tags,
//! digests, push times, pull count); deleting the resource deletes the repository. The loop
//! itself is [`super::children`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::mpsc;

use super::children::{self, Child};
use super::context::Context;
use super::error::Result;
use super::status::Synced;
use crate::harbor::{Artifact, Deleted};
use crate::resources::{
    ProjectName, RegistryNamespace, Repository, RepositorySpec, RepositoryStatus, RepositoryTag,
    SyncStatus,
};

impl Synced for Repository {
    type Status = RepositoryStatus;

    fn status(&self) -> Option<&RepositoryStatus> {
        self.status.as_ref()
    }
    fn sync(status: &RepositoryStatus) -> &SyncStatus {
        &status.sync
    }
    fn sync_mut(status: &mut RepositoryStatus) -> &mut SyncStatus {
        &mut status.sync
    }
}

impl Child for Repository {
    type Parent = RegistryNamespace;

    fn harbor_name(&self) -> &str {
        &self.spec.name
    }
    fn declared_parent(&self) -> &str {
        &self.spec.namespace_name
    }
    fn store(ctx: &Context) -> &Store<Self> {
        &ctx.caches.repositories
    }
    fn trigger(ctx: &Context) -> &mpsc::Sender<ObjectRef<Self>> {
        &ctx.triggers.repositories
    }
    fn for_harbor(parent: &RegistryNamespace, path: &str) -> Self {
        Repository {
            metadata: children::metadata(parent, path),
            spec: RepositorySpec {
                name: path.to_owned(),
                tenant_id: parent.spec.tenant_id.clone(),
                namespace_name: parent.spec.name.clone(),
                display_name: None,
                visibility: parent.spec.visibility,
            },
            status: None,
        }
    }

    async fn read_harbor(
        &self,
        ctx: &Context,
        project: &ProjectName,
        status: &mut RepositoryStatus,
    ) -> Result<bool> {
        let path = self.spec.name.as_str();
        let Some(found) = ctx.harbor.get_repository(project.as_str(), path).await? else {
            status.tags.clear();
            status.pull_count = 0;
            return Ok(false);
        };
        let artifacts = ctx.harbor.list_artifacts(project.as_str(), path).await?;
        status.tags = image_tags(&artifacts);
        status.pull_count = i32::try_from(found.pull_count).unwrap_or(i32::MAX);
        Ok(true)
    }

    async fn delete_in_harbor(&self, ctx: &Context, project: &ProjectName) -> Result<bool> {
        let outcome = ctx
            .harbor
            .delete_repository(project.as_str(), &self.spec.name)
            .await?;
        Ok(outcome == Deleted::Deleted)
    }
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
