//! The Microsoft Entra ID emulator: the client-credentials grant with a client assertion
//! (workload identity federation), over HTTPS with a certificate it generates.
//!
//! | method | path | endpoint |
//! |---|---|---|
//! | POST | `/{tenant}/oauth2/v2.0/token` | [`Endpoint::Entra`] |
//!
//! A request must be `grant_type=client_credentials` for the configured tenant and client id,
//! with a `scope`, `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
//! and a `client_assertion`. The assertion is checked as Entra checks a federated credential:
//!
//! 1. it is a JWT (else `AADSTS50027`);
//! 2. `exp` is in the future and `nbf` (if any) is not (else `AADSTS700024`);
//! 3. some configured [`FederatedCredential`] has its `iss` (else `AADSTS700211`), then also its
//!    `sub` (else `AADSTS700213`), then also its `aud` (else `AADSTS70021`) — exact matches;
//! 4. its RS256 signature verifies with a key from `{iss}/.well-known/jwks`, fetched over HTTP
//!    from the issuer named by the matching credential (else `AADSTS700027`; a failed fetch is
//!    `AADSTS50166`).
//!
//! Success is `{"token_type":"Bearer","expires_in":…,"ext_expires_in":…,"access_token":…}`;
//! errors are shaped like Entra's (`error`, `error_description` with `\r\n`-separated trace
//! lines, `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`).
//!
//! Faults: the shared [`Faults`] (for [`Endpoint::Entra`]) plus the Entra-specific
//! [`EntraFault`]s (throttling with `Retry-After`, a token issued already expired).
//!
//! The emulator shares no code with the Azure provider: it parses the form with
//! `serde_urlencoded` and checks the JWT with this crate's own code.
//!
//! ```
//! use vercel_oidc_testkit::{Issuer, entra::{Entra, FederatedCredential}};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let issuer = Issuer::start().await?;
//! let entra = Entra::builder()
//!     .federated_credential(FederatedCredential::for_issuer(&issuer))
//!     .start()
//!     .await?;
//! assert!(entra.authority().starts_with("https://127.0.0.1:"));
//! let client = entra.reqwest_client(); // trusts the emulator's CA
//! let response = client
//!     .post(entra.token_url())
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(format!(
//!         "grant_type=client_credentials&client_id={}&scope=https%3A%2F%2Fvault.azure.net%2F.default\
//!          &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
//!          &client_assertion={}",
//!         entra.client_id(),
//!         issuer.token().sign(),
//!     ))
//!     .send()
//!     .await
//!     .map_err(std::io::Error::other)?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(entra.requests_for_scope("https://vault.azure.net/.default"), 1);
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::Issuer;
use crate::faults::{Endpoint, Faults};
use crate::jwt::{self, unix_seconds};
use crate::server::{Counters, Server};

/// The only `client_assertion_type` Entra accepts for a JWT assertion.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Default tenant id of the emulator.
pub const DEFAULT_TENANT_ID: &str = "72f988bf-0000-4000-8000-00000000e1d1";
/// Default client (application) id of the emulator.
pub const DEFAULT_CLIENT_ID: &str = "8a4f1c2e-0000-4000-8000-0000000c1d00";

/// A federated identity credential of the emulated app registration: an assertion is accepted
/// when its `iss`, `sub` and `aud` equal these exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedCredential {
    /// The issuer, e.g. `https://oidc.vercel.com/<team>`; its key set is fetched from
    /// `{issuer}/.well-known/jwks`.
    pub issuer: String,
    /// The subject, e.g. `owner:<team>:project:<project>:environment:production`.
    pub subject: String,
    /// The audience, e.g. `https://vercel.com/<team>` or `api://AzureADTokenExchange`.
    pub audience: String,
}

impl FederatedCredential {
    /// A credential for exactly this issuer, subject and audience.
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            subject: subject.into(),
            audience: audience.into(),
        }
    }

    /// The credential matching the tokens `issuer` mints by default: its team issuer, its
    /// default subject and its default audience (`https://vercel.com/<team>`), as Vercel's
    /// Azure guide registers them.
    pub fn for_issuer(issuer: &Issuer) -> Self {
        let payload = issuer.token().payload();
        let subject = payload
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Self::new(issuer.team_issuer(), subject, issuer.default_audience())
    }

    /// The same credential with another audience (e.g. `api://AzureADTokenExchange`).
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }
}

/// An Entra-specific fault, injected with [`Entra::inject`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntraFault {
    /// Answer `429 Too Many Requests` with `Retry-After: <seconds, rounded up>` and
    /// `retry-after-ms: <milliseconds>` (the precise form Azure services add) and an AADSTS-shaped
    /// body (`AADSTS50196`-style throttling), without checking the request.
    Throttle {
        /// How long the client should wait.
        retry_after: Duration,
    },
    /// Check the request normally and, if it is valid, issue a token with `expires_in: 0`
    /// (already expired when it arrives).
    ExpiredToken,
}

/// Settings of an [`Entra`] emulator; [`EntraBuilder::start`] starts it.
#[derive(Debug, Clone)]
pub struct EntraBuilder {
    tenant_id: String,
    client_id: String,
    token_lifetime: Duration,
    federated: Vec<FederatedCredential>,
}

impl Default for EntraBuilder {
    fn default() -> Self {
        Self {
            tenant_id: DEFAULT_TENANT_ID.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            token_lifetime: Duration::from_secs(3599),
            federated: Vec::new(),
        }
    }
}

impl EntraBuilder {
    /// The tenant (directory) id in the token path. Defaults to [`DEFAULT_TENANT_ID`].
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = tenant_id.into();
        self
    }

    /// The client (application) id requests must name. Defaults to [`DEFAULT_CLIENT_ID`].
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// `expires_in` of issued access tokens. Defaults to 3599 s, as Entra answers.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Adds a federated identity credential. Defaults to none: every assertion is rejected
    /// with `AADSTS700211`.
    pub fn federated_credential(mut self, credential: FederatedCredential) -> Self {
        self.federated.push(credential);
        self
    }

    /// Generates the TLS certificate, binds `127.0.0.1:0` and serves HTTPS on the current
    /// tokio runtime.
    ///
    /// # Errors
    /// If the certificate cannot be generated or the port cannot be bound.
    pub async fn start(self) -> io::Result<Entra> {
        let tls = TestCa::generate()?;
        let listener = Server::bind().await?;
        let addr = listener.local_addr()?;
        let jwks_client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(io::Error::other)?;
        let shared = Arc::new(Shared {
            config: self,
            faults: Faults::new(),
            counters: Counters::default(),
            per_scope: Mutex::new(HashMap::new()),
            injected: Mutex::new(VecDeque::new()),
            jwks_client,
        });
        let server = TlsServer::serve(listener, tls.acceptor()?, router(Arc::clone(&shared)));
        tracing::debug!(%addr, "vercel-oidc-testkit: Entra started");
        Ok(Entra {
            shared,
            tls,
            addr,
            _server: server,
        })
    }
}

/// A running Entra ID emulator on `https://127.0.0.1:PORT`. Dropping it shuts it down.
pub struct Entra {
    shared: Arc<Shared>,
    tls: TestCa,
    addr: SocketAddr,
    _server: TlsServer,
}

impl fmt::Debug for Entra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entra")
            .field("authority", &self.authority())
            .field("tenant_id", &self.shared.config.tenant_id)
            .field("client_id", &self.shared.config.client_id)
            .finish_non_exhaustive()
    }
}

impl Entra {
    /// A builder for the tenant, client id, token lifetime and federated credentials.
    pub fn builder() -> EntraBuilder {
        EntraBuilder::default()
    }

    /// `https://127.0.0.1:PORT`, without a trailing slash: the authority host to configure.
    pub fn authority(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The socket address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.shared.config.tenant_id
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.shared.config.client_id
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority(),
            self.shared.config.tenant_id
        )
    }

    /// The PEM of the CA that signed the server's certificate: add it to a client's roots (for
    /// example through `VERCEL_OIDC_CA_FILE`).
    pub fn ca_pem(&self) -> &str {
        &self.tls.ca_pem
    }

    /// A `reqwest` client that trusts the emulator's CA (and nothing else), with no proxy: ready
    /// to talk to the emulator, or to wrap in another HTTP stack (e.g. an Azure `Transport`).
    ///
    /// # Panics
    /// If the client cannot be built (the CA PEM is generated here and always valid).
    pub fn reqwest_client(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.tls.ca_pem.as_bytes())
            .expect("vercel-oidc-testkit: the generated CA PEM parses");
        reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([ca])
            .build()
            .expect("vercel-oidc-testkit: a reqwest client trusting the test CA builds")
    }

    /// How many token requests the emulator has received (faulted ones included).
    pub fn requests(&self) -> usize {
        self.shared.counters.get(Endpoint::Entra)
    }

    /// How many token requests named exactly this `scope` (the form value; faulted requests
    /// whose form could be read included).
    pub fn requests_for_scope(&self, scope: &str) -> usize {
        self.shared.scopes().get(scope).copied().unwrap_or_default()
    }

    /// Sets every request counter back to zero.
    pub fn reset_requests(&self) {
        self.shared.counters.reset();
        self.shared.scopes().clear();
    }

    /// The shared fault rules (use [`Endpoint::Entra`]).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Applies an [`EntraFault`] to the next `n` requests that the shared [`Faults`] let through.
    /// Several calls queue up, oldest first.
    pub fn inject(&self, n: usize, fault: EntraFault) {
        if n > 0 {
            self.shared.injected().push_back((n, fault));
        }
    }

    /// Removes the queued [`EntraFault`]s.
    pub fn clear_injected(&self) {
        self.shared.injected().clear();
    }
}

struct Shared {
    config: EntraBuilder,
    faults: Faults,
    counters: Counters,
    per_scope: Mutex<HashMap<String, usize>>,
    injected: Mutex<VecDeque<(usize, EntraFault)>>,
    jwks_client: reqwest::Client,
}

/// Why a request is rejected: status, `error`, AADSTS code and the first sentence.
struct Rejection {
    status: StatusCode,
    error: &'static str,
    code: u32,
    message: String,
}

impl Rejection {
    fn new(status: StatusCode, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            code,
            message: message.into(),
        }
    }

    fn bad(error: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, code, message)
    }
}

impl Shared {
    fn scopes(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.per_scope
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn injected(&self) -> MutexGuard<'_, VecDeque<(usize, EntraFault)>> {
        self.injected.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_injected(&self) -> Option<EntraFault> {
        let mut queue = self.injected();
        let (n, fault) = queue.front_mut()?;
        *n -= 1;
        let fault = fault.clone();
        if *n == 0 {
            queue.pop_front();
        }
        Some(fault)
    }

    async fn token(&self, tenant: &str, form: &HashMap<String, String>) -> Response {
        match self.token_inner(tenant, form).await {
            Ok(response) => response,
            Err(rejection) => aadsts_error(&rejection),
        }
    }

    async fn token_inner(
        &self,
        tenant: &str,
        form: &HashMap<String, String>,
    ) -> Result<Response, Rejection> {
        let fault = self.take_injected();
        if let Some(EntraFault::Throttle { retry_after }) = &fault {
            let rejection = Rejection::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                50196,
                "The server is temporarily unable to service your request due to throttling. \
                 Please retry the request after the time given in the Retry-After header.",
            );
            let mut response = aadsts_error(&rejection);
            let millis = retry_after.as_millis();
            let seconds = millis.div_ceil(1000).to_string();
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                headers.insert(header::RETRY_AFTER, value);
            }
            if let Ok(value) = HeaderValue::from_str(&millis.to_string()) {
                headers.insert("retry-after-ms", value);
            }
            return Ok(response);
        }
        let config = &self.config;
        if tenant != config.tenant_id {
            return Err(Rejection::bad(
                "invalid_request",
                90002,
                format!("Tenant '{tenant}' not found."),
            ));
        }
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        match field("grant_type") {
            "" => {
                return Err(Rejection::bad(
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'grant_type'.",
                ));
            }
            "client_credentials" => {}
            _ => {
                return Err(Rejection::bad(
                    "unsupported_grant_type",
                    70003,
                    "The app requested an unsupported grant type.",
                ));
            }
        }
        if field("client_id") != config.client_id {
            return Err(Rejection::bad(
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{}' was not found in the directory.",
                    field("client_id")
                ),
            ));
        }
        let scope = field("scope");
        if scope.is_empty() {
            return Err(Rejection::bad(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            ));
        }
        if !scope.split(' ').all(|s| s.ends_with("/.default")) {
            return Err(Rejection::bad(
                "invalid_scope",
                1002012,
                "The provided value for scope is not valid. Client credential flows must have a \
                 scope value with /.default suffixed to the resource identifier.",
            ));
        }
        if field("client_assertion_type") != JWT_BEARER {
            return Err(Rejection::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or \
                 'client_secret'.",
            ));
        }
        let assertion = field("client_assertion");
        self.check_assertion(assertion).await?;

        let expires_in = match fault {
            Some(EntraFault::ExpiredToken) => 0,
            _ => config.token_lifetime.as_secs(),
        };
        let access_token = self.access_token(scope, expires_in);
        let body = json!({
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access_token,
        });
        Ok(axum::Json(body).into_response())
    }

    /// Entra's checks of a federated client assertion (see the module docs for the order).
    async fn check_assertion(&self, assertion: &str) -> Result<(), Rejection> {
        let parsed = jwt::parse(assertion).map_err(|_| {
            Rejection::bad(
                "invalid_request",
                50027,
                "JWT token is invalid or malformed.",
            )
        })?;
        let claims = &parsed.payload;
        let now = unix_seconds(SystemTime::now()) as f64;
        let exp = claims.get("exp").and_then(Value::as_f64);
        let nbf = claims.get("nbf").and_then(Value::as_f64);
        if exp.is_none_or(|exp| exp <= now) || nbf.is_some_and(|nbf| nbf > now) {
            return Err(Rejection::bad(
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            ));
        }
        let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
        let (iss, sub) = (text("iss"), text("sub"));
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let federated = &self.config.federated;
        let by_issuer: Vec<&FederatedCredential> =
            federated.iter().filter(|f| f.issuer == iss).collect();
        if by_issuer.is_empty() {
            return Err(Rejection::bad(
                "invalid_request",
                700211,
                format!(
                    "No matching federated identity record found for presented assertion issuer '{iss}'. Please note that the matching is done using a case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion."
                ),
            ));
        }
        let by_subject: Vec<&FederatedCredential> =
            by_issuer.into_iter().filter(|f| f.subject == sub).collect();
        if by_subject.is_empty() {
            return Err(Rejection::bad(
                "invalid_request",
                700213,
                format!(
                    "No matching federated identity record found for presented assertion subject '{sub}'. Please note that the matching is done using a case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion."
                ),
            ));
        }
        if !by_subject
            .iter()
            .any(|f| audiences.contains(&f.audience.as_str()))
        {
            return Err(Rejection::bad(
                "invalid_request",
                70021,
                format!(
                    "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'.",
                    audiences.join(",")
                ),
            ));
        }
        self.check_signature(iss, &parsed).await
    }

    async fn check_signature(&self, iss: &str, parsed: &jwt::Parsed<'_>) -> Result<(), Rejection> {
        let invalid_signature = || {
            Rejection::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700027,
                "Client assertion failed signature validation.",
            )
        };
        if parsed.header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(invalid_signature());
        }
        let kid = parsed
            .header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(invalid_signature)?;
        let jwks = self.fetch_jwks(iss).await.map_err(|()| {
            Rejection::bad(
                "invalid_request",
                50166,
                format!("Request to External OIDC endpoint failed. Issuer: '{iss}'."),
            )
        })?;
        let key = jwks
            .get("keys")
            .and_then(Value::as_array)
            .and_then(|keys| {
                keys.iter()
                    .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
            })
            .ok_or_else(invalid_signature)?;
        let component = |name: &str| {
            key.get(name)
                .and_then(Value::as_str)
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        };
        let (Some(n), Some(e)) = (component("n"), component("e")) else {
            return Err(invalid_signature());
        };
        RsaPublicKeyComponents { n, e }
            .verify(
                &RSA_PKCS1_2048_8192_SHA256,
                parsed.signing_input.as_bytes(),
                &parsed.signature,
            )
            .map_err(|_| invalid_signature())
    }

    /// The issuer's key set from `{iss}/.well-known/jwks` (only for configured issuers).
    async fn fetch_jwks(&self, iss: &str) -> Result<Value, ()> {
        let url = format!("{}/.well-known/jwks", iss.trim_end_matches('/'));
        let response = self.jwks_client.get(url).send().await.map_err(drop)?;
        if !response.status().is_success() {
            return Err(());
        }
        response.json::<Value>().await.map_err(drop)
    }

    /// An opaque-to-clients, JWT-shaped access token (unsigned: a random third part).
    fn access_token(&self, scope: &str, expires_in: u64) -> String {
        let now = unix_seconds(SystemTime::now());
        let resource = scope
            .split(' ')
            .next()
            .unwrap_or_default()
            .trim_end_matches("/.default");
        let exp = now.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX));
        let claims = json!({
            "aud": resource,
            "iss": format!("https://sts.windows.net/{}/", self.config.tenant_id),
            "tid": self.config.tenant_id,
            "appid": self.config.client_id,
            "sub": self.config.client_id,
            "iat": now,
            "nbf": now,
            "exp": exp,
            "scp": scope,
            "uti": jwt::random_id(),
        });
        format!(
            "{}.{}.{}",
            jwt::b64(r#"{"typ":"JWT","alg":"none","x-testkit":"entra"}"#),
            jwt::b64(claims.to_string()),
            jwt::random_id()
        )
    }

    async fn serve(&self, tenant: &str, body: &[u8]) -> Response {
        self.counters.hit(Endpoint::Entra);
        let form = parse_form(body);
        if let Some(scope) = form.as_ref().and_then(|f| f.get("scope")) {
            *self.scopes().entry(scope.clone()).or_default() += 1;
        }
        let answer = async {
            match &form {
                Some(form) => self.token(tenant, form).await,
                None => aadsts_error(&Rejection::bad(
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'grant_type'.",
                )),
            }
        };
        self.faults.respond(Endpoint::Entra, answer).await
    }
}

/// The form fields (the last value wins for a repeated name), or `None` if the body is not a form.
fn parse_form(body: &[u8]) -> Option<HashMap<String, String>> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .map(|pairs| pairs.into_iter().collect())
}

/// An error shaped like Entra's, with `\r\n` in the description as Microsoft's has.
fn aadsts_error(rejection: &Rejection) -> Response {
    let trace_id = uuid_like();
    let correlation_id = uuid_like();
    let timestamp = entra_timestamp(SystemTime::now());
    let description = format!(
        "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
        rejection.code, rejection.message
    );
    let body = json!({
        "error": rejection.error,
        "error_description": description,
        "error_codes": [rejection.code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={}", rejection.code),
    });
    (rejection.status, axum::Json(body)).into_response()
}

/// A random id in the 8-4-4-4-12 hex form of Entra's trace and correlation ids.
fn uuid_like() -> String {
    let mut raw = [0u8; 16];
    // The system RNG does not fail on supported platforms; zeros are still a valid id.
    let _ = SystemRandom::new().fill(&mut raw);
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `YYYY-MM-DD hh:mm:ssZ`, as Entra writes `timestamp`.
fn entra_timestamp(time: SystemTime) -> String {
    let secs = unix_seconds(time);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token_endpoint))
        .with_state(shared)
}

async fn token_endpoint(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    shared.serve(&tenant, &body).await
}

/// The emulator's CA and server certificate (for `127.0.0.1` and `localhost`).
struct TestCa {
    ca_pem: String,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key_der: Vec<u8>,
}

impl TestCa {
    fn generate() -> io::Result<Self> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let tls_error = |e: rcgen::Error| io::Error::other(format!("certificate generation: {e}"));
        let ca_key = KeyPair::generate().map_err(tls_error)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "vercel-oidc-testkit Entra CA");
        let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_error)?;
        let ca = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().map_err(tls_error)?;
        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(tls_error)?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "vercel-oidc-testkit Entra");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(tls_error)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            chain: vec![leaf.der().clone(), ca_cert.der().clone()],
            key_der: leaf_key.serialize_der(),
        })
    }

    fn acceptor(&self) -> io::Result<TlsAcceptor> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(self.key_der.clone().into());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)
            .map_err(io::Error::other)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// An HTTPS server: accepts on `listener`, handshakes, serves `router` over HTTP/1.1. Dropping it
/// stops accepting and aborts open connections.
struct TlsServer {
    shutdown: Option<oneshot::Sender<()>>,
}

impl TlsServer {
    fn serve(listener: TcpListener, acceptor: TlsAcceptor, router: Router) -> Self {
        let (shutdown, mut stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let acceptor = acceptor.clone();
                        let service = TowerToHyperService::new(router.clone());
                        connections.spawn(async move {
                            let Ok(tls) = acceptor.accept(stream).await else {
                                tracing::debug!("vercel-oidc-testkit: Entra TLS handshake failed");
                                return;
                            };
                            let served = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tls), service)
                                .await;
                            if let Err(error) = served {
                                tracing::debug!(%error, "vercel-oidc-testkit: Entra connection ended");
                            }
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
            // Dropping the set aborts every open connection.
        });
        Self {
            shutdown: Some(shutdown),
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_is_entra_shaped() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(entra_timestamp(t), "2026-11-18 11:06:40Z");
        assert_eq!(
            entra_timestamp(SystemTime::UNIX_EPOCH),
            "1970-01-01 00:00:00Z"
        );
    }

    #[test]
    fn uuid_like_has_the_shape() {
        let id = uuid_like();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
    }

    #[test]
    fn form_parsing_keeps_escapes() {
        let form = parse_form(b"a=1&scope=https%3A%2F%2Fx%2F.default+y").expect("form");
        assert_eq!(form["scope"], "https://x/.default y");
        // Not UTF-8: decoded lossily, never a panic, and no field appears from nowhere.
        let odd = parse_form(&[0xff, 0xfe]);
        assert!(odd.is_none_or(|f| !f.contains_key("grant_type")));
        let bare = parse_form(b"grant_type").expect("a bare name is a field");
        assert_eq!(bare["grant_type"], "");
    }
}
