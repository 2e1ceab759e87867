//! [`VercelFunctionsLayer`]: one tower layer for everything a request needs.

mod future;

use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tower::{Layer, Service};
use vercel_oidc::{Env, OidcConfig, RequestContextLayer, RequestContextService};

pub use future::ResponseFuture;

use crate::scope::{RequestScope, Waiter};

/// The response header that carries a response's cache tags to Vercel's CDN.
pub const CACHE_TAG_HEADER: &str = "vercel-cache-tag";

/// A tower [`Layer`] that gives each request what `@vercel/functions` needs:
///
/// - the core's request context ([`vercel_oidc::RequestContextLayer`]): the request's
///   `x-vercel-oidc-token` header is what [`vercel_oidc::get_vercel_oidc_token`] (and so the
///   AWS, Azure and GCP providers) finds, and on Vercel the newest plausible header token is kept
///   for background work outside requests;
/// - this crate's request scope: [`crate::wait_until`] registers with the request's
///   `vercel_runtime::AppState` (the runtime delays the invocation's `end` until the work
///   settles), [`crate::add_cache_tag`] collects the response's `Vercel-Cache-Tag` header,
///   [`crate::get_deadline`] knows the request's deadline, and attached database pools
///   ([`crate::attach_database_pool`]) keep the invocation alive while their idle connections
///   close.
///
/// It wraps both shapes of Vercel's Rust runtime: a `Service<(AppState, Request)>` (a bare
/// `vercel_runtime::service_fn(handler)`, or `vercel_runtime::axum::VercelLayer::new().layer(router)`,
/// whose adapter drops `AppState` — put this layer *outside* it and axum handlers get
/// `wait_until` back), and plain `http::Request<B>` services (an axum `Router` served by
/// anything else, or tests), where `wait_until` work is tracked by the layer's
/// [`BackgroundTasks`].
///
/// ```no_run
/// use tower::Layer;
/// use vercel_functions::VercelFunctionsLayer;
/// use vercel_runtime::{Error, Request, Response, ResponseBody};
///
/// async fn handler(_req: Request) -> Result<Response<ResponseBody>, Error> {
///     vercel_functions::wait_until(async { tracing::info!("after the response") })?;
///     Ok(Response::new(ResponseBody::from("ok")))
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     let service = VercelFunctionsLayer::new().layer(vercel_runtime::service_fn(handler));
///     vercel_runtime::run(service).await
/// }
/// ```
///
/// With axum, outside `vercel_runtime`'s adapter:
///
/// ```no_run
/// use tower::Layer;
/// use vercel_functions::VercelFunctionsLayer;
/// use vercel_runtime::axum::VercelLayer;
///
/// #[tokio::main]
/// async fn main() -> Result<(), vercel_runtime::Error> {
///     let router = axum::Router::new().route("/", axum::routing::get(|| async {
///         vercel_functions::wait_until(async {}).ok();
///         "ok"
///     }));
///     let service = VercelFunctionsLayer::new().layer(VercelLayer::new().layer(router));
///     vercel_runtime::run(service).await
/// }
/// ```
///
/// # Environment variables
/// | variable | required | meaning |
/// |---|---|---|
/// | `VERCEL`, `VERCEL_OIDC_TOKEN`, `VERCEL_ORG_ID`, `VERCEL_PROJECT_ID` | optional | the request context's recording rules (see [`vercel_oidc::RequestContextLayer`]) |
/// | `VERCEL_URL`, `VERCEL_REGION` | optional | both set (as on Vercel): attached database pools keep invocations alive |
#[derive(Debug, Clone)]
pub struct VercelFunctionsLayer {
    context: RequestContextLayer,
    env: Env,
    max_duration: Option<Duration>,
    tasks: BackgroundTasks,
}

impl Default for VercelFunctionsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl VercelFunctionsLayer {
    /// The layer with the defaults: [`RequestContextLayer::new`], the process environment, no
    /// maximum duration.
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use vercel_functions::{VercelFunctionsLayer, get_deadline, wait_until};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let layer = VercelFunctionsLayer::new()
    ///     .configure(&config)
    ///     .max_duration(Duration::from_secs(60));
    /// let tasks = layer.background_tasks();
    /// let service = layer.layer(service_fn(|_req: http::Request<()>| async {
    ///     assert!(get_deadline().is_some()); // start + max_duration
    ///     wait_until(async { /* after the response */ }).expect("in a runtime");
    ///     Ok::<_, Infallible>(http::Response::new(()))
    /// }));
    /// service.oneshot(http::Request::new(())).await.expect("response");
    /// // A plain http::Request service: the layer tracks the wait_until work.
    /// tasks.settled().await;
    /// assert!(tasks.is_empty());
    /// assert_eq!(tasks.len(), 0);
    /// # }
    /// ```
    pub fn new() -> Self {
        Self {
            context: RequestContextLayer::new(),
            env: Env::real(),
            max_duration: None,
            tasks: BackgroundTasks::new(),
        }
    }

    /// The shared settings (where env vars are read, the clock), for this layer and its
    /// request context layer.
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use vercel_functions::{VercelFunctionsLayer, get_deadline, wait_until};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let layer = VercelFunctionsLayer::new()
    ///     .configure(&config)
    ///     .max_duration(Duration::from_secs(60));
    /// let tasks = layer.background_tasks();
    /// let service = layer.layer(service_fn(|_req: http::Request<()>| async {
    ///     assert!(get_deadline().is_some()); // start + max_duration
    ///     wait_until(async { /* after the response */ }).expect("in a runtime");
    ///     Ok::<_, Infallible>(http::Response::new(()))
    /// }));
    /// service.oneshot(http::Request::new(())).await.expect("response");
    /// // A plain http::Request service: the layer tracks the wait_until work.
    /// tasks.settled().await;
    /// assert!(tasks.is_empty());
    /// assert_eq!(tasks.len(), 0);
    /// # }
    /// ```
    pub fn configure(mut self, config: &OidcConfig) -> Self {
        self.context = self.context.configure(config);
        self.env = config.env().clone();
        self
    }

    /// The request context layer to use (its slot, recording and verifier settings). Defaults
    /// to [`RequestContextLayer::new`]. Call [`VercelFunctionsLayer::configure`] after this, or
    /// configure the context layer yourself.
    /// ```
    /// use vercel_functions::VercelFunctionsLayer;
    /// use vercel_oidc::{OidcConfig, RequestContextLayer};
    ///
    /// let config = OidcConfig::new();
    /// let layer = VercelFunctionsLayer::new()
    ///     .context_layer(RequestContextLayer::new())
    ///     .configure(&config);
    /// # let _ = layer;
    /// ```
    pub fn context_layer(mut self, layer: RequestContextLayer) -> Self {
        self.context = layer;
        self
    }

    /// Your function's maximum duration (`maxDuration` in `vercel.json`). Each request's
    /// deadline ([`crate::get_deadline`]) is then its start plus this duration, and database
    /// pool keep-alives end a second before it. Defaults to none: the Rust runtime gives no
    /// deadline.
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use vercel_functions::{VercelFunctionsLayer, get_deadline, wait_until};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let layer = VercelFunctionsLayer::new()
    ///     .configure(&config)
    ///     .max_duration(Duration::from_secs(60));
    /// let tasks = layer.background_tasks();
    /// let service = layer.layer(service_fn(|_req: http::Request<()>| async {
    ///     assert!(get_deadline().is_some()); // start + max_duration
    ///     wait_until(async { /* after the response */ }).expect("in a runtime");
    ///     Ok::<_, Infallible>(http::Response::new(()))
    /// }));
    /// service.oneshot(http::Request::new(())).await.expect("response");
    /// // A plain http::Request service: the layer tracks the wait_until work.
    /// tasks.settled().await;
    /// assert!(tasks.is_empty());
    /// assert_eq!(tasks.len(), 0);
    /// # }
    /// ```
    pub fn max_duration(mut self, duration: Duration) -> Self {
        self.max_duration = Some(duration);
        self
    }

    /// The tracker of `wait_until` work started in plain `http::Request` requests served by
    /// services of this layer (and its clones). Under `vercel_runtime::run` the runtime tracks
    /// that work itself and this stays empty.
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use vercel_functions::{VercelFunctionsLayer, get_deadline, wait_until};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let layer = VercelFunctionsLayer::new()
    ///     .configure(&config)
    ///     .max_duration(Duration::from_secs(60));
    /// let tasks = layer.background_tasks();
    /// let service = layer.layer(service_fn(|_req: http::Request<()>| async {
    ///     assert!(get_deadline().is_some()); // start + max_duration
    ///     wait_until(async { /* after the response */ }).expect("in a runtime");
    ///     Ok::<_, Infallible>(http::Response::new(()))
    /// }));
    /// service.oneshot(http::Request::new(())).await.expect("response");
    /// // A plain http::Request service: the layer tracks the wait_until work.
    /// tasks.settled().await;
    /// assert!(tasks.is_empty());
    /// assert_eq!(tasks.len(), 0);
    /// # }
    /// ```
    pub fn background_tasks(&self) -> BackgroundTasks {
        self.tasks.clone()
    }
}

impl<S> Layer<S> for VercelFunctionsLayer {
    type Service = VercelFunctionsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VercelFunctionsService {
            inner: self.context.layer(inner),
            env: self.env.clone(),
            max_duration: self.max_duration,
            tasks: self.tasks.clone(),
        }
    }
}

/// `wait_until` work of plain `http::Request` requests (see
/// [`VercelFunctionsLayer::background_tasks`]).
#[derive(Debug, Clone, Default)]
pub struct BackgroundTasks {
    tracker: TaskTracker,
}

impl BackgroundTasks {
    fn new() -> Self {
        Self::default()
    }

    /// How many are still running.
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use vercel_functions::{VercelFunctionsLayer, get_deadline, wait_until};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let layer = VercelFunctionsLayer::new()
    ///     .configure(&config)
    ///     .max_duration(Duration::from_secs(60));
    /// let tasks = layer.background_tasks();
    /// let service = layer.layer(service_fn(|_req: http::Request<()>| async {
    ///     assert!(get_deadline().is_some()); // start + max_duration
    ///     wait_until(async { /* after the response */ }).expect("in a runtime");
    ///     Ok::<_, Infallible>(http::Response::new(()))
    /// }));
    /// service.oneshot(http::Request::new(())).await.expect("response");
    /// // A plain http::Request service: the layer tracks the wait_until work.
    /// tasks.settled().await;
    /// assert!(tasks.is_empty());
    /// assert_eq!(tasks.len(), 0);
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// `true` when none is running.
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use vercel_functions::{VercelFunctionsLayer, get_deadline, wait_until};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let layer = VercelFunctionsLayer::new()
    ///     .configure(&config)
    ///     .max_duration(Duration::from_secs(60));
    /// let tasks = layer.background_tasks();
    /// let service = layer.layer(service_fn(|_req: http::Request<()>| async {
    ///     assert!(get_deadline().is_some()); // start + max_duration
    ///     wait_until(async { /* after the response */ }).expect("in a runtime");
    ///     Ok::<_, Infallible>(http::Response::new(()))
    /// }));
    /// service.oneshot(http::Request::new(())).await.expect("response");
    /// // A plain http::Request service: the layer tracks the wait_until work.
    /// tasks.settled().await;
    /// assert!(tasks.is_empty());
    /// assert_eq!(tasks.len(), 0);
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }

    /// Waits until every task has finished, including tasks those tasks start meanwhile (for
    /// a graceful shutdown). New work may still be added afterwards.
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use vercel_functions::{VercelFunctionsLayer, get_deadline, wait_until};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let layer = VercelFunctionsLayer::new()
    ///     .configure(&config)
    ///     .max_duration(Duration::from_secs(60));
    /// let tasks = layer.background_tasks();
    /// let service = layer.layer(service_fn(|_req: http::Request<()>| async {
    ///     assert!(get_deadline().is_some()); // start + max_duration
    ///     wait_until(async { /* after the response */ }).expect("in a runtime");
    ///     Ok::<_, Infallible>(http::Response::new(()))
    /// }));
    /// service.oneshot(http::Request::new(())).await.expect("response");
    /// // A plain http::Request service: the layer tracks the wait_until work.
    /// tasks.settled().await;
    /// assert!(tasks.is_empty());
    /// assert_eq!(tasks.len(), 0);
    /// # }
    /// ```
    pub async fn settled(&self) {
        self.tracker.close();
        self.tracker.wait().await;
        self.tracker.reopen();
    }
}

/// The service made by [`VercelFunctionsLayer`].
#[derive(Debug, Clone)]
pub struct VercelFunctionsService<S> {
    inner: RequestContextService<S>,
    env: Env,
    max_duration: Option<Duration>,
    tasks: BackgroundTasks,
}

impl<S> VercelFunctionsService<S> {
    fn scope(&self, waiter: Waiter) -> RequestScope {
        let deadline = self
            .max_duration
            .and_then(|d| Instant::now().checked_add(d));
        RequestScope::new(waiter, deadline)
    }
}

impl<S, B, ResB> Service<http::Request<B>> for VercelFunctionsService<S>
where
    RequestContextService<S>: Service<http::Request<B>, Response = http::Response<ResB>>,
{
    type Response = http::Response<ResB>;
    type Error = <RequestContextService<S> as Service<http::Request<B>>>::Error;
    type Future = ResponseFuture<<RequestContextService<S> as Service<http::Request<B>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let scope = self.scope(Waiter::Tracker(self.tasks.tracker.clone()));
        let inner = &mut self.inner;
        let future = scope.clone().sync_enter(|| inner.call(request));
        ResponseFuture::new(scope, future, self.env.clone())
    }
}

impl<S, B, ResB> Service<(vercel_runtime::AppState, http::Request<B>)> for VercelFunctionsService<S>
where
    RequestContextService<S>:
        Service<(vercel_runtime::AppState, http::Request<B>), Response = http::Response<ResB>>,
{
    type Response = http::Response<ResB>;
    type Error =
        <RequestContextService<S> as Service<(vercel_runtime::AppState, http::Request<B>)>>::Error;
    type Future = ResponseFuture<
        <RequestContextService<S> as Service<(vercel_runtime::AppState, http::Request<B>)>>::Future,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(
        &mut self,
        (state, request): (vercel_runtime::AppState, http::Request<B>),
    ) -> Self::Future {
        let scope = self.scope(Waiter::Runtime(state.clone()));
        let inner = &mut self.inner;
        let future = scope.clone().sync_enter(|| inner.call((state, request)));
        ResponseFuture::new(scope, future, self.env.clone())
    }
}
