//! `vercel-oidc`: Vercel OIDC tokens from the command line.
//!
//! ```text
//! vercel-oidc token [--audience A] [--project P] [--team T]
//! vercel-oidc claims [TOKEN|-] [--project P] [--team T]
//! vercel-oidc aws credential-process --role-arn ARN [...] [--project P] [--team T]
//! vercel-oidc aws env --role-arn ARN [...]
//! vercel-oidc aws export-credentials --role-arn ARN [--format process|env|env-no-export] [...]
//! vercel-oidc azure token --tenant-id T --client-id C --scope S [--output raw|json] [...]
//! vercel-oidc gcp token|id-token AUDIENCE|subject-token|credential-config [--audience A] [--service-account E] [...]
//! vercel-oidc verify TOKEN|- (--issuer-team T | --global | both) --audience A [--project-id P] [--environment E]
//! vercel-oidc doctor [--aws-role-arn ARN] [--azure-tenant-id T --azure-client-id C] [--json]
//! vercel-oidc trust aws|azure [--scope project|environment|team]
//! vercel-oidc demo [--real]
//! vercel-oidc completions bash|zsh|fish|powershell|elvish
//! ```
//!
//! Every command that reads the token from the chain (`token`, `claims`, `aws …`, `azure
//! token`, `doctor`, `trust …`) takes `--project`/`--team` for the local-dev refresh.
//!
//! Exit codes: 0 success; 1 the operation failed (no token, token rejected, a service refused or
//! could not be reached); 2 usage or configuration error. Errors go to stderr; stdout carries only
//! the command's output. No secret is printed except as that output.

// This is the command's user interface: stdout is its output, stderr its diagnostics.
#![allow(clippy::print_stdout, clippy::print_stderr)]
// Doc comments of the argument structs are the `--help` text, where URLs are plain text.
#![allow(rustdoc::bare_urls)]

mod aws;
mod aws_cache;
mod azure;
#[cfg(feature = "demo")]
mod demo;
#[cfg(feature = "demo")]
mod demo_function;
mod doctor;
mod gcp;
mod token;
mod trust;
mod verify;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};
use vercel_oidc::{CA_FILE_ENV, Env};

/// Vercel OIDC tokens: read, inspect, verify, and exchange them for AWS and Azure credentials.
#[derive(Debug, Parser)]
#[command(name = "vercel-oidc", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 success; 1 the operation failed (no token, token \
    rejected, a service refused or could not be reached); 2 usage or configuration error."
)]
struct Cli {
    /// PEM file of extra trust roots for every HTTPS connection (same as VERCEL_OIDC_CA_FILE).
    /// Adds roots; never disables verification.
    #[arg(long, global = true, value_name = "PEM")]
    ca_file: Option<PathBuf>,

    /// More log output on stderr (-v: debug, -vv: trace). RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the current Vercel OIDC token (request header, VERCEL_OIDC_TOKEN_FILE,
    /// VERCEL_OIDC_TOKEN, else a local-dev refresh with the Vercel CLI login).
    Token(token::TokenArgs),
    /// Print a token's claims as JSON, decoded WITHOUT verifying its signature, and its expiry
    /// on stderr. The token comes from the argument, stdin (`-`, or piped), or the token chain.
    Claims(token::ClaimsArgs),
    /// AWS credentials from STS AssumeRoleWithWebIdentity.
    #[command(subcommand)]
    Aws(aws::AwsCommand),
    /// Azure access tokens from Entra ID with the Vercel token as client assertion.
    #[command(subcommand)]
    Azure(azure::AzureCommand),
    /// Google Cloud access and ID tokens through workload identity federation, and the
    /// executable source and credential configuration for gcloud and Google's libraries.
    #[command(subcommand)]
    Gcp(gcp::GcpCommand),
    /// Walk through the whole flow against local emulators (no network, no cloud account):
    /// token → AWS credentials → Azure token → an API that verifies the token. `--real` uses
    /// this environment's Vercel token and cloud settings instead.
    #[cfg(feature = "demo")]
    Demo(demo::DemoArgs),
    /// The function `demo` runs under its local Vercel host (not for direct use).
    #[cfg(feature = "demo")]
    #[command(name = "__demo-function", hide = true)]
    DemoFunction,
    /// Verify a token against Vercel's JWKS: exit 0 and the claims as JSON when valid, exit 1
    /// and the reason otherwise.
    Verify(verify::VerifyArgs),
    /// Diagnose the setup: where the token comes from, its claims, expiry, issuer mode and the
    /// clock; then each configured exchange, with the likely cause and fix of a failure. Exit 0
    /// only when every configured exchange works.
    Doctor(doctor::DoctorArgs),
    /// Print the cloud-side configuration this token satisfies, ready to paste: the AWS IAM OIDC
    /// provider and role trust policy, or the Entra federated credential.
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// Print the shell completion script for SHELL on stdout.
    ///
    /// Install it where the shell looks, e.g.
    /// `vercel-oidc completions bash > ~/.local/share/bash-completion/completions/vercel-oidc`,
    /// `vercel-oidc completions zsh > "${fpath[1]}/_vercel-oidc"`,
    /// `vercel-oidc completions fish > ~/.config/fish/completions/vercel-oidc.fish`, or for
    /// PowerShell `vercel-oidc completions powershell | Out-String | Invoke-Expression` in the
    /// profile.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

/// A failed command: what to print and which exit code to use.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Exit 1: the operation failed.
    pub(crate) fn failed(error: &(dyn std::error::Error + 'static)) -> Self {
        Self {
            code: 1,
            message: describe(error),
        }
    }

    /// Exit 2: usage or configuration error.
    pub(crate) fn config(error: &(dyn std::error::Error + 'static)) -> Self {
        Self {
            code: 2,
            message: describe(error),
        }
    }

    /// Exit 1 with a plain message.
    pub(crate) fn message(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

/// An error and its chain of causes, one per line.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str("\n  caused by: ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Writes a command's output to stdout (a closed or full stdout is a failure, never a panic).
pub(crate) fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::message(format!("cannot write to stdout: {e}")))
}

/// Claim text escaped for the terminal (control characters, quotes and backslashes as Rust
/// escapes): a token's strings are its issuer's, or anyone's.
pub(crate) fn printable(text: &str) -> String {
    text.escape_debug().to_string()
}

/// The completion script of `shell` for this command.
fn completions(shell: clap_complete::Shell) -> Result<String, Failure> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN_NAME, &mut script);
    let script = String::from_utf8(script)
        .map_err(|_| Failure::message("the completion script is not UTF-8"))?;
    Ok(match shell {
        // clap_complete's bash script spells the states of a hyphenated command's subcommands
        // two ways (`vercel__oidc__subcmd__aws` where it walks the words, `vercel__subcmd__oidc__
        // subcmd__aws` in the arms that list the options), so nothing after the first word would
        // complete (clap-rs/clap#6421). One spelling for both; a no-op once that is fixed.
        clap_complete::Shell::Bash => script.replace("vercel__subcmd__oidc", "vercel__oidc"),
        _ => script,
    })
}

/// The command's name, as completions call it.
const BIN_NAME: &str = "vercel-oidc";

/// Maps a core error to a failure: configuration problems exit 2, everything else 1.
pub(crate) fn core_failure(error: &vercel_oidc::Error) -> Failure {
    if error.is_invalid_configuration() {
        Failure::config(error)
    } else {
        Failure::failed(error)
    }
}

/// The environment every command reads: the process environment, with `--ca-file` on top.
pub(crate) fn environment(cli_ca_file: Option<&PathBuf>) -> Env {
    let env = Env::real();
    match cli_ca_file {
        Some(path) => env.with_var(CA_FILE_ENV, path.display().to_string()),
        None => env,
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::filter::LevelFilter;
    let rust_log = std::env::var_os(EnvFilter::DEFAULT_ENV).filter(|v| !v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false);
    // The common case (no `-v`, no RUST_LOG): warnings only, without parsing filter
    // directives (their parser builds regexes: a cost on every `credential_process` run).
    if verbose == 0 && rust_log.is_none() {
        let _ = builder.with_max_level(LevelFilter::WARN).try_init();
        return;
    }
    let default = match verbose {
        0 => "warn",
        1 => {
            "info,vercel_oidc=debug,vercel_oidc_aws=debug,vercel_oidc_azure=debug,vercel_oidc_gcp=debug"
        }
        _ => {
            "debug,vercel_oidc=trace,vercel_oidc_aws=trace,vercel_oidc_azure=trace,vercel_oidc_gcp=trace"
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = builder.with_env_filter(filter).try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        return exit(completions(shell).and_then(|script| write_stdout(&script)));
    }
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let env = environment(cli.ca_file.as_ref());
    let result = runtime.block_on(async {
        match cli.command {
            Command::Token(args) => token::token(args, &env).await,
            Command::Claims(args) => token::claims(args, &env).await,
            Command::Aws(command) => aws::run(command, &env).await,
            Command::Azure(command) => azure::run(command, &env).await,
            Command::Gcp(command) => gcp::run(command, &env).await,
            Command::Verify(args) => verify::verify(args, &env).await,
            #[cfg(feature = "demo")]
            Command::Demo(args) => demo::demo(args, &env).await,
            #[cfg(feature = "demo")]
            Command::DemoFunction => demo_function::serve().await,
            Command::Doctor(args) => doctor::run(args, &env).await,
            Command::Trust(command) => trust::run(command, &env).await,
            // Printed before the runtime started.
            Command::Completions { .. } => Ok(()),
        }
    });
    exit(result)
}

/// The exit code of a command's result, its error on stderr.
fn exit(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_strings_are_printed_escaped() {
        assert_eq!(
            printable("owner:acme\u{1b}[2J\u{7}\r\nproject:x"),
            "owner:acme\\u{1b}[2J\\u{7}\\r\\nproject:x"
        );
        assert_eq!(printable("plain-é"), "plain-é");
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_shell_gets_a_script_naming_every_subcommand() {
        use clap::ValueEnum as _;
        for shell in clap_complete::Shell::value_variants() {
            let script = completions(*shell).unwrap_or_else(|f| panic!("{}", f.message));
            for command in ["export-credentials", "credential-process", "completions"] {
                assert!(script.contains(command), "{shell}: no {command}");
            }
            if *shell == clap_complete::Shell::Bash {
                assert!(
                    !script.contains("vercel__subcmd__oidc"),
                    "one spelling of the states"
                );
            }
        }
    }
}
