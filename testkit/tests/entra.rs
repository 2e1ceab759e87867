//! The Entra emulator driven over real loopback HTTPS with reqwest.

use serde_json::Value;
use std::time::Duration;
use vercel_oidc_testkit::entra::{Entra, EntraFault, FederatedCredential};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer};

const SCOPE: &str = "https://vault.azure.net/.default";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct Answer {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

async fn post_form(entra: &Entra, fields: &[(&str, &str)]) -> Answer {
    let response = entra
        .reqwest_client()
        .post(entra.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).expect("form"))
        .send()
        .await
        .expect("the emulator answers over HTTPS");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Answer {
        status,
        body,
        headers,
    }
}

async fn post(entra: &Entra, assertion: &str) -> Answer {
    post_form(
        entra,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", entra.client_id()),
            ("scope", SCOPE),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ],
    )
    .await
}

async fn setup() -> (Issuer, Entra) {
    let issuer = Issuer::start().await.expect("issuer");
    let entra = Entra::builder()
        .federated_credential(FederatedCredential::for_issuer(&issuer))
        .start()
        .await
        .expect("entra");
    (issuer, entra)
}

/// Checks the AADSTS error shape and returns the code.
fn aadsts(answer: &Answer) -> u64 {
    let body = &answer.body;
    for field in [
        "error",
        "error_description",
        "timestamp",
        "trace_id",
        "correlation_id",
        "error_uri",
    ] {
        assert!(body[field].is_string(), "{field} in {body}");
    }
    let code = body["error_codes"][0].as_u64().expect("error_codes");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    assert!(
        description.contains("\r\nTrace ID: "),
        "Microsoft's \\r\\n lines"
    );
    code
}

#[tokio::test]
async fn issues_tokens_for_a_matching_federated_credential() {
    let (issuer, entra) = setup().await;
    assert!(entra.authority().starts_with("https://127.0.0.1:"));
    let answer = post(&entra, &issuer.token().sign()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(answer.body["expires_in"], 3599);
    assert_eq!(answer.body["ext_expires_in"], 3599);
    assert!(
        answer.body["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    assert_eq!(entra.requests(), 1);
    assert_eq!(entra.requests_for_scope(SCOPE), 1);
    assert_eq!(
        entra.requests_for_scope("https://storage.azure.com/.default"),
        0
    );
    assert!(
        issuer.requests(Endpoint::Jwks) >= 1,
        "keys fetched from the issuer"
    );
    entra.reset_requests();
    assert_eq!(entra.requests(), 0);
}

#[tokio::test]
async fn rejects_assertions_like_entra() {
    let (issuer, entra) = setup().await;
    let cases = [
        (issuer.token().expired().sign(), 700024, 400),
        (
            issuer
                .token()
                .issuer("https://oidc.vercel.com/other")
                .sign(),
            700211,
            400,
        ),
        (
            issuer
                .token()
                .subject("owner:acme:project:x:environment:preview")
                .sign(),
            700213,
            400,
        ),
        (
            issuer.token().audience("api://AzureADTokenExchange").sign(),
            70021,
            400,
        ),
        (issuer.token().sign_with_unknown_key(), 700027, 401),
        (issuer.token().sign_alg_none(), 700027, 401),
        ("not-a-jwt".to_owned(), 50027, 400),
    ];
    for (assertion, code, status) in cases {
        let answer = post(&entra, &assertion).await;
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(aadsts(&answer), code, "{}", answer.body);
    }
}

#[tokio::test]
async fn checks_the_request_fields() {
    let (issuer, entra) = setup().await;
    let token = issuer.token().sign();
    let wrong_type = post_form(
        &entra,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", entra.client_id()),
            ("scope", SCOPE),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            ),
            ("client_assertion", &token),
        ],
    )
    .await;
    assert_eq!((wrong_type.status, aadsts(&wrong_type)), (401, 7000218));
    let wrong_client = post_form(
        &entra,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "someone-else"),
            ("scope", SCOPE),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &token),
        ],
    )
    .await;
    assert_eq!(aadsts(&wrong_client), 700016);
    let no_grant = post_form(&entra, &[("scope", SCOPE)]).await;
    assert_eq!(aadsts(&no_grant), 900144);
}

#[tokio::test]
async fn injects_throttling_expired_tokens_and_shared_faults() {
    let (issuer, entra) = setup().await;
    let token = issuer.token().sign();
    entra.inject(
        1,
        EntraFault::Throttle {
            retry_after: Duration::from_millis(1500),
        },
    );
    entra.inject(1, EntraFault::ExpiredToken);
    let throttled = post(&entra, &token).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.headers["retry-after"], "2");
    assert_eq!(throttled.headers["retry-after-ms"], "1500");
    assert_eq!(aadsts(&throttled), 50196);
    let expired = post(&entra, &token).await;
    assert_eq!(expired.status, 200);
    assert_eq!(expired.body["expires_in"], 0);

    entra.faults().next(Endpoint::Entra, 1, Fault::Status(503));
    assert_eq!(post(&entra, &token).await.status, 503);
    let normal = post(&entra, &token).await;
    assert_eq!(normal.body["expires_in"], 3599);
    assert_eq!(entra.requests(), 4, "faulted requests are counted");
}

#[tokio::test]
async fn an_untrusting_client_cannot_connect() {
    let (_issuer, entra) = setup().await;
    let plain = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([])
        .build()
        .expect("client");
    assert!(plain.post(entra.token_url()).send().await.is_err());
    assert!(entra.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
}
