//! The built `vercel-oidc` binary against the testkit emulators, every subcommand, success and
//! error exits. Each run gets a clean environment (`env_clear`) and an empty working directory.

use std::process::Output;

use tokio::process::Command;
use vercel_oidc_testkit::entra::{Entra, FederatedCredential};
use vercel_oidc_testkit::{Issuer, Sts};

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

async fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("spawn vercel-oidc");
    if let Some(input) = stdin {
        use tokio::io::AsyncWriteExt as _;
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let output = child.wait_with_output().await.expect("run vercel-oidc");
    Run { output }
}

fn assert_no_secret(run: &Run, secrets: &[&str]) {
    for secret in secrets {
        let sig = secret.rsplit('.').next().unwrap_or(secret);
        assert!(
            !run.stderr().contains(sig),
            "secret on stderr: {}",
            run.stderr()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn token_prints_the_chain_token_and_exchanges_audiences() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = issuer.token().sign();
    let r = run(&["token"], &[("VERCEL_OIDC_TOKEN", &token)], None).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout().trim(), token);

    let base = issuer.base_url();
    let r = run(
        &["token", "--audience", "api://AzureADTokenExchange"],
        &[
            ("VERCEL_OIDC_TOKEN", &token),
            ("VERCEL_OIDC_ISSUER_URL", &base),
        ],
        None,
    )
    .await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let exchanged = r.stdout().trim().to_owned();
    assert_ne!(exchanged, token);
    let claims = run(&["claims", &exchanged], &[], None).await;
    assert_eq!(claims.json()["aud"], "api://AzureADTokenExchange");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_without_any_source_fails_with_both_reasons() {
    let r = run(&["token"], &[], None).await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    let err = r.stderr();
    assert!(
        err.starts_with("error: no valid Vercel OIDC token"),
        "{err}"
    );
    assert!(err.contains("caused by:"), "{err}");
    assert!(r.stdout().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_from_argument_stdin_and_chain() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = issuer.token().claim("environment", "preview").sign();
    for (args, env, stdin) in [
        (vec!["claims", token.as_str()], vec![], None),
        (vec!["claims", "-"], vec![], Some(format!("{token}\n"))),
        (vec!["claims"], vec![], Some(token.clone())),
        (
            vec!["claims"],
            vec![("VERCEL_OIDC_TOKEN", token.as_str())],
            None,
        ),
    ] {
        let r = run(&args, &env, stdin.as_deref()).await;
        assert_eq!(r.code(), 0, "{args:?}: {}", r.stderr());
        let json = r.json();
        assert_eq!(json["environment"], "preview", "{args:?}");
        assert_eq!(json["project"], "my-project");
        assert!(r.stderr().starts_with("expires "), "{}", r.stderr());
        assert!(
            r.stderr().contains("(in 59m") || r.stderr().contains("(in 1h"),
            "{}",
            r.stderr()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_of_a_malformed_token_is_an_error_without_echo() {
    let bad = "eyJhbGciOiJub25lIn0.SECRET-PAYLOAD-NOT-BASE64!.sig";
    let r = run(&["claims", bad], &[], None).await;
    assert_eq!(r.code(), 1);
    assert!(
        r.stderr().contains("malformed OIDC token"),
        "{}",
        r.stderr()
    );
    assert!(!r.stderr().contains("SECRET-PAYLOAD"), "{}", r.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_accepts_valid_and_rejects_invalid_tokens() {
    let issuer = Issuer::start().await.expect("issuer");
    let base = issuer.base_url();
    let env = [("VERCEL_OIDC_ISSUER_URL", base.as_str())];
    let aud = issuer.default_audience();
    let team = issuer.team_slug().to_owned();
    let token = issuer.token().sign();

    let ok = run(
        &["verify", &token, "--issuer-team", &team, "--audience", &aud],
        &env,
        None,
    )
    .await;
    assert_eq!(ok.code(), 0, "{}", ok.stderr());
    assert_eq!(ok.json()["project_id"], "prj_testkit0000000000000000");

    let pinned = run(
        &[
            "verify",
            &token,
            "--issuer-team",
            &team,
            "--audience",
            &aud,
            "--project-id",
            "prj_testkit0000000000000000",
            "--environment",
            "production",
        ],
        &env,
        None,
    )
    .await;
    assert_eq!(pinned.code(), 0, "{}", pinned.stderr());

    for (args, why) in [
        (
            vec![
                "--issuer-team",
                team.as_str(),
                "--audience",
                "https://other.example",
            ],
            "audience",
        ),
        (vec!["--global", "--audience", aud.as_str()], "issuer"),
        (
            vec![
                "--issuer-team",
                team.as_str(),
                "--audience",
                aud.as_str(),
                "--environment",
                "preview",
            ],
            "environment",
        ),
    ] {
        let mut full = vec!["verify", token.as_str()];
        full.extend(args);
        let r = run(&full, &env, None).await;
        assert_eq!(r.code(), 1, "{why}: {}", r.stderr());
        assert!(r.stderr().starts_with("error: "), "{why}: {}", r.stderr());
        assert!(r.stdout().is_empty());
        assert_no_secret(&r, &[&token]);
    }

    let forged = issuer.token().sign_with_unknown_key();
    let r = run(
        &[
            "verify",
            &forged,
            "--issuer-team",
            &team,
            "--audience",
            &aud,
        ],
        &env,
        None,
    )
    .await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert_no_secret(&r, &[&forged]);

    // Usage errors exit 2.
    let r = run(&["verify", &token, "--audience", &aud], &env, None).await;
    assert_eq!(r.code(), 2, "issuer mode is required: {}", r.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_credential_process_and_env_against_the_sts_emulator() {
    let issuer = Issuer::start().await.expect("issuer");
    let sts = Sts::builder(issuer.team_issuer(), "sts.amazonaws.com")
        .start()
        .await
        .expect("sts");
    let token = issuer.token().audience("sts.amazonaws.com").sign();
    let endpoint = sts.endpoint_url();
    let env = [
        ("VERCEL_OIDC_TOKEN", token.as_str()),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL_STS", endpoint.as_str()),
    ];
    let role = "arn:aws:iam::123456789012:role/cli";
    let r = run(
        &[
            "aws",
            "credential-process",
            "--role-arn",
            role,
            "--session-name",
            "cli-test",
            "--duration",
            "1800",
            "--policy-arn",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
        ],
        &env,
        None,
    )
    .await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let json = r.json();
    assert_eq!(json["Version"], 1);
    let issued = sts.issued();
    let last = issued.last().expect("issued");
    assert_eq!(json["AccessKeyId"], last.access_key_id.as_str());
    assert!(
        json["SecretAccessKey"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(json["SessionToken"].as_str().is_some_and(|s| !s.is_empty()));
    let expiration = json["Expiration"].as_str().expect("Expiration");
    assert!(
        time::OffsetDateTime::parse(expiration, &time::format_description::well_known::Rfc3339)
            .is_ok()
    );
    let request = sts.last_request().expect("request");
    assert_eq!(request.field("RoleArn"), Some(role));
    assert_eq!(request.field("RoleSessionName"), Some("cli-test"));
    assert_eq!(request.field("DurationSeconds"), Some("1800"));
    assert_eq!(
        request.policy_arns(),
        ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    );
    assert!(r.stderr().is_empty(), "{}", r.stderr());

    let r = run(&["aws", "env", "--role-arn", role], &env, None).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let out = r.stdout();
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
    ] {
        assert!(out.contains(&format!("export {name}='")), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_errors_exit_non_zero_without_secrets() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = issuer.token().audience("sts.amazonaws.com").sign();

    // No role ARN: a usage error.
    let r = run(
        &["aws", "credential-process"],
        &[("VERCEL_OIDC_TOKEN", &token), ("AWS_REGION", "eu-west-1")],
        None,
    )
    .await;
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(r.stderr().contains("--role-arn"), "{}", r.stderr());

    // No region and no endpoint: a configuration error, never a silent us-east-1.
    let r = run(
        &[
            "aws",
            "credential-process",
            "--role-arn",
            "arn:aws:iam::1:role/r",
        ],
        &[("VERCEL_OIDC_TOKEN", &token)],
        None,
    )
    .await;
    assert_eq!(r.code(), 2, "{}", r.stderr());

    // Unreachable endpoint: the operation fails.
    let r = run(
        &[
            "aws",
            "credential-process",
            "--role-arn",
            "arn:aws:iam::1:role/r",
        ],
        &[
            ("VERCEL_OIDC_TOKEN", &token),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9"),
        ],
        None,
    )
    .await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(r.stdout().is_empty());
    assert_no_secret(&r, &[&token]);

    // STS rejects a token for another audience.
    let sts = Sts::builder(issuer.team_issuer(), "sts.amazonaws.com")
        .start()
        .await
        .expect("sts");
    let wrong = issuer.token().sign();
    let endpoint = sts.endpoint_url();
    let r = run(
        &[
            "aws",
            "credential-process",
            "--role-arn",
            "arn:aws:iam::1:role/r",
        ],
        &[
            ("VERCEL_OIDC_TOKEN", &wrong),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL_STS", &endpoint),
        ],
        None,
    )
    .await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(
        r.stderr().contains("InvalidIdentityToken"),
        "{}",
        r.stderr()
    );
    assert_no_secret(&r, &[&wrong]);
}

#[tokio::test(flavor = "multi_thread")]
async fn ca_file_flag_is_applied_and_checked() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = issuer.token().sign();
    let base = issuer.base_url();
    let r = run(
        &[
            "--ca-file",
            "/nonexistent/ca.pem",
            "token",
            "--audience",
            "x",
        ],
        &[
            ("VERCEL_OIDC_TOKEN", &token),
            ("VERCEL_OIDC_ISSUER_URL", &base),
        ],
        None,
    )
    .await;
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(r.stderr().contains("/nonexistent/ca.pem"), "{}", r.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_token_against_the_entra_emulator() {
    let issuer = Issuer::start().await.expect("issuer");
    let entra = Entra::builder()
        .federated_credential(FederatedCredential::for_issuer(&issuer))
        .start()
        .await
        .expect("entra");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("entra-ca.pem");
    std::fs::write(&ca, entra.ca_pem()).expect("write CA");
    let ca = ca.to_str().expect("utf8").to_owned();
    let token = issuer.token().sign();
    let authority = entra.authority();
    let scope = "https://vault.azure.net/.default";
    let env = [
        ("VERCEL_OIDC_TOKEN", token.as_str()),
        ("AZURE_TENANT_ID", entra.tenant_id()),
        ("AZURE_CLIENT_ID", entra.client_id()),
    ];

    let r = run(
        &[
            "--ca-file",
            &ca,
            "azure",
            "token",
            "--scope",
            scope,
            "--authority-host",
            &authority,
        ],
        &env,
        None,
    )
    .await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let json = r.json();
    assert!(json["access_token"].as_str().is_some_and(|t| t.len() > 20));
    assert_eq!(json["token_type"], "Bearer");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!(
        json["expires_on"].as_i64().is_some_and(|e| e > now),
        "{json}"
    );
    assert_eq!(entra.requests_for_scope(scope), 1);

    // Without the CA, TLS verification fails: roots are added, never disabled.
    let r = run(
        &[
            "azure",
            "token",
            "--scope",
            scope,
            "--authority-host",
            &authority,
        ],
        &env,
        None,
    )
    .await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert_no_secret(&r, &[&token]);

    // A client id Entra does not know: the AADSTS code reaches the user.
    let r = run(
        &[
            "--ca-file",
            &ca,
            "azure",
            "token",
            "--scope",
            scope,
            "--authority-host",
            &authority,
            "--client-id",
            "00000000-0000-0000-0000-00000000dead",
        ],
        &env,
        None,
    )
    .await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(r.stderr().contains("AADSTS"), "{}", r.stderr());
    assert_no_secret(&r, &[&token]);

    // http authorities are refused, as azure_identity does: a configuration error.
    let r = run(
        &[
            "azure",
            "token",
            "--scope",
            scope,
            "--authority-host",
            "http://127.0.0.1:9",
        ],
        &env,
        None,
    )
    .await;
    assert_eq!(r.code(), 2, "{}", r.stderr());

    // A missing scope is a usage error.
    let r = run(&["azure", "token"], &env, None).await;
    assert_eq!(r.code(), 2, "{}", r.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_walks_the_whole_flow_offline() {
    let started = std::time::Instant::now();
    let r = run(&["demo"], &[], None).await;
    assert_eq!(r.code(), 0, "{}\n{}", r.stdout(), r.stderr());
    let out = r.stdout();
    for step in [
        "\n1. Vercel OIDC token",
        "\n2. AWS credentials",
        "\n3. Azure access token",
        "\n4. Your own API",
    ] {
        assert!(out.contains(step), "missing {step:?}:\n{out}");
    }
    assert!(
        out.contains("STS saw 1 AssumeRoleWithWebIdentity call(s)"),
        "{out}"
    );
    assert!(out.contains("Entra saw 1 token request(s)"), "{out}");
    assert!(out.contains("→ 200 OK"), "{out}");
    assert!(out.contains("→ 401 Unauthorized"), "{out}");
    assert!(
        out.contains("assumed-role/vercel-demo/vercel-oidc-demo"),
        "{out}"
    );
    assert!(
        !out.contains("eyJ"),
        "the demo never prints a token:\n{out}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["token", "--help"],
        vec!["claims", "--help"],
        vec!["aws", "--help"],
        vec!["aws", "credential-process", "--help"],
        vec!["aws", "env", "--help"],
        vec!["verify", "--help"],
        vec!["azure", "--help"],
        vec!["azure", "token", "--help"],
        vec!["demo", "--help"],
    ] {
        let r = run(&args, &[], None).await;
        assert_eq!(r.code(), 0, "{args:?}");
        assert!(
            r.stdout().contains("Usage: vercel-oidc"),
            "{args:?}: {}",
            r.stdout()
        );
    }
}
