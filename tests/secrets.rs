//! No secret reaches a log line, a Debug string or an error message.
//!
//! Its own test binary: the TRACE subscriber is process-global, so that no callsite's interest
//! is cached before it is installed.

// Tests, benches and examples may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;

use tower::{Layer, ServiceExt, service_fn};
use vercel_oidc::{
    AudienceExchange, Env, ExchangeRequest, FileTokenSource, FreshestTokenSlot, OidcToken,
    RequestContext, RequestContextLayer, TokenSource, VercelEnv, VercelTokenSource, get_env,
};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer};

#[tokio::test]
async fn redacted_debug_strings_are_pinned() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = OidcToken::parse(issuer.token().sign()).expect("valid");
    assert_eq!(format!("{token:?}"), "OidcToken([redacted])");
    assert_eq!(
        format!("{:?}", RequestContext::with_token(token.clone())),
        r#"RequestContext { token: "[redacted]" }"#
    );
    let slot = FreshestTokenSlot::new();
    slot.offer(&token, std::time::SystemTime::now());
    assert_eq!(
        format!("{slot:?}"),
        r#"FreshestTokenSlot { token: "[redacted]" }"#
    );
    let env = Env::from_pairs([("VERCEL_OIDC_TOKEN", token.expose_secret())]);
    assert_eq!(format!("{env:?}"), r#"Env(["VERCEL_OIDC_TOKEN"])"#);
    let vars: VercelEnv = get_env(&Env::from_pairs([(
        "VERCEL_AUTOMATION_BYPASS_SECRET",
        "bypass",
    )]));
    let shown = format!("{vars:?}");
    assert!(
        shown.contains("automation_bypass_secret: Some(SecretBox<str>([REDACTED]))"),
        "{shown}"
    );
    assert!(!shown.contains("bypass\""), "{shown}");
}

#[tokio::test]
async fn trace_logs_of_a_full_token_read_never_contain_the_token() {
    let capture = vercel_oidc_testkit::capture_logs();

    let issuer = Issuer::start().await.expect("issuer");
    let header_token = issuer.token().sign();
    let env_token = issuer.token().claim("n", 2).sign();
    let file_token = issuer.token().claim("n", 3).sign();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, &file_token).expect("write");
    let mut shown = String::new();

    // Header through the layer, with the slot recording.
    let slot = Arc::new(FreshestTokenSlot::new());
    let source = VercelTokenSource::builder()
        .env(Env::from_pairs([("VERCEL_OIDC_TOKEN", env_token.as_str())]))
        .slot(slot.clone())
        .build();
    let s = source.clone();
    let svc = RequestContextLayer::new()
        .slot(slot.clone())
        .layer(service_fn(move |_req: http::Request<()>| {
            let s = s.clone();
            async move { Ok::<_, std::convert::Infallible>(s.token().await) }
        }));
    let req = http::Request::builder()
        .header("x-vercel-oidc-token", &header_token)
        .body(())
        .expect("request");
    let got = svc.oneshot(req).await.expect("infallible").expect("token");
    shown.push_str(&format!("{got:?} {source:?}"));
    // Outside the request: the slot.
    let got = source.token().await.expect("slot token");
    assert_eq!(got.expose_secret(), header_token);

    // File, env, exchange (success and failure), errors.
    let got = FileTokenSource::new(&file).token().await.expect("file");
    shown.push_str(&format!("{got:?}"));
    let exchange = AudienceExchange::builder()
        .issuer_url(issuer.base_url())
        .env(Env::from_pairs::<&str, &str>([]))
        .build()
        .expect("exchange");
    let exchanged = exchange
        .exchange(&got, &ExchangeRequest::new("aud-1"))
        .await
        .expect("exchanged");
    shown.push_str(&format!("{exchanged:?} {exchange:?}"));
    issuer
        .faults()
        .next(Endpoint::Exchange, 1, Fault::Status(500));
    let err = exchange
        .exchange(&got, &ExchangeRequest::new("aud-2"))
        .await
        .expect_err("fault");
    shown.push_str(&format!("{err} {err:?}"));
    let bad = OidcToken::parse(format!("{header_token}.extra")).expect_err("malformed");
    shown.push_str(&format!("{bad} {bad:?}"));

    let logs = capture.contents();
    assert!(
        logs.contains("audience exchange"),
        "TRACE logging was captured: {logs}"
    );
    for secret in [
        &header_token,
        &env_token,
        &file_token,
        &exchanged.expose_secret().to_owned(),
    ] {
        // The signature part alone is enough to be a leak.
        let signature = secret.rsplit('.').next().expect("signature");
        assert!(!logs.contains(signature), "token in logs:\n{logs}");
        assert!(
            !shown.contains(signature),
            "token in Debug/Display:\n{shown}"
        );
    }
}
