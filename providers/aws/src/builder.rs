//! The builder: options, their defaults from the environment, validation, the STS client.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::region::ProfileFileRegionProvider;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;
use futures_util::FutureExt as _;
use vercel_oidc::cache::{DEFAULT_JITTER, DEFAULT_REFRESH_WINDOW, RefreshAheadCache};
use vercel_oidc::internal::shared::{SharedKey, process_wide};
use vercel_oidc::time::{Clock as _, SharedClock};
use vercel_oidc::{
    CA_FILE_ENV, Env, ExtraRoots, OidcConfig, SharedTokenSource, TokenSetup, TokenSource,
};

use crate::error::Error;
use crate::load::Loader;
use crate::provider::{AwsCredentialsProvider, Summary};

const ENV_ROLE_ARN: &str = "AWS_ROLE_ARN";
const ENV_SESSION_NAME: &str = "AWS_ROLE_SESSION_NAME";
const ENV_REGION: &str = "AWS_REGION";
const ENV_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
const ENV_ENDPOINT_STS: &str = "AWS_ENDPOINT_URL_STS";
const ENV_ENDPOINT: &str = "AWS_ENDPOINT_URL";
const ENV_IGNORE_ENDPOINTS: &str = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS";
const ENV_CONFIG_FILE: &str = "AWS_CONFIG_FILE";
const ENV_CREDENTIALS_FILE: &str = "AWS_SHARED_CREDENTIALS_FILE";
const ENV_PROFILE: &str = "AWS_PROFILE";
const ENV_HOME: &str = "HOME";
const ENV_USERPROFILE: &str = "USERPROFILE";
/// The variables a build reads (the token chain reads its own at each call): part of a shared
/// provider's key.
const SHARED_KEY_ENV: [&str; 14] = [
    ENV_ROLE_ARN,
    ENV_SESSION_NAME,
    ENV_REGION,
    ENV_DEFAULT_REGION,
    ENV_ENDPOINT_STS,
    ENV_ENDPOINT,
    ENV_IGNORE_ENDPOINTS,
    ENV_CONFIG_FILE,
    ENV_CREDENTIALS_FILE,
    ENV_PROFILE,
    ENV_HOME,
    ENV_USERPROFILE,
    CA_FILE_ENV,
    vercel_oidc::ISSUER_URL_ENV,
];

/// The shortest session STS grants (15 minutes).
pub const MIN_DURATION: Duration = Duration::from_secs(900);
/// The longest session STS grants (12 hours; the role's own maximum may be lower).
pub const MAX_DURATION: Duration = Duration::from_secs(43_200);

const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// Attempts in all for throttling (`Throttling`, `RequestLimitExceeded`, …) unless
/// [`AwsCredentialsProviderBuilder::max_attempts`] is set: a deploy's burst of cold instances
/// spreads itself over several seconds instead of giving up (see `benches/fleet.rs`).
const DEFAULT_THROTTLE_ATTEMPTS: u32 = 8;
/// The first backoff's cap after throttling unless
/// [`AwsCredentialsProviderBuilder::initial_backoff`] is set (the AWS SDKs' throttling base
/// delay).
const THROTTLE_INITIAL_BACKOFF: Duration = Duration::from_millis(500);
const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(200);
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(3_100);
const MAX_POLICY_ARNS: usize = 10;
const MAX_POLICY_LEN: usize = 2_048;

/// The role to assume: given in code, or read from `AWS_ROLE_ARN`.
///
/// `&str`, `String` and `Option<String>` convert into it (`None` means "from the environment"),
/// so `AwsCredentialsProvider::builder("arn:aws:iam::123456789012:role/app")` and
/// `AwsCredentialsProvider::builder(RoleArn::from_env())` both work.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleArn(Option<String>);

impl RoleArn {
    /// This role ARN.
    pub fn new(arn: impl Into<String>) -> Self {
        Self(Some(arn.into()))
    }

    /// The role ARN in `AWS_ROLE_ARN` (read from the builder's [`Env`] at build time).
    pub fn from_env() -> Self {
        Self(None)
    }
}

impl From<&str> for RoleArn {
    fn from(arn: &str) -> Self {
        Self::new(arn)
    }
}

impl From<String> for RoleArn {
    fn from(arn: String) -> Self {
        Self::new(arn)
    }
}

impl From<&String> for RoleArn {
    fn from(arn: &String) -> Self {
        Self::new(arn.clone())
    }
}

impl From<Option<String>> for RoleArn {
    fn from(arn: Option<String>) -> Self {
        Self(arn)
    }
}

impl From<Option<&str>> for RoleArn {
    fn from(arn: Option<&str>) -> Self {
        Self(arn.map(str::to_owned))
    }
}

/// Builder for [`AwsCredentialsProvider`]; see [`AwsCredentialsProvider::builder`] and
/// [`AwsCredentialsProvider::from_sdk_config`].
///
/// The setters follow aws-config's names where they mean the same
/// ([`session_name`](Self::session_name), [`session_length`](Self::session_length),
/// [`policy_arns`](Self::policy_arns), [`policy`](Self::policy)); the names of the npm package's
/// port ([`role_session_name`](Self::role_session_name), [`duration`](Self::duration)) stay as
/// aliases.
#[derive(Debug)]
pub struct AwsCredentialsProviderBuilder {
    role_arn: RoleArn,
    session_name: Option<String>,
    policy_arns: Vec<String>,
    policy: Option<String>,
    duration: Option<Duration>,
    provider_id: Option<String>,
    region: Option<Region>,
    endpoint_url: Option<String>,
    sdk_config: Option<SdkConfig>,
    token_source: Option<SharedTokenSource>,
    audience: Option<String>,
    jti: Option<String>,
    config: OidcConfig,
    refresh_window: Duration,
    jitter: f64,
    max_attempts: u32,
    max_attempts_set: bool,
    initial_backoff_set: bool,
    initial_backoff: Duration,
    max_backoff: Duration,
    attempt_timeout: Duration,
    shared: bool,
}

/// Where the STS client sends the token, once resolved.
struct Endpoints {
    /// Explicit, else from the environment: set on the STS client.
    configured: Option<String>,
    /// The `SdkConfig`'s (already in the STS client's configuration).
    sdk: Option<String>,
}

impl AwsCredentialsProviderBuilder {
    pub(crate) fn new(role_arn: RoleArn) -> Self {
        Self {
            role_arn,
            session_name: None,
            policy_arns: Vec::new(),
            policy: None,
            duration: None,
            provider_id: None,
            region: None,
            endpoint_url: None,
            sdk_config: None,
            token_source: None,
            audience: None,
            jti: None,
            config: OidcConfig::default(),
            refresh_window: DEFAULT_REFRESH_WINDOW,
            jitter: DEFAULT_JITTER,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_attempts_set: false,
            initial_backoff_set: false,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            shared: false,
        }
    }

    /// Shares one provider (and so one credential cache) with every other builder in this
    /// process whose configuration is the same, instead of building a new one. Off by default
    /// for builders; on for the one-call [`aws_credentials_provider`](crate::aws_credentials_provider).
    ///
    /// Use it where a provider is built per request (a handler that builds its SDK client on
    /// every call): 1,000 such requests then make one STS call per credential lifetime, not
    /// 1,000.
    ///
    /// "The same" means every setting of this builder and every environment variable it reads:
    /// role, session name, policies, session length, provider id, region, endpoint, audience,
    /// `jti`, refresh and retry settings, the [`OidcConfig`] (its env, clock and HTTP client
    /// compared by identity: clones are the same, two separately built ones differ) and the
    /// token source (by identity). An [`SdkConfig`] is compared by its region, endpoint, FIPS
    /// and dual-stack settings: sharers get the HTTP client and sleep of the first builder.
    /// Without an explicit session name, sharers keep the first builder's generated one.
    /// At most 64 shared providers are kept (least recently used dropped first); a build that
    /// fails is not kept.
    ///
    /// ```
    /// use vercel_oidc_aws::AwsCredentialsProvider;
    ///
    /// # fn handler() -> Result<(), vercel_oidc_aws::Error> {
    /// let build = || {
    ///     AwsCredentialsProvider::builder("arn:aws:iam::123456789012:role/app")
    ///         .region(aws_types::region::Region::new("us-east-1"))
    ///         .shared(true)
    ///         .build()
    /// };
    /// let (first, second) = (build()?, build()?);
    /// assert!(first.shares_cache_with(&second));
    /// # Ok(()) }
    /// # handler().unwrap();
    /// ```
    pub fn shared(mut self, shared: bool) -> Self {
        self.shared = shared;
        self
    }

    /// The role to assume (`RoleArn`; [`RoleArn::from_env`] reads `AWS_ROLE_ARN`). Defaults to
    /// the role given to [`AwsCredentialsProvider::builder`], or `AWS_ROLE_ARN` for a builder
    /// from [`AwsCredentialsProvider::from_sdk_config`].
    pub fn role_arn(mut self, role_arn: impl Into<RoleArn>) -> Self {
        self.role_arn = role_arn.into();
        self
    }

    /// The role session name (`RoleSessionName`, 2–64 characters of `[A-Za-z0-9+=,.@_-]`), as
    /// aws-config's `session_name`. Defaults to `AWS_ROLE_SESSION_NAME`, else
    /// `vercel-oidc-<unix millis>`.
    #[doc(alias = "role_session_name")]
    pub fn session_name(mut self, name: impl Into<String>) -> Self {
        self.session_name = Some(name.into());
        self
    }

    /// The same as [`session_name`](Self::session_name) (the npm package's `roleSessionName`).
    pub fn role_session_name(self, name: impl Into<String>) -> Self {
        self.session_name(name)
    }

    /// Adds a managed session policy ARN (`PolicyArns`, at most 10). Defaults to none.
    pub fn policy_arn(mut self, arn: impl Into<String>) -> Self {
        self.policy_arns.push(arn.into());
        self
    }

    /// Sets all managed session policy ARNs (`PolicyArns`, at most 10). Defaults to none.
    pub fn policy_arns<I, S>(mut self, arns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policy_arns = arns.into_iter().map(Into::into).collect();
        self
    }

    /// An inline session policy (`Policy`, JSON, at most 2048 characters). Defaults to none.
    pub fn policy(mut self, policy: impl Into<String>) -> Self {
        self.policy = Some(policy.into());
        self
    }

    /// The session duration (`DurationSeconds`, 900 s to 12 h, whole seconds), as aws-config's
    /// `session_length`. Defaults to omitting it, so STS applies its default (1 hour).
    #[doc(alias = "duration_seconds")]
    pub fn session_length(mut self, length: Duration) -> Self {
        self.duration = Some(length);
        self
    }

    /// The same as [`session_length`](Self::session_length) (the npm package's
    /// `durationSeconds`).
    pub fn duration(self, duration: Duration) -> Self {
        self.session_length(duration)
    }

    /// `ProviderId`, for OAuth 2.0 access tokens only (not needed for Vercel's OIDC tokens).
    /// Defaults to omitting it.
    pub fn provider_id(mut self, provider_id: impl Into<String>) -> Self {
        self.provider_id = Some(provider_id.into());
        self
    }

    /// The region of the STS client. Defaults to aws-config's region chain, read through this
    /// builder's [`Env`]: the region of the [`SdkConfig`] given to
    /// [`sdk_config`](Self::sdk_config), then `AWS_REGION`, then `AWS_DEFAULT_REGION`, then the
    /// `region` of the active profile (`AWS_PROFILE`, else `default`) in the shared config file
    /// (`AWS_CONFIG_FILE`, else `~/.aws/config`) and credentials file
    /// (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`). Never a silent `us-east-1`
    /// and never the instance metadata service: with none of them (and no endpoint override)
    /// `build` fails.
    pub fn region(mut self, region: impl Into<Region>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The STS endpoint, e.g. `https://sts.eu-west-1.amazonaws.com` or a VPC endpoint: https,
    /// or http on a loopback address, with no user info, query or fragment (the web identity
    /// token travels to it). Defaults to `AWS_ENDPOINT_URL_STS`, then `AWS_ENDPOINT_URL` (both
    /// ignored when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`), then the endpoint of the
    /// [`SdkConfig`], then the SDK's regional endpoint.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Takes the STS client's region, endpoint, HTTP client, sleep and time sources, FIPS and
    /// dual-stack settings and behavior version from `config` (its credentials provider, retry
    /// and timeout settings are not used: this provider retries itself). Defaults to none: an
    /// STS client with the SDK's defaults.
    pub fn sdk_config(mut self, config: &SdkConfig) -> Self {
        self.sdk_config = Some(config.clone());
        self
    }

    /// Where the OIDC token comes from; a fresh one is fetched for every STS call. Defaults to
    /// the Vercel chain ([`VercelTokenSource`](vercel_oidc::VercelTokenSource)) reading this builder's [`Env`]: the request's
    /// `x-vercel-oidc-token` header (through [`vercel_oidc::RequestContextLayer`]), then
    /// `VERCEL_OIDC_TOKEN_FILE`, the newest header token seen, `VERCEL_OIDC_TOKEN`.
    pub fn token_source(mut self, source: impl TokenSource + 'static) -> Self {
        self.token_source = Some(SharedTokenSource::new(source));
        self
    }

    /// Exchanges each token for one with this `aud` (`POST {issuer}/~token`, the issuer base
    /// from `VERCEL_OIDC_ISSUER_URL`, else `https://oidc.vercel.com`) before sending it to STS.
    /// Defaults to none: the Vercel token goes to STS as it is.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The `jti` to request in the audience exchange (only with [`audience`](Self::audience)).
    /// Defaults to none.
    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = Some(jti.into());
        self
    }

    /// The settings shared with every vercel-oidc builder: where env vars are read (by this
    /// provider and its default token source), the clock, the extra trust roots (also for the STS
    /// client), the issuer and HTTP client of the audience exchange.
    pub fn configure(mut self, config: &OidcConfig) -> Self {
        self.config = config.clone();
        self
    }

    /// The environment variables this provider (and its default token source) reads
    /// (shorthand for the [`OidcConfig`] field). Defaults to the process environment.
    pub fn env(mut self, env: Env) -> Self {
        self.config = self.config.with_env(env);
        self
    }

    /// The clock credentials' expiry is compared against (shorthand for the [`OidcConfig`]
    /// field). Defaults to the system clock.
    pub fn time_source(mut self, clock: SharedClock) -> Self {
        self.config = self.config.with_clock(clock);
        self
    }

    /// How long before expiry the background refresh starts. Defaults to 5 minutes.
    pub fn refresh_window(mut self, window: Duration) -> Self {
        self.refresh_window = window;
        self
    }

    /// Up to this fraction of the refresh window is added at random per credential, so many
    /// instances do not call STS at the same moment. Defaults to `0.2`.
    pub fn refresh_jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// How many STS requests one load makes at most for retryable failures (throttling, 5xx,
    /// timeouts, `IDPCommunicationError`, JWKS retrieval failures). At least 1. Defaults to 4,
    /// and to 8 for throttling, whose backoff also starts at 500 ms at least: STS throttles a
    /// deploy's burst of cold instances, and spreading the retries over ~10 s lets every
    /// instance through where 4 quick attempts give up. Setting it sets both.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self.max_attempts_set = true;
        self
    }

    /// The first retry waits a random time up to this (full jitter), doubling per retry.
    /// Defaults to 200 ms, and to 500 ms after throttling. Setting it sets both.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self.initial_backoff_set = true;
        self
    }

    /// The cap of the retry backoff. Defaults to 5 s.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The timeout of one STS request. Defaults to 10 s.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Resolves the configuration and builds the provider (and its STS client, once).
    ///
    /// # Errors
    /// [`Error::InvalidConfiguration`] when the role ARN is missing or malformed, no region can
    /// be found (and no endpoint is set), an endpoint is not allowed, `VERCEL_OIDC_CA_FILE`
    /// cannot be used, or an option is out of range.
    pub fn build(self) -> Result<AwsCredentialsProvider, Error> {
        if self.shared {
            let key = self.shared_key();
            return process_wide(key, move || self.build_one());
        }
        self.build_one()
    }

    /// Everything that makes two providers differ (see [`shared`](Self::shared)).
    fn shared_key(&self) -> SharedKey {
        let mut key = SharedKey::new("vercel-oidc-aws");
        key.opt("role_arn", self.role_arn.0.as_deref())
            .opt("session_name", self.session_name.as_deref())
            .list("policy_arns", &self.policy_arns)
            .opt("policy", self.policy.as_deref())
            .debug("duration", &self.duration)
            .opt("provider_id", self.provider_id.as_deref())
            .opt("region", self.region.as_ref().map(|r| r.as_ref()))
            .opt("endpoint_url", self.endpoint_url.as_deref())
            .token_source(self.token_source.as_ref())
            .opt("audience", self.audience.as_deref())
            .opt("jti", self.jti.as_deref())
            .config(&self.config)
            .debug("refresh_window", &self.refresh_window)
            .debug("jitter", &self.jitter.to_bits())
            .debug("max_attempts", &(self.max_attempts, self.max_attempts_set))
            .debug(
                "initial_backoff",
                &(self.initial_backoff, self.initial_backoff_set),
            )
            .debug("max_backoff", &self.max_backoff)
            .debug("attempt_timeout", &self.attempt_timeout);
        match &self.sdk_config {
            Some(sdk) => key
                .field("sdk_config", "some")
                .opt("sdk_region", sdk.region().map(|r| r.as_ref()))
                .opt("sdk_endpoint", sdk.endpoint_url())
                .debug("sdk_fips", &sdk.use_fips())
                .debug("sdk_dual_stack", &sdk.use_dual_stack()),
            None => key.field("sdk_config", "none"),
        };
        let env = self.config.env();
        for name in SHARED_KEY_ENV {
            key.opt(name, env.get(name).as_deref());
        }
        key
    }

    fn build_one(mut self) -> Result<AwsCredentialsProvider, Error> {
        let clock = self.config.clock().clone();
        let role_arn = self.resolve_role_arn()?;
        let session_name = self.resolve_session_name(&clock)?;
        self.check_policies()?;
        let duration_seconds = self.duration_seconds()?;
        if self.attempt_timeout.is_zero() {
            return Err(Error::config("the STS attempt timeout must not be zero"));
        }
        let region = self.resolve_region()?;
        let endpoints = self.resolve_endpoints()?;
        if region.is_none() && endpoints.configured.is_none() && endpoints.sdk.is_none() {
            return Err(Error::config(format!(
                "no AWS region for STS: set {ENV_REGION}, call .region(..), build from an \
                 SdkConfig with a region, or set `region` in the AWS config profile (this \
                 provider never assumes us-east-1)"
            )));
        }
        let client = self.sts_client(region.clone(), endpoints.configured.clone())?;
        let source = self.resolve_token_source()?;

        let summary = Summary {
            role_arn: role_arn.clone(),
            session_name: session_name.clone(),
            region: region.map(|r| r.to_string()),
            endpoint_url: endpoints.configured.or(endpoints.sdk),
            attempt_timeout: self.attempt_timeout,
            invalid: None,
        };
        let loader = Loader {
            client,
            role_arn,
            session_name,
            policy_arns: self.policy_arns,
            policy: self.policy,
            duration_seconds,
            provider_id: self.provider_id,
            source,
            clock: clock.clone(),
            max_attempts: self.max_attempts,
            throttle_attempts: if self.max_attempts_set {
                self.max_attempts
            } else {
                DEFAULT_THROTTLE_ATTEMPTS
            },
            initial_backoff: self.initial_backoff,
            throttle_initial_backoff: if self.initial_backoff_set {
                self.initial_backoff
            } else {
                THROTTLE_INITIAL_BACKOFF
            },
            max_backoff: self.max_backoff.max(self.initial_backoff),
        };
        let cache = cache_around(loader, self.refresh_window, self.jitter, clock);
        tracing::debug!(
            role_arn = %summary.role_arn,
            session_name = %summary.session_name,
            region = ?summary.region,
            endpoint_url = ?summary.endpoint_url,
            "vercel-oidc-aws: provider built"
        );
        Ok(AwsCredentialsProvider::new(cache, summary))
    }

    /// The role ARN: given, else `AWS_ROLE_ARN`; checked to be an IAM role ARN.
    fn resolve_role_arn(&self) -> Result<String, Error> {
        let role_arn = match &self.role_arn.0 {
            Some(arn) => arn.clone(),
            None => self.config.env().get_non_empty(ENV_ROLE_ARN).ok_or_else(|| {
                Error::config(format!(
                    "no role ARN: pass one to AwsCredentialsProvider::builder or set {ENV_ROLE_ARN}"
                ))
            })?,
        };
        validate_role_arn(&role_arn)?;
        Ok(role_arn)
    }

    /// The session name: given, else `AWS_ROLE_SESSION_NAME`, else `vercel-oidc-<unix millis>`.
    fn resolve_session_name(&self, clock: &SharedClock) -> Result<String, Error> {
        let session_name = match self
            .session_name
            .clone()
            .or_else(|| self.config.env().get_non_empty(ENV_SESSION_NAME))
        {
            Some(name) => name,
            None => {
                let millis = clock
                    .now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                format!("vercel-oidc-{millis}")
            }
        };
        validate_session_name(&session_name)?;
        Ok(session_name)
    }

    /// The session policies within STS's limits.
    fn check_policies(&self) -> Result<(), Error> {
        if self.policy_arns.len() > MAX_POLICY_ARNS {
            return Err(Error::config(format!(
                "{} policy ARNs given; STS accepts at most {MAX_POLICY_ARNS}",
                self.policy_arns.len()
            )));
        }
        if let Some(bad) = self.policy_arns.iter().find(|a| !a.starts_with("arn:")) {
            return Err(Error::config(format!(
                "policy ARN {bad:?} is not an ARN (arn:…)"
            )));
        }
        if let Some(policy) = &self.policy
            && (policy.trim().is_empty() || policy.chars().count() > MAX_POLICY_LEN)
        {
            return Err(Error::config(format!(
                "the inline session policy must be 1 to {MAX_POLICY_LEN} characters"
            )));
        }
        Ok(())
    }

    /// `DurationSeconds`, when a session length is set: whole seconds within STS's range.
    fn duration_seconds(&self) -> Result<Option<i32>, Error> {
        match self.duration {
            None => Ok(None),
            Some(d) if (MIN_DURATION..=MAX_DURATION).contains(&d) && d.subsec_nanos() == 0 => {
                i32::try_from(d.as_secs())
                    .map(Some)
                    .map_err(|_| duration_error(d))
            }
            Some(d) => Err(duration_error(d)),
        }
    }

    /// The region, by aws-config's chain read through this builder's [`Env`]: explicit, the
    /// `SdkConfig`'s, `AWS_REGION` / `AWS_DEFAULT_REGION`, the active profile's.
    fn resolve_region(&self) -> Result<Option<Region>, Error> {
        let env_region = self
            .config
            .env()
            .get_non_empty(ENV_REGION)
            .or_else(|| self.config.env().get_non_empty(ENV_DEFAULT_REGION))
            .map(Region::new);
        let mut chain = RegionProviderChain::first_try(self.region.clone())
            .or_else(self.sdk_config.as_ref().and_then(|c| c.region().cloned()))
            .or_else(env_region);
        if let Some(profile) = profile_region_provider(self.config.env()) {
            chain = chain.or_else(profile);
        }
        // Every link answers at once: the profile files are read with blocking I/O inside
        // aws-config (no runtime involved), so the chain is never pending.
        let region = chain
            .region()
            .now_or_never()
            .ok_or_else(|| Error::config("the AWS region chain did not answer at once"))?;
        Ok(region.filter(|r| !r.as_ref().is_empty()))
    }

    /// The STS endpoint: explicit, else from the environment (service-specific first), and the
    /// `SdkConfig`'s; each must pass the URL policy.
    fn resolve_endpoints(&self) -> Result<Endpoints, Error> {
        let ignore_env_endpoints = self
            .config
            .env()
            .get(ENV_IGNORE_ENDPOINTS)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let configured = self.endpoint_url.clone().or_else(|| {
            if ignore_env_endpoints {
                None
            } else {
                self.config
                    .env()
                    .get_non_empty(ENV_ENDPOINT_STS)
                    .or_else(|| self.config.env().get_non_empty(ENV_ENDPOINT))
            }
        });
        let sdk = self
            .sdk_config
            .as_ref()
            .and_then(|c| c.endpoint_url())
            .map(str::to_owned);
        if let Some(url) = &configured
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(Error::config(format!(
                "STS endpoint {:?} is not an http(s) URL",
                vercel_oidc::redact_url(url)
            )));
        }
        // The web identity token travels to this endpoint: https, or http on loopback only; no
        // user info, query or fragment (the error shows the URL with user info redacted).
        for url in configured.iter().chain(sdk.iter()) {
            vercel_oidc::check_endpoint_url(url).map_err(|e| Error::config(format!("STS {e}")))?;
        }
        Ok(Endpoints { configured, sdk })
    }

    /// The STS client, built once: the `SdkConfig`'s settings (or the SDK's defaults), this
    /// provider's region, endpoint and timeouts, no SDK retries, and the extra trust roots.
    fn sts_client(
        &self,
        region: Option<Region>,
        endpoint_url: Option<String>,
    ) -> Result<aws_sdk_sts::Client, Error> {
        let mut sts = match &self.sdk_config {
            Some(config) => aws_sdk_sts::config::Builder::from(config),
            None => aws_sdk_sts::config::Builder::new(),
        };
        // Without one the SDK client panics; the SdkConfig's, else our pinned version.
        let version = self
            .sdk_config
            .as_ref()
            .and_then(SdkConfig::behavior_version);
        sts.set_behavior_version(Some(version.unwrap_or_else(behavior_version)));
        sts.set_region(region);
        if endpoint_url.is_some() {
            sts.set_endpoint_url(endpoint_url);
        }
        // This provider retries (with a fresh token when needed); SDK retries would multiply it.
        sts.set_retry_config(Some(RetryConfig::disabled()));
        sts.set_timeout_config(Some(
            TimeoutConfig::builder()
                .connect_timeout(DEFAULT_CONNECT_TIMEOUT.min(self.attempt_timeout))
                .operation_attempt_timeout(self.attempt_timeout)
                .build(),
        ));
        // Extra trust roots (VERCEL_OIDC_CA_FILE) go into an HTTPS client of our own, unless the
        // caller brought an HTTP client in the SdkConfig (then it is theirs to configure).
        let brought_client = self
            .sdk_config
            .as_ref()
            .is_some_and(|c| c.http_client().is_some());
        let roots = self
            .config
            .extra_roots()
            .map_err(|e| Error::InvalidConfiguration {
                message: format!("{CA_FILE_ENV} could not be used"),
                source: Some(Arc::new(e)),
            })?;
        if let Some(roots) = roots
            && !brought_client
        {
            sts.set_http_client(Some(https_client_with(&roots)?));
        }
        Ok(aws_sdk_sts::Client::from_conf(sts.build()))
    }

    /// The token source: given, else the Vercel chain; behind the audience exchange when an
    /// audience is set.
    fn resolve_token_source(&mut self) -> Result<SharedTokenSource, Error> {
        let mut setup = TokenSetup::new();
        if let Some(source) = self.token_source.take() {
            setup = setup.token_source(source);
        }
        if let Some(audience) = self.audience.take() {
            setup = setup.audience(audience);
        }
        if let Some(jti) = self.jti.take() {
            setup = setup.jti(jti);
        }
        let tokens = setup.resolve(&self.config, Duration::ZERO).map_err(|e| {
            Error::InvalidConfiguration {
                message: "the audience exchange could not be set up".into(),
                source: Some(Arc::new(e)),
            }
        })?;
        Ok(tokens.into_token_source())
    }
}

/// The behavior version of the STS client when the `SdkConfig` brings none: pinned, so an SDK
/// upgrade does not change this provider's STS client unseen (its retries and timeouts are set
/// explicitly anyway).
fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

fn duration_error(d: Duration) -> Error {
    Error::config(format!(
        "session duration {d:?} is out of range: whole seconds from 900 s to 12 h"
    ))
}

/// The refresh-ahead cache in front of `loader`.
fn cache_around(
    loader: Loader,
    refresh_window: Duration,
    jitter: f64,
    clock: SharedClock,
) -> RefreshAheadCache<aws_credential_types::Credentials, Error> {
    let loader = Arc::new(loader);
    RefreshAheadCache::builder()
        .refresh_window(refresh_window)
        .jitter(jitter)
        .time_source(clock)
        .build(move || {
            let loader = Arc::clone(&loader);
            async move { loader.load().await }
        })
}

/// aws-config's profile region provider over the shared config and credentials files that
/// `env` names (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, else under `~/.aws/`), for
/// the profile `AWS_PROFILE` (else `default`). `None` when none of the files exists.
fn profile_region_provider(env: &Env) -> Option<ProfileFileRegionProvider> {
    let home = env
        .get_non_empty(ENV_HOME)
        .or_else(|| env.get_non_empty(ENV_USERPROFILE));
    let path = |var: &str, default_name: &str| -> Option<PathBuf> {
        match env.get_non_empty(var) {
            Some(path) => expand_home(&path, home.as_deref()),
            None => home
                .as_deref()
                .map(|h| Path::new(h).join(".aws").join(default_name)),
        }
    };
    let candidates = [
        (
            EnvConfigFileKind::Config,
            ENV_CONFIG_FILE,
            path(ENV_CONFIG_FILE, "config"),
        ),
        (
            EnvConfigFileKind::Credentials,
            ENV_CREDENTIALS_FILE,
            path(ENV_CREDENTIALS_FILE, "credentials"),
        ),
    ];
    let mut files = EnvConfigFiles::builder();
    let mut any = false;
    for (kind, var, path) in candidates {
        let Some(path) = path else { continue };
        if path.is_file() {
            files = files.with_file(kind, path);
            any = true;
        } else if env.get_non_empty(var).is_some() {
            tracing::warn!(path = %path.display(), "vercel-oidc-aws: {var} names no file");
        }
    }
    if !any {
        return None;
    }
    let profile = env
        .get_non_empty(ENV_PROFILE)
        .unwrap_or_else(|| "default".to_owned());
    Some(
        ProfileFileRegionProvider::builder()
            .profile_files(files.build())
            .profile_name(profile)
            .build(),
    )
}

/// `path` with a leading `~` replaced by `home` (`None` when there is no home to put there).
fn expand_home(path: &str, home: Option<&str>) -> Option<PathBuf> {
    match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') || rest.starts_with('\\') => {
            let rest = rest.trim_start_matches(['/', '\\']);
            home.map(|h| Path::new(h).join(rest))
        }
        _ => Some(PathBuf::from(path)),
    }
}

/// The SDK's rustls (aws-lc) HTTPS client with the platform roots plus `roots`.
fn https_client_with(
    roots: &ExtraRoots,
) -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient, Error> {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let context = TlsContext::builder()
        .with_trust_store(
            TrustStore::empty()
                .with_native_roots(true)
                .with_pem_certificate(roots.pem().to_vec()),
        )
        .build()
        .map_err(|e| Error::InvalidConfiguration {
            message: format!("{CA_FILE_ENV} could not be loaded into the STS client"),
            source: Some(Arc::new(e)),
        })?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https())
}

fn validate_role_arn(arn: &str) -> Result<(), Error> {
    // arn:<partition>:iam::<account>:role/<path/name>
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == "iam"
        && parts[3].is_empty()
        && !parts[4].is_empty()
        && parts[5].starts_with("role/")
        && parts[5].len() > "role/".len()
        && arn.len() <= 2048;
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "role ARN {arn:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
        )))
    }
}

fn validate_session_name(name: &str) -> Result<(), Error> {
    let ok = (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "role session name {name:?} must be 2 to 64 characters of [A-Za-z0-9+=,.@_-]"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arn_validation() {
        assert!(validate_role_arn("arn:aws:iam::123456789012:role/app").is_ok());
        assert!(validate_role_arn("arn:aws-cn:iam::123456789012:role/path/app").is_ok());
        for bad in [
            "",
            "role/app",
            "arn:aws:iam::123456789012:user/app",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:role/",
        ] {
            let err = validate_role_arn(bad).expect_err(bad);
            assert!(err.is_invalid_configuration(), "{bad}");
        }
    }

    #[test]
    fn session_name_validation() {
        assert!(validate_session_name("vercel-oidc-1@a.b=c,d+e_f").is_ok());
        assert!(validate_session_name("x").is_err());
        assert!(validate_session_name(&"x".repeat(65)).is_err());
        assert!(validate_session_name("has space").is_err());
    }
}
