//! The Runtime Cache emulator: the HTTP protocol a Vercel function's cache client speaks to
//! `RUNTIME_CACHE_ENDPOINT`, with the auth headers of `RUNTIME_CACHE_HEADERS`.
//!
//! Every request is `{endpoint}{key}` (the key concatenated to [`RuntimeCache::endpoint`], which
//! ends in `/`) and must carry every configured header with its exact value, or it is answered
//! `401`:
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `{key}` | `200` with `x-vercel-cache-state: fresh` and the stored JSON; `200` with `x-vercel-cache-state: stale` and the JSON once its TTL passed or a tag of it was expired; `404` when absent |
//! | POST | `{key}` | stores the JSON body; `200`. Headers: `x-vercel-revalidate: <seconds>` (the TTL, an unsigned integer; `0` or absent: never stale), `x-vercel-cache-tags: a,b` (comma-separated, empty items ignored), `x-vercel-cache-item-name: <name>` |
//! | DELETE | `{key}` | removes the entry (present or not); `200` |
//! | POST | `revalidate?tags=a,b` | marks every entry with any of the tags stale; `200` |
//!
//! The key is the percent-decoded path after the endpoint's path; [`CacheRequest::path`] keeps
//! it as sent. A `POST` is refused with `400` when its body is not JSON, its TTL is not an
//! unsigned integer, it has more than [`MAX_TAGS`] tags or a tag longer than [`MAX_TAG_BYTES`],
//! and with `413` when the body is larger than [`MAX_ITEM_BYTES`]: a client that enforces the
//! documented limits never sees those. Other methods answer `405`.
//!
//! TTLs run on tokio's clock ([`tokio::time::Instant`]), so a test on a paused clock expires
//! entries with `tokio::time::advance`.
//!
//! Every request is recorded ([`RuntimeCache::requests`]: method, path, query, headers, body),
//! rejected and faulted ones included, and counted under [`Endpoint::RuntimeCache`], where the
//! shared [`Fault`](crate::Fault)s apply ([`RuntimeCache::faults`]): a status, a delay, a
//! dropped connection, a garbage `200` (no cache-state header: a miss for a `GET`), a truncated
//! body. [`RuntimeCache::inject_fresh_garbage`] answers the next `GET`s with a `fresh` state
//! and a body that is not JSON.
//!
//! The emulator shares no code with any cache client. Nothing it logs contains a header value
//! or a body.
//!
//! # Example
//!
//! ```
//! use vercel_oidc_testkit::runtime_cache::RuntimeCache;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let cache = RuntimeCache::start().await?;
//! // What the platform puts in the function's environment:
//! //   RUNTIME_CACHE_ENDPOINT = cache.endpoint()
//! //   RUNTIME_CACHE_HEADERS  = cache.headers_json()
//! assert!(cache.endpoint().ends_with('/'));
//!
//! let client = reqwest::Client::builder().no_proxy().build().map_err(std::io::Error::other)?;
//! let mut request = client
//!     .post(format!("{}my-key", cache.endpoint()))
//!     .header("x-vercel-revalidate", "60")
//!     .header("x-vercel-cache-tags", "a,b")
//!     .body(r#"{"n":1}"#);
//! for (name, value) in cache.headers() {
//!     request = request.header(name, value);
//! }
//! assert_eq!(request.send().await.map_err(std::io::Error::other)?.status(), 200);
//!
//! let entry = cache.entry("my-key").expect("stored");
//! assert_eq!(entry.value, serde_json::json!({"n": 1}));
//! assert_eq!(entry.tags, ["a", "b"]);
//! assert_eq!(cache.requests()[0].header("x-vercel-cache-tags"), Some("a,b"));
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::faults::{Endpoint, Faults};
use crate::server::{Counters, Server};

/// The path under which the emulator serves the cache; [`RuntimeCache::endpoint`] ends with it.
const BASE_PATH: &str = "/runtime-cache/";

/// The largest item (request body) a `POST` may store: 2 MiB.
pub const MAX_ITEM_BYTES: usize = 2 * 1024 * 1024;

/// The most tags one item may carry.
pub const MAX_TAGS: usize = 128;

/// The longest tag, in bytes.
pub const MAX_TAG_BYTES: usize = 256;

/// Bodies above this are refused by the HTTP layer before they are recorded (so a runaway
/// client cannot fill the test's memory); between [`MAX_ITEM_BYTES`] and this they are recorded
/// and answered `413`.
const TRANSPORT_LIMIT: usize = 4 * MAX_ITEM_BYTES;

/// The header a `GET` answer carries with the entry's state.
pub const CACHE_STATE_HEADER: &str = "x-vercel-cache-state";
/// The TTL header of a `POST`, in seconds.
pub const REVALIDATE_HEADER: &str = "x-vercel-revalidate";
/// The tags header of a `POST`, comma-separated.
pub const TAGS_HEADER: &str = "x-vercel-cache-tags";
/// The item-name header of a `POST`.
pub const ITEM_NAME_HEADER: &str = "x-vercel-cache-item-name";

/// What a recorded request was, as the emulator classified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheOp {
    /// `GET {key}`.
    Get,
    /// `POST {key}`.
    Set,
    /// `DELETE {key}`.
    Delete,
    /// `POST revalidate?tags=…`.
    ExpireTags,
    /// Anything else (another method, or a path outside the endpoint).
    Other,
}

/// One request the emulator received, as sent. `Debug` prints header names only (the values
/// may be credentials).
#[derive(Clone)]
#[non_exhaustive]
pub struct CacheRequest {
    /// The request method.
    pub method: Method,
    /// How the emulator classified it.
    pub op: CacheOp,
    /// The path after the endpoint's own path, as sent (not decoded): the key, or `revalidate`.
    pub path: String,
    /// The percent-decoded key (`None` for [`CacheOp::ExpireTags`] and [`CacheOp::Other`]).
    pub key: Option<String>,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// Every request header.
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// When it arrived, on tokio's clock.
    pub at: Instant,
}

impl CacheRequest {
    /// The value of header `name` (case-insensitive), if present and visible ASCII. With several,
    /// the first.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as UTF-8 text (`None` if it is not UTF-8).
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
}

impl fmt::Debug for CacheRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.keys().map(|k| k.as_str()).collect();
        f.debug_struct("CacheRequest")
            .field("method", &self.method)
            .field("op", &self.op)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// A stored item, for assertions ([`RuntimeCache::entry`]) and seeding
/// ([`RuntimeCache::insert`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CacheEntry {
    /// The stored JSON value.
    pub value: Value,
    /// Its tags, in the order sent.
    pub tags: Vec<String>,
    /// The `x-vercel-cache-item-name` it was stored with.
    pub name: Option<String>,
    /// The TTL it was stored with (`None`: never stale).
    pub ttl: Option<Duration>,
    /// Whether a `GET` would now answer it `stale` (TTL passed or a tag expired).
    pub stale: bool,
}

impl CacheEntry {
    /// An entry holding `value`, with no tags, name or TTL.
    pub fn new(value: Value) -> Self {
        Self {
            value,
            tags: Vec::new(),
            name: None,
            ttl: None,
            stale: false,
        }
    }

    /// The same entry with these tags.
    pub fn with_tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// The same entry with this TTL (from the moment it is inserted).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

#[derive(Debug, Clone)]
struct Stored {
    body: Bytes,
    tags: Vec<String>,
    name: Option<String>,
    ttl: Option<Duration>,
    stored_at: Instant,
    /// Set by a tag expiry.
    expired: bool,
}

impl Stored {
    fn is_stale(&self, now: Instant) -> bool {
        self.expired
            || self
                .ttl
                .is_some_and(|ttl| now.saturating_duration_since(self.stored_at) >= ttl)
    }
}

/// Settings of a [`RuntimeCache`]; [`RuntimeCacheBuilder::start`] starts it.
#[derive(Debug, Clone)]
pub struct RuntimeCacheBuilder {
    /// `None`: the default random bearer header.
    headers: Option<Vec<(String, String)>>,
}

impl RuntimeCacheBuilder {
    /// A header every request must carry with exactly this value (names are case-insensitive).
    /// May be called more than once. Defaults to one `authorization: Bearer rc_<random>`
    /// header; the first call replaces that default.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .get_or_insert_with(Vec::new)
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// Accepts requests without any particular header. Defaults to requiring the
    /// [`RuntimeCacheBuilder::header`]s.
    pub fn no_required_headers(mut self) -> Self {
        self.headers = Some(Vec::new());
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// # Errors
    /// If the loopback port cannot be bound.
    pub async fn start(self) -> io::Result<RuntimeCache> {
        let headers = self.headers.unwrap_or_else(|| {
            vec![(
                header::AUTHORIZATION.as_str().to_owned(),
                format!("Bearer rc_{}", crate::format::random_id()),
            )]
        });
        let listener = Server::bind().await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            endpoint: format!("http://{addr}{BASE_PATH}"),
            state: Mutex::new(CacheState {
                required: headers,
                entries: HashMap::new(),
                requests: Vec::new(),
                fresh_garbage: 0,
            }),
            faults: Faults::new(),
            counters: Counters::default(),
        });
        let router = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(TRANSPORT_LIMIT))
            .with_state(Arc::clone(&shared));
        let server = Server::serve(listener, router)?;
        tracing::debug!(endpoint = %shared.endpoint, "vercel-oidc-testkit: Runtime Cache started");
        Ok(RuntimeCache { shared, server })
    }
}

/// A running Runtime Cache emulator on `127.0.0.1`. Dropping it shuts the server down.
pub struct RuntimeCache {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for RuntimeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeCache")
            .field("endpoint", &self.shared.endpoint)
            .finish_non_exhaustive()
    }
}

impl RuntimeCache {
    /// Starts an emulator with the default settings (one random bearer header).
    ///
    /// # Errors
    /// If the loopback port cannot be bound.
    pub async fn start() -> io::Result<RuntimeCache> {
        Self::builder().start().await
    }

    /// A builder to choose the required headers.
    pub fn builder() -> RuntimeCacheBuilder {
        RuntimeCacheBuilder { headers: None }
    }

    /// `http://127.0.0.1:PORT/runtime-cache/`, ending in `/`: the value for
    /// `RUNTIME_CACHE_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        self.shared.endpoint.clone()
    }

    /// The socket address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The headers every request must carry, names lower-case, in the order configured.
    pub fn headers(&self) -> Vec<(String, String)> {
        self.shared.state().required.clone()
    }

    /// The required headers as one JSON object (`{"authorization":"Bearer rc_…"}`): the value
    /// for `RUNTIME_CACHE_HEADERS`.
    pub fn headers_json(&self) -> String {
        let map: serde_json::Map<String, Value> = self
            .headers()
            .into_iter()
            .map(|(n, v)| (n, Value::String(v)))
            .collect();
        Value::Object(map).to_string()
    }

    /// Requires header `name` with `value` from now on, replacing its earlier value (as when the
    /// platform rotates the cache credentials between requests).
    pub fn set_header(&self, name: &str, value: impl Into<String>) {
        let name = name.to_ascii_lowercase();
        let value = value.into();
        let mut state = self.shared.state();
        match state.required.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => state.required.push((name, value)),
        }
    }

    /// No longer requires header `name`.
    pub fn remove_header(&self, name: &str) {
        let name = name.to_ascii_lowercase();
        self.shared.state().required.retain(|(n, _)| *n != name);
    }

    /// Every request received, oldest first (rejected and faulted ones included).
    pub fn requests(&self) -> Vec<CacheRequest> {
        self.shared.state().requests.clone()
    }

    /// The requests of one kind, oldest first.
    pub fn requests_of(&self, op: CacheOp) -> Vec<CacheRequest> {
        self.shared
            .state()
            .requests
            .iter()
            .filter(|r| r.op == op)
            .cloned()
            .collect()
    }

    /// How many requests arrived (faulted ones included).
    pub fn request_count(&self) -> usize {
        self.shared.counters.get(Endpoint::RuntimeCache)
    }

    /// Forgets the recorded requests and the count (entries stay).
    pub fn reset_requests(&self) {
        self.shared.state().requests.clear();
        self.shared.counters.reset();
    }

    /// The entry stored under `key` (the decoded key), with its current staleness.
    pub fn entry(&self, key: &str) -> Option<CacheEntry> {
        let now = Instant::now();
        let state = self.shared.state();
        let stored = state.entries.get(key)?;
        Some(CacheEntry {
            value: serde_json::from_slice(&stored.body).unwrap_or(Value::Null),
            tags: stored.tags.clone(),
            name: stored.name.clone(),
            ttl: stored.ttl,
            stale: stored.is_stale(now),
        })
    }

    /// Every stored key, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.shared.state().entries.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Stores `entry` under `key` as a `POST` would (its `stale` flag is applied as a tag
    /// expiry), without a request.
    pub fn insert(&self, key: impl Into<String>, entry: CacheEntry) {
        let stored = Stored {
            body: Bytes::from(entry.value.to_string()),
            tags: entry.tags,
            name: entry.name,
            ttl: entry.ttl,
            stored_at: Instant::now(),
            expired: entry.stale,
        };
        self.shared.state().entries.insert(key.into(), stored);
    }

    /// Removes every entry.
    pub fn clear(&self) {
        self.shared.state().entries.clear();
    }

    /// The shared fault rules, applied to [`Endpoint::RuntimeCache`] (every request).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Answers the next `n` authorized `GET`s with `200`, `x-vercel-cache-state: fresh` and a
    /// body that is not JSON, whatever is stored. Shared [`Fault`](crate::Fault)s take
    /// precedence.
    pub fn inject_fresh_garbage(&self, n: usize) {
        self.shared.state().fresh_garbage += n;
    }
}

#[derive(Debug)]
struct CacheState {
    required: Vec<(String, String)>,
    entries: HashMap<String, Stored>,
    requests: Vec<CacheRequest>,
    fresh_garbage: usize,
}

struct Shared {
    endpoint: String,
    state: Mutex<CacheState>,
    faults: Faults,
    counters: Counters,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn answer(&self, request: &CacheRequest) -> Response {
        let mut state = self.state();
        let authorized = state.required.iter().all(|(name, value)| {
            request
                .headers
                .get_all(name.as_str())
                .iter()
                .any(|v| v.as_bytes() == value.as_bytes())
        });
        if !authorized {
            return error(StatusCode::UNAUTHORIZED, "unauthorized");
        }
        let now = Instant::now();
        match request.op {
            CacheOp::Get => {
                if state.fresh_garbage > 0 {
                    state.fresh_garbage -= 1;
                    return with_state(
                        StatusCode::OK,
                        "fresh",
                        Body::from("<html>not json"),
                        "text/html",
                    );
                }
                let key = request.key.as_deref().unwrap_or_default();
                match state.entries.get(key) {
                    None => error(StatusCode::NOT_FOUND, "not_found"),
                    Some(stored) => {
                        let cache_state = if stored.is_stale(now) {
                            "stale"
                        } else {
                            "fresh"
                        };
                        with_state(
                            StatusCode::OK,
                            cache_state,
                            Body::from(stored.body.clone()),
                            "application/json",
                        )
                    }
                }
            }
            CacheOp::Set => match parse_set(request) {
                Err((status, code)) => error(status, code),
                Ok((ttl, tags, name)) => {
                    let key = request.key.clone().unwrap_or_default();
                    let stored = Stored {
                        body: request.body.clone(),
                        tags,
                        name,
                        ttl,
                        stored_at: now,
                        expired: false,
                    };
                    state.entries.insert(key, stored);
                    StatusCode::OK.into_response()
                }
            },
            CacheOp::Delete => {
                let key = request.key.as_deref().unwrap_or_default();
                state.entries.remove(key);
                StatusCode::OK.into_response()
            }
            CacheOp::ExpireTags => {
                let Some(tags) = query_tags(request.query.as_deref()) else {
                    return error(StatusCode::BAD_REQUEST, "missing_tags");
                };
                for stored in state.entries.values_mut() {
                    if stored.tags.iter().any(|t| tags.contains(t)) {
                        stored.expired = true;
                    }
                }
                StatusCode::OK.into_response()
            }
            CacheOp::Other => {
                if request.key.is_some() {
                    error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
                } else {
                    error(StatusCode::NOT_FOUND, "not_found")
                }
            }
        }
    }
}

type SetParts = (Option<Duration>, Vec<String>, Option<String>);

/// The TTL, tags and item name of a `POST`, or the status and code of the `400`/`413` answer.
fn parse_set(request: &CacheRequest) -> Result<SetParts, (StatusCode, &'static str)> {
    if request.body.len() > MAX_ITEM_BYTES {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, "item_too_large"));
    }
    if serde_json::from_slice::<Value>(&request.body).is_err() {
        return Err((StatusCode::BAD_REQUEST, "body_not_json"));
    }
    let ttl = match request.headers.get(REVALIDATE_HEADER) {
        None => None,
        Some(value) => {
            let seconds = value
                .to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or((StatusCode::BAD_REQUEST, "invalid_revalidate"))?;
            (seconds > 0).then(|| Duration::from_secs(seconds))
        }
    };
    let tags = match request.headers.get(TAGS_HEADER) {
        None => Vec::new(),
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| (StatusCode::BAD_REQUEST, "invalid_tags"))?;
            split_tags(text)
        }
    };
    if tags.len() > MAX_TAGS || tags.iter().any(|t| t.len() > MAX_TAG_BYTES) {
        return Err((StatusCode::BAD_REQUEST, "too_many_or_too_long_tags"));
    }
    let name = match request.headers.get(ITEM_NAME_HEADER) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| (StatusCode::BAD_REQUEST, "invalid_item_name"))?
                .to_owned(),
        ),
    };
    Ok((ttl, tags, name))
}

fn split_tags(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The `tags` of a `revalidate` query (form-decoded, then split on `,`); `None` without one.
fn query_tags(query: Option<&str>) -> Option<Vec<String>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    let mut tags = Vec::new();
    let mut seen = false;
    for (name, value) in pairs {
        if name == "tags" {
            seen = true;
            tags.extend(split_tags(&value));
        }
    }
    seen.then_some(tags)
}

/// Percent-decodes a path segment (no `+` rule); `None` on a bad escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn with_state(
    status: StatusCode,
    state: &'static str,
    body: Body,
    content_type: &'static str,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CACHE_STATE_HEADER, HeaderValue::from_static(state));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn error(status: StatusCode, code: &'static str) -> Response {
    (status, axum::Json(json!({ "error": code }))).into_response()
}

/// Classifies a request by method and path.
fn classify(method: &Method, rest: Option<&str>, query: Option<&str>) -> (CacheOp, Option<String>) {
    let Some(rest) = rest else {
        return (CacheOp::Other, None);
    };
    let key = percent_decode(rest);
    if *method == Method::POST && rest == "revalidate" && query_tags(query).is_some() {
        return (CacheOp::ExpireTags, None);
    }
    let op = match *method {
        Method::GET => CacheOp::Get,
        Method::POST => CacheOp::Set,
        Method::DELETE => CacheOp::Delete,
        _ => CacheOp::Other,
    };
    match key {
        Some(key) => (op, Some(key)),
        None => (CacheOp::Other, None),
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, TRANSPORT_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
    };
    let full_path = parts.uri.path();
    let rest = full_path.strip_prefix(BASE_PATH);
    let query = parts.uri.query().map(str::to_owned);
    let (op, key) = classify(&parts.method, rest, query.as_deref());
    let record = CacheRequest {
        method: parts.method.clone(),
        op,
        path: rest.unwrap_or(full_path).to_owned(),
        key,
        query,
        headers: parts.headers,
        body,
        at: Instant::now(),
    };
    shared.state().requests.push(record.clone());
    shared.counters.hit(Endpoint::RuntimeCache);
    tracing::debug!(op = ?record.op, "vercel-oidc-testkit: Runtime Cache request");
    let answer = async { shared.answer(&record) };
    shared.faults.respond(Endpoint::RuntimeCache, answer).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_and_classification() {
        assert_eq!(percent_decode("a%20b%24c").as_deref(), Some("a b$c"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);

        let (op, key) = classify(&Method::POST, Some("revalidate"), Some("tags=a,b"));
        assert_eq!((op, key), (CacheOp::ExpireTags, None));
        let (op, key) = classify(&Method::POST, Some("revalidate"), None);
        assert_eq!((op, key.as_deref()), (CacheOp::Set, Some("revalidate")));
        let (op, key) = classify(&Method::PUT, Some("k"), None);
        assert_eq!((op, key.as_deref()), (CacheOp::Other, Some("k")));
        let (op, key) = classify(&Method::GET, None, None);
        assert_eq!((op, key), (CacheOp::Other, None));
        let (op, key) = classify(&Method::DELETE, Some("ns%24k"), None);
        assert_eq!((op, key.as_deref()), (CacheOp::Delete, Some("ns$k")));
    }

    #[test]
    fn tag_queries() {
        assert_eq!(
            query_tags(Some("tags=a,b&x=1&tags=c")),
            Some(vec!["a".to_owned(), "b".to_owned(), "c".to_owned()])
        );
        assert_eq!(
            query_tags(Some("tags=a%2Cb")),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(query_tags(Some("tags=")), Some(Vec::new()));
        assert_eq!(query_tags(Some("x=1")), None);
        assert_eq!(query_tags(None), None);
        assert_eq!(split_tags(",a,,b,"), ["a", "b"]);
    }
}
