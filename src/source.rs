//! The [`TokenSource`] trait and the simple sources: file, env var, fixed token, closure, chain.
//!
//! Sources do not cache; the Vercel chain ([`crate::VercelTokenSource`]) and the providers decide
//! when a token is too old. The file source re-reads its file on every call, so a rotated file
//! is picked up at once.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

use crate::env::Env;
use crate::error::{Error, TokenOrigin};
use crate::limits::{FileReadError, TOKEN_MAX, read_regular_file_to_string};
use crate::token::OidcToken;

/// The env var holding the token.
pub const ENV_TOKEN: &str = "VERCEL_OIDC_TOKEN";
/// The env var naming a file that holds the token.
pub const ENV_TOKEN_FILE: &str = "VERCEL_OIDC_TOKEN_FILE";

/// What a refresh hook is asked for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RefreshRequest {
    /// Project id or name to mint for; `None` means "from `.vercel/project.json`".
    pub project: Option<String>,
    /// Team id or slug; `None` means "from `.vercel/project.json`".
    pub team: Option<String>,
    /// The refreshed token must not expire within this buffer.
    pub expiration_buffer: Duration,
    /// The environment the chain reads.
    pub env: Env,
}

impl RefreshRequest {
    /// A request reading `env`, with the project and team from `.vercel/project.json` and no
    /// buffer.
    pub fn new(env: Env) -> Self {
        Self {
            project: None,
            team: None,
            expiration_buffer: Duration::ZERO,
            env,
        }
    }

    /// Sets [`RefreshRequest::project`].
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// Sets [`RefreshRequest::team`].
    pub fn team(mut self, team: impl Into<String>) -> Self {
        self.team = Some(team.into());
        self
    }

    /// Sets [`RefreshRequest::expiration_buffer`].
    pub fn expiration_buffer(mut self, buffer: Duration) -> Self {
        self.expiration_buffer = buffer;
        self
    }
}

/// A way to get a new token when the chain has none (or only an expired one): in local
/// development, the Vercel API with the Vercel CLI's login.
pub trait RefreshOidcToken: Send + Sync + fmt::Debug {
    /// Returns a fresh token for `request`.
    fn refresh_oidc_token<'a>(&'a self, request: &'a RefreshRequest) -> TokenFuture<'a>;
}

/// The future returned by [`TokenSource::token`].
///
/// A named type (not `async-trait`) so the trait stays dyn-compatible; [`TokenFuture::ready`]
/// wraps an immediate result without allocating.
#[must_use = "futures do nothing unless polled"]
pub struct TokenFuture<'a>(FutureState<'a>);

enum FutureState<'a> {
    Ready(Option<Result<OidcToken, Error>>),
    Pending(BoxFuture<'a, Result<OidcToken, Error>>),
}

impl<'a> TokenFuture<'a> {
    /// A future that is already complete. Does not allocate.
    pub fn ready(result: Result<OidcToken, Error>) -> Self {
        Self(FutureState::Ready(Some(result)))
    }

    /// Wraps a future (boxed).
    pub fn new(future: impl Future<Output = Result<OidcToken, Error>> + Send + 'a) -> Self {
        Self(FutureState::Pending(future.boxed()))
    }
}

impl Future for TokenFuture<'_> {
    type Output = Result<OidcToken, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Both states are `Unpin`.
        match &mut self.get_mut().0 {
            FutureState::Ready(result) => match result.take() {
                Some(r) => Poll::Ready(r),
                None => Poll::Ready(Err(Error::other(
                    "TokenFuture polled after completion",
                    None,
                ))),
            },
            FutureState::Pending(fut) => fut.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for TokenFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            FutureState::Ready(_) => "TokenFuture(ready)",
            FutureState::Pending(_) => "TokenFuture(pending)",
        })
    }
}

/// Something that yields a Vercel OIDC token.
///
/// Dyn-compatible, `Send + Sync + Debug`; every provider takes any `TokenSource`. A source
/// returns [`Error::NotConfigured`] when it simply has nothing to offer, so that a
/// [`ChainTokenSource`] can move on.
///
/// ```
/// use vercel_oidc::{OidcToken, TokenFuture, TokenSource};
///
/// #[derive(Debug)]
/// struct FromVault;
///
/// impl TokenSource for FromVault {
///     fn token(&self) -> TokenFuture<'_> {
///         TokenFuture::new(async {
///             let raw = String::from("…"); // fetch it
///             OidcToken::parse(raw)
///         })
///     }
/// }
/// ```
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// Returns a token (or why there is none).
    fn token(&self) -> TokenFuture<'_>;
}

impl<T: TokenSource + ?Sized> TokenSource for Arc<T> {
    fn token(&self) -> TokenFuture<'_> {
        (**self).token()
    }
}

impl<T: TokenSource + ?Sized> TokenSource for Box<T> {
    fn token(&self) -> TokenFuture<'_> {
        (**self).token()
    }
}

/// A cloneable `Arc<dyn TokenSource>`.
#[derive(Clone, Debug)]
pub struct SharedTokenSource(Arc<dyn TokenSource>);

impl SharedTokenSource {
    /// The identity of the wrapped source: clones share it.
    pub(crate) fn identity(&self) -> usize {
        crate::object_id::arc_identity(&self.0)
    }

    /// Wraps a source. A `SharedTokenSource` given here is not wrapped again: the result is a
    /// clone of it (the same source, one indirection, the same identity for sharing).
    pub fn new(source: impl TokenSource + 'static) -> Self {
        let any: &dyn std::any::Any = &source;
        if let Some(shared) = any.downcast_ref::<SharedTokenSource>() {
            return shared.clone();
        }
        Self(Arc::new(source))
    }
}

impl From<Arc<dyn TokenSource>> for SharedTokenSource {
    fn from(source: Arc<dyn TokenSource>) -> Self {
        Self(source)
    }
}

impl TokenSource for SharedTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        self.0.token()
    }
}

/// Always the same token.
#[derive(Debug, Clone)]
pub struct FixedTokenSource(OidcToken);

impl FixedTokenSource {
    /// A source that returns `token`.
    pub fn new(token: OidcToken) -> Self {
        Self(token)
    }
}

impl TokenSource for FixedTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        TokenFuture::ready(Ok(self.0.clone()))
    }
}

/// Reads a token from an environment variable at each call.
///
/// Unset or empty → [`Error::NotConfigured`]; not a JWT → [`Error::InvalidTokenFrom`].
#[derive(Debug, Clone)]
pub struct EnvTokenSource {
    var: String,
    env: Env,
}

impl EnvTokenSource {
    /// Reads `var` from the process environment.
    pub fn new(var: impl Into<String>) -> Self {
        Self {
            var: var.into(),
            env: Env::real(),
        }
    }

    /// Reads `VERCEL_OIDC_TOKEN`.
    pub fn vercel() -> Self {
        Self::new(ENV_TOKEN)
    }

    /// Reads from `env` instead of the process environment. Defaults to the process environment.
    pub fn with_env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    pub(crate) fn read(&self) -> Result<OidcToken, Error> {
        let origin = || TokenOrigin::Env(self.var.clone());
        let value = self
            .env
            .get_non_empty(&self.var)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| Error::NotConfigured { origin: origin() })?;
        OidcToken::parse(value).map_err(|e| Error::InvalidTokenFrom {
            origin: origin(),
            source: Box::new(e),
        })
    }
}

impl TokenSource for EnvTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        TokenFuture::ready(self.read())
    }
}

/// Reads a token from a file at each call (so rotation is picked up), trimming whitespace.
///
/// Missing file → [`Error::TokenFileMissing`]; empty → [`Error::TokenFileEmpty`]; larger than
/// 16 KiB, or not a regular file (a FIFO, a device such as `/dev/zero`, a directory) →
/// [`Error::TokenFileUnreadable`], at once, without blocking or reading past the cap. Every
/// error names the path, never the content. The file is small and local; it is read
/// synchronously.
#[derive(Debug, Clone)]
pub struct FileTokenSource {
    path: PathBuf,
}

impl FileTokenSource {
    /// Reads `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn read(&self) -> Result<OidcToken, Error> {
        let path = &self.path;
        // At most 16 KiB, and only a regular file: a FIFO or a device is refused without
        // blocking on it or reading it.
        let text = match read_regular_file_to_string(path, TOKEN_MAX) {
            Ok(text) => text,
            Err(FileReadError::NotFound) => {
                return Err(Error::TokenFileMissing { path: path.clone() });
            }
            Err(e) => {
                return Err(Error::TokenFileUnreadable {
                    path: path.clone(),
                    source: Arc::new(e.into_io()),
                });
            }
        };
        if text.trim().is_empty() {
            return Err(Error::TokenFileEmpty { path: path.clone() });
        }
        OidcToken::parse(text).map_err(|e| Error::InvalidTokenFrom {
            origin: TokenOrigin::File(path.clone()),
            source: Box::new(e),
        })
    }
}

impl TokenSource for FileTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        TokenFuture::ready(self.read())
    }
}

/// A source made from a closure; see [`token_source_fn`].
pub struct FnTokenSource<F>(F);

impl<F> fmt::Debug for FnTokenSource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnTokenSource")
    }
}

/// Makes a [`TokenSource`] from an async closure.
///
/// ```
/// use vercel_oidc::{token_source_fn, OidcToken, TokenSource};
/// let source = token_source_fn(|| async { OidcToken::parse(std::env::var("MY_TOKEN").unwrap_or_default()) });
/// # let _ = source;
/// ```
pub fn token_source_fn<F, Fut>(f: F) -> FnTokenSource<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<OidcToken, Error>> + Send + 'static,
{
    FnTokenSource(f)
}

impl<F, Fut> TokenSource for FnTokenSource<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<OidcToken, Error>> + Send + 'static,
{
    fn token(&self) -> TokenFuture<'_> {
        TokenFuture::new((self.0)())
    }
}

/// Tries sources in order; moves on only when a source is not configured
/// ([`Error::is_not_configured`]). Any other error stops the chain: a token file that exists but
/// is broken is a problem to report, not to paper over.
#[derive(Debug, Clone, Default)]
pub struct ChainTokenSource {
    sources: Vec<SharedTokenSource>,
}

impl ChainTokenSource {
    /// A chain starting with `first`.
    pub fn first_try(first: impl TokenSource + 'static) -> Self {
        Self {
            sources: vec![SharedTokenSource::new(first)],
        }
    }

    /// Adds a source at the end of the chain.
    pub fn or_else(mut self, next: impl TokenSource + 'static) -> Self {
        self.sources.push(SharedTokenSource::new(next));
        self
    }
}

impl TokenSource for ChainTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        TokenFuture::new(async move {
            let mut last = Error::NotConfigured {
                origin: TokenOrigin::Custom,
            };
            for source in &self.sources {
                match source.token().await {
                    Err(e) if e.is_not_configured() => {
                        tracing::trace!(error = %e, "token source not configured; trying the next");
                        last = e;
                    }
                    other => return other,
                }
            }
            Err(last)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::jwt_expiring_in;

    #[test]
    fn ready_future_resolves_on_first_poll() {
        let t = OidcToken::parse(jwt_expiring_in(60)).expect("valid");
        let fixed = FixedTokenSource::new(t.clone());
        assert_eq!(fixed.token().now_or_never().expect("ready").expect("ok"), t);
    }

    #[test]
    fn env_source() {
        let raw = jwt_expiring_in(60);
        let s = EnvTokenSource::new("T").with_env(Env::from_pairs([("T", raw.as_str())]));
        assert_eq!(s.read().expect("ok").expose_secret(), raw);
        let unset = EnvTokenSource::new("T").with_env(Env::from_pairs([("T", "  ")]));
        assert!(unset.read().expect_err("unset").is_not_configured());
        let bad = EnvTokenSource::new("T").with_env(Env::from_pairs([("T", "nope")]));
        assert!(matches!(
            bad.read(),
            Err(Error::InvalidTokenFrom { origin: TokenOrigin::Env(v), .. }) if v == "T"
        ));
    }

    #[test]
    fn file_source_rereads_and_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        let s = FileTokenSource::new(&path);
        let err = s.read().expect_err("missing");
        assert!(matches!(&err, Error::TokenFileMissing { path: p } if *p == path));
        assert!(err.to_string().contains(&path.display().to_string()));

        std::fs::write(&path, " \n").expect("write");
        let err = s.read().expect_err("empty");
        assert!(matches!(&err, Error::TokenFileEmpty { path: p } if *p == path));
        assert!(err.to_string().contains(&path.display().to_string()));

        let first = jwt_expiring_in(60);
        std::fs::write(&path, format!("{first}\n")).expect("write");
        assert_eq!(s.read().expect("ok").expose_secret(), first);
        let second = jwt_expiring_in(120);
        std::fs::write(&path, &second).expect("write");
        assert_eq!(
            s.read().expect("ok").expose_secret(),
            second,
            "re-read on every call"
        );
    }

    /// Runs `f` on its own thread and fails if it does not return within 10 s (a blocking read
    /// of a FIFO would otherwise hang the test forever).
    fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the read blocked")
    }

    #[test]
    fn file_source_caps_the_size_and_never_echoes_the_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        // 17 KiB of one repeated marker: more than any token, read no further than the cap.
        std::fs::write(&path, "SECRETMARK".repeat(1700)).expect("write");
        let err = FileTokenSource::new(&path).read().expect_err("too large");
        assert!(
            matches!(&err, Error::TokenFileUnreadable { path: p, .. } if *p == path),
            "{err:?}"
        );
        let chain = format!("{err} {:?}", std::error::Error::source(&err));
        assert!(chain.contains(&path.display().to_string()), "{chain}");
        assert!(chain.contains("16384"), "{chain}");
        assert!(!chain.contains("SECRETMARK"), "{chain}");
    }

    #[cfg(unix)]
    #[test]
    fn file_source_refuses_devices_without_reading_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("token");
        std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
        let source = FileTokenSource::new(&link);
        let err = within_10s(move || source.read()).expect_err("a device");
        assert!(
            matches!(&err, Error::TokenFileUnreadable { path: p, .. } if *p == link),
            "{err:?}"
        );
        assert!(err.to_string().contains(&link.display().to_string()));
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn file_source_refuses_a_fifo_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("token");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        let source = FileTokenSource::new(&fifo);
        let err = within_10s(move || source.read()).expect_err("a FIFO");
        assert!(
            matches!(&err, Error::TokenFileUnreadable { path: p, .. } if *p == fifo),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn chain_moves_on_only_when_not_configured() {
        let raw = jwt_expiring_in(60);
        let env = Env::from_pairs([("B", raw.as_str()), ("BAD", "x")]);
        let chain = ChainTokenSource::first_try(EnvTokenSource::new("A").with_env(env.clone()))
            .or_else(EnvTokenSource::new("B").with_env(env.clone()));
        assert_eq!(chain.token().await.expect("ok").expose_secret(), raw);

        let chain = ChainTokenSource::first_try(EnvTokenSource::new("BAD").with_env(env.clone()))
            .or_else(EnvTokenSource::new("B").with_env(env.clone()));
        assert!(matches!(
            chain.token().await,
            Err(Error::InvalidTokenFrom { .. })
        ));

        let chain = ChainTokenSource::first_try(EnvTokenSource::new("A").with_env(env.clone()))
            .or_else(EnvTokenSource::new("C").with_env(env));
        let err = chain.token().await.expect_err("none");
        assert!(matches!(err, Error::NotConfigured { origin: TokenOrigin::Env(v) } if v == "C"));
    }

    #[tokio::test]
    async fn closure_source_and_shared() {
        let raw = jwt_expiring_in(60);
        let r = raw.clone();
        let s = SharedTokenSource::new(token_source_fn(move || {
            let r = r.clone();
            async move { OidcToken::parse(r) }
        }));
        assert_eq!(s.clone().token().await.expect("ok").expose_secret(), raw);
        assert_eq!(format!("{s:?}"), "SharedTokenSource(FnTokenSource)");
    }
}
