//! The secret scan of vercel-functions: the Runtime Cache's credentials, the purge token and the
//! request's OIDC token never appear in the TRACE logs, nor in the `Debug`/`Display` of any
//! value or error produced, across successful and failing calls.
//!
//! Its own test binary with a single test: the capturing subscriber is process-global and
//! installed first.

use std::convert::Infallible;
use std::time::Duration;

use tower::{Layer, ServiceExt, service_fn};
use vercel_functions::{
    CacheOptions, PurgeOptions, RuntimeCache, SetOptions, VercelFunctionsLayer, invalidate_by_tag,
};
use vercel_oidc::{Env, OidcConfig};
use vercel_oidc_testkit::purge::PurgeApi;
use vercel_oidc_testkit::runtime_cache::RuntimeCache as Emulator;
use vercel_oidc_testkit::{Endpoint, Fault, Issuer};

#[tokio::test]
async fn no_secret_in_logs_debug_or_errors() {
    let logs = vercel_oidc_testkit::capture_logs();
    let mut shown: Vec<String> = Vec::new();

    // The Runtime Cache with a credential header, success and every failure.
    let cache_secret = "rc_cred_Zq81Lw5";
    let emu = Emulator::builder()
        .header("authorization", format!("Bearer {cache_secret}"))
        .start()
        .await
        .expect("emulator");
    let env = Env::from_pairs([
        ("RUNTIME_CACHE_ENDPOINT", emu.endpoint()),
        ("RUNTIME_CACHE_HEADERS", emu.headers_json()),
        ("RUNTIME_CACHE_TIMEOUT", "50".into()),
    ]);
    let cache = RuntimeCache::new(CacheOptions::default())
        .configure(&OidcConfig::new().with_env(env.clone()));
    shown.push(format!("{cache:?}"));
    cache
        .set("k", &"v", SetOptions::default())
        .await
        .expect("set");
    assert_eq!(
        cache.get::<String>("k").await.expect("get").as_deref(),
        Some("v")
    );
    for fault in [
        Fault::Status(500),
        Fault::Delay(Duration::from_secs(5)),
        Fault::Drop,
    ] {
        emu.faults().next(Endpoint::RuntimeCache, 1, fault);
        let e = cache.get::<String>("k").await.expect_err("fault");
        shown.push(format!("{e} {e:?}"));
        cache
            .clone()
            .log_errors()
            .set("k", &"v", SetOptions::default())
            .await;
    }
    // A malformed header variable holding the secret.
    let bad = RuntimeCache::new(CacheOptions::default()).configure(&OidcConfig::new().with_env(
        env.clone().with_var(
            "RUNTIME_CACHE_HEADERS",
            format!("{{\"authorization\": \"{cache_secret}\n\"}}"),
        ),
    ));
    let e = bad.get::<String>("k").await.expect_err("bad headers");
    shown.push(format!("{e} {e:?}"));

    // Purge with a token: success, rejection, transport failure.
    let purge_secret = "vercel_tok_Hx72Pq";
    let api = PurgeApi::builder()
        .token(purge_secret)
        .start()
        .await
        .expect("purge api");
    let options = PurgeOptions::new()
        .api_url(api.base_url())
        .project("prj_1")
        .token(purge_secret)
        .configure(&OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([])));
    shown.push(format!("{options:?}"));
    invalidate_by_tag(&["t"], &options).await.expect("purge");
    let e = invalidate_by_tag(
        &["t"],
        &options.clone().token(format!("{purge_secret}-wrong")),
    )
    .await
    .expect_err("403");
    shown.push(format!("{e} {e:?}"));
    api.faults().next(Endpoint::Purge, 1, Fault::Drop);
    let e = invalidate_by_tag(&["t"], &options)
        .await
        .expect_err("dropped");
    shown.push(format!("{e} {e:?}"));

    // The request's OIDC token through the layer.
    let issuer = Issuer::start().await.expect("issuer");
    let oidc = issuer.token().sign();
    let layer = VercelFunctionsLayer::new()
        .configure(&OidcConfig::new().with_env(Env::from_pairs([("VERCEL", "1")])));
    shown.push(format!("{layer:?}"));
    let svc = layer.layer(service_fn(|_req: http::Request<()>| async {
        let token = vercel_oidc::get_vercel_oidc_token()
            .await
            .expect("header token");
        tracing::debug!(?token, "handler saw a token");
        Ok::<_, Infallible>(http::Response::new(format!("{token:?}")))
    }));
    let request = http::Request::builder()
        .header("x-vercel-oidc-token", &oidc)
        .body(())
        .expect("request");
    let response = svc.oneshot(request).await.expect("response");
    shown.push(response.body().clone());

    let secrets = [cache_secret, purge_secret, oidc.as_str()];
    logs.assert_contains_none(&secrets);
    for text in &shown {
        for secret in secrets {
            assert!(!text.contains(secret), "a secret in {text}");
        }
    }
    assert!(!logs.contents().is_empty(), "the flows logged something");
}
