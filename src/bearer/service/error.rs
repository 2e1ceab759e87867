//! The error of [`super::BearerService`].

use crate::error::Error;

/// Why a [`super::BearerService`] call failed: no token could be had (the inner service was
/// not called), or the inner service failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BearerServiceError<E> {
    /// The token source (or the audience exchange) failed; the request was not sent.
    #[error("no bearer token for the request")]
    Token(#[source] Error),
    /// The inner service's error.
    #[error("the request failed")]
    Service(#[source] E),
}

impl<E> BearerServiceError<E> {
    /// The inner service's error, if that is what this is.
    pub fn into_service_error(self) -> Option<E> {
        match self {
            Self::Service(e) => Some(e),
            Self::Token(_) => None,
        }
    }
}
