//! [`EntraBuilder`]: the emulated tenant and app registration, and starting the server.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{DEFAULT_CLIENT_ID, DEFAULT_TENANT_ID, Entra, FederatedCredential, Shared, request};
use crate::faults::Faults;
use crate::relying_party::JwksVerifier;
use crate::server::{Counters, Server};
use crate::tls::{self, TestCa};

/// How long a key-set fetch may take before the assertion is refused with `AADSTS50166`.
const JWKS_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of an [`Entra`] emulator; [`EntraBuilder::start`] starts it.
#[derive(Debug, Clone)]
pub struct EntraBuilder {
    pub(super) tenant_id: String,
    pub(super) client_id: String,
    pub(super) token_lifetime: Duration,
    pub(super) federated: Vec<FederatedCredential>,
}

impl Default for EntraBuilder {
    fn default() -> Self {
        Self {
            tenant_id: DEFAULT_TENANT_ID.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            token_lifetime: Duration::from_secs(3599),
            federated: Vec::new(),
        }
    }
}

impl EntraBuilder {
    /// The tenant (directory) id in the token path. Defaults to [`DEFAULT_TENANT_ID`].
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = tenant_id.into();
        self
    }

    /// The client (application) id requests must name. Defaults to [`DEFAULT_CLIENT_ID`].
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// `expires_in` of issued access tokens. Defaults to 3599 s, as Entra answers.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Adds a federated identity credential. Defaults to none: every assertion is rejected
    /// with `AADSTS700211`.
    pub fn federated_credential(mut self, credential: FederatedCredential) -> Self {
        self.federated.push(credential);
        self
    }

    /// Generates the TLS certificate, binds `127.0.0.1:0` and serves HTTPS on the current
    /// tokio runtime.
    ///
    /// # Errors
    /// If the certificate cannot be generated or the port cannot be bound.
    pub async fn start(self) -> io::Result<Entra> {
        let ca = TestCa::generate("vercel-oidc-testkit Entra")?;
        let listener = Server::bind().await?;
        let shared = Arc::new(Shared {
            config: self,
            faults: Faults::new(),
            counters: Counters::default(),
            per_scope: Mutex::new(HashMap::new()),
            injected: Mutex::new(VecDeque::new()),
            jwks: JwksVerifier::new(Some(JWKS_TIMEOUT))?,
        });
        let server = tls::serve_https(listener, request::router(Arc::clone(&shared)), &ca)?;
        tracing::debug!(addr = %server.addr(), "vercel-oidc-testkit: Entra started");
        Ok(Entra { shared, ca, server })
    }
}
