//! What Entra answers: the token response, and errors in its AADSTS shape.

use std::time::{Duration, SystemTime};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::format::{entra_timestamp, random_id, uuid_like};
use crate::jwt::{self, unix_seconds};
use crate::relying_party::KeyCheck;

/// Why a request is rejected: status, `error`, AADSTS code and the first sentence.
#[derive(Debug)]
pub(super) struct Rejection {
    pub(super) status: StatusCode,
    pub(super) error: &'static str,
    pub(super) code: u32,
    pub(super) message: String,
}

impl Rejection {
    pub(super) fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            code,
            message: message.into(),
        }
    }

    /// A `400` rejection.
    pub(super) fn bad(error: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, code, message)
    }

    /// A failed signature check of the assertion issued by `iss`, as Entra answers it.
    pub(super) fn key_check(check: KeyCheck, iss: &str) -> Self {
        match check {
            KeyCheck::Unreachable => Self::bad(
                "invalid_request",
                50166,
                format!("Request to External OIDC endpoint failed. Issuer: '{iss}'."),
            ),
            KeyCheck::Algorithm
            | KeyCheck::NoKid
            | KeyCheck::UnknownKey
            | KeyCheck::MalformedKey
            | KeyCheck::Signature => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700027,
                "Client assertion failed signature validation.",
            ),
        }
    }

    /// The error response, with `\r\n` in the description as Microsoft's has.
    pub(super) fn into_response(self) -> Response {
        let trace_id = uuid_like();
        let correlation_id = uuid_like();
        let timestamp = entra_timestamp(SystemTime::now());
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
            self.code, self.message
        );
        let body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// `429` with `Retry-After` (seconds, rounded up) and `retry-after-ms`.
pub(super) fn throttled(retry_after: Duration) -> Response {
    let mut response = Rejection::new(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        50196,
        "The server is temporarily unable to service your request due to throttling. \
         Please retry the request after the time given in the Retry-After header.",
    )
    .into_response();
    let millis = retry_after.as_millis();
    let seconds = millis.div_ceil(1000).to_string();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&seconds) {
        headers.insert(header::RETRY_AFTER, value);
    }
    if let Ok(value) = HeaderValue::from_str(&millis.to_string()) {
        headers.insert("retry-after-ms", value);
    }
    response
}

/// `200` with a bearer token for `scope`, valid for `expires_in` seconds.
pub(super) fn issued(tenant_id: &str, client_id: &str, scope: &str, expires_in: u64) -> Response {
    let body = json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access_token(tenant_id, client_id, scope, expires_in),
    });
    axum::Json(body).into_response()
}

/// An opaque-to-clients, JWT-shaped access token (unsigned: a random third part).
fn access_token(tenant_id: &str, client_id: &str, scope: &str, expires_in: u64) -> String {
    let now = unix_seconds(SystemTime::now());
    let resource = scope
        .split(' ')
        .next()
        .unwrap_or_default()
        .trim_end_matches("/.default");
    let exp = now.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX));
    let claims = json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{tenant_id}/"),
        "tid": tenant_id,
        "appid": client_id,
        "sub": client_id,
        "iat": now,
        "nbf": now,
        "exp": exp,
        "scp": scope,
        "uti": random_id(),
    });
    format!(
        "{}.{}.{}",
        jwt::b64(r#"{"typ":"JWT","alg":"none","x-testkit":"entra"}"#),
        jwt::b64(claims.to_string()),
        random_id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_name_the_resource_and_the_app() {
        let token = access_token("t", "c", "https://vault.azure.net/.default", 60);
        let parsed = jwt::parse(&token).ok();
        assert!(
            parsed.is_some_and(|p| p.payload["aud"] == "https://vault.azure.net"
                && p.payload["appid"] == "c"
                && p.payload["tid"] == "t")
        );
    }

    #[test]
    fn key_checks_map_to_aadsts_codes() {
        assert_eq!(Rejection::key_check(KeyCheck::Unreachable, "i").code, 50166);
        assert_eq!(Rejection::key_check(KeyCheck::NoKid, "i").code, 700027);
        assert_eq!(
            Rejection::key_check(KeyCheck::Signature, "i").status,
            StatusCode::UNAUTHORIZED
        );
    }
}
