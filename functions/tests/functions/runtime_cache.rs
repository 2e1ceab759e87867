//! The Runtime Cache client against the testkit's Runtime Cache emulator: every request exactly
//! as `@vercel/functions` sends it, and the answers' handling.

use std::time::Duration;

use serde_json::json;
use vercel_functions::{CacheError, CacheOptions, RuntimeCache, SetOptions, TagError};
use vercel_oidc::{Env, OidcConfig};
use vercel_oidc_testkit::runtime_cache::{CacheEntry, CacheOp, RuntimeCache as Emulator};

/// The environment Vercel gives a function, pointing at `emu`.
pub(crate) fn env_for(emu: &Emulator) -> Env {
    Env::from_pairs([
        ("RUNTIME_CACHE_ENDPOINT", emu.endpoint()),
        ("RUNTIME_CACHE_HEADERS", emu.headers_json()),
    ])
}

pub(crate) fn cache_for(emu: &Emulator, options: CacheOptions) -> RuntimeCache {
    RuntimeCache::new(options).configure(&OidcConfig::new().with_env(env_for(emu)))
}

#[tokio::test]
async fn set_sends_the_value_ttl_tags_and_name_and_get_reads_it_back() {
    let emu = Emulator::start().await.expect("emulator");
    let cache = cache_for(&emu, CacheOptions::default());
    cache
        .set(
            "my-key",
            &json!({"n": 1}),
            SetOptions {
                ttl: Some(Duration::from_secs(60)),
                tags: vec!["a".into(), "b".into()],
                ..SetOptions::default()
            },
        )
        .await
        .expect("set");
    let sent = emu.requests_of(CacheOp::Set);
    assert_eq!(sent.len(), 1);
    let post = &sent[0];
    assert_eq!(post.method, "POST");
    // `{endpoint}{key}`: the default hash of "my-key".
    assert_eq!(post.path, "57f938ab");
    assert_eq!(post.header("x-vercel-revalidate"), Some("60"));
    assert_eq!(post.header("x-vercel-cache-tags"), Some("a,b"));
    assert_eq!(post.header("x-vercel-cache-item-name"), Some("57f938ab"));
    assert_eq!(post.header("content-type"), Some("application/json"));
    for (name, value) in emu.headers() {
        assert_eq!(post.header(&name), Some(value.as_str()), "{name}");
    }
    assert_eq!(post.body_text(), Some(r#"{"n":1}"#));
    let entry = emu.entry("57f938ab").expect("stored");
    assert_eq!(entry.value, json!({"n": 1}));
    assert_eq!(entry.tags, ["a", "b"]);

    let got: Option<serde_json::Value> = cache.get("my-key").await.expect("get");
    assert_eq!(got, Some(json!({"n": 1})));
    let gets = emu.requests_of(CacheOp::Get);
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0].method, "GET");
    assert_eq!(gets[0].path, "57f938ab");
    assert_eq!(gets[0].header("x-vercel-cache-item-name"), None);
    assert_eq!(emu.request_count(), 2);
}

#[tokio::test]
async fn namespace_name_and_ttl_rules() {
    let emu = Emulator::start().await.expect("emulator");
    let cache = cache_for(
        &emu,
        CacheOptions {
            namespace: Some("app".into()),
            namespace_separator: Some(":".into()),
            ..CacheOptions::default()
        },
    );
    // No TTL, no tags, an explicit name.
    cache
        .set(
            "a",
            &1,
            SetOptions {
                name: Some("profile".into()),
                ..SetOptions::default()
            },
        )
        .await
        .expect("set");
    // An empty name sends none; a sub-second TTL rounds up to 1 s; zero sends none.
    cache
        .set(
            "a",
            &2,
            SetOptions {
                name: Some(String::new()),
                ttl: Some(Duration::from_millis(1200)),
                ..SetOptions::default()
            },
        )
        .await
        .expect("set");
    cache
        .set(
            "a",
            &3,
            SetOptions {
                ttl: Some(Duration::ZERO),
                ..SetOptions::default()
            },
        )
        .await
        .expect("set");
    let sets = emu.requests_of(CacheOp::Set);
    assert_eq!(sets.len(), 3);
    assert!(sets.iter().all(|r| r.path == "app:2b5c4"));
    assert_eq!(sets[0].header("x-vercel-cache-item-name"), Some("profile"));
    assert_eq!(sets[0].header("x-vercel-revalidate"), None);
    assert_eq!(sets[0].header("x-vercel-cache-tags"), None);
    assert_eq!(sets[1].header("x-vercel-cache-item-name"), None);
    assert_eq!(sets[1].header("x-vercel-revalidate"), Some("2"));
    assert_eq!(sets[2].header("x-vercel-revalidate"), None);
    assert_eq!(
        sets[2].header("x-vercel-cache-item-name"),
        Some("app:2b5c4")
    );
    assert_eq!(emu.entry("app:2b5c4").expect("stored").value, json!(3));
}

#[tokio::test]
async fn get_is_none_unless_found_and_fresh() {
    let emu = Emulator::start().await.expect("emulator");
    let cache = cache_for(&emu, CacheOptions::default());
    // 404.
    assert_eq!(cache.get::<u32>("missing").await.expect("get"), None);
    // Stale after its tag expired: 200 with `x-vercel-cache-state: stale` is a miss.
    emu.insert("b876d32", CacheEntry::new(json!(5)).with_tags(["t1", "t2"]));
    assert_eq!(cache.get::<u32>("key").await.expect("fresh"), Some(5));
    cache.expire_tag(&["t2", "other"]).await.expect("expire");
    let expires = emu.requests_of(CacheOp::ExpireTags);
    assert_eq!(expires.len(), 1);
    assert_eq!(expires[0].method, "POST");
    assert_eq!(expires[0].path, "revalidate");
    assert_eq!(expires[0].query.as_deref(), Some("tags=t2,other"));
    assert!(emu.entry("b876d32").expect("kept").stale);
    assert_eq!(cache.get::<u32>("key").await.expect("stale"), None);
    // Any other status is an error.
    emu.set_header("authorization", "Bearer rotated");
    let e = cache.get::<u32>("key").await.expect_err("401");
    assert!(matches!(e, CacheError::Status { status: 401 }), "{e:?}");
}

#[tokio::test]
async fn delete_sends_delete() {
    let emu = Emulator::start().await.expect("emulator");
    let cache = cache_for(&emu, CacheOptions::default());
    cache
        .set("hello", &"x", SetOptions::default())
        .await
        .expect("set");
    assert!(emu.entry("a9cede7").is_some());
    cache.delete("hello").await.expect("delete");
    let deletes = emu.requests_of(CacheOp::Delete);
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].method, "DELETE");
    assert_eq!(deletes[0].path, "a9cede7");
    assert!(emu.entry("a9cede7").is_none());
}

#[tokio::test]
async fn limits_are_enforced_before_sending() {
    let emu = Emulator::start().await.expect("emulator");
    let cache = cache_for(&emu, CacheOptions::default());
    let e = cache
        .set(
            "big",
            &"x".repeat(vercel_functions::MAX_ITEM_SIZE),
            SetOptions::default(),
        )
        .await
        .expect_err("too large");
    assert!(
        matches!(
            e,
            CacheError::ItemTooLarge {
                limit: 2_097_152,
                ..
            }
        ),
        "{e:?}"
    );
    let tags = (0..129).map(|i| format!("t{i}")).collect();
    let e = cache
        .set(
            "k",
            &1,
            SetOptions {
                tags,
                ..SetOptions::default()
            },
        )
        .await
        .expect_err("too many tags");
    assert!(matches!(
        e,
        CacheError::InvalidTag(TagError::TooMany {
            count: 129,
            limit: 128
        })
    ));
    let e = cache
        .set(
            "k",
            &1,
            SetOptions {
                tags: vec!["x".repeat(257)],
                ..SetOptions::default()
            },
        )
        .await
        .expect_err("tag too long");
    assert!(matches!(
        e,
        CacheError::InvalidTag(TagError::TooLong {
            len: 257,
            limit: 256
        })
    ));
    let e = cache.expire_tag(&[""]).await.expect_err("empty tag");
    assert!(matches!(e, CacheError::InvalidTag(TagError::Empty)));
    // A custom hash that makes a key the URL cannot carry.
    let odd = cache_for(
        &emu,
        CacheOptions {
            key_hash: Some(std::sync::Arc::new(|k: &str| k.to_owned())),
            ..CacheOptions::default()
        },
    );
    let e = odd.get::<u8>("a?b").await.expect_err("query in key");
    assert!(matches!(e, CacheError::InvalidKey { .. }));
    assert_eq!(emu.request_count(), 0, "nothing was sent");
    // The largest value that fits is sent.
    cache
        .set(
            "fits",
            &"x".repeat(vercel_functions::MAX_ITEM_SIZE - 2),
            SetOptions::default(),
        )
        .await
        .expect("exactly 2 MiB of JSON");
    assert_eq!(emu.request_count(), 1);
}

#[tokio::test]
async fn without_the_env_it_falls_back_to_memory_and_sends_nothing() {
    let emu = Emulator::start().await.expect("emulator");
    for env in [
        Env::from_pairs::<&str, &str>([]),
        Env::from_pairs([("RUNTIME_CACHE_ENDPOINT", emu.endpoint())]),
        env_for(&emu).with_var("RUNTIME_CACHE_DISABLE_BUILD_CACHE", "true"),
    ] {
        let cache =
            RuntimeCache::new(CacheOptions::default()).configure(&OidcConfig::new().with_env(env));
        cache
            .set(
                "k",
                &json!([1, 2]),
                SetOptions {
                    tags: vec!["t".into()],
                    ..SetOptions::default()
                },
            )
            .await
            .expect("set");
        assert_eq!(
            cache.get::<Vec<u8>>("k").await.expect("get"),
            Some(vec![1, 2])
        );
        cache.expire_tag(&["t"]).await.expect("expire");
        assert_eq!(cache.get::<Vec<u8>>("k").await.expect("get"), None);
    }
    assert_eq!(emu.request_count(), 0);
}
