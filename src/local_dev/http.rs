//! The HTTP calls of the local-dev refresh: OAuth discovery, the refresh-token grant and the
//! mint call.

use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::error::{Error, HttpFailure, LocalDevErrorKind, RefreshStep};
use crate::limits::{BodyReadError, SMALL_BODY_MAX, read_body};
use crate::token::OidcToken;

/// The Vercel CLI's OAuth client id.
pub const VERCEL_CLI_CLIENT_ID: &str = "cl_HYyOPBNtFMfHhaUn9L4QPfTZz6TP47bp";

/// Unreserved characters (RFC 3986) stay; everything else is escaped.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn http_err(step: RefreshStep, failure: HttpFailure) -> Error {
    Error::local_dev(LocalDevErrorKind::Http { step, failure })
}

fn transport(step: RefreshStep, e: reqwest::Error) -> Error {
    // reqwest's error can contain the URL; ours never carry secrets in URLs.
    Error::local_dev_with(
        LocalDevErrorKind::Http {
            step,
            failure: HttpFailure::Transport,
        },
        e.without_url(),
    )
}

/// Sends `request` and returns the JSON object of a 2xx answer; any other answer is a typed
/// error that keeps the status and, for OAuth, a plain `error` code, nothing else of the body.
async fn send_json(
    step: RefreshStep,
    request: reqwest::RequestBuilder,
) -> Result<serde_json::Map<String, Value>, Error> {
    let response = request.send().await.map_err(|e| transport(step, e))?;
    let status = response.status();
    // Discovery documents, token responses and the mint answer are small: a larger body (or a
    // larger announced `Content-Length`) is refused without reading it.
    let body = read_body(response, SMALL_BODY_MAX)
        .await
        .map_err(|e| match e {
            BodyReadError::TooLarge(_) => http_err(step, HttpFailure::InvalidResponse),
            BodyReadError::Transport(e) => transport(step, e),
        })?;
    let json = serde_json::from_slice::<Value>(&body).ok();
    if !status.is_success() {
        let error = json
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(Value::as_str)
            .filter(|code| {
                !code.is_empty()
                    && code.len() <= 64
                    && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            })
            .map(str::to_owned);
        return Err(http_err(
            step,
            HttpFailure::Status {
                status: status.as_u16(),
                error,
            },
        ));
    }
    match json {
        Some(Value::Object(map)) => Ok(map),
        _ => Err(http_err(step, HttpFailure::InvalidResponse)),
    }
}

/// `GET {oauth}/.well-known/openid-configuration` → `token_endpoint`, which must pass the same
/// URL check as every configured base (https, or http on a loopback host only; no user info,
/// query or fragment), and be https whenever the base is: the refresh token is sent to it.
pub(crate) async fn discover_token_endpoint(
    client: &reqwest::Client,
    oauth_base: &str,
) -> Result<String, Error> {
    let step = RefreshStep::OAuthDiscovery;
    let url = format!("{oauth_base}/.well-known/openid-configuration");
    let doc = send_json(step, client.get(url)).await?;
    let endpoint = doc
        .get("token_endpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| http_err(step, HttpFailure::InvalidResponse))?;
    if let Err(reason) = crate::http::check_base_url(endpoint) {
        // The endpoint is the service's answer, not a secret; it is not echoed all the same.
        tracing::debug!(
            reason,
            "local-dev refresh: refusing the discovered token endpoint"
        );
        return Err(http_err(step, HttpFailure::InvalidResponse));
    }
    let parsed =
        reqwest::Url::parse(endpoint).map_err(|_| http_err(step, HttpFailure::InvalidResponse))?;
    if oauth_base.starts_with("https:") && parsed.scheme() != "https" {
        tracing::debug!("local-dev refresh: an https OAuth base named an http token endpoint");
        return Err(http_err(step, HttpFailure::InvalidResponse));
    }
    Ok(endpoint.to_owned())
}

/// What the refresh-token grant answered.
pub(crate) struct OAuthTokens {
    pub(crate) access_token: SecretString,
    pub(crate) expires_in: Duration,
    pub(crate) refresh_token: Option<SecretString>,
}

impl std::fmt::Debug for OAuthTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthTokens")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// The refresh-token grant (form `client_id`, `grant_type=refresh_token`, `refresh_token`).
pub(crate) async fn refresh_grant(
    client: &reqwest::Client,
    token_endpoint: &str,
    refresh_token: &SecretString,
) -> Result<OAuthTokens, Error> {
    let step = RefreshStep::OAuthToken;
    let body = format!(
        "client_id={}&grant_type=refresh_token&refresh_token={}",
        utf8_percent_encode(VERCEL_CLI_CLIENT_ID, COMPONENT),
        utf8_percent_encode(refresh_token.expose_secret(), COMPONENT),
    );
    let request = client
        .post(token_endpoint)
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .body(body);
    let mut json = send_json(step, request).await?;
    let invalid = || http_err(step, HttpFailure::InvalidResponse);
    let access_token = match json.remove("access_token") {
        Some(Value::String(s)) if !s.is_empty() => SecretString::from(s),
        _ => return Err(invalid()),
    };
    let bearer = json
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"));
    if !bearer {
        return Err(invalid());
    }
    let expires_in = json
        .get("expires_in")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(invalid)?;
    let refresh_token = match json.remove("refresh_token") {
        Some(Value::String(s)) if !s.is_empty() => Some(SecretString::from(s)),
        _ => None,
    };
    Ok(OAuthTokens {
        access_token,
        expires_in: Duration::from_secs_f64(expires_in.min(u32::MAX as f64)),
        refresh_token,
    })
}

/// `POST {api}/v1/projects/<project>/token?source=vercel-oidc-refresh[&teamId=<team>]` with the
/// CLI token as bearer, no body; answers `{"token": …}`.
pub(crate) async fn mint(
    client: &reqwest::Client,
    api_base: &str,
    cli_token: &SecretString,
    project: &str,
    team: Option<&str>,
) -> Result<OidcToken, Error> {
    let step = RefreshStep::Mint;
    let mut url = format!(
        "{api_base}/v1/projects/{}/token?source=vercel-oidc-refresh",
        utf8_percent_encode(project, COMPONENT)
    );
    if let Some(team) = team {
        url.push_str("&teamId=");
        url.extend(utf8_percent_encode(team, COMPONENT));
    }
    let mut auth =
        HeaderValue::try_from(format!("Bearer {}", cli_token.expose_secret())).map_err(|_| {
            Error::local_dev(LocalDevErrorKind::Http {
                step,
                failure: HttpFailure::Transport,
            })
        })?;
    auth.set_sensitive(true);
    let json = send_json(step, client.post(url).header(AUTHORIZATION, auth)).await?;
    parse_token_field(json.get("token")).ok_or_else(|| http_err(step, HttpFailure::InvalidResponse))
}

/// A JSON `token` string that parses as a JWT.
pub(crate) fn parse_token_field(value: Option<&Value>) -> Option<OidcToken> {
    value
        .and_then(Value::as_str)
        .and_then(|s| OidcToken::parse(s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_tokens_debug_is_redacted() {
        let tokens = OAuthTokens {
            access_token: SecretString::from("access-secret"),
            expires_in: Duration::from_secs(5),
            refresh_token: Some(SecretString::from("refresh-secret")),
        };
        assert_eq!(
            format!("{tokens:?}"),
            r#"OAuthTokens { access_token: "[redacted]", expires_in: 5s, refresh_token: Some("[redacted]") }"#
        );
    }

    #[test]
    fn ids_are_percent_encoded_as_path_and_query_components() {
        let encoded: String = utf8_percent_encode("a b/c?d&e=f~g.h_i-j", COMPONENT).collect();
        assert_eq!(encoded, "a%20b%2Fc%3Fd%26e%3Df~g.h_i-j");
    }
}
