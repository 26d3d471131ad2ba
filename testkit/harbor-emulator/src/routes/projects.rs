//! `/api/v2.0/projects[...]`: create, probe, get, list, update, delete, deletable, summary.

use std::collections::BTreeMap;

use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, JsonBody, Params, Route, created, json, ok, routes, time};
use crate::Profile;
use crate::auth::{Access, Principal, project_access};
use crate::error::{ApiResult, HarborError};
use crate::query::NameFilter;
use crate::state::{ADMIN_USER_ID, Project, ProjectRef};

pub(super) fn routes() -> Vec<Route> {
    routes![
        GET "/api/v2.0/projects" => list,
        HEAD "/api/v2.0/projects" => head,
        POST "/api/v2.0/projects" => create,
        GET "/api/v2.0/projects/{project_name_or_id}" => get,
        PUT "/api/v2.0/projects/{project_name_or_id}" => update,
        DELETE "/api/v2.0/projects/{project_name_or_id}" => delete,
        GET "/api/v2.0/projects/{project_name_or_id}/_deletable" => deletable,
        GET "/api/v2.0/projects/{project_name_or_id}/summary" => summary,
    ]
}

/// `ProjectReq`. Metadata values must be JSON strings (a boolean fails binding: 422).
#[derive(Debug, Deserialize)]
struct ProjectReq {
    project_name: Option<String>,
    public: Option<bool>,
    #[serde(default)]
    metadata: BTreeMap<String, Option<String>>,
    storage_limit: Option<i64>,
    registry_id: Option<i64>,
}

impl ProjectReq {
    fn metadata(&self) -> BTreeMap<String, String> {
        self.metadata
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect()
    }
}

#[derive(Deserialize)]
struct ProjectPath {
    project_name_or_id: String,
}

/// The `Project` model as Harbor returns it.
pub(super) fn project_json(project: &Project, profile: Profile) -> Value {
    let mut value = json!({
        "project_id": project.id,
        "owner_id": project.owner_id,
        "name": project.name,
        "creation_time": time(project.created),
        "update_time": time(project.updated),
        "deleted": project.deleted,
        "owner_name": project.owner_name,
        "togglable": true,
        "repo_count": project.repositories.len(),
        "metadata": project.metadata,
        "cve_allowlist": {
            "id": project.id,
            "project_id": project.id,
            "items": [],
            "creation_time": time(project.created),
            "update_time": time(project.updated),
        },
    });
    if profile.has_chartmuseum()
        && let Some(object) = value.as_object_mut()
    {
        object.insert("chart_count".to_owned(), json!(project.charts.len()));
    }
    value
}

fn visible_to(principal: &Principal, project: &Project) -> bool {
    match principal {
        Principal::Admin(_) => true,
        Principal::User(name) => project.is_public() || project.owner_name == *name,
        Principal::Anonymous => project.is_public(),
    }
}

/// Anonymous callers and users see public projects (plus their own); admins see all.
async fn list(ctx: Ctx) -> ApiResult<Response> {
    let page = ctx.page()?;
    let public = ctx.query.bool("public")?;
    let fuzzy = ctx
        .query
        .get("name")
        .map(|n| NameFilter::Fuzzy(n.to_owned()));
    let q_name = ctx.query.q_name();
    let owner = ctx.query.get("owner");
    let profile = ctx.shared.config.profile;
    let items: Vec<Value> = {
        let state = ctx.shared.state();
        state
            .projects()
            .into_iter()
            .filter(|p| visible_to(&ctx.principal, p))
            .filter(|p| public.is_none_or(|want| p.is_public() == want))
            .filter(|p| fuzzy.as_ref().is_none_or(|f| f.accepts(&p.name)))
            .filter(|p| q_name.as_ref().is_none_or(|f| f.accepts(&p.name)))
            .filter(|p| owner.is_none_or(|o| p.owner_name == o))
            .map(|p| project_json(p, profile))
            .collect()
    };
    Ok(ctx.paged(page, items))
}

/// Exact-name probe; needs authentication but no project permission.
async fn head(ctx: Ctx) -> ApiResult<Response> {
    let name = ctx
        .query
        .get("project_name")
        .ok_or_else(|| HarborError::validation("project_name in query is required"))?;
    ctx.principal.require_authenticated()?;
    if name.contains(' ') {
        // guess: wording.
        return Err(HarborError::bad_request(format!(
            "project name {name} contains blank"
        )));
    }
    let exists = ctx.shared.state().project(ProjectRef::Name(name)).is_some();
    if exists {
        Ok(ok())
    } else {
        Err(HarborError::not_found(format!("project {name} not found")))
    }
}

async fn create(ctx: Ctx, JsonBody(req): JsonBody<ProjectReq>) -> ApiResult<Response> {
    let name = req.project_name.clone().unwrap_or_default();
    if name.chars().count() > 255 {
        return Err(HarborError::validation(
            "project_name in body should be at most 255 chars long",
        ));
    }
    let username = ctx.principal.require_authenticated()?.to_owned();
    let config = &ctx.shared.config;
    if !ctx.principal.is_admin() && config.project_creation_restriction.admin_only() {
        // guess: wording.
        return Err(HarborError::forbidden_with(
            "Only system admin can create project",
        ));
    }
    let mut metadata = req.metadata();
    if metadata.get("public").is_none_or(String::is_empty) {
        let public = req.public.unwrap_or(false);
        metadata.insert("public".to_owned(), public.to_string());
    }
    if !matches!(metadata["public"].as_str(), "true" | "false") {
        return Err(HarborError::bad_request(
            "metadata.public should only be 'true' or 'false'",
        ));
    }
    if req.storage_limit.is_some_and(|limit| limit < -1) {
        // guess: wording.
        return Err(HarborError::bad_request(
            "invalid storage_limit, it should be -1 or greater than 0",
        ));
    }
    if let Some(registry) = req.registry_id {
        if !ctx.principal.is_admin() {
            return Err(HarborError::forbidden());
        }
        // No registries exist here, so a proxy-cache project can never be created.
        return Err(HarborError::bad_request(format!(
            "registry {registry} not found"
        )));
    }
    let owner_id = if ctx.principal.is_admin() {
        ADMIN_USER_ID
    } else {
        ADMIN_USER_ID + 1
    };
    let id = ctx
        .shared
        .state()
        .create_project(&name, metadata, owner_id, &username)?;
    let wants_name = ctx
        .headers
        .get("x-resource-name-in-location")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let suffix = if wants_name { name } else { id.to_string() };
    Ok(created(&format!(
        "{}/{suffix}",
        ctx.raw_path.trim_end_matches('/')
    )))
}

async fn get(ctx: Ctx, Params(path): Params<ProjectPath>) -> ApiResult<Response> {
    let by = ctx.project_ref(&path.project_name_or_id);
    let state = ctx.shared.state();
    let project = project_access(&state, &ctx.principal, by, Access::Read)?;
    Ok(json(&project_json(project, state.profile())))
}

/// Only metadata is applied (upserted, unvalidated, as observed on v2.7.0).
async fn update(
    ctx: Ctx,
    Params(path): Params<ProjectPath>,
    JsonBody(req): JsonBody<ProjectReq>,
) -> ApiResult<Response> {
    let by = ctx.project_ref(&path.project_name_or_id);
    let mut state = ctx.shared.state();
    let id = project_access(&state, &ctx.principal, by, Access::Write)?.id;
    state.update_metadata(ProjectRef::Id(id), req.metadata())?;
    Ok(ok())
}

async fn delete(ctx: Ctx, Params(path): Params<ProjectPath>) -> ApiResult<Response> {
    let by = ctx.project_ref(&path.project_name_or_id);
    let mut state = ctx.shared.state();
    let id = project_access(&state, &ctx.principal, by, Access::Write)?.id;
    state.delete_project(ProjectRef::Id(id))?;
    Ok(ok())
}

/// When blocked, Harbor's body has no `deletable` field at all (observed on v2.7.0).
async fn deletable(ctx: Ctx, Params(path): Params<ProjectPath>) -> ApiResult<Response> {
    let by = ctx.project_ref(&path.project_name_or_id);
    let state = ctx.shared.state();
    let id = project_access(&state, &ctx.principal, by, Access::Write)?.id;
    Ok(json(&match state.deletable(ProjectRef::Id(id))? {
        Ok(()) => json!({"deletable": true, "message": ""}),
        Err(cause) => json!({"message": cause}),
    }))
}

async fn summary(ctx: Ctx, Params(path): Params<ProjectPath>) -> ApiResult<Response> {
    let by = ctx.project_ref(&path.project_name_or_id);
    let state = ctx.shared.state();
    let project = project_access(&state, &ctx.principal, by, Access::Read)?;
    let used: i64 = project
        .repositories
        .iter()
        .flat_map(|r| &r.artifacts)
        .map(|a| a.size)
        .sum();
    let mut summary = json!({
        "repo_count": project.repositories.len(),
        "project_admin_count": 1,
        "maintainer_count": 0,
        "developer_count": 0,
        "guest_count": 0,
        "limited_guest_count": 0,
        "quota": {"hard": {"storage": -1}, "used": {"storage": used}},
    });
    if state.profile().has_chartmuseum()
        && let Some(object) = summary.as_object_mut()
    {
        object.insert("chart_count".to_owned(), json!(project.charts.len()));
    }
    Ok(json(&summary))
}
