//! TLS for servers and for calls to other services, with certificates read from files (a mounted
//! Kubernetes Secret, typically renewed by cert-manager).
//!
//! A server re-reads its certificate, key and client CA whenever one of the files changes, checked
//! every `reload_interval`; new connections get the new certificates at once and open ones keep
//! theirs, so a rotation needs no restart. A certificate that fails to load is reported and the
//! previous one stays in use. With a client CA, the server requires every caller to present a
//! certificate signed by it (mutual TLS), and refuses the connection during the handshake otherwise;
//! the bearer token still decides what the caller may do.

use std::{
    io,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{RootCertStore, ServerConfig, crypto::ring, server::WebPkiClientVerifier},
    server::TlsStream,
};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A server's certificate; TLS is on when any of its files is set, so a key or client CA given
/// without a certificate stops the server rather than leaving it in plain text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerTlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// PEM certificates of the authorities callers' certificates must be signed by; when set, every
    /// caller must present one (mutual TLS).
    pub client_ca_file: Option<PathBuf>,
    /// How often the files are checked for changes.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for ServerTlsSettings {
    fn default() -> Self {
        Self { cert_file: None, key_file: None, client_ca_file: None, reload_interval: Duration::from_secs(30) }
    }
}

impl ServerTlsSettings {
    pub fn enabled(&self) -> bool {
        self.files().next().is_some()
    }

    /// Why a server could not serve with these settings, as its start would find it: a file
    /// missing or unreadable, no certificate or key in it, a key not matching its certificate,
    /// or a key or client CA given without a certificate. `check-config` reports it, so a broken
    /// Secret is found before a rollout.
    pub fn problem(&self) -> Option<String> {
        if !self.enabled() {
            return None;
        }
        server_config(self).err().map(|error| format!("server.tls: {error}"))
    }

    fn files(&self) -> impl Iterator<Item = &Path> {
        [&self.cert_file, &self.key_file, &self.client_ca_file].into_iter().flatten().map(PathBuf::as_path)
    }
}

/// How this service calls another over TLS (an upstream whose URL starts with `https://`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ClientTlsSettings {
    /// PEM certificates of the authorities the server's certificate must be signed by; the
    /// system's roots are not trusted.
    pub ca_file: Option<PathBuf>,
    /// This service's own certificate and key, presented to servers that require one.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// The name the server's certificate must carry, when it differs from the URL's host.
    pub domain: Option<String>,
}

impl ClientTlsSettings {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// tonic's client configuration, reading the files now (so a reconnecting client picks up
    /// rotated certificates).
    pub fn client_config(&self) -> Result<ClientTlsConfig, TlsError> {
        let mut config = ClientTlsConfig::new();
        if let Some(ca) = &self.ca_file {
            config = config.ca_certificate(Certificate::from_pem(read(ca)?));
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => config = config.identity(Identity::from_pem(read(cert)?, read(key)?)),
            (None, None) => {}
            _ => return Err(TlsError::Settings("client_tls needs both cert_file and key_file, or neither".into())),
        }
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        Ok(config)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("TLS settings: {0}")]
    Settings(String),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |message: String| TlsError::Pem { path: path.to_path_buf(), message };
    let certs = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(pem("no certificate in the file".into()));
    }
    Ok(certs)
}

/// Builds the rustls configuration from the files as they are now.
fn server_config(settings: &ServerTlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let (Some(cert_file), Some(key_file)) = (&settings.cert_file, &settings.key_file) else {
        return Err(TlsError::Settings("cert_file and key_file are both needed".into()));
    };
    let chain = certificates(cert_file)?;
    let key = PrivateKeyDer::from_pem_slice(&read(key_file)?)
        .map_err(|e| TlsError::Pem { path: key_file.clone(), message: format!("no private key: {e}") })?;
    let provider = Arc::new(ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Settings(e.to_string()))?;
    let builder = match &settings.client_ca_file {
        Some(ca_file) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca_file)? {
                roots.add(cert).map_err(|e| TlsError::Pem { path: ca_file.clone(), message: e.to_string() })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Settings(format!("client CA: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Pem { path: cert_file.clone(), message: format!("certificate and key: {e}") })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates a server presents, replaced when their files change.
#[derive(Clone)]
pub struct ReloadingTls {
    settings: ServerTlsSettings,
    acceptor: Arc<RwLock<TlsAcceptor>>,
}

impl std::fmt::Debug for ReloadingTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingTls").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl ReloadingTls {
    /// Loads the certificates; a server whose certificates cannot be loaded must not start.
    pub fn load(settings: &ServerTlsSettings) -> Result<Self, TlsError> {
        let acceptor = TlsAcceptor::from(server_config(settings)?);
        Ok(Self { settings: settings.clone(), acceptor: Arc::new(RwLock::new(acceptor)) })
    }

    fn current(&self) -> TlsAcceptor {
        match self.acceptor.read() {
            Ok(acceptor) => acceptor.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, acceptor: TlsAcceptor) {
        match self.acceptor.write() {
            Ok(mut current) => *current = acceptor,
            Err(poisoned) => *poisoned.into_inner() = acceptor,
        }
    }

    /// When each file was last changed, and how long it is: what a reload is triggered by.
    fn fingerprint(&self) -> Vec<Option<(SystemTime, u64)>> {
        self.settings
            .files()
            .map(|path| std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len()))))
            .collect()
    }

    /// Re-reads the files whenever they change, until `stop`.
    async fn watch(self, stop: CancellationToken) {
        let mut seen = self.fingerprint();
        let mut ticks = tokio::time::interval(self.settings.reload_interval.max(Duration::from_millis(50)));
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = stop.cancelled() => return,
            }
            let now = self.fingerprint();
            if now == seen {
                continue;
            }
            match server_config(&self.settings) {
                Ok(config) => {
                    self.replace(TlsAcceptor::from(config));
                    seen = now;
                    tracing::info!("TLS certificates reloaded");
                }
                // Files being replaced one by one can be caught half-written; keep the previous
                // certificates and look again at the next tick.
                Err(error) => tracing::warn!(%error, "TLS certificates not reloaded; keeping the previous ones"),
            }
        }
    }

    /// Accepted connections after their TLS handshake, until `stop`. Handshakes run side by side,
    /// so one slow or hostile client holds up no one; a failed handshake closes that connection
    /// only.
    pub fn incoming(
        self,
        listener: TcpListener,
        stop: CancellationToken,
    ) -> impl Stream<Item = Result<TlsStream<TcpStream>, io::Error>> + Send + 'static {
        let (accepted, stream) = tokio::sync::mpsc::channel(64);
        tokio::spawn(self.clone().watch(stop.clone()));
        tokio::spawn(async move {
            loop {
                let (socket, peer) = tokio::select! {
                    result = listener.accept() => match result {
                        Ok(connection) => connection,
                        Err(error) => {
                            tracing::warn!(%error, "accepting a connection failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    () = stop.cancelled() => return,
                };
                let _ = socket.set_nodelay(true);
                let acceptor = self.current();
                let accepted = accepted.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                        Ok(Ok(stream)) => {
                            let _ = accepted.send(Ok(stream)).await;
                        }
                        Ok(Err(error)) => tracing::info!(%peer, %error, "TLS handshake refused"),
                        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        ReceiverStream::new(stream)
    }
}

/// Longest a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
