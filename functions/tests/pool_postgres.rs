//! `attach_database_pool` with a real PostgreSQL pool (sqlx): the server URL comes from
//! `VERCEL_FUNCTIONS_TEST_DATABASE_URL`; without it the test says how to get one and passes.
//!
//! Its own test binary: attached pools are process-wide.

// The skip message goes to the test output.
#![allow(clippy::print_stderr)]

use std::convert::Infallible;
use std::time::Duration;

use tower::{Layer, ServiceExt, service_fn};
use vercel_functions::{DatabasePool, VercelFunctionsLayer, attach_database_pool};
use vercel_oidc::{Env, OidcConfig};

/// A real PostgreSQL pool (sqlx): the server URL comes from
/// `VERCEL_FUNCTIONS_TEST_DATABASE_URL`; without it the test says how to get one and returns.
#[tokio::test]
async fn sqlx_pool_counts_its_connections() {
    let Ok(url) = std::env::var("VERCEL_FUNCTIONS_TEST_DATABASE_URL") else {
        eprintln!(
            "skipped: set VERCEL_FUNCTIONS_TEST_DATABASE_URL to a PostgreSQL URL to run it, e.g.\n  \
             apt-get install -y postgresql && service postgresql start\n  \
             su postgres -c \"psql -c \\\"CREATE ROLE vf LOGIN PASSWORD 'vf'\\\" -c 'CREATE DATABASE vf OWNER vf'\"\n  \
             export VERCEL_FUNCTIONS_TEST_DATABASE_URL=postgres://vf:vf@127.0.0.1/vf"
        );
        return;
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .idle_timeout(Duration::from_secs(2))
        .connect_lazy(&url)
        .expect("pool");
    // 2 s idle plus one 2 s period of sqlx's reaper.
    assert_eq!(pool.idle_timeout(), Some(Duration::from_secs(4)));
    assert_eq!(pool.open_connections(), 0);
    attach_database_pool(pool.clone());

    let layer =
        VercelFunctionsLayer::new().configure(&OidcConfig::new().with_env(Env::from_pairs([
            ("VERCEL_URL", "app.vercel.app"),
            ("VERCEL_REGION", "iad1"),
        ])));
    let tasks = layer.background_tasks();
    let svc = layer.layer(service_fn(move |_req: http::Request<()>| {
        let pool = pool.clone();
        async move {
            let one: i32 = sqlx::query_scalar("SELECT 1")
                .fetch_one(&pool)
                .await
                .expect("query");
            Ok::<_, Infallible>(http::Response::new((one, pool.open_connections())))
        }
    }));
    let response = svc.oneshot(http::Request::new(())).await.expect("response");
    let (one, open) = *response.body();
    assert_eq!(one, 1);
    assert_eq!(open, 1, "the request opened one connection");
    // The connection is back in the pool, open: the invocation is kept alive for it.
    assert_eq!(tasks.len(), 1, "a keep-alive is pending");
    tasks.settled().await;
    assert!(tasks.is_empty());
}
