//! The example functions (`examples/aws_function.rs`, `examples/aws_function_axum.rs`,
//! `examples/pool_function.rs`) run as real `vercel_runtime` binaries under the testkit's
//! `VercelHost`, against the issuer, STS and Runtime Cache emulators (and the PostgreSQL that
//! CI starts, for the pool):
//!
//! - each invocation sees its own header token, and its AWS credentials work at STS;
//! - the invocation's `end` message comes after its `wait_until` work;
//! - after a freeze longer than the credentials' (and the tokens') lifetime, the first
//!   invocation gets valid new credentials;
//! - the Runtime Cache round-trips through the platform's endpoint, falls back to memory
//!   without it, and a failing endpoint is a 500 that names no secret;
//! - a pool used inside a request keeps the invocation alive until its idle connections are
//!   closed, and no longer.
//!
//! The host runs the functions in real time (their clock is the OS clock): the freeze test
//! waits out the short lifetimes it sets up, and the other tests assert the order of events.

#![cfg(unix)]
// The skip message of the PostgreSQL test goes to the test output.
#![allow(clippy::print_stderr)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use vercel_oidc_testkit::runtime_cache::{CacheOp, RuntimeCache};
use vercel_oidc_testkit::sts::StsFault;
use vercel_oidc_testkit::vercel_host::{HostRequest, HostResponse, VercelHost, example_binary};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer, Sts};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/vercel-function";

/// The emulated platform around a function: issuer, STS trusting it, Runtime Cache.
struct Platform {
    issuer: Arc<Issuer>,
    sts: Sts,
    cache: RuntimeCache,
}

impl Platform {
    async fn start() -> Self {
        let issuer = Arc::new(Issuer::start().await.expect("issuer"));
        let sts = Sts::builder(issuer.team_issuer(), issuer.default_audience())
            .start()
            .await
            .expect("sts");
        let cache = RuntimeCache::start().await.expect("runtime cache");
        Self { issuer, sts, cache }
    }

    /// A host for example `name` with the platform's environment: nothing from the test
    /// process, the AWS role and STS endpoint, and (with `with_cache`) the Runtime Cache.
    fn host(
        &self,
        name: &str,
        with_cache: bool,
    ) -> vercel_oidc_testkit::vercel_host::VercelHostBuilder {
        let binary = example_binary(name).expect("the example is built by `cargo test`");
        let mut host = VercelHost::builder(binary)
            .env_clear()
            .env("RUST_LOG", "info")
            .env("AWS_ROLE_ARN", ROLE_ARN)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL_STS", self.sts.endpoint_url())
            .env("AWS_CONFIG_FILE", "/nonexistent/vercel-oidc-test/config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/vercel-oidc-test/credentials",
            )
            .issuer(Arc::clone(&self.issuer));
        if with_cache {
            host = host
                .env("RUNTIME_CACHE_ENDPOINT", self.cache.endpoint())
                .env("RUNTIME_CACHE_HEADERS", self.cache.headers_json());
        }
        host
    }
}

/// Invokes `path`, expects a 200 with JSON, waits for the invocation's `end`.
async fn invoke_ok(host: &VercelHost, path: &str) -> (HostResponse, Value) {
    let response = host.invoke(HostRequest::get(path)).await.expect("invoke");
    assert_eq!(
        response.status,
        200,
        "{path}: {}\nstderr:\n{}",
        response.text(),
        host.stderr()
    );
    let body: Value = response.json().expect("a JSON body");
    let end = host
        .wait_for_end(&response.invocation_id)
        .await
        .expect("end");
    assert_eq!(
        end.error, None,
        "{path}: the invocation ended with an error"
    );
    (response, body)
}

/// What both shapes of the AWS example must do under the host.
async fn aws_function_under_host(name: &str) {
    let platform = Platform::start().await;
    let mut host = platform.host(name, true).start().await.expect("start");

    let mut token_ids = Vec::new();
    for visit in 0..3_u64 {
        let (response, body) = invoke_ok(&host, "/").await;
        // Its own header token: the host mints one per invocation, `jti` = invocation id.
        assert_eq!(body["token_id"], response.invocation_id.as_str(), "{body}");
        token_ids.push(response.invocation_id.clone());
        // Credentials STS issued for the role, accepted by GetCallerIdentity (it checks the
        // signature and the expiry of what it issued).
        assert_eq!(
            body["arn"]
                .as_str()
                .map(|arn| arn
                    .starts_with("arn:aws:sts::123456789012:assumed-role/vercel-function/")),
            Some(true),
            "{body}"
        );
        assert_eq!(body["account"], "123456789012");
        // The count the previous invocation's `wait_until` stored, read back from the
        // Runtime Cache endpoint.
        assert_eq!(body["visits"], visit, "{body}");

        // `end` came only after the `wait_until` work: its write had reached the endpoint.
        let end = host.end_for(&response.invocation_id).expect("end recorded");
        let sets = platform.cache.requests_of(CacheOp::Set);
        let set = sets.last().expect("the wait_until work wrote the cache");
        assert_eq!(sets.len(), usize::try_from(visit + 1).expect("small"));
        assert!(
            set.at >= response.sent_at,
            "the write belongs to this invocation"
        );
        assert!(
            end.at >= set.at,
            "end came before the wait_until work had settled"
        );
    }
    token_ids.dedup();
    assert_eq!(token_ids.len(), 3, "one distinct token per invocation");

    // One AssumeRoleWithWebIdentity for the three invocations (the provider's cache outlives
    // requests), with the first invocation's header token; three signed GetCallerIdentity.
    assert_eq!(platform.sts.calls(), 1);
    assert_eq!(platform.sts.caller_identity_calls(), 3);
    let assume = platform.sts.last_request().expect("assume request");
    let sent = assume.field("WebIdentityToken").expect("token field");
    let first = vercel_oidc::OidcToken::parse(sent).expect("a token");
    assert_eq!(
        first.unverified_claims().jti.as_deref(),
        Some(token_ids[0].as_str())
    );

    let status = host.shutdown().await.expect("shutdown");
    assert!(status.success(), "{status:?}\n{}", host.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_handler_function_works_under_the_host() {
    aws_function_under_host("aws_function").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_function_works_under_the_host() {
    aws_function_under_host("aws_function_axum").await;
}

/// The axum shape's `add_cache_tag` reaches the response as `Vercel-Cache-Tag`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_function_tags_its_response() {
    let platform = Platform::start().await;
    let mut host = platform
        .host("aws_function_axum", true)
        .start()
        .await
        .expect("start");
    let (response, _) = invoke_ok(&host, "/tagged").await;
    assert_eq!(response.header("vercel-cache-tag"), Some("visits"));
    let (response, _) = invoke_ok(&host, "/").await;
    assert_eq!(response.header("vercel-cache-tag"), None);
    host.shutdown().await.expect("shutdown");
}

/// A suspended instance thaws with expired credentials and an expired token in its
/// freshest-token slot: the first invocation after the thaw still gets valid credentials,
/// made from its own token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_freeze_longer_than_the_credentials_lifetime_credentials_are_new_and_valid() {
    const LIFETIME: Duration = Duration::from_secs(2);
    let platform = Platform::start().await;
    platform
        .sts
        .inject_always(StsFault::ShortLivedCredentials(LIFETIME));
    let mut host = platform
        .host("aws_function", true)
        .mint_with(|issuer, invocation| {
            issuer
                .token()
                .claim("jti", invocation.invocation_id.clone())
                .lifetime(LIFETIME)
                .sign()
        })
        .start()
        .await
        .expect("start");

    invoke_ok(&host, "/").await;
    host.freeze().expect("freeze");
    // Real time: the function's clock is the OS clock. Past both lifetimes, with a margin.
    tokio::time::sleep(LIFETIME + Duration::from_millis(1_500)).await;
    host.thaw().expect("thaw");

    let (response, body) = invoke_ok(&host, "/").await;
    assert_eq!(body["token_id"], response.invocation_id.as_str());
    // GetCallerIdentity accepted the credentials: STS issued new ones after the thaw, from
    // this invocation's token (the first invocation's had expired by then).
    let issued_after_thaw: Vec<String> = platform
        .sts
        .requests()
        .iter()
        .filter_map(|request| request.field("WebIdentityToken").map(str::to_owned))
        .filter_map(|token| {
            vercel_oidc::OidcToken::parse(&token)
                .ok()?
                .unverified_claims()
                .jti
                .clone()
        })
        .filter(|jti| *jti == response.invocation_id)
        .collect();
    assert!(
        !issued_after_thaw.is_empty(),
        "no AssumeRoleWithWebIdentity with the new invocation's token: {:?}",
        platform.sts.requests().len()
    );
    assert_eq!(platform.sts.caller_identity_calls(), 2);
    host.shutdown().await.expect("shutdown");
}

/// Without `RUNTIME_CACHE_ENDPOINT`/`RUNTIME_CACHE_HEADERS` the cache is the process's memory:
/// values still round-trip between invocations of one instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_cache_falls_back_to_memory_without_the_endpoint() {
    let platform = Platform::start().await;
    let mut host = platform
        .host("aws_function", false)
        .start()
        .await
        .expect("start");
    for visit in 0..3_u64 {
        let (_, body) = invoke_ok(&host, "/").await;
        assert_eq!(body["visits"], visit, "{body}");
    }
    assert_eq!(
        platform.cache.request_count(),
        0,
        "the endpoint was not configured"
    );
    host.shutdown().await.expect("shutdown");
}

/// A Runtime Cache that fails (500, a dropped connection, slower than the 500 ms timeout) makes
/// the handler's `?` a 500 whose body and logs never contain the cache's credentials; the next
/// healthy call works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_runtime_cache_is_a_500_without_secrets() {
    let platform = Platform::start().await;
    let mut host = platform
        .host("aws_function", true)
        .start()
        .await
        .expect("start");
    let secrets: Vec<String> = platform
        .cache
        .headers()
        .into_iter()
        .map(|(_, value)| value)
        .collect();
    for fault in [
        Fault::Status(500),
        Fault::Drop,
        Fault::Delay(Duration::from_millis(1_500)),
    ] {
        platform
            .cache
            .faults()
            .next(Endpoint::RuntimeCache, 1, fault.clone());
        let response = host.invoke(HostRequest::get("/")).await.expect("invoke");
        assert_eq!(response.status, 500, "{fault:?}: {}", response.text());
        host.wait_for_end(&response.invocation_id)
            .await
            .expect("end");
        for secret in &secrets {
            assert!(!response.text().contains(secret.as_str()));
            assert!(!host.stderr().contains(secret.as_str()));
            assert!(!host.stdout().contains(secret.as_str()));
        }
    }
    let (_, body) = invoke_ok(&host, "/").await;
    assert_eq!(body["visits"], 0, "{body}");
    host.shutdown().await.expect("shutdown");
}

/// The pool example under the host, against a real PostgreSQL: the invocation that used the
/// pool ends only after its idle connection was closed (the keep-alive), and not much later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_keeps_the_invocation_alive_until_idle_connections_close() {
    let Ok(url) = std::env::var("VERCEL_FUNCTIONS_TEST_DATABASE_URL") else {
        eprintln!(
            "skipped: set VERCEL_FUNCTIONS_TEST_DATABASE_URL to a PostgreSQL URL to run it, e.g.\n  \
             apt-get install -y postgresql && service postgresql start\n  \
             su postgres -c \"psql -c \\\"CREATE ROLE vf LOGIN PASSWORD 'vf'\\\" -c 'CREATE DATABASE vf OWNER vf'\"\n  \
             export VERCEL_FUNCTIONS_TEST_DATABASE_URL=postgres://vf:vf@127.0.0.1/vf"
        );
        return;
    };
    const IDLE: Duration = Duration::from_millis(400);
    let app = format!("vf-host-{}", std::process::id());
    let separator = if url.contains('?') { '&' } else { '?' };
    let function_url = format!("{url}{separator}application_name={app}");
    let binary = example_binary("pool_function").expect("built by `cargo test`");
    let mut host = VercelHost::builder(binary)
        .env_clear()
        .env("DATABASE_URL", &function_url)
        .env("POOL_IDLE_TIMEOUT_MS", IDLE.as_millis().to_string())
        .start()
        .await
        .expect("start");

    let observer = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connect to PostgreSQL");
    let open = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&app)
        .fetch_one(&observer)
        .await
        .expect("pg_stat_activity")
    };

    let response = host.invoke(HostRequest::get("/")).await.expect("invoke");
    assert_eq!(
        response.status,
        200,
        "{}\n{}",
        response.text(),
        host.stderr()
    );
    let body: Value = response.json().expect("json");
    assert_eq!(body["one"], 1);
    assert_eq!(body["open_connections"], 1);
    assert_eq!(
        open().await,
        1,
        "the connection is open, idle, after the response"
    );

    let end = host
        .wait_for_end(&response.invocation_id)
        .await
        .expect("end");
    let kept = end.at.duration_since(response.responded_at);
    // sqlx closes an idle connection within idle + one reaper period (= idle here); the
    // keep-alive adds 100 ms to that.
    let keep_alive = IDLE * 2 + Duration::from_millis(100);
    assert!(
        kept >= keep_alive - Duration::from_millis(20),
        "ended after {kept:?}"
    );
    assert!(
        kept < keep_alive + Duration::from_millis(1_500),
        "kept alive for {kept:?}"
    );
    assert_eq!(
        open().await,
        0,
        "the idle connection was closed before the end"
    );

    let status = host.shutdown().await.expect("shutdown");
    assert!(status.success());
}
