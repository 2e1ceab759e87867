//! Own APIs end to end, every style: an axum server with the `VerifiedClaims` extractor over
//! loopback HTTP, called by reqwest (`vercel_oidc_bearer`), reqwest-middleware (`BearerAuth` as
//! a `Middleware`) and hyper-util behind the tower `BearerLayer`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer as _, ServiceBuilder, ServiceExt as _, service_fn};
use vercel_oidc::bearer::{BearerAuth, BearerLayer, BearerServiceError, RequestBuilderExt as _};
use vercel_oidc::time::{ManualClock, SharedClock};
use vercel_oidc::verify::{Constraint, ExpectedIssuer, VerifiedClaims, Verifier, VerifierBuilder};
use vercel_oidc::{Env, EnvTokenSource, FixedTokenSource, OidcToken};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer, IssuerMode};

const API_AUDIENCE: &str = "https://api.example.com";

fn verifier(issuer: &Issuer) -> Verifier {
    builder(issuer, API_AUDIENCE).build().expect("verifier")
}

fn builder(issuer: &Issuer, audience: &str) -> VerifierBuilder {
    Verifier::builder(ExpectedIssuer::team_or_global(issuer.team_slug()), audience)
        .env(Env::from_pairs::<&str, &str>([]))
        .issuer_base_url(issuer.base_url())
        .project_id("prj_testkit0000000000000000")
        .environment(Constraint::one_of(["production", "preview"]))
        .owner_id(Constraint::Any)
}

async fn whoami(claims: VerifiedClaims) -> String {
    format!(
        "{} {} {}",
        claims.project.as_deref().unwrap_or("?"),
        claims.environment.as_deref().unwrap_or("?"),
        claims.iss.as_deref().unwrap_or("?"),
    )
}

async fn hello(claims: Option<VerifiedClaims>) -> String {
    match claims {
        Some(claims) => format!("hello {}", claims.project.as_deref().unwrap_or("?")),
        None => "hello stranger".to_owned(),
    }
}

/// A server whose handlers take the extractor; the verifier is the router's state. Returns the
/// base URL and how many requests reached a handler.
async fn serve(verifier: Verifier) -> (String, Arc<AtomicUsize>) {
    let reached = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&reached);
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/hello", get(hello))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let count = Arc::clone(&count);
                async move {
                    let response = next.run(req).await;
                    if response.status() == StatusCode::OK {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    response
                }
            },
        ))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, reached)
}

fn fixed(token: String) -> BearerAuth {
    BearerAuth::new(FixedTokenSource::new(
        OidcToken::parse(token).expect("token"),
    ))
}

fn no_token() -> BearerAuth {
    BearerAuth::new(
        EnvTokenSource::new("VERCEL_OIDC_TOKEN").with_env(Env::from_pairs::<&str, &str>([])),
    )
}

#[tokio::test]
async fn the_extractor_answers_200_401_and_503() {
    let issuer = Issuer::start().await.expect("issuer");
    let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()));
    let verifier = builder(&issuer, API_AUDIENCE)
        .time_source(SharedClock::from_arc(clock.clone()))
        .build()
        .expect("verifier");
    let (base, reached) = serve(verifier).await;
    let client = reqwest::Client::new();
    let get = |path: &str, authorization: Option<String>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        async move { request.send().await.expect("sent") }
    };
    let bearer = |token: String| Some(format!("Bearer {token}"));

    // The key sets are down, nothing cached: 503, no challenge, the handler not run.
    issuer.faults().always(Endpoint::Jwks, Fault::Status(502));
    let token = issuer.token().audience(API_AUDIENCE).sign();
    let response = get("/whoami", bearer(token.clone())).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    assert_eq!(response.text().await.expect("body"), "");
    issuer.faults().clear();
    // Past the no-keys retry gap (a second).
    clock.advance(std::time::Duration::from_secs(1));
    let response = get("/whoami", bearer(token.clone())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.expect("body"),
        format!("my-project production {}", issuer.team_issuer())
    );
    // The global form of the same team.
    let global = issuer
        .token()
        .audience(API_AUDIENCE)
        .issuer_mode(IssuerMode::Global)
        .claim("environment", "preview")
        .sign();
    let response = get("/whoami", bearer(global)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.expect("body"),
        format!("my-project preview {}", issuer.global_issuer())
    );
    let ok = reached.load(Ordering::SeqCst);
    assert_eq!(ok, 2);

    // 401 with the challenge RFC 6750 asks for; the handler never runs.
    let invalid = "Bearer error=\"invalid_token\"";
    let cases = [
        (None, "Bearer"),
        (Some("Basic dXNlcjpwYXNz".to_owned()), "Bearer"),
        (Some("Bearer".to_owned()), invalid),
        (bearer(issuer.token().sign()), invalid), // the default audience, not the API's
        (
            bearer(issuer.token().audience(API_AUDIENCE).expired().sign()),
            invalid,
        ),
        (
            bearer(
                issuer
                    .token()
                    .audience(API_AUDIENCE)
                    .issuer_mode(IssuerMode::Global)
                    .claim("owner", "other")
                    .sign(),
            ),
            invalid,
        ),
        (
            bearer(
                issuer
                    .token()
                    .audience(API_AUDIENCE)
                    .issuer(format!("{}.evil.example", issuer.base_url()))
                    .sign(),
            ),
            invalid,
        ),
    ];
    for (authorization, challenge) in cases {
        let response = get("/whoami", authorization.clone()).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{authorization:?}"
        );
        assert_eq!(response.headers()[WWW_AUTHENTICATE], challenge);
        assert_eq!(response.text().await.expect("body"), "");
    }
    assert_eq!(reached.load(Ordering::SeqCst), ok, "no handler ran");

    // `Option<VerifiedClaims>`: anonymous is fine, a bad token is not.
    let response = get("/hello", None).await;
    assert_eq!(response.text().await.expect("body"), "hello stranger");
    let response = get("/hello", Some("Basic dXNlcjpwYXNz".to_owned())).await;
    assert_eq!(response.text().await.expect("body"), "hello stranger");
    let response = get("/hello", bearer(token.clone())).await;
    assert_eq!(response.text().await.expect("body"), "hello my-project");
    let response = get("/hello", bearer(issuer.token().sign_alg_none())).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[WWW_AUTHENTICATE], invalid);
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        3,
        "a failed one, then each key set once"
    );
}

/// Behind `VerifyLayer`, the extractor takes the layer's claims without verifying again (the
/// state's verifier here wants another audience, and would refuse the token).
#[tokio::test]
async fn the_extractor_reuses_the_layers_claims() {
    let issuer = Issuer::start().await.expect("issuer");
    let other = builder(&issuer, "https://other.example")
        .build()
        .expect("verifier");
    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(verifier(&issuer).layer())
        .with_state(other);
    let token = issuer.token().audience(API_AUDIENCE).sign();
    let response = app
        .oneshot(
            Request::get("/whoami")
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Jwks), 1, "verified once");
}

/// A middleware after `BearerAuth` that records the `Authorization` headers it sees: (all
/// sensitive, how many).
struct Inspect(Arc<Mutex<Vec<(bool, usize)>>>);

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for Inspect {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let values: Vec<&HeaderValue> = req.headers().get_all(AUTHORIZATION).iter().collect();
        let sensitive = values.iter().all(|v| v.is_sensitive());
        let count = values.len();
        self.0.lock().expect("lock").push((sensitive, count));
        next.run(req, extensions).await
    }
}

#[tokio::test]
async fn reqwest_chain_and_reqwest_middleware_send_a_verified_bearer() {
    let issuer = Issuer::start().await.expect("issuer");
    let (base, reached) = serve(verifier(&issuer)).await;
    let url = format!("{base}/whoami");
    let auth = fixed(issuer.token().audience(API_AUDIENCE).sign());

    // reqwest, in the builder's chain; an earlier Authorization is replaced, not doubled (the
    // server refuses two Authorization headers).
    let response = reqwest::Client::new()
        .get(&url)
        .header(AUTHORIZATION, "Basic old")
        .vercel_oidc_bearer(&auth)
        .await
        .expect("token")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(reached.load(Ordering::SeqCst), 1);

    // reqwest-middleware; a later middleware sees the header marked sensitive.
    let seen: Arc<Mutex<Vec<(bool, usize)>>> = Arc::default();
    let inspect = Inspect(Arc::clone(&seen));
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(auth.clone())
        .with(inspect)
        .build();
    for _ in 0..2 {
        let response = client
            .get(&url)
            .header(AUTHORIZATION, "Basic old")
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(*seen.lock().expect("lock"), [(true, 1), (true, 1)]);
    assert_eq!(reached.load(Ordering::SeqCst), 3);

    // No token: the request is not sent, the source's error is the cause.
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(no_token())
        .build();
    let err = client.get(&url).send().await.expect_err("no token");
    let reqwest_middleware::Error::Middleware(cause) = &err else {
        panic!("{err:?}");
    };
    let core = cause
        .downcast_ref::<vercel_oidc::Error>()
        .expect("the core's error");
    assert!(core.is_not_configured(), "{core}");
    let err = reqwest::Client::new()
        .get(&url)
        .vercel_oidc_bearer(&no_token())
        .await
        .expect_err("no token");
    assert!(err.is_not_configured());
    assert_eq!(reached.load(Ordering::SeqCst), 3, "nothing more sent");
    // A default-audience token is refused by the API.
    let response = reqwest::Client::new()
        .get(&url)
        .vercel_oidc_bearer(&fixed(issuer.token().sign()))
        .await
        .expect("token")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_tower_layer_sets_a_sensitive_bearer_on_any_http_client() {
    let issuer = Issuer::start().await.expect("issuer");
    let (base, reached) = serve(verifier(&issuer)).await;
    let token = issuer.token().audience(API_AUDIENCE).sign();

    // hyper-util's client, behind the layer, against the axum server.
    let hyper = Client::builder(TokioExecutor::new()).build_http::<Empty<&'static [u8]>>();
    let client = ServiceBuilder::new()
        .layer(BearerLayer::new(fixed(token.clone())))
        .service(hyper);
    for _ in 0..2 {
        let request = Request::get(format!("{base}/whoami"))
            .header(AUTHORIZATION, "Basic old")
            .body(Empty::new())
            .expect("request");
        let response = client.clone().oneshot(request).await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.expect("body");
        assert_eq!(
            String::from_utf8(body.to_bytes().to_vec()).expect("utf8"),
            format!("my-project production {}", issuer.team_issuer())
        );
    }
    assert_eq!(reached.load(Ordering::SeqCst), 2);

    // What the inner service receives: one Authorization, sensitive, the token.
    let seen: Arc<Mutex<Vec<(String, bool, usize)>>> = Arc::default();
    let record = Arc::clone(&seen);
    let inner = service_fn(move |req: Request<()>| {
        let values: Vec<&HeaderValue> = req.headers().get_all(AUTHORIZATION).iter().collect();
        record.lock().expect("lock").push((
            values[0].to_str().expect("ascii").to_owned(),
            values[0].is_sensitive(),
            values.len(),
        ));
        async { Ok::<_, Infallible>(Response::new(())) }
    });
    let svc = BearerLayer::new(fixed(token.clone())).layer(inner);
    let request = Request::get("/")
        .header(AUTHORIZATION, "Basic old")
        .header(AUTHORIZATION, "Basic older")
        .body(())
        .expect("request");
    svc.oneshot(request).await.expect("called");
    assert_eq!(
        *seen.lock().expect("lock"),
        [(format!("Bearer {token}"), true, 1)]
    );

    // No token: the inner service is not called, the error says why.
    let calls = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&calls);
    let inner = service_fn(move |_req: Request<()>| {
        count.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(())) }
    });
    let err = BearerLayer::new(no_token())
        .layer(inner)
        .oneshot(Request::new(()))
        .await
        .expect_err("no token");
    match err {
        BearerServiceError::Token(e) => assert!(e.is_not_configured(), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // The inner service's own error comes back as `Service`.
    let failing = service_fn(|_req: Request<()>| async { Err::<Response<()>, _>("boom") });
    let err = BearerLayer::new(fixed(token))
        .layer(failing)
        .oneshot(Request::new(()))
        .await
        .expect_err("inner failed");
    assert_eq!(err.into_service_error(), Some("boom"));
}
