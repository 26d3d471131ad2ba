//! The controllers' error type. Refusals (bad names, conflicts) are not errors: they are
//! written to status and need a change to the resource; errors are retried.

use crate::harbor::{self, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Harbor(#[from] harbor::Error),

    #[error("Kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),

    #[error(transparent)]
    Finalizer(Box<kube::runtime::finalizer::Error<Error>>),

    #[error("Harbor still holds {what} in project {project} after emptying it; will try again")]
    NotEmpty { project: String, what: String },
}

impl Error {
    /// The condition reason (CamelCase, stable; also a metrics label).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Harbor(err) => match err.kind {
                ErrorKind::Transient => "HarborUnavailable",
                ErrorKind::Unauthorized => "HarborUnauthorized",
                ErrorKind::Forbidden => "HarborForbidden",
                ErrorKind::Untrusted => "HarborUntrusted",
                ErrorKind::Precondition => "HarborRefused",
                ErrorKind::Conflict => "HarborConflict",
                ErrorKind::NotFound => "HarborNotFound",
                ErrorKind::Invalid => "HarborRejected",
                ErrorKind::Protocol => "HarborProtocol",
            },
            Self::Kube(_) => "KubernetesError",
            Self::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.reason(),
                _ => "FinalizerError",
            },
            Self::NotEmpty { .. } => "ProjectNotEmpty",
        }
    }
}

impl From<kube::runtime::finalizer::Error<Error>> for Error {
    fn from(err: kube::runtime::finalizer::Error<Error>) -> Self {
        Self::Finalizer(Box::new(err))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_follow_the_harbor_error_kind() {
        let unavailable = Error::from(harbor::Error::http("delete project", 503, "down".into()));
        assert_eq!(unavailable.reason(), "HarborUnavailable");
        let wrapped = Error::from(kube::runtime::finalizer::Error::CleanupFailed(unavailable));
        assert_eq!(wrapped.reason(), "HarborUnavailable");
        let refused = Error::from(harbor::Error::http(
            "delete project",
            412,
            "not empty".into(),
        ));
        assert_eq!(refused.reason(), "HarborRefused");
    }
}
