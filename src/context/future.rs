//! The layer's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::futures::TaskLocalFuture;

use super::RequestContext;

pin_project_lite::pin_project! {
    /// Response future of [`super::RequestContextService`]: the inner service's future, polled
    /// inside the request's [`RequestContext`] scope.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: TaskLocalFuture<RequestContext, F>,
    }
}

impl<F: Future> ResponseFuture<F> {
    pub(super) fn new(context: RequestContext, inner: F) -> Self {
        Self {
            inner: super::CONTEXT.scope(context, inner),
        }
    }
}

impl<F: Future> Future for ResponseFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}
