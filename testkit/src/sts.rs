//! An AWS STS emulator: `AssumeRoleWithWebIdentity` that *verifies* the token, and
//! `GetCallerIdentity` that checks the SigV4 signature of the credentials it issued.
//!
//! It speaks the AWS Query protocol on `POST /` (form fields `Action`, `Version=2011-06-15`, …)
//! and answers with AWS's XML shapes. For `AssumeRoleWithWebIdentity` it
//!
//! 1. records the request's form fields ([`Sts::requests`]) and counts it under
//!    [`Endpoint::Sts`];
//! 2. applies the shared [`Fault`](crate::Fault)s ([`Sts::faults`]), then the STS-specific
//!    [`StsFault`]s ([`Sts::inject`]);
//! 3. validates the parameters (`ValidationError`): role ARN, session name (2–64 of
//!    `[\w+=,.@-]`), `DurationSeconds` (900 s up to the role's maximum, 12 h unless set),
//!    at most 10 `PolicyArns.member.N.arn`, `Policy` up to 2048 characters;
//! 4. verifies the token: a compact JWS signed RS256 by a key of the JWKS it fetches over HTTP
//!    from `{issuer_url}/.well-known/jwks` on every call (fetch failure →
//!    `IDPCommunicationError`), `iss` equal to the trusted issuer, `aud` containing the trusted
//!    audience, `exp` in the future (`ExpiredTokenException`), `nbf` not in the future, and
//!    `sub` equal to the trusted subject when one is set (`AccessDenied`);
//! 5. issues random credentials (unique per call) valid for `DurationSeconds` (default 3600).
//!
//! Its clock is the wall clock at start plus tokio's elapsed time, so a paused tokio clock moves
//! it: tests that advance time see credentials expire, and a token's `exp` is checked against
//! the same clock.
//!
//! | error code | HTTP | when |
//! |---|---|---|
//! | `InvalidIdentityToken` | 400 | bad JWS, signature, issuer, audience, unknown key |
//! | `ExpiredTokenException` | 400 | `exp` not in the future |
//! | `IDPCommunicationError` | 400 | the JWKS could not be fetched |
//! | `IDPRejectedClaim` | 403 | injected ([`StsFault::IdpRejectedClaim`]; AWS's documented status) |
//! | `AccessDenied` | 400 | `sub` not trusted |
//! | `ValidationError` | 400 | a parameter is out of range |
//! | `Throttling` | 400 | injected ([`StsFault::Throttling`]) |
//!
//! `GetCallerIdentity` accepts only requests signed (SigV4, service `sts`) with credentials this
//! emulator issued and that have not expired, with the matching `x-amz-security-token`: an SDK
//! client that gets through has really used the provider's credentials.
//!
//! It serves plain HTTP, or HTTPS with a certificate from a CA it generates
//! ([`StsBuilder::https`], [`Sts::ca_pem`]).
//!
//! The emulator shares no code with the AWS SDK or the `vercel-oidc-aws` provider: it parses
//! forms and writes XML itself, and verifies tokens with this crate's own JWS code.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::iam::{Iam, Refusal};
use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::faults::{Endpoint, Faults};
use crate::jwt;
use crate::server::{Counters, Server};

const VERSION: &str = "2011-06-15";
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const DEFAULT_DURATION: u64 = 3_600;
const MIN_DURATION: u64 = 900;
const MAX_DURATION: u64 = 43_200;

/// An STS-specific fault for `AssumeRoleWithWebIdentity` (the shared [`Fault`](crate::Fault)s
/// apply first, through [`Sts::faults`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StsFault {
    /// `400 Throttling` "Rate exceeded".
    Throttling,
    /// `400 IDPCommunicationError`, as when the IdP cannot be reached.
    IdpCommunicationError,
    /// `400 InvalidIdentityToken` "Couldn't retrieve verification key from your identity
    /// provider" (transient on AWS's side).
    KeyRetrievalFailure,
    /// `400 InvalidIdentityToken` with a permanent reason.
    InvalidIdentityToken,
    /// `400 ExpiredTokenException`, whatever the token's `exp`.
    ExpiredToken,
    /// `400 AccessDenied`.
    AccessDenied,
    /// `403 IDPRejectedClaim`.
    IdpRejectedClaim,
    /// Verifies normally, then answers credentials whose `Expiration` has already passed.
    ExpiredCredentials,
    /// Verifies normally, then answers credentials valid for this long only.
    ShortLivedCredentials(Duration),
}

/// One `AssumeRoleWithWebIdentity` request as received, for assertions. `Debug` redacts
/// `WebIdentityToken`.
#[derive(Clone, PartialEq, Eq)]
pub struct StsRequest {
    fields: Vec<(String, String)>,
}

impl StsRequest {
    /// The first value of form field `name` (e.g. `"RoleArn"`, `"DurationSeconds"`).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every form field in the order received.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The `PolicyArns.member.N.arn` values, ordered by `N`.
    pub fn policy_arns(&self) -> Vec<String> {
        let mut arns: Vec<(u32, String)> = self
            .fields
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("PolicyArns.member.")?.strip_suffix(".arn")?;
                Some((n.parse().ok()?, v.clone()))
            })
            .collect();
        arns.sort();
        arns.into_iter().map(|(_, v)| v).collect()
    }

    /// The `WebIdentityToken` sent.
    pub fn web_identity_token(&self) -> Option<&str> {
        self.field("WebIdentityToken")
    }
}

impl fmt::Debug for StsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.fields {
            if k == "WebIdentityToken" {
                map.entry(k, &"[redacted]");
            } else {
                map.entry(k, v);
            }
        }
        map.finish()
    }
}

/// Credentials the emulator issued, for assertions. `Debug` shows the access key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCredentials {
    /// `ASIA…`.
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: String,
    /// The session token.
    pub session_token: String,
    /// When they expire (by the emulator's clock).
    pub expiration: SystemTime,
    /// The assumed-role ARN they act as: `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub assumed_role_arn: String,
}

impl fmt::Debug for IssuedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// A running STS emulator on `127.0.0.1`. Dropping it shuts the server down.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use vercel_oidc_testkit::Issuer;
/// use vercel_oidc_testkit::sts::{Sts, StsFault};
///
/// let issuer = Issuer::start().await?;
/// let sts = Sts::builder(issuer.team_issuer(), "sts.amazonaws.com").start().await?;
/// // Point the AWS SDK at `sts.endpoint_url()`; tokens need `aud: sts.amazonaws.com`.
/// sts.inject(1, StsFault::Throttling); // the next call is throttled
/// assert_eq!(sts.calls(), 0);
/// # Ok(()) }
/// ```
pub struct Sts {
    shared: Arc<Shared>,
    server: Serving,
    ca_pem: Option<String>,
}

/// The running server: plain HTTP through the shared [`Server`], or HTTPS through a TLS accept
/// loop that ends when the sender is dropped.
enum Serving {
    Plain(Server),
    Tls {
        addr: SocketAddr,
        _stop: tokio::sync::oneshot::Sender<()>,
    },
}

impl Serving {
    fn addr(&self) -> SocketAddr {
        match self {
            Self::Plain(server) => server.addr(),
            Self::Tls { addr, .. } => *addr,
        }
    }
}

impl fmt::Debug for Sts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sts")
            .field("endpoint_url", &self.shared.base_url)
            .field("issuer_url", &self.shared.config.issuer_url)
            .field("audience", &self.shared.config.audience)
            .finish_non_exhaustive()
    }
}

/// Builder for [`Sts`]: the trust of the role (issuer, audience, optional subject).
#[derive(Debug, Clone)]
pub struct StsBuilder {
    config: Config,
}

#[derive(Debug, Clone)]
struct Config {
    issuer_url: String,
    audience: String,
    subject: Option<String>,
    max_session: u64,
    https: bool,
    iam: Option<Iam>,
}

impl StsBuilder {
    /// Only tokens whose `sub` is exactly `subject` may assume the role (`AccessDenied`
    /// otherwise). Defaults to any subject.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.config.subject = Some(subject.into());
        self
    }

    /// The role's maximum session duration; a larger `DurationSeconds` is a `ValidationError`.
    /// Clamped to 1 h–12 h. Defaults to 12 h.
    pub fn max_session_duration(mut self, max: Duration) -> Self {
        self.config.max_session = max.as_secs().clamp(DEFAULT_DURATION, MAX_DURATION);
        self
    }

    /// Decides as AWS does with IAM behind it: the role must exist, the token's issuer must have
    /// an OIDC provider in the role's account, its audience must be one of the provider's client
    /// ids, and the role's trust policy must allow it (see [`Iam`]). The issuer URL and audience
    /// given to [`Sts::builder`] are then not used for the decision. Defaults to no IAM (the
    /// builder's issuer and audience decide).
    pub fn iam(mut self, iam: Iam) -> Self {
        self.config.iam = Some(iam);
        self
    }

    /// Serves HTTPS with a certificate for `127.0.0.1` and `localhost` issued by a CA generated
    /// for this emulator ([`Sts::ca_pem`]): for tests of extra trust roots
    /// (`VERCEL_OIDC_CA_FILE`). Defaults to plain HTTP.
    pub fn https(mut self) -> Self {
        self.config.https = true;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// # Errors
    /// If the port cannot be bound, the HTTP client for the JWKS cannot be built, or (with
    /// [`StsBuilder::https`]) the certificates cannot be generated.
    pub async fn start(self) -> io::Result<Sts> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(io::Error::other)?;
        let listener = Server::bind().await?;
        let scheme = if self.config.https { "https" } else { "http" };
        let base_url = format!("{scheme}://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            config: self.config,
            base_url,
            http,
            clock: (SystemTime::now(), tokio::time::Instant::now()),
            faults: Faults::new(),
            counters: Counters::default(),
            state: Mutex::new(StsState::default()),
            caller_identity_calls: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/", post(handle))
            .with_state(Arc::clone(&shared));
        let (server, ca_pem) = if shared.config.https {
            let (config, ca_pem) = tls_config()?;
            (serve_tls(listener, router, config)?, Some(ca_pem))
        } else {
            (Serving::Plain(Server::serve(listener, router)?), None)
        };
        tracing::debug!(endpoint = %shared.base_url, "vercel-oidc-testkit: sts started");
        Ok(Sts {
            shared,
            server,
            ca_pem,
        })
    }
}

impl Sts {
    /// A builder trusting tokens from `issuer_url` (the exact `iss`; its key set is fetched from
    /// `{issuer_url}/.well-known/jwks`) whose `aud` contains `audience`.
    pub fn builder(issuer_url: impl Into<String>, audience: impl Into<String>) -> StsBuilder {
        StsBuilder {
            config: Config {
                issuer_url: issuer_url.into().trim_end_matches('/').to_owned(),
                audience: audience.into(),
                subject: None,
                max_session: MAX_DURATION,
                https: false,
                iam: None,
            },
        }
    }

    /// `http://127.0.0.1:PORT`: the STS endpoint URL for the SDK (`endpoint_url`).
    pub fn endpoint_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The socket address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// With [`StsBuilder::https`]: the PEM of the CA that issued the server's certificate, to
    /// write to a `VERCEL_OIDC_CA_FILE`. `None` for plain HTTP.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// How many `AssumeRoleWithWebIdentity` requests arrived, faulted ones included.
    pub fn calls(&self) -> usize {
        self.shared.counters.get(Endpoint::Sts)
    }

    /// How many `GetCallerIdentity` requests arrived.
    pub fn caller_identity_calls(&self) -> usize {
        self.shared.caller_identity_calls.load(Ordering::SeqCst)
    }

    /// Every `AssumeRoleWithWebIdentity` request received, oldest first.
    pub fn requests(&self) -> Vec<StsRequest> {
        self.shared.lock().requests.clone()
    }

    /// The most recent `AssumeRoleWithWebIdentity` request.
    pub fn last_request(&self) -> Option<StsRequest> {
        self.shared.lock().requests.last().cloned()
    }

    /// Every set of credentials issued, oldest first.
    pub fn issued(&self) -> Vec<IssuedCredentials> {
        self.shared.lock().issued.clone()
    }

    /// Forgets the recorded requests and counts (issued credentials stay valid).
    pub fn reset(&self) {
        self.shared.lock().requests.clear();
        self.shared.counters.reset();
        self.shared.caller_identity_calls.store(0, Ordering::SeqCst);
    }

    /// The shared fault rules, applied to [`Endpoint::Sts`] (`AssumeRoleWithWebIdentity`).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Applies `fault` to the next `n` `AssumeRoleWithWebIdentity` requests (after any
    /// [`Sts::inject_always`] rule is set aside for them). `n == 0` adds nothing.
    pub fn inject(&self, n: usize, fault: StsFault) {
        if n > 0 {
            self.shared.lock().next.push((n, fault));
        }
    }

    /// Applies `fault` to every `AssumeRoleWithWebIdentity` request until
    /// [`Sts::clear_injected`]; [`Sts::inject`] rules take precedence while they last.
    pub fn inject_always(&self, fault: StsFault) {
        self.shared.lock().always = Some(fault);
    }

    /// Removes every [`StsFault`] rule.
    pub fn clear_injected(&self) {
        let mut state = self.shared.lock();
        state.next.clear();
        state.always = None;
    }

    /// The emulator's clock (see the module docs).
    pub fn now(&self) -> SystemTime {
        self.shared.now()
    }
}

#[derive(Default)]
struct StsState {
    requests: Vec<StsRequest>,
    issued: Vec<IssuedCredentials>,
    next: Vec<(usize, StsFault)>,
    always: Option<StsFault>,
}

struct Shared {
    config: Config,
    base_url: String,
    http: reqwest::Client,
    clock: (SystemTime, tokio::time::Instant),
    faults: Faults,
    counters: Counters,
    state: Mutex<StsState>,
    caller_identity_calls: AtomicUsize,
}

/// An AWS error: code, HTTP status, message.
struct AwsError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AwsError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn validation(message: impl Into<String>) -> Self {
        Self::bad("ValidationError", message)
    }

    fn invalid_token(message: impl Into<String>) -> Self {
        Self::bad("InvalidIdentityToken", message)
    }

    fn into_response(self, request_id: &str) -> Response {
        let body = format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>Sender</Type>\n    \
             <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
             <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
            self.code,
            xml_escape(&self.message)
        );
        xml_response(self.status, request_id, body)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, StsState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> SystemTime {
        self.clock.0 + self.clock.1.elapsed()
    }

    fn take_fault(&self) -> Option<StsFault> {
        let mut state = self.lock();
        if let Some(rule) = state.next.first_mut() {
            rule.0 -= 1;
            let fault = rule.1.clone();
            if rule.0 == 0 {
                state.next.remove(0);
            }
            return Some(fault);
        }
        state.always.clone()
    }

    async fn assume(&self, form: &[(String, String)], request_id: &str) -> Response {
        let fault = self.take_fault();
        if let Some(fault) = &fault {
            tracing::debug!(?fault, "vercel-oidc-testkit: sts injecting fault");
        }
        let early = match &fault {
            Some(StsFault::Throttling) => Some(AwsError::bad("Throttling", "Rate exceeded")),
            Some(StsFault::IdpCommunicationError) => Some(idp_unreachable()),
            Some(StsFault::KeyRetrievalFailure) => Some(AwsError::invalid_token(
                "Couldn't retrieve verification key from your identity provider,  please \
                 reference AssumeRoleWithWebIdentity documentation for requirements",
            )),
            Some(StsFault::InvalidIdentityToken) => Some(AwsError::invalid_token(
                "The web identity token that was passed could not be validated by AWS",
            )),
            Some(StsFault::ExpiredToken) => Some(AwsError::bad(
                "ExpiredTokenException",
                "Token expired: the web identity token has expired (injected)",
            )),
            Some(StsFault::AccessDenied) => Some(access_denied()),
            Some(StsFault::IdpRejectedClaim) => Some(AwsError::new(
                StatusCode::FORBIDDEN,
                "IDPRejectedClaim",
                "The identity provider rejected the claim",
            )),
            _ => None,
        };
        if let Some(error) = early {
            return error.into_response(request_id);
        }
        match self.issue(form, fault).await {
            Ok(body) => xml_response(StatusCode::OK, request_id, body(request_id)),
            Err(error) => error.into_response(request_id),
        }
    }

    /// Validates, verifies and issues; returns the success body builder.
    async fn issue(
        &self,
        form: &[(String, String)],
        fault: Option<StsFault>,
    ) -> Result<impl FnOnce(&str) -> String, AwsError> {
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if field("Version") != Some(VERSION) {
            return Err(AwsError::bad(
                "InvalidParameterValue",
                format!("Version must be {VERSION}"),
            ));
        }
        let role_arn =
            field("RoleArn").ok_or_else(|| AwsError::validation("RoleArn is required"))?;
        let (account, role_name) = parse_role_arn(role_arn)
            .ok_or_else(|| AwsError::validation(format!("{role_arn} is invalid")))?;
        let session = field("RoleSessionName")
            .ok_or_else(|| AwsError::validation("RoleSessionName is required"))?;
        let session_ok = (2..=64).contains(&session.len())
            && session
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if !session_ok {
            return Err(AwsError::validation(
                "1 validation error detected: Value at 'roleSessionName' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
            ));
        }
        let duration = match field("DurationSeconds") {
            None => DEFAULT_DURATION,
            Some(text) => {
                let seconds: u64 = text
                    .parse()
                    .map_err(|_| AwsError::validation("DurationSeconds must be an integer"))?;
                if seconds < MIN_DURATION {
                    return Err(AwsError::validation(format!(
                        "1 validation error detected: Value '{seconds}' at 'durationSeconds' \
                         failed to satisfy constraint: Member must have value greater than or \
                         equal to {MIN_DURATION}"
                    )));
                }
                if seconds > self.config.max_session {
                    return Err(AwsError::validation(
                        "The requested DurationSeconds exceeds the MaxSessionDuration set for \
                         this role.",
                    ));
                }
                seconds
            }
        };
        let policy_arns = form
            .iter()
            .filter(|(k, _)| k.starts_with("PolicyArns.member."))
            .count();
        if policy_arns > 10 {
            return Err(AwsError::validation(
                "1 validation error detected: Value at 'policyArns' failed to satisfy \
                 constraint: Member must have length less than or equal to 10",
            ));
        }
        if field("Policy").is_some_and(|p| p.chars().count() > 2048) {
            return Err(AwsError::bad(
                "PackedPolicyTooLarge",
                "Packed policy consumes more than 100% of the allotted size",
            ));
        }
        let token = field("WebIdentityToken")
            .ok_or_else(|| AwsError::validation("WebIdentityToken is required"))?;
        if !(4..=20_000).contains(&token.len()) {
            return Err(AwsError::validation(
                "WebIdentityToken must be 4 to 20000 characters",
            ));
        }
        let claims = self.verify(token, role_arn, &account).await?;
        if let Some(iam) = &self.config.iam {
            iam.authorize(role_arn, &account, &claims)
                .map_err(refusal)?;
        }
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(trusted) = &self.config.subject
            && *trusted != subject
        {
            return Err(access_denied());
        }

        let now = self.now();
        let lifetime = match fault {
            Some(StsFault::ShortLivedCredentials(life)) => life,
            _ => Duration::from_secs(duration),
        };
        let expiration = match fault {
            Some(StsFault::ExpiredCredentials) => now - Duration::from_secs(60),
            _ => now + lifetime,
        };
        let credentials = IssuedCredentials {
            access_key_id: format!("ASIA{}", random_upper(16)),
            secret_access_key: random_b64(30),
            session_token: format!("FwoGZXIvYXdzE{}", random_b64(180)),
            expiration,
            assumed_role_arn: format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}"),
        };
        self.lock().issued.push(credentials.clone());
        let provider = field("ProviderId")
            .map(str::to_owned)
            .unwrap_or_else(|| self.config.issuer_url.clone());
        let audience = match (&self.config.iam, claims.get("aud")) {
            (Some(_), Some(Value::String(aud))) => aud.clone(),
            _ => self.config.audience.clone(),
        };
        let session = session.to_owned();
        let role_id = format!("AROA{}", random_upper(17));
        Ok(move |request_id: &str| {
            format!(
                "<AssumeRoleWithWebIdentityResponse xmlns=\"{NAMESPACE}\">\n  \
                 <AssumeRoleWithWebIdentityResult>\n    \
                 <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>\n    \
                 <Audience>{}</Audience>\n    <AssumedRoleUser>\n      \
                 <Arn>arn:aws:sts::{account}:assumed-role/{}/{}</Arn>\n      \
                 <AssumedRoleId>{role_id}:{}</AssumedRoleId>\n    </AssumedRoleUser>\n    \
                 <Credentials>\n      <SessionToken>{}</SessionToken>\n      \
                 <SecretAccessKey>{}</SecretAccessKey>\n      \
                 <Expiration>{}</Expiration>\n      <AccessKeyId>{}</AccessKeyId>\n    \
                 </Credentials>\n    <Provider>{}</Provider>\n  \
                 </AssumeRoleWithWebIdentityResult>\n  <ResponseMetadata>\n    \
                 <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n\
                 </AssumeRoleWithWebIdentityResponse>\n",
                xml_escape(&subject),
                xml_escape(&audience),
                xml_escape(&role_name),
                xml_escape(&session),
                xml_escape(&session),
                credentials.session_token,
                credentials.secret_access_key,
                iso8601(credentials.expiration),
                credentials.access_key_id,
                xml_escape(&provider),
            )
        })
    }

    /// Verifies the token against the trusted issuer's JWKS, fetched now over HTTP.
    async fn verify(
        &self,
        token: &str,
        role_arn: &str,
        account: &str,
    ) -> Result<serde_json::Map<String, Value>, AwsError> {
        let parsed = jwt::parse(token)
            .map_err(|_| AwsError::invalid_token("The web identity token is not a valid JWT"))?;
        if parsed.header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(AwsError::invalid_token(
                "The web identity token is not signed with a supported algorithm",
            ));
        }
        let iss = parsed
            .payload
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let trusted_issuer = match &self.config.iam {
            Some(iam) => iam.provider_for(role_arn, account, iss).map_err(refusal)?,
            None if iss == self.config.issuer_url => iss.to_owned(),
            None => return Err(refusal(Refusal::NoProvider(iss.to_owned()))),
        };
        let jwks = self.fetch_jwks(&trusted_issuer).await?;
        let kid = parsed.header.get("kid").and_then(Value::as_str);
        let key = jwks
            .get("keys")
            .and_then(Value::as_array)
            .and_then(|keys| {
                keys.iter()
                    .find(|k| k.get("kid").and_then(Value::as_str) == kid && kid.is_some())
            })
            .ok_or_else(|| {
                AwsError::invalid_token(
                    "No key in the identity provider's key set matches the token",
                )
            })?;
        let component = |name: &str| {
            key.get(name)
                .and_then(Value::as_str)
                .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        };
        let (Some(n), Some(e)) = (component("n"), component("e")) else {
            return Err(idp_unreachable());
        };
        let verified = RsaPublicKeyComponents { n, e }
            .verify(
                &RSA_PKCS1_2048_8192_SHA256,
                parsed.signing_input.as_bytes(),
                &parsed.signature,
            )
            .is_ok();
        if !verified {
            return Err(AwsError::invalid_token(
                "The web identity token signature could not be verified",
            ));
        }
        let claims = parsed.payload;
        let now = jwt::unix_seconds(self.now());
        let exp = claims.get("exp").and_then(Value::as_f64);
        match exp {
            None => {
                return Err(AwsError::invalid_token(
                    "The web identity token has no expiration",
                ));
            }
            Some(exp) if exp <= now as f64 => {
                return Err(AwsError::bad(
                    "ExpiredTokenException",
                    format!(
                        "Token expired: current date/time {now} must be before the \
                         expiration date/time {exp}"
                    ),
                ));
            }
            Some(_) => {}
        }
        if claims
            .get("nbf")
            .and_then(Value::as_f64)
            .is_some_and(|nbf| nbf > (now + 60) as f64)
        {
            return Err(AwsError::invalid_token(
                "The web identity token is not valid yet",
            ));
        }
        if self.config.iam.is_some() {
            // IAM checks the audience against the provider's client ids.
            return Ok(claims);
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.config.audience,
            Some(Value::Array(list)) => list
                .iter()
                .any(|a| a.as_str() == Some(self.config.audience.as_str())),
            _ => false,
        };
        if !aud_ok {
            return Err(AwsError::invalid_token("Incorrect token audience"));
        }
        Ok(claims)
    }

    async fn fetch_jwks(&self, issuer: &str) -> Result<Value, AwsError> {
        let url = format!("{issuer}/.well-known/jwks");
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|_| idp_unreachable())?;
        if !response.status().is_success() {
            return Err(idp_unreachable());
        }
        let bytes = response.bytes().await.map_err(|_| idp_unreachable())?;
        serde_json::from_slice::<Value>(&bytes).map_err(|_| idp_unreachable())
    }

    /// `GetCallerIdentity`, signed with SigV4 by credentials this emulator issued.
    fn caller_identity(&self, headers: &HeaderMap, body: &[u8], request_id: &str) -> Response {
        match self.check_sigv4(headers, body) {
            Ok(credentials) => {
                // `arn:aws:sts::<account>:assumed-role/…`
                let account = credentials
                    .assumed_role_arn
                    .split(':')
                    .nth(4)
                    .unwrap_or_default()
                    .to_owned();
                let body = format!(
                    "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\n  \
                     <GetCallerIdentityResult>\n    \
                     <Arn>{}</Arn>\n    \
                     <UserId>{}</UserId>\n    <Account>{account}</Account>\n  \
                     </GetCallerIdentityResult>\n  <ResponseMetadata>\n    \
                     <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n\
                     </GetCallerIdentityResponse>\n",
                    xml_escape(&credentials.assumed_role_arn),
                    credentials.access_key_id
                );
                xml_response(StatusCode::OK, request_id, body)
            }
            Err(error) => error.into_response(request_id),
        }
    }

    /// Checks `Authorization: AWS4-HMAC-SHA256 …` and `x-amz-security-token` against the issued
    /// credentials. Returns the credentials that signed.
    fn check_sigv4(&self, headers: &HeaderMap, body: &[u8]) -> Result<IssuedCredentials, AwsError> {
        let denied = |m: &str| AwsError::new(StatusCode::FORBIDDEN, "InvalidClientTokenId", m);
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| denied("Missing Authentication Token"))?;
        let rest = auth
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or_else(|| denied("Unsupported signature algorithm"))?;
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed_headers = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            }
        }
        let (Some(credential), Some(signed_headers), Some(signature)) =
            (credential, signed_headers, signature)
        else {
            return Err(denied("Malformed Authorization header"));
        };
        let mut scope = credential.splitn(2, '/');
        let (Some(akid), Some(scope)) = (scope.next(), scope.next()) else {
            return Err(denied("Malformed credential scope"));
        };
        let issued = self
            .lock()
            .issued
            .iter()
            .find(|c| c.access_key_id == akid)
            .cloned()
            .ok_or_else(|| denied("The security token included in the request is invalid."))?;
        if issued.expiration <= self.now() {
            return Err(AwsError::new(
                StatusCode::FORBIDDEN,
                "ExpiredToken",
                "The security token included in the request is expired",
            ));
        }
        let token = headers
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok());
        if token != Some(issued.session_token.as_str()) {
            return Err(denied(
                "The security token included in the request is invalid.",
            ));
        }
        let amz_date = headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| denied("Missing x-amz-date"))?;
        let scope_parts: Vec<&str> = scope.split('/').collect();
        if scope_parts.len() != 4 || scope_parts[2] != "sts" || scope_parts[3] != "aws4_request" {
            return Err(denied("Malformed credential scope"));
        }
        let mut canonical_headers = String::new();
        for name in signed_headers.split(';') {
            let value = headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join(",");
            canonical_headers.push_str(&format!("{name}:{value}\n"));
        }
        let canonical_request = format!(
            "POST\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
            hex(digest::digest(&digest::SHA256, body).as_ref())
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
        );
        let mac = |key: &[u8], data: &str| {
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
                .as_ref()
                .to_vec()
        };
        let k_date = mac(
            format!("AWS4{}", issued.secret_access_key).as_bytes(),
            scope_parts[0],
        );
        let k_region = mac(&k_date, scope_parts[1]);
        let k_service = mac(&k_region, scope_parts[2]);
        let k_signing = mac(&k_service, scope_parts[3]);
        let expected = hex(&mac(&k_signing, &string_to_sign));
        if expected != signature {
            return Err(AwsError::new(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            ));
        }
        Ok(issued)
    }
}

/// A CA and a server certificate for `127.0.0.1` / `localhost` signed by it.
fn tls_config() -> io::Result<(rustls::ServerConfig, String)> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let failed = |e: rcgen::Error| io::Error::other(format!("certificate generation: {e}"));
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "vercel-oidc-testkit STS CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(failed)?)
        .map_err(failed)?;
    let leaf_key = KeyPair::generate().map_err(failed)?;
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(failed)?
        .signed_by(&leaf_key, &ca)
        .map_err(failed)?;
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der())
        .map_err(io::Error::other)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .map_err(io::Error::other)?;
    Ok((config, ca.pem()))
}

/// Serves `router` over TLS until the returned handle is dropped.
fn serve_tls(
    listener: tokio::net::TcpListener,
    router: Router,
    config: rustls::ServerConfig,
) -> io::Result<Serving> {
    let addr = listener.local_addr()?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let Ok((tcp, _)) = accepted else { continue };
                    let acceptor = acceptor.clone();
                    let service = hyper_util::service::TowerToHyperService::new(router.clone());
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            tracing::debug!("vercel-oidc-testkit: sts TLS handshake failed");
                            return;
                        };
                        let io = hyper_util::rt::TokioIo::new(tls);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    });
                }
            }
        }
    });
    Ok(Serving::Tls { addr, _stop: stop })
}

fn idp_unreachable() -> AwsError {
    AwsError::bad(
        "IDPCommunicationError",
        "The request could not be fulfilled because the identity provider (IDP) that was asked \
         to verify the incoming identity token could not be reached.",
    )
}

/// IAM's refusal as STS answers it.
fn refusal(refusal: Refusal) -> AwsError {
    match refusal {
        Refusal::AccessDenied => access_denied(),
        Refusal::NoProvider(iss) => AwsError::invalid_token(format!(
            "No OpenIDConnect provider found in your account for {iss}"
        )),
        Refusal::Audience => AwsError::invalid_token("Incorrect token audience"),
    }
}

fn access_denied() -> AwsError {
    AwsError::bad(
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
    )
}

/// `arn:<partition>:iam::<account>:role/<path/>name` → (account, name).
fn parse_role_arn(arn: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[4].is_empty() {
        return None;
    }
    let path = parts[5].strip_prefix("role/")?;
    let name = path.rsplit('/').next().filter(|n| !n.is_empty())?;
    Some((parts[4].to_owned(), name.to_owned()))
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request_id = uuid_like();
    let form = parse_form(&body);
    let action = form
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone());
    match action.as_deref() {
        Some("AssumeRoleWithWebIdentity") => {
            shared.counters.hit(Endpoint::Sts);
            shared.lock().requests.push(StsRequest {
                fields: form.clone(),
            });
            let answer = shared.assume(&form, &request_id);
            shared.faults.respond(Endpoint::Sts, answer).await
        }
        Some("GetCallerIdentity") => {
            shared.caller_identity_calls.fetch_add(1, Ordering::SeqCst);
            shared.caller_identity(&headers, &body, &request_id)
        }
        Some(_) => AwsError::bad(
            "InvalidAction",
            "The action or operation requested is invalid.",
        )
        .into_response(&request_id),
        None => AwsError::bad("MissingAction", "The request must contain an Action.")
            .into_response(&request_id),
    }
}

fn xml_response(status: StatusCode, request_id: &str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// `application/x-www-form-urlencoded` → pairs (`+` is a space, `%XX` a byte).
fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    fn decode(part: &[u8]) -> String {
        let mut out = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            match part[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < part.len() => {
                    let hex = std::str::from_utf8(&part[i + 1..i + 3]).ok();
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(byte) => {
                            out.push(byte);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                byte => out.push(byte),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|b| *b == b'=') {
            Some(eq) => (decode(&pair[..eq]), decode(&pair[eq + 1..])),
            None => (decode(pair), String::new()),
        })
        .collect()
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        // Not expected; the ids stay unique through the counter below.
        static FALLBACK: AtomicUsize = AtomicUsize::new(0);
        let seed = FALLBACK.fetch_add(1, Ordering::Relaxed);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed.wrapping_mul(31).wrapping_add(i * 17) & 0xff) as u8;
        }
    }
    bytes
}

/// `n` characters of `[A-Z2-7]`.
fn random_upper(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    random_bytes(n)
        .into_iter()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// base64 (standard alphabet, no padding) of `n` random bytes.
fn random_b64(n: usize) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(random_bytes(n))
}

fn uuid_like() -> String {
    let h = hex(&random_bytes(16));
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC).
fn iso8601(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        (rem % 3_600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_known_dates() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(1_414_191_623)),
            "2014-10-24T23:00:23Z"
        );
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn form_decoding() {
        let form = parse_form(b"Action=Assume&Policy=%7B%22a%22%3A1%7D&x=a+b&bad=%zz&e");
        assert_eq!(form[0], ("Action".into(), "Assume".into()));
        assert_eq!(form[1].1, r#"{"a":1}"#);
        assert_eq!(form[2].1, "a b");
        assert_eq!(form[3].1, "%zz");
        assert_eq!(form[4], ("e".into(), String::new()));
    }

    #[test]
    fn role_arns() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/path/app"),
            Some(("123456789012".into(), "app".into()))
        );
        assert_eq!(parse_role_arn("arn:aws:iam::123456789012:user/app"), None);
    }

    #[test]
    fn request_debug_redacts_the_token() {
        let request = StsRequest {
            fields: vec![
                ("RoleArn".into(), "arn".into()),
                ("WebIdentityToken".into(), "secret.jwt.here".into()),
            ],
        };
        assert_eq!(
            format!("{request:?}"),
            r#"{"RoleArn": "arn", "WebIdentityToken": "[redacted]"}"#
        );
    }
}
