//! [`OidcConfig`]: the settings every builder of this workspace shares, given once.

use std::fmt;

use crate::env::Env;
use crate::error::Error;
use crate::http::ExtraRoots;
use crate::time::SharedClock;

/// The env var naming the issuer base URL (the audience exchange's `{issuer}/~token`, the
/// verifier's `{issuer}/<team>/.well-known/jwks`).
pub const ISSUER_URL_ENV: &str = "VERCEL_OIDC_ISSUER_URL";
/// The issuer base URL when [`ISSUER_URL_ENV`] is unset.
pub const DEFAULT_ISSUER_URL: &str = "https://oidc.vercel.com";

/// The settings every builder here shares: where env vars are read, the clock, extra trust
/// roots, the issuer base URL and (with an HTTP feature) the HTTP client.
///
/// Give it to any builder with `.configure(&config)`: the token chain
/// ([`crate::VercelTokenSource::builder`]), the audience exchange, the local-dev refresh, the
/// verifier, the request layer, and the AWS and Azure providers. Like aws-config's
/// `ProviderConfig`, it exists so a test (or a proxy setup) is written once, not once per
/// builder.
///
/// Every field has a default: the process environment, the system clock, the roots named by
/// `VERCEL_OIDC_CA_FILE`, the issuer named by `VERCEL_OIDC_ISSUER_URL` (else
/// `https://oidc.vercel.com`), and an HTTP client built with those roots.
///
/// ```
/// use std::time::SystemTime;
/// use vercel_oidc::time::{ManualClock, SharedClock};
/// use vercel_oidc::{Env, OidcConfig, VercelTokenSource};
///
/// let config = OidcConfig::new()
///     .with_env(Env::from_pairs([("VERCEL_OIDC_TOKEN", "a.b.c")]))
///     .with_clock(SharedClock::new(ManualClock::new(SystemTime::UNIX_EPOCH)));
/// let source = VercelTokenSource::builder().configure(&config).build();
/// # let _ = source;
/// ```
#[derive(Clone, Default)]
pub struct OidcConfig {
    env: Env,
    clock: SharedClock,
    pub(crate) explicit_roots: Option<ExtraRoots>,
    issuer_url: Option<String>,
    #[cfg(feature = "__http")]
    pub(crate) explicit_client: Option<reqwest::Client>,
    /// The identity of the explicit HTTP client (0: none), for the process-wide sharing of
    /// providers (a client cannot be compared).
    client_identity: u64,
}

impl fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("OidcConfig");
        d.field("env", &self.env)
            .field("clock", &self.clock)
            .field(
                "extra_roots",
                &self.explicit_roots.as_ref().map(ExtraRoots::path),
            )
            .field(
                "issuer_url",
                &self.issuer_url.as_deref().map(crate::http::redact_url),
            );
        #[cfg(feature = "__http")]
        d.field(
            "http_client",
            &self.explicit_client.as_ref().map(|_| "custom"),
        );
        d.finish()
    }
}

impl OidcConfig {
    /// The defaults: process environment, system clock, roots and issuer from the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where env vars are read (`VERCEL_OIDC_TOKEN`, `VERCEL_OIDC_ISSUER_URL`, …). Defaults
    /// to the process environment ([`Env::real`]).
    pub fn with_env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// The clock expiry is checked against. Defaults to the system clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Extra trust roots for every HTTP client built from this config. Defaults to the file
    /// named by `VERCEL_OIDC_CA_FILE`, if set.
    pub fn with_extra_roots(mut self, roots: ExtraRoots) -> Self {
        self.explicit_roots = Some(roots);
        self
    }

    /// The issuer base URL. Defaults to `VERCEL_OIDC_ISSUER_URL`, else
    /// `https://oidc.vercel.com`.
    pub fn with_issuer_url(mut self, url: impl Into<String>) -> Self {
        self.issuer_url = Some(url.into());
        self
    }

    /// The HTTP client for the audience exchange, the verifier's key-set fetch and the local-dev
    /// refresh (a corporate proxy, `reqwest-tracing`'s client, custom DNS). Defaults to a
    /// client of our own with the extra roots and a 30 s timeout. A client given here is used
    /// as is: its roots, proxy and timeouts are yours.
    #[cfg(feature = "__http")]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "exchange", feature = "local-dev", feature = "verifier")))
    )]
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.explicit_client = Some(client);
        self.client_identity = crate::object_id::next_identity();
        self
    }

    /// The explicit issuer URL, if one was given.
    pub(crate) fn explicit_issuer_url(&self) -> Option<&str> {
        self.issuer_url.as_deref()
    }

    /// The identity of the explicit HTTP client (0: none).
    pub(crate) fn client_identity(&self) -> u64 {
        self.client_identity
    }

    /// Where env vars are read.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The explicit extra roots, else those named by `VERCEL_OIDC_CA_FILE` (read now), else
    /// `None`. Fails when that file cannot be used.
    pub fn extra_roots(&self) -> Result<Option<ExtraRoots>, Error> {
        match &self.explicit_roots {
            Some(roots) => Ok(Some(roots.clone())),
            None => ExtraRoots::from_env(&self.env),
        }
    }

    /// The issuer base URL: explicit, else `VERCEL_OIDC_ISSUER_URL`, else
    /// [`DEFAULT_ISSUER_URL`]. Not yet checked against the URL policy (the builder that sends a
    /// token there checks it).
    pub fn issuer_url(&self) -> String {
        match &self.issuer_url {
            Some(url) => url.clone(),
            None => self
                .env
                .get_non_empty(ISSUER_URL_ENV)
                .unwrap_or_else(|| DEFAULT_ISSUER_URL.to_owned()),
        }
    }

    /// The HTTP client given with [`OidcConfig::with_http_client`], if any.
    #[cfg(feature = "__http")]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "exchange", feature = "local-dev", feature = "verifier")))
    )]
    pub fn custom_http_client(&self) -> Option<&reqwest::Client> {
        self.explicit_client.as_ref()
    }

    /// The HTTP client: the one given, else a new client with [`OidcConfig::extra_roots`].
    #[cfg(feature = "exchange")]
    pub(crate) fn http_client(&self) -> Result<reqwest::Client, Error> {
        match &self.explicit_client {
            Some(client) => Ok(client.clone()),
            None => crate::http::http_client(
                self.extra_roots()?.as_ref(),
                crate::http::DEFAULT_HTTP_TIMEOUT,
            ),
        }
    }

    pub(crate) fn set_env(&mut self, env: Env) {
        self.env = env;
    }

    pub(crate) fn set_clock(&mut self, clock: SharedClock) {
        self.clock = clock;
    }

    #[cfg_attr(not(feature = "exchange"), allow(dead_code))]
    pub(crate) fn set_extra_roots(&mut self, roots: ExtraRoots) {
        self.explicit_roots = Some(roots);
    }

    #[cfg_attr(not(feature = "exchange"), allow(dead_code))]
    pub(crate) fn set_issuer_url(&mut self, url: String) {
        self.issuer_url = Some(url);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_url_is_explicit_then_env_then_default() {
        let none = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
        assert_eq!(none.issuer_url(), DEFAULT_ISSUER_URL);
        let empty = OidcConfig::new().with_env(Env::from_pairs([(ISSUER_URL_ENV, "")]));
        assert_eq!(empty.issuer_url(), DEFAULT_ISSUER_URL);
        let env =
            OidcConfig::new().with_env(Env::from_pairs([(ISSUER_URL_ENV, "http://127.0.0.1:9")]));
        assert_eq!(env.issuer_url(), "http://127.0.0.1:9");
        let explicit = env.with_issuer_url("https://issuer.example");
        assert_eq!(explicit.issuer_url(), "https://issuer.example");
    }

    #[test]
    fn extra_roots_from_env_fail_loudly() {
        let config = OidcConfig::new().with_env(Env::from_pairs([(
            crate::http::CA_FILE_ENV,
            "/nonexistent/ca.pem",
        )]));
        let err = config.extra_roots().expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let unset = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
        assert!(unset.extra_roots().expect("ok").is_none());
    }

    #[test]
    fn debug_redacts_user_info_in_the_issuer_url() {
        let config = OidcConfig::new().with_issuer_url("https://user:hunter2@issuer.example");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("issuer.example"), "{debug}");
    }
}
