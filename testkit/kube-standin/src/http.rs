//! The HTTP face: one fallback handler that records the request, applies injected faults,
//! parses the Kubernetes path layout and dispatches to the cluster operations.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::RequestRecord;
use crate::cluster::{DeleteOptions, Subresource};
use crate::discovery;
use crate::error::{ApiError, ApiResult};
use crate::patch::PatchKind;
use crate::render::{self, View};
use crate::resources::{Registry, ResourceType};
use crate::selectors::{FieldSelector, LabelSelector, Selector};
use crate::server::Shared;
use crate::watch::{self, WatchSpec};

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let response = match shared.faults.take(method.as_str(), path_and_query) {
        Some(injected) => injected.into_response(),
        None => {
            let request = Request {
                method: &method,
                path: uri.path(),
                query: parse_query(uri.query()),
                headers: &headers,
                body: &body,
            };
            serve(&shared, &request).unwrap_or_else(IntoResponse::into_response)
        }
    };
    shared.record(RequestRecord {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        status: response.status().as_u16(),
        content_type: header_str(&headers, header::CONTENT_TYPE).map(str::to_owned),
    });
    response
}

fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

struct Request<'a> {
    method: &'a Method,
    path: &'a str,
    query: HashMap<String, String>,
    headers: &'a HeaderMap,
    body: &'a Bytes,
}

impl Request<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true" | "1"))
    }

    fn number(&self, name: &str) -> ApiResult<Option<u64>> {
        self.param(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid value for {name}: {v}")))
            })
            .transpose()
    }

    fn dry_run(&self) -> bool {
        self.param("dryRun") == Some("All")
    }

    fn view(&self) -> View {
        View::from_accept(header_str(self.headers, header::ACCEPT))
    }

    fn selector(&self) -> ApiResult<Selector> {
        Ok(Selector {
            labels: LabelSelector::parse(self.param("labelSelector").unwrap_or_default())
                .map_err(ApiError::bad_request)?,
            fields: FieldSelector::parse(self.param("fieldSelector").unwrap_or_default())
                .map_err(ApiError::bad_request)?,
        })
    }

    fn json_body(&self) -> ApiResult<Value> {
        let content_type =
            header_str(self.headers, header::CONTENT_TYPE).unwrap_or("application/json");
        if !content_type.starts_with("application/json") {
            return Err(ApiError::unsupported_media_type(
                content_type,
                &["application/json"],
            ));
        }
        match serde_json::from_slice::<Value>(self.body) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(_) => Err(ApiError::bad_request(
                "the request body must be a JSON object",
            )),
            Err(e) => Err(ApiError::bad_request(format!(
                "the request body is not valid JSON: {e}"
            ))),
        }
    }
}

/// A request for objects of one kind, as addressed by its path.
struct Target {
    rt: ResourceType,
    version: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Subresource,
}

impl Target {
    fn ns(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    fn render(&self, obj: &Value, view: View) -> Value {
        render::object(obj, &self.rt, &self.version, view)
    }

    /// The body's `apiVersion` and `kind`, if given, must be the addressed ones.
    fn check_type(&self, body: &Value) -> ApiResult<()> {
        let expected = self.rt.api_version(&self.version);
        if let Some(api_version) = body.get("apiVersion").and_then(Value::as_str)
            && api_version != expected
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({expected})"
            )));
        }
        if let Some(kind) = body.get("kind").and_then(Value::as_str)
            && kind != self.rt.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                self.rt.kind
            )));
        }
        Ok(())
    }
}

enum Route {
    Version,
    CoreVersions,
    Groups,
    Group(String),
    Resources { group: String, version: String },
    Objects(Box<Target>),
}

fn route(registry: &Registry, path: &str) -> ApiResult<Route> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["version"] => Ok(Route::Version),
        ["api"] => Ok(Route::CoreVersions),
        ["apis"] => Ok(Route::Groups),
        ["apis", group] => Ok(Route::Group((*group).to_owned())),
        ["api", version] => Ok(Route::Resources {
            group: String::new(),
            version: (*version).to_owned(),
        }),
        ["apis", group, version] => Ok(Route::Resources {
            group: (*group).to_owned(),
            version: (*version).to_owned(),
        }),
        ["api", version, rest @ ..] => {
            objects(registry, "", version, rest).map(|t| Route::Objects(Box::new(t)))
        }
        ["apis", group, version, rest @ ..] => {
            objects(registry, group, version, rest).map(|t| Route::Objects(Box::new(t)))
        }
        _ => Err(ApiError::no_route()),
    }
}

/// `{plural}[/{name}[/{sub}]]` or `namespaces/{ns}/{plural}[/{name}[/{sub}]]`.
fn objects(registry: &Registry, group: &str, version: &str, rest: &[&str]) -> ApiResult<Target> {
    let namespaced = |plural: &str| {
        registry
            .resolve(group, version, plural)
            .is_some_and(|rt| rt.namespaced)
    };
    // `namespaces/x/status` is the status of namespace x unless a namespaced kind is called `status`.
    let (namespace, plural, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..] if namespaced(plural) => (Some(*ns), *plural, tail),
        [plural, tail @ ..] => (None, *plural, tail),
        [] => return Err(ApiError::no_route()),
    };
    let rt = registry
        .resolve(group, version, plural)
        .cloned()
        .ok_or_else(ApiError::no_route)?;
    let (name, subresource) = match tail {
        [] => (None, Subresource::Main),
        [name] => (Some(*name), Subresource::Main),
        [name, "status"] if rt.status_subresource => (Some(*name), Subresource::Status),
        _ => return Err(ApiError::no_route()),
    };
    if rt.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::no_route());
    }
    Ok(Target {
        rt,
        version: version.to_owned(),
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        subresource,
    })
}

fn json(status: StatusCode, value: Value) -> Response {
    (status, axum::Json(value)).into_response()
}

fn serve(shared: &Arc<Shared>, req: &Request<'_>) -> ApiResult<Response> {
    let route = shared.read(|c| route(&c.registry, req.path))?;
    let ok = |v| Ok(json(StatusCode::OK, v));
    let target = match route {
        Route::Version => return ok(discovery::version()),
        Route::CoreVersions => return ok(discovery::core_versions(&shared.addr.to_string())),
        Route::Groups => return ok(shared.read(|c| discovery::groups(&c.registry))),
        Route::Group(group) => return ok(shared.read(|c| discovery::group(&c.registry, &group))?),
        Route::Resources { group, version } => {
            return ok(shared.read(|c| discovery::resources(&c.registry, &group, &version))?);
        }
        Route::Objects(target) => *target,
    };
    match (req.method, target.name.as_deref()) {
        (&Method::GET, None) if req.flag("watch") => serve_watch(shared, req, target),
        (&Method::GET, None) => serve_list(shared, req, &target),
        (&Method::POST, None) => {
            let body = req.json_body()?;
            target.check_type(&body)?;
            let created =
                shared.write(req.dry_run(), |c| c.create(&target.rt, target.ns(), body))?;
            Ok(json(
                StatusCode::CREATED,
                target.render(&created, View::Full),
            ))
        }
        (&Method::DELETE, None) => {
            let selector = req.selector()?;
            let opts = DeleteOptions::parse(req.body, req.param("propagationPolicy"))?;
            let deleted = shared.write(req.dry_run(), |c| {
                c.delete_collection(&target.rt, target.ns(), &selector, &opts)
            })?;
            let meta = render::ListMeta {
                resource_version: shared.read(|c| c.store.revision()),
                ..Default::default()
            };
            let items = deleted.iter().map(|o| &**o);
            ok(render::list(
                items,
                &target.rt,
                &target.version,
                View::Full,
                &meta,
            ))
        }
        (method, Some(name)) => serve_object(shared, req, &target, method, name),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn serve_object(
    shared: &Arc<Shared>,
    req: &Request<'_>,
    target: &Target,
    method: &Method,
    name: &str,
) -> ApiResult<Response> {
    let (rt, ns, sub) = (&target.rt, target.ns(), target.subresource);
    let result = match *method {
        Method::GET => shared.read(|c| c.get(rt, ns, name))?,
        Method::PUT => {
            let body = req.json_body()?;
            target.check_type(&body)?;
            shared.write(req.dry_run(), |c| c.update(rt, ns, name, sub, body))?
        }
        Method::PATCH => {
            let content_type = header_str(req.headers, header::CONTENT_TYPE).unwrap_or_default();
            let kind = PatchKind::from_content_type(content_type).ok_or_else(|| {
                ApiError::unsupported_media_type(content_type, &PatchKind::CONTENT_TYPES)
            })?;
            if kind == PatchKind::Apply {
                let applied = crate::patch::parse_object(req.body)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                target.check_type(&applied)?;
            }
            let manager = req.param("fieldManager");
            shared.write(req.dry_run(), |c| {
                c.patch(rt, ns, name, sub, kind, req.body, manager)
            })?
        }
        Method::DELETE if sub == Subresource::Main => {
            let opts = DeleteOptions::parse(req.body, req.param("propagationPolicy"))?;
            shared.write(req.dry_run(), |c| c.delete(rt, ns, name, &opts))?
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    Ok(json(StatusCode::OK, target.render(&result, req.view())))
}

// simplification: `resourceVersion`/`resourceVersionMatch` are ignored; lists are always current.
fn serve_list(shared: &Arc<Shared>, req: &Request<'_>, target: &Target) -> ApiResult<Response> {
    let selector = req.selector()?;
    let limit = req
        .number("limit")?
        .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    let page = shared.read(|c| {
        c.list(
            &target.rt,
            target.ns(),
            &selector,
            limit,
            req.param("continue"),
        )
    })?;
    let items = page.items.iter().map(|o| &**o);
    let body = render::list(items, &target.rt, &target.version, req.view(), &page.meta);
    Ok(json(StatusCode::OK, body))
}

fn serve_watch(shared: &Arc<Shared>, req: &Request<'_>, target: Target) -> ApiResult<Response> {
    let from = match req.param("resourceVersion") {
        None | Some("0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?,
        ),
    };
    let spec = WatchSpec {
        selector: req.selector()?,
        view: req.view(),
        from,
        send_initial_events: req.flag("sendInitialEvents"),
        bookmarks: req.flag("allowWatchBookmarks"),
        timeout: req.number("timeoutSeconds")?.map(Duration::from_secs),
        rt: target.rt,
        version: target.version,
        namespace: target.namespace,
    };
    watch::start(shared.clone(), spec)
}
