//! Calling your own API through a tower client stack (feature `bearer-tower`): hyper-util's
//! client behind `BearerLayer`, which sets the token as a sensitive `Authorization: Bearer`
//! header on every `http::Request`. No reqwest; the same layer fits any
//! `Service<http::Request<B>>`.
//!
//! ```text
//! VERCEL_OIDC_TOKEN=… cargo run --example bearer_tower_client --features bearer-tower -- http://127.0.0.1:3000/whoami
//! ```
//!
//! The token comes from the Vercel chain (`VERCEL_OIDC_TOKEN_FILE`, `VERCEL_OIDC_TOKEN`, or the
//! request header inside a handler behind `RequestContextLayer`). Plain `http` only here (a
//! local server such as the `axum_extractor_server` or `own_api_server` example); for `https`,
//! give hyper-util an HTTPS connector.

// Tests, benches and examples may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]
#![allow(clippy::print_stdout)]

use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt as _};
use vercel_oidc::bearer::{BearerAuth, BearerLayer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:3000/whoami".to_owned());
    let hyper = Client::builder(TokioExecutor::new()).build_http::<Empty<&'static [u8]>>();
    let client = ServiceBuilder::new()
        .layer(BearerLayer::new(BearerAuth::vercel()))
        .service(hyper);
    let request = http::Request::get(url).body(Empty::new())?;
    let response = client.oneshot(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    println!("{status} {}", String::from_utf8_lossy(&body));
    Ok(())
}
