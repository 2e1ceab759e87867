//! `vercel-oidc verify` with both issuer modes (`--issuer-team T --global`) against the testkit
//! issuer: both forms of team T's tokens pass, the attack matrix is refused as in one mode.

use std::process::Output;

use tokio::process::Command;
use vercel_oidc_testkit::{Endpoint, Fault, Issuer, IssuerMode};

const BIN: &str = env!("CARGO_BIN_EXE_vercel-oidc");

struct Run {
    output: Output,
}

impl Run {
    fn code(&self) -> i32 {
        self.output.status.code().expect("exit code")
    }
    fn stdout(&self) -> String {
        String::from_utf8(self.output.stdout.clone()).expect("utf8 stdout")
    }
    fn stderr(&self) -> String {
        String::from_utf8(self.output.stderr.clone()).expect("utf8 stderr")
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout()).expect("stdout is JSON")
    }
}

/// Runs the binary with a clean environment holding only `VERCEL_OIDC_ISSUER_URL`.
async fn run(issuer: &Issuer, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(BIN)
        .args(args)
        .env_clear()
        .env("HOME", dir.path())
        .env("VERCEL_OIDC_ISSUER_URL", issuer.base_url())
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run vercel-oidc");
    Run { output }
}

/// `verify TOKEN <mode flags> --audience <default>` plus `extra`.
async fn verify(issuer: &Issuer, token: &str, mode: &[&str], extra: &[&str]) -> Run {
    let aud = issuer.default_audience();
    let mut args = vec!["verify", token];
    args.extend_from_slice(mode);
    args.extend_from_slice(&["--audience", &aud]);
    args.extend_from_slice(extra);
    run(issuer, &args).await
}

#[track_caller]
fn assert_refused(r: &Run, token: &str, reason: &str, why: &str) {
    assert_eq!(r.code(), 1, "{why}: {}", r.stderr());
    assert!(r.stdout().is_empty(), "{why}: {}", r.stdout());
    // A warning log line may come first (a failing key-set fetch).
    assert!(
        r.stderr()
            .lines()
            .any(|l| l.starts_with(&format!("error: {reason}"))),
        "{why}: {}",
        r.stderr()
    );
    let signature = token.rsplit('.').next().unwrap_or(token);
    assert!(
        signature.is_empty() || !r.stderr().contains(signature),
        "{why}: the token on stderr"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn team_and_global_together_accept_both_forms_of_the_team() {
    let issuer = Issuer::start().await.expect("issuer");
    let both = ["--issuer-team", "acme", "--global"];
    let pins = ["--project-id", "prj_testkit0000000000000000"];

    let team = issuer.token().sign();
    let r = verify(&issuer, &team, &both, &pins).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.json()["iss"], issuer.team_issuer());
    assert_eq!(r.json()["project_id"], "prj_testkit0000000000000000");

    let global = issuer.token().issuer_mode(IssuerMode::Global).sign();
    // The flags in the other order mean the same.
    let r = verify(
        &issuer,
        &global,
        &["--global", "--issuer-team", "acme"],
        &pins,
    )
    .await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.json()["iss"], issuer.global_issuer());
    assert!(
        r.stderr().contains("any environment"),
        "open constraints are still said: {}",
        r.stderr()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn team_and_global_together_refuse_the_attack_matrix() {
    let issuer = Issuer::start().await.expect("issuer");
    let both = ["--issuer-team", "acme", "--global"];
    let base = issuer.base_url();
    let global = || issuer.token().issuer_mode(IssuerMode::Global);
    let mismatch = "the token's issuer is not the expected issuer";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "another team, team form",
            issuer
                .token()
                .issuer(format!("{base}/other"))
                .claim("owner", "other")
                .sign(),
            mismatch,
        ),
        (
            "another team, global form",
            global().claim("owner", "other").sign(),
            "the token's team (owner) is not the expected team",
        ),
        (
            "a global token without owner",
            global().remove_claim("owner").sign(),
            "the token's team (owner) is not the expected team",
        ),
        (
            "look-alike host",
            issuer.token().issuer(format!("{base}.evil.example")).sign(),
            mismatch,
        ),
        (
            "look-alike host, team path",
            issuer
                .token()
                .issuer(format!("{base}.evil.example/acme"))
                .sign(),
            mismatch,
        ),
        (
            "trailing slash",
            issuer.token().issuer(format!("{base}/acme/")).sign(),
            mismatch,
        ),
        (
            "alg none",
            global().sign_alg_none(),
            "the token's algorithm none is not allowed",
        ),
        (
            "HS256 keyed with the public key",
            issuer.token().sign_hs256_with(&issuer.public_key_der()),
            "the token's algorithm HS256 is not allowed",
        ),
        (
            "forged with an unknown key",
            global().sign_with_unknown_key(),
            "the token's key id is not in the issuer's key set",
        ),
        (
            "expired",
            global().expired().sign(),
            "the token has expired",
        ),
        (
            "another audience",
            global().audience("https://other.example").sign(),
            "the token's audience is not the expected audience",
        ),
    ];
    for (why, token, reason) in &cases {
        let r = verify(&issuer, token, &both, &[]).await;
        assert_refused(&r, token, reason, why);
    }
    // Constraints apply to both forms.
    for token in [issuer.token().sign(), global().sign()] {
        let r = verify(&issuer, &token, &both, &["--environment", "preview"]).await;
        assert_refused(
            &r,
            &token,
            "the token's `environment` is not allowed",
            "environment",
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_mode_alone_is_unchanged() {
    let issuer = Issuer::start().await.expect("issuer");
    let team = issuer.token().sign();
    let global = issuer.token().issuer_mode(IssuerMode::Global).sign();
    let mismatch = "the token's issuer is not the expected issuer";
    let r = verify(&issuer, &team, &["--global"], &[]).await;
    assert_refused(&r, &team, mismatch, "team token, global mode");
    let r = verify(&issuer, &global, &["--issuer-team", "acme"], &[]).await;
    assert_refused(&r, &global, mismatch, "global token, team mode");
    let r = verify(&issuer, &global, &["--global"], &[]).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    // Global mode alone does not check the owner (it says so: any owner_id).
    let other = issuer
        .token()
        .issuer_mode(IssuerMode::Global)
        .claim("owner", "other")
        .sign();
    let r = verify(&issuer, &other, &["--global"], &[]).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(r.stderr().contains("any owner_id"), "{}", r.stderr());
    // No mode: a usage error.
    let r = verify(&issuer, &team, &[], &[]).await;
    assert_eq!(r.code(), 2, "{}", r.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_key_set_is_reported_as_such() {
    let issuer = Issuer::start().await.expect("issuer");
    issuer.faults().always(Endpoint::Jwks, Fault::Status(503));
    let token = issuer.token().issuer_mode(IssuerMode::Global).sign();
    let r = verify(&issuer, &token, &["--issuer-team", "acme", "--global"], &[]).await;
    assert_refused(
        &r,
        &token,
        "the issuer's key set is unavailable: the issuer answered HTTP 503",
        "down",
    );
    // The global form's key set was asked (its own URL), once.
    assert_eq!(issuer.requests(Endpoint::Jwks), 1);
    let global_jwks = format!("url={}/.well-known/jwks ", issuer.base_url());
    assert!(r.stderr().contains(&global_jwks), "{}", r.stderr());
}
