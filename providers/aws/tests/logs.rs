//! Captures every `tracing` event at TRACE level (ours, the AWS SDK's, the testkit's) during a
//! full flow — cold load with retries, an STS rejection, a refresh, SDK calls signed with the
//! credentials — and checks that no OIDC token, secret key or session token appears.
//!
//! Its own test binary: the subscriber is process-global, so no callsite registered by another
//! test thread escapes it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use vercel_oidc::time::{Clock as _, SharedClock, TokioClock};
use vercel_oidc::{Env, OidcToken, token_source_fn};
use vercel_oidc_aws::AwsCredentialsProvider;
use vercel_oidc_testkit::{Endpoint, Fault, Issuer, Sts, StsFault};

#[tokio::test]
async fn no_secret_in_trace_logs() {
    let capture = vercel_oidc_testkit::capture_logs();

    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let sts = Sts::builder(issuer.team_issuer(), "sts.amazonaws.com")
        .start()
        .await
        .expect("sts");
    let clock = SharedClock::new(TokioClock::new());
    let minted = Arc::new(Mutex::new(Vec::<String>::new()));
    let (i, m, c) = (Arc::clone(&issuer), Arc::clone(&minted), clock.clone());
    let provider = AwsCredentialsProvider::builder("arn:aws:iam::123456789012:role/app")
        .env(Env::from_pairs([("AWS_REGION", "eu-west-1")]))
        .endpoint_url(sts.endpoint_url())
        .time_source(clock)
        .initial_backoff(Duration::from_millis(1))
        .token_source(token_source_fn(move || {
            let raw = i
                .token()
                .audience("sts.amazonaws.com")
                .issued_at(c.now())
                .claim("n", m.lock().expect("lock").len())
                .sign();
            m.lock().expect("lock").push(raw.clone());
            std::future::ready(OidcToken::parse(raw))
        }))
        .build()
        .expect("valid");

    // A failure first: rejected, with its error logged by whoever logs it.
    sts.inject(1, StsFault::AccessDenied);
    let err = provider
        .provide_credentials()
        .await
        .expect_err("access denied");
    tracing::error!(error = %err, debug = ?err, "load failed");

    // Retries (throttling, a 503, an expired token), then success.
    sts.inject(1, StsFault::Throttling);
    sts.faults().next(Endpoint::Sts, 1, Fault::Status(503));
    sts.inject(1, StsFault::ExpiredToken);
    let creds = provider.provide_credentials().await.expect("credentials");
    tracing::info!(credentials = ?creds, provider = ?provider, "loaded");

    // SDK calls signed with the credentials.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new("eu-west-1"))
        .endpoint_url(sts.endpoint_url())
        .credentials_provider(provider.clone())
        .load()
        .await;
    let client = aws_sdk_sts::Client::new(&config);
    let me = client
        .get_caller_identity()
        .send()
        .await
        .expect("signed call");
    assert_eq!(me.account(), Some("123456789012"));

    // A forced refresh.
    provider.invalidate();
    provider.provide_credentials().await.expect("credentials");

    let logs = capture.contents();
    assert!(
        logs.contains("AssumeRoleWithWebIdentity") && logs.contains("TRACE"),
        "the capture works and saw the flow"
    );
    let mut secrets: Vec<String> = Vec::new();
    for token in minted.lock().expect("lock").iter() {
        secrets.push(token.clone());
        // Any part of a token would leak it: check the signature and the payload separately.
        secrets.extend(token.split('.').skip(1).map(str::to_owned));
    }
    for issued in sts.issued() {
        secrets.push(issued.secret_access_key);
        secrets.push(issued.session_token);
    }
    assert!(secrets.len() > 10);
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret appeared in the TRACE logs"
        );
    }
}
