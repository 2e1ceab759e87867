//! The errors of [`VercelHost`](super::VercelHost).

use std::error::Error as StdError;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// What went wrong running a function under [`VercelHost`](super::VercelHost).
///
/// Messages never contain a header value, a token or a response body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The function binary does not exist (for [`example_binary`](super::example_binary): the
    /// example was not built).
    #[error("function binary not found at {path}: {hint}")]
    BinaryNotFound {
        /// Where it was looked for.
        path: PathBuf,
        /// How to get it built.
        hint: &'static str,
    },
    /// The binary could not be started.
    #[error("could not start the function binary {path}")]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Setting up the IPC socket or the port failed.
    #[error("could not set up the host's {what}")]
    Setup {
        /// `"IPC socket"`, `"port"`, ….
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The process exited before it sent `server-started`.
    #[error(
        "the function exited before it sent server-started ({status}); its stderr ends with: {stderr_tail}"
    )]
    ExitedBeforeStart {
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of its stderr (the function's own output).
        stderr_tail: String,
    },
    /// Waiting for something took longer than the host's limit.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited: `"server-started"`, `"the end message"`, `"the response"`, `"exit"`.
        what: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The request could not be built (a header name or value is not valid HTTP).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// Sending the request or reading the response failed (connection refused, reset, …).
    #[error("the request to the function failed")]
    Http(#[source] Box<dyn StdError + Send + Sync>),
    /// The response body is larger than the host reads.
    #[error("the response body is larger than {limit} bytes")]
    ResponseTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The function process has exited or was shut down.
    #[error("the function process is not running")]
    NotRunning,
    /// Sending a signal to the process failed.
    #[error("could not send {signal} to the function process")]
    Signal {
        /// `"SIGSTOP"`, `"SIGCONT"`, `"SIGTERM"`.
        signal: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Waiting for the process failed.
    #[error("could not wait for the function process")]
    Wait(#[source] io::Error),
}
