//! Offline walk-through: a local issuer mints a Vercel-shaped token, the token chain reads it back
//! (from a request header through the tower layer, from `VERCEL_OIDC_TOKEN_FILE`, from
//! `VERCEL_OIDC_TOKEN`), and the audience exchange trades it for another audience.
//!
//! `cargo run --example demo` — needs no network and no cloud account.

// Tests, benches and examples may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]
#![allow(clippy::print_stdout)]

use std::convert::Infallible;
use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tower::{Layer, ServiceExt, service_fn};
use vercel_oidc::{
    AudienceExchange, Env, ExchangeRequest, FreshestTokenSlot, OidcToken, RequestContextLayer,
    TokenSource, VercelTokenSource,
};
use vercel_oidc_testkit::Issuer;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let issuer = Issuer::builder().team_slug("acme").start().await?;
    println!(
        "1. local issuer at {} (team issuer {})",
        issuer.base_url(),
        issuer.team_issuer()
    );

    let raw = issuer.token().lifetime(Duration::from_secs(3600)).sign();
    let token = OidcToken::parse(raw.clone())?;
    println!("2. minted {token:?}; its unverified claims:");
    println!(
        "{}",
        serde_json::to_string_pretty(token.unverified_claims())?
    );

    // From a request header, through the layer that Vercel functions put in front of handlers.
    let slot = Arc::new(FreshestTokenSlot::new());
    let chain = VercelTokenSource::builder()
        .env(Env::from_pairs::<&str, &str>([]))
        .slot(slot.clone())
        .build();
    let c = chain.clone();
    let handler =
        RequestContextLayer::new()
            .slot(slot)
            .layer(service_fn(move |_req: http::Request<()>| {
                let c = c.clone();
                async move { Ok::<_, Infallible>(c.token().await) }
            }));
    let request = http::Request::builder()
        .header("x-vercel-oidc-token", &raw)
        .body(())?;
    let from_header = handler.oneshot(request).await??;
    println!(
        "3. read back from the x-vercel-oidc-token header: same token = {}",
        from_header == token
    );
    let from_slot = chain.token().await?;
    println!(
        "4. read back outside the request (freshest-token slot): same token = {}",
        from_slot == token
    );

    // From VERCEL_OIDC_TOKEN_FILE and VERCEL_OIDC_TOKEN.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("oidc-token");
    std::fs::write(&file, format!("{raw}\n"))?;
    let file_env = Env::from_pairs([("VERCEL_OIDC_TOKEN_FILE", file.display().to_string())]);
    let from_file = VercelTokenSource::builder()
        .env(file_env)
        .without_slot()
        .build()
        .token()
        .await?;
    println!(
        "5. read back from VERCEL_OIDC_TOKEN_FILE: same token = {}",
        from_file == token
    );
    let env = Env::from_pairs([("VERCEL_OIDC_TOKEN", raw.as_str())]);
    let from_env = VercelTokenSource::builder()
        .env(env)
        .without_slot()
        .build()
        .token()
        .await?;
    println!(
        "6. read back from VERCEL_OIDC_TOKEN: same token = {}",
        from_env == token
    );

    // Nothing configured: a typed error that says why, and why refresh could not help.
    let err = VercelTokenSource::builder()
        .env(Env::from_pairs::<&str, &str>([]))
        .without_slot()
        .build()
        .token()
        .await
        .expect_err("no token anywhere");
    println!("7. with no token anywhere: {err}");
    if let Some(cause) = err.source() {
        println!("   because: {cause}");
    }

    // Audience exchange through the issuer's ~token endpoint.
    let exchange = AudienceExchange::builder()
        .issuer_url(issuer.base_url())
        .env(Env::from_pairs::<&str, &str>([]))
        .build()?;
    let exchanged = exchange
        .exchange(&token, &ExchangeRequest::new("api://AzureADTokenExchange"))
        .await?;
    let claims = exchanged.unverified_claims();
    println!(
        "8. exchanged through {}: aud {}, act {}, jti {}",
        exchange.token_url(),
        serde_json::to_string(&claims.aud)?,
        serde_json::to_string(&claims.act)?,
        claims.jti.as_deref().unwrap_or("-"),
    );
    println!("done in {:.0?}", started.elapsed());
    Ok(())
}
