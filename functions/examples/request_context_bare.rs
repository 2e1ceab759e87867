//! Only the core's request layer (no `vercel-functions` API); most functions want
//! `VercelFunctionsLayer`, which includes it (see `aws_function.rs`).
//!
//! A bare `vercel_runtime` function (the `(AppState, Request)` shape) behind
//! `RequestContextLayer`: inside the handler, `get_vercel_oidc_token()` returns the token Vercel
//! sent with *this* invocation.
//!
//! Deploy it as a Vercel Rust function, or run it locally with `vercel dev`. Run bare, it listens
//! on 127.0.0.1:3000 (`VERCEL_DEV_PORT`); try
//! `curl -H "x-vercel-oidc-token: $(vercel-oidc token)" localhost:3000`.

// Tests, benches and examples may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]

use tower::ServiceBuilder;
use vercel_oidc::RequestContextLayer;
use vercel_runtime::{AppState, Error, Request, Response, ResponseBody, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let service = ServiceBuilder::new()
        .layer(RequestContextLayer::new())
        .service(service_fn(handler));
    run(service).await
}

async fn handler(_request: Request, _state: AppState) -> Result<Response<ResponseBody>, Error> {
    let body = match vercel_oidc::get_vercel_oidc_token().await {
        Ok(token) => {
            let claims = token.unverified_claims();
            serde_json::json!({
                "project": claims.project,
                "environment": claims.environment,
                "expires_at": claims.exp,
            })
        }
        // The error names what is missing; it never contains a token.
        Err(error) => serde_json::json!({ "error": error.to_string() }),
    };
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(ResponseBody::from(body))?)
}
