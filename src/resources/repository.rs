//! `Repository`: an image repository inside a registry `Namespace`'s Harbor project.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::names::{self, NameError, ProjectKind, ProjectName, RepositoryName};
use super::spec::{Visibility, immutable_once_set};
use super::status::SyncStatus;

/// Desired state of a `Repository`, with the field names of TKEStack's `RepositorySpec`.
///
/// It lives in the Kubernetes namespace named after its parent `Namespace`'s `metadata.name`.
#[allow(
    clippy::duplicated_attributes,
    reason = "kube's printcolumn(...) and selectable repeat their keys by design"
)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "registry.tkestack.io",
    version = "v1",
    kind = "Repository",
    namespaced,
    status = "RepositoryStatus",
    shortname = "repo",
    category = "registry",
    doc = "An image repository, kept in step with the Harbor repository <project>/<name>.",
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
        name = "Namespace Name",
        type_ = "string",
        json_path = ".spec.namespaceName",
        priority = 1
    ),
    selectable = ".spec.tenantID",
    selectable = ".spec.name",
    selectable = ".spec.namespaceName"
)]
#[serde(rename_all = "camelCase")]
pub struct RepositorySpec {
    /// Repository path inside the namespace, e.g. `nginx` or `team/app`.
    #[schemars(transform = immutable_once_set)]
    pub name: String,

    /// Tenant owning the repository.
    #[serde(default, rename = "tenantID")]
    #[schemars(transform = immutable_once_set)]
    pub tenant_id: String,

    /// `spec.name` of the parent `Namespace` (not its `rns-…` object name).
    #[schemars(transform = immutable_once_set)]
    pub namespace_name: String,

    /// Name shown in consoles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,

    /// Copied from the namespace; Harbor has no per-repository visibility.
    #[serde(default)]
    pub visibility: Visibility,
}

/// Observed state of a `Repository`: TKEStack's `RepositoryStatus` fields plus `conditions`,
/// `observedGeneration` and `harborProject`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryStatus {
    /// Set by TKEStack's business-project lock flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,

    /// Pull count.
    #[serde(default)]
    pub pull_count: i32,

    /// Tags Harbor holds for the repository.
    #[serde(default)]
    pub tags: Vec<RepositoryTag>,

    /// Conditions, observed generation and the bound Harbor project.
    #[serde(flatten)]
    pub sync: SyncStatus,
}

/// One tag of a repository (TKEStack `RepositoryTag`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryTag {
    /// Tag name, e.g. `1.27`.
    pub name: String,
    /// Digest of the tagged manifest, `sha256:…`.
    pub digest: String,
    /// When the tag was last pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_created: Option<Time>,
}

impl Repository {
    /// The Harbor project holding this repository: its `Namespace`'s project.
    pub fn project_name(&self) -> Result<ProjectName, NameError> {
        names::project_name(
            &self.spec.tenant_id,
            ProjectKind::Image,
            &self.spec.namespace_name,
        )
    }

    /// The Harbor repository, `<project>/<spec.name>`.
    pub fn repository_name(&self) -> Result<RepositoryName, NameError> {
        names::repository_name(&self.project_name()?, &self.spec.name)
    }
}
