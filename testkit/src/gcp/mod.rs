//! A Google Cloud emulator: the Security Token Service's token exchange (workload identity
//! federation) and the IAM Service Account Credentials API, on one loopback HTTP server.
//!
//! | method | path | endpoint |
//! |---|---|---|
//! | POST | `/v1/token` | [`Endpoint::GcpSts`] |
//! | POST | `/v1/projects/-/serviceAccounts/{email}:generateAccessToken` | [`Endpoint::GcpIamCredentials`] |
//! | POST | `/v1/projects/-/serviceAccounts/{email}:generateIdToken` | [`Endpoint::GcpIamCredentials`] |
//!
//! **STS** takes an RFC 8693 form and checks it as Google does, in this order:
//!
//! 1. `grant_type` is `urn:ietf:params:oauth:grant-type:token-exchange`
//!    (`unsupported_grant_type`), `requested_token_type` is
//!    `urn:ietf:params:oauth:token-type:access_token` and `subject_token_type` is
//!    `urn:ietf:params:oauth:token-type:jwt` or `…:id_token` (`invalid_request`), `scope` is
//!    given (`invalid_scope`), and no `Authorization` header is needed;
//! 2. `audience` names a configured [`WorkloadIdentityProvider`] (`invalid_target`);
//! 3. the subject token is a JWT (`invalid_grant`), its `iss` is the provider's issuer, its
//!    `aud` contains an allowed audience (with none configured, the provider's resource name
//!    with or without `https:`), it is not expired and its `iat`/`nbf` are not in the future
//!    (`invalid_grant` each);
//! 4. its RS256 signature verifies with a key of `{issuer}/.well-known/jwks`, fetched over HTTP
//!    on every exchange (`invalid_grant` "Invalid JWT Signature."; a failed fetch answers
//!    `503 temporarily_unavailable`);
//! 5. every attribute condition holds (`unauthorized_client` "The given credential is rejected
//!    by the attribute condition.").
//!
//! Success is `{"access_token", "issued_token_type", "token_type": "Bearer", "expires_in"}`,
//! the federated token living at most 1 h and never past the subject token. Errors are
//! `{"error", "error_description"}` with status 400 (401 for `unauthorized_client`).
//!
//! **IAM Credentials** requires `Authorization: Bearer <a token this emulator issued>` (else
//! `401 UNAUTHENTICATED`) whose scopes include `https://www.googleapis.com/auth/iam` or
//! `…/cloud-platform` (else `403 ACCESS_TOKEN_SCOPE_INSUFFICIENT`), a configured
//! [`ServiceAccount`] (else `404 NOT_FOUND`) that grants the token's subject (else
//! `403 PERMISSION_DENIED`), and a valid body: `generateAccessToken` takes `scope` (non-empty)
//! and `lifetime` (`"3600s"`, at most the configured maximum; `400 INVALID_ARGUMENT`
//! otherwise) and answers `{"accessToken", "expireTime"}` (RFC 3339); `generateIdToken` takes
//! `audience` and `includeEmail` and answers `{"token"}` (a JWT with `aud`, `exp`, and `email`
//! when asked). `delegates` must name configured service accounts. Errors are Google's
//! `{"error": {"code", "message", "status"}}`.
//!
//! Every request is counted and recorded ([`Gcp::sts_requests`], [`Gcp::iam_requests`]) and
//! goes through the shared [`Faults`]. Tokens it issued can be looked up with
//! [`Gcp::token_info`], so a loopback stand-in for a Google API can check the bearer token a
//! client sends. Its clock is the wall clock at start plus tokio's elapsed time (a paused tokio
//! clock moves it).
//!
//! The emulator shares no code with the `vercel-oidc-gcp` crate or `google-cloud-auth`: it
//! decodes forms with `serde_urlencoded`, and checks tokens with this crate's own JWS code.
//!
//! ```
//! use vercel_oidc_testkit::Issuer;
//! use vercel_oidc_testkit::gcp::{Gcp, ServiceAccount, WorkloadIdentityProvider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let issuer = Issuer::start().await?;
//! let provider = WorkloadIdentityProvider::for_issuer(&issuer);
//! let gcp = Gcp::builder()
//!     .provider(provider.clone())
//!     .service_account(ServiceAccount::new("app@demo.iam.gserviceaccount.com"))
//!     .start()
//!     .await?;
//! let answer: serde_json::Value = reqwest::Client::new()
//!     .post(gcp.token_url())
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(serde_urlencoded::to_string([
//!         ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
//!         ("audience", provider.resource_name().as_str()),
//!         ("scope", "https://www.googleapis.com/auth/cloud-platform"),
//!         ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
//!         ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
//!         ("subject_token", issuer.token().sign().as_str()),
//!     ]).map_err(std::io::Error::other)?)
//!     .send()
//!     .await
//!     .and_then(|r| r.error_for_status())
//!     .map_err(std::io::Error::other)?
//!     .json()
//!     .await
//!     .map_err(std::io::Error::other)?;
//! assert_eq!(answer["token_type"], "Bearer");
//! assert_eq!(gcp.sts_requests().len(), 1);
//! # Ok(())
//! # }
//! ```

mod builder;
mod routes;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

pub use builder::{GcpBuilder, ServiceAccount, WorkloadIdentityProvider};

use crate::faults::{Endpoint, Faults};
use crate::relying_party::JwksVerifier;
use crate::server::{Counters, Server};

/// A running Google STS + IAM Credentials emulator on `http://127.0.0.1:PORT`. Dropping it
/// shuts the server down.
pub struct Gcp {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for Gcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gcp")
            .field("base_url", &self.shared.base_url)
            .field("providers", &self.shared.config.providers.len())
            .field(
                "service_accounts",
                &self.shared.config.service_accounts.len(),
            )
            .finish_non_exhaustive()
    }
}

/// One request to the emulator, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpRequest {
    /// The request path.
    pub path: String,
    /// The form fields (STS), in order.
    pub form: Vec<(String, String)>,
    /// The JSON body (IAM Credentials), `Null` when there is none or it is not JSON.
    pub json: serde_json::Value,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

impl GcpRequest {
    /// The last value of the form field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A token the emulator issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The federated subject (the subject token's `sub`).
    pub subject: String,
    /// The impersonated service account (`None` for a federated token from STS).
    pub service_account: Option<String>,
    /// The token's scopes.
    pub scopes: Vec<String>,
    /// When it expires (by the emulator's clock).
    pub expires_at: SystemTime,
}

impl Gcp {
    /// A builder for the providers, service accounts and lifetimes.
    pub fn builder() -> GcpBuilder {
        GcpBuilder::default()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `{base_url}/v1/token`: the full STS token URL.
    pub fn token_url(&self) -> String {
        format!("{}/v1/token", self.shared.base_url)
    }

    /// `{base_url}`: the IAM Credentials base URL.
    pub fn iam_credentials_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The socket address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// How many requests reached `endpoint` ([`Endpoint::GcpSts`] or
    /// [`Endpoint::GcpIamCredentials`]), faulted ones included.
    pub fn requests(&self, endpoint: Endpoint) -> usize {
        self.shared.counters.get(endpoint)
    }

    /// Every STS request, oldest first.
    pub fn sts_requests(&self) -> Vec<GcpRequest> {
        self.shared.lock().sts.clone()
    }

    /// Every IAM Credentials request, oldest first.
    pub fn iam_requests(&self) -> Vec<GcpRequest> {
        self.shared.lock().iam.clone()
    }

    /// Every token issued (federated and service account), oldest first.
    pub fn issued(&self) -> Vec<IssuedToken> {
        self.shared
            .lock()
            .issued
            .iter()
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// What the emulator knows of `token` (an access token it issued and that has not
    /// expired), for a stand-in of a Google API checking a bearer token.
    pub fn token_info(&self, token: &str) -> Option<IssuedToken> {
        self.shared.token_info(token)
    }

    /// Forgets the recorded requests and counts (issued tokens stay valid).
    pub fn reset(&self) {
        let mut state = self.shared.lock();
        state.sts.clear();
        state.iam.clear();
        self.shared.counters.reset();
    }

    /// The shared fault rules ([`Endpoint::GcpSts`], [`Endpoint::GcpIamCredentials`]).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The emulator's clock (see the module docs).
    pub fn now(&self) -> SystemTime {
        self.shared.now()
    }
}

/// What the emulator recorded and issued.
#[derive(Default)]
struct GcpState {
    sts: Vec<GcpRequest>,
    iam: Vec<GcpRequest>,
    issued: Vec<(String, IssuedToken)>,
}

/// The state the request handlers share with the [`Gcp`] handle.
struct Shared {
    config: GcpBuilder,
    base_url: String,
    jwks: JwksVerifier,
    clock: (SystemTime, tokio::time::Instant),
    faults: Faults,
    counters: Counters,
    state: Mutex<GcpState>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, GcpState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> SystemTime {
        let (start, started) = self.clock;
        start.checked_add(started.elapsed()).unwrap_or(start)
    }

    fn token_info(&self, token: &str) -> Option<IssuedToken> {
        let now = self.now();
        self.lock()
            .issued
            .iter()
            .find(|(t, info)| t == token && info.expires_at > now)
            .map(|(_, info)| info.clone())
    }
}
