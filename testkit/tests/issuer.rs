//! The issuer emulator driven over real loopback HTTP with reqwest.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer, IssuerMode};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn client() -> reqwest::Client {
    // No proxy from the environment may sit between the test and 127.0.0.1.
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a plain reqwest client builds")
}

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    i64::try_from(secs).unwrap_or(i64::MAX)
}

fn decode_part(part: &str) -> Result<Value, Box<dyn std::error::Error>> {
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part)?)?)
}

/// Splits a token into (header, payload).
fn decode(token: &str) -> Result<(Value, Value), Box<dyn std::error::Error>> {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS has three parts");
    Ok((decode_part(parts[0])?, decode_part(parts[1])?))
}

/// Verifies an RS256 token against a JWKS document, independently of the testkit's own code.
fn verify_with_jwks(token: &str, jwks: &Value) -> Result<Value, Box<dyn std::error::Error>> {
    let (header, payload) = decode(token)?;
    assert_eq!(header["alg"], "RS256");
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .ok_or("no keys")?
        .iter()
        .find(|k| k["kid"] == kid)
        .ok_or("kid not in the key set")?;
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["alg"], "RS256");
    assert_eq!(jwk["use"], "sig");
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().ok_or("no n")?)?;
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().ok_or("no e")?)?;
    assert_ne!(n[0], 0, "n has no leading zero");
    let (input, signature) = token.rsplit_once('.').ok_or("no signature")?;
    RsaPublicKeyComponents { n, e }
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature)?,
        )
        .map_err(|_| "signature does not verify")?;
    Ok(payload)
}

async fn get_json(url: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let response = client().get(url).send().await?;
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    Ok(response.json().await?)
}

async fn exchange(
    url: &str,
    body: &Value,
) -> Result<(StatusCode, Value), Box<dyn std::error::Error>> {
    let response = client().post(url).json(body).send().await?;
    let status = response.status();
    Ok((status, response.json().await?))
}

#[tokio::test]
async fn minted_token_verifies_against_served_jwks_with_vercel_claims() -> TestResult {
    let issuer = Issuer::start().await?;
    let token = issuer.token().sign();
    let jwks = get_json(&format!("{}/.well-known/jwks", issuer.team_issuer())).await?;
    let claims = verify_with_jwks(&token, &jwks)?;

    let (header, _) = decode(&token)?;
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": issuer.current_kid()})
    );
    assert_eq!(claims["iss"], issuer.team_issuer());
    assert_eq!(
        claims["sub"],
        "owner:acme:project:my-project:environment:production"
    );
    assert_eq!(claims["aud"], "https://vercel.com/acme");
    assert_eq!(claims["aud"], issuer.default_audience());
    assert_eq!(claims["owner"], "acme");
    assert_eq!(claims["owner_id"], "team_testkit00000000000000");
    assert_eq!(claims["project"], "my-project");
    assert_eq!(claims["project_id"], "prj_testkit0000000000000000");
    assert_eq!(claims["environment"], "production");
    let iat = claims["iat"].as_i64().ok_or("iat")?;
    assert!((iat - now()).abs() <= 5);
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));
    assert_eq!(claims, {
        let mut expected = issuer.token().payload();
        // `payload` is computed anew; the clock may have ticked.
        expected["iat"] = claims["iat"].clone();
        expected["nbf"] = claims["nbf"].clone();
        expected["exp"] = claims["exp"].clone();
        expected
    });
    Ok(())
}

#[tokio::test]
async fn builder_settings_and_claim_overrides() -> TestResult {
    let issuer = Issuer::builder()
        .team_slug("team-x")
        .project("web")
        .project_id("prj_abc")
        .owner_id("team_abc")
        .environment("preview")
        .token_lifetime(Duration::from_secs(7200))
        .kid_prefix("k")
        .start()
        .await?;
    assert!(issuer.current_kid().starts_with("k-"));
    assert_eq!(issuer.team_slug(), "team-x");
    assert_eq!(issuer.global_issuer(), issuer.base_url());
    assert!(issuer.base_url().starts_with("http://127.0.0.1:"));
    assert!(!issuer.base_url().ends_with('/'));

    let claims = issuer.token().payload();
    assert_eq!(
        claims["sub"],
        "owner:team-x:project:web:environment:preview"
    );
    assert_eq!(claims["project_id"], "prj_abc");
    assert_eq!(claims["owner_id"], "team_abc");
    assert_eq!(claims["environment"], "preview");
    assert_eq!(
        claims["exp"].as_i64().ok_or("exp")? - claims["iat"].as_i64().ok_or("iat")?,
        7200
    );

    let issued = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let claims = issuer
        .token()
        .issuer_mode(IssuerMode::Global)
        .audience(vec!["a", "b"])
        .subject("someone")
        .claim("user_id", "u_1")
        .remove_claim("owner")
        .issued_at(issued)
        .not_before(issued + Duration::from_secs(10))
        .lifetime(Duration::from_secs(60))
        .payload();
    assert_eq!(claims["iss"], issuer.base_url());
    assert_eq!(claims["aud"], json!(["a", "b"]));
    assert_eq!(claims["sub"], "someone");
    assert_eq!(claims["user_id"], "u_1");
    assert!(claims.get("owner").is_none());
    assert_eq!(claims["iat"], 1_000_000);
    assert_eq!(claims["nbf"], 1_000_010);
    assert_eq!(claims["exp"], 1_000_060);

    let claims = issuer
        .token()
        .issuer("https://evil.example")
        .without_exp()
        .payload();
    assert_eq!(claims["iss"], "https://evil.example");
    assert!(claims.get("exp").is_none());
    let claims = issuer
        .token()
        .expires_at(UNIX_EPOCH + Duration::from_secs(42))
        .payload();
    assert_eq!(claims["exp"], 42);

    let token = issuer
        .token()
        .kid("custom")
        .header("x5u", "https://x")
        .sign();
    let (header, _) = decode(&token)?;
    assert_eq!(header["kid"], "custom");
    assert_eq!(header["x5u"], "https://x");
    let token = issuer.token().remove_header("kid").sign();
    assert!(decode(&token)?.0.get("kid").is_none());

    // A slug that is not one path segment is refused.
    let bad = Issuer::builder().team_slug("a/b").start().await;
    assert_eq!(
        bad.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::InvalidInput)
    );
    Ok(())
}

#[tokio::test]
async fn attack_tokens_have_the_expected_shape() -> TestResult {
    let issuer = Issuer::start().await?;
    let jwks = issuer.jwks_json();

    let none = issuer.token().sign_alg_none();
    assert!(none.ends_with('.'));
    assert_eq!(decode(&none)?.0["alg"], "none");

    let hs = issuer.token().sign_hs256_with(&issuer.public_key_der());
    let (header, _) = decode(&hs)?;
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], issuer.current_kid());
    let (input, signature) = hs.rsplit_once('.').ok_or("no signature")?;
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &issuer.public_key_der());
    aws_lc_rs::hmac::verify(&key, input.as_bytes(), &URL_SAFE_NO_PAD.decode(signature)?)
        .map_err(|_| "HMAC does not verify")?;

    // The public key DER is the PKCS#1 form of the served key.
    let public = aws_lc_rs::rsa::PublicKey::from_der(&issuer.public_key_der())
        .map_err(|_| "public key DER does not parse")?;
    let n = URL_SAFE_NO_PAD.decode(jwks["keys"][0]["n"].as_str().ok_or("n")?)?;
    assert_eq!(
        public.modulus().big_endian_without_leading_zero(),
        n.as_slice()
    );

    let stranger = issuer.token().sign_with_unknown_key();
    assert_eq!(decode(&stranger)?.0["kid"], "testkit-unknown");
    assert!(verify_with_jwks(&stranger, &jwks).is_err());
    let forged = issuer
        .token()
        .kid(issuer.current_kid())
        .sign_with_unknown_key();
    assert!(verify_with_jwks(&forged, &jwks).is_err());
    Ok(())
}

#[tokio::test]
async fn jwks_and_discovery_in_team_and_global_form() -> TestResult {
    let issuer = Issuer::start().await?;
    for (issuer_url, mode) in [
        (issuer.team_issuer(), IssuerMode::Team),
        (issuer.global_issuer(), IssuerMode::Global),
    ] {
        let discovery = get_json(&format!("{issuer_url}/.well-known/openid-configuration")).await?;
        assert_eq!(discovery, issuer.discovery_json(mode));
        assert_eq!(discovery["issuer"], issuer_url);
        assert_eq!(
            discovery["jwks_uri"],
            format!("{issuer_url}/.well-known/jwks")
        );
        assert_eq!(
            discovery["id_token_signing_alg_values_supported"],
            json!(["RS256"])
        );
        assert_eq!(discovery["response_types_supported"], json!(["id_token"]));
        assert_eq!(discovery["scopes_supported"], json!(["openid"]));
        assert!(discovery["subject_types_supported"].is_array());
        assert!(discovery["claims_supported"].is_array());

        let jwks = get_json(discovery["jwks_uri"].as_str().ok_or("jwks_uri")?).await?;
        assert_eq!(jwks, issuer.jwks_json());
    }
    assert_eq!(issuer.requests(Endpoint::Discovery), 2);
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);

    // Another team's paths do not exist here and are not counted.
    let other = client()
        .get(format!("{}/other/.well-known/jwks", issuer.base_url()))
        .send()
        .await?;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
    Ok(())
}

#[tokio::test]
async fn rotation_keeps_old_keys_until_retired() -> TestResult {
    let issuer = Issuer::start().await?;
    let old_kid = issuer.current_kid();
    let old_token = issuer.token().sign();

    let new_kid = issuer.rotate_key();
    assert_ne!(new_kid, old_kid);
    assert_eq!(issuer.current_kid(), new_kid);
    let new_token = issuer.token().sign();
    assert_eq!(decode(&new_token)?.0["kid"], new_kid);

    let jwks = get_json(&format!("{}/.well-known/jwks", issuer.team_issuer())).await?;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .ok_or("keys")?
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids, [old_kid.as_str(), new_kid.as_str()]);
    verify_with_jwks(&old_token, &jwks)?;
    verify_with_jwks(&new_token, &jwks)?;

    issuer.retire_old_keys();
    let jwks = get_json(&format!("{}/.well-known/jwks", issuer.base_url())).await?;
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
    assert!(verify_with_jwks(&old_token, &jwks).is_err());
    verify_with_jwks(&new_token, &jwks)?;
    Ok(())
}

#[tokio::test]
async fn live_issuers_never_share_a_key() -> TestResult {
    let a = Issuer::start().await?;
    let b = Issuer::start().await?;
    assert_ne!(a.current_kid(), b.current_kid());
    assert_ne!(a.public_key_der(), b.public_key_der());
    assert!(verify_with_jwks(&a.token().sign(), &b.jwks_json()).is_err());
    Ok(())
}

#[tokio::test]
async fn exchange_mints_a_token_for_the_new_audience() -> TestResult {
    let issuer = Issuer::start().await?;
    let subject = issuer.token().sign();
    let subject_claims = decode(&subject)?.1;

    let url = format!("{}/~token", issuer.team_issuer());
    let (status, body) = exchange(
        &url,
        &json!({"token": subject, "aud": "https://api.example", "jti": "jti-1"}),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().ok_or("token")?;
    let claims = verify_with_jwks(token, &issuer.jwks_json())?;
    assert_eq!(claims["aud"], "https://api.example");
    assert_eq!(claims["act"], json!({"sub": subject_claims["sub"]}));
    assert_eq!(claims["jti"], "jti-1");
    assert_eq!(claims["sub"], subject_claims["sub"]);
    assert_eq!(claims["iss"], subject_claims["iss"]);
    assert_eq!(claims["project"], "my-project");
    assert_eq!(body["expiry"], claims["exp"]);
    let iat = claims["iat"].as_i64().ok_or("iat")?;
    assert!((iat - now()).abs() <= 5);
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));

    // Global form, no jti: one is generated, and differs each time.
    let url = format!("{}/~token", issuer.base_url());
    let request = json!({"token": subject, "aud": "x"});
    let (status, first) = exchange(&url, &request).await?;
    assert_eq!(status, StatusCode::OK);
    let (_, second) = exchange(&url, &request).await?;
    let jti = |body: &Value| -> Result<Value, Box<dyn std::error::Error>> {
        Ok(decode(body["token"].as_str().ok_or("token")?)?.1["jti"].clone())
    };
    assert!(jti(&first)?.is_string());
    assert_ne!(jti(&first)?, jti(&second)?);
    assert_eq!(issuer.requests(Endpoint::Exchange), 3);
    Ok(())
}

#[tokio::test]
async fn exchange_rejects_bad_subject_tokens() -> TestResult {
    let issuer = Issuer::start().await?;
    let url = format!("{}/~token", issuer.team_issuer());

    let good = issuer.token().sign();
    let (header, payload, signature) = {
        let parts: Vec<&str> = good.split('.').collect();
        (parts[0], parts[1], parts[2])
    };
    let mut claims = decode_part(payload)?;
    claims["sub"] = json!("owner:acme:project:admin:environment:production");
    let tampered = format!(
        "{header}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );

    let cases = [
        ("tampered", tampered),
        ("expired", issuer.token().expired().sign()),
        ("without exp", issuer.token().without_exp().sign()),
        (
            "not yet valid",
            issuer
                .token()
                .not_before(SystemTime::now() + Duration::from_secs(3600))
                .sign(),
        ),
        ("alg none", issuer.token().sign_alg_none()),
        (
            "hs256 with public key",
            issuer.token().sign_hs256_with(&issuer.public_key_der()),
        ),
        ("unknown key", issuer.token().sign_with_unknown_key()),
        (
            "forged under known kid",
            issuer
                .token()
                .kid(issuer.current_kid())
                .sign_with_unknown_key(),
        ),
        (
            "foreign issuer",
            issuer.token().issuer("https://evil.example").sign(),
        ),
        ("no sub", issuer.token().remove_claim("sub").sign()),
        ("not a jwt", "abc.def".to_owned()),
    ];
    for (name, token) in cases {
        let (status, body) = exchange(&url, &json!({"token": token, "aud": "x"})).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_eq!(body["error"], "invalid_token", "{name}");
        assert!(body["message"].is_string(), "{name}");
        assert!(
            !body.to_string().contains(&token),
            "{name}: the token is not echoed"
        );
    }

    // A retired key no longer exchanges.
    let old = issuer.token().sign();
    issuer.rotate_key();
    issuer.retire_old_keys();
    let (status, _) = exchange(&url, &json!({"token": old, "aud": "x"})).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Bad requests.
    let fresh = issuer.token().sign();
    for body in [
        json!({"aud": "x"}),
        json!({"token": fresh}),
        json!({"token": fresh, "aud": 7}),
        json!({"token": "", "aud": "x"}),
        json!(["not", "an", "object"]),
    ] {
        let (status, answer) = exchange(&url, &body).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["error"], "invalid_request");
    }
    let response = client().post(&url).body("{not json").send().await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await?;
    assert_eq!(answer["error"], "invalid_request");
    Ok(())
}

#[tokio::test]
async fn status_fault_for_next_n_then_normal() -> TestResult {
    let issuer = Issuer::start().await?;
    let url = format!("{}/.well-known/jwks", issuer.team_issuer());
    issuer.faults().next(Endpoint::Jwks, 2, Fault::Status(503));
    for _ in 0..2 {
        let response = client().get(&url).send().await?;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = response.json().await?;
        assert_eq!(body["error"], "injected_fault");
    }
    assert_eq!(client().get(&url).send().await?.status(), StatusCode::OK);
    // Other endpoints were never affected.
    let discovery = format!("{}/.well-known/openid-configuration", issuer.base_url());
    assert_eq!(
        client().get(&discovery).send().await?.status(),
        StatusCode::OK
    );
    assert_eq!(issuer.requests(Endpoint::Jwks), 3);
    assert_eq!(issuer.requests(Endpoint::Discovery), 1);
    assert_eq!(issuer.requests(Endpoint::Exchange), 0);
    issuer.reset_requests();
    assert_eq!(issuer.requests(Endpoint::Jwks), 0);
    Ok(())
}

#[tokio::test]
async fn always_fault_until_cleared() -> TestResult {
    let issuer = Issuer::start().await?;
    let url = format!("{}/~token", issuer.team_issuer());
    let request = json!({"token": issuer.token().sign(), "aud": "x"});
    issuer
        .faults()
        .always(Endpoint::Exchange, Fault::Status(429));
    for _ in 0..3 {
        let response = client().post(&url).json(&request).send().await?;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    issuer.faults().clear();
    let response = client().post(&url).json(&request).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Exchange), 4);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn delay_fault_is_a_slow_server_on_the_tokio_clock() -> TestResult {
    let issuer = Issuer::start().await?;
    let url = format!("{}/.well-known/jwks", issuer.team_issuer());
    issuer
        .faults()
        .next(Endpoint::Jwks, 1, Fault::Delay(Duration::from_secs(30)));

    let wall = std::time::Instant::now();
    let tokio_start = tokio::time::Instant::now();
    let response = client().get(&url).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await?;
    assert_eq!(body, issuer.jwks_json());
    assert!(tokio_start.elapsed() >= Duration::from_secs(30));
    assert!(
        wall.elapsed() < Duration::from_secs(10),
        "the paused clock skipped the delay"
    );

    // The client's own timeout sees the slow server.
    issuer
        .faults()
        .next(Endpoint::Jwks, 1, Fault::Delay(Duration::from_secs(30)));
    let timed_out = client()
        .get(&url)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));
    assert_eq!(issuer.requests(Endpoint::Jwks), 2);
    Ok(())
}

#[tokio::test]
async fn drop_fault_is_a_connection_error() -> TestResult {
    let issuer = Issuer::start().await?;
    let url = format!("{}/.well-known/openid-configuration", issuer.base_url());
    issuer.faults().next(Endpoint::Discovery, 1, Fault::Drop);
    let dropped = client().get(&url).send().await;
    let error = dropped.err().ok_or("a dropped connection is an error")?;
    assert!(error.status().is_none(), "no response at all: {error:?}");
    assert!(error.is_request() || error.is_connect(), "{error:?}");

    // POST with a body too, and the next request is served normally.
    issuer.faults().next(Endpoint::Exchange, 1, Fault::Drop);
    let posted = client()
        .post(format!("{}/~token", issuer.base_url()))
        .json(&json!({"token": issuer.token().sign(), "aud": "x"}))
        .send()
        .await;
    assert!(posted.is_err());
    assert_eq!(client().get(&url).send().await?.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Discovery), 2);
    assert_eq!(issuer.requests(Endpoint::Exchange), 1);

    // On a kept-alive connection too: the client does not silently retry.
    let shared = client();
    assert_eq!(shared.get(&url).send().await?.status(), StatusCode::OK);
    issuer.faults().next(Endpoint::Discovery, 1, Fault::Drop);
    assert!(shared.get(&url).send().await.is_err());
    assert_eq!(shared.get(&url).send().await?.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Discovery), 5);
    Ok(())
}

#[tokio::test]
async fn garbage_and_truncated_bodies_do_not_parse() -> TestResult {
    let issuer = Issuer::start().await?;
    let url = format!("{}/.well-known/jwks", issuer.team_issuer());

    issuer.faults().next(Endpoint::Jwks, 1, Fault::Garbage);
    let response = client().get(&url).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await?;
    assert!(!text.is_empty());
    assert!(serde_json::from_str::<Value>(&text).is_err());

    issuer.faults().next(Endpoint::Jwks, 1, Fault::Truncated);
    let response = client().get(&url).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await?;
    let full = issuer.jwks_json().to_string();
    assert_eq!(text.len(), full.len() / 2);
    assert!(full.starts_with(&text));
    assert!(serde_json::from_str::<Value>(&text).is_err());

    // A truncated exchange answer: the exchange ran, its JSON is cut.
    issuer
        .faults()
        .next(Endpoint::Exchange, 1, Fault::Truncated);
    let response = client()
        .post(format!("{}/~token", issuer.team_issuer()))
        .json(&json!({"token": issuer.token().sign(), "aud": "x"}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.json::<Value>().await.is_err());

    assert_eq!(client().get(&url).send().await?.status(), StatusCode::OK);
    assert_eq!(issuer.requests(Endpoint::Jwks), 3);
    Ok(())
}

#[tokio::test]
async fn dropping_the_issuer_stops_the_server() -> TestResult {
    let issuer = Issuer::start().await?;
    let url = format!("{}/.well-known/jwks", issuer.team_issuer());
    let client = client();
    assert_eq!(client.get(&url).send().await?.status(), StatusCode::OK);
    drop(issuer);
    // Give the server task a moment to see the signal and close the idle connection.
    for _ in 0..50 {
        if client.get(&url).send().await.is_err() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err("the server still answers after the issuer was dropped".into())
}
