//! What wraps every request: request id, `sid` cookie, CSRF, authentication, fault injection
//! and the call log; plus the per-route content negotiation and Harbor's 404/405 answers.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::Shared;
use crate::auth::Principal;
use crate::error::HarborError;
use crate::faults::{Decision, InjectedFault};
use crate::lock;
use crate::server::ConnHandle;

/// One request as the emulator saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// The path exactly as received, still percent-encoded.
    pub raw_path: String,
    pub query: Option<String>,
    /// The status the emulator produced; `None` when the connection was dropped unanswered.
    /// With [`InjectedFault::LostReply`] and [`InjectedFault::TimedOut`] the client never saw it.
    pub status: Option<u16>,
    /// The spec-style template that matched, e.g. `/api/v2.0/projects/{project_name_or_id}`.
    pub route: Option<String>,
    /// Whether the request carried a `sid` cookie.
    pub had_cookie: bool,
    /// The `X-Is-Resource-Name` header, if sent.
    pub x_is_resource_name: Option<String>,
    /// The authenticated user; `None` for anonymous.
    pub username: Option<String>,
    pub request_id: String,
    pub fault: Option<InjectedFault>,
}

/// Per-request facts the handlers need.
#[derive(Debug, Clone)]
pub(crate) struct RequestInfo {
    pub principal: Principal,
    pub request_id: String,
}

/// The matched route template, handed from the route layer to the outer layer.
#[derive(Debug, Clone)]
struct RouteTemplate(String);

fn has_sid_cookie(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim().starts_with("sid="))
}

fn is_unsafe(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::DELETE | Method::PATCH
    )
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", fastrand::u8(..)))
        .collect()
}

/// The answer to an injected status: Harbor's JSON for 500/429, a proxy page for 502/503.
fn fault_response(status: u16) -> Response {
    let proxy_page = |status: StatusCode| {
        // guess: an nginx-style page, as Harbor's bundled proxy would answer.
        let reason = status.canonical_reason().unwrap_or("Error");
        let code = status.as_u16();
        let body = format!(
            "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        );
        (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
    };
    match StatusCode::from_u16(status) {
        Ok(StatusCode::TOO_MANY_REQUESTS) => HarborError::too_many_requests().into_response(),
        Ok(
            s @ (StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT),
        ) => proxy_page(s),
        Ok(s) if s.is_server_error() || s.is_client_error() => {
            // guess: other injected statuses reuse Harbor's envelope with 500's masking rule.
            let mut error = HarborError::internal();
            error.status = s;
            error.into_response()
        }
        _ => HarborError::internal().into_response(),
    }
}

/// The outermost layer: everything Harbor (and its proxy) do around a handler.
pub(crate) async fn harbor_layer(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let raw_path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let headers = request.headers();
    let had_cookie = has_sid_cookie(headers);
    let x_is_resource_name = headers
        .get("x-is-resource-name")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map_or_else(|| random_hex(16), str::to_owned);
    let principal = Principal::from_headers(headers, &shared.config);
    let conn = request.extensions().get::<ConnHandle>().cloned();
    let kill = || conn.iter().for_each(ConnHandle::kill);

    let latency = shared.faults.current_latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let decision = shared.faults.decide(&method, &raw_path);
    request.extensions_mut().insert(RequestInfo {
        principal: principal.clone(),
        request_id: request_id.clone(),
    });
    let (mut response, fault) = match decision {
        Some(Decision::Drop) => {
            kill();
            (
                StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                Some(InjectedFault::Dropped),
            )
        }
        Some(Decision::Fail(status)) => {
            (fault_response(status), Some(InjectedFault::Status(status)))
        }
        Some(Decision::LoseReply | Decision::Timeout(_)) | None => {
            // gorilla/csrf is skipped for /api/ paths only when no `sid` cookie is present.
            let response = if is_unsafe(&method) && had_cookie {
                HarborError::forbidden_with("CSRF token invalid").into_response()
            } else {
                next.run(request).await
            };
            match decision {
                Some(Decision::LoseReply) => {
                    kill();
                    (response, Some(InjectedFault::LostReply))
                }
                // Held and killed below, once the call is logged.
                Some(Decision::Timeout(_)) => (response, Some(InjectedFault::TimedOut)),
                _ => (response, None),
            }
        }
    };

    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", value);
    }
    let cookie = format!("sid={}; Path=/; HttpOnly", random_hex(16));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.append(header::SET_COOKIE, value);
    }
    let call = Call {
        method,
        raw_path,
        query,
        status: (fault != Some(InjectedFault::Dropped)).then(|| response.status().as_u16()),
        route: response
            .extensions()
            .get::<RouteTemplate>()
            .map(|r| r.0.clone()),
        had_cookie,
        x_is_resource_name,
        username: principal.username().map(str::to_owned),
        request_id,
        fault,
    };
    lock(&shared.calls).push(call);
    if let Some(Decision::Timeout(hold)) = decision {
        // The client gives up first; if it waits longer, it still gets no reply.
        tokio::time::sleep(hold).await;
        kill();
    }
    response
}

/// Media type a route produces, for go-openapi's content negotiation; `None` = not checked
/// (legacy beego endpoints).
fn produces(template: &str) -> Option<&'static str> {
    if template == "/api/v2.0/ping" {
        Some("text/plain")
    } else if template.starts_with("/api/v2.0/") {
        Some("application/json")
    } else {
        None
    }
}

fn accepts(headers: &HeaderMap, offer: &str) -> bool {
    let (kind, _) = offer.split_once('/').unwrap_or((offer, ""));
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.split(';').next().unwrap_or_default().trim())
        .filter(|v| !v.is_empty())
        .collect();
    values.is_empty()
        || values
            .iter()
            .any(|v| *v == "*/*" || *v == offer || *v == format!("{kind}/*"))
}

/// Runs on matched routes only: records the template and checks `Accept`.
pub(crate) async fn route_layer(matched: MatchedPath, request: Request, next: Next) -> Response {
    let template = matched.as_str().to_owned();
    let mut response = match produces(&template) {
        Some(offer) if !accepts(request.headers(), offer) => {
            HarborError::unacceptable(offer).into_response()
        }
        _ => next.run(request).await,
    };
    response.extensions_mut().insert(RouteTemplate(template));
    response
}

/// Unknown route.
// guess: go-openapi's NotFound wording inside Harbor's envelope.
pub(crate) async fn not_found(request: Request) -> Response {
    HarborError::not_found(format!("path {} was not found", request.uri().path())).into_response()
}

/// Known path, wrong method.
// guess: go-openapi's MethodNotAllowed wording inside Harbor's envelope.
pub(crate) async fn method_not_allowed(request: Request) -> Response {
    HarborError::method_not_allowed(format!("method {} is not allowed", request.method()))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn content_negotiation() {
        assert!(accepts(&HeaderMap::new(), "text/plain"));
        assert!(accepts(&accept("*/*"), "text/plain"));
        assert!(accepts(&accept("text/*;q=0.5"), "text/plain"));
        assert!(!accepts(&accept("application/json"), "text/plain"));
        assert!(accepts(
            &accept("application/json, text/plain"),
            "text/plain"
        ));
    }

    #[test]
    fn sid_cookie_detection() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=b; sid=xyz"));
        assert!(has_sid_cookie(&headers));
        headers.insert(header::COOKIE, HeaderValue::from_static("sidx=1"));
        assert!(!has_sid_cookie(&headers));
    }

    #[test]
    fn fault_bodies() {
        assert_eq!(
            fault_response(503).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            fault_response(429).headers()[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
    }
}
