//! Project webhook policies, through which Harbor reports pushes and deletes to the daemon.

use reqwest::Method;

use super::client::{HarborClient, Request};
use super::error::Error;
use super::models::WebhookPolicy;
use super::paths;

impl HarborClient {
    /// Every webhook policy of a project, all pages.
    pub async fn list_webhook_policies(&self, project: &str) -> Result<Vec<WebhookPolicy>, Error> {
        self.list_all(
            Request::new(
                Method::GET,
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
}
