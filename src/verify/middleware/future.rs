//! The response future of [`super::VerifyService`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, Request, Response, StatusCode};
use tower::Service;

use super::{HeaderProblem, log_rejection};
use crate::token::Claims;
use crate::verify::{VerifiedClaims, VerifyError};

type Verification = BoxFuture<'static, Result<Claims, VerifyError>>;

pin_project_lite::pin_project! {
    /// Response future of [`super::VerifyService`]: a `401`, the inner service's future, or a
    /// verification that waits for the issuer's key set and then calls the inner service.
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
        Unauthorized { challenge: &'static str },
        Verifying {
            verification: Verification,
            request: Option<Request<B>>,
            inner: Option<S>,
        },
        Calling { #[pin] future: S::Future },
    }
}

/// `WWW-Authenticate` without a token (RFC 6750 §3).
const CHALLENGE_NO_TOKEN: &str = "Bearer";
/// `WWW-Authenticate` for a token that did not verify; no detail (RFC 6750 §3.1).
const CHALLENGE_INVALID: &str = "Bearer error=\"invalid_token\"";

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(super) fn unauthorized(problem: HeaderProblem) -> Self {
        let challenge = match problem {
            HeaderProblem::Missing | HeaderProblem::OtherScheme => CHALLENGE_NO_TOKEN,
            HeaderProblem::Unusable => CHALLENGE_INVALID,
        };
        Self {
            state: State::Unauthorized { challenge },
        }
    }

    pub(super) fn invalid_token() -> Self {
        Self {
            state: State::Unauthorized {
                challenge: CHALLENGE_INVALID,
            },
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

fn unauthorized_response<ResBody: Default>(challenge: &'static str) -> Response<ResBody> {
    let mut response = Response::new(ResBody::default());
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
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
                StateProj::Unauthorized { challenge } => {
                    return Poll::Ready(Ok(unauthorized_response(challenge)));
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
                            State::Unauthorized {
                                challenge: CHALLENGE_INVALID,
                            }
                        }
                        // Polled again after completion: answer 401 rather than panic.
                        _ => State::Unauthorized {
                            challenge: CHALLENGE_INVALID,
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
