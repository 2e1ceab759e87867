//! The Vercel REST API's edge-cache purge endpoints, recording exactly what was sent.
//!
//! | method | path | body |
//! |---|---|---|
//! | POST | `/v1/edge-cache/invalidate-by-tags` | `{"tags": [..] \| "a,b", "target"?}` |
//! | POST | `/v1/edge-cache/dangerously-delete-by-tags` | `{"tags": [..] \| "a,b", "target"?, "revalidationDeadlineSeconds"?}` |
//! | POST | `/v1/edge-cache/invalidate-by-src-images` | `{"srcImages": [..]}` |
//! | POST | `/v1/edge-cache/dangerously-delete-by-src-images` | `{"srcImages": [..], "revalidationDeadlineSeconds"?}` |
//!
//! Each takes the query `projectIdOrName` (required), `teamId` and `slug` (optional), and
//! `Authorization: Bearer <token>`. The body fields follow Vercel's REST reference
//! (`vercel.com/docs/rest-api/edge-cache/…`, read for this emulator): `tags` is required and is
//! either an array of strings of at most 256 characters or one string of at most 8196;
//! `target` is `"production"` or `"preview"`; `revalidationDeadlineSeconds` is a number ≥ 0
//! and exists only on the two `dangerously-delete` endpoints; `srcImages` is a required array of
//! strings of at most 8192 characters (the src-image endpoints document no `target`). Success is
//! `200 {}`.
//!
//! The emulator checks, in order, answering with the REST API's error shape
//! `{"error": {"code", "message"}}`:
//!
//! 1. a known path (else `404 not_found`) and `POST` (else `405 method_not_allowed`);
//! 2. a bearer token (else `401 unauthorized`) that it accepts (else `403 forbidden`);
//! 3. a non-empty `projectIdOrName` (else `400 bad_request`), equal to the configured project
//!    if one is set ([`PurgeApiBuilder::project`], else `404 not_found`), and the configured
//!    `teamId` if one is set ([`PurgeApiBuilder::team_id`], else `403 forbidden`);
//! 4. `Content-Type: application/json` and a body that is a JSON object with exactly the fields
//!    above, well typed (else `400 bad_request`). Unknown fields are refused: stricter than
//!    Vercel may be, so a client that sends a misspelled field fails here.
//!
//! Every request is recorded first ([`PurgeApi::requests`]), rejected and faulted ones
//! included, and counted under [`Endpoint::Purge`], where the shared [`Fault`](crate::Fault)s
//! apply ([`PurgeApi::faults`]).
//!
//! # Example
//!
//! ```
//! use serde_json::json;
//! use vercel_oidc_testkit::purge::{PurgeApi, PurgeRoute};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let api = PurgeApi::builder().token("vercel-token").start().await?;
//! let client = reqwest::Client::builder().no_proxy().build().map_err(std::io::Error::other)?;
//! let response = client
//!     .post(format!("{}/v1/edge-cache/invalidate-by-tags?projectIdOrName=prj_1&teamId=team_1", api.base_url()))
//!     .bearer_auth("vercel-token")
//!     .json(&json!({ "tags": ["products"] }))
//!     .send()
//!     .await
//!     .map_err(std::io::Error::other)?;
//! assert_eq!(response.status(), 200);
//!
//! let sent = &api.requests()[0];
//! assert_eq!(sent.route, Some(PurgeRoute::InvalidateByTags));
//! assert_eq!(sent.project_id_or_name.as_deref(), Some("prj_1"));
//! assert_eq!(sent.team_id.as_deref(), Some("team_1"));
//! assert_eq!(sent.bearer.as_deref(), Some("vercel-token"));
//! assert_eq!(sent.json, Some(json!({ "tags": ["products"] })));
//! # Ok(())
//! # }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::faults::{Endpoint, Faults};
use crate::server::{Counters, Server};

/// Bodies above this are refused before they are recorded.
const BODY_LIMIT: usize = 1024 * 1024;
/// The longest tag in an array of tags.
const MAX_TAG_CHARS: usize = 256;
/// The longest `tags` string.
const MAX_TAGS_STRING_CHARS: usize = 8196;
/// The longest source image.
const MAX_SRC_IMAGE_CHARS: usize = 8192;

/// One of the four purge endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PurgeRoute {
    /// `POST /v1/edge-cache/invalidate-by-tags`.
    InvalidateByTags,
    /// `POST /v1/edge-cache/dangerously-delete-by-tags`.
    DangerouslyDeleteByTags,
    /// `POST /v1/edge-cache/invalidate-by-src-images`.
    InvalidateBySrcImages,
    /// `POST /v1/edge-cache/dangerously-delete-by-src-images`.
    DangerouslyDeleteBySrcImages,
}

impl PurgeRoute {
    /// Every route.
    pub const ALL: [PurgeRoute; 4] = [
        Self::InvalidateByTags,
        Self::DangerouslyDeleteByTags,
        Self::InvalidateBySrcImages,
        Self::DangerouslyDeleteBySrcImages,
    ];

    /// The route's path, `/v1/edge-cache/…`.
    pub fn path(self) -> &'static str {
        match self {
            Self::InvalidateByTags => "/v1/edge-cache/invalidate-by-tags",
            Self::DangerouslyDeleteByTags => "/v1/edge-cache/dangerously-delete-by-tags",
            Self::InvalidateBySrcImages => "/v1/edge-cache/invalidate-by-src-images",
            Self::DangerouslyDeleteBySrcImages => "/v1/edge-cache/dangerously-delete-by-src-images",
        }
    }

    fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.path() == path)
    }

    fn by_tags(self) -> bool {
        matches!(self, Self::InvalidateByTags | Self::DangerouslyDeleteByTags)
    }

    fn dangerous(self) -> bool {
        matches!(
            self,
            Self::DangerouslyDeleteByTags | Self::DangerouslyDeleteBySrcImages
        )
    }
}

/// One request as received. `Debug` redacts the bearer token and header values.
#[derive(Clone)]
#[non_exhaustive]
pub struct PurgeRequest {
    /// The request method.
    pub method: Method,
    /// The path, as sent.
    pub path: String,
    /// The route the path names, if any.
    pub route: Option<PurgeRoute>,
    /// The raw query string, without `?`.
    pub raw_query: Option<String>,
    /// The decoded query parameters, in order (empty if the query does not decode).
    pub query: Vec<(String, String)>,
    /// The `projectIdOrName` parameter (the first one).
    pub project_id_or_name: Option<String>,
    /// The `teamId` parameter (the first one).
    pub team_id: Option<String>,
    /// The `slug` parameter (the first one).
    pub slug: Option<String>,
    /// The token of an `Authorization: Bearer <token>` header.
    pub bearer: Option<String>,
    /// Every request header.
    pub headers: HeaderMap,
    /// The request body, as sent.
    pub body: Bytes,
    /// The body parsed as JSON, if it is JSON.
    pub json: Option<Value>,
    /// When it arrived, on tokio's clock.
    pub at: Instant,
}

impl PurgeRequest {
    /// The value of header `name` (case-insensitive), if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl fmt::Debug for PurgeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.keys().map(|k| k.as_str()).collect();
        f.debug_struct("PurgeRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("bearer", &self.bearer.as_ref().map(|_| "[redacted]"))
            .field("header_names", &names)
            .field("json", &self.json)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`PurgeApi`]; [`PurgeApiBuilder::start`] starts it.
#[derive(Debug, Clone, Default)]
pub struct PurgeApiBuilder {
    tokens: Vec<String>,
    project: Option<String>,
    team_id: Option<String>,
}

impl PurgeApiBuilder {
    /// A bearer token the API accepts. May be called more than once. Defaults to one random
    /// token ([`PurgeApi::token`]); the first call replaces it.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.tokens.push(token.into());
        self
    }

    /// The only `projectIdOrName` the API knows (others answer `404`). Defaults to any.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The only `teamId` the API accepts (another or none answers `403`). Defaults to any,
    /// including none.
    pub fn team_id(mut self, team_id: impl Into<String>) -> Self {
        self.team_id = Some(team_id.into());
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// # Errors
    /// If the loopback port cannot be bound.
    pub async fn start(self) -> io::Result<PurgeApi> {
        let tokens = if self.tokens.is_empty() {
            vec![format!("vct_{}", crate::format::random_id())]
        } else {
            self.tokens
        };
        let listener = Server::bind().await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            base_url: format!("http://{addr}"),
            first_token: tokens[0].clone(),
            tokens: tokens.into_iter().collect(),
            project: self.project,
            team_id: self.team_id,
            requests: Mutex::new(Vec::new()),
            faults: Faults::new(),
            counters: Counters::default(),
        });
        let router = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(Arc::clone(&shared));
        let server = Server::serve(listener, router)?;
        tracing::debug!(base_url = %shared.base_url, "vercel-oidc-testkit: purge API started");
        Ok(PurgeApi { shared, server })
    }
}

/// A running emulator of the REST API's purge endpoints on `127.0.0.1`. Dropping it shuts the
/// server down.
pub struct PurgeApi {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for PurgeApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PurgeApi")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

impl PurgeApi {
    /// Starts an emulator accepting one random token and any project.
    ///
    /// # Errors
    /// If the loopback port cannot be bound.
    pub async fn start() -> io::Result<PurgeApi> {
        Self::builder().start().await
    }

    /// A builder to choose the tokens, project and team.
    pub fn builder() -> PurgeApiBuilder {
        PurgeApiBuilder::default()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash: the REST API base.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The socket address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The first accepted token (the random default unless [`PurgeApiBuilder::token`] was used).
    pub fn token(&self) -> &str {
        &self.shared.first_token
    }

    /// Every request received, oldest first (rejected and faulted ones included).
    pub fn requests(&self) -> Vec<PurgeRequest> {
        self.shared.requests().clone()
    }

    /// The most recent request.
    pub fn last_request(&self) -> Option<PurgeRequest> {
        self.shared.requests().last().cloned()
    }

    /// How many requests arrived (faulted ones included).
    pub fn request_count(&self) -> usize {
        self.shared.counters.get(Endpoint::Purge)
    }

    /// Forgets the recorded requests and the count.
    pub fn reset_requests(&self) {
        self.shared.requests().clear();
        self.shared.counters.reset();
    }

    /// The shared fault rules, applied to [`Endpoint::Purge`] (every request).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }
}

struct Shared {
    base_url: String,
    first_token: String,
    tokens: HashSet<String>,
    project: Option<String>,
    team_id: Option<String>,
    requests: Mutex<Vec<PurgeRequest>>,
    faults: Faults,
    counters: Counters,
}

impl Shared {
    fn requests(&self) -> MutexGuard<'_, Vec<PurgeRequest>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn answer(&self, request: &PurgeRequest) -> Response {
        let Some(route) = request.route else {
            return api_error(StatusCode::NOT_FOUND, "not_found", "unknown path");
        };
        if request.method != Method::POST {
            return api_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use POST",
            );
        }
        let Some(bearer) = request.bearer.as_deref() else {
            return api_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the request is not authorized",
            );
        };
        if !self.tokens.contains(bearer) {
            return api_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "you do not have permission to access this resource",
            );
        }
        let Some(project) = request
            .project_id_or_name
            .as_deref()
            .filter(|p| !p.is_empty())
        else {
            return api_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "projectIdOrName is required",
            );
        };
        if self.project.as_deref().is_some_and(|p| p != project) {
            return api_error(StatusCode::NOT_FOUND, "not_found", "project not found");
        }
        if self
            .team_id
            .as_deref()
            .is_some_and(|t| request.team_id.as_deref() != Some(t))
        {
            return api_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "you do not have permission to access this team",
            );
        }
        let json_type = request
            .header(header::CONTENT_TYPE.as_str())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json_type {
            return api_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "content-type must be application/json",
            );
        }
        let Some(Value::Object(body)) = &request.json else {
            return api_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the body must be a JSON object",
            );
        };
        if let Err(message) = check_body(route, body) {
            return api_error(StatusCode::BAD_REQUEST, "bad_request", message);
        }
        axum::Json(json!({})).into_response()
    }
}

/// Checks a purge body against the REST reference; the message names the field at fault.
fn check_body(route: PurgeRoute, body: &Map<String, Value>) -> Result<(), &'static str> {
    for field in body.keys() {
        let known = match field.as_str() {
            "tags" | "target" => route.by_tags(),
            "srcImages" => !route.by_tags(),
            "revalidationDeadlineSeconds" => route.dangerous(),
            _ => false,
        };
        if !known {
            return Err("unknown field in the body");
        }
    }
    if route.by_tags() {
        match body.get("tags") {
            None => return Err("tags is required"),
            Some(Value::String(s)) if s.chars().count() <= MAX_TAGS_STRING_CHARS => {}
            Some(Value::Array(items)) => {
                let ok = items
                    .iter()
                    .all(|t| matches!(t, Value::String(s) if s.chars().count() <= MAX_TAG_CHARS));
                if !ok {
                    return Err("tags must be strings of at most 256 characters");
                }
            }
            Some(_) => return Err("tags must be an array of strings or a string"),
        }
        match body.get("target") {
            None => {}
            Some(Value::String(t)) if t == "production" || t == "preview" => {}
            Some(_) => return Err("target must be production or preview"),
        }
    } else {
        match body.get("srcImages") {
            Some(Value::Array(items)) => {
                let ok = items.iter().all(
                    |t| matches!(t, Value::String(s) if s.chars().count() <= MAX_SRC_IMAGE_CHARS),
                );
                if !ok {
                    return Err("srcImages must be strings of at most 8192 characters");
                }
            }
            Some(_) => return Err("srcImages must be an array of strings"),
            None => return Err("srcImages is required"),
        }
    }
    match body.get("revalidationDeadlineSeconds") {
        None => Ok(()),
        Some(Value::Number(n)) if n.as_f64().is_some_and(|n| n >= 0.0) => Ok(()),
        Some(_) => Err("revalidationDeadlineSeconds must be a number >= 0"),
    }
}

/// The Vercel API's error shape, `{"error": {"code", "message"}}`.
fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

fn first(query: &[(String, String)], name: &str) -> Option<String> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "body too large",
            );
        }
    };
    let raw_query = parts.uri.query().map(str::to_owned);
    let query: Vec<(String, String)> = raw_query
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let record = PurgeRequest {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        route: PurgeRoute::from_path(parts.uri.path()),
        project_id_or_name: first(&query, "projectIdOrName"),
        team_id: first(&query, "teamId"),
        slug: first(&query, "slug"),
        raw_query,
        query,
        bearer,
        json: serde_json::from_slice(&body).ok(),
        headers: parts.headers,
        body,
        at: Instant::now(),
    };
    shared.requests().push(record.clone());
    shared.counters.hit(Endpoint::Purge);
    tracing::debug!(route = ?record.route, "vercel-oidc-testkit: purge API request");
    let answer = async { shared.answer(&record) };
    shared.faults.respond(Endpoint::Purge, answer).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn bodies_per_route() {
        use PurgeRoute::*;
        let ok = |route, body| check_body(route, &obj(body));
        assert_eq!(ok(InvalidateByTags, json!({"tags": ["a", "b"]})), Ok(()));
        assert_eq!(
            ok(
                InvalidateByTags,
                json!({"tags": "a,b", "target": "preview"})
            ),
            Ok(())
        );
        assert!(ok(InvalidateByTags, json!({"tags": "a", "target": "dev"})).is_err());
        assert!(
            ok(
                InvalidateByTags,
                json!({"tags": "a", "revalidationDeadlineSeconds": 1})
            )
            .is_err()
        );
        assert!(ok(InvalidateByTags, json!({})).is_err());
        assert!(ok(InvalidateByTags, json!({"tags": [1]})).is_err());
        assert!(ok(InvalidateByTags, json!({"tags": ["x".repeat(257)]})).is_err());
        assert_eq!(
            ok(InvalidateByTags, json!({"tags": ["x".repeat(256)]})),
            Ok(())
        );
        assert!(ok(InvalidateByTags, json!({"tags": "x".repeat(8197)})).is_err());
        assert_eq!(
            ok(
                DangerouslyDeleteByTags,
                json!({"tags": ["a"], "revalidationDeadlineSeconds": 0})
            ),
            Ok(())
        );
        assert!(
            ok(
                DangerouslyDeleteByTags,
                json!({"tags": ["a"], "revalidationDeadlineSeconds": -1})
            )
            .is_err()
        );
        assert!(
            ok(
                DangerouslyDeleteByTags,
                json!({"tags": ["a"], "revalidationDeadlineSeconds": "1"})
            )
            .is_err()
        );
        assert_eq!(
            ok(InvalidateBySrcImages, json!({"srcImages": ["/a.png"]})),
            Ok(())
        );
        assert!(ok(InvalidateBySrcImages, json!({"srcImages": "/a.png"})).is_err());
        assert!(
            ok(
                InvalidateBySrcImages,
                json!({"srcImages": [], "target": "preview"})
            )
            .is_err()
        );
        assert!(ok(InvalidateBySrcImages, json!({"tags": ["a"]})).is_err());
        assert_eq!(
            ok(
                DangerouslyDeleteBySrcImages,
                json!({"srcImages": ["/a.png"], "revalidationDeadlineSeconds": 30})
            ),
            Ok(())
        );
        assert!(
            ok(
                DangerouslyDeleteBySrcImages,
                json!({"revalidationDeadlineSeconds": 3})
            )
            .is_err()
        );
    }

    #[test]
    fn routes_by_path() {
        for route in PurgeRoute::ALL {
            assert_eq!(PurgeRoute::from_path(route.path()), Some(route));
        }
        assert_eq!(
            PurgeRoute::from_path("/v1/edge-cache/invalidate-by-tag"),
            None
        );
    }
}
