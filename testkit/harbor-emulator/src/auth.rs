//! Who is calling, and Harbor's project permission outcome (401 anonymous, 403 user, 404 admin).

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::EmulatorConfig;
use crate::error::{ApiResult, HarborError};
use crate::state::{Project, ProjectRef, State};

/// The security context of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The sysadmin.
    Admin(String),
    /// The optional non-admin user.
    User(String),
    /// No or wrong credentials: Harbor never rejects those by itself.
    Anonymous,
}

impl Principal {
    /// Basic auth against the configured accounts; anything else is anonymous.
    pub fn from_headers(headers: &HeaderMap, config: &EmulatorConfig) -> Self {
        let Some((username, password)) = basic_credentials(headers) else {
            return Self::Anonymous;
        };
        if username == config.admin_username && password == config.admin_password {
            return Self::Admin(username);
        }
        match &config.user {
            Some(user) if user.username == username && user.password == password => {
                Self::User(username)
            }
            _ => Self::Anonymous,
        }
    }

    pub fn username(&self) -> Option<&str> {
        match self {
            Self::Admin(name) | Self::User(name) => Some(name),
            Self::Anonymous => None,
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Self::Admin(_))
    }

    /// `RequireAuthenticated`: 401 for anonymous.
    pub fn require_authenticated(&self) -> ApiResult<&str> {
        self.username().ok_or_else(HarborError::unauthorized)
    }

    /// `RequireSystemAccess`: 401 anonymous, 403 for non-admins.
    pub fn require_admin(&self) -> ApiResult<()> {
        match self {
            Self::Admin(_) => Ok(()),
            Self::User(_) => Err(HarborError::forbidden()),
            Self::Anonymous => Err(HarborError::unauthorized()),
        }
    }

    /// Operator name in webhook payloads.
    pub fn operator(&self) -> &str {
        self.username().unwrap_or("anonymous")
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// What a request wants to do with a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The project, if the principal may act on it; otherwise the error Harbor gives.
/// A public project is readable by everyone; a user may write to projects they own.
pub fn project_access<'s>(
    state: &'s State,
    principal: &Principal,
    by: ProjectRef<'_>,
    access: Access,
) -> ApiResult<&'s Project> {
    let project = state.project(by);
    let readable = |p: &Project| access == Access::Read && p.is_public();
    match (principal, project) {
        (Principal::Admin(_), Some(p)) => Ok(p),
        (Principal::Admin(_), None) => {
            Err(HarborError::not_found(format!("project {by} not found")))
        }
        (Principal::User(name), Some(p)) if p.owner_name == *name || readable(p) => Ok(p),
        // A missing project resolves to an empty namespace: 403, not 404 (`handler/base.go`).
        (Principal::User(_), _) => Err(HarborError::forbidden()),
        (Principal::Anonymous, Some(p)) if readable(p) => Ok(p),
        (Principal::Anonymous, _) => Err(HarborError::unauthorized()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Profile, UserAccount};
    use axum::http::HeaderValue;

    fn headers(user: &str, password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&value).unwrap(),
        );
        headers
    }

    #[test]
    fn wrong_credentials_are_anonymous() {
        let config = EmulatorConfig {
            user: Some(UserAccount::new("dev", "pw")),
            ..EmulatorConfig::default()
        };
        let admin = Principal::from_headers(&headers("admin", "Harbor12345"), &config);
        assert_eq!(admin, Principal::Admin("admin".into()));
        let user = Principal::from_headers(&headers("dev", "pw"), &config);
        assert_eq!(user, Principal::User("dev".into()));
        let wrong = Principal::from_headers(&headers("admin", "nope"), &config);
        assert_eq!(wrong, Principal::Anonymous);
        assert_eq!(
            Principal::from_headers(&HeaderMap::new(), &config),
            Principal::Anonymous
        );
    }

    #[test]
    fn access_outcomes() {
        let mut state = State::new(Profile::Harbor28);
        let private = std::collections::BTreeMap::new();
        state.create_project("priv", private, 1, "admin").unwrap();
        let public = [("public".to_owned(), "true".to_owned())].into();
        state.create_project("pub", public, 1, "admin").unwrap();
        let status = |who: &Principal, name, access| {
            project_access(&state, who, ProjectRef::Name(name), access)
                .err()
                .map(|e| e.status.as_u16())
        };
        let admin = Principal::Admin("admin".into());
        let user = Principal::User("dev".into());
        let anon = Principal::Anonymous;
        assert_eq!(status(&admin, "missing", Access::Read), Some(404));
        assert_eq!(status(&user, "missing", Access::Read), Some(403));
        assert_eq!(status(&anon, "missing", Access::Read), Some(401));
        assert_eq!(status(&anon, "pub", Access::Read), None);
        assert_eq!(status(&anon, "pub", Access::Write), Some(401));
        assert_eq!(status(&anon, "priv", Access::Read), Some(401));
        assert_eq!(status(&user, "pub", Access::Read), None);
        assert_eq!(status(&user, "pub", Access::Write), Some(403));
        assert_eq!(status(&admin, "priv", Access::Write), None);
    }
}
