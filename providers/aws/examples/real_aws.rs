//! The provider against real AWS, as in a Vercel function: the token comes from the Vercel
//! chain (`x-vercel-oidc-token` through `RequestContextLayer`, `VERCEL_OIDC_TOKEN_FILE` or
//! `VERCEL_OIDC_TOKEN`), the role from `AWS_ROLE_ARN`, the region from `AWS_REGION`.
//!
//! ```sh
//! AWS_ROLE_ARN=arn:aws:iam::123456789012:role/my-vercel-role AWS_REGION=eu-west-1 \
//! VERCEL_OIDC_TOKEN=$(vercel env pull --yes /dev/stdout | sed -n 's/^VERCEL_OIDC_TOKEN="\(.*\)"/\1/p') \
//!   cargo run -p vercel-oidc-aws --example real_aws
//! ```
//!
//! Every AWS SDK client takes the provider the same way; with `aws-sdk-s3` it reads:
//!
//! ```ignore
//! let s3 = aws_sdk_s3::Client::new(&config);
//! let object = s3.get_object().bucket("my-bucket").key("hello.txt").send().await?;
//! ```
//!
//! This example calls STS `GetCallerIdentity` instead, so the workspace does not compile
//! `aws-sdk-s3` (a large crate) for one example: the credential path is identical.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use aws_config::BehaviorVersion;
use vercel_oidc_aws::{RoleArn, aws_credentials_provider};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("AWS_ROLE_ARN").is_none() {
        eprintln!("set AWS_ROLE_ARN, AWS_REGION and VERCEL_OIDC_TOKEN to run this example");
        return Ok(());
    }
    // Like `awsCredentialsProvider({ roleArn: process.env.AWS_ROLE_ARN })`.
    let provider = aws_credentials_provider(RoleArn::from_env());
    let config = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(provider)
        .load()
        .await;
    let sts = aws_sdk_sts::Client::new(&config);
    let me = sts.get_caller_identity().send().await?;
    println!(
        "assumed {} in account {}",
        me.arn().unwrap_or("?"),
        me.account().unwrap_or("?")
    );
    Ok(())
}
