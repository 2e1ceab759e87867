//! Configuration errors never echo a URL's password: user info is shown as `[redacted]`.

use vercel_oidc::local_dev::LocalDevRefresher;
use vercel_oidc::verify::{Constraint, ExpectedIssuer, Verifier};
use vercel_oidc::{AudienceExchange, Env};

const PASSWORD: &str = "S3cr3tPW";

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{error} {error:?}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(" {cause} {cause:?}"));
        source = cause.source();
    }
    text
}

#[test]
fn exchange_issuer_url_password_is_redacted() {
    let err = AudienceExchange::builder()
        .env(Env::from_pairs::<&str, &str>([]))
        .issuer_url(format!("https://admin:{PASSWORD}@issuer.example"))
        .build()
        .expect_err("credentials in the URL");
    let text = chain(&err);
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(text.contains("https://[redacted]@issuer.example"), "{text}");

    let from_env = AudienceExchange::builder()
        .env(Env::from_pairs([(
            "VERCEL_OIDC_ISSUER_URL",
            format!("http://admin:{PASSWORD}@127.0.0.1:9"),
        )]))
        .build()
        .expect_err("credentials in the env URL");
    assert!(!chain(&from_env).contains(PASSWORD), "{}", chain(&from_env));
}

#[test]
fn local_dev_urls_password_is_redacted() {
    for builder in [
        LocalDevRefresher::builder().api_url(format!("http://admin:{PASSWORD}@127.0.0.1:9")),
        LocalDevRefresher::builder().oauth_url(format!("https://u:{PASSWORD}@vercel.example")),
    ] {
        let err = builder.build().expect_err("credentials in the URL");
        let text = chain(&err);
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(text.contains("[redacted]@"), "{text}");
    }
}

#[test]
fn verifier_issuer_url_password_is_never_shown() {
    let err = Verifier::builder(ExpectedIssuer::global(), "aud")
        .env(Env::from_pairs::<&str, &str>([]))
        .issuer_base_url(format!("https://admin:{PASSWORD}@issuer.example"))
        .project_id(Constraint::Any)
        .environment(Constraint::Any)
        .owner_id(Constraint::Any)
        .build()
        .expect_err("credentials in the URL");
    assert!(!chain(&err).contains(PASSWORD), "{}", chain(&err));
}
