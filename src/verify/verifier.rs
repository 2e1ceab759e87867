//! [`Verifier`]: the JWS checks, the key lookup in the cached key set, the signature and the
//! claim checks, in that order.

use std::fmt;
use std::sync::Arc;

use super::claims::ClaimRules;
use super::config::{ExpectedIssuer, VerifierBuilder};
use super::jwks::{Jwks, KeyLookup};
use super::jws::{self, Parsed};
use super::{VerifyError, VerifyLayer};
use crate::time::SharedClock;
use crate::token::Claims;

/// Verifies Vercel OIDC tokens against one issuer's key set. Cheap to clone (an `Arc`); clones
/// share the key cache.
///
/// Build it once at startup with [`Verifier::builder`]; see the [module docs](super).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    rules: ClaimRules,
    max_token_len: usize,
    clock: SharedClock,
    jwks: Arc<Jwks>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let r = &i.rules;
        f.debug_struct("Verifier")
            .field("issuer", &r.issuer)
            .field("audience", &r.audience)
            .field("project_id", &r.project_id)
            .field("environment", &r.environment)
            .field("owner_id", &r.owner_id)
            .field("leeway_ms", &r.leeway_ms)
            .field("max_token_len", &i.max_token_len)
            .field("jwks", &i.jwks)
            .finish()
    }
}

impl Verifier {
    /// A builder for tokens from `issuer` whose `aud` contains `audience`.
    ///
    /// `project_id`, `environment` and `owner_id` must each be decided before
    /// [`VerifierBuilder::build`] succeeds.
    pub fn builder(issuer: ExpectedIssuer, audience: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder::new(issuer, audience.into())
    }

    /// The verifier [`VerifierBuilder::build`] checked and assembled.
    pub(super) fn from_parts(
        rules: ClaimRules,
        max_token_len: usize,
        clock: SharedClock,
        jwks: Jwks,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                rules,
                max_token_len,
                clock,
                jwks: Arc::new(jwks),
            }),
        }
    }

    /// The pinned issuer (`iss` must equal it exactly).
    pub fn issuer(&self) -> &str {
        &self.inner.rules.issuer
    }

    /// The required audience.
    pub fn audience(&self) -> &str {
        &self.inner.rules.audience
    }

    /// Where the key set is fetched: `{issuer}/.well-known/jwks`.
    pub fn jwks_url(&self) -> &str {
        self.inner.jwks.url()
    }

    /// The largest token accepted, in bytes.
    pub(super) fn max_token_len(&self) -> usize {
        self.inner.max_token_len
    }

    /// What the claims are checked against (for the claim checks' unit tests).
    #[cfg(test)]
    pub(super) fn rules(&self) -> &ClaimRules {
        &self.inner.rules
    }

    /// A tower layer that verifies each request's bearer token with this verifier.
    pub fn layer(&self) -> VerifyLayer {
        VerifyLayer::new(self.clone())
    }

    /// Fetches the key set now (joining a fetch in flight), ignoring the cooldown: to warm the
    /// cache at startup or after an out-of-band key rotation.
    ///
    /// # Errors
    /// [`VerifyError::KeysUnavailable`] when the fetch fails (cached keys are kept).
    pub async fn refresh_keys(&self) -> Result<(), VerifyError> {
        self.inner.jwks.refresh().await.map(drop)
    }

    /// Verifies `token` (the bare JWT, without `Bearer `) and returns its claims.
    ///
    /// With a warm key cache this does not touch the network. It fetches the key set when none
    /// is cached, and refetches it when the token's `kid` is unknown and the cooldown has
    /// passed.
    ///
    /// # Errors
    /// The [`VerifyError`] variant of the first failed check.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        match self.verify_cached(token) {
            Some(result) => result,
            None => {
                let set = self.inner.jwks.wait_for_keys().await?;
                let parsed = self.parse(token)?;
                let key = set.find(&parsed.kid).ok_or(VerifyError::UnknownKeyId)?;
                self.finish(&parsed, key)
            }
        }
    }

    /// Verifies with the cached keys only; `None` when a key-set fetch is needed first.
    pub(crate) fn verify_cached(&self, token: &str) -> Option<Result<Claims, VerifyError>> {
        let parsed = match self.parse(token) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        let jwks = &self.inner.jwks;
        let guard = jwks.cached();
        let now = jwks.now_ms();
        match jwks.lookup(guard.as_deref(), &parsed.kid, now) {
            KeyLookup::Found(key) => Some(self.finish(&parsed, key)),
            KeyLookup::Unknown => Some(Err(VerifyError::UnknownKeyId)),
            KeyLookup::Fetch => None,
        }
    }

    fn parse<'t>(&self, token: &'t str) -> Result<Parsed<'t>, VerifyError> {
        jws::parse(token, self.inner.max_token_len)
    }

    /// Signature, then claims.
    fn finish(
        &self,
        parsed: &Parsed<'_>,
        key: &jsonwebtoken::DecodingKey,
    ) -> Result<Claims, VerifyError> {
        let claims = parsed.verified_claims(key)?;
        self.inner.rules.check(&claims, self.inner.clock.now_ms())?;
        Ok(claims)
    }
}
