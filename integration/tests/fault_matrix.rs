//! The fault matrix: every fault kind the testkit can inject, against the AWS provider (STS
//! emulator) and the Azure credential (Entra emulator), cold (nothing cached) and inside the
//! refresh window (valid credentials cached, refresh due).
//!
//! For every row and provider:
//!
//! - **cold, injected once**: a transient fault is retried and the load recovers; a permanent one
//!   is a typed error at once, not retried (an expired token is retried once with a fresh token,
//!   so injected once it recovers too);
//! - **cold, injected always**: a typed error of the right category whose message names the
//!   cause, after a bounded number of requests;
//! - **in the window, injected always**: every caller is answered on the first poll (nobody
//!   waits) with the still-valid cached credentials, while the background refresh runs into the
//!   fault and is retried; once the fault is cleared, the refresh succeeds before expiry.
//!
//! Every cold call must finish within a stated bound: [`AWS_BOUND`] (tokio's paused clock, so
//! virtual time: the AWS SDK's timers run on it) and [`AZURE_BOUND`] (real time: the Azure tests
//! keep real time, as tokio's paused clock jumps ahead while a spawned load waits on a real
//! socket; their expiry is driven by a `ManualClock`). Short retry budgets keep the whole
//! matrix to seconds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_credential_types::provider::error::CredentialsError;
use azure_core::credentials::{AccessToken, TokenCredential as _};
use azure_core::http::{ClientOptions, Transport};
use futures_util::FutureExt as _;
use vercel_oidc::time::{Clock as _, ManualClock, SharedClock, TokioClock};
use vercel_oidc::{Env, OidcToken, token_source_fn};
use vercel_oidc_aws::AwsCredentialsProvider;
use vercel_oidc_azure::AzureCredential;
use vercel_oidc_testkit::entra::{Entra, EntraFault, FederatedCredential};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer, Sts, StsFault, TokenBuilder};

/// Every fault kind, one row each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// HTTP 500 from the service.
    Http500,
    /// HTTP 503 from the service.
    Http503,
    /// STS `Throttling`; Entra `429` with `Retry-After`.
    Throttling,
    /// STS `InvalidIdentityToken`; Entra `AADSTS700211` (issuer not federated).
    InvalidToken,
    /// A token for another audience, verified and rejected by the emulator (STS
    /// `InvalidIdentityToken`, Entra `AADSTS70021`).
    WrongAudience,
    /// STS `ExpiredTokenException`; Entra `AADSTS700024` (our clock runs behind Entra's).
    ExpiredToken,
    /// STS `AccessDenied`; Entra `AADSTS700213` (subject not federated).
    AccessDenied,
    /// STS `IDPCommunicationError`; Entra `AADSTS50166` (the issuer's keys cannot be fetched).
    IdpError,
    /// The issuer's JWKS answers 503: the emulator cannot verify the token.
    IdpKeysUnreachable,
    /// The service answers long after the client's attempt timeout (`Fault::Delay`).
    Slow,
    /// The connection closes without a response (`Fault::Drop`).
    Drop,
    /// `200 OK` with an HTML body (`Fault::Garbage`).
    Garbage,
    /// The response body cut in half (`Fault::Truncated`).
    Truncated,
}

const KINDS: [Kind; 13] = [
    Kind::Http500,
    Kind::Http503,
    Kind::Throttling,
    Kind::InvalidToken,
    Kind::WrongAudience,
    Kind::ExpiredToken,
    Kind::AccessDenied,
    Kind::IdpError,
    Kind::IdpKeysUnreachable,
    Kind::Slow,
    Kind::Drop,
    Kind::Garbage,
    Kind::Truncated,
];

impl Kind {
    /// Retrying can help, so the client retries it within one load.
    fn transient(self) -> bool {
        !matches!(
            self,
            Self::InvalidToken | Self::WrongAudience | Self::ExpiredToken | Self::AccessDenied
        )
    }

    /// Injected once, a cold load still gets credentials (a retry, or for an expired token the
    /// one retry with a fresh token).
    fn recovers_once(self) -> bool {
        self.transient() || self == Self::ExpiredToken
    }
}

/// How many requests the next fault applies to.
#[derive(Debug, Clone, Copy)]
enum Times {
    Once,
    Always,
}

impl Times {
    fn count(self) -> usize {
        match self {
            Self::Once => 1,
            Self::Always => 100_000,
        }
    }
}

/// What the token source mints next: a bad token for the next `remaining` tokens, then good
/// ones again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mint {
    Valid,
    WrongIssuer,
    WrongSubject,
    WrongAudience,
    /// Valid by our (behind) clock, expired by the emulator's.
    ExpiredAtServer,
}

#[derive(Debug)]
struct MintPlan {
    mode: Mint,
    remaining: usize,
}

type Plan = Arc<Mutex<MintPlan>>;

fn plan() -> Plan {
    Arc::new(Mutex::new(MintPlan {
        mode: Mint::Valid,
        remaining: 0,
    }))
}

fn set_plan(plan: &Plan, mode: Mint, times: Times) {
    let mut p = plan.lock().expect("plan lock");
    p.mode = mode;
    p.remaining = times.count();
}

/// The mode for the next token, using up one.
fn next_mode(plan: &Plan) -> Mint {
    let mut p = plan.lock().expect("plan lock");
    if p.remaining == 0 {
        return Mint::Valid;
    }
    p.remaining -= 1;
    p.mode
}

fn apply(mode: Mint, token: TokenBuilder<'_>, now: SystemTime) -> TokenBuilder<'_> {
    match mode {
        Mint::Valid => token,
        Mint::WrongIssuer => token.issuer("https://oidc.vercel.com/not-federated"),
        Mint::WrongSubject => token.subject("owner:acme:project:other:environment:production"),
        Mint::WrongAudience => token.audience("api://somebody-else"),
        Mint::ExpiredAtServer => token
            .issued_at(now - Duration::from_secs(600))
            .lifetime(Duration::from_secs(3000)),
    }
}

/// The whole error chain as one string.
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

// ---------------------------------------------------------------------------------------------
// AWS
// ---------------------------------------------------------------------------------------------

const ROLE: &str = "arn:aws:iam::123456789012:role/fault-matrix";
const STS_AUD: &str = "sts.amazonaws.com";
const AWS_ATTEMPTS: u32 = 3;
const AWS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Every cold `provide_credentials` ends within this (virtual) time: at most 3 attempts of at
/// most 2 s each plus backoff of at most 200 ms each, with room to spare.
const AWS_BOUND: Duration = Duration::from_secs(10);

struct Aws {
    issuer: Arc<Issuer>,
    sts: Sts,
    plan: Plan,
    provider: AwsCredentialsProvider,
}

async fn aws() -> Aws {
    let issuer = Arc::new(Issuer::start().await.expect("issuer starts"));
    let sts = Sts::builder(issuer.team_issuer(), STS_AUD)
        .start()
        .await
        .expect("sts starts");
    let plan = plan();
    let clock = SharedClock::new(TokioClock::new());
    let source = {
        let issuer = Arc::clone(&issuer);
        let plan = Arc::clone(&plan);
        let clock = clock.clone();
        let minted = AtomicUsize::new(0);
        token_source_fn(move || {
            let now = clock.now();
            // A nonce: every token differs, as real ones do (the provider notices a source
            // that hands back the same expired token).
            let token = issuer
                .token()
                .audience(STS_AUD)
                .issued_at(now)
                .claim("n", minted.fetch_add(1, Ordering::SeqCst));
            let raw = apply(next_mode(&plan), token, now).sign();
            std::future::ready(OidcToken::parse(raw))
        })
    };
    let provider = AwsCredentialsProvider::builder(ROLE)
        .env(Env::from_pairs([("AWS_REGION", "eu-west-1")]))
        .endpoint_url(sts.endpoint_url())
        .token_source(source)
        .time_source(clock)
        .refresh_jitter(0.0)
        .max_attempts(AWS_ATTEMPTS)
        .initial_backoff(Duration::from_millis(50))
        .max_backoff(Duration::from_millis(200))
        .attempt_timeout(AWS_ATTEMPT_TIMEOUT)
        .build()
        .expect("valid configuration");
    Aws {
        issuer,
        sts,
        plan,
        provider,
    }
}

impl Aws {
    fn inject(&self, kind: Kind, times: Times) {
        let shared = |fault: Fault| match times {
            Times::Once => self.sts.faults().next(Endpoint::Sts, 1, fault),
            Times::Always => self.sts.faults().always(Endpoint::Sts, fault),
        };
        let sts = |fault: StsFault| match times {
            Times::Once => self.sts.inject(1, fault),
            Times::Always => self.sts.inject_always(fault),
        };
        match kind {
            Kind::Http500 => shared(Fault::Status(500)),
            Kind::Http503 => shared(Fault::Status(503)),
            Kind::Throttling => sts(StsFault::Throttling),
            Kind::InvalidToken => sts(StsFault::InvalidIdentityToken),
            Kind::WrongAudience => set_plan(&self.plan, Mint::WrongAudience, times),
            Kind::ExpiredToken => sts(StsFault::ExpiredToken),
            Kind::AccessDenied => sts(StsFault::AccessDenied),
            Kind::IdpError => sts(StsFault::IdpCommunicationError),
            Kind::IdpKeysUnreachable => match times {
                Times::Once => self
                    .issuer
                    .faults()
                    .next(Endpoint::Jwks, 1, Fault::Status(503)),
                Times::Always => self
                    .issuer
                    .faults()
                    .always(Endpoint::Jwks, Fault::Status(503)),
            },
            Kind::Slow => shared(Fault::Delay(Duration::from_secs(60))),
            Kind::Drop => shared(Fault::Drop),
            Kind::Garbage => shared(Fault::Garbage),
            Kind::Truncated => shared(Fault::Truncated),
        }
    }

    fn clear(&self) {
        self.sts.faults().clear();
        self.sts.clear_injected();
        self.issuer.faults().clear();
        set_plan(&self.plan, Mint::Valid, Times::Once);
    }

    /// A cold call, bounded.
    async fn cold(&self, what: &str) -> Result<Credentials, CredentialsError> {
        tokio::time::timeout(AWS_BOUND, self.provider.provide_credentials())
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer within {AWS_BOUND:?}"))
    }

    /// A call that must be answered on the first poll, without error.
    fn immediate(&self, what: &str) -> Credentials {
        self.provider
            .provide_credentials()
            .now_or_never()
            .unwrap_or_else(|| panic!("{what}: a caller waited"))
            .unwrap_or_else(|e| panic!("{what}: a caller saw an error: {}", chain(&e)))
    }
}

/// Checks the provider's own error behind a `ProviderError`: a rejection for permanent faults,
/// unavailability for transient ones, and the STS code when STS answered with one.
fn check_aws_error(kind: Kind, e: &CredentialsError) {
    let text = chain(e);
    let Some(ours) =
        std::error::Error::source(e).and_then(|s| s.downcast_ref::<vercel_oidc_aws::Error>())
    else {
        // `ProviderTimedOut` carries only its duration (the SDK's type has no source).
        assert_eq!(
            kind,
            Kind::Slow,
            "{kind:?}: not the provider's error: {text}"
        );
        return;
    };
    if kind.transient() {
        assert!(
            matches!(ours, vercel_oidc_aws::Error::Unavailable { attempts, .. } if *attempts == AWS_ATTEMPTS),
            "{kind:?}: {text}"
        );
    } else {
        assert!(
            matches!(ours, vercel_oidc_aws::Error::Rejected { role_arn, .. } if role_arn == ROLE),
            "{kind:?}: {text}"
        );
    }
    let code = match kind {
        Kind::Throttling => Some("Throttling"),
        Kind::InvalidToken | Kind::WrongAudience => Some("InvalidIdentityToken"),
        Kind::ExpiredToken => Some("ExpiredTokenException"),
        Kind::AccessDenied => Some("AccessDenied"),
        Kind::IdpError | Kind::IdpKeysUnreachable => Some("IDPCommunicationError"),
        _ => None,
    };
    assert_eq!(ours.sts_code(), code, "{kind:?}: {text}");
    assert!(!ours.is_invalid_configuration() && !ours.is_not_configured());
}

/// What the AWS provider's error must say for `kind` (it names the STS code or the failure).
fn aws_needle(kind: Kind) -> &'static str {
    match kind {
        Kind::Http500 => "HTTP 500",
        Kind::Http503 => "HTTP 503",
        Kind::Throttling => "Throttling",
        Kind::InvalidToken => "InvalidIdentityToken",
        Kind::WrongAudience => "InvalidIdentityToken",
        Kind::ExpiredToken => "ExpiredTokenException",
        Kind::AccessDenied => "AccessDenied",
        Kind::IdpError | Kind::IdpKeysUnreachable => "IDPCommunicationError",
        Kind::Slow => "timed out",
        Kind::Drop => "the request to STS failed",
        Kind::Garbage | Kind::Truncated => "STS answered with an incomplete response",
    }
}

#[tokio::test(start_paused = true)]
async fn aws_fault_matrix() {
    for kind in KINDS {
        // Cold, injected once.
        let f = aws().await;
        f.inject(kind, Times::Once);
        let result = f.cold(&format!("{kind:?} once")).await;
        if kind.recovers_once() {
            let c = result.unwrap_or_else(|e| panic!("{kind:?} once recovers: {}", chain(&e)));
            assert_eq!(f.sts.calls(), 2, "{kind:?} once: one retry");
            assert_eq!(
                c.access_key_id(),
                f.sts.issued().last().expect("issued").access_key_id,
                "{kind:?}"
            );
        } else {
            let e = result.expect_err("a permanent fault is an error");
            assert!(
                matches!(e, CredentialsError::ProviderError(_)),
                "{kind:?}: {e:?}"
            );
            assert!(
                chain(&e).contains(aws_needle(kind)),
                "{kind:?}: {}",
                chain(&e)
            );
            check_aws_error(kind, &e);
            assert_eq!(f.sts.calls(), 1, "{kind:?}: a rejection is not retried");
        }

        // Cold, injected always.
        let f = aws().await;
        f.inject(kind, Times::Always);
        let e = f
            .cold(&format!("{kind:?} always"))
            .await
            .expect_err("a persistent fault is an error");
        let text = chain(&e);
        if kind == Kind::Slow {
            assert!(
                matches!(&e, CredentialsError::ProviderTimedOut(t) if t.timeout_duration() == AWS_ATTEMPT_TIMEOUT),
                "{kind:?}: {e:?}"
            );
        } else {
            assert!(
                matches!(e, CredentialsError::ProviderError(_)),
                "{kind:?}: {e:?}"
            );
        }
        assert!(text.contains(aws_needle(kind)), "{kind:?}: {text}");
        check_aws_error(kind, &e);
        let expected_calls = match kind {
            Kind::ExpiredToken => 2,
            k if k.transient() => AWS_ATTEMPTS as usize,
            _ => 1,
        };
        assert_eq!(f.sts.calls(), expected_calls, "{kind:?}: {text}");
        if kind.transient() && kind != Kind::Slow {
            assert!(
                text.contains(&format!("after {AWS_ATTEMPTS} attempt(s)")),
                "{kind:?}: {text}"
            );
        }

        // Inside the refresh window.
        let f = aws().await;
        let first = f.cold("prime").await.expect("first credentials");
        let expiry = f.provider.expires_at().expect("cached");
        // 4 minutes before expiry: inside the 5-minute window, still valid.
        tokio::time::advance(Duration::from_secs(3600 - 240)).await;
        let before = f.sts.calls();
        f.inject(kind, Times::Always);
        for _ in 0..30 {
            let c = f.immediate(&format!("{kind:?} in the window"));
            assert_eq!(c.access_key_id(), first.access_key_id(), "{kind:?}");
            assert_eq!(c.secret_access_key(), first.secret_access_key());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert!(
            f.sts.calls() >= before + 2,
            "{kind:?}: the background refresh ran into the fault and was retried ({} calls)",
            f.sts.calls() - before
        );
        assert_eq!(f.provider.expires_at(), Some(expiry), "{kind:?}");
        // The fault clears: a later background refresh succeeds before expiry.
        f.clear();
        let mut renewed = None;
        for _ in 0..120 {
            let c = f.immediate(&format!("{kind:?} after the fault"));
            if c.access_key_id() != first.access_key_id() {
                renewed = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let renewed =
            renewed.unwrap_or_else(|| panic!("{kind:?}: refreshed once the fault cleared"));
        assert_eq!(
            renewed.access_key_id(),
            f.sts.issued().last().expect("issued").access_key_id,
            "{kind:?}"
        );
        assert!(f.provider.expires_at() > Some(expiry), "{kind:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Azure
// ---------------------------------------------------------------------------------------------

const SCOPE: &str = "https://vault.azure.net/.default";
/// The credential's load budget: all attempts of one load, backoff included (attempts are cut
/// at a third of it: 1.3 s, ample for a loopback TLS round trip on a loaded 2-core machine).
const AZURE_BUDGET: Duration = Duration::from_secs(4);
/// Every cold `get_token` ends within this (real) time: the budget plus slack for a loaded
/// machine.
const AZURE_BOUND: Duration = Duration::from_secs(8);
/// A long refresh window, so a real-time refresh loop driven by the manual clock has room.
const AZURE_WINDOW: Duration = Duration::from_secs(1800);
const DAY: Duration = Duration::from_secs(24 * 3600);

struct Azure {
    issuer: Arc<Issuer>,
    entra: Entra,
    plan: Plan,
    clock: Arc<ManualClock>,
    credential: Arc<AzureCredential>,
}

async fn azure() -> Azure {
    let issuer = Arc::new(Issuer::start().await.expect("issuer starts"));
    let entra = Entra::builder()
        .federated_credential(FederatedCredential::for_issuer(&issuer))
        .start()
        .await
        .expect("entra starts");
    let plan = plan();
    // Our clock runs two hours behind Entra's (the wall clock), so an assertion can be valid
    // for us and expired for Entra (AADSTS700024).
    let clock = Arc::new(ManualClock::new(
        SystemTime::now() - Duration::from_secs(2 * 3600),
    ));
    let source = {
        let issuer = Arc::clone(&issuer);
        let plan = Arc::clone(&plan);
        let clock = Arc::clone(&clock);
        token_source_fn(move || {
            let token = issuer.token().lifetime(DAY);
            let raw = apply(next_mode(&plan), token, clock.now()).sign();
            std::future::ready(OidcToken::parse(raw))
        })
    };
    let credential = AzureCredential::builder()
        .tenant_id(entra.tenant_id())
        .client_id(entra.client_id())
        .authority_host(entra.authority())
        .client_options(ClientOptions {
            transport: Some(Transport::new(Arc::new(entra.reqwest_client()))),
            ..Default::default()
        })
        .token_source(source)
        .env(Env::from_pairs::<&str, &str>([]))
        .time_source(SharedClock::from_arc(clock.clone()))
        .load_budget(AZURE_BUDGET)
        .refresh_window(AZURE_WINDOW)
        .build()
        .expect("credential builds");
    Azure {
        issuer,
        entra,
        plan,
        clock,
        credential,
    }
}

impl Azure {
    fn inject(&self, kind: Kind, times: Times) {
        let shared = |fault: Fault| match times {
            Times::Once => self.entra.faults().next(Endpoint::Entra, 1, fault),
            Times::Always => self.entra.faults().always(Endpoint::Entra, fault),
        };
        let jwks = || match times {
            Times::Once => self
                .issuer
                .faults()
                .next(Endpoint::Jwks, 1, Fault::Status(503)),
            Times::Always => self
                .issuer
                .faults()
                .always(Endpoint::Jwks, Fault::Status(503)),
        };
        match kind {
            Kind::Http500 => shared(Fault::Status(500)),
            Kind::Http503 => shared(Fault::Status(503)),
            Kind::Throttling => self.entra.inject(
                times.count(),
                EntraFault::Throttle {
                    retry_after: Duration::from_millis(50),
                },
            ),
            Kind::InvalidToken => set_plan(&self.plan, Mint::WrongIssuer, times),
            Kind::WrongAudience => set_plan(&self.plan, Mint::WrongAudience, times),
            Kind::ExpiredToken => set_plan(&self.plan, Mint::ExpiredAtServer, times),
            Kind::AccessDenied => set_plan(&self.plan, Mint::WrongSubject, times),
            Kind::IdpError | Kind::IdpKeysUnreachable => jwks(),
            Kind::Slow => shared(Fault::Delay(Duration::from_secs(30))),
            Kind::Drop => shared(Fault::Drop),
            Kind::Garbage => shared(Fault::Garbage),
            Kind::Truncated => shared(Fault::Truncated),
        }
    }

    fn clear(&self) {
        self.entra.faults().clear();
        self.entra.clear_injected();
        self.issuer.faults().clear();
        set_plan(&self.plan, Mint::Valid, Times::Once);
    }

    async fn cold(&self, what: &str) -> Result<AccessToken, vercel_oidc_azure::Error> {
        let result = tokio::time::timeout(AZURE_BOUND, self.credential.get_token(&[SCOPE], None))
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer within {AZURE_BOUND:?}"));
        result.map_err(|e| {
            assert_eq!(
                e.kind(),
                &azure_core::error::ErrorKind::Credential,
                "{what}"
            );
            e.downcast_ref::<vercel_oidc_azure::Error>()
                .unwrap_or_else(|| panic!("{what}: not our error: {e}"))
                .clone()
        })
    }

    fn immediate(&self, what: &str) -> AccessToken {
        self.credential
            .get_token(&[SCOPE], None)
            .now_or_never()
            .unwrap_or_else(|| panic!("{what}: a caller waited"))
            .unwrap_or_else(|e| panic!("{what}: a caller saw an error: {e}"))
    }
}

/// Checks the Azure credential's error for `kind`: category and what it names.
fn check_azure_error(kind: Kind, e: &vercel_oidc_azure::Error) {
    use vercel_oidc_azure::Error;
    let text = chain(e);
    let entra = |status: u16, code: Option<u32>| {
        let answer = e
            .entra()
            .unwrap_or_else(|| panic!("{kind:?}: Entra's answer: {text}"));
        assert_eq!(answer.status(), status, "{kind:?}: {text}");
        if let Some(code) = code {
            assert_eq!(answer.code(), Some(code), "{kind:?}: {text}");
            assert!(text.contains(&format!("AADSTS{code}")), "{kind:?}: {text}");
        }
    };
    match kind {
        Kind::Http500 => entra(500, None),
        Kind::Http503 => entra(503, None),
        Kind::Throttling => {
            entra(429, Some(50196));
            assert_eq!(
                e.entra().and_then(|a| a.retry_after()),
                Some(Duration::from_millis(50)),
                "{kind:?}: Retry-After is kept"
            );
        }
        Kind::InvalidToken => entra(400, Some(700211)),
        Kind::WrongAudience => entra(400, Some(70021)),
        Kind::ExpiredToken => entra(400, Some(700024)),
        Kind::AccessDenied => entra(400, Some(700213)),
        Kind::IdpError | Kind::IdpKeysUnreachable => entra(400, Some(50166)),
        Kind::Slow => assert!(matches!(e, Error::TimedOut { .. }), "{kind:?}: {text}"),
        Kind::Drop => assert!(matches!(e, Error::Transport(_)), "{kind:?}: {text}"),
        Kind::Garbage | Kind::Truncated => assert!(
            matches!(e, Error::InvalidResponse { status: 200, .. }),
            "{kind:?}: {text}"
        ),
    }
    if kind.transient() {
        assert!(e.is_transient() || e.is_timed_out(), "{kind:?}: {text}");
    } else {
        assert!(e.is_rejected() && !e.is_transient(), "{kind:?}: {text}");
    }
}

#[tokio::test]
async fn azure_fault_matrix() {
    for kind in KINDS {
        // Cold, injected once.
        let w = azure().await;
        w.inject(kind, Times::Once);
        let result = w.cold(&format!("{kind:?} once")).await;
        if kind.recovers_once() {
            result.unwrap_or_else(|e| panic!("{kind:?} once recovers: {}", chain(&e)));
            assert_eq!(w.entra.requests(), 2, "{kind:?} once: one retry");
        } else {
            let e = result.expect_err("a permanent fault is an error");
            check_azure_error(kind, &e);
            assert_eq!(
                w.entra.requests(),
                1,
                "{kind:?}: a rejection is not retried"
            );
        }

        // Cold, injected always.
        let w = azure().await;
        w.inject(kind, Times::Always);
        let e = w
            .cold(&format!("{kind:?} always"))
            .await
            .expect_err("a persistent fault is an error");
        check_azure_error(kind, &e);
        let requests = w.entra.requests();
        match kind {
            Kind::ExpiredToken => assert_eq!(requests, 2, "{kind:?}: one fresh assertion"),
            k if k.transient() => {
                assert!((2..=4).contains(&requests), "{kind:?}: {requests} requests");
            }
            _ => assert_eq!(requests, 1, "{kind:?}"),
        }

        // Inside the refresh window.
        let w = azure().await;
        let first = w.cold("prime").await.expect("first token");
        // 3599 s tokens; the window opens 1800..2160 s before expiry: 1500 s before is inside.
        w.clock.advance(Duration::from_secs(3599 - 1500));
        let before = w.entra.requests();
        w.inject(kind, Times::Always);
        let mut rounds = 0;
        while w.entra.requests() < before + 2 {
            let t = w.immediate(&format!("{kind:?} in the window"));
            assert_eq!(t.token.secret(), first.token.secret(), "{kind:?}");
            w.clock.advance(Duration::from_secs(1));
            tokio::time::sleep(Duration::from_millis(10)).await;
            rounds += 1;
            assert!(rounds < 1000, "{kind:?}: the background refresh never ran");
        }
        let cached = w.credential.cached_token(&[SCOPE]).expect("still cached");
        assert_eq!(cached.token.secret(), first.token.secret(), "{kind:?}");
        // The fault clears: a later background refresh succeeds before expiry.
        w.clear();
        let mut rounds = 0;
        loop {
            let t = w.immediate(&format!("{kind:?} after the fault"));
            if t.token.secret() != first.token.secret() {
                break;
            }
            w.clock.advance(Duration::from_secs(1));
            tokio::time::sleep(Duration::from_millis(10)).await;
            rounds += 1;
            assert!(rounds < 1000, "{kind:?}: refreshed once the fault cleared");
        }
    }
}
