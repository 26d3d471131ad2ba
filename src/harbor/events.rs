//! Harbor webhook payloads (Default and CloudEvents formats), parsed into [`HarborEvent`]s.
//!
//! Pure: no I/O. Payloads are walked as JSON values instead of derived structs so that every
//! error names the exact field at fault ("missing event_data.repository.namespace"), which is
//! what shows up in Harbor's webhook job log when a delivery is refused.

use std::fmt;

use serde_json::{Map, Value};

/// Longest repository path (inside the project) or project name accepted, as Harbor limits them.
pub const MAX_NAME_LEN: usize = 255;

/// What happened, in the vocabulary of every Harbor version (1.10 camelCase, 2.x UPPER_SNAKE,
/// 2.8+ CloudEvents `harbor.*` types).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventKind {
    PushArtifact,
    DeleteArtifact,
    PullArtifact,
    UploadChart,
    DeleteChart,
    DownloadChart,
    /// Quota, scanning, replication, retention and anything newer: the type string as sent.
    Other(String),
}

impl EventKind {
    /// Maps a payload's `type`, whichever Harbor version or format sent it.
    pub fn from_type(name: &str) -> Self {
        match name {
            "PUSH_ARTIFACT" | "pushImage" | "harbor.artifact.pushed" => Self::PushArtifact,
            "DELETE_ARTIFACT" | "deleteImage" | "harbor.artifact.deleted" => Self::DeleteArtifact,
            "PULL_ARTIFACT" | "pullImage" | "harbor.artifact.pulled" => Self::PullArtifact,
            "UPLOAD_CHART" | "uploadChart" => Self::UploadChart,
            "DELETE_CHART" | "deleteChart" => Self::DeleteChart,
            "DOWNLOAD_CHART" | "downloadChart" => Self::DownloadChart,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Harbor 2.x name (`PUSH_ARTIFACT`, ...), or the raw type for [`EventKind::Other`].
    pub fn as_str(&self) -> &str {
        match self {
            Self::PushArtifact => "PUSH_ARTIFACT",
            Self::DeleteArtifact => "DELETE_ARTIFACT",
            Self::PullArtifact => "PULL_ARTIFACT",
            Self::UploadChart => "UPLOAD_CHART",
            Self::DeleteChart => "DELETE_CHART",
            Self::DownloadChart => "DOWNLOAD_CHART",
            Self::Other(name) => name,
        }
    }

    /// Whether the event changes what a project holds (the only events the daemon acts on).
    pub fn changes_content(&self) -> bool {
        matches!(
            self,
            Self::PushArtifact | Self::DeleteArtifact | Self::UploadChart | Self::DeleteChart
        )
    }

    fn is_artifact(&self) -> bool {
        matches!(
            self,
            Self::PushArtifact | Self::DeleteArtifact | Self::PullArtifact
        )
    }

    fn is_chart(&self) -> bool {
        matches!(
            self,
            Self::UploadChart | Self::DeleteChart | Self::DownloadChart
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One webhook delivery, normalized across formats and versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarborEvent {
    pub kind: EventKind,
    /// The Harbor project (`repository.namespace`). Empty only for [`EventKind::Other`] events
    /// that carry no repository (replication, retention).
    pub project: String,
    /// The repository path inside the project (`team/app`), or the chart name for chart events.
    /// Empty exactly when `project` is.
    pub repository: String,
    /// One per artifact (exactly one for artifact events) or per chart version.
    pub resources: Vec<EventResource>,
    /// Unix seconds (`occur_at`, or CloudEvents `time`).
    pub occurred_at: Option<i64>,
    pub operator: Option<String>,
}

/// An artifact or chart version named by an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventResource {
    /// The tag (or chart version); `None` when the artifact is untagged and Harbor put the
    /// digest in `tag`.
    pub tag: Option<String>,
    /// `sha256:...`; `None` for chart versions.
    pub digest: Option<String>,
}

/// How Harbor formatted a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// `{"type", "occur_at", "operator", "event_data"}`, `application/json` (every version).
    Default,
    /// CloudEvents 1.0 structured mode, `application/cloudevents+json` (2.8+).
    CloudEvents,
}

/// Why a payload was refused. Messages name the field at fault and never quote values from
/// the payload, so they are safe to return to the sender and to log.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("unsupported content type (expected application/json or application/cloudevents+json)")]
    UnsupportedContentType,
    #[error("empty body")]
    Empty,
    #[error("body is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("missing {0}")]
    Missing(String),
    #[error("{field} must be {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: &'static str },
}

/// Parses one webhook body; `content_type` is the request's `Content-Type` header, if any.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<HarborEvent, PayloadError> {
    parse_with_format(content_type, body).map(|(_, event)| event)
}

/// [`parse`], also telling which format the payload was in.
pub fn parse_with_format(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(PayloadFormat, HarborEvent), PayloadError> {
    let declared = declared_format(content_type)?;
    if body.trim_ascii().is_empty() {
        return Err(PayloadError::Empty);
    }
    let value: Value = serde_json::from_slice(body).map_err(PayloadError::Json)?;
    let root = Object::root(&value)?;
    // `application/json` doesn't settle it: a proxy may have rewritten the content type.
    let format = declared.unwrap_or(if root.get("specversion").is_some() {
        PayloadFormat::CloudEvents
    } else {
        PayloadFormat::Default
    });
    let event = match format {
        PayloadFormat::Default => parse_default(&root)?,
        PayloadFormat::CloudEvents => parse_cloud_event(&root)?,
    };
    Ok((format, event))
}

/// `Some` when the content type alone decides the format; `None` when the body must.
fn declared_format(content_type: Option<&str>) -> Result<Option<PayloadFormat>, PayloadError> {
    let Some(content_type) = content_type else {
        return Ok(None);
    };
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "" | "application/json" => Ok(None),
        "application/cloudevents+json" => Ok(Some(PayloadFormat::CloudEvents)),
        _ => Err(PayloadError::UnsupportedContentType),
    }
}

fn parse_default(root: &Object<'_>) -> Result<HarborEvent, PayloadError> {
    let kind = EventKind::from_type(root.non_empty_str("type")?);
    let occurred_at = root.opt_i64("occur_at")?;
    let operator = root.opt_str("operator")?;
    let data = root.object("event_data")?;
    event(kind, &data, occurred_at, operator)
}

fn parse_cloud_event(root: &Object<'_>) -> Result<HarborEvent, PayloadError> {
    let version = root.non_empty_str("specversion")?;
    if !version.starts_with("1.") {
        return Err(root.invalid("specversion", "only CloudEvents 1.x is supported"));
    }
    let kind = EventKind::from_type(root.non_empty_str("type")?);
    let occurred_at = root
        .opt_str("time")?
        .map(|time| unix_seconds(&time).ok_or_else(|| root.invalid("time", "not an RFC 3339 time")))
        .transpose()?;
    let operator = root.opt_str("operator")?;
    let data = root.object("data")?;
    event(kind, &data, occurred_at, operator)
}

fn unix_seconds(time: &str) -> Option<i64> {
    time.parse::<jiff::Timestamp>()
        .ok()
        .map(jiff::Timestamp::as_second)
}

/// Builds the event from `event_data` (Default) or `data` (CloudEvents): same shape in both.
fn event(
    kind: EventKind,
    data: &Object<'_>,
    occurred_at: Option<i64>,
    operator: Option<String>,
) -> Result<HarborEvent, PayloadError> {
    // Events we don't act on may legitimately lack these (replication, retention); a 400 would
    // only make Harbor retry them in vain.
    let required = !matches!(kind, EventKind::Other(_));
    let repository = if required {
        Some(data.object("repository")?)
    } else {
        data.opt_object("repository")?
    };
    let (project, repository) = match repository {
        Some(repository) => repository_names(&repository)?,
        None => (String::new(), String::new()),
    };
    let resources = match data.opt_array("resources")? {
        Some(items) => items
            .iter()
            .map(|item| resource(item, &kind))
            .collect::<Result<Vec<_>, _>>()?,
        None if required => return Err(data.missing("resources")),
        None => Vec::new(),
    };
    if required && resources.is_empty() {
        return Err(data.invalid("resources", "must list at least one resource"));
    }
    Ok(HarborEvent {
        kind,
        project,
        repository,
        resources,
        occurred_at,
        operator,
    })
}

/// `(project, repository path)` from a `repository` object, validated.
fn repository_names(repository: &Object<'_>) -> Result<(String, String), PayloadError> {
    let project = repository.non_empty_str("namespace")?;
    if let Some(reason) = project_problem(project) {
        return Err(repository.invalid("namespace", reason));
    }
    let name = repository.non_empty_str("name")?;
    if let Some(reason) = repository_path_problem(name) {
        return Err(repository.invalid("name", reason));
    }
    if let Some(full_name) = repository.opt_str("repo_full_name")? {
        let consistent = full_name
            .strip_prefix(project)
            .and_then(|rest| rest.strip_prefix('/'))
            == Some(name);
        if !consistent {
            return Err(repository.invalid("repo_full_name", "does not equal namespace/name"));
        }
    }
    Ok((project.to_owned(), name.to_owned()))
}

fn project_problem(project: &str) -> Option<&'static str> {
    if project.chars().count() > MAX_NAME_LEN {
        Some("longer than 255 characters")
    } else if project.contains('/') {
        Some("must not contain '/'")
    } else if has_unsafe_chars(project) {
        Some("must not contain whitespace or control characters")
    } else {
        None
    }
}

/// Checks a repository path; the controllers build Harbor API paths from it.
fn repository_path_problem(path: &str) -> Option<&'static str> {
    if path.chars().count() > MAX_NAME_LEN {
        Some("longer than 255 characters")
    } else if path.starts_with('/') || path.ends_with('/') {
        Some("must not start or end with '/'")
    } else if path.contains("..") {
        Some("must not contain '..'")
    } else if path.contains("//") {
        Some("must not contain an empty path segment")
    } else if has_unsafe_chars(path) {
        Some("must not contain whitespace or control characters")
    } else {
        None
    }
}

fn has_unsafe_chars(name: &str) -> bool {
    name.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn resource(item: &Object<'_>, kind: &EventKind) -> Result<EventResource, PayloadError> {
    let digest = item.opt_str("digest")?;
    if digest.as_deref().is_some_and(|d| !is_digest(d)) {
        return Err(item.invalid("digest", "not a digest (algorithm:hex)"));
    }
    let (tag, digest) = match item.opt_str("tag")? {
        // Harbor puts the digest in `tag` when an artifact has no tag; no real tag or chart
        // version can contain ':'.
        Some(tag) if tag.contains(':') => {
            if !is_digest(&tag) || digest.as_ref().is_some_and(|d| *d != tag) {
                return Err(item.invalid("tag", "contains ':' but is not the artifact's digest"));
            }
            (None, Some(tag))
        }
        tag => (tag, digest),
    };
    if kind.is_chart() && tag.is_none() {
        return Err(item.missing("tag"));
    }
    if kind.is_artifact() && tag.is_none() && digest.is_none() {
        return Err(item.missing("digest"));
    }
    Ok(EventResource { tag, digest })
}

/// `algorithm:encoded` as in the OCI image spec, loosely.
fn is_digest(value: &str) -> bool {
    value.split_once(':').is_some_and(|(algorithm, encoded)| {
        !algorithm.is_empty()
            && !encoded.is_empty()
            && algorithm
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c))
            && encoded
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "=_-".contains(c))
    })
}

/// A JSON object and its path in the payload, for error messages.
struct Object<'a> {
    fields: &'a Map<String, Value>,
    path: String,
}

impl<'a> Object<'a> {
    fn root(value: &'a Value) -> Result<Self, PayloadError> {
        match value {
            Value::Object(fields) => Ok(Self {
                fields,
                path: String::new(),
            }),
            _ => Err(PayloadError::WrongType {
                field: "payload".to_owned(),
                expected: "a JSON object",
            }),
        }
    }

    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn missing(&self, key: &str) -> PayloadError {
        PayloadError::Missing(self.field(key))
    }

    fn invalid(&self, key: &str, reason: &'static str) -> PayloadError {
        PayloadError::Invalid {
            field: self.field(key),
            reason,
        }
    }

    fn wrong_type(&self, key: &str, expected: &'static str) -> PayloadError {
        PayloadError::WrongType {
            field: self.field(key),
            expected,
        }
    }

    /// The value, treating `null` as absent (Go encodes nil slices and pointers as `null`).
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.fields.get(key).filter(|value| !value.is_null())
    }

    /// An optional string; empty counts as absent (Go's zero value).
    fn opt_str(&self, key: &str) -> Result<Option<String>, PayloadError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.wrong_type(key, "a string")),
        }
    }

    fn non_empty_str(&self, key: &str) -> Result<&'a str, PayloadError> {
        match self.get(key) {
            None => Err(self.missing(key)),
            Some(Value::String(s)) if s.is_empty() => Err(self.invalid(key, "must not be empty")),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(self.wrong_type(key, "a string")),
        }
    }

    fn opt_i64(&self, key: &str) -> Result<Option<i64>, PayloadError> {
        self.get(key)
            .map(|value| {
                value
                    .as_i64()
                    .ok_or_else(|| self.wrong_type(key, "an integer"))
            })
            .transpose()
    }

    fn opt_object(&self, key: &str) -> Result<Option<Object<'a>>, PayloadError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(fields)) => Ok(Some(Object {
                fields,
                path: self.field(key),
            })),
            Some(_) => Err(self.wrong_type(key, "an object")),
        }
    }

    fn object(&self, key: &str) -> Result<Object<'a>, PayloadError> {
        self.opt_object(key)?.ok_or_else(|| self.missing(key))
    }

    /// An optional array whose items must all be objects.
    fn opt_array(&self, key: &str) -> Result<Option<Vec<Object<'a>>>, PayloadError> {
        let items = match self.get(key) {
            None => return Ok(None),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(self.wrong_type(key, "an array")),
        };
        let field = self.field(key);
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let path = format!("{field}[{index}]");
                match item {
                    Value::Object(fields) => Ok(Object { fields, path }),
                    _ => Err(PayloadError::WrongType {
                        field: path,
                        expected: "an object",
                    }),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JSON: Option<&str> = Some("application/json");
    const CLOUD: Option<&str> = Some("application/cloudevents+json");
    const DIGEST: &str = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270";

    fn default_payload(kind: &str, namespace: &str, name: &str, tag: &str) -> Value {
        json!({"type": kind, "occur_at": 1_678_082_303, "operator": "admin",
            "event_data": {
                "resources": [{"digest": DIGEST, "tag": tag,
                    "resource_url": format!("harbor.example.com/{namespace}/{name}:{tag}")}],
                "repository": {"date_created": 1_677_053_165, "name": name, "namespace": namespace,
                    "repo_full_name": format!("{namespace}/{name}"), "repo_type": "private"}}})
    }

    fn cloud_event(kind: &str, namespace: &str, name: &str, tag: &str) -> Value {
        json!({"specversion": "1.0", "id": "3f7c2f3e-5a4b-4c1d-9e8f-0a1b2c3d4e5f",
            "requestid": "b1c2", "source": "/projects/3/webhook/policies/7", "type": kind,
            "datacontenttype": "application/json", "time": "2023-03-06T06:08:43Z",
            "data": {
                "resources": [{"digest": DIGEST, "tag": tag,
                    "resource_url": format!("harbor.example.com/{namespace}/{name}:{tag}")}],
                "repository": {"date_created": 1_677_053_165, "name": name, "namespace": namespace,
                    "repo_full_name": format!("{namespace}/{name}"), "repo_type": "private"}},
            "operator": "admin"})
    }

    fn chart_payload(kind: &str, versions: &[&str]) -> Value {
        let resources: Vec<Value> = versions
            .iter()
            .map(|v| json!({"tag": v,
                "resource_url": format!("https://harbor.example.com/chartrepo/proj/charts/nginx-{v}.tgz")}))
            .collect();
        json!({"type": kind, "occur_at": 1_678_082_303, "operator": "admin",
            "event_data": {"resources": resources,
                "repository": {"name": "nginx", "namespace": "proj",
                    "repo_full_name": "proj/nginx", "repo_type": "private"}}})
    }

    fn parse_value(content_type: Option<&str>, value: &Value) -> Result<HarborEvent, PayloadError> {
        parse(content_type, value.to_string().as_bytes())
    }

    fn error_of(content_type: Option<&str>, value: &Value) -> String {
        match parse_value(content_type, value) {
            Ok(event) => panic!("accepted {value}: {event:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn tagged(tag: &str) -> Vec<EventResource> {
        vec![EventResource {
            tag: Some(tag.to_owned()),
            digest: Some(DIGEST.to_owned()),
        }]
    }

    #[test]
    fn default_push() {
        let event = parse_value(
            JSON,
            &default_payload("PUSH_ARTIFACT", "proj", "app", "1.2.3"),
        );
        assert_eq!(
            event.unwrap(),
            HarborEvent {
                kind: EventKind::PushArtifact,
                project: "proj".into(),
                repository: "app".into(),
                resources: tagged("1.2.3"),
                occurred_at: Some(1_678_082_303),
                operator: Some("admin".into()),
            }
        );
    }

    #[test]
    fn default_nested_repository_and_delete() {
        let payload = default_payload("DELETE_ARTIFACT", "proj", "team/app/api", "v1");
        let (format, event) = parse_with_format(JSON, payload.to_string().as_bytes()).unwrap();
        assert_eq!(format, PayloadFormat::Default);
        assert_eq!(event.kind, EventKind::DeleteArtifact);
        assert_eq!(event.repository, "team/app/api");
        assert_eq!(event.resources, tagged("v1"));
    }

    #[test]
    fn digest_in_tag_means_untagged() {
        let event = parse_value(JSON, &default_payload("PUSH_ARTIFACT", "p", "app", DIGEST));
        let expected = vec![EventResource {
            tag: None,
            digest: Some(DIGEST.into()),
        }];
        assert_eq!(event.unwrap().resources, expected);

        // Same without the digest field: the tag is still recognised as a digest.
        let mut payload = default_payload("DELETE_ARTIFACT", "p", "app", DIGEST);
        payload["event_data"]["resources"][0]
            .as_object_mut()
            .unwrap()
            .remove("digest");
        assert_eq!(parse_value(JSON, &payload).unwrap().resources, expected);
    }

    #[test]
    fn missing_date_created_and_extra_fields_are_fine() {
        let mut payload = default_payload("DELETE_ARTIFACT", "p", "app", "v1");
        let repository = payload["event_data"]["repository"].as_object_mut().unwrap();
        repository.remove("date_created");
        repository.insert("future_field".into(), json!({"x": [1, 2]}));
        assert!(parse_value(JSON, &payload).is_ok());
    }

    #[test]
    fn chart_events_list_every_version() {
        let event = parse_value(
            JSON,
            &chart_payload("DELETE_CHART", &["1.0.0", "1.1.0", "2.0.0-rc.1+b7"]),
        )
        .unwrap();
        assert_eq!(event.kind, EventKind::DeleteChart);
        assert_eq!(
            (event.project.as_str(), event.repository.as_str()),
            ("proj", "nginx")
        );
        let versions: Vec<_> = event.resources.iter().map(|r| r.tag.as_deref()).collect();
        assert_eq!(
            versions,
            [Some("1.0.0"), Some("1.1.0"), Some("2.0.0-rc.1+b7")]
        );
        assert!(event.resources.iter().all(|r| r.digest.is_none()));

        let upload = parse_value(JSON, &chart_payload("UPLOAD_CHART", &["0.1.0"])).unwrap();
        assert_eq!(upload.kind, EventKind::UploadChart);
        let download = parse_value(JSON, &chart_payload("DOWNLOAD_CHART", &["0.1.0"])).unwrap();
        assert_eq!(download.kind, EventKind::DownloadChart);
    }

    #[test]
    fn chart_resource_without_version_is_refused() {
        let mut payload = chart_payload("UPLOAD_CHART", &["1.0.0"]);
        payload["event_data"]["resources"][0]["tag"] = json!("");
        assert_eq!(
            error_of(JSON, &payload),
            "missing event_data.resources[0].tag"
        );
    }

    #[test]
    fn harbor_110_camel_case_types() {
        let cases = [
            ("pushImage", EventKind::PushArtifact),
            ("pullImage", EventKind::PullArtifact),
            ("deleteImage", EventKind::DeleteArtifact),
        ];
        for (name, kind) in cases {
            let event = parse_value(JSON, &default_payload(name, "proj", "app", "v1")).unwrap();
            assert_eq!(event.kind, kind, "{name}");
        }
        for (name, kind) in [
            ("uploadChart", EventKind::UploadChart),
            ("deleteChart", EventKind::DeleteChart),
            ("downloadChart", EventKind::DownloadChart),
        ] {
            assert_eq!(
                parse_value(JSON, &chart_payload(name, &["1.0.0"]))
                    .unwrap()
                    .kind,
                kind
            );
        }
        let scan = parse_value(
            JSON,
            &default_payload("scanningCompleted", "proj", "app", "v1"),
        );
        assert_eq!(
            scan.unwrap().kind,
            EventKind::Other("scanningCompleted".into())
        );
    }

    #[test]
    fn cloud_events() {
        let cases = [
            ("harbor.artifact.pushed", EventKind::PushArtifact),
            ("harbor.artifact.deleted", EventKind::DeleteArtifact),
            ("harbor.artifact.pulled", EventKind::PullArtifact),
        ];
        for (name, kind) in cases {
            let payload = cloud_event(name, "proj", "team/app", "v1");
            let (format, event) = parse_with_format(CLOUD, payload.to_string().as_bytes()).unwrap();
            assert_eq!(format, PayloadFormat::CloudEvents);
            assert_eq!(
                event,
                HarborEvent {
                    kind,
                    project: "proj".into(),
                    repository: "team/app".into(),
                    resources: tagged("v1"),
                    occurred_at: Some(1_678_082_923),
                    operator: Some("admin".into()),
                }
            );
        }
    }

    #[test]
    fn format_detection() {
        let cloud = cloud_event("harbor.artifact.pushed", "p", "app", "v1").to_string();
        let default = default_payload("PUSH_ARTIFACT", "p", "app", "v1").to_string();
        let format = |ct, body: &str| parse_with_format(ct, body.as_bytes()).map(|(f, _)| f).ok();
        // The body decides when the content type doesn't.
        assert_eq!(format(None, &cloud), Some(PayloadFormat::CloudEvents));
        assert_eq!(format(JSON, &cloud), Some(PayloadFormat::CloudEvents));
        assert_eq!(format(None, &default), Some(PayloadFormat::Default));
        assert_eq!(
            format(Some("Application/JSON; charset=utf-8"), &default),
            Some(PayloadFormat::Default)
        );
        // Declared CloudEvents must be one.
        assert_eq!(
            error_of(CLOUD, &default_payload("PUSH_ARTIFACT", "p", "a", "v")),
            "missing specversion"
        );
        let error = parse(Some("text/plain"), default.as_bytes()).unwrap_err();
        assert!(matches!(error, PayloadError::UnsupportedContentType));
    }

    #[test]
    fn unknown_types_are_other() {
        let quota =
            parse_value(JSON, &default_payload("QUOTA_EXCEED", "proj", "app", "v1")).unwrap();
        assert_eq!(quota.kind, EventKind::Other("QUOTA_EXCEED".into()));
        assert!(!quota.kind.changes_content());
        let scan = parse_value(
            CLOUD,
            &cloud_event("harbor.scan.completed", "proj", "app", "v1"),
        )
        .unwrap();
        assert_eq!(scan.kind, EventKind::Other("harbor.scan.completed".into()));
        assert_eq!(scan.kind.to_string(), "harbor.scan.completed");

        // Replication events have no repository at all: accepted, with empty names.
        let replication = json!({"type": "REPLICATION", "occur_at": 1, "operator": "MANUAL",
            "event_data": {"replication": {"harbor_hostname": "h", "job_status": "Success"}}});
        let event = parse_value(JSON, &replication).unwrap();
        assert_eq!(event.kind, EventKind::Other("REPLICATION".into()));
        assert_eq!(
            (event.project.as_str(), event.repository.as_str()),
            ("", "")
        );
        assert!(event.resources.is_empty());
    }

    #[test]
    fn acted_on_kinds() {
        let acted: Vec<_> = [
            "PUSH_ARTIFACT",
            "DELETE_ARTIFACT",
            "PULL_ARTIFACT",
            "UPLOAD_CHART",
            "DELETE_CHART",
            "DOWNLOAD_CHART",
            "TAG_RETENTION",
        ]
        .into_iter()
        .filter(|name| EventKind::from_type(name).changes_content())
        .collect();
        assert_eq!(
            acted,
            [
                "PUSH_ARTIFACT",
                "DELETE_ARTIFACT",
                "UPLOAD_CHART",
                "DELETE_CHART"
            ]
        );
    }

    #[test]
    fn null_and_empty_optionals_are_absent() {
        let mut payload = default_payload("PUSH_ARTIFACT", "p", "app", "v1");
        payload["occur_at"] = Value::Null;
        payload["operator"] = json!("");
        let event = parse_value(JSON, &payload).unwrap();
        assert_eq!((event.occurred_at, event.operator), (None, None));
    }

    #[test]
    fn undecodable_bodies() {
        assert_eq!(parse(JSON, b"").unwrap_err().to_string(), "empty body");
        assert_eq!(parse(JSON, b" \n").unwrap_err().to_string(), "empty body");
        let not_json = parse(JSON, b"type=PUSH_ARTIFACT").unwrap_err();
        assert!(matches!(not_json, PayloadError::Json(_)), "{not_json}");
        let full = default_payload("PUSH_ARTIFACT", "p", "app", "v1").to_string();
        for cut in [1, full.len() / 2, full.len() - 1] {
            let error = parse(JSON, &full.as_bytes()[..cut]).unwrap_err();
            assert!(
                error.to_string().starts_with("body is not valid JSON"),
                "{error}"
            );
        }
        assert!(matches!(
            parse(JSON, &[0xff, 0xfe, b'{']),
            Err(PayloadError::Json(_))
        ));
        for body in [
            "[]",
            "[{\"type\":\"PUSH_ARTIFACT\"}]",
            "\"x\"",
            "42",
            "null",
        ] {
            let error = parse(JSON, body.as_bytes()).unwrap_err();
            assert_eq!(error.to_string(), "payload must be a JSON object", "{body}");
        }
        // Deeply nested input is refused by serde_json's recursion limit, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            parse(JSON, deep.as_bytes()),
            Err(PayloadError::Json(_))
        ));
    }

    /// Applies `edit` to a Default push payload and returns the error text.
    fn default_error(edit: impl FnOnce(&mut Value)) -> String {
        let mut payload = default_payload("PUSH_ARTIFACT", "proj", "app", "v1");
        edit(&mut payload);
        error_of(JSON, &payload)
    }

    fn remove(value: &mut Value, key: &str) {
        value.as_object_mut().unwrap().remove(key);
    }

    #[test]
    fn missing_fields() {
        assert_eq!(default_error(|p| remove(p, "type")), "missing type");
        assert_eq!(
            default_error(|p| remove(p, "event_data")),
            "missing event_data"
        );
        assert_eq!(
            default_error(|p| remove(&mut p["event_data"], "repository")),
            "missing event_data.repository"
        );
        assert_eq!(
            default_error(|p| remove(&mut p["event_data"], "resources")),
            "missing event_data.resources"
        );
        assert_eq!(
            default_error(|p| remove(&mut p["event_data"]["repository"], "namespace")),
            "missing event_data.repository.namespace"
        );
        assert_eq!(
            default_error(|p| remove(&mut p["event_data"]["repository"], "name")),
            "missing event_data.repository.name"
        );
        assert_eq!(
            default_error(|p| p["event_data"]["resources"] = json!([])),
            "invalid event_data.resources: must list at least one resource"
        );
        assert_eq!(
            default_error(|p| p["event_data"]["resources"] = json!([{"resource_url": "x"}])),
            "missing event_data.resources[0].digest"
        );
        assert_eq!(
            default_error(|p| p["event_data"]["repository"]["namespace"] = json!("")),
            "invalid event_data.repository.namespace: must not be empty"
        );
        assert_eq!(
            default_error(|p| p["type"] = json!("")),
            "invalid type: must not be empty"
        );

        let mut cloud = cloud_event("harbor.artifact.pushed", "p", "app", "v1");
        remove(&mut cloud, "data");
        assert_eq!(error_of(CLOUD, &cloud), "missing data");
        let mut cloud = cloud_event("harbor.artifact.pushed", "p", "app", "v1");
        remove(&mut cloud["data"]["repository"], "namespace");
        assert_eq!(error_of(None, &cloud), "missing data.repository.namespace");
    }

    #[test]
    fn wrong_types() {
        assert_eq!(
            default_error(|p| p["type"] = json!(1)),
            "type must be a string"
        );
        assert_eq!(
            default_error(|p| p["occur_at"] = json!("now")),
            "occur_at must be an integer"
        );
        assert_eq!(
            default_error(|p| p["occur_at"] = json!(1.5)),
            "occur_at must be an integer"
        );
        assert_eq!(
            default_error(|p| p["operator"] = json!(["a"])),
            "operator must be a string"
        );
        assert_eq!(
            default_error(|p| p["event_data"] = json!("x")),
            "event_data must be an object"
        );
        assert_eq!(
            default_error(|p| p["event_data"]["resources"] = json!({"tag": "v1"})),
            "event_data.resources must be an array"
        );
        assert_eq!(
            default_error(|p| p["event_data"]["resources"] = json!(["v1"])),
            "event_data.resources[0] must be an object"
        );
        assert_eq!(
            default_error(|p| p["event_data"]["resources"][0]["tag"] = json!(1)),
            "event_data.resources[0].tag must be a string"
        );
        assert_eq!(
            default_error(|p| p["event_data"]["repository"] = json!([])),
            "event_data.repository must be an object"
        );
        assert_eq!(
            default_error(|p| p["event_data"]["repository"]["name"] = json!({"a": 1})),
            "event_data.repository.name must be a string"
        );
        let mut cloud = cloud_event("harbor.artifact.pushed", "p", "app", "v1");
        cloud["specversion"] = json!(1.0);
        assert_eq!(error_of(CLOUD, &cloud), "specversion must be a string");
        cloud["specversion"] = json!("0.3");
        assert_eq!(
            error_of(CLOUD, &cloud),
            "invalid specversion: only CloudEvents 1.x is supported"
        );
        let mut cloud = cloud_event("harbor.artifact.pushed", "p", "app", "v1");
        cloud["time"] = json!("yesterday");
        assert_eq!(
            error_of(CLOUD, &cloud),
            "invalid time: not an RFC 3339 time"
        );
    }

    #[test]
    fn invalid_names() {
        let name_error = |name: &str| {
            let mut payload = default_payload("PUSH_ARTIFACT", "proj", name, "v1");
            remove(&mut payload["event_data"]["repository"], "repo_full_name");
            error_of(JSON, &payload)
        };
        assert_eq!(
            name_error("/app"),
            "invalid event_data.repository.name: must not start or end with '/'"
        );
        assert_eq!(
            name_error("team/app/"),
            "invalid event_data.repository.name: must not start or end with '/'"
        );
        assert_eq!(
            name_error("team/../app"),
            "invalid event_data.repository.name: must not contain '..'"
        );
        assert_eq!(
            name_error(".."),
            "invalid event_data.repository.name: must not contain '..'"
        );
        assert_eq!(
            name_error("team//app"),
            "invalid event_data.repository.name: must not contain an empty path segment"
        );
        assert_eq!(
            name_error("te am"),
            "invalid event_data.repository.name: must not contain whitespace or control characters"
        );
        assert_eq!(
            name_error(&"a".repeat(256)),
            "invalid event_data.repository.name: longer than 255 characters"
        );
        let longest = "a".repeat(MAX_NAME_LEN);
        assert!(parse_value(JSON, &default_payload("PUSH_ARTIFACT", "p", &longest, "v1")).is_ok());

        assert_eq!(
            default_error(|p| p["event_data"]["repository"]["namespace"] = json!("a/b")),
            "invalid event_data.repository.namespace: must not contain '/'"
        );
        for full_name in ["proj/other", "other/app", "projapp", "proj/app/x"] {
            assert_eq!(
                default_error(
                    |p| p["event_data"]["repository"]["repo_full_name"] = json!(full_name)
                ),
                "invalid event_data.repository.repo_full_name: does not equal namespace/name",
                "{full_name}"
            );
        }
    }

    #[test]
    fn invalid_references() {
        assert_eq!(
            default_error(|p| p["event_data"]["resources"][0]["digest"] = json!("abc")),
            "invalid event_data.resources[0].digest: not a digest (algorithm:hex)"
        );
        assert_eq!(
            default_error(|p| p["event_data"]["resources"][0]["tag"] = json!("sha256:0000")),
            "invalid event_data.resources[0].tag: contains ':' but is not the artifact's digest"
        );
        assert_eq!(
            default_error(|p| p["event_data"]["resources"][0]["tag"] = json!("v:1")),
            "invalid event_data.resources[0].tag: contains ':' but is not the artifact's digest"
        );
    }

    #[test]
    fn errors_do_not_quote_payload_values() {
        let secret = "Bearer s3cret";
        let error =
            default_error(|p| p["event_data"]["repository"]["repo_full_name"] = json!(secret));
        assert!(!error.contains("s3cret"), "{error}");
        let error =
            default_error(|p| p["event_data"]["repository"]["name"] = json!(format!("{secret}/")));
        assert!(!error.contains("s3cret"), "{error}");
    }
}
