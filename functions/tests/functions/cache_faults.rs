//! The Runtime Cache fault matrix: every operation against a server that fails (500), is slow
//! past the timeout, drops the connection, or answers garbage. Each ends in a typed result, no
//! panic; the logging mode never fails.

use std::time::Duration;

use serde_json::json;
use vercel_functions::{CacheError, CacheOptions, RuntimeCache, SetOptions};
use vercel_oidc::OidcConfig;
use vercel_oidc_testkit::runtime_cache::{CacheEntry, RuntimeCache as Emulator};
use vercel_oidc_testkit::{Endpoint, Fault};

use super::runtime_cache::env_for;

#[derive(Debug, Clone, Copy)]
enum Op {
    Get,
    Set,
    Delete,
    ExpireTag,
}

const OPS: [Op; 4] = [Op::Get, Op::Set, Op::Delete, Op::ExpireTag];

/// A cache with a 50 ms timeout (`RUNTIME_CACHE_TIMEOUT`).
fn short_timeout_cache(emu: &Emulator) -> RuntimeCache {
    let env = env_for(emu).with_var("RUNTIME_CACHE_TIMEOUT", "50");
    RuntimeCache::new(CacheOptions::default()).configure(&OidcConfig::new().with_env(env))
}

async fn run(cache: &RuntimeCache, op: Op) -> Result<Option<serde_json::Value>, CacheError> {
    match op {
        Op::Get => cache.get("k").await,
        Op::Set => cache
            .set("k", &json!({"v": 1}), SetOptions::default())
            .await
            .map(|()| None),
        Op::Delete => cache.delete("k").await.map(|()| None),
        Op::ExpireTag => cache.expire_tag(&["t"]).await.map(|()| None),
    }
}

async fn with_fault(fault: Fault) -> (Emulator, RuntimeCache) {
    let emu = Emulator::start().await.expect("emulator");
    // "k" hashes to 2b5c3 ^ … : store under the client's key so a GET finds it.
    emu.insert(
        vercel_functions::default_key_hash("k"),
        CacheEntry::new(json!({"v": 1})),
    );
    emu.faults().always(Endpoint::RuntimeCache, fault);
    let cache = short_timeout_cache(&emu);
    (emu, cache)
}

#[tokio::test]
async fn status_500_is_a_typed_transient_error_for_every_op() {
    let (emu, cache) = with_fault(Fault::Status(500)).await;
    for op in OPS {
        let e = run(&cache, op).await.expect_err("500");
        assert!(
            matches!(e, CacheError::Status { status: 500 }),
            "{op:?}: {e:?}"
        );
        assert!(e.is_transient());
    }
    assert_eq!(emu.request_count(), 4);
}

#[tokio::test]
async fn slow_past_the_timeout_times_out_for_every_op() {
    let (_emu, cache) = with_fault(Fault::Delay(Duration::from_secs(5))).await;
    for op in OPS {
        let e = run(&cache, op).await.expect_err("slow");
        assert!(
            matches!(e, CacheError::TimedOut { after } if after == Duration::from_millis(50)),
            "{op:?}: {e:?}"
        );
        assert_eq!(
            e.to_string(),
            "the Runtime Cache did not answer within 50ms"
        );
    }
}

#[tokio::test]
async fn a_dropped_connection_is_a_transport_error_for_every_op() {
    let (_emu, cache) = with_fault(Fault::Drop).await;
    for op in OPS {
        let e = run(&cache, op).await.expect_err("dropped");
        assert!(matches!(e, CacheError::Transport(_)), "{op:?}: {e:?}");
        assert!(std::error::Error::source(&e).is_some());
    }
}

#[tokio::test]
async fn garbage_answers() {
    // A 200 without a cache state is a miss for GET and a success for the others (200 is all
    // the protocol asks of them).
    let (_emu, cache) = with_fault(Fault::Garbage).await;
    assert_eq!(run(&cache, Op::Get).await.expect("miss"), None);
    for op in [Op::Set, Op::Delete, Op::ExpireTag] {
        assert_eq!(run(&cache, op).await.expect("200"), None, "{op:?}");
    }
    // A fresh answer whose body is not JSON.
    let emu = Emulator::start().await.expect("emulator");
    emu.insert(
        vercel_functions::default_key_hash("k"),
        CacheEntry::new(json!({"v": 1})),
    );
    emu.inject_fresh_garbage(1);
    let cache = short_timeout_cache(&emu);
    let e = run(&cache, Op::Get).await.expect_err("garbage");
    assert!(
        matches!(
            e,
            CacheError::Deserialize {
                category: "syntax",
                ..
            }
        ),
        "{e:?}"
    );
    // A fresh answer cut in half.
    emu.faults()
        .next(Endpoint::RuntimeCache, 1, Fault::Truncated);
    let e = run(&cache, Op::Get).await.expect_err("truncated");
    assert!(
        matches!(
            e,
            CacheError::Deserialize {
                category: "eof",
                ..
            } | CacheError::Transport(_)
        ),
        "{e:?}"
    );
    // And then it works again.
    assert_eq!(
        run(&cache, Op::Get).await.expect("ok"),
        Some(json!({"v": 1}))
    );
}

#[tokio::test]
async fn the_logging_mode_never_fails() {
    for fault in [
        Fault::Status(500),
        Fault::Delay(Duration::from_secs(5)),
        Fault::Drop,
        Fault::Garbage,
    ] {
        let (_emu, cache) = with_fault(fault.clone()).await;
        let logging = cache.log_errors();
        assert_eq!(
            logging.get::<serde_json::Value>("k").await,
            None,
            "{fault:?}"
        );
        logging.set("k", &1, SetOptions::default()).await;
        logging.delete("k").await;
        logging.expire_tag(&["t"]).await;
    }
}
