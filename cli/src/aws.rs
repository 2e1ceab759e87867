//! `vercel-oidc aws credential-process` and `vercel-oidc aws env`.

use std::time::Duration;

use aws_credential_types::Credentials;
use clap::{Args, Subcommand};
use vercel_oidc::Env;
use vercel_oidc_aws::{AwsCredentialsProvider, Error as AwsError};

use crate::Failure;
use crate::token::rfc3339;

/// AWS subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AwsCommand {
    /// Print credentials as AWS `credential_process` JSON (Version 1). Use it in ~/.aws/config:
    /// `credential_process = vercel-oidc aws credential-process --role-arn arn:aws:iam::…`.
    CredentialProcess(AssumeRoleArgs),
    /// Print credentials as `export AWS_…=` lines for a shell: `eval "$(vercel-oidc aws env …)"`.
    Env(AssumeRoleArgs),
}

/// What to assume.
#[derive(Debug, Args)]
pub(crate) struct AssumeRoleArgs {
    /// The role to assume.
    #[arg(long, env = "AWS_ROLE_ARN", value_name = "ARN")]
    role_arn: String,
    /// Session name (default AWS_ROLE_SESSION_NAME, else generated).
    #[arg(long, value_name = "NAME")]
    session_name: Option<String>,
    /// Session duration in seconds, 900 to 43200 (default: the role's, usually 3600).
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    /// Managed policy ARN limiting the session; repeat for several.
    #[arg(long = "policy-arn", value_name = "ARN")]
    policy_arns: Vec<String>,
    /// Inline session policy (JSON).
    #[arg(long, value_name = "JSON")]
    policy: Option<String>,
    /// STS region (default AWS_REGION / AWS_DEFAULT_REGION; never a silent us-east-1).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Exchange the Vercel token for this audience first (POST {issuer}/~token).
    #[arg(long, value_name = "AUD")]
    audience: Option<String>,
}

pub(crate) async fn run(command: AwsCommand, env: &Env) -> Result<(), Failure> {
    match command {
        AwsCommand::CredentialProcess(args) => {
            let credentials = assume(args, env).await?;
            println!("{}", credential_process_json(&credentials));
        }
        AwsCommand::Env(args) => {
            let credentials = assume(args, env).await?;
            print!("{}", export_lines(&credentials));
        }
    }
    Ok(())
}

async fn assume(args: AssumeRoleArgs, env: &Env) -> Result<Credentials, Failure> {
    let mut builder = AwsCredentialsProvider::builder(args.role_arn)
        .env(env.clone())
        .policy_arns(args.policy_arns);
    if let Some(name) = args.session_name {
        builder = builder.role_session_name(name);
    }
    if let Some(secs) = args.duration {
        builder = builder.duration(Duration::from_secs(secs));
    }
    if let Some(policy) = args.policy {
        builder = builder.policy(policy);
    }
    if let Some(region) = args.region {
        builder = builder.region(aws_types::region::Region::new(region));
    }
    if let Some(audience) = args.audience {
        builder = builder.audience(audience);
    }
    let provider = builder.build().map_err(|e| failure(&e))?;
    provider.credentials().await.map_err(|e| failure(&e))
}

fn failure(error: &AwsError) -> Failure {
    if error.is_invalid_configuration() {
        Failure::config(error)
    } else {
        Failure::failed(error)
    }
}

/// The AWS `credential_process` output: Version 1, RFC 3339 `Expiration`.
fn credential_process_json(credentials: &Credentials) -> String {
    let mut json = serde_json::json!({
        "Version": 1,
        "AccessKeyId": credentials.access_key_id(),
        "SecretAccessKey": credentials.secret_access_key(),
    });
    if let Some(token) = credentials.session_token() {
        json["SessionToken"] = token.into();
    }
    if let Some(expiry) = credentials.expiry() {
        json["Expiration"] = rfc3339(expiry).into();
    }
    json.to_string()
}

/// `export NAME='value'` lines (values single-quoted for the shell).
fn export_lines(credentials: &Credentials) -> String {
    let quote = |v: &str| format!("'{}'", v.replace('\'', r"'\''"));
    let mut out = format!(
        "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\n",
        quote(credentials.access_key_id()),
        quote(credentials.secret_access_key())
    );
    if let Some(token) = credentials.session_token() {
        out.push_str(&format!("export AWS_SESSION_TOKEN={}\n", quote(token)));
    }
    if let Some(expiry) = credentials.expiry() {
        out.push_str(&format!(
            "export AWS_CREDENTIAL_EXPIRATION={}\n",
            quote(&rfc3339(expiry))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn creds() -> Credentials {
        Credentials::new(
            "ASIAEXAMPLE",
            "se'cret",
            Some("session/token+=".into()),
            Some(UNIX_EPOCH + Duration::from_secs(1_795_557_997)),
            "test",
        )
    }

    #[test]
    fn credential_process_shape() {
        let json: serde_json::Value =
            serde_json::from_str(&credential_process_json(&creds())).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "Version": 1,
                "AccessKeyId": "ASIAEXAMPLE",
                "SecretAccessKey": "se'cret",
                "SessionToken": "session/token+=",
                "Expiration": "2026-11-24T22:06:37Z",
            })
        );
        let no_expiry = Credentials::new("A", "B", None, None::<SystemTime>, "t");
        let json: serde_json::Value =
            serde_json::from_str(&credential_process_json(&no_expiry)).expect("json");
        assert!(json.get("Expiration").is_none() && json.get("SessionToken").is_none());
    }

    #[test]
    fn export_lines_are_shell_quoted() {
        assert_eq!(
            export_lines(&creds()),
            "export AWS_ACCESS_KEY_ID='ASIAEXAMPLE'\n\
             export AWS_SECRET_ACCESS_KEY='se'\\''cret'\n\
             export AWS_SESSION_TOKEN='session/token+='\n\
             export AWS_CREDENTIAL_EXPIRATION='2026-11-24T22:06:37Z'\n"
        );
    }
}
