//! Version, systeminfo, ping, health and the current user.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::{Ctx, Route, json, routes, time};
use crate::auth::Principal;
use crate::error::ApiResult;

pub(super) fn routes() -> Vec<Route> {
    routes![
        // Not in swagger-v2.7.0/head; see spec::UNDOCUMENTED_ROUTES.
        GET "/api/version" => version,
        GET "/api/v2.0/systeminfo" => systeminfo,
        GET "/api/v2.0/ping" => ping,
        GET "/api/v2.0/health" => health,
        GET "/api/v2.0/users/current" => current_user,
        GET "/api/v2.0/users/current/permissions" => current_permissions,
    ]
}

async fn version() -> Response {
    json(&json!({"version": "v2.0"}))
}

/// `harbor_version` for everyone (2.2–2.12); the protected block only when authenticated.
async fn systeminfo(ctx: Ctx) -> Response {
    let config = &ctx.shared.config;
    let mut info = json!({
        "auth_mode": "db_auth",
        "harbor_version": config.profile.harbor_version(),
        "primary_auth_mode": false,
        "self_registration": false,
        "banner_message": "",
    });
    if ctx.principal.username().is_some()
        && let Some(object) = info.as_object_mut()
    {
        let base = &ctx.shared.base_url;
        let host = base.split_once("://").map_or(base.as_str(), |(_, h)| h);
        let protected = json!({
            "current_time": time(Timestamp::now()),
            "external_url": base,
            "registry_url": host,
            "has_ca_root": config.tls.is_some(),
            "notification_enable": true,
            "project_creation_restriction": config.project_creation_restriction.as_str(),
            "read_only": false,
            "registry_storage_provider_name": "filesystem",
            "with_notary": false,
        });
        if let Value::Object(extra) = protected {
            object.extend(extra);
        }
        if config.profile.has_chartmuseum() {
            object.insert("with_chartmuseum".to_owned(), Value::Bool(true));
        }
    }
    json(&info)
}

async fn ping() -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], "Pong").into_response()
}

/// Always healthy; Harbor answers 200 even when unhealthy.
async fn health(ctx: Ctx) -> Response {
    let mut names = vec![
        "core",
        "database",
        "jobservice",
        "portal",
        "redis",
        "registry",
        "registryctl",
    ];
    if ctx.shared.config.profile.has_chartmuseum() {
        names.push("chartmuseum");
    }
    names.sort_unstable();
    let components: Vec<Value> = names
        .iter()
        .map(|name| json!({"name": name, "status": "healthy"}))
        .collect();
    json(&json!({"status": "healthy", "components": components}))
}

async fn current_user(ctx: Ctx) -> ApiResult<Response> {
    let username = ctx.principal.require_authenticated()?;
    let admin = ctx.principal.is_admin();
    // guess: user ids (admin is 1 on a fresh install; the extra user 2).
    Ok(json(&json!({
        "user_id": if admin { 1 } else { 2 },
        "username": username,
        "email": format!("{username}@example.com"),
        "realname": username,
        "comment": "",
        "sysadmin_flag": admin,
        "admin_role_in_auth": false,
        "creation_time": time(Timestamp::UNIX_EPOCH),
        "update_time": time(Timestamp::UNIX_EPOCH),
    })))
}

/// 200 with the caller's permissions, 401 for anonymous.
async fn current_permissions(ctx: Ctx) -> ApiResult<Response> {
    ctx.principal.require_authenticated()?;
    // guess: a representative subset; Harbor lists every system-scope policy for admins.
    let permissions = match ctx.principal {
        Principal::Admin(_) => vec![
            json!({"resource": "project", "action": "create"}),
            json!({"resource": "project", "action": "list"}),
            json!({"resource": "configuration", "action": "read"}),
        ],
        _ => vec![json!({"resource": "project", "action": "list"})],
    };
    Ok(json(&permissions))
}
