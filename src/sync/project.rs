//! The Harbor project behind a `Namespace` or a `ChartGroup`: one reconcile loop for both. Bind,
//! create, correct, refuse safely, keep the children in step, and release on deletion.
//! Decisions come from [`super::plan`]; this is the I/O.

use std::fmt::Debug;
use std::sync::Arc;

use std::future::Future;

use kube::api::{Api, DeleteParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::FINALIZER;
use super::context::Context;
use super::error::{Error, Result};
use super::plan::{self, Candidate, ProjectPlan};
use super::purge;
use super::status::{self, Synced};
use crate::harbor::{ChartBackend, Created, Deleted, WebhookPolicy, WebhookTarget};
use crate::resources::status::ready_condition;
use crate::resources::{NameError, ProjectBinding, ProjectName};

/// Name of the webhook policy the daemon installs (and removes) on its projects.
pub const WEBHOOK_POLICY_NAME: &str = "harbor-bridge";
/// Condition recording that the webhook policy is installed, so a resync need not list policies.
const WEBHOOK_CONDITION: &str = "WebhookPolicy";

/// A cluster-scoped resource that owns one Harbor project, and whose children (one per Harbor
/// repository or chart) live in the Kubernetes namespace named after it.
pub trait ProjectOwner: Synced + Resource<Scope = kube::core::ClusterResourceScope> {
    type Child: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + Send
        + Sync
        + 'static;

    fn project_name(&self) -> Result<ProjectName, NameError>;
    /// `spec.name`, which children refer to.
    fn spec_name(&self) -> &str;
    fn public(&self) -> bool;
    fn orphan_on_delete(&self) -> bool;
    /// The cache of every resource of this kind, to find two mapping to one project.
    fn store(ctx: &Context) -> &Store<Self>;
    /// Where to ask for a reconcile (a child changed in Harbor).
    fn trigger(ctx: &Context) -> &mpsc::Sender<ObjectRef<Self>>;
    /// The events of the daemon's webhook policy on this kind's projects.
    fn webhook_events(backend: ChartBackend) -> Vec<&'static str>;
    /// Makes the children match what Harbor holds in `project`, and records their count.
    fn sync_children(
        &self,
        ctx: &Context,
        project: &ProjectName,
        status: &mut Self::Status,
    ) -> impl Future<Output = Result<()>> + Send;
}

pub async fn reconcile<K: ProjectOwner>(object: Arc<K>, ctx: Arc<Context>) -> Result<Action> {
    let started = std::time::Instant::now();
    let api: Api<K> = Api::all(ctx.kube.clone());
    let result = finalizer(&api, FINALIZER, object.clone(), |event| async {
        match event {
            Event::Apply(object) => apply(object.as_ref(), &ctx).await,
            Event::Cleanup(object) => cleanup(object.as_ref(), &ctx).await,
        }
    })
    .await
    .map_err(Error::from);
    if let Err(err) = &result {
        report_failure(&ctx, object.as_ref(), err).await;
    }
    ctx.observe_reconcile(K::kind(&()), started, &result);
    result
}

async fn apply<K: ProjectOwner>(object: &K, ctx: &Context) -> Result<Action> {
    let (project, id, created) = match ensure(ctx, object).await? {
        Ensured::Refused(action) => return Ok(action),
        Ensured::Bound {
            project,
            id,
            created,
        } => (project, id, created),
    };
    let mut status = object.status().cloned().unwrap_or_default();
    ensure_webhook_policy(ctx, object, &project, created, &mut status).await?;
    ctx.ensure_kube_namespace(&object.name_any()).await?;
    let api = api::<K>(ctx);
    let mut written = object.status().cloned();
    let bound = written
        .as_ref()
        .and_then(|s| K::sync(s).harbor_project.as_ref())
        .is_some_and(|b| b.name == project.as_str() && b.id == Some(id));
    if !bound {
        // Children created below look up their parent's project: record it first.
        let early = ready_status(object, status.clone(), &project, id);
        status::write(&api, object, written.as_ref(), &early).await?;
        written = Some(early);
    }
    object.sync_children(ctx, &project, &mut status).await?;
    let ready = ready_status(object, status, &project, id);
    // Compared with what was last written, so the early write is not repeated.
    status::write(&api, object, written.as_ref(), &ready).await?;
    Ok(Action::requeue(plan::jittered(
        ctx.options.resync_interval,
        &object.name_any(),
    )))
}

/// Harbor first (the finalizer stays until it is done), then the platform side: the daemon's
/// own Kubernetes namespace, or else the children in the tenant's namespace.
async fn cleanup<K: ProjectOwner>(object: &K, ctx: &Context) -> Result<Action> {
    release(ctx, object).await?;
    let namespace = object.name_any();
    if !ctx.delete_kube_namespace_if_ours(&namespace).await? {
        let children: Api<K::Child> = Api::namespaced(ctx.kube.clone(), &namespace);
        children
            .delete_collection(&DeleteParams::default(), &Default::default())
            .await?;
    }
    Ok(Action::await_change())
}

fn api<K: ProjectOwner>(ctx: &Context) -> Api<K> {
    Api::all(ctx.kube.clone())
}

fn claim<K: ProjectOwner>(object: &K) -> Option<ProjectBinding> {
    object
        .status()
        .and_then(|s| K::sync(s).harbor_project.clone())
}

/// The outcome of [`ensure`].
pub enum Ensured {
    /// The project exists and is this resource's.
    Bound {
        project: ProjectName,
        id: i64,
        created: bool,
    },
    /// Nothing was written to Harbor; status and an Event say why.
    Refused(Action),
}

/// Makes sure the resource's project exists, is bound to it, and has the right visibility.
pub async fn ensure<K: ProjectOwner>(ctx: &Context, object: &K) -> Result<Ensured> {
    let project = match object.project_name() {
        Ok(project) => project,
        Err(err) => {
            return refuse(ctx, object, err.reason(), err.to_string())
                .await
                .map(Ensured::Refused);
        }
    };
    if let Some(owner) = rival_owner(ctx, object, &project) {
        let message = format!(
            "Harbor project {project} is already bound to {} {owner}; two resources cannot share one project",
            K::kind(&())
        );
        return refuse(ctx, object, "ProjectConflict", message)
            .await
            .map(Ensured::Refused);
    }
    let claim = claim(object);
    let found = ctx.harbor.get_project(project.as_str()).await?;
    match plan::plan_project(
        project.as_str(),
        claim.as_ref(),
        found.as_ref(),
        object.public(),
        ctx.options.adopt_existing_projects,
    ) {
        ProjectPlan::Refuse { reason, message } => refuse(ctx, object, reason, message)
            .await
            .map(Ensured::Refused),
        ProjectPlan::Keep {
            id,
            set_public,
            adopted,
        } => {
            if let Some(public) = set_public {
                ctx.harbor
                    .set_project_public(project.as_str(), public)
                    .await?;
                let note = format!("Set Harbor project {project} {}", visibility(public));
                tracing::info!(object = %object.name_any(), %project, public, "corrected project visibility");
                ctx.event(object, false, "VisibilityCorrected", "UpdateProject", note)
                    .await;
            }
            if adopted {
                let note = format!("Adopted the existing Harbor project {project} (id {id})");
                ctx.event(object, false, "Adopted", "AdoptProject", note)
                    .await;
            }
            Ok(Ensured::Bound {
                project,
                id,
                created: false,
            })
        }
        ProjectPlan::Create => create(ctx, object, project).await,
    }
}

async fn create<K: ProjectOwner>(
    ctx: &Context,
    object: &K,
    project: ProjectName,
) -> Result<Ensured> {
    // The claim goes to status before Harbor is asked, so that a crash after Harbor's 201 is
    // recognised as this resource's own project when the daemon comes back.
    let pending = ProjectBinding {
        name: project.to_string(),
        id: None,
    };
    set_binding(ctx, object, Some(pending)).await?;
    let public = object.public();
    let id = match ctx.harbor.create_project(project.as_str(), public).await {
        Ok(Created::Created { id: Some(id) } | Created::SettledAfterLostReply { id }) => id,
        Ok(Created::Created { id: None }) => {
            match ctx.harbor.get_project(project.as_str()).await? {
                Some(found) => found.project_id,
                None => {
                    return Err(crate::harbor::Error::protocol(
                        "create project",
                        "created, but not found",
                    )
                    .into());
                }
            }
        }
        Err(err) if err.is_conflict() => {
            // Someone else created it between our check and our create: not ours.
            set_binding(ctx, object, None).await?;
            let message = format!(
                "Harbor project {project} was created by someone else just before harbor-bridge; \
                 delete it in Harbor or set sync.adoptExistingProjects to take it over"
            );
            return refuse(ctx, object, "ProjectExists", message)
                .await
                .map(Ensured::Refused);
        }
        Err(err) => return Err(err.into()),
    };
    tracing::info!(object = %object.name_any(), %project, id, public, "created Harbor project");
    let note = format!(
        "Created Harbor project {project} (id {id}, {})",
        visibility(public)
    );
    ctx.event(object, false, "ProjectCreated", "CreateProject", note)
        .await;
    Ok(Ensured::Bound {
        project,
        id,
        created: true,
    })
}

/// Installs the daemon's webhook policy when the project is new or the status does not record it.
pub async fn ensure_webhook_policy<K: ProjectOwner>(
    ctx: &Context,
    object: &K,
    project: &ProjectName,
    created: bool,
    status: &mut K::Status,
) -> Result<()> {
    let Some(target) = &ctx.options.webhook_policy else {
        return Ok(());
    };
    let recorded = K::sync(status)
        .conditions
        .iter()
        .any(|c| c.type_ == WEBHOOK_CONDITION && c.status == "True");
    if recorded && !created {
        return Ok(());
    }
    let existing = ctx.harbor.list_webhook_policies(project.as_str()).await?;
    if !existing.iter().any(|p| p.name == WEBHOOK_POLICY_NAME) {
        let policy = WebhookPolicy {
            id: None,
            name: WEBHOOK_POLICY_NAME.to_owned(),
            description: "Reports pushes and deletions to harbor-bridge".to_owned(),
            enabled: true,
            event_types: K::webhook_events(ctx.chart_backend().await?)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            targets: vec![WebhookTarget {
                target_type: "http".to_owned(),
                address: target.callback_url.to_string(),
                auth_header: Some(
                    secrecy::ExposeSecret::expose_secret(&target.auth_header).to_owned(),
                ),
                skip_cert_verify: false,
                payload_format: target.payload_format.clone(),
            }],
        };
        match ctx
            .harbor
            .create_webhook_policy(project.as_str(), &policy)
            .await
        {
            Ok(()) => {
                let note = format!(
                    "Installed webhook policy {WEBHOOK_POLICY_NAME} on Harbor project {project}"
                );
                ctx.event(
                    object,
                    false,
                    "WebhookInstalled",
                    "CreateWebhookPolicy",
                    note,
                )
                .await;
            }
            Err(err) if err.is_conflict() => {}
            Err(err) => return Err(err.into()),
        }
    }
    let mut condition = ready_condition(
        true,
        "Installed",
        format!("policy {WEBHOOK_POLICY_NAME}"),
        None,
    );
    condition.type_ = WEBHOOK_CONDITION.to_owned();
    K::sync_mut(status).set_condition(condition);
    Ok(())
}

/// The status of a resource Ready and bound to `project`. Pure.
fn ready_status<K: ProjectOwner>(
    object: &K,
    mut status: K::Status,
    project: &ProjectName,
    id: i64,
) -> K::Status {
    let message = format!("Harbor project {project} (id {id}) matches the resource");
    status::set_ready(object, &mut status, "Synced", &message);
    K::sync_mut(&mut status).harbor_project = Some(ProjectBinding {
        name: project.to_string(),
        id: Some(id),
    });
    status
}

/// A failed reconcile is recorded on the resource (condition and Event) before it is retried.
pub async fn report_failure<K: ProjectOwner>(ctx: &Context, object: &K, err: &Error) {
    if err.reason() == "HarborUnavailable" {
        // Harbor may come back as another version, with or without ChartMuseum.
        ctx.forget_chart_backend();
    }
    if let Err(error) =
        status::not_ready(ctx, &api::<K>(ctx), object, err.reason(), &err.to_string()).await
    {
        tracing::debug!(%error, "could not record the failure in status");
    }
}

/// Sets `Ready=False` with the reason, without touching Harbor, and comes back at the next resync.
pub async fn refuse<K: ProjectOwner>(
    ctx: &Context,
    object: &K,
    reason: &str,
    message: String,
) -> Result<Action> {
    status::not_ready(ctx, &api::<K>(ctx), object, reason, &message).await?;
    Ok(Action::requeue(plan::jittered(
        ctx.options.resync_interval,
        &object.name_any(),
    )))
}

async fn set_binding<K: ProjectOwner>(
    ctx: &Context,
    object: &K,
    binding: Option<ProjectBinding>,
) -> Result<()> {
    let mut status = object.status().cloned().unwrap_or_default();
    K::sync_mut(&mut status).harbor_project = binding;
    status::write(&api::<K>(ctx), object, object.status(), &status).await?;
    Ok(())
}

/// Another resource of the same kind that maps to `project` and wins it, if any.
fn rival_owner<K: ProjectOwner>(
    ctx: &Context,
    object: &K,
    project: &ProjectName,
) -> Option<String> {
    let candidates: Vec<Candidate> = K::store(ctx)
        .state()
        .iter()
        .filter(|other| {
            other.meta().deletion_timestamp.is_none() || other.name_any() == object.name_any()
        })
        .filter(|other| other.project_name().is_ok_and(|p| p == *project))
        .map(|other| candidate(other.as_ref(), project))
        .chain(std::iter::once(candidate(object, project)))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_values()
        .collect();
    let owner = plan::project_owner(&candidates)?;
    (owner.name != object.name_any()).then(|| owner.name.clone())
}

fn candidate<K: ProjectOwner>(object: &K, project: &ProjectName) -> (String, Candidate) {
    let bound = claim(object).is_some_and(|c| c.name == project.as_str());
    let created = object
        .meta()
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    let name = object.name_any();
    (
        name.clone(),
        Candidate {
            name,
            created,
            bound,
        },
    )
}

/// Deletion: empty and delete the project bound to this resource (never another), unless the
/// policy says Orphan. Errors keep the finalizer; the caller records them in status.
pub async fn release<K: ProjectOwner>(ctx: &Context, object: &K) -> Result<()> {
    let name = object.name_any();
    let Some(binding) = claim(object) else {
        tracing::info!(object = %name, "never bound to a Harbor project; nothing to delete in Harbor");
        return Ok(());
    };
    let project = binding.name.as_str();
    if object.orphan_on_delete() {
        let note =
            format!("deletionPolicy is Orphan: Harbor project {project} and its content are kept");
        ctx.event(object, false, "ProjectOrphaned", "DeleteProject", note)
            .await;
        return Ok(());
    }
    let Some(found) = ctx.harbor.get_project(project).await? else {
        tracing::info!(object = %name, project, "Harbor project already gone");
        return Ok(());
    };
    if !plan::may_delete_project(project, Some(&binding), &found) {
        let note = format!(
            "Harbor project {project} (id {}) is not the one bound to this resource; it is left in Harbor",
            found.project_id
        );
        ctx.event(object, true, "ProjectNotOwned", "DeleteProject", note)
            .await;
        return Ok(());
    }
    status::not_ready(
        ctx,
        &api::<K>(ctx),
        object,
        status::DELETING,
        &format!("emptying and deleting Harbor project {project}"),
    )
    .await?;
    let backend = ctx.chart_backend().await?;
    let purged = purge::empty_project(
        &ctx.harbor,
        project,
        backend,
        ctx.options.delete_concurrency,
    )
    .await?;
    purge::remove_webhook_policies(&ctx.harbor, project, WEBHOOK_POLICY_NAME).await?;
    let outcome = ctx.harbor.delete_project(project).await?;
    tracing::info!(object = %name, project, repositories = purged.repositories, charts = purged.charts, ?outcome, "deleted Harbor project");
    if outcome == Deleted::Deleted {
        let note = format!(
            "Deleted Harbor project {project} after removing {} repositories and {} charts",
            purged.repositories, purged.charts
        );
        ctx.event(object, false, "ProjectDeleted", "DeleteProject", note)
            .await;
    }
    Ok(())
}

fn visibility(public: bool) -> &'static str {
    if public { "public" } else { "private" }
}

/// The resource of this kind bound to `project` (with a recorded id), if any.
pub fn bound_to<K: ProjectOwner>(ctx: &Context, project: &str) -> Option<Arc<K>> {
    K::store(ctx)
        .state()
        .into_iter()
        .find(|o| claim(o.as_ref()).is_some_and(|c| c.name == project && c.id.is_some()))
}
