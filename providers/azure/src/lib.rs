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
//! # Why not `azure_identity::ClientAssertionCredential`
//!
//! It was measured (SPEC §8) to block every caller during a refresh, to share no failing load
//! (10 callers → 90 Entra requests), to return already-expired tokens, to send expired
//! assertions, and to lose the AADSTS code when Entra's description has an escape.
//! [`AzureCredential`] fixes each of these. For code that needs the stock credential anyway,
//! [`VercelClientAssertion`] plugs our tokens into it.
//!
//! # Environment variables
//! | variable | required | meaning |
//! |---|---|---|
//! | `AZURE_TENANT_ID` | yes, unless set in code | the tenant (directory) id |
//! | `AZURE_CLIENT_ID` | yes, unless set in code | the application (client) id |
//! | `AZURE_AUTHORITY_HOST` | no | Entra's host, `https` only (default the public cloud) |
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
//! - Only `https` authority hosts are accepted; `VERCEL_OIDC_CA_FILE` adds roots, it never
//!   disables verification.

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
pub use entra::DEFAULT_LOAD_BUDGET;
pub use error::{EntraError, Error};
/// The explanation the diagnoses of this crate give (shared with the core).
pub use vercel_oidc::Explanation;

/// An [`AzureCredential`] configured from the environment (`AZURE_TENANT_ID`,
/// `AZURE_CLIENT_ID`, `AZURE_AUTHORITY_HOST`, `VERCEL_OIDC_CA_FILE`, and the Vercel token
/// chain), as the `Arc<dyn TokenCredential>` Azure SDK clients take.
///
/// # Errors
/// [`Error::NotConfigured`] when the tenant or client id is missing,
/// [`Error::InvalidConfiguration`] when a setting is invalid.
pub fn azure_credential() -> Result<Arc<dyn TokenCredential>, Error> {
    let credential: Arc<dyn TokenCredential> = AzureCredential::builder().build()?;
    Ok(credential)
}
