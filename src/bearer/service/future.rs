//! The response future of [`super::BearerService`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use tower::Service;

use super::BearerServiceError;
use crate::error::Error;

type HeaderFuture = BoxFuture<'static, Result<HeaderValue, Error>>;

pin_project_lite::pin_project! {
    /// Response future of [`super::BearerService`]: waits for the token, then for the inner
    /// service's response.
    pub struct BearerFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        Token {
            header: HeaderFuture,
            request: Option<Request<B>>,
            inner: Option<S>,
        },
        Calling { #[pin] future: S::Future },
        Done,
    }
}

impl<S, B> BearerFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(super) fn new(header: HeaderFuture, request: Request<B>, inner: S) -> Self {
        Self {
            state: State::Token {
                header,
                request: Some(request),
                inner: Some(inner),
            },
        }
    }
}

impl<S, B> Future for BearerFuture<S, B>
where
    S: Service<Request<B>>,
{
    type Output = Result<S::Response, BearerServiceError<S::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Token {
                    header,
                    request,
                    inner,
                } => {
                    let value = match ready!(header.poll_unpin(cx)) {
                        Ok(value) => value,
                        Err(error) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(BearerServiceError::Token(error)));
                        }
                    };
                    let (Some(mut request), Some(mut inner)) = (request.take(), inner.take())
                    else {
                        // Only reachable when polled after completion.
                        this.state.set(State::Done);
                        return Poll::Pending;
                    };
                    // `insert` replaces every earlier `Authorization` value.
                    request.headers_mut().insert(AUTHORIZATION, value);
                    let future = inner.call(request);
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx));
                    this.state.set(State::Done);
                    return Poll::Ready(result.map_err(BearerServiceError::Service));
                }
                // Polled after completion (a contract violation): never ready.
                StateProj::Done => return Poll::Pending,
            }
        }
    }
}

impl<S, B> fmt::Debug for BearerFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerFuture")
    }
}
