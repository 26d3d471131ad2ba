//! Shared test set-up: an HTTPS Harbor emulator with a generated CA, and client options for it.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use harbor_bridge::harbor::{ClientOptions, HarborClient, RetryOptions, TlsOptions};
use harbor_emulator::pki::TestCa;
use harbor_emulator::{Emulator, EmulatorConfig, Profile};
use secrecy::SecretString;

pub const PASSWORD: &str = "Harbor12345-test";

pub struct Harbor {
    pub emulator: Emulator,
    pub ca: TestCa,
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harbor {
    pub async fn start(profile: Profile) -> Self {
        let ca = TestCa::generate("harbor-bridge test CA").expect("CA");
        let identity = ca
            .issue_server(&["127.0.0.1", "localhost"])
            .expect("server certificate");
        let emulator = Emulator::start(EmulatorConfig {
            profile,
            admin_username: "admin".into(),
            admin_password: PASSWORD.into(),
            tls: Some(identity),
            ..EmulatorConfig::default()
        })
        .await
        .expect("emulator starts");
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.crt");
        std::fs::write(&ca_file, ca.cert_pem()).unwrap();
        Self {
            emulator,
            ca,
            ca_file,
            _dir: dir,
        }
    }

    /// Options trusting the emulator's CA, with fast retries so tests stay quick.
    pub fn options(&self) -> ClientOptions {
        options_for(&self.emulator.base_url(), Some(self.ca_file.clone()))
    }

    pub fn client(&self) -> HarborClient {
        HarborClient::new(&self.options()).expect("client builds")
    }

    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

pub fn options_for(url: &str, ca_file: Option<PathBuf>) -> ClientOptions {
    ClientOptions {
        url: url.parse().unwrap(),
        username: "admin".into(),
        password: SecretString::from(PASSWORD),
        tls: TlsOptions {
            ca_file,
            ..TlsOptions::default()
        },
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        max_concurrent_requests: 8,
        requests_per_second: NonZeroU32::new(1000).unwrap(),
        retry: RetryOptions {
            max_retries: 4,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
    }
}

/// Both Harbor generations the daemon supports.
pub const PROFILES: [Profile; 2] = [Profile::Harbor27, Profile::Harbor28];
