//! `attach_database_pool`: a request that used an attached pool keeps its invocation alive for
//! the pool's idle timeout plus 100 ms (and no longer), only where `VERCEL_URL` and
//! `VERCEL_REGION` are set.
//!
//! Its own test binary: attached pools are process-wide.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tower::{Layer, ServiceExt, service_fn};
use vercel_functions::{DatabasePool, IdleTimeout, VercelFunctionsLayer, attach_database_pool};
use vercel_oidc::{Env, OidcConfig};

/// A pool whose open connections a test sets.
#[derive(Clone, Default)]
struct FakePool(Arc<AtomicUsize>);

impl DatabasePool for FakePool {
    fn idle_timeout(&self) -> Option<Duration> {
        None
    }
    fn open_connections(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

fn layer(env: &[(&str, &str)]) -> VercelFunctionsLayer {
    VercelFunctionsLayer::new()
        .configure(&OidcConfig::new().with_env(Env::from_pairs(env.iter().copied())))
}

const ON_VERCEL: [(&str, &str); 2] = [("VERCEL_URL", "app.vercel.app"), ("VERCEL_REGION", "iad1")];

/// Serves one request and returns how long its background work ran after the response.
async fn keep_alive(layer: VercelFunctionsLayer) -> Duration {
    let tasks = layer.background_tasks();
    let svc = layer.layer(service_fn(|_req: http::Request<()>| async {
        Ok::<_, Infallible>(http::Response::new(()))
    }));
    svc.oneshot(http::Request::new(())).await.expect("response");
    let start = Instant::now();
    tasks.settled().await;
    start.elapsed()
}

/// One test, in order: the pools attached here are process-wide.
#[tokio::test(start_paused = true)]
async fn keep_alive_rules() {
    // Nothing attached: no keep-alive.
    assert_eq!(keep_alive(layer(&ON_VERCEL)).await, Duration::ZERO);

    let pool = FakePool::default();
    attach_database_pool(IdleTimeout::new(pool.clone(), Duration::from_secs(5)));
    // Attached, but no open connection: none.
    assert_eq!(keep_alive(layer(&ON_VERCEL)).await, Duration::ZERO);

    pool.0.store(1, Ordering::SeqCst);
    // The idle timeout plus 100 ms, on tokio's (paused) clock: exactly.
    assert_eq!(
        keep_alive(layer(&ON_VERCEL)).await,
        Duration::from_millis(5100)
    );
    // Inert without VERCEL_URL or VERCEL_REGION.
    assert_eq!(keep_alive(layer(&ON_VERCEL[..1])).await, Duration::ZERO);
    assert_eq!(keep_alive(layer(&ON_VERCEL[1..])).await, Duration::ZERO);
    assert_eq!(keep_alive(layer(&[])).await, Duration::ZERO);
    // A deadline 3 s away (max_duration) leaves 2 s.
    assert_eq!(
        keep_alive(layer(&ON_VERCEL).max_duration(Duration::from_secs(3))).await,
        Duration::from_secs(2)
    );
    // A second pool without an idle timeout: the longest wins (10 s default).
    let other = FakePool::default();
    other.0.store(2, Ordering::SeqCst);
    attach_database_pool(other);
    assert_eq!(
        keep_alive(layer(&ON_VERCEL)).await,
        Duration::from_millis(10_100)
    );

    // A new keep-alive ends the pending one (one is pending per process).
    let serve = |layer: VercelFunctionsLayer| async move {
        let tasks = layer.background_tasks();
        let svc = layer.layer(service_fn(|_req: http::Request<()>| async {
            Ok::<_, Infallible>(http::Response::new(()))
        }));
        svc.oneshot(http::Request::new(())).await.expect("response");
        tasks
    };
    let first = serve(layer(&ON_VERCEL)).await;
    assert_eq!(first.len(), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    let second = serve(layer(&ON_VERCEL)).await;
    let start = Instant::now();
    first.settled().await;
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "the first keep-alive ended at once"
    );
    second.settled().await;
    assert_eq!(start.elapsed(), Duration::from_millis(10_100));
}

/// sqlx closes idle connections from a reaper that runs every `min(idle_timeout, max_lifetime)`:
/// the time an idle connection can stay open is the idle timeout plus one such period.
#[tokio::test]
async fn sqlx_idle_timeout_includes_one_reaper_period() {
    let pool = |options: sqlx::postgres::PgPoolOptions| {
        options
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("a lazy pool connects nowhere")
    };
    let idle_only = pool(
        sqlx::postgres::PgPoolOptions::new()
            .idle_timeout(Duration::from_secs(2))
            .max_lifetime(None),
    );
    assert_eq!(
        DatabasePool::idle_timeout(&idle_only),
        Some(Duration::from_secs(4))
    );
    let short_lifetime = pool(
        sqlx::postgres::PgPoolOptions::new()
            .idle_timeout(Duration::from_secs(2))
            .max_lifetime(Duration::from_millis(500)),
    );
    assert_eq!(
        DatabasePool::idle_timeout(&short_lifetime),
        Some(Duration::from_millis(2_500))
    );
    let long_lifetime = pool(
        sqlx::postgres::PgPoolOptions::new()
            .idle_timeout(Duration::from_secs(2))
            .max_lifetime(Duration::from_secs(60)),
    );
    assert_eq!(
        DatabasePool::idle_timeout(&long_lifetime),
        Some(Duration::from_secs(4))
    );
    let no_idle = pool(sqlx::postgres::PgPoolOptions::new().idle_timeout(None));
    assert_eq!(DatabasePool::idle_timeout(&no_idle), None);
    assert_eq!(DatabasePool::open_connections(&no_idle), 0);
}
