//! The route table (one list drives both the router and [`crate::Emulator::served_routes`]),
//! plus the extractors and response helpers the handlers share.

mod artifacts;
mod chartrepo;
mod projects;
mod repositories;
mod system;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use jiff::Timestamp;
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Profile;
use crate::app::Shared;
use crate::auth::Principal;
use crate::error::{ApiResult, HarborError};
use crate::middleware::{RequestInfo, harbor_layer, method_not_allowed, not_found, route_layer};
use crate::query::{Page, QueryParams};
use crate::state::ProjectRef;

pub(crate) type AppState = Arc<Shared>;

/// One served `(method, spec template)` and its handler.
pub(crate) struct Route {
    pub method: Method,
    pub path: &'static str,
    handler: MethodRouter<AppState>,
}

impl Route {
    pub(crate) fn new(method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self {
            method,
            path,
            handler,
        }
    }
}

/// Declares routes as `METHOD "spec template" => handler` lines; the method names both the
/// served method and the axum filter, so they cannot disagree.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:expr),* $(,)?) => {
        vec![$($crate::routes::Route::new(
            axum::http::Method::$method,
            $path,
            axum::routing::on(axum::routing::MethodFilter::$method, $handler),
        )),*]
    };
}
pub(crate) use routes;

/// Every route a profile serves. Chart routes exist only with ChartMuseum (Harbor 2.7).
pub(crate) fn table(profile: Profile) -> Vec<Route> {
    let mut routes = system::routes();
    routes.extend(projects::routes());
    routes.extend(repositories::routes());
    routes.extend(artifacts::routes());
    routes.extend(webhooks::routes());
    if profile.has_chartmuseum() {
        routes.extend(chartrepo::routes());
    }
    routes
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let routes = table(shared.config.profile);
    routes
        .into_iter()
        .fold(Router::new(), |router, r| router.route(r.path, r.handler))
        .route_layer(from_fn(route_layer))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(shared.clone(), harbor_layer))
        .with_state(shared)
}

/// Everything a handler needs about its request.
pub(crate) struct Ctx {
    pub shared: AppState,
    pub principal: Principal,
    pub request_id: String,
    /// Still percent-encoded, as received.
    pub raw_path: String,
    pub query: QueryParams,
    pub headers: HeaderMap,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = HarborError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let info = parts
            .extensions
            .get::<RequestInfo>()
            .cloned()
            .ok_or_else(HarborError::internal)?;
        Ok(Self {
            shared: state.clone(),
            principal: info.principal,
            request_id: info.request_id,
            raw_path: parts.uri.path().to_owned(),
            query: QueryParams::parse(parts.uri.query()),
            headers: parts.headers.clone(),
        })
    }
}

impl Ctx {
    fn header_is_true(&self, name: &str) -> bool {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `{project_name_or_id}`: a name with `X-Is-Resource-Name: true`, else an id when it
    /// parses as int64 (`handler/util.go` parseProjectNameOrID).
    pub fn project_ref<'a>(&self, raw: &'a str) -> ProjectRef<'a> {
        match raw.parse() {
            Ok(id) if !self.header_is_true("x-is-resource-name") => ProjectRef::Id(id),
            _ => ProjectRef::Name(raw),
        }
    }

    pub fn page(&self) -> ApiResult<Page> {
        self.query.page()
    }

    /// A paginated JSON list.
    pub fn paged<T: Serialize>(&self, page: Page, items: Vec<T>) -> Response {
        let (items, headers) = page.apply(items, &self.raw_path, &self.query);
        (headers, json(&items)).into_response()
    }
}

/// Path parameters, decoded once by the router like Harbor's; Harbor's error on failure.
pub(crate) struct Params<T>(pub T);

impl<T> FromRequestParts<AppState> for Params<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = HarborError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|rejection| HarborError::bad_request(rejection.body_text()))
    }
}

/// A JSON body; like go-openapi, any bind failure is a 422.
pub(crate) struct JsonBody<T>(pub T);

impl<T> FromRequest<AppState> for JsonBody<T>
where
    T: DeserializeOwned,
{
    type Rejection = HarborError;

    async fn from_request(request: Request, state: &AppState) -> ApiResult<Self> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| HarborError::validation(rejection.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(HarborError::validation("body in body is required"));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            // guess: go-openapi's wording around a JSON decoder message.
            .map_err(|e| {
                HarborError::validation(format!("parsing body body from \"\" failed, because {e}"))
            })
    }
}

/// Harbor decodes repository names a second time (`handler/util.go` unescapePathParams), so
/// `a%252Fb` and `a%2Fb` both arrive as `a/b`.
pub(crate) fn unescape_repository(name: &str) -> ApiResult<String> {
    percent_decode_str(name)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| HarborError::bad_request(format!("invalid repository name {name}")))
}

pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => HarborError::internal().into_response(),
    }
}

/// 200 with an empty body, as Harbor answers successful updates and deletes.
pub(crate) fn ok() -> Response {
    StatusCode::OK.into_response()
}

/// 201 with an empty body and a `Location`.
pub(crate) fn created(location: &str) -> Response {
    let mut response = StatusCode::CREATED.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// go-openapi's date-time format (RFC 3339, milliseconds, UTC).
pub(crate) fn time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
