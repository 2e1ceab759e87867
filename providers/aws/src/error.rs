//! Errors of the AWS provider.
//!
//! [`Error`] is what a credential load fails with; it is `Clone` so one failed load can be handed
//! to every caller that shared it. At the `ProvideCredentials` boundary it becomes a
//! [`CredentialsError`] of the right kind (see [`Error::into_credentials_error`]).
//!
//! No error carries an OIDC token, a secret key, a session token or a raw STS response body: an
//! STS error keeps the error *code*, a bounded and sanitised copy of the *message* and the request
//! id only.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;

/// Why a request to STS did not give credentials, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StsFailure {
    /// STS answered with an error code (e.g. `InvalidIdentityToken`, `Throttling`).
    Service {
        /// The AWS error code.
        code: String,
        /// STS's message, sanitised and cut to a few hundred characters.
        message: Option<String>,
        /// The HTTP status.
        status: Option<u16>,
        /// The `x-amzn-RequestId`, for AWS support.
        request_id: Option<String>,
    },
    /// STS answered with an HTTP status and a body that is not an STS response.
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// STS answered 200 with a response that lacks usable credentials (cut short, a field
    /// missing or empty).
    Incomplete {
        /// What is missing.
        reason: String,
    },
    /// The request timed out.
    Timeout,
    /// The request could not be sent or its response not read (connection refused, reset, …).
    Transport {
        /// What the HTTP layer said (never a body or header value).
        detail: String,
    },
    /// The request could not be built or sent because of the configuration (bad endpoint, …).
    Client {
        /// What the SDK said.
        detail: String,
    },
}

impl fmt::Display for StsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Service {
                code,
                message,
                status,
                request_id,
            } => {
                write!(f, "STS error {code}")?;
                if let Some(status) = status {
                    write!(f, " (HTTP {status})")?;
                }
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
                if let Some(id) = request_id {
                    write!(f, " [request id {id}]")?;
                }
                Ok(())
            }
            Self::Status { status } => write!(f, "STS answered HTTP {status}"),
            Self::Incomplete { reason } => {
                write!(f, "STS answered with an incomplete response: {reason}")
            }
            Self::Timeout => f.write_str("the request to STS timed out"),
            Self::Transport { detail } => write!(f, "the request to STS failed: {detail}"),
            Self::Client { detail } => write!(f, "the STS request could not be made: {detail}"),
        }
    }
}

impl std::error::Error for StsFailure {}

impl StsFailure {
    /// The AWS error code, when STS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The error of a credential load.
///
/// `#[non_exhaustive]`: new variants may be added. `Display` describes this error; the cause,
/// when there is one, is returned by [`std::error::Error::source`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// There is no Vercel OIDC token here (not on Vercel, no `VERCEL_OIDC_TOKEN`, no linked
    /// project): this provider does not apply, and a chain moves on.
    #[error("no Vercel OIDC token is available, so the Vercel OIDC AWS provider does not apply")]
    NoToken(#[source] vercel_oidc::Error),

    /// The provider's configuration is invalid or incomplete (no region, bad role ARN, …), or
    /// STS rejected the request's parameters (`ValidationError`, `MalformedPolicyDocument`,
    /// `PackedPolicyTooLarge`).
    #[error("invalid configuration: {message}")]
    InvalidConfiguration {
        /// What is wrong; names the setting.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
    },

    /// The token source failed (other than having no token).
    #[error("could not get a Vercel OIDC token for STS")]
    TokenSource(#[source] vercel_oidc::Error),

    /// STS rejected the token or the role (`InvalidIdentityToken`, `ExpiredTokenException`,
    /// `AccessDenied`, `IDPRejectedClaim`, …). Retrying will not help.
    ///
    /// When the token and STS's answer point at a part of the trust (the identity provider's
    /// issuer or audience, the trust policy's subject condition, the role), `hint` names it and
    /// the value the AWS side must match (never the token), and `Display` ends with it.
    #[error("STS AssumeRoleWithWebIdentity for {role_arn} was rejected: {failure}{}", hint_suffix(hint.as_deref()))]
    Rejected {
        /// The role that was asked for.
        role_arn: String,
        /// What STS said.
        failure: StsFailure,
        /// The likely cause and its fix (see [`explain_rejection`](crate::explain_rejection)).
        hint: Option<Box<crate::Explanation>>,
    },

    /// STS could not be reached or kept failing with retryable errors, `attempts` times.
    #[error("STS AssumeRoleWithWebIdentity failed after {attempts} attempt(s): {failure}")]
    Unavailable {
        /// How many requests were made.
        attempts: u32,
        /// The last failure.
        failure: StsFailure,
    },

    /// The credential load panicked (a bug in this crate or in a token source); the next call
    /// loads again.
    #[error("the credential load panicked (a bug); the next call loads again")]
    LoadPanicked,

    /// STS answered 200 with something that is not usable credentials.
    #[error("STS returned unusable credentials: {reason}")]
    InvalidResponse {
        /// What is wrong, e.g. "the credentials are already expired".
        reason: String,
        /// The expiration STS gave, when there was one.
        expiration: Option<SystemTime>,
    },
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::InvalidConfiguration {
            message: message.into(),
            source: None,
        }
    }

    /// `true` when there is simply no Vercel token here (a credential chain moves on).
    pub fn is_not_configured(&self) -> bool {
        matches!(self, Self::NoToken(_))
    }

    /// `true` when the configuration is wrong and retrying will not help.
    pub fn is_invalid_configuration(&self) -> bool {
        matches!(self, Self::InvalidConfiguration { .. })
    }

    /// The STS error code, when STS answered with one.
    pub fn sts_code(&self) -> Option<&str> {
        match self {
            Self::Rejected { failure, .. } | Self::Unavailable { failure, .. } => failure.code(),
            _ => None,
        }
    }

    /// The [`CredentialsError`] of the right kind, with this error as its source:
    ///
    /// | this error | `CredentialsError` |
    /// |---|---|
    /// | [`Error::NoToken`] | `CredentialsNotLoaded` (a chain moves on) |
    /// | [`Error::InvalidConfiguration`], or a token source's configuration error | `InvalidConfiguration` |
    /// | [`Error::Unavailable`] whose last failure is a timeout | `ProviderTimedOut` |
    /// | everything else (STS rejections, unusable responses, transient failures) | `ProviderError` |
    pub fn into_credentials_error(self, timeout: Duration) -> CredentialsError {
        match &self {
            Self::NoToken(_) => CredentialsError::not_loaded(self),
            Self::InvalidConfiguration { .. } => CredentialsError::invalid_configuration(self),
            Self::TokenSource(e) if e.is_invalid_configuration() => {
                CredentialsError::invalid_configuration(self)
            }
            Self::Unavailable {
                failure: StsFailure::Timeout,
                ..
            } => {
                tracing::debug!(error = %self, "vercel-oidc-aws: STS timed out");
                CredentialsError::provider_timed_out(timeout)
            }
            _ => CredentialsError::provider_error(self),
        }
    }
}

fn hint_suffix(hint: Option<&crate::Explanation>) -> String {
    hint.map(|h| format!(". Likely cause ({}): {h}", h.mismatch))
        .unwrap_or_default()
}

impl Error {
    /// The likely cause of an STS rejection and its fix, when the evidence points at one.
    pub fn hint(&self) -> Option<&crate::Explanation> {
        match self {
            Self::Rejected { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }
}

impl From<vercel_oidc::cache::LoadPanicked> for Error {
    fn from(_: vercel_oidc::cache::LoadPanicked) -> Self {
        Self::LoadPanicked
    }
}

/// Keeps at most `max` characters of an untrusted message, with control characters replaced.
pub(crate) fn sanitize(message: &str, max: usize) -> String {
    let mut out: String = message
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if message.chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn kinds_map_to_credentials_error_kinds() {
        let no_token = Error::NoToken(vercel_oidc::Error::NotConfigured {
            origin: vercel_oidc::TokenOrigin::Fixed,
        });
        assert!(matches!(
            no_token.into_credentials_error(Duration::from_secs(1)),
            CredentialsError::CredentialsNotLoaded(_)
        ));
        assert!(matches!(
            Error::config("no region").into_credentials_error(Duration::from_secs(1)),
            CredentialsError::InvalidConfiguration(_)
        ));
        let timeout = Error::Unavailable {
            attempts: 3,
            failure: StsFailure::Timeout,
        };
        assert!(matches!(
            timeout.into_credentials_error(Duration::from_secs(7)),
            CredentialsError::ProviderTimedOut(t) if t.timeout_duration() == Duration::from_secs(7)
        ));
        let rejected = Error::Rejected {
            role_arn: "arn:aws:iam::1:role/r".into(),
            hint: None,
            failure: StsFailure::Service {
                code: "AccessDenied".into(),
                message: Some("Not authorized".into()),
                status: Some(403),
                request_id: Some("rid".into()),
            },
        };
        let err = rejected.clone().into_credentials_error(Duration::ZERO);
        assert!(matches!(err, CredentialsError::ProviderError(_)));
        let source = err.source().expect("has a source").to_string();
        assert_eq!(
            source,
            "STS AssumeRoleWithWebIdentity for arn:aws:iam::1:role/r was rejected: STS error \
             AccessDenied (HTTP 403): Not authorized [request id rid]"
        );
        assert_eq!(rejected.sts_code(), Some("AccessDenied"));
    }

    proptest::proptest! {
        /// Whatever STS sends as a message, what we keep is bounded and has no control
        /// characters (no log injection through `\r\n`).
        #[test]
        fn sanitize_is_bounded_and_clean(message in "\\PC*|[\\x00-\\x1f\\x7f]*", max in 0usize..400) {
            let out = sanitize(&message, max);
            proptest::prop_assert!(out.chars().count() <= max + 1);
            proptest::prop_assert!(!out.chars().any(char::is_control));
        }
    }

    #[test]
    fn sanitize_bounds_and_strips_controls() {
        assert_eq!(sanitize("a\r\nb", 10), "a  b");
        assert_eq!(sanitize("abcdef", 3), "abc…");
    }
}
