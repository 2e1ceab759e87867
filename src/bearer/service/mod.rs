//! The tower middleware that sets the bearer header on outgoing `http::Request`s (feature
//! `bearer-tower`).

mod error;
mod future;
mod layer;

use std::task::{Context, Poll};

use futures_util::FutureExt as _;
use http::Request;
use tower::Service;

use super::BearerAuth;

pub use error::BearerServiceError;
pub use future::BearerFuture;
pub use layer::BearerLayer;

/// The service made by [`BearerLayer`]: takes the current token from its [`BearerAuth`], sets
/// `Authorization: Bearer <token>` (sensitive, replacing any `Authorization` header) on the
/// request, and calls the inner service.
///
/// Works with any tower `Service<http::Request<B>>` client, such as hyper-util's
/// `client::legacy::Client`. When no token can be had, the inner service is not called and the
/// call fails with [`BearerServiceError::Token`].
#[derive(Debug, Clone)]
pub struct BearerService<S> {
    inner: S,
    auth: BearerAuth,
}

impl<S> BearerService<S> {
    /// Wraps `inner`, taking tokens from `auth`.
    pub fn new(inner: S, auth: BearerAuth) -> Self {
        Self { inner, auth }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B> Service<Request<B>> for BearerService<S>
where
    S: Service<Request<B>> + Clone,
{
    type Response = S::Response;
    type Error = BearerServiceError<S::Error>;
    type Future = BearerFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(BearerServiceError::Service)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Take the service that is ready (tower's clone-and-swap) and call it once the token is
        // there.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let header = async move { auth.header_value().await }.boxed();
        BearerFuture::new(header, request, inner)
    }
}
