//! Sending the token to your own API: `Authorization: Bearer <token>` on outgoing requests.
//!
//! [`BearerAuth`] takes the current token from any [`TokenSource`] (by default the Vercel chain,
//! so a function's request header, `VERCEL_OIDC_TOKEN_FILE` or `VERCEL_OIDC_TOKEN`), optionally
//! exchanges it for your API's audience ([`BearerAuth::exchange`]), and sets it as a
//! **sensitive** header (`HeaderValue::set_sensitive`, as reqwest's own `bearer_auth` does), so
//! HTTP logging layers redact it. A fresh token is taken for every request.
//!
//! One `BearerAuth`, every client; each way is its own cargo feature:
//!
//! | client | feature | how |
//! |---|---|---|
//! | reqwest 0.13 | `bearer` | `client.get(url).vercel_oidc_bearer(&auth).await?` (`RequestBuilderExt`) |
//! | reqwest-middleware 0.5 | `bearer-reqwest-middleware` | `ClientBuilder::new(client).with(auth)` (`BearerAuth` is a `Middleware`) |
//! | any tower `Service<http::Request<B>>` (hyper-util, reqwest 0.12 wrapped in tower, …) | `bearer-tower` | `ServiceBuilder::new().layer(BearerLayer::new(auth))` |
//! | anything else | any of them | [`BearerAuth::header_value`] |
//!
//! Only the `bearer` and `bearer-reqwest-middleware` features put reqwest types into this
//! crate's API; `bearer-tower` has no reqwest at all.
//!
//! On the receiving side, verify the token with `vercel_oidc::verify::Verifier` (feature
//! `verifier`).
//!
//! ```no_run
//! use vercel_oidc::bearer::{BearerAuth, RequestBuilderExt as _};
//! use vercel_oidc::{AudienceExchange, ExchangeRequest};
//!
//! # async fn call() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = BearerAuth::vercel()
//!     // optional: a token whose `aud` is your API (the default aud is https://vercel.com/<team>)
//!     .exchange(AudienceExchange::builder().build()?, ExchangeRequest::new("https://api.example.com"));
//! let client = reqwest::Client::new();
//! let response = client
//!     .get("https://api.example.com/orders")
//!     .vercel_oidc_bearer(&auth)
//!     .await?
//!     .send()
//!     .await?;
//! # let _ = response;
//! # Ok(()) }
//! ```

#[cfg(feature = "bearer")]
mod ext;
#[cfg(feature = "bearer-reqwest-middleware")]
mod middleware;
#[cfg(feature = "bearer-tower")]
mod service;

#[cfg(feature = "bearer")]
#[cfg_attr(docsrs, doc(cfg(feature = "bearer")))]
pub use ext::RequestBuilderExt;
#[cfg(feature = "bearer-tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "bearer-tower")))]
pub use service::{BearerFuture, BearerLayer, BearerService, BearerServiceError};

use http::HeaderValue;

use crate::chain::VercelTokenSource;
use crate::error::Error;
#[cfg(feature = "exchange")]
use crate::exchange::{AudienceExchange, ExchangeRequest, ExchangeTokenSource};
use crate::source::{SharedTokenSource, TokenSource};
use crate::token::OidcToken;

/// Attaches the current Vercel OIDC token as a sensitive `Authorization: Bearer` header.
///
/// Cheap to clone. `Debug` shows the source, never a token.
#[derive(Debug, Clone)]
pub struct BearerAuth {
    source: SharedTokenSource,
}

impl BearerAuth {
    /// Takes tokens from `source` (for example [`crate::VercelTokenSource::default()`]).
    pub fn new(source: impl TokenSource + 'static) -> Self {
        Self {
            source: SharedTokenSource::new(source),
        }
    }

    /// Takes tokens from the Vercel chain ([`VercelTokenSource::default`]): the request
    /// context's header, `VERCEL_OIDC_TOKEN_FILE`, then `VERCEL_OIDC_TOKEN`.
    pub fn vercel() -> Self {
        Self::new(VercelTokenSource::default())
    }

    /// Exchanges every token for `request`'s audience through `exchange` before sending it
    /// (cached by the exchange until the new token expires). Defaults to no exchange: the
    /// source's token is sent as it is. (Feature `exchange`.)
    #[cfg(feature = "exchange")]
    #[cfg_attr(docsrs, doc(cfg(feature = "exchange")))]
    pub fn exchange(self, exchange: AudienceExchange, request: ExchangeRequest) -> Self {
        Self::new(ExchangeTokenSource::new(self.source, exchange, request))
    }

    /// The current token.
    ///
    /// # Errors
    /// The source's (or the exchange's) error.
    pub async fn token(&self) -> Result<OidcToken, Error> {
        self.source.token().await
    }

    /// `Bearer <token>` for the current token, marked sensitive: for any HTTP client.
    ///
    /// # Security
    /// The value is a bearer credential; do not log it.
    ///
    /// # Errors
    /// The source's (or the exchange's) error.
    pub async fn header_value(&self) -> Result<HeaderValue, Error> {
        let token = self.token().await?;
        Ok(bearer_header_value(&token))
    }
}

/// `Bearer <token>` as a header value marked sensitive.
///
/// # Security
/// The value is a bearer credential; do not log it.
pub fn bearer_header_value(token: &OidcToken) -> HeaderValue {
    let secret = token.expose_secret();
    let mut text = String::with_capacity(7 + secret.len());
    text.push_str("Bearer ");
    text.push_str(secret);
    // A parsed token is base64url parts and dots: always a valid header value. The string is
    // moved into the header value, not copied.
    let mut value = HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FixedTokenSource;
    use crate::test_util::jwt_expiring_in;

    #[tokio::test]
    async fn header_is_sensitive_and_says_bearer() {
        let raw = jwt_expiring_in(600);
        let auth = BearerAuth::new(FixedTokenSource::new(
            OidcToken::parse(raw.clone()).expect("token"),
        ));
        let value = auth.header_value().await.expect("value");
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().expect("ascii"), format!("Bearer {raw}"));
        assert!(!format!("{value:?}").contains(&raw), "{value:?}");
        assert!(!format!("{auth:?}").contains(&raw));
        assert_eq!(auth.token().await.expect("token").expose_secret(), raw);
    }

    #[tokio::test]
    async fn source_errors_pass_through() {
        let auth = BearerAuth::new(
            crate::source::EnvTokenSource::new("NOPE")
                .with_env(crate::env::Env::from_pairs::<&str, &str>([])),
        );
        let err = auth.header_value().await.expect_err("no token");
        assert!(err.is_not_configured(), "{err}");
    }
}
