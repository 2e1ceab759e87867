//! The verifier's parity with `verifyVercelOidcToken`: the team and the global issuer together
//! (each with its own key set), the deployment defaults from the environment, and "not
//! acceptable" (401) apart from "could not check" (503).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use tower::{Layer as _, ServiceExt as _, service_fn};
use vercel_oidc::Env;
use vercel_oidc::time::{ManualClock, SharedClock};
use vercel_oidc::verify::{
    ConstrainedClaim, Constraint, ExpectedIssuer, JwksErrorKind, Verifier, VerifierBuilder,
    VerifierConfigError, VerifyError,
};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer, IssuerMode};

const PROJECT_ID: &str = "prj_testkit0000000000000000";
const OWNER_ID: &str = "team_testkit00000000000000";

fn no_env() -> Env {
    Env::from_pairs::<&str, &str>([])
}

/// A fixed "now", whole seconds.
fn clock() -> Arc<ManualClock> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(secs)))
}

fn both(issuer: &Issuer, clock: &Arc<ManualClock>) -> VerifierBuilder {
    Verifier::builder(
        ExpectedIssuer::team_or_global(issuer.team_slug()),
        issuer.default_audience(),
    )
    .env(no_env())
    .issuer_base_url(issuer.base_url())
    .time_source(SharedClock::from_arc(clock.clone()))
    .project_id(PROJECT_ID)
    .environment("production")
    .owner_id(OWNER_ID)
}

#[tokio::test]
async fn team_or_global_accepts_both_forms_of_the_team_and_nothing_else() {
    let issuer = Issuer::start().await.expect("issuer");
    let clock = clock();
    let verifier = both(&issuer, &clock).build().expect("verifier");
    let base = issuer.base_url();
    assert_eq!(
        verifier.issuers().collect::<Vec<_>>(),
        [issuer.team_issuer(), issuer.global_issuer()]
    );
    assert_eq!(
        verifier.jwks_urls().collect::<Vec<_>>(),
        [
            format!("{base}/acme/.well-known/jwks"),
            format!("{base}/.well-known/jwks")
        ]
    );
    assert_eq!(verifier.issuer(), issuer.team_issuer());
    assert_eq!(verifier.jwks_url(), format!("{base}/acme/.well-known/jwks"));

    // Tokens that name a look-alike or another team's issuer are refused before any key is
    // fetched (a cold verifier asks the issuer nothing for them).
    let foreign: Vec<(&str, String)> = vec![
        ("look-alike host", format!("{base}.evil.example")),
        (
            "look-alike host, team path",
            format!("{base}.evil.example/acme"),
        ),
        ("trailing slash on the team", format!("{base}/acme/")),
        ("trailing slash on the global", format!("{base}/")),
        ("another team", format!("{base}/other")),
        ("a team below the team", format!("{base}/acme/x")),
        ("case", base.replace("http://", "HTTP://")),
    ];
    for (why, iss) in &foreign {
        let token = issuer.token().issuer(iss.clone()).sign();
        let err = verifier.verify(&token).await.expect_err(why);
        assert!(matches!(err, VerifyError::IssuerMismatch), "{why}: {err:?}");
        assert!(err.is_rejection(), "{why}");
    }
    let no_iss = issuer.token().remove_claim("iss").sign();
    assert!(matches!(
        verifier.verify(&no_iss).await,
        Err(VerifyError::MissingClaim { claim: "iss" })
    ));
    assert_eq!(issuer.requests(Endpoint::Jwks), 0, "nothing fetched yet");

    // The team form, then the global form: each fetches its own issuer's key set once.
    let team = issuer.token().sign();
    let claims = verifier.verify(&team).await.expect("team form");
    assert_eq!(claims.iss.as_deref(), Some(issuer.team_issuer().as_str()));
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
    let global = issuer.token().issuer_mode(IssuerMode::Global).sign();
    let claims = verifier.verify(&global).await.expect("global form");
    assert_eq!(claims.iss.as_deref(), Some(issuer.global_issuer().as_str()));
    assert_eq!(claims.project_id.as_deref(), Some(PROJECT_ID));
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
    for _ in 0..3 {
        verifier.verify(&team).await.expect("warm team");
        verifier.verify(&global).await.expect("warm global");
    }
    assert_eq!(issuer.requests(Endpoint::Jwks), 2, "both warm");

    // The global issuer is every team's: its tokens are pinned to the team by `owner`.
    let global_token = || issuer.token().issuer_mode(IssuerMode::Global);
    for (why, token) in [
        (
            "another team",
            global_token().claim("owner", "other").sign(),
        ),
        ("a prefix", global_token().claim("owner", "acm").sign()),
        ("case", global_token().claim("owner", "ACME").sign()),
        ("no owner", global_token().remove_claim("owner").sign()),
    ] {
        let err = verifier.verify(&token).await.expect_err(why);
        assert!(matches!(err, VerifyError::TeamMismatch), "{why}: {err:?}");
        assert!(err.is_rejection());
    }
    // The team form needs no `owner`: its issuer names the team.
    verifier
        .verify(&issuer.token().remove_claim("owner").sign())
        .await
        .expect("team form without owner");

    // The rest of the checks apply to both forms unchanged.
    for mode in [IssuerMode::Team, IssuerMode::Global] {
        let t = || issuer.token().issuer_mode(mode);
        let cases: Vec<(&str, String, Expect)> = vec![
            ("alg none", t().sign_alg_none(), |e| {
                matches!(e, VerifyError::DisallowedAlgorithm { alg: Some("none") })
            }),
            (
                "HS256 with the public key",
                t().sign_hs256_with(&issuer.public_key_der()),
                |e| matches!(e, VerifyError::DisallowedAlgorithm { alg: Some("HS256") }),
            ),
            ("unknown key", t().sign_with_unknown_key(), |e| {
                matches!(e, VerifyError::UnknownKeyId)
            }),
            (
                "audience",
                t().audience("https://other.example").sign(),
                |e| matches!(e, VerifyError::AudienceMismatch),
            ),
            ("expired", t().expired().sign(), |e| {
                matches!(e, VerifyError::Expired)
            }),
            (
                "project",
                t().claim("project_id", "prj_other").sign(),
                |e| {
                    matches!(
                        e,
                        VerifyError::ClaimNotAllowed {
                            claim: ConstrainedClaim::ProjectId
                        }
                    )
                },
            ),
            (
                "owner id",
                t().claim("owner_id", "team_other").sign(),
                |e| {
                    matches!(
                        e,
                        VerifyError::ClaimNotAllowed {
                            claim: ConstrainedClaim::OwnerId
                        }
                    )
                },
            ),
            ("tampered", tamper(&t().sign()), |e| {
                matches!(e, VerifyError::InvalidSignature)
            }),
        ];
        for (why, token, expect) in cases {
            let err = verifier.verify(&token).await.expect_err(why);
            assert!(expect(&err), "{mode:?} {why}: {err:?}");
        }
    }
    // Within the cooldown the unknown keys fetched nothing more.
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
}

/// Whether an error is the one a case expects.
type Expect = fn(&VerifyError) -> bool;

/// `token` with `owner_id` changed in the payload and the signature kept.
fn tamper(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    payload["owner_id"] = "team_attacker".into();
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[tokio::test]
async fn single_modes_still_refuse_the_other_form() {
    let issuer = Issuer::start().await.expect("issuer");
    let clock = clock();
    let with = |mode| {
        Verifier::builder(mode, issuer.default_audience())
            .env(no_env())
            .issuer_base_url(issuer.base_url())
            .time_source(SharedClock::from_arc(clock.clone()))
            .project_id(PROJECT_ID)
            .environment("production")
            .owner_id(OWNER_ID)
            .build()
            .expect("verifier")
    };
    let team = with(ExpectedIssuer::team("acme"));
    let global = with(ExpectedIssuer::global());
    assert_eq!(team.issuers().len(), 1);
    assert_eq!(global.issuers().collect::<Vec<_>>(), [issuer.base_url()]);
    let team_token = issuer.token().sign();
    let global_token = issuer.token().issuer_mode(IssuerMode::Global).sign();
    team.verify(&team_token).await.expect("team");
    global.verify(&global_token).await.expect("global");
    assert!(matches!(
        team.verify(&global_token).await,
        Err(VerifyError::IssuerMismatch)
    ));
    assert!(matches!(
        global.verify(&team_token).await,
        Err(VerifyError::IssuerMismatch)
    ));
    // Global mode alone does not pin the owner (that is `owner_id`'s job there).
    global
        .verify(
            &issuer
                .token()
                .issuer_mode(IssuerMode::Global)
                .claim("owner", "other")
                .sign(),
        )
        .await
        .expect("global mode: owner not checked");
}

type Hits = Arc<Mutex<HashMap<String, usize>>>;

/// `GET` answering `body`, counting requests under `path`.
fn counted(
    path: &'static str,
    body: serde_json::Value,
    hits: &Hits,
) -> axum::routing::MethodRouter {
    let hits = Arc::clone(hits);
    get(move || async move {
        *hits
            .lock()
            .expect("lock")
            .entry(path.to_owned())
            .or_default() += 1;
        axum::Json(body)
    })
}

/// A key-set server whose team and global key sets differ: `/acme/.well-known/jwks` serves
/// `team_keys`, `/.well-known/jwks` serves `global_keys`. Returns the base URL and the paths
/// requested.
async fn split_jwks_server(
    team_keys: serde_json::Value,
    global_keys: serde_json::Value,
) -> (String, Hits) {
    let hits: Hits = Arc::default();
    let app = axum::Router::new()
        .route(
            "/acme/.well-known/jwks",
            counted("/acme/.well-known/jwks", team_keys, &hits),
        )
        .route(
            "/.well-known/jwks",
            counted("/.well-known/jwks", global_keys, &hits),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, hits)
}

/// Team tokens verify with the team's key set only, global tokens with the global key set
/// only: a key of one issuer never vouches for a token of the other, even under the same kid.
#[tokio::test]
async fn each_issuer_form_is_checked_with_its_own_key_set() {
    let team_signer = Issuer::start().await.expect("issuer");
    let global_signer = Issuer::start().await.expect("issuer");
    let kid = team_signer.current_kid();
    // The global key set holds the other signer's key under the *same* kid.
    let mut global_keys = global_signer.jwks_json();
    global_keys["keys"][0]["kid"] = kid.clone().into();
    let (base, hits) = split_jwks_server(team_signer.jwks_json(), global_keys).await;
    let verifier = Verifier::builder(
        ExpectedIssuer::team_or_global("acme"),
        team_signer.default_audience(),
    )
    .env(no_env())
    .issuer_base_url(&base)
    .project_id(PROJECT_ID)
    .environment("production")
    .owner_id(Constraint::Any)
    .build()
    .expect("verifier");
    let team_iss = format!("{base}/acme");
    let sign = |signer: &Issuer, iss: &str| signer.token().issuer(iss).kid(kid.clone()).sign();

    verifier
        .verify(&sign(&team_signer, &team_iss))
        .await
        .expect("team token, team key");
    verifier
        .verify(&sign(&global_signer, &base))
        .await
        .expect("global token, global key");
    for (why, token) in [
        ("global token, team key", sign(&team_signer, &base)),
        ("team token, global key", sign(&global_signer, &team_iss)),
    ] {
        let err = verifier.verify(&token).await.expect_err(why);
        assert!(
            matches!(err, VerifyError::InvalidSignature),
            "{why}: {err:?}"
        );
    }
    let hits = hits.lock().expect("lock").clone();
    assert_eq!(
        hits,
        HashMap::from([
            ("/acme/.well-known/jwks".to_owned(), 1),
            ("/.well-known/jwks".to_owned(), 1)
        ])
    );
}

#[tokio::test]
async fn defaults_from_env_read_the_deployment_and_name_what_is_missing() {
    let issuer = Issuer::start().await.expect("issuer");
    let clock = clock();
    let builder = |env: Env| {
        Verifier::for_this_deployment(ExpectedIssuer::team("acme"), issuer.default_audience())
            .env(env)
            .issuer_base_url(issuer.base_url())
            .time_source(SharedClock::from_arc(clock.clone()))
    };

    // VERCEL_TARGET_ENV wins over VERCEL_ENV; owner_id is any (the project pins the team).
    let verifier = builder(Env::from_pairs([
        ("VERCEL_PROJECT_ID", PROJECT_ID),
        ("VERCEL_TARGET_ENV", "preview"),
        ("VERCEL_ENV", "production"),
    ]))
    .build()
    .expect("verifier");
    let preview = || issuer.token().claim("environment", "preview");
    verifier
        .verify(&preview().claim("owner_id", "team_any").sign())
        .await
        .expect("this project, preview, any owner id");
    let err = verifier
        .verify(&issuer.token().sign())
        .await
        .expect_err("production");
    assert!(matches!(
        err,
        VerifyError::ClaimNotAllowed {
            claim: ConstrainedClaim::Environment
        }
    ));
    let err = verifier
        .verify(&preview().claim("project_id", "prj_other").sign())
        .await
        .expect_err("another project");
    assert!(matches!(
        err,
        VerifyError::ClaimNotAllowed {
            claim: ConstrainedClaim::ProjectId
        }
    ));

    // VERCEL_ENV when VERCEL_TARGET_ENV is unset or empty.
    for env in [
        Env::from_pairs([
            ("VERCEL_PROJECT_ID", PROJECT_ID),
            ("VERCEL_ENV", "production"),
        ]),
        Env::from_pairs([
            ("VERCEL_PROJECT_ID", PROJECT_ID),
            ("VERCEL_TARGET_ENV", ""),
            ("VERCEL_ENV", "production"),
        ]),
    ] {
        builder(env)
            .build()
            .expect("verifier")
            .verify(&issuer.token().sign())
            .await
            .expect("production");
    }

    // Missing or empty: a typed error naming the variable, never "any".
    let cases = [
        (
            Env::from_pairs([("VERCEL_ENV", "production")]),
            "VERCEL_PROJECT_ID",
            ConstrainedClaim::ProjectId,
        ),
        (
            Env::from_pairs([("VERCEL_PROJECT_ID", ""), ("VERCEL_ENV", "production")]),
            "VERCEL_PROJECT_ID",
            ConstrainedClaim::ProjectId,
        ),
        (
            Env::from_pairs([("VERCEL_PROJECT_ID", PROJECT_ID)]),
            "VERCEL_TARGET_ENV or VERCEL_ENV",
            ConstrainedClaim::Environment,
        ),
        (
            Env::from_pairs([
                ("VERCEL_PROJECT_ID", PROJECT_ID),
                ("VERCEL_TARGET_ENV", ""),
                ("VERCEL_ENV", ""),
            ]),
            "VERCEL_TARGET_ENV or VERCEL_ENV",
            ConstrainedClaim::Environment,
        ),
    ];
    for (env, variable, claim) in cases {
        let err = builder(env).build().expect_err(variable);
        assert!(
            matches!(err, VerifierConfigError::MissingEnv { variable: v, claim: c } if v == variable && c == claim),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.starts_with(variable), "{message}");
        assert!(message.contains(claim.name()), "{message}");
    }

    // Explicit setters win, in any order, and need no variable.
    let explicit = builder(no_env())
        .project_id(Constraint::one_of([PROJECT_ID, "prj_other"]))
        .environment(Constraint::one_of(["production", "preview"]))
        .build()
        .expect("explicit values need no env");
    explicit
        .verify(&issuer.token().claim("owner_id", "team_any").sign())
        .await
        .expect("listed");
    let explicit_first = Verifier::builder(ExpectedIssuer::team("acme"), "aud")
        .env(Env::from_pairs([("VERCEL_PROJECT_ID", "prj_env")]))
        .environment("preview")
        .defaults_from_env()
        .build()
        .expect("project from env, environment explicit");
    assert!(format!("{explicit_first:?}").contains("prj_env"));
    assert!(!format!("{explicit_first:?}").contains("production"));

    // A wildcard project leaves the owner undecided: it must be pinned, or `Any` said.
    let err = builder(Env::from_pairs([("VERCEL_ENV", "production")]))
        .project_id(Constraint::Any)
        .build()
        .expect_err("wildcard project, no owner");
    assert!(matches!(
        err,
        VerifierConfigError::Undecided {
            claim: ConstrainedClaim::OwnerId
        }
    ));
    let wildcard = builder(Env::from_pairs([("VERCEL_ENV", "production")]))
        .project_id(Constraint::Any)
        .owner_id(OWNER_ID)
        .build()
        .expect("wildcard project, pinned owner");
    wildcard
        .verify(&issuer.token().claim("project_id", "prj_other").sign())
        .await
        .expect("any project of the team");
    let err = wildcard
        .verify(&issuer.token().claim("owner_id", "team_other").sign())
        .await
        .expect_err("another owner");
    assert!(matches!(
        err,
        VerifyError::ClaimNotAllowed {
            claim: ConstrainedClaim::OwnerId
        }
    ));

    // Without `defaults_from_env` the deployment's variables are not read.
    let err = Verifier::builder(ExpectedIssuer::team("acme"), "aud")
        .env(Env::from_pairs([
            ("VERCEL_PROJECT_ID", PROJECT_ID),
            ("VERCEL_ENV", "production"),
        ]))
        .build()
        .expect_err("undecided");
    assert!(matches!(
        err,
        VerifierConfigError::Undecided {
            claim: ConstrainedClaim::ProjectId
        }
    ));
}

fn request(token: &str) -> Request<()> {
    Request::builder()
        .uri("/")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(())
        .expect("request")
}

#[tokio::test]
async fn not_acceptable_is_401_and_could_not_check_is_503() {
    let issuer = Issuer::start().await.expect("issuer");
    let clock = clock();
    let verifier = both(&issuer, &clock).build().expect("verifier");
    let svc = verifier
        .layer()
        .layer(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(String::from("reached")))
        }));
    let call = |token: String| {
        let svc = svc.clone();
        async move { svc.oneshot(request(&token)).await.expect("infallible") }
    };

    // The key sets are down and nothing is cached: the token could not be checked.
    issuer.faults().always(Endpoint::Jwks, Fault::Status(500));
    let good = issuer.token().sign();
    let err = verifier.verify(&good).await.expect_err("down");
    assert!(!err.is_rejection(), "{err:?}");
    assert_eq!(err.http_status(), StatusCode::SERVICE_UNAVAILABLE);
    clock.advance(Duration::from_secs(1));
    let response = call(good.clone()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    assert!(response.body().is_empty());
    // A 404 or garbage from the issuer is "could not check" too (not the caller's fault).
    for fault in [Fault::Status(404), Fault::Garbage, Fault::Drop] {
        issuer.faults().always(Endpoint::Jwks, fault.clone());
        clock.advance(Duration::from_secs(1));
        let err = verifier.verify(&good).await.expect_err("down");
        assert!(
            matches!(err, VerifyError::KeysUnavailable { .. }),
            "{fault:?}: {err:?}"
        );
        assert_eq!(err.http_status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    // Tokens that fail before any key is needed are still 401, outage or not.
    let before = issuer.requests(Endpoint::Jwks);
    for token in [
        issuer.token().sign_alg_none(),
        issuer
            .token()
            .issuer("https://oidc.vercel.com.evil.example")
            .sign(),
    ] {
        let response = call(token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\""
        );
    }
    assert_eq!(issuer.requests(Endpoint::Jwks), before);

    // Recovered: 200; then the issuer rotates its key and goes down again. A token with the
    // new kid could not be checked (503), not "unknown key" (401); the old key still serves.
    issuer.faults().clear();
    clock.advance(Duration::from_secs(1));
    assert_eq!(call(good.clone()).await.status(), StatusCode::OK);
    issuer.rotate_key();
    issuer.faults().always(Endpoint::Jwks, Fault::Status(503));
    clock.advance(Duration::from_secs(31));
    let rotated = issuer.token().sign();
    let err = verifier.verify(&rotated).await.expect_err("down");
    assert!(
        matches!(
            err,
            VerifyError::KeysUnavailable {
                kind: JwksErrorKind::Status(503),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    clock.advance(Duration::from_secs(31));
    assert_eq!(
        call(rotated.clone()).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(call(good.clone()).await.status(), StatusCode::OK);
    // Within the cooldown no refetch is tried, and while the last one failed an unknown kid is
    // still "could not check".
    let before = issuer.requests(Endpoint::Jwks);
    assert_eq!(
        call(rotated.clone()).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(issuer.requests(Endpoint::Jwks), before);
    // Once the issuer is back, the new key verifies, and a kid nobody has is a 401 again.
    issuer.faults().clear();
    clock.advance(Duration::from_secs(31));
    assert_eq!(call(rotated.clone()).await.status(), StatusCode::OK);
    let response = call(issuer.token().sign_with_unknown_key()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Every rejection of the attack matrix is a 401, never a 503.
    for e in [
        VerifyError::Expired,
        VerifyError::InvalidSignature,
        VerifyError::UnknownKeyId,
        VerifyError::IssuerMismatch,
        VerifyError::TeamMismatch,
        VerifyError::AudienceMismatch,
        VerifyError::MissingKeyId,
        VerifyError::CriticalHeader,
        VerifyError::DisallowedAlgorithm { alg: None },
        VerifyError::ClaimNotAllowed {
            claim: ConstrainedClaim::Environment,
        },
    ] {
        assert!(e.is_rejection(), "{e:?}");
        assert_eq!(e.http_status(), StatusCode::UNAUTHORIZED, "{e:?}");
    }
}
