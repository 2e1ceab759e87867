//! The one-call `aws_credentials_provider` shares one process-wide cache per configuration.
//!
//! The one-call form reads the real process environment, which a test may not change (the
//! workspace forbids `unsafe`, and `set_var` would race other tests): the test runs itself as
//! a child process with the environment set, and counts the STS calls the child made.

use std::sync::Arc;

use aws_credential_types::provider::ProvideCredentials;
use vercel_oidc_aws::aws_credentials_provider;
use vercel_oidc_testkit::{Issuer, Sts};

const ROLE: &str = "arn:aws:iam::123456789012:role/vercel-app";
const OTHER_ROLE: &str = "arn:aws:iam::123456789012:role/other";
const CHILD: &str = "VERCEL_OIDC_AWS_ONE_CALL_CHILD";
const TEST: &str = "one_call_providers_built_per_request_make_one_sts_call";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_providers_built_per_request_make_one_sts_call() {
    if std::env::var_os(CHILD).is_some() {
        return child().await;
    }
    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let sts = Sts::builder(issuer.team_issuer(), "sts.amazonaws.com")
        .start()
        .await
        .expect("sts");
    let token = issuer.token().audience("sts.amazonaws.com").sign();
    let status = tokio::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", TEST, "--nocapture"])
        .env(CHILD, "1")
        .env("VERCEL_OIDC_TOKEN", token)
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ENDPOINT_URL_STS", sts.endpoint_url())
        .env_remove("AWS_ROLE_SESSION_NAME")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("VERCEL_OIDC_CA_FILE")
        .status()
        .await
        .expect("child runs");
    assert!(status.success(), "child failed: {status}");
    // 1,000 constructions of the first role: one call; the other role: one more.
    assert_eq!(sts.calls(), 2);
}

/// What a handler does on every request, 1,000 times.
async fn child() {
    let first = aws_credentials_provider(ROLE);
    for request in 0..1_000 {
        let provider = aws_credentials_provider(ROLE);
        assert!(provider.shares_cache_with(&first), "request {request}");
        provider.provide_credentials().await.expect("credentials");
    }
    let other = aws_credentials_provider(OTHER_ROLE);
    assert!(!other.shares_cache_with(&first));
    other.provide_credentials().await.expect("credentials");
}
