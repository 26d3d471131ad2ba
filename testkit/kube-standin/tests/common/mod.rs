//! Shared fixtures: a server with a kube client, and the custom resources the tests use.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, CustomResource, CustomResourceExt};
use kube_standin::ApiServer;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub type TestResult = anyhow::Result<()>;

/// A namespaced custom resource with a status subresource.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "registry.tkestack.io",
    version = "v1",
    kind = "Repository",
    namespaced,
    status = "RepositoryStatus"
)]
pub struct RepositorySpec {
    pub name: String,
    #[serde(default)]
    pub size: u32,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct RepositoryStatus {
    pub phase: String,
}

/// A cluster-scoped custom resource whose plural collides with core namespaces.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "registry.tkestack.io",
    version = "v1",
    kind = "Namespace",
    status = "NamespaceStatus"
)]
pub struct NamespaceSpec {
    pub display_name: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct NamespaceStatus {
    pub ready: bool,
}

pub async fn server() -> anyhow::Result<(ApiServer, Client)> {
    let server = ApiServer::start().await?;
    let client = Client::try_from(kube::Config::new(server.url().parse()?))?;
    Ok((server, client))
}

/// Installs a CRD through the API and waits until it is established, as the daemon will.
pub async fn install<K: CustomResourceExt>(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = K::crd();
    let name = crd.metadata.name.clone().unwrap_or_default();
    crds.create(&PostParams::default(), &crd).await?;
    tokio::time::timeout(
        Duration::from_secs(5),
        await_condition(crds, &name, conditions::is_crd_established()),
    )
    .await??;
    Ok(())
}

pub async fn server_with_crds() -> anyhow::Result<(ApiServer, Client)> {
    let (server, client) = server().await?;
    install::<Repository>(&client).await?;
    install::<Namespace>(&client).await?;
    Ok((server, client))
}

pub fn repository(name: &str, size: u32) -> Repository {
    Repository::new(
        name,
        RepositorySpec {
            name: name.to_owned(),
            size,
        },
    )
}

/// Polls `check` until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The API error code of a kube result, for asserting on failures.
pub fn code<T: std::fmt::Debug>(result: kube::Result<T>) -> Option<u16> {
    match result {
        Err(kube::Error::Api(status)) => Some(status.code),
        _ => None,
    }
}

pub fn reason<T: std::fmt::Debug>(result: kube::Result<T>) -> Option<String> {
    match result {
        Err(kube::Error::Api(status)) => Some(status.reason.clone()),
        _ => None,
    }
}
