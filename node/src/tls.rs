//! HTTPS served directly (`[tls]` in the node's `config.toml` and the aggregator's
//! `aggregator.toml`): the rustls server configuration, on ring only.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsConfig;
use crate::home::{HomeError, read_secret};

/// Why `[tls]` cannot be used; each says which file to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("[tls] cert {path}: {detail}")]
    Cert { path: String, detail: String },
    /// Unreadable, or readable by group or others (with the `chmod` that fixes it).
    #[error("[tls] key: {0}")]
    KeyFile(#[from] HomeError),
    #[error("[tls] key {path}: {detail}")]
    Key { path: String, detail: String },
    #[error("[tls] the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The rustls configuration for `tls`, its paths relative to `dir`. The key file is read only
/// when its mode is 0600 (or stricter).
pub fn server_config(dir: &Path, tls: &TlsConfig) -> Result<rustls::ServerConfig, TlsError> {
    let cert_path = dir.join(&tls.cert);
    let cert_err = |detail: String| TlsError::Cert {
        path: cert_path.display().to_string(),
        detail,
    };
    let pem = std::fs::read(&cert_path).map_err(|e| cert_err(e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(format!("not a PEM certificate chain ({e})")))?;
    if chain.is_empty() {
        return Err(cert_err("holds no CERTIFICATE block".into()));
    }
    let key_path = dir.join(&tls.key);
    let text = read_secret(&key_path)?;
    let key = PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| TlsError::Key {
        path: key_path.display().to_string(),
        detail: format!("no PEM private key ({e})"),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?)
}
