//! The STS emulator driven over real loopback HTTP(S) with reqwest: the Query protocol in, AWS's
//! XML out. (The AWS SDK drives it in `vercel-oidc-aws`'s tests.)

use std::time::{Duration, SystemTime};

use vercel_oidc_testkit::sts::{Sts, StsFault};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer};

const AUDIENCE: &str = "sts.amazonaws.com";
const ROLE: &str = "arn:aws:iam::123456789012:role/vercel-app";

/// The text between `<tag>` and `</tag>`.
fn between<'x>(xml: &'x str, tag: &str) -> Option<&'x str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..end])
}

struct Answer {
    status: u16,
    request_id: Option<String>,
    xml: String,
}

impl Answer {
    fn code(&self) -> Option<&str> {
        between(&self.xml, "Code")
    }
}

async fn post_with(client: &reqwest::Client, sts: &Sts, fields: &[(&str, &str)]) -> Answer {
    let response = client
        .post(sts.endpoint_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).expect("form"))
        .send()
        .await
        .expect("the emulator answers");
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-amzn-requestid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let xml = response.text().await.expect("body");
    Answer {
        status,
        request_id,
        xml,
    }
}

async fn assume(sts: &Sts, token: &str) -> Answer {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    post_with(&client, sts, &assume_form(token)).await
}

fn assume_form(token: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", ROLE),
        ("RoleSessionName", "s1"),
        ("WebIdentityToken", token),
    ]
}

async fn setup() -> (Issuer, Sts) {
    let issuer = Issuer::builder()
        .team_slug("acme")
        .start()
        .await
        .expect("issuer");
    let sts = Sts::builder(issuer.team_issuer(), AUDIENCE)
        .start()
        .await
        .expect("sts");
    (issuer, sts)
}

#[tokio::test]
async fn assumes_the_role_with_a_verified_token() {
    let (issuer, sts) = setup().await;
    let token = issuer.token().audience(AUDIENCE).sign();
    let answer = assume(&sts, &token).await;
    assert_eq!(answer.status, 200, "{}", answer.xml);
    assert!(answer.xml.starts_with(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    ));
    let issued = sts.issued();
    assert_eq!(issued.len(), 1);
    let credentials = &issued[0];
    assert_eq!(
        between(&answer.xml, "AccessKeyId"),
        Some(credentials.access_key_id.as_str())
    );
    assert!(credentials.access_key_id.starts_with("ASIA"));
    assert_eq!(
        between(&answer.xml, "SessionToken"),
        Some(credentials.session_token.as_str())
    );
    assert_eq!(
        credentials.assumed_role_arn,
        "arn:aws:sts::123456789012:assumed-role/vercel-app/s1"
    );
    // The default hour, written as AWS writes dates.
    let lifetime = credentials
        .expiration
        .duration_since(sts.now())
        .expect("in the future");
    assert!(lifetime <= Duration::from_secs(3_600) && lifetime > Duration::from_secs(3_500));
    let expiration = between(&answer.xml, "Expiration").expect("expiration");
    assert_eq!(expiration.len(), "2026-01-01T00:00:00Z".len());
    assert!(expiration.ends_with('Z') && expiration.as_bytes()[10] == b'T');
    let sub = issuer.token().payload()["sub"].as_str().map(str::to_owned);
    assert_eq!(
        between(&answer.xml, "SubjectFromWebIdentityToken").map(str::to_owned),
        sub
    );
    assert_eq!(between(&answer.xml, "Audience"), Some(AUDIENCE));
    let request_id = answer.request_id.expect("x-amzn-requestid");
    assert_eq!(between(&answer.xml, "RequestId"), Some(request_id.as_str()));
    assert_eq!(request_id.len(), 36);
    assert_eq!(sts.calls(), 1);
    assert_eq!(
        issuer.requests(Endpoint::Jwks),
        1,
        "the JWKS is fetched per call"
    );
    let recorded = sts.last_request().expect("recorded");
    assert_eq!(recorded.field("RoleArn"), Some(ROLE));
    assert_eq!(recorded.web_identity_token(), Some(token.as_str()));
}

#[tokio::test]
async fn rejects_tokens_as_sts_does() {
    let (issuer, sts) = setup().await;
    let good = || issuer.token().audience(AUDIENCE);
    let cases = [
        (good().sign_alg_none(), 400, "InvalidIdentityToken"),
        (good().sign_hs256_with(b"key"), 400, "InvalidIdentityToken"),
        (good().sign_with_unknown_key(), 400, "InvalidIdentityToken"),
        (
            good().kid(issuer.current_kid()).sign_with_unknown_key(),
            400,
            "InvalidIdentityToken",
        ),
        (
            good().remove_header("kid").sign(),
            400,
            "InvalidIdentityToken",
        ),
        (issuer.token().sign(), 400, "InvalidIdentityToken"),
        (
            good().issuer("https://oidc.vercel.com/other").sign(),
            400,
            "InvalidIdentityToken",
        ),
        (good().expired().sign(), 400, "ExpiredTokenException"),
        (good().without_exp().sign(), 400, "InvalidIdentityToken"),
        (
            good()
                .not_before(SystemTime::now() + Duration::from_secs(600))
                .sign(),
            400,
            "InvalidIdentityToken",
        ),
        ("not.a.jwt".to_owned(), 400, "InvalidIdentityToken"),
    ];
    for (token, status, code) in cases {
        let answer = assume(&sts, &token).await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, Some(code)),
            "{}",
            answer.xml
        );
        let error = between(&answer.xml, "Error").expect("ErrorResponse");
        assert_eq!(between(error, "Type"), Some("Sender"));
    }
    assert!(sts.issued().is_empty());

    // The key set cannot be fetched.
    issuer.faults().next(Endpoint::Jwks, 1, Fault::Status(503));
    let answer = assume(&sts, &good().sign()).await;
    assert_eq!(answer.code(), Some("IDPCommunicationError"));

    // A role that trusts one subject only.
    let strict = Sts::builder(issuer.team_issuer(), AUDIENCE)
        .subject("owner:acme:project:other:environment:production")
        .start()
        .await
        .expect("sts");
    assert_eq!(
        assume(&strict, &good().sign()).await.code(),
        Some("AccessDenied")
    );
}

#[tokio::test]
async fn validates_parameters_and_actions() {
    let (issuer, sts) = setup().await;
    let token = issuer.token().audience(AUDIENCE).sign();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut form = assume_form(&token);
    form.push(("DurationSeconds", "899"));
    let answer = post_with(&client, &sts, &form).await;
    assert_eq!(
        (answer.status, answer.code()),
        (400, Some("ValidationError"))
    );
    form.pop();
    form.push(("DurationSeconds", "3601"));
    let short = Sts::builder(issuer.team_issuer(), AUDIENCE)
        .max_session_duration(Duration::from_secs(3_600))
        .start()
        .await
        .expect("sts");
    assert_eq!(
        post_with(&client, &short, &form).await.code(),
        Some("ValidationError")
    );
    assert_eq!(post_with(&client, &sts, &form).await.status, 200);

    let answer = post_with(&client, &sts, &[("Action", "Nope")]).await;
    assert_eq!(answer.code(), Some("InvalidAction"));
    let answer = post_with(&client, &sts, &[("Version", "2011-06-15")]).await;
    assert_eq!(answer.code(), Some("MissingAction"));
    assert_eq!(sts.calls(), 2, "only AssumeRoleWithWebIdentity is counted");
}

#[tokio::test]
async fn injects_sts_faults_after_the_shared_ones() {
    let (issuer, sts) = setup().await;
    let token = issuer.token().audience(AUDIENCE).sign();
    sts.faults().next(Endpoint::Sts, 1, Fault::Status(500));
    sts.inject(1, StsFault::Throttling);
    sts.inject(1, StsFault::IdpRejectedClaim);
    assert_eq!(assume(&sts, &token).await.status, 500);
    let answer = assume(&sts, &token).await;
    assert_eq!((answer.status, answer.code()), (400, Some("Throttling")));
    let answer = assume(&sts, &token).await;
    assert_eq!(
        (answer.status, answer.code()),
        (403, Some("IDPRejectedClaim"))
    );

    sts.inject(1, StsFault::ExpiredCredentials);
    assert_eq!(assume(&sts, &token).await.status, 200);
    let expired = sts.issued().pop().expect("issued");
    assert!(expired.expiration < sts.now());

    sts.inject_always(StsFault::ShortLivedCredentials(Duration::from_secs(5)));
    assert_eq!(assume(&sts, &token).await.status, 200);
    let short = sts.issued().pop().expect("issued");
    let left = short.expiration.duration_since(sts.now()).expect("future");
    assert!(left <= Duration::from_secs(5));
    sts.clear_injected();
    assert_eq!(assume(&sts, &token).await.status, 200);
    let normal = sts.issued().pop().expect("issued");
    assert!(normal.expiration.duration_since(sts.now()).expect("future") > Duration::from_secs(5));

    sts.reset();
    assert_eq!((sts.calls(), sts.requests().len()), (0, 0));
    assert_eq!(sts.issued().len(), 3, "issued credentials stay");
}

#[tokio::test]
async fn caller_identity_needs_credentials_it_issued() {
    let (_issuer, sts) = setup().await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let form = [("Action", "GetCallerIdentity"), ("Version", "2011-06-15")];
    let answer = post_with(&client, &sts, &form).await;
    assert_eq!(
        (answer.status, answer.code()),
        (403, Some("InvalidClientTokenId"))
    );
    let response = client
        .post(sts.endpoint_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=ASIANOTISSUED/20260101/us-east-1/sts/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=00",
        )
        .body("Action=GetCallerIdentity&Version=2011-06-15")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 403);
    let xml = response.text().await.expect("body");
    assert_eq!(between(&xml, "Code"), Some("InvalidClientTokenId"));
    assert_eq!(sts.caller_identity_calls(), 2);
    assert_eq!(sts.calls(), 0);
}

#[tokio::test]
async fn serves_https_with_its_own_ca() {
    let issuer = Issuer::start().await.expect("issuer");
    let sts = Sts::builder(issuer.team_issuer(), AUDIENCE)
        .https()
        .start()
        .await
        .expect("sts");
    assert!(sts.endpoint_url().starts_with("https://127.0.0.1:"));
    let pem = sts.ca_pem().expect("a CA in https mode");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let ca = reqwest::Certificate::from_pem(pem.as_bytes()).expect("pem");
    let trusting = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([ca])
        .build()
        .expect("client");
    let token = issuer.token().audience(AUDIENCE).sign();
    assert_eq!(
        post_with(&trusting, &sts, &assume_form(&token))
            .await
            .status,
        200
    );

    let untrusting = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let refused = untrusting.post(sts.endpoint_url()).send().await;
    assert!(refused.is_err(), "the CA is the emulator's own");

    let plain = Sts::builder(issuer.team_issuer(), AUDIENCE)
        .start()
        .await
        .expect("sts");
    assert!(plain.ca_pem().is_none());
    assert!(plain.endpoint_url().starts_with("http://127.0.0.1:"));
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_throttles_beyond_its_rate_per_second() {
    let issuer = Issuer::builder()
        .team_slug("acme")
        .start()
        .await
        .expect("issuer");
    let sts = Sts::builder(issuer.team_issuer(), AUDIENCE)
        .rate_limit(3)
        .start()
        .await
        .expect("sts");
    let token = issuer.token().audience(AUDIENCE).sign();
    for _ in 0..3 {
        assert_eq!(assume(&sts, &token).await.status, 200);
    }
    for _ in 0..2 {
        let answer = assume(&sts, &token).await;
        assert_eq!((answer.status, answer.code()), (400, Some("Throttling")));
    }
    assert_eq!(
        (sts.calls(), sts.throttled(), sts.issued().len()),
        (5, 2, 3)
    );
    // The next one-second window has room again.
    tokio::time::advance(Duration::from_millis(1_001)).await;
    assert_eq!(assume(&sts, &token).await.status, 200);
    assert_eq!(sts.throttled(), 2);
}
