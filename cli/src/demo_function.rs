//! `vercel-oidc __demo-function` (hidden): the Vercel function that step 5 of `vercel-oidc demo`
//! runs under the testkit's `VercelHost`. It is the production shape of a Rust function on
//! Vercel: `vercel_runtime::run` with `VercelFunctionsLayer` around the handler; the handler
//! turns the request's `x-vercel-oidc-token` into AWS credentials, calls STS
//! `GetCallerIdentity` with them, answers from the Runtime Cache and updates it after the
//! response with `wait_until`.
//!
//! Its environment comes from the demo (`AWS_ROLE_ARN`, `AWS_REGION`, `AWS_ENDPOINT_URL_STS`,
//! `RUNTIME_CACHE_ENDPOINT`, `RUNTIME_CACHE_HEADERS`, and the host's `VERCEL_*`).

use std::sync::LazyLock;

use aws_config::BehaviorVersion;
use tower::Layer as _;
use vercel_functions::vercel_runtime::{self, Error, Request, Response, ResponseBody};
use vercel_functions::{CacheOptions, SetOptions, VercelFunctionsLayer, get_cache, wait_until};
use vercel_oidc_aws::AwsCredentialsProvider;

use crate::Failure;

/// One provider for the process: its cache outlives invocations.
static PROVIDER: LazyLock<AwsCredentialsProvider> = LazyLock::new(|| {
    vercel_oidc_aws::aws_credentials_provider(std::env::var("AWS_ROLE_ARN").unwrap_or_default())
});

async fn handler(_req: Request, sts: aws_sdk_sts::Client) -> Result<Response<ResponseBody>, Error> {
    let token = vercel_oidc::get_vercel_oidc_token().await?;
    let token_id = token.unverified_claims().jti.clone();
    let me = sts.get_caller_identity().send().await?;
    let cache = get_cache(CacheOptions::default());
    let visits: u64 = cache.get("visits").await?.unwrap_or(0);
    wait_until(async move {
        if let Err(error) = cache
            .set("visits", &(visits + 1), SetOptions::default())
            .await
        {
            tracing::warn!(%error, "could not count the visit");
        }
    })?;
    let body = serde_json::json!({
        "arn": me.arn(),
        "token_id": token_id,
        "visits": visits,
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(ResponseBody::from(body))?)
}

/// Serves until the host sends SIGTERM.
pub(crate) async fn serve() -> Result<(), Failure> {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(PROVIDER.clone())
        .load()
        .await;
    let sts = aws_sdk_sts::Client::new(&config);
    let handler = vercel_runtime::service_fn(move |req: Request| handler(req, sts.clone()));
    vercel_runtime::run(VercelFunctionsLayer::new().layer(handler))
        .await
        .map_err(|error| Failure::message(format!("the demo function failed: {error}")))
}
