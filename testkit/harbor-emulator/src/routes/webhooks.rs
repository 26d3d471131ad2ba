//! `/api/v2.0/projects/{project_name_or_id}/webhook/...`: policy CRUD and supported events.

use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, JsonBody, Params, Route, created, json, ok, routes, time};
use crate::Profile;
use crate::auth::{Access, project_access};
use crate::error::{ApiResult, HarborError};
use crate::state::{PolicyInput, WebhookPolicy, WebhookTarget, supported_event_types};

pub(super) fn routes() -> Vec<Route> {
    routes![
        GET "/api/v2.0/projects/{project_name_or_id}/webhook/policies" => list,
        POST "/api/v2.0/projects/{project_name_or_id}/webhook/policies" => create,
        GET "/api/v2.0/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}" => get,
        PUT "/api/v2.0/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}" => update,
        DELETE "/api/v2.0/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}" => delete,
        GET "/api/v2.0/projects/{project_name_or_id}/webhook/events" => events,
    ]
}

#[derive(Deserialize)]
struct ProjectPath {
    project_name_or_id: String,
}

#[derive(Deserialize)]
struct PolicyPath {
    project_name_or_id: String,
    webhook_policy_id: String,
}

impl PolicyPath {
    /// go-openapi binds the id as int64: anything else is a 422.
    fn id(&self) -> ApiResult<i64> {
        self.webhook_policy_id.parse().map_err(|_| {
            HarborError::validation(format!(
                "webhook_policy_id in path must be of type int64: \"{}\"",
                self.webhook_policy_id
            ))
        })
    }
}

/// `WebhookPolicy` request body; `enabled` defaults to false when omitted.
#[derive(Debug, Deserialize)]
struct PolicyBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    event_types: Vec<String>,
    #[serde(default)]
    targets: Vec<TargetBody>,
}

#[derive(Debug, Deserialize)]
struct TargetBody {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    auth_header: String,
    #[serde(default)]
    skip_cert_verify: bool,
    payload_format: Option<String>,
}

impl PolicyBody {
    /// 2.7's schema has no `payload_format`, so go-swagger drops it while binding.
    fn into_input(self, profile: Profile) -> PolicyInput {
        PolicyInput {
            name: self.name,
            description: self.description,
            enabled: self.enabled,
            event_types: self.event_types,
            targets: self
                .targets
                .into_iter()
                .map(|t| WebhookTarget {
                    kind: t.kind,
                    address: t.address,
                    auth_header: t.auth_header,
                    skip_cert_verify: t.skip_cert_verify,
                    payload_format: t.payload_format.filter(|_| profile.has_payload_formats()),
                })
                .collect(),
        }
    }
}

fn policy_json(policy: &WebhookPolicy, profile: Profile) -> Value {
    let targets: Vec<Value> = policy
        .targets
        .iter()
        .map(|t| {
            let mut target = json!({
                "type": t.kind,
                "address": t.address,
                "auth_header": t.auth_header,
                "skip_cert_verify": t.skip_cert_verify,
            });
            if profile.has_payload_formats()
                && let Some(object) = target.as_object_mut()
            {
                // An http target without a format is sent `Default`.
                let format = t
                    .payload_format
                    .clone()
                    .or_else(|| (t.kind == "http").then(|| "Default".to_owned()));
                object.insert("payload_format".to_owned(), json!(format));
            }
            target
        })
        .collect();
    json!({
        "id": policy.id,
        "name": policy.name,
        "description": policy.description,
        "project_id": policy.project_id,
        "targets": targets,
        "event_types": policy.event_types,
        "creator": policy.creator,
        "creation_time": time(policy.created),
        "update_time": time(policy.updated),
        "enabled": policy.enabled,
    })
}

/// Webhook policies need project-admin rights, even to read them.
fn project_id(ctx: &Ctx, raw: &str) -> ApiResult<i64> {
    let state = ctx.shared.state();
    let by = ctx.project_ref(raw);
    Ok(project_access(&state, &ctx.principal, by, Access::Write)?.id)
}

async fn list(ctx: Ctx, Params(path): Params<ProjectPath>) -> ApiResult<Response> {
    let page = ctx.page()?;
    let project_id = project_id(&ctx, &path.project_name_or_id)?;
    let profile = ctx.shared.config.profile;
    let items: Vec<Value> = ctx
        .shared
        .state()
        .policies_of(project_id)
        .into_iter()
        .map(|p| policy_json(p, profile))
        .collect();
    Ok(ctx.paged(page, items))
}

async fn create(
    ctx: Ctx,
    Params(path): Params<ProjectPath>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> ApiResult<Response> {
    let project_id = project_id(&ctx, &path.project_name_or_id)?;
    let input = body.into_input(ctx.shared.config.profile);
    let id = ctx
        .shared
        .state()
        .create_policy(project_id, input, ctx.principal.operator())?;
    Ok(created(&format!(
        "{}/{id}",
        ctx.raw_path.trim_end_matches('/')
    )))
}

async fn get(ctx: Ctx, Params(path): Params<PolicyPath>) -> ApiResult<Response> {
    let project_id = project_id(&ctx, &path.project_name_or_id)?;
    let state = ctx.shared.state();
    let policy = state.policy(project_id, path.id()?)?;
    Ok(json(&policy_json(policy, state.profile())))
}

async fn update(
    ctx: Ctx,
    Params(path): Params<PolicyPath>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> ApiResult<Response> {
    let project_id = project_id(&ctx, &path.project_name_or_id)?;
    let input = body.into_input(ctx.shared.config.profile);
    ctx.shared
        .state()
        .update_policy(project_id, path.id()?, input)?;
    Ok(ok())
}

async fn delete(ctx: Ctx, Params(path): Params<PolicyPath>) -> ApiResult<Response> {
    let project_id = project_id(&ctx, &path.project_name_or_id)?;
    ctx.shared.state().delete_policy(project_id, path.id()?)?;
    Ok(ok())
}

async fn events(ctx: Ctx, Params(path): Params<ProjectPath>) -> ApiResult<Response> {
    project_id(&ctx, &path.project_name_or_id)?;
    let profile = ctx.shared.config.profile;
    let mut body = json!({
        "event_type": supported_event_types(profile),
        "notify_type": ["http", "slack"],
    });
    if profile.has_payload_formats()
        && let Some(object) = body.as_object_mut()
    {
        object.insert(
            "payload_formats".to_owned(),
            json!([{"notify_type": "http", "formats": ["Default", "CloudEvents"]}]),
        );
    }
    Ok(json(&body))
}
