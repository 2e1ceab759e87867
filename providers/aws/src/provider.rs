//! The provider: a cache in front of the STS load.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials};
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
    inner: Arc<State>,
}

pub(crate) enum State {
    Ready {
        cache: RefreshAheadCache<Credentials, Error>,
        summary: Summary,
    },
    /// The one-call constructor could not resolve its configuration; every call fails with it.
    Invalid(Error),
}

/// What `Debug` shows: settings, never a secret.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    pub(crate) role_arn: String,
    pub(crate) session_name: String,
    pub(crate) region: Option<String>,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) attempt_timeout: Duration,
}

impl fmt::Debug for AwsCredentialsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            State::Ready { cache, summary } => f
                .debug_struct("AwsCredentialsProvider")
                .field("role_arn", &summary.role_arn)
                .field("session_name", &summary.session_name)
                .field("region", &summary.region)
                .field("endpoint_url", &summary.endpoint_url)
                .field("expires_at", &cache.expires_at())
                .finish_non_exhaustive(),
            State::Invalid(error) => f
                .debug_struct("AwsCredentialsProvider")
                .field("invalid", &error.to_string())
                .finish(),
        }
    }
}

impl AwsCredentialsProvider {
    /// A builder for the role `role_arn` (pass [`RoleArn::from_env`] to read `AWS_ROLE_ARN`).
    pub fn builder(role_arn: impl Into<RoleArn>) -> AwsCredentialsProviderBuilder {
        AwsCredentialsProviderBuilder::new(role_arn.into())
    }

    pub(crate) fn ready(cache: RefreshAheadCache<Credentials, Error>, summary: Summary) -> Self {
        Self {
            inner: Arc::new(State::Ready { cache, summary }),
        }
    }

    /// A provider whose every call fails with `error` (the one-call constructor's fallback).
    pub(crate) fn invalid(error: Error) -> Self {
        Self {
            inner: Arc::new(State::Invalid(error)),
        }
    }

    /// Credentials, from the cache when valid ones are there; else waits for the (shared) load.
    ///
    /// The same as [`ProvideCredentials::provide_credentials`], with this crate's typed error.
    pub async fn credentials(&self) -> Result<Credentials, Error> {
        match &*self.inner {
            State::Ready { cache, .. } => cache.get().await,
            State::Invalid(error) => Err(error.clone()),
        }
    }

    /// When the cached credentials expire, if there are any.
    pub fn expires_at(&self) -> Option<SystemTime> {
        match &*self.inner {
            State::Ready { cache, .. } => cache.expires_at(),
            State::Invalid(_) => None,
        }
    }

    /// Drops the cached credentials, so the next call assumes the role again (for example after
    /// the role's permissions changed).
    pub fn invalidate(&self) {
        if let State::Ready { cache, .. } = &*self.inner {
            cache.invalidate();
        }
    }

    /// The role this provider assumes (empty when its configuration is invalid).
    pub fn role_arn(&self) -> &str {
        match &*self.inner {
            State::Ready { summary, .. } => &summary.role_arn,
            State::Invalid(_) => "",
        }
    }

    /// The session name sent to STS (empty when its configuration is invalid).
    pub fn session_name(&self) -> &str {
        match &*self.inner {
            State::Ready { summary, .. } => &summary.session_name,
            State::Invalid(_) => "",
        }
    }

    /// The region of the STS client, when one is set.
    pub fn region(&self) -> Option<&str> {
        match &*self.inner {
            State::Ready { summary, .. } => summary.region.as_deref(),
            State::Invalid(_) => None,
        }
    }

    /// The STS endpoint override, when one is set (else the SDK's regional endpoint).
    pub fn endpoint_url(&self) -> Option<&str> {
        match &*self.inner {
            State::Ready { summary, .. } => summary.endpoint_url.as_deref(),
            State::Invalid(_) => None,
        }
    }
}

impl ProvideCredentials for AwsCredentialsProvider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        match &*self.inner {
            State::Ready { cache, summary } => {
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
            State::Invalid(error) => provider::future::ProvideCredentials::ready(Err(error
                .clone()
                .into_credentials_error(Duration::ZERO))),
        }
    }

    /// The cached credentials while they are valid: what the SDK's identity cache uses when it
    /// gives up waiting on a load (its load timeout).
    fn fallback_on_interrupt(&self) -> Option<Credentials> {
        match &*self.inner {
            State::Ready { cache, .. } => cache.try_get(),
            State::Invalid(_) => None,
        }
    }
}
