//! Audience exchange (SPEC §7): trade a Vercel OIDC token for one with another `aud`.
//!
//! `POST {issuer}/~token` with JSON `{"token", "aud", "jti"?}` answers JSON with a string `token`
//! and an optional numeric `expiry` (unix seconds). Results are cached in memory by
//! (token, aud, jti) until `expiry` (or the new token's `exp`), in an LRU of 1000 entries;
//! `skip_cache` bypasses the lookup but stores the result.
//!
//! The issuer base is `VERCEL_OIDC_ISSUER_URL`, default `https://oidc.vercel.com`.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use lru::LruCache;
use serde::Deserialize;

use crate::env::Env;
use crate::error::{Error, ExchangeErrorKind};
use crate::source::{SharedTokenSource, TokenFuture, TokenSource};
use crate::time::{SharedTimeSource, TimeSource};
use crate::tls::ExtraRoots;
use crate::token::{OidcToken, unix_to_system_time};

/// The env var that overrides the issuer base URL.
pub const ISSUER_URL_ENV: &str = "VERCEL_OIDC_ISSUER_URL";
/// The default issuer base URL.
pub const DEFAULT_ISSUER_URL: &str = "https://oidc.vercel.com";
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
    clock: SharedTimeSource,
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
    issuer_url: Option<String>,
    env: Env,
    roots: Option<ExtraRoots>,
    clock: SharedTimeSource,
    capacity: Option<NonZeroUsize>,
}

impl AudienceExchangeBuilder {
    /// The issuer base URL (`{issuer}/~token` is called). Defaults to `VERCEL_OIDC_ISSUER_URL`,
    /// else `https://oidc.vercel.com`.
    pub fn issuer_url(mut self, url: impl Into<String>) -> Self {
        self.issuer_url = Some(url.into());
        self
    }

    /// Where `VERCEL_OIDC_ISSUER_URL` and `VERCEL_OIDC_CA_FILE` are read. Defaults to the process
    /// environment.
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// Extra trust roots. Defaults to `VERCEL_OIDC_CA_FILE`, if set.
    pub fn extra_roots(mut self, roots: ExtraRoots) -> Self {
        self.roots = Some(roots);
        self
    }

    /// The clock cached tokens' expiry is compared against. Defaults to the system clock.
    pub fn time_source(mut self, clock: SharedTimeSource) -> Self {
        self.clock = clock;
        self
    }

    /// Cache capacity. Defaults to [`EXCHANGE_CACHE_CAPACITY`].
    pub fn capacity(mut self, capacity: NonZeroUsize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Builds the exchange. Fails on an invalid issuer URL or CA file.
    pub fn build(self) -> Result<AudienceExchange, Error> {
        let base = match self.issuer_url {
            Some(url) => url,
            None => self
                .env
                .get_non_empty(ISSUER_URL_ENV)
                .unwrap_or_else(|| DEFAULT_ISSUER_URL.to_owned()),
        };
        // The token is posted there: https only (http on loopback for tests).
        let checked = crate::tls::check_base_url(&base)
            .map_err(|reason| Error::config(format!("issuer URL {base:?}: {reason}")))?;
        let token_url = format!("{}/~token", checked.trim_end_matches('/'));
        let roots = match self.roots {
            Some(roots) => Some(roots),
            None => ExtraRoots::from_env(&self.env)?,
        };
        let capacity = self
            .capacity
            .unwrap_or(NonZeroUsize::new(EXCHANGE_CACHE_CAPACITY).unwrap_or(NonZeroUsize::MIN));
        Ok(AudienceExchange {
            inner: Arc::new(ExchangeInner {
                token_url,
                client: crate::tls::http_client(roots.as_ref(), crate::tls::DEFAULT_HTTP_TIMEOUT)?,
                cache: Mutex::new(LruCache::new(capacity)),
                clock: self.clock,
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
        let (exchanged, expiry) = self.post(token, request).await?;
        // Cached until `expiry` when the issuer gives one, else until the token's own `exp`.
        if let Some(expires) = expiry
            .or_else(|| exchanged.expires_at())
            .filter(|e| *e > now)
        {
            let mut cache = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.put(key, (exchanged.clone(), expires));
        }
        Ok(exchanged)
    }

    async fn post(
        &self,
        token: &OidcToken,
        request: &ExchangeRequest,
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
        let bytes = response.bytes().await.map_err(transport)?;
        let invalid = || Error::Exchange {
            kind: ExchangeErrorKind::InvalidResponse,
            source: None,
        };
        let parsed: ExchangeResponse = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        let token = OidcToken::parse(parsed.token).map_err(|_| invalid())?;
        let expiry = parsed
            .expiry
            .filter(|e| e.is_finite())
            .map(|e| unix_to_system_time(e as i64));
        Ok((token, expiry))
    }
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
