//! ChartMuseum charts (`/api/chartrepo`, Harbor ≤ 2.7 only; OCI charts are repositories).

use reqwest::Method;

use super::client::{HarborClient, Request};
use super::error::Error;
use super::models::{ChartInfo, ChartVersion};
use super::paths::{self, CHARTREPO, segment};
use super::projects::Deleted;

impl HarborClient {
    /// Every ChartMuseum chart of a project (this API is not paginated).
    pub async fn list_charts(&self, project: &str) -> Result<Vec<ChartInfo>, Error> {
        let request = Request::new(
            Method::GET,
            "list_charts",
            format!("{CHARTREPO}/{}/charts", segment(project)),
            format!("list charts of project {project:?}"),
        );
        self.send(&request).await?.json(&request.operation)
    }

    /// Every version of one chart; an unknown chart is an empty list.
    pub async fn list_chart_versions(
        &self,
        project: &str,
        chart: &str,
    ) -> Result<Vec<ChartVersion>, Error> {
        let request = Request::new(
            Method::GET,
            "list_chart_versions",
            paths::chart(project, chart),
            format!("list versions of chart {chart:?} in project {project:?}"),
        );
        match self.send(&request).await {
            Ok(reply) => reply.json(&request.operation),
            Err(err) if err.is_not_found() => Ok(Vec::new()),
            Err(err) => Err(err),
        }
    }

    /// Deletes a chart with all its versions in one call.
    pub async fn delete_chart(&self, project: &str, chart: &str) -> Result<Deleted, Error> {
        let request = Request::new(
            Method::DELETE,
            "delete_chart",
            paths::chart(project, chart),
            format!("delete chart {chart:?} of project {project:?}"),
        );
        Deleted::from_result(self.send(&request).await.map(drop))
    }

    /// Deletes one version of a chart.
    pub async fn delete_chart_version(
        &self,
        project: &str,
        chart: &str,
        version: &str,
    ) -> Result<Deleted, Error> {
        let request = Request::new(
            Method::DELETE,
            "delete_chart_version",
            format!("{}/{}", paths::chart(project, chart), segment(version)),
            format!("delete version {version:?} of chart {chart:?} in project {project:?}"),
        );
        Deleted::from_result(self.send(&request).await.map(drop))
    }
}
