//! ChartMuseum through Harbor 2.7's legacy `/api/chartrepo` API (shapes from
//! `chartrepo-v2.7.0.yaml`). These routes do not exist on 2.8+.

use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, Params, Route, json, ok, routes, time};
use crate::auth::{Access, project_access};
use crate::error::{ApiResult, HarborError};
use crate::state::{ChartVersion, Project, ProjectRef};

pub(super) fn routes() -> Vec<Route> {
    routes![
        GET "/api/chartrepo/health" => health,
        GET "/api/chartrepo/{repo}/charts" => list_charts,
        GET "/api/chartrepo/{repo}/charts/{name}" => list_versions,
        DELETE "/api/chartrepo/{repo}/charts/{name}" => delete_chart,
        GET "/api/chartrepo/{repo}/charts/{name}/{version}" => get_version,
        DELETE "/api/chartrepo/{repo}/charts/{name}/{version}" => delete_version,
    ]
}

#[derive(Deserialize)]
struct RepoPath {
    repo: String,
}

#[derive(Deserialize)]
struct ChartPath {
    repo: String,
    name: String,
}

#[derive(Deserialize)]
struct VersionPath {
    repo: String,
    name: String,
    version: String,
}

fn version_json(chart: &str, version: &ChartVersion) -> Value {
    json!({
        "name": chart,
        "version": version.version,
        "apiVersion": "v2",
        "appVersion": version.version,
        "engine": "gotpl",
        "icon": "",
        "home": "",
        "description": "",
        "keywords": [],
        "sources": [],
        "created": time(version.created),
        "removed": false,
        "digest": version.digest.trim_start_matches("sha256:"),
        "urls": [format!("charts/{chart}-{}.tgz", version.version)],
        "labels": [],
    })
}

fn versions<'p>(project: &'p Project, chart: &str) -> ApiResult<&'p [ChartVersion]> {
    project
        .charts
        .get(chart)
        .map(Vec::as_slice)
        // guess: ChartMuseum's text behind Harbor's 404.
        .ok_or_else(|| HarborError::not_found(format!("chart {chart} not found")))
}

/// Sysadmin only.
async fn health(ctx: Ctx) -> ApiResult<Response> {
    ctx.principal.require_admin()?;
    Ok(json(&json!({"healthy": true})))
}

async fn list_charts(ctx: Ctx, Params(path): Params<RepoPath>) -> ApiResult<Response> {
    let state = ctx.shared.state();
    let by = ProjectRef::Name(&path.repo);
    let project = project_access(&state, &ctx.principal, by, Access::Read)?;
    let entries: Vec<Value> = project
        .charts
        .iter()
        .filter_map(|(name, versions)| {
            let (first, latest) = (versions.first()?, versions.last()?);
            Some(json!({
                "name": name,
                "total_versions": versions.len(),
                "latest_version": latest.version,
                "created": time(first.created),
                "updated": time(latest.created),
                "icon": "",
                "home": "",
                "deprecated": false,
            }))
        })
        .collect();
    Ok(json(&entries))
}

async fn list_versions(ctx: Ctx, Params(path): Params<ChartPath>) -> ApiResult<Response> {
    let state = ctx.shared.state();
    let by = ProjectRef::Name(&path.repo);
    let project = project_access(&state, &ctx.principal, by, Access::Read)?;
    // guess: newest upload first (ChartMuseum sorts by semver).
    let list: Vec<Value> = versions(project, &path.name)?
        .iter()
        .rev()
        .map(|v| version_json(&path.name, v))
        .collect();
    Ok(json(&list))
}

async fn get_version(ctx: Ctx, Params(path): Params<VersionPath>) -> ApiResult<Response> {
    let state = ctx.shared.state();
    let by = ProjectRef::Name(&path.repo);
    let project = project_access(&state, &ctx.principal, by, Access::Read)?;
    let version = versions(project, &path.name)?
        .iter()
        .find(|v| v.version == path.version)
        .ok_or_else(|| {
            HarborError::not_found(format!(
                "chart version {}-{} not found",
                path.name, path.version
            ))
        })?;
    Ok(json(&json!({
        "metadata": version_json(&path.name, version),
        "security": {"signature": {"signed": false, "prov_file": ""}},
        "dependencies": [],
        "values": {},
        "files": {},
        "labels": [],
    })))
}

/// Deletes every version: one DELETE_CHART event listing them all.
async fn delete_chart(ctx: Ctx, Params(path): Params<ChartPath>) -> ApiResult<Response> {
    let event = {
        let mut state = ctx.shared.state();
        let by = ProjectRef::Name(&path.repo);
        project_access(&state, &ctx.principal, by, Access::Write)?;
        state.delete_chart(&path.repo, &path.name, ctx.principal.operator())?
    };
    ctx.shared.publish([event], &ctx.request_id);
    Ok(ok())
}

async fn delete_version(ctx: Ctx, Params(path): Params<VersionPath>) -> ApiResult<Response> {
    let event = {
        let mut state = ctx.shared.state();
        let by = ProjectRef::Name(&path.repo);
        project_access(&state, &ctx.principal, by, Access::Write)?;
        state.delete_chart_version(
            &path.repo,
            &path.name,
            &path.version,
            ctx.principal.operator(),
        )?
    };
    ctx.shared.publish([event], &ctx.request_id);
    Ok(ok())
}
