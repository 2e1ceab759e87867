//! A tiny Vercel function built on `vercel_runtime`, run by the testkit's own `VercelHost` tests
//! (`tests/vercel_host.rs`). `cargo test` builds it (examples are built with the tests), and the
//! tests find it with `vercel_oidc_testkit::vercel_host::example_binary("host_fixture")`.
//!
//! | path | what it does |
//! |---|---|
//! | `/echo` | answers the request's platform headers and `FIXTURE_*` env vars as JSON |
//! | `/wait?ms=N` | answers at once; `AppState::wait_until` sleeps N ms, then logs `waited <invocation>` |
//! | `/gate` | answers at once; `wait_until` waits for a `/release`, then logs `released <invocation>` |
//! | `/release` | lets one waiting `/gate` task through |
//! | `/log` | logs `hello from the handler` through the runtime's IPC log |
//! | `/stdout` | prints a line on stdout |

use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;
use vercel_runtime::{AppState, Error, Request, run, service_fn};

/// Permits handed out by `/release`, taken by `/gate` tasks.
static GATE: Semaphore = Semaphore::const_new(0);

fn query_ms(req: &Request) -> u64 {
    req.uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("ms=")))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(20)
}

fn invocation(req: &Request) -> String {
    req.headers()
        .get("x-vercel-internal-invocation-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned()
}

async fn handler(req: Request, state: AppState) -> Result<Value, Error> {
    let id = invocation(&req);
    match req.uri().path() {
        "/echo" => {
            let mut headers = Map::new();
            for (name, value) in req.headers() {
                let name = name.as_str();
                if name.starts_with("x-vercel")
                    || name == "x-real-ip"
                    || name.starts_with("x-fixture")
                {
                    headers.insert(
                        name.to_owned(),
                        Value::from(value.to_str().unwrap_or("<binary>")),
                    );
                }
            }
            let env: Map<String, Value> = std::env::vars()
                .filter(|(k, _)| k.starts_with("FIXTURE_"))
                .map(|(k, v)| (k, Value::from(v)))
                .collect();
            Ok(json!({ "path": "/echo", "headers": headers, "env": env }))
        }
        "/wait" => {
            let ms = query_ms(&req);
            let log = state.log_context.clone();
            state.wait_until(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                log.info(&format!("waited {id}"));
            });
            Ok(json!({ "path": "/wait", "ms": ms }))
        }
        "/gate" => {
            let log = state.log_context.clone();
            state.wait_until(async move {
                if let Ok(permit) = GATE.acquire().await {
                    permit.forget();
                }
                log.info(&format!("released {id}"));
            });
            Ok(json!({ "path": "/gate" }))
        }
        "/release" => {
            GATE.add_permits(1);
            Ok(json!({ "path": "/release" }))
        }
        "/log" => {
            state.log_context.info("hello from the handler");
            Ok(json!({ "path": "/log" }))
        }
        "/stdout" => {
            #[allow(clippy::print_stdout)]
            {
                println!("fixture stdout line");
            }
            Ok(json!({ "path": "/stdout" }))
        }
        other => Ok(json!({ "path": other, "unknown": true })),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(handler)).await
}
