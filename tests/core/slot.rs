//! The freshest-token slot behind a layered service: a forged header must not outrank the
//! deployment's genuine tokens (hardening, issue 19 item 2).
//!
//! Each test drives a tower service wrapped in `RequestContextLayer` with `oneshot`, then asks
//! the Vercel token source for a token outside any request (a "header-less" call, as a
//! background refresh makes), with its own slot and environment.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tower::{Layer, Service, ServiceExt, service_fn};
use vercel_oidc::{
    Env, FreshestTokenSlot, RequestContextLayer, RequestContextService, TokenSource,
    VercelTokenSource,
};
use vercel_oidc_testkit::Issuer;

const HOUR: Duration = Duration::from_secs(3600);

/// The token source a background task uses: no request scope, this slot, this environment.
fn background(slot: &Arc<FreshestTokenSlot>, env: Env) -> VercelTokenSource {
    VercelTokenSource::builder()
        .env(env)
        .slot(Arc::clone(slot))
        .without_refresh()
        .build()
}

/// A handler that answers with the token it sees.
fn service(
    layer: RequestContextLayer,
) -> RequestContextService<
    impl Service<
        http::Request<()>,
        Response = Option<String>,
        Error = Infallible,
        Future = impl Future<Output = Result<Option<String>, Infallible>>,
    > + Clone,
> {
    let source = VercelTokenSource::builder()
        .env(Env::from_pairs::<&str, &str>([]))
        .without_slot()
        .without_refresh()
        .build();
    layer.layer(service_fn(move |_req: http::Request<()>| {
        let source = source.clone();
        async move {
            Ok::<_, Infallible>(
                source
                    .token()
                    .await
                    .ok()
                    .map(|t| t.expose_secret().to_owned()),
            )
        }
    }))
}

async fn call<S>(svc: &S, token: &str) -> Option<String>
where
    S: Service<http::Request<()>, Response = Option<String>, Error = Infallible> + Clone,
{
    let request = http::Request::builder()
        .header("x-vercel-oidc-token", token)
        .body(())
        .expect("request");
    svc.clone().oneshot(request).await.expect("infallible")
}

async fn header_less(slot: &Arc<FreshestTokenSlot>) -> String {
    background(slot, Env::from_pairs::<&str, &str>([]))
        .token()
        .await
        .expect("a token from the slot")
        .expose_secret()
        .to_owned()
}

/// The reproduction: genuine → forged header (`alg: none`, another team and project, `exp` in
/// 23.9 h) → header-less → genuine 12 h token → header-less.
#[tokio::test]
async fn a_forged_header_never_outranks_genuine_tokens() {
    let issuer = Issuer::start().await.expect("issuer");
    let now = SystemTime::now();
    let slot = Arc::new(FreshestTokenSlot::new());
    let svc = service(RequestContextLayer::new().slot(Arc::clone(&slot)));

    // 1. A genuine function token (issued two minutes ago, 1 h).
    let genuine = issuer
        .token()
        .issued_at(now - Duration::from_secs(120))
        .sign();
    assert_eq!(
        call(&svc, &genuine).await.as_deref(),
        Some(genuine.as_str())
    );

    // 2. A forged header: unsigned, another team and project, a long life.
    let forged = issuer
        .token()
        .claim("owner_id", "team_attacker")
        .claim("project_id", "prj_attacker")
        .expires_at(now + Duration::from_secs(86_040))
        .sign_alg_none();
    // The request itself sees its own header (that is the request scope, not the slot)...
    assert_eq!(call(&svc, &forged).await.as_deref(), Some(forged.as_str()));

    // 3. ...but work outside any request still gets the genuine token.
    assert_eq!(header_less(&slot).await, genuine);

    // 4. A genuine 12 h token (issued now: newer).
    let genuine_12h = issuer.token().lifetime(12 * HOUR).sign();
    call(&svc, &genuine_12h).await;

    // 5. The newest genuine token is what background work uses.
    assert_eq!(header_less(&slot).await, genuine_12h);
}

/// A forged token that copies the genuine claims: unsigned it never enters; with a bad
/// signature and a newer `iat` it does (the slot checks no signatures), but only until a newer
/// genuine token arrives, however long the forged one claims to live.
#[tokio::test]
async fn a_forged_copy_of_the_genuine_claims_is_displaced_by_a_newer_genuine_token() {
    let issuer = Issuer::start().await.expect("issuer");
    let now = SystemTime::now();
    let slot = Arc::new(FreshestTokenSlot::new());
    let svc = service(RequestContextLayer::new().slot(Arc::clone(&slot)));

    let genuine = issuer
        .token()
        .issued_at(now - Duration::from_secs(300))
        .sign();
    call(&svc, &genuine).await;
    assert_eq!(header_less(&slot).await, genuine);

    // Same claims, `alg: none`, 23.9 h: never recorded.
    let unsigned = issuer
        .token()
        .issued_at(now - Duration::from_secs(60))
        .expires_at(now + Duration::from_secs(86_040))
        .sign_alg_none();
    call(&svc, &unsigned).await;
    assert_eq!(header_less(&slot).await, genuine);

    // Same claims, RS256 under the issuer's kid but a stranger's key, 23.9 h, newer `iat`:
    // recorded (plausible, newer)...
    let bad_signature = issuer
        .token()
        .kid(issuer.current_kid())
        .issued_at(now - Duration::from_secs(60))
        .expires_at(now + Duration::from_secs(86_040))
        .sign_with_unknown_key();
    call(&svc, &bad_signature).await;
    assert_eq!(header_less(&slot).await, bad_signature);

    // ...and displaced by the next genuine token, though that one lives only 12 h.
    let genuine_12h = issuer.token().lifetime(12 * HOUR).sign();
    call(&svc, &genuine_12h).await;
    assert_eq!(header_less(&slot).await, genuine_12h);

    // A copy that claims to be issued far in the future, or to live longer than 24 h, never
    // enters.
    for forged in [
        issuer
            .token()
            .kid(issuer.current_kid())
            .issued_at(now + Duration::from_secs(600))
            .expires_at(now + 12 * HOUR)
            .sign_with_unknown_key(),
        issuer
            .token()
            .kid(issuer.current_kid())
            .issued_at(now + Duration::from_secs(30))
            .lifetime(25 * HOUR)
            .sign_with_unknown_key(),
    ] {
        call(&svc, &forged).await;
        assert_eq!(header_less(&slot).await, genuine_12h);
    }
}

/// Recording is on by default only on Vercel (`VERCEL=1`), and the deployment's identity comes
/// from `VERCEL_OIDC_TOKEN` when it is set: even the first header must match it.
#[tokio::test]
async fn recording_defaults_to_on_only_on_vercel_and_follows_the_env_identity() {
    let issuer = Issuer::start().await.expect("issuer");
    let genuine = issuer.token().sign();

    // Off Vercel: nothing recorded unless asked.
    let off_vercel = Env::from_pairs::<&str, &str>([]);
    let global = FreshestTokenSlot::global();
    global.clear();
    let svc = service(RequestContextLayer::new().env(off_vercel));
    assert_eq!(
        call(&svc, &genuine).await.as_deref(),
        Some(genuine.as_str())
    );
    assert!(global.get(Duration::ZERO).is_none());

    // On Vercel, the env token names the identity; a forged first header of another project
    // is refused, a genuine one recorded.
    let env_token = issuer
        .token()
        .issued_at(SystemTime::now() - Duration::from_secs(1800))
        .sign();
    let on_vercel = Env::from_pairs([("VERCEL", "1"), ("VERCEL_OIDC_TOKEN", env_token.as_str())]);
    let forged = issuer
        .token()
        .kid(issuer.current_kid())
        .claim("project_id", "prj_attacker")
        .sign_with_unknown_key();
    let svc = service(RequestContextLayer::new().env(on_vercel.clone()));
    call(&svc, &forged).await;
    assert!(global.get(Duration::ZERO).is_none());
    let got = background(global, on_vercel.clone())
        .token()
        .await
        .expect("the env token");
    assert_eq!(got.expose_secret(), env_token);
    call(&svc, &genuine).await;
    assert_eq!(
        global
            .get(Duration::ZERO)
            .map(|t| t.expose_secret().to_owned()),
        Some(genuine.clone())
    );

    // An explicit `false` wins over `VERCEL=1`.
    global.clear();
    let svc = service(
        RequestContextLayer::new()
            .env(on_vercel.clone())
            .record_freshest(false),
    );
    call(&svc, &genuine).await;
    assert!(global.get(Duration::ZERO).is_none());
    global.clear();

    // `VERCEL_PROJECT_ID` without an env token: only that project's tokens enter.
    let slot = Arc::new(FreshestTokenSlot::new());
    let pinned = Env::from_pairs([("VERCEL_PROJECT_ID", "prj_other")]);
    let svc = service(
        RequestContextLayer::new()
            .env(pinned.clone())
            .slot(Arc::clone(&slot)),
    );
    call(&svc, &genuine).await;
    let err = background(&slot, pinned)
        .token()
        .await
        .expect_err("nothing recorded");
    assert!(err.is_not_configured(), "{err}");
}

/// With a verifier on the layer, a forged copy of the genuine claims (bad signature, newer
/// `iat`, 23.9 h) never enters; the first token is verified in the background while no key set
/// is cached, and later ones on the request path.
#[tokio::test]
async fn with_a_verifier_only_verified_tokens_enter() {
    use vercel_oidc::verify::{Constraint, ExpectedIssuer, Verifier};

    let issuer = Issuer::start().await.expect("issuer");
    let verifier = Verifier::builder(
        ExpectedIssuer::team(issuer.team_slug()),
        issuer.default_audience(),
    )
    .env(Env::from_pairs::<&str, &str>([]))
    .issuer_base_url(issuer.base_url())
    .project_id(Constraint::Any)
    .environment(Constraint::Any)
    .owner_id(Constraint::Any)
    .build()
    .expect("verifier");
    let now = SystemTime::now();
    let slot = Arc::new(FreshestTokenSlot::new());
    let svc = service(
        RequestContextLayer::new()
            .slot(Arc::clone(&slot))
            .verifier(verifier.clone()),
    );

    // Cold: no key set yet. The request is served at once; the token is verified in the
    // background and recorded when its key set has arrived.
    let genuine = issuer
        .token()
        .issued_at(now - Duration::from_secs(300))
        .sign();
    assert_eq!(
        call(&svc, &genuine).await.as_deref(),
        Some(genuine.as_str())
    );
    tokio::time::timeout(Duration::from_secs(20), async {
        while slot.get(Duration::ZERO).is_none() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the background verification records the genuine token");
    assert_eq!(header_less(&slot).await, genuine);

    // Warm: a forged copy with a newer `iat` and a long life is checked on the request path
    // and refused.
    let bad_signature = issuer
        .token()
        .kid(issuer.current_kid())
        .issued_at(now - Duration::from_secs(60))
        .expires_at(now + Duration::from_secs(86_040))
        .sign_with_unknown_key();
    call(&svc, &bad_signature).await;
    assert_eq!(header_less(&slot).await, genuine);
    // So is a genuine token for another audience (the verifier's other checks apply too).
    let other_audience = issuer
        .token()
        .audience("https://elsewhere.example")
        .issued_at(now - Duration::from_secs(30))
        .sign();
    call(&svc, &other_audience).await;
    assert_eq!(header_less(&slot).await, genuine);

    // A newer genuine token enters at once.
    let genuine_12h = issuer.token().lifetime(12 * HOUR).sign();
    call(&svc, &genuine_12h).await;
    assert_eq!(header_less(&slot).await, genuine_12h);
}
