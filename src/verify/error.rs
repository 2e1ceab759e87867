//! Errors of the verifier: why a token was rejected, why a key set could not be fetched, and why
//! a [`super::VerifierBuilder`] did not build.
//!
//! No error carries the token, a claim value or a response body: the token is a credential, and
//! claim values and bodies are attacker-controlled text. Errors name the failed check only.

use std::fmt;
use std::sync::Arc;

use crate::error::MalformedTokenReason;

/// A boxed, shareable source error (keeps [`VerifyError`] `Clone`, so one failed key-set fetch
/// can be handed to every request that waited on it).
pub(crate) type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A claim the verifier constrains with a [`super::Constraint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConstrainedClaim {
    /// `project_id` (`prj_…`).
    ProjectId,
    /// `environment` (`production`, `preview`, `development`).
    Environment,
    /// `owner_id` (the team id, `team_…`).
    OwnerId,
}

impl ConstrainedClaim {
    /// The claim's name in the token, e.g. `"project_id"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ProjectId => "project_id",
            Self::Environment => "environment",
            Self::OwnerId => "owner_id",
        }
    }
}

impl fmt::Display for ConstrainedClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a token was rejected by [`super::Verifier::verify`].
///
/// Each failed check has its own variant, so callers (and tests) can tell an expired token from
/// a forged one. `#[non_exhaustive]`: new checks may be added. Messages never contain the token
/// or a claim value.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is longer than the configured maximum; nothing else was looked at.
    #[error("the token is {len} bytes long, more than the limit of {max} bytes")]
    TooLarge {
        /// Length of the rejected token in bytes.
        len: usize,
        /// The configured limit ([`super::VerifierBuilder::max_token_len`]).
        max: usize,
    },

    /// The token is not a compact JWS with a JSON header and a JSON-object payload whose known
    /// claims have the right types.
    #[error("malformed token: {0}")]
    Malformed(MalformedTokenReason),

    /// The header's `alg` is not `RS256` (for example `none`, or `HS256` in an
    /// algorithm-confusion attack).
    #[error("the token's algorithm {} is not allowed; only RS256 is", alg.unwrap_or("(unrecognised)"))]
    DisallowedAlgorithm {
        /// The algorithm, when it is a registered JWA name; `None` for anything else (the
        /// header's text is never echoed).
        alg: Option<&'static str>,
    },

    /// The header lists `crit` extensions; none are supported (RFC 7515 §4.1.11).
    #[error("the token's header has critical extensions, which are not supported")]
    CriticalHeader,

    /// The header has no `kid`: Vercel always names its signing key.
    #[error("the token's header has no key id (kid)")]
    MissingKeyId,

    /// No key in the issuer's key set has the token's `kid`, even after the key set was
    /// refetched (or the refetch cooldown had not passed yet).
    #[error("the token's key id is not in the issuer's key set")]
    UnknownKeyId,

    /// The RS256 signature does not match (forged, tampered with, or signed by another key).
    #[error("the token's signature is invalid")]
    InvalidSignature,

    /// A claim the verifier requires is absent.
    #[error("the token has no `{claim}` claim")]
    MissingClaim {
        /// The claim's name.
        claim: &'static str,
    },

    /// `iss` is not exactly the pinned issuer (or, with
    /// [`ExpectedIssuer::TeamOrGlobal`](super::ExpectedIssuer::TeamOrGlobal), neither of the two).
    #[error("the token's issuer is not the expected issuer")]
    IssuerMismatch,

    /// A token from the global issuer, verified with
    /// [`ExpectedIssuer::TeamOrGlobal`](super::ExpectedIssuer::TeamOrGlobal), whose `owner` is
    /// not the expected team: the global issuer is shared by every team, so its tokens are
    /// pinned to the team by `owner`.
    #[error("the token's team (owner) is not the expected team")]
    TeamMismatch,

    /// `aud` does not contain the expected audience.
    #[error("the token's audience is not the expected audience")]
    AudienceMismatch,

    /// `exp` is in the past by more than the leeway.
    #[error("the token has expired")]
    Expired,

    /// `nbf` is in the future by more than the leeway.
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,

    /// `iat` is in the future by more than the leeway.
    #[error("the token is issued in the future (iat)")]
    IssuedInFuture,

    /// A constrained claim (`project_id`, `environment`, `owner_id`) is absent or not one of
    /// the allowed values.
    #[error("the token's `{claim}` is not allowed")]
    ClaimNotAllowed {
        /// The claim that failed.
        claim: ConstrainedClaim,
    },

    /// The issuer's key set could not be fetched and no keys are cached.
    #[error("the issuer's key set is unavailable: {kind}")]
    KeysUnavailable {
        /// What went wrong.
        kind: JwksErrorKind,
        /// The transport error, when there is one.
        #[source]
        source: Option<Source>,
    },
}

impl VerifyError {
    /// `true` when the token itself is not acceptable (answer `401 Unauthorized`); `false` when
    /// the verifier could not check it because the issuer's key set is unavailable (answer
    /// `503 Service Unavailable`: the caller's token may well be valid).
    ///
    /// This is the split `@vercel/oidc` makes with its `ERR_VERCEL_OIDC_TOKEN_VALIDATION` code.
    /// [`VerifyLayer`](super::VerifyLayer) and the axum extractor answer exactly this way.
    ///
    /// ```
    /// use vercel_oidc::verify::VerifyError;
    /// assert!(VerifyError::Expired.is_rejection());
    /// assert!(VerifyError::InvalidSignature.is_rejection());
    /// ```
    pub fn is_rejection(&self) -> bool {
        !matches!(self, Self::KeysUnavailable { .. })
    }

    /// The HTTP status a receiving API answers with: `401` for a [rejection](Self::is_rejection),
    /// `503` when the token could not be checked.
    ///
    /// ```
    /// use vercel_oidc::verify::VerifyError;
    /// assert_eq!(VerifyError::UnknownKeyId.http_status(), http::StatusCode::UNAUTHORIZED);
    /// ```
    pub fn http_status(&self) -> http::StatusCode {
        if self.is_rejection() {
            http::StatusCode::UNAUTHORIZED
        } else {
            http::StatusCode::SERVICE_UNAVAILABLE
        }
    }

    /// `true` when the failure is on the verifier's side (the key set could not be fetched),
    /// not a problem with the token, and retrying later may succeed (a transport error, `429`
    /// or a `5xx`). Every transient error is also not a [rejection](Self::is_rejection).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::KeysUnavailable { kind, .. } => kind.is_transient(),
            _ => false,
        }
    }
}

/// Why the key set (`{issuer}/.well-known/jwks`) could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksErrorKind {
    /// The request could not be sent or the response not read (connection, timeout).
    Transport,
    /// The issuer answered with a status other than 200.
    Status(u16),
    /// The response is not a JSON key set, or it is larger than the limit.
    InvalidResponse,
    /// The key set holds no usable RS256 signing key (RSA, at least 2048 bits, with a `kid`).
    NoUsableKeys,
}

impl JwksErrorKind {
    fn is_transient(&self) -> bool {
        match self {
            Self::Transport => true,
            Self::Status(s) => *s == 429 || *s >= 500,
            Self::InvalidResponse | Self::NoUsableKeys => false,
        }
    }
}

impl fmt::Display for JwksErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport => f.write_str("the request to the issuer failed"),
            Self::Status(s) => write!(f, "the issuer answered HTTP {s}"),
            Self::InvalidResponse => f.write_str("the issuer's response is not a JSON key set"),
            Self::NoUsableKeys => f.write_str("the key set has no usable RS256 key"),
        }
    }
}

/// Why a [`super::VerifierBuilder`] did not build.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum VerifierConfigError {
    /// A constraint was never decided. Every constrained claim needs a value, a list, or an
    /// explicit [`super::Constraint::Any`]: there is no implicit "any".
    #[error("no decision for `{claim}`: set it to a value, a list, or Constraint::Any explicitly")]
    Undecided {
        /// The claim without a decision.
        claim: ConstrainedClaim,
    },

    /// A constraint is an empty list (which no token could satisfy) or has an empty value.
    #[error("the list of allowed `{claim}` values is empty or has an empty value")]
    EmptyConstraint {
        /// The claim with the empty list.
        claim: ConstrainedClaim,
    },

    /// [`super::VerifierBuilder::defaults_from_env`] was asked for a constraint, and its
    /// variable is unset or empty.
    #[error(
        "{variable} is not set: set it, or decide `{claim}` explicitly (a value, a list, or Constraint::Any)"
    )]
    MissingEnv {
        /// The variable(s) read, e.g. `"VERCEL_PROJECT_ID"`.
        variable: &'static str,
        /// The claim it would have decided.
        claim: ConstrainedClaim,
    },

    /// The expected audience is empty.
    #[error("the expected audience is empty")]
    EmptyAudience,

    /// The team slug is empty or not a single URL path segment.
    #[error("the team slug must be a non-empty URL path segment of [A-Za-z0-9._-]")]
    InvalidTeamSlug,

    /// The issuer base URL is not usable.
    #[error("the issuer base URL is invalid: {reason}")]
    InvalidIssuerUrl {
        /// What is wrong with it (never the URL's query or credentials).
        reason: &'static str,
    },

    /// A numeric setting is out of range.
    #[error("invalid setting `{setting}`: {reason}")]
    InvalidSetting {
        /// The builder method's name.
        setting: &'static str,
        /// What is wrong.
        reason: &'static str,
    },

    /// The HTTP client could not be built (for example an unreadable `VERCEL_OIDC_CA_FILE`).
    #[error("cannot set up the HTTP client for the key set")]
    Client(#[source] crate::Error),
}
