//! TLS trust for Harbor: the system roots plus an operator-supplied CA bundle, never silently off.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How the daemon decides to trust Harbor's certificate.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// PEM bundle added to the system roots (e.g. the `ca.crt` of Harbor's ingress Secret).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM), for a Harbor behind a proxy that asks for one.
    pub client_identity: Option<ClientIdentityFiles>,
    /// Skip verification entirely. Exists for emergencies only and is logged loudly.
    pub insecure_skip_verify: bool,
}

#[derive(Clone, Debug)]
pub struct ClientIdentityFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// A start-up problem with the TLS configuration; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} file {path}: {source}")]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{what} file {path} holds no PEM {expected}; it must be PEM text (-----BEGIN ...-----)"
    )]
    NotPem {
        what: &'static str,
        path: PathBuf,
        expected: &'static str,
    },
    #[error("CA file {path} holds a certificate rustls cannot use as a trust anchor: {source}")]
    BadAnchor {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("client certificate {cert} and key {key} do not work together: {source}")]
    BadClientIdentity {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// The crypto provider used everywhere in the daemon (kube uses ring too).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls configuration for the Harbor client.
pub fn client_config(options: &TlsOptions) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions");
    let builder = if options.insecure_skip_verify {
        tracing::warn!(
            "TLS verification of Harbor's certificate is DISABLED (insecureSkipVerify); anyone on \
             the network path can impersonate Harbor and read the credentials. Set harbor.caFile instead."
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
                provider.signature_verification_algorithms,
            )))
    } else {
        builder.with_root_certificates(root_store(options.ca_file.as_deref())?)
    };
    let mut config = match &options.client_identity {
        None => builder.with_no_client_auth(),
        Some(files) => {
            let (chain, key) = read_identity(files)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|source| TlsError::BadClientIdentity {
                    cert: files.cert_file.clone(),
                    key: files.key_file.clone(),
                    source,
                })?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// System roots (whatever of them loads) plus every certificate in the CA bundle.
fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    for error in &system.errors {
        tracing::debug!(%error, "skipping an unreadable system root certificate");
    }
    let (added, ignored) = roots.add_parsable_certificates(system.certs);
    tracing::debug!(added, ignored, "loaded system root certificates");
    if let Some(path) = ca_file {
        for cert in read_certificates(path, "CA")? {
            roots.add(cert).map_err(|source| TlsError::BadAnchor {
                path: path.to_owned(),
                source,
            })?;
        }
    }
    Ok(roots)
}

fn read_file(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Unreadable {
        what,
        path: path.to_owned(),
        source,
    })
}

fn read_certificates(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file(path, what)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    if certs.is_empty() {
        return Err(TlsError::NotPem {
            what,
            path: path.to_owned(),
            expected: "certificates",
        });
    }
    Ok(certs)
}

fn read_identity(
    files: &ClientIdentityFiles,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = read_certificates(&files.cert_file, "client certificate")?;
    let key_pem = read_file(&files.key_file, "client key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NotPem {
        what: "client key",
        path: files.key_file.clone(),
        expected: "private key",
    })?;
    Ok((chain, key))
}

/// The verifier behind `insecureSkipVerify`: accepts any certificate but still checks that the
/// handshake is signed by the key in it, so the option is no weaker than it says.
#[derive(Debug)]
struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options_with_ca(path: &Path) -> TlsOptions {
        TlsOptions {
            ca_file: Some(path.to_owned()),
            ..TlsOptions::default()
        }
    }

    #[test]
    fn missing_ca_file_is_an_error_naming_the_file() {
        let err = client_config(&options_with_ca(Path::new("/nonexistent/ca.crt"))).unwrap_err();
        assert!(matches!(err, TlsError::Unreadable { .. }));
        assert!(err.to_string().contains("/nonexistent/ca.crt"), "{err}");
    }

    #[test]
    fn non_pem_ca_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-cert.txt");
        std::fs::write(&path, "this is not a certificate").unwrap();
        let err = client_config(&options_with_ca(&path)).unwrap_err();
        assert!(matches!(err, TlsError::NotPem { .. }), "{err:?}");
        assert!(err.to_string().contains("not-a-cert.txt"), "{err}");
    }

    #[test]
    fn system_roots_alone_build() {
        client_config(&TlsOptions::default()).expect("system roots");
    }
}
