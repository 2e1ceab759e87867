//! Own APIs end to end: the tower layer in front of a service, and an axum server behind the
//! layer called over loopback HTTP by a reqwest client with the bearer helper.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Extension;
use axum::routing::get;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use tower::{Layer, ServiceExt, service_fn};
use vercel_oidc::bearer::BearerAuth;
use vercel_oidc::verify::{Constraint, ExpectedIssuer, VerifiedClaims, Verifier, VerifyLayer};
use vercel_oidc::{AudienceExchange, Env, ExchangeRequest, FixedTokenSource, OidcToken};
use vercel_oidc_testkit::{Endpoint, Issuer};

const API_AUDIENCE: &str = "https://api.example.com";

fn verifier(issuer: &Issuer, audience: &str) -> Verifier {
    Verifier::builder(ExpectedIssuer::team(issuer.team_slug()), audience)
        .env(Env::from_pairs::<&str, &str>([]))
        .issuer_base_url(issuer.base_url())
        .project_id("prj_testkit0000000000000000")
        .environment(Constraint::one_of(["production", "preview"]))
        .owner_id(Constraint::Any)
        .build()
        .expect("verifier")
}

fn request(authorization: Option<&str>) -> Request<()> {
    let mut builder = Request::builder().uri("/");
    if let Some(value) = authorization {
        builder = builder.header(AUTHORIZATION, value);
    }
    builder.body(()).expect("request")
}

#[tokio::test]
async fn layer_puts_verified_claims_in_extensions_or_answers_401() {
    let issuer = Issuer::start().await.expect("issuer");
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let svc = VerifyLayer::new(verifier(&issuer, &issuer.default_audience())).layer(service_fn(
        move |req: Request<()>| {
            seen.fetch_add(1, Ordering::SeqCst);
            let project = req
                .extensions()
                .get::<VerifiedClaims>()
                .and_then(|c| c.project.clone())
                .unwrap_or_default();
            async move { Ok::<_, Infallible>(Response::new(project)) }
        },
    ));
    let token = issuer.token().sign();

    // Cold: the first request waits for the key set, then reaches the service.
    let response = svc
        .clone()
        .oneshot(request(Some(&format!("Bearer {token}"))))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "my-project");
    // Warm.
    let response = svc
        .clone()
        .oneshot(request(Some(&format!("bearer {token}"))))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // No token: a bare challenge. A bad one: invalid_token, without saying why.
    let cases = [
        (None, "Bearer"),
        (Some("Basic dXNlcjpwYXNz".to_owned()), "Bearer"),
        (Some("Bearer".to_owned()), "Bearer error=\"invalid_token\""),
        (
            Some(format!("Bearer {}", issuer.token().sign_alg_none())),
            "Bearer error=\"invalid_token\"",
        ),
        (
            Some(format!(
                "Bearer {}",
                issuer.token().audience("other").sign()
            )),
            "Bearer error=\"invalid_token\"",
        ),
        (
            Some(format!("Bearer {}", issuer.token().expired().sign())),
            "Bearer error=\"invalid_token\"",
        ),
    ];
    for (authorization, challenge) in cases {
        let response = svc
            .clone()
            .oneshot(request(authorization.as_deref()))
            .await
            .expect("infallible");
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{authorization:?}"
        );
        assert_eq!(response.headers()[WWW_AUTHENTICATE], challenge);
        assert!(response.body().is_empty());
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "rejected requests never reach the service"
    );
}

#[tokio::test]
async fn cold_rejection_after_the_key_fetch_is_a_401() {
    let issuer = Issuer::start().await.expect("issuer");
    let svc = verifier(&issuer, &issuer.default_audience())
        .layer()
        .layer(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(String::from("reached")))
        }));
    // The first request needs the key set, and its token fails a claim check afterwards.
    let token = issuer.token().claim("project_id", "prj_other").sign();
    let response = svc
        .oneshot(request(Some(&format!("Bearer {token}"))))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
}

async fn whoami(Extension(claims): Extension<VerifiedClaims>) -> String {
    format!(
        "{} {}",
        claims.project.as_deref().unwrap_or("?"),
        claims.environment.as_deref().unwrap_or("?")
    )
}

#[tokio::test]
async fn axum_server_and_bearer_client_over_loopback() {
    let issuer = Issuer::start().await.expect("issuer");
    let app = axum::Router::new()
        .route("/whoami", get(whoami))
        .layer(verifier(&issuer, API_AUDIENCE).layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/whoami", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();

    // A token minted for the API's audience.
    let direct = OidcToken::parse(issuer.token().audience(API_AUDIENCE).sign()).expect("token");
    let auth = BearerAuth::new(FixedTokenSource::new(direct));
    let response = auth
        .apply(client.get(&url))
        .await
        .expect("token")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(
        response.text().await.expect("body"),
        "my-project production"
    );

    // A function's default-audience token, exchanged for the API's audience on the way out.
    let function_token = OidcToken::parse(issuer.token().sign()).expect("token");
    let exchange = AudienceExchange::builder()
        .issuer_url(issuer.base_url())
        .env(Env::from_pairs::<&str, &str>([]))
        .build()
        .expect("exchange");
    let exchanged = BearerAuth::new(FixedTokenSource::new(function_token.clone()))
        .exchange(exchange, ExchangeRequest::new(API_AUDIENCE));
    for _ in 0..2 {
        let response = exchanged
            .apply(client.get(&url))
            .await
            .expect("exchanged")
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
    }
    assert_eq!(issuer.requests(Endpoint::Exchange), 1, "exchange cached");

    // Without the exchange the default audience is rejected, as is a request with no token.
    let unexchanged = BearerAuth::new(FixedTokenSource::new(function_token));
    let response = unexchanged
        .apply(client.get(&url))
        .await
        .expect("token")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[WWW_AUTHENTICATE],
        "Bearer error=\"invalid_token\""
    );
    let response = client.get(&url).send().await.expect("sent");
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
    server.abort();
}
