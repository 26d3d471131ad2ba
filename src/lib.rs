//! harbor-bridge: keeps Harbor in step with TKEStack-style registry resources held in Kubernetes.
//!
//! - [`harbor`]: the Harbor REST client (TLS trust, retries, limits, paging, classified errors).
//! - [`resources`]: the `registry.tkestack.io/v1` custom resources and Harbor name rules.
//! - [`config`]: settings from file, environment and flags.
//! - [`check`], [`cli`]: the `check` command and the command line.

pub mod check;
pub mod cli;
pub mod config;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod harbor;
pub mod resources;
pub mod server;
pub mod sync;
pub mod telemetry;
