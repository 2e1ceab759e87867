//! One invocation's request and response.

use std::fmt;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

/// Where an invocation's `x-vercel-oidc-token` comes from.
#[derive(Clone, Default)]
pub(super) enum OidcChoice {
    /// The host's default: minted by its issuer, if it has one.
    #[default]
    Host,
    /// This exact token.
    Explicit(String),
    /// No token header.
    None,
}

/// A request for [`VercelHost::invoke`](super::VercelHost::invoke): method, path, headers and
/// body. The host adds the platform headers; a header set here with the same name replaces the
/// platform's.
///
/// ```
/// use vercel_oidc_testkit::vercel_host::HostRequest;
///
/// let request = HostRequest::post("/api/items?draft=1")
///     .header("content-type", "application/json")
///     .body(r#"{"name":"x"}"#)
///     .oidc_token("eyJ…"); // instead of one minted by the host's issuer
/// # let _ = request;
/// ```
#[derive(Clone)]
pub struct HostRequest {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Bytes,
    pub(super) oidc: OidcChoice,
}

impl fmt::Debug for HostRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HostRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl HostRequest {
    /// A request with this method to `path` (starting with `/`, with any query).
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: Bytes::new(),
            oidc: OidcChoice::Host,
        }
    }

    /// A `GET` of `path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// A `POST` to `path`.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    /// Adds a header (replacing a platform header of the same name). May be called more than
    /// once. Defaults to none.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The request body. Defaults to empty.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends exactly this `x-vercel-oidc-token`. Defaults to one minted by the host's issuer
    /// (none without an issuer).
    pub fn oidc_token(mut self, token: impl Into<String>) -> Self {
        self.oidc = OidcChoice::Explicit(token.into());
        self
    }

    /// Sends no `x-vercel-oidc-token`, even if the host has an issuer.
    pub fn without_oidc_token(mut self) -> Self {
        self.oidc = OidcChoice::None;
        self
    }
}

impl From<&str> for HostRequest {
    /// A `GET` of this path.
    fn from(path: &str) -> Self {
        Self::get(path)
    }
}

impl From<String> for HostRequest {
    /// A `GET` of this path.
    fn from(path: String) -> Self {
        Self::get(path)
    }
}

/// The function's response to one invocation, with the platform ids the host gave it.
/// `Debug` omits the token and the body.
#[derive(Clone)]
#[non_exhaustive]
pub struct HostResponse {
    /// The response status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The response body.
    pub body: Bytes,
    /// The `x-vercel-internal-invocation-id` sent: the key of
    /// [`VercelHost::wait_for_end`](super::VercelHost::wait_for_end).
    pub invocation_id: String,
    /// The `x-vercel-internal-request-id` sent.
    pub request_id: u64,
    /// The `x-vercel-id` sent, `<region>::<id>`.
    pub vercel_id: String,
    /// The `x-vercel-oidc-token` sent, if any.
    pub oidc_token: Option<String>,
    /// When the request was sent, on tokio's clock.
    pub sent_at: Instant,
    /// When the whole response had arrived, on tokio's clock.
    pub responded_at: Instant,
}

impl HostResponse {
    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON into `T`; `None` if it does not parse.
    pub fn json<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The value of response header `name`, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl fmt::Debug for HostResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostResponse")
            .field("status", &self.status)
            .field("invocation_id", &self.invocation_id)
            .field("request_id", &self.request_id)
            .field("vercel_id", &self.vercel_id)
            .field(
                "oidc_token",
                &self.oidc_token.as_ref().map(|_| "[redacted]"),
            )
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}
