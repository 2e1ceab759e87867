//! Azure credentials from Vercel OIDC tokens.
//!
//! [`AzureCredential`] is an `azure_core::credentials::TokenCredential` for the Azure SDK for
//! Rust that signs in as an Entra ID application through workload identity federation: its
//! client assertion is your deployment's Vercel OIDC token. Give it to any Azure SDK client.
//!
//! # Quick start
//!
//! Register a federated credential on the app (issuer `https://oidc.vercel.com/<team>`, subject
//! `owner:<team>:project:<project>:environment:<environment>`, audience
//! `https://vercel.com/<team>`), set `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`, then:
//!
//! ```no_run
//! use azure_core::credentials::TokenCredential;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let credential = vercel_oidc_azure::azure_credential()?; // Arc<dyn TokenCredential>
//! // Any Azure SDK client takes it, e.g. `SecretClient::new(vault_url, credential, None)`.
//! let token = credential.get_token(&["https://vault.azure.net/.default"], None).await?;
//! # let _ = token;
//! # Ok(()) }
//! ```
//!
//! With the builder, everything can be set in code:
//!
//! ```no_run
//! # fn demo() -> Result<(), vercel_oidc_azure::Error> {
//! let credential = vercel_oidc_azure::AzureCredential::builder()
//!     .tenant_id("00000000-0000-0000-0000-000000000000")
//!     .client_id("11111111-1111-1111-1111-111111111111")
//!     .audience("api://AzureADTokenExchange") // exchange the Vercel token first (optional)
//!     .build()?;
//! # let _ = credential;
//! # Ok(()) }
//! ```
//!
//! # Where the assertion comes from
//!
//! By default each Entra ID request takes a fresh token from the Vercel chain
//! ([`vercel_oidc::VercelTokenSource`]):
//!
//! 1. in production, the `x-vercel-oidc-token` header Vercel's proxy adds to every request to
//!    your function. It is visible only inside a request handled behind
//!    [`vercel_oidc::RequestContextLayer`] (axum, or any tower stack); on Vercel the layer also
//!    keeps the newest token for work outside a request;
//! 2. `VERCEL_OIDC_TOKEN_FILE`, then `VERCEL_OIDC_TOKEN` (builds, `vercel env pull`, tests);
//! 3. in local development, a refresh through the Vercel CLI's login of the linked project.
//!
//! A load runs with the request context of the caller that started it, so a token fetched
//! inside a handler uses that request's header:
//!
//! ```no_run
//! use std::sync::Arc;
//! use azure_core::credentials::TokenCredential;
//! use tower::ServiceBuilder;
//! use vercel_oidc::RequestContextLayer;
//!
//! # fn demo() -> Result<(), vercel_oidc_azure::Error> {
//! let credential = vercel_oidc_azure::azure_credential()?;
//! let service = ServiceBuilder::new()
//!     .layer(RequestContextLayer::new())
//!     .service_fn(move |_request: http::Request<String>| {
//!         let credential = Arc::clone(&credential);
//!         async move {
//!             // The client assertion is this request's `x-vercel-oidc-token`.
//!             let _token = credential
//!                 .get_token(&["https://vault.azure.net/.default"], None)
//!                 .await?;
//!             Ok::<_, azure_core::Error>(http::Response::new(String::from("ok")))
//!         }
//!     });
//! # let _ = service;
//! # Ok(()) }
//! ```
//!
//! With axum, the same layer goes on the router:
//! `Router::new().route("/", get(handler)).layer(RequestContextLayer::new())`.
//!
//! # Retries
//! A failing load is retried with the credential's [`RetryBudget`]: by default at most 3
//! retries (4 attempts) of transient failures, all within 30 s, with full-jitter backoff and
//! Entra ID's `Retry-After` honoured within the budget; permanent AADSTS answers are not
//! retried. Set it with [`AzureCredentialBuilder::retry_budget`],
//! [`max_retries`](AzureCredentialBuilder::max_retries) or
//! [`load_budget`](AzureCredentialBuilder::load_budget), or retry in the `azure_core` pipeline
//! instead with [`retry_in_pipeline`](AzureCredentialBuilder::retry_in_pipeline).
//!
//! # Why not `azure_identity::ClientAssertionCredential`
//!
//! Measured against the emulator, it blocks every caller during a refresh, shares no failing
//! load (10 callers → 90 Entra requests), returns already-expired tokens, sends expired
//! assertions, and loses the AADSTS code when Entra's description has an escape.
//! [`AzureCredential`] fixes each of these. For code that needs the stock credential anyway,
//! [`VercelClientAssertion`] plugs our tokens into it.
//!
//! # Environment variables
//! | variable | required | meaning |
//! |---|---|---|
//! | `AZURE_TENANT_ID` | yes, unless set in code | the tenant (directory) id |
//! | `AZURE_CLIENT_ID` | yes, unless set in code | the application (client) id |
//! | `AZURE_AUTHORITY_HOST` | no | Entra's host, `https` (`http` only on loopback; default the public cloud) |
//! | `VERCEL_OIDC_CA_FILE` | no | extra PEM roots for the HTTP client the credential builds |
//! | `VERCEL_OIDC_TOKEN`, `VERCEL_OIDC_TOKEN_FILE` | no | read by the default token source |
//! | `VERCEL_OIDC_ISSUER_URL` | no | issuer of the audience exchange, when one is configured |
//!
//! # Security
//! - The assertion and access tokens are never logged, never put in an error and never kept
//!   beyond the request (the assertion) or the cache (the token). `Debug` of every type here
//!   prints no secret.
//! - An assertion that expires within the margin (30 s) is never sent.
//! - Entra's answers are untrusted: parsing is lenient and never panics; an error keeps only the
//!   documented fields, never the body.
//! - The authority host must be `https` (`http` only on a loopback host, for tests and local
//!   proxies), without user info, query or fragment ([`Error::InvalidAuthority`], which shows
//!   the URL with any user info redacted). `VERCEL_OIDC_CA_FILE` adds roots, it never disables
//!   verification.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod assertion;
mod credential;
mod diagnose;
mod entra;
pub mod error;
#[cfg(any(test, feature = "__fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

use std::sync::Arc;

use azure_core::credentials::TokenCredential;

pub use assertion::{
    DEFAULT_ASSERTION_MARGIN, VercelClientAssertion, VercelClientAssertionBuilder,
};
pub use credential::{
    AzureCredential, AzureCredentialBuilder, MAX_CACHED_SCOPE_SETS, PUBLIC_CLOUD_AUTHORITY,
};
pub use diagnose::{AzureFederation, FederationError, explain_entra_error};
pub use entra::{DEFAULT_LOAD_BUDGET, DEFAULT_MAX_RETRIES, RetryBudget};
pub use error::{EntraError, Error};
/// The explanation the diagnoses of this crate give (shared with the core).
pub use vercel_oidc::Explanation;

/// An [`AzureCredential`] configured from the environment (`AZURE_TENANT_ID`,
/// `AZURE_CLIENT_ID`, `AZURE_AUTHORITY_HOST`, `VERCEL_OIDC_CA_FILE`, and the Vercel token
/// chain), as the `Arc<dyn TokenCredential>` Azure SDK clients take.
///
/// Calls with the same environment return the same credential (one process-wide cache per
/// configuration; see [`AzureCredentialBuilder::shared`]): a handler that calls it on every
/// request makes one Entra call per token lifetime, not one per request.
///
/// # Errors
/// [`Error::NotConfigured`] when the tenant or client id is missing,
/// [`Error::InvalidAuthority`] for a refused `AZURE_AUTHORITY_HOST`,
/// [`Error::InvalidConfiguration`] when another setting is invalid.
pub fn azure_credential() -> Result<Arc<dyn TokenCredential>, Error> {
    let credential: Arc<dyn TokenCredential> = AzureCredential::builder().shared(true).build()?;
    Ok(credential)
}
