//! The testkit issuer and STS on 127.0.0.1, kept up until killed, for timing whole processes
//! against them (`providers/aws/benches/credential_process.sh`).
//!
//! Mints a Vercel-shaped token (audience `sts.amazonaws.com`, valid 12 h), writes it to a
//! token file, and prints the environment both programs need as `export` lines, to stdout and,
//! when a path is given, to that file:
//!
//! ```sh
//! cargo run --release -p vercel-oidc-aws --example sts_emulator_server -- /tmp/sts.env [--https] &
//! . /tmp/sts.env   # once the file exists
//! vercel-oidc aws credential-process            # reads VERCEL_OIDC_TOKEN, AWS_ROLE_ARN, …
//! cargo run --release -p vercel-oidc-aws --example aws_config_web_identity
//! ```
#![allow(clippy::print_stdout)]

use std::time::Duration;

use vercel_oidc_testkit::{Issuer, Sts};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = Issuer::builder()
        .team_slug("acme")
        .token_lifetime(Duration::from_secs(12 * 3600))
        .start()
        .await?;
    // `--https` (after the optional path): TLS with a generated CA, trusted through
    // `VERCEL_OIDC_CA_FILE` (our HTTP client) and `SSL_CERT_FILE` (the AWS SDK's native roots).
    let https = std::env::args().any(|a| a == "--https");
    let mut builder = Sts::builder(issuer.team_issuer(), "sts.amazonaws.com");
    if https {
        builder = builder.https();
    }
    let sts = builder.start().await?;
    let token = issuer.token().audience("sts.amazonaws.com").sign();
    let dir = tempfile::tempdir()?;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &token)?;

    let mut ca_lines = String::new();
    if let Some(ca) = sts.ca_pem() {
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca)?;
        ca_lines = format!(
            "export VERCEL_OIDC_CA_FILE={0}\nexport SSL_CERT_FILE={0}\n",
            ca_file.display()
        );
    }
    let lines = format!(
        "export AWS_REGION=us-east-1\n\
         export AWS_ENDPOINT_URL_STS={endpoint}\n\
         export AWS_ROLE_ARN=arn:aws:iam::123456789012:role/bench\n\
         export AWS_ROLE_SESSION_NAME=bench\n\
         export AWS_WEB_IDENTITY_TOKEN_FILE={file}\n\
         export VERCEL_OIDC_TOKEN={token}\n",
        endpoint = sts.endpoint_url(),
        file = token_file.display(),
    ) + &ca_lines;
    if let Some(path) = std::env::args_os().nth(1).filter(|a| a != "--https") {
        std::fs::write(path, &lines)?;
    }
    print!("{lines}");
    println!("# serving until killed");
    std::future::pending::<()>().await;
    Ok(())
}
