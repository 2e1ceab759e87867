//! The verifier for your own APIs against the testkit issuer over real HTTP: valid tokens, the
//! attack matrix, key rotation, the refetch cooldown and the key-set cache.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vercel_oidc::time::{ManualClock, SharedClock};
use vercel_oidc::verify::{
    ConstrainedClaim, Constraint, ExpectedIssuer, JwksErrorKind, Verifier, VerifierBuilder,
    VerifyError,
};
use vercel_oidc::{Env, MalformedTokenReason};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer, IssuerMode};

const PROJECT_ID: &str = "prj_testkit0000000000000000";
const OWNER_ID: &str = "team_testkit00000000000000";

/// A fixed "now" for the verifier, whole seconds, so expiry boundaries are exact.
fn start_time() -> SystemTime {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    UNIX_EPOCH + Duration::from_secs(secs)
}

struct Setup {
    issuer: Issuer,
    clock: Arc<ManualClock>,
    now: SystemTime,
}

async fn setup() -> Setup {
    let issuer = Issuer::start().await.expect("issuer");
    let now = start_time();
    Setup {
        issuer,
        clock: Arc::new(ManualClock::new(now)),
        now,
    }
}

impl Setup {
    fn builder(&self, mode: ExpectedIssuer) -> VerifierBuilder {
        Verifier::builder(mode, self.issuer.default_audience())
            .env(Env::from_pairs::<&str, &str>([]))
            .issuer_base_url(self.issuer.base_url())
            .time_source(SharedClock::from_arc(self.clock.clone()))
            .project_id(PROJECT_ID)
            .environment("production")
            .owner_id(OWNER_ID)
    }

    fn verifier(&self) -> Verifier {
        self.builder(ExpectedIssuer::team(self.issuer.team_slug()))
            .build()
            .expect("verifier")
    }

    fn jwks_requests(&self) -> usize {
        self.issuer.requests(Endpoint::Jwks)
    }
}

/// `token` with its header replaced (the signature no longer matches, which does not matter
/// for checks that come before the signature).
fn with_header(token: &str, header: &serde_json::Value) -> String {
    let rest = token.split_once('.').expect("a JWT").1;
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

#[tokio::test]
async fn valid_tokens_verify_in_team_and_global_form() {
    let s = setup().await;
    let verifier = s.verifier();
    assert_eq!(verifier.issuer(), s.issuer.team_issuer());
    assert_eq!(
        verifier.jwks_url(),
        format!("{}/.well-known/jwks", s.issuer.team_issuer())
    );
    let token = s.issuer.token().sign();
    let claims = verifier.verify(&token).await.expect("valid");
    assert_eq!(claims.project_id.as_deref(), Some(PROJECT_ID));
    assert_eq!(claims.owner_id.as_deref(), Some(OWNER_ID));
    assert_eq!(claims.iss.as_deref(), Some(s.issuer.team_issuer().as_str()));
    assert_eq!(
        claims.sub.as_deref(),
        Some("owner:acme:project:my-project:environment:production")
    );
    // Warm: no further fetches, for this token or a new one.
    for _ in 0..3 {
        verifier.verify(&token).await.expect("valid");
    }
    verifier
        .verify(&s.issuer.token().sign())
        .await
        .expect("valid");
    // A header of several hundred bytes still verifies.
    let big_header = s.issuer.token().header("x-pad", "p".repeat(400)).sign();
    verifier.verify(&big_header).await.expect("large header");
    assert_eq!(s.jwks_requests(), 1);

    let global = s.builder(ExpectedIssuer::global()).build().expect("global");
    assert_eq!(global.issuer(), s.issuer.global_issuer());
    let token = s.issuer.token().issuer_mode(IssuerMode::Global).sign();
    global.verify(&token).await.expect("global form");
    // Each form pins its own issuer.
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::IssuerMismatch)
    ));
    assert!(matches!(
        global.verify(&s.issuer.token().sign()).await,
        Err(VerifyError::IssuerMismatch)
    ));

    // The issuer base can come from VERCEL_OIDC_ISSUER_URL.
    let from_env = Verifier::builder(ExpectedIssuer::team("acme"), s.issuer.default_audience())
        .env(Env::from_pairs([(
            "VERCEL_OIDC_ISSUER_URL",
            s.issuer.base_url(),
        )]))
        .time_source(SharedClock::from_arc(s.clock.clone()))
        .project_id(Constraint::Any)
        .environment(Constraint::Any)
        .owner_id(Constraint::Any)
        .build()
        .expect("verifier");
    from_env
        .verify(&s.issuer.token().sign())
        .await
        .expect("valid");
}

#[tokio::test]
async fn constraints_accept_lists_and_explicit_any() {
    let s = setup().await;
    let token = s.issuer.token().claim("environment", "preview").sign();
    let list = s
        .builder(ExpectedIssuer::team("acme"))
        .environment(Constraint::one_of(["production", "preview"]))
        .build()
        .expect("verifier");
    list.verify(&token).await.expect("preview is listed");
    let any = s
        .builder(ExpectedIssuer::team("acme"))
        .project_id(Constraint::Any)
        .environment(Constraint::Any)
        .owner_id(Constraint::Any)
        .build()
        .expect("verifier");
    let bare = s
        .issuer
        .token()
        .remove_claim("project_id")
        .remove_claim("owner_id")
        .remove_claim("environment")
        .sign();
    any.verify(&bare).await.expect("any allows absent claims");
    for claim in [
        ConstrainedClaim::ProjectId,
        ConstrainedClaim::Environment,
        ConstrainedClaim::OwnerId,
    ] {
        let token = s.issuer.token().remove_claim(claim.name()).sign();
        let err = s.verifier().verify(&token).await.expect_err("absent");
        assert!(
            matches!(err, VerifyError::ClaimNotAllowed { claim: c } if c == claim),
            "{claim}: {err:?}"
        );
    }
}

/// Whether an error is the one a case expects.
type Expect = fn(&VerifyError) -> bool;

#[tokio::test]
async fn attack_matrix_each_rejected_with_its_own_error() {
    let s = setup().await;
    let verifier = s.verifier();
    let issuer = &s.issuer;
    let now = s.now;
    let good = issuer.token().sign();
    verifier.verify(&good).await.expect("warm");

    let tampered = {
        let mut parts: Vec<&str> = good.split('.').collect();
        let mut payload = issuer.token().payload();
        payload["project_id"] = "prj_attacker".into();
        let encoded = URL_SAFE_NO_PAD.encode(payload.to_string());
        parts[1] = &encoded;
        parts.join(".")
    };
    let team = issuer.team_issuer();
    let base = issuer.base_url();
    let cases: Vec<(&str, String, Expect)> = vec![
        ("alg none", issuer.token().sign_alg_none(), |e| {
            matches!(e, VerifyError::DisallowedAlgorithm { alg: Some("none") })
        }),
        (
            "HS256 keyed with the RSA public key",
            issuer.token().sign_hs256_with(&issuer.public_key_der()),
            |e| matches!(e, VerifyError::DisallowedAlgorithm { alg: Some("HS256") }),
        ),
        (
            "header lies about the algorithm",
            issuer.token().header("alg", "RS512").sign(),
            |e| matches!(e, VerifyError::DisallowedAlgorithm { alg: Some("RS512") }),
        ),
        (
            "unrecognised algorithm",
            issuer.token().header("alg", "RS256 ").sign(),
            |e| matches!(e, VerifyError::DisallowedAlgorithm { alg: None }),
        ),
        ("unknown kid", issuer.token().sign_with_unknown_key(), |e| {
            matches!(e, VerifyError::UnknownKeyId)
        }),
        (
            "no algorithm",
            issuer.token().remove_header("alg").sign(),
            |e| matches!(e, VerifyError::DisallowedAlgorithm { alg: None }),
        ),
        ("no kid", issuer.token().remove_header("kid").sign(), |e| {
            matches!(e, VerifyError::MissingKeyId)
        }),
        ("empty kid", issuer.token().kid("").sign(), |e| {
            matches!(e, VerifyError::MissingKeyId)
        }),
        (
            "critical header extension",
            issuer.token().header("crit", vec!["exp"]).sign(),
            |e| matches!(e, VerifyError::CriticalHeader),
        ),
        (
            "forged signature under the current kid",
            issuer
                .token()
                .kid(issuer.current_kid())
                .sign_with_unknown_key(),
            |e| matches!(e, VerifyError::InvalidSignature),
        ),
        ("tampered payload", tampered, |e| {
            matches!(e, VerifyError::InvalidSignature)
        }),
        (
            "signature stripped",
            format!("{}.", good.rsplit_once('.').expect("jwt").0),
            |e| matches!(e, VerifyError::InvalidSignature),
        ),
        (
            "issuer look-alike domain",
            issuer
                .token()
                .issuer("https://oidc.vercel.com.evil.example")
                .sign(),
            |e| matches!(e, VerifyError::IssuerMismatch),
        ),
        (
            "issuer look-alike of the test base",
            issuer
                .token()
                .issuer(format!("{base}.evil.example/acme"))
                .sign(),
            |e| matches!(e, VerifyError::IssuerMismatch),
        ),
        (
            "issuer with a trailing slash",
            issuer.token().issuer(format!("{team}/")).sign(),
            |e| matches!(e, VerifyError::IssuerMismatch),
        ),
        (
            "another team's issuer",
            issuer.token().issuer(format!("{base}/other-team")).sign(),
            |e| matches!(e, VerifyError::IssuerMismatch),
        ),
        (
            "global issuer for a team verifier",
            issuer.token().issuer_mode(IssuerMode::Global).sign(),
            |e| matches!(e, VerifyError::IssuerMismatch),
        ),
        (
            "no issuer",
            issuer.token().remove_claim("iss").sign(),
            |e| matches!(e, VerifyError::MissingClaim { claim: "iss" }),
        ),
        (
            "wrong audience",
            issuer.token().audience("https://vercel.com/other").sign(),
            |e| matches!(e, VerifyError::AudienceMismatch),
        ),
        (
            "no audience",
            issuer.token().remove_claim("aud").sign(),
            |e| matches!(e, VerifyError::MissingClaim { claim: "aud" }),
        ),
        (
            "expired beyond the leeway",
            issuer
                .token()
                .issued_at(now - Duration::from_secs(3600))
                .expires_at(now - Duration::from_secs(60))
                .sign(),
            |e| matches!(e, VerifyError::Expired),
        ),
        ("no exp", issuer.token().without_exp().sign(), |e| {
            matches!(e, VerifyError::MissingClaim { claim: "exp" })
        }),
        (
            "nbf beyond the leeway",
            issuer
                .token()
                .not_before(now + Duration::from_secs(61))
                .sign(),
            |e| matches!(e, VerifyError::NotYetValid),
        ),
        (
            "iat beyond the leeway",
            issuer
                .token()
                .issued_at(now + Duration::from_secs(120))
                .not_before(now)
                .sign(),
            |e| matches!(e, VerifyError::IssuedInFuture),
        ),
        (
            "wrong project",
            issuer.token().claim("project_id", "prj_other").sign(),
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
            "wrong environment",
            issuer.token().claim("environment", "preview").sign(),
            |e| {
                matches!(
                    e,
                    VerifyError::ClaimNotAllowed {
                        claim: ConstrainedClaim::Environment
                    }
                )
            },
        ),
        (
            "wrong owner",
            issuer.token().claim("owner_id", "team_other").sign(),
            |e| {
                matches!(
                    e,
                    VerifyError::ClaimNotAllowed {
                        claim: ConstrainedClaim::OwnerId
                    }
                )
            },
        ),
        (
            "oversize (validly signed)",
            issuer.token().claim("padding", "x".repeat(9_000)).sign(),
            |e| matches!(e, VerifyError::TooLarge { max: 8192, .. }),
        ),
        ("not a JWT", "not-a-jwt".to_owned(), |e| {
            matches!(e, VerifyError::Malformed(_))
        }),
        (
            "header not base64url",
            format!("!!.{}", good.split_once('.').expect("jwt").1),
            |e| {
                matches!(
                    e,
                    VerifyError::Malformed(MalformedTokenReason::NotBase64Url { part: "header" })
                )
            },
        ),
        (
            "header not JSON",
            format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode("[1]"),
                good.split_once('.').expect("jwt").1
            ),
            |e| matches!(e, VerifyError::Malformed(_)),
        ),
        (
            "claim of the wrong type",
            issuer.token().claim("exp", "tomorrow").sign(),
            |e| matches!(e, VerifyError::Malformed(_)),
        ),
    ];
    for (name, token, expected) in &cases {
        let err = verifier.verify(token).await.expect_err(name);
        assert!(expected(&err), "{name}: got {err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(token.as_str()), "{name}: {shown}");
        assert!(!err.is_transient(), "{name}");
    }
    // None of that caused a key-set fetch (the unknown kid is within the cooldown).
    assert_eq!(s.jwks_requests(), 1);

    // Within the leeway passes, on both sides.
    let late = issuer
        .token()
        .issued_at(now - Duration::from_secs(3600))
        .expires_at(now - Duration::from_secs(59))
        .sign();
    verifier.verify(&late).await.expect("exp within leeway");
    let early = issuer
        .token()
        .not_before(now + Duration::from_secs(59))
        .sign();
    verifier.verify(&early).await.expect("nbf within leeway");
    // The testkit's canned expired token is rejected once the injected clock reaches it.
    let expired = issuer.token().expired().sign();
    s.clock.set(SystemTime::now() + Duration::from_secs(1));
    assert!(matches!(
        verifier.verify(&expired).await,
        Err(VerifyError::Expired)
    ));
}

#[tokio::test]
async fn a_token_of_exactly_the_size_limit_verifies_and_one_byte_more_is_refused() {
    let s = setup().await;
    let token = s.issuer.token().sign();
    let len = token.len();
    let at_limit = s
        .builder(ExpectedIssuer::team("acme"))
        .max_token_len(len)
        .build()
        .expect("verifier");
    at_limit.verify(&token).await.expect("exactly the limit");
    let below = s
        .builder(ExpectedIssuer::team("acme"))
        .max_token_len(len - 1)
        .build()
        .expect("verifier");
    let err = below.verify(&token).await.expect_err("one byte over");
    assert!(
        matches!(err, VerifyError::TooLarge { len: l, max } if l == len && max == len - 1),
        "{err:?}"
    );
    // Refused before any parsing: no key-set fetch for it.
    assert_eq!(s.jwks_requests(), 1);
}

#[tokio::test]
async fn key_rotation_needs_one_refetch_and_respects_the_cooldown() {
    let s = setup().await;
    let verifier = s.verifier();
    let old = s.issuer.token().sign();
    verifier.verify(&old).await.expect("valid");
    assert_eq!(s.jwks_requests(), 1);

    let new_kid = s.issuer.rotate_key();
    let new = s.issuer.token().sign();
    assert_eq!(kid_of(&new), new_kid);
    assert_ne!(kid_of(&old), new_kid);
    // Within the cooldown of the last fetch: rejected without a fetch.
    assert!(matches!(
        verifier.verify(&new).await,
        Err(VerifyError::UnknownKeyId)
    ));
    assert_eq!(s.jwks_requests(), 1);

    // After the cooldown: one refetch, then the new key verifies from the cache.
    s.clock.advance(Duration::from_secs(30));
    verifier.verify(&new).await.expect("after one refetch");
    assert_eq!(s.jwks_requests(), 2);
    for _ in 0..5 {
        verifier.verify(&new).await.expect("cached");
        verifier
            .verify(&old)
            .await
            .expect("old key still published");
    }
    assert_eq!(s.jwks_requests(), 2);

    // The old key is retired: after the max age the scheduled background refresh drops it.
    s.issuer.retire_old_keys();
    s.clock.advance(Duration::from_secs(600));
    // This verification uses the cached keys and starts the refresh in the background.
    verifier.verify(&old).await.expect("served from cache");
    let err = wait_until_rejected(&verifier, &old).await;
    assert!(matches!(err, VerifyError::UnknownKeyId), "{err:?}");
    verifier.verify(&new).await.expect("current key");
    assert_eq!(s.jwks_requests(), 3);
}

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().expect("header");
    let bytes = URL_SAFE_NO_PAD.decode(header).expect("base64url");
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    json["kid"].as_str().unwrap_or_default().to_owned()
}

/// Waits (yielding, a few ms at most per round) until `done`.
async fn wait_for(done: impl Fn() -> bool) {
    for _ in 0..2_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("condition not reached");
}

/// Waits until the background refresh has stored a key set without `token`'s key.
async fn wait_until_rejected(verifier: &Verifier, token: &str) -> VerifyError {
    for _ in 0..2_000 {
        if let Err(e) = verifier.verify(token).await {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("token never rejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kid_flood_costs_at_most_one_fetch_per_cooldown() {
    let s = setup().await;
    let verifier = s.verifier();
    let good = s.issuer.token().sign();
    verifier.verify(&good).await.expect("warm");
    assert_eq!(s.jwks_requests(), 1);

    let flood = |round: u32| {
        (0..10_000u32)
            .map(|i| {
                with_header(
                    &good,
                    &serde_json::json!({
                        "alg": "RS256", "typ": "JWT",
                        "kid": format!("random-{round}-{i}-{}", fastrand::u64(..)),
                    }),
                )
            })
            .collect::<Vec<_>>()
    };
    let run = |tokens: Vec<String>| {
        let verifier = verifier.clone();
        async move {
            let results =
                futures_util::future::join_all(tokens.iter().map(|t| verifier.verify(t))).await;
            for r in results {
                assert!(matches!(r, Err(VerifyError::UnknownKeyId)), "{r:?}");
            }
        }
    };

    // Right after the first fetch: inside the cooldown, no fetch at all.
    run(flood(0)).await;
    assert_eq!(s.jwks_requests(), 1);

    // Each cooldown period: 10,000 concurrent unknown kids share exactly one refetch.
    for round in 1..=3 {
        s.clock.advance(Duration::from_secs(30));
        run(flood(round)).await;
        assert_eq!(s.jwks_requests(), 1 + round as usize, "round {round}");
    }
    // And sequentially, still one per cooldown.
    s.clock.advance(Duration::from_secs(30));
    for token in flood(9).iter().take(1_000) {
        assert!(matches!(
            verifier.verify(token).await,
            Err(VerifyError::UnknownKeyId)
        ));
    }
    assert_eq!(s.jwks_requests(), 5);
    verifier.verify(&good).await.expect("still fine");
}

#[tokio::test]
async fn failing_key_set_keeps_stale_keys_and_reports_typed_errors() {
    let s = setup().await;

    // No keys yet and the issuer fails: a typed, transient error.
    let cold = s.verifier();
    s.issuer.faults().always(Endpoint::Jwks, Fault::Status(503));
    let token = s.issuer.token().sign();
    let err = cold.verify(&token).await.expect_err("no keys");
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
    assert_eq!(s.jwks_requests(), 1);
    // Retried no sooner than a second later: a down issuer is not asked per request.
    assert!(cold.verify(&token).await.is_err());
    assert_eq!(s.jwks_requests(), 1);
    s.clock.advance(Duration::from_secs(1));
    assert!(cold.verify(&token).await.is_err());
    assert_eq!(s.jwks_requests(), 2);

    for (fault, kind) in [
        (Fault::Garbage, JwksErrorKind::InvalidResponse),
        (Fault::Truncated, JwksErrorKind::InvalidResponse),
        (Fault::Drop, JwksErrorKind::Transport),
        (Fault::Status(404), JwksErrorKind::Status(404)),
    ] {
        s.issuer.faults().always(Endpoint::Jwks, fault.clone());
        s.clock.advance(Duration::from_secs(1));
        match cold.verify(&token).await {
            Err(VerifyError::KeysUnavailable { kind: k, .. }) => {
                assert_eq!(k, kind, "{fault:?}");
            }
            other => panic!("{fault:?}: {other:?}"),
        }
    }

    // It recovers once the issuer does.
    s.issuer.faults().clear();
    s.clock.advance(Duration::from_secs(1));
    cold.verify(&token).await.expect("recovered");

    // A warm verifier keeps its keys through failed refreshes.
    s.issuer.faults().always(Endpoint::Jwks, Fault::Status(500));
    let before = s.jwks_requests();
    s.clock.advance(Duration::from_secs(3600));
    cold.verify(&token).await.expect("stale keys still serve");
    wait_for(|| s.jwks_requests() == before + 1).await;
    cold.verify(&token).await.expect("after a failed refresh");
    let err = cold
        .refresh_keys()
        .await
        .expect_err("explicit refresh fails");
    assert!(err.is_transient(), "{err:?}");
    cold.verify(&token).await.expect("still the cached keys");
}

#[tokio::test]
async fn refresh_keys_warms_the_cache() {
    let s = setup().await;
    let verifier = s.verifier();
    verifier.refresh_keys().await.expect("fetched");
    assert_eq!(s.jwks_requests(), 1);
    verifier
        .verify(&s.issuer.token().sign())
        .await
        .expect("valid");
    assert_eq!(s.jwks_requests(), 1);
    // Debug shows the configuration, never a token.
    let shown = format!("{verifier:?}");
    assert!(shown.contains(&s.issuer.team_issuer()), "{shown}");
}
