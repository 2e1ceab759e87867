//! Issue 19 regressions through the public credential, against the testkit's Entra emulator
//! over HTTPS: an out-of-range `expires_in` is a typed error, never a panic, and never poisons
//! the scope's cache.
//!
//! The emulator's token lifetime is fixed when it starts, so a transport in front of it rewrites
//! `expires_in` in its answers while a test asks for it; everything else (the assertion check,
//! the token) is the emulator's.

// Tests and benches may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use azure_core::credentials::TokenCredential;
use azure_core::http::{AsyncRawResponse, ClientOptions, HttpClient, Request, Transport};
use serde_json::Value;
use vercel_oidc::time::{ManualClock, SharedClock};
use vercel_oidc::{Env, OidcToken, token_source_fn};
use vercel_oidc_azure::{AzureCredential, Error};
use vercel_oidc_testkit::Issuer;
use vercel_oidc_testkit::entra::{Entra, FederatedCredential};

const VAULT: &str = "https://vault.azure.net/.default";

/// Forwards to the emulator; while `expires_in` is set, answers carry it instead.
#[derive(Debug)]
struct RewriteExpiresIn {
    inner: Arc<dyn HttpClient>,
    expires_in: Mutex<Option<Value>>,
}

#[async_trait::async_trait]
impl HttpClient for RewriteExpiresIn {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let response = self.inner.execute_request(request).await?;
        let Some(expires_in) = self.expires_in.lock().expect("lock").clone() else {
            return Ok(response);
        };
        let (status, mut headers, body) = response.deconstruct();
        let bytes = body.collect().await?;
        let mut json: Value = serde_json::from_slice(&bytes).expect("the emulator answers JSON");
        json["expires_in"] = expires_in;
        headers.remove(azure_core::http::headers::CONTENT_LENGTH);
        Ok(AsyncRawResponse::from_bytes(
            status,
            headers,
            serde_json::to_vec(&json).expect("serialises"),
        ))
    }
}

/// The error's whole source chain as one string.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        out.push_str(" / ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Issue 19, item 1: `expires_in` of 2.5e11 s or `i64::MAX` panicked (unchecked `Instant` and
/// `OffsetDateTime` arithmetic), and the panic poisoned the scope's shared load for good.
#[tokio::test]
async fn an_out_of_range_expires_in_is_a_typed_error_and_the_next_call_works() {
    let issuer = Arc::new(Issuer::start().await.expect("issuer starts"));
    let entra = Entra::builder()
        .federated_credential(FederatedCredential::for_issuer(&issuer))
        .start()
        .await
        .expect("entra starts");
    let rewrite = Arc::new(RewriteExpiresIn {
        inner: Arc::new(entra.reqwest_client()),
        expires_in: Mutex::new(None),
    });
    let mint = Arc::clone(&issuer);
    let source = token_source_fn(move || {
        let raw = mint.token().lifetime(Duration::from_secs(3600)).sign();
        async move { OidcToken::parse(raw) }
    });
    let credential = AzureCredential::builder()
        .tenant_id(entra.tenant_id())
        .client_id(entra.client_id())
        .authority_host(entra.authority())
        .client_options(ClientOptions {
            transport: Some(Transport::new(rewrite.clone())),
            ..Default::default()
        })
        .token_source(source)
        .env(Env::from_pairs::<&str, &str>([]))
        .time_source(SharedClock::new(ManualClock::new(SystemTime::now())))
        .load_budget(Duration::from_secs(2))
        .build()
        .expect("credential builds");

    let eight_days = 8 * 24 * 3600;
    for huge in [
        Value::from(300_000_000_000i64),
        Value::from(i64::MAX),
        Value::from(i64::MAX.to_string()),
        Value::from(eight_days),
    ] {
        *rewrite.expires_in.lock().expect("lock") = Some(huge.clone());
        let err = credential
            .get_token(&[VAULT], None)
            .await
            .expect_err("out of range");
        let ours = err.downcast_ref::<Error>().expect("our error");
        let shown = chain(ours);
        assert!(
            shown.contains("expires_in is longer than 7 days"),
            "{huge}: {shown}"
        );
        assert!(credential.cached_token(&[VAULT]).is_none());

        // The emulator answers normally again: the same scope loads, not poisoned.
        *rewrite.expires_in.lock().expect("lock") = None;
        let token = credential
            .get_token(&[VAULT], None)
            .await
            .expect("the next call works");
        assert!(token.expires_on > azure_core::time::OffsetDateTime::now_utc());
        credential.invalidate(&[VAULT]);
    }
}

#[test]
fn load_panicked_converts_into_a_credential_error() {
    let err = Error::from(vercel_oidc::cache::LoadPanicked::default());
    assert!(matches!(err, Error::LoadPanicked));
    assert!(!err.is_transient());
    let azure: azure_core::Error = err.into();
    assert_eq!(azure.kind(), &azure_core::error::ErrorKind::Credential);
}
