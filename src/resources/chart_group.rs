//! `ChartGroup`: a tenant's chart repository, backed by the Harbor project `<tenantID>-chart-<name>`.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::names::{self, NameError, ProjectKind, ProjectName};
use super::spec::{DeletionPolicy, Visibility, immutable_once_set};
use super::status::{Phase, SyncStatus};

/// Desired state of a `ChartGroup`, with the field names of TKEStack's `ChartGroupSpec`.
#[allow(
    clippy::duplicated_attributes,
    reason = "kube's printcolumn(...) and selectable repeat their keys by design"
)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "registry.tkestack.io",
    version = "v1",
    kind = "ChartGroup",
    status = "ChartGroupStatus",
    shortname = "rcg",
    category = "registry",
    doc = "A chart repository of a tenant, kept in step with the Harbor project <tenantID>-chart-<name>.",
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
        name = "Type",
        type_ = "string",
        json_path = ".spec.type",
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
    selectable = ".spec.type",
    selectable = ".spec.visibility"
)]
#[serde(rename_all = "camelCase")]
pub struct ChartGroupSpec {
    /// Name of the group, unique per tenant; the last part of the Harbor project name.
    #[schemars(transform = immutable_once_set)]
    pub name: String,

    /// Tenant owning the group; the first part of the Harbor project name.
    #[serde(default, rename = "tenantID")]
    #[schemars(transform = immutable_once_set)]
    pub tenant_id: String,

    /// Name shown in consoles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,

    /// `Public` makes a public Harbor project; anything else a private one.
    #[serde(default)]
    pub visibility: Visibility,

    /// How the group came to be.
    #[serde(default, rename = "type")]
    pub type_: RepoType,

    /// Free-form description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// Business project IDs that may use the group (`Project` visibility).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<String>,

    /// TKEStack's own finalizers (`chartgroup`), kept for compatibility. harbor-bridge uses
    /// `metadata.finalizers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,

    /// Users who may use the group (`User` visibility).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,

    /// Where an `Imported` group comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_info: Option<ImportedInfo>,

    /// User who created the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,

    /// What deleting the group does to the Harbor project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

/// How a chart group came to be (TKEStack `RepoType`).
///
/// TKEStack's pre-upgrade lowercase values are accepted, by the CRD schema too, so old objects
/// still apply: `personal` and `project` read as `SelfBuilt` (their controller migrated them so,
/// moving the user/project scoping into `visibility`), `system` as `System`. They are written back
/// in the current spelling.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = with_legacy_spellings)]
pub enum RepoType {
    /// Created on this platform.
    #[default]
    #[serde(alias = "personal", alias = "project")]
    SelfBuilt,
    /// Mirrors an external chart repository (`spec.importedInfo`).
    Imported,
    /// Created by the platform itself; always `Public`.
    #[serde(alias = "system")]
    System,
}

/// Lists TKEStack's legacy spellings among the allowed values, so the API server accepts them.
fn with_legacy_spellings(schema: &mut Schema) {
    // Replaces the per-variant `oneOf`, which kube would otherwise fold into a second copy.
    schema.remove("oneOf");
    schema.insert("type".into(), "string".into());
    schema.insert(
        "enum".into(),
        json!([
            "SelfBuilt",
            "Imported",
            "System",
            "personal",
            "project",
            "system"
        ]),
    );
}

/// Where an `Imported` chart group comes from (TKEStack `ChartGroupImport`).
///
/// `Debug` hides the password so the spec can be logged.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, JsonSchema)]
pub struct ImportedInfo {
    /// Address of the external chart repository.
    pub addr: String,
    /// User name for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for it, base64-encoded as TKEStack stores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl fmt::Debug for ImportedInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportedInfo")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Observed state of a `ChartGroup`: TKEStack's `ChartGroupStatus` fields plus `conditions`,
/// `observedGeneration` and `harborProject`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartGroupStatus {
    /// Set by TKEStack's business-project lock flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,

    /// Number of charts in the Harbor project, as Harbor reports it.
    #[serde(default)]
    pub chart_count: i32,

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

impl ChartGroup {
    /// The Harbor project this group maps to.
    pub fn project_name(&self) -> Result<ProjectName, NameError> {
        names::project_name(&self.spec.tenant_id, ProjectKind::Chart, &self.spec.name)
    }
}

impl ChartGroupStatus {
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
