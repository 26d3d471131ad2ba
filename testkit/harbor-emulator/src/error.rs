//! Harbor's error envelope: `{"errors":[{"code":"...","message":"..."}]}` plus a trailing newline
//! (`v2.7.0:src/lib/http/error.go` SendError).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API error exactly as Harbor's core renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarborError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl HarborError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// Harbor's default message is just "unauthorized" (`errors.UnauthorizedError(nil)`).
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "unauthorized")
    }

    pub fn forbidden() -> Self {
        Self::forbidden_with("forbidden")
    }

    pub fn forbidden_with(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            message,
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    /// `precondition failed: <cause>`, Harbor's default message joined with the cause.
    pub fn precondition(cause: &str) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION",
            format!("precondition failed: {cause}"),
        )
    }

    /// go-openapi bind/validation failure (`CompositeValidationError`, code 422).
    pub fn validation(detail: impl AsRef<str>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNPROCESSABLE_ENTITY",
            format!("validation failure list:\n{}", detail.as_ref()),
        )
    }

    /// go-openapi content negotiation failure; observed as 422 on v2.7.0.
    pub fn unacceptable(offers: &str) -> Self {
        // guess: message text is go-openapi's InvalidResponseFormat wording.
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNPROCESSABLE_ENTITY",
            format!("unsupported media type requested, only [{offers}] are available"),
        )
    }

    /// Code 500 always carries this message: Harbor hides the cause.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            "internal server error",
        )
    }

    pub fn too_many_requests() -> Self {
        // guess: message; the code is HEAD's TOO_MANY_REQUEST.
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUEST",
            "too many requests",
        )
    }

    /// The JSON body, with Harbor's trailing newline.
    pub fn body(&self) -> String {
        let body = json!({"errors": [{"code": self.code, "message": self.message}]});
        format!("{body}\n")
    }
}

impl std::fmt::Display for HarborError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for HarborError {}

impl IntoResponse for HarborError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        response
    }
}

pub type ApiResult<T> = Result<T, HarborError>;
