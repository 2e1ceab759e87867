//! Read a Key Vault secret with the Vercel-federated credential, through
//! `azure_security_keyvault_secrets`' `SecretClient` (azure_core 1.x, like this crate).
//!
//! Run on Vercel (or with `VERCEL_OIDC_TOKEN` set), with `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//! `KEY_VAULT_URL` (e.g. `https://my-vault.vault.azure.net`) and `SECRET_NAME`:
//!
//! ```sh
//! cargo run -p vercel-oidc-azure --example key_vault
//! ```
//!
//! Inside a request handler behind `vercel_oidc::RequestContextLayer`, the assertion is that
//! request's `x-vercel-oidc-token`; here, outside any request, it comes from the environment.
#![allow(clippy::print_stdout)]

use azure_security_keyvault_secrets::SecretClient;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // AZURE_TENANT_ID, AZURE_CLIENT_ID and the Vercel token chain from the environment.
    let credential = vercel_oidc_azure::azure_credential()?;

    let vault = std::env::var("KEY_VAULT_URL")?;
    let name = std::env::var("SECRET_NAME")?;
    let client = SecretClient::new(&vault, credential, None)?;
    let secret = client.get_secret(&name, None).await?.into_model()?;
    // Print metadata only: the value is a secret.
    println!(
        "read secret {name} (version {}), {} bytes",
        secret.id.as_deref().unwrap_or("?"),
        secret.value.as_deref().map_or(0, str::len)
    );
    Ok(())
}
