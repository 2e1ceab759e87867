//! The tower layer that sets the request context from each request.

use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::{ExpectedIdentity, FreshestTokenSlot, RequestContext, ResponseFuture};
use crate::env::Env;
use crate::time::{SharedTimeSource, TimeSource};

/// A tower [`Layer`] that makes each request's OIDC token header visible to
/// [`crate::get_vercel_oidc_token`] while the request is handled, and, on Vercel, records the
/// newest plausible header token in the process-wide [`FreshestTokenSlot`] for background
/// work.
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
///
/// # Recording into the slot
/// By default the layer records only when the process runs on Vercel (`VERCEL=1`), where
/// Vercel's proxy sets the header; [`RequestContextLayer::record_freshest`] and
/// [`RequestContextLayer::slot`] decide explicitly. A header token enters the slot only when it
/// is plausible for this deployment: its issuer, team, project and environment match the
/// claims of `VERCEL_OIDC_TOKEN` (else `VERCEL_ORG_ID` / `VERCEL_PROJECT_ID`, when set) and
/// those of the first token the slot recorded; it lives at most 24 h, was not issued in the
/// future, and is newer (larger `iat`) than the one held. See [`FreshestTokenSlot`] for the
/// full rules. The environment is read when the service is built ([`Layer::layer`]).
///
/// # Environment variables
/// | variable | required | meaning |
/// |---|---|---|
/// | `VERCEL` | optional | `1` on Vercel: turns recording on by default |
/// | `VERCEL_OIDC_TOKEN` | optional | its `iss`, `owner_id`, `project_id` and `environment` are the identity recorded tokens must have |
/// | `VERCEL_ORG_ID` | optional | the `owner_id` recorded tokens must have, when `VERCEL_OIDC_TOKEN` does not say |
/// | `VERCEL_PROJECT_ID` | optional | the `project_id` recorded tokens must have, when `VERCEL_OIDC_TOKEN` does not say |
#[derive(Debug, Clone)]
pub struct RequestContextLayer {
    slot: Arc<FreshestTokenSlot>,
    /// `None`: record only on Vercel.
    record: Option<bool>,
    env: Env,
    clock: SharedTimeSource,
}

impl Default for RequestContextLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestContextLayer {
    /// A layer that, on Vercel, records into the process-wide slot.
    pub fn new() -> Self {
        Self {
            slot: Arc::clone(FreshestTokenSlot::global()),
            record: None,
            env: Env::real(),
            clock: SharedTimeSource::default(),
        }
    }

    /// Whether to record the newest plausible header token for work outside requests.
    /// Defaults to `true` on Vercel (`VERCEL=1` in [`RequestContextLayer::env`]) and `false`
    /// elsewhere. Leave it off when clients can reach this server without Vercel's proxy in
    /// front; turn it on off Vercel only where the first request's header can be trusted when
    /// the environment names no identity (see [`FreshestTokenSlot`]).
    pub fn record_freshest(mut self, record: bool) -> Self {
        self.record = Some(record);
        self
    }

    /// Records into `slot` instead of the process-wide one, and turns recording on (as
    /// `record_freshest(true)` does; a later `record_freshest(false)` turns it off again).
    /// Defaults to [`FreshestTokenSlot::global`].
    pub fn slot(mut self, slot: Arc<FreshestTokenSlot>) -> Self {
        self.slot = slot;
        self.record = Some(true);
        self
    }

    /// Where `VERCEL`, `VERCEL_OIDC_TOKEN`, `VERCEL_ORG_ID` and `VERCEL_PROJECT_ID` are read.
    /// Defaults to the process environment.
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// The clock a header token's `exp` and `iat` are checked against when it is offered to the
    /// slot. Defaults to the system clock.
    pub fn time_source(mut self, clock: SharedTimeSource) -> Self {
        self.clock = clock;
        self
    }
}

/// What a service records into, decided when it is built.
#[derive(Debug)]
struct Recorder {
    slot: Arc<FreshestTokenSlot>,
    expected: ExpectedIdentity,
    clock: SharedTimeSource,
}

impl<S> Layer<S> for RequestContextLayer {
    type Service = RequestContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let record = self
            .record
            .unwrap_or_else(|| super::on_vercel(&self.env));
        let recorder = record.then(|| {
            Arc::new(Recorder {
                slot: Arc::clone(&self.slot),
                expected: ExpectedIdentity::from_env(&self.env),
                clock: self.clock.clone(),
            })
        });
        RequestContextService { inner, recorder }
    }
}

/// The service made by [`RequestContextLayer`].
#[derive(Debug, Clone)]
pub struct RequestContextService<S> {
    inner: S,
    recorder: Option<Arc<Recorder>>,
}

impl<S> RequestContextService<S> {
    fn context(&self, headers: &http::HeaderMap) -> RequestContext {
        let context = RequestContext::from_headers(headers);
        if let Some(recorder) = &self.recorder
            && let Some(Ok(token)) = context.token()
        {
            // The reason for a refusal is logged by the slot.
            let _ = recorder
                .slot
                .offer_expecting(token, recorder.clock.now(), &recorder.expected);
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
