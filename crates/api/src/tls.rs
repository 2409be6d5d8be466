//! Serving TLS directly (rustls), with the certificate and key reloaded when their files change
//! (e.g. after a renewal), without a restart and without dropping connections.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio_util::sync::CancellationToken;

/// Where the certificate chain and private key live (PEM), and how often to look for changes.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub reload_interval: Duration,
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Builds a rustls server configuration (ring provider, TLS 1.2 and 1.3, h2 and http/1.1) from
/// PEM bytes.
///
/// # Errors
/// The PEM does not hold a certificate chain and one matching private key.
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> io::Result<Arc<ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(bad("the certificate file holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad(format!("key file: {e}")))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| bad(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

async fn read_pair(files: &TlsFiles) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let cert = tokio::fs::read(&files.cert)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", files.cert.display())))?;
    let key = tokio::fs::read(&files.key)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", files.key.display())))?;
    Ok((cert, key))
}

/// Loads the files once, for startup.
///
/// # Errors
/// A file cannot be read or does not parse.
pub async fn load(files: &TlsFiles) -> io::Result<(RustlsConfig, (Vec<u8>, Vec<u8>))> {
    let pair = read_pair(files).await?;
    let config = server_config(&pair.0, &pair.1)?;
    Ok((RustlsConfig::from_config(config), pair))
}

/// Re-reads the files every `reload_interval` and swaps the configuration in when their
/// content changed and parses; a broken pair is logged and the current one kept.
pub(crate) async fn watch(
    config: RustlsConfig,
    files: TlsFiles,
    mut current: (Vec<u8>, Vec<u8>),
    stop: CancellationToken,
) {
    let interval = files.reload_interval.max(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let pair = match read_pair(&files).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the TLS certificate or key; keeping the current one");
                continue;
            }
        };
        if pair == current {
            continue;
        }
        match server_config(&pair.0, &pair.1) {
            Ok(c) => {
                config.reload_from_config(c);
                current = pair;
                tracing::info!(cert = %files.cert.display(), "reloaded the TLS certificate");
            }
            Err(e) => {
                tracing::warn!(error = %e, "the changed TLS certificate or key is not usable; keeping the current one");
            }
        }
    }
}
