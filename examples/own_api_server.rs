//! Your own API, verifying the Vercel OIDC token that a Vercel function sends as a bearer.
//!
//! ```text
//! API_TEAM_SLUG=acme API_AUDIENCE=https://api.example.com API_PROJECT_ID=prj_123 \
//!     cargo run --example own_api_server
//! ```
//!
//! | variable | meaning |
//! |---|---|
//! | `API_TEAM_SLUG` | the team whose issuer is trusted (`https://oidc.vercel.com/<slug>`); unset: the global issuer |
//! | `API_AUDIENCE` | the audience tokens must carry (required) |
//! | `API_PROJECT_ID` | the only project allowed to call (required) |
//! | `API_ENVIRONMENT` | allowed environment (default `production`) |
//! | `PORT` | listen port on 127.0.0.1 (default 3000) |
//!
//! Offline, with a local test issuer: `cargo run --example own_api_server -- --testkit` prints a
//! test token, and `own_api_client` can call the server with it.

// Tests, benches and examples may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Extension, Json, Router};
use vercel_oidc::verify::{Constraint, ExpectedIssuer, VerifiedClaims, Verifier};
use vercel_oidc_testkit::Issuer;

/// A handler behind the layer: the claims are verified.
async fn whoami(Extension(claims): Extension<VerifiedClaims>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "project": claims.project,
        "project_id": claims.project_id,
        "environment": claims.environment,
        "owner": claims.owner,
    }))
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
        let token = issuer.token().audience(audience).sign();
        println!("test issuer at {}", issuer.team_issuer());
        println!(
            "call it with:\n  VERCEL_OIDC_TOKEN={token} cargo run --example own_api_client -- http://127.0.0.1:{port}/whoami\n"
        );
        let verifier = Verifier::builder(ExpectedIssuer::team("acme"), audience)
            .issuer_base_url(issuer.base_url())
            .project_id("prj_testkit0000000000000000")
            .environment("production")
            .owner_id(Constraint::Any)
            .build()?;
        _testkit = Some(issuer);
        verifier
    } else {
        let issuer = match var("API_TEAM_SLUG") {
            Some(team) => ExpectedIssuer::team(team),
            None => ExpectedIssuer::global(),
        };
        let audience = var("API_AUDIENCE").ok_or("set API_AUDIENCE")?;
        let project = var("API_PROJECT_ID").ok_or("set API_PROJECT_ID")?;
        let environment = var("API_ENVIRONMENT").unwrap_or_else(|| "production".into());
        Verifier::builder(issuer, audience)
            .project_id(project)
            .environment(environment)
            // A deliberate choice: any team, since the issuer already pins the team in team
            // mode. In global mode, pin `owner_id` to your team id instead.
            .owner_id(Constraint::Any)
            .build()?
    };
    // Fetch the key set at startup, so the first request does not wait for it.
    verifier.refresh_keys().await?;

    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(verifier.layer());
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{addr} (issuer {})", verifier.issuer());
    axum::serve(listener, app).await?;
    Ok(())
}
