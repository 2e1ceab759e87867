//! `vercel-oidc gcp token|id-token|subject-token|credential-config`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand};
use vercel_oidc::{Env, TokenSource as _};
use vercel_oidc_gcp::{Error, GcpCredentials, GcpCredentialsBuilder, SUBJECT_TOKEN_TYPE_JWT};

use crate::token::ChainArgs;
use crate::{Failure, write_stdout};

/// How long Google's libraries wait for `gcp subject-token` (the config's `timeout_millis`).
const EXECUTABLE_TIMEOUT_MILLIS: u64 = 5000;

/// Google Cloud subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum GcpCommand {
    /// Print a Google access token from workload identity federation: STS, then (with a service
    /// account) generateAccessToken. One line of JSON with `access_token`, `expires_at` (RFC
    /// 3339) and `token_type`; `--raw` prints the token alone.
    Token(TokenArgs),
    /// Print a Google-signed ID token of the service account for AUDIENCE (e.g. a Cloud Run
    /// URL): one line of JSON with `id_token` and `expires_at`; `--raw` prints the token alone.
    IdToken(IdTokenArgs),
    /// Print the Vercel token as the executable-source JSON Google's auth libraries read
    /// (`version`, `success`, `token_type`, `id_token`, `expiration_time`; on failure
    /// `success: false` with `code` and `message`, exit 1).
    SubjectToken(SubjectTokenArgs),
    /// Write an `external_account` credential configuration whose subject token comes from
    /// this binary's `gcp subject-token`: for gcloud (`gcloud auth login --cred-file=FILE`) and
    /// Google's Python, Go, Java and Node libraries (`GOOGLE_APPLICATION_CREDENTIALS=FILE`, with
    /// `GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1`).
    CredentialConfig(ConfigArgs),
}

/// The workload identity provider, the service account and the endpoints.
#[derive(Debug, Args)]
pub(crate) struct FederationArgs {
    /// The workload identity pool provider's resource name
    /// (//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>);
    /// default from GCP_PROJECT_NUMBER, GCP_WORKLOAD_IDENTITY_POOL_ID and
    /// GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID.
    #[arg(long, value_name = "A")]
    audience: Option<String>,
    /// The service account to impersonate (default GCP_SERVICE_ACCOUNT_EMAIL; without one the
    /// federated token itself is used).
    #[arg(long, value_name = "E")]
    service_account: Option<String>,
    /// The full STS token URL (default https://sts.googleapis.com/v1/token).
    #[arg(long, value_name = "URL")]
    token_url: Option<String>,
    /// The IAM Credentials base URL (default https://iamcredentials.googleapis.com).
    #[arg(long, value_name = "URL")]
    iam_credentials_url: Option<String>,
    /// Exchange the Vercel token for this audience first (for a pool whose allowed audiences
    /// list another audience than https://vercel.com/<team>).
    #[arg(long, value_name = "AUD")]
    exchange_audience: Option<String>,
    #[command(flatten)]
    chain: ChainArgs,
}

impl FederationArgs {
    fn builder(&self, env: &Env) -> GcpCredentialsBuilder {
        let mut builder = GcpCredentials::builder()
            .env(env.clone())
            .token_source(self.chain.source(env));
        if let Some(audience) = &self.audience {
            builder = builder.audience(audience.as_str());
        }
        if let Some(email) = &self.service_account {
            builder = builder.service_account(email.as_str());
        }
        if let Some(url) = &self.token_url {
            builder = builder.token_url(url.as_str());
        }
        if let Some(url) = &self.iam_credentials_url {
            builder = builder.iam_credentials_url(url.as_str());
        }
        if let Some(audience) = &self.exchange_audience {
            builder = builder.exchange_audience(audience.as_str());
        }
        builder
    }
}

/// What `gcp token` asks for.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    federation: FederationArgs,
    /// An OAuth scope; repeat for several (default https://www.googleapis.com/auth/cloud-platform).
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
    /// The service account token's lifetime in seconds (default 3600; needs a service account).
    #[arg(long, value_name = "SECS")]
    lifetime: Option<u64>,
    /// Print the access token alone.
    #[arg(long)]
    raw: bool,
}

/// What `gcp id-token` asks for.
#[derive(Debug, Args)]
pub(crate) struct IdTokenArgs {
    /// The ID token's audience, e.g. https://my-service-abc123-uc.a.run.app.
    #[arg(value_name = "AUDIENCE")]
    target_audience: String,
    #[command(flatten)]
    federation: FederationArgs,
    /// Include the service account's `email` claim.
    #[arg(long)]
    include_email: bool,
    /// Print the ID token alone.
    #[arg(long)]
    raw: bool,
}

/// What `gcp subject-token` reads.
#[derive(Debug, Args)]
pub(crate) struct SubjectTokenArgs {
    /// Exchange the Vercel token for this audience first.
    #[arg(long, value_name = "AUD")]
    exchange_audience: Option<String>,
    #[command(flatten)]
    chain: ChainArgs,
}

/// What `gcp credential-config` writes.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    #[command(flatten)]
    federation: FederationArgs,
    /// The impersonated token's lifetime in seconds (`service_account_impersonation`).
    #[arg(long, value_name = "SECS")]
    lifetime: Option<u64>,
    /// Write the configuration to FILE (0600, replaced atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(crate) async fn run(command: GcpCommand, env: &Env) -> Result<(), Failure> {
    match command {
        GcpCommand::Token(args) => token(args, env).await,
        GcpCommand::IdToken(args) => id_token(args, env).await,
        GcpCommand::SubjectToken(args) => subject_token(args, env).await,
        GcpCommand::CredentialConfig(args) => credential_config(args, env),
    }
}

/// Configuration problems exit 2, everything else 1.
fn failure(error: &Error) -> Failure {
    if error.is_invalid_configuration() || matches!(error, Error::NotConfigured { .. }) {
        Failure::config(error)
    } else {
        Failure::failed(error)
    }
}

fn rfc3339(time: SystemTime) -> Result<String, Failure> {
    time::OffsetDateTime::from(time)
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| Failure::message(format!("cannot show the expiry: {e}")))
}

async fn token(args: TokenArgs, env: &Env) -> Result<(), Failure> {
    let mut builder = args.federation.builder(env);
    if !args.scopes.is_empty() {
        builder = builder.scopes(args.scopes);
    }
    if let Some(secs) = args.lifetime {
        builder = builder.lifetime(Duration::from_secs(secs));
    }
    let credentials = builder.build().map_err(|e| failure(&e))?;
    let token = credentials.access_token().await.map_err(|e| failure(&e))?;
    // The command's output is the access token itself.
    let output = if args.raw {
        format!("{}\n", token.expose_secret())
    } else {
        let json = serde_json::json!({
            "access_token": token.expose_secret(),
            "expires_at": rfc3339(token.expires_at())?,
            "token_type": "Bearer",
        });
        format!("{json}\n")
    };
    write_stdout(&output)
}

async fn id_token(args: IdTokenArgs, env: &Env) -> Result<(), Failure> {
    let credentials = args
        .federation
        .builder(env)
        .id_token_include_email(args.include_email)
        .build()
        .map_err(|e| failure(&e))?;
    let token = credentials
        .id_token(&args.target_audience)
        .await
        .map_err(|e| failure(&e))?;
    let output = if args.raw {
        format!("{}\n", token.expose_secret())
    } else {
        let json = serde_json::json!({
            "id_token": token.expose_secret(),
            "expires_at": rfc3339(token.expires_at())?,
        });
        format!("{json}\n")
    };
    write_stdout(&output)
}

/// Google's executable-source answer; on failure it is printed too (the libraries read stdout)
/// and the exit code is 1.
async fn subject_token(args: SubjectTokenArgs, env: &Env) -> Result<(), Failure> {
    let mut setup = vercel_oidc::TokenSetup::new()
        .token_source(vercel_oidc::SharedTokenSource::new(args.chain.source(env)));
    if let Some(audience) = args.exchange_audience {
        setup = setup.audience(audience);
    }
    let config = vercel_oidc::OidcConfig::new().with_env(env.clone());
    let answer = match setup.resolve(&config, Duration::ZERO) {
        Err(e) => Err(("INVALID_CONFIGURATION", crate::describe(&e))),
        Ok(tokens) => tokens.into_token_source().token().await.map_err(|e| {
            let code = if e.is_not_configured() {
                "NO_TOKEN"
            } else if e.is_invalid_configuration() {
                "INVALID_CONFIGURATION"
            } else {
                "TOKEN_UNAVAILABLE"
            };
            (code, crate::describe(&e))
        }),
    };
    match answer {
        Ok(token) => {
            let mut json = serde_json::json!({
                "version": 1,
                "success": true,
                "token_type": SUBJECT_TOKEN_TYPE_JWT,
                "id_token": token.expose_secret(),
            });
            if let Some(exp) = token.unverified_claims().exp {
                json["expiration_time"] = exp.into();
            }
            write_stdout(&format!("{json}\n"))
        }
        Err((code, message)) => {
            let json = serde_json::json!({
                "version": 1,
                "success": false,
                "code": code,
                "message": message,
            });
            write_stdout(&format!("{json}\n"))?;
            Err(Failure::message(format!("no subject token: {message}")))
        }
    }
}

fn credential_config(args: ConfigArgs, env: &Env) -> Result<(), Failure> {
    let mut builder = args.federation.builder(env);
    if let Some(secs) = args.lifetime {
        builder = builder.lifetime(Duration::from_secs(secs));
    }
    // Validates everything (and resolves the defaults) without fetching a token.
    let credentials = builder.build().map_err(|e| failure(&e))?;
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| Failure::message(format!("cannot find this program's path: {e}")))?;
    let exe = exe
        .to_str()
        .filter(|p| !p.chars().any(char::is_whitespace))
        .ok_or_else(|| {
            Failure::message(format!(
                "this program's path {} has spaces or is not UTF-8: Google's libraries split the \
                 command at spaces; install it elsewhere",
                exe.display()
            ))
        })?;
    let mut command = format!("{exe} gcp subject-token");
    // The chain's --project/--team are for local development, where .vercel/project.json
    // names the project anyway; only the exchange audience changes what Google receives.
    if let Some(audience) = args.federation.exchange_audience.as_deref() {
        if audience.is_empty() || audience.chars().any(char::is_whitespace) {
            return Err(Failure::config(&Error::InvalidConfiguration {
                message: format!(
                    "--exchange-audience {audience:?} cannot go into the command line"
                ),
                source: None,
            }));
        }
        command.push_str(&format!(" --exchange-audience {audience}"));
    }
    let mut config = serde_json::json!({
        "type": "external_account",
        "audience": credentials.audience(),
        "subject_token_type": SUBJECT_TOKEN_TYPE_JWT,
        "token_url": credentials.token_url(),
        "credential_source": {
            "executable": {
                "command": command,
                "timeout_millis": EXECUTABLE_TIMEOUT_MILLIS,
            }
        },
    });
    if let Some(email) = credentials.service_account() {
        config["service_account_impersonation_url"] = format!(
            "{}/v1/projects/-/serviceAccounts/{email}:generateAccessToken",
            credentials.iam_credentials_url()
        )
        .into();
        if let Some(secs) = args.lifetime {
            config["service_account_impersonation"] =
                serde_json::json!({ "token_lifetime_seconds": secs });
        }
    }
    let text = serde_json::to_string_pretty(&config)
        .map_err(|e| Failure::message(format!("cannot write the configuration: {e}")))?
        + "\n";
    match args.output {
        None => write_stdout(&text),
        Some(path) => write_private(&path, &text),
    }
}

/// Writes `text` to `path` atomically with owner-only permissions.
fn write_private(path: &std::path::Path, text: &str) -> Result<(), Failure> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    let fail = |e: &dyn std::fmt::Display| {
        Failure::message(format!("cannot write {}: {e}", path.display()))
    };
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(&e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| fail(&e))?;
    }
    file.write_all(text.as_bytes())
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| fail(&e))?;
    file.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}
