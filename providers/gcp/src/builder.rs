//! [`GcpCredentialsBuilder`]: options, their defaults from the environment, validation.

use std::sync::Arc;
use std::time::Duration;

use vercel_oidc::internal::shared::{SharedKey, process_wide};
use vercel_oidc::time::SharedClock;
use vercel_oidc::{AudienceExchange, Env, OidcConfig, SharedTokenSource, TokenSource};

use crate::credentials::GcpCredentials;
use crate::error::Error;
use crate::exchange::{CLOUD_PLATFORM_SCOPE, Exchanger, Impersonation, Retry};

/// Google's STS token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://sts.googleapis.com/v1/token";
/// Google's IAM Service Account Credentials API.
pub const DEFAULT_IAM_CREDENTIALS_URL: &str = "https://iamcredentials.googleapis.com";
/// The lifetime of a service account's access token unless set: one hour.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// The longest lifetime Google grants (12 hours, with the organization policy
/// `constraints/iam.allowServiceAccountCredentialLifetimeExtension`).
pub const MAX_LIFETIME: Duration = Duration::from_secs(43_200);

const ENV_PROJECT_NUMBER: &str = "GCP_PROJECT_NUMBER";
const ENV_POOL_ID: &str = "GCP_WORKLOAD_IDENTITY_POOL_ID";
const ENV_PROVIDER_ID: &str = "GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID";
const ENV_SERVICE_ACCOUNT: &str = "GCP_SERVICE_ACCOUNT_EMAIL";

const DEFAULT_MAX_ATTEMPTS: u32 = 4;
const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(200);
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_DELEGATES: usize = 10;

/// The workload identity pool provider's resource name, the STS `audience`:
/// `//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`.
///
/// ```
/// assert_eq!(
///     vercel_oidc_gcp::provider_resource("123456789", "vercel", "acme"),
///     "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/vercel/providers/acme"
/// );
/// ```
pub fn provider_resource(project_number: &str, pool_id: &str, provider_id: &str) -> String {
    format!(
        "//iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/{pool_id}/providers/{provider_id}"
    )
}

/// Builder for [`GcpCredentials`]. Setters consume `self`; [`build`](Self::build) checks
/// everything and returns a typed [`Error`].
#[derive(Debug, Default)]
pub struct GcpCredentialsBuilder {
    audience: Option<String>,
    service_account: Option<String>,
    without_impersonation: bool,
    scopes: Vec<String>,
    lifetime: Option<Duration>,
    delegates: Vec<String>,
    token_url: Option<String>,
    iam_credentials_url: Option<String>,
    quota_project_id: Option<String>,
    include_email: bool,
    source: Option<SharedTokenSource>,
    exchange_audience: Option<String>,
    exchange_jti: Option<String>,
    audience_exchange: Option<AudienceExchange>,
    config: OidcConfig,
    refresh_window: Option<Duration>,
    max_attempts: Option<u32>,
    attempt_timeout: Option<Duration>,
    shared: bool,
}

impl GcpCredentialsBuilder {
    /// The workload identity pool provider's resource name, the STS `audience`
    /// (`//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`,
    /// see [`provider_resource`]). Defaults to the one named by `GCP_PROJECT_NUMBER`,
    /// `GCP_WORKLOAD_IDENTITY_POOL_ID` and `GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID`.
    pub fn audience(mut self, provider_resource: impl Into<String>) -> Self {
        self.audience = Some(provider_resource.into());
        self
    }

    /// The service account to impersonate (`generateAccessToken`, `generateIdToken`): its
    /// email or unique id. Defaults to `GCP_SERVICE_ACCOUNT_EMAIL`; with neither, the federated
    /// token itself is the access token (direct resource access).
    pub fn service_account(mut self, email: impl Into<String>) -> Self {
        self.service_account = Some(email.into());
        self.without_impersonation = false;
        self
    }

    /// Uses the federated token directly, even when `GCP_SERVICE_ACCOUNT_EMAIL` is set. Off by
    /// default.
    pub fn without_impersonation(mut self) -> Self {
        self.service_account = None;
        self.without_impersonation = true;
        self
    }

    /// Adds an OAuth scope of the access token. Defaults to
    /// `https://www.googleapis.com/auth/cloud-platform` alone.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Sets every OAuth scope of the access token. Defaults to
    /// `https://www.googleapis.com/auth/cloud-platform`.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The lifetime of the service account's access tokens, whole seconds up to
    /// [`MAX_LIFETIME`] (more than 1 h needs Google's organization policy). Needs a service
    /// account. Defaults to [`DEFAULT_LIFETIME`] (1 h).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Adds a delegate of the impersonation chain (a service account's email, or its resource
    /// name `projects/-/serviceAccounts/<email>`), in order. Needs a service account. Defaults
    /// to none.
    pub fn delegate(mut self, delegate: impl Into<String>) -> Self {
        self.delegates.push(delegate.into());
        self
    }

    /// The full STS token URL. Defaults to [`DEFAULT_TOKEN_URL`].
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The base URL of the IAM Credentials API (the path `/v1/projects/-/serviceAccounts/…` is
    /// appended). Defaults to [`DEFAULT_IAM_CREDENTIALS_URL`].
    pub fn iam_credentials_url(mut self, url: impl Into<String>) -> Self {
        self.iam_credentials_url = Some(url.into());
        self
    }

    /// The quota project sent as `x-goog-user-project` with the credentials' headers. Defaults
    /// to none.
    pub fn quota_project_id(mut self, project: impl Into<String>) -> Self {
        self.quota_project_id = Some(project.into());
        self
    }

    /// Whether ID tokens carry the service account's `email` claim (`includeEmail`). Defaults
    /// to `false`.
    pub fn id_token_include_email(mut self, include: bool) -> Self {
        self.include_email = include;
        self
    }

    /// Where Vercel tokens come from. Defaults to the Vercel chain
    /// ([`vercel_oidc::VercelTokenSource`]) with this builder's [`OidcConfig`].
    pub fn token_source(mut self, source: impl TokenSource + 'static) -> Self {
        self.source = Some(SharedTokenSource::new(source));
        self
    }

    /// Exchanges each Vercel token for one with this audience first (`POST {issuer}/~token`),
    /// for a pool whose allowed audiences list another audience (e.g. the provider resource
    /// itself) than the token's `https://vercel.com/<team>`. Defaults to none.
    pub fn exchange_audience(mut self, audience: impl Into<String>) -> Self {
        self.exchange_audience = Some(audience.into());
        self
    }

    /// The `jti` sent with the audience exchange. Defaults to none.
    pub fn exchange_jti(mut self, jti: impl Into<String>) -> Self {
        self.exchange_jti = Some(jti.into());
        self
    }

    /// The exchange used with [`exchange_audience`](Self::exchange_audience). Defaults to one
    /// built from the [`OidcConfig`] (`VERCEL_OIDC_ISSUER_URL`, `VERCEL_OIDC_CA_FILE`).
    pub fn audience_exchange(mut self, exchange: AudienceExchange) -> Self {
        self.audience_exchange = Some(exchange);
        self
    }

    /// The settings shared with every vercel-oidc builder: where the defaults are read
    /// (`GCP_*` and the token chain's variables), the clock, the extra trust roots and the
    /// HTTP client (used for STS and IAM Credentials too). Defaults to [`OidcConfig::new`].
    pub fn configure(mut self, config: &OidcConfig) -> Self {
        self.config = config.clone();
        self
    }

    /// The environment the defaults are read from (shorthand for the [`OidcConfig`] field).
    /// Defaults to the process environment.
    pub fn env(mut self, env: Env) -> Self {
        self.config = self.config.with_env(env);
        self
    }

    /// The clock expiry is compared against (shorthand for the [`OidcConfig`] field).
    /// Defaults to the system clock.
    pub fn time_source(mut self, clock: SharedClock) -> Self {
        self.config = self.config.with_clock(clock);
        self
    }

    /// How long before a token's expiry its background refresh starts (plus up to 20 %
    /// jitter). Defaults to 5 minutes.
    pub fn refresh_window(mut self, window: Duration) -> Self {
        self.refresh_window = Some(window);
        self
    }

    /// At most this many requests to each service per load (at least 1), transient failures
    /// only, with full-jitter backoff from 200 ms up to 5 s. Defaults to 4.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// How long one request may take. Defaults to 10 s.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// One process-wide instance per configuration: with `true`, every builder with the same
    /// settings (the same values, the same environment variables read, and the same token
    /// source, env, clock and HTTP client objects) builds a clone of one [`GcpCredentials`],
    /// so they share one cache and one exchange per token lifetime, however often a handler
    /// builds them. [`crate::gcp_credentials`] is shared. Defaults to `false` (each build has
    /// its own cache).
    pub fn shared(mut self, shared: bool) -> Self {
        self.shared = shared;
        self
    }

    /// Everything that makes two credentials differ (see [`shared`](Self::shared)).
    fn shared_key(&self) -> SharedKey {
        let mut key = SharedKey::new("vercel-oidc-gcp");
        key.opt("audience", self.audience.as_deref())
            .opt("service_account", self.service_account.as_deref())
            .debug("without_impersonation", &self.without_impersonation)
            .list("scopes", &self.scopes)
            .debug("lifetime", &self.lifetime)
            .list("delegates", &self.delegates)
            .opt("token_url", self.token_url.as_deref())
            .opt("iam_credentials_url", self.iam_credentials_url.as_deref())
            .opt("quota_project_id", self.quota_project_id.as_deref())
            .debug("include_email", &self.include_email)
            .token_source(self.source.as_ref())
            .opt("exchange_audience", self.exchange_audience.as_deref())
            .opt("exchange_jti", self.exchange_jti.as_deref())
            .opt(
                "audience_exchange",
                self.audience_exchange
                    .as_ref()
                    .map(|e| format!("{e:?}"))
                    .as_deref(),
            )
            .config(&self.config)
            .debug("refresh_window", &self.refresh_window)
            .debug("max_attempts", &self.max_attempts)
            .debug("attempt_timeout", &self.attempt_timeout);
        let env = self.config.env();
        for name in [
            ENV_PROJECT_NUMBER,
            ENV_POOL_ID,
            ENV_PROVIDER_ID,
            ENV_SERVICE_ACCOUNT,
            vercel_oidc::CA_FILE_ENV,
            vercel_oidc::ISSUER_URL_ENV,
        ] {
            key.opt(name, env.get(name).as_deref());
        }
        key
    }

    /// Checks the settings and builds the credentials (with [`shared`](Self::shared), returns
    /// the process-wide instance of this configuration). Nothing is fetched until the first use.
    ///
    /// # Errors
    /// - [`Error::NotConfigured`] when the workload identity provider is neither given nor
    ///   named by the three `GCP_*` variables;
    /// - [`Error::InvalidEndpoint`] for an STS or IAM Credentials URL that is not `https` (or
    ///   `http` on a loopback host), or has user info, a query or a fragment;
    /// - [`Error::InvalidConfiguration`] for a malformed audience, service account, scope,
    ///   delegate or quota project, a lifetime out of range, a lifetime or delegates without a
    ///   service account, an unusable `VERCEL_OIDC_CA_FILE` or audience exchange.
    pub fn build(self) -> Result<GcpCredentials, Error> {
        if self.shared {
            let key = self.shared_key();
            return process_wide(key, move || self.build_one());
        }
        self.build_one()
    }

    fn build_one(self) -> Result<GcpCredentials, Error> {
        let env = self.config.env().clone();
        let audience = match self.audience {
            Some(audience) => audience,
            None => audience_from_env(&env)?,
        };
        validate_audience(&audience)?;
        let service_account = if self.without_impersonation {
            None
        } else {
            self.service_account
                .or_else(|| env.get_non_empty(ENV_SERVICE_ACCOUNT))
        };
        if let Some(email) = &service_account {
            validate_account("service account", email)?;
        }
        let scopes = if self.scopes.is_empty() {
            vec![CLOUD_PLATFORM_SCOPE.to_owned()]
        } else {
            self.scopes
        };
        if let Some(bad) = scopes
            .iter()
            .find(|s| s.is_empty() || !s.chars().all(|c| c.is_ascii_graphic()))
        {
            return Err(Error::config(format!(
                "the scope {bad:?} is empty or has spaces or control characters"
            )));
        }
        let impersonation = match &service_account {
            None => {
                if self.lifetime.is_some() || !self.delegates.is_empty() {
                    return Err(Error::config(
                        "a lifetime or delegates need a service account to impersonate \
                         (service_account or GCP_SERVICE_ACCOUNT_EMAIL)",
                    ));
                }
                None
            }
            Some(email) => Some(Impersonation {
                service_account: email.clone(),
                lifetime: check_lifetime(self.lifetime.unwrap_or(DEFAULT_LIFETIME))?,
                delegates: delegates(self.delegates)?,
            }),
        };
        if let Some(project) = &self.quota_project_id
            && (project.is_empty() || !project.chars().all(|c| c.is_ascii_graphic()))
        {
            return Err(Error::config(
                "the quota project is empty or has spaces or control characters",
            ));
        }
        let token_url = endpoint(
            "STS token URL",
            self.token_url.as_deref().unwrap_or(DEFAULT_TOKEN_URL),
        )?;
        let iam_url = endpoint(
            "IAM Credentials URL",
            self.iam_credentials_url
                .as_deref()
                .unwrap_or(DEFAULT_IAM_CREDENTIALS_URL),
        )?;
        let attempt_timeout = self.attempt_timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT);
        let http = match self.config.custom_http_client() {
            Some(client) => client.clone(),
            None => {
                let roots = self
                    .config
                    .extra_roots()
                    .map_err(|e| Error::config_with("VERCEL_OIDC_CA_FILE could not be used", e))?;
                vercel_oidc::internal::http_client_builder(roots.as_ref())
                    .connect_timeout(Duration::from_secs(5).min(attempt_timeout))
                    .timeout(attempt_timeout)
                    .build()
                    .map_err(|e| Error::config_with("cannot build the HTTP client", e))?
            }
        };
        let source = crate::subject::token_setup(
            self.source,
            self.exchange_audience,
            self.exchange_jti,
            self.audience_exchange,
            &self.config,
        )?;
        let clock = self.config.clock().clone();
        let exchanger = Exchanger {
            http,
            token_url,
            iam_url,
            audience,
            scopes,
            impersonation,
            include_email: self.include_email,
            source,
            clock: clock.clone(),
            retry: Retry {
                max_attempts: self.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
                initial_backoff: DEFAULT_INITIAL_BACKOFF,
                max_backoff: DEFAULT_MAX_BACKOFF,
                attempt_timeout,
            },
        };
        let credentials = GcpCredentials::new(
            Arc::new(exchanger),
            self.quota_project_id,
            self.refresh_window
                .unwrap_or(vercel_oidc::cache::DEFAULT_REFRESH_WINDOW),
            clock,
        );
        tracing::debug!(?credentials, "vercel-oidc-gcp: credentials built");
        Ok(credentials)
    }
}

/// The provider resource from `GCP_PROJECT_NUMBER`, `GCP_WORKLOAD_IDENTITY_POOL_ID` and
/// `GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID`.
fn audience_from_env(env: &Env) -> Result<String, Error> {
    let (Some(number), Some(pool), Some(provider)) = (
        env.get_non_empty(ENV_PROJECT_NUMBER),
        env.get_non_empty(ENV_POOL_ID),
        env.get_non_empty(ENV_PROVIDER_ID),
    ) else {
        return Err(Error::NotConfigured {
            setting: "the workload identity provider (audience, or GCP_PROJECT_NUMBER, \
                      GCP_WORKLOAD_IDENTITY_POOL_ID and GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID)",
        });
    };
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::config(format!(
            "{ENV_PROJECT_NUMBER} must be the project number (digits), not {number:?}"
        )));
    }
    for (var, id) in [(ENV_POOL_ID, &pool), (ENV_PROVIDER_ID, &provider)] {
        if !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(Error::config(format!(
                "{var} may only contain lowercase letters, digits and '-', not {id:?}"
            )));
        }
    }
    Ok(provider_resource(&number, &pool, &provider))
}

fn validate_audience(audience: &str) -> Result<(), Error> {
    if !audience.starts_with("//") || !audience.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::config(format!(
            "the audience {audience:?} is not a provider resource name \
             (//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>)"
        )));
    }
    Ok(())
}

/// A service account (or delegate) goes into a URL path: an email or a unique id, nothing else.
fn validate_account(what: &str, account: &str) -> Result<(), Error> {
    let ok = !account.is_empty()
        && account.len() <= 254
        && account
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@.-_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "the {what} {account:?} is not a service account email or unique id"
        )))
    }
}

fn check_lifetime(lifetime: Duration) -> Result<Duration, Error> {
    if lifetime.subsec_nanos() == 0
        && lifetime >= Duration::from_secs(1)
        && lifetime <= MAX_LIFETIME
    {
        Ok(lifetime)
    } else {
        Err(Error::config(format!(
            "the lifetime {lifetime:?} is out of range: whole seconds from 1 s to 12 h"
        )))
    }
}

/// Delegates as resource names, `projects/-/serviceAccounts/<email>`.
fn delegates(given: Vec<String>) -> Result<Vec<String>, Error> {
    if given.len() > MAX_DELEGATES {
        return Err(Error::config(format!(
            "{} delegates given; at most {MAX_DELEGATES} are supported",
            given.len()
        )));
    }
    given
        .into_iter()
        .map(|d| {
            let account = d.strip_prefix("projects/-/serviceAccounts/").unwrap_or(&d);
            validate_account("delegate", account)?;
            Ok(format!("projects/-/serviceAccounts/{account}"))
        })
        .collect()
}

/// `url` (trimmed, without a trailing slash) once it passes the core's endpoint policy.
fn endpoint(setting: &'static str, url: &str) -> Result<String, Error> {
    let url = url.trim();
    vercel_oidc::check_endpoint_url(url).map_err(|url| Error::InvalidEndpoint { setting, url })?;
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUDIENCE: &str =
        "//iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/p/providers/v";

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    fn with_env(pairs: &[(&str, &str)]) -> GcpCredentialsBuilder {
        GcpCredentials::builder().env(env(pairs))
    }

    const FULL_ENV: [(&str, &str); 4] = [
        (ENV_PROJECT_NUMBER, "42"),
        (ENV_POOL_ID, "vercel"),
        (ENV_PROVIDER_ID, "acme-prod"),
        (ENV_SERVICE_ACCOUNT, "app@proj.iam.gserviceaccount.com"),
    ];

    #[test]
    fn defaults_come_from_vercels_variables() {
        let credentials = with_env(&FULL_ENV).build().expect("builds");
        assert_eq!(
            credentials.audience(),
            "//iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/vercel/providers/acme-prod"
        );
        assert_eq!(
            credentials.service_account(),
            Some("app@proj.iam.gserviceaccount.com")
        );
        assert_eq!(credentials.token_url(), DEFAULT_TOKEN_URL);
        assert_eq!(
            credentials.iam_credentials_url(),
            DEFAULT_IAM_CREDENTIALS_URL
        );
        assert_eq!(credentials.scopes(), [CLOUD_PLATFORM_SCOPE]);
        assert_eq!(credentials.lifetime(), Some(DEFAULT_LIFETIME));

        let direct = with_env(&FULL_ENV)
            .without_impersonation()
            .build()
            .expect("builds");
        assert_eq!(direct.service_account(), None);
        assert_eq!(direct.lifetime(), None);

        let explicit = with_env(&FULL_ENV)
            .audience(AUDIENCE)
            .service_account("other@p.iam.gserviceaccount.com")
            .scopes(["https://www.googleapis.com/auth/devstorage.read_only"])
            .scope("https://www.googleapis.com/auth/pubsub")
            .lifetime(Duration::from_secs(600))
            .delegate("d1@p.iam.gserviceaccount.com")
            .delegate("projects/-/serviceAccounts/d2@p.iam.gserviceaccount.com")
            .token_url("http://127.0.0.1:9/v1/token/")
            .iam_credentials_url(" http://localhost:8/ ")
            .build()
            .expect("builds");
        assert_eq!(explicit.audience(), AUDIENCE);
        assert_eq!(
            explicit.service_account(),
            Some("other@p.iam.gserviceaccount.com")
        );
        assert_eq!(
            explicit.scopes(),
            [
                "https://www.googleapis.com/auth/devstorage.read_only",
                "https://www.googleapis.com/auth/pubsub"
            ]
        );
        assert_eq!(explicit.lifetime(), Some(Duration::from_secs(600)));
        assert_eq!(
            explicit.delegates(),
            [
                "projects/-/serviceAccounts/d1@p.iam.gserviceaccount.com",
                "projects/-/serviceAccounts/d2@p.iam.gserviceaccount.com"
            ]
        );
        assert_eq!(explicit.token_url(), "http://127.0.0.1:9/v1/token");
        assert_eq!(explicit.iam_credentials_url(), "http://localhost:8");
    }

    #[test]
    fn missing_and_invalid_settings_are_typed() {
        let err = with_env(&[]).build().expect_err("no provider");
        assert!(err.is_not_configured(), "{err}");
        assert!(
            err.to_string()
                .contains("GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID"),
            "{err}"
        );
        let err = with_env(&FULL_ENV[..2])
            .build()
            .expect_err("no provider id");
        assert!(err.is_not_configured(), "{err}");

        let invalid = |builder: GcpCredentialsBuilder, needle: &str| {
            let err = builder.build().expect_err(needle);
            assert!(err.is_invalid_configuration(), "{needle}: {err}");
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        };
        invalid(
            with_env(&[
                (ENV_PROJECT_NUMBER, "my-project"),
                (ENV_POOL_ID, "p"),
                (ENV_PROVIDER_ID, "v"),
            ]),
            "GCP_PROJECT_NUMBER must be the project number",
        );
        invalid(
            with_env(&[
                (ENV_PROJECT_NUMBER, "1"),
                (ENV_POOL_ID, "P/x"),
                (ENV_PROVIDER_ID, "v"),
            ]),
            "GCP_WORKLOAD_IDENTITY_POOL_ID may only contain",
        );
        invalid(
            with_env(&[]).audience("projects/1/x"),
            "not a provider resource name",
        );
        invalid(
            with_env(&[]).audience("//iam x"),
            "not a provider resource name",
        );
        invalid(
            with_env(&[]).audience(AUDIENCE).service_account("a/../b"),
            "not a service account email",
        );
        invalid(
            with_env(&[]).audience(AUDIENCE).service_account(""),
            "not a service account email",
        );
        invalid(
            with_env(&[])
                .audience(AUDIENCE)
                .lifetime(Duration::from_secs(60)),
            "need a service account",
        );
        invalid(
            with_env(&[]).audience(AUDIENCE).delegate("d@p"),
            "need a service account",
        );
        for lifetime in [
            Duration::ZERO,
            Duration::from_millis(1500),
            MAX_LIFETIME + Duration::from_secs(1),
        ] {
            invalid(
                with_env(&FULL_ENV).lifetime(lifetime),
                "whole seconds from 1 s to 12 h",
            );
        }
        assert!(with_env(&FULL_ENV).lifetime(MAX_LIFETIME).build().is_ok());
        assert!(
            with_env(&FULL_ENV)
                .lifetime(Duration::from_secs(1))
                .build()
                .is_ok()
        );
        invalid(with_env(&FULL_ENV).delegate("x y"), "the delegate");
        let many =
            (0..=MAX_DELEGATES).fold(with_env(&FULL_ENV), |b, i| b.delegate(format!("d{i}@p")));
        invalid(many, "at most 10");
        invalid(with_env(&FULL_ENV).scopes([""]), "the scope");
        invalid(with_env(&FULL_ENV).scope("a b"), "the scope");
        invalid(
            with_env(&FULL_ENV).quota_project_id("a\nb"),
            "the quota project",
        );
        invalid(
            with_env(&[
                FULL_ENV[0],
                FULL_ENV[1],
                FULL_ENV[2],
                ("VERCEL_OIDC_CA_FILE", "/nonexistent/ca.pem"),
            ]),
            "VERCEL_OIDC_CA_FILE",
        );
        invalid(with_env(&FULL_ENV).exchange_audience(""), "token source");
    }

    #[test]
    fn endpoints_follow_the_url_policy_and_never_echo_a_password() {
        for (url, reason) in [
            (
                "http://sts.example.com/v1/token",
                "must be https (http only on a loopback host)",
            ),
            (
                "https://user:hunter2@sts.example.com",
                "must not contain credentials",
            ),
            (
                "https://sts.example.com/v1/token?key=hunter2",
                "must not have a query or fragment",
            ),
            ("not a url", "not a URL"),
        ] {
            let err = with_env(&FULL_ENV).token_url(url).build().expect_err(url);
            let Error::InvalidEndpoint { setting, url: bad } = &err else {
                panic!("{url}: {err:?}");
            };
            assert_eq!(*setting, "STS token URL");
            assert_eq!(bad.reason(), reason);
            assert!(err.is_invalid_configuration());
            assert!(
                !err.to_string().contains("hunter2") || url.contains('?'),
                "{err}"
            );
            let err = with_env(&FULL_ENV)
                .iam_credentials_url(url)
                .build()
                .expect_err(url);
            assert!(
                matches!(
                    &err,
                    Error::InvalidEndpoint {
                        setting: "IAM Credentials URL",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
        assert_eq!(
            with_env(&FULL_ENV)
                .token_url("https://admin:hunter2@sts.example.com/v1/token")
                .build()
                .expect_err("user info")
                .to_string(),
            "invalid Google Cloud credentials configuration: the STS token URL \
             \"https://[redacted]@sts.example.com/v1/token\" must not contain credentials"
        );
    }
}
