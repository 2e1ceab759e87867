//! The tower middleware that verifies each request's `Authorization: Bearer` token.

mod future;
mod layer;

use std::task::{Context, Poll};

use futures_util::FutureExt as _;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use tower::Service;

use super::{VerifiedClaims, Verifier, VerifyError};

pub use future::ResponseFuture;
pub use layer::VerifyLayer;

/// The service made by [`VerifyLayer`]: verifies the bearer token, then calls the inner
/// service with [`VerifiedClaims`] in the request's extensions, or answers `401` (the token is
/// not acceptable) or `503` (it could not be checked), as [`VerifyError::is_rejection`] tells.
///
/// The `401` carries `WWW-Authenticate: Bearer` (no bearer credentials: no `Authorization`
/// header, or another scheme, RFC 6750 §3.1) or `WWW-Authenticate: Bearer error="invalid_token"`
/// (a bearer token that is malformed or did not verify), and an empty body. The `503` (the
/// issuer's key set could not be fetched and none is cached) has an empty body and no
/// challenge: the caller's token may be fine, and retrying later may succeed. Why a token was
/// rejected is logged at `debug` (never the token), a `503` at `warn`; neither is sent to the
/// client.
#[derive(Debug, Clone)]
pub struct VerifyService<S> {
    inner: S,
    verifier: Verifier,
}

impl<S> VerifyService<S> {
    pub(super) fn new(inner: S, verifier: Verifier) -> Self {
        Self { inner, verifier }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// Why a request has no usable bearer token (before any verification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeaderProblem {
    /// No `Authorization` header at all.
    Missing,
    /// One `Authorization` header with another scheme (`Basic …`): no bearer credentials.
    OtherScheme,
    /// Several `Authorization` headers, no token after `Bearer`, a value that is not visible
    /// ASCII, or far too long.
    Unusable,
}

/// What a request without verified claims is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Denial {
    /// `401`, `WWW-Authenticate: Bearer`: no bearer credentials at all.
    NoToken,
    /// `401`, `WWW-Authenticate: Bearer error="invalid_token"`.
    InvalidToken,
    /// `503`: the token could not be checked.
    Unavailable,
}

/// `WWW-Authenticate` without a token (RFC 6750 §3).
const CHALLENGE_NO_TOKEN: &str = "Bearer";
/// `WWW-Authenticate` for a token that did not verify; no detail (RFC 6750 §3.1).
const CHALLENGE_INVALID: &str = "Bearer error=\"invalid_token\"";

impl Denial {
    pub(super) fn from_header(problem: HeaderProblem) -> Self {
        match problem {
            HeaderProblem::Missing | HeaderProblem::OtherScheme => Self::NoToken,
            HeaderProblem::Unusable => Self::InvalidToken,
        }
    }

    pub(super) fn from_error(error: &VerifyError) -> Self {
        if error.is_rejection() {
            Self::InvalidToken
        } else {
            Self::Unavailable
        }
    }

    pub(super) fn status(self) -> StatusCode {
        match self {
            Self::NoToken | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub(super) fn challenge(self) -> Option<&'static str> {
        match self {
            Self::NoToken => Some(CHALLENGE_NO_TOKEN),
            Self::InvalidToken => Some(CHALLENGE_INVALID),
            Self::Unavailable => None,
        }
    }

    /// The response: the status, the challenge if any, an empty body.
    pub(super) fn response<ResBody: Default>(self) -> Response<ResBody> {
        let mut response = Response::new(ResBody::default());
        *response.status_mut() = self.status();
        if let Some(challenge) = self.challenge() {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

/// The bare token of the one `Authorization: Bearer <token>` header.
pub(super) fn bearer_token(headers: &HeaderMap, max_len: usize) -> Result<&str, HeaderProblem> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(if headers.contains_key(AUTHORIZATION) {
            HeaderProblem::Unusable
        } else {
            HeaderProblem::Missing
        });
    };
    bearer_from_value(value, max_len)
}

fn bearer_from_value(value: &HeaderValue, max_len: usize) -> Result<&str, HeaderProblem> {
    // Bounded before any per-byte work; the verifier applies the exact token limit.
    if value.len() > max_len.saturating_add(64) {
        return Err(HeaderProblem::Unusable);
    }
    let text = value.to_str().map_err(|_| HeaderProblem::Unusable)?;
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(HeaderProblem::OtherScheme);
    }
    let token = rest.trim_matches(' ');
    if token.is_empty() || token.contains(' ') {
        return Err(HeaderProblem::Unusable);
    }
    Ok(token)
}

impl<S, B, ResBody> Service<Request<B>> for VerifyService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let max_len = self.verifier.max_token_len();
        let outcome = match bearer_token(request.headers(), max_len) {
            Err(problem) => {
                tracing::debug!(?problem, "verify layer: no usable bearer token");
                return ResponseFuture::denied(Denial::from_header(problem));
            }
            // Warm path: verified with the cached keys, no allocation for the future.
            Ok(token) => self.verifier.verify_cached(token),
        };
        match outcome {
            Some(Ok(claims)) => {
                request.extensions_mut().insert(VerifiedClaims::new(claims));
                ResponseFuture::calling(self.inner.call(request))
            }
            Some(Err(error)) => rejected(&error),
            None => {
                // The key set must be fetched first. Take the service that is ready (tower's
                // clone-and-swap) and call it once the token is verified.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                let verifier = self.verifier.clone();
                // A cheap clone (shared bytes); re-parsed in the future.
                let value = request.headers().get(AUTHORIZATION).cloned();
                let verification = async move {
                    let token = value
                        .as_ref()
                        .and_then(|v| bearer_from_value(v, usize::MAX).ok())
                        .unwrap_or("");
                    verifier.verify(token).await
                }
                .boxed();
                ResponseFuture::verifying(verification, request, inner)
            }
        }
    }
}

fn rejected<S, B>(error: &VerifyError) -> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    log_rejection(error);
    ResponseFuture::denied(Denial::from_error(error))
}

pub(super) fn log_rejection(error: &VerifyError) {
    if !error.is_rejection() {
        tracing::warn!(reason = %error, "verify layer: could not verify the bearer token");
    } else {
        tracing::debug!(reason = %error, "verify layer: rejected the bearer token");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn parses_exactly_one_bearer_header() {
        assert_eq!(bearer_token(&headers(&["Bearer a.b.c"]), 100), Ok("a.b.c"));
        assert_eq!(
            bearer_token(&headers(&["bearer  a.b.c "]), 100),
            Ok("a.b.c")
        );
        assert_eq!(bearer_token(&headers(&["BEARER a.b.c"]), 100), Ok("a.b.c"));
        assert_eq!(
            bearer_token(&HeaderMap::new(), 100),
            Err(HeaderProblem::Missing)
        );
        for other in ["Basic dXNlcjpwYXNz", "Bearera.b.c", "Token"] {
            assert_eq!(
                bearer_token(&headers(&[other]), 100),
                Err(HeaderProblem::OtherScheme),
                "{other}"
            );
        }
        for bad in [
            &["Bearer"][..],
            &["Bearer "],
            &["Bearer a.b.c extra"],
            &["Bearer a.b.c", "Bearer d.e.f"],
        ] {
            assert_eq!(
                bearer_token(&headers(bad), 100),
                Err(HeaderProblem::Unusable),
                "{bad:?}"
            );
        }
        let long = format!("Bearer {}", "a".repeat(200));
        assert_eq!(
            bearer_token(&headers(&[&long]), 100),
            Err(HeaderProblem::Unusable)
        );
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff").expect("opaque"),
        );
        assert_eq!(bearer_token(&h, 100), Err(HeaderProblem::Unusable));
    }
}
