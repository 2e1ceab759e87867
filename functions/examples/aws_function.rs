//! A complete Vercel function in the bare-handler shape of `vercel_runtime` 2.4: the request's
//! OIDC token becomes AWS credentials, the function calls STS `GetCallerIdentity` with them,
//! answers from the Runtime Cache, and updates the cache after the response (`wait_until`).
//!
//! Deploy it as a Vercel Rust function with `AWS_ROLE_ARN` and `AWS_REGION` set (see the AWS
//! setup in the `vercel-oidc-aws` docs). The crate's tests run it under the testkit's
//! `VercelHost`, against the STS and Runtime Cache emulators (`tests/host.rs`).
//!
//! `GET /` answers
//! `{"arn": "...", "account": "...", "token_id": "<the jti of this request's token>", "visits": N}`.

use std::sync::LazyLock;

use aws_config::BehaviorVersion;
use serde_json::json;
use tower::Layer;
use vercel_functions::{CacheOptions, SetOptions, VercelFunctionsLayer, get_cache, wait_until};
use vercel_runtime::{Error, Request, Response, ResponseBody, run, service_fn};

/// One provider per process: its cache outlives requests, and each refresh uses the token of
/// the request that needs it (the layer puts it where the provider looks).
static PROVIDER: LazyLock<vercel_oidc_aws::AwsCredentialsProvider> = LazyLock::new(|| {
    let role_arn = std::env::var("AWS_ROLE_ARN").unwrap_or_default();
    vercel_oidc_aws::aws_credentials_provider(role_arn)
});

async fn handler(_req: Request, sts: aws_sdk_sts::Client) -> Result<Response<ResponseBody>, Error> {
    // Which token this invocation carries (decoded, not verified: for reading only).
    let token = vercel_oidc::get_vercel_oidc_token().await?;
    let token_id = token.unverified_claims().jti.clone();

    // AWS credentials from the request's token (STS AssumeRoleWithWebIdentity, cached).
    let me = sts.get_caller_identity().send().await?;

    // The Runtime Cache (an in-memory cache when the platform's endpoint is not configured).
    let cache = get_cache(CacheOptions::default());
    let visits: u64 = cache.get("visits").await?.unwrap_or(0);
    // After the response: the invocation ends (and the instance may be frozen) only once this
    // has settled.
    wait_until(async move {
        if let Err(error) = cache
            .set("visits", &(visits + 1), SetOptions::default())
            .await
        {
            tracing::warn!(%error, "could not count the visit");
        }
    })?;

    let body = json!({
        "arn": me.arn(),
        "account": me.account(),
        "token_id": token_id,
        "visits": visits,
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(ResponseBody::from(body))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    // The SDK client is built once, at cold start; its credentials come from the provider.
    let config = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(PROVIDER.clone())
        .load()
        .await;
    let sts = aws_sdk_sts::Client::new(&config);
    let handler = service_fn(move |req: Request| handler(req, sts.clone()));
    run(VercelFunctionsLayer::new().layer(handler)).await
}
