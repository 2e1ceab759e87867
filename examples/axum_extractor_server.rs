//! Your own API on axum with the `VerifiedClaims` extractor (feature `axum`): no layer, the
//! handler's argument is the verified claims. Tokens of one team are accepted from the team
//! issuer and from the global issuer; a token that does not verify is answered `401` with
//! `WWW-Authenticate`, and `503` when Vercel's key set cannot be fetched.
//!
//! ```text
//! API_TEAM_SLUG=acme API_AUDIENCE=https://api.example.com API_PROJECT_ID=prj_123 \
//!     cargo run --example axum_extractor_server --features axum
//! ```
//!
//! | variable | meaning |
//! |---|---|
//! | `API_TEAM_SLUG` | the team whose tokens are trusted, in team or global issuer form (required) |
//! | `API_AUDIENCE` | the audience tokens must carry (required) |
//! | `API_PROJECT_ID` | the only project allowed to call; unset: `VERCEL_PROJECT_ID` (this deployment's) |
//! | `API_ENVIRONMENT` | the allowed environment; unset: `VERCEL_TARGET_ENV` / `VERCEL_ENV` |
//! | `PORT` | listen port on 127.0.0.1 (default 3000) |
//!
//! Offline, with a local test issuer: `cargo run --example axum_extractor_server --features
//! axum -- --testkit` prints a team-form and a global-form test token; any of the client
//! examples (`own_api_client`, `bearer_tower_client`, `bearer_middleware_client`) can call the
//! server with either.

// Tests, benches and examples may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use vercel_oidc::Env;
use vercel_oidc::verify::{ExpectedIssuer, VerifiedClaims, Verifier};
use vercel_oidc_testkit::{Issuer, IssuerMode};

/// The claims are an argument: this runs only for a verified token.
async fn whoami(claims: VerifiedClaims) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "iss": claims.iss,
        "project": claims.project,
        "project_id": claims.project_id,
        "environment": claims.environment,
        "owner": claims.owner,
    }))
}

/// `Option<VerifiedClaims>`: anonymous callers too, but a bad token is still refused.
async fn hello(claims: Option<VerifiedClaims>) -> String {
    match claims {
        Some(claims) => format!("hello, {}\n", claims.project.as_deref().unwrap_or("?")),
        None => "hello, stranger\n".to_owned(),
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = var("PORT").map_or(Ok(3000), |p| p.parse())?;
    // Keeps the test issuer alive while the server runs.
    let mut _testkit = None;
    let verifier = if std::env::args().any(|a| a == "--testkit") {
        let issuer = Issuer::builder().team_slug("acme").start().await?;
        let audience = "https://api.example.com";
        let team = issuer.token().audience(audience).sign();
        let global = issuer
            .token()
            .audience(audience)
            .issuer_mode(IssuerMode::Global)
            .sign();
        println!("test issuer at {}", issuer.base_url());
        println!("a team-form token:\n  VERCEL_OIDC_TOKEN={team}\n");
        println!("a global-form token:\n  VERCEL_OIDC_TOKEN={global}\n");
        println!(
            "call it with:\n  VERCEL_OIDC_TOKEN=… cargo run --example own_api_client --features bearer -- http://127.0.0.1:{port}/whoami\n"
        );
        // This "deployment" is the test issuer's project, in production.
        let env = Env::from_pairs([
            ("VERCEL_PROJECT_ID", "prj_testkit0000000000000000"),
            ("VERCEL_ENV", "production"),
        ]);
        let verifier =
            Verifier::for_this_deployment(ExpectedIssuer::team_or_global("acme"), audience)
                .env(env)
                .issuer_base_url(issuer.base_url())
                .build()?;
        _testkit = Some(issuer);
        verifier
    } else {
        let team = var("API_TEAM_SLUG").ok_or("set API_TEAM_SLUG")?;
        let audience = var("API_AUDIENCE").ok_or("set API_AUDIENCE")?;
        let mut builder =
            Verifier::builder(ExpectedIssuer::team_or_global(team), audience).defaults_from_env();
        // Explicit values win over the deployment's own.
        if let Some(project) = var("API_PROJECT_ID") {
            builder = builder.project_id(project);
        }
        if let Some(environment) = var("API_ENVIRONMENT") {
            builder = builder.environment(environment);
        }
        builder.build()?
    };
    // Fetch the key sets at startup, so the first request does not wait for them; a failure
    // here is not fatal (requests answer 503 until the issuer is reachable).
    if let Err(error) = verifier.refresh_keys().await {
        println!("warning: {error}");
    }

    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/hello", get(hello))
        .with_state(verifier.clone());
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let issuers: Vec<&str> = verifier.issuers().collect();
    println!("listening on http://{addr} (issuers {issuers:?})");
    axum::serve(listener, app).await?;
    Ok(())
}
