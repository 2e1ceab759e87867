//! The request scope of this crate (a tokio task-local set by [`crate::VercelFunctionsLayer`]):
//! where a request's background work goes, its cache tags and its deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::error::{TagError, WaitUntilError};

/// A boxed background future.
pub(crate) type Background = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

tokio::task_local! {
    static SCOPE: RequestScope;
}

/// Where `wait_until` work of one request goes.
#[derive(Clone)]
pub(crate) enum Waiter {
    /// `vercel_runtime`'s per-invocation state: the runtime holds the invocation's `end` message
    /// until the work settles.
    Runtime(vercel_runtime::AppState),
    /// A plain `http::Request` service: the layer's own tracker ([`crate::BackgroundTasks`]).
    Tracker(TaskTracker),
}

/// One request's scope. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub(crate) struct RequestScope {
    inner: Arc<Inner>,
}

struct Inner {
    waiter: Waiter,
    deadline: Option<Instant>,
    tags: Mutex<Vec<String>>,
}

impl RequestScope {
    pub(crate) fn new(waiter: Waiter, deadline: Option<Instant>) -> Self {
        Self {
            inner: Arc::new(Inner {
                waiter,
                deadline,
                tags: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The scope of the current task, if any.
    pub(crate) fn current() -> Option<Self> {
        SCOPE.try_with(Clone::clone).ok()
    }

    pub(crate) fn enter<F: Future>(
        self,
        future: F,
    ) -> tokio::task::futures::TaskLocalFuture<RequestScope, F> {
        SCOPE.scope(self, future)
    }

    pub(crate) fn sync_enter<R>(self, f: impl FnOnce() -> R) -> R {
        SCOPE.sync_scope(self, f)
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.inner.deadline
    }

    /// Hands `future` to this request's waiter. Needs a tokio runtime (both waiters spawn).
    pub(crate) fn wait_until(&self, future: Background) -> Result<(), WaitUntilError> {
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::warn!(
                "wait_until: inside a request scope but outside a tokio runtime; the future was dropped"
            );
            return Err(WaitUntilError::NoRuntime);
        }
        match &self.inner.waiter {
            Waiter::Runtime(state) => state.wait_until(future),
            Waiter::Tracker(tracker) => {
                tracker.spawn(future);
            }
        }
        Ok(())
    }

    fn tags(&self) -> MutexGuard<'_, Vec<String>> {
        // A panic while holding the lock leaves a valid Vec: keep using it.
        self.inner.tags.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `tag` (checked) to the response's cache tags; duplicates are kept once.
    pub(crate) fn add_tag(&self, tag: &str) -> Result<(), TagError> {
        crate::tags::check_tag(tag)?;
        let mut tags = self.tags();
        if tags.iter().any(|t| t == tag) {
            return Ok(());
        }
        if tags.len() >= crate::MAX_TAGS {
            return Err(TagError::TooMany {
                count: tags.len() + 1,
                limit: crate::MAX_TAGS,
            });
        }
        tags.push(tag.to_owned());
        Ok(())
    }

    pub(crate) fn take_tags(&self) -> Vec<String> {
        std::mem::take(&mut *self.tags())
    }
}

/// Runs `future` after the response, as `@vercel/functions`' `waitUntil` does.
///
/// - Inside a request served behind [`crate::VercelFunctionsLayer`] with `vercel_runtime::run`
///   (either shape: a bare `service_fn` handler or the axum adapter), the future is registered
///   with that request's `vercel_runtime::AppState::wait_until`: the runtime spawns it at once
///   and sends the invocation's `end` message to the platform only after it settles, so the
///   instance is not frozen while it runs.
/// - Inside a request of a plain `http::Request` service behind the layer, the future is spawned
///   and tracked by the layer's [`crate::BackgroundTasks`] (await
///   [`crate::BackgroundTasks::settled`] before shutting down).
/// - Outside any request, the future is spawned on the current tokio runtime (a debug log line
///   says so): Rust futures do nothing until polled, so dropping it would lose the work.
/// - Outside any tokio runtime: [`WaitUntilError::NoRuntime`] and a warning; the future is not
///   run.
///
/// A panic in the future is caught by tokio and does not affect the response or other work.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), vercel_functions::WaitUntilError> {
/// vercel_functions::wait_until(async {
///     tracing::info!("flushing analytics after the response");
/// })?;
/// # Ok(()) }
/// ```
pub fn wait_until<F>(future: F) -> Result<(), WaitUntilError>
where
    F: Future<Output = ()> + Send + 'static,
{
    wait_until_boxed(Box::pin(future))
}

pub(crate) fn wait_until_boxed(future: Background) -> Result<(), WaitUntilError> {
    if let Some(scope) = RequestScope::current() {
        return scope.wait_until(future);
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            tracing::debug!(
                "wait_until outside a request: spawned on the current runtime (nothing delays a platform freeze for it)"
            );
            drop(runtime.spawn(future));
            Ok(())
        }
        Err(_) => {
            tracing::warn!(
                "wait_until outside a request and outside a tokio runtime; the future was dropped"
            );
            Err(WaitUntilError::NoRuntime)
        }
    }
}

/// The current request's deadline, when there is one.
///
/// The Rust runtime (`vercel_runtime` 2.4) gives a function no deadline signal: no header, no
/// env var, no field of `AppState`. So this is `None` unless you tell the layer your function's
/// maximum duration ([`crate::VercelFunctionsLayer::max_duration`], the `maxDuration` of your
/// `vercel.json`); then it is the request's start plus that duration. Outside a request it is
/// `None`. The time is a `tokio::time::Instant` (tokio's paused test clock moves it).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Outside any request there is no deadline.
/// assert!(vercel_functions::get_deadline().is_none());
/// # }
/// ```
pub fn get_deadline() -> Option<Instant> {
    RequestScope::current().and_then(|s| s.deadline())
}

/// Adds a cache tag to the current response: the layer sends the request's tags in the
/// `Vercel-Cache-Tag` response header (comma-separated), which Vercel's CDN reads (and strips
/// before the response reaches the client) so that [`crate::invalidate_by_tag`] and
/// [`crate::dangerously_delete_by_tag`] can purge the cached response later. The header only
/// matters for a response the CDN caches (`Cache-Control: s-maxage=…`, `CDN-Cache-Control` or
/// `Vercel-CDN-Cache-Control`). Tags the handler put in a `Vercel-Cache-Tag` header itself are
/// kept, the layer's are appended.
///
/// A tag is 1 to 256 bytes of visible ASCII without `,`; a response carries at most 128 tags
/// (duplicates count once). Outside a request served behind [`crate::VercelFunctionsLayer`] the
/// call is [`TagError::OutsideRequest`].
///
/// ```
/// use tower::{ServiceBuilder, ServiceExt};
/// use vercel_functions::{VercelFunctionsLayer, add_cache_tag};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let svc = ServiceBuilder::new()
///     .layer(VercelFunctionsLayer::new())
///     .service_fn(|_req: http::Request<()>| async {
///         add_cache_tag("products").expect("inside a request");
///         Ok::<_, std::convert::Infallible>(http::Response::new(()))
///     });
/// let response = svc.oneshot(http::Request::new(())).await?;
/// assert_eq!(response.headers()["vercel-cache-tag"], "products");
/// # Ok(()) }
/// ```
pub fn add_cache_tag(tag: &str) -> Result<(), TagError> {
    match RequestScope::current() {
        Some(scope) => scope.add_tag(tag),
        None => Err(TagError::OutsideRequest),
    }
}
