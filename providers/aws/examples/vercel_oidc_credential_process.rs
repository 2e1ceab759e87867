//! The same program as `aws_config_web_identity.rs`, with this crate's provider instead of
//! aws-config's: one credential fetch, printed as `credential_process` JSON. Timing the two
//! whole processes side by side separates the provider's start-up cost from the CLI's (whose
//! binary also carries `demo`, Azure and the verifier).
//!
//! Reads `VERCEL_OIDC_TOKEN` (or `VERCEL_OIDC_TOKEN_FILE`), `AWS_ROLE_ARN`, `AWS_REGION` and
//! `AWS_ENDPOINT_URL_STS`, as `sts_emulator_server` prints them.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use aws_smithy_types::date_time::{DateTime, Format};
use vercel_oidc_aws::{AwsCredentialsProvider, RoleArn};

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let credentials = match AwsCredentialsProvider::builder(RoleArn::from_env()).build() {
            Ok(provider) => provider.credentials().await,
            Err(error) => Err(error),
        };
        let credentials = match credentials {
            Ok(credentials) => credentials,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        let mut json = serde_json::json!({
            "Version": 1,
            "AccessKeyId": credentials.access_key_id(),
            "SecretAccessKey": credentials.secret_access_key(),
        });
        if let Some(token) = credentials.session_token() {
            json["SessionToken"] = token.into();
        }
        if let Some(expiry) = credentials.expiry()
            && let Ok(text) = DateTime::from(expiry).fmt(Format::DateTime)
        {
            json["Expiration"] = text.into();
        }
        println!("{json}");
        ExitCode::SUCCESS
    })
}
