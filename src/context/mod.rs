//! The request context: the Rust form of the npm package's request-context global.
//!
//! On Vercel, each function invocation carries its OIDC token in the `x-vercel-oidc-token`
//! request header (`x-vercel-internal-oidc-token` on some paths). Rust has no runtime global
//! for "the current request", so this module offers:
//!
//! - [`RequestContext::scope`]: runs a future with a request's token visible to
//!   [`crate::get_vercel_oidc_token`] (a tokio task-local);
//! - [`RequestContextLayer`]: a tower layer that does that for every request, for both the
//!   `http::Request<B>` shape (axum) and `vercel_runtime`'s `(AppState, Request)` shape;
//! - the process-wide *freshest token* slot ([`FreshestTokenSlot`]): on Vercel, the layer records
//!   the newest plausible header token it has seen, so background work that runs outside any
//!   request (a provider's refresh-ahead task) still finds a token. It never returns an expired
//!   token.
//!
//! # Security
//! The header is only trustworthy when Vercel's platform sets it. A server that is reachable
//! without Vercel's proxy in front receives whatever a client sends. Therefore:
//!
//! - the layer records into the slot by default only on Vercel (`VERCEL=1`); elsewhere only
//!   when asked to ([`RequestContextLayer::record_freshest`], [`RequestContextLayer::slot`]);
//! - a token enters the slot only when it is plausible for this deployment (see
//!   [`FreshestTokenSlot`]): shaped like Vercel's (RS256 with a `kid`), issued by the same
//!   issuer for the same team, project and environment as the deployment's known identity,
//!   with a lifetime of at most 24 h and an `iat` not in the future;
//! - the newest token (the largest `iat`) wins, not the longest-lived one, so a genuine token
//!   issued later always displaces an earlier one.
//!
//! The slot does not check signatures: a token that copies a genuine token's claims under a
//! forged signature can sit in it until a newer genuine token arrives. The cloud services it is
//! sent to verify signatures, so it grants no access; it can only make a background refresh
//! fail. [`RequestContextLayer::verifier`] verifies each new token before it is offered. Header
//! tokens longer than [`crate::MAX_TOKEN_LEN`] or not shaped like a JWT are ignored.

#[cfg(feature = "layer")]
mod future;
#[cfg(feature = "layer")]
mod layer;

use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use http::HeaderMap;

use crate::env::Env;
use crate::error::MalformedTokenReason;
use crate::token::{Claims, OidcToken};

#[cfg(feature = "layer")]
pub use future::ResponseFuture;
#[cfg(feature = "layer")]
pub use layer::{RequestContextLayer, RequestContextService};

/// The header Vercel puts the function's OIDC token in.
pub const OIDC_TOKEN_HEADER: &str = "x-vercel-oidc-token";
/// The alternative header name, consulted when the first is absent.
pub const INTERNAL_OIDC_TOKEN_HEADER: &str = "x-vercel-internal-oidc-token";

/// The longest lifetime (`exp - iat`) a token may claim and still enter the slot. Vercel's
/// tokens live 1 h (builds), about 2 h (functions) or 12 h (local development).
const SLOT_MAX_LIFETIME_SECS: i64 = 24 * 3600;
/// How far in the future a recorded token's `iat` may be (clock skew).
const SLOT_IAT_LEEWAY_SECS: i64 = 60;

/// The env var that says the process runs on Vercel (`1`).
#[cfg_attr(not(feature = "layer"), allow(dead_code))]
const ENV_VERCEL: &str = "VERCEL";
/// The Vercel CLI's project id variable; when set, recorded tokens must carry this `project_id`.
#[cfg_attr(not(feature = "layer"), allow(dead_code))]
const ENV_PROJECT_ID: &str = "VERCEL_PROJECT_ID";
/// The Vercel CLI's team id variable; when set, recorded tokens must carry this `owner_id`.
#[cfg_attr(not(feature = "layer"), allow(dead_code))]
const ENV_ORG_ID: &str = "VERCEL_ORG_ID";

tokio::task_local! {
    static CONTEXT: RequestContext;
}

static GLOBAL_SLOT: LazyLock<Arc<FreshestTokenSlot>> =
    LazyLock::new(|| Arc::new(FreshestTokenSlot::new()));

/// What the token source needs from one incoming request: its OIDC token header.
///
/// `Debug` never shows the token.
#[derive(Clone, Default)]
pub struct RequestContext {
    token: Option<Result<OidcToken, MalformedTokenReason>>,
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = match &self.token {
            None => "none",
            Some(Ok(_)) => "[redacted]",
            Some(Err(_)) => "malformed",
        };
        f.debug_struct("RequestContext")
            .field("token", &token)
            .finish()
    }
}

impl RequestContext {
    /// Reads `x-vercel-oidc-token`, else `x-vercel-internal-oidc-token`.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let value = headers
            .get(OIDC_TOKEN_HEADER)
            .or_else(|| headers.get(INTERNAL_OIDC_TOKEN_HEADER));
        let token = value.map(|v| match v.to_str() {
            Ok(s) => OidcToken::parse(s).map_err(|e| match e {
                crate::Error::MalformedToken(reason) => reason,
                _ => MalformedTokenReason::Empty,
            }),
            Err(_) => Err(MalformedTokenReason::NotBase64Url { part: "header" }),
        });
        Self { token }
    }

    /// A context carrying `token`.
    pub fn with_token(token: OidcToken) -> Self {
        Self {
            token: Some(Ok(token)),
        }
    }

    /// The request's token: `None` without a header, `Some(Err(_))` when it is malformed.
    pub fn token(&self) -> Option<Result<&OidcToken, &MalformedTokenReason>> {
        self.token.as_ref().map(Result::as_ref)
    }

    /// Runs `future` with this context visible to the token source.
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CONTEXT.scope(self, future).await
    }

    /// Runs `f` with this context visible to the synchronous token getter.
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        CONTEXT.sync_scope(self, f)
    }

    /// The context of the current scope, if any.
    pub fn current() -> Option<RequestContext> {
        CONTEXT.try_with(Clone::clone).ok()
    }

    /// Offers this context's token to `slot` (see [`FreshestTokenSlot::offer`]).
    pub fn record_in(&self, slot: &FreshestTokenSlot) {
        if let Some(Ok(token)) = &self.token {
            slot.offer(token, crate::time::system_now());
        }
    }
}

/// The freshest valid token the [`RequestContextLayer`] has seen in this process, if it is not
/// expired at `now + buffer`. Never returns an expired token. Reads
/// [`FreshestTokenSlot::global`].
pub fn freshest_header_token(buffer: Duration) -> Option<OidcToken> {
    FreshestTokenSlot::global().get(buffer)
}

/// Holds the newest plausible header token seen, for work that runs outside any request.
///
/// The layer and [`crate::VercelTokenSource`] use [`FreshestTokenSlot::global`] unless given
/// another slot (tests use their own).
///
/// # What enters the slot
/// A token offered ([`FreshestTokenSlot::offer`], or the [`RequestContextLayer`] for each
/// request) is kept only when all of these hold:
///
/// - its header says `alg: RS256` and has a non-empty `kid`, as Vercel's tokens do (an
///   unsigned `alg: none` token never enters);
/// - it has `exp` and `iat`; `exp` is in the future, `iat` at most 60 s in the future, and
///   `exp - iat` (its lifetime) is positive and at most 24 h (Vercel's tokens live 1 h in
///   builds, about 2 h in functions, 12 h in local development);
/// - it has `iss`, `owner_id` and `project_id`, and they, with `environment`, match the
///   deployment's identity: what the layer knows from its environment (the claims of
///   `VERCEL_OIDC_TOKEN`, else `VERCEL_ORG_ID` / `VERCEL_PROJECT_ID`), and the identity of the
///   first token this slot recorded, which the slot keeps until [`FreshestTokenSlot::clear`];
/// - it is newer than the token held: a larger `iat` (or the held one has expired). The newest
///   token wins, not the longest-lived, so a genuine token issued later always displaces one
///   that claims a long life.
///
/// When the environment names no identity, the first recorded token decides it: record only
/// where the first request's header can be trusted (on Vercel, its proxy sets the header).
///
/// The slot does not check signatures (it has no key set, and offering happens on the request
/// path): a token that copies a genuine token's claims under a forged signature can sit in it
/// until a newer genuine token arrives. It grants no access (the cloud services it is sent to
/// verify signatures), but can make a background refresh fail meanwhile. A layer with a
/// verifier ([`RequestContextLayer::verifier`]) checks signatures before offering.
#[derive(Default)]
pub struct FreshestTokenSlot {
    token: ArcSwapOption<OidcToken>,
    /// The identity of the first recorded token. The lock also serialises offers.
    pinned: Mutex<Option<Identity>>,
}

impl std::fmt::Debug for FreshestTokenSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let has = self.token.load().is_some();
        f.debug_struct("FreshestTokenSlot")
            .field("token", &if has { "[redacted]" } else { "none" })
            .finish()
    }
}

/// Why an offered token was not recorded (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// It is the token already held.
    AlreadyHeld,
    /// No `exp` or no `iat`.
    MissingTime,
    /// `exp` is not in the future.
    Expired,
    /// `iat` is more than the leeway in the future.
    IssuedInFuture,
    /// `exp - iat` is not positive or longer than 24 h.
    Lifetime,
    /// Not RS256 with a `kid`.
    NotVercelShaped,
    /// No `iss`, `owner_id` or `project_id`.
    NoIdentity,
    /// Another issuer, team, project or environment than the deployment's.
    ForeignIdentity,
    /// The held token is at least as new.
    NotNewer,
}

/// The claims that all tokens of one deployment share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    iss: String,
    owner_id: String,
    project_id: String,
    environment: Option<String>,
}

impl Identity {
    fn of(claims: &Claims) -> Option<Self> {
        let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Some(Self {
            iss: non_empty(&claims.iss)?,
            owner_id: non_empty(&claims.owner_id)?,
            project_id: non_empty(&claims.project_id)?,
            environment: claims.environment.clone(),
        })
    }
}

/// What the environment says about this deployment's tokens: each field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ExpectedIdentity {
    iss: Option<String>,
    owner_id: Option<String>,
    project_id: Option<String>,
    /// Compared only when the env token names the identity.
    environment: Option<Option<String>>,
}

impl ExpectedIdentity {
    /// The claims of `VERCEL_OIDC_TOKEN` (trusted configuration; expired or not), else
    /// `VERCEL_ORG_ID` and `VERCEL_PROJECT_ID`.
    #[cfg_attr(not(feature = "layer"), allow(dead_code))]
    pub(crate) fn from_env(env: &Env) -> Self {
        let mut expected = Self::default();
        if let Some(raw) = env.get_non_empty(crate::source::ENV_TOKEN) {
            match OidcToken::parse(raw) {
                Ok(token) => {
                    let claims = token.unverified_claims();
                    let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
                    expected.iss = non_empty(&claims.iss);
                    expected.owner_id = non_empty(&claims.owner_id);
                    expected.project_id = non_empty(&claims.project_id);
                    expected.environment = Some(claims.environment.clone());
                }
                Err(_) => tracing::debug!(
                    "request context: VERCEL_OIDC_TOKEN is malformed; it names no deployment identity"
                ),
            }
        }
        if expected.owner_id.is_none() {
            expected.owner_id = env.get_non_empty(ENV_ORG_ID);
        }
        if expected.project_id.is_none() {
            expected.project_id = env.get_non_empty(ENV_PROJECT_ID);
        }
        expected
    }

    fn allows(&self, id: &Identity) -> bool {
        let matches =
            |want: &Option<String>, have: &String| want.as_ref().is_none_or(|w| w == have);
        matches(&self.iss, &id.iss)
            && matches(&self.owner_id, &id.owner_id)
            && matches(&self.project_id, &id.project_id)
            && self
                .environment
                .as_ref()
                .is_none_or(|e| *e == id.environment)
    }
}

/// `true` when `env` says the process runs on Vercel (`VERCEL=1`).
#[cfg_attr(not(feature = "layer"), allow(dead_code))]
pub(crate) fn on_vercel(env: &Env) -> bool {
    env.get(ENV_VERCEL).as_deref() == Some("1")
}

/// Whether the JOSE header is Vercel's shape: `alg: RS256` and a non-empty `kid`.
fn vercel_shaped(token: &OidcToken) -> bool {
    let Ok(parts) = crate::token::split_jwt(token.expose_secret()) else {
        return false;
    };
    let Ok(header) = crate::token::decode_json_part(parts.header, "header") else {
        return false;
    };
    let alg = header.get("alg").and_then(serde_json::Value::as_str);
    let kid = header.get("kid").and_then(serde_json::Value::as_str);
    alg == Some("RS256") && kid.is_some_and(|k| !k.is_empty())
}

fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

impl FreshestTokenSlot {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide slot.
    pub fn global() -> &'static Arc<FreshestTokenSlot> {
        &GLOBAL_SLOT
    }

    /// The token if it is not expired at now (the system clock) `+ buffer`.
    pub fn get(&self, buffer: Duration) -> Option<OidcToken> {
        self.get_at(buffer, crate::time::system_now())
    }

    /// The token if it is not expired at `now + buffer`.
    pub fn get_at(&self, buffer: Duration, now: SystemTime) -> Option<OidcToken> {
        let guard = self.token.load();
        let token = guard.as_ref()?;
        (!token.is_expired_within_at(buffer, now)).then(|| (**token).clone())
    }

    /// Offers `token`, checked at `now`: kept when it is plausible and newer than the held one
    /// (see [what enters the slot](FreshestTokenSlot#what-enters-the-slot)). Without an
    /// environment to compare with, the first token recorded decides the identity. Returns
    /// whether it was kept.
    pub fn offer(&self, token: &OidcToken, now: SystemTime) -> bool {
        self.offer_expecting(token, now, &ExpectedIdentity::default())
            .is_ok()
    }

    /// [`FreshestTokenSlot::offer`], with the identity the environment expects.
    pub(crate) fn offer_expecting(
        &self,
        token: &OidcToken,
        now: SystemTime,
        expected: &ExpectedIdentity,
    ) -> Result<(), Refusal> {
        let result = self.consider(token, now, expected, true);
        match result {
            Ok(()) => tracing::trace!("request context: recorded a newer header token"),
            Err(Refusal::AlreadyHeld | Refusal::NotNewer) => {}
            Err(reason) => {
                tracing::debug!(?reason, "request context: header token not recorded");
            }
        }
        result
    }

    /// Every check of [`FreshestTokenSlot::offer_expecting`], without recording: whether the
    /// token would enter now (the layer checks this before it spends a signature check).
    #[cfg_attr(not(all(feature = "layer", feature = "verifier")), allow(dead_code))]
    pub(crate) fn would_take(
        &self,
        token: &OidcToken,
        now: SystemTime,
        expected: &ExpectedIdentity,
    ) -> Result<(), Refusal> {
        self.consider(token, now, expected, false)
    }

    fn consider(
        &self,
        token: &OidcToken,
        now: SystemTime,
        expected: &ExpectedIdentity,
        store: bool,
    ) -> Result<(), Refusal> {
        if self.token.load().as_deref() == Some(token) {
            return Err(Refusal::AlreadyHeld);
        }
        let claims = token.unverified_claims();
        let (Some(exp), Some(iat)) = (claims.exp, claims.iat) else {
            return Err(Refusal::MissingTime);
        };
        let now_secs = unix_secs(now);
        if exp <= now_secs {
            return Err(Refusal::Expired);
        }
        if iat > now_secs.saturating_add(SLOT_IAT_LEEWAY_SECS) {
            return Err(Refusal::IssuedInFuture);
        }
        match exp.checked_sub(iat) {
            Some(lifetime) if lifetime > 0 && lifetime <= SLOT_MAX_LIFETIME_SECS => {}
            _ => return Err(Refusal::Lifetime),
        }
        if !vercel_shaped(token) {
            return Err(Refusal::NotVercelShaped);
        }
        let identity = Identity::of(claims).ok_or(Refusal::NoIdentity)?;
        if !expected.allows(&identity) {
            return Err(Refusal::ForeignIdentity);
        }
        let mut pinned = self.pinned();
        if pinned.as_ref().is_some_and(|p| *p != identity) {
            return Err(Refusal::ForeignIdentity);
        }
        let held_is_newer = self.token.load().as_deref().is_some_and(|held| {
            !held.is_expired_within_at(Duration::ZERO, now)
                && held.unverified_claims().iat.is_some_and(|h| h >= iat)
        });
        if held_is_newer {
            return Err(Refusal::NotNewer);
        }
        if !store {
            return Ok(());
        }
        if pinned.is_none() {
            *pinned = Some(identity);
        }
        self.token.store(Some(Arc::new(token.clone())));
        Ok(())
    }

    fn pinned(&self) -> MutexGuard<'_, Option<Identity>> {
        self.pinned.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Empties the slot and forgets the identity of the tokens it recorded.
    pub fn clear(&self) {
        let mut pinned = self.pinned();
        *pinned = None;
        self.token.store(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::jwt_expiring_in;
    use std::time::UNIX_EPOCH;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn both_header_names_first_wins() {
        let a = jwt_expiring_in(60);
        let b = jwt_expiring_in(120);
        let ctx = RequestContext::from_headers(&headers(&[(INTERNAL_OIDC_TOKEN_HEADER, &b)]));
        assert_eq!(ctx.token().expect("some").expect("ok").expose_secret(), b);
        let ctx = RequestContext::from_headers(&headers(&[
            (OIDC_TOKEN_HEADER, &a),
            (INTERNAL_OIDC_TOKEN_HEADER, &b),
        ]));
        assert_eq!(ctx.token().expect("some").expect("ok").expose_secret(), a);
        assert!(
            RequestContext::from_headers(&HeaderMap::new())
                .token()
                .is_none()
        );
        let bad = RequestContext::from_headers(&headers(&[(OIDC_TOKEN_HEADER, "garbage")]));
        assert!(matches!(bad.token(), Some(Err(_))));
        assert_eq!(
            format!("{bad:?}"),
            r#"RequestContext { token: "malformed" }"#
        );
        let good = RequestContext::from_headers(&headers(&[(OIDC_TOKEN_HEADER, &a)]));
        assert_eq!(
            format!("{good:?}"),
            r#"RequestContext { token: "[redacted]" }"#
        );
    }

    #[tokio::test]
    async fn scope_is_visible_inside_only() {
        assert!(RequestContext::current().is_none());
        let t = OidcToken::parse(jwt_expiring_in(60)).expect("valid");
        let inside = RequestContext::with_token(t.clone())
            .scope(async { RequestContext::current() })
            .await;
        assert!(inside.is_some());
        assert!(RequestContext::current().is_none());
    }

    const NOW: i64 = 1_000_000;

    fn at(secs: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    }

    /// A Vercel-shaped token (RS256 with a kid) of project `prj_1`, team `team_1`, with `extra`
    /// claims overriding the defaults (`null` removes one).
    fn vercel_token(iat: i64, exp: i64, extra: serde_json::Value) -> OidcToken {
        let mut claims = serde_json::json!({
            "iss": "https://oidc.vercel.com/acme",
            "owner_id": "team_1",
            "project_id": "prj_1",
            "environment": "production",
            "iat": iat,
            "exp": exp,
            "nonce": fastrand::u64(..),
        });
        if let (Some(map), serde_json::Value::Object(extra)) = (claims.as_object_mut(), extra) {
            for (k, v) in extra {
                if v.is_null() {
                    map.remove(&k);
                } else {
                    map.insert(k, v);
                }
            }
        }
        OidcToken::parse(crate::test_util::jwt_with_payload(&claims.to_string())).expect("valid")
    }

    fn fresh(iat: i64) -> OidcToken {
        vercel_token(iat, iat + 3600, serde_json::json!({}))
    }

    fn with_header(header: &str, token: &OidcToken) -> OidcToken {
        let raw = token.expose_secret();
        let rest = &raw[raw.find('.').expect("dot")..];
        let header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            header.as_bytes(),
        );
        OidcToken::parse(format!("{header}{rest}")).expect("valid")
    }

    fn refusal(slot: &FreshestTokenSlot, token: &OidcToken) -> Option<Refusal> {
        slot.offer_expecting(token, at(NOW), &ExpectedIdentity::default())
            .err()
    }

    #[test]
    fn slot_time_rules_and_their_boundaries() {
        let slot = FreshestTokenSlot::new();
        assert!(slot.get_at(Duration::ZERO, at(NOW)).is_none());
        let t = |iat, exp| vercel_token(iat, exp, serde_json::json!({}));
        let none = serde_json::Value::Null;
        // No exp or no iat.
        for missing in ["exp", "iat"] {
            let token = vercel_token(NOW, NOW + 60, serde_json::json!({ missing: none }));
            assert_eq!(
                refusal(&slot, &token),
                Some(Refusal::MissingTime),
                "{missing}"
            );
        }
        // exp must be in the future: at now is expired, now + 1 is not.
        assert_eq!(refusal(&slot, &t(NOW - 60, NOW)), Some(Refusal::Expired));
        // iat at most 60 s ahead.
        assert_eq!(
            refusal(&slot, &t(NOW + 61, NOW + 3600)),
            Some(Refusal::IssuedInFuture)
        );
        // Lifetime positive and at most 24 h.
        assert_eq!(
            refusal(&slot, &t(NOW - 10, NOW - 10 + 24 * 3600 + 1)),
            Some(Refusal::Lifetime)
        );
        assert_eq!(
            refusal(&slot, &t(NOW + 30, NOW + 20)),
            Some(Refusal::Lifetime)
        );
        assert_eq!(
            refusal(&slot, &t(NOW + 30, NOW + 30)),
            Some(Refusal::Lifetime)
        );
        assert_eq!(
            refusal(&slot, &t(i64::MIN, NOW + 30)),
            Some(Refusal::Lifetime)
        );
        assert!(slot.get_at(Duration::ZERO, at(NOW)).is_none());

        // The accepted edges: exp = now + 1, iat = now + 60, lifetime exactly 24 h.
        let slot = FreshestTokenSlot::new();
        assert!(slot.offer(&t(NOW - 3600, NOW + 1), at(NOW)));
        let slot = FreshestTokenSlot::new();
        assert!(slot.offer(&t(NOW + 60, NOW + 3600), at(NOW)));
        let slot = FreshestTokenSlot::new();
        let day = t(NOW - 10, NOW - 10 + 24 * 3600);
        assert!(slot.offer(&day, at(NOW)));
        assert_eq!(slot.get_at(Duration::ZERO, at(NOW)), Some(day.clone()));
        assert_eq!(refusal(&slot, &day), Some(Refusal::AlreadyHeld));
    }

    #[test]
    fn slot_takes_only_vercel_shaped_tokens_with_an_identity() {
        let slot = FreshestTokenSlot::new();
        let good = fresh(NOW);
        for header in [
            r#"{"alg":"none","typ":"JWT","kid":"k"}"#,
            r#"{"alg":"HS256","kid":"k"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"RS256","kid":""}"#,
            r#"{"alg":"RS256","kid":7}"#,
            r#"{"kid":"k"}"#,
        ] {
            assert_eq!(
                refusal(&slot, &with_header(header, &good)),
                Some(Refusal::NotVercelShaped),
                "{header}"
            );
        }
        for claim in ["iss", "owner_id", "project_id"] {
            for value in [serde_json::Value::Null, serde_json::json!("")] {
                let token = vercel_token(NOW, NOW + 60, serde_json::json!({ claim: value }));
                assert_eq!(refusal(&slot, &token), Some(Refusal::NoIdentity), "{claim}");
            }
        }
        assert!(slot.get_at(Duration::ZERO, at(NOW)).is_none());
        assert!(slot.offer(
            &with_header(r#"{"alg":"RS256","kid":"k2"}"#, &good),
            at(NOW)
        ));
    }

    #[test]
    fn the_first_token_pins_the_identity_until_cleared() {
        let slot = FreshestTokenSlot::new();
        assert!(slot.offer(&fresh(NOW - 100), at(NOW)));
        for (claim, value) in [
            ("iss", "https://oidc.vercel.com/other"),
            ("owner_id", "team_2"),
            ("project_id", "prj_2"),
            ("environment", "preview"),
        ] {
            let other = vercel_token(NOW, NOW + 3600, serde_json::json!({ claim: value }));
            assert_eq!(
                refusal(&slot, &other),
                Some(Refusal::ForeignIdentity),
                "{claim}"
            );
        }
        // The pin outlives the token it came from.
        let later = at(NOW + 4000);
        let foreign = vercel_token(
            NOW + 3990,
            NOW + 7000,
            serde_json::json!({"project_id": "prj_2"}),
        );
        assert!(!slot.offer(&foreign, later));
        slot.clear();
        assert!(slot.get_at(Duration::ZERO, at(NOW)).is_none());
        assert!(slot.offer(&foreign, later));
    }

    #[test]
    fn the_newest_token_wins_not_the_longest_lived() {
        let slot = FreshestTokenSlot::new();
        let long = vercel_token(NOW - 100, NOW - 100 + 23 * 3600, serde_json::json!({}));
        assert!(slot.offer(&long, at(NOW)));
        // Older or equally old: kept out, however long it lives.
        let older = vercel_token(NOW - 200, NOW + 12 * 3600, serde_json::json!({}));
        assert_eq!(refusal(&slot, &older), Some(Refusal::NotNewer));
        let same_iat = vercel_token(NOW - 100, NOW + 3600, serde_json::json!({}));
        assert_eq!(refusal(&slot, &same_iat), Some(Refusal::NotNewer));
        // Newer, shorter-lived: replaces it.
        let newer = vercel_token(NOW - 99, NOW + 600, serde_json::json!({}));
        assert!(slot.offer(&newer, at(NOW)));
        assert_eq!(slot.get_at(Duration::ZERO, at(NOW)), Some(newer.clone()));

        // Never an expired token: not at expiry, not within the buffer.
        assert!(slot.get_at(Duration::ZERO, at(NOW + 600)).is_none());
        assert!(
            slot.get_at(Duration::from_secs(60), at(NOW + 550))
                .is_none()
        );
        assert!(
            slot.get_at(Duration::from_secs(60), at(NOW + 539))
                .is_some()
        );

        // Once the held one has expired, an older-issued valid token replaces it; at its very
        // expiry the held one counts as expired.
        let old_but_valid = vercel_token(NOW - 500, NOW + 3600, serde_json::json!({}));
        assert!(slot.offer(&old_but_valid, at(NOW + 600)));
        assert_eq!(
            slot.get_at(Duration::ZERO, at(NOW + 600)),
            Some(old_but_valid)
        );
    }

    #[test]
    fn the_environment_names_the_identity() {
        let env_token = vercel_token(NOW - 7200, NOW - 3600, serde_json::json!({}));
        let from_token = ExpectedIdentity::from_env(&Env::from_pairs([
            ("VERCEL_OIDC_TOKEN", env_token.expose_secret()),
            ("VERCEL_PROJECT_ID", "prj_ignored"),
        ]));
        let slot = FreshestTokenSlot::new();
        let offer = |slot: &FreshestTokenSlot, token: &OidcToken, expected| {
            slot.offer_expecting(token, at(NOW), expected).err()
        };
        for (claim, value) in [
            ("iss", "https://oidc.vercel.com/other"),
            ("owner_id", "team_2"),
            ("project_id", "prj_2"),
            ("environment", "preview"),
        ] {
            let other = vercel_token(NOW, NOW + 3600, serde_json::json!({ claim: value }));
            assert_eq!(
                offer(&slot, &other, &from_token),
                Some(Refusal::ForeignIdentity),
                "{claim}"
            );
        }
        // Nothing pinned by the refusals; a matching token enters.
        assert_eq!(offer(&slot, &fresh(NOW), &from_token), None);

        // The CLI's ids when the env token is absent or malformed.
        let ids = ExpectedIdentity::from_env(&Env::from_pairs([
            ("VERCEL_OIDC_TOKEN", "garbage"),
            ("VERCEL_ORG_ID", "team_1"),
            ("VERCEL_PROJECT_ID", "prj_1"),
        ]));
        for (claim, value) in [("owner_id", "team_2"), ("project_id", "prj_2")] {
            let other = vercel_token(NOW, NOW + 3600, serde_json::json!({ claim: value }));
            assert_eq!(
                offer(&FreshestTokenSlot::new(), &other, &ids),
                Some(Refusal::ForeignIdentity),
                "{claim}"
            );
        }
        let any_issuer = vercel_token(
            NOW,
            NOW + 3600,
            serde_json::json!({"iss": "https://oidc.vercel.com", "environment": "preview"}),
        );
        assert_eq!(offer(&FreshestTokenSlot::new(), &any_issuer, &ids), None);
        assert_eq!(
            ExpectedIdentity::from_env(&Env::from_pairs([("VERCEL_ORG_ID", "")])),
            ExpectedIdentity::default()
        );
        assert!(on_vercel(&Env::from_pairs([("VERCEL", "1")])));
        assert!(!on_vercel(&Env::from_pairs([("VERCEL", "0")])));
        assert!(!on_vercel(&Env::from_pairs::<&str, &str>([])));
    }

    #[test]
    fn record_in_offers_the_context_token() {
        let slot = FreshestTokenSlot::new();
        let now = unix_secs(SystemTime::now());
        let token = fresh(now);
        RequestContext::default().record_in(&slot);
        assert!(slot.get(Duration::ZERO).is_none());
        RequestContext::with_token(token.clone()).record_in(&slot);
        assert_eq!(slot.get(Duration::ZERO), Some(token));
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(5)), 0);
    }
}
