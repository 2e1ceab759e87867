//! `vercel-oidc aws credential-process`, `vercel-oidc aws env` and
//! `vercel-oidc aws export-credentials`.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use clap::{Args, Subcommand, ValueEnum};
use vercel_oidc::{Env, FixedTokenSource, SharedTokenSource, TokenSource as _};
use vercel_oidc_aws::{AwsCredentialsProvider, Error as AwsError};

use crate::token::{ChainArgs, rfc3339};
use crate::{Failure, aws_cache, core_failure, write_stdout};

/// AWS subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AwsCommand {
    /// Print credentials as AWS `credential_process` JSON (Version 1) on one line. Use it in
    /// ~/.aws/config:
    /// `credential_process = vercel-oidc aws credential-process --role-arn arn:aws:iam::…`.
    ///
    /// AWS tools run it on every refresh, so it caches the credentials across runs in
    /// `$XDG_CACHE_HOME/vercel-oidc/aws/` (else `~/.cache/vercel-oidc/aws/`): one file per
    /// configuration and token identity (iss, sub, aud), 0600 in a 0700 directory, never used
    /// within 5 minutes of expiry; a lock makes concurrent runs share one STS call.
    CredentialProcess(CredentialProcessArgs),
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

/// Options of `aws credential-process`.
#[derive(Debug, Args)]
pub(crate) struct CredentialProcessArgs {
    #[command(flatten)]
    role: AssumeRoleArgs,
    /// Neither read nor write the credential cache: always ask STS.
    #[arg(long)]
    no_cache: bool,
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
            let credentials = if args.no_cache {
                assume(args.role, env).await?
            } else {
                assume_cached(args.role, env).await?
            };
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
    let source = SharedTokenSource::new(args.chain.source(env));
    assume_with(args, env, source).await
}

/// The environment variables that change what `assume` gets (beside the options): part of the
/// cache key.
const CACHE_KEY_ENV: [&str; 12] = [
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_ROLE_SESSION_NAME",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "VERCEL_OIDC_ISSUER_URL",
    "VERCEL_OIDC_CA_FILE",
    "VERCEL_PROJECT_ID",
    "VERCEL_ORG_ID",
];

/// `assume` through the cross-process cache (see `aws_cache`).
async fn assume_cached(args: AssumeRoleArgs, env: &Env) -> Result<Credentials, Failure> {
    let Some(dir) = aws_cache::cache_dir(env) else {
        tracing::debug!("vercel-oidc: no cache directory (no HOME); credentials not cached");
        return assume(args, env).await;
    };
    let token = args
        .chain
        .source(env)
        .token()
        .await
        .map_err(|e| core_failure(&e))?;
    let duration = args.duration.map(|d| d.to_string());
    let policy_arns = args.policy_arns.join(",");
    let env_values: Vec<(&str, Option<String>)> = CACHE_KEY_ENV
        .iter()
        .map(|name| (*name, env.get(name)))
        .collect();
    let mut settings: Vec<(&str, Option<&str>)> = vec![
        ("role_arn", Some(&args.role_arn)),
        ("session_name", args.session_name.as_deref()),
        ("duration", duration.as_deref()),
        ("policy_arns", Some(&policy_arns)),
        ("policy", args.policy.as_deref()),
        ("region", args.region.as_deref()),
        ("audience", args.audience.as_deref()),
        ("project", args.chain.project()),
        ("team", args.chain.team()),
    ];
    settings.extend(env_values.iter().map(|(k, v)| (*k, v.as_deref())));
    let entry = aws_cache::CacheEntry::new(dir, &settings, &token);
    let now = SystemTime::now();
    if let Some(credentials) = entry.read(now) {
        tracing::debug!("vercel-oidc: credentials from the cache");
        return Ok(credentials);
    }
    let lock = match entry.lock().await {
        Ok(lock) => Some(lock),
        Err(error) => {
            tracing::debug!(%error, "vercel-oidc: cache not usable; asking STS without it");
            None
        }
    };
    // Another process may have written it while this one waited.
    if lock.is_some()
        && let Some(credentials) = entry.read(SystemTime::now())
    {
        return Ok(credentials);
    }
    let credentials = assume_with(
        args,
        env,
        SharedTokenSource::new(FixedTokenSource::new(token)),
    )
    .await?;
    if lock.is_some()
        && let Err(error) = entry.write(&credentials)
    {
        tracing::debug!(%error, "vercel-oidc: credentials not cached");
    }
    drop(lock);
    Ok(credentials)
}

async fn assume_with(
    args: AssumeRoleArgs,
    env: &Env,
    source: SharedTokenSource,
) -> Result<Credentials, Failure> {
    let mut builder = AwsCredentialsProvider::builder(args.role_arn)
        .env(env.clone())
        .token_source(source)
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
