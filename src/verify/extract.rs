//! The axum extractor: [`VerifiedClaims`] as a handler argument (feature `axum`).
//!
//! A handler that takes `claims: VerifiedClaims` runs only for a request whose
//! `Authorization: Bearer` token verified; any other request is answered by
//! [`VerifyRejection`] (`401` with `WWW-Authenticate`, or `503` when the token could not be
//! checked). The [`Verifier`] comes from the router's state (`Verifier: FromRef<S>`, so a
//! `Router<Verifier>` or your own state with a `FromRef` impl). Behind a [`VerifyLayer`] the
//! claims the layer put into the extensions are taken as they are (no second verification).
//!
//! `Option<VerifiedClaims>` is `None` for a request without bearer credentials (no
//! `Authorization` header, or another scheme) and rejects a bearer token that does not verify:
//! for routes that also serve anonymous callers.
//!
//! ```no_run
//! # #[cfg(any())] {
//! // axum is not a dependency of this crate, so this block is not compiled here; see the
//! // `axum_extractor_server` example for the complete program.
//! use vercel_oidc::verify::{VerifiedClaims, Verifier};
//!
//! async fn whoami(claims: VerifiedClaims) -> String {
//!     claims.project.clone().unwrap_or_default()
//! }
//! let app: axum::Router = axum::Router::new()
//!     .route("/whoami", axum::routing::get(whoami))
//!     .with_state(verifier);
//! # }
//! ```
//!
//! [`VerifyLayer`]: super::VerifyLayer

use std::fmt;

use axum_core::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use super::middleware::{Denial, HeaderProblem, bearer_token, log_rejection};
use super::{VerifiedClaims, Verifier, VerifyError};

/// Why [`VerifiedClaims`] could not be extracted; answers `401` with `WWW-Authenticate`, or
/// `503` when the token could not be checked (see [`VerifyError::is_rejection`]). The body is
/// empty: the reason is logged (never the token), not sent.
#[derive(Debug, Clone)]
pub struct VerifyRejection {
    denial: Denial,
    error: Option<VerifyError>,
}

impl VerifyRejection {
    fn header(problem: HeaderProblem) -> Self {
        tracing::debug!(?problem, "verify extractor: no usable bearer token");
        Self {
            denial: Denial::from_header(problem),
            error: None,
        }
    }

    fn error(error: VerifyError) -> Self {
        log_rejection(&error);
        Self {
            denial: Denial::from_error(&error),
            error: Some(error),
        }
    }

    /// The status the response has: `401 Unauthorized` or `503 Service Unavailable`.
    pub fn status(&self) -> StatusCode {
        self.denial.status()
    }

    /// The `WWW-Authenticate` value of a `401`: `Bearer` without bearer credentials,
    /// `Bearer error="invalid_token"` for a token that did not verify; `None` for a `503`.
    pub fn challenge(&self) -> Option<&'static str> {
        self.denial.challenge()
    }

    /// Why the token was refused; `None` when there was no usable bearer token to verify.
    pub fn verify_error(&self) -> Option<&VerifyError> {
        self.error.as_ref()
    }
}

impl fmt::Display for VerifyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.error, self.denial) {
            (Some(error), _) => write!(f, "bearer token refused: {error}"),
            (None, Denial::NoToken) => f.write_str("no bearer token"),
            (None, _) => f.write_str("unusable bearer token"),
        }
    }
}

impl std::error::Error for VerifyRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.as_ref().map(|e| e as _)
    }
}

impl IntoResponse for VerifyRejection {
    fn into_response(self) -> Response {
        self.denial.response()
    }
}

/// Verifies the request's bearer token, or takes the claims a [`super::VerifyLayer`] verified.
async fn extract(parts: &Parts, verifier: Verifier) -> Result<VerifiedClaims, VerifyRejection> {
    if let Some(claims) = parts.extensions.get::<VerifiedClaims>() {
        return Ok(claims.clone());
    }
    let token =
        bearer_token(&parts.headers, verifier.max_token_len()).map_err(VerifyRejection::header)?;
    verifier
        .verify(token)
        .await
        .map(VerifiedClaims::new)
        .map_err(VerifyRejection::error)
}

impl<S> FromRequestParts<S> for VerifiedClaims
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = VerifyRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        extract(parts, Verifier::from_ref(state)).await
    }
}

impl<S> OptionalFromRequestParts<S> for VerifiedClaims
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = VerifyRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match extract(parts, Verifier::from_ref(state)).await {
            Ok(claims) => Ok(Some(claims)),
            Err(rejection) if rejection.denial == Denial::NoToken => Ok(None),
            Err(rejection) => Err(rejection),
        }
    }
}
