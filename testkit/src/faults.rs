//! Fault injection shared by every emulator in this crate.
//!
//! Each emulator owns one [`Faults`] and consults it on every request to one of its
//! [`Endpoint`]s. A rule either stays until [`Faults::clear`] ([`Faults::always`]) or applies to
//! the next `n` requests only ([`Faults::next`]).
//!
//! Which rule wins when several match one request:
//! 1. the oldest [`Faults::next`] rule for that endpoint that still has requests left;
//! 2. otherwise the [`Faults::always`] rule for that endpoint (a later `always` replaces an
//!    earlier one for the same endpoint).
//!
//! A faulted request is still counted by the emulator's request counters.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An endpoint of one of the emulators, for request counters and fault rules.
///
/// New emulators add variants, so matches need a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// The issuer's OpenID discovery document, `/.well-known/openid-configuration` (global and
    /// team form).
    Discovery,
    /// The issuer's key set, `/.well-known/jwks` (global and team form).
    Jwks,
    /// The audience exchange, `POST /~token` (global and team form).
    Exchange,
    /// The Vercel API's mint endpoint, `POST /v1/projects/{project}/token`.
    VercelMint,
    /// The Vercel OAuth discovery document, `GET /.well-known/openid-configuration` of the API
    /// emulator.
    OAuthDiscovery,
    /// The Vercel OAuth token endpoint (refresh-token grant).
    OAuthToken,
    /// STS `AssumeRoleWithWebIdentity`.
    Sts,
    /// Entra's `/{tenant}/oauth2/v2.0/token`.
    Entra,
    /// Every request to the Runtime Cache emulator (`GET`/`POST`/`DELETE` of a key and
    /// `POST revalidate`).
    RuntimeCache,
    /// Every request to the purge API emulator (the four `/v1/edge-cache/…` endpoints).
    Purge,
    /// Google STS `POST /v1/token` (the token exchange).
    GcpSts,
    /// Google IAM Credentials `generateAccessToken` and `generateIdToken`.
    GcpIamCredentials,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Discovery => "discovery",
            Self::Jwks => "jwks",
            Self::Exchange => "exchange",
            Self::VercelMint => "vercel-mint",
            Self::OAuthDiscovery => "oauth-discovery",
            Self::OAuthToken => "oauth-token",
            Self::Sts => "sts",
            Self::Entra => "entra",
            Self::RuntimeCache => "runtime-cache",
            Self::Purge => "purge",
            Self::GcpSts => "gcp-sts",
            Self::GcpIamCredentials => "gcp-iam-credentials",
        })
    }
}

/// What an emulator does instead of (or before) answering a request normally.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this HTTP status and a small JSON error body
    /// `{"error":"injected_fault","message":…}`, without running the endpoint. A number that is
    /// not a valid HTTP status (outside 100..=999) answers 500.
    Status(u16),
    /// Wait this long (with [`tokio::time::sleep`], so a paused tokio clock can skip it), then
    /// answer normally: a slow server.
    Delay(Duration),
    /// Close the connection without sending any response: the client sees a connection error.
    Drop,
    /// Answer `200 OK` with a body that is neither JSON nor XML (`Content-Type: text/html`),
    /// without running the endpoint.
    Garbage,
    /// Run the endpoint, then send its response with the body cut in half (and a matching
    /// `Content-Length`), so the client receives a well-formed HTTP message whose JSON body does
    /// not parse. The status is the endpoint's own (`200` for a successful request).
    Truncated,
}

/// The fault rules of one emulator. Cheap to consult and safe to change from any thread while
/// the emulator is serving.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Rules>,
}

#[derive(Debug, Default)]
struct Rules {
    /// Rules for the next requests, oldest first. Exhausted rules are removed.
    next: Vec<(Endpoint, usize, Fault)>,
    always: HashMap<Endpoint, Fault>,
}

/// The body sent by [`Fault::Garbage`].
const GARBAGE: &str = "<html><body>502 Bad Gateway <b>upstream</b> {\"not\": json";

impl Faults {
    /// Creates an empty rule set: every request is answered normally.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies `fault` to every request to `endpoint` until [`Faults::clear`]. Replaces an
    /// earlier `always` rule for the same endpoint; [`Faults::next`] rules still take precedence
    /// while they last.
    pub fn always(&self, endpoint: Endpoint, fault: Fault) {
        self.lock().always.insert(endpoint, fault);
    }

    /// Applies `fault` to the next `n` requests to `endpoint` only. Rules added by several calls
    /// run one after the other, oldest first. `n == 0` adds nothing.
    pub fn next(&self, endpoint: Endpoint, n: usize, fault: Fault) {
        if n > 0 {
            self.lock().next.push((endpoint, n, fault));
        }
    }

    /// Removes every rule: requests are answered normally again. Requests already waiting on a
    /// [`Fault::Delay`] keep waiting.
    pub fn clear(&self) {
        let mut rules = self.lock();
        rules.next.clear();
        rules.always.clear();
    }

    /// Removes every rule for `endpoint` only.
    pub fn clear_endpoint(&self, endpoint: Endpoint) {
        let mut rules = self.lock();
        rules.next.retain(|(e, _, _)| *e != endpoint);
        rules.always.remove(&endpoint);
    }

    /// Takes the fault for one request to `endpoint`, using up one request of a `next` rule.
    pub(crate) fn take(&self, endpoint: Endpoint) -> Option<Fault> {
        let mut rules = self.lock();
        if let Some(index) = rules.next.iter().position(|(e, _, _)| *e == endpoint) {
            let rule = &mut rules.next[index];
            rule.1 -= 1;
            let fault = rule.2.clone();
            if rule.1 == 0 {
                rules.next.remove(index);
            }
            return Some(fault);
        }
        rules.always.get(&endpoint).cloned()
    }

    /// Answers one request to `endpoint`: `handler` is the endpoint's normal behaviour, run only
    /// if the fault (if any) needs it.
    pub(crate) async fn respond<F>(&self, endpoint: Endpoint, handler: F) -> Response
    where
        F: Future<Output = Response>,
    {
        let Some(fault) = self.take(endpoint) else {
            return handler.await;
        };
        tracing::debug!(%endpoint, ?fault, "vercel-oidc-testkit: injecting fault");
        match fault {
            Fault::Status(code) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let body = serde_json::json!({
                    "error": "injected_fault",
                    "message": format!("fault injected by vercel-oidc-testkit: status {code}"),
                });
                (status, Json(body)).into_response()
            }
            Fault::Delay(delay) => {
                tokio::time::sleep(delay).await;
                handler.await
            }
            Fault::Drop => dropped_connection(),
            Fault::Garbage => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, HeaderValue::from_static("text/html"))],
                GARBAGE,
            )
                .into_response(),
            Fault::Truncated => truncate(handler.await).await,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Rules> {
        // The rules stay consistent even if a holder panicked, so poisoning is ignored.
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A response whose body fails before its first byte. hyper then closes the connection without
/// flushing the already-buffered status line, so the client sees the connection close with no
/// response at all.
fn dropped_connection() -> Response {
    let failing = futures_util::stream::iter([Err::<Bytes, io::Error>(io::Error::other(
        "vercel-oidc-testkit: injected dropped connection",
    ))]);
    Response::new(Body::from_stream(failing))
}

/// The response with its body cut in half.
async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => Bytes::new(),
    };
    let half = bytes.slice(..bytes.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(half))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_rules_run_in_order_then_always() {
        let faults = Faults::new();
        faults.always(Endpoint::Jwks, Fault::Status(500));
        faults.next(Endpoint::Jwks, 2, Fault::Drop);
        faults.next(Endpoint::Jwks, 1, Fault::Garbage);
        faults.next(Endpoint::Discovery, 0, Fault::Garbage);

        assert_eq!(faults.take(Endpoint::Jwks), Some(Fault::Drop));
        assert_eq!(faults.take(Endpoint::Discovery), None);
        assert_eq!(faults.take(Endpoint::Jwks), Some(Fault::Drop));
        assert_eq!(faults.take(Endpoint::Jwks), Some(Fault::Garbage));
        assert_eq!(faults.take(Endpoint::Jwks), Some(Fault::Status(500)));
        assert_eq!(faults.take(Endpoint::Jwks), Some(Fault::Status(500)));

        faults.clear();
        assert_eq!(faults.take(Endpoint::Jwks), None);
    }

    #[test]
    fn clear_endpoint_leaves_others() {
        let faults = Faults::new();
        faults.always(Endpoint::Jwks, Fault::Garbage);
        faults.next(Endpoint::Exchange, 3, Fault::Truncated);
        faults.always(Endpoint::Exchange, Fault::Status(503));
        faults.clear_endpoint(Endpoint::Exchange);
        assert_eq!(faults.take(Endpoint::Exchange), None);
        assert_eq!(faults.take(Endpoint::Jwks), Some(Fault::Garbage));
    }

    #[test]
    fn later_always_replaces_earlier() {
        let faults = Faults::new();
        faults.always(Endpoint::Jwks, Fault::Garbage);
        faults.always(Endpoint::Jwks, Fault::Status(429));
        assert_eq!(faults.take(Endpoint::Jwks), Some(Fault::Status(429)));
    }
}
