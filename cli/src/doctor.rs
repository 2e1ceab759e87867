//! `vercel-oidc doctor`: where the token comes from, what it says, and why an exchange fails.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_core::credentials::TokenCredential as _;
use clap::Args;
use serde_json::{Value, json};
use vercel_oidc::{
    ENV_TOKEN, ENV_TOKEN_FILE, Env, FixedTokenSource, IssuerMode, OidcToken, TokenIdentity,
    TokenOrigin,
};
use vercel_oidc_aws::{AwsCredentialsProvider, StsFailure, explain_rejection};
use vercel_oidc_azure::{AzureCredential, explain_entra_error};

use crate::token::{TokenInput, describe_expiry, token_from_input};
use crate::{Failure, printable};

/// Options of `vercel-oidc doctor`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    token: TokenInput,
    /// Try STS AssumeRoleWithWebIdentity for this role.
    #[arg(long, value_name = "ARN")]
    aws_role_arn: Option<String>,
    /// The STS region (default AWS_REGION / AWS_DEFAULT_REGION).
    #[arg(long, value_name = "REGION")]
    aws_region: Option<String>,
    /// Try an Entra token for this tenant (with --azure-client-id).
    #[arg(long, value_name = "TENANT", requires = "azure_client_id")]
    azure_tenant_id: Option<String>,
    /// The app (client) id with the federated credential (with --azure-tenant-id).
    #[arg(long, value_name = "CLIENT", requires = "azure_tenant_id")]
    azure_client_id: Option<String>,
    /// The Entra scope to ask for.
    #[arg(
        long,
        value_name = "SCOPE",
        default_value = "https://management.azure.com/.default"
    )]
    azure_scope: String,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// One exchange tried: its outcome and, on failure, the explanation.
#[derive(Debug)]
struct Check {
    name: &'static str,
    target: String,
    error: Option<String>,
    code: Option<String>,
    mismatch: Option<&'static str>,
    cause: Option<String>,
    fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, target: String) -> Self {
        Self {
            name,
            target,
            error: None,
            code: None,
            mismatch: None,
            cause: None,
            fix: None,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "target": self.target,
            "ok": self.error.is_none(),
            "error": self.error,
            "code": self.code,
            "mismatch": self.mismatch,
            "cause": self.cause,
            "fix": self.fix,
        })
    }
}

pub(crate) async fn run(args: DoctorArgs, env: &Env) -> Result<(), Failure> {
    let token = token_from_input(&args.token, env).await?;
    let origin = origin(&args.token, &token, env);
    let now = SystemTime::now();
    let claims = token.unverified_claims();
    let identity = TokenIdentity::from_claims(claims).ok();
    let clock = clock_check(claims.iat, claims.exp, now);

    let mut checks = Vec::new();
    if let Some(role) = &args.aws_role_arn {
        checks.push(
            aws_check(
                role,
                args.aws_region.as_deref(),
                &token,
                identity.as_ref(),
                env,
            )
            .await,
        );
    }
    if let (Some(tenant), Some(client)) = (&args.azure_tenant_id, &args.azure_client_id) {
        checks.push(
            azure_check(
                tenant,
                client,
                &args.azure_scope,
                &token,
                identity.as_ref(),
                env,
            )
            .await,
        );
    }
    let all_ok = checks.iter().all(|c| c.error.is_none());

    if args.json {
        let doc = json!({
            "token": {
                "source": origin.to_string(),
                "issuer": claims.iss,
                "mode": identity.as_ref().map(|i| match i.mode() {
                    IssuerMode::Team(_) => "team",
                    _ => "global",
                }),
                "subject": claims.sub,
                "audience": claims.aud.as_ref().map(|a| a.iter().collect::<Vec<_>>()),
                "project": claims.project,
                "environment": claims.environment,
                "owner": claims.owner,
                "issued_at": claims.iat,
                "expires_at": claims.exp,
                "expiry": describe_expiry(token.expires_at(), now),
            },
            "clock": {"ok": clock.is_none(), "problem": clock},
            "checks": checks.iter().map(Check::to_json).collect::<Vec<_>>(),
            "ok": all_ok,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
        );
    } else {
        println!("Token");
        println!("  source:      {origin}");
        println!(
            "  issuer:      {}",
            printable(claims.iss.as_deref().unwrap_or("-"))
        );
        if let Some(identity) = &identity {
            println!("  mode:        {}", identity.mode());
        }
        println!(
            "  subject:     {}",
            printable(claims.sub.as_deref().unwrap_or("-"))
        );
        println!(
            "  audience:    {}",
            claims
                .aud
                .as_ref()
                .map(|a| a.iter().map(printable).collect::<Vec<_>>().join(", "))
                .unwrap_or_else(|| "-".into())
        );
        println!(
            "  expiry:      {}",
            describe_expiry(token.expires_at(), now)
        );
        match &clock {
            None => println!("  clock:       ok (iat is not in the future)"),
            Some(problem) => println!("  clock:       PROBLEM: {problem}"),
        }
        if checks.is_empty() {
            println!(
                "\nNo exchange configured: add --aws-role-arn ARN and/or --azure-tenant-id T \
                 --azure-client-id C to try one."
            );
        }
        for check in &checks {
            println!("\n{} ({})", check.name, check.target);
            match &check.error {
                None => println!("  ok"),
                Some(error) => {
                    println!("  FAILED: {}", error.replace('\n', "\n          "));
                    if let Some(cause) = &check.cause {
                        println!(
                            "  likely cause ({}): {cause}",
                            check.mismatch.unwrap_or("?")
                        );
                    }
                    if let Some(fix) = &check.fix {
                        println!("  fix: {fix}");
                    }
                }
            }
        }
    }
    if all_ok {
        Ok(())
    } else {
        Err(Failure::message(format!(
            "{} of {} exchange(s) failed",
            checks.iter().filter(|c| c.error.is_some()).count(),
            checks.len()
        )))
    }
}

/// Which link of the chain gave the token (the chain's order: file, env, local-dev refresh).
fn origin(input: &TokenInput, token: &OidcToken, env: &Env) -> TokenOrigin {
    if input.is_explicit() {
        return TokenOrigin::Fixed;
    }
    if let Some(path) = env.get_non_empty(ENV_TOKEN_FILE) {
        return TokenOrigin::File(PathBuf::from(path));
    }
    if env
        .get_non_empty(ENV_TOKEN)
        .is_some_and(|t| t.trim() == token.expose_secret())
    {
        return TokenOrigin::Env(ENV_TOKEN.to_owned());
    }
    TokenOrigin::Refresh
}

/// A clock problem the token shows: issued in the future (this clock is behind), or expired.
fn clock_check(iat: Option<i64>, exp: Option<i64>, now: SystemTime) -> Option<String> {
    let now = i64::try_from(now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()).ok()?;
    if let Some(iat) = iat
        && iat > now.saturating_add(60)
    {
        return Some(format!(
            "the token was issued {}s in the future: this machine's clock is behind the \
             issuer's (clouds reject tokens that look not yet valid)",
            iat.saturating_sub(now)
        ));
    }
    match exp {
        Some(exp) if exp <= now => Some(format!(
            "the token expired {}s ago (or this machine's clock is ahead)",
            now.saturating_sub(exp)
        )),
        None => Some("the token has no exp claim".into()),
        _ => None,
    }
}

async fn aws_check(
    role: &str,
    region: Option<&str>,
    token: &OidcToken,
    identity: Option<&TokenIdentity>,
    env: &Env,
) -> Check {
    let mut check = Check::ok("AWS STS AssumeRoleWithWebIdentity", role.to_owned());
    let mut builder = AwsCredentialsProvider::builder(role)
        .env(env.clone())
        .token_source(FixedTokenSource::new(token.clone()))
        .attempt_timeout(Duration::from_secs(10));
    if let Some(region) = region {
        builder = builder.region(aws_types::region::Region::new(region.to_owned()));
    }
    let result = match builder.build() {
        Ok(provider) => provider.credentials().await.map(drop),
        Err(e) => Err(e),
    };
    if let Err(error) = result {
        check.error = Some(crate::describe(&error));
        if let vercel_oidc_aws::Error::Rejected {
            failure: StsFailure::Service { code, message, .. },
            ..
        } = &error
        {
            check.code = Some(code.clone());
            if let Some(why) =
                identity.and_then(|id| explain_rejection(code, message.as_deref(), role, id))
            {
                check.mismatch = Some(why.mismatch);
                check.cause = Some(why.cause);
                check.fix = Some(why.fix);
            }
        }
    }
    check
}

async fn azure_check(
    tenant: &str,
    client: &str,
    scope: &str,
    token: &OidcToken,
    identity: Option<&TokenIdentity>,
    env: &Env,
) -> Check {
    let mut check = Check::ok(
        "Azure Entra client assertion",
        format!("tenant {tenant}, client {client}"),
    );
    let built = AzureCredential::builder()
        .tenant_id(tenant)
        .client_id(client)
        .env(env.clone())
        .token_source(FixedTokenSource::new(token.clone()))
        .build();
    let credential = match built {
        Ok(c) => c,
        Err(e) => {
            check.error = Some(crate::describe(&e));
            return check;
        }
    };
    if let Err(error) = credential.get_token(&[scope], None).await {
        let ours = error.downcast_ref::<vercel_oidc_azure::Error>();
        check.error = Some(match ours {
            Some(e) => crate::describe(e),
            None => crate::describe(&error),
        });
        if let Some(entra) = ours.and_then(vercel_oidc_azure::Error::entra) {
            check.code = entra.code().map(|c| format!("AADSTS{c}"));
            if let Some(why) =
                identity.and_then(|id| explain_entra_error(entra.codes(), client, tenant, id))
            {
                check.mismatch = Some(why.mismatch);
                check.cause = Some(why.cause);
                check.fix = Some(why.fix);
            }
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_problems_are_named() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            clock_check(Some(1_799_999_000), Some(1_800_003_600), now),
            None
        );
        assert!(
            clock_check(Some(1_800_000_500), Some(1_800_003_600), now)
                .expect("future iat")
                .contains("clock is behind")
        );
        // Within a minute of skew is fine.
        assert_eq!(
            clock_check(Some(1_800_000_030), Some(1_800_003_600), now),
            None
        );
        assert!(
            clock_check(Some(1), Some(1_799_999_000), now)
                .expect("expired")
                .contains("expired 1000s ago")
        );
        assert!(
            clock_check(None, None, now)
                .expect("no exp")
                .contains("no exp")
        );
        assert!(clock_check(Some(i64::MAX), Some(i64::MIN), now).is_some());
    }
}
