//! An AWS STS emulator: `AssumeRoleWithWebIdentity` that *verifies* the token, and
//! `GetCallerIdentity` that checks the SigV4 signature of the credentials it issued.
//!
//! It speaks the AWS Query protocol on `POST /` (form fields `Action`, `Version=2011-06-15`, …)
//! and answers with AWS's XML shapes. For `AssumeRoleWithWebIdentity` it
//!
//! 1. records the request's form fields ([`Sts::requests`]) and counts it under
//!    [`Endpoint::Sts`];
//! 2. applies the shared [`Fault`](crate::Fault)s ([`Sts::faults`]), then the STS-specific
//!    [`StsFault`]s ([`Sts::inject`]);
//! 3. validates the parameters (`ValidationError`): role ARN, session name (2–64 of
//!    `[\w+=,.@-]`), `DurationSeconds` (900 s up to the role's maximum, 12 h unless set),
//!    at most 10 `PolicyArns.member.N.arn`, `Policy` up to 2048 characters;
//! 4. verifies the token: a compact JWS signed RS256 by a key of the JWKS it fetches over HTTP
//!    from `{issuer_url}/.well-known/jwks` on every call (fetch failure →
//!    `IDPCommunicationError`), `iss` equal to the trusted issuer, `aud` containing the trusted
//!    audience, `exp` in the future (`ExpiredTokenException`), `nbf` not in the future, and
//!    `sub` equal to the trusted subject when one is set (`AccessDenied`);
//! 5. issues random credentials (unique per call) valid for `DurationSeconds` (default 3600).
//!
//! Its clock is the wall clock at start plus tokio's elapsed time, so a paused tokio clock moves
//! it: tests that advance time see credentials expire, and a token's `exp` is checked against
//! the same clock.
//!
//! | error code | HTTP | when |
//! |---|---|---|
//! | `InvalidIdentityToken` | 400 | bad JWS, signature, issuer, audience, unknown key |
//! | `ExpiredTokenException` | 400 | `exp` not in the future |
//! | `IDPCommunicationError` | 400 | the JWKS could not be fetched |
//! | `IDPRejectedClaim` | 403 | injected ([`StsFault::IdpRejectedClaim`]; AWS's documented status) |
//! | `AccessDenied` | 400 | `sub` not trusted |
//! | `ValidationError` | 400 | a parameter is out of range |
//! | `Throttling` | 400 | injected ([`StsFault::Throttling`]) |
//!
//! `GetCallerIdentity` accepts only requests signed (SigV4, service `sts`) with credentials this
//! emulator issued and that have not expired, with the matching `x-amz-security-token`: an SDK
//! client that gets through has really used the provider's credentials.
//!
//! It serves plain HTTP, or HTTPS with a certificate from a CA it generates
//! ([`StsBuilder::https`], [`Sts::ca_pem`]).
//!
//! The emulator shares no code with the AWS SDK or the `vercel-oidc-aws` provider: it decodes
//! forms with `serde_urlencoded`, writes XML and checks SigV4 itself, and verifies tokens with
//! this crate's own JWS code.

mod assume;
mod builder;
mod caller_identity;
mod protocol;
mod responses;
mod types;

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

pub use builder::StsBuilder;
pub use types::{IssuedCredentials, StsFault, StsRequest};

use crate::faults::{Endpoint, Faults};
use crate::relying_party::JwksVerifier;
use crate::server::{Counters, Server};
use crate::tls::TestCa;

/// A running STS emulator on `127.0.0.1`. Dropping it shuts the server down.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use vercel_oidc_testkit::Issuer;
/// use vercel_oidc_testkit::sts::{Sts, StsFault};
///
/// let issuer = Issuer::start().await?;
/// let sts = Sts::builder(issuer.team_issuer(), "sts.amazonaws.com").start().await?;
/// // Point the AWS SDK at `sts.endpoint_url()`; tokens need `aud: sts.amazonaws.com`.
/// sts.inject(1, StsFault::Throttling); // the next call is throttled
/// assert_eq!(sts.calls(), 0);
/// # Ok(()) }
/// ```
pub struct Sts {
    shared: Arc<Shared>,
    server: Server,
    ca: Option<TestCa>,
}

impl fmt::Debug for Sts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sts")
            .field("endpoint_url", &self.shared.base_url)
            .field("issuer_url", &self.shared.config.issuer_url)
            .field("audience", &self.shared.config.audience)
            .finish_non_exhaustive()
    }
}

impl Sts {
    /// A builder trusting tokens from `issuer_url` (the exact `iss`; its key set is fetched from
    /// `{issuer_url}/.well-known/jwks`) whose `aud` contains `audience`.
    pub fn builder(issuer_url: impl Into<String>, audience: impl Into<String>) -> StsBuilder {
        StsBuilder::new(issuer_url.into(), audience.into())
    }

    /// `http://127.0.0.1:PORT`: the STS endpoint URL for the SDK (`endpoint_url`).
    pub fn endpoint_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The socket address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// With [`StsBuilder::https`]: the PEM of the CA that issued the server's certificate, to
    /// write to a `VERCEL_OIDC_CA_FILE`. `None` for plain HTTP.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(TestCa::pem)
    }

    /// How many `AssumeRoleWithWebIdentity` requests arrived, faulted ones included.
    pub fn calls(&self) -> usize {
        self.shared.counters.get(Endpoint::Sts)
    }

    /// How many `AssumeRoleWithWebIdentity` requests the rate limit
    /// ([`StsBuilder::rate_limit`]) answered with `Throttling`.
    pub fn throttled(&self) -> usize {
        self.shared.lock().throttled
    }

    /// How many `GetCallerIdentity` requests arrived.
    pub fn caller_identity_calls(&self) -> usize {
        self.shared.caller_identity_calls.load(Ordering::SeqCst)
    }

    /// Every `AssumeRoleWithWebIdentity` request received, oldest first.
    pub fn requests(&self) -> Vec<StsRequest> {
        self.shared.lock().requests.clone()
    }

    /// The most recent `AssumeRoleWithWebIdentity` request.
    pub fn last_request(&self) -> Option<StsRequest> {
        self.shared.lock().requests.last().cloned()
    }

    /// Every set of credentials issued, oldest first.
    pub fn issued(&self) -> Vec<IssuedCredentials> {
        self.shared.lock().issued.clone()
    }

    /// Forgets the recorded requests and counts (issued credentials stay valid).
    pub fn reset(&self) {
        self.shared.lock().requests.clear();
        self.shared.counters.reset();
        self.shared.caller_identity_calls.store(0, Ordering::SeqCst);
    }

    /// The shared fault rules, applied to [`Endpoint::Sts`] (`AssumeRoleWithWebIdentity`).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Applies `fault` to the next `n` `AssumeRoleWithWebIdentity` requests (after any
    /// [`Sts::inject_always`] rule is set aside for them). `n == 0` adds nothing.
    pub fn inject(&self, n: usize, fault: StsFault) {
        if n > 0 {
            self.shared.lock().next.push((n, fault));
        }
    }

    /// Applies `fault` to every `AssumeRoleWithWebIdentity` request until
    /// [`Sts::clear_injected`]; [`Sts::inject`] rules take precedence while they last.
    pub fn inject_always(&self, fault: StsFault) {
        self.shared.lock().always = Some(fault);
    }

    /// Removes every [`StsFault`] rule.
    pub fn clear_injected(&self) {
        let mut state = self.shared.lock();
        state.next.clear();
        state.always = None;
    }

    /// The emulator's clock (see the module docs).
    pub fn now(&self) -> SystemTime {
        self.shared.now()
    }
}

/// What the emulator recorded and the STS-specific fault rules.
#[derive(Default)]
struct StsState {
    requests: Vec<StsRequest>,
    issued: Vec<IssuedCredentials>,
    next: Vec<(usize, StsFault)>,
    always: Option<StsFault>,
    /// The current one-second window of [`StsBuilder::rate_limit`] and the requests it took.
    rate_window: Option<(tokio::time::Instant, u32)>,
    /// Requests answered `Throttling` by the rate limit.
    throttled: usize,
}

/// The state the request handlers share with the [`Sts`] handle.
struct Shared {
    config: builder::Config,
    base_url: String,
    jwks: JwksVerifier,
    /// The wall clock and tokio's clock at start (see [`Shared::now`]).
    clock: (SystemTime, tokio::time::Instant),
    faults: Faults,
    counters: Counters,
    state: Mutex<StsState>,
    caller_identity_calls: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, StsState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The wall clock at start plus tokio's elapsed time (the start time if that overflows).
    fn now(&self) -> SystemTime {
        let (start, started) = self.clock;
        start.checked_add(started.elapsed()).unwrap_or(start)
    }

    /// The STS-specific fault for this request: the oldest [`Sts::inject`] rule, else the
    /// [`Sts::inject_always`] one.
    fn take_fault(&self) -> Option<StsFault> {
        let mut state = self.lock();
        if let Some(rule) = state.next.first_mut() {
            rule.0 = rule.0.saturating_sub(1);
            let fault = rule.1.clone();
            if rule.0 == 0 {
                state.next.remove(0);
            }
            return Some(fault);
        }
        state.always.clone()
    }
}
