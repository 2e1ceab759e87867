//! The comparison program for `vercel-oidc aws credential-process` (the target: "no slower
//! than a Rust program using aws-config directly"): one credential fetch through aws-config 1.13's
//! own `WebIdentityTokenCredentialsProvider`, printed as `credential_process` JSON (Version 1).
//!
//! Configured the way aws-config reads it from the process environment:
//! `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME` (optional),
//! `AWS_REGION`, and `AWS_ENDPOINT_URL_STS` for a local STS. Like the CLI, it runs on a
//! current-thread tokio runtime.
//!
//! ```sh
//! cargo run --release -p vercel-oidc-aws --example sts_emulator_server -- /tmp/sts.env &
//! . /tmp/sts.env
//! cargo run --release -p vercel-oidc-aws --example aws_config_web_identity
//! ```
//!
//! `providers/aws/benches/credential_process.sh` times it against the CLI with `hyperfine`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use aws_config::provider_config::ProviderConfig;
use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_smithy_types::date_time::{DateTime, Format};

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
        // Region from the default region chain (AWS_REGION, profile), endpoint and the
        // web-identity settings from the environment: aws-config's documented setup.
        let config = ProviderConfig::with_default_region().await;
        let provider = WebIdentityTokenCredentialsProvider::builder()
            .configure(&config)
            .build();
        let credentials = match provider.provide_credentials().await {
            Ok(credentials) => credentials,
            Err(error) => {
                eprintln!(
                    "error: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&error)
                );
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
        if let Some(expiry) = credentials.expiry() {
            match DateTime::from(expiry).fmt(Format::DateTime) {
                Ok(expiration) => json["Expiration"] = expiration.into(),
                Err(error) => {
                    eprintln!("error: expiration: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
        println!("{json}");
        ExitCode::SUCCESS
    })
}
