//! [`TokenSetup`]: where a credential provider's tokens come from, written once for every
//! provider (the AWS provider, the Azure credential, yours).

use std::time::Duration;

use crate::chain::VercelTokenSource;
use crate::config::OidcConfig;
use crate::error::Error;
#[cfg(feature = "exchange")]
use crate::exchange::{AudienceExchange, ExchangeRequest, ExchangeTokenSource};
use crate::source::SharedTokenSource;

/// Where a credential provider's tokens come from: a token source (by default the Vercel chain,
/// [`VercelTokenSource`], with the provider's [`OidcConfig`]) and, with the `exchange` feature,
/// an optional audience exchange in front of the cloud.
///
/// ```
/// use std::time::Duration;
/// use vercel_oidc::{Env, OidcConfig, TokenSetup};
///
/// let config = OidcConfig::new().with_env(Env::from_pairs([("VERCEL_OIDC_TOKEN", "a.b.c")]));
/// let tokens = TokenSetup::new().resolve(&config, Duration::from_secs(30))?;
/// assert!(tokens.exchange().is_none());
/// # Ok::<(), vercel_oidc::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct TokenSetup {
    source: Option<SharedTokenSource>,
    #[cfg(feature = "exchange")]
    audience: Option<String>,
    #[cfg(feature = "exchange")]
    jti: Option<String>,
    #[cfg(feature = "exchange")]
    exchange: Option<AudienceExchange>,
}

/// A resolved [`TokenSetup`]: the source and the exchange (with its request) to put in front.
#[derive(Clone, Debug)]
pub struct ResolvedTokens {
    source: SharedTokenSource,
    #[cfg(feature = "exchange")]
    exchange: Option<(AudienceExchange, ExchangeRequest)>,
}

impl TokenSetup {
    /// The Vercel chain, no exchange.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where tokens come from, instead of the Vercel chain.
    pub fn token_source(mut self, source: SharedTokenSource) -> Self {
        self.source = Some(source);
        self
    }

    /// Exchange each token for this audience first (`POST {issuer}/~token`, cached), for a
    /// cloud that trusts another audience than the token's.
    #[cfg(feature = "exchange")]
    #[cfg_attr(docsrs, doc(cfg(feature = "exchange")))]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The `jti` to send with the exchange.
    #[cfg(feature = "exchange")]
    #[cfg_attr(docsrs, doc(cfg(feature = "exchange")))]
    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = Some(jti.into());
        self
    }

    /// The exchange to use for [`TokenSetup::audience`]. Defaults to one built from the
    /// [`OidcConfig`] given to [`TokenSetup::resolve`].
    #[cfg(feature = "exchange")]
    #[cfg_attr(docsrs, doc(cfg(feature = "exchange")))]
    pub fn audience_exchange(mut self, exchange: AudienceExchange) -> Self {
        self.exchange = Some(exchange);
        self
    }

    /// The source and exchange, built with `config`. The default Vercel chain treats a token
    /// expiring within `expiration_buffer` as expired (and refreshes it in local development).
    ///
    /// # Errors
    /// [`Error::InvalidConfiguration`] for an empty audience, or when the exchange cannot be
    /// built (an issuer URL outside the URL policy, an unusable CA file).
    pub fn resolve(
        self,
        config: &OidcConfig,
        expiration_buffer: Duration,
    ) -> Result<ResolvedTokens, Error> {
        let source = match self.source {
            Some(source) => source,
            None => SharedTokenSource::new(
                VercelTokenSource::builder()
                    .configure(config)
                    .expiration_buffer(expiration_buffer)
                    .build(),
            ),
        };
        #[cfg(feature = "exchange")]
        let exchange = match self.audience {
            None => None,
            Some(audience) if audience.trim().is_empty() => {
                return Err(Error::config("the exchange audience is empty"));
            }
            Some(audience) => {
                let exchange = match self.exchange {
                    Some(exchange) => exchange,
                    None => crate::exchange::AudienceExchange::builder()
                        .configure(config)
                        .build()?,
                };
                let mut request = ExchangeRequest::new(audience);
                if let Some(jti) = self.jti {
                    request = request.jti(jti);
                }
                Some((exchange, request))
            }
        };
        Ok(ResolvedTokens {
            source,
            #[cfg(feature = "exchange")]
            exchange,
        })
    }
}

impl ResolvedTokens {
    /// The token source (before any exchange).
    pub fn source(&self) -> &SharedTokenSource {
        &self.source
    }

    /// The exchange and its request, when an audience was set.
    #[cfg(feature = "exchange")]
    #[cfg_attr(docsrs, doc(cfg(feature = "exchange")))]
    pub fn exchange(&self) -> Option<&(AudienceExchange, ExchangeRequest)> {
        self.exchange.as_ref()
    }

    /// The source and the exchange apart.
    #[cfg(feature = "exchange")]
    #[cfg_attr(docsrs, doc(cfg(feature = "exchange")))]
    pub fn into_parts(
        self,
    ) -> (
        SharedTokenSource,
        Option<(AudienceExchange, ExchangeRequest)>,
    ) {
        (self.source, self.exchange)
    }

    /// One token source: the source, behind the exchange when there is one.
    pub fn into_token_source(self) -> SharedTokenSource {
        #[cfg(feature = "exchange")]
        if let Some((exchange, request)) = self.exchange {
            return SharedTokenSource::new(ExchangeTokenSource::new(
                self.source,
                exchange,
                request,
            ));
        }
        self.source
    }
}

#[cfg(all(test, feature = "exchange"))]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::source::{FixedTokenSource, TokenSource as _};
    use crate::test_util::jwt_expiring_in;
    use crate::token::OidcToken;

    fn config() -> OidcConfig {
        OidcConfig::new().with_env(Env::from_pairs([(
            "VERCEL_OIDC_TOKEN",
            jwt_expiring_in(600),
        )]))
    }

    #[tokio::test]
    async fn the_default_is_the_vercel_chain_with_the_config() {
        let tokens = TokenSetup::new()
            .resolve(&config(), Duration::ZERO)
            .expect("resolves");
        assert!(tokens.exchange().is_none());
        let token = tokens.into_token_source().token().await.expect("token");
        assert!(token.expires_at().is_some());
    }

    #[tokio::test]
    async fn an_explicit_source_wins_and_the_buffer_reaches_the_chain() {
        let fixed = OidcToken::parse(jwt_expiring_in(600)).expect("valid");
        let tokens = TokenSetup::new()
            .token_source(SharedTokenSource::new(FixedTokenSource::new(fixed.clone())))
            .resolve(
                &OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([])),
                Duration::ZERO,
            )
            .expect("resolves");
        let got = tokens.source().token().await.expect("token");
        assert_eq!(got.expose_secret(), fixed.expose_secret());

        // A token that expires within the buffer counts as expired for the default chain.
        let chain = TokenSetup::new()
            .resolve(&config(), Duration::from_secs(3600))
            .expect("resolves");
        let err = chain
            .into_token_source()
            .token()
            .await
            .expect_err("within the buffer");
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    }

    #[test]
    fn an_audience_builds_the_exchange_from_the_config() {
        let config = config().with_issuer_url("http://127.0.0.1:9");
        let tokens = TokenSetup::new()
            .audience("api://AzureADTokenExchange")
            .resolve(&config, Duration::ZERO)
            .expect("resolves");
        let (exchange, request) = tokens.exchange().expect("an exchange");
        assert_eq!(exchange.token_url(), "http://127.0.0.1:9/~token");
        assert_eq!(request, &ExchangeRequest::new("api://AzureADTokenExchange"));
        let with_jti = TokenSetup::new()
            .audience("aud")
            .jti("request-1")
            .resolve(&config, Duration::ZERO)
            .expect("resolves");
        let (_, request) = with_jti.exchange().expect("an exchange");
        assert_eq!(request, &ExchangeRequest::new("aud").jti("request-1"));

        let refused = TokenSetup::new()
            .audience("aud")
            .resolve(
                &config.with_issuer_url("http://issuer.example"),
                Duration::ZERO,
            )
            .expect_err("http off loopback");
        assert!(refused.is_invalid_configuration(), "{refused}");
        let empty = TokenSetup::new()
            .audience("  ")
            .resolve(&OidcConfig::new(), Duration::ZERO)
            .expect_err("empty audience");
        assert!(empty.to_string().contains("audience is empty"), "{empty}");
    }
}
