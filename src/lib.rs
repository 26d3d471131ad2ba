//! harbor-bridge: keeps Harbor in step with TKEStack-style registry resources held in Kubernetes.
//!
//! - [`harbor`]: the Harbor REST client (TLS trust, retries, limits, paging, classified errors)
//!   and Harbor's webhook payloads.
//! - [`resources`]: the `registry.tkestack.io/v1` custom resources and Harbor name rules.
//! - [`sync`]: the controllers, with their pure decisions in [`sync::plan`].
//! - [`server`]: the HTTP server (Harbor webhook receiver, health and metrics endpoints).
//! - [`metrics`]: Prometheus metrics and the readiness signals.
//! - [`daemon`]: the main job that ties them together; [`config`], [`check`], [`cli`] around it.

pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
#[cfg(feature = "embedded")]
pub mod demo;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod harbor;
pub mod leader;
pub mod metrics;
pub mod resources;
pub mod server;
pub mod sync;
pub mod telemetry;
