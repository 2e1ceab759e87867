//! The Entra ID client-credentials request with a client assertion, sent through an
//! `azure_core` pipeline, and the credential's bounded retry loop.

use std::time::{Duration, SystemTime};

use azure_core::credentials::AccessToken;
use azure_core::http::headers::{self, HeaderName, RETRY_AFTER_MS, X_MS_RETRY_AFTER_MS};
use azure_core::http::{Context, Method, Pipeline, PipelineSendOptions, Request, Url};
use azure_core::time::OffsetDateTime;
use tokio::time::Instant;
use vercel_oidc::time::{Clock as _, SharedClock};

use crate::assertion::Assertions;
use crate::error::{Error, parse_entra_error};

/// How long one load may take by default, all attempts and waits included.
pub const DEFAULT_LOAD_BUDGET: Duration = Duration::from_secs(30);

/// How many times one load retries a failing request by default (4 attempts in all).
pub const DEFAULT_MAX_RETRIES: u32 = 3;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The credential's own retry policy for one token load: how many times a failing request is
/// retried, and how long the load may take in all.
///
/// The default, [`RetryBudget::default`], is [`DEFAULT_MAX_RETRIES`] retries (4 attempts) within
/// [`DEFAULT_LOAD_BUDGET`] (30 s). Within one load:
///
/// - only transient failures are retried (connection errors, 408, 429, 5xx, a garbled answer,
///   `AADSTS50166`); permanent AADSTS answers end the load at once;
/// - an `AADSTS700024` answer (the assertion expired on the way) is retried once at once with a
///   fresh assertion, whatever `max_retries` says; that attempt counts as one of the attempts;
/// - retry `n` waits a random time in `0..=min(budget * 4 / 15, budget / 60 * 2^(n-1))` (full
///   jitter; 500 ms doubling up to 8 s for 30 s), or longer when Entra ID's `Retry-After` asks
///   for it; a wait that would not end before the budget does ends the load instead;
/// - each attempt is limited to a third of the budget (10 s for 30 s), and the load to the
///   budget.
///
/// ```
/// use std::time::Duration;
/// use vercel_oidc_azure::RetryBudget;
///
/// let budget = RetryBudget::new(Duration::from_secs(10)).with_max_retries(1);
/// assert_eq!(budget.max_attempts(), 2);
/// assert_eq!(RetryBudget::default().max_attempts(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    load_budget: Duration,
    max_retries: u32,
}

impl RetryBudget {
    /// [`DEFAULT_MAX_RETRIES`] retries within `load_budget`.
    pub const fn new(load_budget: Duration) -> Self {
        Self {
            load_budget,
            max_retries: DEFAULT_MAX_RETRIES,
        }
    }

    /// The same budget with at most `max_retries` retries after the first attempt (`0`: one
    /// attempt per load).
    #[must_use]
    pub const fn with_max_retries(self, max_retries: u32) -> Self {
        Self {
            max_retries,
            ..self
        }
    }

    /// The same retries within `load_budget`.
    #[must_use]
    pub const fn with_load_budget(self, load_budget: Duration) -> Self {
        Self {
            load_budget,
            ..self
        }
    }

    /// How long one load may take, all attempts and waits included.
    pub const fn load_budget(&self) -> Duration {
        self.load_budget
    }

    /// How many times a failing request is retried within one load.
    pub const fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Attempts at most per load, the first one included (`max_retries + 1`, saturating).
    pub const fn max_attempts(&self) -> u32 {
        self.max_retries.saturating_add(1)
    }

    /// The first backoff cap: `budget / 60`.
    pub(crate) fn base_delay(&self) -> Duration {
        self.load_budget / 60
    }

    /// The largest backoff cap: `budget * 4 / 15`.
    pub(crate) fn max_delay(&self) -> Duration {
        self.load_budget.saturating_mul(4) / 15
    }

    /// The per-attempt limit (capped by what is left of the budget): `budget / 3`.
    pub(crate) fn attempt_timeout(&self) -> Duration {
        self.load_budget / 3
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(DEFAULT_LOAD_BUDGET)
    }
}

/// Everything a token load needs. Shared by every scope's cache.
#[derive(Debug)]
pub(crate) struct Fetcher {
    pub(crate) token_url: Url,
    pub(crate) client_id: String,
    pub(crate) pipeline: Pipeline,
    pub(crate) assertions: Assertions,
    pub(crate) clock: SharedClock,
    /// `None` when the caller's own retry policy runs in the pipeline.
    pub(crate) retry: Option<RetryBudget>,
}

impl Fetcher {
    /// One load for `scope`: a token and its expiry, after the retries the policy allows.
    pub(crate) async fn fetch(&self, scope: &str) -> Result<(AccessToken, SystemTime), Error> {
        let Some(policy) = self.retry else {
            return self.attempts_without_budget(scope).await;
        };
        let budget = policy.load_budget();
        let attempt_timeout = policy.attempt_timeout();
        // A budget too large for the clock (`Duration::MAX`) has no deadline.
        let deadline = Instant::now().checked_add(budget);
        let time_left = |deadline: Option<Instant>| {
            deadline.map_or(budget, |d| d.saturating_duration_since(Instant::now()))
        };
        let mut attempt = 0u32;
        let mut fresh = false;
        let mut renewed_assertion = false;
        // The error of the previous attempt, reported if the budget runs out in the next one.
        let mut last: Option<Error> = None;
        let timed_out = |last: Option<Error>| Error::TimedOut {
            budget,
            last: last.map(Box::new),
        };
        loop {
            attempt = attempt.saturating_add(1);
            let left = time_left(deadline);
            let limit = left.min(attempt_timeout);
            let result = match tokio::time::timeout(limit, self.attempt(scope, fresh)).await {
                Ok(result) => result,
                Err(_) if limit == left => return Err(timed_out(last)),
                Err(_) => Err(Error::TimedOut {
                    budget: attempt_timeout,
                    last: None,
                }),
            };
            let error = match result {
                Ok(token) => return Ok(token),
                Err(error) => error,
            };
            if error.aadsts_code() == Some(700024) && !renewed_assertion {
                // The assertion expired on the way: once more with a fresh one, at once.
                tracing::debug!(
                    "Entra ID says the assertion expired (AADSTS700024); retrying once with a fresh one"
                );
                renewed_assertion = true;
                fresh = true;
                last = Some(error);
                continue;
            }
            if !error.is_transient() || attempt >= policy.max_attempts() {
                return Err(error);
            }
            let jitter =
                vercel_oidc::retry::full_jitter(attempt, policy.base_delay(), policy.max_delay());
            let wait = match error.entra().and_then(|e| e.retry_after()) {
                Some(retry_after) => retry_after.max(jitter),
                None => jitter,
            };
            if wait >= time_left(deadline) {
                tracing::warn!(attempt, error = %error, "Entra ID token request failed; no time left to retry");
                return Err(
                    if error.entra().is_some_and(|e| e.retry_after().is_some()) {
                        error
                    } else {
                        timed_out(Some(error))
                    },
                );
            }
            tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, error = %error, "Entra ID token request failed; retrying");
            last = Some(error);
            tokio::time::sleep(wait).await;
        }
    }

    /// With the caller's retry policy: one attempt (the pipeline retries), plus one more with a
    /// fresh assertion after `AADSTS700024`.
    async fn attempts_without_budget(
        &self,
        scope: &str,
    ) -> Result<(AccessToken, SystemTime), Error> {
        match self.attempt(scope, false).await {
            Err(error) if error.aadsts_code() == Some(700024) => self.attempt(scope, true).await,
            other => other,
        }
    }

    /// [`Self::attempt_untraced`] inside a `vercel_oidc.entra` span: tenant, client, scope, then
    /// status, AADSTS code, trace id, outcome and duration (never the assertion or the token).
    async fn attempt(&self, scope: &str, fresh: bool) -> Result<(AccessToken, SystemTime), Error> {
        use tracing::Instrument as _;
        use tracing::field::Empty;
        let tenant = self
            .token_url
            .path_segments()
            .and_then(|mut s| s.next())
            .unwrap_or_default();
        let span = tracing::info_span!(
            "vercel_oidc.entra",
            tenant_id = tenant,
            client_id = %self.client_id,
            scope,
            fresh_assertion = fresh,
            status = Empty,
            aadsts = Empty,
            request_id = Empty,
            outcome = Empty,
            duration_ms = Empty,
        );
        let started = std::time::Instant::now();
        let result = self
            .attempt_untraced(scope, fresh)
            .instrument(span.clone())
            .await;
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        match &result {
            Ok(_) => {
                span.record("status", 200u64);
                span.record("outcome", "ok");
            }
            Err(Error::Entra(e)) => {
                span.record("status", u64::from(e.status()));
                if let Some(code) = e.code() {
                    span.record("aadsts", u64::from(code));
                }
                if let Some(id) = e.trace_id() {
                    span.record("request_id", id);
                }
                span.record("outcome", "rejected");
            }
            Err(_) => {
                span.record("outcome", "error");
            }
        }
        result
    }

    /// One request with a fresh assertion.
    async fn attempt_untraced(
        &self,
        scope: &str,
        fresh: bool,
    ) -> Result<(AccessToken, SystemTime), Error> {
        let assertion = self.assertions.fetch(fresh).await?;
        // For explaining a rejection: the claims (never the token).
        let identity = vercel_oidc::TokenIdentity::from_claims(assertion.unverified_claims()).ok();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.client_id)
            .append_pair("scope", scope)
            .append_pair("client_assertion_type", JWT_BEARER)
            .append_pair("client_assertion", assertion.expose_secret())
            .finish();
        drop(assertion);
        let mut request = Request::new(self.token_url.clone(), Method::Post);
        request.insert_header(
            headers::CONTENT_TYPE,
            headers::content_type::APPLICATION_X_WWW_FORM_URLENCODED,
        );
        request.insert_header(headers::ACCEPT, "application/json");
        request.set_body(body);
        tracing::debug!(url = %self.token_url, scope, "requesting an Entra ID token");
        let response = self
            .pipeline
            .send(
                &Context::new(),
                &mut request,
                Some(PipelineSendOptions {
                    skip_checks: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| Error::Transport(std::sync::Arc::new(e)))?;
        let status = u16::from(response.status());
        let (_, response_headers, body) = response.deconstruct();
        if !(200..300).contains(&status) {
            let retry_after = retry_after(&response_headers);
            let mut error = parse_entra_error(status, &body, retry_after);
            if let Some(identity) = &identity {
                let tenant = self
                    .token_url
                    .path_segments()
                    .and_then(|mut s| s.next())
                    .unwrap_or_default();
                error.explanation =
                    crate::explain_entra_error(error.codes(), &self.client_id, tenant, identity)
                        .map(Box::new);
            }
            tracing::debug!(status, code = ?error.code(), "Entra ID rejected the token request");
            return Err(Error::Entra(Box::new(error)));
        }
        self.token_from(status, &body)
    }

    fn token_from(&self, status: u16, body: &[u8]) -> Result<(AccessToken, SystemTime), Error> {
        parse_token_response(status, body, self.clock.now())
    }
}

/// Parses a `2xx` answer of the token endpoint: a Bearer `access_token` and its `expires_in`
/// (a number, or a number in a string), which must be positive and at most 7 days.
pub(crate) fn parse_token_response(
    status: u16,
    body: &[u8],
    now: SystemTime,
) -> Result<(AccessToken, SystemTime), Error> {
    #[derive(serde::Deserialize)]
    struct Success {
        token_type: Option<String>,
        access_token: Option<String>,
        expires_in: Option<serde_json::Value>,
    }
    let invalid = |reason| Error::InvalidResponse { status, reason };
    let parsed: Success = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(object @ serde_json::Value::Object(_)) => {
            serde_json::from_value(object).map_err(|_| invalid("a field has the wrong type"))?
        }
        _ => return Err(invalid("the body is not a JSON object")),
    };
    if !parsed
        .token_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    {
        return Err(invalid("token_type is not Bearer"));
    }
    let token = parsed
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("access_token is missing"))?;
    let expires_in = match parsed.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        // Some Entra endpoints send numbers as strings.
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| invalid("expires_in is missing"))?;
    if expires_in <= 0 {
        return Err(Error::TokenExpired { expires_in });
    }
    let (expires_at, expires_on) =
        expiry_after(now, Duration::from_secs(expires_in.unsigned_abs()))
            .ok_or_else(|| invalid("expires_in is longer than 7 days"))?;
    Ok((AccessToken::new(token, expires_on), expires_at))
}

/// `now + lifetime` as both time types, or `None` when the lifetime is longer than
/// [`vercel_oidc::time::MAX_SERVICE_LIFETIME`] or the result is out of either type's range.
fn expiry_after(now: SystemTime, lifetime: Duration) -> Option<(SystemTime, OffsetDateTime)> {
    let expires_at = vercel_oidc::time::service_expiry(now, lifetime)?;
    let since_epoch = expires_at.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    let expires_on = OffsetDateTime::UNIX_EPOCH
        .checked_add(azure_core::time::Duration::try_from(since_epoch).ok()?)?;
    Some((expires_at, expires_on))
}

const RETRY_HEADERS: [HeaderName; 3] = [X_MS_RETRY_AFTER_MS, RETRY_AFTER_MS, headers::RETRY_AFTER];

/// The wait a response asks for: `x-ms-retry-after-ms`, `retry-after-ms` (milliseconds) or
/// `Retry-After` (seconds or an HTTP date), parsed as `azure_core` parses them.
fn retry_after(response_headers: &headers::Headers) -> Option<Duration> {
    azure_core::http::policies::get_retry_after(
        response_headers,
        OffsetDateTime::now_utc,
        &RETRY_HEADERS,
    )
    .and_then(|d| Duration::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_fits_thirty_seconds() {
        let policy = RetryBudget::default();
        assert_eq!(policy.load_budget(), Duration::from_secs(30));
        assert_eq!(policy.max_retries(), 3);
        assert_eq!(policy.max_attempts(), 4);
        assert_eq!(policy.base_delay(), Duration::from_millis(500));
        assert_eq!(policy.max_delay(), Duration::from_secs(8));
        assert_eq!(policy.attempt_timeout(), Duration::from_secs(10));
    }

    #[test]
    fn retry_after_in_seconds_milliseconds_or_absent() {
        let mut h = headers::Headers::new();
        assert_eq!(retry_after(&h), None);
        h.insert(headers::RETRY_AFTER, "7");
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER_MS, "1500");
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        let mut h = headers::Headers::new();
        h.insert(headers::RETRY_AFTER, "soon");
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn expiry_after_refuses_lifetimes_past_seven_days_and_the_calendar() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let hour = Duration::from_secs(3600);
        let (at, on) = expiry_after(now, hour).expect("an hour");
        assert_eq!(at, now + hour);
        assert_eq!(on.unix_timestamp(), 1_700_003_600);
        let week = vercel_oidc::time::MAX_SERVICE_LIFETIME;
        assert!(expiry_after(now, week).is_some());
        assert!(expiry_after(now, week + Duration::from_secs(1)).is_none());
        assert!(expiry_after(now, Duration::from_secs(300_000_000_000)).is_none());
        assert!(expiry_after(now, Duration::MAX).is_none());
        // A clock near the end of year 9999: in range for SystemTime, not for OffsetDateTime.
        let late = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_000);
        assert!(expiry_after(late, hour).is_none());
        // Before the epoch: not an expiry this credential can hand out.
        let early = SystemTime::UNIX_EPOCH - Duration::from_secs(7200);
        assert!(expiry_after(early, hour).is_none());
    }

    #[test]
    fn token_answers_are_parsed_strictly() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let parse = |body: &str| parse_token_response(200, body.as_bytes(), now);
        for body in [
            r#"{"token_type":"Bearer","expires_in":3599,"access_token":"tok"}"#,
            // Some Entra endpoints send the number as a string.
            r#"{"token_type":"bearer","expires_in":" 3599 ","access_token":"tok"}"#,
        ] {
            let (token, expires_at) = parse(body).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(token.token.secret(), "tok");
            assert_eq!(expires_at, now + Duration::from_secs(3599), "{body}");
            assert_eq!(token.expires_on.unix_timestamp(), 1_700_003_599);
        }
        for (body, reason) in [
            ("[1]", "the body is not a JSON object"),
            (r#"{"token_type":7}"#, "a field has the wrong type"),
            (
                r#"{"token_type":"pop","expires_in":1,"access_token":"t"}"#,
                "token_type is not Bearer",
            ),
            (
                r#"{"token_type":"Bearer","expires_in":1,"access_token":""}"#,
                "access_token is missing",
            ),
            (
                r#"{"token_type":"Bearer","expires_in":"soon","access_token":"t"}"#,
                "expires_in is missing",
            ),
            (
                r#"{"token_type":"Bearer","expires_in":604801,"access_token":"t"}"#,
                "expires_in is longer than 7 days",
            ),
        ] {
            match parse(body) {
                Err(Error::InvalidResponse {
                    status: 200,
                    reason: got,
                }) => {
                    assert_eq!(got, reason, "{body}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        for (body, lifetime) in [("0", 0), ("-5", -5)] {
            let body =
                format!(r#"{{"token_type":"Bearer","expires_in":{body},"access_token":"t"}}"#);
            assert!(
                matches!(parse(&body), Err(Error::TokenExpired { expires_in }) if expires_in == lifetime),
                "{body}"
            );
        }
        assert!(parse(r#"{"token_type":"Bearer","expires_in":1,"access_token":"t"}"#).is_ok());
    }

    #[test]
    fn a_huge_load_budget_does_not_overflow() {
        let policy = RetryBudget::new(Duration::MAX);
        assert_eq!(policy.attempt_timeout(), Duration::MAX / 3);
        assert!(policy.max_delay() > Duration::ZERO);
        assert_eq!(policy.with_max_retries(u32::MAX).max_attempts(), u32::MAX);
    }
}
