//! The STS emulator's wire protocol checked by hand (raw HTTP, no AWS SDK), so a misreading in
//! the emulator cannot hide behind the SDK's leniency.

use vercel_oidc_testkit::{Endpoint, Fault, Issuer, Sts};

const ROLE: &str = "arn:aws:iam::123456789012:role/vercel-app";

async fn post(sts: &Sts, form: &[(&str, &str)]) -> (u16, String) {
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .post(sts.endpoint_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn between<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(&xml[start..end])
}

#[tokio::test]
async fn success_and_error_shapes() {
    let issuer = Issuer::start().await.expect("issuer");
    let sts = Sts::builder(issuer.team_issuer(), "sts.amazonaws.com")
        .start()
        .await
        .expect("sts");
    let token = issuer.token().audience("sts.amazonaws.com").sign();
    let mut form = vec![
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", ROLE),
        ("RoleSessionName", "s1"),
        ("WebIdentityToken", token.as_str()),
        ("DurationSeconds", "900"),
        ("PolicyArns.member.2.arn", "arn:aws:iam::aws:policy/B"),
        ("PolicyArns.member.1.arn", "arn:aws:iam::aws:policy/A"),
    ];
    let (status, xml) = post(&sts, &form).await;
    assert_eq!(status, 200, "{xml}");
    assert!(xml.starts_with(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    ));
    let result = between(&xml, "AssumeRoleWithWebIdentityResult").expect("result");
    let credentials = between(result, "Credentials").expect("credentials");
    let issued = &sts.issued()[0];
    assert_eq!(
        between(credentials, "AccessKeyId"),
        Some(issued.access_key_id.as_str())
    );
    assert_eq!(
        between(credentials, "SecretAccessKey"),
        Some(issued.secret_access_key.as_str())
    );
    assert_eq!(
        between(credentials, "SessionToken"),
        Some(issued.session_token.as_str())
    );
    let expiration = between(credentials, "Expiration").expect("expiration");
    assert_eq!(expiration.len(), "2014-10-24T23:00:23Z".len());
    assert!(expiration.ends_with('Z'));
    let subject = vercel_oidc::OidcToken::parse(token.as_str())
        .expect("jwt")
        .unverified_claims()
        .sub
        .clone()
        .expect("sub");
    assert_eq!(
        between(result, "SubjectFromWebIdentityToken"),
        Some(subject.as_str())
    );
    assert_eq!(between(result, "Audience"), Some("sts.amazonaws.com"));
    assert_eq!(
        between(result, "Provider"),
        Some(issuer.team_issuer().as_str())
    );
    let user = between(result, "AssumedRoleUser").expect("user");
    assert_eq!(
        between(user, "Arn"),
        Some("arn:aws:sts::123456789012:assumed-role/vercel-app/s1")
    );
    assert!(between(user, "AssumedRoleId").is_some_and(|id| id.ends_with(":s1")));
    assert!(between(&xml, "RequestId").is_some());
    let recorded = sts.last_request().expect("recorded");
    assert_eq!(
        recorded.policy_arns(),
        ["arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/B"]
    );
    assert!(
        !format!("{recorded:?}").contains(&token),
        "Debug redacts the token"
    );

    // A second call issues different credentials.
    let (status, _) = post(&sts, &form).await;
    assert_eq!(status, 200);
    let all = sts.issued();
    assert_ne!(all[0].access_key_id, all[1].access_key_id);
    assert_ne!(all[0].secret_access_key, all[1].secret_access_key);
    assert_ne!(all[0].session_token, all[1].session_token);

    // ValidationError for a duration below 900 s, in AWS's error shape.
    form[5] = ("DurationSeconds", "899");
    let (status, xml) = post(&sts, &form).await;
    assert_eq!(status, 400);
    assert!(xml.starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"));
    let error = between(&xml, "Error").expect("error");
    assert_eq!(between(error, "Type"), Some("Sender"));
    assert_eq!(between(error, "Code"), Some("ValidationError"));
    assert!(between(error, "Message").is_some_and(|m| m.contains("durationSeconds")));
    assert!(between(&xml, "RequestId").is_some());

    // The JWKS cannot be fetched: IDPCommunicationError.
    form[5] = ("DurationSeconds", "3600");
    issuer.faults().next(Endpoint::Jwks, 1, Fault::Status(503));
    let (status, xml) = post(&sts, &form).await;
    assert_eq!(status, 400);
    assert_eq!(between(&xml, "Code"), Some("IDPCommunicationError"));

    // An expired token: ExpiredTokenException.
    let expired = issuer
        .token()
        .audience("sts.amazonaws.com")
        .expired()
        .sign();
    form[4] = ("WebIdentityToken", expired.as_str());
    let (status, xml) = post(&sts, &form).await;
    assert_eq!(status, 400);
    assert_eq!(between(&xml, "Code"), Some("ExpiredTokenException"));

    // alg none: InvalidIdentityToken.
    let none = issuer.token().audience("sts.amazonaws.com").sign_alg_none();
    form[4] = ("WebIdentityToken", none.as_str());
    let (_, xml) = post(&sts, &form).await;
    assert_eq!(between(&xml, "Code"), Some("InvalidIdentityToken"));

    // Wrong version, unknown action.
    let (status, xml) = post(&sts, &[("Action", "AssumeRoleWithWebIdentity")]).await;
    assert_eq!(status, 400);
    assert!(between(&xml, "Code").is_some());
    let (_, xml) = post(&sts, &[("Action", "Nope"), ("Version", "2011-06-15")]).await;
    assert_eq!(between(&xml, "Code"), Some("InvalidAction"));
    assert_eq!(sts.calls(), 7, "every AssumeRoleWithWebIdentity counted");
}
