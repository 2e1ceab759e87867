//! The layer that wraps services in [`BearerService`].

use tower::Layer;

use super::BearerService;
use crate::bearer::BearerAuth;

/// A tower [`Layer`] that sets `Authorization: Bearer <current token>` (sensitive) on every
/// outgoing `http::Request` (see [`BearerService`]).
///
/// ```no_run
/// use http_body_util::Empty;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tower::{ServiceBuilder, ServiceExt as _};
/// use vercel_oidc::bearer::{BearerAuth, BearerLayer};
///
/// # async fn call() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let client = Client::builder(TokioExecutor::new()).build_http::<Empty<&'static [u8]>>();
/// let client = ServiceBuilder::new()
///     .layer(BearerLayer::new(BearerAuth::vercel()))
///     .service(client);
/// let request = http::Request::get("http://127.0.0.1:3000/whoami").body(Empty::new())?;
/// let response = client.oneshot(request).await?;
/// # let _ = response;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct BearerLayer {
    auth: BearerAuth,
}

impl BearerLayer {
    /// A layer taking tokens from `auth` (clones share its source and exchange cache).
    pub fn new(auth: BearerAuth) -> Self {
        Self { auth }
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = BearerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerService::new(inner, self.auth.clone())
    }
}
