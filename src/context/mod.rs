//! The request context: the Rust form of the npm package's request-context global (SPEC §4).
//!
//! On Vercel, each function invocation carries its OIDC token in the `x-vercel-oidc-token`
//! request header (`x-vercel-internal-oidc-token` on some paths). Rust has no runtime global
//! for "the current request", so this module offers:
//!
//! - [`RequestContext::scope`]: runs a future with a request's token visible to
//!   [`crate::get_vercel_oidc_token`] (a tokio task-local);
//! - [`RequestContextLayer`]: a tower layer that does that for every request, for both the
//!   `http::Request<B>` shape (axum) and `vercel_runtime`'s `(AppState, Request)` shape;
//! - the process-wide *freshest token* slot: the layer records the freshest valid header token
//!   it has seen, so background work that runs outside any request (a provider's refresh-ahead
//!   task) still finds a token. It never returns an expired token.
//!
//! # Security
//! The header is only trustworthy when Vercel's platform sets it. A server that is reachable
//! without Vercel's proxy in front receives whatever a client sends; disable the slot with
//! [`RequestContextLayer::record_freshest`] there. Header tokens longer than
//! [`crate::MAX_TOKEN_LEN`] or not shaped like a JWT are ignored.

mod future;
mod layer;

use std::future::Future;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use http::HeaderMap;
use std::sync::{Arc, LazyLock};

use crate::error::MalformedTokenReason;
use crate::token::OidcToken;

pub use future::ResponseFuture;
pub use layer::{RequestContextLayer, RequestContextService};

/// The header Vercel puts the function's OIDC token in.
pub const OIDC_TOKEN_HEADER: &str = "x-vercel-oidc-token";
/// The alternative header name, consulted when the first is absent.
pub const INTERNAL_OIDC_TOKEN_HEADER: &str = "x-vercel-internal-oidc-token";

/// Tokens claiming to live longer than this from now are not recorded in the process slot.
/// Vercel's tokens live at most 12 h; this bounds how long a forged header could stick.
const SLOT_MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

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
            slot.offer(token, SystemTime::now());
        }
    }
}

/// The freshest valid token the [`RequestContextLayer`] has seen in this process, if it is not
/// expired at `now + buffer`. Never returns an expired token. Reads
/// [`FreshestTokenSlot::global`].
pub fn freshest_header_token(buffer: Duration) -> Option<OidcToken> {
    FreshestTokenSlot::global().get(buffer)
}

/// Holds the freshest valid header token seen, for work that runs outside any request.
///
/// The layer and [`crate::VercelTokenSource`] use [`FreshestTokenSlot::global`] unless given
/// another slot (tests use their own).
#[derive(Default)]
pub struct FreshestTokenSlot {
    token: ArcSwapOption<OidcToken>,
}

impl std::fmt::Debug for FreshestTokenSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let has = self.token.load().is_some();
        f.debug_struct("FreshestTokenSlot")
            .field("token", &if has { "[redacted]" } else { "none" })
            .finish()
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

    /// The token if it is not expired at `SystemTime::now() + buffer`.
    pub fn get(&self, buffer: Duration) -> Option<OidcToken> {
        self.get_at(buffer, SystemTime::now())
    }

    /// The token if it is not expired at `now + buffer`.
    pub fn get_at(&self, buffer: Duration, now: SystemTime) -> Option<OidcToken> {
        let guard = self.token.load();
        let token = guard.as_ref()?;
        (!token.is_expired_within_at(buffer, now)).then(|| (**token).clone())
    }

    /// Offers `token`: kept when it expires later than the current one (or the current one has
    /// expired), and only when its `exp` is in the future but not more than 24 h away.
    /// Returns whether it was kept.
    pub fn offer(&self, token: &OidcToken, now: SystemTime) -> bool {
        let Some(exp) = token.expires_at() else {
            return false;
        };
        if exp <= now || exp > now + SLOT_MAX_LIFETIME {
            return false;
        }
        let mut stored = false;
        self.token.rcu(|current| match current {
            Some(cur) if cur.expires_at().is_some_and(|c| c >= exp && c > now) => {
                stored = false;
                current.clone()
            }
            _ => {
                stored = true;
                Some(Arc::new(token.clone()))
            }
        });
        if stored {
            tracing::trace!("request context: recorded a fresher header token");
        }
        stored
    }

    /// Empties the slot.
    pub fn clear(&self) {
        self.token.store(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{jwt_expiring_at, jwt_expiring_in};
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

    /// The slot is process-wide; keep all assertions about it in this one test.
    #[test]
    fn freshest_slot_rules() {
        let slot = FreshestTokenSlot::new();
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        let now = at(1_000_000);
        let parse = |exp| OidcToken::parse(jwt_expiring_at(exp)).expect("valid");
        assert!(slot.get_at(Duration::ZERO, now).is_none());

        // Expired, without exp, or absurdly long-lived tokens are never recorded.
        slot.offer(&parse(999_999), now);
        slot.offer(&parse(1_000_000 + 25 * 3600), now);
        let no_exp = OidcToken::parse(crate::test_util::jwt_with_payload("{}")).expect("valid");
        slot.offer(&no_exp, now);
        assert!(slot.get_at(Duration::ZERO, now).is_none());

        let a = parse(1_003_600);
        slot.offer(&a, now);
        let older = parse(1_001_800);
        slot.offer(&older, now);
        assert_eq!(slot.get_at(Duration::ZERO, now), Some(a.clone()));
        let b = parse(1_007_200);
        slot.offer(&b, now);
        assert_eq!(slot.get_at(Duration::ZERO, now), Some(b.clone()));

        // Never an expired token: not at expiry, not within the buffer.
        assert!(slot.get_at(Duration::ZERO, at(1_007_200)).is_none());
        assert!(
            slot.get_at(Duration::from_secs(60), at(1_007_150))
                .is_none()
        );
        assert!(
            slot.get_at(Duration::from_secs(60), at(1_007_100))
                .is_some()
        );

        // Once the stored one has expired, any valid token replaces it.
        let later = at(1_008_000);
        let c = parse(1_008_100);
        slot.offer(&c, later);
        assert_eq!(slot.get_at(Duration::ZERO, later), Some(c));
    }
}
