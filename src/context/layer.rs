//! The tower layer that sets the request context from each request.

use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::{FreshestTokenSlot, RequestContext, ResponseFuture};

/// A tower [`Layer`] that makes each request's OIDC token header visible to
/// [`crate::get_vercel_oidc_token`] while the request is handled, and records the freshest valid
/// token in the process-wide [`FreshestTokenSlot`] for background work.
///
/// It serves both request shapes of Vercel's Rust runtime: `http::Request<B>` (an axum
/// `Router`) and `(S, http::Request<B>)` (`vercel_runtime::run` with `(AppState, Request)`).
///
/// ```
/// use tower::ServiceBuilder;
/// use vercel_oidc::RequestContextLayer;
///
/// let svc = ServiceBuilder::new()
///     .layer(RequestContextLayer::new())
///     .service_fn(|_req: http::Request<String>| async {
///         // The token of *this* request:
///         let token = vercel_oidc::get_vercel_oidc_token().await;
///         Ok::<_, std::convert::Infallible>(http::Response::new(format!("{}", token.is_ok())))
///     });
/// # let _ = svc;
/// ```
#[derive(Debug, Clone)]
pub struct RequestContextLayer {
    slot: Option<Arc<FreshestTokenSlot>>,
}

impl Default for RequestContextLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestContextLayer {
    /// A layer that records into the process-wide slot.
    pub fn new() -> Self {
        Self {
            slot: Some(Arc::clone(FreshestTokenSlot::global())),
        }
    }

    /// Whether to record the freshest header token for work outside requests. Defaults to `true`.
    /// Turn it off when clients can reach this server without Vercel's proxy in front.
    pub fn record_freshest(mut self, record: bool) -> Self {
        self.slot = record.then(|| {
            self.slot
                .take()
                .unwrap_or_else(|| Arc::clone(FreshestTokenSlot::global()))
        });
        self
    }

    /// Records into `slot` instead of the process-wide one. Defaults to
    /// [`FreshestTokenSlot::global`].
    pub fn slot(mut self, slot: Arc<FreshestTokenSlot>) -> Self {
        self.slot = Some(slot);
        self
    }
}

impl<S> Layer<S> for RequestContextLayer {
    type Service = RequestContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestContextService {
            inner,
            slot: self.slot.clone(),
        }
    }
}

/// The service made by [`RequestContextLayer`].
#[derive(Debug, Clone)]
pub struct RequestContextService<S> {
    inner: S,
    slot: Option<Arc<FreshestTokenSlot>>,
}

impl<S> RequestContextService<S> {
    fn context(&self, headers: &http::HeaderMap) -> RequestContext {
        let context = RequestContext::from_headers(headers);
        if let Some(slot) = &self.slot {
            context.record_in(slot);
        }
        context
    }
}

impl<S, B> Service<http::Request<B>> for RequestContextService<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let context = self.context(request.headers());
        // `call` itself may read the token before returning its future: scope it too.
        let inner = &mut self.inner;
        let future = context.clone().sync_scope(|| inner.call(request));
        ResponseFuture::new(context, future)
    }
}

impl<S, A, B> Service<(A, http::Request<B>)> for RequestContextService<S>
where
    S: Service<(A, http::Request<B>)>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, (state, request): (A, http::Request<B>)) -> Self::Future {
        let context = self.context(request.headers());
        let inner = &mut self.inner;
        let future = context.clone().sync_scope(|| inner.call((state, request)));
        ResponseFuture::new(context, future)
    }
}
