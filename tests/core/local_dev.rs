//! Local-dev refresh against the Vercel API emulator on 127.0.0.1, with temporary
//! home and data directories read through an `Env` (the process environment is never touched).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vercel_oidc::local_dev::{HttpFailure, LocalDevErrorKind, LocalDevRefresher, RefreshStep};
use vercel_oidc::{
    Env, Error, Lookup, OidcToken, RefreshRequest, RequestContext, TokenSource, VercelTokenSource,
};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer, VercelApi};

pub(crate) const CLI_TOKEN: &str = "vca_initial_cli_token";
pub(crate) const REFRESH_TOKEN: &str = "vcr_initial_refresh_token";
pub(crate) const PROJECT: &str = "prj_local123";
pub(crate) const TEAM: &str = "team_local456";

pub(crate) struct Fixture {
    pub(crate) tmp: tempfile::TempDir,
    pub(crate) api: VercelApi,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

impl Fixture {
    pub(crate) async fn new() -> Self {
        Self::with_api(|b| b).await
    }

    pub(crate) async fn with_api(
        configure: impl FnOnce(
            vercel_oidc_testkit::VercelApiBuilder,
        ) -> vercel_oidc_testkit::VercelApiBuilder,
    ) -> Self {
        let issuer = Arc::new(Issuer::start().await.expect("issuer"));
        let api = configure(
            VercelApi::builder(issuer)
                .access_token(CLI_TOKEN)
                .refresh_token(REFRESH_TOKEN),
        )
        .start()
        .await
        .expect("api");
        let tmp = tempfile::tempdir().expect("tempdir");
        for dir in ["home", "data/com.vercel.cli", "project/src", "bin"] {
            std::fs::create_dir_all(tmp.path().join(dir)).expect("mkdir");
        }
        Self { tmp, api }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub(crate) fn link(&self, project_json: &str) {
        std::fs::create_dir_all(self.path("project/.vercel")).expect("mkdir");
        std::fs::write(self.path("project/.vercel/project.json"), project_json).expect("write");
    }

    pub(crate) fn link_default(&self) {
        self.link(&format!(
            r#"{{"projectId":"{PROJECT}","orgId":"{TEAM}","settings":{{}}}}"#
        ));
    }

    pub(crate) fn auth_path(&self) -> PathBuf {
        self.path("data/com.vercel.cli/auth.json")
    }

    pub(crate) fn write_auth(&self, json: &str) {
        std::fs::write(self.auth_path(), json).expect("write auth.json");
    }

    pub(crate) fn valid_auth(&self) {
        self.write_auth(&format!(
            r#"{{"token":"{CLI_TOKEN}","expiresAt":{}}}"#,
            now_secs() + 3600
        ));
    }

    pub(crate) fn cache_path(&self, project: &str) -> PathBuf {
        self.path(&format!("data/com.vercel.token/{project}.json"))
    }

    /// Writes the token cache of the default project as this crate writes it (with the team
    /// and the API base it was minted for).
    pub(crate) fn write_cache(&self, token: &str) {
        std::fs::create_dir_all(self.path("data/com.vercel.token")).expect("mkdir");
        let json = serde_json::json!({
            "token": token,
            "teamId": TEAM,
            "apiUrl": self.api.base_url(),
        });
        std::fs::write(self.cache_path(PROJECT), json.to_string()).expect("write cache");
    }

    pub(crate) fn env_with(&self, extra: &[(&str, &str)]) -> Env {
        let mut pairs: Vec<(String, String)> = vec![
            ("HOME".into(), self.path("home").display().to_string()),
            (
                "XDG_DATA_HOME".into(),
                self.path("data").display().to_string(),
            ),
            ("VERCEL_OIDC_API_URL".into(), self.api.base_url()),
            ("VERCEL_OIDC_OAUTH_URL".into(), self.api.base_url()),
        ];
        for (k, v) in extra {
            pairs.retain(|(name, _)| name != k);
            pairs.push(((*k).into(), (*v).into()));
        }
        Env::from_pairs(pairs)
    }

    pub(crate) fn env(&self) -> Env {
        self.env_with(&[])
    }

    pub(crate) fn refresher(&self) -> LocalDevRefresher {
        LocalDevRefresher::builder()
            .start_dir(self.path("project/src"))
            .build()
            .expect("refresher")
    }

    pub(crate) fn source(&self, env: Env) -> VercelTokenSource {
        VercelTokenSource::builder()
            .env(env)
            .without_slot()
            .refresher(self.refresher())
            .build()
    }

    pub(crate) async fn refresh(&self, env: Env) -> Result<OidcToken, Error> {
        self.refresher().refresh(&RefreshRequest::new(env)).await
    }

    pub(crate) fn signed(&self, lifetime: Duration) -> String {
        self.api.issuer().token().lifetime(lifetime).sign()
    }

    pub(crate) fn expired(&self) -> String {
        self.api.issuer().token().expired().sign()
    }

    /// Writes a fake `vercel` executable into `bin/` that runs `body` (sh).
    #[cfg(unix)]
    pub(crate) fn fake_vercel(&self, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.path("bin/vercel");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    pub(crate) fn total_requests(&self) -> usize {
        [
            Endpoint::VercelMint,
            Endpoint::OAuthDiscovery,
            Endpoint::OAuthToken,
        ]
        .iter()
        .map(|e| self.api.requests(*e))
        .sum()
    }
}

pub(crate) fn kind(err: &Error) -> &LocalDevErrorKind {
    err.local_dev_kind()
        .unwrap_or_else(|| panic!("not a local-dev error: {err:?}"))
}

#[cfg(unix)]
pub(crate) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn valid_cached_token_is_used_without_network() {
    let f = Fixture::new().await;
    f.link_default();
    let cached = f.signed(Duration::from_secs(3600));
    std::fs::create_dir_all(f.path("data/com.vercel.token")).expect("mkdir");
    f.write_cache(&cached);
    // No auth.json at all: the cache alone must do.
    let token = f.refresh(f.env()).await.expect("cached");
    assert_eq!(token.expose_secret(), cached);
    assert_eq!(f.total_requests(), 0);
}

#[tokio::test]
async fn expired_token_is_minted_and_cached_privately() {
    let f = Fixture::new().await;
    f.link_default();
    f.valid_auth();
    let expired = f.expired();
    let source = f.source(f.env_with(&[("VERCEL_OIDC_TOKEN", &expired)]));

    let token = source.token().await.expect("refreshed");
    assert_ne!(token.expose_secret(), expired);
    let claims = token.unverified_claims();
    assert_eq!(claims.project_id.as_deref(), Some(PROJECT));
    assert_eq!(claims.owner_id.as_deref(), Some(TEAM));
    assert_eq!(f.api.requests(Endpoint::VercelMint), 1);
    assert_eq!(f.api.requests(Endpoint::OAuthToken), 0);
    let mint = &f.api.mint_requests()[0];
    assert_eq!(mint.project, PROJECT);
    assert_eq!(mint.team_id.as_deref(), Some(TEAM));
    assert_eq!(mint.source.as_deref(), Some("vercel-oidc-refresh"));
    assert!(!mint.had_body);

    let cache = std::fs::read_to_string(f.cache_path(PROJECT)).expect("cache");
    let json: serde_json::Value = serde_json::from_str(&cache).expect("json");
    assert_eq!(json["token"], token.expose_secret());
    #[cfg(unix)]
    {
        assert_eq!(mode(&f.cache_path(PROJECT)), 0o600);
        assert_eq!(mode(&f.path("data/com.vercel.token")), 0o700);
    }
    // No stray temporary files.
    let names: Vec<String> = std::fs::read_dir(f.path("data/com.vercel.token"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n == "prj_local123.json" || n == ".refresh.lock"),
        "{names:?}"
    );

    // The env token is still expired: the cache answers, no second mint.
    let again = source.token().await.expect("cached");
    assert_eq!(again.expose_secret(), token.expose_secret());
    assert_eq!(f.api.requests(Endpoint::VercelMint), 1);
}

#[tokio::test]
async fn options_override_project_json_and_expired_cache_is_replaced() {
    let f = Fixture::new().await;
    f.link(r#"{"projectId":"prj_from_file","orgId":"team_from_file"}"#);
    f.valid_auth();
    std::fs::create_dir_all(f.path("data/com.vercel.token")).expect("mkdir");
    std::fs::write(
        f.cache_path("prj_other"),
        format!(r#"{{"token":"{}"}}"#, f.expired()),
    )
    .expect("write");
    let request = RefreshRequest::new(f.env()).project("prj_other");
    let token = f.refresher().refresh(&request).await.expect("minted");
    let mint = &f.api.mint_requests()[0];
    assert_eq!(mint.project, "prj_other");
    assert_eq!(
        mint.team_id.as_deref(),
        Some("team_from_file"),
        "team filled in"
    );
    let cache = std::fs::read_to_string(f.cache_path("prj_other")).expect("cache");
    assert!(cache.contains(token.expose_secret()));

    // Both given: no project.json needed at all.
    let g = Fixture::new().await;
    g.valid_auth();
    let request = RefreshRequest::new(g.env()).project("prj_x").team("team_y");
    g.refresher().refresh(&request).await.expect("minted");
    let mint = &g.api.mint_requests()[0];
    assert_eq!(
        (mint.project.as_str(), mint.team_id.as_deref()),
        ("prj_x", Some("team_y"))
    );
}

#[tokio::test]
async fn expired_cli_token_is_renewed_through_oauth_then_minted() {
    let f = Fixture::new().await;
    f.link_default();
    f.write_auth(&format!(
        "\u{feff}{{\"// Note\":\"This is your Vercel credentials file. DO NOT SHARE!\",\
         \"token\":\"vca_stale\",\"expiresAt\":{},\"refreshToken\":\"{REFRESH_TOKEN}\",\
         \"userId\":\"user_1\"}}",
        now_secs() - 10
    ));
    let token = f.refresh(f.env()).await.expect("refreshed");
    assert!(!token.is_expired_within(Duration::from_secs(3600)));
    assert_eq!(f.api.requests(Endpoint::OAuthDiscovery), 1);
    assert_eq!(f.api.requests(Endpoint::OAuthToken), 1);
    assert_eq!(f.api.requests(Endpoint::VercelMint), 1);

    let auth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.auth_path()).expect("read")).expect("json");
    assert_eq!(auth["token"], f.api.latest_access_token().expect("issued"));
    assert_eq!(
        auth["refreshToken"],
        f.api.latest_refresh_token().expect("rotated")
    );
    assert_eq!(
        auth["// Note"],
        "This is your Vercel credentials file. DO NOT SHARE!"
    );
    assert_eq!(auth["userId"], "user_1");
    let expires = auth["expiresAt"].as_u64().expect("number");
    assert!(expires >= now_secs() + 3000, "{expires}");
    #[cfg(unix)]
    assert_eq!(mode(&f.auth_path()), 0o600);
}

#[tokio::test]
async fn refresh_without_rotation_keeps_the_old_refresh_token() {
    let f = Fixture::with_api(|b| b.rotate_refresh_tokens(false)).await;
    f.link_default();
    f.write_auth(&format!(
        r#"{{"token":"vca_stale","expiresAt":1,"refreshToken":"{REFRESH_TOKEN}"}}"#
    ));
    f.refresh(f.env()).await.expect("refreshed");
    let auth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.auth_path()).expect("read")).expect("json");
    assert_eq!(auth["refreshToken"], REFRESH_TOKEN);
    assert_eq!(auth["token"], f.api.latest_access_token().expect("issued"));
}

#[tokio::test]
async fn failed_oauth_never_touches_auth_json() {
    type Case = (Endpoint, Fault, RefreshStep, fn(&HttpFailure) -> bool);
    let cases: Vec<Case> = vec![
        (
            Endpoint::OAuthToken,
            Fault::Status(500),
            RefreshStep::OAuthToken,
            |f| matches!(f, HttpFailure::Status { status: 500, .. }),
        ),
        (
            Endpoint::OAuthToken,
            Fault::Garbage,
            RefreshStep::OAuthToken,
            |f| *f == HttpFailure::InvalidResponse,
        ),
        (
            Endpoint::OAuthToken,
            Fault::Truncated,
            RefreshStep::OAuthToken,
            |f| *f == HttpFailure::InvalidResponse,
        ),
        (
            Endpoint::OAuthToken,
            Fault::Drop,
            RefreshStep::OAuthToken,
            |f| *f == HttpFailure::Transport,
        ),
        (
            Endpoint::OAuthDiscovery,
            Fault::Status(503),
            RefreshStep::OAuthDiscovery,
            |f| matches!(f, HttpFailure::Status { status: 503, .. }),
        ),
        (
            Endpoint::OAuthDiscovery,
            Fault::Garbage,
            RefreshStep::OAuthDiscovery,
            |f| *f == HttpFailure::InvalidResponse,
        ),
    ];
    for (endpoint, fault, step, failure) in cases {
        let f = Fixture::new().await;
        f.link_default();
        let original = format!(
            "{{\"token\":\"vca_stale\",\"expiresAt\":1,\"refreshToken\":\"{REFRESH_TOKEN}\",\"x\":[1,2]}}\n"
        );
        f.write_auth(&original);
        f.api.faults().always(endpoint, fault.clone());
        let err = f.refresh(f.env()).await.expect_err("oauth fails");
        match kind(&err) {
            LocalDevErrorKind::Http {
                step: s,
                failure: got,
            } => {
                assert_eq!(*s, step, "{fault:?}");
                assert!(failure(got), "{fault:?}: {got:?}");
            }
            other => panic!("{fault:?}: unexpected {other:?}"),
        }
        assert_eq!(
            std::fs::read_to_string(f.auth_path()).expect("still there"),
            original,
            "{fault:?}"
        );
        assert_eq!(f.api.requests(Endpoint::VercelMint), 0);
        assert!(!f.cache_path(PROJECT).exists());
    }

    // A revoked refresh token: invalid_grant, with a `vercel login` hint; file untouched.
    let f = Fixture::new().await;
    f.link_default();
    let original = r#"{"token":"vca_stale","expiresAt":1,"refreshToken":"vcr_revoked"}"#;
    f.write_auth(original);
    let err = f.refresh(f.env()).await.expect_err("invalid grant");
    assert!(matches!(
        kind(&err),
        LocalDevErrorKind::Http {
            step: RefreshStep::OAuthToken,
            failure: HttpFailure::Status { status: 400, error: Some(e) }
        } if e == "invalid_grant"
    ));
    assert!(err.to_string().contains("vercel login"), "{err}");
    assert!(!err.to_string().contains("vcr_revoked"));
    assert_eq!(
        std::fs::read_to_string(f.auth_path()).expect("read"),
        original
    );
}

#[tokio::test]
async fn every_error_case_is_typed() {
    let f = Fixture::new().await;
    // Not linked (the temp dir has no .vercel above it).
    let err = f.refresh(f.env()).await.expect_err("not linked");
    assert!(
        matches!(kind(&err), LocalDevErrorKind::NotLinked { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("vercel link"), "{err}");
    assert!(err.is_not_configured());
    // Through the chain: nothing found, not linked → still "not configured".
    let chain = f.source(f.env()).token().await.expect_err("none");
    assert!(matches!(
        chain,
        Error::Unavailable {
            lookup: Lookup::NotFound,
            ..
        }
    ));
    assert!(chain.is_not_configured());

    // .vercel without project.json.
    std::fs::create_dir_all(f.path("project/.vercel")).expect("mkdir");
    let err = f.refresh(f.env()).await.expect_err("missing");
    assert!(matches!(
        kind(&err),
        LocalDevErrorKind::ProjectFileMissing { .. }
    ));
    assert!(err.to_string().contains("vercel link"));
    assert!(!err.is_not_configured());

    f.link("not json");
    let err = f.refresh(f.env()).await.expect_err("invalid");
    assert!(matches!(
        kind(&err),
        LocalDevErrorKind::ProjectFileInvalid { .. }
    ));

    f.link(r#"{"orgId":"team_1"}"#);
    let err = f.refresh(f.env()).await.expect_err("no id");
    assert!(matches!(
        kind(&err),
        LocalDevErrorKind::NoProjectId { path: Some(_) }
    ));
    assert!(err.to_string().contains("vercel link"));

    f.link(r#"{"projectId":"../../etc/passwd","orgId":"team_1"}"#);
    let err = f.refresh(f.env()).await.expect_err("bad id");
    assert!(matches!(
        kind(&err),
        LocalDevErrorKind::InvalidId {
            what: "project",
            ..
        }
    ));
    f.link(r#"{"projectId":"prj_1","orgId":"--help"}"#);
    let err = f.refresh(f.env()).await.expect_err("bad team");
    assert!(matches!(
        kind(&err),
        LocalDevErrorKind::InvalidId { what: "team", .. }
    ));

    f.link_default();
    let no_home = Env::from_pairs([("VERCEL_OIDC_API_URL", f.api.base_url())]);
    let err = f.refresh(no_home).await.expect_err("no home");
    assert_eq!(kind(&err), &LocalDevErrorKind::NoHomeDir);

    let err = f.refresh(f.env()).await.expect_err("no auth.json");
    assert!(matches!(kind(&err), LocalDevErrorKind::NotLoggedIn { .. }));
    assert!(err.to_string().contains("vercel login"));
    f.write_auth("{}");
    let err = f.refresh(f.env()).await.expect_err("empty auth.json");
    assert!(matches!(kind(&err), LocalDevErrorKind::NotLoggedIn { .. }));
    f.write_auth("{garbage");
    let err = f.refresh(f.env()).await.expect_err("garbage auth.json");
    assert!(matches!(
        kind(&err),
        LocalDevErrorKind::AuthFileInvalid { .. }
    ));
    assert_eq!(
        std::fs::read_to_string(f.auth_path()).expect("kept"),
        "{garbage"
    );
    f.write_auth(r#"{"token":"vca_stale","expiresAt":1}"#);
    let err = f.refresh(f.env()).await.expect_err("no refresh token");
    assert!(matches!(
        kind(&err),
        LocalDevErrorKind::NoRefreshToken { .. }
    ));
    assert_eq!(
        std::fs::read_to_string(f.auth_path()).expect("kept"),
        r#"{"token":"vca_stale","expiresAt":1}"#
    );

    let bad_storage = f.env_with(&[("VERCEL_TOKEN_STORAGE", "vault")]);
    let err = f.refresh(bad_storage).await.expect_err("storage");
    assert!(matches!(
        kind(&err),
        LocalDevErrorKind::InvalidCredStorage { .. }
    ));

    // The mint endpoint rejects the CLI token, fails, or answers garbage.
    f.write_auth(r#"{"token":"vca_unknown"}"#);
    let err = f.refresh(f.env()).await.expect_err("403");
    assert!(matches!(
        kind(&err),
        LocalDevErrorKind::Http {
            step: RefreshStep::Mint,
            failure: HttpFailure::Status { status: 403, .. }
        }
    ));
    assert!(err.to_string().contains("vercel login"));
    assert!(!err.to_string().contains("vca_unknown"));
    f.valid_auth();
    f.api
        .faults()
        .next(Endpoint::VercelMint, 1, Fault::Status(502));
    let err = f.refresh(f.env()).await.expect_err("502");
    assert!(err.is_transient());
    f.api.faults().next(Endpoint::VercelMint, 1, Fault::Garbage);
    let err = f.refresh(f.env()).await.expect_err("garbage");
    assert!(matches!(
        kind(&err),
        LocalDevErrorKind::Http {
            step: RefreshStep::Mint,
            failure: HttpFailure::InvalidResponse
        }
    ));
    assert!(!f.cache_path(PROJECT).exists());

    // An API base that does not answer.
    let dead = f.env_with(&[("VERCEL_OIDC_API_URL", "http://127.0.0.1:9")]);
    let err = f.refresh(dead).await.expect_err("refused");
    assert!(matches!(
        kind(&err),
        LocalDevErrorKind::Http {
            step: RefreshStep::Mint,
            failure: HttpFailure::Transport
        }
    ));
    // And finally it works.
    f.refresh(f.env()).await.expect("ok");
}

#[cfg(unix)]
#[tokio::test]
async fn keyring_mode_runs_the_vercel_cli() {
    let f = Fixture::new().await;
    f.link_default();
    let minted = f.signed(Duration::from_secs(3600));
    let args_file = f.path("args.txt");
    f.fake_vercel(&format!(
        "printf '%s\\n' \"$@\" > '{}'\nprintf '{{\"token\":\"%s\"}}' '{minted}'",
        args_file.display()
    ));
    let bin = f.path("bin").display().to_string();
    let env = f.env_with(&[("PATH", &bin), ("VERCEL_TOKEN_STORAGE", "keyring")]);
    let token = f.refresh(env.clone()).await.expect("from the CLI");
    assert_eq!(token.expose_secret(), minted);
    let args = std::fs::read_to_string(&args_file).expect("args");
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "project",
            "token",
            PROJECT,
            "--format=json",
            "--scope",
            TEAM
        ]
    );
    assert_eq!(f.total_requests(), 0, "no HTTP in keyring mode");
    assert!(
        std::fs::read_to_string(f.cache_path(PROJECT))
            .expect("cache")
            .contains(&minted)
    );

    // DPoP flag works the same; the explicit executable path is honoured.
    std::fs::remove_file(f.cache_path(PROJECT)).expect("rm");
    let dpop = f.env_with(&[("__VERCEL_FF_DPOP", "1")]);
    let refresher = LocalDevRefresher::builder()
        .start_dir(f.path("project"))
        .vercel_executable(f.path("bin/vercel"))
        .build()
        .expect("refresher");
    let token = refresher
        .refresh(&RefreshRequest::new(dpop))
        .await
        .expect("dpop");
    assert_eq!(token.expose_secret(), minted);

    // Failures of the CLI are typed.
    std::fs::remove_file(f.cache_path(PROJECT)).expect("rm");
    f.fake_vercel("echo 'Error: not logged in' >&2\nexit 3");
    let err = f.refresh(env.clone()).await.expect_err("exit 3");
    assert_eq!(kind(&err), &LocalDevErrorKind::CliFailed { code: Some(3) });
    f.fake_vercel("echo 'hello'");
    let err = f.refresh(env.clone()).await.expect_err("not json");
    assert_eq!(kind(&err), &LocalDevErrorKind::CliInvalidOutput);
    let empty = f.path("home").display().to_string();
    let err = f
        .refresh(f.env_with(&[("PATH", &empty), ("VERCEL_TOKEN_STORAGE", "keyring")]))
        .await
        .expect_err("not found");
    assert_eq!(kind(&err), &LocalDevErrorKind::CliNotFound);
}

#[cfg(target_os = "linux")]
#[tokio::test(start_paused = true)]
async fn hanging_cli_is_killed_at_the_timeout() {
    let f = Fixture::new().await;
    f.link_default();
    // A unique argument lets us find the process if it survived.
    let marker = format!("30.{}", std::process::id());
    f.fake_vercel(&format!("exec sleep {marker}"));
    let bin = format!("{}:/usr/bin:/bin", f.path("bin").display());
    let env = f.env_with(&[("PATH", &bin), ("VERCEL_TOKEN_STORAGE", "keyring")]);
    let refresher = LocalDevRefresher::builder()
        .start_dir(f.path("project"))
        .cli_timeout(Duration::from_secs(5))
        .build()
        .expect("refresher");
    let err = refresher
        .refresh(&RefreshRequest::new(env))
        .await
        .expect_err("times out");
    assert_eq!(
        kind(&err),
        &LocalDevErrorKind::CliTimedOut {
            after: Duration::from_secs(5)
        }
    );
    assert!(err.is_transient());
    // Killed and reaped: no process with our marker is left.
    std::thread::sleep(Duration::from_millis(5));
    let survivors = std::fs::read_dir("/proc")
        .expect("proc")
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|cmd| String::from_utf8_lossy(cmd).contains(&marker))
        .count();
    assert_eq!(survivors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_callers_cause_one_mint() {
    let f = Fixture::new().await;
    f.link_default();
    f.valid_auth();
    let expired = f.expired();
    let source = Arc::new(f.source(f.env_with(&[("VERCEL_OIDC_TOKEN", &expired)])));
    // Slow the mint down so that every caller arrives while it is in flight.
    f.api.faults().next(
        Endpoint::VercelMint,
        1,
        Fault::Delay(Duration::from_millis(50)),
    );
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let source = Arc::clone(&source);
            tokio::spawn(async move { source.token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.expect("join").expect("token"));
    }
    assert!(tokens.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(f.api.requests(Endpoint::VercelMint), 1);
}

#[tokio::test]
async fn expired_header_token_plus_refresh_returns_the_refreshed_token() {
    let f = Fixture::new().await;
    f.link_default();
    f.valid_auth();
    let expired = OidcToken::parse(f.expired()).expect("valid");
    let source = f.source(f.env());
    let token = RequestContext::with_token(expired.clone())
        .scope(source.token())
        .await
        .expect("refreshed");
    assert_ne!(token, expired);
    assert!(!token.is_expired_within(Duration::from_secs(60)));
    assert_eq!(f.api.requests(Endpoint::VercelMint), 1);
}

#[tokio::test(start_paused = true)]
async fn a_refresh_by_another_process_is_picked_up_after_the_lock() {
    let f = Fixture::new().await;
    f.link_default();
    f.valid_auth();
    let dir = f.path("data/com.vercel.token");
    std::fs::create_dir_all(&dir).expect("mkdir");
    // "Another process" holds the lock (flock conflicts across open file descriptions).
    let lock = std::fs::File::create(dir.join(".refresh.lock")).expect("lock file");
    fs4::FileExt::lock(&lock).expect("lock");
    let refresher = f.refresher();
    let env = f.env();
    let request = RefreshRequest::new(env);
    let waiting = refresher.refresh(&request);
    let other = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let fresh = f.signed(Duration::from_secs(3600));
        f.write_cache(&fresh);
        fs4::FileExt::unlock(&lock).expect("unlock");
        fresh
    };
    let (got, fresh) = tokio::join!(waiting, other);
    assert_eq!(got.expect("token").expose_secret(), fresh);
    assert_eq!(f.api.requests(Endpoint::VercelMint), 0);
}

#[tokio::test(start_paused = true)]
async fn a_lock_held_too_long_is_a_typed_timeout() {
    let f = Fixture::new().await;
    f.link_default();
    f.valid_auth();
    let dir = f.path("data/com.vercel.token");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let lock = std::fs::File::create(dir.join(".refresh.lock")).expect("lock file");
    fs4::FileExt::lock(&lock).expect("lock");
    let refresher = LocalDevRefresher::builder()
        .start_dir(f.path("project"))
        .lock_timeout(Duration::from_secs(3))
        .build()
        .expect("refresher");
    let err = refresher
        .refresh(&RefreshRequest::new(f.env()))
        .await
        .expect_err("timeout");
    assert!(matches!(kind(&err), LocalDevErrorKind::LockTimedOut { .. }));
}

/// Child mode of `sigkill_mid_refresh_never_corrupts_files`: refreshes in a loop (the buffer is
/// longer than any lifetime, so each round renews the CLI login and mints) until killed.
#[tokio::test]
#[ignore = "child process of sigkill_mid_refresh_never_corrupts_files"]
async fn sigkill_child_entry() {
    if std::env::var_os("VERCEL_OIDC_SIGKILL_CHILD").is_none() {
        return;
    }
    let refresher = LocalDevRefresher::builder().build().expect("refresher");
    let request = RefreshRequest::new(Env::real()).expiration_buffer(Duration::from_secs(86_400));
    for _ in 0..10_000 {
        refresher.refresh(&request).await.expect("refresh in child");
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_refresh_never_corrupts_files() {
    let f = Fixture::with_api(|b| b.rotate_refresh_tokens(false)).await;
    f.link_default();
    f.write_auth(&format!(
        r#"{{"token":"vca_stale","expiresAt":1,"refreshToken":"{REFRESH_TOKEN}","keep":"me"}}"#
    ));
    let exe = std::env::current_exe().expect("test binary");
    for round in 0..20u64 {
        let before = f.api.requests(Endpoint::OAuthToken);
        let mut child = tokio::process::Command::new(&exe)
            .args([
                "local_dev::sigkill_child_entry",
                "--exact",
                "--ignored",
                "--test-threads=1",
                "-q",
            ])
            .env_clear()
            .env("VERCEL_OIDC_SIGKILL_CHILD", "1")
            .env("HOME", f.path("home"))
            .env("XDG_DATA_HOME", f.path("data"))
            .env("VERCEL_OIDC_API_URL", f.api.base_url())
            .env("VERCEL_OIDC_OAUTH_URL", f.api.base_url())
            .current_dir(f.path("project/src"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn child");
        // Kill after a varying number of completed OAuth grants (0–3) plus a varying number of
        // mint requests, so the kill lands at different points of the write sequence.
        let target = before + (round % 4) as usize;
        let mint_target = f.api.requests(Endpoint::VercelMint) + (round % 3) as usize;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while (f.api.requests(Endpoint::OAuthToken) < target
            || f.api.requests(Endpoint::VercelMint) < mint_target)
            && tokio::time::Instant::now() < deadline
        {
            if child.try_wait().expect("try_wait").is_some() {
                panic!("child exited on its own in round {round}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        child.start_kill().expect("SIGKILL");
        child.wait().await.expect("reaped");

        let auth: serde_json::Value =
            serde_json::from_slice(&std::fs::read(f.auth_path()).expect("auth.json exists"))
                .unwrap_or_else(|e| panic!("round {round}: auth.json does not parse: {e}"));
        assert!(auth["token"].is_string(), "round {round}");
        assert_eq!(auth["refreshToken"], REFRESH_TOKEN, "round {round}");
        assert_eq!(auth["keep"], "me", "round {round}");
        if let Ok(cache) = std::fs::read(f.cache_path(PROJECT)) {
            let cache: serde_json::Value = serde_json::from_slice(&cache)
                .unwrap_or_else(|e| panic!("round {round}: cache does not parse: {e}"));
            OidcToken::parse(cache["token"].as_str().expect("string token")).expect("a JWT");
        }
    }
    assert!(f.api.requests(Endpoint::OAuthToken) > 0);
}
