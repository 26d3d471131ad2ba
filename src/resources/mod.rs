//! Registry custom resources (group `registry.tkestack.io/v1`).
//!
//! The four kinds keep TKEStack's JSON shapes field for field, so objects written for TKEStack's
//! console apply unchanged; status is only extended ([`SyncStatus`]), never renamed.
//!
//! | kind | Rust type | scope | short name | Harbor object |
//! |---|---|---|---|---|
//! | `Namespace` | [`RegistryNamespace`] | cluster | `rns` | project `<tenantID>-image-<name>` |
//! | `Repository` | [`Repository`] | namespaced | `repo` | repository `<project>/<name>` |
//! | `ChartGroup` | [`ChartGroup`] | cluster | `rcg` | project `<tenantID>-chart-<name>` |
//! | `Chart` | [`Chart`] | namespaced | `chart` | chart `<name>` in the group's project |
//!
//! Enum fields have schema enums, so the API server rejects unknown values and the Rust types can
//! stay strict; only TKEStack's legacy [`RepoType`] spellings are accepted on input.

mod chart;
mod chart_group;
pub mod crd;
pub mod names;
mod namespace;
mod repository;
mod spec;
pub mod status;

pub use chart::{Chart, ChartSpec, ChartStatus, ChartVersion};
pub use chart_group::{ChartGroup, ChartGroupSpec, ChartGroupStatus, ImportedInfo, RepoType};
pub use crd::{crds, crds_yaml};
pub use names::{NameError, NamePart, ProjectKind, ProjectName, RepositoryName};
pub use namespace::{RegistryNamespace, RegistryNamespaceSpec, RegistryNamespaceStatus};
pub use repository::{Repository, RepositorySpec, RepositoryStatus, RepositoryTag};
pub use spec::{DeletionPolicy, Visibility};
pub use status::{Condition, Phase, PhaseFields, ProjectBinding, SyncStatus};
