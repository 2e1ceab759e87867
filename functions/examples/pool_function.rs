//! A Vercel function with a PostgreSQL pool (sqlx) attached for the Fluid-compute keep-alive:
//! after a request that leaves idle connections open, the invocation is kept alive (through
//! `wait_until`) for the pool's idle timeout plus 100 ms, so the pool closes them before the
//! instance is suspended and the database never sees leaked connections.
//!
//! `DATABASE_URL` names the database; `POOL_IDLE_TIMEOUT_MS` the pool's idle timeout
//! (default 10 000). `GET /` runs `SELECT 1` and answers
//! `{"one": 1, "open_connections": N, "idle_timeout_ms": T}`.
//!
//! Run under the testkit's `VercelHost` by `tests/host.rs` (with the PostgreSQL that CI starts).

use std::time::Duration;

use serde_json::json;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tower::Layer;
use vercel_functions::{VercelFunctionsLayer, attach_database_pool};
use vercel_runtime::{Error, Request, Response, ResponseBody, run, service_fn};

async fn handler(_req: Request, pool: PgPool) -> Result<Response<ResponseBody>, Error> {
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await?;
    let body = json!({
        "one": one,
        "open_connections": pool.size(),
        "idle_timeout_ms": pool.options().get_idle_timeout().map(|t| t.as_millis() as u64),
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(ResponseBody::from(body))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let url = std::env::var("DATABASE_URL")?;
    let idle_ms: u64 = match std::env::var("POOL_IDLE_TIMEOUT_MS") {
        Ok(ms) => ms.parse()?,
        Err(_) => 10_000,
    };
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .idle_timeout(Duration::from_millis(idle_ms))
        .connect_lazy(&url)?;
    // Once, at cold start: every request behind the layer then keeps the invocation alive
    // while this pool's idle connections close.
    attach_database_pool(pool.clone());
    let handler = service_fn(move |req: Request| handler(req, pool.clone()));
    run(VercelFunctionsLayer::new().layer(handler)).await
}
