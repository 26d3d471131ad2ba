//! The real `harbor-bridge run` binary as a child process, against the test's Harbor and API
//! stand-in: for signals, leader election between replicas, and anything else a process shows.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::{Harbor, PASSWORD, Platform};

/// A running daemon process; killed if the test drops it.
pub struct DaemonProcess {
    pub child: Child,
    /// `http://127.0.0.1:PORT`: `/healthz`, `/readyz`, `/metrics`.
    pub base_url: String,
    pub identity: String,
}

/// Fast loops and a short lease, so tests see resyncs and takeovers within seconds.
pub const FAST_CONFIG: &str = "\
sync:
  resyncInterval: 2s
  retryInterval: 200ms
leaderElection:
  leaseDuration: 2s
  renewDeadline: 1500ms
  renewInterval: 300ms
";

/// Writes a kubeconfig for the stand-in next to the emulator's files.
pub fn kubeconfig(harbor: &Harbor, platform: &Platform) -> PathBuf {
    let path = harbor.dir().join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster:\n    server: {}\nusers:\n- name: s\n  user: {{}}\n\
             contexts:\n- name: s\n  context:\n    cluster: s\n    user: s\ncurrent-context: s\n",
            platform.api.url()
        ),
    )
    .unwrap();
    path
}

impl DaemonProcess {
    /// Starts `harbor-bridge run` as pod `identity` with the configuration file `config` (YAML)
    /// and waits until it serves `/healthz`.
    pub async fn start(harbor: &Harbor, platform: &Platform, identity: &str, config: &str) -> Self {
        let config_file = harbor.dir().join(format!("{identity}.yaml"));
        std::fs::write(&config_file, config).unwrap();
        let listen = super::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_harbor-bridge"))
            .arg("run")
            .arg("--config")
            .arg(&config_file)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("KUBECONFIG", kubeconfig(harbor, platform))
            .env("POD_NAME", identity)
            .env("HARBOR_BRIDGE_HARBOR_URL", harbor.emulator.base_url())
            .env("HARBOR_BRIDGE_HARBOR_CA_FILE", &harbor.ca_file)
            .env("HARBOR_BRIDGE_HARBOR_PASSWORD", PASSWORD)
            .env("HARBOR_BRIDGE_SERVER_LISTEN", listen.to_string())
            .kill_on_drop(true)
            .spawn()
            .expect("the daemon starts");
        let process = Self {
            child,
            base_url: format!("http://{listen}"),
            identity: identity.to_owned(),
        };
        super::eventually(
            &format!("{identity} to serve /healthz"),
            Duration::from_secs(20),
            || async { process.get("/healthz").await.map(drop) },
        )
        .await;
        process
    }

    pub async fn get(&self, path: &str) -> Result<String, String> {
        let response = reqwest::get(format!("{}{path}", self.base_url))
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.text().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!("{status}: {body}"))
        }
    }

    /// Every sample on `/metrics`, by series (`name{labels}`).
    pub async fn metrics(&self) -> Result<BTreeMap<String, f64>, String> {
        let text = self.get("/metrics").await?;
        Ok(text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                Some((series.to_owned(), value.parse().ok()?))
            })
            .collect())
    }

    /// Sends `signal` (e.g. `-TERM`, `-KILL`) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Sends SIGTERM and waits for the exit; fails the test if it takes longer than `bound`.
    pub async fn terminate(mut self, bound: Duration) -> (std::process::ExitStatus, Duration) {
        let started = std::time::Instant::now();
        self.signal("-TERM");
        let status = tokio::time::timeout(bound, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} still running {bound:?} after SIGTERM", self.identity))
            .unwrap();
        (status, started.elapsed())
    }
}
