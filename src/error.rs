//! Errors of the core crate.
//!
//! Every error is a typed value: callers branch on the variant (or on
//! [`Error::is_not_configured`] and friends), never on message text. No error ever carries a
//! token, a header value or a response body: messages name the *kind* of problem and, where it
//! helps, a path or a field name.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
                crate::limits::MAX_TOKEN_LEN
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
        "local-dev token refresh is not configured for this source (it was built with \
         VercelTokenSourceBuilder::without_refresh)"
    )]
    RefreshNotConfigured,

    /// On Vercel (`VERCEL=1`) the chain found no token and no request header token was in
    /// scope; the local-dev refresh (which needs `vercel link` and a CLI login, neither of which
    /// exists on Vercel) was not tried. Counts as [`Error::is_not_configured`], as the
    /// local-dev refresh's "not linked" did.
    #[error(
        "{}",
        if *in_request {
            "on Vercel (VERCEL=1) this request carries no x-vercel-oidc-token header: turn on \
             OIDC Federation in the project's settings (the local-dev refresh does not apply on Vercel)"
        } else {
            "on Vercel (VERCEL=1) a function's OIDC token arrives in each request's \
             x-vercel-oidc-token header, and this call runs outside any request scope: wrap the \
             service in vercel_oidc::RequestContextLayer (vercel_functions::VercelFunctionsLayer \
             includes it), or run the call inside RequestContext::scope (the local-dev refresh \
             does not apply on Vercel)"
        }
    )]
    NoRequestToken {
        /// Whether a request scope (without a token header) was active.
        in_request: bool,
    },

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

    /// The local-dev refresh (`.vercel/project.json`, the Vercel CLI's login, the mint
    /// call) failed. See [`LocalDevErrorKind`] for each case.
    #[error("local-dev token refresh failed: {kind}")]
    LocalDev {
        /// What went wrong.
        kind: LocalDevErrorKind,
        /// The underlying I/O or transport error, when there is one.
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

/// Which HTTP call of the local-dev refresh failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshStep {
    /// `GET {oauth}/.well-known/openid-configuration`.
    OAuthDiscovery,
    /// The refresh-token grant at the discovered `token_endpoint`.
    OAuthToken,
    /// `POST {api}/v1/projects/<project>/token`.
    Mint,
}

impl fmt::Display for RefreshStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OAuthDiscovery => "the Vercel OAuth discovery document",
            Self::OAuthToken => "the Vercel OAuth token endpoint",
            Self::Mint => "the Vercel API token endpoint",
        })
    }
}

/// How an HTTP call of the local-dev refresh failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpFailure {
    /// The request could not be sent or the response not read (connection, timeout).
    Transport,
    /// A non-success status. `error` is the OAuth `error` code when the body had one that is a
    /// plain code (`invalid_grant`); no other part of the body is kept.
    Status {
        /// The HTTP status.
        status: u16,
        /// The OAuth error code, if any.
        error: Option<String>,
    },
    /// A success status with a body that is not the expected JSON.
    InvalidResponse,
}

/// What went wrong in the local-dev refresh ([`Error::LocalDev`]).
///
/// Messages name paths, settings and IDs, never a token or a response body; where the fix is a
/// Vercel CLI command (`vercel link`, `vercel login`), the message says so.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocalDevErrorKind {
    /// No directory from `start` up to the root holds `.vercel`.
    NotLinked {
        /// Where the search started.
        start: PathBuf,
    },
    /// `.vercel` exists but `.vercel/project.json` does not.
    ProjectFileMissing {
        /// The missing file.
        path: PathBuf,
    },
    /// `.vercel/project.json` is not a JSON object (or not readable).
    ProjectFileInvalid {
        /// The file.
        path: PathBuf,
    },
    /// Neither the options nor `.vercel/project.json` give a project id.
    NoProjectId {
        /// The `project.json` read, if any.
        path: Option<PathBuf>,
    },
    /// A project or team id does not match `^[A-Za-z0-9][A-Za-z0-9._-]*$`; nothing was run or
    /// requested with it.
    InvalidId {
        /// `"project"` or `"team"`.
        what: &'static str,
        /// The rejected value (an id, not a secret).
        value: String,
    },
    /// No home directory (`HOME`, or `USERPROFILE` on Windows) and no override.
    NoHomeDir,
    /// The Vercel CLI is not logged in: no `auth.json`, or one without `token` and
    /// `refreshToken`.
    NotLoggedIn {
        /// The `auth.json` looked at.
        path: PathBuf,
    },
    /// `auth.json` is not a JSON object. It is left as it is.
    AuthFileInvalid {
        /// The file.
        path: PathBuf,
    },
    /// The CLI token is expired and `auth.json` has no refresh token.
    NoRefreshToken {
        /// The file.
        path: PathBuf,
    },
    /// `VERCEL_TOKEN_STORAGE` or `config.json`'s `credStorage` has an unknown value.
    InvalidCredStorage {
        /// Which setting.
        setting: &'static str,
        /// Its value.
        value: String,
    },
    /// An HTTP call failed.
    Http {
        /// Which call.
        step: RefreshStep,
        /// How.
        failure: HttpFailure,
    },
    /// Keyring/DPoP mode needs the `vercel` executable, and it is not on `PATH`.
    CliNotFound,
    /// `vercel project token` could not be started or exited unsuccessfully.
    CliFailed {
        /// Its exit code, when it exited with one.
        code: Option<i32>,
    },
    /// `vercel project token` did not finish in time and was killed.
    CliTimedOut {
        /// The timeout.
        after: Duration,
    },
    /// `vercel project token` did not print JSON with a string `token`.
    CliInvalidOutput,
    /// A file or directory could not be read, written or created.
    Io {
        /// What was being done, e.g. `"write the token cache"`.
        action: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// Another process held the refresh lock for too long.
    LockTimedOut {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        after: Duration,
    },
}

impl fmt::Display for LocalDevErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LINK: &str = "run `vercel link` to link this directory to a Vercel project";
        const LOGIN: &str = "run `vercel login`";
        match self {
            Self::NotLinked { start } => write!(
                f,
                "no `.vercel` directory in {} or any parent directory; {LINK}",
                start.display()
            ),
            Self::ProjectFileMissing { path } => {
                write!(f, "{} does not exist; {LINK}", path.display())
            }
            Self::ProjectFileInvalid { path } => write!(
                f,
                "{} is not a readable JSON object; {LINK}",
                path.display()
            ),
            Self::NoProjectId { path: Some(path) } => write!(
                f,
                "{} has no string `projectId` and no project was given; {LINK}",
                path.display()
            ),
            Self::NoProjectId { path: None } => write!(f, "no project was given; {LINK}"),
            Self::InvalidId { what, value } => {
                write!(f, "{value:?} is not a valid {what} id or name; {LINK}")
            }
            Self::NoHomeDir => f.write_str("cannot find the home directory (HOME is not set)"),
            Self::NotLoggedIn { path } => write!(
                f,
                "the Vercel CLI is not logged in ({} has no token); {LOGIN}",
                path.display()
            ),
            Self::AuthFileInvalid { path } => {
                write!(f, "{} is not a JSON object; {LOGIN}", path.display())
            }
            Self::NoRefreshToken { path } => write!(
                f,
                "the Vercel CLI token in {} is expired and there is no refresh token; {LOGIN}",
                path.display()
            ),
            Self::InvalidCredStorage { setting, value } => write!(
                f,
                "{setting} is {value:?}; expected \"auto\", \"file\" or \"keyring\""
            ),
            Self::Http { step, failure } => match failure {
                HttpFailure::Transport => write!(f, "the request to {step} failed"),
                HttpFailure::InvalidResponse => {
                    write!(f, "the response of {step} is not the expected JSON")
                }
                HttpFailure::Status { status, error } => {
                    write!(f, "{step} answered HTTP {status}")?;
                    if let Some(error) = error {
                        write!(f, " ({error})")?;
                    }
                    let login = matches!(
                        (step, *status, error.as_deref()),
                        (RefreshStep::Mint, 401 | 403, _)
                            | (RefreshStep::OAuthToken, _, Some("invalid_grant"))
                    );
                    if login {
                        write!(f, "; {LOGIN}")?;
                    }
                    Ok(())
                }
            },
            Self::CliNotFound => f.write_str(
                "the Vercel CLI login is in the system keyring and the `vercel` executable is \
                 not on PATH; install the Vercel CLI",
            ),
            Self::CliFailed { code: Some(code) } => {
                write!(f, "`vercel project token` exited with status {code}")
            }
            Self::CliFailed { code: None } => {
                f.write_str("`vercel project token` could not be run or was killed")
            }
            Self::CliTimedOut { after } => write!(
                f,
                "`vercel project token` did not finish within {after:?} and was killed"
            ),
            Self::CliInvalidOutput => {
                f.write_str("`vercel project token` did not print JSON with a string `token`")
            }
            Self::Io { action, path } => write!(f, "could not {action} {}", path.display()),
            Self::LockTimedOut { path, after } => write!(
                f,
                "another process held the refresh lock {} for more than {after:?}",
                path.display()
            ),
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
            Self::NotConfigured { .. } | Self::NoRequestToken { .. } => true,
            // Not in a linked project: local-dev refresh does not apply here.
            Self::LocalDev {
                kind: LocalDevErrorKind::NotLinked { .. },
                ..
            } => true,
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
            Self::LocalDev { kind, .. } => match kind {
                LocalDevErrorKind::Http { failure, .. } => match failure {
                    HttpFailure::Transport => true,
                    HttpFailure::Status { status, .. } => *status == 429 || *status >= 500,
                    HttpFailure::InvalidResponse => false,
                },
                LocalDevErrorKind::CliTimedOut { .. } | LocalDevErrorKind::LockTimedOut { .. } => {
                    true
                }
                _ => false,
            },
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

    #[cfg_attr(not(feature = "local-dev"), allow(dead_code))]
    pub(crate) fn local_dev(kind: LocalDevErrorKind) -> Self {
        Self::LocalDev { kind, source: None }
    }

    #[cfg_attr(not(feature = "local-dev"), allow(dead_code))]
    pub(crate) fn local_dev_with(
        kind: LocalDevErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::LocalDev {
            kind,
            source: Some(Arc::new(source)),
        }
    }

    /// The [`LocalDevErrorKind`] of an [`Error::LocalDev`], also when it is the refresh cause
    /// of an [`Error::Unavailable`].
    pub fn local_dev_kind(&self) -> Option<&LocalDevErrorKind> {
        match self {
            Self::LocalDev { kind, .. } => Some(kind),
            Self::Unavailable { refresh, .. } => refresh.local_dev_kind(),
            _ => None,
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
