//! Project webhook policies, through which Harbor reports pushes and deletes to the daemon.

use reqwest::Method;

use super::client::{HarborClient, Request};
use super::error::Error;
use super::models::WebhookPolicy;
use super::paths;
use super::projects::Deleted;

impl HarborClient {
    /// Every webhook policy of a project, all pages.
    pub async fn list_webhook_policies(&self, project: &str) -> Result<Vec<WebhookPolicy>, Error> {
        self.list_all(
            Request::new(
                Method::GET,
                "list_webhook_policies",
                format!("{}/webhook/policies", paths::project(project)),
                format!("list webhook policies of project {project:?}"),
            )
            .by_name(),
        )
        .await
    }

    /// Creates a webhook policy. A policy of the same name gives a `Conflict` error.
    pub async fn create_webhook_policy(
        &self,
        project: &str,
        policy: &WebhookPolicy,
    ) -> Result<(), Error> {
        let body = serde_json::to_value(policy)
            .map_err(|e| Error::protocol("create webhook policy", e.to_string()))?;
        let request = Request::new(
            Method::POST,
            "create_webhook_policy",
            format!("{}/webhook/policies", paths::project(project)),
            format!(
                "create webhook policy {:?} in project {project:?}",
                policy.name
            ),
        )
        .by_name()
        .json(body);
        self.send(&request).await.map(drop)
    }

    /// Deletes a webhook policy. Harbor keeps a deleted project's policies as orphans, so the
    /// daemon removes its own before deleting a project.
    pub async fn delete_webhook_policy(&self, project: &str, id: i64) -> Result<Deleted, Error> {
        let request = Request::new(
            Method::DELETE,
            "delete_webhook_policy",
            format!("{}/webhook/policies/{id}", paths::project(project)),
            format!("delete webhook policy {id} of project {project:?}"),
        )
        .by_name();
        Deleted::from_result(self.send(&request).await.map(drop))
    }
}
