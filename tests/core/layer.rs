//! The tower layer sets the request context for both request shapes of Vercel's Rust runtime.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tower::{Layer, Service, ServiceExt, service_fn};
use vercel_oidc::{
    Env, Error, FreshestTokenSlot, RequestContext, RequestContextLayer, TokenOrigin, TokenSource,
    VercelTokenSource,
};
use vercel_oidc_testkit::Issuer;

fn chain(slot: Arc<FreshestTokenSlot>) -> VercelTokenSource {
    VercelTokenSource::builder()
        .env(Env::from_pairs::<&str, &str>([]))
        .slot(slot)
        .build()
}

fn request(header: &str, token: &str) -> http::Request<()> {
    http::Request::builder()
        .header(header, token)
        .body(())
        .expect("request")
}

#[tokio::test]
async fn http_request_shape_both_header_names() {
    let issuer = Issuer::start().await.expect("issuer");
    let slot = Arc::new(FreshestTokenSlot::new());
    let source = chain(Arc::new(FreshestTokenSlot::new()));
    let svc = RequestContextLayer::new()
        .slot(slot.clone())
        .layer(service_fn(move |_req: http::Request<()>| {
            let source = source.clone();
            async move {
                Ok::<_, Infallible>(source.token().await.map(|t| t.expose_secret().to_owned()))
            }
        }));
    for header in ["x-vercel-oidc-token", "x-vercel-internal-oidc-token"] {
        let token = issuer.token().sign();
        let got = svc
            .clone()
            .oneshot(request(header, &token))
            .await
            .expect("infallible");
        assert_eq!(got.expect("token"), token, "{header}");
    }
    // Outside a request: nothing in scope; the chain's own (empty) slot has nothing either.
    let err = chain(Arc::new(FreshestTokenSlot::new()))
        .token()
        .await
        .expect_err("none");
    assert!(err.is_not_configured(), "{err}");
    // But the layer's slot recorded the freshest token for background work.
    assert!(slot.get(Duration::ZERO).is_some());
}

#[tokio::test]
async fn tuple_shape_of_vercel_runtime() {
    #[derive(Clone)]
    struct AppState;
    let issuer = Issuer::start().await.expect("issuer");
    let token = issuer.token().sign();
    let source = chain(Arc::new(FreshestTokenSlot::new()));
    let mut svc = RequestContextLayer::new()
        .record_freshest(false)
        .layer(service_fn(
            move |(_state, _req): (AppState, http::Request<()>)| {
                let source = source.clone();
                async move {
                    Ok::<_, Infallible>(source.token().await.map(|t| t.expose_secret().to_owned()))
                }
            },
        ));
    let got = svc
        .ready()
        .await
        .expect("ready")
        .call((AppState, request("x-vercel-oidc-token", &token)))
        .await
        .expect("infallible");
    assert_eq!(got.expect("token"), token);
}

#[tokio::test]
async fn the_inner_call_itself_sees_the_context() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = issuer.token().sign();
    // A service whose `call` reads the context synchronously, before returning its future.
    let svc = RequestContextLayer::new()
        .record_freshest(false)
        .layer(service_fn(|_req: http::Request<()>| {
            let seen = RequestContext::current().is_some();
            async move { Ok::<_, Infallible>(seen) }
        }));
    assert!(
        svc.oneshot(request("x-vercel-oidc-token", &token))
            .await
            .expect("ok")
    );
}

#[tokio::test]
async fn malformed_header_is_a_typed_error_and_never_recorded() {
    let slot = Arc::new(FreshestTokenSlot::new());
    let source = chain(Arc::new(FreshestTokenSlot::new()));
    let svc = RequestContextLayer::new()
        .slot(slot.clone())
        .layer(service_fn(move |_req: http::Request<()>| {
            let source = source.clone();
            async move { Ok::<_, Infallible>(source.token().await) }
        }));
    let got = svc
        .oneshot(request("x-vercel-oidc-token", "not-a-jwt"))
        .await
        .expect("ok");
    assert!(matches!(
        got,
        Err(Error::InvalidTokenFrom {
            origin: TokenOrigin::RequestHeader,
            ..
        })
    ));
    assert!(slot.get(Duration::ZERO).is_none());
}

#[tokio::test]
async fn expired_header_tokens_are_not_recorded() {
    let issuer = Issuer::start().await.expect("issuer");
    let slot = Arc::new(FreshestTokenSlot::new());
    let svc = RequestContextLayer::new()
        .slot(slot.clone())
        .layer(service_fn(|_req: http::Request<()>| async {
            Ok::<_, Infallible>(())
        }));
    let expired = issuer.token().expired().sign();
    svc.oneshot(request("x-vercel-oidc-token", &expired))
        .await
        .expect("ok");
    assert!(slot.get(Duration::ZERO).is_none());
}
