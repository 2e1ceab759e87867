//! The client assertion: a fresh Vercel OIDC token for every Entra ID request, optionally
//! audience-exchanged, never sent when it is expired or about to expire.

use std::fmt;
use std::time::Duration;

use azure_core::http::ClientMethodOptions;
use vercel_oidc::time::{Clock as _, SharedClock};
use vercel_oidc::{
    AudienceExchange, Env, ExchangeRequest, OidcConfig, OidcToken, SharedTokenSource, TokenSetup,
    TokenSource,
};

use crate::error::Error;

/// Default margin an assertion must outlive before it is sent.
pub const DEFAULT_ASSERTION_MARGIN: Duration = Duration::from_secs(30);

/// Fetches and checks assertions. Shared by [`crate::AzureCredential`] and
/// [`VercelClientAssertion`].
#[derive(Clone)]
pub(crate) struct Assertions {
    source: SharedTokenSource,
    exchange: Option<(AudienceExchange, ExchangeRequest)>,
    margin: Duration,
    clock: SharedClock,
}

impl fmt::Debug for Assertions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Assertions")
            .field("source", &self.source)
            .field(
                "audience",
                &self.exchange.as_ref().map(|(_, r)| r.audience()),
            )
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

/// The settings both entry points share.
#[derive(Debug, Default)]
pub(crate) struct AssertionSettings {
    pub(crate) source: Option<SharedTokenSource>,
    pub(crate) audience: Option<String>,
    pub(crate) exchange: Option<AudienceExchange>,
    pub(crate) margin: Option<Duration>,
}

impl AssertionSettings {
    /// The source (by default the Vercel chain with `config`, treating tokens within the margin
    /// as expired) and the optional exchange, wired by the core's [`TokenSetup`].
    pub(crate) fn build(self, config: &OidcConfig) -> Result<Assertions, Error> {
        let margin = self.margin.unwrap_or(DEFAULT_ASSERTION_MARGIN);
        if self
            .audience
            .as_deref()
            .is_some_and(|audience| audience.trim().is_empty())
        {
            return Err(Error::config("the exchange audience is empty"));
        }
        let mut setup = TokenSetup::new();
        if let Some(source) = self.source {
            setup = setup.token_source(source);
        }
        if let Some(audience) = self.audience {
            setup = setup.audience(audience);
        }
        if let Some(exchange) = self.exchange {
            setup = setup.audience_exchange(exchange);
        }
        let (source, exchange) = setup
            .resolve(config, margin)
            .map_err(|e| Error::InvalidConfiguration {
                message: "cannot set up the audience exchange".into(),
                source: Some(std::sync::Arc::new(e)),
            })?
            .into_parts();
        Ok(Assertions {
            source,
            exchange,
            margin,
            clock: config.clock().clone(),
        })
    }
}

impl Assertions {
    /// A fresh assertion that outlives the margin. `fresh` bypasses the exchange cache (after
    /// Entra ID said `AADSTS700024`). An assertion that expires within the margin is fetched
    /// once more; if it is still too old, this fails without sending anything.
    pub(crate) async fn fetch(&self, fresh: bool) -> Result<OidcToken, Error> {
        let mut last_expiry = None;
        for attempt in 0..2 {
            let base = self.source.token().await.map_err(Error::TokenSource)?;
            if self.too_old(&base) {
                last_expiry = Some(base.expires_at());
                tracing::debug!(
                    attempt,
                    "client assertion expires within the margin; refetching"
                );
                continue;
            }
            let assertion = match &self.exchange {
                None => base,
                Some((exchange, request)) => {
                    let request = request.clone().skip_cache(fresh || attempt > 0);
                    exchange
                        .exchange(&base, &request)
                        .await
                        .map_err(Error::TokenSource)?
                }
            };
            if self.too_old(&assertion) {
                last_expiry = Some(assertion.expires_at());
                continue;
            }
            return Ok(assertion);
        }
        tracing::warn!("client assertion is expired; not sending it to Entra ID");
        Err(Error::AssertionExpired {
            margin: self.margin,
            expires_at: last_expiry.flatten(),
        })
    }

    fn too_old(&self, token: &OidcToken) -> bool {
        token.is_expired_within_at(self.margin, self.clock.now())
    }
}

/// A Vercel OIDC token as an [`azure_identity::ClientAssertion`], for the stock
/// [`azure_identity::ClientAssertionCredential`].
///
/// Every call fetches a fresh token from the token source (optionally audience-exchanged) and
/// refuses one that expires within the margin (30 s by default), so an expired assertion is
/// never sent.
///
/// # Prefer [`AzureCredential`](crate::AzureCredential)
///
/// This adapter exists so that code built around `azure_identity` gets Vercel tokens too. But
/// `azure_identity` 1.0's `ClientAssertionCredential` was measured here (against a loopback Entra
/// over TLS) to:
///
/// - refresh 300 s before expiry with no jitter and **block every caller** for the round trip,
///   behind one write lock for all scopes, so other scopes' cached tokens wait too;
/// - with Entra failing, let each waiting caller run its own full load (10 callers → 90 Entra
///   requests; the last caller answered after 13.6 min with the default retry policy), and not
///   serve a still-valid token meanwhile;
/// - return a token that Entra issued already expired;
/// - lose the AADSTS code and the HTTP status whenever Entra's `error_description` contains an
///   escape such as `\r\n` (Microsoft's own samples do).
///
/// [`AzureCredential`](crate::AzureCredential) implements `TokenCredential` itself and has none
/// of these problems: use it unless you need `ClientAssertionCredential`.
///
/// ```no_run
/// use azure_identity::ClientAssertionCredential;
/// use vercel_oidc_azure::VercelClientAssertion;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let assertion = VercelClientAssertion::builder().build()?; // the Vercel token chain
/// let credential = ClientAssertionCredential::new(
///     std::env::var("AZURE_TENANT_ID")?,
///     std::env::var("AZURE_CLIENT_ID")?,
///     assertion,
///     None,
/// )?;
/// # let _ = credential;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct VercelClientAssertion {
    assertions: Assertions,
}

impl VercelClientAssertion {
    /// A builder; the defaults take the Vercel token chain with no exchange.
    pub fn builder() -> VercelClientAssertionBuilder {
        VercelClientAssertionBuilder::default()
    }

    /// Assertions from `source`, no exchange, the default margin and the system clock.
    pub fn new(source: impl TokenSource + 'static) -> Self {
        Self {
            assertions: Assertions {
                source: SharedTokenSource::new(source),
                exchange: None,
                margin: DEFAULT_ASSERTION_MARGIN,
                clock: SharedClock::default(),
            },
        }
    }
}

#[async_trait::async_trait]
impl azure_identity::ClientAssertion for VercelClientAssertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        let token = self.assertions.fetch(false).await?;
        Ok(token.expose_secret().to_owned())
    }
}

/// Builder for [`VercelClientAssertion`].
#[derive(Debug, Default)]
pub struct VercelClientAssertionBuilder {
    settings: AssertionSettings,
    config: OidcConfig,
}

impl VercelClientAssertionBuilder {
    /// Where tokens come from. Defaults to the Vercel chain ([`VercelTokenSource`](vercel_oidc::VercelTokenSource)) reading
    /// [`env`](Self::env).
    pub fn token_source(mut self, source: impl TokenSource + 'static) -> Self {
        self.settings.source = Some(SharedTokenSource::new(source));
        self
    }

    /// Exchanges each token for one with this audience first (e.g. `api://AzureADTokenExchange`).
    /// Defaults to none: the token is sent as it is.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.settings.audience = Some(audience.into());
        self
    }

    /// The exchange to use with [`audience`](Self::audience). Defaults to one built from
    /// [`env`](Self::env) (`VERCEL_OIDC_ISSUER_URL`, `VERCEL_OIDC_CA_FILE`).
    pub fn audience_exchange(mut self, exchange: AudienceExchange) -> Self {
        self.settings.exchange = Some(exchange);
        self
    }

    /// How long an assertion must still be valid to be sent. Defaults to 30 s.
    pub fn assertion_margin(mut self, margin: Duration) -> Self {
        self.settings.margin = Some(margin);
        self
    }

    /// The settings shared with every vercel-oidc builder: env, clock, extra roots, the
    /// exchange's issuer and HTTP client.
    pub fn configure(mut self, config: &OidcConfig) -> Self {
        self.config = config.clone();
        self
    }

    /// The environment to read (shorthand for the [`OidcConfig`] field). Defaults to the
    /// process environment.
    pub fn env(mut self, env: Env) -> Self {
        self.config = self.config.with_env(env);
        self
    }

    /// The clock expiry is checked against (shorthand for the [`OidcConfig`] field). Defaults
    /// to the system clock.
    pub fn time_source(mut self, clock: SharedClock) -> Self {
        self.config = self.config.with_clock(clock);
        self
    }

    /// Builds the assertion source.
    ///
    /// # Errors
    /// [`Error::InvalidConfiguration`] when the audience exchange cannot be set up (bad
    /// `VERCEL_OIDC_ISSUER_URL` or `VERCEL_OIDC_CA_FILE`) or the audience is empty.
    pub fn build(self) -> Result<VercelClientAssertion, Error> {
        // A CA file that cannot be used is an error here, not only when an exchange needs it.
        self.config
            .extra_roots()
            .map_err(|e| Error::InvalidConfiguration {
                message: "cannot read VERCEL_OIDC_CA_FILE".into(),
                source: Some(std::sync::Arc::new(e)),
            })?;
        Ok(VercelClientAssertion {
            assertions: self.settings.build(&self.config)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vercel_oidc::FixedTokenSource;
    use vercel_oidc::time::ManualClock;

    const FAR: &str =
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2VjcmV0LXNpZ25hdHVyZQ";

    #[test]
    fn debug_is_redacted() {
        let token = OidcToken::parse(FAR).expect("token");
        let assertion = VercelClientAssertion::new(FixedTokenSource::new(token));
        assert_eq!(
            format!("{assertion:?}"),
            "VercelClientAssertion { assertions: Assertions { source: \
             SharedTokenSource(FixedTokenSource(OidcToken([redacted]))), audience: None, \
             margin: 30s, .. } }"
        );
    }

    #[tokio::test]
    async fn the_margin_is_checked_against_the_injected_clock() {
        // exp 4102444800 = 2100-01-01.
        let exp = std::time::UNIX_EPOCH + Duration::from_secs(4_102_444_800);
        let clock = std::sync::Arc::new(ManualClock::new(exp - Duration::from_secs(31)));
        let assertions = AssertionSettings {
            source: Some(SharedTokenSource::new(FixedTokenSource::new(
                OidcToken::parse(FAR).expect("token"),
            ))),
            ..Default::default()
        }
        .build(
            &OidcConfig::new()
                .with_env(Env::from_pairs::<&str, &str>([]))
                .with_clock(SharedClock::from_arc(clock.clone())),
        )
        .expect("builds");
        assert!(assertions.fetch(false).await.is_ok(), "31 s left");
        clock.advance(Duration::from_secs(2));
        match assertions.fetch(false).await {
            Err(Error::AssertionExpired { margin, expires_at }) => {
                assert_eq!(margin, DEFAULT_ASSERTION_MARGIN);
                assert_eq!(expires_at, Some(exp));
            }
            other => panic!("29 s left is within the margin: {other:?}"),
        }
    }
}
