//! `vercel-oidc azure token`.

use azure_core::credentials::TokenCredential as _;
use clap::{Args, Subcommand};
use vercel_oidc::Env;
use vercel_oidc_azure::AzureCredential;

use crate::Failure;

/// Azure subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AzureCommand {
    /// Print an Entra ID access token as JSON (`access_token`, `expires_on` in unix seconds,
    /// `token_type`), using the Vercel token as the client assertion of a federated credential.
    Token(AzureTokenArgs),
}

/// What to ask Entra for.
#[derive(Debug, Args)]
pub(crate) struct AzureTokenArgs {
    /// The Entra tenant (directory) id.
    #[arg(long, env = "AZURE_TENANT_ID", value_name = "TENANT")]
    tenant_id: String,
    /// The app registration's (client) id with the federated credential.
    #[arg(long, env = "AZURE_CLIENT_ID", value_name = "CLIENT")]
    client_id: String,
    /// The scope, e.g. https://vault.azure.net/.default; repeat for several.
    #[arg(long = "scope", value_name = "SCOPE", required = true)]
    scopes: Vec<String>,
    /// Authority host (https only; default AZURE_AUTHORITY_HOST, else the public cloud).
    #[arg(long, value_name = "URL")]
    authority_host: Option<String>,
    /// Exchange the Vercel token for this audience first (e.g. api://AzureADTokenExchange).
    #[arg(long, value_name = "AUD")]
    audience: Option<String>,
}

pub(crate) async fn run(command: AzureCommand, env: &Env) -> Result<(), Failure> {
    match command {
        AzureCommand::Token(args) => token(args, env).await,
    }
}

async fn token(args: AzureTokenArgs, env: &Env) -> Result<(), Failure> {
    let mut builder = AzureCredential::builder()
        .tenant_id(args.tenant_id)
        .client_id(args.client_id)
        .env(env.clone());
    if let Some(host) = args.authority_host {
        builder = builder.authority_host(host);
    }
    if let Some(audience) = args.audience {
        builder = builder.audience(audience);
    }
    let credential = builder.build().map_err(|e| failure(&e))?;
    let scopes: Vec<&str> = args.scopes.iter().map(String::as_str).collect();
    let token = credential.get_token(&scopes, None).await.map_err(|e| {
        match e.downcast_ref::<vercel_oidc_azure::Error>() {
            Some(ours) => failure(ours),
            None => Failure::failed(&e),
        }
    })?;
    let json = serde_json::json!({
        "access_token": token.token.secret(),
        "expires_on": token.expires_on.unix_timestamp(),
        "token_type": "Bearer",
    });
    println!("{json}");
    Ok(())
}

fn failure(error: &vercel_oidc_azure::Error) -> Failure {
    if error.is_invalid_configuration() {
        Failure::config(error)
    } else {
        Failure::failed(error)
    }
}
