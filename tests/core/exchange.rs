//! Audience exchange against the testkit issuer's `~token` over real HTTP.

use std::num::NonZeroUsize;

use vercel_oidc::{
    AudienceExchange, Env, Error, ExchangeErrorKind, ExchangeRequest, ExchangeTokenSource,
    FixedTokenSource, OidcToken, TokenSource,
};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer};

fn exchange_for(issuer: &Issuer) -> AudienceExchange {
    AudienceExchange::builder()
        .issuer_url(issuer.base_url())
        .env(Env::from_pairs::<&str, &str>([]))
        .build()
        .expect("exchange")
}

#[tokio::test]
async fn exchanges_and_caches_by_token_audience_and_jti() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = OidcToken::parse(issuer.token().sign()).expect("valid");
    let exchange = exchange_for(&issuer);
    assert_eq!(
        exchange.token_url(),
        format!("{}/~token", issuer.base_url())
    );

    let req = ExchangeRequest::new("api://AzureADTokenExchange");
    let out = exchange.exchange(&token, &req).await.expect("exchanged");
    let claims = out.unverified_claims();
    assert!(
        claims
            .aud
            .as_ref()
            .expect("aud")
            .contains("api://AzureADTokenExchange")
    );
    assert!(claims.act.is_some(), "exchanged tokens carry act");
    assert!(claims.jti.is_some());
    assert_ne!(out.expose_secret(), token.expose_secret());
    assert_eq!(issuer.requests(Endpoint::Exchange), 1);

    // Same (token, aud, jti): served from the cache.
    let again = exchange.exchange(&token, &req).await.expect("cached");
    assert_eq!(again, out);
    assert_eq!(issuer.requests(Endpoint::Exchange), 1);

    // skip_cache bypasses the lookup but stores the result.
    let skipped = exchange
        .exchange(&token, &req.clone().skip_cache(true))
        .await
        .expect("ok");
    assert_eq!(issuer.requests(Endpoint::Exchange), 2);
    let cached = exchange.exchange(&token, &req).await.expect("cached");
    assert_eq!(cached, skipped);
    assert_eq!(issuer.requests(Endpoint::Exchange), 2);

    // A jti is part of the key and reaches the wire.
    let with_jti = exchange
        .exchange(&token, &req.clone().jti("my-jti-1"))
        .await
        .expect("ok");
    assert_eq!(
        with_jti.unverified_claims().jti.as_deref(),
        Some("my-jti-1")
    );
    assert_eq!(issuer.requests(Endpoint::Exchange), 3);

    // Another audience is another entry.
    exchange
        .exchange(&token, &ExchangeRequest::new("other"))
        .await
        .expect("ok");
    assert_eq!(issuer.requests(Endpoint::Exchange), 4);
}

#[tokio::test]
async fn lru_is_bounded() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = OidcToken::parse(issuer.token().sign()).expect("valid");
    let exchange = AudienceExchange::builder()
        .issuer_url(issuer.base_url())
        .env(Env::from_pairs::<&str, &str>([]))
        .capacity(NonZeroUsize::new(2).expect("nonzero"))
        .build()
        .expect("exchange");
    for aud in ["a", "b", "c"] {
        exchange
            .exchange(&token, &ExchangeRequest::new(aud))
            .await
            .expect("ok");
    }
    assert_eq!(issuer.requests(Endpoint::Exchange), 3);
    exchange
        .exchange(&token, &ExchangeRequest::new("c"))
        .await
        .expect("ok");
    assert_eq!(issuer.requests(Endpoint::Exchange), 3, "c is cached");
    exchange
        .exchange(&token, &ExchangeRequest::new("a"))
        .await
        .expect("ok");
    assert_eq!(issuer.requests(Endpoint::Exchange), 4, "a was evicted");
}

#[tokio::test]
async fn failures_are_typed() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = OidcToken::parse(issuer.token().sign()).expect("valid");
    let exchange = exchange_for(&issuer);
    let req = ExchangeRequest::new("aud").skip_cache(true);

    // The issuer rejects a token it did not sign.
    let foreign = OidcToken::parse(issuer.token().sign_with_unknown_key()).expect("valid");
    let err = exchange
        .exchange(&foreign, &req)
        .await
        .expect_err("rejected");
    assert!(
        matches!(
            err,
            Error::Exchange {
                kind: ExchangeErrorKind::Status(401),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_transient());

    for (fault, want) in [
        (Fault::Status(500), ExchangeErrorKind::Status(500)),
        (Fault::Status(503), ExchangeErrorKind::Status(503)),
        (Fault::Garbage, ExchangeErrorKind::InvalidResponse),
        (Fault::Truncated, ExchangeErrorKind::InvalidResponse),
        (Fault::Drop, ExchangeErrorKind::Transport),
    ] {
        issuer.faults().next(Endpoint::Exchange, 1, fault.clone());
        let err = exchange.exchange(&token, &req).await.expect_err("fault");
        match &err {
            Error::Exchange { kind, .. } => assert_eq!(kind, &want, "fault {fault:?}"),
            other => panic!("fault {fault:?}: unexpected {other:?}"),
        }
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(token.expose_secret()), "{shown}");
    }
    // And it recovers.
    exchange.exchange(&token, &req).await.expect("recovered");
}

#[tokio::test]
async fn exchange_token_source_exchanges_each_token() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = OidcToken::parse(issuer.token().sign()).expect("valid");
    let source = ExchangeTokenSource::new(
        FixedTokenSource::new(token),
        exchange_for(&issuer),
        ExchangeRequest::new("https://api.example.com"),
    );
    let out = source.token().await.expect("ok");
    assert!(
        out.unverified_claims()
            .aud
            .as_ref()
            .expect("aud")
            .contains("https://api.example.com")
    );
}

#[test]
fn invalid_issuer_url_is_a_configuration_error() {
    for url in ["not a url", "ftp://example.com", "http://example.com"] {
        let err = AudienceExchange::builder()
            .issuer_url(url)
            .env(Env::from_pairs::<&str, &str>([]))
            .build()
            .expect_err("invalid");
        assert!(err.is_invalid_configuration(), "{url}: {err}");
    }
    let err = AudienceExchange::builder()
        .env(Env::from_pairs([(
            "VERCEL_OIDC_CA_FILE",
            "/nonexistent/ca.pem",
        )]))
        .build()
        .expect_err("bad CA file");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
