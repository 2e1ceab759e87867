//! The Vercel token chain: [`VercelTokenSource`] (see it for the order of the chain).

use std::sync::Arc;
use std::time::Duration;

use crate::config::OidcConfig;
use crate::context::{FreshestTokenSlot, RequestContext};
use crate::env::Env;
use crate::error::{Error, Lookup, TokenOrigin};
use crate::source::{
    ENV_TOKEN, ENV_TOKEN_FILE, EnvTokenSource, FileTokenSource, RefreshOidcToken, RefreshRequest,
    TokenFuture, TokenSource,
};
use crate::time::{Clock, SharedClock};
use crate::token::OidcToken;

/// The Vercel chain as a [`TokenSource`].
///
/// Order, first hit wins:
///
/// 1. the request context's `x-vercel-oidc-token` (else `x-vercel-internal-oidc-token`) header
///    ([`crate::RequestContext`]);
/// 2. the file named by `VERCEL_OIDC_TOKEN_FILE`, trimmed, re-read on every call;
/// 3. the process-wide slot of the newest plausible header token ([`crate::FreshestTokenSlot`],
///    filled by [`crate::RequestContextLayer`], by default only on Vercel), for work outside
///    any request; it never returns an expired token, and only takes tokens of this
///    deployment's identity (see [`crate::FreshestTokenSlot`]);
/// 4. the env var `VERCEL_OIDC_TOKEN`;
/// 5. when none of these has a token, or the one found is expired within the buffer: the
///    refresh hook ([`RefreshOidcToken`]), by default the local-dev refresh
///    ([`crate::local_dev::LocalDevRefresher`]: `.vercel/project.json`, the Vercel CLI's login,
///    the Vercel API). If that is not possible, the error ([`Error::Unavailable`]) says both
///    what the lookup found and why the refresh failed. Outside a linked project that error
///    is [`Error::is_not_configured`], so a chain moves on.
///
/// An expired header token plus a successful refresh returns the refreshed token (the npm package
/// returns the expired header token again).
///
/// # Environment variables
/// | variable | required | meaning |
/// |---|---|---|
/// | `VERCEL_OIDC_TOKEN_FILE` | optional | path of a file holding the token |
/// | `VERCEL_OIDC_TOKEN` | optional | the token itself (set on Vercel during builds and by `vercel env pull`) |
/// | `VERCEL_OIDC_ISSUER_URL` | optional | issuer base for the audience exchange |
/// | `VERCEL_OIDC_CA_FILE` | optional | extra PEM trust roots for HTTP clients |
#[derive(Debug, Clone)]
pub struct VercelTokenSource {
    env: Env,
    request: RefreshRequest,
    refresher: Option<Arc<dyn RefreshOidcToken>>,
    slot: Option<Arc<FreshestTokenSlot>>,
    clock: SharedClock,
    /// The refresher is the default local-dev one (not tried on Vercel without a header token).
    local_dev_refresh: bool,
}

impl Default for VercelTokenSource {
    fn default() -> Self {
        Self::builder().build()
    }
}

/// Builder for [`VercelTokenSource`].
#[derive(Debug)]
pub struct VercelTokenSourceBuilder {
    config: OidcConfig,
    project: Option<String>,
    team: Option<String>,
    buffer: Duration,
    refresher: Refresher,
    slot: Option<Arc<FreshestTokenSlot>>,
}

#[derive(Debug)]
enum Refresher {
    #[cfg(feature = "local-dev")]
    LocalDev,
    Custom(Arc<dyn RefreshOidcToken>),
    Disabled,
}

impl VercelTokenSourceBuilder {
    /// The shared settings: where env vars are read, the clock, and (for the default local-dev
    /// refresh) the extra roots and HTTP client.
    pub fn configure(mut self, config: &OidcConfig) -> Self {
        self.config = config.clone();
        self
    }

    /// Where env vars are read (shorthand for the [`OidcConfig`] field). Defaults to the
    /// process environment.
    pub fn env(mut self, env: Env) -> Self {
        self.config.set_env(env);
        self
    }

    /// Project for the refresh. Defaults to `.vercel/project.json`.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// Team for the refresh. Defaults to `.vercel/project.json`.
    pub fn team(mut self, team: impl Into<String>) -> Self {
        self.team = Some(team.into());
        self
    }

    /// A token expiring within this buffer counts as expired. Defaults to 0.
    pub fn expiration_buffer(mut self, buffer: Duration) -> Self {
        self.buffer = buffer;
        self
    }

    /// The refresh hook. Defaults (with the `local-dev` feature, on by default) to the
    /// local-dev refresh, `local_dev::LocalDevRefresher` with this builder's configuration and
    /// its defaults (the current directory, the [`Env`]'s `HOME`, `VERCEL_OIDC_API_URL`, …);
    /// without that feature, to no refresh.
    pub fn refresher(mut self, refresher: impl RefreshOidcToken + 'static) -> Self {
        self.refresher = Refresher::Custom(Arc::new(refresher));
        self
    }

    /// No refresh at all: an expired or missing token is [`Error::Unavailable`] with
    /// [`Error::RefreshNotConfigured`] as the refresh error.
    pub fn without_refresh(mut self) -> Self {
        self.refresher = Refresher::Disabled;
        self
    }

    /// The freshest-header-token slot to consult. Defaults to [`FreshestTokenSlot::global`].
    pub fn slot(mut self, slot: Arc<FreshestTokenSlot>) -> Self {
        self.slot = Some(slot);
        self
    }

    /// Do not consult any freshest-header-token slot.
    pub fn without_slot(mut self) -> Self {
        self.slot = None;
        self
    }

    /// The clock expiry is checked against (shorthand for the [`OidcConfig`] field). Defaults
    /// to the system clock.
    pub fn time_source(mut self, clock: SharedClock) -> Self {
        self.config.set_clock(clock);
        self
    }

    /// Builds the source.
    pub fn build(self) -> VercelTokenSource {
        #[cfg(feature = "local-dev")]
        let local_dev_refresh = matches!(self.refresher, Refresher::LocalDev);
        #[cfg(not(feature = "local-dev"))]
        let local_dev_refresh = false;
        VercelTokenSource {
            local_dev_refresh,
            request: RefreshRequest {
                project: self.project,
                team: self.team,
                expiration_buffer: self.buffer,
                env: self.config.env().clone(),
            },
            env: self.config.env().clone(),
            refresher: match self.refresher {
                #[cfg(feature = "local-dev")]
                Refresher::LocalDev => Some(Arc::new(
                    crate::local_dev::LocalDevRefresher::with_config(&self.config),
                )),
                Refresher::Custom(refresher) => Some(refresher),
                Refresher::Disabled => None,
            },
            slot: self.slot,
            clock: self.config.clock().clone(),
        }
    }
}

impl VercelTokenSource {
    /// A builder with the defaults.
    pub fn builder() -> VercelTokenSourceBuilder {
        VercelTokenSourceBuilder {
            config: OidcConfig::default(),
            project: None,
            team: None,
            buffer: Duration::ZERO,
            #[cfg(feature = "local-dev")]
            refresher: Refresher::LocalDev,
            #[cfg(not(feature = "local-dev"))]
            refresher: Refresher::Disabled,
            slot: Some(Arc::clone(FreshestTokenSlot::global())),
        }
    }

    /// Steps 1–4: the first token found, or `None`.
    fn lookup(&self) -> Result<Option<(OidcToken, TokenOrigin)>, Error> {
        if let Some(context) = RequestContext::current() {
            match context.token() {
                Some(Ok(token)) => return Ok(Some((token.clone(), TokenOrigin::RequestHeader))),
                Some(Err(reason)) => {
                    return Err(Error::InvalidTokenFrom {
                        origin: TokenOrigin::RequestHeader,
                        source: Box::new(Error::MalformedToken(reason.clone())),
                    });
                }
                None => {}
            }
        }
        if let Some(path) = self.env.get_non_empty(ENV_TOKEN_FILE) {
            let token = FileTokenSource::new(path.clone()).read()?;
            return Ok(Some((token, TokenOrigin::File(path.into()))));
        }
        if let Some(slot) = &self.slot
            && let Some(token) = slot.get_at(self.request.expiration_buffer, self.clock.now())
        {
            return Ok(Some((token, TokenOrigin::ProcessSlot)));
        }
        match EnvTokenSource::new(ENV_TOKEN)
            .with_env(self.env.clone())
            .read()
        {
            Ok(token) => Ok(Some((token, TokenOrigin::Env(ENV_TOKEN.into())))),
            Err(e) if e.is_not_configured() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn resolve(&self) -> Result<OidcToken, Error> {
        let span = tracing::debug_span!(
            "vercel_oidc.token",
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        crate::trace::in_span(span, self.resolve_untraced()).await
    }

    async fn resolve_untraced(&self) -> Result<OidcToken, Error> {
        let buffer = self.request.expiration_buffer;
        let lookup = match self.lookup()? {
            Some((token, origin)) => {
                if !token.is_expired_within_at(buffer, self.clock.now()) {
                    tracing::trace!(%origin, "vercel token source: token found");
                    return Ok(token);
                }
                tracing::debug!(%origin, "vercel token source: token expired; refreshing");
                Lookup::Expired(origin)
            }
            None => Lookup::NotFound,
        };
        // On Vercel the token comes with each request; the local-dev refresh cannot work there,
        // and its advice (`vercel link`) would mislead.
        if self.local_dev_refresh
            && crate::context::on_vercel(&self.env)
            && lookup != Lookup::Expired(TokenOrigin::RequestHeader)
        {
            tracing::debug!(
                "vercel token source: on Vercel without a request token; no local-dev refresh"
            );
            return Err(Error::Unavailable {
                lookup,
                refresh: Box::new(Error::NoRequestToken {
                    in_request: RequestContext::current().is_some(),
                }),
            });
        }
        let Some(refresher) = &self.refresher else {
            return Err(Error::Unavailable {
                lookup,
                refresh: Box::new(Error::RefreshNotConfigured),
            });
        };
        match refresher.refresh_oidc_token(&self.request).await {
            Ok(token) if !token.is_expired_within_at(buffer, self.clock.now()) => Ok(token),
            Ok(_) => Err(Error::Unavailable {
                lookup,
                refresh: Box::new(Error::Expired {
                    origin: TokenOrigin::Refresh,
                }),
            }),
            Err(e) => Err(Error::Unavailable {
                lookup,
                refresh: Box::new(e),
            }),
        }
    }
}

impl TokenSource for VercelTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        // Lazy: the request context is read when the future is polled, so a future made
        // outside a request scope and awaited inside it sees that request's header.
        TokenFuture::new(self.resolve())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{jwt_expiring_in, jwt_with_payload};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug)]
    struct CountingRefresher {
        calls: AtomicUsize,
        result: Result<String, Error>,
    }

    impl RefreshOidcToken for CountingRefresher {
        fn refresh_oidc_token<'a>(&'a self, _request: &'a RefreshRequest) -> TokenFuture<'a> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            TokenFuture::ready(self.result.clone().and_then(OidcToken::parse))
        }
    }

    fn source(env: Env) -> VercelTokenSourceBuilder {
        VercelTokenSource::builder()
            .env(env)
            .without_slot()
            .without_refresh()
    }

    fn header_ctx(raw: &str) -> RequestContext {
        RequestContext::with_token(OidcToken::parse(raw).expect("valid"))
    }

    #[tokio::test]
    async fn header_beats_file_beats_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        let (h, f, e) = (
            jwt_expiring_in(100),
            jwt_expiring_in(200),
            jwt_expiring_in(300),
        );
        std::fs::write(&file, format!("{f}\n")).expect("write");
        let file_s = file.to_str().expect("utf8");
        let all = Env::from_pairs([(ENV_TOKEN_FILE, file_s), (ENV_TOKEN, e.as_str())]);
        let s = source(all.clone()).build();

        let got = header_ctx(&h).scope(s.token()).await.expect("ok");
        assert_eq!(got.expose_secret(), h);
        assert_eq!(s.token().await.expect("ok").expose_secret(), f);
        let s = source(Env::from_pairs([(ENV_TOKEN, e.as_str())])).build();
        assert_eq!(s.token().await.expect("ok").expose_secret(), e);
    }

    #[tokio::test]
    async fn slot_is_after_file_and_before_env_and_never_expired() {
        let slot = Arc::new(FreshestTokenSlot::new());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_secs();
        // The slot takes only plausible tokens: an identity, `iat`, a lifetime of at most 24 h.
        let fresh = jwt_with_payload(&format!(
            r#"{{"iss":"https://oidc.vercel.com/acme","owner_id":"team_1","project_id":"prj_1","iat":{now},"exp":{}}}"#,
            now + 600
        ));
        let e = jwt_expiring_in(300);
        let env = Env::from_pairs([(ENV_TOKEN, e.as_str())]);
        let s = source(env.clone()).slot(slot.clone()).build();
        assert_eq!(s.token().await.expect("ok").expose_secret(), e);
        assert!(slot.offer(
            &OidcToken::parse(fresh.clone()).expect("valid"),
            std::time::SystemTime::now(),
        ));
        assert_eq!(s.token().await.expect("ok").expose_secret(), fresh);
        // A buffer longer than the slot token's remaining life skips it (and the env token).
        let s = source(env)
            .slot(slot)
            .expiration_buffer(Duration::from_secs(650))
            .build();
        let err = s
            .token()
            .await
            .expect_err("env token expires within the buffer");
        assert!(matches!(
            err,
            Error::Unavailable {
                lookup: Lookup::Expired(TokenOrigin::Env(_)),
                ..
            }
        ));
    }

    #[tokio::test]
    async fn file_errors_name_the_path_and_stop_the_chain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("missing-token");
        let env = Env::from_pairs([
            (ENV_TOKEN_FILE, file.to_str().expect("utf8")),
            (ENV_TOKEN, jwt_expiring_in(300).as_str()),
        ]);
        let err = source(env.clone())
            .build()
            .token()
            .await
            .expect_err("missing");
        assert!(matches!(&err, Error::TokenFileMissing { path } if *path == file));
        assert!(err.to_string().contains("missing-token"));
        std::fs::write(&file, "").expect("write");
        let err = source(env).build().token().await.expect_err("empty");
        assert!(matches!(&err, Error::TokenFileEmpty { path } if *path == file));
    }

    #[tokio::test]
    async fn missing_token_without_refresh_says_both_why() {
        let err = source(Env::from_pairs::<&str, &str>([]))
            .build()
            .token()
            .await
            .expect_err("none");
        match &err {
            Error::Unavailable {
                lookup: Lookup::NotFound,
                refresh,
            } => {
                assert!(matches!(**refresh, Error::RefreshNotConfigured));
            }
            other => panic!("unexpected {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("VERCEL_OIDC_TOKEN") && text.contains("refresh"),
            "{text}"
        );
        let source = std::error::Error::source(&err).expect("source").to_string();
        assert!(source.contains("not configured"), "{source}");
    }

    #[tokio::test]
    async fn token_without_exp_is_refreshed() {
        let refresher = CountingRefresher {
            calls: AtomicUsize::new(0),
            result: Ok(jwt_expiring_in(3600)),
        };
        let env = Env::from_pairs([(ENV_TOKEN, jwt_with_payload(r#"{"sub":"x"}"#))]);
        let s = source(env).refresher(refresher).build();
        let got = s.token().await.expect("refreshed");
        assert!(got.expires_at().is_some());
    }

    #[tokio::test]
    async fn expired_header_token_plus_successful_refresh_returns_refreshed() {
        let refreshed = jwt_expiring_in(3600);
        let refresher = CountingRefresher {
            calls: AtomicUsize::new(0),
            result: Ok(refreshed.clone()),
        };
        let s = source(Env::from_pairs::<&str, &str>([]))
            .refresher(refresher)
            .build();
        let got = header_ctx(&jwt_expiring_in(-10))
            .scope(s.token())
            .await
            .expect("ok");
        assert_eq!(got.expose_secret(), refreshed);
    }

    #[tokio::test]
    async fn failed_refresh_keeps_both_reasons() {
        let refresher = CountingRefresher {
            calls: AtomicUsize::new(0),
            result: Err(Error::other("mint failed", None)),
        };
        let env = Env::from_pairs([(ENV_TOKEN, jwt_expiring_in(30))]);
        let s = source(env)
            .expiration_buffer(Duration::from_secs(60))
            .refresher(refresher)
            .build();
        let err = s.token().await.expect_err("fails");
        match &err {
            Error::Unavailable {
                lookup: Lookup::Expired(TokenOrigin::Env(v)),
                refresh,
            } => {
                assert_eq!(v, ENV_TOKEN);
                assert!(refresh.to_string().contains("mint failed"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn refresher_returning_expired_token_is_an_error() {
        let refresher = CountingRefresher {
            calls: AtomicUsize::new(0),
            result: Ok(jwt_expiring_in(-1)),
        };
        let err = source(Env::from_pairs::<&str, &str>([]))
            .refresher(refresher)
            .build()
            .token()
            .await
            .expect_err("expired");
        assert!(
            matches!(err, Error::Unavailable { refresh, .. } if matches!(*refresh, Error::Expired { .. }))
        );
    }

    #[test]
    fn malformed_header_is_a_typed_error() {
        let mut headers = http::HeaderMap::new();
        headers.insert(crate::OIDC_TOKEN_HEADER, "a.b".parse().expect("value"));
        let s = source(Env::from_pairs::<&str, &str>([])).build();
        let err = RequestContext::from_headers(&headers)
            .sync_scope(|| futures_util::FutureExt::now_or_never(s.token()).expect("ready"));
        assert!(matches!(
            err,
            Err(Error::InvalidTokenFrom {
                origin: TokenOrigin::RequestHeader,
                ..
            })
        ));
    }
}
