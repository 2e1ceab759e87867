//! Verification of incoming Vercel OIDC tokens: for your own API that a Vercel function calls
//! with its token as a bearer (SPEC §8, "Own APIs").
//!
//! - [`Verifier`] checks one token: RS256 signature against the issuer's key set, issuer pinned
//!   exactly, audience, `exp` / `nbf` / `iat` with leeway, and the `project_id`, `environment`
//!   and `owner_id` constraints. Each failed check is its own [`VerifyError`] variant.
//! - [`VerifyLayer`] is a tower layer (axum-compatible) that verifies the `Authorization: Bearer`
//!   header of every request, puts [`VerifiedClaims`] into the request's extensions, and answers
//!   `401` with `WWW-Authenticate: Bearer …` otherwise.
//! - The key set (`{issuer}/.well-known/jwks`) is fetched once and cached: refreshed in the
//!   background after [`DEFAULT_JWKS_MAX_AGE`], refetched on an unknown `kid` at most once per
//!   [`DEFAULT_JWKS_COOLDOWN`] (single-flight), and kept when a refresh fails. Keys are parsed
//!   once; a warm verification does not touch the network.
//!
//! To send the token, see [`crate::bearer::BearerAuth`].
//!
//! # Example
//!
//! ```no_run
//! use vercel_oidc::verify::{Constraint, ExpectedIssuer, Verifier};
//!
//! # async fn run(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder(ExpectedIssuer::team("acme"), "https://api.example.com")
//!     .project_id("prj_123")                                    // exactly this project
//!     .environment(Constraint::one_of(["production", "preview"])) // either of these
//!     .owner_id(Constraint::Any)                                // explicitly any team id
//!     .build()?;
//! let claims = verifier.verify(token).await?;
//! println!("call from {:?}", claims.project);
//! # Ok(()) }
//! ```
//!
//! With axum:
//!
//! ```no_run
//! # #[cfg(any())] {
//! // axum is not a dependency of this crate, so this block is not compiled here; see the
//! // `own_api_server` example for the complete program.
//! use axum::Extension;
//! use vercel_oidc::verify::VerifiedClaims;
//!
//! async fn whoami(Extension(claims): Extension<VerifiedClaims>) -> String {
//!     claims.project.clone().unwrap_or_default()
//! }
//! let app = axum::Router::new()
//!     .route("/whoami", axum::routing::get(whoami))
//!     .layer(verifier.layer());
//! # }
//! ```
//!
//! # Environment variables
//! | variable | required | meaning |
//! |---|---|---|
//! | `VERCEL_OIDC_ISSUER_URL` | optional | issuer base URL (default `https://oidc.vercel.com`); for test issuers |
//! | `VERCEL_OIDC_CA_FILE` | optional | extra PEM trust roots for the key-set fetch |
//!
//! # Security
//! - Only `RS256` is accepted: `alg: none`, HMAC (including HS256 keyed with the RSA public key)
//!   and every other algorithm are rejected before any key is used.
//! - The issuer is compared exactly: `https://oidc.vercel.com/acme/`,
//!   `https://oidc.vercel.com.evil.example` and another team's issuer are all rejected.
//! - The issuer base must be `https`, except `http` on a loopback host (test issuers).
//! - There is no implicit "any": building without deciding each constraint fails with
//!   [`VerifierConfigError::Undecided`].
//! - Tokens longer than [`DEFAULT_MAX_TOKEN_LEN`] are rejected before any parsing.
//! - Errors and logs never contain the token.
//! - A failed key-set refresh keeps the cached keys (availability over freshness): a key the
//!   issuer withdrew stays trusted until a refresh succeeds. Refreshes are retried once per
//!   cooldown and logged at `warn` while they fail.

mod auth;
mod error;
pub(crate) mod jwks;

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;

pub use auth::{ResponseFuture, VerifyLayer, VerifyService};
pub use error::{ConstrainedClaim, JwksErrorKind, VerifierConfigError, VerifyError};

use crate::config::{DEFAULT_ISSUER_URL, ISSUER_URL_ENV};
use crate::env::Env;
use crate::error::MalformedTokenReason;
use crate::http::ExtraRoots;
use crate::time::SharedClock;
use crate::token::{Claims, Environment};
use jwks::{Jwks, KeyLookup};

/// Default allowed clock skew for `exp`, `nbf` and `iat`: 60 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// Default largest token accepted, in bytes. Vercel's tokens are about 1 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
/// Default age after which the key set is refreshed in the background: 10 minutes.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(600);
/// Default least time between two key-set fetches triggered by unknown `kid`s: 30 seconds.
pub const DEFAULT_JWKS_COOLDOWN: Duration = Duration::from_secs(30);

/// Which issuer a token must come from.
///
/// The `iss` claim must equal the issuer *exactly*: `{base}/{team_slug}` in team mode,
/// `{base}` in global mode, where `{base}` is `https://oidc.vercel.com` unless overridden
/// ([`VerifierBuilder::issuer_base_url`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedIssuer {
    /// Team mode: `https://oidc.vercel.com/<team_slug>`.
    Team(String),
    /// Global mode: `https://oidc.vercel.com`.
    Global,
}

impl ExpectedIssuer {
    /// Team mode for `team_slug`.
    pub fn team(team_slug: impl Into<String>) -> Self {
        Self::Team(team_slug.into())
    }

    /// Global mode.
    pub fn global() -> Self {
        Self::Global
    }
}

/// The values a constrained claim (`project_id`, `environment`, `owner_id`) may take.
///
/// There is no default: each constraint must be decided, and "any value" must be said with
/// [`Constraint::Any`].
///
/// ```
/// use vercel_oidc::verify::Constraint;
/// let one: Constraint = "prj_123".into();
/// assert!(one.allows(Some("prj_123")) && !one.allows(Some("prj_456")) && !one.allows(None));
/// let list = Constraint::one_of(["production", "preview"]);
/// assert!(list.allows(Some("preview")));
/// assert!(Constraint::Any.allows(None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// Any value, or none: the claim is not checked.
    Any,
    /// The claim must be present and equal to one of these.
    OneOf(Vec<String>),
}

impl Constraint {
    /// Exactly `value`.
    pub fn one(value: impl Into<String>) -> Self {
        Self::OneOf(vec![value.into()])
    }

    /// Any of `values` (an empty list, or an empty value, is a configuration error when
    /// building).
    pub fn one_of<I>(values: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self::OneOf(values.into_iter().map(Into::into).collect())
    }

    /// `true` when a claim with this value (`None`: absent) passes.
    pub fn allows(&self, value: Option<&str>) -> bool {
        match self {
            Self::Any => true,
            Self::OneOf(list) => value.is_some_and(|v| list.iter().any(|a| a == v)),
        }
    }
}

impl From<&str> for Constraint {
    fn from(value: &str) -> Self {
        Self::one(value)
    }
}

impl From<String> for Constraint {
    fn from(value: String) -> Self {
        Self::one(value)
    }
}

impl From<Environment> for Constraint {
    fn from(value: Environment) -> Self {
        Self::one(match value {
            Environment::Production => "production",
            Environment::Preview => "preview",
            Environment::Development => "development",
        })
    }
}

/// Claims that a [`VerifyLayer`] verified, in the request's extensions.
///
/// Only this module creates it, so a handler that finds one knows the token was verified (a
/// plain [`Claims`] in the extensions could have been put there by anything). Derefs to
/// [`Claims`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedClaims(Claims);

impl VerifiedClaims {
    /// The claims.
    pub fn into_inner(self) -> Claims {
        self.0
    }
}

impl Deref for VerifiedClaims {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.0
    }
}

/// Verifies Vercel OIDC tokens against one issuer's key set. Cheap to clone (an `Arc`); clones
/// share the key cache.
///
/// Build it once at startup with [`Verifier::builder`]; see the [module docs](self).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: Box<str>,
    audience: Box<str>,
    project_id: Constraint,
    environment: Constraint,
    owner_id: Constraint,
    leeway_ms: i128,
    max_token_len: usize,
    clock: SharedClock,
    jwks: Arc<Jwks>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Verifier")
            .field("issuer", &i.issuer)
            .field("audience", &i.audience)
            .field("project_id", &i.project_id)
            .field("environment", &i.environment)
            .field("owner_id", &i.owner_id)
            .field("leeway_ms", &i.leeway_ms)
            .field("max_token_len", &i.max_token_len)
            .field("jwks", &i.jwks)
            .finish()
    }
}

/// Builder for [`Verifier`]; see [`Verifier::builder`].
#[derive(Debug, Clone)]
pub struct VerifierBuilder {
    issuer: ExpectedIssuer,
    audience: String,
    project_id: Option<Constraint>,
    environment: Option<Constraint>,
    owner_id: Option<Constraint>,
    issuer_base_url: Option<String>,
    env: Env,
    roots: Option<ExtraRoots>,
    leeway: Duration,
    max_token_len: usize,
    jwks_max_age: Duration,
    jwks_cooldown: Duration,
    clock: SharedClock,
}

impl VerifierBuilder {
    /// Allowed `project_id`s. **Required decision** (no default): a value, a list
    /// ([`Constraint::one_of`]) or [`Constraint::Any`].
    pub fn project_id(mut self, constraint: impl Into<Constraint>) -> Self {
        self.project_id = Some(constraint.into());
        self
    }

    /// Allowed `environment`s (`production`, `preview`, `development`). **Required decision**
    /// (no default): a value, a list or [`Constraint::Any`].
    pub fn environment(mut self, constraint: impl Into<Constraint>) -> Self {
        self.environment = Some(constraint.into());
        self
    }

    /// Allowed `owner_id`s (team ids). **Required decision** (no default): a value, a list or
    /// [`Constraint::Any`].
    pub fn owner_id(mut self, constraint: impl Into<Constraint>) -> Self {
        self.owner_id = Some(constraint.into());
        self
    }

    /// The issuer base URL, without the team segment. Defaults to `VERCEL_OIDC_ISSUER_URL`,
    /// else `https://oidc.vercel.com`. Must be `https`, or `http` on a loopback host (for a
    /// local test issuer such as `vercel_oidc_testkit::Issuer`).
    pub fn issuer_base_url(mut self, url: impl Into<String>) -> Self {
        self.issuer_base_url = Some(url.into());
        self
    }

    /// Where `VERCEL_OIDC_ISSUER_URL` and `VERCEL_OIDC_CA_FILE` are read. Defaults to the process
    /// environment.
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// Extra trust roots for the key-set fetch. Defaults to `VERCEL_OIDC_CA_FILE`, if set.
    pub fn extra_roots(mut self, roots: ExtraRoots) -> Self {
        self.roots = Some(roots);
        self
    }

    /// Allowed clock skew for `exp`, `nbf` and `iat`. Defaults to [`DEFAULT_LEEWAY`] (60 s); at
    /// most 10 minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Largest token accepted, in bytes. Defaults to [`DEFAULT_MAX_TOKEN_LEN`] (8 KiB); at most
    /// [`crate::MAX_TOKEN_LEN`].
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    /// Age after which the key set is refreshed in the background. Defaults to
    /// [`DEFAULT_JWKS_MAX_AGE`] (10 minutes).
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// Least time between key-set fetches triggered by unknown `kid`s (and between retries of
    /// a failing refresh). Defaults to [`DEFAULT_JWKS_COOLDOWN`] (30 s).
    pub fn jwks_cooldown(mut self, cooldown: Duration) -> Self {
        self.jwks_cooldown = cooldown;
        self
    }

    /// The clock for `exp` / `nbf` / `iat` and the key-set schedule. Defaults to the system
    /// clock.
    pub fn time_source(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the verifier. Does not fetch anything (see [`Verifier::refresh_keys`] to warm the
    /// key cache at startup).
    ///
    /// # Errors
    /// [`VerifierConfigError::Undecided`] when a constraint was never set, and the other
    /// variants for an empty audience or constraint list, a bad team slug or issuer URL, an
    /// out-of-range setting, or an unreadable CA file.
    pub fn build(self) -> Result<Verifier, VerifierConfigError> {
        let decided = |c: Option<Constraint>, claim| match c {
            None => Err(VerifierConfigError::Undecided { claim }),
            Some(Constraint::OneOf(list))
                if list.is_empty() || list.iter().any(String::is_empty) =>
            {
                Err(VerifierConfigError::EmptyConstraint { claim })
            }
            Some(c) => Ok(c),
        };
        let project_id = decided(self.project_id, ConstrainedClaim::ProjectId)?;
        let environment = decided(self.environment, ConstrainedClaim::Environment)?;
        let owner_id = decided(self.owner_id, ConstrainedClaim::OwnerId)?;
        if self.audience.is_empty() {
            return Err(VerifierConfigError::EmptyAudience);
        }
        if self.leeway > Duration::from_secs(600) {
            return Err(VerifierConfigError::InvalidSetting {
                setting: "leeway",
                reason: "must be at most 10 minutes",
            });
        }
        if self.max_token_len == 0 || self.max_token_len > crate::MAX_TOKEN_LEN {
            return Err(VerifierConfigError::InvalidSetting {
                setting: "max_token_len",
                reason: "must be between 1 and vercel_oidc::MAX_TOKEN_LEN",
            });
        }
        let base = match self.issuer_base_url {
            Some(url) => url,
            None => self
                .env
                .get_non_empty(ISSUER_URL_ENV)
                .unwrap_or_else(|| DEFAULT_ISSUER_URL.to_owned()),
        };
        let base = check_base_url(&base)?;
        let issuer = match &self.issuer {
            ExpectedIssuer::Global => base.to_owned(),
            ExpectedIssuer::Team(slug) => {
                let path_safe = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
                if slug.is_empty() || slug.starts_with('.') || !slug.chars().all(path_safe) {
                    return Err(VerifierConfigError::InvalidTeamSlug);
                }
                format!("{base}/{slug}")
            }
        };
        let roots = match self.roots {
            Some(roots) => Some(roots),
            None => ExtraRoots::from_env(&self.env).map_err(VerifierConfigError::Client)?,
        };
        // Key sets are small: a short total timeout.
        let client = crate::http::http_client(roots.as_ref(), Duration::from_secs(10))
            .map_err(VerifierConfigError::Client)?;
        let jwks = Jwks::new(
            format!("{issuer}/.well-known/jwks"),
            client,
            self.clock.clone(),
            self.jwks_max_age,
            self.jwks_cooldown,
        );
        Ok(Verifier {
            inner: Arc::new(Inner {
                issuer: issuer.into_boxed_str(),
                audience: self.audience.into_boxed_str(),
                project_id,
                environment,
                owner_id,
                leeway_ms: self.leeway.as_millis() as i128,
                max_token_len: self.max_token_len,
                clock: self.clock,
                jwks: Arc::new(jwks),
            }),
        })
    }
}

/// Checks the issuer base URL and returns it without a trailing slash.
fn check_base_url(base: &str) -> Result<&str, VerifierConfigError> {
    crate::http::check_base_url(base)
        .map_err(|reason| VerifierConfigError::InvalidIssuerUrl { reason })
}

/// The JOSE header fields the verifier reads, borrowed from the decoded header when possible.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow, default)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// A token split and its header checked: ready for the key lookup.
struct Parsed<'t> {
    signing_input: &'t str,
    payload: &'t str,
    signature: &'t str,
}

/// Registered JWA names, so a rejected `alg` can be named without echoing the header.
const KNOWN_ALGS: &[&str] = &[
    "none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES256K", "ES384", "ES512", "EdDSA", "Ed25519", "Ed448",
];

impl Verifier {
    /// A builder for tokens from `issuer` whose `aud` contains `audience`.
    ///
    /// `project_id`, `environment` and `owner_id` must each be decided before
    /// [`VerifierBuilder::build`] succeeds.
    pub fn builder(issuer: ExpectedIssuer, audience: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder {
            issuer,
            audience: audience.into(),
            project_id: None,
            environment: None,
            owner_id: None,
            issuer_base_url: None,
            env: Env::real(),
            roots: None,
            leeway: DEFAULT_LEEWAY,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            jwks_max_age: DEFAULT_JWKS_MAX_AGE,
            jwks_cooldown: DEFAULT_JWKS_COOLDOWN,
            clock: SharedClock::default(),
        }
    }

    /// The pinned issuer (`iss` must equal it exactly).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The required audience.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// Where the key set is fetched: `{issuer}/.well-known/jwks`.
    pub fn jwks_url(&self) -> &str {
        self.inner.jwks.url()
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
                let kid = parsed.1;
                let key = set.find(&kid).ok_or(VerifyError::UnknownKeyId)?;
                self.finish(&parsed.0, key)
            }
        }
    }

    /// Verifies with the cached keys only; `None` when a key-set fetch is needed first.
    pub(crate) fn verify_cached(&self, token: &str) -> Option<Result<Claims, VerifyError>> {
        let (parsed, kid) = match self.parse(token) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        let jwks = &self.inner.jwks;
        let guard = jwks.cached();
        let now = jwks.now_ms();
        match jwks.lookup(guard.as_deref(), &kid, now) {
            KeyLookup::Found(key) => Some(self.finish(&parsed, key)),
            KeyLookup::Unknown => Some(Err(VerifyError::UnknownKeyId)),
            KeyLookup::Fetch => None,
        }
    }

    /// Size, shape, header: everything before the key is needed. Returns the `kid`.
    fn parse<'t>(&self, token: &'t str) -> Result<(Parsed<'t>, KidBuf), VerifyError> {
        let malformed = VerifyError::Malformed;
        if token.len() > self.inner.max_token_len {
            return Err(VerifyError::TooLarge {
                len: token.len(),
                max: self.inner.max_token_len,
            });
        }
        let parts = crate::token::split_jwt(token).map_err(malformed)?;
        let not_base64 = || malformed(MalformedTokenReason::NotBase64Url { part: "header" });
        // Vercel's headers are under 100 bytes: decoded on the stack, no allocation.
        let mut stack = [0u8; 256];
        let heap;
        let header_bytes: &[u8] = match URL_SAFE_NO_PAD.decode_slice(parts.header, &mut stack) {
            Ok(len) => &stack[..len],
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                heap = URL_SAFE_NO_PAD
                    .decode(parts.header)
                    .map_err(|_| not_base64())?;
                &heap
            }
            Err(base64::DecodeSliceError::DecodeError(_)) => return Err(not_base64()),
        };
        let header: Header<'_> = serde_json::from_slice(header_bytes)
            .map_err(|_| malformed(MalformedTokenReason::NotJson { part: "header" }))?;
        let alg = header.alg.as_deref().unwrap_or_default();
        if alg != "RS256" {
            return Err(VerifyError::DisallowedAlgorithm {
                alg: KNOWN_ALGS.iter().copied().find(|a| *a == alg),
            });
        }
        if header.crit.is_some() {
            return Err(VerifyError::CriticalHeader);
        }
        let kid = match header.kid {
            Some(kid) if !kid.is_empty() => KidBuf::new(&kid),
            _ => return Err(VerifyError::MissingKeyId),
        };
        let signing_input = &token[..parts.header.len() + 1 + parts.payload.len()];
        Ok((
            Parsed {
                signing_input,
                payload: parts.payload,
                signature: parts.signature,
            },
            kid,
        ))
    }

    /// Signature, then claims.
    fn finish(&self, parsed: &Parsed<'_>, key: &DecodingKey) -> Result<Claims, VerifyError> {
        let valid = jsonwebtoken::crypto::verify(
            parsed.signature,
            parsed.signing_input.as_bytes(),
            key,
            jsonwebtoken::Algorithm::RS256,
        )
        .unwrap_or(false);
        if !valid {
            return Err(VerifyError::InvalidSignature);
        }
        let map = crate::token::decode_json_part(parsed.payload, "payload")
            .map_err(VerifyError::Malformed)?;
        let claims = Claims::from_json_object(map).map_err(VerifyError::Malformed)?;
        self.check_claims(&claims, self.inner.clock.now_ms())?;
        Ok(claims)
    }

    fn check_claims(&self, claims: &Claims, now_ms: u64) -> Result<(), VerifyError> {
        let i = &self.inner;
        match claims.iss.as_deref() {
            None => return Err(VerifyError::MissingClaim { claim: "iss" }),
            Some(iss) if iss != &*i.issuer => return Err(VerifyError::IssuerMismatch),
            Some(_) => {}
        }
        match &claims.aud {
            None => return Err(VerifyError::MissingClaim { claim: "aud" }),
            Some(aud) if !aud.contains(&i.audience) => return Err(VerifyError::AudienceMismatch),
            Some(_) => {}
        }
        let now = i128::from(now_ms);
        let ms = |secs: i64| i128::from(secs) * 1000;
        let exp = claims
            .exp
            .ok_or(VerifyError::MissingClaim { claim: "exp" })?;
        if now >= ms(exp) + i.leeway_ms {
            return Err(VerifyError::Expired);
        }
        if let Some(nbf) = claims.nbf
            && now + i.leeway_ms < ms(nbf)
        {
            return Err(VerifyError::NotYetValid);
        }
        if let Some(iat) = claims.iat
            && now + i.leeway_ms < ms(iat)
        {
            return Err(VerifyError::IssuedInFuture);
        }
        for (constraint, value, claim) in [
            (
                &i.project_id,
                claims.project_id.as_deref(),
                ConstrainedClaim::ProjectId,
            ),
            (
                &i.environment,
                claims.environment.as_deref(),
                ConstrainedClaim::Environment,
            ),
            (
                &i.owner_id,
                claims.owner_id.as_deref(),
                ConstrainedClaim::OwnerId,
            ),
        ] {
            if !constraint.allows(value) {
                return Err(VerifyError::ClaimNotAllowed { claim });
            }
        }
        Ok(())
    }
}

/// A `kid`, inline when short (Vercel's are), so the warm path does not allocate for it.
enum KidBuf {
    Inline { buf: [u8; 64], len: u8 },
    Heap(Box<str>),
}

impl KidBuf {
    fn new(kid: &str) -> Self {
        if kid.len() <= 64 {
            let mut buf = [0u8; 64];
            buf[..kid.len()].copy_from_slice(kid.as_bytes());
            Self::Inline {
                buf,
                len: kid.len() as u8,
            }
        } else {
            Self::Heap(kid.into())
        }
    }
}

impl Deref for KidBuf {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            // Copied from a `str` on a char boundary (the whole string).
            Self::Inline { buf, len } => {
                std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or("")
            }
            Self::Heap(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::ManualClock;
    use std::time::UNIX_EPOCH;

    fn builder() -> VerifierBuilder {
        Verifier::builder(ExpectedIssuer::team("acme"), "https://api.example.com")
            .env(Env::from_pairs::<&str, &str>([]))
    }

    #[test]
    fn the_largest_leeway_and_token_length_are_accepted_and_the_audience_kept() {
        let decided = || {
            builder()
                .project_id(Constraint::Any)
                .environment(Constraint::Any)
                .owner_id(Constraint::Any)
        };
        let v = decided()
            .leeway(Duration::from_secs(600))
            .max_token_len(crate::MAX_TOKEN_LEN)
            .build()
            .expect("the maxima are allowed");
        assert_eq!(v.audience(), "https://api.example.com");
    }

    #[test]
    fn every_constraint_must_be_decided() {
        let err = builder().build().expect_err("undecided");
        assert!(matches!(
            err,
            VerifierConfigError::Undecided {
                claim: ConstrainedClaim::ProjectId
            }
        ));
        let err = builder()
            .project_id("prj_1")
            .owner_id(Constraint::Any)
            .build()
            .expect_err("undecided");
        assert!(matches!(
            err,
            VerifierConfigError::Undecided {
                claim: ConstrainedClaim::Environment
            }
        ));
        assert!(err.to_string().contains("environment"), "{err}");
        let err = builder()
            .project_id("prj_1")
            .environment(Environment::Production)
            .build()
            .expect_err("undecided");
        assert!(matches!(
            err,
            VerifierConfigError::Undecided {
                claim: ConstrainedClaim::OwnerId
            }
        ));
        let err = builder()
            .project_id(Constraint::one_of(Vec::<String>::new()))
            .environment(Constraint::Any)
            .owner_id(Constraint::Any)
            .build()
            .expect_err("empty list");
        assert!(matches!(
            err,
            VerifierConfigError::EmptyConstraint {
                claim: ConstrainedClaim::ProjectId
            }
        ));
        // An empty value (say, from an unset env var) is a mistake, not a value.
        let err = builder()
            .project_id(Constraint::Any)
            .environment(Constraint::Any)
            .owner_id(String::new())
            .build()
            .expect_err("empty value");
        assert!(matches!(
            err,
            VerifierConfigError::EmptyConstraint {
                claim: ConstrainedClaim::OwnerId
            }
        ));
        let v = builder()
            .project_id(Constraint::Any)
            .environment(Constraint::Any)
            .owner_id(Constraint::Any)
            .build()
            .expect("decided");
        assert_eq!(v.issuer(), "https://oidc.vercel.com/acme");
        assert_eq!(
            v.jwks_url(),
            "https://oidc.vercel.com/acme/.well-known/jwks"
        );
    }

    fn decided(b: VerifierBuilder) -> VerifierBuilder {
        b.project_id(Constraint::Any)
            .environment(Constraint::Any)
            .owner_id(Constraint::Any)
    }

    #[test]
    fn issuer_forms_and_base_url_rules() {
        let global = decided(Verifier::builder(ExpectedIssuer::global(), "aud"))
            .env(Env::from_pairs::<&str, &str>([]))
            .build()
            .expect("global");
        assert_eq!(global.issuer(), "https://oidc.vercel.com");
        assert_eq!(
            global.jwks_url(),
            "https://oidc.vercel.com/.well-known/jwks"
        );

        let from_env = decided(builder())
            .env(Env::from_pairs([(
                ISSUER_URL_ENV,
                "http://127.0.0.1:8080/",
            )]))
            .build()
            .expect("loopback http");
        assert_eq!(from_env.issuer(), "http://127.0.0.1:8080/acme");
        for ok in [
            "http://localhost:3000",
            "http://[::1]:1",
            "https://issuer.example",
        ] {
            decided(builder()).issuer_base_url(ok).build().expect(ok);
        }
        for bad in [
            "http://oidc.vercel.com",
            "ftp://127.0.0.1",
            "not a url",
            "https://user:pw@oidc.vercel.com",
            "https://oidc.vercel.com?x=1",
            "https://oidc.vercel.com#f",
        ] {
            let err = decided(builder())
                .issuer_base_url(bad)
                .build()
                .expect_err(bad);
            assert!(
                matches!(err, VerifierConfigError::InvalidIssuerUrl { .. }),
                "{bad}: {err:?}"
            );
            assert!(!err.to_string().contains("pw"), "{err}");
        }
        for slug in ["", ".", "a/b", "a b", "..", "ü"] {
            let err = decided(Verifier::builder(ExpectedIssuer::team(slug), "aud"))
                .build()
                .expect_err(slug);
            assert!(
                matches!(err, VerifierConfigError::InvalidTeamSlug),
                "{slug}"
            );
        }
        let err = decided(Verifier::builder(ExpectedIssuer::global(), ""))
            .build()
            .expect_err("empty aud");
        assert!(matches!(err, VerifierConfigError::EmptyAudience));
        for (b, setting) in [
            (
                decided(builder()).leeway(Duration::from_secs(601)),
                "leeway",
            ),
            (decided(builder()).max_token_len(0), "max_token_len"),
            (
                decided(builder()).max_token_len(crate::MAX_TOKEN_LEN + 1),
                "max_token_len",
            ),
        ] {
            let err = b.build().expect_err(setting);
            assert!(
                matches!(err, VerifierConfigError::InvalidSetting { setting: s, .. } if s == setting),
                "{err:?}"
            );
        }
    }

    fn claims(json: serde_json::Value) -> Claims {
        match json {
            serde_json::Value::Object(map) => Claims::from_json_object(map).expect("claims"),
            _ => Claims::default(),
        }
    }

    #[test]
    fn claim_checks_use_the_injected_clock_and_leeway() {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000_000));
        let v = builder()
            .project_id(Constraint::one_of(["prj_1", "prj_2"]))
            .environment(Environment::Production)
            .owner_id("team_1")
            .time_source(SharedClock::new(clock))
            .build()
            .expect("verifier");
        let now = 1_000_000_000u64;
        let base = serde_json::json!({
            "iss": "https://oidc.vercel.com/acme", "aud": ["x", "https://api.example.com"],
            "exp": 1_000_100, "nbf": 999_900, "iat": 999_900,
            "project_id": "prj_2", "environment": "production", "owner_id": "team_1",
        });
        v.check_claims(&claims(base.clone()), now).expect("valid");
        let with = |k: &str, val: serde_json::Value| {
            let mut j = base.clone();
            j[k] = val;
            claims(j)
        };
        let without = |k: &str| {
            let mut j = base.clone();
            if let Some(m) = j.as_object_mut() {
                m.remove(k);
            }
            claims(j)
        };
        let check = |c: Claims| v.check_claims(&c, now);
        // Expiry: within the 60 s leeway passes, beyond fails.
        check(with("exp", 999_941.into())).expect("within leeway");
        assert!(matches!(
            check(with("exp", 999_940.into())),
            Err(VerifyError::Expired)
        ));
        check(with("nbf", 1_000_060.into())).expect("within leeway");
        assert!(matches!(
            check(with("nbf", 1_000_061.into())),
            Err(VerifyError::NotYetValid)
        ));
        assert!(matches!(
            check(with("iat", 1_000_061.into())),
            Err(VerifyError::IssuedInFuture)
        ));
        check(with("iat", 1_000_060.into())).expect("iat at the leeway's edge");
        check(without("nbf")).expect("nbf optional");
        for (claim, want) in [("iss", "iss"), ("aud", "aud"), ("exp", "exp")] {
            assert!(
                matches!(check(without(claim)), Err(VerifyError::MissingClaim { claim: c }) if c == want),
                "{claim}"
            );
        }
        for iss in [
            "https://oidc.vercel.com/acme/",
            "https://oidc.vercel.com",
            "https://oidc.vercel.com/other",
            "https://oidc.vercel.com.evil.example/acme",
            "https://OIDC.vercel.com/acme",
        ] {
            assert!(
                matches!(
                    check(with("iss", iss.into())),
                    Err(VerifyError::IssuerMismatch)
                ),
                "{iss}"
            );
        }
        assert!(matches!(
            check(with("aud", "https://vercel.com/acme".into())),
            Err(VerifyError::AudienceMismatch)
        ));
        for (claim, value, want) in [
            ("project_id", "prj_3", ConstrainedClaim::ProjectId),
            ("environment", "preview", ConstrainedClaim::Environment),
            ("owner_id", "team_2", ConstrainedClaim::OwnerId),
        ] {
            assert!(
                matches!(check(with(claim, value.into())), Err(VerifyError::ClaimNotAllowed { claim: c }) if c == want),
                "{claim}"
            );
            assert!(
                matches!(check(without(claim)), Err(VerifyError::ClaimNotAllowed { claim: c }) if c == want),
                "{claim} absent"
            );
        }
    }

    #[test]
    fn kid_buffer_round_trips() {
        for kid in ["k", &"x".repeat(64), &"y".repeat(65), "ключ"] {
            assert_eq!(&*KidBuf::new(kid), kid);
        }
    }

    #[test]
    fn verified_claims_deref() {
        let c = claims(serde_json::json!({"project": "web"}));
        let v = VerifiedClaims(c.clone());
        assert_eq!(v.project.as_deref(), Some("web"));
        assert_eq!(v.into_inner(), c);
    }
}
