//! Errors of the Google Cloud credentials.
//!
//! [`Error`] is what a build or a token load fails with. It is `Clone`, so one failed load can be
//! handed to every caller that shared it. At the `google_cloud_auth` boundary it becomes a
//! `CredentialsError` whose `is_transient()` is [`Error::is_transient`].
//!
//! No error carries the Vercel token, a federated token, an access token, an ID token or a raw
//! response body: a Google answer keeps its HTTP status, its `error` code (`invalid_grant`,
//! `PERMISSION_DENIED`, …) and a bounded, sanitised copy of its description.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// A shareable source error (`Arc` keeps [`Error`] `Clone`).
pub(crate) type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// How many characters of a Google error description are kept.
const MAX_DESCRIPTION_LEN: usize = 400;

/// The Google service a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// The Security Token Service (`POST {sts}/v1/token`): the token exchange.
    Sts,
    /// The IAM Service Account Credentials API (`generateAccessToken`, `generateIdToken`).
    IamCredentials,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sts => "Google STS",
            Self::IamCredentials => "IAM Credentials",
        })
    }
}

/// An error answer from Google: the HTTP status and what the body said.
///
/// STS answers OAuth-style (`{"error": "invalid_grant", "error_description": "…"}`); the IAM
/// Credentials API answers Google-style (`{"error": {"code": 403, "message": "…", "status":
/// "PERMISSION_DENIED"}}`). Both land here: [`GoogleError::error`] is the OAuth `error` or the
/// Google `status`, [`GoogleError::description`] the `error_description` or the `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleError {
    service: Service,
    status: u16,
    error: Option<String>,
    description: Option<String>,
}

impl GoogleError {
    /// Parses an error body leniently: any JSON shape (or none) gives an error with the status.
    pub(crate) fn parse(service: Service, status: u16, body: &[u8]) -> Self {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let text = |v: Option<&serde_json::Value>| {
            v.and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .map(|s| sanitize(s, MAX_DESCRIPTION_LEN))
        };
        let (error, description) = match value.get("error") {
            Some(serde_json::Value::Object(inner)) => {
                (text(inner.get("status")), text(inner.get("message")))
            }
            other => (text(other), text(value.get("error_description"))),
        };
        Self {
            service,
            status,
            error,
            description,
        }
    }

    /// The service that answered.
    pub fn service(&self) -> Service {
        self.service
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The OAuth `error` (STS: `invalid_grant`, `invalid_target`, `invalid_request`, …) or the
    /// Google `status` (IAM Credentials: `PERMISSION_DENIED`, `NOT_FOUND`, …).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The `error_description` (STS) or `message` (IAM Credentials), sanitised and cut to a
    /// few hundred characters.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// `true` for answers that may succeed when retried: 408, 429 and 5xx, and STS's
    /// `temporarily_unavailable`.
    pub fn is_transient(&self) -> bool {
        matches!(self.status, 408 | 429 | 500..=599)
            || self.error.as_deref() == Some("temporarily_unavailable")
    }
}

impl fmt::Display for GoogleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} answered HTTP {}", self.service, self.status)?;
        if let Some(error) = &self.error {
            write!(f, " {error}")?;
        }
        if let Some(description) = &self.description {
            write!(f, ": {description}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GoogleError {}

/// Why one request gave no token, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// Google answered with an error.
    Google(GoogleError),
    /// The request timed out.
    Timeout,
    /// The request could not be sent or its response not read (connection refused, reset, …).
    Transport {
        /// What the HTTP layer said (never a body, header value or token).
        detail: String,
    },
    /// Google answered `2xx` with something that is not a token (cut short, not JSON, a field
    /// missing).
    Incomplete {
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Google(e) => write!(f, "{e}"),
            Self::Timeout => f.write_str("the request timed out"),
            Self::Transport { detail } => write!(f, "the request failed: {detail}"),
            Self::Incomplete { reason } => write!(f, "the answer is not usable: {reason}"),
        }
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// `true` when a retry may help (every failure but a permanent Google answer).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Google(e) => e.is_transient(),
            Self::Timeout | Self::Transport { .. } | Self::Incomplete { .. } => true,
        }
    }
}

/// The error type of this crate.
///
/// `#[non_exhaustive]`: new variants may be added. `Display` describes this error only; the
/// cause, when there is one, is returned by [`std::error::Error::source`]. Callers branch on
/// [`Error::is_not_configured`], [`Error::is_invalid_configuration`], [`Error::is_rejected`]
/// and [`Error::is_transient`], or on [`Error::google`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required setting is missing (e.g. the workload identity provider, when neither given
    /// nor in `GCP_PROJECT_NUMBER` / `GCP_WORKLOAD_IDENTITY_POOL_ID` /
    /// `GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID`).
    #[error("the Google Cloud credentials are not configured: {setting} is not set")]
    NotConfigured {
        /// The missing setting and its env vars.
        setting: &'static str,
    },

    /// A setting is invalid (a malformed service account, a lifetime out of range, an
    /// unreadable `VERCEL_OIDC_CA_FILE`, …).
    #[error("invalid Google Cloud credentials configuration: {message}")]
    InvalidConfiguration {
        /// What is wrong; names the setting, never a secret.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Source>,
    },

    /// An endpoint URL is refused: it must be `https` (or `http` on a loopback host), without
    /// user info, query or fragment. The message shows the URL with any user info redacted.
    #[error(
        "invalid Google Cloud credentials configuration: the {setting} {:?} {}",
        .url.redacted_url(),
        .url.reason()
    )]
    InvalidEndpoint {
        /// Which endpoint: `"STS token URL"` or `"IAM Credentials URL"`.
        setting: &'static str,
        /// The refused URL and why.
        url: vercel_oidc::InvalidEndpointUrl,
    },

    /// There is no Vercel OIDC token here (not on Vercel, no `VERCEL_OIDC_TOKEN`, no linked
    /// project).
    #[error("no Vercel OIDC token is available for the Google token exchange")]
    NoToken(#[source] vercel_oidc::Error),

    /// The token source failed (other than having no token).
    #[error("could not get a Vercel OIDC token for the Google token exchange")]
    TokenSource(#[source] vercel_oidc::Error),

    /// Google rejected the request for good (`invalid_grant`: the provider's issuer, audience or
    /// attribute condition does not match the token; `invalid_target`: no such pool or
    /// provider; `PERMISSION_DENIED`: the federated identity may not impersonate the service
    /// account, …). Retrying will not help.
    #[error("{0}")]
    Rejected(Box<GoogleError>),

    /// Google could not be reached, or kept failing with retryable errors, `attempts` times.
    #[error("{service} failed after {attempts} attempt(s): {failure}")]
    Unavailable {
        /// The service.
        service: Service,
        /// How many requests were made.
        attempts: u32,
        /// The last failure.
        failure: Failure,
    },

    /// Google answered `2xx` with a token that cannot be used (already expired, or an expiry
    /// more than 7 days away).
    #[error("{service} returned an unusable token: {reason}")]
    InvalidResponse {
        /// The service.
        service: Service,
        /// What is wrong.
        reason: &'static str,
        /// The expiry Google gave, when there was one.
        expires_at: Option<SystemTime>,
    },

    /// The token load panicked (a bug in this crate or in a token source); the next call loads
    /// again.
    #[error("the Google token load panicked (a bug); the next call loads again")]
    LoadPanicked,
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::InvalidConfiguration {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn config_with(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::InvalidConfiguration {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// `true` when a required setting or the Vercel token is missing.
    pub fn is_not_configured(&self) -> bool {
        match self {
            Self::NotConfigured { .. } | Self::NoToken(_) => true,
            Self::TokenSource(e) => e.is_not_configured(),
            _ => false,
        }
    }

    /// `true` when a setting is wrong and retrying will not help.
    pub fn is_invalid_configuration(&self) -> bool {
        match self {
            Self::InvalidConfiguration { .. } | Self::InvalidEndpoint { .. } => true,
            Self::TokenSource(e) => e.is_invalid_configuration(),
            _ => false,
        }
    }

    /// `true` when Google rejected the request for good.
    pub fn is_rejected(&self) -> bool {
        matches!(self, Self::Rejected(_))
    }

    /// `true` for failures that may succeed later: Google unreachable or failing transiently,
    /// a transient token-source failure, and no Vercel token *yet* (a cold start outside a
    /// request finds none; the next request brings one).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. } | Self::NoToken(_) | Self::LoadPanicked => true,
            Self::TokenSource(e) => e.is_transient() || e.is_not_configured(),
            _ => false,
        }
    }

    /// What Google said, when this error is (or ends with) its answer.
    pub fn google(&self) -> Option<&GoogleError> {
        match self {
            Self::Rejected(e) => Some(e),
            Self::Unavailable {
                failure: Failure::Google(e),
                ..
            } => Some(e),
            _ => None,
        }
    }
}

impl From<vercel_oidc::cache::LoadPanicked> for Error {
    fn from(_: vercel_oidc::cache::LoadPanicked) -> Self {
        Self::LoadPanicked
    }
}

impl From<Error> for google_cloud_auth::errors::CredentialsError {
    fn from(error: Error) -> Self {
        Self::from_source(error.is_transient(), error)
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
    fn both_google_error_shapes_parse() {
        let sts = GoogleError::parse(
            Service::Sts,
            400,
            br#"{"error":"invalid_grant","error_description":"The audience in ID Token [https://vercel.com/acme] does not match the expected audience."}"#,
        );
        assert_eq!(sts.status(), 400);
        assert_eq!(sts.error(), Some("invalid_grant"));
        assert_eq!(
            sts.description(),
            Some(
                "The audience in ID Token [https://vercel.com/acme] does not match the expected audience."
            )
        );
        assert!(!sts.is_transient());
        assert_eq!(
            sts.to_string(),
            "Google STS answered HTTP 400 invalid_grant: The audience in ID Token \
             [https://vercel.com/acme] does not match the expected audience."
        );

        let iam = GoogleError::parse(
            Service::IamCredentials,
            403,
            br#"{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied","status":"PERMISSION_DENIED"}}"#,
        );
        assert_eq!(iam.error(), Some("PERMISSION_DENIED"));
        assert_eq!(
            iam.description(),
            Some("Permission 'iam.serviceAccounts.getAccessToken' denied")
        );
        assert_eq!(
            iam.to_string(),
            "IAM Credentials answered HTTP 403 PERMISSION_DENIED: Permission \
             'iam.serviceAccounts.getAccessToken' denied"
        );

        for body in [&b"<html>"[..], b"", b"[1]", br#"{"error":7}"#] {
            let e = GoogleError::parse(Service::Sts, 503, body);
            assert_eq!((e.error(), e.description()), (None, None));
            assert!(e.is_transient());
            assert_eq!(e.to_string(), "Google STS answered HTTP 503");
        }
        let unavailable =
            GoogleError::parse(Service::Sts, 400, br#"{"error":"temporarily_unavailable"}"#);
        assert!(unavailable.is_transient());
        for (status, transient) in [
            (408, true),
            (429, true),
            (500, true),
            (599, true),
            (400, false),
            (401, false),
            (403, false),
            (404, false),
        ] {
            assert_eq!(
                GoogleError::parse(Service::Sts, status, b"{}").is_transient(),
                transient,
                "{status}"
            );
        }
    }

    #[test]
    fn descriptions_are_bounded_and_clean() {
        let long = format!(
            r#"{{"error":"invalid_grant","error_description":"a\r\nb{}"}}"#,
            "x".repeat(1000)
        );
        let e = GoogleError::parse(Service::Sts, 400, long.as_bytes());
        let description = e.description().expect("kept");
        assert!(description.starts_with("a  b"), "{description}");
        assert_eq!(description.chars().count(), MAX_DESCRIPTION_LEN + 1);
        assert!(description.ends_with('…'));
    }

    #[test]
    fn kinds_and_the_google_credentials_error() {
        let no_token = Error::NoToken(vercel_oidc::Error::NotConfigured {
            origin: vercel_oidc::TokenOrigin::Fixed,
        });
        assert!(no_token.is_not_configured() && no_token.is_transient());
        let google: google_cloud_auth::errors::CredentialsError = no_token.into();
        assert!(google.is_transient(), "a missing token is transient");

        let rejected = Error::Rejected(Box::new(GoogleError::parse(
            Service::Sts,
            400,
            br#"{"error":"invalid_target"}"#,
        )));
        assert!(rejected.is_rejected() && !rejected.is_transient());
        assert_eq!(
            rejected.google().and_then(GoogleError::error),
            Some("invalid_target")
        );
        let google: google_cloud_auth::errors::CredentialsError = rejected.clone().into();
        assert!(!google.is_transient());
        let source = google.source().expect("our error").to_string();
        assert_eq!(source, "Google STS answered HTTP 400 invalid_target");

        let unavailable = Error::Unavailable {
            service: Service::IamCredentials,
            attempts: 4,
            failure: Failure::Timeout,
        };
        assert!(unavailable.is_transient() && !unavailable.is_rejected());
        assert_eq!(
            unavailable.to_string(),
            "IAM Credentials failed after 4 attempt(s): the request timed out"
        );
        assert!(unavailable.google().is_none());
        assert!(Error::config("x").is_invalid_configuration());
        assert!(!Error::config("x").is_transient());
        assert!(
            Error::NotConfigured { setting: "s" }.is_not_configured()
                && !Error::NotConfigured { setting: "s" }.is_transient()
        );
    }

    #[test]
    fn failures_say_whether_to_retry() {
        assert!(Failure::Timeout.is_transient());
        assert!(
            Failure::Transport {
                detail: "reset".into()
            }
            .is_transient()
        );
        assert!(Failure::Incomplete { reason: "cut" }.is_transient());
        assert!(!Failure::Google(GoogleError::parse(Service::Sts, 400, b"{}")).is_transient());
    }
}
