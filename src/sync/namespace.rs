//! Registry `Namespace` → Harbor project `<tenantID>-image-<name>`, and its `Repository`
//! resources → the repositories Harbor holds in that project.

use std::sync::Arc;

use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};

use super::FINALIZER;
use super::context::{Context, ORIGIN_LABEL};
use super::error::{Error, Result};
use super::plan::{self, ExistingRepository};
use super::project::{self, Ensured, ProjectOwner};
use crate::resources::{
    DeletionPolicy, NameError, ProjectName, RegistryNamespace, RegistryNamespaceStatus, Repository,
    RepositorySpec, SyncStatus, names,
};

impl ProjectOwner for RegistryNamespace {
    type Status = RegistryNamespaceStatus;

    fn project_name(&self) -> Result<ProjectName, NameError> {
        RegistryNamespace::project_name(self)
    }
    fn public(&self) -> bool {
        self.spec.visibility.is_public()
    }
    fn orphan_on_delete(&self) -> bool {
        self.spec.deletion_policy == Some(DeletionPolicy::Orphan)
    }
    fn status(&self) -> Option<&RegistryNamespaceStatus> {
        self.status.as_ref()
    }
    fn sync(status: &RegistryNamespaceStatus) -> &SyncStatus {
        &status.sync
    }
    fn sync_mut(status: &mut RegistryNamespaceStatus) -> &mut SyncStatus {
        &mut status.sync
    }
    fn store(ctx: &Context) -> &Store<Self> {
        &ctx.namespaces
    }
}

pub async fn reconcile(namespace: Arc<RegistryNamespace>, ctx: Arc<Context>) -> Result<Action> {
    let api: Api<RegistryNamespace> = Api::all(ctx.kube.clone());
    let result = finalizer(&api, FINALIZER, namespace.clone(), |event| async {
        match event {
            Event::Apply(namespace) => apply(&namespace, &ctx).await,
            Event::Cleanup(namespace) => cleanup(&namespace, &ctx).await,
        }
    })
    .await
    .map_err(Error::from);
    if let Err(err) = &result {
        project::report_failure(&ctx, namespace.as_ref(), err).await;
    }
    result
}

async fn apply(namespace: &RegistryNamespace, ctx: &Context) -> Result<Action> {
    let (project, id, created) = match project::ensure(ctx, namespace).await? {
        Ensured::Refused(action) => return Ok(action),
        Ensured::Bound {
            project,
            id,
            created,
        } => (project, id, created),
    };
    let mut status = namespace.status.clone().unwrap_or_default();
    project::ensure_webhook_policy(ctx, namespace, &project, created, &mut status).await?;
    ctx.ensure_kube_namespace(&namespace.name_any()).await?;
    let repositories = ctx.harbor.list_repositories(project.as_str()).await?;
    let paths: Vec<String> = repositories
        .iter()
        .map(|r| r.name_in_project(project.as_str()).to_owned())
        .collect();
    sync_repository_resources(ctx, namespace, &paths).await?;
    status.repo_count = i32::try_from(paths.len()).unwrap_or(i32::MAX);
    project::write_ready(ctx, namespace, status, &project, id).await?;
    Ok(Action::requeue(plan::jittered(
        ctx.options.resync_interval,
        &namespace.name_any(),
    )))
}

/// Creates a `Repository` for each Harbor repository the platform lacks, and removes the ones
/// created from Harbor whose repository Harbor no longer has (their finalizer then finds
/// nothing to delete).
async fn sync_repository_resources(
    ctx: &Context,
    namespace: &RegistryNamespace,
    harbor: &[String],
) -> Result<()> {
    let kube_namespace = namespace.name_any();
    let existing: Vec<ExistingRepository> = ctx
        .repositories
        .state()
        .iter()
        .filter(|r| r.namespace().as_deref() == Some(kube_namespace.as_str()))
        .map(|r| ExistingRepository {
            object_name: r.name_any(),
            path: r.spec.name.clone(),
            from_harbor: r.labels().get(ORIGIN_LABEL.0).map(String::as_str) == Some(ORIGIN_LABEL.1),
            deleting: r.meta().deletion_timestamp.is_some(),
        })
        .collect();
    let diff = plan::diff_repositories(harbor, &existing);
    let api: Api<Repository> = Api::namespaced(ctx.kube.clone(), &kube_namespace);
    for path in &diff.create {
        create_repository_resource(&api, namespace, path).await?;
    }
    for name in &diff.delete {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                tracing::info!(repository = %name, namespace = %kube_namespace, "Harbor no longer has it; removed")
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// Creates the `Repository` for a Harbor repository, named deterministically from its path so
/// that duplicate or reordered webhooks and resyncs converge on one object.
pub async fn create_repository_resource(
    api: &Api<Repository>,
    namespace: &RegistryNamespace,
    path: &str,
) -> Result<()> {
    let owner = namespace.controller_owner_ref(&()).map(|mut owner| {
        owner.controller = Some(false);
        owner
    });
    let repository = Repository {
        metadata: ObjectMeta {
            name: Some(names::object_name(path)),
            labels: Some([(ORIGIN_LABEL.0.to_owned(), ORIGIN_LABEL.1.to_owned())].into()),
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: RepositorySpec {
            name: path.to_owned(),
            tenant_id: namespace.spec.tenant_id.clone(),
            namespace_name: namespace.spec.name.clone(),
            display_name: None,
            visibility: namespace.spec.visibility,
        },
        status: None,
    };
    match api.create(&PostParams::default(), &repository).await {
        Ok(_) => {
            tracing::info!(repository = path, namespace = %namespace.name_any(), "created Repository from Harbor");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Harbor first (the finalizer stays until it is done), then the platform side: the daemon's
/// own Kubernetes namespace, or else the `Repository` resources in the tenant's namespace.
async fn cleanup(namespace: &RegistryNamespace, ctx: &Context) -> Result<Action> {
    project::release(ctx, namespace).await?;
    let kube_namespace = namespace.name_any();
    if !ctx.delete_kube_namespace_if_ours(&kube_namespace).await? {
        let api: Api<Repository> = Api::namespaced(ctx.kube.clone(), &kube_namespace);
        api.delete_collection(&DeleteParams::default(), &Default::default())
            .await?;
    }
    Ok(Action::await_change())
}
