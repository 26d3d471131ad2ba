//! The parts of Harbor's JSON the daemon reads and writes (field names as in Harbor's swagger).
//!
//! Times are kept as Harbor's RFC 3339 strings: they are only copied into resource status, and
//! a format quirk in one field must not make a whole list unreadable.

use serde::{Deserialize, Serialize};

/// `GET /api/v2.0/systeminfo` (only the fields the daemon uses).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SystemInfo {
    /// e.g. `v2.7.0-6113469a`; since 2.13 only shown to authenticated callers.
    pub harbor_version: Option<String>,
    /// Present (and true) only on Harbor ≤ 2.7 with ChartMuseum, and only for authenticated callers.
    pub with_chartmuseum: Option<bool>,
    pub external_url: Option<String>,
    pub read_only: Option<bool>,
}

/// Where Helm charts live in this Harbor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartBackend {
    /// Harbor ≤ 2.7 with ChartMuseum (`/api/chartrepo`); OCI charts may exist beside them.
    ChartMuseum,
    /// OCI artifacts only (always the case from Harbor 2.8).
    Oci,
}

impl SystemInfo {
    pub fn chart_backend(&self) -> ChartBackend {
        if self.with_chartmuseum == Some(true) {
            ChartBackend::ChartMuseum
        } else {
            ChartBackend::Oci
        }
    }
}

impl std::fmt::Display for ChartBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ChartMuseum => "ChartMuseum (and OCI)",
            Self::Oci => "OCI",
        })
    }
}

/// `GET /api/v2.0/health`. Harbor answers 200 even when unhealthy, so read `status`.
#[derive(Clone, Debug, Deserialize)]
pub struct Health {
    pub status: String,
    #[serde(default)]
    pub components: Vec<HealthComponent>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct HealthComponent {
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub error: Option<String>,
}

/// A Harbor project, as `GET /projects/{name}` returns it.
#[derive(Clone, Debug, Deserialize)]
pub struct Project {
    pub project_id: i64,
    pub name: String,
    #[serde(default)]
    pub metadata: ProjectMetadata,
    #[serde(default)]
    pub repo_count: i64,
    /// Harbor ≤ 2.7 only.
    #[serde(default)]
    pub chart_count: Option<i64>,
    #[serde(default)]
    pub creation_time: Option<String>,
}

/// Project metadata. Harbor keeps every value as a string (`"true"`/`"false"`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ProjectMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<String>,
}

impl Project {
    pub fn is_public(&self) -> bool {
        self.metadata.public.as_deref() == Some("true")
    }
}

/// `GET /projects/{name}/_deletable`. A blocked project comes back with no `deletable` field at
/// all (observed on 2.7), so a missing field means "not deletable".
#[derive(Clone, Debug, Deserialize)]
pub struct Deletable {
    #[serde(default)]
    pub deletable: bool,
    #[serde(default)]
    pub message: String,
}

/// An image (or OCI chart) repository. `name` is the full `project/repo/path`.
#[derive(Clone, Debug, Deserialize)]
pub struct Repository {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub artifact_count: i64,
    #[serde(default)]
    pub pull_count: i64,
    #[serde(default)]
    pub creation_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
}

impl Repository {
    /// The repository path inside its project (`proj/team/app` → `team/app`).
    pub fn name_in_project(&self, project: &str) -> &str {
        self.name
            .strip_prefix(project)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(&self.name)
    }
}

/// An artifact with its tags (`with_tag=true`).
#[derive(Clone, Debug, Deserialize)]
pub struct Artifact {
    pub digest: String,
    /// `IMAGE`, `CHART`, `CNAB`, ...
    #[serde(rename = "type", default)]
    pub artifact_type: String,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub size: Option<i64>,
    #[serde(default)]
    pub push_time: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<Tag>>,
    /// Chart metadata for `CHART` artifacts (name, version, description, appVersion, icon...).
    #[serde(default)]
    pub extra_attrs: Option<serde_json::Value>,
}

impl Artifact {
    pub fn is_chart(&self) -> bool {
        self.artifact_type == "CHART"
    }

    pub fn tags(&self) -> &[Tag] {
        self.tags.as_deref().unwrap_or_default()
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Tag {
    pub name: String,
    #[serde(default)]
    pub push_time: Option<String>,
    #[serde(default)]
    pub immutable: bool,
}

/// A ChartMuseum chart (`GET /api/chartrepo/{repo}/charts`).
#[derive(Clone, Debug, Deserialize)]
pub struct ChartInfo {
    pub name: String,
    #[serde(default)]
    pub total_versions: i64,
    #[serde(default)]
    pub latest_version: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub updated: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
}

/// One version of a ChartMuseum chart (`GET /api/chartrepo/{repo}/charts/{name}`).
#[derive(Clone, Debug, Deserialize)]
pub struct ChartVersion {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "appVersion")]
    pub app_version: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
}

/// A project webhook policy.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct WebhookPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Harbor stores `false` when the field is omitted, and a disabled policy never fires.
    pub enabled: bool,
    pub event_types: Vec<String>,
    pub targets: Vec<WebhookTarget>,
}

/// Where Harbor posts events. `auth_header` is a shared secret, so `Debug` hides it.
#[derive(Clone, Deserialize, Serialize)]
pub struct WebhookTarget {
    #[serde(rename = "type")]
    pub target_type: String,
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_header: Option<String>,
    #[serde(default)]
    pub skip_cert_verify: bool,
    /// `Default` or `CloudEvents` (Harbor ≥ 2.8 only; older versions ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format: Option<String>,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("target_type", &self.target_type)
            .field("address", &self.address)
            .field(
                "auth_header",
                &self.auth_header.as_ref().map(|_| "<redacted>"),
            )
            .field("skip_cert_verify", &self.skip_cert_verify)
            .field("payload_format", &self.payload_format)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_flag_is_a_string() {
        let project: Project = serde_json::from_str(
            r#"{"project_id":3,"name":"t-image-a","metadata":{"public":"true"},"repo_count":2}"#,
        )
        .unwrap();
        assert!(project.is_public());
        let private: Project =
            serde_json::from_str(r#"{"project_id":4,"name":"p","metadata":{"public":"false"}}"#)
                .unwrap();
        assert!(!private.is_public());
    }

    #[test]
    fn missing_deletable_field_means_not_deletable() {
        let blocked: Deletable =
            serde_json::from_str(r#"{"message":"the project contains repositories"}"#).unwrap();
        assert!(!blocked.deletable);
    }

    #[test]
    fn repository_names_are_relative_to_the_project() {
        let repo = Repository {
            id: 1,
            name: "t-image-a/team/app".into(),
            artifact_count: 0,
            pull_count: 0,
            creation_time: None,
            update_time: None,
        };
        assert_eq!(repo.name_in_project("t-image-a"), "team/app");
    }

    #[test]
    fn chart_backend_follows_systeminfo() {
        let museum = SystemInfo {
            with_chartmuseum: Some(true),
            ..SystemInfo::default()
        };
        assert_eq!(museum.chart_backend(), ChartBackend::ChartMuseum);
        assert_eq!(SystemInfo::default().chart_backend(), ChartBackend::Oci);
    }

    #[test]
    fn webhook_auth_header_is_hidden_from_debug() {
        let target = WebhookTarget {
            target_type: "http".into(),
            address: "https://bridge/harbor/events".into(),
            auth_header: Some("Bearer hunter2".into()),
            skip_cert_verify: false,
            payload_format: None,
        };
        assert!(!format!("{target:?}").contains("hunter2"));
    }
}
