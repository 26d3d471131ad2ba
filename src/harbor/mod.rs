//! Harbor REST client: TLS trust, basic auth without cookies, timeouts, retries, request limits,
//! pagination, name encoding, classified errors, and the operations the daemon needs.

mod charts;
mod client;
mod error;
pub mod events;
mod models;
mod paths;
mod projects;
mod repositories;
pub mod rotation;
mod system;
mod tls;
mod webhooks;

pub use client::{BuildError, ClientOptions, HarborClient, PAGE_SIZE, RetryOptions};
pub use error::{Error, ErrorKind};
pub use models::{
    Artifact, ChartBackend, ChartInfo, ChartVersion, Deletable, Health, HealthComponent, Project,
    ProjectMetadata, Repository, SystemInfo, Tag, WebhookPolicy, WebhookTarget,
};
pub use projects::{Created, Deleted};
pub use tls::{ClientIdentityFiles, TlsError, TlsOptions, provider as crypto_provider};
