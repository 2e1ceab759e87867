//! Fuzz entry point (`fuzz/`, target `sts_response`), also run over the committed seeds by the
//! unit tests. Not part of the public API.
//!
//! One input is one STS answer: its first byte picks the HTTP status, the rest is the body. It
//! goes through the real `aws-sdk-sts` deserialiser and this crate's whole load path (failure
//! classification, credential checks), against a canned HTTP client: no network.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use vercel_oidc::time::{MAX_SERVICE_LIFETIME, ManualClock, SharedClock};
use vercel_oidc::{FixedTokenSource, OidcToken, SharedTokenSource};

use crate::load::Loader;

/// A token that expires in 2100 (never sent anywhere).
const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJvd25lcjphY21lOnByb2plY3Q6d2ViOmVudmlyb25tZW50OnByb2R1Y3Rpb24iLCJhdWQiOiJzdHMuYW1hem9uYXdzLmNvbSIsImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJl";
/// The fuzzing clock: 2023-11-14T22:13:20Z.
const NOW: u64 = 1_700_000_000;
const STATUSES: [u16; 8] = [200, 200, 200, 400, 403, 429, 500, 503];

#[derive(Debug, Clone)]
struct Canned {
    status: u16,
    body: Vec<u8>,
}

impl HttpConnector for Canned {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let status = self.status.try_into().unwrap_or_else(|_| {
            200u16
                .try_into()
                .unwrap_or_else(|_| unreachable!("200 is a status"))
        });
        let response =
            aws_smithy_runtime_api::http::Response::new(status, SdkBody::from(self.body.clone()));
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for Canned {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap_or_else(|e| panic!("a runtime for fuzzing: {e}"));
}

/// The STS response path on one answer (first byte: status; rest: body).
pub fn sts_response(data: &[u8]) {
    let (status, body) = match data.split_first() {
        Some((first, rest)) => (STATUSES[usize::from(*first) % STATUSES.len()], rest),
        None => (200, data),
    };
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let result = load_answer(status, body);
    match result {
        Ok((credentials, expires)) => {
            assert!(expires > now, "expired credentials accepted");
            assert!(
                expires <= now + MAX_SERVICE_LIFETIME,
                "a lifetime over 7 days accepted"
            );
            assert_eq!(credentials.expiry(), Some(expires));
            assert!(!credentials.access_key_id().is_empty());
            let shown = format!("{credentials:?}");
            assert!(
                !shown.contains(credentials.secret_access_key())
                    || credentials.secret_access_key().len() < 4
            );
        }
        Err(err) => {
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(TOKEN), "the token in an error");
            // Messages are bounded (sanitised STS fields), whatever the body's size.
            assert!(
                shown.len() < 4_000,
                "error grows with the body: {}",
                shown.len()
            );
            let _ = err.clone().into_credentials_error(Duration::from_secs(1));
        }
    }
}

/// One load (one attempt) against a canned STS answer: `status` and `body`, at the fuzzing
/// clock's time.
pub(crate) fn load_answer(
    status: u16,
    body: &[u8],
) -> Result<(aws_credential_types::Credentials, SystemTime), crate::Error> {
    let config = aws_sdk_sts::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .retry_config(RetryConfig::disabled())
        .http_client(SharedHttpClient::new(Canned {
            status,
            body: body.to_vec(),
        }))
        .build();
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let token = OidcToken::parse(TOKEN).unwrap_or_else(|e| panic!("the fuzzing token: {e}"));
    let loader = Loader {
        client: aws_sdk_sts::Client::from_conf(config),
        role_arn: "arn:aws:iam::123456789012:role/fuzz".into(),
        session_name: "fuzz".into(),
        policy_arns: Vec::new(),
        policy: None,
        duration_seconds: None,
        provider_id: None,
        source: SharedTokenSource::new(FixedTokenSource::new(token)),
        clock: SharedClock::new(ManualClock::new(now)),
        max_attempts: 1,
        throttle_attempts: 1,
        initial_backoff: Duration::ZERO,
        throttle_initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };
    RUNTIME.with(|rt| rt.block_on(loader.load()))
}

/// The time the seeds' `Expiration`s are relative to.
#[doc(hidden)]
pub fn fuzzing_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every committed seed of `fuzz/seeds/sts_response` runs through the target.
    #[test]
    fn seeds_sts_response() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/sts_response");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).expect("seed dir") {
            let path = entry.expect("entry").path();
            super::sts_response(&std::fs::read(&path).expect("seed"));
            count += 1;
        }
        assert!(count > 0, "no seeds in {}", dir.display());
    }

    /// The good seed gives credentials; the far-future one does not.
    #[test]
    fn valid_and_far_future_answers() {
        let valid = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/sts_response/valid"),
        )
        .expect("seed");
        super::sts_response(&valid);
        let _ = super::fuzzing_now();
    }
}
