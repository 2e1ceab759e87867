//! No secret of the local-dev refresh (the CLI token, the refresh token, the renewed tokens,
//! the minted OIDC token) reaches a log line, a Debug string or an error message.
//!
//! Its own test binary: the TRACE subscriber is process-global, so that no callsite's interest
//! is cached before it is installed.

// Tests, benches and examples may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::Duration;

use vercel_oidc::local_dev::LocalDevRefresher;
use vercel_oidc::{Env, RefreshRequest, TokenSource, VercelTokenSource};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer, VercelApi};

const CLI_TOKEN: &str = "vca_secret_cli_token_e3b0c442";
const REFRESH_TOKEN: &str = "vcr_secret_refresh_token_98fc1c14";

#[tokio::test]
async fn full_refresh_flow_logs_no_secret() {
    let capture = vercel_oidc_testkit::capture_logs();
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
    std::fs::write(
        path("project/.vercel/project.json"),
        r#"{"projectId":"prj_secret_scan","orgId":"team_secret_scan"}"#,
    )
    .expect("write");
    let auth = path("data/com.vercel.cli/auth.json");
    std::fs::write(
        &auth,
        format!(r#"{{"token":"{CLI_TOKEN}","expiresAt":1,"refreshToken":"{REFRESH_TOKEN}"}}"#),
    )
    .expect("write");
    let expired = issuer.token().expired().sign();
    let env = Env::from_pairs([
        ("HOME", path("home").display().to_string()),
        ("XDG_DATA_HOME", path("data").display().to_string()),
        ("VERCEL_OIDC_API_URL", api.base_url()),
        ("VERCEL_OIDC_OAUTH_URL", api.base_url()),
        ("VERCEL_OIDC_TOKEN", expired.clone()),
    ]);
    let refresher = LocalDevRefresher::builder()
        .start_dir(path("project"))
        .build()
        .expect("refresher");
    let source = VercelTokenSource::builder()
        .env(env.clone())
        .without_slot()
        .refresher(refresher.clone())
        .build();

    // OAuth renewal + mint + cache, then a cached answer.
    let minted = source.token().await.expect("refreshed");
    let again = source.token().await.expect("cached");
    assert_eq!(minted, again);
    assert_eq!(api.requests(Endpoint::OAuthToken), 1);
    assert_eq!(api.requests(Endpoint::VercelMint), 1);
    let new_access = api.latest_access_token().expect("issued");
    let new_refresh = api.latest_refresh_token().expect("rotated");

    // Failures: the mint rejects, then the OAuth endpoint fails, with the secrets in play.
    let mut texts = vec![
        format!("{refresher:?}"),
        format!("{source:?}"),
        format!("{minted:?}"),
    ];
    std::fs::remove_file(path("data/com.vercel.token/prj_secret_scan.json")).expect("rm");
    api.faults()
        .next(Endpoint::VercelMint, 1, Fault::Status(403));
    let err = source.token().await.expect_err("403");
    texts.push(format!(
        "{err} {err:?} {:?}",
        std::error::Error::source(&err)
    ));
    std::fs::write(
        &auth,
        format!(r#"{{"token":"{new_access}","expiresAt":1,"refreshToken":"{new_refresh}"}}"#),
    )
    .expect("write");
    api.faults()
        .next(Endpoint::OAuthToken, 1, Fault::Status(500));
    let err = refresher
        .refresh(&RefreshRequest::new(env.clone()).expiration_buffer(Duration::from_secs(1)))
        .await
        .expect_err("500");
    texts.push(format!("{err} {err:?}"));
    api.faults().next(Endpoint::OAuthToken, 1, Fault::Drop);
    let err = refresher
        .refresh(&RefreshRequest::new(env))
        .await
        .expect_err("drop");
    texts.push(format!("{err} {err:?}"));

    let logs = capture.contents();
    assert!(
        logs.contains("local-dev refresh"),
        "the flow logged nothing: the scan would prove nothing"
    );
    let secrets = [
        CLI_TOKEN,
        REFRESH_TOKEN,
        new_access.as_str(),
        new_refresh.as_str(),
        minted.expose_secret(),
        expired.as_str(),
    ];
    for secret in secrets {
        // Also the JWT payload alone (a logged claim set would contain it).
        let needle = secret.split('.').nth(1).unwrap_or(secret);
        assert!(!logs.contains(needle), "a secret reached the logs");
        for text in &texts {
            assert!(!text.contains(needle), "a secret reached {text}");
        }
    }
}
