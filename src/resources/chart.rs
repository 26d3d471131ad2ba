//! `Chart`: a Helm chart inside a `ChartGroup`'s Harbor project.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::names::{self, NameError, ProjectKind, ProjectName};
use super::spec::{Visibility, immutable_once_set};
use super::status::{Phase, SyncStatus};

/// Desired state of a `Chart`, with the field names of TKEStack's `ChartSpec`.
///
/// It lives in the Kubernetes namespace named after its parent `ChartGroup`'s `metadata.name`.
#[allow(
    clippy::duplicated_attributes,
    reason = "kube's printcolumn(...) and selectable repeat their keys by design"
)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "registry.tkestack.io",
    version = "v1",
    kind = "Chart",
    namespaced,
    status = "ChartStatus",
    shortname = "chart",
    category = "registry",
    doc = "A Helm chart, kept in step with the chart <name> in its chart group's Harbor project.",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenantID"),
    printcolumn(name = "Name", type_ = "string", json_path = ".spec.name"),
    printcolumn(
        name = "Harbor Project",
        type_ = "string",
        json_path = ".status.harborProject.name"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Chart Group",
        type_ = "string",
        json_path = ".spec.chartGroupName",
        priority = 1
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        priority = 1
    ),
    selectable = ".spec.tenantID",
    selectable = ".spec.name",
    selectable = ".spec.chartGroupName"
)]
#[serde(rename_all = "camelCase")]
pub struct ChartSpec {
    /// Helm chart name.
    #[schemars(transform = immutable_once_set)]
    pub name: String,

    /// Tenant owning the chart.
    #[serde(default, rename = "tenantID")]
    #[schemars(transform = immutable_once_set)]
    pub tenant_id: String,

    /// `spec.name` of the parent `ChartGroup` (not its `rcg-…` object name).
    #[schemars(transform = immutable_once_set)]
    pub chart_group_name: String,

    /// Name shown in consoles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,

    /// Copied from the chart group; Harbor has no per-chart visibility.
    #[serde(default)]
    pub visibility: Visibility,

    /// TKEStack's own finalizers (`chart`), kept for compatibility. harbor-bridge uses
    /// `metadata.finalizers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

/// Observed state of a `Chart`: TKEStack's `ChartStatus` fields plus `conditions`,
/// `observedGeneration` and `harborProject`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartStatus {
    /// Set by TKEStack's business-project lock flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,

    /// Pull count.
    #[serde(default)]
    pub pull_count: i32,

    /// Versions Harbor holds for the chart.
    #[serde(default)]
    pub versions: Vec<ChartVersion>,

    /// TKEStack's lifecycle phase.
    #[serde(default)]
    pub phase: Phase,

    /// When `phase` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,

    /// Why `phase` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// Details of the last `phase` change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// Conditions, observed generation and the bound Harbor project.
    #[serde(flatten)]
    pub sync: SyncStatus,
}

/// One version of a chart (TKEStack `ChartVersion`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartVersion {
    /// Chart version, e.g. `1.2.0`.
    pub version: String,
    /// Size of the chart archive in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_size: Option<i64>,
    /// When the version was pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_created: Option<Time>,
    /// `description` from `Chart.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `appVersion` from `Chart.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// `icon` from `Chart.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
}

impl Chart {
    /// The Harbor project holding this chart: its `ChartGroup`'s project.
    pub fn project_name(&self) -> Result<ProjectName, NameError> {
        names::project_name(
            &self.spec.tenant_id,
            ProjectKind::Chart,
            &self.spec.chart_group_name,
        )
    }
}

impl ChartStatus {
    /// TKEStack's phase fields, to update together.
    pub fn phase_fields(&mut self) -> super::status::PhaseFields<'_> {
        super::status::PhaseFields {
            phase: &mut self.phase,
            last_transition_time: &mut self.last_transition_time,
            reason: &mut self.reason,
            message: &mut self.message,
        }
    }
}
