//! The provider: a cache in front of the STS load.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials};
use aws_types::SdkConfig;
use vercel_oidc::cache::RefreshAheadCache;

use crate::builder::{AwsCredentialsProviderBuilder, RoleArn};
use crate::error::Error;

/// AWS credentials from a Vercel OIDC token, through STS `AssumeRoleWithWebIdentity`.
///
/// Implements [`ProvideCredentials`], so it goes into
/// `aws_config::defaults(..).credentials_provider(..)` and any SDK client. Clones share one
/// cache: a process with many SDK clients makes one STS call per credential lifetime.
///
/// See the [crate docs](crate) for the caching and retry rules.
#[derive(Clone)]
pub struct AwsCredentialsProvider {
    inner: Arc<Inner>,
}

/// One shape for every provider: a provider whose configuration could not be resolved (the
/// one-call form) has a cache whose loader fails with that error, so no call branches on it.
struct Inner {
    cache: RefreshAheadCache<Credentials, Error>,
    summary: Summary,
}

/// What `Debug` and the accessors show: settings, never a secret.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    pub(crate) role_arn: String,
    pub(crate) session_name: String,
    pub(crate) region: Option<String>,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) attempt_timeout: Duration,
    /// Why the configuration could not be resolved (only `Debug` looks at it).
    pub(crate) invalid: Option<Error>,
}

impl fmt::Debug for AwsCredentialsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Inner { cache, summary } = &*self.inner;
        if let Some(error) = &summary.invalid {
            return f
                .debug_struct("AwsCredentialsProvider")
                .field("invalid", &error.to_string())
                .finish();
        }
        f.debug_struct("AwsCredentialsProvider")
            .field("role_arn", &summary.role_arn)
            .field("session_name", &summary.session_name)
            .field("region", &summary.region)
            .field("endpoint_url", &summary.endpoint_url)
            .field("expires_at", &cache.expires_at())
            .finish_non_exhaustive()
    }
}

impl AwsCredentialsProvider {
    /// A builder for the role `role_arn` (pass [`RoleArn::from_env`] to read `AWS_ROLE_ARN`).
    pub fn builder(role_arn: impl Into<RoleArn>) -> AwsCredentialsProviderBuilder {
        AwsCredentialsProviderBuilder::new(role_arn.into())
    }

    /// A builder that takes the STS client's settings from `config`: its region, endpoint,
    /// HTTP client, sleep and time sources, FIPS and dual-stack settings (as
    /// [`AwsCredentialsProviderBuilder::sdk_config`]), with the role from `AWS_ROLE_ARN` unless
    /// [`AwsCredentialsProviderBuilder::role_arn`] sets one.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), vercel_oidc_aws::Error> {
    /// use aws_config::BehaviorVersion;
    /// use vercel_oidc_aws::AwsCredentialsProvider;
    ///
    /// let base = aws_config::defaults(BehaviorVersion::latest()).load().await;
    /// let provider = AwsCredentialsProvider::from_sdk_config(&base)
    ///     .role_arn("arn:aws:iam::123456789012:role/app")
    ///     .build()?;
    /// let config = aws_config::defaults(BehaviorVersion::latest())
    ///     .credentials_provider(provider)
    ///     .load()
    ///     .await;
    /// let sts = aws_sdk_sts::Client::new(&config); // or aws_sdk_s3::Client::new(&config), …
    /// # let _ = sts;
    /// # Ok(()) }
    /// ```
    pub fn from_sdk_config(config: &SdkConfig) -> AwsCredentialsProviderBuilder {
        AwsCredentialsProviderBuilder::new(RoleArn::from_env()).sdk_config(config)
    }

    pub(crate) fn new(cache: RefreshAheadCache<Credentials, Error>, summary: Summary) -> Self {
        Self {
            inner: Arc::new(Inner { cache, summary }),
        }
    }

    /// Starts the first STS exchange in the background (inside a tokio runtime), so a function's
    /// init overlaps it and the first request finds credentials ready. Returns whether it
    /// started one (not when valid credentials are cached, a load is running, or there is no
    /// runtime).
    ///
    /// ```no_run
    /// # async fn init() -> Result<(), vercel_oidc_aws::Error> {
    /// let provider = vercel_oidc_aws::AwsCredentialsProvider::builder(
    ///     "arn:aws:iam::123456789012:role/app",
    /// )
    /// .build()?;
    /// provider.prefetch(); // the exchange runs while the rest of init does
    /// # Ok(()) }
    /// ```
    pub fn prefetch(&self) -> bool {
        self.inner.cache.prefetch()
    }

    /// Whether `other` is this provider or a clone of it (one cache): true for two providers
    /// of the same configuration built with [`shared`](AwsCredentialsProviderBuilder::shared).
    pub fn shares_cache_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A provider whose every load fails with `error` (the one-call constructor's fallback).
    pub(crate) fn failing(error: Error) -> Self {
        let summary = Summary {
            role_arn: String::new(),
            session_name: String::new(),
            region: None,
            endpoint_url: None,
            attempt_timeout: Duration::ZERO,
            invalid: Some(error.clone()),
        };
        let cache = RefreshAheadCache::builder()
            .build(move || std::future::ready(Err::<(Credentials, SystemTime), _>(error.clone())));
        Self::new(cache, summary)
    }

    /// Credentials, from the cache when valid ones are there; else waits for the (shared) load.
    ///
    /// The same as [`ProvideCredentials::provide_credentials`], with this crate's typed error.
    pub async fn credentials(&self) -> Result<Credentials, Error> {
        self.inner.cache.get().await
    }

    /// When the cached credentials expire, if there are any.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.inner.cache.expires_at()
    }

    /// Drops the cached credentials, so the next call assumes the role again (for example after
    /// the role's permissions changed).
    pub fn invalidate(&self) {
        self.inner.cache.invalidate();
    }

    /// The role this provider assumes (empty when its configuration is invalid).
    pub fn role_arn(&self) -> &str {
        &self.inner.summary.role_arn
    }

    /// The session name sent to STS (empty when its configuration is invalid).
    pub fn session_name(&self) -> &str {
        &self.inner.summary.session_name
    }

    /// The region of the STS client, when one is set.
    pub fn region(&self) -> Option<&str> {
        self.inner.summary.region.as_deref()
    }

    /// The STS endpoint override, when one is set (else the SDK's regional endpoint).
    pub fn endpoint_url(&self) -> Option<&str> {
        self.inner.summary.endpoint_url.as_deref()
    }
}

impl ProvideCredentials for AwsCredentialsProvider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let Inner { cache, summary } = &*self.inner;
        // The cached path: an atomic load, a coarse clock read and an `Arc` clone.
        if let Some(credentials) = cache.try_get() {
            return provider::future::ProvideCredentials::ready(Ok(credentials));
        }
        let timeout = summary.attempt_timeout;
        provider::future::ProvideCredentials::new(async move {
            cache
                .get()
                .await
                .map_err(|e| e.into_credentials_error(timeout))
        })
    }

    /// The cached credentials while they are valid: what the SDK's identity cache uses when it
    /// gives up waiting on a load (its load timeout).
    fn fallback_on_interrupt(&self) -> Option<Credentials> {
        self.inner.cache.try_get()
    }
}
