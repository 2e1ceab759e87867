//! [`StsBuilder`]: the trust of the emulated role, and starting the server.

use std::io;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{Shared, Sts, StsState, protocol};
use crate::faults::Faults;
use crate::iam::Iam;
use crate::relying_party::JwksVerifier;
use crate::server::{Counters, Server};
use crate::tls::{self, TestCa};

/// The default `DurationSeconds`: one hour.
pub(super) const DEFAULT_DURATION: u64 = 3_600;
/// The largest maximum session duration a role can have: 12 hours.
pub(super) const MAX_DURATION: u64 = 43_200;

/// Builder for [`Sts`]: the trust of the role (issuer, audience, optional subject).
#[derive(Debug, Clone)]
pub struct StsBuilder {
    config: Config,
}

/// What an [`Sts`] was built with.
#[derive(Debug, Clone)]
pub(super) struct Config {
    pub(super) issuer_url: String,
    pub(super) audience: String,
    pub(super) subject: Option<String>,
    pub(super) max_session: u64,
    pub(super) https: bool,
    pub(super) iam: Option<Iam>,
    pub(super) rate_limit: Option<u32>,
}

impl StsBuilder {
    pub(super) fn new(issuer_url: String, audience: String) -> Self {
        Self {
            config: Config {
                issuer_url: issuer_url.trim_end_matches('/').to_owned(),
                audience,
                subject: None,
                max_session: MAX_DURATION,
                https: false,
                iam: None,
                rate_limit: None,
            },
        }
    }

    /// Only tokens whose `sub` is exactly `subject` may assume the role (`AccessDenied`
    /// otherwise). Defaults to any subject.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.config.subject = Some(subject.into());
        self
    }

    /// Answers `400 Throttling` ("Rate exceeded") to every `AssumeRoleWithWebIdentity` request
    /// beyond `per_second` in each one-second window (on tokio's clock), as STS does under a
    /// burst. Throttled requests are counted ([`Sts::throttled`](super::Sts::throttled)) but
    /// not verified. Defaults to no limit; `0` throttles everything.
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.config.rate_limit = Some(per_second);
        self
    }

    /// The role's maximum session duration; a larger `DurationSeconds` is a `ValidationError`.
    /// Clamped to 1 h–12 h. Defaults to 12 h.
    pub fn max_session_duration(mut self, max: Duration) -> Self {
        self.config.max_session = max.as_secs().clamp(DEFAULT_DURATION, MAX_DURATION);
        self
    }

    /// Decides as AWS does with IAM behind it: the role must exist, the token's issuer must have
    /// an OIDC provider in the role's account, its audience must be one of the provider's client
    /// ids, and the role's trust policy must allow it (see [`Iam`]). The issuer URL and audience
    /// given to [`Sts::builder`] are then not used for the decision. Defaults to no IAM (the
    /// builder's issuer and audience decide).
    pub fn iam(mut self, iam: Iam) -> Self {
        self.config.iam = Some(iam);
        self
    }

    /// Serves HTTPS with a certificate for `127.0.0.1` and `localhost` issued by a CA generated
    /// for this emulator ([`Sts::ca_pem`]): for tests of extra trust roots
    /// (`VERCEL_OIDC_CA_FILE`). Defaults to plain HTTP.
    pub fn https(mut self) -> Self {
        self.config.https = true;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// # Errors
    /// If the port cannot be bound, the HTTP client for the JWKS cannot be built, or (with
    /// [`StsBuilder::https`]) the certificates cannot be generated.
    pub async fn start(self) -> io::Result<Sts> {
        // No timeout on the key-set fetch: the emulator's clock follows tokio's, and a test that
        // pauses it must not see a fetch cut short by time it skipped.
        let jwks = JwksVerifier::new(None)?;
        let ca = if self.config.https {
            Some(TestCa::generate("vercel-oidc-testkit STS")?)
        } else {
            None
        };
        let listener = Server::bind().await?;
        let scheme = if ca.is_some() { "https" } else { "http" };
        let base_url = format!("{scheme}://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            config: self.config,
            base_url,
            jwks,
            clock: (SystemTime::now(), tokio::time::Instant::now()),
            faults: Faults::new(),
            counters: Counters::default(),
            state: Mutex::new(StsState::default()),
            caller_identity_calls: AtomicUsize::new(0),
        });
        let router = protocol::router(Arc::clone(&shared));
        let server = match &ca {
            Some(ca) => tls::serve_https(listener, router, ca)?,
            None => Server::serve(listener, router)?,
        };
        tracing::debug!(endpoint = %shared.base_url, "vercel-oidc-testkit: sts started");
        Ok(Sts { shared, server, ca })
    }
}
