//! Google Cloud credentials from a Vercel OIDC token: workload identity federation.
//!
//! Vercel's Google Cloud guide sets up a workload identity pool with an OIDC provider for
//! `https://oidc.vercel.com/<team>` (allowed audience `https://vercel.com/<team>`, mapping
//! `google.subject = assertion.sub`) and, usually, a service account the pool may impersonate.
//! This crate turns the deployment's Vercel token into Google access tokens, two ways:
//!
//! - [`GcpCredentials`]: our own exchange — STS `POST /v1/token` (RFC 8693), then, with a
//!   service account, IAM Credentials `generateAccessToken` (scopes, lifetime, delegates) —
//!   behind a non-blocking refresh-ahead cache, with typed errors that keep Google's `error`,
//!   description and HTTP status. It implements `google_cloud_auth`'s `CredentialsProvider`,
//!   so it goes into every Google Cloud Rust client, and gives the token directly (and as a
//!   `reqwest` bearer). It also mints ID tokens for Cloud Run ([`GcpCredentials::id_token`]).
//! - [`VercelSubjectTokens`]: Vercel tokens as `google_cloud_auth`'s `SubjectTokenProvider`, for
//!   Google's own external-account credentials.
//!
//! # Quick start
//!
//! Set the variables of Vercel's guide (`GCP_PROJECT_NUMBER`, `GCP_WORKLOAD_IDENTITY_POOL_ID`,
//! `GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID`, `GCP_SERVICE_ACCOUNT_EMAIL`), then:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = vercel_oidc_gcp::gcp_credentials()?;
//!
//! // Any Google Cloud Rust client: `.with_credentials(google_credentials.clone())` on its builder.
//! let google_credentials = google_cloud_auth::credentials::Credentials::from(credentials.clone());
//! # let _ = google_credentials;
//!
//! // Or the token itself, e.g. for a REST call with reqwest:
//! let request = reqwest::Client::new()
//!     .get("https://storage.googleapis.com/storage/v1/b/my-bucket/o");
//! let response = credentials.authorize(request).await?.send().await?;
//! # let _ = response; Ok(()) }
//! ```
//!
//! With the builder, everything can be set in code:
//!
//! ```no_run
//! # fn demo() -> Result<(), vercel_oidc_gcp::Error> {
//! use std::time::Duration;
//! use vercel_oidc_gcp::{GcpCredentials, provider_resource};
//!
//! let credentials = GcpCredentials::builder()
//!     .audience(provider_resource("123456789", "vercel", "acme"))
//!     .service_account("app@my-project.iam.gserviceaccount.com")
//!     .scope("https://www.googleapis.com/auth/devstorage.read_only")
//!     .lifetime(Duration::from_secs(1800))
//!     .build()?;
//! # let _ = credentials; Ok(()) }
//! ```
//!
//! # Where the token comes from
//! By default each exchange takes a fresh token from the Vercel chain
//! ([`vercel_oidc::VercelTokenSource`]): in production the `x-vercel-oidc-token` header of the
//! current request (visible behind [`vercel_oidc::RequestContextLayer`], which also keeps the
//! newest one for work outside a request), then `VERCEL_OIDC_TOKEN_FILE`, `VERCEL_OIDC_TOKEN`,
//! and in local development a refresh through the Vercel CLI's login. For a pool whose allowed
//! audiences list the provider resource instead of `https://vercel.com/<team>`, set
//! [`GcpCredentialsBuilder::exchange_audience`]: the token is exchanged for that audience first.
//!
//! # Why not only `google-cloud-auth`
//! Its external-account credentials work with [`VercelSubjectTokens`], with three traps:
//! `build()` spawns a refresh task (it needs a tokio runtime) and fetches at once; a
//! subject-token error that is not transient ends that task's refresh for good (so
//! [`VercelSubjectTokens`] reports a missing token as transient); and
//! `with_target_principal` always calls `https://iamcredentials.googleapis.com` with a 1 h
//! lifetime and no delegates. [`GcpCredentials`] fetches nothing until used, needs no runtime to
//! build, takes any lifetime and delegates, and keeps serving a valid token while a refresh
//! fails.
//!
//! # Caching
//! - While a valid token is cached, a call returns it with an atomic load, a coarse clock read
//!   and a clone: nobody waits on Google.
//! - From 5 minutes before expiry (plus up to 20 % jitter), one background refresh runs while
//!   callers keep getting the valid token; a timer starts it even when no caller comes.
//! - With no valid token, all concurrent callers share one load.
//! - A failed background refresh keeps serving the valid token and retries with backoff;
//!   callers see an error only once it has expired.
//!
//! # Retries
//! One load makes up to 4 requests to each service (configurable) with full-jitter backoff
//! (200 ms doubling up to 5 s) for transient failures only: connection errors, time-outs
//! (10 s per request), HTTP 408, 429 and 5xx, and unreadable `2xx` answers. Google's
//! rejections (`invalid_grant`, `invalid_target`, `PERMISSION_DENIED`, …) end the load at
//! once. A fresh Vercel token is read for every STS request.
//!
//! # Environment variables
//! | variable | meaning |
//! |---|---|
//! | `GCP_PROJECT_NUMBER`, `GCP_WORKLOAD_IDENTITY_POOL_ID`, `GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID` | the workload identity provider, unless [`GcpCredentialsBuilder::audience`] is set |
//! | `GCP_SERVICE_ACCOUNT_EMAIL` | the service account to impersonate (optional; without one the federated token is the access token) |
//! | `VERCEL_OIDC_TOKEN_FILE`, `VERCEL_OIDC_TOKEN` | the token outside a request, read by the Vercel chain (optional) |
//! | `VERCEL_OIDC_ISSUER_URL` | issuer base for the audience exchange (with `exchange_audience`) |
//! | `VERCEL_OIDC_CA_FILE` | extra PEM roots added to the HTTP client (unless the `OidcConfig` brings its own) |
//!
//! All are read through [`vercel_oidc::Env`] (the builder's `.env(..)` or `.configure(..)`), so
//! tests never touch the process environment.
//!
//! # Security
//! - Vercel tokens, federated tokens, access tokens and ID tokens are never logged and never
//!   put in an error; [`AccessToken`] and [`IdToken`] print `([redacted])` and zeroize on drop;
//!   outgoing `Authorization` headers are marked sensitive.
//! - Google's answers are untrusted: bodies are capped at 256 KiB, parsing never panics, a
//!   token that is already expired or claims more than 7 days of life is refused, and errors
//!   keep only the documented fields, sanitised and bounded.
//! - The STS and IAM Credentials URLs must be `https` (`http` only on a loopback host, for
//!   tests), without user info, query or fragment ([`Error::InvalidEndpoint`] shows the URL
//!   with any user info redacted). The service account goes into the URL path and must be an
//!   email or unique id.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod credentials;
pub mod error;
mod exchange;
mod subject;
mod token;

pub use builder::{
    DEFAULT_IAM_CREDENTIALS_URL, DEFAULT_LIFETIME, DEFAULT_TOKEN_URL, GcpCredentialsBuilder,
    MAX_LIFETIME, provider_resource,
};
pub use credentials::{GcpCredentials, MAX_CACHED_AUDIENCES};
pub use error::{Error, Failure, GoogleError, Service};
pub use exchange::{CLOUD_PLATFORM_SCOPE, IAM_SCOPE, SUBJECT_TOKEN_TYPE_JWT};
pub use subject::{SubjectTokenError, VercelSubjectTokens, VercelSubjectTokensBuilder};
pub use token::{AccessToken, IdToken};

/// [`GcpCredentials`] configured from the environment: the workload identity provider from
/// `GCP_PROJECT_NUMBER`, `GCP_WORKLOAD_IDENTITY_POOL_ID` and
/// `GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID`, the service account from
/// `GCP_SERVICE_ACCOUNT_EMAIL` (optional), tokens from the Vercel chain. Fetches nothing yet.
///
/// Shared ([`GcpCredentialsBuilder::shared`]): every call with the same environment returns a
/// clone of one instance, so a handler that calls it on every request still exchanges once per
/// token lifetime.
///
/// # Errors
/// [`Error::NotConfigured`] when the provider variables are missing,
/// [`Error::InvalidConfiguration`] when one is malformed (see
/// [`GcpCredentialsBuilder::build`]).
pub fn gcp_credentials() -> Result<GcpCredentials, Error> {
    GcpCredentials::builder().shared(true).build()
}
