//! Read a Key Vault secret with the Vercel-federated credential, through `azure_core`'s own
//! pipeline and bearer-token policy — what every Azure SDK client does inside.
//!
//! Why not `azure_security_keyvault_secrets::SecretClient`? On the registry today it exists only
//! as a beta built on `azure_core` 1.2 beta, whose `TokenCredential` is a different trait from
//! `azure_core` 1.1's that this crate implements, so the two do not link together. With a
//! matching release the code is one line:
//! `SecretClient::new(vault_url, credential, None)?.get_secret(name, None).await?`.
//!
//! Run on Vercel (or with `VERCEL_OIDC_TOKEN` set), with `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//! `KEY_VAULT_URL` (e.g. `https://my-vault.vault.azure.net`) and `SECRET_NAME`:
//!
//! ```sh
//! cargo run -p vercel-oidc-azure --example key_vault
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{ClientOptions, Context, Method, Pipeline, Request, Url};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // AZURE_TENANT_ID, AZURE_CLIENT_ID and the Vercel token chain from the environment.
    let credential = vercel_oidc_azure::azure_credential()?;

    let vault = std::env::var("KEY_VAULT_URL")?;
    let name = std::env::var("SECRET_NAME")?;
    let auth: Arc<dyn Policy> = Arc::new(BearerTokenAuthorizationPolicy::new(
        credential,
        ["https://vault.azure.net/.default"],
    ));
    let pipeline = Pipeline::new(
        Some("key-vault-example"),
        Some("0.1.0"),
        ClientOptions::default(),
        Vec::new(),
        vec![auth],
        None,
    );

    let url = Url::parse(&format!(
        "{}/secrets/{name}?api-version=7.5",
        vault.trim_end_matches('/')
    ))?;
    let mut request = Request::new(url, Method::Get);
    let response = pipeline.send(&Context::new(), &mut request, None).await?;
    let secret: serde_json::Value = response.into_body().json()?;
    // Print metadata only: the value is a secret.
    println!(
        "read secret {name} (version {}), {} bytes",
        secret["id"].as_str().unwrap_or("?"),
        secret["value"].as_str().map_or(0, str::len)
    );
    Ok(())
}
