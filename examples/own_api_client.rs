//! Calling your own API from a Vercel function with the function's OIDC token as a bearer, with
//! reqwest (feature `bearer`): `.vercel_oidc_bearer(&auth)` in the request builder's chain.
//!
//! ```text
//! cargo run --example own_api_client --features bearer -- https://api.example.com/whoami
//! ```
//!
//! For other clients see `bearer_tower_client` (any tower `http::Request` client, such as
//! hyper-util) and `bearer_middleware_client` (reqwest-middleware).
//!
//! The token comes from the Vercel chain (`VERCEL_OIDC_TOKEN_FILE`, `VERCEL_OIDC_TOKEN`, or the
//! request header inside a handler behind `RequestContextLayer`). With `API_AUDIENCE` set, the
//! token is first exchanged for one with that audience (`POST {issuer}/~token`). The header is
//! marked sensitive, so HTTP logging redacts it.

// Tests, benches and examples may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]
#![allow(clippy::print_stdout)]

use vercel_oidc::bearer::{BearerAuth, RequestBuilderExt as _};
use vercel_oidc::{AudienceExchange, ExchangeRequest};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:3000/whoami".to_owned());
    let mut auth = BearerAuth::vercel();
    if let Some(audience) = std::env::var("API_AUDIENCE").ok().filter(|a| !a.is_empty()) {
        let exchange = AudienceExchange::builder().build()?;
        auth = auth.exchange(exchange, ExchangeRequest::new(audience));
    }
    let client = reqwest::Client::new();
    let response = client
        .get(&url)
        .vercel_oidc_bearer(&auth)
        .await?
        .send()
        .await?;
    println!("{} {}", response.status(), response.text().await?);
    Ok(())
}
