//! Calling your own API with a `reqwest-middleware` client (feature
//! `bearer-reqwest-middleware`): `BearerAuth` is a `Middleware`, so every request of the client
//! carries the current token as a sensitive `Authorization: Bearer` header, next to whatever
//! other middleware (retries, tracing) the client has.
//!
//! ```text
//! VERCEL_OIDC_TOKEN=… cargo run --example bearer_middleware_client --features bearer-reqwest-middleware -- http://127.0.0.1:3000/whoami
//! ```
//!
//! With `API_AUDIENCE` set, the token is first exchanged for one with that audience
//! (`POST {issuer}/~token`, cached until it expires).

// Tests, benches and examples may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]
#![allow(clippy::print_stdout)]

use reqwest_middleware::ClientBuilder;
use vercel_oidc::bearer::BearerAuth;
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
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(auth)
        .build();
    let response = client.get(&url).send().await?;
    println!("{} {}", response.status(), response.text().await?);
    Ok(())
}
