//! [`VercelSubjectTokens`]: Vercel OIDC tokens as `google_cloud_auth`'s subject tokens.

use std::fmt;
use std::time::Duration;

use google_cloud_auth::credentials::external_account::ProgrammaticBuilder;
use google_cloud_auth::credentials::subject_token::{
    Builder as SubjectTokenBuilder, SubjectToken, SubjectTokenProvider,
};
use google_cloud_auth::errors::SubjectTokenProviderError;
use vercel_oidc::{
    AudienceExchange, Env, OidcConfig, SharedTokenSource, TokenSetup, TokenSource,
    VercelTokenSource,
};

use crate::error::Error;
use crate::exchange::SUBJECT_TOKEN_TYPE_JWT;

/// Vercel OIDC tokens as the subject tokens of Google's own external-account credentials
/// (`google_cloud_auth::credentials::external_account::ProgrammaticBuilder`), so every Google
/// Cloud Rust client authenticates with your deployment's Vercel token.
///
/// Each call takes a fresh token from the source (by default the Vercel chain,
/// [`VercelTokenSource`]: the request's `x-vercel-oidc-token` header, `VERCEL_OIDC_TOKEN_FILE`,
/// the newest header token, `VERCEL_OIDC_TOKEN`, the local-dev refresh).
///
/// A missing token is reported as **transient** ([`SubjectTokenError::is_transient`]):
/// `google_cloud_auth`'s refresh task gives up for good on a non-transient subject-token error,
/// and a function that builds its credentials at a cold start, outside any request, has no
/// token until the first request brings one. (Measured with `google-cloud-auth` 1.19: after a
/// transient failure its refresh task tries again 10 s later, and calls in between get the
/// error.)
///
/// ```no_run
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use vercel_oidc_gcp::VercelSubjectTokens;
///
/// // Inside a tokio runtime: google-cloud-auth's `build()` spawns its refresh task.
/// let credentials = VercelSubjectTokens::new()
///     .external_account_builder(
///         "//iam.googleapis.com/projects/123456789/locations/global/\
///          workloadIdentityPools/vercel/providers/vercel",
///     )
///     .with_scopes(["https://www.googleapis.com/auth/cloud-platform"])
///     .build()?; // google_cloud_auth::credentials::Credentials, for any Google Cloud client
/// # let _ = credentials; Ok(()) }
/// ```
///
/// Google's builder has traps this type cannot remove (see the crate docs):
/// `with_target_principal` always calls `https://iamcredentials.googleapis.com` with a 1 h
/// lifetime and no delegates. [`GcpCredentials`](crate::GcpCredentials) has none of them.
#[derive(Clone)]
pub struct VercelSubjectTokens {
    source: SharedTokenSource,
}

impl fmt::Debug for VercelSubjectTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VercelSubjectTokens")
            .field("source", &self.source)
            .finish()
    }
}

impl Default for VercelSubjectTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl VercelSubjectTokens {
    /// Tokens from the Vercel chain, reading the process environment.
    pub fn new() -> Self {
        Self {
            source: SharedTokenSource::new(VercelTokenSource::builder().build()),
        }
    }

    /// Tokens from `source`.
    pub fn from_source(source: impl TokenSource + 'static) -> Self {
        Self {
            source: SharedTokenSource::new(source),
        }
    }

    /// A builder: the token source, an audience exchange in front of Google, the shared
    /// [`OidcConfig`].
    pub fn builder() -> VercelSubjectTokensBuilder {
        VercelSubjectTokensBuilder::default()
    }

    /// Google's builder for external-account credentials whose subject tokens come from here:
    /// `ProgrammaticBuilder::new(..)` with the workload identity provider `audience`
    /// (`//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`)
    /// and the subject token type `urn:ietf:params:oauth:token-type:jwt`. Set scopes, the
    /// token URL and the rest on it, then `build()` inside a tokio runtime.
    pub fn external_account_builder(self, audience: impl Into<String>) -> ProgrammaticBuilder {
        ProgrammaticBuilder::new(std::sync::Arc::new(self))
            .with_audience(audience.into())
            .with_subject_token_type(SUBJECT_TOKEN_TYPE_JWT)
    }
}

impl SubjectTokenProvider for VercelSubjectTokens {
    type Error = SubjectTokenError;

    async fn subject_token(&self) -> Result<SubjectToken, Self::Error> {
        let token = self.source.token().await.map_err(SubjectTokenError)?;
        Ok(SubjectTokenBuilder::new(token.expose_secret().to_owned()).build())
    }
}

/// Why [`VercelSubjectTokens`] had no subject token: the token source's error.
#[derive(Debug, Clone)]
pub struct SubjectTokenError(vercel_oidc::Error);

impl SubjectTokenError {
    /// The token source's error.
    pub fn source_error(&self) -> &vercel_oidc::Error {
        &self.0
    }
}

impl fmt::Display for SubjectTokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no Vercel OIDC token for the Google token exchange")
    }
}

impl std::error::Error for SubjectTokenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl SubjectTokenProviderError for SubjectTokenError {
    /// Everything but a configuration error is transient: no token *yet* (a cold start outside
    /// a request), an expired token the next request replaces, a failing local-dev refresh.
    fn is_transient(&self) -> bool {
        !self.0.is_invalid_configuration()
    }
}

/// Builder for [`VercelSubjectTokens`].
#[derive(Debug, Default)]
pub struct VercelSubjectTokensBuilder {
    source: Option<SharedTokenSource>,
    exchange_audience: Option<String>,
    jti: Option<String>,
    exchange: Option<AudienceExchange>,
    config: OidcConfig,
}

impl VercelSubjectTokensBuilder {
    /// Where tokens come from. Defaults to the Vercel chain with this builder's
    /// [`OidcConfig`].
    pub fn token_source(mut self, source: impl TokenSource + 'static) -> Self {
        self.source = Some(SharedTokenSource::new(source));
        self
    }

    /// Exchanges each Vercel token for one with this audience first (`POST {issuer}/~token`),
    /// for a pool whose allowed audiences list another audience than the token's. Defaults to
    /// none: the Vercel token goes to Google as it is (its `aud`, `https://vercel.com/<team>`,
    /// is what Vercel's guide lists as the allowed audience).
    pub fn exchange_audience(mut self, audience: impl Into<String>) -> Self {
        self.exchange_audience = Some(audience.into());
        self
    }

    /// The `jti` sent with the audience exchange. Defaults to none.
    pub fn exchange_jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = Some(jti.into());
        self
    }

    /// The exchange used with [`exchange_audience`](Self::exchange_audience). Defaults to one
    /// built from the [`OidcConfig`].
    pub fn audience_exchange(mut self, exchange: AudienceExchange) -> Self {
        self.exchange = Some(exchange);
        self
    }

    /// The settings shared with every vercel-oidc builder (env, clock, roots, issuer, HTTP
    /// client). Defaults to [`OidcConfig::new`].
    pub fn configure(mut self, config: &OidcConfig) -> Self {
        self.config = config.clone();
        self
    }

    /// Where env vars are read (shorthand for the [`OidcConfig`] field). Defaults to the
    /// process environment.
    pub fn env(mut self, env: Env) -> Self {
        self.config = self.config.with_env(env);
        self
    }

    /// Builds the provider.
    ///
    /// # Errors
    /// [`Error::InvalidConfiguration`] for an empty exchange audience or an exchange that
    /// cannot be built (an issuer URL outside the URL policy, an unusable CA file).
    pub fn build(self) -> Result<VercelSubjectTokens, Error> {
        let source = token_setup(
            self.source,
            self.exchange_audience,
            self.jti,
            self.exchange,
            &self.config,
        )?;
        Ok(VercelSubjectTokens { source })
    }
}

/// The token source: given, else the Vercel chain; behind the audience exchange when an
/// audience is set.
pub(crate) fn token_setup(
    source: Option<SharedTokenSource>,
    audience: Option<String>,
    jti: Option<String>,
    exchange: Option<AudienceExchange>,
    config: &OidcConfig,
) -> Result<SharedTokenSource, Error> {
    let mut setup = TokenSetup::new();
    if let Some(source) = source {
        setup = setup.token_source(source);
    }
    if let Some(audience) = audience {
        setup = setup.audience(audience);
    }
    if let Some(jti) = jti {
        setup = setup.jti(jti);
    }
    if let Some(exchange) = exchange {
        setup = setup.audience_exchange(exchange);
    }
    let tokens = setup
        .resolve(config, Duration::ZERO)
        .map_err(|e| Error::config_with("the Vercel token source could not be set up", e))?;
    Ok(tokens.into_token_source())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vercel_oidc::FixedTokenSource;

    #[tokio::test]
    async fn a_missing_token_is_transient_and_a_token_passes_through() {
        let empty = VercelSubjectTokens::builder()
            .env(Env::from_pairs::<&str, &str>([]))
            .build()
            .expect("builds");
        let err = empty.subject_token().await.expect_err("no token");
        assert!(err.is_transient(), "{err}");
        assert!(err.source_error().is_not_configured());
        assert_eq!(
            err.to_string(),
            "no Vercel OIDC token for the Google token exchange"
        );

        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
        let fixed = VercelSubjectTokens::from_source(FixedTokenSource::new(
            vercel_oidc::OidcToken::parse(jwt).expect("parses"),
        ));
        let token = fixed.subject_token().await.expect("token");
        // `SubjectToken` exposes nothing but Debug; its Debug is google-cloud-auth's.
        assert!(format!("{token:?}").contains(jwt));
        assert!(!format!("{fixed:?}").contains(jwt));
    }

    #[test]
    fn configuration_errors_are_not_transient() {
        let err = SubjectTokenError(vercel_oidc::Error::InvalidConfiguration {
            message: "bad".into(),
            source: None,
        });
        assert!(!err.is_transient());
        let empty = VercelSubjectTokens::builder()
            .exchange_audience(" ")
            .build()
            .expect_err("empty audience");
        assert!(empty.is_invalid_configuration(), "{empty}");
    }
}
