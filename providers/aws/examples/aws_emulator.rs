//! The whole flow on this machine, no cloud account needed: the testkit's issuer mints a
//! Vercel-shaped token, the testkit's STS verifies it against the issuer's JWKS and issues
//! credentials, and an AWS SDK client signs `GetCallerIdentity` with them (the emulator checks
//! the SigV4 signature).
//!
//! `cargo run -p vercel-oidc-aws --example aws_emulator`
#![allow(clippy::print_stdout)]

use std::time::Instant;

use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials as _;
use vercel_oidc::Env;
use vercel_oidc_aws::AwsCredentialsProvider;
use vercel_oidc_testkit::{Issuer, Sts};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = Issuer::builder().team_slug("acme").start().await?;
    let sts = Sts::builder(issuer.team_issuer(), "sts.amazonaws.com")
        .start()
        .await?;
    println!(
        "1. issuer {} and STS {}",
        issuer.team_issuer(),
        sts.endpoint_url()
    );

    // What a Vercel function's environment would hold.
    let token = issuer.token().audience("sts.amazonaws.com").sign();
    let env = Env::from_pairs([
        ("VERCEL_OIDC_TOKEN", token.as_str()),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL_STS", sts.endpoint_url().as_str()),
    ]);
    let provider = AwsCredentialsProvider::builder("arn:aws:iam::123456789012:role/acme-web")
        .env(env)
        .session_name("emulator-demo")
        .build()?;

    let started = Instant::now();
    let credentials = provider.provide_credentials().await?;
    println!(
        "2. assumed the role in {:?}: {:?}, expires {:?}",
        started.elapsed(),
        credentials, // Debug redacts the secret key and session token
        credentials.expiry()
    );
    let started = Instant::now();
    provider.provide_credentials().await?;
    println!("3. cached get in {:?}", started.elapsed());

    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_types::region::Region::new("eu-west-1"))
        .endpoint_url(sts.endpoint_url())
        .credentials_provider(provider)
        .load()
        .await;
    let me = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await?;
    println!(
        "4. GetCallerIdentity signed with them: account {}, user {}",
        me.account().unwrap_or("?"),
        me.user_id().unwrap_or("?")
    );
    println!(
        "5. STS saw {} AssumeRoleWithWebIdentity call(s)",
        sts.calls()
    );
    Ok(())
}
