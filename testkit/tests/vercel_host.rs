//! `VercelHost` running a real `vercel_runtime` 2.4 function (`examples/host_fixture.rs`, built
//! by `cargo test`): the IPC handshake, per-invocation platform headers, `end` after the
//! `wait_until` work, freeze and thaw, and the SIGTERM drain.
//!
//! The function runs in real time (its own process), so these tests use tokio's real clock,
//! keep the fixture's delays small and assert the order of events, not durations.
#![cfg(unix)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use vercel_oidc_testkit::Issuer;
use vercel_oidc_testkit::vercel_host::{
    HostError, HostRequest, IpcMessage, VercelHost, VercelHostBuilder, example_binary,
};

fn fixture() -> VercelHostBuilder {
    let binary = example_binary("host_fixture").expect(
        "examples/host_fixture.rs is built by `cargo test -p vercel-oidc-testkit` \
         (run it without `--test`, or `cargo build -p vercel-oidc-testkit --examples` first)",
    );
    VercelHost::builder(binary).timeout(Duration::from_secs(20))
}

async fn start(builder: VercelHostBuilder) -> VercelHost {
    builder.start().await.expect("the fixture starts")
}

fn echoed(response: &vercel_oidc_testkit::HostResponse) -> Value {
    response.json::<Value>().expect("the fixture answers JSON")
}

fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("claims")
}

#[tokio::test]
async fn server_started_handshake_gives_the_port() {
    let mut host = start(fixture()).await;
    let messages = host.messages();
    let IpcMessage::ServerStarted {
        http_port,
        init_duration,
    } = messages[0].message
    else {
        panic!("server-started first: {:?}", messages[0]);
    };
    assert_eq!(http_port, host.http_port());
    assert_eq!(init_duration, 0, "vercel_runtime 2.4 reports 0");
    assert_eq!(messages[0].seq, 0);
    assert_eq!(host.base_url(), format!("http://127.0.0.1:{http_port}"));
    assert!(host.pid().is_some());

    // The runtime's own health path answers without an invocation.
    let ping = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("{}/_vercel/ping", host.base_url()))
        .send()
        .await
        .expect("ping");
    assert_eq!(ping.status(), 200);

    let status = host.shutdown().await.expect("shutdown");
    assert!(status.success(), "{status}");
    assert_eq!(host.pid(), None);
    assert!(matches!(
        host.invoke("/echo").await,
        Err(HostError::NotRunning)
    ));
    assert_eq!(host.shutdown().await.expect("again"), status);
}

#[tokio::test]
async fn each_invocation_carries_its_own_platform_headers() {
    let issuer = Arc::new(
        Issuer::builder()
            .team_slug("acme")
            .start()
            .await
            .expect("issuer"),
    );
    let host = start(
        fixture()
            .issuer(Arc::clone(&issuer))
            .region("fra1")
            .client_ip("198.51.100.4")
            .platform_header("x-vercel-ip-country", "DE")
            .without_platform_header("x-vercel-ip-timezone")
            .env("FIXTURE_GREETING", "hi"),
    )
    .await;

    let first = host.invoke(HostRequest::get("/echo")).await.expect("first");
    let second = host
        .invoke(HostRequest::get("/echo").header("x-fixture", "2"))
        .await
        .expect("second");
    assert_eq!(first.status, 200);
    assert_eq!(first.request_id, 1);
    assert_eq!(second.request_id, 2);
    assert_ne!(first.invocation_id, second.invocation_id);
    let first_token = first.oidc_token.clone().expect("minted");
    let second_token = second.oidc_token.clone().expect("minted");
    assert_ne!(first_token, second_token, "a token per invocation");

    for response in [&first, &second] {
        let body = echoed(response);
        let headers = &body["headers"];
        assert_eq!(
            headers["x-vercel-internal-invocation-id"],
            response.invocation_id.as_str()
        );
        assert_eq!(
            headers["x-vercel-internal-request-id"],
            response.request_id.to_string()
        );
        assert_eq!(
            headers["x-vercel-oidc-token"],
            response.oidc_token.as_deref().expect("token")
        );
        assert_eq!(headers["x-vercel-id"], response.vercel_id.as_str());
        assert!(
            response.vercel_id.starts_with("fra1::"),
            "{}",
            response.vercel_id
        );
        assert_eq!(headers["x-real-ip"], "198.51.100.4");
        assert_eq!(headers["x-vercel-forwarded-for"], "198.51.100.4");
        assert_eq!(headers["x-vercel-ip-country"], "DE");
        assert_eq!(headers["x-vercel-ip-city"], "San%20Francisco");
        assert_eq!(headers.get("x-vercel-ip-timezone"), None);
        assert_eq!(body["env"]["FIXTURE_GREETING"], "hi");
    }
    assert_eq!(echoed(&first)["headers"].get("x-fixture"), None);
    assert_eq!(echoed(&second)["headers"]["x-fixture"], "2");

    // The default token: the issuer's claims plus `jti` = the invocation id.
    for response in [&first, &second] {
        let claims = claims_of(response.oidc_token.as_deref().expect("token"));
        assert_eq!(claims["jti"], response.invocation_id.as_str());
        assert_eq!(claims["iss"], issuer.team_issuer());
    }

    // An explicit token replaces the minted one; none can be sent too.
    let explicit = host
        .invoke(HostRequest::get("/echo").oidc_token("explicit.token.value"))
        .await
        .expect("explicit");
    assert_eq!(
        echoed(&explicit)["headers"]["x-vercel-oidc-token"],
        "explicit.token.value"
    );
    let none = host
        .invoke(HostRequest::get("/echo").without_oidc_token())
        .await
        .expect("none");
    assert_eq!(none.oidc_token, None);
    assert_eq!(echoed(&none)["headers"].get("x-vercel-oidc-token"), None);
    // A request header replaces the platform's.
    let replaced = host
        .invoke(HostRequest::get("/echo").header("x-real-ip", "192.0.2.1"))
        .await
        .expect("replaced");
    assert_eq!(echoed(&replaced)["headers"]["x-real-ip"], "192.0.2.1");

    // Every invocation ends, each with its own ids.
    for response in [&first, &second, &explicit, &none, &replaced] {
        let end = host
            .wait_for_end(&response.invocation_id)
            .await
            .expect("end");
        assert_eq!(end.request_id, response.request_id);
        assert_eq!(end.error, None);
    }
    assert_eq!(host.ends().len(), 5);
}

#[tokio::test]
async fn custom_minting_and_the_platform_env() {
    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let host = start(
        fixture()
            .issuer(Arc::clone(&issuer))
            .mint_with(|issuer, invocation| {
                issuer
                    .token()
                    .audience("sts.amazonaws.com")
                    .claim("request", invocation.request_id)
                    .sign()
            })
            .env("FIXTURE_REGION_SEEN", "x")
            .env_remove("FIXTURE_UNSET"),
    )
    .await;
    let response = host.invoke("/echo").await.expect("echo");
    assert_eq!(echoed(&response)["env"]["FIXTURE_REGION_SEEN"], "x");
    let token = response.oidc_token.expect("token");
    let claims = claims_of(&token);
    assert_eq!(claims["aud"], "sts.amazonaws.com");
    assert_eq!(claims["request"], 1);
    assert_eq!(
        claims.get("jti"),
        None,
        "the custom mint replaces the default"
    );
}

#[tokio::test]
async fn end_arrives_after_the_wait_until_work() {
    let host = start(fixture()).await;
    let gated = host.invoke("/gate").await.expect("gate");
    assert_eq!(
        gated.status, 200,
        "the response does not wait for wait_until"
    );
    // The work is still waiting for its release: no end yet.
    assert_eq!(host.end_for(&gated.invocation_id), None);

    let release = host.invoke("/release").await.expect("release");
    let end = host.wait_for_end(&gated.invocation_id).await.expect("end");
    assert!(end.at >= gated.responded_at);
    assert!(end.at >= release.sent_at, "end only after the release");
    // The work's own log line (sent from inside wait_until) comes before its end.
    let log = host
        .wait_for_log(&format!("released {}", gated.invocation_id))
        .await
        .expect("log");
    assert_eq!(log.invocation_id, gated.invocation_id);
    assert_eq!(log.request_id, gated.request_id);
    assert_eq!(log.level.as_deref(), Some("info"));
    assert!(
        log.seq < end.seq,
        "log #{} before end #{}",
        log.seq,
        end.seq
    );

    // The same with a timer: end after the sleep's log.
    let waited = host.invoke("/wait?ms=30").await.expect("wait");
    let end = host.wait_for_end(&waited.invocation_id).await.expect("end");
    let log = host
        .wait_for_log(&format!("waited {}", waited.invocation_id))
        .await
        .expect("log");
    assert!(log.seq < end.seq);
    assert!(end.at >= waited.responded_at);
}

#[tokio::test]
async fn logs_and_stdout_are_captured() {
    let mut host = start(fixture()).await;
    let response = host.invoke("/log").await.expect("log");
    let log = host
        .wait_for_log("hello from the handler")
        .await
        .expect("log");
    assert_eq!(log.message, "hello from the handler");
    assert_eq!(log.invocation_id, response.invocation_id);
    host.invoke("/stdout").await.expect("stdout");
    host.shutdown().await.expect("shutdown");
    assert!(
        host.stdout().contains("fixture stdout line"),
        "{}",
        host.stdout()
    );
}

#[tokio::test]
async fn freeze_stops_the_process_until_thaw() {
    let host = start(fixture()).await;
    host.freeze().expect("freeze");
    assert!(host.is_frozen());
    let state = std::fs::read_to_string(format!("/proc/{}/stat", host.pid().expect("pid")));
    if let Ok(stat) = state {
        // `pid (comm) T …`: stopped.
        let after_comm = stat.rsplit(')').next().unwrap_or_default();
        assert_eq!(after_comm.split_whitespace().next(), Some("T"), "{stat}");
    }

    let pending = host.invoke("/echo");
    tokio::pin!(pending);
    // A frozen process cannot answer: the request is still pending after a while.
    let early = tokio::time::timeout(Duration::from_millis(200), &mut pending).await;
    assert!(early.is_err(), "a frozen function answered");
    host.thaw().expect("thaw");
    assert!(!host.is_frozen());
    let response = pending.await.expect("answered after the thaw");
    assert_eq!(response.status, 200);
    host.wait_for_end(&response.invocation_id)
        .await
        .expect("end");
}

#[tokio::test]
async fn sigterm_drains_pending_wait_until_work() {
    let mut host = start(fixture()).await;
    let first = host.invoke("/wait?ms=150").await.expect("wait");
    let second = host.invoke("/wait?ms=50").await.expect("wait");
    let status = host.shutdown().await.expect("shutdown");
    assert!(status.success(), "{status}");
    // Both invocations' work finished and both ends were sent before the process exited.
    let ends = host.ends();
    let mut ids: Vec<&str> = ends.iter().map(|e| e.invocation_id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![first.invocation_id.as_str(), second.invocation_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let logs: Vec<String> = host.logs().into_iter().map(|l| l.message).collect();
    assert!(
        logs.contains(&format!("waited {}", first.invocation_id)),
        "{logs:?}"
    );
    assert!(
        logs.contains(&format!("waited {}", second.invocation_id)),
        "{logs:?}"
    );
}

#[tokio::test]
async fn a_frozen_process_still_shuts_down() {
    let mut host = start(fixture()).await;
    host.freeze().expect("freeze");
    let status = host.shutdown().await.expect("shutdown");
    assert!(status.success(), "{status}");
    assert!(matches!(host.freeze(), Err(HostError::NotRunning)));
}

#[tokio::test]
async fn start_failures_are_typed() {
    let missing = VercelHost::builder("/nonexistent/function").start().await;
    assert!(matches!(missing, Err(HostError::BinaryNotFound { .. })));

    // A binary that exits at once, without talking IPC; its stderr is in the error.
    let exits = VercelHost::builder("/bin/sh")
        .arg("-c")
        .arg("echo starting up >&2; exit 3")
        .timeout(Duration::from_secs(20))
        .start()
        .await;
    match exits {
        Err(HostError::ExitedBeforeStart {
            status,
            stderr_tail,
        }) => {
            assert_eq!(status.code(), Some(3));
            assert_eq!(stderr_tail, "starting up\n");
        }
        other => panic!("expected ExitedBeforeStart: {other:?}"),
    }

    assert!(matches!(
        example_binary("no_such_example"),
        Err(HostError::BinaryNotFound { .. })
    ));

    let host = start(fixture()).await;
    assert!(matches!(
        host.invoke("no-slash").await,
        Err(HostError::InvalidRequest(_))
    ));
    assert!(matches!(
        host.invoke(HostRequest::get("/echo").header("bad header", "x"))
            .await,
        Err(HostError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn debug_output_hides_tokens() {
    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let host = start(fixture().issuer(issuer)).await;
    let response = host.invoke("/echo").await.expect("echo");
    let token = response.oidc_token.clone().expect("token");
    let debug = format!("{response:?} {host:?}");
    assert!(!debug.contains(&token), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
}
