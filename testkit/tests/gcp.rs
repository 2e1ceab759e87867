//! The Google STS + IAM Credentials emulator driven over loopback HTTP with reqwest.

use std::time::Duration;

use serde_json::{Value, json};
use vercel_oidc_testkit::gcp::{Gcp, ServiceAccount, WorkloadIdentityProvider};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer};

const SA: &str = "app@demo.iam.gserviceaccount.com";
const CLOUD: &str = "https://www.googleapis.com/auth/cloud-platform";
const IAM: &str = "https://www.googleapis.com/auth/iam";

async fn setup() -> (Issuer, WorkloadIdentityProvider, Gcp) {
    let issuer = Issuer::builder()
        .team_slug("acme")
        .start()
        .await
        .expect("issuer");
    let provider = WorkloadIdentityProvider::for_issuer(&issuer);
    let gcp = Gcp::builder()
        .provider(provider.clone())
        .service_account(ServiceAccount::new(SA))
        .service_account(ServiceAccount::new("delegate@demo.iam.gserviceaccount.com"))
        .start()
        .await
        .expect("gcp");
    (issuer, provider, gcp)
}

fn exchange_form<'a>(audience: &'a str, scope: &'a str, token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("audience", audience),
        ("scope", scope),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("subject_token", token),
    ]
}

async fn post_form(gcp: &Gcp, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(gcp.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).expect("form"))
        .send()
        .await
        .expect("the emulator answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn federated(
    gcp: &Gcp,
    provider: &WorkloadIdentityProvider,
    scope: &str,
    token: &str,
) -> String {
    let (status, body) =
        post_form(gcp, &exchange_form(&provider.resource_name(), scope, token)).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("a token").to_owned()
}

async fn iam(gcp: &Gcp, method: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!(
            "{}/v1/projects/-/serviceAccounts/{SA}:{method}",
            gcp.iam_credentials_url()
        ))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("the emulator answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn exchanges_a_vercel_token_like_google_sts() {
    let (issuer, provider, gcp) = setup().await;
    let token = issuer.token().sign();
    let (status, body) = post_form(
        &gcp,
        &exchange_form(&provider.resource_name(), CLOUD, &token),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    let expires_in = body["expires_in"].as_u64().expect("expires_in");
    assert!((3590..=3600).contains(&expires_in), "{expires_in}");
    let access = body["access_token"].as_str().expect("token");
    let info = gcp.token_info(access).expect("issued here");
    assert_eq!(info.service_account, None);
    assert_eq!(info.scopes, [CLOUD]);
    assert_eq!(
        info.subject,
        issuer.token().payload()["sub"].as_str().expect("sub")
    );
    assert!(gcp.token_info("ya29.not-issued").is_none());
    assert_eq!(gcp.requests(Endpoint::GcpSts), 1);
    assert_eq!(gcp.requests(Endpoint::GcpIamCredentials), 0);
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        1,
        "keys fetched per exchange"
    );
    let recorded = gcp.sts_requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].field("subject_token"), Some(token.as_str()));
    assert_eq!(recorded[0].authorization, None);
    assert_eq!(gcp.issued().len(), 1);
    gcp.reset();
    assert_eq!(gcp.requests(Endpoint::GcpSts), 0);
    assert!(gcp.sts_requests().is_empty());
    assert!(gcp.token_info(access).is_some(), "issued tokens stay valid");
}

#[tokio::test]
async fn rejects_requests_and_tokens_as_google_does() {
    let (issuer, provider, gcp) = setup().await;
    let resource = provider.resource_name();
    let good = issuer.token().sign();
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let mut cases: Vec<Case<'_>> = Vec::new();
    let mut form = exchange_form(&resource, CLOUD, &good);
    form[0].1 = "client_credentials";
    cases.push((form, 400, "unsupported_grant_type"));
    let mut form = exchange_form(&resource, CLOUD, &good);
    form[3].1 = "urn:ietf:params:oauth:token-type:id_token";
    cases.push((form, 400, "invalid_request"));
    let mut form = exchange_form(&resource, CLOUD, &good);
    form[4].1 = "urn:ietf:params:oauth:token-type:saml2";
    cases.push((form, 400, "invalid_request"));
    cases.push((exchange_form(&resource, "", &good), 400, "invalid_scope"));
    let other = resource.replace("/providers/vercel", "/providers/nope");
    cases.push((exchange_form(&other, CLOUD, &good), 400, "invalid_target"));
    for (form, status, error) in &cases {
        let (got, body) = post_form(&gcp, form).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (*status, Some(*error)),
            "{body}"
        );
        assert!(body["error_description"].is_string(), "{body}");
    }

    let tokens = [
        (
            "not-a-jwt".to_owned(),
            400,
            "invalid_grant",
            "Unable to parse the ID Token.",
        ),
        (
            issuer
                .token()
                .issuer("https://oidc.vercel.com/other")
                .sign(),
            400,
            "invalid_grant",
            "The issuer in ID Token https://oidc.vercel.com/other does not match",
        ),
        (
            issuer.token().audience("sts.amazonaws.com").sign(),
            400,
            "invalid_grant",
            "The audience in ID Token [sts.amazonaws.com] does not match the expected audience",
        ),
        (
            issuer.token().expired().sign(),
            400,
            "invalid_grant",
            "The ID Token has expired.",
        ),
        (
            issuer.token().sign_with_unknown_key(),
            400,
            "invalid_grant",
            "Invalid JWT Signature.",
        ),
        (
            issuer.token().sign_alg_none(),
            400,
            "invalid_grant",
            "Invalid JWT Signature.",
        ),
    ];
    for (token, status, error, description) in tokens {
        let (got, body) = post_form(&gcp, &exchange_form(&resource, CLOUD, &token)).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["error"], error, "{body}");
        let text = body["error_description"].as_str().unwrap_or_default();
        assert!(text.starts_with(description), "{text}");
    }

    issuer.faults().next(Endpoint::Jwks, 1, Fault::Status(500));
    let (got, body) = post_form(&gcp, &exchange_form(&resource, CLOUD, &good)).await;
    assert_eq!(
        (got, body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    assert!(
        gcp.issued().is_empty(),
        "nothing issued for a rejected exchange"
    );
}

#[tokio::test]
async fn default_audiences_and_attribute_conditions() {
    let issuer = Issuer::builder()
        .team_slug("acme")
        .project("web")
        .start()
        .await
        .expect("issuer");
    let provider = WorkloadIdentityProvider::new("42", "pool", "prov", issuer.team_issuer())
        .condition("project", "web")
        .condition("environment", "production");
    let gcp = Gcp::builder()
        .provider(provider.clone())
        .start()
        .await
        .expect("gcp");
    let resource = provider.resource_name();
    // No allowed audiences: the provider's resource name, with or without `https:`.
    for audience in [format!("https:{resource}"), resource.clone()] {
        let token = issuer.token().audience(audience.as_str()).sign();
        let (status, body) = post_form(&gcp, &exchange_form(&resource, CLOUD, &token)).await;
        assert_eq!(status, 200, "{audience}: {body}");
    }
    let (status, body) = post_form(
        &gcp,
        &exchange_form(&resource, CLOUD, &issuer.token().sign()),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );

    let preview = issuer
        .token()
        .audience(format!("https:{resource}"))
        .claim("environment", "preview")
        .sign();
    let (status, body) = post_form(&gcp, &exchange_form(&resource, CLOUD, &preview)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(
        body["error_description"],
        "The given credential is rejected by the attribute condition."
    );
}

#[tokio::test]
async fn the_federated_token_never_outlives_the_subject_token() {
    let (issuer, provider, gcp) = setup().await;
    let token = issuer.token().lifetime(Duration::from_secs(600)).sign();
    let (_, body) = post_form(
        &gcp,
        &exchange_form(&provider.resource_name(), CLOUD, &token),
    )
    .await;
    let expires_in = body["expires_in"].as_u64().expect("expires_in");
    assert!((590..=600).contains(&expires_in), "{expires_in}");
}

#[tokio::test]
async fn generate_access_token_checks_the_caller_and_the_request() {
    let (issuer, provider, gcp) = setup().await;
    let token = issuer.token().sign();
    let with_iam = federated(&gcp, &provider, IAM, &token).await;
    let body = json!({"scope": [CLOUD], "lifetime": "1800s"});
    let (status, answer) = iam(&gcp, "generateAccessToken", Some(&with_iam), body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let access = answer["accessToken"].as_str().expect("accessToken");
    let expire_time = answer["expireTime"].as_str().expect("expireTime");
    assert_eq!(
        expire_time.len(),
        "2026-01-01T00:00:00Z".len(),
        "{expire_time}"
    );
    assert!(expire_time.ends_with('Z'));
    let info = gcp.token_info(access).expect("issued");
    assert_eq!(info.service_account.as_deref(), Some(SA));
    assert_eq!(info.scopes, [CLOUD]);
    let left = info.expires_at.duration_since(gcp.now()).expect("future");
    assert!(
        left <= Duration::from_secs(1800) && left > Duration::from_secs(1790),
        "{left:?}"
    );
    let recorded = gcp.iam_requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].json, body);
    assert_eq!(
        recorded[0].authorization,
        Some(format!("Bearer {with_iam}"))
    );
    assert_eq!(gcp.requests(Endpoint::GcpIamCredentials), 1);

    let (status, answer) = iam(
        &gcp,
        "generateAccessToken",
        Some(&with_iam),
        json!({"scope": [CLOUD]}),
    )
    .await;
    assert_eq!(status, 200, "lifetime defaults to 1 h: {answer}");

    let cloud_only = federated(
        &gcp,
        &provider,
        "https://www.googleapis.com/auth/devstorage.read_only",
        &token,
    )
    .await;
    let cases = [
        (None, body.clone(), 401, "UNAUTHENTICATED"),
        (Some("ya29.forged"), body.clone(), 401, "UNAUTHENTICATED"),
        (
            Some(cloud_only.as_str()),
            body.clone(),
            403,
            "PERMISSION_DENIED",
        ),
        (Some(access), body.clone(), 403, "PERMISSION_DENIED"),
        (
            Some(with_iam.as_str()),
            json!({"scope": []}),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            Some(with_iam.as_str()),
            json!({"scope": [CLOUD], "lifetime": "7200s"}),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            Some(with_iam.as_str()),
            json!({"scope": [CLOUD], "lifetime": "soon"}),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            Some(with_iam.as_str()),
            json!({"scope": [CLOUD], "delegates": ["projects/-/serviceAccounts/nobody@x"]}),
            400,
            "INVALID_ARGUMENT",
        ),
    ];
    for (bearer, body, status, code) in cases {
        let (got, answer) = iam(&gcp, "generateAccessToken", bearer, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["error"]["status"], code, "{answer}");
        assert_eq!(answer["error"]["code"], status);
        assert!(answer["error"]["message"].is_string());
    }
    let delegated = json!({"scope": [CLOUD], "delegates": ["projects/-/serviceAccounts/delegate@demo.iam.gserviceaccount.com"]});
    let (status, answer) = iam(&gcp, "generateAccessToken", Some(&with_iam), delegated).await;
    assert_eq!(status, 200, "{answer}");

    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1/projects/-/serviceAccounts/nobody@demo.iam.gserviceaccount.com:generateAccessToken",
            gcp.iam_credentials_url()
        ))
        .bearer_auth(&with_iam)
        .json(&body)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 404);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn only_granted_subjects_may_impersonate() {
    let issuer = Issuer::builder()
        .team_slug("acme")
        .start()
        .await
        .expect("issuer");
    let provider = WorkloadIdentityProvider::for_issuer(&issuer);
    let gcp = Gcp::builder()
        .provider(provider.clone())
        .service_account(
            ServiceAccount::new(SA)
                .allow_subject("owner:acme:project:other:environment:production"),
        )
        .start()
        .await
        .expect("gcp");
    let federated = federated(&gcp, &provider, IAM, &issuer.token().sign()).await;
    let (status, answer) = iam(
        &gcp,
        "generateAccessToken",
        Some(&federated),
        json!({"scope": [CLOUD]}),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
    );
    assert!(
        provider
            .principal("s")
            .ends_with("/workloadIdentityPools/vercel/subject/s")
    );
}

#[tokio::test]
async fn generate_id_token_answers_a_jwt_for_the_audience() {
    let (issuer, provider, gcp) = setup().await;
    let federated = federated(&gcp, &provider, IAM, &issuer.token().sign()).await;
    for include_email in [false, true] {
        let body = json!({"audience": "https://svc-abc.a.run.app", "includeEmail": include_email});
        let (status, answer) = iam(&gcp, "generateIdToken", Some(&federated), body).await;
        assert_eq!(status, 200, "{answer}");
        let token = answer["token"].as_str().expect("token");
        let payload = token.split('.').nth(1).expect("a JWT");
        use base64::Engine as _;
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .expect("b64"),
        )
        .expect("json");
        assert_eq!(claims["aud"], "https://svc-abc.a.run.app");
        assert_eq!(claims["iss"], "https://accounts.google.com");
        assert!(claims["exp"].as_i64().is_some());
        assert_eq!(claims.get("email").is_some(), include_email, "{claims}");
    }
    let (status, answer) = iam(&gcp, "generateIdToken", Some(&federated), json!({})).await;
    assert_eq!(
        (status, answer["error"]["status"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
}

#[tokio::test]
async fn shared_faults_apply_and_are_counted() {
    let (issuer, provider, gcp) = setup().await;
    let token = issuer.token().sign();
    let resource = provider.resource_name();
    let form = exchange_form(&resource, CLOUD, &token);
    gcp.faults().next(Endpoint::GcpSts, 2, Fault::Status(503));
    assert_eq!(post_form(&gcp, &form).await.0, 503);
    assert_eq!(post_form(&gcp, &form).await.0, 503);
    assert_eq!(post_form(&gcp, &form).await.0, 200);
    assert_eq!(gcp.requests(Endpoint::GcpSts), 3);
    gcp.faults().next(Endpoint::GcpSts, 1, Fault::Garbage);
    let response = reqwest::Client::new()
        .post(gcp.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&form).expect("form"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    assert!(
        response.json::<Value>().await.is_err(),
        "garbage is not JSON"
    );
    let federated = federated(&gcp, &provider, IAM, &token).await;
    gcp.faults()
        .always(Endpoint::GcpIamCredentials, Fault::Drop);
    let dropped = reqwest::Client::new()
        .post(format!(
            "{}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken",
            gcp.iam_credentials_url()
        ))
        .bearer_auth(&federated)
        .body(json!({"scope": [CLOUD]}).to_string())
        .send()
        .await;
    assert!(dropped.is_err(), "the connection is dropped");
    gcp.faults().clear();
    assert_eq!(
        iam(
            &gcp,
            "generateAccessToken",
            Some(&federated),
            json!({"scope": [CLOUD]})
        )
        .await
        .0,
        200
    );
    assert_eq!(gcp.requests(Endpoint::GcpIamCredentials), 2);
}
