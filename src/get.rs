//! The `get_vercel_oidc_token*` functions and their [`TokenOptions`]: the paved path on top of
//! the chain ([`VercelTokenSource`]) and, with the `exchange` feature, the audience exchange.

#[cfg(feature = "exchange")]
use std::sync::OnceLock;
use std::time::Duration;

use crate::chain::VercelTokenSource;
use crate::context::RequestContext;
use crate::env::Env;
use crate::error::{Error, TokenOrigin};
#[cfg(feature = "exchange")]
use crate::exchange::{AudienceExchange, ExchangeRequest};
use crate::source::{ENV_TOKEN, EnvTokenSource, TokenSource as _};
use crate::time::{Clock as _, SharedClock};
use crate::token::OidcToken;

/// Options of [`get_vercel_oidc_token_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TokenOptions {
    /// Project for the local-dev refresh. Defaults to `.vercel/project.json`.
    pub project: Option<String>,
    /// Team for the local-dev refresh. Defaults to `.vercel/project.json`.
    pub team: Option<String>,
    /// A token expiring within this buffer counts as expired. Defaults to 0.
    pub expiration_buffer: Duration,
    /// When set, the token is exchanged for this audience (`POST {issuer}/~token`, cached).
    #[cfg(feature = "exchange")]
    pub audience: Option<String>,
    /// `jti` for the exchange.
    #[cfg(feature = "exchange")]
    pub jti: Option<String>,
    /// Skip the exchange cache lookup.
    #[cfg(feature = "exchange")]
    pub skip_cache: bool,
}

impl TokenOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`TokenOptions::project`].
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// Sets [`TokenOptions::team`].
    pub fn team(mut self, team: impl Into<String>) -> Self {
        self.team = Some(team.into());
        self
    }

    /// Sets [`TokenOptions::expiration_buffer`].
    pub fn expiration_buffer(mut self, buffer: Duration) -> Self {
        self.expiration_buffer = buffer;
        self
    }

    /// Sets [`TokenOptions::audience`].
    #[cfg(feature = "exchange")]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Sets [`TokenOptions::jti`].
    #[cfg(feature = "exchange")]
    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = Some(jti.into());
        self
    }

    /// Sets [`TokenOptions::skip_cache`].
    #[cfg(feature = "exchange")]
    pub fn skip_cache(mut self, skip: bool) -> Self {
        self.skip_cache = skip;
        self
    }
}

#[cfg(feature = "exchange")]
fn default_exchange() -> Result<&'static AudienceExchange, Error> {
    static EXCHANGE: OnceLock<Result<AudienceExchange, Error>> = OnceLock::new();
    EXCHANGE
        .get_or_init(|| AudienceExchange::builder().build())
        .as_ref()
        .map_err(Clone::clone)
}

/// The current Vercel OIDC token, by the chain of [`VercelTokenSource`].
///
/// This is `VercelTokenSource::builder().build().token()`: the source with the process
/// environment ([`Env::real`]), the global freshest-token slot, the system clock and the
/// local-dev refresh ([`crate::local_dev`]) starting from the current directory. Concurrent
/// calls that need a refresh share one (per project, process-wide). To control any of these
/// (tests, a custom home or project directory), build a [`VercelTokenSource`].
///
/// ```no_run
/// # async fn f() -> Result<(), vercel_oidc::Error> {
/// let token = vercel_oidc::get_vercel_oidc_token().await?;
/// let claims = token.unverified_claims();
/// tracing::info!(project = ?claims.project, "got a token");
/// # Ok(()) }
/// ```
pub async fn get_vercel_oidc_token() -> Result<OidcToken, Error> {
    get_vercel_oidc_token_with(TokenOptions::default()).await
}

/// Like [`get_vercel_oidc_token`] with options; with [`TokenOptions::audience`] set, the token is
/// exchanged for that audience (`POST {issuer}/~token`) through a process-wide, cached [`AudienceExchange`].
pub async fn get_vercel_oidc_token_with(options: TokenOptions) -> Result<OidcToken, Error> {
    let mut source = VercelTokenSource::builder().expiration_buffer(options.expiration_buffer);
    if let Some(project) = options.project.clone() {
        source = source.project(project);
    }
    if let Some(team) = options.team.clone() {
        source = source.team(team);
    }
    let token = source.build().token().await?;
    #[cfg(not(feature = "exchange"))]
    return Ok(token);
    #[cfg(feature = "exchange")]
    match &options.audience {
        None => Ok(token),
        Some(audience) => {
            let mut request = ExchangeRequest::new(audience.clone()).skip_cache(options.skip_cache);
            if let Some(jti) = &options.jti {
                request = request.jti(jti.clone());
            }
            default_exchange()?.exchange(&token, &request).await
        }
    }
}

/// The token from the request context's header, else `VERCEL_OIDC_TOKEN`, without the file, the
/// slot or any refresh.
///
/// Kept for parity with the npm package, which deprecates its sync getter; prefer
/// [`get_vercel_oidc_token`]. An expired token is [`Error::Expired`].
pub fn get_vercel_oidc_token_sync() -> Result<OidcToken, Error> {
    sync_lookup(&Env::real(), &SharedClock::default())
}

fn sync_lookup(env: &Env, clock: &SharedClock) -> Result<OidcToken, Error> {
    let (token, origin) = match RequestContext::current().as_ref().and_then(|c| c.token()) {
        Some(Ok(token)) => (token.clone(), TokenOrigin::RequestHeader),
        Some(Err(reason)) => {
            return Err(Error::InvalidTokenFrom {
                origin: TokenOrigin::RequestHeader,
                source: Box::new(Error::MalformedToken(reason.clone())),
            });
        }
        None => (
            EnvTokenSource::new(ENV_TOKEN)
                .with_env(env.clone())
                .read()?,
            TokenOrigin::Env(ENV_TOKEN.into()),
        ),
    };
    if token.is_expired_within_at(Duration::ZERO, clock.now()) {
        return Err(Error::Expired { origin });
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::jwt_expiring_in;

    fn header_ctx(raw: &str) -> RequestContext {
        RequestContext::with_token(OidcToken::parse(raw).expect("valid"))
    }

    #[test]
    fn sync_reads_header_then_env_only() {
        let clock = SharedClock::default();
        let (h, e) = (jwt_expiring_in(100), jwt_expiring_in(200));
        let env = Env::from_pairs([(ENV_TOKEN, e.as_str())]);
        assert_eq!(sync_lookup(&env, &clock).expect("ok").expose_secret(), e);
        let got = header_ctx(&h)
            .sync_scope(|| sync_lookup(&env, &clock))
            .expect("ok");
        assert_eq!(got.expose_secret(), h);
        let expired = Env::from_pairs([(ENV_TOKEN, jwt_expiring_in(-5))]);
        assert!(matches!(
            sync_lookup(&expired, &clock),
            Err(Error::Expired { .. })
        ));
        let none = Env::from_pairs::<&str, &str>([]);
        assert!(
            sync_lookup(&none, &clock)
                .expect_err("none")
                .is_not_configured()
        );
    }
}
