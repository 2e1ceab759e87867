//! `vercel-oidc trust aws|azure`: the cloud-side configuration a token satisfies.

use clap::{Args, Subcommand};
use vercel_oidc::{Env, OidcToken, TokenIdentity, TrustScope};
use vercel_oidc_aws::AwsTrust;
use vercel_oidc_azure::AzureFederation;

use crate::Failure;
use crate::token::{TokenInput, token_from_input};

/// The clouds `trust` writes configuration for.
#[derive(Debug, Subcommand)]
pub(crate) enum TrustCommand {
    /// The IAM OIDC identity provider and the role trust policy (JSON) that admit the token.
    Aws(AwsTrustArgs),
    /// The Entra federated identity credential (issuer, subject, audiences) that admits the
    /// token, and the `az ad app federated-credential create` command.
    Azure(AzureTrustArgs),
}

/// Options of `trust aws`.
#[derive(Debug, Args)]
pub(crate) struct AwsTrustArgs {
    #[command(flatten)]
    token: TokenInput,
    /// Which tokens the role admits: this environment (exact subject), this project (every
    /// environment), or every project of the team.
    #[arg(
        long,
        default_value = "environment",
        value_name = "project|environment|team"
    )]
    scope: TrustScope,
    /// The AWS account id of the provider ARN (default: from --role-arn / AWS_ROLE_ARN).
    #[arg(long, value_name = "ACCOUNT")]
    account_id: Option<String>,
    /// The role, for its account id.
    #[arg(long, env = "AWS_ROLE_ARN", value_name = "ARN")]
    role_arn: Option<String>,
    /// Print one JSON document (`provider` and `trust_policy`) instead of text.
    #[arg(long)]
    json: bool,
}

/// Options of `trust azure`.
#[derive(Debug, Args)]
pub(crate) struct AzureTrustArgs {
    #[command(flatten)]
    token: TokenInput,
    /// Entra matches subjects exactly: only `environment` can be written.
    #[arg(long, default_value = "environment", value_name = "environment")]
    scope: TrustScope,
    /// The app (client) id the credential goes on, for the `az` command.
    #[arg(long, env = "AZURE_CLIENT_ID", value_name = "CLIENT")]
    client_id: Option<String>,
    /// Print the credential as JSON (what `--parameters` takes) instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(command: TrustCommand, env: &Env) -> Result<(), Failure> {
    match command {
        TrustCommand::Aws(args) => {
            let token = token_from_input(&args.token, env).await?;
            let account = args
                .account_id
                .clone()
                .or_else(|| {
                    args.role_arn
                        .as_deref()
                        .and_then(|arn| arn.split(':').nth(4))
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| "ACCOUNT_ID".to_owned());
            print!("{}", aws_text(&token, &account, args.scope, args.json)?);
        }
        TrustCommand::Azure(args) => {
            let token = token_from_input(&args.token, env).await?;
            let client = args.client_id.as_deref().unwrap_or("CLIENT_ID");
            print!("{}", azure_text(&token, client, args.scope, args.json)?);
        }
    }
    Ok(())
}

fn identity(token: &OidcToken) -> Result<TokenIdentity, Failure> {
    TokenIdentity::from_claims(token.unverified_claims()).map_err(|e| Failure::failed(&e))
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// What `trust aws` prints.
pub(crate) fn aws_text(
    token: &OidcToken,
    account: &str,
    scope: TrustScope,
    json: bool,
) -> Result<String, Failure> {
    let trust =
        AwsTrust::new(&identity(token)?, account, scope).map_err(|e| Failure::config(&e))?;
    if json {
        let doc = serde_json::json!({
            "provider": {
                "url": trust.provider_url(),
                "audience": trust.audience(),
                "arn": trust.provider_arn(),
            },
            "trust_policy": trust.trust_policy(),
        });
        return Ok(format!("{}\n", pretty(&doc)));
    }
    Ok(format!(
        "# IAM OIDC identity provider\n\
         URL:      {url}\n\
         Audience: {aud}\n\
         ARN:      {arn}\n\
         \n\
         {command}\n\
         \n\
         # Role trust policy (scope: {scope})\n\
         {policy}\n",
        url = trust.provider_url(),
        aud = trust.audience(),
        arn = trust.provider_arn(),
        command = trust.create_provider_command(),
        scope = scope.as_str(),
        policy = pretty(&trust.trust_policy()),
    ))
}

/// What `trust azure` prints.
pub(crate) fn azure_text(
    token: &OidcToken,
    client_id: &str,
    scope: TrustScope,
    json: bool,
) -> Result<String, Failure> {
    let federation =
        AzureFederation::new(&identity(token)?, scope).map_err(|e| Failure::config(&e))?;
    if json {
        return Ok(format!("{}\n", pretty(&federation.credential())));
    }
    Ok(format!(
        "# Entra federated identity credential (exact match on all three)\n\
         Issuer:   {iss}\n\
         Subject:  {sub}\n\
         Audience: {aud}\n\
         \n\
         {command}\n",
        iss = federation.issuer(),
        sub = federation.subject(),
        aud = federation.audience(),
        command = federation.create_command(client_id),
    ))
}
