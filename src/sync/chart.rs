//! `Chart` → the chart `<spec.name>` in its group's project, wherever Harbor keeps it: ChartMuseum
//! (Harbor ≤ 2.7) or an OCI repository `<project>/<chart>` whose tags are the versions.
//! `status.versions` mirrors Harbor; the annotation [`DELETE_VERSIONS`] deletes single versions;
//! deleting the resource deletes the whole chart with one call per place it lives.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;
use tokio::sync::mpsc;

use super::children::{self, Child};
use super::context::Context;
use super::error::Result;
use super::status::Synced;
use crate::harbor::{Artifact, ChartBackend, Deleted};
use crate::resources::{
    Chart, ChartGroup, ChartSpec, ChartStatus, ChartVersion, Phase, ProjectName, SyncStatus,
};

/// Comma-separated versions to delete from Harbor; cleared once they are gone.
pub const DELETE_VERSIONS: &str = "registry.tkestack.io/delete-versions";

impl Synced for Chart {
    type Status = ChartStatus;

    fn status(&self) -> Option<&ChartStatus> {
        self.status.as_ref()
    }
    fn sync(status: &ChartStatus) -> &SyncStatus {
        &status.sync
    }
    fn sync_mut(status: &mut ChartStatus) -> &mut SyncStatus {
        &mut status.sync
    }
    fn record_phase(status: &mut ChartStatus, phase: Phase, reason: &str, message: &str) {
        status.phase_fields().set(phase, reason, message);
    }
}

impl Child for Chart {
    type Parent = ChartGroup;

    fn harbor_name(&self) -> &str {
        &self.spec.name
    }
    fn declared_parent(&self) -> &str {
        &self.spec.chart_group_name
    }
    fn store(ctx: &Context) -> &Store<Self> {
        &ctx.caches.charts
    }
    fn trigger(ctx: &Context) -> &mpsc::Sender<ObjectRef<Self>> {
        &ctx.triggers.charts
    }
    fn for_harbor(parent: &ChartGroup, name: &str) -> Self {
        Chart {
            metadata: children::metadata(parent, name),
            spec: ChartSpec {
                name: name.to_owned(),
                tenant_id: parent.spec.tenant_id.clone(),
                chart_group_name: parent.spec.name.clone(),
                display_name: None,
                visibility: parent.spec.visibility,
                finalizers: Vec::new(),
            },
            status: None,
        }
    }

    /// Deletes the versions the annotation names, one call each, then clears the annotation.
    async fn act(&self, ctx: &Context, project: &ProjectName, api: &Api<Self>) -> Result<()> {
        let Some(listed) = self.annotations().get(DELETE_VERSIONS) else {
            return Ok(());
        };
        let versions = parse_versions(listed);
        for version in &versions {
            if delete_version(ctx, project, &self.spec.name, version).await? {
                let note = format!(
                    "Deleted version {version} of chart {} from Harbor project {project}",
                    self.spec.name
                );
                ctx.event(self, false, "VersionDeleted", "DeleteVersion", note)
                    .await;
            }
        }
        let clear = json!({ "metadata": { "annotations": { DELETE_VERSIONS: null } } });
        api.patch(
            &self.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&clear),
        )
        .await?;
        Ok(())
    }

    async fn read_harbor(
        &self,
        ctx: &Context,
        project: &ProjectName,
        status: &mut ChartStatus,
    ) -> Result<bool> {
        status.versions = versions_in_harbor(ctx, project, &self.spec.name).await?;
        Ok(!status.versions.is_empty())
    }

    /// The whole chart, all versions: one call for ChartMuseum, one for the OCI repository.
    async fn delete_in_harbor(&self, ctx: &Context, project: &ProjectName) -> Result<bool> {
        let (project, name) = (project.as_str(), self.spec.name.as_str());
        let mut deleted = false;
        if ctx.chart_backend().await? == ChartBackend::ChartMuseum
            && !ctx
                .harbor
                .list_chart_versions(project, name)
                .await?
                .is_empty()
        {
            deleted |= ctx.harbor.delete_chart(project, name).await? == Deleted::Deleted;
        }
        if ctx.harbor.get_repository(project, name).await?.is_some() {
            deleted |= ctx.harbor.delete_repository(project, name).await? == Deleted::Deleted;
        }
        Ok(deleted)
    }
}

/// `"1.2.0, 1.3.0,"` → `["1.2.0", "1.3.0"]`. Pure.
pub fn parse_versions(listed: &str) -> Vec<String> {
    let mut versions: Vec<String> = listed
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    versions.dedup();
    versions
}

/// Helm stores a version's `+` as `_` in an OCI tag.
fn oci_tag(version: &str) -> String {
    version.replace('+', "_")
}

async fn delete_version(
    ctx: &Context,
    project: &ProjectName,
    chart: &str,
    version: &str,
) -> Result<bool> {
    let project = project.as_str();
    let mut deleted = false;
    if ctx.chart_backend().await? == ChartBackend::ChartMuseum
        && ctx
            .harbor
            .list_chart_versions(project, chart)
            .await?
            .iter()
            .any(|v| v.version == version)
    {
        deleted |= ctx
            .harbor
            .delete_chart_version(project, chart, version)
            .await?
            == Deleted::Deleted;
    }
    if ctx.harbor.get_repository(project, chart).await?.is_some() {
        deleted |= ctx
            .harbor
            .delete_artifact(project, chart, &oci_tag(version))
            .await?
            == Deleted::Deleted;
    }
    Ok(deleted)
}

/// Every version Harbor holds of the chart, newest first, from both places.
async fn versions_in_harbor(
    ctx: &Context,
    project: &ProjectName,
    chart: &str,
) -> Result<Vec<ChartVersion>> {
    let project = project.as_str();
    let mut versions = Vec::new();
    if ctx.chart_backend().await? == ChartBackend::ChartMuseum {
        versions.extend(
            ctx.harbor
                .list_chart_versions(project, chart)
                .await?
                .into_iter()
                .map(|v| ChartVersion {
                    version: v.version,
                    chart_size: None,
                    time_created: parse_time(v.created.as_deref()),
                    description: v.description,
                    app_version: v.app_version,
                    icon: v.icon,
                }),
        );
    }
    if ctx.harbor.get_repository(project, chart).await?.is_some() {
        let artifacts = ctx.harbor.list_artifacts(project, chart).await?;
        versions.extend(
            artifacts
                .iter()
                .filter(|a| a.is_chart())
                .flat_map(oci_versions),
        );
    }
    versions.sort_by(|a, b| {
        b.time_created
            .cmp(&a.time_created)
            .then_with(|| b.version.cmp(&a.version))
    });
    versions.dedup_by(|a, b| a.version == b.version);
    Ok(versions)
}

/// The versions one OCI chart artifact stands for (one per tag). Pure.
fn oci_versions(artifact: &Artifact) -> Vec<ChartVersion> {
    let attr = |key: &str| {
        artifact
            .extra_attrs
            .as_ref()
            .and_then(|a| a.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    artifact
        .tags()
        .iter()
        .map(|tag| ChartVersion {
            version: tag.name.replace('_', "+"),
            chart_size: artifact.size,
            time_created: parse_time(tag.push_time.as_deref().or(artifact.push_time.as_deref())),
            description: attr("description"),
            app_version: attr("appVersion"),
            icon: attr("icon"),
        })
        .collect()
}

fn parse_time(text: Option<&str>) -> Option<Time> {
    text.and_then(|t| t.parse().ok()).map(Time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_annotation_lists_versions() {
        assert_eq!(parse_versions("1.2.0, 1.3.0,"), ["1.2.0", "1.3.0"]);
        assert!(parse_versions(" , ").is_empty());
    }

    #[test]
    fn oci_tags_become_versions_with_helms_plus() {
        let artifact: Artifact = serde_json::from_value(json!({
            "digest": "sha256:aa", "type": "CHART", "size": 1234,
            "push_time": "2024-05-01T10:00:00Z",
            "tags": [{"name": "1.0.0_build.1"}],
            "extra_attrs": {"name": "nginx", "version": "1.0.0+build.1", "appVersion": "1.25", "description": "web"}
        }))
        .unwrap();
        let versions = oci_versions(&artifact);
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].version, "1.0.0+build.1");
        assert_eq!(versions[0].chart_size, Some(1234));
        assert_eq!(versions[0].app_version.as_deref(), Some("1.25"));
        assert!(versions[0].time_created.is_some());
        assert_eq!(oci_tag("1.0.0+build.1"), "1.0.0_build.1");
    }
}
