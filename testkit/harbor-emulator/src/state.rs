//! The pure in-memory model: projects, repositories, artifacts, tags, ChartMuseum charts and
//! webhook policies. No I/O here: operations return Harbor's error or the webhook events Harbor
//! would emit, and the HTTP layer and webhook sender act on them.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;

use crate::Profile;
use crate::error::{ApiResult, HarborError};

/// Config media type that makes Harbor classify an artifact as a Helm chart.
pub const HELM_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";

/// Owner id/name Harbor gives the sysadmin (user id 1 is `admin` on a fresh install).
pub const ADMIN_USER_ID: i64 = 1;

#[derive(Debug, Clone)]
pub struct Project {
    pub id: i64,
    /// `name#<id>` once soft-deleted.
    pub name: String,
    pub owner_id: i64,
    pub owner_name: String,
    /// All values are strings, as in Harbor (`public` is `"true"`/`"false"`).
    pub metadata: BTreeMap<String, String>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub deleted: bool,
    pub repositories: Vec<Repository>,
    /// ChartMuseum charts (Harbor 2.7 only): chart name -> versions, oldest first.
    pub charts: BTreeMap<String, Vec<ChartVersion>>,
}

impl Project {
    pub fn is_public(&self) -> bool {
        self.metadata.get("public").is_some_and(|v| v == "true")
    }

    pub fn repository(&self, short_name: &str) -> Option<&Repository> {
        let full = format!("{}/{short_name}", self.name);
        self.repositories.iter().find(|r| r.name == full)
    }
}

#[derive(Debug, Clone)]
pub struct Repository {
    pub id: i64,
    /// Full name, `project/a/b`.
    pub name: String,
    pub created: Timestamp,
    pub updated: Timestamp,
    /// Newest push last.
    pub artifacts: Vec<Artifact>,
}

impl Repository {
    /// Index of the artifact a tag or `sha256:` digest points at.
    pub fn find_artifact(&self, reference: &str) -> ApiResult<usize> {
        let by_digest = reference.starts_with("sha256:");
        self.artifacts
            .iter()
            .position(|a| {
                if by_digest {
                    a.digest == reference
                } else {
                    a.tags.iter().any(|t| t.name == reference)
                }
            })
            .ok_or_else(|| {
                // guess: `@` for digests; `repo:tag` is from the notes.
                let sep = if by_digest { '@' } else { ':' };
                HarborError::not_found(format!("artifact {}{sep}{reference} not found", self.name))
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    Image,
    Chart,
}

impl ArtifactKind {
    pub fn harbor_type(self) -> &'static str {
        match self {
            Self::Image => "IMAGE",
            Self::Chart => "CHART",
        }
    }

    /// Harbor's `media_type` is the config media type.
    pub fn config_media_type(self) -> &'static str {
        match self {
            Self::Image => "application/vnd.docker.container.image.v1+json",
            Self::Chart => HELM_CONFIG_MEDIA_TYPE,
        }
    }

    pub fn manifest_media_type(self) -> &'static str {
        match self {
            Self::Image => "application/vnd.docker.distribution.manifest.v2+json",
            Self::Chart => "application/vnd.oci.image.manifest.v1+json",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Artifact {
    pub id: i64,
    pub digest: String,
    pub kind: ArtifactKind,
    pub size: i64,
    pub push_time: Timestamp,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone)]
pub struct Tag {
    pub id: i64,
    pub name: String,
    pub push_time: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ChartVersion {
    pub version: String,
    pub created: Timestamp,
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// `http` or `slack`.
    pub kind: String,
    /// Stored exactly as sent (observed on v2.7.0).
    pub address: String,
    pub auth_header: String,
    pub skip_cert_verify: bool,
    /// `Default` or `CloudEvents`; 2.8+ only.
    pub payload_format: Option<String>,
}

#[derive(Debug, Clone)]
pub struct WebhookPolicy {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub event_types: Vec<String>,
    pub targets: Vec<WebhookTarget>,
    pub creator: String,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// What a client may set on a policy.
#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub event_types: Vec<String>,
    pub targets: Vec<WebhookTarget>,
}

/// Webhook event types this emulator emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    PushArtifact,
    DeleteArtifact,
    UploadChart,
    DeleteChart,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PushArtifact => "PUSH_ARTIFACT",
            Self::DeleteArtifact => "DELETE_ARTIFACT",
            Self::UploadChart => "UPLOAD_CHART",
            Self::DeleteChart => "DELETE_CHART",
        }
    }

    /// CloudEvents `type`; chart events have none (CloudEvents postdates ChartMuseum).
    pub fn cloud_event_type(self) -> Option<&'static str> {
        match self {
            Self::PushArtifact => Some("harbor.artifact.pushed"),
            Self::DeleteArtifact => Some("harbor.artifact.deleted"),
            Self::UploadChart | Self::DeleteChart => None,
        }
    }
}

/// One webhook event as Harbor's notification middleware would raise it.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventType,
    pub project_id: i64,
    pub namespace: String,
    /// Repository (or chart) name without the project prefix.
    pub repo_name: String,
    /// Missing when the repository is gone, and for chart events.
    pub repo_created: Option<Timestamp>,
    pub public: bool,
    pub operator: String,
    pub occur_at: Timestamp,
    pub resources: Vec<EventResource>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventResource {
    pub digest: Option<String>,
    pub tag: String,
}

/// How a path addresses a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectRef<'a> {
    Id(i64),
    Name(&'a str),
}

impl std::fmt::Display for ProjectRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// Event types a policy may subscribe to (`v2.7.0:src/pkg/notification/notification.go`).
pub fn supported_event_types(profile: Profile) -> Vec<&'static str> {
    let mut types = vec![
        "DELETE_ARTIFACT",
        "PULL_ARTIFACT",
        "PUSH_ARTIFACT",
        "QUOTA_EXCEED",
        "QUOTA_WARNING",
        "REPLICATION",
        "SCANNING_FAILED",
        "SCANNING_STOPPED",
        "SCANNING_COMPLETED",
        "TAG_RETENTION",
    ];
    if profile.has_chartmuseum() {
        types.extend(["DELETE_CHART", "DOWNLOAD_CHART", "UPLOAD_CHART"]);
    }
    types
}

/// Harbor's project name rule: `^[a-z0-9]+(?:[._-][a-z0-9]+)*$`.
pub fn is_valid_project_name(name: &str) -> bool {
    let is_sep = |c: u8| matches!(c, b'.' | b'_' | b'-');
    let is_alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.iter().all(|&c| is_alnum(c) || is_sep(c))
        && bytes.first().copied().is_some_and(is_alnum)
        && bytes.last().copied().is_some_and(is_alnum)
        && !bytes.windows(2).any(|w| is_sep(w[0]) && is_sep(w[1]))
}

/// docker/distribution path components `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`, joined by `/`.
pub fn is_valid_repository_name(name: &str) -> bool {
    name.split('/').all(|component| {
        let bytes = component.as_bytes();
        let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        let Some(first) = bytes.first() else {
            return false;
        };
        if !alnum(first) || !bytes.last().is_some_and(alnum) {
            return false;
        }
        // Separator runs between alphanumerics: ".", "_", "__" or any number of "-".
        component
            .split(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            .filter(|sep| !sep.is_empty())
            .all(|sep| matches!(sep, "." | "_" | "__") || sep.bytes().all(|c| c == b'-'))
            && bytes.iter().all(|c| alnum(c) || b"._-".contains(c))
    })
}

#[derive(Debug, Default)]
struct Ids {
    project: i64,
    repository: i64,
    artifact: i64,
    tag: i64,
    policy: i64,
}

fn next(counter: &mut i64) -> i64 {
    *counter += 1;
    *counter
}

/// The whole Harbor instance.
#[derive(Debug)]
pub struct State {
    profile: Profile,
    ids: Ids,
    /// Every project ever created, soft-deleted ones included.
    projects: BTreeMap<i64, Project>,
    /// Live projects by name (lookups by name are on every project route).
    by_name: HashMap<String, i64>,
    /// Keyed by id; they outlive their project (observed on v2.7.0).
    policies: BTreeMap<i64, WebhookPolicy>,
}

impl State {
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            ids: Ids::default(),
            projects: BTreeMap::new(),
            by_name: HashMap::new(),
            policies: BTreeMap::new(),
        }
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    // ---- projects ----

    /// Creates a project; `metadata` must already hold a valid `public` value.
    pub fn create_project(
        &mut self,
        name: &str,
        metadata: BTreeMap<String, String>,
        owner_id: i64,
        owner_name: &str,
    ) -> ApiResult<i64> {
        if !is_valid_project_name(name) {
            return Err(HarborError::bad_request(
                "project name is not in lower case or contains illegal characters",
            ));
        }
        if self.live_by_name(name).is_some() {
            return Err(HarborError::conflict(format!(
                "The project named {name} already exists"
            )));
        }
        let id = next(&mut self.ids.project);
        let now = Timestamp::now();
        let mut metadata = metadata;
        metadata
            .entry("public".to_owned())
            .or_insert_with(|| "false".to_owned());
        self.by_name.insert(name.to_owned(), id);
        self.projects.insert(
            id,
            Project {
                id,
                name: name.to_owned(),
                owner_id,
                owner_name: owner_name.to_owned(),
                metadata,
                created: now,
                updated: now,
                deleted: false,
                repositories: Vec::new(),
                charts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    fn live_by_name(&self, name: &str) -> Option<&Project> {
        let id = self.by_name.get(name)?;
        self.projects.get(id).filter(|p| !p.deleted)
    }

    /// A live (not soft-deleted) project.
    pub fn project(&self, by: ProjectRef<'_>) -> Option<&Project> {
        match by {
            ProjectRef::Id(id) => self.projects.get(&id).filter(|p| !p.deleted),
            ProjectRef::Name(name) => self.live_by_name(name),
        }
    }

    fn project_mut(&mut self, by: ProjectRef<'_>) -> ApiResult<&mut Project> {
        let id = self
            .project(by)
            .map(|p| p.id)
            .ok_or_else(|| project_not_found(by))?;
        self.projects
            .get_mut(&id)
            .ok_or_else(|| project_not_found(by))
    }

    /// Live projects, ordered by name.
    // guess: Harbor's default project order is by name.
    pub fn projects(&self) -> Vec<&Project> {
        let mut live: Vec<_> = self.projects.values().filter(|p| !p.deleted).collect();
        live.sort_by(|a, b| a.name.cmp(&b.name));
        live
    }

    /// Upserts metadata keys; empty values are skipped (omitempty), nothing is validated.
    pub fn update_metadata(
        &mut self,
        by: ProjectRef<'_>,
        metadata: BTreeMap<String, String>,
    ) -> ApiResult<()> {
        let project = self.project_mut(by)?;
        project
            .metadata
            .extend(metadata.into_iter().filter(|(_, v)| !v.is_empty()));
        project.updated = Timestamp::now();
        Ok(())
    }

    /// `Err(cause)` when Harbor's deletable check would refuse.
    pub fn deletable(&self, by: ProjectRef<'_>) -> ApiResult<Result<(), &'static str>> {
        let project = self.project(by).ok_or_else(|| project_not_found(by))?;
        Ok(if !project.repositories.is_empty() {
            Err("the project contains repositories, can not be deleted")
        } else if self.profile.has_chartmuseum() && !project.charts.is_empty() {
            Err("the project contains helm charts, can not be deleted")
        } else {
            Ok(())
        })
    }

    /// Soft delete: renamed `name#<id>` so the name is free again at once.
    pub fn delete_project(&mut self, by: ProjectRef<'_>) -> ApiResult<()> {
        if let Err(cause) = self.deletable(by)? {
            return Err(HarborError::precondition(cause));
        }
        let project = self.project_mut(by)?;
        let renamed = format!("{}#{}", project.name, project.id);
        let live_name = std::mem::replace(&mut project.name, renamed);
        project.deleted = true;
        project.updated = Timestamp::now();
        self.by_name.remove(&live_name);
        Ok(())
    }

    // ---- repositories and artifacts ----

    /// Pushes a manifest, optionally tagged. Same digest again = same artifact, one more tag;
    /// a tag already on another artifact moves to this one.
    pub fn push_artifact(
        &mut self,
        project_name: &str,
        repo: &str,
        tag: Option<&str>,
        digest: &str,
        kind: ArtifactKind,
        operator: &str,
    ) -> ApiResult<Event> {
        if !is_valid_repository_name(repo) {
            return Err(HarborError::bad_request(format!(
                "invalid repository name: {repo}"
            )));
        }
        let now = Timestamp::now();
        let project_id = self
            .project(ProjectRef::Name(project_name))
            .map(|p| p.id)
            .ok_or_else(|| project_not_found(ProjectRef::Name(project_name)))?;
        // Disjoint field borrows: ids are handed out while the project is borrowed.
        let ids = &mut self.ids;
        let project = self
            .projects
            .get_mut(&project_id)
            .ok_or_else(|| project_not_found(ProjectRef::Name(project_name)))?;
        let full = format!("{project_name}/{repo}");
        let index = match project.repositories.iter().position(|r| r.name == full) {
            Some(i) => i,
            None => {
                project.repositories.push(Repository {
                    id: next(&mut ids.repository),
                    name: full,
                    created: now,
                    updated: now,
                    artifacts: Vec::new(),
                });
                project.repositories.len() - 1
            }
        };
        let public = project.is_public();
        let repository = &mut project.repositories[index];
        if let Some(tag) = tag {
            for artifact in &mut repository.artifacts {
                artifact.tags.retain(|t| t.name != tag);
            }
        }
        let position = match repository.artifacts.iter().position(|a| a.digest == digest) {
            Some(i) => i,
            None => {
                repository.artifacts.push(Artifact {
                    id: next(&mut ids.artifact),
                    digest: digest.to_owned(),
                    kind,
                    size: fake_size(digest),
                    push_time: now,
                    tags: Vec::new(),
                });
                repository.artifacts.len() - 1
            }
        };
        let artifact = &mut repository.artifacts[position];
        if let Some(tag) = tag {
            artifact.tags.push(Tag {
                id: next(&mut ids.tag),
                name: tag.to_owned(),
                push_time: now,
            });
        }
        artifact.push_time = now;
        repository.updated = now;
        let event = Event {
            kind: EventType::PushArtifact,
            project_id,
            namespace: project_name.to_owned(),
            repo_name: repo.to_owned(),
            repo_created: Some(repository.created),
            public,
            operator: operator.to_owned(),
            occur_at: now,
            resources: vec![EventResource {
                digest: Some(digest.to_owned()),
                tag: tag.unwrap_or(digest).to_owned(),
            }],
        };
        Ok(event)
    }

    fn repository_mut(
        &mut self,
        project_name: &str,
        repo: &str,
    ) -> ApiResult<(i64, bool, &mut Vec<Repository>, usize)> {
        let project = self.project_mut(ProjectRef::Name(project_name))?;
        let full = format!("{project_name}/{repo}");
        let index = project
            .repositories
            .iter()
            .position(|r| r.name == full)
            .ok_or_else(|| HarborError::not_found(format!("repository {full} not found")))?;
        let (id, public) = (project.id, project.is_public());
        Ok((id, public, &mut project.repositories, index))
    }

    /// Deletes the whole artifact a tag or digest points at. The repository stays, even when
    /// it becomes empty (observed on v2.7.0).
    pub fn delete_artifact(
        &mut self,
        project_name: &str,
        repo: &str,
        reference: &str,
        operator: &str,
    ) -> ApiResult<Event> {
        let (project_id, public, repositories, index) = self.repository_mut(project_name, repo)?;
        let repository = &mut repositories[index];
        let position = repository.find_artifact(reference)?;
        let artifact = repository.artifacts.remove(position);
        repository.updated = Timestamp::now();
        let created = repository.created;
        Ok(artifact_event(
            EventType::DeleteArtifact,
            (project_id, project_name, repo, public),
            Some(created),
            &artifact,
            operator,
        ))
    }

    /// Unlinks one tag; the artifact stays and no event is sent.
    pub fn delete_tag(
        &mut self,
        project_name: &str,
        repo: &str,
        reference: &str,
        tag: &str,
    ) -> ApiResult<()> {
        let (_, _, repositories, index) = self.repository_mut(project_name, repo)?;
        let repository = &mut repositories[index];
        let position = repository.find_artifact(reference)?;
        let artifact = &mut repository.artifacts[position];
        let before = artifact.tags.len();
        artifact.tags.retain(|t| t.name != tag);
        if artifact.tags.len() == before {
            return Err(HarborError::not_found(format!(
                "tag {tag} attached to artifact {} not found",
                artifact.id
            )));
        }
        Ok(())
    }

    /// Deletes a repository with all its artifacts: one DELETE_ARTIFACT per artifact.
    pub fn delete_repository(
        &mut self,
        project_name: &str,
        repo: &str,
        operator: &str,
    ) -> ApiResult<Vec<Event>> {
        let (project_id, public, repositories, index) = self.repository_mut(project_name, repo)?;
        let repository = repositories.remove(index);
        Ok(repository
            .artifacts
            .iter()
            .map(|artifact| {
                // The repository is gone by the time the event is built: no date_created.
                artifact_event(
                    EventType::DeleteArtifact,
                    (project_id, project_name, repo, public),
                    None,
                    artifact,
                    operator,
                )
            })
            .collect())
    }

    // ---- ChartMuseum ----

    fn chart_project_mut(&mut self, project_name: &str) -> ApiResult<&mut Project> {
        if !self.profile.has_chartmuseum() {
            return Err(HarborError::not_found("ChartMuseum is not enabled"));
        }
        self.project_mut(ProjectRef::Name(project_name))
    }

    pub fn upload_chart(
        &mut self,
        project_name: &str,
        chart: &str,
        version: &str,
        operator: &str,
    ) -> ApiResult<Event> {
        let project = self.chart_project_mut(project_name)?;
        let now = Timestamp::now();
        let versions = project.charts.entry(chart.to_owned()).or_default();
        versions.retain(|v| v.version != version);
        versions.push(ChartVersion {
            version: version.to_owned(),
            created: now,
            digest: fake_digest(&format!("chart:{project_name}/{chart}:{version}")),
        });
        Ok(chart_event(
            EventType::UploadChart,
            project,
            chart,
            [version],
            operator,
        ))
    }

    /// Deletes every version: a single DELETE_CHART listing them all.
    pub fn delete_chart(
        &mut self,
        project_name: &str,
        chart: &str,
        operator: &str,
    ) -> ApiResult<Event> {
        let project = self.chart_project_mut(project_name)?;
        let versions = project.charts.remove(chart).ok_or_else(|| {
            // guess: ChartMuseum's text after Harbor's "fail to get chart" prefix.
            HarborError::not_found(format!("fail to get chart: chart {chart} not found"))
        })?;
        Ok(chart_event(
            EventType::DeleteChart,
            project,
            chart,
            versions.iter().map(|v| v.version.as_str()),
            operator,
        ))
    }

    pub fn delete_chart_version(
        &mut self,
        project_name: &str,
        chart: &str,
        version: &str,
        operator: &str,
    ) -> ApiResult<Event> {
        let project = self.chart_project_mut(project_name)?;
        let versions = project.charts.get_mut(chart);
        let position = versions
            .as_ref()
            .and_then(|vs| vs.iter().position(|v| v.version == version));
        let (Some(versions), Some(position)) = (versions, position) else {
            // guess: ChartMuseum's text after Harbor's prefix.
            return Err(HarborError::not_found(format!(
                "fail to delete chart version: no chart version found for {chart}-{version}"
            )));
        };
        versions.remove(position);
        if versions.is_empty() {
            project.charts.remove(chart);
        }
        Ok(chart_event(
            EventType::DeleteChart,
            project,
            chart,
            [version],
            operator,
        ))
    }

    // ---- webhook policies ----

    fn validate_policy(&self, input: &PolicyInput) -> ApiResult<()> {
        if input.targets.is_empty() {
            return Err(HarborError::bad_request(format!(
                "empty notification target with policy {}",
                input.name
            )));
        }
        for target in &input.targets {
            let scheme = target.address.split_once("://").map(|(s, _)| s);
            // guess: wording; Harbor's ParseEndpoint accepts only http and https.
            if !matches!(scheme, None | Some("http" | "https")) {
                return Err(HarborError::bad_request(format!(
                    "invalid target address {}: scheme must be http or https",
                    target.address
                )));
            }
            if !matches!(target.kind.as_str(), "http" | "slack") {
                return Err(HarborError::bad_request(format!(
                    "unsupported target type {} with policy {}",
                    target.kind, input.name
                )));
            }
            if let Some(format) = &target.payload_format {
                // guess: wording of both payload_format errors.
                if target.kind == "slack" {
                    return Err(HarborError::bad_request(
                        "payload format is not supported for slack target",
                    ));
                }
                if !matches!(format.as_str(), "Default" | "CloudEvents") {
                    return Err(HarborError::bad_request(format!(
                        "unsupported payload format type: {format}"
                    )));
                }
            }
        }
        if input.event_types.is_empty() {
            return Err(HarborError::bad_request("empty event type"));
        }
        let supported = supported_event_types(self.profile);
        if let Some(unknown) = input
            .event_types
            .iter()
            .find(|t| !supported.contains(&t.as_str()))
        {
            return Err(HarborError::bad_request(format!(
                "unsupported event type {unknown}"
            )));
        }
        Ok(())
    }

    fn check_policy_name(&self, project_id: i64, name: &str, except: Option<i64>) -> ApiResult<()> {
        let taken = self
            .policies
            .values()
            .any(|p| p.project_id == project_id && p.name == name && Some(p.id) != except);
        if taken {
            return Err(HarborError::conflict(format!(
                "notification policy named {name} already exists"
            )));
        }
        Ok(())
    }

    pub fn create_policy(
        &mut self,
        project_id: i64,
        input: PolicyInput,
        creator: &str,
    ) -> ApiResult<i64> {
        self.validate_policy(&input)?;
        self.check_policy_name(project_id, &input.name, None)?;
        let id = next(&mut self.ids.policy);
        let now = Timestamp::now();
        self.policies.insert(
            id,
            WebhookPolicy {
                id,
                project_id,
                name: input.name,
                description: input.description,
                enabled: input.enabled,
                event_types: input.event_types,
                targets: input.targets,
                creator: creator.to_owned(),
                created: now,
                updated: now,
            },
        );
        Ok(id)
    }

    pub fn policy(&self, project_id: i64, id: i64) -> ApiResult<&WebhookPolicy> {
        self.policies
            .get(&id)
            .filter(|p| p.project_id == project_id)
            // guess: wording.
            .ok_or_else(|| HarborError::not_found(format!("webhook policy {id} not found")))
    }

    pub fn update_policy(&mut self, project_id: i64, id: i64, input: PolicyInput) -> ApiResult<()> {
        self.policy(project_id, id)?;
        self.validate_policy(&input)?;
        self.check_policy_name(project_id, &input.name, Some(id))?;
        let policy = self
            .policies
            .get_mut(&id)
            .ok_or_else(|| HarborError::not_found(format!("webhook policy {id} not found")))?;
        policy.name = input.name;
        policy.description = input.description;
        policy.enabled = input.enabled;
        policy.event_types = input.event_types;
        policy.targets = input.targets;
        policy.updated = Timestamp::now();
        Ok(())
    }

    pub fn delete_policy(&mut self, project_id: i64, id: i64) -> ApiResult<()> {
        self.policy(project_id, id)?;
        self.policies.remove(&id);
        Ok(())
    }

    /// Policies of a project id, orphans of deleted projects included.
    pub fn policies_of(&self, project_id: i64) -> Vec<&WebhookPolicy> {
        self.policies
            .values()
            .filter(|p| p.project_id == project_id)
            .collect()
    }

    pub fn all_policies(&self) -> Vec<&WebhookPolicy> {
        self.policies.values().collect()
    }

    /// Enabled policies of the event's project subscribed to its type.
    pub fn subscribers(&self, event: &Event) -> Vec<WebhookPolicy> {
        self.policies_of(event.project_id)
            .into_iter()
            .filter(|p| p.enabled && p.event_types.iter().any(|t| t == event.kind.as_str()))
            .cloned()
            .collect()
    }
}

fn project_not_found(by: ProjectRef<'_>) -> HarborError {
    HarborError::not_found(format!("project {by} not found"))
}

/// Artifact events carry one resource: the first tag, or the digest when untagged.
fn artifact_event(
    kind: EventType,
    (project_id, namespace, repo, public): (i64, &str, &str, bool),
    repo_created: Option<Timestamp>,
    artifact: &Artifact,
    operator: &str,
) -> Event {
    let tag = artifact
        .tags
        .first()
        .map_or(artifact.digest.clone(), |t| t.name.clone());
    Event {
        kind,
        project_id,
        namespace: namespace.to_owned(),
        repo_name: repo.to_owned(),
        repo_created,
        public,
        operator: operator.to_owned(),
        occur_at: Timestamp::now(),
        resources: vec![EventResource {
            digest: Some(artifact.digest.clone()),
            tag,
        }],
    }
}

/// Chart events carry one resource per version and no digest.
fn chart_event<'a>(
    kind: EventType,
    project: &Project,
    chart: &str,
    versions: impl IntoIterator<Item = &'a str>,
    operator: &str,
) -> Event {
    Event {
        kind,
        project_id: project.id,
        namespace: project.name.clone(),
        repo_name: chart.to_owned(),
        repo_created: None,
        public: project.is_public(),
        operator: operator.to_owned(),
        occur_at: Timestamp::now(),
        resources: versions
            .into_iter()
            .map(|v| EventResource {
                digest: None,
                tag: v.to_owned(),
            })
            .collect(),
    }
}

/// A `sha256:` digest derived from arbitrary content.
pub fn fake_digest(content: &str) -> String {
    let hash = ring::digest::digest(&ring::digest::SHA256, content.as_bytes());
    let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A stable, plausible artifact size derived from the digest.
fn fake_size(digest: &str) -> i64 {
    let spread = digest
        .bytes()
        .fold(0i64, |acc, b| (acc * 31 + i64::from(b)) % 50_000_000);
    1_000_000 + spread
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(profile: Profile) -> State {
        State::new(profile)
    }

    fn public(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("public".to_owned(), value.to_owned())])
    }

    fn with_project(profile: Profile, name: &str) -> (State, i64) {
        let mut s = state(profile);
        let id = s
            .create_project(name, BTreeMap::new(), ADMIN_USER_ID, "admin")
            .unwrap();
        (s, id)
    }

    #[test]
    fn project_names_follow_harbors_regex() {
        for ok in ["a", "abc", "a-b", "a.b_c", "123", "a1-b2.c3"] {
            assert!(is_valid_project_name(ok), "{ok}");
        }
        for bad in ["", "A", "a--b", "a.-b", "-a", "a-", ".a", "a b", "a/b", "ü"] {
            assert!(!is_valid_project_name(bad), "{bad}");
        }
    }

    #[test]
    fn repository_names_follow_distribution_rules() {
        for ok in ["app", "team/app/api", "a__b", "a---b", "a.b", "a_b"] {
            assert!(is_valid_repository_name(ok), "{ok}");
        }
        for bad in ["", "App", "a//b", "/a", "a/", "a___b", "a._b", "-a"] {
            assert!(!is_valid_repository_name(bad), "{bad}");
        }
    }

    #[test]
    fn create_defaults_public_false_and_rejects_duplicates() {
        let (mut s, id) = with_project(Profile::Harbor28, "p");
        let p = s.project(ProjectRef::Id(id)).unwrap();
        assert_eq!(p.metadata["public"], "false");
        let err = s
            .create_project("p", public("true"), ADMIN_USER_ID, "admin")
            .unwrap_err();
        assert_eq!(err.status.as_u16(), 409);
        assert_eq!(err.message, "The project named p already exists");
        let err = s
            .create_project("Bad", BTreeMap::new(), 1, "admin")
            .unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
    }

    #[test]
    fn soft_delete_renames_and_frees_the_name() {
        let (mut s, id) = with_project(Profile::Harbor28, "p");
        s.delete_project(ProjectRef::Name("p")).unwrap();
        assert!(s.project(ProjectRef::Id(id)).is_none());
        assert!(s.project(ProjectRef::Name("p")).is_none());
        assert_eq!(s.projects[&id].name, format!("p#{id}"));
        assert!(s.projects[&id].deleted);
        let new_id = s.create_project("p", BTreeMap::new(), 1, "admin").unwrap();
        assert_ne!(new_id, id);
        let err = s.delete_project(ProjectRef::Id(id)).unwrap_err();
        assert_eq!(err.status.as_u16(), 404);
    }

    #[test]
    fn repositories_block_delete_even_when_empty() {
        let (mut s, _) = with_project(Profile::Harbor28, "p");
        let digest = fake_digest("x");
        s.push_artifact(
            "p",
            "a/b",
            Some("v1"),
            &digest,
            ArtifactKind::Image,
            "admin",
        )
        .unwrap();
        let event = s.delete_artifact("p", "a/b", "v1", "admin").unwrap();
        assert_eq!(event.kind, EventType::DeleteArtifact);
        let project = s.project(ProjectRef::Name("p")).unwrap();
        assert_eq!(project.repositories.len(), 1);
        assert!(project.repositories[0].artifacts.is_empty());
        let err = s.delete_project(ProjectRef::Name("p")).unwrap_err();
        assert_eq!(err.status.as_u16(), 412);
        assert_eq!(
            err.message,
            "precondition failed: the project contains repositories, can not be deleted"
        );
        s.delete_repository("p", "a/b", "admin").unwrap();
        s.delete_project(ProjectRef::Name("p")).unwrap();
    }

    #[test]
    fn same_digest_twice_is_one_artifact_with_two_tags() {
        let (mut s, _) = with_project(Profile::Harbor28, "p");
        let d = fake_digest("same");
        s.push_artifact("p", "app", Some("1"), &d, ArtifactKind::Image, "admin")
            .unwrap();
        s.push_artifact("p", "app", Some("latest"), &d, ArtifactKind::Image, "admin")
            .unwrap();
        let repo = s
            .project(ProjectRef::Name("p"))
            .unwrap()
            .repository("app")
            .unwrap()
            .clone();
        assert_eq!(repo.artifacts.len(), 1);
        let tags: Vec<_> = repo.artifacts[0]
            .tags
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(tags, ["1", "latest"]);
        // Deleting by one tag removes the whole artifact.
        let event = s.delete_artifact("p", "app", "latest", "admin").unwrap();
        assert_eq!(event.resources[0].tag, "1");
        assert!(s.delete_artifact("p", "app", "1", "admin").is_err());
    }

    #[test]
    fn moving_a_tag_leaves_the_old_artifact_untagged() {
        let (mut s, _) = with_project(Profile::Harbor28, "p");
        let (d1, d2) = (fake_digest("1"), fake_digest("2"));
        s.push_artifact(
            "p",
            "app",
            Some("latest"),
            &d1,
            ArtifactKind::Image,
            "admin",
        )
        .unwrap();
        s.push_artifact(
            "p",
            "app",
            Some("latest"),
            &d2,
            ArtifactKind::Image,
            "admin",
        )
        .unwrap();
        let event = s.delete_artifact("p", "app", &d1, "admin").unwrap();
        assert_eq!(
            event.resources[0].tag, d1,
            "untagged artifact reports its digest"
        );
    }

    #[test]
    fn delete_tag_keeps_artifact_and_reports_missing_tag() {
        let (mut s, _) = with_project(Profile::Harbor28, "p");
        let d = fake_digest("t");
        s.push_artifact("p", "app", Some("a"), &d, ArtifactKind::Image, "admin")
            .unwrap();
        s.push_artifact("p", "app", Some("b"), &d, ArtifactKind::Image, "admin")
            .unwrap();
        s.delete_tag("p", "app", "a", "b").unwrap();
        let err = s.delete_tag("p", "app", "a", "b").unwrap_err();
        assert_eq!(err.status.as_u16(), 404);
        assert!(err.message.starts_with("tag b attached to artifact"));
        let err = s.delete_artifact("p", "app", "nope", "admin").unwrap_err();
        assert_eq!(err.message, "artifact p/app:nope not found");
    }

    #[test]
    fn repository_delete_emits_one_event_per_artifact() {
        let (mut s, _) = with_project(Profile::Harbor28, "p");
        for tag in ["1", "2", "3"] {
            let digest = fake_digest(tag);
            s.push_artifact("p", "app", Some(tag), &digest, ArtifactKind::Image, "admin")
                .unwrap();
        }
        let events = s.delete_repository("p", "app", "admin").unwrap();
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|e| e.repo_created.is_none()));
        assert_eq!(
            s.delete_repository("p", "app", "admin")
                .unwrap_err()
                .status
                .as_u16(),
            404
        );
    }

    #[test]
    fn charts_block_delete_only_with_chartmuseum() {
        let (mut s, _) = with_project(Profile::Harbor27, "p");
        s.upload_chart("p", "nginx", "1.0.0", "admin").unwrap();
        s.upload_chart("p", "nginx", "1.1.0", "admin").unwrap();
        let err = s.delete_project(ProjectRef::Name("p")).unwrap_err();
        assert!(
            err.message
                .ends_with("contains helm charts, can not be deleted")
        );
        let event = s.delete_chart("p", "nginx", "admin").unwrap();
        assert_eq!(event.resources.len(), 2);
        assert!(event.resources.iter().all(|r| r.digest.is_none()));
        s.delete_project(ProjectRef::Name("p")).unwrap();

        let (mut s28, _) = with_project(Profile::Harbor28, "p");
        assert!(s28.upload_chart("p", "nginx", "1.0.0", "admin").is_err());
    }

    #[test]
    fn chart_version_delete_drops_empty_chart() {
        let (mut s, _) = with_project(Profile::Harbor27, "p");
        s.upload_chart("p", "c", "1", "admin").unwrap();
        s.delete_chart_version("p", "c", "1", "admin").unwrap();
        assert!(s.project(ProjectRef::Name("p")).unwrap().charts.is_empty());
        assert_eq!(
            s.delete_chart_version("p", "c", "1", "admin")
                .unwrap_err()
                .status
                .as_u16(),
            404
        );
        assert_eq!(
            s.delete_chart("p", "c", "admin")
                .unwrap_err()
                .status
                .as_u16(),
            404
        );
    }

    fn policy(name: &str, events: &[&str], address: &str) -> PolicyInput {
        PolicyInput {
            name: name.to_owned(),
            enabled: true,
            event_types: events.iter().map(|e| (*e).to_owned()).collect(),
            targets: vec![WebhookTarget {
                kind: "http".to_owned(),
                address: address.to_owned(),
                auth_header: String::new(),
                skip_cert_verify: false,
                payload_format: None,
            }],
            ..PolicyInput::default()
        }
    }

    #[test]
    fn policy_validation() {
        let (mut s, id) = with_project(Profile::Harbor28, "p");
        let status = |s: &mut State, input| {
            s.create_policy(id, input, "admin")
                .unwrap_err()
                .status
                .as_u16()
        };
        assert_eq!(status(&mut s, policy("a", &[], "http://x")), 400);
        assert_eq!(
            status(&mut s, policy("a", &["UPLOAD_CHART"], "http://x")),
            400
        );
        assert_eq!(
            status(&mut s, policy("a", &["PUSH_ARTIFACT"], "ftp://x")),
            400
        );
        let mut no_targets = policy("a", &["PUSH_ARTIFACT"], "http://x");
        no_targets.targets.clear();
        assert_eq!(status(&mut s, no_targets), 400);
        s.create_policy(id, policy("a", &["PUSH_ARTIFACT"], "http://x"), "admin")
            .unwrap();
        assert_eq!(
            status(&mut s, policy("a", &["PUSH_ARTIFACT"], "http://x")),
            409
        );

        let (mut s27, id27) = with_project(Profile::Harbor27, "p");
        s27.create_policy(id27, policy("c", &["UPLOAD_CHART"], "http://x"), "admin")
            .unwrap();
    }

    #[test]
    fn policies_survive_project_delete_and_filter_subscribers() {
        let (mut s, id) = with_project(Profile::Harbor28, "p");
        s.create_policy(id, policy("push", &["PUSH_ARTIFACT"], "http://x"), "admin")
            .unwrap();
        let mut disabled = policy("off", &["PUSH_ARTIFACT"], "http://y");
        disabled.enabled = false;
        s.create_policy(id, disabled, "admin").unwrap();
        let digest = fake_digest("d");
        let event = s
            .push_artifact("p", "app", None, &digest, ArtifactKind::Image, "admin")
            .unwrap();
        assert_eq!(event.resources[0].tag, digest);
        let subs = s.subscribers(&event);
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].name, "push");
        s.delete_repository("p", "app", "admin").unwrap();
        s.delete_project(ProjectRef::Id(id)).unwrap();
        assert_eq!(s.policies_of(id).len(), 2);
    }

    #[test]
    fn metadata_update_upserts_and_skips_empty() {
        let (mut s, id) = with_project(Profile::Harbor28, "p");
        let update = BTreeMap::from([
            ("public".to_owned(), "yes".to_owned()),
            ("auto_scan".to_owned(), String::new()),
        ]);
        s.update_metadata(ProjectRef::Id(id), update).unwrap();
        let p = s.project(ProjectRef::Id(id)).unwrap();
        assert_eq!(p.metadata["public"], "yes");
        assert!(!p.metadata.contains_key("auto_scan"));
    }
}
