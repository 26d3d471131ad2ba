//! `/api/v2.0/projects/{project_name}/repositories[/{repository_name}]`.

use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, Params, Route, json, ok, routes, time, unescape_repository};
use crate::auth::{Access, project_access};
use crate::error::{ApiResult, HarborError};
use crate::state::{ProjectRef, Repository};

pub(super) fn routes() -> Vec<Route> {
    routes![
        GET "/api/v2.0/projects/{project_name}/repositories" => list,
        GET "/api/v2.0/projects/{project_name}/repositories/{repository_name}" => get,
        DELETE "/api/v2.0/projects/{project_name}/repositories/{repository_name}" => delete,
    ]
}

#[derive(Deserialize)]
struct ProjectPath {
    project_name: String,
}

/// `{project_name}/repositories/{repository_name}` with the name decoded a second time.
#[derive(Deserialize)]
pub(super) struct RepositoryPath {
    pub project_name: String,
    pub repository_name: String,
}

impl RepositoryPath {
    pub fn repository(&self) -> ApiResult<String> {
        unescape_repository(&self.repository_name)
    }
}

fn repository_json(project_id: i64, repository: &Repository) -> Value {
    json!({
        "id": repository.id,
        "project_id": project_id,
        "name": repository.name,
        "description": "",
        "artifact_count": repository.artifacts.len(),
        "pull_count": 0,
        "creation_time": time(repository.created),
        "update_time": time(repository.updated),
    })
}

async fn list(ctx: Ctx, Params(path): Params<ProjectPath>) -> ApiResult<Response> {
    let page = ctx.page()?;
    let q_name = ctx.query.q_name();
    let items: Vec<Value> = {
        let state = ctx.shared.state();
        let by = ProjectRef::Name(&path.project_name);
        let project = project_access(&state, &ctx.principal, by, Access::Read)?;
        // guess: newest first, Harbor's default `-creation_time` order.
        project
            .repositories
            .iter()
            .rev()
            .filter(|r| q_name.as_ref().is_none_or(|f| f.accepts(&r.name)))
            .map(|r| repository_json(project.id, r))
            .collect()
    };
    Ok(ctx.paged(page, items))
}

async fn get(ctx: Ctx, Params(path): Params<RepositoryPath>) -> ApiResult<Response> {
    let name = path.repository()?;
    let state = ctx.shared.state();
    let by = ProjectRef::Name(&path.project_name);
    let project = project_access(&state, &ctx.principal, by, Access::Read)?;
    let repository = project.repository(&name).ok_or_else(|| {
        HarborError::not_found(format!("repository {}/{name} not found", project.name))
    })?;
    Ok(json(&repository_json(project.id, repository)))
}

/// Deletes every artifact with the repository: one DELETE_ARTIFACT each.
async fn delete(ctx: Ctx, Params(path): Params<RepositoryPath>) -> ApiResult<Response> {
    let name = path.repository()?;
    let events = {
        let mut state = ctx.shared.state();
        let by = ProjectRef::Name(&path.project_name);
        project_access(&state, &ctx.principal, by, Access::Write)?;
        state.delete_repository(&path.project_name, &name, ctx.principal.operator())?
    };
    ctx.shared.publish(events, &ctx.request_id);
    Ok(ok())
}
