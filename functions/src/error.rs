//! Errors of this crate, one enum per job.
//!
//! No error carries a token, a header value, a cached value or a response body: messages name
//! the kind of problem and the setting to change. `Display` describes the error itself; the cause,
//! when there is one, is [`std::error::Error::source`].

use std::sync::Arc;
use std::time::Duration;

/// A boxed, shareable cause.
pub(crate) type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why [`crate::wait_until`] could not run a future.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitUntilError {
    /// Called outside any request and outside a tokio runtime: there is nothing to run the
    /// future on. The future was dropped (and a warning logged).
    #[error(
        "wait_until was called outside a request and outside a tokio runtime; the future was not run"
    )]
    NoRuntime,
}

/// Why a cache tag was refused (by [`crate::add_cache_tag`] or a Runtime Cache call).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagError {
    /// The tag is empty.
    #[error("a cache tag must not be empty")]
    Empty,
    /// The tag is longer than [`crate::MAX_TAG_LEN`] bytes.
    #[error("a cache tag is {len} bytes long, more than the limit of {limit} bytes")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The tag holds a comma (the separator of tag lists) or a character that is not visible
    /// ASCII (a header value cannot carry it).
    #[error("a cache tag may hold visible ASCII characters other than `,` only")]
    InvalidCharacter,
    /// More than [`crate::MAX_TAGS`] tags.
    #[error("{count} cache tags, more than the limit of {limit}")]
    TooMany {
        /// How many were given.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// [`crate::add_cache_tag`] was called outside a request served behind
    /// [`crate::VercelFunctionsLayer`]: there is no response to tag.
    #[error(
        "add_cache_tag was called outside a request served behind VercelFunctionsLayer; there is no response to tag"
    )]
    OutsideRequest,
}

/// What went wrong in a Runtime Cache call ([`crate::RuntimeCache`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// An environment variable of the Runtime Cache is set but unusable.
    #[error("invalid Runtime Cache configuration: {setting} {reason}")]
    InvalidConfiguration {
        /// The variable, e.g. `RUNTIME_CACHE_HEADERS`.
        setting: &'static str,
        /// What is wrong with it (never its value).
        reason: &'static str,
    },
    /// The key (after the namespace and hash) cannot be put in the endpoint URL.
    #[error("invalid Runtime Cache key: {reason}")]
    InvalidKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A tag of `set` or `expire_tag` is not acceptable.
    #[error("invalid Runtime Cache tag")]
    InvalidTag(#[source] TagError),
    /// The value's JSON is larger than [`crate::MAX_ITEM_SIZE`]; nothing was sent.
    #[error(
        "the value is {size} bytes as JSON, more than the Runtime Cache limit of {limit} bytes"
    )]
    ItemTooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The value could not be turned into JSON.
    #[error("the value cannot be serialized to JSON")]
    Serialize(#[source] Source),
    /// The cached JSON does not have the type asked for (`get::<T>`).
    #[error(
        "the cached value is not a {type_name} (JSON {category} error at line {line}, column {column})"
    )]
    Deserialize {
        /// The type asked for.
        type_name: &'static str,
        /// serde_json's category: `data`, `syntax`, `eof` or `io`.
        category: &'static str,
        /// Where in the JSON.
        line: usize,
        /// Where in the JSON.
        column: usize,
    },
    /// The request could not be sent or the response not read.
    #[error("the request to the Runtime Cache failed")]
    Transport(#[source] Source),
    /// No complete answer within the timeout (`RUNTIME_CACHE_TIMEOUT`, default 500 ms).
    #[error("the Runtime Cache did not answer within {after:?}")]
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// The Runtime Cache answered with an unexpected status.
    #[error("the Runtime Cache answered HTTP {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// A response body larger than the item limit.
    #[error("the Runtime Cache's response is larger than {limit} bytes")]
    ResponseTooLarge {
        /// The cap.
        limit: usize,
    },
}

impl CacheError {
    /// `true` for failures that may succeed when retried (transport, timeout, 5xx, 429).
    ///
    /// ```
    /// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let cache = RuntimeCache::new(CacheOptions::default()).configure(&config);
    /// let bad = SetOptions { tags: vec!["a,b".to_owned()], ..SetOptions::default() };
    /// let error = cache.set("k", &1, bad).await.expect_err("a comma in a tag");
    /// assert!(!error.is_transient()); // retrying will not help
    /// # }
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) | Self::TimedOut { .. } => true,
            Self::Status { status } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// What went wrong in a purge call ([`crate::invalidate_by_tag`] and friends).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PurgeError {
    /// No project: none given, `VERCEL_PROJECT_ID` unset, no `.vercel/project.json`.
    #[error(
        "no Vercel project to purge: set VERCEL_PROJECT_ID, pass PurgeOptions::project, or run `vercel link`"
    )]
    MissingProject,
    /// No token for the Vercel REST API.
    #[error(
        "no Vercel API token: set VERCEL_TOKEN or pass PurgeOptions::token{}",
        if *local_dev { " (or run `vercel login`)" } else { "" }
    )]
    MissingToken {
        /// Whether the Vercel CLI's login was looked for (local development).
        local_dev: bool,
        /// Why the CLI login could not be used, when it was looked for.
        #[source]
        cli: Option<vercel_oidc::Error>,
    },
    /// A setting is unusable (a URL off the policy, an unreadable `project.json`).
    #[error("invalid purge configuration: {message}")]
    InvalidConfiguration {
        /// What is wrong; names the setting, never a secret.
        message: String,
    },
    /// An argument is unusable (no tags, an empty or too long tag or image URL).
    #[error("invalid purge request: {reason}")]
    InvalidInput {
        /// What is wrong.
        reason: String,
    },
    /// The request could not be sent or the response not read.
    #[error("the request to the Vercel API failed")]
    Transport(#[source] Source),
    /// The Vercel API answered with a non-success status.
    #[error("the Vercel API answered HTTP {status}{}", hint(*status))]
    Status {
        /// The HTTP status.
        status: u16,
    },
}

fn hint(status: u16) -> &'static str {
    match status {
        401 => " (the token is not valid)",
        403 => " (the token may not purge this project's cache)",
        404 => " (no such project for this token and team)",
        _ => "",
    }
}

impl PurgeError {
    /// `true` when the configuration is missing or wrong and retrying will not help.
    ///
    /// ```
    /// use vercel_functions::{PurgeOptions, invalidate_by_tag};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // No project anywhere: a configuration error, and nothing is sent.
    /// let dir = std::env::temp_dir().join("vercel-functions-doc-no-project");
    /// let config = OidcConfig::new().with_env(Env::from_pairs([("VERCEL_TOKEN", "t")]));
    /// let options = PurgeOptions::new().configure(&config).start_dir(&dir);
    /// let error = invalidate_by_tag(&["products"], &options).await.expect_err("no project");
    /// assert!(error.is_configuration());
    /// assert!(!error.is_transient());
    /// # }
    /// ```
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::MissingProject | Self::MissingToken { .. } | Self::InvalidConfiguration { .. }
        )
    }

    /// `true` for failures that may succeed when retried (transport, 5xx, 429).
    ///
    /// ```
    /// use vercel_functions::{PurgeOptions, invalidate_by_tag};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // No project anywhere: a configuration error, and nothing is sent.
    /// let dir = std::env::temp_dir().join("vercel-functions-doc-no-project");
    /// let config = OidcConfig::new().with_env(Env::from_pairs([("VERCEL_TOKEN", "t")]));
    /// let options = PurgeOptions::new().configure(&config).start_dir(&dir);
    /// let error = invalidate_by_tag(&["products"], &options).await.expect_err("no project");
    /// assert!(error.is_configuration());
    /// assert!(!error.is_transient());
    /// # }
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status { status } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_to_set() {
        assert_eq!(
            PurgeError::MissingToken {
                local_dev: true,
                cli: None
            }
            .to_string(),
            "no Vercel API token: set VERCEL_TOKEN or pass PurgeOptions::token (or run `vercel login`)"
        );
        assert_eq!(
            PurgeError::MissingToken {
                local_dev: false,
                cli: None
            }
            .to_string(),
            "no Vercel API token: set VERCEL_TOKEN or pass PurgeOptions::token"
        );
        assert!(
            PurgeError::MissingProject
                .to_string()
                .contains("VERCEL_PROJECT_ID")
        );
        assert_eq!(
            PurgeError::Status { status: 403 }.to_string(),
            "the Vercel API answered HTTP 403 (the token may not purge this project's cache)"
        );
        assert_eq!(
            PurgeError::Status { status: 500 }.to_string(),
            "the Vercel API answered HTTP 500"
        );
    }

    #[test]
    fn categories() {
        assert!(PurgeError::MissingProject.is_configuration());
        assert!(!PurgeError::Status { status: 500 }.is_configuration());
        assert!(PurgeError::Status { status: 500 }.is_transient());
        assert!(PurgeError::Status { status: 429 }.is_transient());
        assert!(!PurgeError::Status { status: 404 }.is_transient());
        assert!(
            CacheError::TimedOut {
                after: Duration::from_millis(1)
            }
            .is_transient()
        );
        assert!(CacheError::Status { status: 503 }.is_transient());
        assert!(!CacheError::Status { status: 400 }.is_transient());
        assert!(!CacheError::ItemTooLarge { size: 2, limit: 1 }.is_transient());
    }
}
