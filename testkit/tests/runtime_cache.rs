//! The Runtime Cache emulator driven over loopback HTTP with plain reqwest: the protocol,
//! the auth headers, TTLs on tokio's paused clock, tag expiry, recording and faults.

use std::time::Duration;

use serde_json::{Value, json};
use vercel_oidc_testkit::runtime_cache::{CacheEntry, CacheOp, MAX_ITEM_BYTES, RuntimeCache};
use vercel_oidc_testkit::{Endpoint, Fault};

/// No pooled connections: an idle connection's timer would let a paused clock jump ahead.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// A request to `{endpoint}{path}` carrying the emulator's required headers.
fn request(cache: &RuntimeCache, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    let mut builder = client().request(method, format!("{}{path}", cache.endpoint()));
    for (name, value) in cache.headers() {
        builder = builder.header(name, value);
    }
    builder
}

struct Answer {
    status: u16,
    state: Option<String>,
    body: String,
}

async fn send(builder: reqwest::RequestBuilder) -> Answer {
    let response = builder.send().await.expect("the emulator answers");
    let status = response.status().as_u16();
    let state = response
        .headers()
        .get("x-vercel-cache-state")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.expect("body");
    Answer {
        status,
        state,
        body,
    }
}

async fn get(cache: &RuntimeCache, key: &str) -> Answer {
    send(request(cache, reqwest::Method::GET, key)).await
}

async fn set(cache: &RuntimeCache, key: &str, body: &str, headers: &[(&str, &str)]) -> Answer {
    let mut builder = request(cache, reqwest::Method::POST, key).body(body.to_owned());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    send(builder).await
}

#[tokio::test]
async fn endpoint_and_headers_json() {
    let cache = RuntimeCache::builder()
        .header("Authorization", "Bearer abc")
        .header("x-extra", "1")
        .start()
        .await
        .expect("start");
    let endpoint = cache.endpoint();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    assert!(endpoint.ends_with("/runtime-cache/"), "{endpoint}");
    let parsed: Value = serde_json::from_str(&cache.headers_json()).expect("JSON");
    assert_eq!(
        parsed,
        json!({"authorization": "Bearer abc", "x-extra": "1"})
    );

    let default = RuntimeCache::start().await.expect("start");
    let headers = default.headers();
    assert_eq!(headers.len(), 1);
    assert_eq!(headers[0].0, "authorization");
    assert!(headers[0].1.starts_with("Bearer rc_"), "random bearer");
    assert!(headers[0].1.len() > "Bearer rc_".len() + 16);
}

#[tokio::test]
async fn set_then_get_round_trips_with_fresh_state() {
    let cache = RuntimeCache::start().await.expect("start");
    assert_eq!(get(&cache, "k").await.status, 404);
    let stored = set(
        &cache,
        "k",
        r#"{"a":[1,2]}"#,
        &[
            ("x-vercel-revalidate", "30"),
            ("x-vercel-cache-tags", "t1,t2"),
            ("x-vercel-cache-item-name", "item"),
        ],
    )
    .await;
    assert_eq!(stored.status, 200);
    let answer = get(&cache, "k").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.state.as_deref(), Some("fresh"));
    assert_eq!(answer.body, r#"{"a":[1,2]}"#);

    let entry = cache.entry("k").expect("entry");
    assert_eq!(entry.value, json!({"a": [1, 2]}));
    assert_eq!(entry.tags, ["t1", "t2"]);
    assert_eq!(entry.name.as_deref(), Some("item"));
    assert_eq!(entry.ttl, Some(Duration::from_secs(30)));
    assert!(!entry.stale);
    assert_eq!(cache.keys(), ["k"]);
}

#[tokio::test]
async fn requests_are_recorded_as_sent() {
    let cache = RuntimeCache::start().await.expect("start");
    set(&cache, "ns%24abc", "1", &[("x-vercel-cache-tags", "a")]).await;
    get(&cache, "ns%24abc").await;
    send(request(&cache, reqwest::Method::DELETE, "ns%24abc")).await;
    send(request(
        &cache,
        reqwest::Method::POST,
        "revalidate?tags=a,b",
    ))
    .await;

    let requests = cache.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(cache.request_count(), 4);
    let ops: Vec<CacheOp> = requests.iter().map(|r| r.op).collect();
    assert_eq!(
        ops,
        [
            CacheOp::Set,
            CacheOp::Get,
            CacheOp::Delete,
            CacheOp::ExpireTags
        ]
    );
    assert_eq!(requests[0].method, reqwest::Method::POST);
    assert_eq!(requests[0].path, "ns%24abc");
    assert_eq!(requests[0].key.as_deref(), Some("ns$abc"));
    assert_eq!(requests[0].body_text(), Some("1"));
    assert_eq!(requests[0].header("x-vercel-cache-tags"), Some("a"));
    let (auth_name, auth_value) = &cache.headers()[0];
    assert_eq!(requests[1].header(auth_name), Some(auth_value.as_str()));
    assert_eq!(requests[3].path, "revalidate");
    assert_eq!(requests[3].key, None);
    assert_eq!(requests[3].query.as_deref(), Some("tags=a,b"));
    assert_eq!(cache.requests_of(CacheOp::Get).len(), 1);
    // Debug shows header names, never values.
    let debug = format!("{:?}", requests[1]);
    assert!(!debug.contains(auth_value.as_str()), "{debug}");
    assert!(debug.contains("authorization"), "{debug}");

    cache.reset_requests();
    assert!(cache.requests().is_empty());
    assert_eq!(cache.request_count(), 0);
    assert_eq!(cache.keys(), Vec::<String>::new(), "deleted");
}

#[tokio::test]
async fn missing_or_wrong_auth_headers_are_401() {
    let cache = RuntimeCache::builder()
        .header("authorization", "Bearer right")
        .header("x-team", "t")
        .start()
        .await
        .expect("start");
    let no_headers = send(client().get(format!("{}k", cache.endpoint()))).await;
    assert_eq!(no_headers.status, 401);
    let one_missing = send(
        client()
            .post(format!("{}k", cache.endpoint()))
            .header("authorization", "Bearer right")
            .body("1"),
    )
    .await;
    assert_eq!(one_missing.status, 401);
    let wrong = send(
        client()
            .get(format!("{}k", cache.endpoint()))
            .header("authorization", "Bearer wrong")
            .header("x-team", "t"),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(cache.keys().is_empty(), "a refused POST stores nothing");
    assert_eq!(cache.requests().len(), 3, "refused requests are recorded");

    // Rotated credentials: the old header is refused, the new one accepted.
    cache.set_header("Authorization", "Bearer rotated");
    assert_eq!(
        cache.headers_json(),
        r#"{"authorization":"Bearer rotated","x-team":"t"}"#
    );
    let old = send(
        client()
            .get(format!("{}k", cache.endpoint()))
            .header("authorization", "Bearer right")
            .header("x-team", "t"),
    )
    .await;
    assert_eq!(old.status, 401);
    assert_eq!(get(&cache, "k").await.status, 404);
    cache.remove_header("x-team");
    let only_auth = send(
        client()
            .get(format!("{}k", cache.endpoint()))
            .header("authorization", "Bearer rotated"),
    )
    .await;
    assert_eq!(only_auth.status, 404);

    let open = RuntimeCache::builder()
        .no_required_headers()
        .start()
        .await
        .expect("start");
    assert_eq!(open.headers_json(), "{}");
    assert_eq!(
        send(client().get(format!("{}k", open.endpoint())))
            .await
            .status,
        404
    );
}

#[tokio::test(start_paused = true)]
async fn ttl_expiry_on_tokios_clock_answers_stale() {
    let cache = RuntimeCache::start().await.expect("start");
    set(&cache, "short", "1", &[("x-vercel-revalidate", "10")]).await;
    set(&cache, "forever", "2", &[("x-vercel-revalidate", "0")]).await;
    set(&cache, "no-ttl", "3", &[]).await;

    tokio::time::advance(Duration::from_secs(9)).await;
    assert_eq!(get(&cache, "short").await.state.as_deref(), Some("fresh"));
    tokio::time::advance(Duration::from_secs(1)).await;
    let stale = get(&cache, "short").await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.state.as_deref(), Some("stale"));
    assert_eq!(stale.body, "1");
    assert!(cache.entry("short").expect("entry").stale);

    tokio::time::advance(Duration::from_secs(365 * 24 * 3600)).await;
    assert_eq!(get(&cache, "forever").await.state.as_deref(), Some("fresh"));
    assert_eq!(cache.entry("forever").expect("entry").ttl, None);
    assert_eq!(get(&cache, "no-ttl").await.state.as_deref(), Some("fresh"));
}

#[tokio::test]
async fn expire_tags_marks_only_tagged_entries_stale() {
    let cache = RuntimeCache::start().await.expect("start");
    set(&cache, "a", "1", &[("x-vercel-cache-tags", "x,y")]).await;
    set(&cache, "b", "2", &[("x-vercel-cache-tags", "y")]).await;
    set(&cache, "c", "3", &[("x-vercel-cache-tags", "z")]).await;
    set(&cache, "d", "4", &[]).await;
    let expired = send(request(
        &cache,
        reqwest::Method::POST,
        "revalidate?tags=x,y",
    ))
    .await;
    assert_eq!(expired.status, 200);
    assert_eq!(get(&cache, "a").await.state.as_deref(), Some("stale"));
    assert_eq!(get(&cache, "b").await.state.as_deref(), Some("stale"));
    assert_eq!(get(&cache, "c").await.state.as_deref(), Some("fresh"));
    assert_eq!(get(&cache, "d").await.state.as_deref(), Some("fresh"));
    // Setting again makes it fresh.
    set(&cache, "a", "5", &[("x-vercel-cache-tags", "x")]).await;
    assert_eq!(get(&cache, "a").await.state.as_deref(), Some("fresh"));
    // A POST to `revalidate` without `tags` is an ordinary set of the key "revalidate".
    set(&cache, "revalidate", "6", &[]).await;
    assert_eq!(cache.entry("revalidate").expect("entry").value, json!(6));
}

#[tokio::test]
async fn delete_removes_and_is_idempotent() {
    let cache = RuntimeCache::start().await.expect("start");
    set(&cache, "k", "1", &[]).await;
    assert_eq!(
        send(request(&cache, reqwest::Method::DELETE, "k"))
            .await
            .status,
        200
    );
    assert_eq!(get(&cache, "k").await.status, 404);
    assert_eq!(
        send(request(&cache, reqwest::Method::DELETE, "k"))
            .await
            .status,
        200
    );
    assert_eq!(
        send(request(&cache, reqwest::Method::PUT, "k"))
            .await
            .status,
        405
    );
}

#[tokio::test]
async fn invalid_sets_are_refused() {
    let cache = RuntimeCache::start().await.expect("start");
    assert_eq!(set(&cache, "k", "not json", &[]).await.status, 400);
    assert_eq!(
        set(&cache, "k", "1", &[("x-vercel-revalidate", "1.5")])
            .await
            .status,
        400
    );
    assert_eq!(
        set(&cache, "k", "1", &[("x-vercel-revalidate", "-1")])
            .await
            .status,
        400
    );
    let many: Vec<String> = (0..129).map(|i| format!("t{i}")).collect();
    assert_eq!(
        set(
            &cache,
            "k",
            "1",
            &[("x-vercel-cache-tags", &many.join(","))]
        )
        .await
        .status,
        400
    );
    let most: Vec<String> = (0..128).map(|i| format!("t{i}")).collect();
    assert_eq!(
        set(
            &cache,
            "k",
            "1",
            &[("x-vercel-cache-tags", &most.join(","))]
        )
        .await
        .status,
        200
    );
    let long = "x".repeat(257);
    assert_eq!(
        set(&cache, "k2", "1", &[("x-vercel-cache-tags", &long)])
            .await
            .status,
        400
    );
    let big = format!("\"{}\"", "x".repeat(MAX_ITEM_BYTES - 1));
    assert_eq!(set(&cache, "k3", &big, &[]).await.status, 413);
    let fits = format!("\"{}\"", "x".repeat(MAX_ITEM_BYTES - 2));
    assert_eq!(set(&cache, "k4", &fits, &[]).await.status, 200);
    assert_eq!(cache.keys(), ["k", "k4"]);
}

#[tokio::test]
async fn seeded_entries_are_served() {
    let cache = RuntimeCache::start().await.expect("start");
    cache.insert("seed", CacheEntry::new(json!({"v": true})).with_tags(["t"]));
    let answer = get(&cache, "seed").await;
    assert_eq!(answer.state.as_deref(), Some("fresh"));
    assert_eq!(answer.body, r#"{"v":true}"#);
    cache.clear();
    assert_eq!(get(&cache, "seed").await.status, 404);
}

#[tokio::test]
async fn shared_faults_apply_to_every_request() {
    let cache = RuntimeCache::start().await.expect("start");
    set(&cache, "k", "1", &[]).await;

    cache
        .faults()
        .next(Endpoint::RuntimeCache, 1, Fault::Status(500));
    assert_eq!(get(&cache, "k").await.status, 500);

    cache
        .faults()
        .next(Endpoint::RuntimeCache, 1, Fault::Garbage);
    let garbage = get(&cache, "k").await;
    assert_eq!(garbage.status, 200);
    assert_eq!(garbage.state, None, "garbage has no cache state: a miss");

    cache.faults().next(Endpoint::RuntimeCache, 1, Fault::Drop);
    let dropped = request(&cache, reqwest::Method::GET, "k").send().await;
    assert!(dropped.is_err(), "the connection is dropped");

    cache.inject_fresh_garbage(1);
    let fresh_garbage = get(&cache, "k").await;
    assert_eq!(fresh_garbage.state.as_deref(), Some("fresh"));
    assert!(serde_json::from_str::<Value>(&fresh_garbage.body).is_err());

    assert_eq!(get(&cache, "k").await.body, "1", "faults used up");
    assert_eq!(cache.request_count(), 6);
}

#[tokio::test(start_paused = true)]
async fn delay_fault_waits_on_tokios_clock() {
    let cache = RuntimeCache::start().await.expect("start");
    cache.faults().next(
        Endpoint::RuntimeCache,
        1,
        Fault::Delay(Duration::from_secs(5)),
    );
    let start = tokio::time::Instant::now();
    let slow = tokio::time::timeout(Duration::from_secs(1), get(&cache, "k")).await;
    assert!(slow.is_err(), "a client with a 1 s timeout gives up");
    assert!(start.elapsed() >= Duration::from_secs(1));
    let answer = get(&cache, "k").await;
    assert_eq!(answer.status, 404);
}
