//! Errors from the Harbor client, classified so callers decide by kind, never by status code.

use std::error::Error as _;
use std::fmt;

/// What went wrong, in the terms a controller acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 404: the object is not there (on delete this usually means "done").
    NotFound,
    /// 409: the object already exists.
    Conflict,
    /// 412: Harbor refuses because of the object's state (e.g. a project that still holds repositories).
    Precondition,
    /// 401: Harbor did not accept the credentials.
    Unauthorized,
    /// 403: the account lacks permission, or the request was refused (CSRF, read-only mode).
    Forbidden,
    /// 400/405/415/422: the request itself is wrong; retrying cannot help.
    Invalid,
    /// Harbor's certificate could not be verified.
    Untrusted,
    /// Connection failures, timeouts, 5xx and 429: worth retrying later.
    Transient,
    /// A 2xx answer whose body could not be understood.
    Protocol,
}

impl ErrorKind {
    /// Classifies a non-success HTTP status.
    pub fn from_status(status: u16) -> Self {
        match status {
            404 => Self::NotFound,
            409 => Self::Conflict,
            412 => Self::Precondition,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            429 | 500..=599 => Self::Transient,
            _ => Self::Invalid,
        }
    }

    /// Stable, low-cardinality label for logs, metrics and status reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "NotFound",
            Self::Conflict => "Conflict",
            Self::Precondition => "Precondition",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::Invalid => "Invalid",
            Self::Untrusted => "Untrusted",
            Self::Transient => "Transient",
            Self::Protocol => "Protocol",
        }
    }

    /// What an operator should do about it.
    fn hint(self) -> &'static str {
        match self {
            Self::Unauthorized => {
                "check the Harbor username and the password file or HARBOR_BRIDGE_HARBOR_PASSWORD"
            }
            Self::Forbidden => {
                "the Harbor account lacks permission: use an admin or a system-level robot account, \
                 and never send cookies (they trigger Harbor's CSRF check)"
            }
            Self::Untrusted => {
                "set harbor.caFile to the PEM bundle of the CA that signed Harbor's certificate \
                 (for a Helm-installed Harbor: the ingress Secret's ca.crt)"
            }
            Self::Transient => "Harbor is unreachable or overloaded; it will be retried",
            Self::Invalid => "the request was rejected as invalid; this is a bug or a bad name",
            Self::Protocol => "Harbor answered in an unexpected shape; check the Harbor version",
            Self::NotFound | Self::Conflict | Self::Precondition => "",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed Harbor call: which operation, what kind of failure, and Harbor's own words.
///
/// Never holds credentials: requests authenticate with a header that is not kept here, and URLs
/// with user-info are refused at configuration time.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    /// The Harbor call, e.g. `delete project "t-image-a"`.
    pub operation: String,
    pub kind: ErrorKind,
    /// HTTP status, when Harbor answered.
    pub status: Option<u16>,
    /// Harbor's error message, or the transport error.
    pub message: String,
    #[source]
    source: Option<reqwest::Error>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Harbor {} failed: ", self.operation)?;
        match self.status {
            Some(status) => write!(f, "HTTP {status} ({}): {}", self.kind, self.message)?,
            None => write!(f, "{}: {}", self.kind, self.message)?,
        }
        match self.kind.hint() {
            "" => Ok(()),
            hint => write!(f, " ({hint})"),
        }
    }
}

impl Error {
    pub(crate) fn http(operation: &str, status: u16, message: String) -> Self {
        Self {
            operation: operation.to_owned(),
            kind: ErrorKind::from_status(status),
            status: Some(status),
            message,
            source: None,
        }
    }

    pub(crate) fn protocol(operation: &str, message: impl Into<String>) -> Self {
        Self {
            operation: operation.to_owned(),
            kind: ErrorKind::Protocol,
            status: None,
            message: message.into(),
            source: None,
        }
    }

    /// Classifies a transport-level failure: an untrusted certificate is not worth retrying,
    /// anything else (refused, reset, timed out) is.
    pub(crate) fn transport(operation: &str, err: reqwest::Error) -> Self {
        let (kind, message) = match certificate_problem(&err) {
            Some(problem) => (
                ErrorKind::Untrusted,
                format!("TLS certificate verification failed: {problem}"),
            ),
            None => (ErrorKind::Transient, describe_chain(&err)),
        };
        Self {
            operation: operation.to_owned(),
            kind,
            status: None,
            message,
            source: Some(err),
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }

    pub fn is_conflict(&self) -> bool {
        self.kind == ErrorKind::Conflict
    }

    /// Only connection errors, timeouts, 5xx and 429 are retried; other 4xx never are.
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Transient
    }

    /// True when the request may have reached Harbor but no answer came back.
    pub(crate) fn reply_lost(&self) -> bool {
        self.kind == ErrorKind::Transient && self.status.is_none()
    }
}

/// Finds a rustls certificate error anywhere in the chain. `io::Error` hides the error it wraps
/// from `source()` (and TLS errors arrive wrapped twice), so the walk steps into it explicitly.
fn certificate_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(rustls_error) = e.downcast_ref::<rustls::Error>() {
            return Some(match rustls_error {
                rustls::Error::InvalidCertificate(reason) => {
                    format!("Harbor's certificate is not trusted ({reason:?})")
                }
                other => other.to_string(),
            });
        }
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(wrapped) => Some(wrapped),
            None => e.source(),
        };
    }
    None
}

/// `reqwest` keeps the useful part ("connection refused") deep in the source chain.
fn describe_chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let cases = [
            (404, ErrorKind::NotFound),
            (409, ErrorKind::Conflict),
            (412, ErrorKind::Precondition),
            (401, ErrorKind::Unauthorized),
            (403, ErrorKind::Forbidden),
            (400, ErrorKind::Invalid),
            (422, ErrorKind::Invalid),
            (429, ErrorKind::Transient),
            (500, ErrorKind::Transient),
            (503, ErrorKind::Transient),
        ];
        for (status, kind) in cases {
            assert_eq!(ErrorKind::from_status(status), kind, "status {status}");
        }
    }

    #[test]
    fn only_transient_errors_are_retryable() {
        assert!(Error::http("op", 503, String::new()).is_retryable());
        assert!(Error::http("op", 429, String::new()).is_retryable());
        for status in [400, 401, 403, 404, 409, 412, 422] {
            assert!(
                !Error::http("op", status, String::new()).is_retryable(),
                "{status}"
            );
        }
    }

    #[test]
    fn display_names_operation_status_message_and_what_to_do() {
        let err = Error::http(
            "delete project \"t-image-a\"",
            412,
            "precondition failed: the project contains repositories, can not be deleted".into(),
        );
        let text = err.to_string();
        assert!(text.contains("delete project \"t-image-a\""), "{text}");
        assert!(text.contains("HTTP 412 (Precondition)"), "{text}");
        assert!(text.contains("contains repositories"), "{text}");
        let unauthorized = Error::http("create project", 401, "unauthorized".into()).to_string();
        assert!(unauthorized.contains("password file"), "{unauthorized}");
    }
}
