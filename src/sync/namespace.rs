//! Registry `Namespace` → Harbor project `<tenantID>-image-<name>`, whose `Repository` children
//! follow the repositories Harbor holds in that project. The loop itself is [`super::project`].

use kube::runtime::reflector::Store;

use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc;

use super::children;
use super::context::Context;
use super::error::Result;
use super::project::ProjectOwner;
use super::status::Synced;
use crate::harbor::ChartBackend;
use crate::resources::{
    DeletionPolicy, NameError, ProjectName, RegistryNamespace, RegistryNamespaceStatus, Repository,
    SyncStatus,
};

impl Synced for RegistryNamespace {
    type Status = RegistryNamespaceStatus;

    fn status(&self) -> Option<&RegistryNamespaceStatus> {
        self.status.as_ref()
    }
    fn sync(status: &RegistryNamespaceStatus) -> &SyncStatus {
        &status.sync
    }
    fn sync_mut(status: &mut RegistryNamespaceStatus) -> &mut SyncStatus {
        &mut status.sync
    }
}

impl ProjectOwner for RegistryNamespace {
    type Child = Repository;

    fn project_name(&self) -> Result<ProjectName, NameError> {
        RegistryNamespace::project_name(self)
    }
    fn spec_name(&self) -> &str {
        &self.spec.name
    }
    fn public(&self) -> bool {
        self.spec.visibility.is_public()
    }
    fn orphan_on_delete(&self) -> bool {
        self.spec.deletion_policy == Some(DeletionPolicy::Orphan)
    }
    fn store(ctx: &Context) -> &Store<Self> {
        &ctx.caches.namespaces
    }
    fn trigger(ctx: &Context) -> &mpsc::Sender<ObjectRef<Self>> {
        &ctx.triggers.namespaces
    }
    fn webhook_events(_: ChartBackend) -> Vec<&'static str> {
        vec!["PUSH_ARTIFACT", "DELETE_ARTIFACT"]
    }

    /// One `Repository` per Harbor repository; `repoCount` is Harbor's count, never incremented.
    async fn sync_children(
        &self,
        ctx: &Context,
        project: &ProjectName,
        status: &mut RegistryNamespaceStatus,
    ) -> Result<()> {
        let repositories = ctx.harbor.list_repositories(project.as_str()).await?;
        let paths: Vec<String> = repositories
            .iter()
            .map(|r| r.name_in_project(project.as_str()).to_owned())
            .collect();
        children::sync::<Repository>(ctx, self, &paths).await?;
        status.repo_count = i32::try_from(paths.len()).unwrap_or(i32::MAX);
        Ok(())
    }
}
