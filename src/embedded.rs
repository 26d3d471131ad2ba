//! `--embedded`: an in-process Harbor emulator (HTTPS, with a CA generated for the run) and a
//! Kubernetes API stand-in, so the daemon can be tried with no cluster and no Harbor.
//! Test support, not part of a production deployment (build with `--no-default-features`).

use std::path::PathBuf;

use anyhow::Context as _;
use harbor_emulator::pki::TestCa;
use harbor_emulator::{Emulator, EmulatorConfig, Profile};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube_standin::ApiServer;

use crate::cli::EmbeddedHarbor;
use crate::config::Overrides;
use crate::resources;

const USERNAME: &str = "admin";
const PASSWORD: &str = "Harbor12345";
const WEBHOOK_SECRET: &str = "embedded-webhook-secret";

/// The running stand-ins and the files (CA bundle, password) the daemon reads to reach them.
pub struct Embedded {
    pub harbor: Emulator,
    pub api: ApiServer,
    /// Where the daemon's webhook receiver listens, so the emulator can post to it.
    pub webhook_address: std::net::SocketAddr,
    dir: PathBuf,
}

impl Embedded {
    /// Starts both stand-ins and installs the CRDs, as an operator would on a real cluster.
    pub async fn start(version: EmbeddedHarbor) -> anyhow::Result<Self> {
        let profile = match version {
            EmbeddedHarbor::V2_7 => Profile::Harbor27,
            EmbeddedHarbor::V2_8 => Profile::Harbor28,
        };
        let ca =
            TestCa::generate("harbor-bridge embedded CA").context("generating the embedded CA")?;
        let harbor = Emulator::start(EmulatorConfig {
            profile,
            admin_username: USERNAME.into(),
            admin_password: PASSWORD.into(),
            tls: Some(
                ca.issue_server(&["127.0.0.1", "localhost"])
                    .context("issuing the emulator certificate")?,
            ),
            ..EmulatorConfig::default()
        })
        .await
        .context("starting the embedded Harbor emulator")?;
        let dir =
            std::env::temp_dir().join(format!("harbor-bridge-embedded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("ca.crt"), ca.cert_pem()).context("writing the embedded CA")?;
        std::fs::write(dir.join("password"), PASSWORD).context("writing the embedded password")?;
        std::fs::write(dir.join("webhook-secret"), WEBHOOK_SECRET)
            .context("writing the webhook secret")?;
        let webhook_address = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|probe| probe.local_addr())
            .context("finding a free port for the webhook receiver")?;
        let api = ApiServer::start()
            .await
            .context("starting the embedded Kubernetes API stand-in")?;
        let embedded = Self {
            harbor,
            api,
            webhook_address,
            dir,
        };
        let crds: Api<CustomResourceDefinition> = Api::all(embedded.kube_client()?);
        for crd in resources::crds() {
            crds.create(&PostParams::default(), &crd)
                .await
                .context("installing the CRDs into the API stand-in")?;
        }
        Ok(embedded)
    }

    /// Points the Harbor settings at the emulator, through the same file-based paths a
    /// deployment uses (CA bundle and password file).
    pub fn apply(&self, overrides: &mut Overrides) {
        overrides.harbor_url = Some(self.harbor.base_url());
        overrides.harbor_username = Some(USERNAME.into());
        overrides.harbor_password_file = Some(self.dir.join("password"));
        overrides.harbor_ca_file = Some(self.dir.join("ca.crt"));
        overrides.server_listen = Some(self.webhook_address);
        overrides.webhook_secret_file = Some(self.dir.join("webhook-secret"));
        overrides.webhook_callback_url =
            Some(format!("http://{}/harbor/events", self.webhook_address));
    }

    pub fn kube_client(&self) -> anyhow::Result<kube::Client> {
        let url = self.api.url().parse().context("API stand-in URL")?;
        kube::Client::try_from(kube::Config::new(url)).context("kube client for the API stand-in")
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
