//! [`Verifier`]: the JWS checks, the key lookup in the cached key set, the signature and the
//! claim checks, in that order.

use std::fmt;
use std::sync::Arc;

use super::claims::{AcceptedIssuer, ClaimRules};
use super::config::{ExpectedIssuer, VerifierBuilder};
use super::jwks::KeyLookup;
use super::jws::{self, Parsed};
use super::{VerifyError, VerifyLayer};
use crate::time::SharedClock;
use crate::token::Claims;

/// Verifies Vercel OIDC tokens against the issuer's key set (or, with
/// [`ExpectedIssuer::TeamOrGlobal`], each of the two issuers' own key sets). Cheap to clone (an
/// `Arc`); clones share the key cache.
///
/// Build it once at startup with [`Verifier::builder`] (or [`Verifier::for_this_deployment`]);
/// see the [module docs](super).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    /// One or two (team first); never empty.
    issuers: Box<[AcceptedIssuer]>,
    rules: ClaimRules,
    max_token_len: usize,
    clock: SharedClock,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let r = &i.rules;
        f.debug_struct("Verifier")
            .field("issuers", &i.issuers)
            .field("audience", &r.audience)
            .field("project_id", &r.project_id)
            .field("environment", &r.environment)
            .field("owner_id", &r.owner_id)
            .field("leeway_ms", &r.leeway_ms)
            .field("max_token_len", &i.max_token_len)
            .finish()
    }
}

/// A token whose header passed and whose issuer is known: ready for the key lookup.
struct Prepared<'t> {
    parsed: Parsed<'t>,
    /// Index into `Inner::issuers`.
    issuer: usize,
    /// With several issuers the claims are read first, to pick the issuer's key set (they are
    /// trusted only once the signature checks out).
    claims: Option<Claims>,
}

/// What the cached keys could do for a token.
enum Cached<'t> {
    /// The verdict.
    Done(Result<Claims, VerifyError>),
    /// A key-set fetch is needed first.
    NeedKeys(Prepared<'t>),
}

impl Verifier {
    /// A builder for tokens from `issuer` whose `aud` contains `audience`.
    ///
    /// `project_id`, `environment` and `owner_id` must each be decided before
    /// [`VerifierBuilder::build`] succeeds (or taken from the deployment with
    /// [`VerifierBuilder::defaults_from_env`]).
    pub fn builder(issuer: ExpectedIssuer, audience: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder::new(issuer, audience.into())
    }

    /// A builder for tokens of this very deployment: `project_id` from `VERCEL_PROJECT_ID` and
    /// `environment` from `VERCEL_TARGET_ENV` or `VERCEL_ENV`, read when it builds. Shorthand
    /// for `Verifier::builder(issuer, audience).defaults_from_env()`; see
    /// [`VerifierBuilder::defaults_from_env`].
    ///
    /// ```no_run
    /// use vercel_oidc::verify::{ExpectedIssuer, Verifier};
    /// // On Vercel, where VERCEL_PROJECT_ID and VERCEL_ENV are set:
    /// let verifier = Verifier::for_this_deployment(ExpectedIssuer::team("acme"), "https://vercel.com/acme")
    ///     .build()?;
    /// # let _ = verifier;
    /// # Ok::<(), vercel_oidc::verify::VerifierConfigError>(())
    /// ```
    pub fn for_this_deployment(
        issuer: ExpectedIssuer,
        audience: impl Into<String>,
    ) -> VerifierBuilder {
        Self::builder(issuer, audience).defaults_from_env()
    }

    /// The verifier [`VerifierBuilder::build`] checked and assembled.
    pub(super) fn from_parts(
        issuers: Vec<AcceptedIssuer>,
        rules: ClaimRules,
        max_token_len: usize,
        clock: SharedClock,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                issuers: issuers.into_boxed_slice(),
                rules,
                max_token_len,
                clock,
            }),
        }
    }

    /// The pinned issuer (`iss` must equal it exactly); with
    /// [`ExpectedIssuer::TeamOrGlobal`], the team issuer (see [`Verifier::issuers`]).
    pub fn issuer(&self) -> &str {
        &self.inner.issuers[0].issuer
    }

    /// Every issuer a token may come from, team first.
    pub fn issuers(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.inner.issuers.iter().map(|i| &*i.issuer)
    }

    /// The required audience.
    pub fn audience(&self) -> &str {
        &self.inner.rules.audience
    }

    /// Where the key set is fetched: `{issuer}/.well-known/jwks`; with
    /// [`ExpectedIssuer::TeamOrGlobal`], the team issuer's (see [`Verifier::jwks_urls`]).
    pub fn jwks_url(&self) -> &str {
        self.inner.issuers[0].jwks.url()
    }

    /// Every key-set URL, in the order of [`Verifier::issuers`].
    pub fn jwks_urls(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.inner.issuers.iter().map(|i| i.jwks.url())
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

    /// The `n`th accepted issuer (for the claim checks' unit tests).
    #[cfg(test)]
    pub(super) fn accepted(&self, n: usize) -> &AcceptedIssuer {
        &self.inner.issuers[n]
    }

    /// A tower layer that verifies each request's bearer token with this verifier.
    pub fn layer(&self) -> VerifyLayer {
        VerifyLayer::new(self.clone())
    }

    /// Fetches the key set(s) now (joining a fetch in flight), ignoring the cooldown: to warm
    /// the cache at startup or after an out-of-band key rotation.
    ///
    /// # Errors
    /// [`VerifyError::KeysUnavailable`] when a fetch fails (cached keys are kept); with two
    /// issuers both are fetched, and the first failure is returned.
    pub async fn refresh_keys(&self) -> Result<(), VerifyError> {
        let fetches = self.inner.issuers.iter().map(|i| i.jwks.refresh());
        let results = futures_util::future::join_all(fetches).await;
        results.into_iter().try_for_each(|r| r.map(drop))
    }

    /// Verifies `token` (the bare JWT, without `Bearer `) and returns its claims.
    ///
    /// With a warm key cache this does not touch the network. It fetches the key set when none
    /// is cached, and refetches it when the token's `kid` is unknown and the cooldown has
    /// passed.
    ///
    /// # Errors
    /// The [`VerifyError`] variant of the first failed check; [`VerifyError::is_rejection`]
    /// tells a token that is not acceptable from one that could not be checked.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let prepared = match self.try_cached(self.prepare(token)?) {
            Cached::Done(result) => return result,
            Cached::NeedKeys(prepared) => prepared,
        };
        let issuer = &self.inner.issuers[prepared.issuer];
        let (set, fetch_error) = issuer.jwks.wait_for_keys().await?;
        match set.find(&prepared.parsed.kid) {
            Some(key) => self.finish(prepared, key),
            // The refetch that could have found the key failed: the token was not checked.
            None => Err(fetch_error.unwrap_or(VerifyError::UnknownKeyId)),
        }
    }

    /// Verifies with the cached keys only; `None` when a key-set fetch is needed first.
    pub(crate) fn verify_cached(&self, token: &str) -> Option<Result<Claims, VerifyError>> {
        match self.prepare(token) {
            Ok(prepared) => match self.try_cached(prepared) {
                Cached::Done(result) => Some(result),
                Cached::NeedKeys(_) => None,
            },
            Err(e) => Some(Err(e)),
        }
    }

    /// The verdict with the cached keys, or the token back when a key-set fetch is needed.
    fn try_cached<'t>(&self, prepared: Prepared<'t>) -> Cached<'t> {
        let jwks = &self.inner.issuers[prepared.issuer].jwks;
        let guard = jwks.cached();
        let now = jwks.now_ms();
        match jwks.lookup(guard.as_deref(), &prepared.parsed.kid, now) {
            KeyLookup::Found(key) => Cached::Done(self.finish(prepared, key)),
            // While the key set cannot be refreshed, a kid the cached keys lack may be a new
            // key of the issuer's: the token could not be checked.
            KeyLookup::Unknown => {
                Cached::Done(Err(jwks.last_error().unwrap_or(VerifyError::UnknownKeyId)))
            }
            KeyLookup::Fetch => Cached::NeedKeys(prepared),
        }
    }

    /// Size, header and, with several issuers, which issuer's keys to use.
    fn prepare<'t>(&self, token: &'t str) -> Result<Prepared<'t>, VerifyError> {
        let parsed = jws::parse(token, self.inner.max_token_len)?;
        if self.inner.issuers.len() == 1 {
            return Ok(Prepared {
                parsed,
                issuer: 0,
                claims: None,
            });
        }
        let claims = parsed.unverified_claims()?;
        let iss = claims
            .iss
            .as_deref()
            .ok_or(VerifyError::MissingClaim { claim: "iss" })?;
        let issuer = self
            .inner
            .issuers
            .iter()
            .position(|i| *i.issuer == *iss)
            .ok_or(VerifyError::IssuerMismatch)?;
        Ok(Prepared {
            parsed,
            issuer,
            claims: Some(claims),
        })
    }

    /// Signature, then claims.
    fn finish(
        &self,
        prepared: Prepared<'_>,
        key: &aws_lc_rs::signature::ParsedPublicKey,
    ) -> Result<Claims, VerifyError> {
        prepared.parsed.check_signature(key)?;
        let claims = match prepared.claims {
            Some(claims) => claims,
            None => prepared.parsed.unverified_claims()?,
        };
        self.check_claims(prepared.issuer, claims)
    }

    fn check_claims(&self, issuer: usize, claims: Claims) -> Result<Claims, VerifyError> {
        let inner = &self.inner;
        inner
            .rules
            .check(&inner.issuers[issuer], &claims, inner.clock.now_ms())?;
        Ok(claims)
    }
}
