//! Only the core's request layer (no `vercel-functions` API); most functions want
//! `VercelFunctionsLayer`, which includes it (see `aws_function.rs`).
//!
//! An axum `Router` (the `http::Request` shape) behind `RequestContextLayer`, served by
//! `vercel_runtime` through its `axum` feature.
//!
//! Inside a handler `get_vercel_oidc_token()` returns this request's token; background work
//! outside any request (a provider's refresh-ahead task) finds the freshest token the layer has
//! seen. Run bare, it listens on 127.0.0.1:3000 (`VERCEL_DEV_PORT`).

// Tests, benches and examples may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]

use axum::Router;
use axum::routing::get;
use tower::ServiceBuilder;
use vercel_oidc::RequestContextLayer;
use vercel_runtime::Error;
use vercel_runtime::axum::VercelLayer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let app = Router::new()
        .route("/", get(whoami))
        .layer(RequestContextLayer::new());
    let service = ServiceBuilder::new().layer(VercelLayer::new()).service(app);
    vercel_runtime::run(service).await
}

async fn whoami() -> String {
    match vercel_oidc::get_vercel_oidc_token().await {
        Ok(token) => {
            let claims = token.unverified_claims();
            format!(
                "project {} ({}), token expires at {}\n",
                claims.project.as_deref().unwrap_or("?"),
                claims.environment.as_deref().unwrap_or("?"),
                claims.exp.unwrap_or_default()
            )
        }
        Err(error) => format!("no token: {error}\n"),
    }
}
