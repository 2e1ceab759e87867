//! Audience exchange: trade a Vercel OIDC token for one with another `aud`.
//!
//! `POST {issuer}/~token` with JSON `{"token", "aud", "jti"?}` answers JSON with a string `token`
//! and an optional numeric `expiry` (unix seconds). Results are cached in memory by
//! (token, aud, jti) until the earlier of `expiry` and the new token's own `exp`, in an LRU of
//! 1000 entries; `skip_cache` bypasses the lookup but stores the result.
//!
//! The issuer's answer is untrusted: a body over 256 KiB, a token that does not parse, or an
//! `expiry` more than 7 days ahead ([`crate::time::MAX_SERVICE_LIFETIME`]) is
//! [`ExchangeErrorKind::InvalidResponse`].
//!
//! The issuer base is `VERCEL_OIDC_ISSUER_URL`, default `https://oidc.vercel.com`.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use lru::LruCache;
use serde::Deserialize;

use crate::config::OidcConfig;
use crate::env::Env;
use crate::error::{Error, ExchangeErrorKind};
use crate::http::ExtraRoots;
use crate::source::{SharedTokenSource, TokenFuture, TokenSource};
use crate::time::{Clock, SharedClock};
use crate::token::{OidcToken, unix_to_system_time};

/// How many exchanged tokens the cache keeps.
pub const EXCHANGE_CACHE_CAPACITY: usize = 1000;

/// What to exchange for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRequest {
    audience: String,
    jti: Option<String>,
    skip_cache: bool,
}

impl ExchangeRequest {
    /// Exchange for a token whose `aud` is `audience`.
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            audience: audience.into(),
            jti: None,
            skip_cache: false,
        }
    }

    /// A token id to request (`jti`). Defaults to none (the issuer picks one).
    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = Some(jti.into());
        self
    }

    /// Skip the cache lookup (the result is still stored). Defaults to `false`.
    pub fn skip_cache(mut self, skip: bool) -> Self {
        self.skip_cache = skip;
        self
    }

    /// The requested audience.
    pub fn audience(&self) -> &str {
        &self.audience
    }
}

#[derive(PartialEq, Eq, Hash)]
struct CacheKey {
    token: Arc<str>,
    audience: String,
    jti: Option<String>,
}

/// Exchanges tokens for other audiences, with an in-memory LRU cache. Clones share the cache.
#[derive(Clone)]
pub struct AudienceExchange {
    inner: Arc<ExchangeInner>,
}

struct ExchangeInner {
    token_url: String,
    client: reqwest::Client,
    cache: Mutex<LruCache<CacheKey, (OidcToken, SystemTime)>>,
    clock: SharedClock,
}

impl fmt::Debug for AudienceExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.inner.cache.lock().map_or(0, |c| c.len());
        f.debug_struct("AudienceExchange")
            .field("token_url", &self.inner.token_url)
            .field("cached", &cached)
            .finish_non_exhaustive()
    }
}

/// Builder for [`AudienceExchange`].
#[derive(Debug, Default)]
pub struct AudienceExchangeBuilder {
    config: OidcConfig,
    capacity: Option<NonZeroUsize>,
}

impl AudienceExchangeBuilder {
    /// The shared settings: env, clock, extra roots, issuer base URL and HTTP client.
    pub fn configure(mut self, config: &OidcConfig) -> Self {
        self.config = config.clone();
        self
    }

    /// The issuer base URL (`{issuer}/~token` is called; shorthand for the [`OidcConfig`]
    /// field). Defaults to `VERCEL_OIDC_ISSUER_URL`, else `https://oidc.vercel.com`.
    pub fn issuer_url(mut self, url: impl Into<String>) -> Self {
        self.config.set_issuer_url(url.into());
        self
    }

    /// Where `VERCEL_OIDC_ISSUER_URL` and `VERCEL_OIDC_CA_FILE` are read (shorthand for the
    /// [`OidcConfig`] field). Defaults to the process environment.
    pub fn env(mut self, env: Env) -> Self {
        self.config.set_env(env);
        self
    }

    /// Extra trust roots (shorthand for the [`OidcConfig`] field). Defaults to
    /// `VERCEL_OIDC_CA_FILE`, if set.
    pub fn extra_roots(mut self, roots: ExtraRoots) -> Self {
        self.config.set_extra_roots(roots);
        self
    }

    /// The clock cached tokens' expiry is compared against (shorthand for the [`OidcConfig`]
    /// field). Defaults to the system clock.
    pub fn time_source(mut self, clock: SharedClock) -> Self {
        self.config.set_clock(clock);
        self
    }

    /// Cache capacity. Defaults to [`EXCHANGE_CACHE_CAPACITY`].
    pub fn capacity(mut self, capacity: NonZeroUsize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Builds the exchange. Fails on an invalid issuer URL or CA file.
    pub fn build(self) -> Result<AudienceExchange, Error> {
        let base = self.config.issuer_url();
        // The token is posted there: https only (http on loopback for tests).
        let checked = crate::http::check_base_url(&base).map_err(|reason| {
            Error::config(format!(
                "issuer URL {:?}: {reason}",
                crate::http::redact_url(&base)
            ))
        })?;
        let token_url = format!("{}/~token", checked.trim_end_matches('/'));
        let capacity = self
            .capacity
            .unwrap_or(NonZeroUsize::new(EXCHANGE_CACHE_CAPACITY).unwrap_or(NonZeroUsize::MIN));
        Ok(AudienceExchange {
            inner: Arc::new(ExchangeInner {
                token_url,
                client: self.config.http_client()?,
                cache: Mutex::new(LruCache::new(capacity)),
                clock: self.config.clock().clone(),
            }),
        })
    }
}

#[derive(Deserialize)]
struct ExchangeResponse {
    token: String,
    #[serde(default)]
    expiry: Option<f64>,
}

impl AudienceExchange {
    /// A builder.
    pub fn builder() -> AudienceExchangeBuilder {
        AudienceExchangeBuilder::default()
    }

    /// The URL this exchange posts to.
    pub fn token_url(&self) -> &str {
        &self.inner.token_url
    }

    /// Exchanges `token` for one with the requested audience, from the cache when possible.
    pub async fn exchange(
        &self,
        token: &OidcToken,
        request: &ExchangeRequest,
    ) -> Result<OidcToken, Error> {
        let key = CacheKey {
            token: Arc::from(token.expose_secret()),
            audience: request.audience.clone(),
            jti: request.jti.clone(),
        };
        let now = self.inner.clock.now();
        if !request.skip_cache {
            let mut cache = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((hit, expires)) = cache.get(&key) {
                if now < *expires {
                    tracing::trace!(audience = %request.audience, "audience exchange: cache hit");
                    return Ok(hit.clone());
                }
                cache.pop(&key);
            }
        }
        let (exchanged, expiry) = self.post(token, request, now).await?;
        // Cached until the earlier of the issuer's `expiry` and the token's own `exp`: the
        // issuer cannot make a token outlive itself.
        let expires = match (expiry, exchanged.expires_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(expires) = expires.filter(|e| *e > now) {
            let mut cache = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.put(key, (exchanged.clone(), expires));
        }
        Ok(exchanged)
    }

    async fn post(
        &self,
        token: &OidcToken,
        request: &ExchangeRequest,
        now: SystemTime,
    ) -> Result<(OidcToken, Option<SystemTime>), Error> {
        let span = tracing::info_span!(
            "vercel_oidc.exchange",
            audience = %request.audience,
            url = %self.inner.token_url,
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        crate::trace::in_span(span, self.post_untraced(token, request, now)).await
    }

    async fn post_untraced(
        &self,
        token: &OidcToken,
        request: &ExchangeRequest,
        now: SystemTime,
    ) -> Result<(OidcToken, Option<SystemTime>), Error> {
        let mut body = serde_json::json!({
            "token": token.expose_secret(),
            "aud": request.audience,
        });
        if let Some(jti) = &request.jti {
            body["jti"] = serde_json::Value::from(jti.as_str());
        }
        let transport = |e: reqwest::Error| Error::Exchange {
            kind: ExchangeErrorKind::Transport,
            source: Some(Arc::new(e.without_url())),
        };
        tracing::debug!(audience = %request.audience, url = %self.inner.token_url, "audience exchange");
        let response = self
            .inner
            .client
            .post(&self.inner.token_url)
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::Exchange {
                kind: ExchangeErrorKind::Status(status.as_u16()),
                source: None,
            });
        }
        let bytes = crate::limits::read_body(response, crate::limits::SMALL_BODY_MAX)
            .await
            .map_err(|e| match e {
                crate::limits::BodyReadError::Transport(e) => transport(e),
                too_large @ crate::limits::BodyReadError::TooLarge(_) => Error::Exchange {
                    kind: ExchangeErrorKind::InvalidResponse,
                    source: Some(Arc::new(too_large)),
                },
            })?;
        let invalid = || Error::Exchange {
            kind: ExchangeErrorKind::InvalidResponse,
            source: None,
        };
        let parsed: ExchangeResponse = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        let token = OidcToken::parse(parsed.token).map_err(|_| invalid())?;
        let expiry = match parsed.expiry {
            None => None,
            Some(e) => Some(expiry_time(e, now).ok_or_else(invalid)?),
        };
        Ok((token, expiry))
    }
}

/// The issuer's `expiry` (unix seconds) as a time, or `None` when it is not a number of
/// seconds within [`crate::time::MAX_SERVICE_LIFETIME`] of `now` (an expiry in the past is
/// kept: that token is simply not cached).
fn expiry_time(expiry: f64, now: SystemTime) -> Option<SystemTime> {
    if !expiry.is_finite() {
        return None;
    }
    // Saturating: ±1e300 become i64::MIN/MAX, then out of range or in the past.
    let at = unix_to_system_time(expiry as i64);
    crate::time::within_service_lifetime(now, at).then_some(at)
}

/// A [`TokenSource`] that exchanges every token of another source for `audience`.
#[derive(Debug, Clone)]
pub struct ExchangeTokenSource {
    source: SharedTokenSource,
    exchange: AudienceExchange,
    request: ExchangeRequest,
}

impl ExchangeTokenSource {
    /// Exchanges the tokens of `source` through `exchange`.
    pub fn new(
        source: impl TokenSource + 'static,
        exchange: AudienceExchange,
        request: ExchangeRequest,
    ) -> Self {
        Self {
            source: SharedTokenSource::new(source),
            exchange,
            request,
        }
    }
}

impl TokenSource for ExchangeTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        TokenFuture::new(async move {
            let token = self.source.token().await?;
            self.exchange.exchange(&token, &self.request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::jwt_expiring_at;
    use crate::time::ManualClock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, UNIX_EPOCH};

    /// A `~token` stand-in on 127.0.0.1 answering `answer()` and counting requests.
    struct Issuer {
        url: String,
        calls: Arc<AtomicUsize>,
        _server: tokio::task::JoinHandle<()>,
    }

    async fn issuer(
        answer: impl Fn() -> axum::response::Response + Clone + Send + Sync + 'static,
    ) -> Issuer {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let app = axum::Router::new().route(
            "/~token",
            axum::routing::post(move || {
                c.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                async move { answer() }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Issuer {
            url,
            calls,
            _server: server,
        }
    }

    const NOW: u64 = 1_700_000_000;

    fn json(body: serde_json::Value) -> axum::response::Response {
        axum::response::IntoResponse::into_response(axum::Json(body))
    }

    fn exchange(url: &str, clock: &Arc<ManualClock>) -> AudienceExchange {
        AudienceExchange::builder()
            .issuer_url(url)
            .env(Env::from_pairs::<&str, &str>([]))
            .time_source(SharedClock::from_arc(clock.clone()))
            .build()
            .expect("exchange")
    }

    fn subject() -> OidcToken {
        OidcToken::parse(jwt_expiring_at(NOW as i64 + 3600)).expect("valid")
    }

    /// Issue 19, item 10: an `expiry` later than the exchanged token's own `exp` kept serving
    /// the token from the cache after it had expired.
    #[tokio::test]
    async fn the_cache_keeps_a_token_no_longer_than_its_own_exp() {
        let short = jwt_expiring_at(NOW as i64 + 60);
        let issuer =
            issuer(move || json(serde_json::json!({ "token": short, "expiry": NOW + 3600 }))).await;
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW)));
        let exchange = exchange(&issuer.url, &clock);
        let request = ExchangeRequest::new("aud-1");
        let subject = subject();
        exchange
            .exchange(&subject, &request)
            .await
            .expect("exchanged");
        exchange.exchange(&subject, &request).await.expect("cached");
        assert_eq!(issuer.calls.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(60));
        exchange
            .exchange(&subject, &request)
            .await
            .expect("exchanged again");
        assert_eq!(
            issuer.calls.load(Ordering::SeqCst),
            2,
            "the expired token was served from the cache"
        );
    }

    /// The issuer's `expiry` still shortens the cache when it comes first.
    #[tokio::test]
    async fn an_earlier_expiry_than_exp_is_honoured() {
        let long = jwt_expiring_at(NOW as i64 + 3600);
        let issuer =
            issuer(move || json(serde_json::json!({ "token": long, "expiry": NOW + 60 }))).await;
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW)));
        let exchange = exchange(&issuer.url, &clock);
        let request = ExchangeRequest::new("aud-1");
        let subject = subject();
        exchange
            .exchange(&subject, &request)
            .await
            .expect("exchanged");
        clock.advance(Duration::from_secs(59));
        exchange.exchange(&subject, &request).await.expect("cached");
        assert_eq!(issuer.calls.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(1));
        exchange.exchange(&subject, &request).await.expect("again");
        assert_eq!(issuer.calls.load(Ordering::SeqCst), 2);
    }

    /// Issue 19, item 1: an `expiry` beyond 7 days (or beyond any calendar) is not the issuer's
    /// answer; an `expiry` in the past is kept (the token is just not cached).
    #[tokio::test]
    async fn an_out_of_range_expiry_is_an_invalid_response() {
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW)));
        let token = jwt_expiring_at(NOW as i64 + 3600);
        for expiry in [
            serde_json::json!(NOW + 8 * 24 * 3600),
            serde_json::json!(1e300),
            serde_json::json!(9.3e18),
            serde_json::json!(u64::MAX),
        ] {
            let t = token.clone();
            let e = expiry.clone();
            let issuer = issuer(move || json(serde_json::json!({ "token": t, "expiry": e }))).await;
            let err = exchange(&issuer.url, &clock)
                .exchange(&subject(), &ExchangeRequest::new("aud"))
                .await
                .expect_err("out of range");
            assert!(
                matches!(
                    err,
                    Error::Exchange {
                        kind: ExchangeErrorKind::InvalidResponse,
                        ..
                    }
                ),
                "{expiry}: {err:?}"
            );
        }
        for fine in [
            serde_json::json!(NOW + 7 * 24 * 3600),
            serde_json::json!(-1e300),
        ] {
            let t = token.clone();
            let issuer =
                issuer(move || json(serde_json::json!({ "token": t, "expiry": fine }))).await;
            exchange(&issuer.url, &clock)
                .exchange(&subject(), &ExchangeRequest::new("aud"))
                .await
                .expect("in range");
        }
    }

    /// Issue 19, item 8: the response body was read whole, whatever its size (300 MB accepted).
    #[tokio::test]
    async fn a_body_over_the_cap_is_refused_with_or_without_a_length() {
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW)));
        let token = jwt_expiring_at(NOW as i64 + 3600);
        let padding = " ".repeat(crate::limits::SMALL_BODY_MAX);
        let body = format!(r#"{{"token":"{token}"}}{padding}"#);
        let (b1, b2) = (body.clone(), body);
        let sized = issuer(move || axum::response::IntoResponse::into_response(b1.clone())).await;
        let streamed = issuer(move || {
            let chunks: Vec<Result<String, std::io::Error>> = b2
                .as_bytes()
                .chunks(16 * 1024)
                .map(|c| Ok(String::from_utf8_lossy(c).into_owned()))
                .collect();
            axum::response::Response::new(axum::body::Body::from_stream(
                futures_util::stream::iter(chunks),
            ))
        })
        .await;
        for issuer in [&sized, &streamed] {
            let err = exchange(&issuer.url, &clock)
                .exchange(&subject(), &ExchangeRequest::new("aud"))
                .await
                .expect_err("too large");
            assert!(
                matches!(
                    err,
                    Error::Exchange {
                        kind: ExchangeErrorKind::InvalidResponse,
                        source: Some(_),
                    }
                ),
                "{err:?}"
            );
            assert!(
                std::error::Error::source(&err)
                    .is_some_and(|s| s.to_string().contains("larger than")),
                "{err:?}"
            );
        }
        // Just under the cap is read.
        let t = token.clone();
        let fits = issuer(move || {
            let body = format!(r#"{{"token":"{t}"}}"#);
            let pad = " ".repeat(crate::limits::SMALL_BODY_MAX - body.len());
            axum::response::IntoResponse::into_response(format!("{body}{pad}"))
        })
        .await;
        exchange(&fits.url, &clock)
            .exchange(&subject(), &ExchangeRequest::new("aud"))
            .await
            .expect("fits");
    }
}
