//! `vercel-oidc gcp …`: the built binary against the testkit's Google STS + IAM Credentials
//! emulator, and its `credential-config` loaded by Google's own auth libraries (the Rust
//! `google-cloud-auth` here, in a child process that allows executables; Python's `google-auth`
//! when it is installed).

// The child test prints its token for the parent; the skip message goes to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::Output;

use tokio::process::Command;
use vercel_oidc_testkit::Issuer;
use vercel_oidc_testkit::gcp::{Gcp, ServiceAccount, WorkloadIdentityProvider};

const BIN: &str = env!("CARGO_BIN_EXE_vercel-oidc");
const SA: &str = "app@demo.iam.gserviceaccount.com";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

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

async fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(BIN)
        .args(args)
        .env_clear()
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run vercel-oidc");
    Run { output }
}

struct World {
    issuer: Issuer,
    provider: WorkloadIdentityProvider,
    gcp: Gcp,
    token: String,
}

async fn world() -> World {
    let issuer = Issuer::builder()
        .team_slug("acme")
        .start()
        .await
        .expect("issuer");
    let provider = WorkloadIdentityProvider::for_issuer(&issuer);
    let gcp = Gcp::builder()
        .provider(provider.clone())
        .service_account(ServiceAccount::new(SA))
        .max_lifetime(std::time::Duration::from_secs(43_200))
        .start()
        .await
        .expect("gcp");
    let token = issuer.token().sign();
    World {
        issuer,
        provider,
        gcp,
        token,
    }
}

impl World {
    /// Vercel's documented variables, the token, and the emulator's URLs as flags.
    fn env(&self, with_sa: bool) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("VERCEL_OIDC_TOKEN", self.token.clone()),
            ("GCP_PROJECT_NUMBER", self.provider.project_number.clone()),
            (
                "GCP_WORKLOAD_IDENTITY_POOL_ID",
                self.provider.pool_id.clone(),
            ),
            (
                "GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID",
                self.provider.provider_id.clone(),
            ),
        ];
        if with_sa {
            env.push(("GCP_SERVICE_ACCOUNT_EMAIL", SA.to_owned()));
        }
        env
    }

    async fn gcp(&self, args: &[&str], with_sa: bool) -> Run {
        let (token_url, iam_url) = (self.gcp.token_url(), self.gcp.iam_credentials_url());
        let mut all = vec!["gcp"];
        all.extend_from_slice(args);
        if args[0] != "subject-token" {
            all.extend(["--token-url", &token_url, "--iam-credentials-url", &iam_url]);
        }
        let env = self.env(with_sa);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(&all, &env).await
    }
}

fn assert_no_token_on_stderr(run: &Run, token: &str) {
    let signature = token.rsplit('.').next().unwrap_or(token);
    assert!(!run.stderr().contains(signature), "{}", run.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn token_prints_an_access_token_direct_or_impersonated() {
    let w = world().await;
    let r = w.gcp(&["token"], false).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let json = r.json();
    assert_eq!(json["token_type"], "Bearer");
    let token = json["access_token"].as_str().expect("access_token");
    let info = w.gcp.token_info(token).expect("the emulator issued it");
    assert_eq!(info.service_account, None);
    assert_eq!(
        info.scopes,
        ["https://www.googleapis.com/auth/cloud-platform"]
    );
    let expires = json["expires_at"].as_str().expect("expires_at");
    time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    assert_eq!(
        w.gcp.sts_requests()[0].field("audience"),
        Some(w.provider.resource_name().as_str())
    );

    let r = w
        .gcp(
            &[
                "token",
                "--scope",
                "https://www.googleapis.com/auth/pubsub",
                "--lifetime",
                "7200",
                "--raw",
            ],
            true,
        )
        .await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let raw = r.stdout();
    let info = w
        .gcp
        .token_info(raw.trim_end())
        .expect("a service account token");
    assert!(raw.ends_with('\n') && !raw.trim_end().contains('\n'));
    assert_eq!(info.service_account.as_deref(), Some(SA));
    assert_eq!(info.scopes, ["https://www.googleapis.com/auth/pubsub"]);
    let iam = w.gcp.iam_requests();
    assert_eq!(iam[0].json["lifetime"], "7200s");
    assert_no_token_on_stderr(&r, &w.token);

    // --audience and --service-account win over the environment.
    let r = w
        .gcp(
            &[
                "token",
                "--audience",
                &w.provider.resource_name(),
                "--service-account",
                "other@x.iam.gserviceaccount.com",
            ],
            true,
        )
        .await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(r.stderr().contains("NOT_FOUND"), "{}", r.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn token_errors_exit_two_for_configuration_and_one_for_google() {
    let w = world().await;
    let r = run(&["gcp", "token"], &[("VERCEL_OIDC_TOKEN", &w.token)]).await;
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(
        r.stderr()
            .contains("GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID"),
        "{}",
        r.stderr()
    );
    assert!(r.stdout().is_empty());

    let other = w
        .provider
        .resource_name()
        .replace("providers/vercel", "providers/nope");
    let r = w.gcp(&["token", "--audience", &other], false).await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(r.stderr().contains("invalid_target"), "{}", r.stderr());

    let r = run(
        &[
            "gcp",
            "token",
            "--audience",
            &w.provider.resource_name(),
            "--token-url",
            "http://sts.example.com/v1/token",
        ],
        &[("VERCEL_OIDC_TOKEN", &w.token)],
    )
    .await;
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(r.stderr().contains("must be https"), "{}", r.stderr());

    let r = run(
        &[
            "gcp",
            "token",
            "--audience",
            &w.provider.resource_name(),
            "--token-url",
            &w.gcp.token_url(),
        ],
        &[],
    )
    .await;
    assert_eq!(r.code(), 1, "no token: {}", r.stderr());
    assert!(
        r.stderr().contains("no Vercel OIDC token"),
        "{}",
        r.stderr()
    );
    assert_eq!(
        w.gcp.sts_requests().len(),
        1,
        "only the rejected exchange reached STS"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn id_token_needs_a_service_account() {
    let w = world().await;
    let r = w
        .gcp(
            &["id-token", "https://svc.a.run.app", "--include-email"],
            true,
        )
        .await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let json = r.json();
    assert!(json["expires_at"].is_string());
    let id = json["id_token"].as_str().expect("id_token");
    assert_eq!(id.split('.').count(), 3);
    let call = &w.gcp.iam_requests()[0];
    assert!(
        call.path.ends_with(&format!("{SA}:generateIdToken")),
        "{}",
        call.path
    );
    assert_eq!(call.json["audience"], "https://svc.a.run.app");
    assert_eq!(call.json["includeEmail"], true);

    let r = w.gcp(&["id-token", "https://svc.a.run.app"], false).await;
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(r.stderr().contains("service account"), "{}", r.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn subject_token_prints_googles_executable_response() {
    let w = world().await;
    let r = w.gcp(&["subject-token"], false).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let json = r.json();
    assert_eq!(json["version"], 1);
    assert_eq!(json["success"], true);
    assert_eq!(json["token_type"], JWT_TYPE);
    assert_eq!(json["id_token"], w.token.as_str());
    let exp = w.issuer.token().payload()["exp"].as_i64().expect("exp");
    let got = json["expiration_time"].as_i64().expect("expiration_time");
    assert!((got - exp).abs() <= 2, "{got} vs {exp}");
    assert_eq!(json.as_object().map(|o| o.len()), Some(5));

    let r = run(&["gcp", "subject-token"], &[]).await;
    assert_eq!(r.code(), 1);
    let json = r.json();
    assert_eq!(json["version"], 1);
    assert_eq!(json["success"], false);
    assert_eq!(json["code"], "NO_TOKEN");
    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(json.get("id_token").is_none());
}

/// The configuration, checked against the schema Google documents for executable-sourced
/// external accounts.
fn check_config(config: &serde_json::Value, w: &World, with_sa: bool) {
    assert_eq!(config["type"], "external_account");
    assert_eq!(config["audience"], w.provider.resource_name().as_str());
    assert_eq!(config["subject_token_type"], JWT_TYPE);
    assert_eq!(config["token_url"], w.gcp.token_url().as_str());
    let executable = &config["credential_source"]["executable"];
    assert_eq!(executable["timeout_millis"], 5000);
    let command = executable["command"].as_str().expect("command");
    let (program, args) = command.split_once(' ').expect("program and arguments");
    assert!(Path::new(program).is_absolute(), "{program}");
    assert_eq!(
        std::fs::canonicalize(program).ok(),
        std::fs::canonicalize(BIN).ok()
    );
    assert_eq!(args, "gcp subject-token");
    let impersonation = config.get("service_account_impersonation_url");
    if with_sa {
        assert_eq!(
            impersonation.and_then(|v| v.as_str()),
            Some(
                format!(
                    "{}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken",
                    w.gcp.iam_credentials_url()
                )
                .as_str()
            )
        );
    } else {
        assert!(impersonation.is_none());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_config_writes_googles_external_account_json() {
    let w = world().await;
    let r = w.gcp(&["credential-config"], false).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    check_config(&r.json(), &w, false);

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("gcp.json");
    let path = file.display().to_string();
    let r = w
        .gcp(
            &["credential-config", "--output", &path, "--lifetime", "1800"],
            true,
        )
        .await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(r.stdout().is_empty());
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("written")).expect("JSON");
    check_config(&config, &w, true);
    assert_eq!(
        config["service_account_impersonation"]["token_lifetime_seconds"],
        1800
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(
        w.gcp.sts_requests().is_empty(),
        "writing the config fetches nothing"
    );
}

/// The environment variable that tells [`google_cloud_auth_child`] where the config is.
const CHILD_CONFIG: &str = "VERCEL_OIDC_TEST_GCP_CONFIG";

/// Loads a `gcp credential-config` file with google-cloud-auth, which runs `gcp subject-token`
/// and exchanges its token through the emulator (impersonation included); prints the access
/// token. Run by [`credential_config_works_with_google_cloud_auth`] in a child process, where
/// `GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1` can be set without touching this process.
#[tokio::test]
#[ignore = "run in a child process by credential_config_works_with_google_cloud_auth"]
async fn google_cloud_auth_child() {
    let path = std::env::var(CHILD_CONFIG).expect("the parent sets the config path");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("config")).expect("JSON");
    let credentials = google_cloud_auth::credentials::external_account::Builder::new(config)
        .build_access_token_credentials()
        .expect("google-cloud-auth accepts the config");
    let token = credentials.access_token().await.expect("an access token");
    println!("ACCESS_TOKEN={}", token.token);
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_config_works_with_google_cloud_auth() {
    let w = world().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("gcp.json");
    let path = file.display().to_string();
    let r = w.gcp(&["credential-config", "--output", &path], true).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let output = Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "google_cloud_auth_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
        .env(CHILD_CONFIG, &path)
        .env("VERCEL_OIDC_TOKEN", &w.token)
        .env("HOME", dir.path())
        .output()
        .await
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The harness prints the test's name on the same line.
    let token = stdout
        .split_once("ACCESS_TOKEN=")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the child printed no token: {stdout}"));
    let info = w.gcp.token_info(token).expect("the emulator issued it");
    assert_eq!(info.service_account.as_deref(), Some(SA));
    let sts = w.gcp.sts_requests();
    assert_eq!(sts.len(), 1);
    assert_eq!(
        sts[0].field("subject_token"),
        Some(w.token.as_str()),
        "through gcp subject-token"
    );
    assert_eq!(sts[0].field("subject_token_type"), Some(JWT_TYPE));
}

/// Python's `google-auth` loads the same file, when it (and `requests`) can be imported. CI
/// installs them with `pip install google-auth requests`; without them the test says so and
/// checks nothing more.
#[tokio::test(flavor = "multi_thread")]
async fn credential_config_works_with_python_google_auth() {
    let probe = Command::new("python3")
        .args([
            "-c",
            "import google.auth.pluggable, google.auth.transport.requests",
        ])
        .output()
        .await;
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "SKIPPED credential_config_works_with_python_google_auth: python3 with google-auth \
             and requests is not installed (pip install google-auth requests)"
        );
        return;
    }
    let w = world().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("gcp.json");
    let path = file.display().to_string();
    let r = w.gcp(&["credential-config", "--output", &path], true).await;
    assert_eq!(r.code(), 0, "{}", r.stderr());
    // `pluggable.Credentials` is what `load_credentials_from_file` builds for an executable
    // source, without its project-id lookup (a call to cloudresourcemanager.googleapis.com).
    let script = "import sys, google.auth.pluggable as p, google.auth.transport.requests as t\n\
                  creds = p.Credentials.from_file(sys.argv[1], \
                  scopes=['https://www.googleapis.com/auth/cloud-platform'])\n\
                  creds.refresh(t.Request())\n\
                  print('ACCESS_TOKEN=' + creds.token)\n";
    let output = Command::new("python3")
        .args(["-c", script, &path])
        .env("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
        .env("VERCEL_OIDC_TOKEN", &w.token)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .await
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ACCESS_TOKEN="))
        .expect("python printed a token");
    let info = w.gcp.token_info(token).expect("the emulator issued it");
    assert_eq!(info.service_account.as_deref(), Some(SA));
}
