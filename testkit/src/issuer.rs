//! The Vercel OIDC issuer emulator: discovery, JWKS and the `~token` audience exchange, in
//! global (`/…`) and team (`/{team_slug}/…`) form.
//!
//! | method | path | endpoint |
//! |---|---|---|
//! | GET | `/.well-known/openid-configuration`, `/{team}/.well-known/openid-configuration` | [`Endpoint::Discovery`] |
//! | GET | `/.well-known/jwks`, `/{team}/.well-known/jwks` | [`Endpoint::Jwks`] |
//! | POST | `/~token`, `/{team}/~token` | [`Endpoint::Exchange`] |
//!
//! Team paths answer only for the issuer's own team slug (404 otherwise).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::faults::{Endpoint, Faults};
use crate::jwt::{self, unix_seconds};
use crate::keys::KeyRing;
use crate::server::{Counters, Server};
use crate::token::TokenBuilder;

/// The claims listed in the discovery document.
const CLAIMS_SUPPORTED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "owner",
    "owner_id",
    "project",
    "project_id",
    "environment",
    "user_id",
    "custom_environment_id",
    "act",
    "jti",
];

/// A running emulator of Vercel's OIDC issuer on `127.0.0.1` (an ephemeral port).
///
/// It mints Vercel-shaped tokens ([`Issuer::token`]), serves its discovery document and key set
/// in global and team form, answers the `~token` audience exchange, rotates keys, counts requests
/// and injects faults. Dropping it shuts the server down.
///
/// # Example
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use vercel_oidc_testkit::Issuer;
///
/// let issuer = Issuer::builder().team_slug("my-team").project("web").start().await?;
/// let token = issuer.token().audience("sts.amazonaws.com").sign();
/// assert_eq!(issuer.team_issuer(), format!("{}/my-team", issuer.base_url()));
/// # let _ = token;
/// # Ok(()) }
/// ```
pub struct Issuer {
    shared: Arc<Shared>,
    // Dropped with the issuer: stops the server.
    server: Server,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("base_url", &self.shared.base_url)
            .field("team_slug", &self.shared.config.team_slug)
            .field("current_kid", &self.current_kid())
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Starts an issuer with the default settings (see [`IssuerBuilder`]) on the current tokio
    /// runtime.
    ///
    /// # Errors
    /// If the loopback port cannot be bound or the RSA key cannot be generated.
    pub async fn start() -> io::Result<Issuer> {
        Self::builder().start().await
    }

    /// A builder to choose the team, project, environment, token lifetime and kid prefix.
    pub fn builder() -> IssuerBuilder {
        IssuerBuilder::default()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash: the global issuer and the base of
    /// every endpoint.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The socket address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The team-mode issuer, `{base_url}/{team_slug}`: the `iss` of minted tokens by default.
    pub fn team_issuer(&self) -> String {
        self.shared.team_issuer()
    }

    /// The global-mode issuer, the same as [`Issuer::base_url`].
    pub fn global_issuer(&self) -> String {
        self.base_url()
    }

    /// The team slug (the `owner` claim by default and the first path segment in team form).
    pub fn team_slug(&self) -> &str {
        &self.shared.config.team_slug
    }

    /// The default `aud` of minted tokens, `https://vercel.com/{team_slug}`.
    pub fn default_audience(&self) -> String {
        self.shared.default_audience()
    }

    /// Starts minting a token with the default Vercel claims; see [`TokenBuilder`].
    pub fn token(&self) -> TokenBuilder<'_> {
        TokenBuilder::new(&self.shared)
    }

    /// Switches to a new signing key and returns its kid. The previous keys stay in the key set
    /// until [`Issuer::retire_old_keys`].
    ///
    /// # Panics
    /// If a new RSA key has to be generated and generation fails (it does not in practice).
    pub fn rotate_key(&self) -> String {
        self.shared
            .keys()
            .rotate()
            .expect("vercel-oidc-testkit: RSA key generation failed")
    }

    /// Removes every key but the current one from the key set: tokens signed with an older key
    /// no longer verify.
    pub fn retire_old_keys(&self) {
        self.shared.keys().retire_old();
    }

    /// The kid of the current signing key.
    pub fn current_kid(&self) -> String {
        self.shared.keys().current().0
    }

    /// The key set document the JWKS endpoints serve, `{"keys":[…]}`, oldest key first.
    pub fn jwks_json(&self) -> Value {
        self.shared.keys().jwks()
    }

    /// The discovery document served at `/.well-known/openid-configuration` (global form) or at
    /// `/{team}/.well-known/openid-configuration` (team form).
    pub fn discovery_json(&self, mode: IssuerMode) -> Value {
        self.shared.discovery(mode)
    }

    /// How many requests `endpoint` has received (both forms, faulted ones included; requests
    /// to another team's paths, answered 404, are not counted).
    pub fn requests(&self, endpoint: Endpoint) -> usize {
        self.shared.counters.get(endpoint)
    }

    /// Sets every request counter back to zero.
    pub fn reset_requests(&self) {
        self.shared.counters.reset();
    }

    /// The fault rules of this issuer.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The current key's public key as PKCS#1 `RSAPublicKey` DER, for attack tests such as an
    /// HS256 token whose HMAC key is the RSA public key
    /// ([`TokenBuilder::sign_hs256_with`]).
    pub fn public_key_der(&self) -> Vec<u8> {
        self.shared.keys().current().1.public_der.clone()
    }
}

/// Whether a token's `iss` (and a discovery document) is the team or the global issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IssuerMode {
    /// `{base_url}/{team_slug}`, like `https://oidc.vercel.com/<team_slug>`.
    #[default]
    Team,
    /// `{base_url}`, like `https://oidc.vercel.com`.
    Global,
}

/// Settings of an [`Issuer`]; [`IssuerBuilder::start`] starts it.
#[derive(Debug, Clone)]
pub struct IssuerBuilder {
    config: Config,
    owner: Option<String>,
}

impl Default for IssuerBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                team_slug: "acme".to_owned(),
                project: "my-project".to_owned(),
                project_id: "prj_testkit0000000000000000".to_owned(),
                owner: String::new(),
                owner_id: "team_testkit00000000000000".to_owned(),
                environment: "production".to_owned(),
                lifetime: Duration::from_secs(3600),
                kid_prefix: "testkit".to_owned(),
            },
            owner: None,
        }
    }
}

impl IssuerBuilder {
    /// The team slug: the team issuer's path segment, the default audience's last segment, the
    /// `owner` claim and part of `sub`. Defaults to `acme`.
    pub fn team_slug(mut self, team_slug: impl Into<String>) -> Self {
        self.config.team_slug = team_slug.into();
        self
    }

    /// The `project` claim and part of `sub`. Defaults to `my-project`.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.config.project = project.into();
        self
    }

    /// The `project_id` claim. Defaults to `prj_testkit0000000000000000`.
    pub fn project_id(mut self, project_id: impl Into<String>) -> Self {
        self.config.project_id = project_id.into();
        self
    }

    /// The `owner` claim and the owner part of `sub`. Defaults to the team slug.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// The `owner_id` claim. Defaults to `team_testkit00000000000000`.
    pub fn owner_id(mut self, owner_id: impl Into<String>) -> Self {
        self.config.owner_id = owner_id.into();
        self
    }

    /// The `environment` claim and the last part of `sub`. Defaults to `production`.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.config.environment = environment.into();
        self
    }

    /// The lifetime of minted and exchanged tokens (`exp - iat`). Defaults to 1 hour, as for
    /// build-time tokens.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.lifetime = lifetime;
        self
    }

    /// Key ids are `{prefix}-{n}`. Defaults to `testkit`.
    pub fn kid_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.kid_prefix = prefix.into();
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// # Errors
    /// `InvalidInput` if the team slug is empty or not a single URL path segment; otherwise if
    /// the port cannot be bound or the RSA key cannot be generated.
    pub async fn start(self) -> io::Result<Issuer> {
        let mut config = self.config;
        let slug = &config.team_slug;
        let path_safe = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if slug.is_empty() || slug.starts_with('.') || !slug.chars().all(path_safe) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "team slug must be a non-empty URL path segment of [A-Za-z0-9._-]",
            ));
        }
        config.owner = self.owner.unwrap_or_else(|| config.team_slug.clone());

        let keys = KeyRing::new(config.kid_prefix.clone())?;
        let listener = Server::bind().await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            config,
            base_url,
            keys: Mutex::new(keys),
            faults: Faults::new(),
            counters: Counters::default(),
        });
        let server = Server::serve(listener, router(Arc::clone(&shared)))?;
        tracing::debug!(base_url = %shared.base_url, "vercel-oidc-testkit: issuer started");
        Ok(Issuer { shared, server })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) team_slug: String,
    pub(crate) project: String,
    pub(crate) project_id: String,
    pub(crate) owner: String,
    pub(crate) owner_id: String,
    pub(crate) environment: String,
    pub(crate) lifetime: Duration,
    pub(crate) kid_prefix: String,
}

/// State shared by the [`Issuer`] handle, its token builders and the server's handlers.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) base_url: String,
    keys: Mutex<KeyRing>,
    faults: Faults,
    counters: Counters,
}

impl Shared {
    pub(crate) fn keys(&self) -> MutexGuard<'_, KeyRing> {
        // Every KeyRing operation leaves it consistent, so poisoning is ignored.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn team_issuer(&self) -> String {
        format!("{}/{}", self.base_url, self.config.team_slug)
    }

    pub(crate) fn issuer(&self, mode: IssuerMode) -> String {
        match mode {
            IssuerMode::Team => self.team_issuer(),
            IssuerMode::Global => self.base_url.clone(),
        }
    }

    pub(crate) fn default_audience(&self) -> String {
        format!("https://vercel.com/{}", self.config.team_slug)
    }

    /// The claims of a fresh token, without the time claims.
    pub(crate) fn default_claims(&self) -> Map<String, Value> {
        let c = &self.config;
        let claims = json!({
            "iss": self.team_issuer(),
            "sub": format!(
                "owner:{}:project:{}:environment:{}",
                c.owner, c.project, c.environment
            ),
            "aud": self.default_audience(),
            "owner": c.owner,
            "owner_id": c.owner_id,
            "project": c.project,
            "project_id": c.project_id,
            "environment": c.environment,
        });
        match claims {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// RS256 with the current key and the standard header.
    pub(crate) fn sign(&self, payload: &Value) -> String {
        let (kid, key) = self.keys().current();
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": kid });
        jwt::sign_rs256(&key.pair, &header, payload)
    }

    fn discovery(&self, mode: IssuerMode) -> Value {
        let issuer = self.issuer(mode);
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/.well-known/jwks"),
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["id_token"],
            "scopes_supported": ["openid"],
            "claims_supported": CLAIMS_SUPPORTED,
        })
    }

    /// Counts the request, then answers it through the fault rules.
    async fn serve<F>(&self, endpoint: Endpoint, handler: F) -> Response
    where
        F: Future<Output = Response>,
    {
        self.counters.hit(endpoint);
        self.faults.respond(endpoint, handler).await
    }

    /// Verifies a subject token of the exchange: RS256 with a key in the key set, `exp` in the
    /// future, `nbf` (if any) not in the future, `iss` this issuer (either form), and a `sub`.
    /// Returns its claims. The message never contains the token.
    fn verify(&self, token: &str) -> Result<Map<String, Value>, &'static str> {
        let parsed = jwt::parse(token)?;
        if parsed.header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err("token is not signed with RS256");
        }
        let kid = parsed
            .header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or("token header has no kid")?;
        let key = self
            .keys()
            .find(kid)
            .ok_or("token is signed with a key not in the key set")?;
        if !jwt::verify_rs256(
            &key.public_der,
            parsed.signing_input.as_bytes(),
            &parsed.signature,
        ) {
            return Err("token signature is invalid");
        }
        let claims = parsed.payload;
        let now = unix_seconds(SystemTime::now()) as f64;
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or("token has no numeric exp")?;
        if exp <= now {
            return Err("token has expired");
        }
        if let Some(nbf) = claims.get("nbf")
            && nbf.as_f64().ok_or("token nbf is not numeric")? > now
        {
            return Err("token is not valid yet (nbf)");
        }
        let iss = claims.get("iss").and_then(Value::as_str);
        if iss != Some(self.team_issuer().as_str()) && iss != Some(self.base_url.as_str()) {
            return Err("token was not issued by this issuer");
        }
        if !claims.get("sub").is_some_and(Value::is_string) {
            return Err("token has no sub");
        }
        Ok(claims)
    }

    /// The `~token` exchange itself.
    fn exchange(&self, body: &[u8]) -> Response {
        #[derive(Deserialize)]
        struct ExchangeRequest {
            token: String,
            aud: String,
            #[serde(default)]
            jti: Option<String>,
        }
        // Through `Value` first: serde would also accept a struct as a JSON array.
        let request = match serde_json::from_slice::<Value>(body) {
            Ok(object @ Value::Object(_)) => serde_json::from_value::<ExchangeRequest>(object).ok(),
            _ => None,
        };
        let Some(request) = request else {
            // serde's message can echo the body, so it is not passed on.
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "body must be a JSON object {\"token\": string, \"aud\": string, \"jti\"?: string}",
            );
        };
        if request.token.is_empty() || request.aud.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "token and aud must not be empty",
            );
        }
        let mut claims = match self.verify(&request.token) {
            Ok(claims) => claims,
            Err(message) => return error(StatusCode::UNAUTHORIZED, "invalid_token", message),
        };
        let iat = unix_seconds(SystemTime::now());
        let lifetime = i64::try_from(self.config.lifetime.as_secs()).unwrap_or(i64::MAX);
        let exp = iat.saturating_add(lifetime);
        let subject = claims.get("sub").cloned().unwrap_or(Value::Null);
        claims.insert("aud".to_owned(), request.aud.into());
        claims.insert("act".to_owned(), json!({ "sub": subject }));
        claims.insert(
            "jti".to_owned(),
            request.jti.unwrap_or_else(crate::format::random_id).into(),
        );
        claims.insert("iat".to_owned(), iat.into());
        claims.insert("nbf".to_owned(), iat.into());
        claims.insert("exp".to_owned(), exp.into());
        let token = self.sign(&Value::Object(claims));
        Json(json!({ "token": token, "expiry": exp })).into_response()
    }
}

/// A JSON error response `{"error": code, "message": message}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such team on this issuer",
    )
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery_global))
        .route(
            "/{team}/.well-known/openid-configuration",
            get(discovery_team),
        )
        .route("/.well-known/jwks", get(jwks_global))
        .route("/{team}/.well-known/jwks", get(jwks_team))
        .route("/~token", post(exchange_global))
        .route("/{team}/~token", post(exchange_team))
        .with_state(shared)
}

type SharedState = State<Arc<Shared>>;

async fn discovery_global(State(shared): SharedState) -> Response {
    let body = async { Json(shared.discovery(IssuerMode::Global)).into_response() };
    shared.serve(Endpoint::Discovery, body).await
}

async fn discovery_team(State(shared): SharedState, Path(team): Path<String>) -> Response {
    if team != shared.config.team_slug {
        return not_found();
    }
    let body = async { Json(shared.discovery(IssuerMode::Team)).into_response() };
    shared.serve(Endpoint::Discovery, body).await
}

async fn jwks_global(State(shared): SharedState) -> Response {
    let body = async { Json(shared.keys().jwks()).into_response() };
    shared.serve(Endpoint::Jwks, body).await
}

async fn jwks_team(State(shared): SharedState, Path(team): Path<String>) -> Response {
    if team != shared.config.team_slug {
        return not_found();
    }
    let body = async { Json(shared.keys().jwks()).into_response() };
    shared.serve(Endpoint::Jwks, body).await
}

async fn exchange_global(State(shared): SharedState, body: Bytes) -> Response {
    let answer = async { shared.exchange(&body) };
    shared.serve(Endpoint::Exchange, answer).await
}

async fn exchange_team(
    State(shared): SharedState,
    Path(team): Path<String>,
    body: Bytes,
) -> Response {
    if team != shared.config.team_slug {
        return not_found();
    }
    let answer = async { shared.exchange(&body) };
    shared.serve(Endpoint::Exchange, answer).await
}
