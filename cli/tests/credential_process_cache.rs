//! `aws credential-process` caches across processes: a second run within the lifetime makes no
//! STS call; files are 0600 in a 0700 directory, written atomically; concurrent runs share one
//! call; credentials near expiry are never handed out; `--no-cache` bypasses the cache.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tokio::process::Command;
use vercel_oidc_testkit::{Endpoint, Fault, Issuer, Sts};

const BIN: &str = env!("CARGO_BIN_EXE_vercel-oidc");
const ROLE: &str = "arn:aws:iam::123456789012:role/cached";

struct World {
    issuer: Issuer,
    sts: Sts,
    home: tempfile::TempDir,
}

async fn world() -> World {
    let issuer = Issuer::start().await.expect("issuer");
    let sts = Sts::builder(issuer.team_issuer(), "sts.amazonaws.com")
        .start()
        .await
        .expect("sts");
    World {
        issuer,
        sts,
        home: tempfile::tempdir().expect("home"),
    }
}

impl World {
    fn token(&self) -> String {
        self.issuer.token().audience("sts.amazonaws.com").sign()
    }

    fn cache_dir(&self) -> PathBuf {
        self.home.path().join(".cache/vercel-oidc/aws")
    }

    fn command(&self, token: &str, extra: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(["aws", "credential-process", "--role-arn", ROLE])
            .args(extra)
            .env_clear()
            .env("HOME", self.home.path())
            .env("VERCEL_OIDC_TOKEN", token)
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_ENDPOINT_URL_STS", self.sts.endpoint_url())
            .current_dir(self.home.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    }

    async fn run(&self, token: &str, extra: &[&str]) -> serde_json::Value {
        let output = self.command(token, extra).output().await.expect("runs");
        json(&output)
    }

    fn cache_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.cache_dir())
            .map(|dir| dir.map(|e| e.expect("entry").path()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }

    fn json_files(&self) -> Vec<PathBuf> {
        self.cache_files()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect()
    }
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("credential_process JSON")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_makes_no_sts_call_and_files_are_private() {
    let w = world().await;
    let token = w.token();
    let first = w.run(&token, &[]).await;
    assert_eq!(w.sts.calls(), 1);
    let second = w.run(&token, &[]).await;
    assert_eq!(w.sts.calls(), 1, "the second run read the cache");
    assert_eq!(first, second);
    assert_eq!(mode(&w.cache_dir()), 0o700);
    let files = w.json_files();
    assert_eq!(files.len(), 1);
    assert_eq!(mode(&files[0]), 0o600);
    // Only the entry and its lock: no temporary file left behind.
    assert_eq!(w.cache_files().len(), 2);
    let cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).expect("read")).expect("json");
    assert_eq!(cached["AccessKeyId"], first["AccessKeyId"]);

    // --no-cache asks STS and leaves the cache alone.
    let fresh = w.run(&token, &["--no-cache"]).await;
    assert_eq!(w.sts.calls(), 2);
    assert_ne!(fresh["AccessKeyId"], first["AccessKeyId"]);
    assert_eq!(w.run(&token, &[]).await, first);
    assert_eq!(w.sts.calls(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_configuration_or_token_identity_is_another_entry() {
    let w = world().await;
    let token = w.token();
    w.run(&token, &[]).await;
    w.run(&token, &["--session-name", "other"]).await;
    assert_eq!(w.sts.calls(), 2);
    // Another subject (another project) never sees the first one's credentials.
    let other = w
        .issuer
        .token()
        .audience("sts.amazonaws.com")
        .subject("owner:acme:project:other:environment:production")
        .sign();
    w.run(&other, &[]).await;
    assert_eq!(w.sts.calls(), 3);
    assert_eq!(w.json_files().len(), 3);
    // A new token of the same identity reuses the entry.
    w.run(&w.token(), &[]).await;
    assert_eq!(w.sts.calls(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_near_expiry_are_never_handed_out() {
    let w = world().await;
    let token = w.token();
    let first = w.run(&token, &[]).await;
    let file = w.json_files().pop().expect("entry");
    for seconds_left in [-60, 0, 299] {
        let mut cached: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
        let expiry = std::time::SystemTime::now()
            .checked_add(Duration::from_secs(seconds_left.max(0) as u64))
            .and_then(|t| t.checked_sub(Duration::from_secs((-seconds_left).max(0) as u64)))
            .expect("time");
        cached["Expiration"] = rfc3339(expiry).into();
        std::fs::write(&file, cached.to_string()).expect("write");
        let calls = w.sts.calls();
        let again = w.run(&token, &[]).await;
        assert_eq!(w.sts.calls(), calls + 1, "{seconds_left} s left: asked STS");
        assert_ne!(again["AccessKeyId"], first["AccessKeyId"]);
    }
    // A file readable by others is ignored too.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let calls = w.sts.calls();
    w.run(&token, &[]).await;
    assert_eq!(w.sts.calls(), calls + 1);
    assert_eq!(mode(&file), 0o600, "rewritten with owner-only permissions");
    // Garbage in the file is a miss, not a failure.
    std::fs::write(&file, "{not json").expect("write");
    w.run(&token, &[]).await;
    assert_eq!(w.sts.calls(), calls + 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_runs_share_one_sts_call() {
    let w = world().await;
    let token = w.token();
    // STS answers slowly, so all runs overlap the first one's exchange.
    w.sts
        .faults()
        .next(Endpoint::Sts, 1, Fault::Delay(Duration::from_millis(800)));
    let runs: Vec<_> = (0..4).map(|_| w.command(&token, &[]).output()).collect();
    let mut outputs = Vec::new();
    for run in runs {
        outputs.push(json(&run.await.expect("runs")));
    }
    assert_eq!(
        w.sts.calls(),
        1,
        "the lock made the others wait and read the cache"
    );
    assert!(outputs.windows(2).all(|p| p[0] == p[1]));
}

fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs();
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).expect("secs"))
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}
