//! [`BearerAuth`] as a `reqwest_middleware::Middleware` (feature `bearer-reqwest-middleware`).

use http::Extensions;
use http::header::AUTHORIZATION;
use reqwest_middleware::{Middleware, Next};

use super::BearerAuth;

/// Sets `Authorization: Bearer <current token>` (sensitive, replacing any `Authorization`
/// header) on every request of a `reqwest_middleware::ClientWithMiddleware`. When no token can
/// be had the request is not sent, and the call fails with `reqwest_middleware::Error::Middleware`
/// whose cause is the core's [`crate::Error`].
///
/// ```no_run
/// use reqwest_middleware::ClientBuilder;
/// use vercel_oidc::bearer::BearerAuth;
///
/// # async fn call() -> Result<(), Box<dyn std::error::Error>> {
/// let client = ClientBuilder::new(reqwest::Client::new())
///     .with(BearerAuth::vercel())
///     .build();
/// let response = client.get("https://api.example.com/orders").send().await?;
/// # let _ = response;
/// # Ok(()) }
/// ```
// reqwest-middleware's trait is declared with `async_trait`; implementing it needs the same
// macro. It is not part of this crate's own API.
#[async_trait::async_trait]
impl Middleware for BearerAuth {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let value = self
            .header_value()
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        request.headers_mut().insert(AUTHORIZATION, value);
        next.run(request, extensions).await
    }
}
