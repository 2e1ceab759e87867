//! HTTPS for the emulators that serve it (Entra always, STS on request): a CA generated per
//! emulator, a server certificate for `127.0.0.1` and `localhost` signed by it, and an accept
//! loop that serves an axum router over HTTP/1.1 on rustls. Both rcgen and rustls use aws-lc-rs.

use std::io;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::server::Server;

/// An emulator's CA and the server certificate it signed (for `127.0.0.1` and `localhost`).
pub(crate) struct TestCa {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
}

impl TestCa {
    /// A new CA named `"{name} CA"` and a server certificate named `name` signed by it.
    pub(crate) fn generate(name: &str) -> io::Result<Self> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let failed = |e: rcgen::Error| io::Error::other(format!("certificate generation: {e}"));
        let ca_key = KeyPair::generate().map_err(failed)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} CA"));
        let ca_cert = ca_params.self_signed(&ca_key).map_err(failed)?;
        let ca = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().map_err(failed)?;
        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(failed)?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, name);
        let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(failed)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            chain: vec![leaf.der().clone(), ca_cert.der().clone()],
            key_der: leaf_key.serialize_der(),
        })
    }

    /// The CA certificate in PEM, for a client's trust roots.
    pub(crate) fn pem(&self) -> &str {
        &self.ca_pem
    }

    /// A `reqwest` client that trusts this CA and nothing else, with no proxy.
    pub(crate) fn client(&self) -> reqwest::Result<reqwest::Client> {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes())?;
        reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([ca])
            .build()
    }

    /// The rustls acceptor presenting the server certificate (and the CA), offering HTTP/1.1.
    fn acceptor(&self) -> io::Result<TlsAcceptor> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = PrivateKeyDer::Pkcs8(self.key_der.clone().into());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)
            .map_err(io::Error::other)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// Serves `router` over HTTPS on `listener` with `ca`'s server certificate, on the current tokio
/// runtime, until the returned handle is dropped (which also aborts open connections).
pub(crate) fn serve_https(
    listener: TcpListener,
    router: Router,
    ca: &TestCa,
) -> io::Result<Server> {
    let addr = listener.local_addr()?;
    let acceptor = ca.acceptor()?;
    let (shutdown, mut stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                // Resolves when the sender is used or dropped.
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    // A TLS 1.3 server writes its session tickets and then the response: with
                    // Nagle on, the response waits for the client's (delayed) ACK of the tickets,
                    // up to 40 ms on Linux, in a good part of the connections.
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%error, "vercel-oidc-testkit: TCP_NODELAY not set");
                    }
                    let acceptor = acceptor.clone();
                    let service = TowerToHyperService::new(router.clone());
                    connections.spawn(async move {
                        let Ok(tls) = acceptor.accept(stream).await else {
                            tracing::debug!("vercel-oidc-testkit: TLS handshake failed");
                            return;
                        };
                        let served = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                        if let Err(error) = served {
                            tracing::debug!(%error, "vercel-oidc-testkit: HTTPS connection ended");
                        }
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        // Dropping the set aborts every open connection.
    });
    Ok(Server::running(addr, shutdown))
}
