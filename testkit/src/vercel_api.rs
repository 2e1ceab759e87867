//! The Vercel API emulator: the token mint endpoint the local-dev refresh calls, and the Vercel
//! OAuth discovery document and refresh-token grant that renew the Vercel CLI's login.
//!
//! | method | path | endpoint |
//! |---|---|---|
//! | POST | `/v1/projects/{project}/token?source=vercel-oidc-refresh[&teamId=…]` | [`Endpoint::VercelMint`] |
//! | GET | `/.well-known/openid-configuration` | [`Endpoint::OAuthDiscovery`] |
//! | POST | `/login/oauth/token` (form, `grant_type=refresh_token`) | [`Endpoint::OAuthToken`] |
//!
//! The mint endpoint checks `Authorization: Bearer <access token>` against the access tokens the
//! emulator knows (the initial ones and those its token endpoint issued) and answers
//! `{"token": …}` with a token signed by an [`Issuer`], so the client gets a real, verifiable
//! token with a chosen lifetime. The token endpoint checks the client id, the grant type and the
//! refresh token, and answers the standard OAuth JSON; it rotates refresh tokens unless told not
//! to.
//!
//! Point the client at it with `VERCEL_OIDC_API_URL` and `VERCEL_OIDC_OAUTH_URL`, both
//! [`VercelApi::base_url`].
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use vercel_oidc_testkit::{Endpoint, Fault, Issuer, vercel_api::VercelApi};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let issuer = Arc::new(Issuer::start().await?);
//! let api = VercelApi::builder(issuer)
//!     .access_token("cli-access-token")
//!     .refresh_token("cli-refresh-token")
//!     .token_lifetime(Duration::from_secs(12 * 3600))
//!     .start()
//!     .await?;
//! // The next refresh-token grant answers 500.
//! api.faults().next(Endpoint::OAuthToken, 1, Fault::Status(500));
//! assert_eq!(api.requests(Endpoint::VercelMint), 0);
//! # Ok(()) }
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::faults::{Endpoint, Faults};
use crate::issuer::Issuer;
use crate::server::{Counters, Server};

/// The OAuth client id of the Vercel CLI, the only one the token endpoint accepts.
pub const VERCEL_CLI_CLIENT_ID: &str = "cl_HYyOPBNtFMfHhaUn9L4QPfTZz6TP47bp";

/// The token endpoint's path, as announced by the discovery document.
pub const OAUTH_TOKEN_PATH: &str = "/login/oauth/token";

/// One request the mint endpoint accepted or rejected, as the emulator decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MintRequest {
    /// The `{project}` path segment, percent-decoded.
    pub project: String,
    /// The `teamId` query parameter, percent-decoded.
    pub team_id: Option<String>,
    /// The `source` query parameter.
    pub source: Option<String>,
    /// Whether the request carried a request body.
    pub had_body: bool,
}

/// A running emulator of the Vercel API's mint endpoint and OAuth refresh on `127.0.0.1`.
///
/// Dropping it shuts the server down.
pub struct VercelApi {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for VercelApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VercelApi")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`VercelApi`]; [`VercelApiBuilder::start`] starts it.
#[derive(Debug)]
pub struct VercelApiBuilder {
    issuer: Arc<Issuer>,
    access_tokens: Vec<String>,
    refresh_tokens: Vec<String>,
    rotate: bool,
    access_token_lifetime: Duration,
    token_lifetime: Duration,
}

impl VercelApiBuilder {
    /// An access token (the Vercel CLI's `token`) the mint endpoint accepts. May be called more
    /// than once. Defaults to none: only tokens issued by the token endpoint are accepted.
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.access_tokens.push(token.into());
        self
    }

    /// A refresh token the token endpoint accepts. May be called more than once. Defaults to
    /// none.
    pub fn refresh_token(mut self, token: impl Into<String>) -> Self {
        self.refresh_tokens.push(token.into());
        self
    }

    /// Whether a refresh-token grant answers a new `refresh_token` and revokes the used one.
    /// Defaults to `true`. With `false` the response has no `refresh_token` field and the old
    /// one stays valid.
    pub fn rotate_refresh_tokens(mut self, rotate: bool) -> Self {
        self.rotate = rotate;
        self
    }

    /// `expires_in` of issued access tokens. Defaults to 1 hour.
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.access_token_lifetime = lifetime;
        self
    }

    /// Lifetime of minted OIDC tokens. Defaults to 12 hours, as in local development.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// # Errors
    /// If the loopback port cannot be bound.
    pub async fn start(self) -> io::Result<VercelApi> {
        let listener = Server::bind().await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            issuer: self.issuer,
            base_url,
            state: Mutex::new(State_ {
                access_tokens: self.access_tokens.into_iter().collect(),
                refresh_tokens: self.refresh_tokens.into_iter().collect(),
                rotate: self.rotate,
                access_token_lifetime: self.access_token_lifetime,
                token_lifetime: self.token_lifetime,
                mints: Vec::new(),
                latest_access_token: None,
                latest_refresh_token: None,
                token_endpoint: None,
            }),
            faults: Faults::new(),
            counters: Counters::default(),
        });
        let server = Server::serve(listener, router(Arc::clone(&shared)))?;
        tracing::debug!(base_url = %shared.base_url, "vercel-oidc-testkit: Vercel API started");
        Ok(VercelApi { shared, server })
    }
}

impl VercelApi {
    /// A builder whose mint endpoint signs tokens with `issuer`.
    pub fn builder(issuer: Arc<Issuer>) -> VercelApiBuilder {
        VercelApiBuilder {
            issuer,
            access_tokens: Vec::new(),
            refresh_tokens: Vec::new(),
            rotate: true,
            access_token_lifetime: Duration::from_secs(3600),
            token_lifetime: Duration::from_secs(12 * 3600),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash: the API base and the OAuth base.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The socket address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The issuer that signs minted tokens.
    pub fn issuer(&self) -> &Arc<Issuer> {
        &self.shared.issuer
    }

    /// How many requests `endpoint` has received (faulted ones included).
    pub fn requests(&self, endpoint: Endpoint) -> usize {
        self.shared.counters.get(endpoint)
    }

    /// Sets every request counter back to zero.
    pub fn reset_requests(&self) {
        self.shared.counters.reset();
    }

    /// The fault rules of this emulator.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Changes the lifetime of tokens minted from now on (zero or tiny: already expired when
    /// they arrive).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared.state().token_lifetime = lifetime;
    }

    /// Makes the discovery document name `url` as its `token_endpoint` (any string, e.g. a URL
    /// on another host or over plain http), instead of this emulator's own
    /// `{base}/login/oauth/token`. `None` restores the default.
    pub fn set_discovered_token_endpoint(&self, url: Option<String>) {
        self.shared.state().token_endpoint = url;
    }

    /// Accepts one more access token at the mint endpoint.
    pub fn add_access_token(&self, token: impl Into<String>) {
        self.shared.state().access_tokens.insert(token.into());
    }

    /// Accepts one more refresh token at the token endpoint.
    pub fn add_refresh_token(&self, token: impl Into<String>) {
        self.shared.state().refresh_tokens.insert(token.into());
    }

    /// Revokes every access token: the mint endpoint answers 403 until new ones are issued or
    /// added.
    pub fn revoke_access_tokens(&self) {
        self.shared.state().access_tokens.clear();
    }

    /// The access token the token endpoint issued last.
    pub fn latest_access_token(&self) -> Option<String> {
        self.shared.state().latest_access_token.clone()
    }

    /// The refresh token the token endpoint issued last (only when rotating).
    pub fn latest_refresh_token(&self) -> Option<String> {
        self.shared.state().latest_refresh_token.clone()
    }

    /// Every request the mint endpoint received with a valid path, oldest first.
    pub fn mint_requests(&self) -> Vec<MintRequest> {
        self.shared.state().mints.clone()
    }
}

// `State` is axum's extractor; the emulator's mutable state gets another name.
#[derive(Debug)]
struct State_ {
    access_tokens: HashSet<String>,
    refresh_tokens: HashSet<String>,
    rotate: bool,
    access_token_lifetime: Duration,
    token_lifetime: Duration,
    mints: Vec<MintRequest>,
    latest_access_token: Option<String>,
    latest_refresh_token: Option<String>,
    token_endpoint: Option<String>,
}

struct Shared {
    issuer: Arc<Issuer>,
    base_url: String,
    state: Mutex<State_>,
    faults: Faults,
    counters: Counters,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State_> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn serve<F>(&self, endpoint: Endpoint, handler: F) -> Response
    where
        F: Future<Output = Response>,
    {
        self.counters.hit(endpoint);
        self.faults.respond(endpoint, handler).await
    }

    fn discovery(&self) -> Response {
        let token_endpoint = self
            .state()
            .token_endpoint
            .clone()
            .unwrap_or_else(|| format!("{}{OAUTH_TOKEN_PATH}", self.base_url));
        Json(json!({
            "issuer": self.base_url,
            "authorization_endpoint": format!("{}/oauth/authorize", self.base_url),
            "token_endpoint": token_endpoint,
            "grant_types_supported": ["refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
            "token_endpoint_auth_methods_supported": ["none"],
        }))
        .into_response()
    }

    fn mint(
        &self,
        project: String,
        query: &HashMap<String, String>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        let record = MintRequest {
            project: project.clone(),
            team_id: query.get("teamId").cloned(),
            source: query.get("source").cloned(),
            had_body: !body.is_empty(),
        };
        let mut state = self.state();
        state.mints.push(record.clone());
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(bearer) = bearer else {
            return api_error(StatusCode::UNAUTHORIZED, "missing_token", "no bearer token");
        };
        if !state.access_tokens.contains(bearer) {
            return api_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the bearer token is not valid",
            );
        }
        if record.source.as_deref() != Some("vercel-oidc-refresh") {
            return api_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "source must be vercel-oidc-refresh",
            );
        }
        let lifetime = state.token_lifetime;
        drop(state);
        let mut token = self
            .issuer
            .token()
            .lifetime(lifetime)
            .claim("project_id", project)
            .claim("environment", "development")
            .claim("user_id", "user_testkit0000000000000000");
        if let Some(team) = record.team_id {
            token = token.claim("owner_id", team);
        }
        let token = token.sign();
        Json(json!({ "token": token })).into_response()
    }

    fn oauth_token(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        let form_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !form_type {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        }
        let Some(form) = parse_form(body) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        if form.get("client_id").map(String::as_str) != Some(VERCEL_CLI_CLIENT_ID) {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
        }
        if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
            return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
        }
        let Some(refresh) = form.get("refresh_token") else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        let mut state = self.state();
        if !state.refresh_tokens.contains(refresh) {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        }
        let access = format!("vca_{}", crate::format::random_id());
        state.access_tokens.insert(access.clone());
        state.latest_access_token = Some(access.clone());
        let mut answer = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": state.access_token_lifetime.as_secs(),
            "scope": "openid offline_access",
        });
        if state.rotate {
            let next = format!("vcr_{}", crate::format::random_id());
            state.refresh_tokens.remove(refresh);
            state.refresh_tokens.insert(next.clone());
            state.latest_refresh_token = Some(next.clone());
            answer["refresh_token"] = next.into();
        }
        Json(answer).into_response()
    }
}

/// Decodes `application/x-www-form-urlencoded` (own code: the emulator shares none with the
/// client). `None` on a bad escape, invalid UTF-8 or a repeated key.
fn parse_form(body: &[u8]) -> Option<HashMap<String, String>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut map = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if map.insert(form_decode(k)?, form_decode(v)?).is_some() {
            return None;
        }
    }
    Some(map)
}

fn form_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The Vercel API's error shape, `{"error": {"code", "message"}}`.
fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// The OAuth error shape, `{"error": code}` (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({ "error": code }))).into_response()
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/projects/{project}/token", post(mint))
        .route("/.well-known/openid-configuration", get(discovery))
        .route(OAUTH_TOKEN_PATH, post(oauth_token))
        .with_state(shared)
}

type SharedState = State<Arc<Shared>>;

async fn mint(
    State(shared): SharedState,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async { shared.mint(project, &query, &headers, &body) };
    shared.serve(Endpoint::VercelMint, answer).await
}

async fn discovery(State(shared): SharedState) -> Response {
    let answer = async { shared.discovery() };
    shared.serve(Endpoint::OAuthDiscovery, answer).await
}

async fn oauth_token(State(shared): SharedState, headers: HeaderMap, body: Bytes) -> Response {
    let answer = async { shared.oauth_token(&headers, &body) };
    shared.serve(Endpoint::OAuthToken, answer).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let form = parse_form(b"a=1&b=x%2By+z&c=").expect("valid");
        assert_eq!(form["a"], "1");
        assert_eq!(form["b"], "x+y z");
        assert_eq!(form["c"], "");
        assert!(parse_form(b"a=%zz").is_none());
        assert!(parse_form(b"a=1&a=2").is_none());
    }
}
