//! Spec pieces shared by several kinds: visibility, deletion policy and the immutability rule.

use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Who may see a namespace, repository, chart group or chart (TKEStack `Visibility`).
///
/// The CRD schema lists exactly these values, so the API server rejects anything else and the Rust
/// side can stay strict.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum Visibility {
    /// Anyone may pull. The only visibility that makes a public Harbor project.
    #[default]
    Public,
    /// Only the users listed in the chart group's `spec.users`.
    User,
    /// Only members of the business projects listed in `spec.projects`.
    Project,
    /// Deprecated in TKEStack in favour of `User` and `Project`, still accepted.
    Private,
}

impl Visibility {
    /// Whether the Harbor project should be public; `User`, `Project` and `Private` all map to a
    /// private project.
    pub fn is_public(self) -> bool {
        self == Self::Public
    }
}

/// What deleting a `Namespace` or `ChartGroup` does to its Harbor project: `Delete` (the default)
/// empties and deletes it, `Orphan` keeps it and everything in it. Not in TKEStack.
// This doc is also the field's description in the CRD: kube replaces an optional enum field's own.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum DeletionPolicy {
    /// Empty and delete the Harbor project.
    #[default]
    Delete,
    /// Leave the Harbor project and everything in it untouched.
    Orphan,
}

/// Schema transform for the fields that name the Harbor object (`name`, `tenantID`, parent names).
///
/// TKEStack refuses such changes ("disallowed change the tenant/name"); changing them here would
/// orphan the Harbor project the resource has claimed. An empty value may still be filled in once,
/// so a resource rejected for an empty tenant can be fixed in place (nothing was claimed yet).
pub(crate) fn immutable_once_set(schema: &mut Schema) {
    schema.insert(
        "x-kubernetes-validations".into(),
        json!([{
            "rule": "oldSelf == '' || self == oldSelf",
            "message": "cannot be changed once set: it names the Harbor object; create a new resource instead",
        }]),
    );
}
