//! One credential load: a fresh token, STS `AssumeRoleWithWebIdentity`, retries.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_sts::error::{ProvideErrorMetadata as _, SdkError};
use aws_sdk_sts::operation::RequestId as _;
use aws_sdk_sts::operation::assume_role_with_web_identity::{
    AssumeRoleWithWebIdentityError, AssumeRoleWithWebIdentityOutput,
};
use aws_sdk_sts::types::PolicyDescriptorType;
use vercel_oidc::time::{Clock as _, SharedClock};
use vercel_oidc::{OidcToken, SharedTokenSource, TokenSource as _};

use crate::error::{Error, StsFailure, sanitize};

/// The name credentials from this provider carry (`Credentials::provider_name`).
pub const PROVIDER_NAME: &str = "VercelOidc";

const MAX_MESSAGE_LEN: usize = 300;

/// Everything one STS load needs; shared by the cache's loader closure.
pub(crate) struct Loader {
    pub(crate) client: aws_sdk_sts::Client,
    pub(crate) role_arn: String,
    pub(crate) session_name: String,
    pub(crate) policy_arns: Vec<String>,
    pub(crate) policy: Option<String>,
    pub(crate) duration_seconds: Option<i32>,
    pub(crate) provider_id: Option<String>,
    pub(crate) source: SharedTokenSource,
    pub(crate) clock: SharedClock,
    pub(crate) max_attempts: u32,
    /// Attempts in all when STS throttles.
    pub(crate) throttle_attempts: u32,
    pub(crate) initial_backoff: Duration,
    /// The first backoff's cap after throttling.
    pub(crate) throttle_initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
}

/// Why a 200 response gave no credentials.
enum Unusable {
    /// Retryable: the response was cut short or lacks a field.
    Incomplete(&'static str),
    /// Not retryable.
    Fatal(Error),
}

/// What to do after a failed attempt.
enum Next {
    /// Retry after a backoff (5xx, timeouts, IdP trouble).
    Retry,
    /// Retry after a longer backoff, with more attempts: STS throttles.
    Throttled,
    /// Fetch a new OIDC token and retry at once (`ExpiredTokenException`), once per load.
    NewToken,
    /// Give up: STS rejected the request.
    Reject,
    /// Give up: STS rejected the request's parameters.
    InvalidParameters,
}

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];
const TRANSIENT_CODES: &[&str] = &[
    "IDPCommunicationError",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
];
const INVALID_PARAMETER_CODES: &[&str] = &[
    "ValidationError",
    "MalformedPolicyDocument",
    "PackedPolicyTooLarge",
];
/// STS's message when it could not fetch the IdP's keys: transient (AWS documents a retry).
const KEY_RETRIEVAL_MESSAGE: &str = "couldn't retrieve verification key";

fn classify(failure: &StsFailure) -> Next {
    match failure {
        StsFailure::Timeout | StsFailure::Transport { .. } | StsFailure::Incomplete { .. } => {
            Next::Retry
        }
        StsFailure::Client { .. } => Next::InvalidParameters,
        StsFailure::Status { status } => {
            if *status >= 500 || *status == 429 {
                Next::Retry
            } else {
                Next::Reject
            }
        }
        StsFailure::Service {
            code,
            message,
            status,
            ..
        } => {
            let code = code.as_str();
            let key_retrieval = code == "InvalidIdentityToken"
                && message
                    .as_deref()
                    .is_some_and(|m| m.to_ascii_lowercase().contains(KEY_RETRIEVAL_MESSAGE));
            if THROTTLING_CODES.contains(&code) {
                Next::Throttled
            } else if TRANSIENT_CODES.contains(&code) || key_retrieval {
                Next::Retry
            } else if code == "ExpiredTokenException" || code == "ExpiredToken" {
                Next::NewToken
            } else if INVALID_PARAMETER_CODES.contains(&code) {
                Next::InvalidParameters
            } else if status.is_some_and(|s| s >= 500 || s == 429) {
                Next::Retry
            } else {
                Next::Reject
            }
        }
    }
}

impl Loader {
    /// One load: fresh token, STS, retries. Returns the credentials and their expiry.
    pub(crate) async fn load(&self) -> Result<(Credentials, SystemTime), Error> {
        let mut attempt: u32 = 0;
        // The token STS called expired, and what it said: a source that hands the same token
        // back gets no second STS call.
        let mut expired: Option<(OidcToken, StsFailure)> = None;
        loop {
            attempt += 1;
            let token = match self.source.token().await {
                Ok(token) => token,
                Err(e) if e.is_not_configured() => return Err(Error::NoToken(e)),
                Err(e) if e.is_transient() && attempt < self.max_attempts => {
                    tracing::debug!(attempt, error = %e, "vercel-oidc-aws: token source failed; retrying");
                    self.backoff(attempt).await;
                    continue;
                }
                Err(e) => return Err(Error::TokenSource(e)),
            };
            if let Some((old, failure)) = &expired
                && *old == token
            {
                tracing::debug!(
                    "vercel-oidc-aws: the token source returned the same expired token"
                );
                return Err(Error::Rejected {
                    role_arn: self.role_arn.clone(),
                    hint: self.hint(failure, &token),
                    failure: failure.clone(),
                });
            }
            tracing::debug!(
                attempt,
                role_arn = %self.role_arn,
                session_name = %self.session_name,
                "vercel-oidc-aws: AssumeRoleWithWebIdentity"
            );
            let failure = match self.assume_traced(&token, attempt).await {
                Ok(output) => match self.credentials_from(output) {
                    Ok(loaded) => return Ok(loaded),
                    Err(Unusable::Incomplete(reason)) => StsFailure::Incomplete {
                        reason: reason.to_owned(),
                    },
                    Err(Unusable::Fatal(error)) => return Err(error),
                },
                Err(failure) => failure,
            };
            match classify(&failure) {
                Next::Retry if attempt < self.max_attempts => {
                    tracing::debug!(attempt, %failure, "vercel-oidc-aws: retryable STS failure");
                    self.backoff(attempt).await;
                }
                Next::Throttled if attempt < self.throttle_attempts => {
                    tracing::debug!(attempt, %failure, "vercel-oidc-aws: STS throttled; backing off");
                    let wait = vercel_oidc::retry::full_jitter(
                        attempt,
                        self.throttle_initial_backoff,
                        self.max_backoff.max(self.throttle_initial_backoff),
                    );
                    tokio::time::sleep(wait).await;
                }
                Next::Retry | Next::Throttled => {
                    return Err(Error::Unavailable {
                        attempts: attempt,
                        failure,
                    });
                }
                Next::NewToken if expired.is_none() => {
                    tracing::debug!(
                        "vercel-oidc-aws: STS says the token expired; fetching a new one"
                    );
                    expired = Some((token, failure));
                }
                Next::NewToken | Next::Reject => {
                    return Err(Error::Rejected {
                        role_arn: self.role_arn.clone(),
                        hint: self.hint(&failure, &token),
                        failure,
                    });
                }
                Next::InvalidParameters => {
                    return Err(Error::InvalidConfiguration {
                        message: format!("STS rejected the request for {}", self.role_arn),
                        source: Some(Arc::new(failure)),
                    });
                }
            }
        }
    }

    /// What the token and STS's answer say about the trust (claims only, never the token).
    fn hint(&self, failure: &StsFailure, token: &OidcToken) -> Option<Box<crate::Explanation>> {
        let StsFailure::Service { code, message, .. } = failure else {
            return None;
        };
        let identity = vercel_oidc::TokenIdentity::from_claims(token.unverified_claims()).ok()?;
        crate::explain_rejection(code, message.as_deref(), &self.role_arn, &identity).map(Box::new)
    }

    /// Full jitter: a random wait in `0..=min(max, initial * 2^(attempt-1))`.
    async fn backoff(&self, attempt: u32) {
        let wait = vercel_oidc::retry::full_jitter(attempt, self.initial_backoff, self.max_backoff);
        tokio::time::sleep(wait).await;
    }

    /// [`Self::assume`] inside a `vercel_oidc.sts` span: role, region, attempt, then status,
    /// STS request id, outcome and duration (never the token or credentials).
    async fn assume_traced(
        &self,
        token: &OidcToken,
        attempt: u32,
    ) -> Result<AssumeRoleWithWebIdentityOutput, StsFailure> {
        use tracing::Instrument as _;
        use tracing::field::Empty;
        let span = tracing::info_span!(
            "vercel_oidc.sts",
            operation = "AssumeRoleWithWebIdentity",
            role_arn = %self.role_arn,
            region = self.client.config().region().map(|r| r.as_ref()).unwrap_or("-"),
            attempt,
            status = Empty,
            request_id = Empty,
            outcome = Empty,
            duration_ms = Empty,
        );
        let started = std::time::Instant::now();
        let result = self.assume(token).instrument(span.clone()).await;
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        match &result {
            Ok(output) => {
                use aws_sdk_sts::operation::RequestId as _;
                span.record("status", 200u64);
                span.record("outcome", "ok");
                if let Some(id) = output.request_id() {
                    span.record("request_id", id);
                }
            }
            Err(failure) => {
                span.record("outcome", failure.code().unwrap_or("error"));
                if let StsFailure::Service {
                    status, request_id, ..
                } = failure
                {
                    if let Some(status) = status {
                        span.record("status", u64::from(*status));
                    }
                    if let Some(id) = request_id {
                        span.record("request_id", id.as_str());
                    }
                }
            }
        }
        result
    }

    async fn assume(
        &self,
        token: &OidcToken,
    ) -> Result<AssumeRoleWithWebIdentityOutput, StsFailure> {
        let mut request = self
            .client
            .assume_role_with_web_identity()
            .role_arn(&self.role_arn)
            .role_session_name(&self.session_name)
            .web_identity_token(token.expose_secret());
        for arn in &self.policy_arns {
            request = request.policy_arns(PolicyDescriptorType::builder().arn(arn).build());
        }
        if let Some(policy) = &self.policy {
            request = request.policy(policy);
        }
        if let Some(seconds) = self.duration_seconds {
            request = request.duration_seconds(seconds);
        }
        if let Some(id) = &self.provider_id {
            request = request.provider_id(id);
        }
        request.send().await.map_err(failure_from)
    }

    fn credentials_from(
        &self,
        output: AssumeRoleWithWebIdentityOutput,
    ) -> Result<(Credentials, SystemTime), Unusable> {
        let account_id = output
            .assumed_role_user()
            .map(|u| u.arn())
            .and_then(|arn| arn.split(':').nth(4))
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        let Some(c) = output.credentials else {
            return Err(Unusable::Incomplete("the response has no credentials"));
        };
        let expiration = SystemTime::try_from(c.expiration)
            .map_err(|_| Unusable::Incomplete("the expiration is not a valid time"))?;
        if c.access_key_id.is_empty()
            || c.secret_access_key.is_empty()
            || c.session_token.is_empty()
        {
            return Err(Unusable::Incomplete("a credential field is empty"));
        }
        let now = self.clock.now();
        if expiration <= now {
            // Not retried: STS's clock or the role is wrong, and asking again gives the same.
            return Err(Unusable::Fatal(Error::InvalidResponse {
                reason: "the credentials are already expired".to_owned(),
                expiration: Some(expiration),
            }));
        }
        if !vercel_oidc::time::within_service_lifetime(now, expiration) {
            // STS credentials live 12 h at most: a later expiration is not STS's answer.
            return Err(Unusable::Fatal(Error::InvalidResponse {
                reason: "the expiration is more than 7 days away".to_owned(),
                expiration: Some(expiration),
            }));
        }
        let mut builder = Credentials::builder()
            .access_key_id(c.access_key_id)
            .secret_access_key(c.secret_access_key)
            .session_token(c.session_token)
            .expiry(expiration)
            .provider_name(PROVIDER_NAME);
        if let Some(account) = account_id {
            builder = builder.account_id(account);
        }
        tracing::debug!(
            role_arn = %self.role_arn,
            expires_in_s = expiration.duration_since(now).map_or(0, |d| d.as_secs()),
            "vercel-oidc-aws: assumed role"
        );
        Ok((builder.build(), expiration))
    }
}

/// The failure of one request, without keeping the SDK error (its raw response may hold a
/// body, and `Debug` of the request holds the token).
fn failure_from(
    error: SdkError<AssumeRoleWithWebIdentityError, aws_smithy_runtime_api::http::Response>,
) -> StsFailure {
    match &error {
        SdkError::TimeoutError(_) => StsFailure::Timeout,
        SdkError::DispatchFailure(failure) => {
            if failure.is_timeout() {
                StsFailure::Timeout
            } else if failure.is_user() {
                StsFailure::Client {
                    detail: describe(&error),
                }
            } else {
                StsFailure::Transport {
                    detail: describe(&error),
                }
            }
        }
        SdkError::ConstructionFailure(_) => StsFailure::Client {
            detail: describe(&error),
        },
        SdkError::ResponseError(response) => match response.raw().status().as_u16() {
            // An unreadable answer (cut short, not XML).
            status @ 200..=299 => StsFailure::Incomplete {
                reason: format!("HTTP {status} with an unreadable body"),
            },
            status => StsFailure::Status { status },
        },
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let err = service.err();
            match err.code() {
                Some(code) => StsFailure::Service {
                    code: sanitize(code, 100),
                    message: err.message().map(|m| sanitize(m, MAX_MESSAGE_LEN)),
                    status: Some(status),
                    request_id: error.request_id().map(|id| sanitize(id, 100)),
                },
                // A 200 that is not an STS response (a proxy's page, cut short): unreadable.
                None if (200..300).contains(&status) => StsFailure::Incomplete {
                    reason: format!("HTTP {status} with a body that is not an STS response"),
                },
                None => StsFailure::Status { status },
            }
        }
        _ => StsFailure::Transport {
            detail: describe(&error),
        },
    }
}

/// The error's own message chain, bounded. `SdkError`'s Display and its sources name the kind
/// of failure (and the connector's I/O error), never a body or the request.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut depth = 0;
    while let Some(e) = current {
        if depth > 0 {
            out.push_str(": ");
        }
        out.push_str(&e.to_string());
        current = e.source();
        depth += 1;
        if depth >= 5 {
            break;
        }
    }
    sanitize(&out, MAX_MESSAGE_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let service = |code: &str, message: &str| StsFailure::Service {
            code: code.into(),
            message: Some(message.into()),
            status: Some(400),
            request_id: None,
        };
        assert!(matches!(
            classify(&service("Throttling", "Rate exceeded")),
            Next::Throttled
        ));
        assert!(matches!(
            classify(&service("RequestLimitExceeded", "x")),
            Next::Throttled
        ));
        assert!(matches!(
            classify(&service("IDPCommunicationError", "x")),
            Next::Retry
        ));
        assert!(matches!(
            classify(&service(
                "InvalidIdentityToken",
                "Couldn't retrieve verification key from your identity provider"
            )),
            Next::Retry
        ));
        assert!(matches!(
            classify(&service("InvalidIdentityToken", "Incorrect token audience")),
            Next::Reject
        ));
        assert!(matches!(
            classify(&service("ExpiredTokenException", "x")),
            Next::NewToken
        ));
        assert!(matches!(
            classify(&service("AccessDenied", "x")),
            Next::Reject
        ));
        assert!(matches!(
            classify(&service("ValidationError", "x")),
            Next::InvalidParameters
        ));
        assert!(matches!(
            classify(&StsFailure::Status { status: 503 }),
            Next::Retry
        ));
        assert!(matches!(
            classify(&StsFailure::Status { status: 403 }),
            Next::Reject
        ));
        assert!(matches!(classify(&StsFailure::Timeout), Next::Retry));
    }

    /// Codes this crate does not know are classified by their status: 5xx and 429 retried.
    #[test]
    fn classification_of_unknown_codes_and_statuses() {
        let with_status = |code: &str, status: u16| StsFailure::Service {
            code: code.into(),
            message: None,
            status: Some(status),
            request_id: None,
        };
        for status in [500, 503, 429] {
            assert!(
                matches!(classify(&with_status("SomethingNew", status)), Next::Retry),
                "{status}"
            );
            assert!(
                matches!(classify(&StsFailure::Status { status }), Next::Retry),
                "{status}"
            );
        }
        for status in [400, 403, 428, 499] {
            assert!(
                matches!(classify(&with_status("SomethingNew", status)), Next::Reject),
                "{status}"
            );
            assert!(
                matches!(classify(&StsFailure::Status { status }), Next::Reject),
                "{status}"
            );
        }
        assert!(matches!(
            classify(&with_status("ExpiredToken", 400)),
            Next::NewToken
        ));
        let no_status = StsFailure::Service {
            code: "SomethingNew".into(),
            message: None,
            status: None,
            request_id: None,
        };
        assert!(matches!(classify(&no_status), Next::Reject));
        assert!(matches!(
            classify(&StsFailure::Client {
                detail: String::new()
            }),
            Next::InvalidParameters
        ));
    }

    type Sdk = SdkError<AssumeRoleWithWebIdentityError, aws_smithy_runtime_api::http::Response>;

    fn raw(status: u16) -> aws_smithy_runtime_api::http::Response {
        aws_smithy_runtime_api::http::Response::new(
            status.try_into().expect("a status"),
            aws_smithy_types::body::SdkBody::empty(),
        )
    }

    fn service(code: Option<&str>, message: &str) -> AssumeRoleWithWebIdentityError {
        let mut meta = aws_smithy_types::error::ErrorMetadata::builder().message(message);
        if let Some(code) = code {
            meta = meta.code(code);
        }
        AssumeRoleWithWebIdentityError::generic(meta.build())
    }

    /// Each kind of SDK failure maps to its own `StsFailure` (which decides retry and the error
    /// kind callers see).
    #[test]
    fn failures_from_sdk_errors() {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        assert_eq!(
            failure_from(Sdk::timeout_error("slow")),
            StsFailure::Timeout
        );
        assert_eq!(
            failure_from(Sdk::dispatch_failure(ConnectorError::timeout(
                "connect timed out".into()
            ))),
            StsFailure::Timeout
        );
        match failure_from(Sdk::dispatch_failure(ConnectorError::user(
            "bad endpoint".into(),
        ))) {
            StsFailure::Client { detail } => assert!(detail.contains("bad endpoint"), "{detail}"),
            other => panic!("{other:?}"),
        }
        match failure_from(Sdk::dispatch_failure(ConnectorError::io(
            "connection refused".into(),
        ))) {
            StsFailure::Transport { detail } => {
                assert!(detail.contains("connection refused"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
        match failure_from(Sdk::construction_failure("no region")) {
            StsFailure::Client { detail } => assert!(detail.contains("no region"), "{detail}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            failure_from(Sdk::response_error("cut short", raw(200))),
            StsFailure::Incomplete {
                reason: "HTTP 200 with an unreadable body".into()
            }
        );
        assert_eq!(
            failure_from(Sdk::response_error("not xml", raw(502))),
            StsFailure::Status { status: 502 }
        );
        assert_eq!(
            failure_from(Sdk::service_error(
                service(Some("Throttling"), "Rate exceeded"),
                raw(400)
            )),
            StsFailure::Service {
                code: "Throttling".into(),
                message: Some("Rate exceeded".into()),
                status: Some(400),
                request_id: None,
            }
        );
        assert_eq!(
            failure_from(Sdk::service_error(service(None, "?"), raw(200))),
            StsFailure::Incomplete {
                reason: "HTTP 200 with a body that is not an STS response".into()
            }
        );
        assert_eq!(
            failure_from(Sdk::service_error(service(None, "?"), raw(503))),
            StsFailure::Status { status: 503 }
        );
    }

    /// An error with `depth` more errors behind it, named `e0`, `e1`, …
    #[derive(Debug)]
    struct Nested {
        name: usize,
        next: Option<Box<Nested>>,
    }

    impl Nested {
        fn chain(len: usize) -> Self {
            let mut error = Nested {
                name: len - 1,
                next: None,
            };
            for name in (0..len - 1).rev() {
                error = Nested {
                    name,
                    next: Some(Box::new(error)),
                };
            }
            error
        }
    }

    impl std::fmt::Display for Nested {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "e{}", self.name)
        }
    }

    impl std::error::Error for Nested {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.next
                .as_deref()
                .map(|e| e as &(dyn std::error::Error + 'static))
        }
    }

    /// The message chain: joined by `: `, at most five errors deep.
    #[test]
    fn describe_joins_at_most_five_errors() {
        assert_eq!(describe(&Nested::chain(1)), "e0");
        assert_eq!(describe(&Nested::chain(3)), "e0: e1: e2");
        assert_eq!(describe(&Nested::chain(7)), "e0: e1: e2: e3: e4");
    }

    /// A 200 whose credentials lack a value is incomplete (retryable), never credentials.
    #[test]
    fn empty_credential_fields_are_incomplete() {
        let seed = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../fuzz/seeds/sts_response/valid"),
        )
        .expect("seed");
        let valid = String::from_utf8(seed[1..].to_vec()).expect("utf-8");
        assert!(crate::fuzzing::load_answer(200, valid.as_bytes()).is_ok());
        for (field, value) in [
            ("AccessKeyId", "ASIAFUZZFUZZFUZZFUZZ"),
            ("SecretAccessKey", "fuzzsecretaccesskeyfuzzsecretaccesskey"),
            ("SessionToken", "FwoGZXIvYXdzEFUZZSESSIONTOKEN"),
        ] {
            let element = format!("<{field}>{value}</{field}>");
            assert!(valid.contains(&element), "{field}");
            let body = valid.replace(&element, &format!("<{field}></{field}>"));
            let err = crate::fuzzing::load_answer(200, body.as_bytes()).expect_err(field);
            assert!(
                matches!(
                    &err,
                    Error::Unavailable {
                        failure: StsFailure::Incomplete { .. },
                        ..
                    }
                ),
                "{field}: {err:?}"
            );
        }
    }
}
