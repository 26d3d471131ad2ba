//! `ChartGroup` → Harbor project `<tenantID>-chart-<name>`, whose `Chart` children follow the
//! charts Harbor holds there: ChartMuseum charts (Harbor ≤ 2.7) and OCI charts (any version).
//! The loop itself is [`super::project`].

use std::collections::BTreeSet;

use futures::{StreamExt, TryStreamExt};
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::mpsc;

use super::children;
use super::context::Context;
use super::error::Result;
use super::project::ProjectOwner;
use super::status::Synced;
use crate::harbor::{Artifact, ChartBackend};
use crate::resources::{
    Chart, ChartGroup, ChartGroupStatus, DeletionPolicy, NameError, Phase, ProjectName, SyncStatus,
};

impl Synced for ChartGroup {
    type Status = ChartGroupStatus;

    fn status(&self) -> Option<&ChartGroupStatus> {
        self.status.as_ref()
    }
    fn sync(status: &ChartGroupStatus) -> &SyncStatus {
        &status.sync
    }
    fn sync_mut(status: &mut ChartGroupStatus) -> &mut SyncStatus {
        &mut status.sync
    }
    fn record_phase(status: &mut ChartGroupStatus, phase: Phase, reason: &str, message: &str) {
        status.phase_fields().set(phase, reason, message);
    }
}

impl ProjectOwner for ChartGroup {
    type Child = Chart;

    fn project_name(&self) -> Result<ProjectName, NameError> {
        ChartGroup::project_name(self)
    }
    fn spec_name(&self) -> &str {
        &self.spec.name
    }
    /// `Public` makes a public project; `User`, `Project` and `Private` a private one.
    fn public(&self) -> bool {
        self.spec.visibility.is_public()
    }
    fn orphan_on_delete(&self) -> bool {
        self.spec.deletion_policy == Some(DeletionPolicy::Orphan)
    }
    fn store(ctx: &Context) -> &Store<Self> {
        &ctx.caches.chart_groups
    }
    fn trigger(ctx: &Context) -> &mpsc::Sender<ObjectRef<Self>> {
        &ctx.triggers.chart_groups
    }
    /// Chart events exist only where ChartMuseum does (Harbor 2.8 refuses them with 400).
    fn webhook_events(backend: ChartBackend) -> Vec<&'static str> {
        match backend {
            ChartBackend::ChartMuseum => vec![
                "PUSH_ARTIFACT",
                "DELETE_ARTIFACT",
                "UPLOAD_CHART",
                "DELETE_CHART",
            ],
            ChartBackend::Oci => vec!["PUSH_ARTIFACT", "DELETE_ARTIFACT"],
        }
    }

    /// One `Chart` per chart in Harbor; `chartCount` is Harbor's count, never incremented.
    async fn sync_children(
        &self,
        ctx: &Context,
        project: &ProjectName,
        status: &mut ChartGroupStatus,
    ) -> Result<()> {
        let charts = harbor_charts(ctx, project).await?;
        children::sync::<Chart>(ctx, self, &charts).await?;
        status.chart_count = i32::try_from(charts.len()).unwrap_or(i32::MAX);
        Ok(())
    }
}

/// The charts of a chart project: every ChartMuseum chart where Harbor has ChartMuseum, and every
/// repository holding an OCI chart artifact. Images pushed into the project are not charts.
pub async fn harbor_charts(ctx: &Context, project: &ProjectName) -> Result<Vec<String>> {
    let project = project.as_str();
    let mut charts = BTreeSet::new();
    if ctx.chart_backend().await? == ChartBackend::ChartMuseum {
        charts.extend(
            ctx.harbor
                .list_charts(project)
                .await?
                .into_iter()
                .map(|c| c.name),
        );
    }
    let repositories = ctx.harbor.list_repositories(project).await?;
    let paths: Vec<String> = repositories
        .iter()
        .map(|r| r.name_in_project(project).to_owned())
        .collect();
    let oci: Vec<Option<String>> = futures::stream::iter(paths)
        .map(|path| async move {
            Ok::<_, super::Error>(holds_charts(ctx, project, &path).await?.then_some(path))
        })
        .buffer_unordered(ctx.options.delete_concurrency)
        .try_collect()
        .await?;
    charts.extend(oci.into_iter().flatten());
    Ok(charts.into_iter().collect())
}

/// Whether a repository holds at least one OCI chart.
pub async fn holds_charts(ctx: &Context, project: &str, path: &str) -> Result<bool> {
    Ok(ctx
        .harbor
        .list_artifacts(project, path)
        .await?
        .iter()
        .any(Artifact::is_chart))
}
