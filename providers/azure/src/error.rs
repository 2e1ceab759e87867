//! Errors of the Azure credential.
//!
//! [`Error`] is what [`AzureCredential`](crate::AzureCredential)'s builder returns and what its
//! `get_token` wraps in an `azure_core::Error` of kind `Credential` (get it back with
//! `azure_core::Error::downcast_ref::<vercel_oidc_azure::Error>()`). [`EntraError`] keeps what
//! Entra ID said: the HTTP status, the AADSTS code(s), `error`, the description and the trace
//! and correlation ids. No error ever holds the assertion, an access token or a response body.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A shareable source error (`Arc` keeps [`Error`] `Clone`, so one failed load can be handed to
/// every caller that shared it).
pub(crate) type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The error type of this crate.
///
/// `#[non_exhaustive]`: new variants may be added. `Display` describes this error only; the
/// cause, when there is one, is returned by [`std::error::Error::source`]. Callers branch on
/// [`Error::is_not_configured`], [`Error::is_invalid_configuration`], [`Error::is_rejected`],
/// [`Error::is_transient`] and [`Error::is_timed_out`], or on [`Error::entra`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required setting is missing (e.g. `AZURE_TENANT_ID` unset and no tenant given).
    #[error("the Azure credential is not configured: {setting} is not set")]
    NotConfigured {
        /// The missing setting and its env var, e.g. `"the tenant id (AZURE_TENANT_ID)"`.
        setting: &'static str,
    },

    /// A setting is invalid (a tenant id with forbidden characters, an unreadable
    /// `VERCEL_OIDC_CA_FILE`, no scopes, …).
    #[error("invalid Azure credential configuration: {message}")]
    InvalidConfiguration {
        /// What is wrong; names the setting, never a secret.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Source>,
    },

    /// The Entra ID authority host is refused: it must be `https` (or `http` on a loopback host:
    /// `localhost`, `127.0.0.0/8`, `[::1]`), without user info, query or fragment. The message
    /// shows the URL with any user info redacted.
    #[error(
        "invalid Azure credential configuration: the authority host {:?} {}",
        .0.redacted_url(),
        .0.reason()
    )]
    InvalidAuthority(vercel_oidc::InvalidEndpointUrl),

    /// The token source could not provide a Vercel OIDC token to use as the client assertion.
    #[error("no client assertion: the Vercel OIDC token source failed")]
    TokenSource(#[source] vercel_oidc::Error),

    /// The client assertion is expired or expires within the margin, and the token source had
    /// no fresher one. It was **not** sent to Entra ID (which would answer `AADSTS700024`).
    #[error(
        "the client assertion (Vercel OIDC token) expires within {margin:?} or has no `exp`; \
         it was not sent to Entra ID"
    )]
    AssertionExpired {
        /// The margin the assertion must outlive.
        margin: Duration,
        /// The assertion's `exp`, if it has one.
        expires_at: Option<SystemTime>,
    },

    /// Entra ID answered with an error (see [`EntraError`]; its `Display` names the AADSTS code).
    #[error("{0}")]
    Entra(Box<EntraError>),

    /// The request to Entra ID could not be sent or its response not read.
    #[error("the request to Entra ID failed (connection or I/O)")]
    Transport(#[source] Source),

    /// Entra ID answered `2xx` with something that is not a token.
    #[error("Entra ID's response (HTTP {status}) is not a token: {reason}")]
    InvalidResponse {
        /// The HTTP status.
        status: u16,
        /// What is wrong with it (never the body itself).
        reason: &'static str,
    },

    /// Entra ID issued a token that is already expired when it arrived.
    #[error("Entra ID issued an access token that is already expired (expires_in {expires_in} s)")]
    TokenExpired {
        /// The `expires_in` Entra ID sent.
        expires_in: i64,
    },

    /// The token load panicked (a bug in this crate or in a token source); the next call loads
    /// again.
    #[error("the Entra ID token load panicked (a bug); the next call loads again")]
    LoadPanicked,

    /// The token request did not finish within the credential's retry budget.
    #[error("the token request to Entra ID did not complete within {budget:?}")]
    TimedOut {
        /// The budget.
        budget: Duration,
        /// The last error before the budget ran out, if an attempt failed.
        #[source]
        last: Option<Box<Error>>,
    },
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

    /// `true` when a required setting is missing (a chain of credentials may move on).
    pub fn is_not_configured(&self) -> bool {
        match self {
            Self::NotConfigured { .. } => true,
            Self::TokenSource(e) => e.is_not_configured(),
            _ => false,
        }
    }

    /// `true` when a setting is wrong and retrying will not help.
    pub fn is_invalid_configuration(&self) -> bool {
        match self {
            Self::InvalidConfiguration { .. } | Self::InvalidAuthority(_) => true,
            Self::TokenSource(e) => e.is_invalid_configuration(),
            _ => false,
        }
    }

    /// `true` when Entra ID rejected the request for good (a 4xx other than 408/429): a
    /// misconfigured federated credential, an unknown client, an expired assertion …
    pub fn is_rejected(&self) -> bool {
        matches!(self, Self::Entra(e) if !e.is_transient())
    }

    /// `true` for failures that may succeed when retried: connection errors, 408, 429, 5xx,
    /// a garbled response, a transient token-source failure.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Entra(e) => e.is_transient(),
            Self::Transport(_) | Self::InvalidResponse { .. } | Self::TimedOut { .. } => true,
            Self::TokenSource(e) => e.is_transient(),
            _ => false,
        }
    }

    /// `true` when the retry budget ran out.
    pub fn is_timed_out(&self) -> bool {
        matches!(self, Self::TimedOut { .. })
    }

    /// What Entra ID said, when this error is its answer (or the last answer before a time-out).
    pub fn entra(&self) -> Option<&EntraError> {
        match self {
            Self::Entra(e) => Some(e),
            Self::TimedOut {
                last: Some(last), ..
            } => last.entra(),
            _ => None,
        }
    }

    /// The first AADSTS code Entra ID answered with, if any.
    pub fn aadsts_code(&self) -> Option<u32> {
        self.entra().and_then(EntraError::code)
    }
}

impl From<vercel_oidc::cache::LoadPanicked> for Error {
    fn from(_: vercel_oidc::cache::LoadPanicked) -> Self {
        Self::LoadPanicked
    }
}

impl From<Error> for azure_core::Error {
    fn from(error: Error) -> Self {
        azure_core::Error::new(azure_core::error::ErrorKind::Credential, error)
    }
}

/// An error answer from Entra ID's token endpoint.
///
/// Parsed leniently from `{"error", "error_description", "error_codes", "timestamp",
/// "trace_id", "correlation_id", "error_uri"}`: every field is optional, escapes such as `\r\n`
/// in the description are fine, and AADSTS codes are also read from the description when
/// `error_codes` is missing. A body that is not such JSON leaves the fields empty; the body
/// itself is never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraError {
    pub(crate) status: u16,
    pub(crate) codes: Vec<u32>,
    pub(crate) error: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) trace_id: Option<String>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) timestamp: Option<String>,
    pub(crate) error_uri: Option<String>,
    pub(crate) retry_after: Option<Duration>,
    /// The likely cause and fix, from the codes and the assertion's claims.
    pub(crate) explanation: Option<Box<crate::Explanation>>,
}

/// AADSTS codes that retrying cannot fix: the assertion is malformed (`50027`), no federated
/// credential matches it (`70021`, `700211`, `700213`) or it expired (`700024`). `700024` is retried once with a fresh
/// assertion before it counts as permanent.
pub(crate) const PERMANENT_CODES: &[u32] = &[50027, 70021, 700024, 700211, 700213];

/// AADSTS codes worth retrying whatever the HTTP status: `50166`, the request to the external
/// OIDC issuer (its key set) failed.
const TRANSIENT_CODES: &[u32] = &[50166];

impl EntraError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first AADSTS code, e.g. `700213`.
    pub fn code(&self) -> Option<u32> {
        self.codes.first().copied()
    }

    /// Every AADSTS code Entra ID sent (`error_codes`).
    pub fn codes(&self) -> &[u32] {
        &self.codes
    }

    /// The OAuth `error`, e.g. `invalid_request`.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Entra ID's `error_description`, as sent (it usually starts with `AADSTS<code>:` and
    /// carries `\r\n`-separated trace lines). It may quote the assertion's `iss`, `sub` and
    /// `aud`, never the assertion itself.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// `trace_id`, for a support request.
    pub fn trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref()
    }

    /// `correlation_id`, for a support request.
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }

    /// `timestamp`, as sent.
    pub fn timestamp(&self) -> Option<&str> {
        self.timestamp.as_deref()
    }

    /// `error_uri`, as sent.
    pub fn error_uri(&self) -> Option<&str> {
        self.error_uri.as_deref()
    }

    /// The `Retry-After` (or `retry-after-ms`) Entra ID asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// `true` for 408, 429 and 5xx answers that carry no permanent AADSTS code, and for
    /// `AADSTS50166` (Entra ID could not reach the issuer's keys: the IdP side failed, as with
    /// STS's `IDPCommunicationError`, whatever the status).
    pub fn is_transient(&self) -> bool {
        let transient_status = matches!(self.status, 408 | 429) || self.status >= 500;
        let idp_unreachable = self.codes.iter().any(|c| TRANSIENT_CODES.contains(c));
        (transient_status || idp_unreachable) && !self.is_permanent()
    }

    /// `true` when an AADSTS code says retrying cannot help (`50027`, `70021`, `700024`,
    /// `700211`, `700213`).
    pub fn is_permanent(&self) -> bool {
        self.codes.iter().any(|c| PERMANENT_CODES.contains(c))
    }

    /// A short explanation of the codes this crate knows.
    /// The likely cause and its fix, naming the claim and value the federated credential must
    /// match (see [`explain_entra_error`](crate::explain_entra_error)), when the codes point at
    /// the trust.
    pub fn explanation(&self) -> Option<&crate::Explanation> {
        self.explanation.as_deref()
    }

    fn hint(&self) -> Option<&'static str> {
        Some(match self.code()? {
            700024 => "the client assertion is expired or not yet valid",
            700211 => "no federated identity credential matches the assertion's issuer",
            700213 => "no federated identity credential matches the assertion's subject",
            700212 => "no federated identity credential matches the assertion's audience",
            70021 => {
                "no federated identity credential matches the assertion (issuer, subject and \
                 audience must match exactly)"
            }
            50027 => "the client assertion is not a valid JWT",
            700027 => "the client assertion's signature could not be verified",
            50166 => "Entra ID could not fetch the issuer's keys",
            700016 => "the client id is not an application in this tenant",
            90002 => "the tenant does not exist",
            50196 | 50197 => "too many requests",
            _ => return None,
        })
    }
}

impl fmt::Display for EntraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Entra ID rejected the token request")?;
        match self.code() {
            Some(code) => write!(f, " with AADSTS{code}")?,
            None => f.write_str(" (no AADSTS code)")?,
        }
        write!(f, " (HTTP {}", self.status)?;
        if let Some(error) = &self.error {
            write!(f, ", {}", printable(error))?;
        }
        f.write_str(")")?;
        match (&self.explanation, self.hint()) {
            (Some(why), _) => write!(f, ": likely cause ({}): {why}", why.mismatch)?,
            (None, Some(hint)) => write!(f, ": {hint}")?,
            (None, None) => {}
        }
        if let Some(trace) = &self.trace_id {
            write!(f, " [trace id {}]", printable(trace))?;
        }
        Ok(())
    }
}

impl std::error::Error for EntraError {}

/// At most 100 printable characters of a server-sent string, for messages.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(100).collect()
}

/// Parses an Entra error body. Never fails: unknown shapes give empty fields.
pub(crate) fn parse_entra_error(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> EntraError {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Body {
        error: Option<String>,
        error_description: Option<String>,
        error_codes: Option<Vec<serde_json::Value>>,
        timestamp: Option<String>,
        trace_id: Option<String>,
        correlation_id: Option<String>,
        error_uri: Option<String>,
    }
    let parsed: Body = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(object @ serde_json::Value::Object(_)) => {
            serde_json::from_value(object).unwrap_or_default()
        }
        _ => Body::default(),
    };
    let mut codes: Vec<u32> = parsed
        .error_codes
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.as_u64().and_then(|c| u32::try_from(c).ok()))
        .collect();
    if codes.is_empty()
        && let Some(code) = parsed.error_description.as_deref().and_then(code_in_text)
    {
        codes.push(code);
    }
    EntraError {
        status,
        codes,
        error: parsed.error,
        description: parsed.error_description,
        trace_id: parsed.trace_id,
        correlation_id: parsed.correlation_id,
        timestamp: parsed.timestamp,
        error_uri: parsed.error_uri,
        retry_after,
        explanation: None,
    }
}

/// The number after the first `AADSTS` in `text`.
fn code_in_text(text: &str) -> Option<u32> {
    let rest = &text[text.find("AADSTS")? + "AADSTS".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MICROSOFT_SAMPLE: &str = r#"{"error":"invalid_client","error_description":"AADSTS700213: No matching federated identity record found for presented assertion subject 'owner:acme:project:web:environment:preview'.\r\nTrace ID: 0f6a3b4c-1111-2222-3333-444455556666\r\nCorrelation ID: 9e8d7c6b-aaaa-bbbb-cccc-ddddeeeeffff\r\nTimestamp: 2026-11-24 21:13:10Z","error_codes":[700213],"timestamp":"2026-11-24 21:13:10Z","trace_id":"0f6a3b4c-1111-2222-3333-444455556666","correlation_id":"9e8d7c6b-aaaa-bbbb-cccc-ddddeeeeffff","error_uri":"https://login.microsoftonline.com/error?code=700213"}"#;

    #[test]
    fn escaped_descriptions_keep_code_status_and_ids() {
        let e = parse_entra_error(400, MICROSOFT_SAMPLE.as_bytes(), None);
        assert_eq!(e.status(), 400);
        assert_eq!(e.codes(), &[700213]);
        assert_eq!(e.error(), Some("invalid_client"));
        assert!(e.description().is_some_and(|d| d.contains("\r\nTrace ID")));
        assert_eq!(e.trace_id(), Some("0f6a3b4c-1111-2222-3333-444455556666"));
        assert_eq!(
            e.correlation_id(),
            Some("9e8d7c6b-aaaa-bbbb-cccc-ddddeeeeffff")
        );
        assert!(e.is_permanent() && !e.is_transient());
        let shown = Error::Entra(Box::new(e)).to_string();
        assert!(shown.contains("AADSTS700213"), "{shown}");
        assert!(shown.contains("HTTP 400"), "{shown}");
        assert!(!shown.contains('\r'), "{shown}");
    }

    #[test]
    fn codes_fall_back_to_the_description_and_garbage_is_empty() {
        let body = br#"{"error":"invalid_request","error_description":"AADSTS70021: No matching federated identity record"}"#;
        assert_eq!(parse_entra_error(400, body, None).code(), Some(70021));
        let garbage = parse_entra_error(503, b"<html>upstream", Some(Duration::from_secs(3)));
        assert_eq!(garbage.code(), None);
        assert!(garbage.is_transient());
        assert_eq!(garbage.retry_after(), Some(Duration::from_secs(3)));
        assert!(garbage.to_string().contains("no AADSTS code"));
        let array = parse_entra_error(400, b"[1,2]", None);
        assert_eq!(array.error(), None);
    }

    #[test]
    fn categories() {
        let throttled = parse_entra_error(429, br#"{"error_codes":[50196]}"#, None);
        assert!(Error::Entra(Box::new(throttled)).is_transient());
        let idp = parse_entra_error(400, br#"{"error_codes":[50166]}"#, None);
        assert!(
            idp.is_transient(),
            "the issuer's keys were unreachable: retry"
        );
        let expired = parse_entra_error(400, br#"{"error_codes":[700024]}"#, None);
        let expired = Error::Entra(Box::new(expired));
        assert!(expired.is_rejected() && !expired.is_transient());
        assert_eq!(expired.aadsts_code(), Some(700024));
        let missing = Error::NotConfigured {
            setting: "the tenant id (AZURE_TENANT_ID)",
        };
        assert!(missing.is_not_configured());
        let azure: azure_core::Error = missing.into();
        assert_eq!(azure.kind(), &azure_core::error::ErrorKind::Credential);
        assert!(azure.downcast_ref::<Error>().is_some());
    }
}
