//! `Namespace`: a tenant's image namespace, backed by the Harbor project `<tenantID>-image-<name>`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::names::{self, NameError, ProjectKind, ProjectName};
use super::spec::{DeletionPolicy, Visibility, immutable_once_set};
use super::status::SyncStatus;

/// Desired state of a registry `Namespace`, with the field names of TKEStack's `NamespaceSpec`.
#[allow(
    clippy::duplicated_attributes,
    reason = "kube's printcolumn(...) and selectable repeat their keys by design"
)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "registry.tkestack.io",
    version = "v1",
    kind = "Namespace",
    root = "RegistryNamespace",
    status = "RegistryNamespaceStatus",
    shortname = "rns",
    category = "registry",
    doc = "An image namespace of a tenant, kept in step with the Harbor project <tenantID>-image-<name>.",
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
    selectable = ".spec.tenantID",
    selectable = ".spec.name"
)]
#[serde(rename_all = "camelCase")]
pub struct RegistryNamespaceSpec {
    /// Name of the namespace, unique per tenant; the last part of the Harbor project name.
    #[schemars(transform = immutable_once_set)]
    pub name: String,

    /// Tenant owning the namespace; the first part of the Harbor project name.
    #[serde(default, rename = "tenantID")]
    #[schemars(transform = immutable_once_set)]
    pub tenant_id: String,

    /// Name shown in consoles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,

    /// `Public` makes a public Harbor project; anything else a private one.
    #[serde(default)]
    pub visibility: Visibility,

    /// What deleting the namespace does to the Harbor project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

/// Observed state of a registry `Namespace`: TKEStack's `NamespaceStatus` fields plus `conditions`,
/// `observedGeneration` and `harborProject`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistryNamespaceStatus {
    /// Set by TKEStack's business-project lock flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,

    /// Number of repositories in the Harbor project, as Harbor reports it.
    #[serde(default)]
    pub repo_count: i32,

    /// Conditions, observed generation and the bound Harbor project.
    #[serde(flatten)]
    pub sync: SyncStatus,
}

impl RegistryNamespace {
    /// The Harbor project this namespace maps to.
    pub fn project_name(&self) -> Result<ProjectName, NameError> {
        names::project_name(&self.spec.tenant_id, ProjectKind::Image, &self.spec.name)
    }
}
