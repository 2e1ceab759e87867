//! The reqwest helpers (feature `bearer`): [`RequestBuilderExt::vercel_oidc_bearer`] in the
//! request-builder chain, and [`BearerAuth::apply`] / [`BearerAuth::apply_to`].

use std::future::Future;

use http::HeaderMap;
use http::header::AUTHORIZATION;

use super::BearerAuth;
use crate::error::Error;

mod sealed {
    pub trait Sealed {}
    impl Sealed for reqwest::RequestBuilder {}
}

/// `.vercel_oidc_bearer(&auth)` on a [`reqwest::RequestBuilder`], in the builder's chain.
///
/// The token is fetched when the returned future is awaited (a fresh one per request), and set
/// as a sensitive `Authorization: Bearer` header replacing any set before. Sealed: implemented
/// for `reqwest::RequestBuilder` only.
///
/// ```no_run
/// use vercel_oidc::bearer::{BearerAuth, RequestBuilderExt as _};
///
/// # async fn call(auth: BearerAuth) -> Result<(), Box<dyn std::error::Error>> {
/// let orders = reqwest::Client::new()
///     .get("https://api.example.com/orders")
///     .query(&[("limit", "10")])
///     .vercel_oidc_bearer(&auth)
///     .await?
///     .send()
///     .await?
///     .error_for_status()?;
/// # let _ = orders;
/// # Ok(()) }
/// ```
pub trait RequestBuilderExt: sealed::Sealed + Sized {
    /// This request with `Authorization: Bearer <current token>` (sensitive).
    ///
    /// # Errors
    /// The token source's (or the exchange's) error; the request is dropped then.
    fn vercel_oidc_bearer(
        self,
        auth: &BearerAuth,
    ) -> impl Future<Output = Result<reqwest::RequestBuilder, Error>> + Send;
}

impl RequestBuilderExt for reqwest::RequestBuilder {
    fn vercel_oidc_bearer(
        self,
        auth: &BearerAuth,
    ) -> impl Future<Output = Result<reqwest::RequestBuilder, Error>> + Send {
        auth.apply(self)
    }
}

impl BearerAuth {
    /// Sets `Authorization: Bearer <token>` (sensitive) on `request`, replacing any
    /// `Authorization` header set before. [`RequestBuilderExt::vercel_oidc_bearer`] is the same
    /// in the builder's chain. (Feature `bearer`.)
    ///
    /// # Errors
    /// The source's (or the exchange's) error; the request is dropped then.
    pub async fn apply(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let value = self.header_value().await?;
        // `headers` replaces same-named headers (`header` would append a second one).
        let mut headers = HeaderMap::with_capacity(1);
        headers.insert(AUTHORIZATION, value);
        Ok(request.headers(headers))
    }

    /// Sets `Authorization: Bearer <token>` (sensitive) on a built `request`, replacing any
    /// `Authorization` header. (Feature `bearer`.)
    ///
    /// # Errors
    /// The source's (or the exchange's) error; the request is left unchanged then.
    pub async fn apply_to(&self, request: &mut reqwest::Request) -> Result<(), Error> {
        let value = self.header_value().await?;
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FixedTokenSource;
    use crate::test_util::jwt_expiring_in;
    use crate::token::OidcToken;

    #[tokio::test]
    async fn every_reqwest_helper_replaces_earlier_authorization_with_a_sensitive_one() {
        let raw = jwt_expiring_in(600);
        let auth = BearerAuth::new(FixedTokenSource::new(
            OidcToken::parse(raw.clone()).expect("token"),
        ));
        let client = reqwest::Client::new();
        let old = || {
            client
                .get("http://127.0.0.1:9/")
                .header(AUTHORIZATION, "Basic old")
        };
        let chained = old()
            .vercel_oidc_bearer(&auth)
            .await
            .expect("applied")
            .build()
            .expect("request");
        let applied = auth
            .apply(old())
            .await
            .expect("applied")
            .build()
            .expect("request");
        let mut built = old().build().expect("request");
        auth.apply_to(&mut built).await.expect("applied");
        for request in [chained, applied, built] {
            let all: Vec<_> = request.headers().get_all(AUTHORIZATION).iter().collect();
            assert_eq!(all.len(), 1);
            assert!(all[0].is_sensitive());
            assert_eq!(all[0].to_str().expect("ascii"), format!("Bearer {raw}"));
        }
    }

    #[tokio::test]
    async fn a_token_error_is_returned_by_the_chain() {
        let auth = BearerAuth::new(
            crate::source::EnvTokenSource::new("NOPE")
                .with_env(crate::env::Env::from_pairs::<&str, &str>([])),
        );
        let err = reqwest::Client::new()
            .get("http://127.0.0.1:9/")
            .vercel_oidc_bearer(&auth)
            .await
            .expect_err("no token");
        assert!(err.is_not_configured(), "{err}");
    }
}
