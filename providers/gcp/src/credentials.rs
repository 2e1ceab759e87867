//! [`GcpCredentials`]: access tokens and ID tokens behind the refresh-ahead cache, and the
//! `google_cloud_auth` credential traits.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use google_cloud_auth::credentials::{
    AccessTokenCredentialsProvider, CacheableResource, CredentialsProvider, EntityTag,
};
use google_cloud_auth::errors::CredentialsError;
use http::{Extensions, HeaderMap, HeaderValue};
use vercel_oidc::cache::RefreshAheadCache;
use vercel_oidc::time::SharedClock;

use crate::builder::GcpCredentialsBuilder;
use crate::error::Error;
use crate::exchange::Exchanger;
use crate::token::{AccessToken, IdToken};

/// At most this many ID-token audiences are cached; beyond it the oldest is dropped.
pub const MAX_CACHED_AUDIENCES: usize = 64;

/// The header of the quota project.
const QUOTA_PROJECT_HEADER: &str = "x-goog-user-project";

type IdTokenCache = RefreshAheadCache<IdToken, Error>;

/// A cached access token and the tag Google's header cache compares.
#[derive(Clone)]
struct Issued {
    token: AccessToken,
    tag: EntityTag,
}

struct Inner {
    exchanger: Arc<Exchanger>,
    access: RefreshAheadCache<Issued, Error>,
    id_tokens: Mutex<Vec<(Arc<str>, IdTokenCache)>>,
    quota_project: Option<HeaderValue>,
    refresh_window: Duration,
    clock: SharedClock,
}

/// Google Cloud credentials from Vercel OIDC tokens: the STS token exchange, then (with a
/// service account) `generateAccessToken`, behind a non-blocking refresh-ahead cache.
///
/// - Implements `google_cloud_auth`'s `CredentialsProvider` (and
///   `AccessTokenCredentialsProvider`): `google_cloud_auth::credentials::Credentials::from(creds)`
///   goes into any Google Cloud Rust client.
/// - [`access_token`](Self::access_token) and [`authorize`](Self::authorize) give the token
///   directly, for `reqwest` or any HTTP stack.
/// - [`id_token`](Self::id_token): Google-signed ID tokens for Cloud Run and IAP, cached per
///   audience the same way.
///
/// While a valid token is cached, calls return it without waiting; from 5 minutes before
/// expiry one background refresh runs while callers keep getting the valid token, and a timer
/// starts it even when no caller comes. With no valid token, concurrent callers share one
/// load. Clones share the caches. Building fetches nothing and needs no runtime.
///
/// ```no_run
/// # async fn demo() -> Result<(), vercel_oidc_gcp::Error> {
/// let credentials = vercel_oidc_gcp::GcpCredentials::builder()
///     .audience(vercel_oidc_gcp::provider_resource("123456789", "vercel", "acme"))
///     .service_account("app@my-project.iam.gserviceaccount.com")
///     .build()?;
/// let response = credentials
///     .authorize(reqwest::Client::new().get("https://storage.googleapis.com/storage/v1/b/my-bucket"))
///     .await?
///     .send()
///     .await;
/// # let _ = response; Ok(()) }
/// ```
#[derive(Clone)]
pub struct GcpCredentials {
    inner: Arc<Inner>,
}

impl fmt::Debug for GcpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.inner.exchanger;
        f.debug_struct("GcpCredentials")
            .field("audience", &e.audience)
            .field("service_account", &self.service_account())
            .field("scopes", &e.scopes)
            .field("token_url", &e.token_url)
            .field("iam_credentials_url", &e.iam_url)
            .field("expires_at", &self.inner.access.expires_at())
            .finish_non_exhaustive()
    }
}

impl GcpCredentials {
    /// A builder; every setting has a default from the environment.
    pub fn builder() -> GcpCredentialsBuilder {
        GcpCredentialsBuilder::default()
    }

    /// Whether `other` is these credentials or a clone of them (one cache): true for two
    /// instances of the same configuration built with
    /// [`shared`](GcpCredentialsBuilder::shared).
    pub fn shares_cache_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn new(
        exchanger: Arc<Exchanger>,
        quota_project: Option<String>,
        refresh_window: Duration,
        clock: SharedClock,
    ) -> Self {
        let loader = Arc::clone(&exchanger);
        let access = RefreshAheadCache::builder()
            .refresh_window(refresh_window)
            .time_source(clock.clone())
            .build(move || {
                let loader = Arc::clone(&loader);
                async move {
                    let (token, expires_at) = loader.access_token().await?;
                    Ok((
                        Issued {
                            token,
                            tag: EntityTag::new(),
                        },
                        expires_at,
                    ))
                }
            });
        Self {
            inner: Arc::new(Inner {
                exchanger,
                access,
                id_tokens: Mutex::new(Vec::new()),
                // Checked to be visible ASCII by the builder.
                quota_project: quota_project.and_then(|p| HeaderValue::from_str(&p).ok()),
                refresh_window,
                clock,
            }),
        }
    }

    /// An access token: the cached one while valid, else the (shared) load's.
    ///
    /// # Errors
    /// What the load failed with, once no valid token is cached (see [`Error`]).
    pub async fn access_token(&self) -> Result<AccessToken, Error> {
        if let Some(issued) = self.inner.access.try_get() {
            return Ok(issued.token);
        }
        self.inner.access.get().await.map(|issued| issued.token)
    }

    /// The cached access token without waiting (inside the refresh window this starts the
    /// background refresh), or `None` when there is no valid one.
    pub fn cached_access_token(&self) -> Option<AccessToken> {
        self.inner.access.try_get().map(|issued| issued.token)
    }

    /// `Bearer <access token>`, marked sensitive, for an `Authorization` header.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub async fn bearer_header(&self) -> Result<HeaderValue, Error> {
        Ok(self.access_token().await?.bearer_header())
    }

    /// `request` with `Authorization: Bearer <access token>` (sensitive) and, when set, the
    /// quota project's `x-goog-user-project`.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let mut request = request.header(http::header::AUTHORIZATION, self.bearer_header().await?);
        if let Some(project) = &self.inner.quota_project {
            request = request.header(QUOTA_PROJECT_HEADER, project.clone());
        }
        Ok(request)
    }

    /// A Google-signed ID token for `audience` (for Cloud Run: the service's URL), from the
    /// service account's `generateIdToken`, cached per audience like the access token.
    ///
    /// # Errors
    /// [`Error::NotConfigured`] without a service account (ID tokens are the service
    /// account's), [`Error::InvalidConfiguration`] for an empty audience, else what the load
    /// failed with.
    pub async fn id_token(&self, audience: &str) -> Result<IdToken, Error> {
        let cache = self.id_cache(audience)?;
        if let Some(token) = cache.try_get() {
            return Ok(token);
        }
        cache.get().await
    }

    fn id_cache(&self, audience: &str) -> Result<IdTokenCache, Error> {
        let Some(service_account) = self.service_account() else {
            return Err(Error::NotConfigured {
                setting: "the service account for ID tokens (service_account or \
                          GCP_SERVICE_ACCOUNT_EMAIL)",
            });
        };
        if audience.trim().is_empty() || audience.chars().any(char::is_control) {
            return Err(Error::config(
                "the ID token audience is empty or has control characters",
            ));
        }
        let mut caches = self
            .inner
            .id_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, cache)) = caches.iter().find(|(a, _)| **a == *audience) {
            return Ok(cache.clone());
        }
        let exchanger = Arc::clone(&self.inner.exchanger);
        let (account, aud): (Arc<str>, Arc<str>) = (service_account.into(), audience.into());
        let key = Arc::clone(&aud);
        let cache = RefreshAheadCache::builder()
            .refresh_window(self.inner.refresh_window)
            .time_source(self.inner.clock.clone())
            .build(move || {
                let (exchanger, account, aud) = (
                    Arc::clone(&exchanger),
                    Arc::clone(&account),
                    Arc::clone(&aud),
                );
                async move { exchanger.id_token(&account, &aud).await }
            });
        if caches.len() >= MAX_CACHED_AUDIENCES {
            caches.remove(0);
        }
        caches.push((key, cache.clone()));
        Ok(cache)
    }

    /// Drops the cached access token and ID tokens: the next call fetches new ones.
    pub fn invalidate(&self) {
        self.inner.access.invalidate();
        for (_, cache) in self
            .inner
            .id_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            cache.invalidate();
        }
    }

    /// When the cached access token expires, if there is one.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.inner.access.expires_at()
    }

    /// The workload identity provider (the STS `audience`).
    pub fn audience(&self) -> &str {
        &self.inner.exchanger.audience
    }

    /// The impersonated service account, if any.
    pub fn service_account(&self) -> Option<&str> {
        self.inner
            .exchanger
            .impersonation
            .as_ref()
            .map(|i| i.service_account.as_str())
    }

    /// The access token's scopes.
    pub fn scopes(&self) -> &[String] {
        &self.inner.exchanger.scopes
    }

    /// The service account's access-token lifetime (`None` without a service account).
    pub fn lifetime(&self) -> Option<Duration> {
        self.inner
            .exchanger
            .impersonation
            .as_ref()
            .map(|i| i.lifetime)
    }

    /// The delegates of the impersonation chain, as resource names.
    pub fn delegates(&self) -> &[String] {
        self.inner
            .exchanger
            .impersonation
            .as_ref()
            .map_or(&[], |i| i.delegates.as_slice())
    }

    /// The STS token URL.
    pub fn token_url(&self) -> &str {
        &self.inner.exchanger.token_url
    }

    /// The IAM Credentials base URL.
    pub fn iam_credentials_url(&self) -> &str {
        &self.inner.exchanger.iam_url
    }

    /// The `Authorization` (and quota project) headers of `issued`, unless `extensions` carries
    /// its tag (then the caller's copy is current).
    fn headers_of(&self, issued: Issued, extensions: &Extensions) -> CacheableResource<HeaderMap> {
        if extensions.get::<EntityTag>() == Some(&issued.tag) {
            return CacheableResource::NotModified;
        }
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(http::header::AUTHORIZATION, issued.token.bearer_header());
        if let Some(project) = &self.inner.quota_project {
            headers.insert(QUOTA_PROJECT_HEADER, project.clone());
        }
        CacheableResource::New {
            entity_tag: issued.tag,
            data: headers,
        }
    }
}

impl CredentialsProvider for GcpCredentials {
    async fn headers(
        &self,
        extensions: Extensions,
    ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
        let issued = match self.inner.access.try_get() {
            Some(issued) => issued,
            None => self.inner.access.get().await?,
        };
        Ok(self.headers_of(issued, &extensions))
    }

    async fn universe_domain(&self) -> Option<String> {
        Some("googleapis.com".to_owned())
    }
}

impl AccessTokenCredentialsProvider for GcpCredentials {
    async fn access_token(
        &self,
    ) -> Result<google_cloud_auth::credentials::AccessToken, CredentialsError> {
        let token = GcpCredentials::access_token(self).await?;
        Ok(google_cloud_auth::credentials::AccessToken {
            token: token.expose_secret().to_owned(),
        })
    }
}
