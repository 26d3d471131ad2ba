//! Projects, always addressed by exact name (`X-Is-Resource-Name: true`), never by fuzzy search.

use reqwest::Method;
use serde_json::json;

use super::client::{HarborClient, Request};
use super::error::Error;
use super::models::{Deletable, Project};
use super::paths::{self, API};

/// How a create ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    /// Harbor answered 201.
    Created { id: Option<i64> },
    /// The first reply was lost, a retry got 409, and reading the project found it: this call's
    /// own earlier attempt created it.
    SettledAfterLostReply { id: i64 },
}

/// How a delete ended. Both mean the object is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    AlreadyGone,
}

impl Deleted {
    pub(crate) fn from_result(result: Result<(), Error>) -> Result<Self, Error> {
        match result {
            Ok(()) => Ok(Self::Deleted),
            Err(err) if err.is_not_found() => Ok(Self::AlreadyGone),
            Err(err) => Err(err),
        }
    }
}

fn public_metadata(public: bool) -> serde_json::Value {
    json!({ "public": if public { "true" } else { "false" } })
}

impl HarborClient {
    /// The project named exactly `name`, or `None` when Harbor has no such project.
    pub async fn get_project(&self, name: &str) -> Result<Option<Project>, Error> {
        let request = Request::new(
            Method::GET,
            "get_project",
            paths::project(name),
            format!("get project {name:?}"),
        )
        .by_name();
        match self.send(&request).await {
            Ok(reply) => reply.json(&request.operation).map(Some),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `HEAD /projects?project_name=`: exact existence check that needs no project permission.
    pub async fn project_exists(&self, name: &str) -> Result<bool, Error> {
        let request = Request::new(
            Method::HEAD,
            "project_exists",
            format!("{API}/projects"),
            format!("check project {name:?}"),
        )
        .query("project_name", name);
        match self.send(&request).await {
            Ok(_) => Ok(true),
            Err(err) if err.is_not_found() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Creates a project with the given visibility. A 409 is returned as a `Conflict` error unless
    /// an earlier attempt of this same call may have created it (its reply was lost), in which
    /// case the project is read back and reported as created.
    pub async fn create_project(&self, name: &str, public: bool) -> Result<Created, Error> {
        let request = Request::new(
            Method::POST,
            "create_project",
            format!("{API}/projects"),
            format!("create project {name:?}"),
        )
        .json(json!({ "project_name": name, "metadata": public_metadata(public) }));
        let outcome = self.send_tracking_lost_replies(&request).await;
        match outcome.result {
            Ok(reply) => Ok(Created::Created {
                id: id_from_location(&reply.headers),
            }),
            Err(err) if err.is_conflict() && outcome.earlier_reply_lost => {
                match self.get_project(name).await? {
                    Some(project) => Ok(Created::SettledAfterLostReply {
                        id: project.project_id,
                    }),
                    None => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }

    /// Sets `metadata.public`; Harbor upserts metadata keys and leaves the others alone.
    pub async fn set_project_public(&self, name: &str, public: bool) -> Result<(), Error> {
        let request = Request::new(
            Method::PUT,
            "update_project",
            paths::project(name),
            format!("update visibility of project {name:?}"),
        )
        .by_name()
        .json(json!({ "metadata": public_metadata(public) }));
        self.send(&request).await.map(drop)
    }

    /// Whether Harbor would delete the project now (it refuses while repositories or charts remain).
    pub async fn project_deletable(&self, name: &str) -> Result<Deletable, Error> {
        let request = Request::new(
            Method::GET,
            "get_project_deletable",
            format!("{}/_deletable", paths::project(name)),
            format!("check whether project {name:?} can be deleted"),
        )
        .by_name();
        self.send(&request).await?.json(&request.operation)
    }

    /// Deletes an empty project. 404 counts as done; 412 (not empty) is a `Precondition` error.
    pub async fn delete_project(&self, name: &str) -> Result<Deleted, Error> {
        let request = Request::new(
            Method::DELETE,
            "delete_project",
            paths::project(name),
            format!("delete project {name:?}"),
        )
        .by_name();
        Deleted::from_result(self.send(&request).await.map(drop))
    }

    /// Every project the account can see, all pages.
    pub async fn list_projects(&self) -> Result<Vec<Project>, Error> {
        self.list_all(Request::new(
            Method::GET,
            "list_projects",
            format!("{API}/projects"),
            "list projects".into(),
        ))
        .await
    }
}

/// The id at the end of `Location: /api/v2.0/projects/<id>`, if Harbor sent one.
fn id_from_location(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let location = headers.get(reqwest::header::LOCATION)?.to_str().ok()?;
    location.rsplit('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, LOCATION};

    #[test]
    fn project_id_is_read_from_location() {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_static("/api/v2.0/projects/42"));
        assert_eq!(id_from_location(&headers), Some(42));
        headers.insert(
            LOCATION,
            HeaderValue::from_static("/api/v2.0/projects/by-name"),
        );
        assert_eq!(id_from_location(&headers), None);
    }

    #[test]
    fn not_found_on_delete_counts_as_gone() {
        assert_eq!(
            Deleted::from_result(Err(Error::http("delete", 404, String::new()))).unwrap(),
            Deleted::AlreadyGone
        );
        assert!(Deleted::from_result(Err(Error::http("delete", 412, String::new()))).is_err());
    }
}
