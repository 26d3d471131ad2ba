//! Version, chart backend, liveness and a credentials check that really checks.

use reqwest::Method;

use super::client::{HarborClient, Request};
use super::error::Error;
use super::models::{Health, SystemInfo};
use super::paths::API;

impl HarborClient {
    /// `GET /systeminfo`, authenticated so that `with_chartmuseum` (and, since 2.13, the version)
    /// are included.
    pub async fn system_info(&self) -> Result<SystemInfo, Error> {
        let request = Request::new(
            Method::GET,
            "get_system_info",
            format!("{API}/systeminfo"),
            "read system info".into(),
        );
        self.send(&request).await?.json(&request.operation)
    }

    /// `GET /ping`: Harbor core answers without auth. It insists on `text/plain` (422 for JSON).
    pub async fn ping(&self) -> Result<(), Error> {
        let request = Request::new(Method::GET, "ping", format!("{API}/ping"), "ping".into())
            .accept("text/plain");
        self.send(&request).await.map(drop)
    }

    /// `GET /health`; 200 even when a component is down, so callers read `status`.
    pub async fn health(&self) -> Result<Health, Error> {
        let request = Request::new(
            Method::GET,
            "get_health",
            format!("{API}/health"),
            "read health".into(),
        );
        self.send(&request).await?.json(&request.operation)
    }

    /// Harbor treats bad credentials as anonymous and still answers most reads, so this asks for
    /// the caller's own permissions, which anonymous callers are refused (401).
    pub async fn verify_credentials(&self) -> Result<(), Error> {
        let request = Request::new(
            Method::GET,
            "verify_credentials",
            format!("{API}/users/current/permissions"),
            format!("verify credentials of {:?}", self.username()),
        );
        self.send(&request).await.map(drop)
    }
}
