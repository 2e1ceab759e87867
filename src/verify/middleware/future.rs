//! The response future of [`super::VerifyService`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use tower::Service;

use super::{Denial, log_rejection};
use crate::token::Claims;
use crate::verify::{VerifiedClaims, VerifyError};

type Verification = BoxFuture<'static, Result<Claims, VerifyError>>;

pin_project_lite::pin_project! {
    /// Response future of [`super::VerifyService`]: a `401` or `503`, the inner service's
    /// future, or a verification that waits for the issuer's key set and then calls the inner service.
    pub struct ResponseFuture<S, B>
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
        Denied { denial: Denial },
        Verifying {
            verification: Verification,
            request: Option<Request<B>>,
            inner: Option<S>,
        },
        Calling { #[pin] future: S::Future },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(super) fn denied(denial: Denial) -> Self {
        Self {
            state: State::Denied { denial },
        }
    }

    pub(super) fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
        }
    }

    pub(super) fn verifying(verification: Verification, request: Request<B>, inner: S) -> Self {
        Self {
            state: State::Verifying {
                verification,
                request: Some(request),
                inner: Some(inner),
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Denied { denial } => {
                    return Poll::Ready(Ok(denial.response()));
                }
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Verifying {
                    verification,
                    request,
                    inner,
                } => {
                    let result = ready!(verification.poll_unpin(cx));
                    let next = match (result, request.take(), inner.take()) {
                        (Ok(claims), Some(mut request), Some(mut inner)) => {
                            request.extensions_mut().insert(VerifiedClaims::new(claims));
                            State::Calling {
                                future: inner.call(request),
                            }
                        }
                        (Err(error), _, _) => {
                            log_rejection(&error);
                            State::Denied {
                                denial: Denial::from_error(&error),
                            }
                        }
                        // Polled again after completion: answer 401 rather than panic.
                        _ => State::Denied {
                            denial: Denial::InvalidToken,
                        },
                    };
                    this.state.set(next);
                }
            }
        }
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}
