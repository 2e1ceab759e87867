//! The stock `azure_identity::ClientAssertionCredential` with Vercel tokens as assertions.
//!
//! Prefer `vercel_oidc_azure::AzureCredential` (see `VercelClientAssertion`'s docs for the
//! measured trade-offs); use this when your code is built around `azure_identity`.
//!
//! Run on Vercel (or with `VERCEL_OIDC_TOKEN` set), with `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`:
//!
//! ```sh
//! cargo run -p vercel-oidc-azure --example client_assertion_credential
//! ```
#![allow(clippy::print_stdout)]

use azure_core::credentials::TokenCredential;
use azure_identity::ClientAssertionCredential;
use vercel_oidc_azure::VercelClientAssertion;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The Vercel token chain; add `.audience("api://AzureADTokenExchange")` to exchange first.
    let assertion = VercelClientAssertion::builder().build()?;
    let credential = ClientAssertionCredential::new(
        std::env::var("AZURE_TENANT_ID")?,
        std::env::var("AZURE_CLIENT_ID")?,
        assertion,
        None,
    )?;
    let token = credential
        .get_token(&["https://management.azure.com/.default"], None)
        .await?;
    println!("access token expires {}", token.expires_on);
    Ok(())
}
