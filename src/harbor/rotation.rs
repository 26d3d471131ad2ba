//! Rotation without a restart: the CA bundle, the client certificate and the password file are
//! re-read when their content changes, and the client uses them from the next request on.
//!
//! Kubernetes updates a mounted Secret by swapping a symlink two levels up, which file-change
//! notifications on the file's path do not reliably report; so the files are polled and compared
//! by content. A file caught half-written fails to load, is reported, and is tried again as soon
//! as its content changes once more; until then the client keeps what worked.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use super::client::{ClientOptions, HarborClient};
use crate::metrics::Reloaded;

/// How often the files are compared. Kubelet itself takes up to a minute to update a mount.
pub const ROTATION_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// The password file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    #[error("cannot read the Harbor password file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the Harbor password file {path} is empty")]
    Empty { path: PathBuf },
}

/// Reads a password file as Kubernetes mounts it: the whole file, without a trailing newline.
pub fn read_password_file(path: &Path) -> Result<SecretString, PasswordFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| PasswordFileError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let password = text.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(PasswordFileError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(SecretString::from(password.to_owned()))
}

/// Watches the files `options` name and reloads `client` when one changes. Runs until dropped.
pub async fn watch_files(client: HarborClient, options: ClientOptions, every: Duration) {
    let mut files = WatchedFiles::new(&options);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate, and the files were just read
    loop {
        ticks.tick().await;
        files.reload_changed(&client, &options);
    }
}

/// The files behind the client's trust and credentials, with the content last acted on.
struct WatchedFiles {
    tls: Vec<PathBuf>,
    tls_seen: u64,
    password: Option<PathBuf>,
    password_seen: u64,
}

impl WatchedFiles {
    fn new(options: &ClientOptions) -> Self {
        let mut tls: Vec<PathBuf> = options.tls.ca_file.iter().cloned().collect();
        if let Some(identity) = &options.tls.client_identity {
            tls.extend([identity.cert_file.clone(), identity.key_file.clone()]);
        }
        let password: Option<PathBuf> = options.password_file.clone();
        Self {
            tls_seen: fingerprint(&tls),
            password_seen: fingerprint(password.as_slice()),
            tls,
            password,
        }
    }

    /// Reloads what changed since the last call; returns each attempt and whether it worked.
    fn reload_changed(
        &mut self,
        client: &HarborClient,
        options: &ClientOptions,
    ) -> Vec<(Reloaded, bool)> {
        let mut attempted = Vec::new();
        let tls_now = fingerprint(&self.tls);
        if tls_now != self.tls_seen {
            self.tls_seen = tls_now;
            let outcome = client.reload_tls(options);
            match &outcome {
                Ok(()) => {
                    tracing::info!(files = ?self.tls, "reloaded Harbor's CA bundle and client certificate")
                }
                Err(error) => {
                    tracing::error!(%error, "a rotated TLS file cannot be used; still trusting the previous one")
                }
            }
            attempted.push(record(client, Reloaded::Tls, outcome.is_ok()));
        }
        if let Some(path) = &self.password {
            let password_now = fingerprint(std::slice::from_ref(path));
            if password_now != self.password_seen {
                self.password_seen = password_now;
                let outcome = read_password_file(path);
                match outcome {
                    Ok(password) => {
                        client.set_password(password);
                        tracing::info!(file = %path.display(), "reloaded the Harbor password");
                        attempted.push(record(client, Reloaded::Password, true));
                    }
                    Err(error) => {
                        tracing::error!(%error, "a rotated password file cannot be used; still sending the previous password");
                        attempted.push(record(client, Reloaded::Password, false));
                    }
                }
            }
        }
        attempted
    }
}

fn record(client: &HarborClient, what: Reloaded, ok: bool) -> (Reloaded, bool) {
    if let Some(metrics) = client.metrics() {
        metrics.file_reloaded(what, ok);
    }
    (what, ok)
}

/// A hash of the files' contents (an unreadable file hashes as its error kind), so a secret's
/// value is never kept or compared in the clear.
fn fingerprint(paths: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for path in paths {
        match std::fs::read(path) {
            Ok(content) => content.hash(&mut hasher),
            Err(error) => error.kind().hash(&mut hasher),
        }
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;
    use crate::harbor::{RetryOptions, TlsOptions};

    fn options(dir: &Path) -> ClientOptions {
        ClientOptions {
            url: "https://harbor.example.com".parse().unwrap(),
            username: "admin".into(),
            password: SecretString::from("first"),
            password_file: Some(dir.join("password")),
            tls: TlsOptions::default(),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            max_concurrent_requests: 1,
            requests_per_second: NonZeroU32::MIN,
            retry: RetryOptions::default(),
        }
    }

    #[test]
    fn password_files_are_read_without_the_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "Harbor12345\n").unwrap();
        let password = read_password_file(&path).unwrap();
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(&password),
            "Harbor12345"
        );
        std::fs::write(&path, "\n").unwrap();
        let err = read_password_file(&path).unwrap_err();
        assert!(matches!(err, PasswordFileError::Empty { .. }), "{err}");
        assert!(err.to_string().contains("password"), "{err}");
    }

    #[test]
    fn only_changed_files_are_reloaded_and_a_bad_one_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "first").unwrap();
        let options = options(dir.path());
        let client = HarborClient::new(&options).unwrap();
        let mut files = WatchedFiles::new(&options);
        assert!(files.reload_changed(&client, &options).is_empty());

        std::fs::write(&path, "second").unwrap();
        assert_eq!(
            files.reload_changed(&client, &options),
            [(Reloaded::Password, true)]
        );
        assert!(files.reload_changed(&client, &options).is_empty());

        // A file emptied mid-rotation is reported once, not at every tick.
        std::fs::write(&path, "").unwrap();
        assert_eq!(
            files.reload_changed(&client, &options),
            [(Reloaded::Password, false)]
        );
        assert!(files.reload_changed(&client, &options).is_empty());
    }
}
