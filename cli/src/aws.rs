//! `vercel-oidc aws credential-process`, `vercel-oidc aws env` and
//! `vercel-oidc aws export-credentials`.

use std::time::Duration;

use aws_credential_types::Credentials;
use clap::{Args, Subcommand, ValueEnum};
use vercel_oidc::Env;
use vercel_oidc_aws::{AwsCredentialsProvider, Error as AwsError};

use crate::token::{ChainArgs, rfc3339};
use crate::{Failure, write_stdout};

/// AWS subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AwsCommand {
    /// Print credentials as AWS `credential_process` JSON (Version 1) on one line. Use it in
    /// ~/.aws/config:
    /// `credential_process = vercel-oidc aws credential-process --role-arn arn:aws:iam::…`.
    CredentialProcess(AssumeRoleArgs),
    /// Print credentials as `export AWS_…='…'` lines (values always single-quoted) for a shell:
    /// `eval "$(vercel-oidc aws env …)"`.
    Env(AssumeRoleArgs),
    /// Print credentials in the formats of `aws configure export-credentials`.
    ///
    /// `process` (the default): credential_process JSON, indented, for
    /// `credential_process = vercel-oidc aws export-credentials --role-arn …`; `env`:
    /// `export AWS_…=…` lines for `eval "$(vercel-oidc aws export-credentials --format env …)"`;
    /// `env-no-export`: the same lines without `export `. The expiry is RFC 3339 UTC (`…Z`).
    ExportCredentials(ExportArgs),
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
    #[command(flatten)]
    chain: ChainArgs,
}

/// Options of `aws export-credentials`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    role: AssumeRoleArgs,
    /// The output format, as `aws configure export-credentials --format` names it.
    #[arg(long, value_enum, default_value_t = ExportFormat::Process, value_name = "FORMAT")]
    format: ExportFormat,
}

/// The formats of `aws export-credentials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    /// credential_process JSON (Version, AccessKeyId, SecretAccessKey, SessionToken,
    /// Expiration), indented by two spaces.
    Process,
    /// `export AWS_ACCESS_KEY_ID=…` lines, also AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and
    /// AWS_CREDENTIAL_EXPIRATION; a value with characters a shell would interpret is
    /// single-quoted.
    Env,
    /// The `env` lines without `export ` (shell variables for the current shell only).
    EnvNoExport,
}

pub(crate) async fn run(command: AwsCommand, env: &Env) -> Result<(), Failure> {
    let output = match command {
        AwsCommand::CredentialProcess(args) => {
            let credentials = assume(args, env).await?;
            format!("{}\n", credential_process_json(&credentials))
        }
        AwsCommand::Env(args) => export_lines(&assume(args, env).await?),
        AwsCommand::ExportCredentials(args) => {
            let credentials = assume(args.role, env).await?;
            match args.format {
                ExportFormat::Process => process_pretty(&credentials),
                ExportFormat::Env => env_lines(&credentials, "export "),
                ExportFormat::EnvNoExport => env_lines(&credentials, ""),
            }
        }
    };
    // The command's output is the credentials themselves.
    write_stdout(&output)
}

async fn assume(args: AssumeRoleArgs, env: &Env) -> Result<Credentials, Failure> {
    let mut builder = AwsCredentialsProvider::builder(args.role_arn)
        .env(env.clone())
        .token_source(args.chain.source(env))
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

/// One credential value under its `credential_process` JSON key and its environment variable.
struct Field {
    json: &'static str,
    var: &'static str,
    value: String,
}

/// The credentials in the order `aws configure export-credentials` prints them; `Expiration`
/// in RFC 3339 UTC (`…Z`).
///
/// The AWS CLI writes the expiry with a `+00:00` offset; `Z` is the same instant, is what STS
/// returns, and is the only form the AWS SDK for Rust's `credential_process` reader accepts.
fn fields(credentials: &Credentials) -> Vec<Field> {
    let field = |json, var, value: &str| Field {
        json,
        var,
        value: value.to_owned(),
    };
    let mut fields = vec![
        field(
            "AccessKeyId",
            "AWS_ACCESS_KEY_ID",
            credentials.access_key_id(),
        ),
        field(
            "SecretAccessKey",
            "AWS_SECRET_ACCESS_KEY",
            credentials.secret_access_key(),
        ),
    ];
    if let Some(token) = credentials.session_token() {
        fields.push(field("SessionToken", "AWS_SESSION_TOKEN", token));
    }
    if let Some(expiry) = credentials.expiry() {
        fields.push(field(
            "Expiration",
            "AWS_CREDENTIAL_EXPIRATION",
            &rfc3339(expiry),
        ));
    }
    fields
}

/// `aws configure export-credentials --format process`: the credential_process JSON with its
/// keys in the AWS CLI's order (`Version` first), indented by two spaces, and a final newline.
fn process_pretty(credentials: &Credentials) -> String {
    let mut lines = vec!["  \"Version\": 1".to_owned()];
    for Field { json, value, .. } in fields(credentials) {
        // A `String` always serializes as a JSON string; the fallback is never taken.
        let value = serde_json::to_string(&value).unwrap_or_else(|_| "\"\"".to_owned());
        lines.push(format!("  \"{json}\": {value}"));
    }
    format!("{{\n{}\n}}\n", lines.join(",\n"))
}

/// `aws configure export-credentials --format env` (`prefix` = `"export "`) or `env-no-export`
/// (`prefix` = `""`): one `NAME=value` line per variable, the value as is when a shell takes it
/// literally (as the AWS CLI prints it), else single-quoted, so `eval` never runs a value.
fn env_lines(credentials: &Credentials, prefix: &str) -> String {
    fields(credentials)
        .into_iter()
        .map(|Field { var, value, .. }| format!("{prefix}{var}={}\n", shell_word(&value)))
        .collect()
}

/// `value` as one shell word: unchanged when it is made only of characters no POSIX shell
/// interprets (letters, digits, `+ / = : . _ , @ % -`), else in single quotes.
fn shell_word(value: &str) -> String {
    let literal = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=:._,@%-".contains(c));
    if literal {
        value.to_owned()
    } else {
        single_quoted(value)
    }
}

/// `'value'` with each `'` written as `'\''`.
fn single_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `export NAME='value'` lines (values single-quoted for the shell).
fn export_lines(credentials: &Credentials) -> String {
    let quote = single_quoted;
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
    fn process_format_is_the_aws_cli_shape() {
        assert_eq!(
            process_pretty(&creds()),
            "{\n  \"Version\": 1,\n  \"AccessKeyId\": \"ASIAEXAMPLE\",\n  \"SecretAccessKey\": \
             \"se'cret\",\n  \"SessionToken\": \"session/token+=\",\n  \"Expiration\": \
             \"2026-11-24T22:06:37Z\"\n}\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&process_pretty(&creds())).expect("JSON");
        let compact: serde_json::Value =
            serde_json::from_str(&credential_process_json(&creds())).expect("JSON");
        assert_eq!(json, compact, "the same document as credential-process");
        let hostile = Credentials::new("A\"\n", "B\\", None, None::<SystemTime>, "t");
        let json: serde_json::Value =
            serde_json::from_str(&process_pretty(&hostile)).expect("escaped JSON");
        assert_eq!(json["AccessKeyId"], "A\"\n");
        assert_eq!(json.as_object().map(|o| o.len()), Some(3));
    }

    #[test]
    fn env_formats_print_plain_values_as_the_aws_cli_does() {
        assert_eq!(
            env_lines(&creds(), "export "),
            "export AWS_ACCESS_KEY_ID=ASIAEXAMPLE\n\
             export AWS_SECRET_ACCESS_KEY='se'\\''cret'\n\
             export AWS_SESSION_TOKEN=session/token+=\n\
             export AWS_CREDENTIAL_EXPIRATION=2026-11-24T22:06:37Z\n"
        );
        let plain = Credentials::new("AKID", "abc+/=", None, None::<SystemTime>, "t");
        assert_eq!(
            env_lines(&plain, ""),
            "AWS_ACCESS_KEY_ID=AKID\nAWS_SECRET_ACCESS_KEY=abc+/=\n"
        );
    }

    #[test]
    fn values_a_shell_would_interpret_are_quoted() {
        for hostile in [
            "$(rm -rf ~)",
            "`id`",
            "a b",
            "a;b",
            "a\nb",
            "~",
            "x&y",
            "*",
            "a|b",
            "\"",
            "",
        ] {
            let word = shell_word(hostile);
            assert!(
                word.starts_with('\'') && word.ends_with('\''),
                "{hostile:?} → {word}"
            );
        }
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("ASIA0+/=:._,@%-z"), "ASIA0+/=:._,@%-z");
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
