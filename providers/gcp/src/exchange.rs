//! One token load: a fresh Vercel token, the STS exchange, then (with a service account)
//! `generateAccessToken` or `generateIdToken`; bounded retries of transient failures.

use std::future::Future;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use vercel_oidc::time::{Clock as _, SharedClock};
use vercel_oidc::{SharedTokenSource, TokenSource as _};

use crate::error::{Error, Failure, GoogleError, Service};
use crate::token::{AccessToken, IdToken, is_header_safe};

/// The grant of the STS token exchange (RFC 8693).
pub(crate) const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The subject token type: an OIDC ID token (the Vercel JWT).
pub const SUBJECT_TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// The token type STS is asked for.
pub(crate) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The scope of the federated token when a service account is impersonated next.
pub const IAM_SCOPE: &str = "https://www.googleapis.com/auth/iam";
/// The default scope of the access token.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The largest response body read from Google.
const BODY_MAX: usize = 256 * 1024;

/// How a load retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retry {
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) attempt_timeout: Duration,
}

/// The impersonated service account and what its access tokens carry.
#[derive(Debug, Clone)]
pub(crate) struct Impersonation {
    pub(crate) service_account: String,
    pub(crate) lifetime: Duration,
    pub(crate) delegates: Vec<String>,
}

/// Everything a load needs; shared by every cache of one credentials value.
#[derive(Debug)]
pub(crate) struct Exchanger {
    pub(crate) http: reqwest::Client,
    pub(crate) token_url: String,
    pub(crate) iam_url: String,
    pub(crate) audience: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) impersonation: Option<Impersonation>,
    pub(crate) include_email: bool,
    pub(crate) source: SharedTokenSource,
    pub(crate) clock: SharedClock,
    pub(crate) retry: Retry,
}

#[derive(Deserialize)]
struct StsAnswer {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessAnswer {
    access_token: Option<String>,
    expire_time: Option<String>,
}

#[derive(Deserialize)]
struct IdAnswer {
    token: Option<String>,
}

/// What one attempt ends with when it gives no value.
enum Attempt {
    /// Retry (after a backoff) while attempts are left: a transient failure of `service`.
    Retry(Service, Failure),
    /// Retry while attempts are left: the token source failed transiently.
    RetrySource(vercel_oidc::Error),
    /// Give up at once.
    Fail(Error),
}

impl Exchanger {
    /// An access token: the federated token itself, or one for the service account.
    pub(crate) async fn access_token(&self) -> Result<(AccessToken, SystemTime), Error> {
        self.with_retries(|| async {
            match &self.impersonation {
                None => {
                    let scope = self.scopes.join(" ");
                    let (token, expires_at) = self.sts(&scope).await?;
                    Ok((
                        AccessToken::new(token.expose_secret().to_owned(), expires_at),
                        expires_at,
                    ))
                }
                Some(imp) => {
                    let (federated, _) = self.sts(IAM_SCOPE).await?;
                    self.generate_access_token(&federated, imp).await
                }
            }
        })
        .await
    }

    /// An ID token for `audience` from the service account (`generateIdToken`).
    pub(crate) async fn id_token(
        &self,
        service_account: &str,
        audience: &str,
    ) -> Result<(IdToken, SystemTime), Error> {
        self.with_retries(|| async {
            let (federated, _) = self.sts(IAM_SCOPE).await?;
            self.generate_id_token(&federated, service_account, audience)
                .await
        })
        .await
    }

    /// Runs `attempt` until it succeeds, fails for good, or the attempts run out.
    async fn with_retries<T, F, Fut>(&self, attempt: F) -> Result<T, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let mut n: u32 = 0;
        loop {
            n += 1;
            let last_attempt = n >= self.retry.max_attempts.max(1);
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(Attempt::Fail(error)) => return Err(error),
                Err(Attempt::Retry(service, failure)) if last_attempt => {
                    return Err(Error::Unavailable {
                        service,
                        attempts: n,
                        failure,
                    });
                }
                Err(Attempt::RetrySource(error)) if last_attempt => {
                    return Err(Error::TokenSource(error));
                }
                Err(Attempt::Retry(service, failure)) => {
                    tracing::debug!(attempt = n, %service, %failure, "vercel-oidc-gcp: retryable failure");
                }
                Err(Attempt::RetrySource(error)) => {
                    tracing::debug!(attempt = n, %error, "vercel-oidc-gcp: token source failed; retrying");
                }
            }
            let wait = vercel_oidc::retry::full_jitter(
                n,
                self.retry.initial_backoff,
                self.retry.max_backoff,
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// A fresh Vercel token, never the one of an earlier attempt.
    async fn subject_token(&self) -> Result<vercel_oidc::OidcToken, Attempt> {
        match self.source.token().await {
            Ok(token) => Ok(token),
            Err(e) if e.is_not_configured() => Err(Attempt::Fail(Error::NoToken(e))),
            Err(e) if e.is_transient() => Err(Attempt::RetrySource(e)),
            Err(e) => Err(Attempt::Fail(Error::TokenSource(e))),
        }
    }

    /// The STS token exchange for `scope`: the federated access token and its expiry.
    async fn sts(&self, scope: &str) -> Result<(SecretString, SystemTime), Attempt> {
        let subject = self.subject_token().await?;
        let form = [
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("audience", self.audience.as_str()),
            ("scope", scope),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
            ("subject_token_type", SUBJECT_TOKEN_TYPE_JWT),
            ("subject_token", subject.expose_secret()),
        ];
        let request = self
            .http
            .post(&self.token_url)
            .header(http::header::ACCEPT, "application/json")
            .form(&form);
        drop(subject);
        let (status, body) = self.send(Service::Sts, "token", request).await?;
        let answer: StsAnswer = parse_json(&body)
            .map_err(|reason| Attempt::Retry(Service::Sts, Failure::Incomplete { reason }))?;
        let incomplete = |reason| Attempt::Retry(Service::Sts, Failure::Incomplete { reason });
        let token = answer
            .access_token
            .filter(|t| is_header_safe(t))
            .ok_or_else(|| incomplete("access_token is missing"))?;
        if !answer
            .token_type
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case("bearer"))
        {
            return Err(Attempt::Fail(Error::InvalidResponse {
                service: Service::Sts,
                reason: "token_type is not Bearer",
                expires_at: None,
            }));
        }
        let expires_in = match answer.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| incomplete("expires_in is missing"))?;
        let now = self.clock.now();
        if expires_in <= 0 {
            return Err(Attempt::Fail(Error::InvalidResponse {
                service: Service::Sts,
                reason: "the token is already expired",
                expires_at: Some(now),
            }));
        }
        let expires_at =
            vercel_oidc::time::service_expiry(now, Duration::from_secs(expires_in.unsigned_abs()))
                .ok_or(Attempt::Fail(Error::InvalidResponse {
                    service: Service::Sts,
                    reason: "the expiry is more than 7 days away",
                    expires_at: None,
                }))?;
        tracing::debug!(
            status,
            expires_in_s = expires_in,
            "vercel-oidc-gcp: STS token exchanged"
        );
        Ok((SecretString::from(token), expires_at))
    }

    async fn generate_access_token(
        &self,
        federated: &SecretString,
        imp: &Impersonation,
    ) -> Result<(AccessToken, SystemTime), Attempt> {
        let mut body = serde_json::json!({
            "scope": self.scopes,
            "lifetime": format!("{}s", imp.lifetime.as_secs()),
        });
        if !imp.delegates.is_empty() {
            body["delegates"] = serde_json::json!(imp.delegates);
        }
        let url = format!(
            "{}/v1/projects/-/serviceAccounts/{}:generateAccessToken",
            self.iam_url, imp.service_account
        );
        let request = self
            .http
            .post(url)
            .bearer_auth(federated.expose_secret())
            .json(&body);
        let (_, body) = self
            .send(Service::IamCredentials, "generateAccessToken", request)
            .await?;
        let incomplete =
            |reason| Attempt::Retry(Service::IamCredentials, Failure::Incomplete { reason });
        let answer: AccessAnswer = parse_json(&body).map_err(incomplete)?;
        let token = answer
            .access_token
            .filter(|t| is_header_safe(t))
            .ok_or_else(|| incomplete("accessToken is missing"))?;
        let expire_time = answer
            .expire_time
            .ok_or_else(|| incomplete("expireTime is missing"))?;
        let expires_at = time::OffsetDateTime::parse(
            expire_time.trim(),
            &time::format_description::well_known::Rfc3339,
        )
        .map(SystemTime::from)
        .map_err(|_| incomplete("expireTime is not an RFC 3339 time"))?;
        let expires_at = self
            .check_expiry(Service::IamCredentials, expires_at)
            .map_err(Attempt::Fail)?;
        tracing::debug!(
            service_account = %imp.service_account,
            "vercel-oidc-gcp: service account access token issued"
        );
        Ok((AccessToken::new(token, expires_at), expires_at))
    }

    async fn generate_id_token(
        &self,
        federated: &SecretString,
        service_account: &str,
        audience: &str,
    ) -> Result<(IdToken, SystemTime), Attempt> {
        let mut body = serde_json::json!({
            "audience": audience,
            "includeEmail": self.include_email,
        });
        if let Some(imp) = &self.impersonation
            && !imp.delegates.is_empty()
        {
            body["delegates"] = serde_json::json!(imp.delegates);
        }
        let url = format!(
            "{}/v1/projects/-/serviceAccounts/{service_account}:generateIdToken",
            self.iam_url
        );
        let request = self
            .http
            .post(url)
            .bearer_auth(federated.expose_secret())
            .json(&body);
        let (_, body) = self
            .send(Service::IamCredentials, "generateIdToken", request)
            .await?;
        let incomplete =
            |reason| Attempt::Retry(Service::IamCredentials, Failure::Incomplete { reason });
        let answer: IdAnswer = parse_json(&body).map_err(incomplete)?;
        let token = answer
            .token
            .filter(|t| is_header_safe(t))
            .ok_or_else(|| incomplete("token is missing"))?;
        let exp = jwt_expiry(&token).ok_or_else(|| incomplete("the ID token has no exp"))?;
        let expires_at = self
            .check_expiry(Service::IamCredentials, exp)
            .map_err(Attempt::Fail)?;
        Ok((IdToken::new(token, expires_at), expires_at))
    }

    /// An expiry that is in the future and at most 7 days away.
    fn check_expiry(&self, service: Service, expires_at: SystemTime) -> Result<SystemTime, Error> {
        let now = self.clock.now();
        if expires_at <= now {
            return Err(Error::InvalidResponse {
                service,
                reason: "the token is already expired",
                expires_at: Some(expires_at),
            });
        }
        if !vercel_oidc::time::within_service_lifetime(now, expires_at) {
            return Err(Error::InvalidResponse {
                service,
                reason: "the expiry is more than 7 days away",
                expires_at: Some(expires_at),
            });
        }
        Ok(expires_at)
    }

    /// Sends one request inside a `vercel_oidc.gcp` span (service, operation, attempt outcome,
    /// status and duration; never a token) and returns a `2xx` status and its bounded body.
    async fn send(
        &self,
        service: Service,
        operation: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), Attempt> {
        use tracing::Instrument as _;
        use tracing::field::Empty;
        let span = tracing::info_span!(
            "vercel_oidc.gcp",
            service = %service,
            operation,
            status = Empty,
            outcome = Empty,
            duration_ms = Empty,
        );
        let started = std::time::Instant::now();
        let limit = self.retry.attempt_timeout;
        let result = match tokio::time::timeout(limit, exchange_once(service, request))
            .instrument(span.clone())
            .await
        {
            Ok(result) => result,
            Err(_) => Err(Failure::Timeout),
        };
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        match result {
            Ok((status, body)) => {
                span.record("status", u64::from(status));
                span.record("outcome", "ok");
                Ok((status, body))
            }
            Err(Failure::Google(error)) => {
                span.record("status", u64::from(error.status()));
                span.record("outcome", error.error().unwrap_or("error"));
                if error.is_transient() {
                    Err(Attempt::Retry(service, Failure::Google(error)))
                } else {
                    Err(Attempt::Fail(Error::Rejected(Box::new(error))))
                }
            }
            Err(failure) => {
                span.record("outcome", "error");
                Err(Attempt::Retry(service, failure))
            }
        }
    }
}

/// One request: a `2xx` status and its body, or why not.
async fn exchange_once(
    service: Service,
    request: reqwest::RequestBuilder,
) -> Result<(u16, Vec<u8>), Failure> {
    let response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let body = read_body(response).await?;
    if (200..300).contains(&status) {
        Ok((status, body))
    } else {
        Err(Failure::Google(GoogleError::parse(service, status, &body)))
    }
}

fn transport(error: reqwest::Error) -> Failure {
    if error.is_timeout() {
        return Failure::Timeout;
    }
    // reqwest's messages name the URL (configuration, never a secret) and the cause.
    let error = error.without_url();
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(&error);
    for _ in 0..4 {
        let Some(cause) = source else { break };
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    Failure::Transport {
        detail: crate::error::sanitize(&detail, 300),
    }
}

/// The body, at most [`BODY_MAX`] bytes.
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, Failure> {
    if response
        .content_length()
        .is_some_and(|len| len > BODY_MAX as u64)
    {
        return Err(Failure::Incomplete {
            reason: "the response body is too large",
        });
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if out.len().saturating_add(chunk.len()) > BODY_MAX {
            return Err(Failure::Incomplete {
                reason: "the response body is too large",
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A JSON object of shape `T`; the error names the problem, never the body.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, &'static str> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(object @ serde_json::Value::Object(_)) => {
            serde_json::from_value(object).map_err(|_| "a field has the wrong type")
        }
        _ => Err("the body is not a JSON object"),
    }
}

/// The `exp` of a JWT (unverified: Google signed it for the service it is sent to).
pub(crate) fn jwt_expiry(token: &str) -> Option<SystemTime> {
    if token.len() > vercel_oidc::MAX_TOKEN_LEN {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_i64()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(exp).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn id_token_expiry_is_read_from_exp() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1700000000,"aud":"x"}"#)),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        for bad in [
            jwt(r#"{"aud":"x"}"#),
            jwt(r#"{"exp":"soon"}"#),
            jwt(r#"{"exp":-5}"#),
            jwt("[1]"),
            "not-a-jwt".to_owned(),
            "a.!!!.c".to_owned(),
            format!("a.{}.c", "e".repeat(vercel_oidc::MAX_TOKEN_LEN)),
        ] {
            assert_eq!(jwt_expiry(&bad), None, "{bad}");
        }
    }

    #[test]
    fn json_bodies_are_parsed_without_echoing_them() {
        assert!(parse_json::<StsAnswer>(br#"{"access_token":"t"}"#).is_ok());
        assert_eq!(
            parse_json::<StsAnswer>(b"<html>").err(),
            Some("the body is not a JSON object")
        );
        assert_eq!(
            parse_json::<StsAnswer>(br#"{"access_token":7}"#).err(),
            Some("a field has the wrong type")
        );
        assert_eq!(
            parse_json::<StsAnswer>(b"[]").err(),
            Some("the body is not a JSON object")
        );
    }
}
