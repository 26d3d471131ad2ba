//! Command line: `run`, `check`, `crds`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::{EnvSecrets, FileConfig, Overrides, Settings};
use crate::{check, daemon, resources, telemetry};

const ABOUT: &str = "Keeps Harbor in step with TKEStack-style registry resources in Kubernetes.";
const LONG_ABOUT: &str = "\
Keeps Harbor in step with TKEStack-style registry resources in Kubernetes.

Registry Namespaces and ChartGroups (group registry.tkestack.io/v1) become Harbor projects
<tenantID>-image-<name> and <tenantID>-chart-<name>; deleting them empties and deletes the project.

Settings come from a YAML file (--config; every key documented in config/harbor-bridge.yaml),
environment variables and flags; flags win. The Harbor password is read only from
--harbor-password-file or the HARBOR_BRIDGE_HARBOR_PASSWORD environment variable.

Start here:
  harbor-bridge crds | kubectl apply -f -        install the CustomResourceDefinitions
  harbor-bridge check --config my.yaml           verify Harbor, credentials, CA trust and CRDs
  harbor-bridge run --config my.yaml             run the daemon
  harbor-bridge run --embedded                   try it with no cluster and no Harbor";

#[derive(Debug, Parser)]
#[command(name = "harbor-bridge", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// YAML configuration file (see config/harbor-bridge.yaml)
    #[arg(long, short = 'c', env = "HARBOR_BRIDGE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon until SIGTERM or Ctrl-C
    Run(Target),
    /// Check Harbor (address, version, chart backend, credentials, CA trust) and the CRDs, then
    /// exit: 0 when all is well, 1 with one sentence per problem otherwise
    Check(Target),
    /// Print the CustomResourceDefinitions as YAML, for `kubectl apply -f -`
    Crds,
    /// Run the real daemon on the embedded Harbor emulator and API stand-in, play a short
    /// scenario (tenants, pushes, deletions) and print what happens on both sides
    #[cfg(feature = "embedded")]
    Demo {
        /// Harbor version the embedded emulator imitates
        #[arg(long, value_enum, default_value_t = EmbeddedHarbor::V2_8)]
        embedded_harbor: EmbeddedHarbor,
    },
}

/// Where the daemon finds Harbor and Kubernetes.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Use an in-process Harbor emulator (HTTPS with a generated CA) and Kubernetes API stand-in
    /// instead of a real Harbor and cluster. For trying harbor-bridge out; nothing leaves the process.
    #[arg(long)]
    pub embedded: bool,
    /// Harbor version the embedded emulator imitates
    #[arg(long, value_enum, default_value_t = EmbeddedHarbor::V2_8, requires = "embedded")]
    pub embedded_harbor: EmbeddedHarbor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EmbeddedHarbor {
    /// Harbor 2.7 with ChartMuseum
    #[value(name = "2.7")]
    V2_7,
    /// Harbor 2.8 and later: OCI charts only
    #[value(name = "2.8")]
    V2_8,
}

/// Parses the command line and runs it. Errors are printed as plain sentences.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let Cli {
        config,
        overrides,
        command,
    } = cli;
    match command {
        Command::Crds => {
            print!("{}", resources::crds_yaml());
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "embedded")]
        Command::Demo { embedded_harbor } => {
            let mut overrides = overrides;
            // Quiet logs and a quick resync, so the story is readable and short.
            overrides
                .log_level
                .get_or_insert_with(|| "error".to_owned());
            overrides
                .sync_resync_interval
                .get_or_insert(jiff::SignedDuration::from_secs(5));
            let target = Target {
                embedded: true,
                embedded_harbor,
            };
            let env = Environment::prepare(config, overrides, &target).await?;
            let kube = env.kube.map_err(anyhow::Error::msg)?;
            let embedded = env.embedded.context("the embedded stand-ins")?;
            crate::demo::run(&embedded, env.settings, kube).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(target) => {
            let env = Environment::prepare(config, overrides, &target).await?;
            let findings =
                check::probe(&env.settings.harbor, env.kube.clone(), &daemon::crd_names()).await;
            let report = findings.report();
            print!("{report}");
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Run(target) => {
            let env = Environment::prepare(config, overrides, &target).await?;
            run(env).await
        }
    }
}

/// Resolved settings plus connections, real or embedded.
struct Environment {
    settings: Settings,
    kube: Result<kube::Client, String>,
    #[cfg(feature = "embedded")]
    embedded: Option<crate::embedded::Embedded>,
}

impl Environment {
    async fn prepare(
        config: Option<PathBuf>,
        mut overrides: Overrides,
        target: &Target,
    ) -> anyhow::Result<Self> {
        let file = match &config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        if overrides.log_level.is_none() {
            overrides.log_level = std::env::var("RUST_LOG").ok();
        }
        #[cfg(feature = "embedded")]
        let embedded = if target.embedded {
            let embedded = crate::embedded::Embedded::start(target.embedded_harbor).await?;
            embedded.apply(&mut overrides);
            Some(embedded)
        } else {
            None
        };
        #[cfg(not(feature = "embedded"))]
        if target.embedded {
            anyhow::bail!("this build has no embedded mode; rebuild with the `embedded` feature");
        }
        let settings = Settings::resolve(file, overrides, EnvSecrets::from_process())?;
        telemetry::init(settings.log_format, &settings.log_level)?;
        #[cfg(feature = "embedded")]
        let kube = match &embedded {
            Some(embedded) => Ok(embedded.kube_client()?),
            None => connect_kube().await,
        };
        #[cfg(not(feature = "embedded"))]
        let kube = connect_kube().await;
        Ok(Self {
            settings,
            kube,
            #[cfg(feature = "embedded")]
            embedded,
        })
    }
}

async fn connect_kube() -> Result<kube::Client, String> {
    let config = kube::Config::infer().await.map_err(|e| {
        format!("no Kubernetes configuration found ({e}); set KUBECONFIG or run in a cluster")
    })?;
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

async fn run(env: Environment) -> anyhow::Result<ExitCode> {
    let kube = env
        .kube
        .map_err(anyhow::Error::msg)
        .context("connecting to Kubernetes")?;
    daemon::run(env.settings, kube, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the daemon");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing the reconciles in flight");
}
