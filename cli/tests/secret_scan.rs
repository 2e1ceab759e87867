//! The CLI's part of the all-flows secret scan (the rest is `integration/tests/secret_scan.rs`):
//! every subcommand runs with `-vv` (TRACE logs on stderr) against the testkit emulators, with a
//! success and a failure each, and no secret appears on stderr. Stdout carries the command's own
//! output (a token, credentials) by design and is not scanned, except where it must hold none.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use tokio::process::Command;
use vercel_oidc_testkit::entra::{Entra, FederatedCredential};
use vercel_oidc_testkit::{Issuer, Sts, VercelApi};

const BIN: &str = env!("CARGO_BIN_EXE_vercel-oidc");
const CLI_TOKEN: &str = "vca_canary_cli_token_0c1d2e3f4a5b";
const REFRESH_TOKEN: &str = "vcr_canary_refresh_token_6b7c8d9e0f1a";

/// Runs `vercel-oidc -vv ARGS` in `dir` with only `env` (plus `HOME=dir`).
async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .arg("-vv")
        .args(args)
        .env_clear()
        .env("HOME", dir)
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run vercel-oidc")
}

/// The secret and, for a JWT, its payload and signature alone.
fn needles(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_owned()];
    if secret.split('.').count() == 3 {
        out.extend(
            secret
                .split('.')
                .skip(1)
                .filter(|p| p.len() >= 16)
                .map(str::to_owned),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn no_subcommand_prints_a_secret_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let mut secrets: Vec<String> = vec![CLI_TOKEN.to_owned(), REFRESH_TOKEN.to_owned()];
    let mut stderr = String::new();
    let mut collect = |what: &str, output: &Output, success: bool| {
        assert_eq!(
            output.status.success(),
            success,
            "{what}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        stderr.push_str(&String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
    };

    // token: from the environment, and exchanged for an audience; a malformed one fails.
    let token = issuer.token().sign();
    secrets.push(token.clone());
    let base = issuer.base_url();
    let out = run(dir.path(), &["token"], &[("VERCEL_OIDC_TOKEN", &token)]).await;
    collect("token", &out, true);
    let out = run(
        dir.path(),
        &["token", "--audience", "api://AzureADTokenExchange"],
        &[
            ("VERCEL_OIDC_TOKEN", &token),
            ("VERCEL_OIDC_ISSUER_URL", &base),
        ],
    )
    .await;
    let exchanged = collect("token --audience", &out, true).trim().to_owned();
    secrets.push(exchanged.clone());
    let malformed = format!("{token}.x");
    secrets.push(malformed.clone());
    let out = run(dir.path(), &["token"], &[("VERCEL_OIDC_TOKEN", &malformed)]).await;
    collect("token (malformed)", &out, false);

    // claims: never prints the token itself.
    let out = run(dir.path(), &["claims", &exchanged], &[]).await;
    let claims = collect("claims", &out, true);
    for needle in needles(&exchanged) {
        assert!(!claims.contains(&needle), "claims printed the token");
    }
    let out = run(dir.path(), &["claims", &malformed], &[]).await;
    collect("claims (malformed)", &out, false);

    // The local-dev refresh: an expired token and an expired CLI token in auth.json, renewed
    // through the OAuth refresh grant, then minted.
    let api = VercelApi::builder(Arc::clone(&issuer))
        .refresh_token(REFRESH_TOKEN)
        .start()
        .await
        .expect("api");
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join(".vercel")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("data/com.vercel.cli")).expect("mkdir");
    std::fs::write(
        project.join(".vercel/project.json"),
        r#"{"projectId":"prj_cli_scan","orgId":"team_cli_scan"}"#,
    )
    .expect("write project.json");
    std::fs::write(
        dir.path().join("data/com.vercel.cli/auth.json"),
        format!(r#"{{"token":"{CLI_TOKEN}","expiresAt":1,"refreshToken":"{REFRESH_TOKEN}"}}"#),
    )
    .expect("write auth.json");
    let expired = issuer.token().expired().sign();
    secrets.push(expired.clone());
    let data = dir.path().join("data").display().to_string();
    let api_url = api.base_url();
    let out = run(
        &project,
        &["token"],
        &[
            ("VERCEL_OIDC_TOKEN", expired.as_str()),
            ("XDG_DATA_HOME", &data),
            ("VERCEL_OIDC_API_URL", &api_url),
            ("VERCEL_OIDC_OAUTH_URL", &api_url),
        ],
    )
    .await;
    let minted = collect("token (local-dev refresh)", &out, true)
        .trim()
        .to_owned();
    secrets.push(minted);
    secrets.push(
        api.latest_access_token()
            .expect("the CLI token was renewed"),
    );
    secrets.push(
        api.latest_refresh_token()
            .expect("the refresh token rotated"),
    );

    // aws credential-process: success, then a rejection.
    let sts = Sts::builder(issuer.team_issuer(), "sts.amazonaws.com")
        .start()
        .await
        .expect("sts");
    let sts_token = issuer.token().audience("sts.amazonaws.com").sign();
    secrets.push(sts_token.clone());
    let endpoint = sts.endpoint_url();
    let role = "arn:aws:iam::123456789012:role/cli-scan";
    let aws_env = [
        ("VERCEL_OIDC_TOKEN", sts_token.as_str()),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL_STS", endpoint.as_str()),
    ];
    let out = run(
        dir.path(),
        &["aws", "credential-process", "--role-arn", role],
        &aws_env,
    )
    .await;
    collect("aws credential-process", &out, true);
    let out = run(dir.path(), &["aws", "env", "--role-arn", role], &aws_env).await;
    collect("aws env", &out, true);
    let wrong = issuer.token().sign();
    secrets.push(wrong.clone());
    let out = run(
        dir.path(),
        &["aws", "credential-process", "--role-arn", role],
        &[
            ("VERCEL_OIDC_TOKEN", wrong.as_str()),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL_STS", endpoint.as_str()),
        ],
    )
    .await;
    collect("aws credential-process (rejected)", &out, false);
    let issued = sts.issued();
    assert_eq!(issued.len(), 2);
    for c in issued {
        secrets.push(c.access_key_id);
        secrets.push(c.secret_access_key);
        secrets.push(c.session_token);
    }

    // azure token: success, then a client id Entra does not know.
    let entra = Entra::builder()
        .federated_credential(FederatedCredential::for_issuer(&issuer))
        .start()
        .await
        .expect("entra");
    let ca = dir.path().join("entra-ca.pem");
    std::fs::write(&ca, entra.ca_pem()).expect("write CA");
    let ca = ca.display().to_string();
    let authority = entra.authority();
    let scope = "https://vault.azure.net/.default";
    let azure_env = [
        ("VERCEL_OIDC_TOKEN", token.as_str()),
        ("AZURE_TENANT_ID", entra.tenant_id()),
        ("AZURE_CLIENT_ID", entra.client_id()),
    ];
    let azure_args = [
        "--ca-file",
        ca.as_str(),
        "azure",
        "token",
        "--scope",
        scope,
        "--authority-host",
        authority.as_str(),
    ];
    let out = run(dir.path(), &azure_args, &azure_env).await;
    let json: serde_json::Value =
        serde_json::from_str(&collect("azure token", &out, true)).expect("JSON");
    secrets.push(
        json["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
    );
    let mut unknown = azure_args.to_vec();
    unknown.extend(["--client-id", "00000000-0000-0000-0000-00000000dead"]);
    let out = run(dir.path(), &unknown, &azure_env).await;
    collect("azure token (unknown client)", &out, false);

    // verify: a valid token, then one for another audience.
    let audience = "https://api.example.com";
    let valid = issuer.token().audience(audience).sign();
    let other = issuer.token().audience("https://other.example.com").sign();
    secrets.push(valid.clone());
    secrets.push(other.clone());
    let verify = |t: &str| {
        vec![
            "verify".to_owned(),
            t.to_owned(),
            "--issuer-team".to_owned(),
            "acme".to_owned(),
            "--audience".to_owned(),
            audience.to_owned(),
        ]
    };
    let verify_env = [("VERCEL_OIDC_ISSUER_URL", base.as_str())];
    let args = verify(&valid);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(dir.path(), &args, &verify_env).await;
    collect("verify", &out, true);
    let args = verify(&other);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(dir.path(), &args, &verify_env).await;
    collect("verify (wrong audience)", &out, false);

    // The runs logged at TRACE, so the scan means something.
    assert!(stderr.contains("TRACE"), "no TRACE output:\n{stderr}");
    assert!(stderr.contains("local-dev refresh"), "{stderr}");
    // The failure message names the secret by position, never by value.
    for (i, secret) in secrets.iter().enumerate() {
        for needle in needles(secret) {
            assert!(
                !stderr.contains(&needle),
                "secret #{i} of {} reached stderr",
                secrets.len()
            );
        }
    }
}
