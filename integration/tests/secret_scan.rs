//! The all-flows secret scan: every flow of the workspace runs under one process-global TRACE
//! subscriber (the token chain through header, file and environment; the local-dev refresh; the
//! AWS provider; the Azure credential; the verifier), each with a success and a failure, and no
//! secret it handled (the OIDC tokens, the Vercel CLI and refresh tokens, the AWS access key,
//! secret key and session token, the Azure access token) appears in the captured logs or in the
//! `Debug`/`Display` of any value or error it produced.
//!
//! Its own test binary with a single test: the subscriber is process-global and installed
//! first, so no callsite's interest is cached before it (a scoped `set_default` misses
//! callsites that other test threads registered first).
//!
//! The CLI's part (its stderr under `-vv`) is in `cli/tests/secret_scan.rs`, where the built
//! binary's path is known.

use std::fmt::{Debug, Display};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials as _;
use azure_core::credentials::TokenCredential as _;
use azure_core::http::{ClientOptions, Transport};
use tower::{Layer as _, ServiceExt as _, service_fn};
use vercel_oidc::local_dev::LocalDevRefresher;
use vercel_oidc::time::{Clock as _, SharedClock, TokioClock};
use vercel_oidc::verify::{Constraint, ExpectedIssuer, Verifier};
use vercel_oidc::{
    Env, FileTokenSource, FreshestTokenSlot, OidcToken, RequestContextLayer, TokenSource,
    VercelTokenSource, token_source_fn,
};
use vercel_oidc_aws::AwsCredentialsProvider;
use vercel_oidc_azure::AzureCredential;
use vercel_oidc_testkit::entra::{Entra, FederatedCredential};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer, StsFault, VercelApi};

/// The secrets seen so far and every text shown of the values and errors produced.
#[derive(Default)]
struct Scan {
    secrets: Vec<(String, &'static str)>,
    shown: Vec<String>,
}

impl Scan {
    /// A secret: the whole value, and for a JWT its payload and signature too (either alone
    /// would leak it).
    fn secret(&mut self, what: &'static str, value: &str) {
        assert!(!value.is_empty(), "{what}: an empty secret proves nothing");
        self.secrets.push((value.to_owned(), what));
        if value.split('.').count() == 3 {
            for part in value.split('.').skip(1) {
                if part.len() >= 16 {
                    self.secrets.push((part.to_owned(), what));
                }
            }
        }
    }

    fn debug(&mut self, value: &dyn Debug) {
        self.shown.push(format!("{value:?}"));
    }

    fn both<T: Debug + Display + ?Sized>(&mut self, value: &T) {
        self.shown.push(format!("{value} {value:?}"));
    }

    /// An error: its `Display`, `Debug` and every source's `Display`.
    fn error(&mut self, error: &(dyn std::error::Error + 'static)) {
        let mut text = format!("{error} {error:?}");
        let mut source = error.source();
        while let Some(s) = source {
            text.push_str(&format!(" / {s} {s:?}"));
            source = s.source();
        }
        self.shown.push(text);
    }
}

#[tokio::test]
async fn no_flow_leaks_a_secret() {
    let capture = vercel_oidc_testkit::capture_logs();
    let mut scan = Scan::default();

    token_chain(&mut scan).await;
    local_dev(&mut scan).await;
    aws(&mut scan).await;
    azure(&mut scan).await;
    verify(&mut scan).await;

    let logs = capture.contents();
    // Every flow was logged, at every level down to TRACE, so the scan below means something.
    for expected in [
        "TRACE",
        "request context",
        "local-dev refresh",
        "vercel-oidc-aws",
        "AssumeRoleWithWebIdentity",
        "Entra ID",
        "verifier",
    ] {
        assert!(logs.contains(expected), "no log line with {expected:?}");
    }
    assert!(scan.secrets.len() > 30, "{} secrets", scan.secrets.len());
    // Failure messages name the secret's kind and the text's position, never the secret.
    for (secret, what) in &scan.secrets {
        assert!(!logs.contains(secret.as_str()), "{what} reached the logs");
        for (i, text) in scan.shown.iter().enumerate() {
            assert!(
                !text.contains(secret.as_str()),
                "{what} reached shown text #{i} of {}",
                scan.shown.len()
            );
        }
    }
}

/// The token chain: the header through `RequestContextLayer` (and the freshest-token slot
/// outside the request), a file, the environment; a malformed token as the failure.
async fn token_chain(scan: &mut Scan) {
    let issuer = Issuer::start().await.expect("issuer");
    let header = issuer.token().claim("n", 1).sign();
    let env_token = issuer.token().claim("n", 2).sign();
    let file_token = issuer.token().claim("n", 3).sign();
    scan.secret("the header token", &header);
    scan.secret("the env token", &env_token);
    scan.secret("the file token", &file_token);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, &file_token).expect("write token file");

    let slot = Arc::new(FreshestTokenSlot::new());
    let source = VercelTokenSource::builder()
        .env(Env::from_pairs([("VERCEL_OIDC_TOKEN", env_token.as_str())]))
        .slot(Arc::clone(&slot))
        .build();
    let s = source.clone();
    let service = RequestContextLayer::new()
        .slot(Arc::clone(&slot))
        .layer(service_fn(move |_: http::Request<()>| {
            let s = s.clone();
            async move { Ok::<_, std::convert::Infallible>(s.token().await) }
        }));
    let request = http::Request::builder()
        .header("x-vercel-oidc-token", &header)
        .body(())
        .expect("request");
    let got = service
        .oneshot(request)
        .await
        .expect("infallible")
        .expect("the header token");
    assert_eq!(got.expose_secret(), header);
    scan.debug(&got);
    scan.debug(&source);
    scan.debug(&slot);
    let outside = source.token().await.expect("the slot's token");
    assert_eq!(outside.expose_secret(), header);

    let from_env = VercelTokenSource::builder()
        .env(Env::from_pairs([("VERCEL_OIDC_TOKEN", env_token.as_str())]))
        .without_slot()
        .build();
    let got = from_env.token().await.expect("the env token");
    assert_eq!(got.expose_secret(), env_token);
    scan.debug(&from_env);

    let from_file = FileTokenSource::new(&file);
    let got = from_file.token().await.expect("the file token");
    assert_eq!(got.expose_secret(), file_token);
    scan.debug(&from_file);
    scan.debug(got.unverified_claims());

    // Failures: a malformed token in the environment, a malformed header.
    let bad = format!("{header}.extra");
    scan.secret("a malformed token", &bad);
    let err = OidcToken::parse(bad.clone()).expect_err("malformed");
    scan.error(&err);
    let broken = VercelTokenSource::builder()
        .env(Env::from_pairs([("VERCEL_OIDC_TOKEN", bad.as_str())]))
        .without_slot()
        .build();
    let err = broken.token().await.expect_err("malformed env token");
    scan.error(&err);
}

const CLI_TOKEN: &str = "vca_canary_cli_token_5f0e1d2c3b4a";
const REFRESH_TOKEN: &str = "vcr_canary_refresh_token_a1b2c3d4e5f6";

/// The local-dev refresh: an expired CLI token in `auth.json` renewed through the OAuth
/// refresh grant, then the mint; a rejected mint and a failing OAuth endpoint as failures.
async fn local_dev(scan: &mut Scan) {
    scan.secret("the CLI token", CLI_TOKEN);
    scan.secret("the refresh token", REFRESH_TOKEN);
    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let api = VercelApi::builder(Arc::clone(&issuer))
        .refresh_token(REFRESH_TOKEN)
        .start()
        .await
        .expect("api");
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = |rel: &str| tmp.path().join(rel);
    std::fs::create_dir_all(path("project/.vercel")).expect("mkdir");
    std::fs::create_dir_all(path("data/com.vercel.cli")).expect("mkdir");
    std::fs::create_dir_all(path("home")).expect("mkdir");
    std::fs::write(
        path("project/.vercel/project.json"),
        r#"{"projectId":"prj_secret_scan","orgId":"team_secret_scan"}"#,
    )
    .expect("write project.json");
    std::fs::write(
        path("data/com.vercel.cli/auth.json"),
        format!(r#"{{"token":"{CLI_TOKEN}","expiresAt":1,"refreshToken":"{REFRESH_TOKEN}"}}"#),
    )
    .expect("write auth.json");
    let expired = issuer.token().expired().sign();
    scan.secret("the expired OIDC token", &expired);
    let env = Env::from_pairs([
        ("HOME", path("home").display().to_string()),
        ("XDG_DATA_HOME", path("data").display().to_string()),
        ("VERCEL_OIDC_API_URL", api.base_url()),
        ("VERCEL_OIDC_OAUTH_URL", api.base_url()),
        ("VERCEL_OIDC_TOKEN", expired),
    ]);
    let refresher = LocalDevRefresher::builder()
        .start_dir(path("project"))
        .build()
        .expect("refresher");
    let source = VercelTokenSource::builder()
        .env(env)
        .without_slot()
        .refresher(refresher.clone())
        .build();

    let minted = source.token().await.expect("refreshed and minted");
    assert_eq!(
        api.requests(Endpoint::OAuthToken),
        1,
        "the OAuth refresh ran"
    );
    assert_eq!(api.requests(Endpoint::VercelMint), 1);
    scan.secret("the minted local-dev token", minted.expose_secret());
    scan.secret(
        "the renewed CLI token",
        &api.latest_access_token().expect("renewed"),
    );
    scan.secret(
        "the rotated refresh token",
        &api.latest_refresh_token().expect("rotated"),
    );
    scan.debug(&minted);
    scan.debug(&source);
    scan.debug(&refresher);

    // The mint rejects (after the cached token is removed).
    std::fs::remove_file(path("data/com.vercel.token/prj_secret_scan.json")).expect("rm cache");
    api.faults()
        .next(Endpoint::VercelMint, 1, Fault::Status(403));
    let err = source.token().await.expect_err("mint rejected");
    scan.error(&err);
}

const ROLE: &str = "arn:aws:iam::123456789012:role/secret-scan";
const STS_AUD: &str = "sts.amazonaws.com";

/// The AWS provider against STS: retries then credentials, and a rejection.
async fn aws(scan: &mut Scan) {
    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let sts = vercel_oidc_testkit::Sts::builder(issuer.team_issuer(), STS_AUD)
        .start()
        .await
        .expect("sts");
    let minted = Arc::new(Mutex::new(Vec::<String>::new()));
    let clock = SharedClock::new(TokioClock::new());
    let source = {
        let (issuer, minted, clock) = (Arc::clone(&issuer), Arc::clone(&minted), clock.clone());
        token_source_fn(move || {
            let mut minted = minted.lock().expect("minted lock");
            let raw = issuer
                .token()
                .audience(STS_AUD)
                .issued_at(clock.now())
                .claim("n", minted.len())
                .sign();
            minted.push(raw.clone());
            std::future::ready(OidcToken::parse(raw))
        })
    };
    let provider = AwsCredentialsProvider::builder(ROLE)
        .env(Env::from_pairs([("AWS_REGION", "eu-west-1")]))
        .endpoint_url(sts.endpoint_url())
        .token_source(source)
        .time_source(clock)
        .initial_backoff(Duration::from_millis(1))
        .build()
        .expect("valid configuration");

    sts.inject(1, StsFault::Throttling);
    sts.inject(1, StsFault::ExpiredToken);
    let credentials = provider.provide_credentials().await.expect("credentials");
    // The SDK's own `Credentials` Debug shows the access key id (AWS treats it as an
    // identifier, not a secret), so it is checked here for the secret parts only; the access
    // key id is scanned for in the logs and everything else.
    let sdk_debug = format!("{credentials:?}");
    assert!(
        !sdk_debug.contains(credentials.secret_access_key()),
        "{sdk_debug}"
    );
    assert!(
        !sdk_debug.contains(credentials.session_token().expect("a session token")),
        "{sdk_debug}"
    );
    scan.debug(&provider);
    sts.inject(1, StsFault::AccessDenied);
    provider.invalidate();
    let err = provider
        .provide_credentials()
        .await
        .expect_err("access denied");
    scan.error(&err);
    let err = provider.credentials().await;
    if let Err(e) = &err {
        scan.error(e);
    }

    for token in minted.lock().expect("minted lock").iter() {
        scan.secret("an OIDC token sent to STS", token);
    }
    let issued = sts.issued();
    assert!(!issued.is_empty());
    for c in issued {
        scan.secret("an AWS secret access key", &c.secret_access_key);
        scan.secret("an AWS session token", &c.session_token);
    }
    scan.secret(
        "the returned AWS secret access key",
        credentials.secret_access_key(),
    );
    scan.secret(
        "the returned AWS access key id",
        credentials.access_key_id(),
    );
    scan.secret(
        "the returned AWS session token",
        credentials.session_token().expect("a session token"),
    );
}

const SCOPE: &str = "https://vault.azure.net/.default";

/// The Azure credential against Entra: a token, and a rejected assertion.
async fn azure(scan: &mut Scan) {
    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let entra = Entra::builder()
        .federated_credential(FederatedCredential::for_issuer(&issuer))
        .start()
        .await
        .expect("entra");
    let minted = Arc::new(Mutex::new(Vec::<String>::new()));
    let credential = |subject: Option<&'static str>| {
        let (issuer, minted) = (Arc::clone(&issuer), Arc::clone(&minted));
        AzureCredential::builder()
            .tenant_id(entra.tenant_id())
            .client_id(entra.client_id())
            .authority_host(entra.authority())
            .client_options(ClientOptions {
                transport: Some(Transport::new(Arc::new(entra.reqwest_client()))),
                ..Default::default()
            })
            .token_source(token_source_fn(move || {
                let mut minted = minted.lock().expect("minted lock");
                let token = issuer.token().claim("n", minted.len());
                let token = match subject {
                    Some(subject) => token.subject(subject),
                    None => token,
                };
                let raw = token.sign();
                minted.push(raw.clone());
                std::future::ready(OidcToken::parse(raw))
            }))
            .env(Env::from_pairs::<&str, &str>([]))
            .load_budget(Duration::from_secs(3))
            .build()
            .expect("credential builds")
    };

    let good = credential(None);
    entra.faults().next(Endpoint::Entra, 1, Fault::Status(503));
    let token = good.get_token(&[SCOPE], None).await.expect("a token");
    assert_eq!(entra.requests(), 2, "one retry");
    scan.secret("the Azure access token", token.token.secret());
    scan.debug(&token);
    scan.debug(&good);

    let bad = credential(Some("owner:acme:project:other:environment:production"));
    let err = bad
        .get_token(&[SCOPE], None)
        .await
        .expect_err("subject not federated");
    assert!(err.to_string().contains("AADSTS700213"), "{err}");
    scan.error(&err);
    if let Some(ours) = err.downcast_ref::<vercel_oidc_azure::Error>() {
        scan.error(ours);
    }

    for assertion in minted.lock().expect("minted lock").iter() {
        scan.secret("a client assertion", assertion);
    }
}

/// The verifier: a valid token, then rejections (audience, expiry, unknown key) and a failing
/// key set.
async fn verify(scan: &mut Scan) {
    let issuer = Issuer::start().await.expect("issuer");
    let audience = "https://api.example.com";
    let verifier = Verifier::builder(ExpectedIssuer::team("acme"), audience)
        .env(Env::from_pairs::<&str, &str>([]))
        .issuer_base_url(issuer.base_url())
        .project_id(Constraint::Any)
        .environment(Constraint::Any)
        .owner_id(Constraint::Any)
        .build()
        .expect("verifier");
    let valid = issuer.token().audience(audience).sign();
    scan.secret("a verified token", &valid);
    let claims = verifier.verify(&valid).await.expect("valid");
    scan.debug(&claims);
    scan.debug(&verifier);
    for bad in [
        issuer.token().audience("https://other.example.com").sign(),
        issuer.token().audience(audience).expired().sign(),
        issuer.token().audience(audience).sign_with_unknown_key(),
    ] {
        scan.secret("a rejected token", &bad);
        let err = verifier.verify(&bad).await.expect_err("rejected");
        scan.both(&err);
        scan.error(&err);
    }
    issuer.faults().always(Endpoint::Jwks, Fault::Status(503));
    let err = verifier.refresh_keys().await.expect_err("key set down");
    scan.error(&err);
}

/// The Google Cloud flows (`vercel-oidc-gcp`): our credentials with impersonation (access token,
/// ID token, the `google_cloud_auth` headers) and a rejected subject, and google-cloud-auth's own
/// credentials through `VercelSubjectTokens`. No subject, federated, access or ID token appears
/// in the logs or in anything shown.
#[tokio::test]
async fn gcp_flows_leak_no_secret() {
    use vercel_oidc_testkit::gcp::{Gcp, ServiceAccount, WorkloadIdentityProvider};
    let capture = vercel_oidc_testkit::capture_logs();
    let mut scan = Scan::default();
    let issuer = Arc::new(
        Issuer::builder()
            .team_slug("acme")
            .start()
            .await
            .expect("issuer"),
    );
    let provider = WorkloadIdentityProvider::for_issuer(&issuer);
    let subject = issuer.token().payload()["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    let sa = "app@demo.iam.gserviceaccount.com";
    let gcp = Gcp::builder()
        .provider(provider.clone())
        .service_account(ServiceAccount::new(sa).allow_subject(subject))
        .start()
        .await
        .expect("gcp");
    let minted = Arc::new(Mutex::new(Vec::<String>::new()));
    let source = |subject: Option<&'static str>| {
        let (issuer, minted) = (Arc::clone(&issuer), Arc::clone(&minted));
        token_source_fn(move || {
            let token = match subject {
                Some(subject) => issuer.token().subject(subject),
                None => issuer.token(),
            };
            let raw = token.sign();
            minted.lock().expect("minted lock").push(raw.clone());
            std::future::ready(OidcToken::parse(raw))
        })
    };
    let credentials = |subject| {
        vercel_oidc_gcp::GcpCredentials::builder()
            .env(Env::from_pairs::<&str, &str>([]))
            .audience(provider.resource_name())
            .service_account(sa)
            .token_url(gcp.token_url())
            .iam_credentials_url(gcp.iam_credentials_url())
            .token_source(source(subject))
            .build()
            .expect("credentials build")
    };

    let good = credentials(None);
    gcp.faults().next(Endpoint::GcpSts, 1, Fault::Status(503));
    let access = good.access_token().await.expect("an access token");
    scan.secret("a GCP access token", access.expose_secret());
    scan.debug(&access);
    scan.debug(&good);
    let id = good
        .id_token("https://svc.a.run.app")
        .await
        .expect("an ID token");
    scan.secret("a GCP ID token", id.expose_secret());
    scan.debug(&id);
    let google = google_cloud_auth::credentials::Credentials::from(good.clone());
    let headers = google
        .headers(http::Extensions::new())
        .await
        .expect("headers");
    scan.debug(&headers);
    scan.debug(&google);

    let bad = credentials(Some("owner:acme:project:other:environment:production"));
    let err = bad
        .access_token()
        .await
        .expect_err("not allowed to impersonate");
    assert!(err.to_string().contains("PERMISSION_DENIED"), "{err}");
    scan.error(&err);
    let err: google_cloud_auth::errors::CredentialsError = err.into();
    scan.error(&err);

    let external = vercel_oidc_gcp::VercelSubjectTokens::from_source(source(None))
        .external_account_builder(provider.resource_name())
        .with_token_url(gcp.token_url())
        .build()
        .expect("google-cloud-auth builds");
    let headers = external
        .headers(http::Extensions::new())
        .await
        .expect("headers");
    scan.debug(&headers);
    scan.debug(&external);

    for request in gcp.iam_requests() {
        let bearer = request.authorization.expect("a bearer");
        scan.secret("a federated token", bearer.trim_start_matches("Bearer "));
    }
    for token in minted.lock().expect("minted lock").iter() {
        scan.secret("a Vercel subject token", token);
    }
    let logs = capture.contents();
    assert!(logs.contains("vercel-oidc-gcp"), "the flow was logged");
    assert!(scan.secrets.len() >= 8, "{} secrets", scan.secrets.len());
    for (secret, what) in &scan.secrets {
        assert!(!logs.contains(secret.as_str()), "{what} reached the logs");
        for (i, text) in scan.shown.iter().enumerate() {
            assert!(
                !text.contains(secret.as_str()),
                "{what} reached shown text #{i}"
            );
        }
    }
}
