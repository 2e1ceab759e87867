//! The same complete Vercel function as `aws_function.rs`, in the axum shape of
//! `vercel_runtime` 2.4: an axum `Router` behind `vercel_runtime::axum::VercelLayer`, with
//! `VercelFunctionsLayer` outside it (the runtime's axum adapter drops `AppState`; the layer
//! outside gives axum handlers `wait_until` and the request's OIDC token back).
//!
//! `GET /` answers
//! `{"arn": "...", "account": "...", "token_id": "<the jti of this request's token>", "visits": N}`;
//! `GET /tagged` also tags the response for purging (`Vercel-Cache-Tag: visits`).

use std::sync::LazyLock;

use aws_config::BehaviorVersion;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tower::Layer;
use vercel_functions::{
    CacheOptions, SetOptions, VercelFunctionsLayer, add_cache_tag, get_cache, wait_until,
};
use vercel_runtime::axum::VercelLayer;

/// One provider per process: its cache outlives requests, and each refresh uses the token of
/// the request that needs it.
static PROVIDER: LazyLock<vercel_oidc_aws::AwsCredentialsProvider> = LazyLock::new(|| {
    let role_arn = std::env::var("AWS_ROLE_ARN").unwrap_or_default();
    vercel_oidc_aws::aws_credentials_provider(role_arn)
});

/// A handler error: logged in full, answered as a 500 with its message.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Self {
        Self(error.to_string())
    }
}

impl axum::response::IntoResponse for Failure {
    fn into_response(self) -> axum::response::Response {
        tracing::error!(error = %self.0, "request failed");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": self.0 })),
        )
            .into_response()
    }
}

async fn whoami(State(sts): State<aws_sdk_sts::Client>) -> Result<Json<Value>, Failure> {
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
    Ok(Json(json!({
        "arn": me.arn(),
        "account": me.account(),
        "token_id": token_id,
        "visits": visits,
    })))
}

async fn tagged(state: State<aws_sdk_sts::Client>) -> Result<Json<Value>, Failure> {
    add_cache_tag("visits")?;
    whoami(state).await
}

#[tokio::main]
async fn main() -> Result<(), vercel_runtime::Error> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(PROVIDER.clone())
        .load()
        .await;
    let router = Router::new()
        .route("/", get(whoami))
        .route("/tagged", get(tagged))
        .with_state(aws_sdk_sts::Client::new(&config));
    let service = VercelFunctionsLayer::new().layer(VercelLayer::new().layer(router));
    vercel_runtime::run(service).await
}
