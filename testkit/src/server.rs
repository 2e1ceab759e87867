//! What every emulator shares: a loopback axum server that stops when its handle is dropped (plain
//! HTTP here, HTTPS through [`crate::tls`]), and per-endpoint request counters.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::faults::Endpoint;

/// A running loopback server. Dropping it stops accepting connections; over plain HTTP idle
/// connections close and requests in flight finish (or are dropped with the runtime), over HTTPS
/// open connections are aborted.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Server {
    /// Binds 127.0.0.1 on an ephemeral port, so the address is known before the router is built.
    pub(crate) async fn bind() -> io::Result<TcpListener> {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await
    }

    /// Serves `router` on `listener` on the current tokio runtime.
    pub(crate) fn serve(listener: TcpListener, router: Router) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
            // Resolves when the sender is used or dropped.
            let _ = stopped.await;
        });
        tokio::spawn(async move {
            if let Err(error) = serve.await {
                tracing::debug!(%error, "vercel-oidc-testkit: server stopped with an error");
            }
        });
        Ok(Self::running(addr, shutdown))
    }

    /// The handle of a server on `addr` that stops when `shutdown` is used or dropped.
    pub(crate) fn running(addr: SocketAddr, shutdown: oneshot::Sender<()>) -> Self {
        Self {
            addr,
            shutdown: Some(shutdown),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The server may already be gone with its runtime; nothing to do then.
            let _ = shutdown.send(());
        }
    }
}

/// Requests seen per endpoint, faulted ones included.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    counts: Mutex<HashMap<Endpoint, usize>>,
}

impl Counters {
    pub(crate) fn hit(&self, endpoint: Endpoint) {
        *self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(endpoint)
            .or_default() += 1;
    }

    pub(crate) fn get(&self, endpoint: Endpoint) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&endpoint)
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
