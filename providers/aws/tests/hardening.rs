//! Issue 19 regressions through the public provider, against the testkit's STS emulator and
//! issuer on 127.0.0.1: out-of-range lifetimes from STS, and retried loads started inside a
//! request scope.

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use vercel_oidc::time::{Clock as _, SharedClock, TokioClock};
use vercel_oidc::{Env, OidcToken, RequestContext, VercelTokenSource, token_source_fn};
use vercel_oidc_aws::{AwsCredentialsProvider, Error};
use vercel_oidc_testkit::{Issuer, Sts, StsFault};

const ROLE: &str = "arn:aws:iam::123456789012:role/vercel-app";
const AUD: &str = "sts.amazonaws.com";

async fn issuer_and_sts() -> (Arc<Issuer>, Sts) {
    let issuer = Arc::new(Issuer::start().await.expect("issuer starts"));
    let sts = Sts::builder(issuer.team_issuer(), AUD)
        .start()
        .await
        .expect("sts starts");
    (issuer, sts)
}

/// The error's whole source chain as one string.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        out.push_str(" / ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Issue 19, item 1: an `Expiration` years away is not STS's answer; the credentials are not
/// cached for years, and the next call loads again.
#[tokio::test(start_paused = true)]
async fn an_expiration_more_than_seven_days_away_is_an_invalid_response() {
    let (issuer, sts) = issuer_and_sts().await;
    let clock = SharedClock::new(TokioClock::new());
    let c = clock.clone();
    let source = token_source_fn(move || {
        let raw = issuer.token().audience(AUD).issued_at(c.now()).sign();
        std::future::ready(OidcToken::parse(raw))
    });
    let provider = AwsCredentialsProvider::builder(ROLE)
        .env(Env::from_pairs([("AWS_REGION", "eu-west-1")]))
        .endpoint_url(sts.endpoint_url())
        .token_source(source)
        .time_source(clock)
        .build()
        .expect("valid");
    for years in [1u64, 100, 5_000] {
        sts.inject(
            1,
            StsFault::ShortLivedCredentials(Duration::from_secs(years * 365 * 24 * 3600)),
        );
        let err = provider.credentials().await.expect_err("out of range");
        assert!(
            matches!(err, Error::InvalidResponse { .. }),
            "{years} years: {err:?}"
        );
        assert!(chain(&err).contains("more than 7 days"), "{}", chain(&err));
        assert_eq!(provider.expires_at(), None, "nothing cached");
        let sdk = provider.provide_credentials().await;
        assert!(sdk.is_ok(), "the next call loads again: {sdk:?}");
        provider.invalidate();
    }
    // Seven days is still accepted (STS never issues that much, but it is not absurd).
    sts.inject(
        1,
        StsFault::ShortLivedCredentials(Duration::from_secs(7 * 24 * 3600)),
    );
    provider.credentials().await.expect("seven days");
}

/// Issue 19, item 15: a cold load started inside a request scope, throttled once by STS, used
/// to lose the request's token on the retry (polled by the cache's own task, outside the
/// scope): "no token in the request context". Every load must succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retried_cold_loads_keep_the_request_context() {
    let (issuer, sts) = issuer_and_sts().await;
    // Only the request context: no slot, no environment, no refresh.
    let source = VercelTokenSource::builder()
        .env(Env::from_pairs::<&str, &str>([]))
        .without_slot()
        .without_refresh()
        .build();
    let provider = AwsCredentialsProvider::builder(ROLE)
        .env(Env::from_pairs([("AWS_REGION", "eu-west-1")]))
        .endpoint_url(sts.endpoint_url())
        .token_source(source)
        .initial_backoff(Duration::from_millis(2))
        .max_backoff(Duration::from_millis(5))
        .build()
        .expect("valid");
    // Outside any scope there is no token at all.
    let outside = provider.credentials().await.expect_err("no token");
    assert!(outside.is_not_configured(), "{outside:?}");

    let mut failures = Vec::new();
    for i in 0..100 {
        provider.invalidate();
        sts.inject(1, StsFault::Throttling);
        let token = OidcToken::parse(issuer.token().audience(AUD).sign()).expect("valid");
        let got = RequestContext::with_token(token)
            .scope(provider.provide_credentials())
            .await;
        if let Err(err) = got {
            failures.push(format!("load {i}: {}", chain(&err)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 100 failed: {failures:#?}",
        failures.len()
    );
    assert_eq!(
        sts.calls(),
        200,
        "one throttled and one good request per load"
    );
}

/// The same through `CredentialsError`: the provider maps a panicking load to a provider error
/// (compile-time check that the provider's error converts from the cache's panic error).
#[test]
fn load_panicked_is_a_provider_error() {
    let err = Error::from(vercel_oidc::cache::LoadPanicked::default());
    assert!(matches!(
        err.into_credentials_error(Duration::ZERO),
        CredentialsError::ProviderError(_)
    ));
}
