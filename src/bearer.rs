//! Sending the token to your own API: `Authorization: Bearer <token>` on outgoing requests.
//!
//! [`BearerAuth`] takes the current token from any [`TokenSource`] (by default the Vercel chain,
//! so a function's request header, `VERCEL_OIDC_TOKEN_FILE` or `VERCEL_OIDC_TOKEN`), optionally
//! exchanges it for your API's audience ([`BearerAuth::exchange`]), and sets it as a
//! **sensitive** header (`HeaderValue::set_sensitive`, as reqwest's own `bearer_auth` does), so
//! HTTP logging layers redact it. A fresh token is taken for every request.
//!
//! This is the one module of the core crate whose API names `reqwest` types; everything else
//! is independent of the HTTP client. For another client, use [`BearerAuth::header_value`].
//!
//! On the receiving side, verify the token with [`crate::verify::Verifier`].
//!
//! ```no_run
//! use vercel_oidc::bearer::BearerAuth;
//! use vercel_oidc::{AudienceExchange, ExchangeRequest};
//!
//! # async fn call() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = BearerAuth::vercel()
//!     // optional: a token whose `aud` is your API (the default aud is https://vercel.com/<team>)
//!     .exchange(AudienceExchange::builder().build()?, ExchangeRequest::new("https://api.example.com"));
//! let client = reqwest::Client::new();
//! let response = auth
//!     .apply(client.get("https://api.example.com/orders"))
//!     .await?
//!     .send()
//!     .await?;
//! # let _ = response;
//! # Ok(()) }
//! ```

use http::HeaderValue;
use http::header::AUTHORIZATION;

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

    /// `Bearer <token>` for the current token, marked sensitive: for HTTP clients other than
    /// reqwest.
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

    /// Sets `Authorization: Bearer <token>` (sensitive) on `request`, replacing any
    /// `Authorization` header set before.
    ///
    /// # Errors
    /// The source's (or the exchange's) error; the request is dropped then.
    pub async fn apply(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let value = self.header_value().await?;
        // `headers` replaces same-named headers (`header` would append a second one).
        let mut headers = http::HeaderMap::with_capacity(1);
        headers.insert(AUTHORIZATION, value);
        Ok(request.headers(headers))
    }

    /// Sets `Authorization: Bearer <token>` (sensitive) on a built `request`, replacing any
    /// `Authorization` header.
    ///
    /// # Errors
    /// The source's (or the exchange's) error; the request is left unchanged then.
    pub async fn apply_to(&self, request: &mut reqwest::Request) -> Result<(), Error> {
        let value = self.header_value().await?;
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
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
    async fn header_is_sensitive_and_replaces_earlier_authorization() {
        let raw = jwt_expiring_in(600);
        let auth = BearerAuth::new(FixedTokenSource::new(
            OidcToken::parse(raw.clone()).expect("token"),
        ));
        let value = auth.header_value().await.expect("value");
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().expect("ascii"), format!("Bearer {raw}"));
        assert!(!format!("{value:?}").contains(&raw), "{value:?}");
        assert!(!format!("{auth:?}").contains(&raw));

        let client = reqwest::Client::new();
        let request = auth
            .apply(
                client
                    .get("http://127.0.0.1:9/")
                    .header(AUTHORIZATION, "Basic old"),
            )
            .await
            .expect("applied")
            .build()
            .expect("request");
        let all: Vec<_> = request.headers().get_all(AUTHORIZATION).iter().collect();
        assert_eq!(all.len(), 1);
        assert!(all[0].is_sensitive());
        assert_eq!(all[0].to_str().expect("ascii"), format!("Bearer {raw}"));

        let mut built = client.get("http://127.0.0.1:9/").build().expect("request");
        auth.apply_to(&mut built).await.expect("applied");
        assert!(built.headers()[AUTHORIZATION].is_sensitive());
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
