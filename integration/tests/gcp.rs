//! Google Cloud end to end against the testkit's STS + IAM Credentials emulator:
//!
//! - `google-cloud-auth`'s own external-account credentials with [`VercelSubjectTokens`], and a
//!   real Google Cloud Rust client (Secret Manager over REST) through them, against a loopback
//!   stand-in of the Secret Manager API that accepts only tokens the emulator issued;
//! - our [`GcpCredentials`] without and with impersonation (scopes, lifetime, delegates, ID
//!   tokens), as a `google_cloud_auth` credential of the same client and as a reqwest bearer;
//! - the fault matrix for [`GcpCredentials`], cold and inside the refresh window.
//!
//! `google-cloud-auth`'s `with_target_principal` always calls
//! `https://iamcredentials.googleapis.com`, so its impersonation cannot be pointed at a loopback
//! emulator from [`VercelSubjectTokens`]; the CLI's tests load a `gcp credential-config` file
//! (whose impersonation URL is configurable) with `google-cloud-auth` instead.
//!
//! The tests keep real time (tokio's paused clock jumps ahead while a load waits on a real
//! socket); the credentials' expiry is driven by a [`ManualClock`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use google_cloud_secretmanager_v1::client::SecretManagerService;
use vercel_oidc::time::{Clock as _, ManualClock, SharedClock};
use vercel_oidc::{Env, OidcToken, TokenSource as _, token_source_fn};
use vercel_oidc_gcp::{Error, GcpCredentials, GcpCredentialsBuilder, VercelSubjectTokens};
use vercel_oidc_testkit::gcp::{Gcp, ServiceAccount, WorkloadIdentityProvider};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer};

const SA: &str = "app@demo.iam.gserviceaccount.com";
const DELEGATE: &str = "hop@demo.iam.gserviceaccount.com";
const CLOUD: &str = "https://www.googleapis.com/auth/cloud-platform";
const IAM: &str = "https://www.googleapis.com/auth/iam";
const SECRET: &str = "projects/demo/secrets/db-password/versions/latest";

/// The issuer, the provider Vercel's guide sets up, and the emulator trusting it, with a service
/// account that only the issuer's default subject may impersonate.
struct World {
    issuer: Arc<Issuer>,
    provider: WorkloadIdentityProvider,
    gcp: Arc<Gcp>,
    /// What the next tokens look like: `None` good, else a broken kind for `n` tokens.
    bad: Arc<Mutex<Option<(BadToken, usize)>>>,
    minted: Arc<AtomicUsize>,
}

#[derive(Debug, Clone, Copy)]
enum BadToken {
    WrongIssuer,
    WrongAudience,
    OtherSubject,
}

async fn world() -> World {
    let issuer = Arc::new(
        Issuer::builder()
            .team_slug("acme")
            .start()
            .await
            .expect("issuer"),
    );
    let provider = WorkloadIdentityProvider::for_issuer(&issuer);
    let subject = issuer.token().payload()["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    let gcp = Gcp::builder()
        .provider(provider.clone())
        .service_account(ServiceAccount::new(SA).allow_subject(subject))
        .service_account(ServiceAccount::new(DELEGATE))
        .start()
        .await
        .expect("gcp");
    World {
        issuer,
        provider,
        gcp: Arc::new(gcp),
        bad: Arc::new(Mutex::new(None)),
        minted: Arc::new(AtomicUsize::new(0)),
    }
}

impl World {
    /// A token source minting a fresh token per call (broken ones while `bad` says so).
    fn source(&self) -> impl vercel_oidc::TokenSource + 'static {
        let (issuer, bad, minted) = (
            Arc::clone(&self.issuer),
            Arc::clone(&self.bad),
            Arc::clone(&self.minted),
        );
        token_source_fn(move || {
            minted.fetch_add(1, Ordering::SeqCst);
            let mut bad = bad.lock().expect("lock");
            let token = match bad.as_mut() {
                Some((kind, n)) if *n > 0 => {
                    *n -= 1;
                    match kind {
                        BadToken::WrongIssuer => {
                            issuer.token().issuer("https://oidc.vercel.com/other")
                        }
                        BadToken::WrongAudience => issuer.token().audience("sts.amazonaws.com"),
                        BadToken::OtherSubject => issuer
                            .token()
                            .subject("owner:acme:project:other:environment:production"),
                    }
                }
                _ => issuer.token(),
            };
            std::future::ready(OidcToken::parse(token.sign()))
        })
    }

    fn builder(&self, clock: &SharedClock) -> GcpCredentialsBuilder {
        GcpCredentials::builder()
            .env(Env::from_pairs::<&str, &str>([]))
            .time_source(clock.clone())
            .audience(self.provider.resource_name())
            .token_url(self.gcp.token_url())
            .iam_credentials_url(self.gcp.iam_credentials_url())
            .token_source(self.source())
    }
}

fn manual_clock() -> (Arc<ManualClock>, SharedClock) {
    #[allow(clippy::disallowed_methods)] // the emulator's clock is the wall clock
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let shared = SharedClock::from_arc(clock.clone());
    (clock, shared)
}

/// The stand-in's state: the emulator (to check bearer tokens) and who was served.
type StandIn = (Arc<Gcp>, Arc<Mutex<Vec<String>>>);

/// A loopback stand-in of the Secret Manager REST API: `…/versions/latest:access` answers the
/// secret `s3cr3t` to a bearer token the emulator issued, `401` otherwise.
async fn secret_manager(gcp: Arc<Gcp>) -> (String, Arc<Mutex<Vec<String>>>) {
    async fn access(
        State((gcp, seen)): State<StandIn>,
        Path((project, secret, version)): Path<(String, String, String)>,
        headers: HeaderMap,
    ) -> Response {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let Some(info) = gcp.token_info(token) else {
            let body = serde_json::json!({"error": {"code": 401, "status": "UNAUTHENTICATED",
                "message": "Request had invalid authentication credentials."}});
            return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        };
        seen.lock().expect("lock").push(
            info.service_account
                .unwrap_or_else(|| format!("principal:{}", info.subject)),
        );
        axum::Json(serde_json::json!({
            "name": format!("projects/{project}/secrets/{secret}/versions/{}", version.trim_end_matches(":access")),
            "payload": {"data": "czNjcjN0"},
        }))
        .into_response()
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route(
            "/v1/projects/{project}/secrets/{secret}/versions/{version}",
            axum::routing::get(access),
        )
        .with_state((gcp, Arc::clone(&seen)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// The secret through a real Secret Manager client with `credentials`.
async fn read_secret(endpoint: &str, credentials: Credentials) -> Vec<u8> {
    let client = SecretManagerService::builder()
        .with_endpoint(endpoint)
        .with_credentials(credentials)
        .build()
        .await
        .expect("client");
    let version = client
        .access_secret_version()
        .set_name(SECRET)
        .send()
        .await
        .expect("the secret");
    version.payload.expect("a payload").data.to_vec()
}

fn bearer_of(headers: &CacheableResource<http::HeaderMap>) -> String {
    let CacheableResource::New { data, .. } = headers else {
        panic!("new headers expected");
    };
    let value = data.get("authorization").expect("authorization");
    assert!(value.is_sensitive(), "the bearer header is sensitive");
    value
        .to_str()
        .expect("ascii")
        .strip_prefix("Bearer ")
        .expect("bearer")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_cloud_auth_with_vercel_subject_tokens_reads_a_secret() {
    let w = world().await;
    let (endpoint, seen) = secret_manager(Arc::clone(&w.gcp)).await;
    // The first subject token is missing (a cold start outside a request): google-cloud-auth's
    // refresh must not die of it.
    let calls = Arc::new(AtomicUsize::new(0));
    let inner = Arc::new(w.source());
    let counted = Arc::clone(&calls);
    let source = token_source_fn(move || {
        let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
        let inner = Arc::clone(&inner);
        async move {
            if first {
                Err(vercel_oidc::Error::NotConfigured {
                    origin: vercel_oidc::TokenOrigin::RequestHeader,
                })
            } else {
                inner.token().await
            }
        }
    });
    let credentials = VercelSubjectTokens::from_source(source)
        .external_account_builder(w.provider.resource_name())
        .with_token_url(w.gcp.token_url())
        .with_scopes([CLOUD])
        .build()
        .expect("google-cloud-auth builds");
    // google-cloud-auth's refresh task tries again 10 s after a transient failure (its
    // SHORT_REFRESH_SLACK); calls in between get the error.
    let mut headers = None;
    for _ in 0..200 {
        match credentials.headers(http::Extensions::new()).await {
            Ok(h) => {
                headers = Some(h);
                break;
            }
            Err(e) => {
                assert!(e.is_transient(), "a missing token is transient: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let token = bearer_of(&headers.expect("headers once a token exists"));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one missing token, then one that worked"
    );
    let info = w
        .gcp
        .token_info(&token)
        .expect("a federated token of the emulator");
    assert_eq!(info.service_account, None);
    assert_eq!(info.scopes, [CLOUD]);
    let sts = w.gcp.sts_requests();
    let last = sts.last().expect("an exchange");
    assert_eq!(
        last.field("audience"),
        Some(w.provider.resource_name().as_str())
    );
    assert_eq!(
        last.field("subject_token_type"),
        Some("urn:ietf:params:oauth:token-type:jwt")
    );
    assert_eq!(read_secret(&endpoint, credentials).await, b"s3cr3t");
    assert_eq!(seen.lock().expect("lock").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_credentials_without_impersonation() {
    let w = world().await;
    let (endpoint, seen) = secret_manager(Arc::clone(&w.gcp)).await;
    let (_, clock) = manual_clock();
    let credentials = w
        .builder(&clock)
        .without_impersonation()
        .build()
        .expect("builds");
    assert_eq!(
        w.gcp.requests(Endpoint::GcpSts),
        0,
        "building fetches nothing"
    );
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = credentials.clone();
            tokio::spawn(async move { c.access_token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.expect("join").expect("a token"));
    }
    assert_eq!(
        w.gcp.requests(Endpoint::GcpSts),
        1,
        "cold callers share one exchange"
    );
    assert!(
        tokens
            .iter()
            .all(|t| t.expose_secret() == tokens[0].expose_secret())
    );
    let info = w.gcp.token_info(tokens[0].expose_secret()).expect("issued");
    assert_eq!(info.service_account, None);
    let sts = &w.gcp.sts_requests()[0];
    let fields: Vec<(&str, &str)> = sts
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let resource = w.provider.resource_name();
    assert_eq!(
        fields[..5],
        [
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ),
            ("audience", resource.as_str()),
            ("scope", CLOUD),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:access_token"
            ),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ]
    );
    assert_eq!(fields[5].0, "subject_token");
    assert_eq!(sts.authorization, None, "no Authorization on the exchange");
    assert!(w.gcp.iam_requests().is_empty());

    // A real Google Cloud client with our credentials, and reqwest with the bearer.
    assert_eq!(
        read_secret(&endpoint, Credentials::from(credentials.clone())).await,
        b"s3cr3t"
    );
    let response = credentials
        .authorize(reqwest::Client::new().get(format!("{endpoint}/v1/{SECRET}:access")))
        .await
        .expect("authorized")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    assert_eq!(seen.lock().expect("lock").len(), 2);
    assert_eq!(
        w.gcp.requests(Endpoint::GcpSts),
        1,
        "every use came from the cache"
    );
    let err = credentials
        .id_token("https://svc.a.run.app")
        .await
        .expect_err("no SA");
    assert!(err.is_not_configured(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_credentials_with_impersonation_scopes_lifetime_delegates_and_id_tokens() {
    let w = world().await;
    let (endpoint, seen) = secret_manager(Arc::clone(&w.gcp)).await;
    let (_, clock) = manual_clock();
    let credentials = w
        .builder(&clock)
        .service_account(SA)
        .scope("https://www.googleapis.com/auth/secretmanager")
        .lifetime(Duration::from_secs(1800))
        .delegate(DELEGATE)
        .quota_project_id("billing-project")
        .build()
        .expect("builds");
    let google = Credentials::from(credentials.clone());
    let headers = google
        .headers(http::Extensions::new())
        .await
        .expect("headers");
    let CacheableResource::New { entity_tag, data } = &headers else {
        panic!("new headers");
    };
    assert_eq!(
        data.get("x-goog-user-project")
            .and_then(|v| v.to_str().ok()),
        Some("billing-project")
    );
    let token = bearer_of(&headers);
    let info = w.gcp.token_info(&token).expect("issued");
    assert_eq!(info.service_account.as_deref(), Some(SA));
    assert_eq!(
        info.scopes,
        ["https://www.googleapis.com/auth/secretmanager"]
    );
    let left = credentials
        .expires_at()
        .expect("cached")
        .duration_since(clock.now())
        .expect("future");
    assert!(
        left <= Duration::from_secs(1800) && left > Duration::from_secs(1700),
        "{left:?}"
    );
    // The same tag: Google's header cache is told nothing changed.
    let mut extensions = http::Extensions::new();
    extensions.insert(entity_tag.clone());
    assert_eq!(
        google.headers(extensions).await.expect("headers"),
        CacheableResource::NotModified
    );

    assert_eq!(
        w.gcp.sts_requests()[0].field("scope"),
        Some(IAM),
        "STS asks for the IAM scope"
    );
    let iam = &w.gcp.iam_requests()[0];
    assert_eq!(
        iam.path,
        format!("/v1/projects/-/serviceAccounts/{SA}:generateAccessToken")
    );
    assert_eq!(
        iam.json,
        serde_json::json!({
            "scope": ["https://www.googleapis.com/auth/secretmanager"],
            "lifetime": "1800s",
            "delegates": [format!("projects/-/serviceAccounts/{DELEGATE}")],
        })
    );
    let federated = w.gcp.issued()[0].clone();
    assert_eq!(federated.service_account, None);
    assert!(
        iam.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer ya29.d.testkit-"))
    );

    assert_eq!(read_secret(&endpoint, google).await, b"s3cr3t");
    assert_eq!(seen.lock().expect("lock").as_slice(), [SA]);

    // ID tokens, cached per audience.
    let id = credentials
        .id_token("https://svc-abc.a.run.app")
        .await
        .expect("an ID token");
    let again = credentials
        .id_token("https://svc-abc.a.run.app")
        .await
        .expect("cached");
    assert_eq!(id.expose_secret(), again.expose_secret());
    let other = credentials
        .id_token("https://other.a.run.app")
        .await
        .expect("another");
    assert_ne!(id.expose_secret(), other.expose_secret());
    let id_calls: Vec<_> = w
        .gcp
        .iam_requests()
        .into_iter()
        .filter(|r| r.path.ends_with(":generateIdToken"))
        .collect();
    assert_eq!(id_calls.len(), 2);
    assert_eq!(id_calls[0].json["audience"], "https://svc-abc.a.run.app");
    assert_eq!(id_calls[0].json["includeEmail"], false);
    assert!(id.expires_at() > clock.now());
}

// ---------------------------------------------------------------------------------------------
// The fault matrix.

/// Every fault kind, one row each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http500(Endpoint),
    Http503(Endpoint),
    Throttled,
    InvalidToken,
    WrongAudience,
    AccessDenied,
    IdpKeysUnreachable,
    Slow(Endpoint),
    Drop(Endpoint),
    Garbage(Endpoint),
    Truncated(Endpoint),
}

const KINDS: [Kind; 15] = [
    Kind::Http500(Endpoint::GcpSts),
    Kind::Http503(Endpoint::GcpSts),
    Kind::Http503(Endpoint::GcpIamCredentials),
    Kind::Throttled,
    Kind::InvalidToken,
    Kind::WrongAudience,
    Kind::AccessDenied,
    Kind::IdpKeysUnreachable,
    Kind::Slow(Endpoint::GcpSts),
    Kind::Drop(Endpoint::GcpSts),
    Kind::Drop(Endpoint::GcpIamCredentials),
    Kind::Garbage(Endpoint::GcpSts),
    Kind::Garbage(Endpoint::GcpIamCredentials),
    Kind::Truncated(Endpoint::GcpSts),
    Kind::Truncated(Endpoint::GcpIamCredentials),
];

const MAX_ATTEMPTS: u32 = 3;

impl Kind {
    fn transient(self) -> bool {
        !matches!(
            self,
            Self::InvalidToken | Self::WrongAudience | Self::AccessDenied
        )
    }

    /// The endpoint whose requests the fault is counted at.
    fn endpoint(self) -> Endpoint {
        match self {
            Self::Http500(e) | Self::Http503(e) | Self::Slow(e) | Self::Drop(e) => e,
            Self::Garbage(e) | Self::Truncated(e) => e,
            Self::AccessDenied => Endpoint::GcpIamCredentials,
            _ => Endpoint::GcpSts,
        }
    }

    fn inject(self, w: &World, n: usize) {
        let fault = |endpoint, fault| w.gcp.faults().next(endpoint, n, fault);
        match self {
            Self::Http500(e) => fault(e, Fault::Status(500)),
            Self::Http503(e) => fault(e, Fault::Status(503)),
            Self::Throttled => fault(Endpoint::GcpSts, Fault::Status(429)),
            Self::Slow(e) => fault(e, Fault::Delay(Duration::from_secs(5))),
            Self::Drop(e) => fault(e, Fault::Drop),
            Self::Garbage(e) => fault(e, Fault::Garbage),
            Self::Truncated(e) => fault(e, Fault::Truncated),
            Self::IdpKeysUnreachable => {
                w.issuer
                    .faults()
                    .next(Endpoint::Jwks, n, Fault::Status(503))
            }
            Self::InvalidToken => *w.bad.lock().expect("lock") = Some((BadToken::WrongIssuer, n)),
            Self::WrongAudience => {
                *w.bad.lock().expect("lock") = Some((BadToken::WrongAudience, n))
            }
            Self::AccessDenied => *w.bad.lock().expect("lock") = Some((BadToken::OtherSubject, n)),
        }
    }

    fn clear(self, w: &World) {
        w.gcp.faults().clear();
        w.issuer.faults().clear();
        *w.bad.lock().expect("lock") = None;
    }

    /// The typed error a load fails with while the fault lasts.
    fn check_error(self, err: &Error) {
        if self.transient() {
            let Error::Unavailable {
                attempts, service, ..
            } = err
            else {
                panic!("{self:?}: not Unavailable: {err:?}");
            };
            assert_eq!(*attempts, MAX_ATTEMPTS, "{self:?}");
            let expected = if self.endpoint() == Endpoint::GcpIamCredentials {
                vercel_oidc_gcp::Service::IamCredentials
            } else {
                vercel_oidc_gcp::Service::Sts
            };
            assert_eq!(*service, expected, "{self:?}");
            assert!(err.is_transient(), "{self:?}");
        } else {
            assert!(
                err.is_rejected() && !err.is_transient(),
                "{self:?}: {err:?}"
            );
            let google = err.google().expect("Google's answer");
            let (status, code) = match self {
                Self::AccessDenied => (403, "PERMISSION_DENIED"),
                _ => (400, "invalid_grant"),
            };
            assert_eq!(
                (google.status(), google.error()),
                (status, Some(code)),
                "{self:?}"
            );
            assert!(err.to_string().contains(code), "{err}");
        }
    }
}

fn matrix_credentials(w: &World, clock: &SharedClock) -> GcpCredentials {
    w.builder(clock)
        .service_account(SA)
        .max_attempts(MAX_ATTEMPTS)
        .attempt_timeout(Duration::from_millis(400))
        .build()
        .expect("builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_cold() {
    for kind in KINDS {
        let w = world().await;
        let (_, clock) = manual_clock();
        // Injected once: a transient fault is retried and the load recovers; a permanent one is
        // a typed error at once.
        let credentials = matrix_credentials(&w, &clock);
        kind.inject(&w, 1);
        let result = credentials.access_token().await;
        let requests = w.gcp.requests(kind.endpoint());
        if kind.transient() {
            let token = result.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert!(
                w.gcp.token_info(token.expose_secret()).is_some(),
                "{kind:?}"
            );
            assert_eq!(requests, 2, "{kind:?}: one retry");
        } else {
            kind.check_error(&result.expect_err("rejected"));
            assert_eq!(requests, 1, "{kind:?}: not retried");
        }
        kind.clear(&w);

        // Injected always: a typed error after a bounded number of requests, for every caller.
        let w = world().await;
        let credentials = matrix_credentials(&w, &clock);
        kind.inject(&w, 100_000);
        let expected = if kind.transient() {
            MAX_ATTEMPTS as usize
        } else {
            1
        };
        kind.check_error(&credentials.access_token().await.expect_err("failing"));
        assert_eq!(
            w.gcp.requests(kind.endpoint()),
            expected,
            "{kind:?}: bounded requests"
        );
        // Concurrent callers share loads: each gets the typed error, and the requests stay
        // bounded (a caller that arrives after a load failed starts the next one).
        let calls: Vec<_> = (0..5)
            .map(|_| {
                let c = credentials.clone();
                tokio::spawn(async move { c.access_token().await })
            })
            .collect();
        for call in calls {
            kind.check_error(&call.await.expect("join").expect_err("failing"));
        }
        let requests = w.gcp.requests(kind.endpoint()) - expected;
        assert!(
            (expected..=5 * expected).contains(&requests),
            "{kind:?}: {requests} requests"
        );
        kind.clear(&w);
        assert!(
            credentials.access_token().await.is_ok(),
            "{kind:?}: recovers"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_in_the_refresh_window() {
    for kind in KINDS {
        let w = world().await;
        let (manual, clock) = manual_clock();
        let credentials = matrix_credentials(&w, &clock);
        let first = credentials.access_token().await.expect("a token");
        let expires_at = first.expires_at();
        kind.inject(&w, 100_000);
        let before = w.gcp.requests(kind.endpoint());
        // Into the window (the default is 5 minutes, plus up to 20 % jitter), still valid.
        manual.set(expires_at - Duration::from_secs(250));
        for _ in 0..20 {
            let got = credentials
                .access_token()
                .now_or_never()
                .unwrap_or_else(|| panic!("{kind:?}: a caller waited"))
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert_eq!(got.expose_secret(), first.expose_secret(), "{kind:?}");
        }
        // The background refresh runs into the fault; callers keep the valid token meanwhile.
        let mut waited = 0;
        while w.gcp.requests(kind.endpoint()) == before && waited < 100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += 1;
        }
        assert!(
            w.gcp.requests(kind.endpoint()) > before,
            "{kind:?}: the refresh ran"
        );
        let cached = credentials.cached_access_token().expect("still valid");
        assert_eq!(cached.expose_secret(), first.expose_secret(), "{kind:?}");
        // Once the fault is gone, a later refresh succeeds before expiry.
        kind.clear(&w);
        let mut fresh = None;
        for _ in 0..3 {
            manual.advance(Duration::from_secs(61));
            for _ in 0..60 {
                let current = credentials
                    .access_token()
                    .now_or_never()
                    .unwrap_or_else(|| panic!("{kind:?}: a caller waited"))
                    .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
                if current.expose_secret() != first.expose_secret() {
                    fresh = Some(current);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if fresh.is_some() {
                break;
            }
        }
        let fresh = fresh.unwrap_or_else(|| panic!("{kind:?}: no refresh after the fault"));
        assert!(
            w.gcp.token_info(fresh.expose_secret()).is_some(),
            "{kind:?}"
        );
        assert!(
            clock.now() < expires_at,
            "{kind:?}: refreshed before expiry"
        );
    }
}
