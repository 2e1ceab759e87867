//! `vercel-oidc azure token`.

use azure_core::credentials::{AccessToken, TokenCredential as _};
use clap::{Args, Subcommand, ValueEnum};
use vercel_oidc::Env;
use vercel_oidc_azure::AzureCredential;

use crate::token::ChainArgs;
use crate::{Failure, write_stdout};

/// Azure subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AzureCommand {
    /// Print an Entra ID access token, using the Vercel token as the client assertion of a
    /// federated credential.
    ///
    /// Without --output: one line of JSON with `access_token`, `expires_on` (unix seconds) and
    /// `token_type`. `--output raw` prints the token alone (`TOKEN=$(vercel-oidc azure token
    /// --scope … --output raw)`); `--output json` prints what `az account get-access-token`
    /// prints, for tools that read az's field names.
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
    /// What to print instead of the default one-line JSON: `raw` (the access token alone, for
    /// `TOKEN=$(…)`) or `json` (the fields of `az account get-access-token`).
    #[arg(long, value_enum, value_name = "FORMAT")]
    output: Option<AzureOutput>,
    /// The subscription `--output json` reports as `subscription` (az prints its active one;
    /// this command has none unless given). Not sent to Entra.
    #[arg(long, env = "AZURE_SUBSCRIPTION_ID", value_name = "SUBSCRIPTION")]
    subscription: Option<String>,
    #[command(flatten)]
    chain: ChainArgs,
}

/// The `--output` formats of `azure token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AzureOutput {
    /// The access token alone, with a final newline.
    Raw,
    /// `az account get-access-token`'s JSON: accessToken, expiresOn (local time per TZ or
    /// /etc/localtime, "YYYY-MM-DD HH:MM:SS.ffffff"), expires_on (unix seconds), subscription
    /// (when given), tenant, tokenType ("Bearer"); keys sorted, indented by two spaces.
    Json,
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
        .env(env.clone())
        .token_source(args.chain.source(env));
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
    // The command's output is the access token itself.
    let output = match args.output {
        None => format!("{}\n", oauth_json(&token)),
        Some(AzureOutput::Raw) => format!("{}\n", token.token.secret()),
        Some(AzureOutput::Json) => az_json(
            &token,
            credential.tenant_id(),
            args.subscription.as_deref(),
            &jiff::tz::TimeZone::system(),
        )?,
    };
    write_stdout(&output)
}

/// The default output: `{"access_token":…,"expires_on":…,"token_type":"Bearer"}` on one line.
fn oauth_json(token: &AccessToken) -> serde_json::Value {
    serde_json::json!({
        "access_token": token.token.secret(),
        "expires_on": token.expires_on.unix_timestamp(),
        "token_type": "Bearer",
    })
}

/// `az account get-access-token`'s output: its six keys in its (sorted) order, indented by two
/// spaces, a final newline; `expiresOn` is `expires_on` in the time zone `tz` (az prints local
/// time) as "YYYY-MM-DD HH:MM:SS.ffffff", and `subscription` is left out when unknown.
fn az_json(
    token: &AccessToken,
    tenant: &str,
    subscription: Option<&str>,
    tz: &jiff::tz::TimeZone,
) -> Result<String, Failure> {
    let expires_on = token.expires_on.unix_timestamp();
    let local = jiff::Timestamp::from_second(expires_on)
        .map_err(|e| Failure::message(format!("cannot show the token's expiry: {e}")))?
        .to_zoned(tz.clone());
    let expires_local = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.000000",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    );
    let string = |s: &str| serde_json::Value::from(s).to_string();
    let mut lines = vec![
        format!("  \"accessToken\": {}", string(token.token.secret())),
        format!("  \"expiresOn\": {}", string(&expires_local)),
        format!("  \"expires_on\": {expires_on}"),
    ];
    if let Some(subscription) = subscription {
        lines.push(format!("  \"subscription\": {}", string(subscription)));
    }
    lines.push(format!("  \"tenant\": {}", string(tenant)));
    lines.push("  \"tokenType\": \"Bearer\"".to_owned());
    Ok(format!("{{\n{}\n}}\n", lines.join(",\n")))
}

fn failure(error: &vercel_oidc_azure::Error) -> Failure {
    if error.is_invalid_configuration() {
        Failure::config(error)
    } else {
        Failure::failed(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::credentials::Secret;

    fn token(expires_on: i64) -> AccessToken {
        AccessToken::new(
            Secret::new("eyJ.access\"token"),
            time::OffsetDateTime::from_unix_timestamp(expires_on).expect("in range"),
        )
    }

    #[test]
    fn az_json_is_az_shape_in_the_given_zone() {
        let tz = jiff::tz::TimeZone::fixed(jiff::tz::offset(-7));
        // 2026-11-24T22:06:37Z is 15:06:37 at UTC-07:00.
        assert_eq!(
            az_json(&token(1_795_557_997), "tenant-1", Some("sub-1"), &tz).expect("renders"),
            "{\n  \"accessToken\": \"eyJ.access\\\"token\",\n  \"expiresOn\": \
             \"2026-11-24 15:06:37.000000\",\n  \"expires_on\": 1795557997,\n  \
             \"subscription\": \"sub-1\",\n  \"tenant\": \"tenant-1\",\n  \
             \"tokenType\": \"Bearer\"\n}\n"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&az_json(&token(1_795_557_997), "t", None, &tz).expect("renders"))
                .expect("JSON");
        assert!(doc.get("subscription").is_none());
        assert_eq!(doc["accessToken"], "eyJ.access\"token");
    }

    #[test]
    fn expires_on_uses_the_offset_in_force_at_expiry() {
        let berlin = jiff::tz::TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("POSIX TZ");
        let local = |secs| {
            let out = az_json(&token(secs), "t", None, &berlin).expect("renders");
            let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
            doc["expiresOn"].as_str().expect("expiresOn").to_owned()
        };
        // 2026-07-01T12:00:00Z (summer, +02:00) and 2026-12-01T12:00:00Z (winter, +01:00).
        assert_eq!(local(1_782_907_200), "2026-07-01 14:00:00.000000");
        assert_eq!(local(1_796_126_400), "2026-12-01 13:00:00.000000");
    }

    #[test]
    fn default_output_is_unchanged() {
        assert_eq!(
            oauth_json(&token(1_795_557_997)).to_string(),
            r#"{"access_token":"eyJ.access\"token","expires_on":1795557997,"token_type":"Bearer"}"#
        );
    }
}
