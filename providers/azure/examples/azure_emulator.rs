//! The whole flow on one machine, with no Azure account: the testkit's Vercel issuer mints the
//! OIDC token, its Entra emulator (HTTPS, its own CA) exchanges it for an access token.
//!
//! ```sh
//! cargo run -p vercel-oidc-azure --example azure_emulator
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Transport};
use vercel_oidc::{Env, OidcToken, token_source_fn};
use vercel_oidc_azure::AzureCredential;
use vercel_oidc_testkit::Issuer;
use vercel_oidc_testkit::entra::{Entra, FederatedCredential};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A Vercel issuer, and an Entra app with a federated credential for its default tokens.
    let issuer = Arc::new(Issuer::builder().team_slug("acme").start().await?);
    let entra = Entra::builder()
        .federated_credential(FederatedCredential::for_issuer(&issuer))
        .start()
        .await?;
    println!(
        "issuer {} → Entra {}",
        issuer.team_issuer(),
        entra.authority()
    );

    // On Vercel the default token source finds the token; here the issuer mints one per request.
    let minter = Arc::clone(&issuer);
    let source = token_source_fn(move || {
        let raw = minter.token().sign();
        async move { OidcToken::parse(raw) }
    });
    let credential = AzureCredential::builder()
        .tenant_id(entra.tenant_id())
        .client_id(entra.client_id())
        .authority_host(entra.authority())
        // Trust the emulator's CA (in production: VERCEL_OIDC_CA_FILE, or nothing at all).
        .client_options(ClientOptions {
            transport: Some(Transport::new(Arc::new(entra.reqwest_client()))),
            ..Default::default()
        })
        .token_source(source)
        .env(Env::from_pairs::<&str, &str>([]))
        .build()?;

    let scope = "https://vault.azure.net/.default";
    let token = credential.get_token(&[scope], None).await?;
    println!("access token for {scope}: expires {}", token.expires_on);
    let again = credential.get_token(&[scope], None).await?;
    assert_eq!(again.token, token.token);
    println!(
        "second call served from the cache; Entra saw {} request(s)",
        entra.requests()
    );

    // A rejection keeps Entra's AADSTS code.
    let wrong = AzureCredential::builder()
        .tenant_id(entra.tenant_id())
        .client_id(entra.client_id())
        .authority_host(entra.authority())
        .client_options(ClientOptions {
            transport: Some(Transport::new(Arc::new(entra.reqwest_client()))),
            ..Default::default()
        })
        .token_source(vercel_oidc::FixedTokenSource::new(OidcToken::parse(
            issuer
                .token()
                .subject("owner:acme:project:other:environment:preview")
                .sign(),
        )?))
        .env(Env::from_pairs::<&str, &str>([]))
        .build()?;
    let error = wrong
        .get_token(&[scope], None)
        .await
        .err()
        .ok_or("expected a rejection")?;
    println!("rejected as expected: {error}");
    Ok(())
}
