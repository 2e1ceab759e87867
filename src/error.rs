//! Errors of the core crate.
//!
//! Every error is a typed value: callers branch on the variant (or on
//! [`Error::is_not_configured`] and friends), never on message text. No error ever carries a
//! token, a header value or a response body: messages name the *kind* of problem and, where it
//! helps, a path or a field name.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Boxed, shareable source error. `Arc` keeps [`Error`] `Clone`, so one failed load can be
/// handed to every caller that shared it.
pub(crate) type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a string is not a usable JWT. Never includes the token text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedTokenReason {
    /// The token is empty (or only whitespace).
    Empty,
    /// The token is longer than [`crate::MAX_TOKEN_LEN`] bytes.
    TooLong {
        /// Length of the rejected input in bytes.
        len: usize,
    },
    /// A compact JWS has exactly three `.`-separated parts.
    WrongPartCount {
        /// How many parts the input had.
        parts: usize,
    },
    /// A part is not valid unpadded base64url.
    NotBase64Url {
        /// Which part: `"header"`, `"payload"` or `"signature"`.
        part: &'static str,
    },
    /// The header or payload is not JSON.
    NotJson {
        /// Which part: `"header"` or `"payload"`.
        part: &'static str,
    },
    /// The header or payload is JSON but not an object.
    NotAnObject {
        /// Which part: `"header"` or `"payload"`.
        part: &'static str,
    },
    /// A registered or Vercel claim has the wrong JSON type.
    InvalidClaim {
        /// The claim's name, e.g. `"exp"`.
        claim: &'static str,
        /// What was expected, e.g. `"a number"`.
        expected: &'static str,
    },
}

impl fmt::Display for MalformedTokenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the token is empty"),
            Self::TooLong { len } => write!(
                f,
                "the token is {len} bytes long, more than the limit of {} bytes",
                crate::MAX_TOKEN_LEN
            ),
            Self::WrongPartCount { parts } => {
                write!(f, "a JWT has 3 dot-separated parts, this one has {parts}")
            }
            Self::NotBase64Url { part } => write!(f, "the {part} is not base64url"),
            Self::NotJson { part } => write!(f, "the {part} is not JSON"),
            Self::NotAnObject { part } => write!(f, "the {part} is not a JSON object"),
            Self::InvalidClaim { claim, expected } => {
                write!(f, "claim `{claim}` should be {expected}")
            }
        }
    }
}

/// Where a token was looked for or came from, for error messages and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenOrigin {
    /// The request context's `x-vercel-oidc-token` / `x-vercel-internal-oidc-token` header.
    RequestHeader,
    /// The process-wide slot holding the freshest header token seen by the layer.
    ProcessSlot,
    /// The file named by `VERCEL_OIDC_TOKEN_FILE` (or a [`crate::FileTokenSource`]).
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A fixed token given in code.
    Fixed,
    /// The local-dev refresh.
    Refresh,
    /// A user-supplied source.
    Custom,
}

impl fmt::Display for TokenOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RequestHeader => f.write_str("the request's x-vercel-oidc-token header"),
            Self::ProcessSlot => f.write_str("the last request's x-vercel-oidc-token header"),
            Self::File(p) => write!(f, "the file {}", p.display()),
            Self::Env(name) => write!(f, "the environment variable {name}"),
            Self::Fixed => f.write_str("a fixed token"),
            Self::Refresh => f.write_str("the local-dev refresh"),
            Self::Custom => f.write_str("a custom token source"),
        }
    }
}

/// What the Vercel chain found before it tried to refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lookup {
    /// No source had a token.
    NotFound,
    /// A token was found but it is expired (or expires within the buffer).
    Expired(TokenOrigin),
}

impl fmt::Display for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str(
                "no token in the request context, VERCEL_OIDC_TOKEN_FILE or VERCEL_OIDC_TOKEN",
            ),
            Self::Expired(origin) => write!(f, "the token from {origin} is expired"),
        }
    }
}

/// The error type of the core crate.
///
/// `#[non_exhaustive]`: new variants may be added. `Display` describes this error only; the
/// cause, when there is one, is returned by [`std::error::Error::source`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not a well-formed JWT (or its claims have the wrong types).
    #[error("malformed OIDC token: {0}")]
    MalformedToken(MalformedTokenReason),

    /// The source has nothing to offer (no header, env var unset, …). A
    /// [`crate::ChainTokenSource`] moves on to its next source only on this error.
    #[error("no token from {origin}")]
    NotConfigured {
        /// The source that had nothing.
        origin: TokenOrigin,
    },

    /// The token file does not exist.
    #[error("OIDC token file {} does not exist", path.display())]
    TokenFileMissing {
        /// The file's path.
        path: PathBuf,
    },

    /// The token file is empty (after trimming whitespace).
    #[error("OIDC token file {} is empty", path.display())]
    TokenFileEmpty {
        /// The file's path.
        path: PathBuf,
    },

    /// The token file could not be read.
    #[error("could not read OIDC token file {}", path.display())]
    TokenFileUnreadable {
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// The token was read from `origin` but could not be parsed.
    #[error("the token from {origin} is malformed")]
    InvalidTokenFrom {
        /// Where the token came from.
        origin: TokenOrigin,
        /// Why it is malformed ([`Error::MalformedToken`]).
        #[source]
        source: Box<Error>,
    },

    /// The token is expired (or expires within the requested buffer) and no refresh applies.
    #[error("the token from {origin} is expired")]
    Expired {
        /// Where the token came from.
        origin: TokenOrigin,
    },

    /// Local-dev refresh is not configured for this source.
    #[error(
        "local-dev token refresh is not configured (install a refresh hook with \
         VercelTokenSource::builder().refresher(..))"
    )]
    RefreshNotConfigured,

    /// The Vercel chain found no usable token and the refresh failed.
    #[error("no valid Vercel OIDC token: {lookup}, and refreshing failed")]
    Unavailable {
        /// What the lookup found.
        lookup: Lookup,
        /// Why the refresh failed.
        #[source]
        refresh: Box<Error>,
    },

    /// The audience exchange (`POST {issuer}/~token`) failed.
    #[error("audience exchange failed: {kind}")]
    Exchange {
        /// What went wrong.
        kind: ExchangeErrorKind,
        /// The underlying transport error, when there is one.
        #[source]
        source: Option<Source>,
    },

    /// A configuration value is invalid (bad URL, unreadable CA file, …).
    #[error("invalid configuration: {message}")]
    InvalidConfiguration {
        /// What is wrong; names the setting, never a secret.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Source>,
    },

    /// A user-supplied source or hook failed.
    #[error("token source failed: {message}")]
    Other {
        /// What failed.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Source>,
    },
}

/// What went wrong in an audience exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExchangeErrorKind {
    /// The request could not be sent or the response not read (connection, timeout).
    Transport,
    /// The issuer answered with a non-success status.
    Status(u16),
    /// The response was not the expected JSON (`{"token": string, "expiry"?: number}`).
    InvalidResponse,
}

impl fmt::Display for ExchangeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport => f.write_str("the request to the issuer failed"),
            Self::Status(s) => write!(f, "the issuer answered HTTP {s}"),
            Self::InvalidResponse => f.write_str("the issuer's response is not a token"),
        }
    }
}

impl Error {
    /// `true` when the source simply has no token (a chain moves on).
    ///
    /// Also `true` for [`Error::Unavailable`] when no token was found and no refresh is
    /// configured: nothing is wrong, there is just no Vercel token here.
    pub fn is_not_configured(&self) -> bool {
        match self {
            Self::NotConfigured { .. } => true,
            Self::Unavailable {
                lookup: Lookup::NotFound,
                refresh,
            } => matches!(**refresh, Self::RefreshNotConfigured) || refresh.is_not_configured(),
            _ => false,
        }
    }

    /// `true` for failures that may succeed when retried (network, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Exchange { kind, .. } => match kind {
                ExchangeErrorKind::Transport => true,
                ExchangeErrorKind::Status(s) => *s == 429 || *s >= 500,
                ExchangeErrorKind::InvalidResponse => false,
            },
            Self::Unavailable { refresh, .. } => refresh.is_transient(),
            Self::TokenFileUnreadable { .. } => true,
            _ => false,
        }
    }

    /// `true` when the configuration is wrong and retrying will not help.
    pub fn is_invalid_configuration(&self) -> bool {
        matches!(self, Self::InvalidConfiguration { .. })
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::InvalidConfiguration {
            message: message.into(),
            source: None,
        }
    }

    /// An [`Error::Other`] for use by custom sources and hooks.
    pub fn other(
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::Other {
            message: message.into(),
            source: source.map(Arc::from),
        }
    }
}
