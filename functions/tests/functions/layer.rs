//! `VercelFunctionsLayer` in both request shapes: the request context, the request scope
//! (`wait_until`, cache tags, the deadline).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tower::{Layer, ServiceExt, service_fn};
use vercel_functions::{
    TagError, VercelFunctionsLayer, WaitUntilError, add_cache_tag, get_deadline, wait_until,
};
use vercel_oidc::{Env, OidcConfig, TokenSource, VercelTokenSource};

fn layer() -> VercelFunctionsLayer {
    VercelFunctionsLayer::new()
        .configure(&OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([])))
}

fn app_state() -> vercel_runtime::AppState {
    vercel_runtime::AppState::new(vercel_runtime::LogContext::new(None, None, None))
}

#[tokio::test]
async fn plain_requests_track_wait_until_work_in_the_layer() {
    let layer = layer();
    let tasks = layer.background_tasks();
    let (release, gate) = oneshot::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(Some(gate)));
    let done = Arc::new(AtomicUsize::new(0));
    let svc = layer.layer(service_fn({
        let done = done.clone();
        move |_req: http::Request<()>| {
            let gate = gate.lock().expect("lock").take().expect("one request");
            let done = done.clone();
            async move {
                wait_until(async move {
                    let _ = gate.await;
                    done.fetch_add(1, Ordering::SeqCst);
                })
                .expect("in a request");
                Ok::<_, Infallible>(http::Response::new("sent"))
            }
        }
    }));
    let response = svc.oneshot(http::Request::new(())).await.expect("response");
    assert_eq!(*response.body(), "sent");
    // The response is out; the work is still pending, tracked by the layer.
    assert_eq!(tasks.len(), 1);
    assert_eq!(done.load(Ordering::SeqCst), 0);
    release.send(()).expect("release");
    tasks.settled().await;
    assert_eq!(done.load(Ordering::SeqCst), 1);
    assert!(tasks.is_empty());
}

#[tokio::test]
async fn the_runtime_shape_hands_wait_until_work_to_app_state() {
    let layer = layer();
    let tasks = layer.background_tasks();
    let (ran, ran_rx) = oneshot::channel::<()>();
    let ran = Arc::new(std::sync::Mutex::new(Some(ran)));
    let svc = layer.layer(service_fn(
        move |(_state, _req): (vercel_runtime::AppState, http::Request<()>)| {
            let ran = ran.lock().expect("lock").take().expect("one request");
            async move {
                wait_until(async move {
                    let _ = ran.send(());
                })
                .expect("in a request");
                Ok::<_, Infallible>(http::Response::new(()))
            }
        },
    ));
    svc.oneshot((app_state(), http::Request::new(())))
        .await
        .expect("response");
    // It ran (AppState spawns it at once), and not on the layer's tracker.
    ran_rx.await.expect("the future ran");
    assert!(tasks.is_empty());
}

#[tokio::test]
async fn the_request_context_is_set_for_the_token_chain() {
    let issuer = vercel_oidc_testkit::Issuer::start().await.expect("issuer");
    let token = issuer.token().sign();
    let source = VercelTokenSource::builder()
        .env(Env::from_pairs::<&str, &str>([]))
        .without_slot()
        .without_refresh()
        .build();
    let svc = layer().layer(service_fn(
        move |(_s, _r): (vercel_runtime::AppState, http::Request<()>)| {
            let source = source.clone();
            async move {
                let seen = source
                    .token()
                    .await
                    .map(|t| t.expose_secret().to_owned())
                    .ok();
                Ok::<_, Infallible>(http::Response::new(seen))
            }
        },
    ));
    let request = http::Request::builder()
        .header("x-vercel-oidc-token", &token)
        .body(())
        .expect("request");
    let response = svc.oneshot((app_state(), request)).await.expect("response");
    assert_eq!(response.body().as_deref(), Some(token.as_str()));
}

#[tokio::test]
async fn cache_tags_become_the_vercel_cache_tag_header() {
    let svc = layer().layer(service_fn(|_req: http::Request<()>| async {
        add_cache_tag("products").expect("tag");
        add_cache_tag("home").expect("tag");
        add_cache_tag("products").expect("duplicate is fine");
        assert_eq!(add_cache_tag("a,b"), Err(TagError::InvalidCharacter));
        let mut response = http::Response::new(());
        response
            .headers_mut()
            .insert("vercel-cache-tag", http::HeaderValue::from_static("own"));
        Ok::<_, Infallible>(response)
    }));
    let response = svc.oneshot(http::Request::new(())).await.expect("response");
    assert_eq!(response.headers()["vercel-cache-tag"], "own,products,home");
    // Without tags, no header.
    let svc = layer().layer(service_fn(|_req: http::Request<()>| async {
        Ok::<_, Infallible>(http::Response::new(()))
    }));
    let response = svc.oneshot(http::Request::new(())).await.expect("response");
    assert!(response.headers().get("vercel-cache-tag").is_none());
    assert_eq!(add_cache_tag("x"), Err(TagError::OutsideRequest));
}

#[tokio::test]
async fn axum_handlers_behind_the_layer_get_the_scope() {
    let layer = layer();
    let tasks = layer.background_tasks();
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            add_cache_tag("axum").expect("tag");
            wait_until(async {}).expect("scope");
            "ok"
        }),
    );
    let svc = layer.layer(router);
    let response = svc
        .oneshot(
            http::Request::builder()
                .uri("/")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["vercel-cache-tag"], "axum");
    tasks.settled().await;
}

#[tokio::test(start_paused = true)]
async fn the_deadline_is_the_start_plus_the_max_duration() {
    let svc = layer()
        .max_duration(Duration::from_secs(60))
        .layer(service_fn(|_req: http::Request<()>| async {
            let start = tokio::time::Instant::now();
            let deadline = get_deadline().expect("deadline");
            Ok::<_, Infallible>(http::Response::new(deadline - start))
        }));
    let response = svc.oneshot(http::Request::new(())).await.expect("response");
    assert_eq!(*response.body(), Duration::from_secs(60));
    let svc = layer().layer(service_fn(|_req: http::Request<()>| async {
        Ok::<_, Infallible>(http::Response::new(get_deadline()))
    }));
    assert_eq!(
        *svc.oneshot(http::Request::new(()))
            .await
            .expect("response")
            .body(),
        None
    );
    assert_eq!(get_deadline(), None);
}

#[tokio::test]
async fn outside_a_request_wait_until_still_runs_the_future() {
    let (tx, rx) = oneshot::channel();
    wait_until(async move {
        let _ = tx.send(7);
    })
    .expect("spawned");
    assert_eq!(rx.await.expect("ran"), 7);
}

#[test]
fn outside_a_runtime_wait_until_is_a_typed_error() {
    assert_eq!(wait_until(async {}), Err(WaitUntilError::NoRuntime));
}
