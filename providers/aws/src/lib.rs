//! AWS credentials from a Vercel OIDC token: the Rust counterpart of the npm package
//! `@vercel/oidc-aws-credentials-provider`.
//!
//! [`AwsCredentialsProvider`] exchanges a fresh Vercel OIDC token for temporary AWS credentials
//! with STS `AssumeRoleWithWebIdentity`, through the real `aws-sdk-sts` client (built once and
//! reused). It implements `aws_credential_types::provider::ProvideCredentials`, so it goes into
//! `aws_config::defaults(..).credentials_provider(..)` and every AWS SDK client.
//!
//! # Quick start
//!
//! ```no_run
//! # async fn demo() {
//! use aws_config::BehaviorVersion;
//!
//! // Like `awsCredentialsProvider({ roleArn })`: token, region and endpoint from the environment.
//! let provider = vercel_oidc_aws::aws_credentials_provider("arn:aws:iam::123456789012:role/app");
//! let config = aws_config::defaults(BehaviorVersion::latest())
//!     .credentials_provider(provider)
//!     .load()
//!     .await;
//! let sts = aws_sdk_sts::Client::new(&config); // or aws_sdk_s3::Client::new(&config), …
//! let me = sts.get_caller_identity().send().await;
//! # let _ = me;
//! # }
//! ```
//!
//! # Where the token comes from
//! In production on Vercel, each request to a function carries the deployment's OIDC token in
//! the `x-vercel-oidc-token` request header; there is no `VERCEL_OIDC_TOKEN` at run time. Put
//! [`vercel_oidc::RequestContextLayer`] in front of your handlers (an axum `Router`, or any
//! tower stack): it makes each request's token visible to the provider while that request is
//! handled, and on Vercel keeps the newest one for work outside a request (the background
//! refresh of the credentials, a timer, a spawned task).
//!
//! The provider's default token source is the Vercel chain ([`vercel_oidc::VercelTokenSource`]),
//! first hit wins: the current request's header, the file named by `VERCEL_OIDC_TOKEN_FILE`, the
//! newest header token the layer kept, `VERCEL_OIDC_TOKEN` (set during builds and by
//! `vercel env pull`), and in local development a refresh through the Vercel CLI's login.
//!
//! ```no_run
//! use aws_config::BehaviorVersion;
//! use axum::Router;
//! use axum::extract::State;
//! use axum::routing::get;
//! use vercel_oidc::RequestContextLayer;
//!
//! async fn whoami(State(sts): State<aws_sdk_sts::Client>) -> String {
//!     // The credentials come from the OIDC token in this request's `x-vercel-oidc-token`.
//!     match sts.get_caller_identity().send().await {
//!         Ok(me) => me.arn().unwrap_or("-").to_owned(),
//!         Err(error) => format!("no AWS credentials: {error}"),
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let provider = vercel_oidc_aws::aws_credentials_provider("arn:aws:iam::123456789012:role/app");
//!     let config = aws_config::defaults(BehaviorVersion::latest())
//!         .credentials_provider(provider)
//!         .load()
//!         .await;
//!     let app = Router::new()
//!         .route("/", get(whoami))
//!         .with_state(aws_sdk_sts::Client::new(&config))
//!         .layer(RequestContextLayer::new());
//!     let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
//!
//! With every option (the builder's `build()` reports configuration errors at once):
//!
//! ```no_run
//! # fn demo(config: &aws_types::SdkConfig) -> Result<(), vercel_oidc_aws::Error> {
//! use std::time::Duration;
//! use vercel_oidc_aws::AwsCredentialsProvider;
//!
//! // Region, endpoint and HTTP client from an SdkConfig (role from AWS_ROLE_ARN unless set).
//! let provider = AwsCredentialsProvider::from_sdk_config(config)
//!     .role_arn("arn:aws:iam::123456789012:role/app")
//!     .session_name("checkout")
//!     .session_length(Duration::from_secs(3600))
//!     .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
//!     .policy(r#"{"Version":"2012-10-17","Statement":[]}"#)
//!     .build()?;
//! # let _ = provider; Ok(()) }
//! ```
//!
//! # Region
//! STS is called in the region of aws-config's chain, without the instance metadata service:
//! the builder's `.region(..)`, the region of the `SdkConfig` given to `.sdk_config(..)` /
//! [`AwsCredentialsProvider::from_sdk_config`], `AWS_REGION`, `AWS_DEFAULT_REGION`, then the
//! `region` of the active profile (`AWS_PROFILE`, else `default`) in `AWS_CONFIG_FILE` (else
//! `~/.aws/config`) or `AWS_SHARED_CREDENTIALS_FILE` (else `~/.aws/credentials`). With no
//! region and no endpoint override, building fails: never a silent `us-east-1`.
//!
//! # Caching
//! - While valid credentials are cached, a call returns them with an atomic load, a coarse clock
//!   read and a clone (`provide_credentials` is `ready` at once): nobody waits on STS.
//! - From 5 minutes before expiry (plus up to 20 % jitter), one background refresh runs while
//!   every caller keeps getting the still-valid credentials; a timer starts it even when no
//!   caller comes (the SDK's own identity cache asks only seconds before expiry).
//! - With no valid credentials, all concurrent callers share one STS call.
//! - A failed background refresh keeps serving the valid credentials and retries with backoff;
//!   callers see an error only once the credentials have expired.
//! - Clones share one cache: many SDK clients, one STS call per credential lifetime.
//!
//! # Retries
//! One load makes up to 4 STS requests (configurable) with full-jitter exponential backoff for
//! throttling, HTTP 5xx, timeouts, connection failures, `IDPCommunicationError` and
//! `InvalidIdentityToken` "Couldn't retrieve verification key". `ExpiredTokenException` fetches
//! a new OIDC token and retries once. The STS client's own retries are off, so they do not
//! multiply. A fresh OIDC token is read for every STS request.
//!
//! # Errors
//! [`Error`] maps to `CredentialsError` kinds: no Vercel token → `CredentialsNotLoaded` (a chain
//! moves on); bad or missing configuration, or an STS `ValidationError` → `InvalidConfiguration`;
//! STS rejections and unusable responses (including credentials that are already expired) →
//! `ProviderError`; STS timing out on every attempt → `ProviderTimedOut`.
//!
//! # Environment variables
//! | variable | meaning |
//! |---|---|
//! | `AWS_ROLE_ARN` | the role, when [`RoleArn::from_env`] is passed (optional) |
//! | `AWS_ROLE_SESSION_NAME` | the session name (optional; else `vercel-oidc-<millis>`) |
//! | `AWS_REGION`, `AWS_DEFAULT_REGION` | the STS region when no region or `SdkConfig` region is given |
//! | `AWS_PROFILE`, `AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, `HOME` | the profile whose `region` is the last resort (optional) |
//! | `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL` | STS endpoint override (optional) |
//! | `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` | `true` ignores the two above |
//! | `VERCEL_OIDC_TOKEN_FILE`, `VERCEL_OIDC_TOKEN` | the token outside a request, read by the Vercel chain (optional) |
//! | `VERCEL_OIDC_ISSUER_URL` | issuer base for the audience exchange (with `.audience(..)`) |
//! | `VERCEL_OIDC_CA_FILE` | extra PEM roots added to the STS client's HTTPS trust (unless the `SdkConfig` brings its own HTTP client) |
//!
//! All are read through [`vercel_oidc::Env`] (the builder's `.env(..)`), so tests never touch
//! the process environment.
//!
//! # Security
//! - Credentials are secrets: `Credentials`' `Debug` redacts the secret key and session token,
//!   and this crate never logs credentials or the OIDC token. Errors keep an STS error code, a
//!   bounded, sanitised message and the request id, never a response body.
//! - STS's response is untrusted: credentials that are missing, empty or already expired are an
//!   error, not a value.

mod builder;
mod diagnose;
mod error;
#[cfg(any(test, feature = "__fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod load;
mod provider;

pub use builder::{AwsCredentialsProviderBuilder, MAX_DURATION, MIN_DURATION, RoleArn};
pub use diagnose::{AwsTrust, explain_rejection};
pub use error::{Error, StsFailure};
pub use load::PROVIDER_NAME;
pub use provider::AwsCredentialsProvider;
/// The explanation the diagnoses of this crate give (shared with the core).
pub use vercel_oidc::Explanation;

/// The one-call provider, like the npm `awsCredentialsProvider({ roleArn })`: token, region and
/// endpoint from the environment.
///
/// Returns the provider itself (not a `Result`), so it goes straight into
/// `.credentials_provider(..)`. A configuration it cannot resolve (no region, a malformed role
/// ARN, no `AWS_ROLE_ARN` with [`RoleArn::from_env`]) surfaces on first use as
/// `CredentialsError::InvalidConfiguration`. Use [`AwsCredentialsProvider::builder`] to see
/// such errors at once, or to set options.
///
/// Providers from this function share one process-wide cache per configuration (the role, and
/// the environment a build reads; see [`AwsCredentialsProviderBuilder::shared`]): a handler that
/// calls it on every request makes one STS call per credential lifetime, not one per request.
pub fn aws_credentials_provider(role_arn: impl Into<RoleArn>) -> AwsCredentialsProvider {
    AwsCredentialsProvider::builder(role_arn)
        .shared(true)
        .build()
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "vercel-oidc-aws: provider not usable");
            AwsCredentialsProvider::failing(error)
        })
}

/// The examples of `docs/performance.md` compile as doctests, exactly as a reader sees them.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/performance.md")]
struct PerformanceDoc;
