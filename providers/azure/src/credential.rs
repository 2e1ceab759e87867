//! [`AzureCredential`]: a `TokenCredential` whose client assertion is a Vercel OIDC token, with
//! a non-blocking refresh-ahead cache per scope.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::http::{ClientOptions, Pipeline, RetryOptions, Transport, Url};
use futures_util::future::BoxFuture;
use vercel_oidc::cache::RefreshAheadCache;
use vercel_oidc::internal::shared::{SharedKey, process_wide};
use vercel_oidc::time::SharedClock;
use vercel_oidc::{AudienceExchange, Env, ExtraRoots, OidcConfig, SharedTokenSource, TokenSource};

use crate::assertion::AssertionSettings;
use crate::entra::{Fetcher, RetryBudget};
use crate::error::Error;

const TENANT_ENV: &str = "AZURE_TENANT_ID";
const CLIENT_ENV: &str = "AZURE_CLIENT_ID";
const AUTHORITY_ENV: &str = "AZURE_AUTHORITY_HOST";
/// Entra ID of the Azure public cloud.
pub const PUBLIC_CLOUD_AUTHORITY: &str = "https://login.microsoftonline.com";
/// At most this many scope sets are cached; beyond it the oldest is dropped.
pub const MAX_CACHED_SCOPE_SETS: usize = 64;

type TokenCache = RefreshAheadCache<AccessToken, Error>;

/// One scope set's cache.
struct ScopeCache {
    scopes: Box<[Box<str>]>,
    cache: TokenCache,
}

/// An Azure `TokenCredential` that authenticates as an Entra ID application through workload
/// identity federation, with a Vercel OIDC token as the client assertion.
///
/// - `get_token` answers from a per-scope cache with no waiting while a valid token exists; the
///   refresh starts in the background 5 minutes (plus jitter) before expiry, and a failed
///   refresh keeps serving the valid token. Scopes never wait on each other; concurrent cold
///   callers of one scope share one Entra request.
/// - Each Entra request carries a fresh assertion from the token source, never an expired one.
/// - Requests go through an `azure_core` pipeline built from your `ClientOptions`.
/// - Errors are [`Error`] inside an `azure_core::Error` of kind `Credential`; Entra's answers keep
///   their AADSTS codes ([`Error::aadsts_code`]).
///
/// The shared load ignores the per-call `TokenRequestOptions` (its context belongs to one caller).
///
/// ```no_run
/// use std::sync::Arc;
/// use azure_core::credentials::TokenCredential;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let credential = vercel_oidc_azure::AzureCredential::builder()
///     .tenant_id("00000000-0000-0000-0000-000000000000")
///     .client_id("11111111-1111-1111-1111-111111111111")
///     .build()?;
/// let token = credential.get_token(&["https://vault.azure.net/.default"], None).await?;
/// # let _ = token;
/// // Or give it to any Azure SDK client as an `Arc<dyn TokenCredential>`:
/// let shared: Arc<dyn TokenCredential> = credential;
/// # let _ = shared;
/// # Ok(()) }
/// ```
pub struct AzureCredential {
    fetcher: Arc<Fetcher>,
    caches: ArcSwap<Vec<Arc<ScopeCache>>>,
    /// The first scope set ever asked for (in practice usually the only one): its cache is
    /// found with one atomic load, before the list.
    primary: OnceLock<Arc<ScopeCache>>,
    insert: Mutex<()>,
    refresh_window: Duration,
    clock: SharedClock,
    tenant_id: String,
}

impl fmt::Debug for AzureCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureCredential")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.fetcher.client_id)
            .field("token_url", &self.fetcher.token_url.as_str())
            .field("cached_scope_sets", &self.caches.load().len())
            .finish_non_exhaustive()
    }
}

impl AzureCredential {
    /// A builder; every setting has a default from the environment.
    pub fn builder() -> AzureCredentialBuilder {
        AzureCredentialBuilder::default()
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The client (application) id.
    pub fn client_id(&self) -> &str {
        &self.fetcher.client_id
    }

    /// The token endpoint, `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> &str {
        self.fetcher.token_url.as_str()
    }

    /// The cached token for exactly these scopes, without waiting (inside the refresh window
    /// this starts the background refresh). `None` when there is no valid one.
    pub fn cached_token(&self, scopes: &[&str]) -> Option<AccessToken> {
        self.find(scopes)?.cache.try_get()
    }

    /// Starts the first token request for these scopes in the background (inside a tokio
    /// runtime), so a function's init overlaps it. Returns whether it started one (not when a
    /// valid token is cached, a request is running, there is no runtime, or the scopes are
    /// invalid).
    ///
    /// ```no_run
    /// # fn init() -> Result<(), vercel_oidc_azure::Error> {
    /// let credential = vercel_oidc_azure::AzureCredential::builder().build()?;
    /// credential.prefetch(&["https://vault.azure.net/.default"]);
    /// # Ok(()) }
    /// ```
    pub fn prefetch(&self, scopes: &[&str]) -> bool {
        self.cache_for(scopes)
            .is_ok_and(|entry| entry.cache.prefetch())
    }

    /// Drops the cached token for these scopes: the next call fetches a new one.
    pub fn invalidate(&self, scopes: &[&str]) {
        if let Some(entry) = self.find(scopes) {
            entry.cache.invalidate();
        }
    }

    #[inline]
    fn find(&self, scopes: &[&str]) -> Option<Arc<ScopeCache>> {
        if let Some(primary) = self.primary.get()
            && same_scopes(&primary.scopes, scopes)
        {
            return Some(Arc::clone(primary));
        }
        let list = self.caches.load();
        list.iter()
            .find(|c| same_scopes(&c.scopes, scopes))
            .map(Arc::clone)
    }

    /// The fast path: a cached token, with no allocation beyond the token's clone.
    #[inline]
    fn try_cached(&self, scopes: &[&str]) -> Option<AccessToken> {
        if let Some(primary) = self.primary.get()
            && same_scopes(&primary.scopes, scopes)
        {
            return primary.cache.try_get();
        }
        let list = self.caches.load();
        list.iter()
            .find(|c| same_scopes(&c.scopes, scopes))
            .and_then(|c| c.cache.try_get())
    }

    fn cache_for(&self, scopes: &[&str]) -> Result<Arc<ScopeCache>, Error> {
        if let Some(found) = self.find(scopes) {
            return Ok(found);
        }
        if scopes.is_empty() || scopes.iter().any(|s| s.trim().is_empty()) {
            return Err(Error::config(
                "get_token needs at least one non-empty scope, e.g. https://vault.azure.net/.default",
            ));
        }
        let _guard = self.insert.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = self.find(scopes) {
            return Ok(found);
        }
        let scope = scopes.join(" ");
        let fetcher = Arc::clone(&self.fetcher);
        let cache = RefreshAheadCache::builder()
            .refresh_window(self.refresh_window)
            .time_source(self.clock.clone())
            .build(move || {
                let fetcher = Arc::clone(&fetcher);
                let scope = scope.clone();
                async move { fetcher.fetch(&scope).await }
            });
        let entry = Arc::new(ScopeCache {
            scopes: scopes.iter().map(|s| Box::<str>::from(*s)).collect(),
            cache,
        });
        if self.primary.set(Arc::clone(&entry)).is_ok() {
            // The first scope set: found through `primary`, never evicted.
            return Ok(entry);
        }
        let mut list = Vec::clone(&self.caches.load());
        if list.len() >= MAX_CACHED_SCOPE_SETS - 1 {
            list.remove(0);
        }
        list.push(Arc::clone(&entry));
        self.caches.store(Arc::new(list));
        Ok(entry)
    }

    /// The slow path, boxed on its own so the cached path's future stays small (a cached
    /// `get_token` then polls a future of a few words, with no allocation but the token's clone).
    #[cold]
    fn load<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, azure_core::Result<AccessToken>> {
        Box::pin(async move {
            let entry = self.cache_for(scopes)?;
            Ok(entry.cache.get().await?)
        })
    }
}

fn same_scopes(cached: &[Box<str>], wanted: &[&str]) -> bool {
    cached.len() == wanted.len() && cached.iter().zip(wanted).all(|(a, b)| **a == **b)
}

#[async_trait::async_trait]
impl TokenCredential for AzureCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        if let Some(token) = self.try_cached(scopes) {
            return Ok(token);
        }
        self.load(scopes).await
    }
}

/// Builder for [`AzureCredential`]. Setters consume `self`; [`build`](Self::build) checks
/// everything and returns a typed [`Error`].
#[derive(Debug, Default)]
pub struct AzureCredentialBuilder {
    tenant_id: Option<String>,
    client_id: Option<String>,
    authority_host: Option<String>,
    client_options: Option<ClientOptions>,
    assertion: AssertionSettings,
    config: OidcConfig,
    refresh_window: Option<Duration>,
    retry: RetryBudget,
    retry_in_pipeline: bool,
    shared: bool,
}

impl AzureCredentialBuilder {
    /// The tenant (directory) id. Defaults to `AZURE_TENANT_ID`.
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// The client (application) id of the app registration with the federated credential.
    /// Defaults to `AZURE_CLIENT_ID`.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The Entra ID authority host, `https` only. Defaults to the authority of
    /// `ClientOptions::cloud` when set, else `AZURE_AUTHORITY_HOST`, else
    /// [`PUBLIC_CLOUD_AUTHORITY`]. A path is kept: the token URL is
    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn authority_host(mut self, authority: impl Into<String>) -> Self {
        self.authority_host = Some(authority.into());
        self
    }

    /// Options of the HTTP pipeline (transport, retry, logging, per-call and per-try policies),
    /// as for any Azure SDK client. Defaults to `ClientOptions::default()`.
    ///
    /// - Without a `transport`, the credential builds a reqwest 0.13 client with the platform
    ///   roots plus those of `VERCEL_OIDC_CA_FILE`. A transport you give is used as it is.
    /// - Their `retry` is not used: the credential retries with its own [`RetryBudget`]
    ///   (by default a failing load ends within 30 s after at most 4 attempts, permanent AADSTS
    ///   answers are not retried; see [`retry_budget`](Self::retry_budget)). Call
    ///   [`retry_in_pipeline`](Self::retry_in_pipeline) to run this `retry` instead.
    pub fn client_options(mut self, options: ClientOptions) -> Self {
        self.client_options = Some(options);
        self
    }

    /// Where assertions come from. Defaults to the Vercel chain
    /// ([`vercel_oidc::VercelTokenSource`]) reading [`env`](Self::env).
    pub fn token_source(mut self, source: impl TokenSource + 'static) -> Self {
        self.assertion.source = Some(SharedTokenSource::new(source));
        self
    }

    /// Exchanges each Vercel token for one with this audience before sending it (e.g.
    /// `api://AzureADTokenExchange`). Defaults to none: the Vercel token itself is the assertion,
    /// with the `aud` Vercel's Azure guide registers in the federated credential.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.assertion.audience = Some(audience.into());
        self
    }

    /// The exchange used with [`audience`](Self::audience). Defaults to one built from
    /// [`env`](Self::env) (`VERCEL_OIDC_ISSUER_URL`, `VERCEL_OIDC_CA_FILE`).
    pub fn audience_exchange(mut self, exchange: AudienceExchange) -> Self {
        self.assertion.exchange = Some(exchange);
        self
    }

    /// How long an assertion must still be valid to be sent; an older one is fetched again, then
    /// refused. Defaults to 30 s.
    pub fn assertion_margin(mut self, margin: Duration) -> Self {
        self.assertion.margin = Some(margin);
        self
    }

    /// How long before a token's expiry its background refresh starts (plus up to 20 %
    /// jitter). Defaults to 5 minutes.
    pub fn refresh_window(mut self, window: Duration) -> Self {
        self.refresh_window = Some(window);
        self
    }

    /// How the credential retries a failing token request: at most
    /// [`max_retries`](RetryBudget::max_retries) retries of transient failures, all within
    /// [`load_budget`](RetryBudget::load_budget). Defaults to [`RetryBudget::default`]: 3
    /// retries (4 attempts) within 30 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vercel_oidc_azure::{AzureCredential, RetryBudget};
    ///
    /// let builder = AzureCredential::builder()
    ///     .retry_budget(RetryBudget::new(Duration::from_secs(10)).with_max_retries(1));
    /// # let _ = builder;
    /// ```
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.retry = budget;
        self
    }

    /// At most this many retries of a failing request per load (`0`: one attempt), within the
    /// load budget. Defaults to [`DEFAULT_MAX_RETRIES`](crate::DEFAULT_MAX_RETRIES) (3). A
    /// shorthand for [`retry_budget`](Self::retry_budget).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.retry = self.retry.with_max_retries(max_retries);
        self
    }

    /// How long one load may take, all attempts and waits included. Backoff delays
    /// (`budget / 60` doubling up to `budget * 4 / 15`, full jitter) and the per-attempt limit
    /// (`budget / 3`) scale with it. Defaults to
    /// [`DEFAULT_LOAD_BUDGET`](crate::DEFAULT_LOAD_BUDGET) (30 s). A shorthand for
    /// [`retry_budget`](Self::retry_budget).
    pub fn load_budget(mut self, budget: Duration) -> Self {
        self.retry = self.retry.with_load_budget(budget);
        self
    }

    /// Retries in the `azure_core` pipeline, with the `retry` of
    /// [`client_options`](Self::client_options), instead of with the credential's
    /// [`RetryBudget`] (which is then unused). Each load is then one pipeline call (plus one
    /// more with a fresh assertion after `AADSTS700024`), with no total budget, and which
    /// answers are retried is the pipeline's choice. Off by default.
    pub fn retry_in_pipeline(mut self) -> Self {
        self.retry_in_pipeline = true;
        self
    }

    /// The settings shared with every vercel-oidc builder: where the defaults are read
    /// (`AZURE_*`, and the token chain's variables), the clock, the extra trust roots (also for
    /// the Entra transport), and the HTTP client (used as the Entra transport too, unless
    /// [`client_options`](Self::client_options) bring one).
    pub fn configure(mut self, config: &OidcConfig) -> Self {
        self.config = config.clone();
        self
    }

    /// Shares one credential (and so its token caches) with every other builder in this process
    /// whose configuration is the same, instead of building a new one. Off by default for
    /// builders; on for the one-call [`azure_credential`](crate::azure_credential).
    ///
    /// Use it where a credential is built per request: 1,000 such requests then make one Entra
    /// call per scope and token lifetime, not 1,000.
    ///
    /// "The same" means every setting of this builder and every environment variable it reads
    /// (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_AUTHORITY_HOST`, `VERCEL_OIDC_CA_FILE`,
    /// `VERCEL_OIDC_ISSUER_URL`): tenant, client, authority, audience, assertion margin, refresh
    /// window, retry settings, the [`OidcConfig`] (its env, clock and HTTP client compared by
    /// identity) and the token source (by identity). [`ClientOptions`] are compared by their
    /// `Debug` form: sharers get the first builder's transport and policies. At most 64 shared
    /// credentials are kept; a build that fails is not kept.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use vercel_oidc_azure::AzureCredential;
    ///
    /// let build = || {
    ///     AzureCredential::builder()
    ///         .tenant_id("00000000-0000-0000-0000-000000000000")
    ///         .client_id("11111111-1111-1111-1111-111111111111")
    ///         .shared(true)
    ///         .build()
    /// };
    /// let (first, second) = (build().unwrap(), build().unwrap());
    /// assert!(Arc::ptr_eq(&first, &second));
    /// ```
    pub fn shared(mut self, shared: bool) -> Self {
        self.shared = shared;
        self
    }

    /// Everything that makes two credentials differ (see [`shared`](Self::shared)).
    fn shared_key(&self) -> SharedKey {
        let mut key = SharedKey::new("vercel-oidc-azure");
        key.opt("tenant_id", self.tenant_id.as_deref())
            .opt("client_id", self.client_id.as_deref())
            .opt("authority_host", self.authority_host.as_deref())
            .opt(
                "client_options",
                self.client_options
                    .as_ref()
                    .map(|o| format!("{o:?}"))
                    .as_deref(),
            )
            .token_source(self.assertion.source.as_ref())
            .opt("audience", self.assertion.audience.as_deref())
            .opt(
                "audience_exchange",
                self.assertion
                    .exchange
                    .as_ref()
                    .map(|e| format!("{e:?}"))
                    .as_deref(),
            )
            .debug("assertion_margin", &self.assertion.margin)
            .config(&self.config)
            .debug("refresh_window", &self.refresh_window)
            .debug("retry", &self.retry)
            .debug("retry_in_pipeline", &self.retry_in_pipeline);
        let env = self.config.env();
        for name in [
            TENANT_ENV,
            CLIENT_ENV,
            AUTHORITY_ENV,
            vercel_oidc::CA_FILE_ENV,
            vercel_oidc::ISSUER_URL_ENV,
        ] {
            key.opt(name, env.get(name).as_deref());
        }
        key
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

    /// Checks the settings and builds the credential.
    ///
    /// The result is an `Arc<AzureCredential>`, which coerces to the
    /// `Arc<dyn TokenCredential>` Azure SDK clients take.
    ///
    /// # Errors
    /// - [`Error::NotConfigured`] when the tenant or client id is neither given nor in the
    ///   environment;
    /// - [`Error::InvalidAuthority`] for an authority host that is not `https` (or `http` on a
    ///   loopback host), or that has user info, a query or a fragment;
    /// - [`Error::InvalidConfiguration`] for a malformed tenant id, an unreadable
    ///   `VERCEL_OIDC_CA_FILE`, or an audience exchange that cannot be set up.
    pub fn build(self) -> Result<Arc<AzureCredential>, Error> {
        if self.shared {
            let key = self.shared_key();
            return process_wide(key, move || self.build_one());
        }
        self.build_one()
    }

    fn build_one(self) -> Result<Arc<AzureCredential>, Error> {
        let env = self.config.env().clone();
        let clock = self.config.clock().clone();
        let tenant_id = self
            .tenant_id
            .or_else(|| env.get_non_empty(TENANT_ENV))
            .ok_or(Error::NotConfigured {
                setting: "the tenant id (AZURE_TENANT_ID)",
            })?;
        validate_tenant(&tenant_id)?;
        let client_id = self
            .client_id
            .or_else(|| env.get_non_empty(CLIENT_ENV))
            .ok_or(Error::NotConfigured {
                setting: "the client id (AZURE_CLIENT_ID)",
            })?;
        if client_id.trim().is_empty() || client_id.chars().any(char::is_control) {
            return Err(Error::config(
                "the client id is empty or has control characters",
            ));
        }
        let mut options = self.client_options.unwrap_or_default();
        let cloud_authority = options.cloud.as_deref().and_then(cloud_authority);
        let authority = self
            .authority_host
            .or(cloud_authority)
            .or_else(|| env.get_non_empty(AUTHORITY_ENV))
            .unwrap_or_else(|| PUBLIC_CLOUD_AUTHORITY.to_owned());
        let token_url = token_url(&authority, &tenant_id)?;

        let roots = self
            .config
            .extra_roots()
            .map_err(|e| Error::InvalidConfiguration {
                message: "cannot read VERCEL_OIDC_CA_FILE".into(),
                source: Some(Arc::new(e)),
            })?;
        let assertions = self.assertion.build(&self.config)?;
        if options.transport.is_none() {
            options.transport = Some(match self.config.custom_http_client() {
                Some(client) => Transport::new(Arc::new(client.clone())),
                None => default_transport(roots.as_ref())?,
            });
        }
        let retry = if self.retry_in_pipeline {
            None
        } else {
            options.retry = RetryOptions::none();
            Some(self.retry)
        };
        let pipeline = Pipeline::new(
            Some(env!("CARGO_PKG_NAME")),
            Some(env!("CARGO_PKG_VERSION")),
            options,
            Vec::new(),
            Vec::new(),
            None,
        );
        Ok(Arc::new(AzureCredential {
            fetcher: Arc::new(Fetcher {
                token_url,
                client_id,
                pipeline,
                assertions,
                clock: clock.clone(),
                retry,
            }),
            caches: ArcSwap::from_pointee(Vec::new()),
            primary: OnceLock::new(),
            insert: Mutex::new(()),
            refresh_window: self
                .refresh_window
                .unwrap_or(vercel_oidc::cache::DEFAULT_REFRESH_WINDOW),
            clock,
            tenant_id,
        }))
    }
}

/// Like `azure_identity`: letters, digits, `.` and `-`.
fn validate_tenant(tenant: &str) -> Result<(), Error> {
    if tenant.is_empty()
        || !tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(Error::config(
            "the tenant id may only contain letters, digits, '.' and '-'",
        ));
    }
    Ok(())
}

fn cloud_authority(cloud: &azure_core::cloud::CloudConfiguration) -> Option<String> {
    use azure_core::cloud::CloudConfiguration as C;
    Some(match cloud {
        C::AzurePublic => PUBLIC_CLOUD_AUTHORITY.to_owned(),
        C::AzureGovernment => "https://login.microsoftonline.us".to_owned(),
        C::AzureChina => "https://login.chinacloudapi.cn".to_owned(),
        C::Custom(custom) => custom.authority_host.clone(),
        _ => return None,
    })
}

/// `{authority}/{tenant}/oauth2/v2.0/token`, once the authority passes the core's endpoint URL
/// policy (`https`, or `http` on a loopback host; no user info, query or fragment).
fn token_url(authority: &str, tenant: &str) -> Result<Url, Error> {
    let authority = authority.trim();
    vercel_oidc::check_endpoint_url(authority).map_err(Error::InvalidAuthority)?;
    let url = Url::parse(authority)
        .map_err(|e| Error::config_with("the authority host is not a URL", e))?;
    let base = url.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}/{tenant}/oauth2/v2.0/token"))
        .map_err(|e| Error::config_with("cannot build the token URL", e))
}

/// The core's HTTP client (rustls, the extra roots, no redirects) with `azure_core`'s timeouts.
fn default_transport(roots: Option<&ExtraRoots>) -> Result<Transport, Error> {
    let client = vercel_oidc::internal::http_client_builder(roots)
        .connect_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::config_with("cannot build the HTTP client", e))?;
    Ok(Transport::new(Arc::new(client)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn configuration_errors_are_typed() {
        let err = AzureCredential::builder()
            .env(env(&[]))
            .build()
            .expect_err("no tenant");
        assert!(err.is_not_configured(), "{err}");
        assert!(err.to_string().contains("AZURE_TENANT_ID"), "{err}");

        let err = AzureCredential::builder()
            .env(env(&[(TENANT_ENV, "t")]))
            .build()
            .expect_err("no client");
        assert!(err.to_string().contains("AZURE_CLIENT_ID"), "{err}");

        let err = AzureCredential::builder()
            .env(env(&[(TENANT_ENV, "bad/tenant"), (CLIENT_ENV, "c")]))
            .build()
            .expect_err("bad tenant");
        assert!(err.is_invalid_configuration(), "{err}");

        let err = AzureCredential::builder()
            .env(env(&[
                (TENANT_ENV, "t"),
                (CLIENT_ENV, "c"),
                (AUTHORITY_ENV, "http://login.example"),
            ]))
            .build()
            .expect_err("http authority");
        assert!(err.to_string().contains("https"), "{err}");

        let err = AzureCredential::builder()
            .env(env(&[
                (TENANT_ENV, "t"),
                (CLIENT_ENV, "c"),
                ("VERCEL_OIDC_CA_FILE", "/nonexistent/ca.pem"),
            ]))
            .build()
            .expect_err("bad CA file");
        assert!(err.is_invalid_configuration(), "{err}");
    }

    #[test]
    fn defaults_come_from_the_environment() {
        let credential = AzureCredential::builder()
            .env(env(&[(TENANT_ENV, "tenant-1"), (CLIENT_ENV, "client-1")]))
            .build()
            .expect("builds");
        assert_eq!(credential.tenant_id(), "tenant-1");
        assert_eq!(credential.client_id(), "client-1");
        assert_eq!(
            credential.token_url(),
            "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"
        );
        let credential = AzureCredential::builder()
            .env(env(&[
                (TENANT_ENV, "t"),
                (CLIENT_ENV, "c"),
                (AUTHORITY_ENV, "https://login.example/base/"),
            ]))
            .build()
            .expect("builds");
        assert_eq!(
            credential.token_url(),
            "https://login.example/base/t/oauth2/v2.0/token"
        );
        let debug = format!("{credential:?}");
        assert!(debug.starts_with("AzureCredential {"), "{debug}");
    }

    #[test]
    fn the_cloud_of_the_client_options_sets_the_authority() {
        let credential = AzureCredential::builder()
            .env(env(&[(TENANT_ENV, "t"), (CLIENT_ENV, "c")]))
            .client_options(ClientOptions {
                cloud: Some(Arc::new(azure_core::cloud::CloudConfiguration::AzureChina)),
                ..Default::default()
            })
            .build()
            .expect("builds");
        assert_eq!(
            credential.token_url(),
            "https://login.chinacloudapi.cn/t/oauth2/v2.0/token"
        );
        let explicit = AzureCredential::builder()
            .env(env(&[
                (TENANT_ENV, "t"),
                (CLIENT_ENV, "c"),
                (AUTHORITY_ENV, "https://from-env.example"),
            ]))
            .authority_host("https://explicit.example")
            .build()
            .expect("builds");
        assert_eq!(
            explicit.token_url(),
            "https://explicit.example/t/oauth2/v2.0/token"
        );
        for bad in [
            "https://user:pw@h.example",
            "https://h.example?x=1",
            "not a url",
        ] {
            let err = AzureCredential::builder()
                .env(env(&[(TENANT_ENV, "t"), (CLIENT_ENV, "c")]))
                .authority_host(bad)
                .build()
                .expect_err(bad);
            assert!(err.is_invalid_configuration(), "{bad}: {err}");
        }
    }

    #[test]
    fn scope_sets_are_bounded_and_validated() {
        let credential = AzureCredential::builder()
            .env(env(&[(TENANT_ENV, "t"), (CLIENT_ENV, "c")]))
            .build()
            .expect("builds");
        for i in 0..MAX_CACHED_SCOPE_SETS + 6 {
            let scope = format!("https://r{i}.example/.default");
            credential.cache_for(&[scope.as_str()]).expect("cache");
        }
        // The first scope set is the primary, never evicted; the list holds the rest.
        assert_eq!(credential.caches.load().len(), MAX_CACHED_SCOPE_SETS - 1);
        assert!(
            credential.find(&["https://r0.example/.default"]).is_some(),
            "the primary stays"
        );
        assert!(
            credential.find(&["https://r1.example/.default"]).is_none(),
            "oldest of the list dropped"
        );
        let primary = credential
            .cache_for(&["https://r0.example/.default"])
            .expect("primary");
        assert!(Arc::ptr_eq(
            &primary,
            credential
                .primary
                .get()
                .expect("set at the first scope set")
        ));
        let last = format!("https://r{}.example/.default", MAX_CACHED_SCOPE_SETS + 5);
        assert!(credential.find(&[last.as_str()]).is_some());
        // The same scopes share one cache; order matters, as in the request.
        let a = credential
            .cache_for(&["x/.default", "y/.default"])
            .expect("a");
        let b = credential
            .cache_for(&["x/.default", "y/.default"])
            .expect("b");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(credential.cache_for(&[]).is_err());
        assert!(credential.cache_for(&[""]).is_err());
        assert!(
            credential
                .cached_token(&["x/.default", "y/.default"])
                .is_none()
        );
    }

    fn built(builder: AzureCredentialBuilder) -> Arc<AzureCredential> {
        builder
            .env(env(&[(TENANT_ENV, "t"), (CLIENT_ENV, "c")]))
            .build()
            .expect("builds")
    }

    #[test]
    fn the_retry_budget_is_explicit() {
        let default = built(AzureCredential::builder());
        assert_eq!(default.fetcher.retry, Some(RetryBudget::default()));
        // A `retry` in the client options does not switch the budget off.
        let with_options = built(AzureCredential::builder().client_options(ClientOptions {
            retry: RetryOptions::none(),
            ..Default::default()
        }));
        assert_eq!(with_options.fetcher.retry, Some(RetryBudget::default()));
        let shorthand = built(
            AzureCredential::builder()
                .max_retries(1)
                .load_budget(Duration::from_secs(7)),
        );
        assert_eq!(
            shorthand.fetcher.retry,
            Some(RetryBudget::new(Duration::from_secs(7)).with_max_retries(1))
        );
        let whole = RetryBudget::default()
            .with_load_budget(Duration::from_secs(9))
            .with_max_retries(0);
        assert_eq!(whole.load_budget(), Duration::from_secs(9));
        assert_eq!(whole.max_attempts(), 1);
        let explicit = built(AzureCredential::builder().retry_budget(whole));
        assert_eq!(explicit.fetcher.retry, Some(whole));
        let pipeline = built(
            AzureCredential::builder()
                .max_retries(5)
                .retry_in_pipeline(),
        );
        assert_eq!(pipeline.fetcher.retry, None, "the pipeline retries instead");
    }

    #[test]
    fn the_authority_follows_the_endpoint_url_policy() {
        let with = |authority: &str| built(AzureCredential::builder().authority_host(authority));
        for (authority, url) in [
            (
                "https://login.example",
                "https://login.example/t/oauth2/v2.0/token",
            ),
            (
                " https://login.example:8443/ ",
                "https://login.example:8443/t/oauth2/v2.0/token",
            ),
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/t/oauth2/v2.0/token",
            ),
            (
                "http://localhost:1/base",
                "http://localhost:1/base/t/oauth2/v2.0/token",
            ),
            ("http://[::1]:2", "http://[::1]:2/t/oauth2/v2.0/token"),
        ] {
            assert_eq!(with(authority).token_url(), url, "{authority}");
        }
        let refused = |authority: &str| {
            AzureCredential::builder()
                .env(env(&[
                    (TENANT_ENV, "t"),
                    (CLIENT_ENV, "c"),
                    (AUTHORITY_ENV, authority),
                ]))
                .build()
                .expect_err(authority)
        };
        for (authority, reason) in [
            (
                "http://example.com",
                "must be https (http only on a loopback host)",
            ),
            (
                "http://10.0.0.1:8080",
                "must be https (http only on a loopback host)",
            ),
            ("ftp://login.example", "must be an https URL"),
            (
                "https://admin:hunter2@login.example",
                "must not contain credentials",
            ),
            (
                "https://hunter2@login.example",
                "must not contain credentials",
            ),
            (
                "https://login.example/?code=hunter2",
                "must not have a query or fragment",
            ),
            (
                "https://login.example/#hunter2",
                "must not have a query or fragment",
            ),
            ("not a url", "not a URL"),
        ] {
            let err = refused(authority);
            assert!(err.is_invalid_configuration(), "{authority}: {err}");
            let Error::InvalidAuthority(invalid) = &err else {
                panic!("{authority}: not InvalidAuthority: {err:?}");
            };
            assert_eq!(invalid.reason(), reason, "{authority}");
            let shown = err.to_string();
            assert!(shown.contains(reason), "{shown}");
            assert!(shown.contains("authority host"), "{shown}");
            if authority.contains('@') {
                assert!(
                    !shown.contains("hunter2") && shown.contains("[redacted]"),
                    "{shown}"
                );
                assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
            }
        }
        assert_eq!(
            refused("https://admin:hunter2@login.example/x").to_string(),
            "invalid Azure credential configuration: the authority host \
             \"https://[redacted]@login.example/x\" must not contain credentials"
        );
    }
}
