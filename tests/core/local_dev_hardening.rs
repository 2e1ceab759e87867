//! Local-dev refresh under hostile files and answers (issue 19): bounded reads of files and
//! bodies, a cache per team and API, the discovered OAuth endpoint under the URL policy, a
//! login file that cannot be written, an expired mint, the CLI's process group and a cancelled
//! refresh. Same fixture as `local_dev`: the Vercel API emulator on 127.0.0.1, temporary
//! directories read through an `Env`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vercel_oidc::local_dev::{HttpFailure, LocalDevErrorKind, LocalDevRefresher, RefreshStep};
use vercel_oidc::{Env, Error, OidcToken, RefreshRequest};
use vercel_oidc_testkit::Endpoint;

use crate::local_dev::{CLI_TOKEN, Fixture, PROJECT, REFRESH_TOKEN, TEAM, kind};

/// Runs `fut` on a thread of its own (with its own runtime) and fails when it does not finish
/// within 10 s: a blocking read of a FIFO or of `/dev/zero` must fail the test, not hang it.
fn on_thread<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _ = tx.send(runtime.block_on(fut));
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the refresh blocked on a file")
}

/// A refresh on its own thread (see [`on_thread`]).
fn refresh_on_thread(f: &Fixture, env: Env) -> Result<OidcToken, Error> {
    let refresher = f.refresher();
    on_thread(async move { refresher.refresh(&RefreshRequest::new(env)).await })
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A JSON object a little over 1 MiB whose other fields are valid.
fn oversized_json(fields: &str) -> String {
    format!(r#"{{{fields},"pad":"{}"}}"#, "x".repeat(1024 * 1024 + 16))
}

/// Polls `done` every 10 ms for at most 10 s (real time: another process or the emulator is
/// involved).
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 10 s: {what}");
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_json_that_is_a_device_a_fifo_or_huge_is_invalid_at_once() {
    let f = Fixture::new().await;
    f.valid_auth();
    let dir = f.path("project/.vercel");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let project = dir.join("project.json");

    // A repository can commit `.vercel/project.json -> /dev/zero`.
    std::os::unix::fs::symlink("/dev/zero", &project).expect("symlink");
    let err = refresh_on_thread(&f, f.env()).expect_err("/dev/zero");
    assert!(
        matches!(kind(&err), LocalDevErrorKind::ProjectFileInvalid { path } if *path == project),
        "{err:?}"
    );
    std::fs::remove_file(&project).expect("rm");

    mkfifo(&project);
    let err = refresh_on_thread(&f, f.env()).expect_err("FIFO");
    assert!(
        matches!(kind(&err), LocalDevErrorKind::ProjectFileInvalid { .. }),
        "{err:?}"
    );
    std::fs::remove_file(&project).expect("rm");

    std::fs::write(
        &project,
        oversized_json(&format!(r#""projectId":"{PROJECT}","orgId":"{TEAM}""#)),
    )
    .expect("write");
    let err = refresh_on_thread(&f, f.env()).expect_err("over 1 MiB");
    assert!(
        matches!(kind(&err), LocalDevErrorKind::ProjectFileInvalid { .. }),
        "{err:?}"
    );
    assert_eq!(f.total_requests(), 0);
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_config_and_cache_files_that_are_fifos_or_huge_are_refused_at_once() {
    let f = Fixture::new().await;
    f.link_default();

    // auth.json: a FIFO, or over 1 MiB, is an invalid login file (and is left as it is).
    mkfifo(&f.auth_path());
    let err = refresh_on_thread(&f, f.env()).expect_err("FIFO auth.json");
    assert!(
        matches!(kind(&err), LocalDevErrorKind::AuthFileInvalid { .. }),
        "{err:?}"
    );
    std::fs::remove_file(f.auth_path()).expect("rm");
    let huge = oversized_json(&format!(r#""token":"{CLI_TOKEN}""#));
    f.write_auth(&huge);
    let err = refresh_on_thread(&f, f.env()).expect_err("huge auth.json");
    assert!(
        matches!(kind(&err), LocalDevErrorKind::AuthFileInvalid { .. }),
        "{err:?}"
    );
    assert_eq!(std::fs::read_to_string(f.auth_path()).expect("kept"), huge);
    assert_eq!(f.total_requests(), 0);

    // config.json as a FIFO is no setting (file storage), and a FIFO cache is no cache: the
    // refresh works and replaces the FIFO with a regular, private cache file.
    f.valid_auth();
    mkfifo(&f.path("data/com.vercel.cli/config.json"));
    std::fs::create_dir_all(f.path("data/com.vercel.token")).expect("mkdir");
    mkfifo(&f.cache_path(PROJECT));
    let token = refresh_on_thread(&f, f.env()).expect("minted");
    assert_eq!(f.api.requests(Endpoint::VercelMint), 1);
    let cache = std::fs::read_to_string(f.cache_path(PROJECT)).expect("a regular file now");
    assert!(cache.contains(token.expose_secret()));
}

/// A server on 127.0.0.1 that answers every request with `200 OK`, a `Content-Length` of 1 GiB
/// and the first byte of the body, then holds the connection open.
fn huge_body_server() -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                      Content-Length: 1073741824\r\n\r\n{",
                );
                // Hold the connection: a client that waits for the body waits until its timeout.
                let _ = conn.read(&mut buf);
                std::thread::sleep(Duration::from_secs(60));
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_response_bodies_are_refused_without_reading_them() {
    let huge = huge_body_server();
    let expect_refused = |err: &Error, step: RefreshStep| {
        assert!(
            matches!(
                kind(err),
                LocalDevErrorKind::Http { step: s, failure: HttpFailure::InvalidResponse } if *s == step
            ),
            "{step}: {err:?}"
        );
    };
    let bounded = |f: &Fixture, env: Env| {
        let refresher = f.refresher();
        async move {
            tokio::time::timeout(
                Duration::from_secs(10),
                refresher.refresh(&RefreshRequest::new(env)),
            )
            .await
            .expect("refused at once, not after the client timeout")
        }
    };

    // The mint answer.
    let f = Fixture::new().await;
    f.link_default();
    f.valid_auth();
    let err = bounded(&f, f.env_with(&[("VERCEL_OIDC_API_URL", &huge)]))
        .await
        .expect_err("mint");
    expect_refused(&err, RefreshStep::Mint);

    // The OAuth discovery document.
    let stale =
        format!(r#"{{"token":"vca_stale","expiresAt":1,"refreshToken":"{REFRESH_TOKEN}"}}"#);
    f.write_auth(&stale);
    let err = bounded(&f, f.env_with(&[("VERCEL_OIDC_OAUTH_URL", &huge)]))
        .await
        .expect_err("discovery");
    expect_refused(&err, RefreshStep::OAuthDiscovery);

    // The token endpoint the discovery names.
    f.api
        .set_discovered_token_endpoint(Some(format!("{huge}/login/oauth/token")));
    let err = bounded(&f, f.env()).await.expect_err("token endpoint");
    expect_refused(&err, RefreshStep::OAuthToken);
    assert_eq!(std::fs::read_to_string(f.auth_path()).expect("kept"), stale);
    assert!(!f.cache_path(PROJECT).exists());
}

fn owner(token: &OidcToken) -> Option<String> {
    token.unverified_claims().owner_id.clone()
}

#[tokio::test]
async fn the_token_cache_is_per_team_and_per_api() {
    let f = Fixture::new().await;
    f.link_default();
    f.valid_auth();
    let refresher = f.refresher();
    let for_team = |team: &str| RefreshRequest::new(f.env()).team(team);

    let a = refresher
        .refresh(&for_team("team_a"))
        .await
        .expect("team A");
    assert_eq!(owner(&a).as_deref(), Some("team_a"));
    let b = refresher
        .refresh(&for_team("team_b"))
        .await
        .expect("team B");
    assert_eq!(
        owner(&b).as_deref(),
        Some("team_b"),
        "team A's token for team B"
    );
    assert_eq!(f.api.requests(Endpoint::VercelMint), 2);
    // The cache keeps the file name `@vercel/oidc` shares, and records the team and the API.
    let cache: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.cache_path(PROJECT)).expect("cache"))
            .expect("json");
    assert_eq!(cache["token"], b.expose_secret());
    assert_eq!(cache["teamId"], "team_b");
    assert_eq!(cache["apiUrl"], f.api.base_url());
    // Same team again: cached. Back to team A: a miss.
    let again = refresher
        .refresh(&for_team("team_b"))
        .await
        .expect("cached");
    assert_eq!(again, b);
    assert_eq!(f.api.requests(Endpoint::VercelMint), 2);
    let a2 = refresher
        .refresh(&for_team("team_a"))
        .await
        .expect("team A");
    assert_eq!(owner(&a2).as_deref(), Some("team_a"));
    assert_eq!(f.api.requests(Endpoint::VercelMint), 3);

    // Another API base (same project, same team): a miss, minted there.
    let other = Fixture::new().await;
    let env = f.env_with(&[("VERCEL_OIDC_API_URL", &other.api.base_url())]);
    let token = refresher
        .refresh(&RefreshRequest::new(env).team("team_a"))
        .await
        .expect("other API");
    assert_ne!(token, a2);
    assert_eq!(other.api.requests(Endpoint::VercelMint), 1);
    assert_eq!(f.api.requests(Endpoint::VercelMint), 3);
}

#[tokio::test]
async fn a_cache_written_by_the_npm_package_is_used_only_when_it_fits() {
    let f = Fixture::new().await;
    f.link_default();
    // No auth.json: a miss fails with "not logged in" before any request.
    std::fs::create_dir_all(f.path("data/com.vercel.token")).expect("mkdir");
    let cached = f
        .api
        .issuer()
        .token()
        .claim("owner_id", TEAM)
        .lifetime(Duration::from_secs(3600))
        .sign();
    std::fs::write(f.cache_path(PROJECT), format!(r#"{{"token":"{cached}"}}"#)).expect("write");
    // `@vercel/oidc` always mints at the default API.
    let default_api = Env::from_pairs([
        ("HOME", f.path("home").display().to_string()),
        ("XDG_DATA_HOME", f.path("data").display().to_string()),
    ]);
    let token = f
        .refresher()
        .refresh(&RefreshRequest::new(default_api.clone()))
        .await
        .expect("the npm cache fits: same team (owner_id), default API");
    assert_eq!(token.expose_secret(), cached);
    let err = f
        .refresher()
        .refresh(&RefreshRequest::new(default_api).team("team_other"))
        .await
        .expect_err("another team");
    assert!(
        matches!(kind(&err), LocalDevErrorKind::NotLoggedIn { .. }),
        "{err:?}"
    );
    let err = f.refresh(f.env()).await.expect_err("another API");
    assert!(
        matches!(kind(&err), LocalDevErrorKind::NotLoggedIn { .. }),
        "{err:?}"
    );
    assert_eq!(f.total_requests(), 0);
}

#[tokio::test]
async fn a_discovered_token_endpoint_must_pass_the_url_policy() {
    let f = Fixture::new().await;
    f.link_default();
    let stale =
        format!(r#"{{"token":"vca_stale","expiresAt":1,"refreshToken":"{REFRESH_TOKEN}"}}"#);
    let port = f.api.local_addr().port();
    for endpoint in [
        // Plain http to a host that is not loopback (0.0.0.0 reaches this machine on Linux:
        // without the check, the refresh token would really be sent).
        format!("http://0.0.0.0:{port}/login/oauth/token"),
        // Credentials, a query or a fragment in the endpoint.
        format!("http://user:pw@127.0.0.1:{port}/login/oauth/token"),
        format!("http://127.0.0.1:{port}/login/oauth/token?x=1"),
        format!("http://127.0.0.1:{port}/login/oauth/token#f"),
        "ftp://127.0.0.1/token".to_owned(),
    ] {
        f.write_auth(&stale);
        f.api.set_discovered_token_endpoint(Some(endpoint.clone()));
        let err = f.refresh(f.env()).await.expect_err("refused");
        assert!(
            matches!(
                kind(&err),
                LocalDevErrorKind::Http {
                    step: RefreshStep::OAuthDiscovery,
                    failure: HttpFailure::InvalidResponse
                }
            ),
            "{endpoint}: {err:?}"
        );
        assert!(!err.to_string().contains("pw"), "{err}");
        assert_eq!(f.api.requests(Endpoint::OAuthToken), 0, "{endpoint}");
        assert_eq!(std::fs::read_to_string(f.auth_path()).expect("kept"), stale);
    }
    // The emulator's own loopback endpoint is fine.
    f.api.set_discovered_token_endpoint(None);
    f.refresh(f.env()).await.expect("refreshed");
    assert_eq!(f.api.requests(Endpoint::OAuthToken), 1);
}

/// A directory whose path is so long that `auth.json` in it can be read but no sibling
/// (`.auth.json.XXXXXX`, the atomic write's temporary file) can be created: `ENAMETOOLONG`,
/// which stops root as well as anyone (permission bits do not).
#[cfg(target_os = "linux")]
fn unwritable_dir(base: &Path) -> PathBuf {
    const PATH_MAX: usize = 4096;
    let mut dir = base.to_path_buf();
    // auth.json's path stays below PATH_MAX, the temporary file's (8 bytes longer) does not.
    let target_len = PATH_MAX - 1 - "/auth.json".len() - 4;
    while dir.as_os_str().len() < target_len {
        let room = target_len - dir.as_os_str().len() - 1;
        dir.push("d".repeat(room.clamp(1, 200)));
    }
    std::fs::create_dir_all(&dir).expect("deep dir");
    dir
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_login_file_that_cannot_be_written_costs_no_refresh_token() {
    let f = Fixture::new().await;
    f.link_default();
    let real = unwritable_dir(&f.path("dotfiles")).join("auth.json");
    let stale = format!(
        r#"{{"token":"vca_stale","expiresAt":1,"refreshToken":"{REFRESH_TOKEN}","keep":1}}"#
    );
    std::fs::write(&real, &stale).expect("write deep auth.json");
    // A dotfile manager's symlink: the write goes to the real file's directory.
    std::os::unix::fs::symlink(&real, f.auth_path()).expect("symlink");

    let err = f.refresh(f.env()).await.expect_err("cannot write");
    assert!(
        matches!(
            kind(&err),
            LocalDevErrorKind::Io {
                action: "update",
                ..
            }
        ),
        "{err:?}"
    );
    // The grant was never made: the (rotating) server did not revoke the refresh token.
    assert_eq!(f.api.requests(Endpoint::OAuthToken), 0);
    assert_eq!(f.api.latest_refresh_token(), None);
    assert_eq!(std::fs::read_to_string(&real).expect("kept"), stale);
}

#[tokio::test]
async fn an_expired_minted_token_is_an_error_and_never_cached() {
    let f = Fixture::new().await;
    f.link_default();
    f.valid_auth();
    f.api.set_token_lifetime(Duration::ZERO);
    for round in 1..=2 {
        let err = f.refresh(f.env()).await.expect_err("expired on arrival");
        assert!(
            matches!(
                kind(&err),
                LocalDevErrorKind::Http {
                    step: RefreshStep::Mint,
                    failure: HttpFailure::InvalidResponse
                }
            ),
            "{err:?}"
        );
        assert!(!f.cache_path(PROJECT).exists(), "round {round}");
        assert_eq!(f.api.requests(Endpoint::VercelMint), round);
    }
    f.api.set_token_lifetime(Duration::from_secs(3600));
    let token = f.refresh(f.env()).await.expect("a live token");
    assert!(!token.is_expired_within(Duration::from_secs(60)));
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet: it runs no more).
#[cfg(target_os = "linux")]
fn process_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // `pid (comm) S ...`: the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_cli_is_killed_with_everything_it_started() {
    let f = Fixture::new().await;
    f.link_default();
    let pid_file = f.path("grandchild.pid");
    f.fake_vercel(&format!(
        "sleep 300 &\necho $! > '{}'\nsleep 301",
        pid_file.display()
    ));
    let bin = format!("{}:/usr/bin:/bin", f.path("bin").display());
    let env = f.env_with(&[("PATH", &bin), ("VERCEL_TOKEN_STORAGE", "keyring")]);
    let refresher = LocalDevRefresher::builder()
        .start_dir(f.path("project"))
        .cli_timeout(Duration::from_secs(2))
        .build()
        .expect("refresher");
    let err = refresher
        .refresh(&RefreshRequest::new(env))
        .await
        .expect_err("times out");
    assert!(
        matches!(kind(&err), LocalDevErrorKind::CliTimedOut { .. }),
        "{err:?}"
    );
    let pid = std::fs::read_to_string(&pid_file).expect("the CLI started its grandchild");
    let pid = pid.trim().to_owned();
    eventually("the grandchild is killed", || process_gone(&pid)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_refresh_finishes_and_releases_the_lock() {
    let f = Fixture::new().await;
    f.link_default();
    f.valid_auth();
    // The mint takes a while: the caller gives up while the flight holds the lock.
    f.api.faults().next(
        Endpoint::VercelMint,
        1,
        vercel_oidc_testkit::Fault::Delay(Duration::from_secs(1)),
    );
    let refresher = f.refresher();
    let request = RefreshRequest::new(f.env());
    tokio::select! {
        result = refresher.refresh(&request) => panic!("finished early: {result:?}"),
        () = eventually("the mint request", || f.api.requests(Endpoint::VercelMint) >= 1) => {}
    }
    // The caller's future is dropped here. The flight goes on without it: it caches the token
    // and lets go of the lock, so another process can take it.
    let lock_path = f.path("data/com.vercel.token/.refresh.lock");
    let lock = std::fs::File::open(&lock_path).expect("lock file");
    eventually("the lock is released", || {
        fs4::FileExt::try_lock(&lock).is_ok()
    })
    .await;
    let cache = std::fs::read_to_string(f.cache_path(PROJECT)).expect("the flight finished");
    assert!(cache.contains("teamId"), "{cache}");
    // And this process does not join a stale flight: the cache answers.
    refresher.refresh(&request).await.expect("cached");
    assert_eq!(f.api.requests(Endpoint::VercelMint), 1);
}
