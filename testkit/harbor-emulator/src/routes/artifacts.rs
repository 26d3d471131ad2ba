//! `.../repositories/{repository_name}/artifacts[/{reference}[/tags/{tag_name}]]`.

use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::repositories::RepositoryPath;
use super::{Ctx, Params, Route, json, ok, routes, time, unescape_repository};
use crate::auth::{Access, project_access};
use crate::error::{ApiResult, HarborError};
use crate::state::{Artifact, ArtifactKind, Project, ProjectRef, Repository};

pub(super) fn routes() -> Vec<Route> {
    routes![
        GET "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts" => list,
        GET "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}" => get,
        DELETE "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}" => delete,
        DELETE "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags/{tag_name}" => delete_tag,
    ]
}

#[derive(Deserialize)]
struct ArtifactPath {
    project_name: String,
    repository_name: String,
    reference: String,
}

#[derive(Deserialize)]
struct TagPath {
    project_name: String,
    repository_name: String,
    reference: String,
    tag_name: String,
}

/// Harbor's zero time for "never pulled".
const NEVER: &str = "0001-01-01T00:00:00.000Z";

fn artifact_json(
    project: &Project,
    repository: &Repository,
    artifact: &Artifact,
    with_tag: bool,
) -> Value {
    let short_name = repository.name.rsplit('/').next().unwrap_or_default();
    let first_tag = artifact
        .tags
        .first()
        .map(|t| t.name.as_str())
        .unwrap_or_default();
    let extra_attrs = match artifact.kind {
        ArtifactKind::Image => json!({
            "architecture": "amd64",
            "os": "linux",
            "author": "",
            "config": {},
            "created": time(artifact.push_time),
        }),
        // What Harbor's chart processor copies from Chart.yaml.
        ArtifactKind::Chart => json!({
            "apiVersion": "v2",
            "name": short_name,
            "version": first_tag,
            "type": "application",
            "description": "",
        }),
    };
    let tags: Option<Vec<Value>> = (with_tag && !artifact.tags.is_empty()).then(|| {
        artifact
            .tags
            .iter()
            .map(|t| {
                json!({
                    "id": t.id,
                    "repository_id": repository.id,
                    "artifact_id": artifact.id,
                    "name": t.name,
                    "push_time": time(t.push_time),
                    "pull_time": NEVER,
                    "immutable": false,
                    "signed": false,
                })
            })
            .collect()
    });
    json!({
        "id": artifact.id,
        "type": artifact.kind.harbor_type(),
        "media_type": artifact.kind.config_media_type(),
        "manifest_media_type": artifact.kind.manifest_media_type(),
        "project_id": project.id,
        "repository_id": repository.id,
        "digest": artifact.digest,
        "size": artifact.size,
        "icon": "",
        "push_time": time(artifact.push_time),
        "pull_time": NEVER,
        "extra_attrs": extra_attrs,
        "annotations": null,
        "references": null,
        "tags": tags,
        "labels": null,
        "addition_links": {},
    })
}

fn find_repository<'p>(project: &'p Project, name: &str) -> ApiResult<&'p Repository> {
    project.repository(name).ok_or_else(|| {
        HarborError::not_found(format!("repository {}/{name} not found", project.name))
    })
}

async fn list(ctx: Ctx, Params(path): Params<RepositoryPath>) -> ApiResult<Response> {
    let page = ctx.page()?;
    let with_tag = ctx.query.bool("with_tag")?.unwrap_or(true);
    let name = path.repository()?;
    let items: Vec<Value> = {
        let state = ctx.shared.state();
        let by = ProjectRef::Name(&path.project_name);
        let project = project_access(&state, &ctx.principal, by, Access::Read)?;
        let repository = find_repository(project, &name)?;
        // guess: newest push first, Harbor's default order.
        let mut artifacts: Vec<&Artifact> = repository.artifacts.iter().collect();
        artifacts.sort_by(|a, b| b.push_time.cmp(&a.push_time).then(b.id.cmp(&a.id)));
        artifacts
            .into_iter()
            .map(|a| artifact_json(project, repository, a, with_tag))
            .collect()
    };
    Ok(ctx.paged(page, items))
}

async fn get(ctx: Ctx, Params(path): Params<ArtifactPath>) -> ApiResult<Response> {
    let with_tag = ctx.query.bool("with_tag")?.unwrap_or(true);
    let name = unescape_repository(&path.repository_name)?;
    let state = ctx.shared.state();
    let by = ProjectRef::Name(&path.project_name);
    let project = project_access(&state, &ctx.principal, by, Access::Read)?;
    let repository = find_repository(project, &name)?;
    let artifact = &repository.artifacts[repository.find_artifact(&path.reference)?];
    Ok(json(&artifact_json(
        project, repository, artifact, with_tag,
    )))
}

/// Removes the whole artifact (every tag); the repository stays even when emptied.
async fn delete(ctx: Ctx, Params(path): Params<ArtifactPath>) -> ApiResult<Response> {
    let name = unescape_repository(&path.repository_name)?;
    let event = {
        let mut state = ctx.shared.state();
        let by = ProjectRef::Name(&path.project_name);
        project_access(&state, &ctx.principal, by, Access::Write)?;
        state.delete_artifact(
            &path.project_name,
            &name,
            &path.reference,
            ctx.principal.operator(),
        )?
    };
    ctx.shared.publish([event], &ctx.request_id);
    Ok(ok())
}

/// Unlinks one tag; Harbor sends no webhook for it.
async fn delete_tag(ctx: Ctx, Params(path): Params<TagPath>) -> ApiResult<Response> {
    let name = unescape_repository(&path.repository_name)?;
    let mut state = ctx.shared.state();
    let by = ProjectRef::Name(&path.project_name);
    project_access(&state, &ctx.principal, by, Access::Write)?;
    state.delete_tag(&path.project_name, &name, &path.reference, &path.tag_name)?;
    Ok(ok())
}
