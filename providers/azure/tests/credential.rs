//! `AzureCredential` and `VercelClientAssertion` against the testkit's Entra emulator over HTTPS.

// Tests and benches may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use azure_core::credentials::{AccessToken, TokenCredential};
use azure_core::http::{ClientOptions, FixedRetryOptions, RetryOptions, Transport};
use futures_util::FutureExt as _;
use vercel_oidc::time::{ManualClock, SharedClock};
use vercel_oidc::{Env, OidcToken, token_source_fn};
use vercel_oidc_azure::{AzureCredential, Error, VercelClientAssertion};
use vercel_oidc_testkit::entra::{Entra, EntraFault, FederatedCredential};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer};

const VAULT: &str = "https://vault.azure.net/.default";
const STORAGE: &str = "https://storage.azure.com/.default";
const DAY: Duration = Duration::from_secs(24 * 3600);

type Mint = Arc<dyn Fn(&Issuer) -> String + Send + Sync>;

/// An issuer, an Entra that trusts it, a counter of assertions the source handed out, and the
/// credential's clock (moved by hand: tokio's paused clock cannot be used with real sockets, as
/// it jumps ahead while a spawned task waits on I/O).
struct World {
    issuer: Arc<Issuer>,
    entra: Entra,
    assertions: Arc<AtomicUsize>,
    clock: Arc<ManualClock>,
}

/// A shorter load budget keeps real-time backoff in tests to tens of milliseconds (5 s: delays
/// from 83 ms, each attempt limited to 1.7 s, ample on a loaded 2-core machine).
const BUDGET: Duration = Duration::from_secs(5);

async fn world() -> World {
    world_with(|b| b).await
}

async fn world_with(
    configure: impl FnOnce(
        vercel_oidc_testkit::entra::EntraBuilder,
    ) -> vercel_oidc_testkit::entra::EntraBuilder,
) -> World {
    let issuer = Arc::new(Issuer::start().await.expect("issuer starts"));
    let entra =
        configure(Entra::builder().federated_credential(FederatedCredential::for_issuer(&issuer)))
            .start()
            .await
            .expect("entra starts");
    World {
        issuer,
        entra,
        assertions: Arc::new(AtomicUsize::new(0)),
        clock: Arc::new(ManualClock::new(SystemTime::now())),
    }
}

fn valid() -> Mint {
    Arc::new(|issuer: &Issuer| issuer.token().lifetime(DAY).sign())
}

impl World {
    fn transport(&self) -> Transport {
        Transport::new(Arc::new(self.entra.reqwest_client()))
    }

    /// A builder pointed at the emulator, with a source minting assertions with `mint`, the
    /// manual clock, a short load budget and an empty environment.
    fn builder(&self, mint: Mint) -> vercel_oidc_azure::AzureCredentialBuilder {
        let issuer = Arc::clone(&self.issuer);
        let count = Arc::clone(&self.assertions);
        let source = token_source_fn(move || {
            count.fetch_add(1, Ordering::SeqCst);
            let raw = mint(&issuer);
            async move { OidcToken::parse(raw) }
        });
        AzureCredential::builder()
            .tenant_id(self.entra.tenant_id())
            .client_id(self.entra.client_id())
            .authority_host(self.entra.authority())
            .client_options(ClientOptions {
                transport: Some(self.transport()),
                ..Default::default()
            })
            .token_source(source)
            .env(Env::from_pairs::<&str, &str>([]))
            .time_source(SharedClock::from_arc(self.clock.clone()))
            .load_budget(BUDGET)
    }

    fn credential(&self) -> Arc<AzureCredential> {
        self.builder(valid()).build().expect("credential builds")
    }
}

async fn token(
    credential: &AzureCredential,
    scope: &str,
) -> Result<AccessToken, azure_core::Error> {
    credential.get_token(&[scope], None).await
}

fn ours(error: &azure_core::Error) -> &Error {
    assert_eq!(error.kind(), &azure_core::error::ErrorKind::Credential);
    error
        .downcast_ref::<Error>()
        .expect("the credential's errors are vercel_oidc_azure::Error")
}

#[tokio::test]
async fn gets_a_token_and_caches_it_per_scope() {
    let w = world().await;
    let credential = w.credential();
    let first = token(&credential, VAULT).await.expect("token");
    assert!(!first.token.secret().is_empty());
    let left = first.expires_on - azure_core::time::OffsetDateTime::now_utc();
    assert!(
        left > azure_core::time::Duration::minutes(55),
        "expires_on follows expires_in: {left}"
    );
    assert_eq!(w.entra.requests_for_scope(VAULT), 1);

    for _ in 0..10 {
        let again = token(&credential, VAULT).await.expect("cached");
        assert_eq!(again.token.secret(), first.token.secret());
    }
    assert_eq!(w.entra.requests(), 1, "repeated calls make no request");

    let storage = token(&credential, STORAGE).await.expect("second scope");
    assert_ne!(storage.token.secret(), first.token.secret());
    assert_eq!(w.entra.requests_for_scope(STORAGE), 1);
    assert_eq!(w.entra.requests(), 2, "two scopes, two requests");
    assert_eq!(
        w.assertions.load(Ordering::SeqCst),
        2,
        "a fresh assertion per request"
    );

    // The token the emulator issued is for the scope's resource.
    let payload = first.token.secret().split('.').nth(1).expect("jwt-shaped");
    let claims: serde_json::Value =
        serde_json::from_slice(&base64_decode(payload)).expect("claims");
    assert_eq!(claims["aud"], "https://vault.azure.net");
    assert_eq!(claims["appid"], w.entra.client_id());
}

fn base64_decode(part: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url")
}

#[tokio::test]
async fn a_thousand_cold_callers_share_one_request() {
    let w = world().await;
    let credential = w.credential();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let c = Arc::clone(&credential);
            tokio::spawn(async move { token(&c, VAULT).await.map(|t| t.token) })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.expect("join").expect("token"));
    }
    assert!(tokens.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(w.entra.requests(), 1);
}

/// Sends a token minted by `mint` and returns the credential's error and the request count.
async fn rejected(w: &World, mint: Mint) -> (Error, usize) {
    let credential = w.builder(mint).build().expect("builds");
    let error = token(&credential, VAULT).await.expect_err("rejected");
    (ours(&error).clone(), w.entra.requests())
}

fn assert_aadsts(error: &Error, code: u32, status: u16) {
    let entra = error
        .entra()
        .unwrap_or_else(|| panic!("an Entra error: {error}"));
    assert_eq!(entra.code(), Some(code), "{error}");
    assert_eq!(entra.status(), status, "{error}");
    assert!(entra.trace_id().is_some() && entra.correlation_id().is_some());
    assert!(entra.timestamp().is_some() && entra.error_uri().is_some());
    assert!(
        entra.description().is_some_and(|d| d.contains("\r\n")),
        "Microsoft-style description with escapes"
    );
    assert!(
        error.to_string().contains(&format!("AADSTS{code}")),
        "{error}"
    );
    assert!(error.is_rejected() && !error.is_transient());
}

#[tokio::test]
async fn wrong_subject_issuer_and_audience_are_rejected_with_their_codes() {
    let w = world().await;
    let (error, requests) = rejected(
        &w,
        Arc::new(|i: &Issuer| {
            i.token()
                .lifetime(DAY)
                .subject("owner:acme:project:other:environment:production")
                .sign()
        }),
    )
    .await;
    assert_aadsts(&error, 700213, 400);
    assert_eq!(requests, 1, "permanent rejections are not retried");

    let (error, requests) = rejected(
        &w,
        Arc::new(|i: &Issuer| {
            i.token()
                .lifetime(DAY)
                .issuer("https://oidc.vercel.com/evil")
                .sign()
        }),
    )
    .await;
    assert_aadsts(&error, 700211, 400);
    assert_eq!(requests, 2);

    let (error, requests) = rejected(
        &w,
        Arc::new(|i: &Issuer| {
            i.token()
                .lifetime(DAY)
                .audience("api://AzureADTokenExchange")
                .sign()
        }),
    )
    .await;
    assert_aadsts(&error, 70021, 400);
    assert_eq!(requests, 3);

    let (error, requests) = rejected(
        &w,
        Arc::new(|i: &Issuer| i.token().lifetime(DAY).sign_with_unknown_key()),
    )
    .await;
    assert_aadsts(&error, 700027, 401);
    assert_eq!(requests, 4);
}

#[tokio::test]
async fn unknown_client_and_tenant_are_typed_rejections() {
    let w = world().await;
    let credential = w
        .builder(valid())
        .client_id("not-registered")
        .build()
        .expect("builds");
    let error = token(&credential, VAULT).await.expect_err("unknown client");
    assert_aadsts(ours(&error), 700016, 400);

    let credential = w
        .builder(valid())
        .tenant_id("other-tenant")
        .build()
        .expect("builds");
    let error = token(&credential, VAULT).await.expect_err("unknown tenant");
    assert_aadsts(ours(&error), 90002, 400);
}

#[tokio::test]
async fn an_expired_assertion_is_never_sent() {
    let w = world().await;
    let (error, requests) = rejected(&w, Arc::new(|i: &Issuer| i.token().expired().sign())).await;
    assert!(matches!(error, Error::AssertionExpired { .. }), "{error}");
    assert_eq!(requests, 0, "nothing reached Entra");
    assert_eq!(
        w.assertions.load(Ordering::SeqCst),
        2,
        "the source was asked again first"
    );

    // One that expires within the margin counts as expired too.
    let (error, requests) = rejected(
        &w,
        Arc::new(|i: &Issuer| i.token().lifetime(Duration::from_secs(10)).sign()),
    )
    .await;
    assert!(matches!(error, Error::AssertionExpired { .. }), "{error}");
    assert_eq!(requests, 0);
}

#[tokio::test]
async fn a_stale_assertion_is_replaced_through_the_source() {
    let w = world().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let mint: Mint = Arc::new(move |i: &Issuer| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            i.token().expired().sign()
        } else {
            i.token().lifetime(DAY).sign()
        }
    });
    let credential = w.builder(mint).build().expect("builds");
    token(&credential, VAULT)
        .await
        .expect("the second assertion is fresh");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(w.entra.requests(), 1);
}

#[tokio::test]
async fn aadsts700024_is_retried_once_with_a_fresh_assertion() {
    let w = world().await;
    // Our clock runs two hours behind Entra's: an assertion that expired an hour ago looks
    // valid to us, and Entra answers AADSTS700024.
    let behind = SystemTime::now() - Duration::from_secs(2 * 3600);
    let credential = w
        .builder(Arc::new(|i: &Issuer| {
            i.token()
                .issued_at(SystemTime::now() - Duration::from_secs(3 * 3600))
                .lifetime(Duration::from_secs(2 * 3600))
                .sign()
        }))
        .time_source(SharedClock::new(ManualClock::new(behind)))
        .build()
        .expect("builds");
    let error = token(&credential, VAULT)
        .await
        .expect_err("expired at Entra");
    assert_aadsts(ours(&error), 700024, 400);
    assert_eq!(
        w.entra.requests(),
        2,
        "one retry with a fresh assertion, then stop"
    );
    assert_eq!(w.assertions.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn aadsts700024_is_retried_once_when_the_pipeline_retries() {
    let w = world().await;
    let behind = SystemTime::now() - Duration::from_secs(2 * 3600);
    let credential = w
        .builder(Arc::new(|i: &Issuer| {
            i.token()
                .issued_at(SystemTime::now() - Duration::from_secs(3 * 3600))
                .lifetime(Duration::from_secs(2 * 3600))
                .sign()
        }))
        .client_options(ClientOptions {
            transport: Some(w.transport()),
            retry: RetryOptions::none(),
            ..Default::default()
        })
        .retry_in_pipeline()
        .time_source(SharedClock::new(ManualClock::new(behind)))
        .build()
        .expect("builds");
    let error = token(&credential, VAULT)
        .await
        .expect_err("expired at Entra");
    assert_aadsts(ours(&error), 700024, 400);
    assert_eq!(w.entra.requests(), 2, "one more with a fresh assertion");
    assert_eq!(w.assertions.load(Ordering::SeqCst), 2);
}

/// Polls `get_token` once: it must be answered on the first poll (nobody waits).
fn immediate(credential: &AzureCredential, scope: &str) -> AccessToken {
    credential
        .get_token(&[scope], None)
        .now_or_never()
        .expect("answered on the first poll: nobody waits")
        .expect("a valid token, no error")
}

#[tokio::test]
async fn refresh_window_serves_everyone_without_waiting_and_makes_one_request() {
    let w = world().await;
    let credential = w.credential();
    let first = token(&credential, VAULT).await.expect("token");
    // The other scope's token is fetched later, so its own window opens later.
    w.clock.advance(Duration::from_secs(1000));
    let storage = token(&credential, STORAGE).await.expect("token");
    w.entra
        .faults()
        .always(Endpoint::Entra, Fault::Delay(Duration::from_millis(250)));
    // 3599 s tokens; the window opens 300..360 s before expiry: 290 s before is inside.
    w.clock.advance(Duration::from_secs(3599 - 290 - 1000));
    let mut served_old_during_refresh = 0;
    let mut refreshed = None;
    for _ in 0..4_000 {
        for _ in 0..10 {
            let now = immediate(&credential, VAULT);
            if now.token == first.token && w.entra.requests_for_scope(VAULT) == 2 {
                served_old_during_refresh += 1;
            }
            if now.token != first.token {
                refreshed = Some(now);
            }
            // The other scope is served without waiting during this scope's refresh.
            assert_eq!(immediate(&credential, STORAGE).token, storage.token);
        }
        if refreshed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refreshed.is_some(), "the background refresh completed");
    assert!(
        served_old_during_refresh > 0,
        "callers got the still-valid token while the refresh was in flight"
    );
    assert_eq!(
        w.entra.requests_for_scope(VAULT),
        2,
        "exactly one refresh request"
    );
    assert_eq!(w.entra.requests_for_scope(STORAGE), 1);
}

#[tokio::test]
async fn failing_entra_in_the_window_is_invisible_until_expiry_and_bounded() {
    let w = world().await;
    // The caller's retry policy (none): one request per load, so the count shows the cache's
    // own backoff.
    let credential = w
        .builder(valid())
        .client_options(ClientOptions {
            transport: Some(w.transport()),
            retry: RetryOptions::none(),
            ..Default::default()
        })
        .retry_in_pipeline()
        .build()
        .expect("builds");
    let first = token(&credential, VAULT).await.expect("token");
    w.clock.advance(Duration::from_secs(3599 - 400));
    w.entra.faults().always(Endpoint::Entra, Fault::Status(503));
    let mut callers = 0;
    for _ in 0..395 {
        w.clock.advance(Duration::from_secs(1));
        for _ in 0..10 {
            assert_eq!(immediate(&credential, VAULT).token, first.token);
            callers += 1;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let requests = w.entra.requests_for_scope(VAULT) - 1;
    assert!(requests >= 2, "the refresh was retried: {requests}");
    assert!(
        requests <= 30,
        "{callers} callers in the window made only {requests} requests"
    );
    w.clock.advance(Duration::from_secs(10));
    assert!(
        credential.cached_token(&[VAULT]).is_none(),
        "never served expired"
    );
    let error = token(&credential, VAULT)
        .await
        .expect_err("expired and Entra down");
    let error = ours(&error);
    assert!(error.is_transient(), "{error}");
    assert_eq!(error.entra().map(|e| e.status()), Some(503), "{error}");
}

#[tokio::test]
async fn a_failing_cold_load_ends_within_its_budget() {
    let w = world().await;
    let credential = w.credential();
    w.entra.faults().always(Endpoint::Entra, Fault::Status(500));
    let error = token(&credential, VAULT).await.expect_err("Entra is down");
    assert!(ours(&error).is_transient(), "{error}");
    let requests = w.entra.requests();
    assert!((2..=4).contains(&requests), "a few attempts: {requests}");

    // A hanging Entra ends with a time-out.
    w.entra
        .faults()
        .always(Endpoint::Entra, Fault::Delay(Duration::from_secs(3600)));
    let credential = w
        .builder(valid())
        .load_budget(Duration::from_millis(600))
        .build()
        .expect("builds");
    let error = token(&credential, STORAGE).await.expect_err("Entra hangs");
    assert!(ours(&error).is_timed_out(), "{error}");
}

#[tokio::test]
async fn a_hanging_attempt_is_cut_off_and_retried() {
    let w = world().await;
    // 1.5 s: each attempt is limited to 500 ms, so the first (hanging) one ends and the
    // second, answered at once, gets the token.
    let credential = w
        .builder(valid())
        .load_budget(Duration::from_millis(1500))
        .build()
        .expect("builds");
    w.entra
        .faults()
        .next(Endpoint::Entra, 1, Fault::Delay(Duration::from_secs(3600)));
    token(&credential, VAULT)
        .await
        .expect("the second attempt answers");
    assert_eq!(w.entra.requests(), 2);
}

#[tokio::test]
async fn a_load_that_runs_out_of_budget_reports_the_budget_and_the_last_error() {
    let w = world().await;
    let budget = Duration::from_millis(900);
    // Three attempts of 300 ms each against a hanging Entra: the third ends with the budget.
    let credential = w
        .builder(valid())
        .load_budget(budget)
        .max_retries(2)
        .build()
        .expect("builds");
    w.entra
        .faults()
        .always(Endpoint::Entra, Fault::Delay(Duration::from_secs(3600)));
    let error = token(&credential, VAULT).await.expect_err("Entra hangs");
    match ours(&error) {
        Error::TimedOut {
            budget: reported,
            last: Some(last),
        } => {
            assert_eq!(*reported, budget, "the load's budget, not an attempt's");
            assert!(
                matches!(**last, Error::TimedOut { budget, last: None } if budget == Duration::from_millis(300)),
                "{last:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn throttling_is_honoured_and_recovered() {
    let w = world().await;
    let credential = w.credential();
    let retry_after = Duration::from_millis(100);
    w.entra.inject(1, EntraFault::Throttle { retry_after });
    let start = std::time::Instant::now();
    token(&credential, VAULT)
        .await
        .expect("recovers after the throttle");
    assert!(start.elapsed() >= retry_after, "waited for Retry-After");
    assert_eq!(w.entra.requests(), 2);

    // A Retry-After beyond the budget ends the load with the throttling error, at once.
    w.entra.inject(
        1,
        EntraFault::Throttle {
            retry_after: Duration::from_secs(120),
        },
    );
    let error = token(&credential, STORAGE).await.expect_err("throttled");
    let entra = ours(&error).entra().expect("Entra's answer");
    assert_eq!(entra.status(), 429);
    assert_eq!(entra.code(), Some(50196));
    assert_eq!(entra.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(w.entra.requests(), 3);
}

#[tokio::test]
async fn an_already_expired_token_from_entra_is_an_error() {
    let w = world().await;
    let credential = w.credential();
    w.entra.inject(1, EntraFault::ExpiredToken);
    let error = token(&credential, VAULT).await.expect_err("expired token");
    assert!(
        matches!(ours(&error), Error::TokenExpired { expires_in: 0 }),
        "{error}"
    );
    assert!(credential.cached_token(&[VAULT]).is_none());
    token(&credential, VAULT)
        .await
        .expect("the next load is fine");
}

#[tokio::test]
async fn transport_faults_are_retried() {
    for fault in [
        Fault::Drop,
        Fault::Garbage,
        Fault::Truncated,
        Fault::Status(503),
    ] {
        let w = world().await;
        let credential = w.credential();
        w.entra.faults().next(Endpoint::Entra, 1, fault.clone());
        token(&credential, VAULT)
            .await
            .unwrap_or_else(|e| panic!("{fault:?} is retried: {e}"));
        assert_eq!(w.entra.requests(), 2, "{fault:?}");
    }
}

#[tokio::test]
async fn a_caller_retry_policy_runs_in_the_pipeline() {
    let w = world().await;
    let credential = w
        .builder(valid())
        .client_options(ClientOptions {
            transport: Some(w.transport()),
            retry: RetryOptions::fixed(FixedRetryOptions {
                delay: azure_core::time::Duration::milliseconds(1),
                max_retries: 2,
                ..Default::default()
            }),
            ..Default::default()
        })
        .retry_in_pipeline()
        .build()
        .expect("builds");
    w.entra
        .faults()
        .next(Endpoint::Entra, 2, Fault::Status(503));
    token(&credential, VAULT)
        .await
        .expect("the pipeline retried");
    assert_eq!(w.entra.requests(), 3);
    assert_eq!(
        w.assertions.load(Ordering::SeqCst),
        1,
        "one load, one assertion"
    );
}

/// A cold load against an Entra that always answers `503`: the error and the request count.
async fn attempts_against_a_failing_entra(
    w: &World,
    configure: impl FnOnce(
        vercel_oidc_azure::AzureCredentialBuilder,
    ) -> vercel_oidc_azure::AzureCredentialBuilder,
) -> (Error, usize) {
    let credential = configure(w.builder(valid())).build().expect("builds");
    w.entra.faults().always(Endpoint::Entra, Fault::Status(503));
    let error = token(&credential, VAULT).await.expect_err("Entra is down");
    (ours(&error).clone(), w.entra.requests())
}

#[tokio::test]
async fn the_retry_budget_sets_the_number_of_attempts() {
    let cases: [(Option<u32>, usize); 4] = [(None, 4), (Some(0), 1), (Some(1), 2), (Some(4), 5)];
    for (max_retries, attempts) in cases {
        let w = world().await;
        let (error, requests) = attempts_against_a_failing_entra(&w, |b| match max_retries {
            Some(n) => b.max_retries(n),
            None => b,
        })
        .await;
        assert_eq!(requests, attempts, "max_retries {max_retries:?}: {error}");
        assert_eq!(
            w.assertions.load(Ordering::SeqCst),
            attempts,
            "a fresh assertion per attempt"
        );
        assert!(error.is_transient() && !error.is_timed_out(), "{error}");
        assert_eq!(error.entra().map(|e| e.status()), Some(503), "{error}");
    }

    // The whole budget as one value.
    let w = world().await;
    let (_, requests) = attempts_against_a_failing_entra(&w, |b| {
        b.retry_budget(vercel_oidc_azure::RetryBudget::new(BUDGET).with_max_retries(2))
    })
    .await;
    assert_eq!(requests, 3);
}

#[tokio::test]
async fn the_client_options_retry_runs_only_when_asked_for() {
    // Without `retry_in_pipeline`, the options' retry is replaced by the budget's.
    let w = world().await;
    let (_, requests) = attempts_against_a_failing_entra(&w, |b| {
        b.client_options(ClientOptions {
            transport: Some(w.transport()),
            retry: RetryOptions::fixed(FixedRetryOptions {
                delay: azure_core::time::Duration::milliseconds(1),
                max_retries: 3,
                ..Default::default()
            }),
            ..Default::default()
        })
        .max_retries(1)
    })
    .await;
    assert_eq!(
        requests, 2,
        "the budget's two attempts, not the pipeline's four"
    );

    // With it, the budget is unused: no retries here.
    let w = world().await;
    let (error, requests) = attempts_against_a_failing_entra(&w, |b| {
        b.client_options(ClientOptions {
            transport: Some(w.transport()),
            retry: RetryOptions::none(),
            ..Default::default()
        })
        .max_retries(5)
        .retry_in_pipeline()
    })
    .await;
    assert_eq!(requests, 1, "{error}");
    assert_eq!(w.assertions.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_ca_file_is_trusted_by_the_transport_the_credential_builds() {
    let w = world().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("entra-ca.pem");
    std::fs::write(&ca, w.entra.ca_pem()).expect("write CA");
    let env = Env::from_pairs([
        ("AZURE_TENANT_ID", w.entra.tenant_id().to_owned()),
        ("AZURE_CLIENT_ID", w.entra.client_id().to_owned()),
        ("AZURE_AUTHORITY_HOST", w.entra.authority()),
        ("VERCEL_OIDC_CA_FILE", ca.display().to_string()),
    ]);
    let issuer = Arc::clone(&w.issuer);
    let credential = AzureCredential::builder()
        .env(env)
        .token_source(token_source_fn(move || {
            let raw = issuer.token().lifetime(DAY).sign();
            async move { OidcToken::parse(raw) }
        }))
        .build()
        .expect("builds from the environment");
    token(&credential, VAULT)
        .await
        .expect("HTTPS with the extra root");

    // Without the root, the emulator's certificate is not trusted.
    let issuer = Arc::clone(&w.issuer);
    let untrusting = AzureCredential::builder()
        .env(Env::from_pairs([
            ("AZURE_TENANT_ID", w.entra.tenant_id().to_owned()),
            ("AZURE_CLIENT_ID", w.entra.client_id().to_owned()),
            ("AZURE_AUTHORITY_HOST", w.entra.authority()),
        ]))
        .token_source(token_source_fn(move || {
            let raw = issuer.token().lifetime(DAY).sign();
            async move { OidcToken::parse(raw) }
        }))
        .load_budget(BUDGET)
        .build()
        .expect("builds");
    let error = token(&untrusting, STORAGE)
        .await
        .expect_err("untrusted certificate");
    assert!(
        matches!(ours(&error), Error::Transport(_) | Error::TimedOut { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn the_assertion_can_be_audience_exchanged() {
    let w = world_with(|b| b).await;
    let entra = Entra::builder()
        .federated_credential(
            FederatedCredential::for_issuer(&w.issuer).with_audience("api://AzureADTokenExchange"),
        )
        .start()
        .await
        .expect("entra");
    let issuer = Arc::clone(&w.issuer);
    let credential = AzureCredential::builder()
        .tenant_id(entra.tenant_id())
        .client_id(entra.client_id())
        .authority_host(entra.authority())
        .client_options(ClientOptions {
            transport: Some(Transport::new(Arc::new(entra.reqwest_client()))),
            ..Default::default()
        })
        .env(Env::from_pairs([(
            "VERCEL_OIDC_ISSUER_URL",
            w.issuer.team_issuer(),
        )]))
        .token_source(token_source_fn(move || {
            let raw = issuer.token().lifetime(DAY).sign();
            async move { OidcToken::parse(raw) }
        }))
        .audience("api://AzureADTokenExchange")
        .build()
        .expect("builds");
    token(&credential, VAULT)
        .await
        .expect("exchanged assertion accepted");
    assert_eq!(w.issuer.requests(Endpoint::Exchange), 1);
    assert_eq!(entra.requests(), 1);
}

#[tokio::test]
async fn vercel_client_assertion_works_with_the_stock_credential() {
    let w = world().await;
    let issuer = Arc::clone(&w.issuer);
    let assertion = VercelClientAssertion::new(token_source_fn(move || {
        let raw = issuer.token().lifetime(DAY).sign();
        async move { OidcToken::parse(raw) }
    }));
    let mut cloud = azure_core::cloud::CustomConfiguration::default();
    cloud.authority_host = w.entra.authority();
    let options = azure_identity::ClientAssertionCredentialOptions {
        client_options: ClientOptions {
            transport: Some(w.transport()),
            cloud: Some(Arc::new(cloud.into())),
            ..Default::default()
        },
    };
    let credential = azure_identity::ClientAssertionCredential::new(
        w.entra.tenant_id().to_owned(),
        w.entra.client_id().to_owned(),
        assertion,
        Some(options),
    )
    .expect("stock credential");
    let got = credential.get_token(&[VAULT], None).await.expect("token");
    assert!(!got.token.secret().is_empty());
    assert_eq!(w.entra.requests(), 1);

    // An expired token is refused before azure_identity can send it.
    let issuer = Arc::clone(&w.issuer);
    let expired = VercelClientAssertion::new(token_source_fn(move || {
        let raw = issuer.token().expired().sign();
        async move { OidcToken::parse(raw) }
    }));
    let secret = azure_identity::ClientAssertion::secret(&expired, None)
        .await
        .expect_err("expired");
    assert!(matches!(ours(&secret), Error::AssertionExpired { .. }));
}

#[tokio::test]
async fn invalid_scopes_are_configuration_errors() {
    let w = world().await;
    let credential = w.credential();
    let error = credential.get_token(&[], None).await.expect_err("no scope");
    assert!(ours(&error).is_invalid_configuration());
    let error = credential
        .get_token(&[" "], None)
        .await
        .expect_err("blank scope");
    assert!(ours(&error).is_invalid_configuration());
    assert_eq!(w.entra.requests(), 0);
}

#[test]
fn debug_output_has_no_secrets() {
    let token = OidcToken::parse(
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2VjcmV0LXNpZ25hdHVyZQ",
    )
    .expect("token");
    let assertion = VercelClientAssertion::new(vercel_oidc::FixedTokenSource::new(token));
    let shown = format!("{assertion:?}");
    assert!(!shown.contains("c2VjcmV0"), "{shown}");
    assert!(shown.starts_with("VercelClientAssertion {"), "{shown}");
}

#[tokio::test]
async fn a_thousand_requests_building_a_shared_credential_make_one_entra_call() {
    let w = world().await;
    let issuer = Arc::clone(&w.issuer);
    let source = vercel_oidc::SharedTokenSource::new(token_source_fn(move || {
        let raw = issuer.token().lifetime(DAY).sign();
        async move { OidcToken::parse(raw) }
    }));
    let config = vercel_oidc::OidcConfig::new()
        .with_env(Env::from_pairs::<&str, &str>([]))
        .with_clock(SharedClock::from_arc(w.clock.clone()));
    // What a handler builds on every request.
    let build = |shared: bool, tenant: &str| {
        AzureCredential::builder()
            .tenant_id(tenant)
            .client_id(w.entra.client_id())
            .authority_host(w.entra.authority())
            .client_options(ClientOptions {
                transport: Some(w.transport()),
                ..Default::default()
            })
            .token_source(source.clone())
            .configure(&config)
            .shared(shared)
            .build()
            .expect("credential builds")
    };
    let first = build(true, w.entra.tenant_id());
    for request in 0..1_000 {
        let credential = build(true, w.entra.tenant_id());
        assert!(Arc::ptr_eq(&credential, &first), "request {request}");
        token(&credential, VAULT).await.expect("token");
    }
    assert_eq!(w.entra.requests(), 1);
    // Unshared builders and other settings are other credentials.
    let own = build(false, w.entra.tenant_id());
    assert!(!Arc::ptr_eq(&own, &first));
    token(&own, VAULT).await.expect("token");
    assert_eq!(w.entra.requests(), 2);
    let other_tenant = build(true, "22222222-2222-2222-2222-222222222222");
    assert!(!Arc::ptr_eq(&other_tenant, &first));
}
