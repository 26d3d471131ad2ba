//! Repositories and artifacts (images and OCI charts) inside a project.

use reqwest::Method;

use super::client::{HarborClient, Request};
use super::error::Error;
use super::models::{Artifact, Repository};
use super::paths::{self, segment};
use super::projects::Deleted;

impl HarborClient {
    /// Every repository of a project, all pages. Names come back as `project/repo`.
    pub async fn list_repositories(&self, project: &str) -> Result<Vec<Repository>, Error> {
        self.list_all(Request::new(
            Method::GET,
            "list_repositories",
            format!("{}/repositories", paths::project(project)),
            format!("list repositories of project {project:?}"),
        ))
        .await
    }

    /// One repository, or `None` when Harbor has no such repository.
    pub async fn get_repository(
        &self,
        project: &str,
        repository: &str,
    ) -> Result<Option<Repository>, Error> {
        let request = Request::new(
            Method::GET,
            "get_repository",
            paths::repository(project, repository),
            format!("get repository {repository:?} of project {project:?}"),
        );
        match self.send(&request).await {
            Ok(reply) => reply.json(&request.operation).map(Some),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Deletes a repository with all its artifacts. `repository` is the name inside the project
    /// (`team/app`, not `proj/team/app`). 404 counts as done.
    pub async fn delete_repository(
        &self,
        project: &str,
        repository: &str,
    ) -> Result<Deleted, Error> {
        let request = Request::new(
            Method::DELETE,
            "delete_repository",
            paths::repository(project, repository),
            format!("delete repository {repository:?} of project {project:?}"),
        );
        Deleted::from_result(self.send(&request).await.map(drop))
    }

    /// Every artifact of a repository with its tags, all pages.
    pub async fn list_artifacts(
        &self,
        project: &str,
        repository: &str,
    ) -> Result<Vec<Artifact>, Error> {
        self.list_all(
            Request::new(
                Method::GET,
                "list_artifacts",
                format!("{}/artifacts", paths::repository(project, repository)),
                format!("list artifacts of repository {repository:?} in project {project:?}"),
            )
            .query("with_tag", "true"),
        )
        .await
    }

    /// Deletes an artifact by tag or `sha256:` digest. Harbor removes the whole artifact with
    /// every tag pointing at it; the repository itself stays, even when left empty.
    pub async fn delete_artifact(
        &self,
        project: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Deleted, Error> {
        let request = Request::new(
            Method::DELETE,
            "delete_artifact",
            format!(
                "{}/artifacts/{}",
                paths::repository(project, repository),
                segment(reference)
            ),
            format!(
                "delete artifact {reference:?} of repository {repository:?} in project {project:?}"
            ),
        );
        Deleted::from_result(self.send(&request).await.map(drop))
    }
}
