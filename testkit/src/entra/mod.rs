//! The Microsoft Entra ID emulator: the client-credentials grant with a client assertion
//! (workload identity federation), over HTTPS with a certificate it generates.
//!
//! | method | path | endpoint |
//! |---|---|---|
//! | POST | `/{tenant}/oauth2/v2.0/token` | [`Endpoint::Entra`] |
//!
//! A request must be `grant_type=client_credentials` for the configured tenant and client id,
//! with a `scope`, `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
//! and a `client_assertion`. The assertion is checked as Entra checks a federated credential:
//!
//! 1. it is a JWT (else `AADSTS50027`);
//! 2. `exp` is in the future and `nbf` (if any) is not (else `AADSTS700024`);
//! 3. some configured [`FederatedCredential`] has its `iss` (else `AADSTS700211`), then also its
//!    `sub` (else `AADSTS700213`), then also its `aud` (else `AADSTS70021`) — exact matches;
//! 4. its RS256 signature verifies with a key from `{iss}/.well-known/jwks`, fetched over HTTP
//!    from the issuer named by the matching credential (else `AADSTS700027`; a failed fetch is
//!    `AADSTS50166`).
//!
//! Success is `{"token_type":"Bearer","expires_in":…,"ext_expires_in":…,"access_token":…}`;
//! errors are shaped like Entra's (`error`, `error_description` with `\r\n`-separated trace
//! lines, `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`).
//!
//! Faults: the shared [`Faults`] (for [`Endpoint::Entra`]) plus the Entra-specific
//! [`EntraFault`]s (throttling with `Retry-After`, a token issued already expired).
//!
//! The emulator shares no code with the Azure provider: it parses the form with
//! `serde_urlencoded` and checks the JWT with this crate's own code. Its clock is the wall clock.
//!
//! ```
//! use vercel_oidc_testkit::{Issuer, entra::{Entra, FederatedCredential}};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let issuer = Issuer::start().await?;
//! let entra = Entra::builder()
//!     .federated_credential(FederatedCredential::for_issuer(&issuer))
//!     .start()
//!     .await?;
//! assert!(entra.authority().starts_with("https://127.0.0.1:"));
//! let client = entra.reqwest_client(); // trusts the emulator's CA
//! let response = client
//!     .post(entra.token_url())
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(format!(
//!         "grant_type=client_credentials&client_id={}&scope=https%3A%2F%2Fvault.azure.net%2F.default\
//!          &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
//!          &client_assertion={}",
//!         entra.client_id(),
//!         issuer.token().sign(),
//!     ))
//!     .send()
//!     .await
//!     .map_err(std::io::Error::other)?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(entra.requests_for_scope("https://vault.azure.net/.default"), 1);
//! # Ok(())
//! # }
//! ```

mod builder;
mod request;
mod responses;
mod types;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub use builder::EntraBuilder;
pub use types::{EntraFault, FederatedCredential};

use crate::faults::{Endpoint, Faults};
use crate::relying_party::JwksVerifier;
use crate::server::{Counters, Server};
use crate::tls::TestCa;

/// Default tenant id of the emulator.
pub const DEFAULT_TENANT_ID: &str = "72f988bf-0000-4000-8000-00000000e1d1";
/// Default client (application) id of the emulator.
pub const DEFAULT_CLIENT_ID: &str = "8a4f1c2e-0000-4000-8000-0000000c1d00";

/// A running Entra ID emulator on `https://127.0.0.1:PORT`. Dropping it shuts it down.
pub struct Entra {
    shared: Arc<Shared>,
    ca: TestCa,
    server: Server,
}

impl fmt::Debug for Entra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entra")
            .field("authority", &self.authority())
            .field("tenant_id", &self.shared.config.tenant_id)
            .field("client_id", &self.shared.config.client_id)
            .finish_non_exhaustive()
    }
}

impl Entra {
    /// A builder for the tenant, client id, token lifetime and federated credentials.
    pub fn builder() -> EntraBuilder {
        EntraBuilder::default()
    }

    /// `https://127.0.0.1:PORT`, without a trailing slash: the authority host to configure.
    pub fn authority(&self) -> String {
        format!("https://{}", self.server.addr())
    }

    /// The socket address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.shared.config.tenant_id
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.shared.config.client_id
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority(),
            self.shared.config.tenant_id
        )
    }

    /// The PEM of the CA that signed the server's certificate: add it to a client's roots (for
    /// example through `VERCEL_OIDC_CA_FILE`).
    pub fn ca_pem(&self) -> &str {
        self.ca.pem()
    }

    /// A `reqwest` client that trusts the emulator's CA (and nothing else), with no proxy: ready
    /// to talk to the emulator, or to wrap in another HTTP stack (e.g. an Azure `Transport`).
    ///
    /// # Panics
    /// If the client cannot be built (the CA PEM is generated here and always valid).
    pub fn reqwest_client(&self) -> reqwest::Client {
        self.ca
            .client()
            .expect("vercel-oidc-testkit: a reqwest client trusting the test CA builds")
    }

    /// How many token requests the emulator has received (faulted ones included).
    pub fn requests(&self) -> usize {
        self.shared.counters.get(Endpoint::Entra)
    }

    /// How many token requests named exactly this `scope` (the form value; faulted requests
    /// whose form could be read included).
    pub fn requests_for_scope(&self, scope: &str) -> usize {
        self.shared.scopes().get(scope).copied().unwrap_or_default()
    }

    /// Sets every request counter back to zero.
    pub fn reset_requests(&self) {
        self.shared.counters.reset();
        self.shared.scopes().clear();
    }

    /// The shared fault rules (use [`Endpoint::Entra`]).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Applies an [`EntraFault`] to the next `n` requests that the shared [`Faults`] let through.
    /// Several calls queue up, oldest first.
    pub fn inject(&self, n: usize, fault: EntraFault) {
        if n > 0 {
            self.shared.injected().push_back((n, fault));
        }
    }

    /// Removes the queued [`EntraFault`]s.
    pub fn clear_injected(&self) {
        self.shared.injected().clear();
    }
}

/// The state the request handlers share with the [`Entra`] handle.
struct Shared {
    config: EntraBuilder,
    faults: Faults,
    counters: Counters,
    per_scope: Mutex<HashMap<String, usize>>,
    injected: Mutex<VecDeque<(usize, EntraFault)>>,
    jwks: JwksVerifier,
}

impl Shared {
    fn scopes(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.per_scope
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn injected(&self) -> MutexGuard<'_, VecDeque<(usize, EntraFault)>> {
        self.injected.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The oldest queued [`EntraFault`], used up once per request.
    fn take_injected(&self) -> Option<EntraFault> {
        let mut queue = self.injected();
        let (n, fault) = queue.front_mut()?;
        *n = n.saturating_sub(1);
        let fault = fault.clone();
        if *n == 0 {
            queue.pop_front();
        }
        Some(fault)
    }
}
