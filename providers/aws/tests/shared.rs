//! Per-request construction: providers built with `.shared(true)` (and the one-call form, in
//! `one_call_shared.rs`) share one cache per configuration, so a handler that builds a provider
//! and an SDK client on every request makes one STS call per credential lifetime.

use std::sync::Arc;

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_sts::config::BehaviorVersion;
use vercel_oidc::time::{SharedClock, TokioClock};
use vercel_oidc::{Env, OidcConfig, OidcToken, SharedTokenSource, token_source_fn};
use vercel_oidc_aws::AwsCredentialsProvider;
use vercel_oidc_testkit::{Issuer, Sts};

const ROLE: &str = "arn:aws:iam::123456789012:role/vercel-app";
const AUD: &str = "sts.amazonaws.com";

struct Fixture {
    _issuer: Arc<Issuer>,
    sts: Sts,
    config: OidcConfig,
    source: SharedTokenSource,
}

async fn fixture() -> Fixture {
    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let sts = Sts::builder(issuer.team_issuer(), AUD)
        .start()
        .await
        .expect("sts");
    let minter = Arc::clone(&issuer);
    let source = SharedTokenSource::new(token_source_fn(move || {
        std::future::ready(OidcToken::parse(minter.token().audience(AUD).sign()))
    }));
    let config = OidcConfig::new()
        .with_env(Env::from_pairs([("AWS_REGION", "eu-west-1")]))
        .with_clock(SharedClock::new(TokioClock::new()));
    Fixture {
        _issuer: issuer,
        sts,
        config,
        source,
    }
}

impl Fixture {
    /// What a handler builds on every request.
    fn provider(&self, role: &str, shared: bool) -> AwsCredentialsProvider {
        AwsCredentialsProvider::builder(role)
            .configure(&self.config)
            .endpoint_url(self.sts.endpoint_url())
            .token_source(self.source.clone())
            .shared(shared)
            .build()
            .expect("provider")
    }
}

#[tokio::test]
async fn a_thousand_requests_building_a_provider_and_a_client_make_one_sts_call() {
    let f = fixture().await;
    let mut first = None;
    for request in 0..1_000 {
        let provider = f.provider(ROLE, true);
        if request % 100 == 0 {
            // Now and then the whole shape: an SDK client on the provider, a real call.
            let config = aws_config::SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(aws_types::region::Region::new("eu-west-1"))
                .endpoint_url(f.sts.endpoint_url())
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(
                        provider.clone(),
                    ),
                )
                .build();
            aws_sdk_sts::Client::new(&config)
                .get_caller_identity()
                .send()
                .await
                .expect("GetCallerIdentity");
        } else {
            provider.provide_credentials().await.expect("credentials");
        }
        let first = first.get_or_insert_with(|| provider.clone());
        assert!(provider.shares_cache_with(first), "request {request}");
    }
    assert_eq!(f.sts.calls(), 1, "one AssumeRoleWithWebIdentity in all");
    assert_eq!(f.sts.caller_identity_calls(), 10);
}

#[tokio::test]
async fn another_configuration_is_another_cache() {
    let f = fixture().await;
    let a = f.provider(ROLE, true);
    let b = f.provider("arn:aws:iam::123456789012:role/other", true);
    let c = f.provider(ROLE, true);
    assert!(a.shares_cache_with(&c));
    assert!(!a.shares_cache_with(&b));
    // Another token source (not a clone) or another env is another configuration.
    let other_source = AwsCredentialsProvider::builder(ROLE)
        .configure(&f.config)
        .endpoint_url(f.sts.endpoint_url())
        .token_source(token_source_fn(|| {
            std::future::ready(OidcToken::parse("a.b.c".to_owned()))
        }))
        .shared(true)
        .build()
        .expect("provider");
    assert!(!a.shares_cache_with(&other_source));
    let other_env = AwsCredentialsProvider::builder(ROLE)
        .configure(
            &f.config
                .clone()
                .with_env(Env::from_pairs([("AWS_REGION", "eu-west-1")])),
        )
        .endpoint_url(f.sts.endpoint_url())
        .token_source(f.source.clone())
        .shared(true)
        .build()
        .expect("provider");
    assert!(!a.shares_cache_with(&other_env));
    assert_eq!(
        f.provider(ROLE, true).session_name(),
        a.session_name(),
        "sharers keep the first generated session name"
    );
    let named = AwsCredentialsProvider::builder(ROLE)
        .configure(&f.config)
        .endpoint_url(f.sts.endpoint_url())
        .token_source(f.source.clone())
        .session_name("named")
        .shared(true)
        .build()
        .expect("provider");
    assert!(!a.shares_cache_with(&named));
    a.provide_credentials().await.expect("a");
    b.provide_credentials().await.expect("b");
    c.provide_credentials().await.expect("c");
    assert_eq!(f.sts.calls(), 2, "a and c share; b is its own");
}

#[tokio::test]
async fn builders_are_not_shared_unless_asked() {
    let f = fixture().await;
    let a = f.provider(ROLE, false);
    let b = f.provider(ROLE, false);
    assert!(!a.shares_cache_with(&b));
    assert!(a.shares_cache_with(&a.clone()));
    a.provide_credentials().await.expect("a");
    b.provide_credentials().await.expect("b");
    assert_eq!(f.sts.calls(), 2);
    // A shared one is yet another (the unshared ones are not in the registry).
    let c = f.provider(ROLE, true);
    assert!(!c.shares_cache_with(&a) && !c.shares_cache_with(&b));
}

#[tokio::test]
async fn a_failing_build_is_not_kept() {
    let f = fixture().await;
    let bad = AwsCredentialsProvider::builder("not-an-arn")
        .configure(&f.config)
        .token_source(f.source.clone())
        .shared(true)
        .build();
    assert!(bad.is_err());
    let bad_again = AwsCredentialsProvider::builder("not-an-arn")
        .configure(&f.config)
        .token_source(f.source.clone())
        .shared(true)
        .build();
    assert!(bad_again.is_err(), "the error is not cached as a provider");
}

#[tokio::test]
async fn prefetch_starts_the_exchange_before_the_first_caller() {
    let f = fixture().await;
    let provider = f.provider(ROLE, false);
    assert!(provider.prefetch(), "a cold provider starts a load");
    assert!(!provider.prefetch(), "one load at a time");
    // The exchange runs with nobody asking for credentials.
    for _ in 0..1_000 {
        if provider.expires_at().is_some() {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert!(
        provider.expires_at().is_some(),
        "the prefetch filled the cache"
    );
    assert_eq!(f.sts.calls(), 1);
    provider.provide_credentials().await.expect("credentials");
    assert_eq!(f.sts.calls(), 1, "the first caller found it ready");
    assert!(
        !provider.prefetch(),
        "nothing to do while valid credentials are cached"
    );
}

#[test]
fn prefetch_outside_a_runtime_does_nothing() {
    let provider = AwsCredentialsProvider::builder(ROLE)
        .region(aws_types::region::Region::new("eu-west-1"))
        .token_source(token_source_fn(|| {
            std::future::ready(OidcToken::parse("a.b.c".to_owned()))
        }))
        .build()
        .expect("provider");
    assert!(!provider.prefetch());
}
