//! The verifier, the verify layer and the bearer helper never log a token: a full flow runs
//! under a TRACE subscriber and the captured output is scanned.
//!
//! Its own test binary: the subscriber is process-global, so that no callsite's interest is
//! cached before it is installed.

// Tests, benches and examples may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]

use std::convert::Infallible;

use axum::Extension;
use axum::routing::get;
use http::header::AUTHORIZATION;
use tower::{Layer, ServiceExt, service_fn};
use vercel_oidc::bearer::BearerAuth;
use vercel_oidc::verify::{Constraint, ExpectedIssuer, VerifiedClaims, Verifier};
use vercel_oidc::{AudienceExchange, Env, ExchangeRequest, FixedTokenSource, OidcToken};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer};

/// The only test in this binary, so the global subscriber is installed before anything logs.
#[tokio::test]
async fn full_verify_flow_logs_no_token() {
    let logs = vercel_oidc_testkit::capture_logs();
    let issuer = Issuer::start().await.expect("issuer");
    let audience = "https://api.example.com";
    let verifier = Verifier::builder(ExpectedIssuer::team("acme"), audience)
        .env(Env::from_pairs::<&str, &str>([]))
        .issuer_base_url(issuer.base_url())
        .project_id("prj_testkit0000000000000000")
        .environment("production")
        .owner_id(Constraint::Any)
        .build()
        .expect("verifier");

    let mut secrets: Vec<String> = Vec::new();
    // A server behind the layer, called through the bearer helper with an exchanged token.
    let app = axum::Router::new()
        .route(
            "/",
            get(|Extension(c): Extension<VerifiedClaims>| async move {
                c.project.clone().unwrap_or_default()
            }),
        )
        .layer(verifier.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let function_token = issuer.token().sign();
    secrets.push(function_token.clone());
    let exchange = AudienceExchange::builder()
        .issuer_url(issuer.base_url())
        .env(Env::from_pairs::<&str, &str>([]))
        .build()
        .expect("exchange");
    let auth = BearerAuth::new(FixedTokenSource::new(
        OidcToken::parse(function_token).expect("token"),
    ))
    .exchange(exchange, ExchangeRequest::new(audience));
    secrets.push(
        auth.token()
            .await
            .expect("exchanged")
            .expose_secret()
            .to_owned(),
    );
    let client = reqwest::Client::new();
    let response = auth
        .apply(client.get(&url))
        .await
        .expect("token")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), reqwest::StatusCode::OK);

    // Rejections on the layer, warm and cold, and a failing key set.
    let svc = verifier
        .layer()
        .layer(service_fn(|_req: http::Request<()>| async {
            Ok::<_, Infallible>(http::Response::new(String::new()))
        }));
    let bad = [
        issuer.token().audience(audience).sign_alg_none(),
        issuer.token().audience(audience).expired().sign(),
        issuer.token().audience("other").sign(),
        issuer.token().audience(audience).sign_with_unknown_key(),
    ];
    for token in &bad {
        secrets.push(token.clone());
        let request = http::Request::builder()
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(())
            .expect("request");
        let response = svc.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
    }
    issuer.faults().always(Endpoint::Jwks, Fault::Status(503));
    verifier.refresh_keys().await.expect_err("failing key set");
    server.abort();

    let text = logs.contents();
    // The flow was logged (so the scan below means something)...
    for expected in [
        "verifier: key set fetched",
        "verify layer: rejected the bearer token",
        "verifier: fetching the key set failed",
        "audience exchange",
    ] {
        assert!(text.contains(expected), "missing log line {expected:?}");
    }
    // ...and no token, nor any of its parts, appears in it.
    for secret in &secrets {
        let signature = secret.rsplit('.').next().unwrap_or_default();
        assert!(!text.contains(secret.as_str()), "a token was logged");
        if signature.len() > 16 {
            assert!(!text.contains(signature), "a token signature was logged");
        }
    }
}
