//! The built `vercel-oidc` binary against the testkit emulators, every subcommand, success and
//! error exits. Each run gets a clean environment (`env_clear`) and an empty working directory.

use std::process::Output;
use std::sync::Arc;

use tokio::process::Command;
use vercel_oidc_testkit::entra::{Entra, FederatedCredential};
use vercel_oidc_testkit::{Issuer, Sts, VercelApi};

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

/// An `exp` no calendar can show (past 9999, ±1e300, the i64 extremes) is printed as
/// "(out of range)", never a panic (exit 101).
#[tokio::test(flavor = "multi_thread")]
async fn claims_with_an_out_of_range_exp_exits_zero() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    for exp in [
        "253402300800".to_owned(),
        "1e300".to_owned(),
        "-1e300".to_owned(),
        i64::MIN.to_string(),
        i64::MAX.to_string(),
    ] {
        let token = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256"}"#),
            b64(&format!(r#"{{"exp":{exp},"project":"p"}}"#)),
            b64("sig")
        );
        let r = run(&["claims", "-"], &[], Some(&token)).await;
        assert_eq!(r.code(), 0, "exp {exp}: {}", r.stderr());
        assert_eq!(r.json()["project"], "p");
        assert!(
            r.stderr().contains("(out of range)"),
            "exp {exp}: {}",
            r.stderr()
        );
    }
}

/// `verify -` reads at most a token's size from stdin (not 400 MB), and a success says on stderr
/// which constraints were left open.
#[tokio::test(flavor = "multi_thread")]
async fn verify_reads_a_bounded_stdin_and_says_its_open_constraints() {
    let issuer = Issuer::start().await.expect("issuer");
    let base = issuer.base_url();
    let env = [("VERCEL_OIDC_ISSUER_URL", base.as_str())];
    let aud = issuer.default_audience();
    let team = issuer.team_slug().to_owned();
    let token = issuer.token().sign();
    let args = ["verify", "-", "--issuer-team", &team, "--audience", &aud];

    let ok = run(&args, &env, Some(&format!("{token}\n"))).await;
    assert_eq!(ok.code(), 0, "{}", ok.stderr());
    for open in ["any project_id", "any environment", "any owner_id"] {
        assert!(ok.stderr().contains(open), "{open}: {}", ok.stderr());
    }
    let pinned = run(
        &[&args[..], &["--project-id", "prj_testkit0000000000000000"]].concat(),
        &env,
        Some(&token),
    )
    .await;
    assert_eq!(pinned.code(), 0, "{}", pinned.stderr());
    assert!(
        !pinned.stderr().contains("any project_id"),
        "{}",
        pinned.stderr()
    );
    assert!(
        pinned.stderr().contains("any environment"),
        "{}",
        pinned.stderr()
    );

    // 64 MiB of input: refused after the cap, without reading it all.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(BIN)
        .args(args)
        .env_clear()
        .env("HOME", dir.path())
        .envs(env)
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut pipe = child.stdin.take().expect("stdin");
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        let chunk = vec![b'a'; 1024 * 1024];
        for _ in 0..64 {
            if pipe.write_all(&chunk).await.is_err() {
                return false; // the reader stopped: the cap held
            }
        }
        true
    });
    let output = child.wait_with_output().await.expect("run");
    let wrote_everything = writer.await.expect("writer");
    let r = Run { output };
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(r.stderr().contains("longer than"), "{}", r.stderr());
    assert!(!wrote_everything, "the CLI read all 64 MiB");
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

    // http authorities off loopback are refused (the URL policy of every endpoint that receives
    // a token): a configuration error, before anything is sent.
    let r = run(
        &[
            "azure",
            "token",
            "--scope",
            scope,
            "--authority-host",
            "http://login.example.com",
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

/// The JSON payload of a JWT (the test's own decoding).
fn jwt_payload(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}

/// An Entra emulator trusting `issuer`'s tokens and a CA file for it in `dir`.
async fn entra_for(issuer: &Issuer, dir: &std::path::Path) -> (Entra, String) {
    let entra = Entra::builder()
        .federated_credential(FederatedCredential::for_issuer(issuer))
        .start()
        .await
        .expect("entra");
    let ca = dir.join("entra-ca.pem");
    std::fs::write(&ca, entra.ca_pem()).expect("write CA");
    (entra, ca.to_str().expect("utf8").to_owned())
}

/// `azure token --output raw` prints the access token alone; `--output json` prints exactly
/// the fields of `az account get-access-token`, `expiresOn` in the local time zone (TZ).
#[tokio::test(flavor = "multi_thread")]
async fn azure_token_output_raw_and_json() {
    let issuer = Issuer::start().await.expect("issuer");
    let dir = tempfile::tempdir().expect("tempdir");
    let (entra, ca) = entra_for(&issuer, dir.path()).await;
    let token = issuer.token().sign();
    let authority = entra.authority();
    let scope = "https://vault.azure.net/.default";
    let args = |output: &'static str| {
        vec![
            "--ca-file".to_owned(),
            ca.clone(),
            "azure".to_owned(),
            "token".to_owned(),
            "--scope".to_owned(),
            scope.to_owned(),
            "--authority-host".to_owned(),
            authority.clone(),
            "--output".to_owned(),
            output.to_owned(),
        ]
    };
    let base_env = [
        ("VERCEL_OIDC_TOKEN", token.as_str()),
        ("AZURE_TENANT_ID", entra.tenant_id()),
        ("AZURE_CLIENT_ID", entra.client_id()),
    ];

    // raw: the token and a newline, nothing else.
    let raw_args = args("raw");
    let raw_args: Vec<&str> = raw_args.iter().map(String::as_str).collect();
    let r = run(&raw_args, &base_env, None).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let out = r.stdout();
    let access = out.strip_suffix('\n').expect("a final newline");
    assert!(
        !access.is_empty() && !access.contains(char::is_whitespace),
        "{out:?}"
    );
    let claims = jwt_payload(access);
    assert_eq!(claims["aud"], "https://vault.azure.net");
    assert_eq!(claims["tid"], entra.tenant_id());
    assert!(r.stderr().is_empty(), "{}", r.stderr());
    assert_no_secret(&r, &[&token, access]);

    // json: az's keys in az's order, two-space indent; expiresOn is expires_on at UTC+05:30.
    let json_args = args("json");
    let json_args: Vec<&str> = json_args.iter().map(String::as_str).collect();
    let mut env = base_env.to_vec();
    env.push(("TZ", "IST-5:30"));
    env.push((
        "AZURE_SUBSCRIPTION_ID",
        "00000000-aaaa-bbbb-cccc-000000000001",
    ));
    let r = run(&json_args, &env, None).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let doc = r.json();
    let access = doc["accessToken"].as_str().expect("accessToken").to_owned();
    let expires_on = doc["expires_on"]
        .as_i64()
        .expect("expires_on is an integer");
    let exp = jwt_payload(&access)["exp"].as_i64().expect("exp");
    assert!((expires_on - exp).abs() <= 2, "{expires_on} vs exp {exp}");
    let local = time::OffsetDateTime::from_unix_timestamp(expires_on)
        .expect("in range")
        .to_offset(time::UtcOffset::from_hms(5, 30, 0).expect("offset"));
    let expires_local = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    );
    assert_eq!(
        r.stdout(),
        format!(
            "{{\n  \"accessToken\": \"{access}\",\n  \"expiresOn\": \"{expires_local}.000000\",\n  \
             \"expires_on\": {expires_on},\n  \"subscription\": \
             \"00000000-aaaa-bbbb-cccc-000000000001\",\n  \"tenant\": \"{}\",\n  \
             \"tokenType\": \"Bearer\"\n}}\n",
            entra.tenant_id()
        )
    );
    assert!(r.stderr().is_empty(), "{}", r.stderr());
    assert_no_secret(&r, &[&token, &access]);

    // Without a subscription the key is left out (as az does for a tenant-level token), and
    // --subscription wins over the environment.
    let r = run(&json_args, &base_env, None).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let keys: Vec<String> = r
        .json()
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        [
            "accessToken",
            "expiresOn",
            "expires_on",
            "tenant",
            "tokenType"
        ]
    );
    let mut flagged = json_args.clone();
    flagged.extend(["--subscription", "sub-flag"]);
    let r = run(&flagged, &env, None).await;
    assert_eq!(r.json()["subscription"], "sub-flag");

    // Without --output: today's one-line JSON, unchanged.
    let r = run(&json_args[..json_args.len() - 2], &base_env, None).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout().lines().count(), 1, "{}", r.stdout());
    let keys: Vec<String> = r
        .json()
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["access_token", "expires_on", "token_type"]);

    // An unknown format is a usage error that names the choices.
    let mut bad = json_args.clone();
    let last = bad.len() - 1;
    bad[last] = "yaml";
    let r = run(&bad, &base_env, None).await;
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(
        r.stderr().contains("raw") && r.stderr().contains("json"),
        "{}",
        r.stderr()
    );
    assert!(r.stdout().is_empty());
}

/// `aws export-credentials` prints the formats of `aws configure export-credentials` exactly,
/// with the values STS issued; `process` is what the AWS SDK's own `credential_process`
/// accepts.
#[tokio::test(flavor = "multi_thread")]
async fn aws_export_credentials_formats_against_the_sts_emulator() {
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
    let export = ["aws", "export-credentials", "--role-arn", role];
    let issued_last = || {
        let issued = sts.issued().last().cloned().expect("issued");
        let expiration = time::OffsetDateTime::from(issued.expiration)
            .replace_nanosecond(0)
            .expect("nanos")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("rfc3339");
        (issued, expiration)
    };

    for format in [None, Some("process")] {
        let mut args = export.to_vec();
        args.extend(format.iter().flat_map(|f| ["--format", f]));
        let r = run(&args, &env, None).await;
        assert_eq!(r.code(), 0, "{format:?}: {}", r.stderr());
        let (c, expiration) = issued_last();
        assert_eq!(
            r.stdout(),
            format!(
                "{{\n  \"Version\": 1,\n  \"AccessKeyId\": \"{}\",\n  \"SecretAccessKey\": \
                 \"{}\",\n  \"SessionToken\": \"{}\",\n  \"Expiration\": \"{expiration}\"\n}}\n",
                c.access_key_id, c.secret_access_key, c.session_token
            ),
            "{format:?}"
        );
        assert!(r.stderr().is_empty(), "{}", r.stderr());
        assert_no_secret(&r, &[&token, &c.secret_access_key, &c.session_token]);
    }

    for (format, prefix) in [("env", "export "), ("env-no-export", "")] {
        let mut args = export.to_vec();
        args.extend(["--format", format]);
        let r = run(&args, &env, None).await;
        assert_eq!(r.code(), 0, "{format}: {}", r.stderr());
        let (c, expiration) = issued_last();
        assert_eq!(
            r.stdout(),
            format!(
                "{prefix}AWS_ACCESS_KEY_ID={}\n{prefix}AWS_SECRET_ACCESS_KEY={}\n\
                 {prefix}AWS_SESSION_TOKEN={}\n{prefix}AWS_CREDENTIAL_EXPIRATION={expiration}\n",
                c.access_key_id, c.secret_access_key, c.session_token
            ),
            "{format}"
        );
        assert!(r.stderr().is_empty(), "{}", r.stderr());
        assert_no_secret(&r, &[&token, &c.secret_access_key, &c.session_token]);
    }

    // The existing commands print what they printed before.
    let r = run(
        &["aws", "credential-process", "--role-arn", role],
        &env,
        None,
    )
    .await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout().lines().count(), 1, "one line: {}", r.stdout());
    let r = run(&["aws", "env", "--role-arn", role], &env, None).await;
    let (c, _) = issued_last();
    assert!(
        r.stdout()
            .starts_with(&format!("export AWS_ACCESS_KEY_ID='{}'\n", c.access_key_id)),
        "{}",
        r.stdout()
    );

    // Unknown formats are usage errors.
    let mut bad = export.to_vec();
    bad.extend(["--format", "powershell"]);
    let r = run(&bad, &env, None).await;
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(r.stderr().contains("env-no-export"), "{}", r.stderr());

    // The AWS SDK's credential_process provider runs the command and accepts its output.
    use aws_credential_types::provider::ProvideCredentials as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let command = format!(
        "env -i HOME={home} VERCEL_OIDC_TOKEN={token} AWS_REGION=eu-west-1 \
         AWS_ENDPOINT_URL_STS={endpoint} {BIN} aws export-credentials --role-arn {role}",
        home = dir.path().display()
    );
    let provider = aws_config::credential_process::CredentialProcessProvider::new(command);
    let credentials = provider
        .provide_credentials()
        .await
        .expect("the SDK reads the process format");
    let (c, _) = issued_last();
    assert_eq!(credentials.access_key_id(), c.access_key_id);
    assert_eq!(credentials.session_token(), Some(c.session_token.as_str()));
    let expiry = credentials.expiry().expect("Expiration is read");
    let want = c
        .expiration
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after epoch");
    let got = expiry
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after epoch");
    assert_eq!(got.as_secs(), want.as_secs());
}

/// A Vercel CLI login in a data dir of its own (no `.vercel/project.json` anywhere) and the
/// environment that points the local-dev refresh at `api`.
fn local_dev_login(api: &VercelApi, data: &std::path::Path) -> Vec<(String, String)> {
    std::fs::create_dir_all(data.join("com.vercel.cli")).expect("mkdir");
    std::fs::write(
        data.join("com.vercel.cli/auth.json"),
        format!(r#"{{"token":"{LOGIN_TOKEN}","expiresAt":4102444800}}"#),
    )
    .expect("write auth.json");
    vec![
        ("XDG_DATA_HOME".into(), data.display().to_string()),
        ("VERCEL_OIDC_API_URL".into(), api.base_url()),
        ("VERCEL_OIDC_OAUTH_URL".into(), api.base_url()),
    ]
}

const LOGIN_TOKEN: &str = "vca_cli_test_login_1f2e3d4c";

/// `--project`/`--team` reach the local-dev refresh from every command that reads the token
/// chain: the mint is asked for that project and team, and the minted token is what the command
/// uses. Without them (and no linked project) there is no token.
#[tokio::test(flavor = "multi_thread")]
async fn project_and_team_flags_feed_the_local_dev_refresh() {
    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let api = VercelApi::builder(Arc::clone(&issuer))
        .access_token(LOGIN_TOKEN)
        .start()
        .await
        .expect("api");
    let dir = tempfile::tempdir().expect("tempdir");
    let sts = Sts::builder(issuer.team_issuer(), issuer.default_audience())
        .start()
        .await
        .expect("sts");
    let (entra, ca) = entra_for(&issuer, dir.path()).await;
    let endpoint = sts.endpoint_url();
    let authority = entra.authority();
    let role = "arn:aws:iam::123456789012:role/cli";
    // (project, command, extra environment)
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        ("prj_claims", vec!["claims"], vec![]),
        (
            "prj_aws_cp",
            vec!["aws", "credential-process", "--role-arn", role],
            vec![
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ENDPOINT_URL_STS", &endpoint),
            ],
        ),
        (
            "prj_aws_export",
            vec![
                "aws",
                "export-credentials",
                "--role-arn",
                role,
                "--format",
                "env",
            ],
            vec![
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ENDPOINT_URL_STS", &endpoint),
            ],
        ),
        (
            "prj_aws_env",
            vec!["aws", "env", "--role-arn", role],
            vec![
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ENDPOINT_URL_STS", &endpoint),
            ],
        ),
        (
            "prj_azure",
            vec![
                "--ca-file",
                &ca,
                "azure",
                "token",
                "--scope",
                "https://vault.azure.net/.default",
                "--authority-host",
                &authority,
            ],
            vec![
                ("AZURE_TENANT_ID", entra.tenant_id()),
                ("AZURE_CLIENT_ID", entra.client_id()),
            ],
        ),
        ("prj_token", vec!["token"], vec![]),
        ("prj_doctor", vec!["doctor", "--json"], vec![]),
    ];
    for (i, (project, args, extra)) in cases.into_iter().enumerate() {
        let data = dir.path().join(format!("data-{i}"));
        let login = local_dev_login(&api, &data);
        let mut env: Vec<(&str, &str)> = login
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.extend(extra);

        let without = run(&args, &env, None).await;
        assert_eq!(
            without.code(),
            1,
            "{args:?} without --project: {}",
            without.stderr()
        );
        assert!(without.stdout().is_empty(), "{args:?}");

        let team = format!("team_{project}");
        let mut flagged = args.clone();
        flagged.extend(["--project", project, "--team", &team]);
        let mints = api.mint_requests().len();
        let r = run(&flagged, &env, None).await;
        assert_eq!(r.code(), 0, "{flagged:?}: {}", r.stderr());
        let requests = api.mint_requests();
        assert_eq!(requests.len(), mints + 1, "{flagged:?} minted once");
        let mint = requests.last().expect("a mint");
        assert_eq!(mint.project, project, "{flagged:?}");
        assert_eq!(mint.team_id.as_deref(), Some(team.as_str()), "{flagged:?}");
        assert_no_secret(&r, &[LOGIN_TOKEN]);
        if project == "prj_claims" {
            let claims = r.json();
            assert_eq!(claims["project_id"], project);
            assert_eq!(claims["owner_id"], team.as_str());
        }
        if project == "prj_token" {
            let claims = jwt_payload(r.stdout().trim());
            assert_eq!(claims["project_id"], project);
        }
    }
    assert_eq!(
        sts.issued().len(),
        3,
        "each AWS command assumed the role once"
    );
    assert_eq!(entra.requests(), 1);
}

/// What bash completes for `words` (the last one being completed) with the script of
/// `completions bash`, run in a real bash.
async fn bash_complete(script: &str, words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("vercel-oidc.bash");
    std::fs::write(&file, script).expect("write the script");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_vercel__oidc vercel-oidc '{}' '{}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .env_clear()
        .output()
        .await
        .expect("run bash");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf8")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `completions SHELL` prints a script for each shell on stdout; in bash it completes the
/// subcommands, their subcommands, their options and the values of the new flags.
#[tokio::test(flavor = "multi_thread")]
async fn completions_for_every_shell() {
    let r = run(&["completions", "bash"], &[], None).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(r.stderr().is_empty(), "{}", r.stderr());
    let script = r.stdout();
    assert!(script.contains("complete -F _vercel__oidc"), "{script}");

    let top = bash_complete(&script, &["vercel-oidc", ""]).await;
    for command in [
        "token",
        "claims",
        "aws",
        "azure",
        "verify",
        "doctor",
        "trust",
        "completions",
    ] {
        assert!(top.iter().any(|c| c == command), "no {command} in {top:?}");
    }
    let aws = bash_complete(&script, &["vercel-oidc", "aws", ""]).await;
    for command in ["credential-process", "env", "export-credentials"] {
        assert!(aws.iter().any(|c| c == command), "no {command} in {aws:?}");
    }
    let options = bash_complete(&script, &["vercel-oidc", "aws", "export-credentials", "--"]).await;
    for option in ["--format", "--role-arn", "--project", "--team"] {
        assert!(
            options.iter().any(|c| c == option),
            "no {option} in {options:?}"
        );
    }
    let formats = bash_complete(
        &script,
        &["vercel-oidc", "aws", "export-credentials", "--format", ""],
    )
    .await;
    assert_eq!(formats, ["process", "env", "env-no-export"]);
    let outputs = bash_complete(&script, &["vercel-oidc", "azure", "token", "--output", ""]).await;
    assert_eq!(outputs, ["raw", "json"]);
    let shells = bash_complete(&script, &["vercel-oidc", "completions", ""]).await;
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        assert!(
            shells.iter().any(|c| c == shell),
            "no {shell} in {shells:?}"
        );
    }

    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let r = run(&["completions", shell], &[], None).await;
        assert_eq!(r.code(), 0, "{shell}: {}", r.stderr());
        assert!(r.stdout().contains("export-credentials"), "{shell}");
        assert!(r.stderr().is_empty(), "{shell}: {}", r.stderr());
    }
    let r = run(&["completions", "tcsh"], &[], None).await;
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(r.stdout().is_empty());
}

/// The new flags are in `--help`, with their values.
#[tokio::test(flavor = "multi_thread")]
async fn help_names_the_new_flags_and_their_values() {
    for (args, needles) in [
        (
            vec!["azure", "token", "--help"],
            vec![
                "--output <FORMAT>",
                "raw",
                "json",
                "--subscription",
                "--project",
                "--team",
            ],
        ),
        (
            vec!["aws", "export-credentials", "--help"],
            vec![
                "--format <FORMAT>",
                "process",
                "env-no-export",
                "--project",
                "--team",
            ],
        ),
        (
            vec!["aws", "credential-process", "--help"],
            vec!["--project", "--team"],
        ),
        (vec!["aws", "env", "--help"], vec!["--project", "--team"]),
        (vec!["claims", "--help"], vec!["--project", "--team"]),
        (
            vec!["completions", "--help"],
            vec!["bash", "zsh", "fish", "powershell", "elvish"],
        ),
    ] {
        let r = run(&args, &[], None).await;
        assert_eq!(r.code(), 0, "{args:?}");
        for needle in needles {
            assert!(
                r.stdout().contains(needle),
                "{args:?} lacks {needle}:\n{}",
                r.stdout()
            );
        }
    }
}

#[cfg(feature = "demo")]
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
    // Step 5: a real vercel_runtime function under the local host; the second invocation
    // reads what the first one's wait_until wrote, and each ended after that write.
    #[cfg(unix)]
    {
        assert!(out.contains("\n5. A Vercel function"), "{out}");
        assert!(out.contains("visits 0 from the Runtime Cache"), "{out}");
        assert!(out.contains("visits 1 from the Runtime Cache"), "{out}");
        assert_eq!(
            out.matches("after the wait_until write").count(),
            2,
            "{out}"
        );
        assert!(
            out.contains("STS saw 1 AssumeRoleWithWebIdentity call(s) for 2 signed call(s)"),
            "{out}"
        );
        assert!(
            out.contains("SIGTERM: the function drained and exited"),
            "{out}"
        );
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
        vec!["aws", "export-credentials", "--help"],
        vec!["completions", "--help"],
        vec!["verify", "--help"],
        vec!["azure", "--help"],
        vec!["azure", "token", "--help"],
        vec!["doctor", "--help"],
        vec!["trust", "--help"],
        vec!["trust", "aws", "--help"],
        vec!["trust", "azure", "--help"],
    ]
    .into_iter()
    .chain(cfg!(feature = "demo").then(|| vec!["demo", "--help"]))
    {
        let r = run(&args, &[], None).await;
        assert_eq!(r.code(), 0, "{args:?}");
        assert!(
            r.stdout().contains("Usage: vercel-oidc"),
            "{args:?}: {}",
            r.stdout()
        );
    }
}

const TRUST_ROLE: &str = "arn:aws:iam::123456789012:role/app";

/// An STS whose IAM holds `provider_url` with `client_ids` and `TRUST_ROLE` with `policy`.
async fn sts_with_iam(provider_url: &str, client_ids: &[&str], policy: &serde_json::Value) -> Sts {
    let iam = vercel_oidc_testkit::Iam::new()
        .oidc_provider("123456789012", provider_url, client_ids.iter().copied())
        .role(TRUST_ROLE, &policy.to_string())
        .expect("policy");
    Sts::builder("https://unused.example", "unused")
        .iam(iam)
        .start()
        .await
        .expect("sts")
}

async fn assume_with(sts: &Sts, token: &str) -> Run {
    let endpoint = sts.endpoint_url();
    run(
        &["aws", "credential-process", "--role-arn", TRUST_ROLE],
        &[
            ("VERCEL_OIDC_TOKEN", token),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL_STS", &endpoint),
        ],
        None,
    )
    .await
}

/// What `trust aws` prints, loaded into IAM, admits the token; the same policy with any one
/// condition changed refuses it. At project scope, another environment of the project is admitted
/// too, and at environment scope it is not.
#[tokio::test(flavor = "multi_thread")]
async fn trust_aws_output_admits_the_token_and_one_change_refuses_it() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = issuer.token().sign();
    let trust = |scope: &'static str, token: String| async move {
        run(
            &[
                "trust",
                "aws",
                "--token",
                "-",
                "--scope",
                scope,
                "--role-arn",
                TRUST_ROLE,
                "--json",
            ],
            &[],
            Some(&token),
        )
        .await
    };
    let r = trust("environment", token.clone()).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let doc = r.json();
    let url = doc["provider"]["url"].as_str().expect("url").to_owned();
    let aud = doc["provider"]["audience"]
        .as_str()
        .expect("aud")
        .to_owned();
    assert_eq!(url, issuer.team_issuer());
    assert_eq!(aud, issuer.default_audience());
    let policy = doc["trust_policy"].clone();

    let sts = sts_with_iam(&url, &[&aud], &policy).await;
    let ok = assume_with(&sts, &token).await;
    assert_eq!(ok.code(), 0, "{}", ok.stderr());

    let prefix = url.split_once("://").expect("scheme").1.to_owned();
    let statement = "/Statement/0";
    for (pointer, value) in [
        (
            format!(
                "{statement}/Condition/StringEquals/{}",
                format!("{prefix}:aud").replace('/', "~1")
            ),
            "https://vercel.com/other",
        ),
        (
            format!(
                "{statement}/Condition/StringEquals/{}",
                format!("{prefix}:sub").replace('/', "~1")
            ),
            "owner:x:project:y:environment:production",
        ),
        (
            format!("{statement}/Principal/Federated"),
            "arn:aws:iam::123456789012:oidc-provider/oidc.vercel.com",
        ),
        (format!("{statement}/Action"), "sts:AssumeRole"),
    ] {
        let mut changed = policy.clone();
        *changed
            .pointer_mut(&pointer)
            .unwrap_or_else(|| panic!("{pointer} in {policy}")) =
            serde_json::Value::String(value.to_owned());
        let sts = sts_with_iam(&url, &[&aud], &changed).await;
        let r = assume_with(&sts, &token).await;
        assert_eq!(r.code(), 1, "{pointer}: {}", r.stderr());
        assert!(
            r.stderr().contains("AccessDenied"),
            "{pointer}: {}",
            r.stderr()
        );
    }

    // Scope: a preview token of the same project.
    let preview = issuer
        .token()
        .claim("environment", "preview")
        .subject(
            issuer.token().payload()["sub"]
                .as_str()
                .expect("sub")
                .replace(":environment:production", ":environment:preview"),
        )
        .sign();
    let project_policy = trust("project", token.clone()).await.json()["trust_policy"].clone();
    let sts = sts_with_iam(&url, &[&aud], &project_policy).await;
    assert_eq!(assume_with(&sts, &preview).await.code(), 0);
    let team_policy = trust("team", token.clone()).await.json()["trust_policy"].clone();
    let sts = sts_with_iam(&url, &[&aud], &team_policy).await;
    assert_eq!(assume_with(&sts, &preview).await.code(), 0);
    let sts = sts_with_iam(&url, &[&aud], &policy).await;
    assert_eq!(
        assume_with(&sts, &preview).await.code(),
        1,
        "environment scope is exact"
    );

    // The text form names the same provider and policy.
    let text = run(
        &[
            "trust",
            "aws",
            "--token",
            "-",
            "--account-id",
            "123456789012",
        ],
        &[],
        Some(&token),
    )
    .await;
    assert_eq!(text.code(), 0, "{}", text.stderr());
    assert!(
        text.stdout().contains(&format!("URL:      {url}")),
        "{}",
        text.stdout()
    );
    assert!(
        text.stdout()
            .contains("aws iam create-open-id-connect-provider"),
        "{}",
        text.stdout()
    );
    assert_no_secret(&text, &[&token]);
}

/// What `trust azure --json` prints, as Entra's federated credential, admits the token; a
/// credential differing in one field refuses it.
#[tokio::test(flavor = "multi_thread")]
async fn trust_azure_output_admits_the_token_and_one_change_refuses_it() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = issuer.token().sign();
    let r = run(
        &["trust", "azure", "--token", "-", "--json"],
        &[],
        Some(&token),
    )
    .await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let credential = r.json();
    let field = |name: &str| credential[name].as_str().expect(name).to_owned();
    let audience = credential["audiences"][0].as_str().expect("aud").to_owned();
    let cases = [
        (
            FederatedCredential::new(field("issuer"), field("subject"), audience.clone()),
            0,
        ),
        (
            FederatedCredential::new(
                format!("{}/", field("issuer")),
                field("subject"),
                audience.clone(),
            ),
            1,
        ),
        (
            FederatedCredential::new(
                field("issuer"),
                format!("{}x", field("subject")),
                audience.clone(),
            ),
            1,
        ),
        (
            FederatedCredential::new(
                field("issuer"),
                field("subject"),
                "api://AzureADTokenExchange",
            ),
            1,
        ),
    ];
    for (credential, expected) in cases {
        let entra = Entra::builder()
            .federated_credential(credential.clone())
            .start()
            .await
            .expect("entra");
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, entra.ca_pem()).expect("ca");
        let authority = entra.authority();
        let r = run(
            &[
                "--ca-file",
                ca.to_str().expect("utf8"),
                "azure",
                "token",
                "--scope",
                "https://vault.azure.net/.default",
                "--authority-host",
                &authority,
            ],
            &[
                ("VERCEL_OIDC_TOKEN", token.as_str()),
                ("AZURE_TENANT_ID", entra.tenant_id()),
                ("AZURE_CLIENT_ID", entra.client_id()),
            ],
            None,
        )
        .await;
        assert_eq!(r.code(), expected, "{credential:?}: {}", r.stderr());
    }
    let scoped = run(
        &["trust", "azure", "--token", "-", "--scope", "project"],
        &[],
        Some(&token),
    )
    .await;
    assert_eq!(scoped.code(), 2, "{}", scoped.stderr());
    assert!(scoped.stderr().contains("exactly"), "{}", scoped.stderr());
}

async fn doctor_json(args: &[&str], env: &[(&str, &str)]) -> (i32, serde_json::Value, String) {
    let mut full = vec!["doctor", "--json"];
    full.extend_from_slice(args);
    let r = run(&full, env, None).await;
    let stderr = r.stderr();
    (r.code(), r.json(), stderr)
}

/// `doctor` with each field of the AWS trust wrong in turn names that field, with the fix.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_explains_each_wrong_aws_trust_field() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = issuer.token().sign();
    let url = issuer.team_issuer();
    let aud = issuer.default_audience();
    let trust = run(
        &[
            "trust",
            "aws",
            "--token",
            "-",
            "--role-arn",
            TRUST_ROLE,
            "--json",
        ],
        &[],
        Some(&token),
    )
    .await;
    let policy = trust.json()["trust_policy"].clone();
    let prefix = url.split_once("://").expect("scheme").1.to_owned();
    let mut wrong_sub = policy.clone();
    wrong_sub["Statement"][0]["Condition"]["StringEquals"][format!("{prefix}:sub")] =
        "owner:acme:project:other:environment:production".into();

    let cases: Vec<(Sts, &str, Option<&str>)> = vec![
        (sts_with_iam(&url, &[&aud], &policy).await, TRUST_ROLE, None),
        (
            sts_with_iam(&issuer.global_issuer(), &[&aud], &policy).await,
            TRUST_ROLE,
            Some("issuer"),
        ),
        (
            sts_with_iam(&url, &["sts.amazonaws.com"], &policy).await,
            TRUST_ROLE,
            Some("audience"),
        ),
        (
            sts_with_iam(&url, &[&aud], &wrong_sub).await,
            TRUST_ROLE,
            Some("subject or role"),
        ),
        (
            sts_with_iam(&url, &[&aud], &policy).await,
            "arn:aws:iam::123456789012:role/missing",
            Some("subject or role"),
        ),
    ];
    for (sts, role, mismatch) in cases {
        let endpoint = sts.endpoint_url();
        let (code, doc, stderr) = doctor_json(
            &["--aws-role-arn", role],
            &[
                ("VERCEL_OIDC_TOKEN", &token),
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ENDPOINT_URL_STS", &endpoint),
            ],
        )
        .await;
        assert_eq!(
            doc["token"]["source"],
            "the environment variable VERCEL_OIDC_TOKEN"
        );
        assert_eq!(doc["token"]["mode"], "team");
        let check = &doc["checks"][0];
        match mismatch {
            None => {
                assert_eq!(code, 0, "{doc} {stderr}");
                assert_eq!(check["ok"], true);
                assert_eq!(doc["ok"], true);
            }
            Some(mismatch) => {
                assert_eq!(code, 1, "{doc}");
                assert_eq!(check["ok"], false);
                assert_eq!(check["mismatch"], mismatch, "{doc}");
                assert!(
                    check["error"]
                        .as_str()
                        .expect("error")
                        .contains(&format!("ikely cause ({mismatch})")),
                    "the provider's error carries the explanation: {doc}"
                );
                let fix = check["fix"].as_str().expect("fix");
                match mismatch {
                    "issuer" => assert!(fix.contains(&url), "{fix}"),
                    "audience" => assert!(fix.contains(&aud), "{fix}"),
                    _ => {
                        assert!(
                            check["cause"].as_str().expect("cause").contains(role),
                            "{doc}"
                        );
                        assert!(
                            fix.contains("owner:acme:project:my-project:environment:production")
                                || fix.contains(":environment:"),
                            "{fix}"
                        );
                    }
                }
                let text = doc.to_string();
                assert!(
                    !text.contains(token.rsplit('.').next().expect("sig")),
                    "token in doctor output"
                );
            }
        }
    }
}

/// `doctor` with each field of the Azure trust wrong in turn names that field.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_explains_each_wrong_azure_trust_field() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = issuer.token().sign();
    let right = FederatedCredential::for_issuer(&issuer);
    let cases = [
        (right.clone(), None, None),
        (
            FederatedCredential::new(
                issuer.global_issuer(),
                right.subject.clone(),
                right.audience.clone(),
            ),
            None,
            Some("issuer"),
        ),
        (
            FederatedCredential::new(
                right.issuer.clone(),
                format!("{}-x", right.subject),
                right.audience.clone(),
            ),
            None,
            Some("subject"),
        ),
        (
            right.clone().with_audience("api://AzureADTokenExchange"),
            None,
            Some("audience"),
        ),
        (
            right.clone(),
            Some("11111111-2222-3333-4444-555555555555"),
            Some("client"),
        ),
    ];
    for (credential, client, mismatch) in cases {
        let entra = Entra::builder()
            .federated_credential(credential)
            .start()
            .await
            .expect("entra");
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, entra.ca_pem()).expect("ca");
        let authority = entra.authority();
        let client = client.unwrap_or(entra.client_id()).to_owned();
        let (code, doc, stderr) = doctor_json(
            &[
                "--azure-tenant-id",
                entra.tenant_id(),
                "--azure-client-id",
                &client,
                "--azure-scope",
                "https://vault.azure.net/.default",
            ],
            &[
                ("VERCEL_OIDC_TOKEN", &token),
                ("AZURE_AUTHORITY_HOST", &authority),
                ("VERCEL_OIDC_CA_FILE", ca.to_str().expect("utf8")),
            ],
        )
        .await;
        let check = &doc["checks"][0];
        match mismatch {
            None => assert_eq!(code, 0, "{doc} {stderr}"),
            Some(mismatch) => {
                assert_eq!(code, 1, "{doc}");
                assert_eq!(check["mismatch"], mismatch, "{doc}");
                assert!(
                    check["code"]
                        .as_str()
                        .is_some_and(|c| c.starts_with("AADSTS")),
                    "{doc}"
                );
                assert!(
                    check["error"]
                        .as_str()
                        .expect("error")
                        .contains(&format!("ikely cause ({mismatch})")),
                    "the provider's error carries the explanation: {doc}"
                );
            }
        }
    }
}

/// Without any exchange configured, `doctor` reports the token and exits 0; the text form
/// names the source and the mode.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_reports_the_token_and_its_source() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = issuer.token().sign();
    let r = run(&["doctor"], &[("VERCEL_OIDC_TOKEN", &token)], None).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(
        r.stdout()
            .contains("source:      the environment variable VERCEL_OIDC_TOKEN"),
        "{}",
        r.stdout()
    );
    assert!(r.stdout().contains("team mode"), "{}", r.stdout());
    assert!(
        r.stdout().contains("No exchange configured"),
        "{}",
        r.stdout()
    );
    assert_no_secret(&r, &[&token]);
    assert!(!r.stdout().contains(token.rsplit('.').next().expect("sig")));

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, &token).expect("write");
    let (code, doc, _) = doctor_json(
        &[],
        &[("VERCEL_OIDC_TOKEN_FILE", file.to_str().expect("utf8"))],
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        doc["token"]["source"]
            .as_str()
            .expect("source")
            .contains("the file"),
        "{doc}"
    );

    // A token issued in the future: the clock problem is named.
    let future = issuer
        .token()
        .issued_at(std::time::SystemTime::now() + std::time::Duration::from_secs(600))
        .sign();
    let (_, doc, _) = doctor_json(&[], &[("VERCEL_OIDC_TOKEN", &future)]).await;
    assert_eq!(doc["clock"]["ok"], false, "{doc}");
}

/// The README's "cloud side" blocks are `trust` output for a sample token: regenerated here and
/// compared, so docs and code cannot disagree. `UPDATE_README=1` rewrites them.
#[tokio::test(flavor = "multi_thread")]
async fn readme_trust_blocks_are_the_trust_output() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let sample = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"RS256","typ":"JWT","kid":"sample"}"#),
        b64(
            r#"{"iss":"https://oidc.vercel.com/acme","aud":"https://vercel.com/acme","sub":"owner:acme:project:web:environment:production","owner":"acme","project":"web","environment":"production","exp":4102444800,"iat":4102441200}"#
        ),
        b64("signature")
    );
    let readme_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let mut readme = std::fs::read_to_string(readme_path).expect("README");
    let mut stale = Vec::new();
    for (name, args) in [
        (
            "trust-aws",
            vec![
                "trust",
                "aws",
                "--account-id",
                "123456789012",
                "--scope",
                "project",
            ],
        ),
        (
            "trust-azure",
            vec![
                "trust",
                "azure",
                "--client-id",
                "00000000-0000-0000-0000-000000000001",
            ],
        ),
    ] {
        let mut full = args.clone();
        full.extend(["--token", "-"]);
        let r = run(&full, &[], Some(&sample)).await;
        assert_eq!(r.code(), 0, "{}", r.stderr());
        let block = format!("```text\n{}```\n", r.stdout());
        let begin = readme
            .find(&format!("<!-- {name}:begin"))
            .expect("begin marker");
        let begin = begin + readme[begin..].find("-->\n").expect("marker end") + 4;
        let end = readme
            .find(&format!("<!-- {name}:end -->"))
            .expect("end marker");
        if readme[begin..end] != block {
            stale.push(name);
            readme.replace_range(begin..end, &block);
        }
    }
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(readme_path, &readme).expect("write README");
    } else {
        assert!(
            stale.is_empty(),
            "README blocks {stale:?} differ from `trust` output: run with UPDATE_README=1"
        );
    }
}

/// `demo` leaves 127.0.0.1 only with `--real`: a token and cloud settings in the environment do not
/// switch it to real services, and `--real` without a token says what to set.
#[cfg(feature = "demo")]
#[tokio::test(flavor = "multi_thread")]
async fn demo_uses_real_services_only_with_real() {
    let issuer = Issuer::start().await.expect("issuer");
    let token = issuer.token().sign();
    let r = run(
        &["demo"],
        &[
            ("VERCEL_OIDC_TOKEN", &token),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/real"),
            ("AWS_REGION", "eu-west-1"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
        ],
        None,
    )
    .await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(
        r.stdout().contains("everything runs on 127.0.0.1"),
        "{}",
        r.stdout()
    );
    assert!(!r.stdout().contains("role/real"), "{}", r.stdout());

    let r = run(&["demo", "--real"], &[], None).await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(r.stderr().contains("VERCEL_OIDC_TOKEN"), "{}", r.stderr());
}
