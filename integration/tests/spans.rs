//! One span per network step, with the fields `tracing-opentelemetry` users need, and no secret
//! in any field: token lookup, audience exchange, STS, Entra and the verifier's JWKS fetch, through
//! the public APIs against the testkit emulators.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_credential_types::provider::ProvideCredentials as _;
use azure_core::credentials::TokenCredential as _;
use azure_core::http::{ClientOptions, Transport};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use vercel_oidc::verify::{Constraint, ExpectedIssuer, Verifier};
use vercel_oidc::{Env, FixedTokenSource, OidcToken};
use vercel_oidc_aws::AwsCredentialsProvider;
use vercel_oidc_azure::AzureCredential;
use vercel_oidc_testkit::entra::{Entra, FederatedCredential};
use vercel_oidc_testkit::{Issuer, Sts};

/// Every span's name and its fields as recorded (creation and later `record` calls).
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, SpanFields)>>>);

/// A span's fields by name.
type SpanFields = BTreeMap<String, String>;

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

struct Index(usize);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut all = self.0.lock().expect("spans");
        all.push((attrs.metadata().name().to_owned(), fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Index(all.len() - 1));
        }
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(Index(i)) = span.extensions().get::<Index>().map(|i| Index(i.0)) else {
            return;
        };
        let mut all = self.0.lock().expect("spans");
        values.record(&mut Fields(&mut all[i].1));
    }
}

impl Spans {
    fn named(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        self.0
            .lock()
            .expect("spans")
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    }
}

const ROLE: &str = "arn:aws:iam::123456789012:role/app";
const STS_AUD: &str = "sts.amazonaws.com";

#[tokio::test] // current thread: the thread-local subscriber sees spawned loads too
async fn each_network_step_has_one_span_with_its_fields_and_no_secret() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let issuer = Issuer::start().await.expect("issuer");
    let token = issuer.token().sign();
    let base = issuer.base_url();

    // Token lookup (the Vercel chain) → audience exchange → STS.
    let sts = Sts::builder(issuer.team_issuer(), STS_AUD)
        .start()
        .await
        .expect("sts");
    let aws = AwsCredentialsProvider::builder(ROLE)
        .env(Env::from_pairs([
            ("VERCEL_OIDC_TOKEN", token.as_str()),
            ("VERCEL_OIDC_ISSUER_URL", base.as_str()),
            ("HOME", "/nonexistent"),
        ]))
        .region(aws_types_region())
        .endpoint_url(sts.endpoint_url())
        .audience(STS_AUD)
        .build()
        .expect("aws");
    let credentials = aws.provide_credentials().await.expect("credentials");

    // Entra.
    let entra = Entra::builder()
        .federated_credential(FederatedCredential::for_issuer(&issuer))
        .start()
        .await
        .expect("entra");
    let azure = AzureCredential::builder()
        .tenant_id(entra.tenant_id())
        .client_id(entra.client_id())
        .authority_host(entra.authority())
        .client_options(ClientOptions {
            transport: Some(Transport::new(Arc::new(entra.reqwest_client()))),
            ..Default::default()
        })
        .token_source(FixedTokenSource::new(
            OidcToken::parse(token.clone()).expect("token"),
        ))
        .build()
        .expect("azure");
    let access = azure
        .get_token(&["https://vault.azure.net/.default"], None)
        .await
        .expect("access token");

    // The verifier's key-set fetch.
    let verifier = Verifier::builder(ExpectedIssuer::team("acme"), issuer.default_audience())
        .env(Env::from_pairs::<&str, &str>([]))
        .issuer_base_url(base.clone())
        .project_id(Constraint::Any)
        .environment(Constraint::Any)
        .owner_id(Constraint::Any)
        .build()
        .expect("verifier");
    verifier.verify(&token).await.expect("valid");

    let lookup = spans.named("vercel_oidc.token");
    assert!(!lookup.is_empty(), "token lookup span");
    assert!(lookup.iter().all(|f| f["outcome"] == "ok"), "{lookup:?}");

    let exchange = spans.named("vercel_oidc.exchange");
    assert_eq!(exchange.len(), 1, "{exchange:?}");
    assert_eq!(exchange[0]["audience"], STS_AUD);
    assert_eq!(exchange[0]["outcome"], "ok");
    assert!(exchange[0].contains_key("duration_ms"));

    let sts_spans = spans.named("vercel_oidc.sts");
    assert_eq!(sts_spans.len(), 1, "{sts_spans:?}");
    let s = &sts_spans[0];
    assert_eq!(s["role_arn"], ROLE);
    assert_eq!(s["region"], "eu-west-1");
    assert_eq!(s["attempt"], "1");
    assert_eq!(s["status"], "200");
    assert_eq!(s["outcome"], "ok");
    assert!(
        s.contains_key("request_id") && s.contains_key("duration_ms"),
        "{s:?}"
    );

    let entra_spans = spans.named("vercel_oidc.entra");
    assert_eq!(entra_spans.len(), 1, "{entra_spans:?}");
    let e = &entra_spans[0];
    assert_eq!(e["tenant_id"], entra.tenant_id());
    assert_eq!(e["client_id"], entra.client_id());
    assert_eq!(e["scope"], "https://vault.azure.net/.default");
    assert_eq!(e["status"], "200");
    assert_eq!(e["outcome"], "ok");

    let jwks = spans.named("vercel_oidc.jwks");
    assert_eq!(jwks.len(), 1, "{jwks:?}");
    assert_eq!(jwks[0]["outcome"], "ok");
    assert!(jwks[0]["url"].ends_with("/.well-known/jwks"), "{jwks:?}");

    // No secret in any field of any span.
    let secrets = [
        token.rsplit('.').next().expect("signature").to_owned(),
        credentials.secret_access_key().to_owned(),
        credentials
            .session_token()
            .expect("session token")
            .to_owned(),
        access.token.secret().to_owned(),
    ];
    for (name, fields) in spans.0.lock().expect("spans").iter() {
        for value in fields.values() {
            for secret in &secrets {
                assert!(!value.contains(secret.as_str()), "a secret in span {name}");
            }
        }
    }
}

/// A failed STS call records its status, code and request id.
#[tokio::test] // current thread: the thread-local subscriber sees spawned loads too
async fn a_rejected_sts_call_records_its_outcome() {
    let spans = Spans::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let issuer = Issuer::start().await.expect("issuer");
    let sts = Sts::builder(issuer.team_issuer(), "other-audience")
        .start()
        .await
        .expect("sts");
    let aws = AwsCredentialsProvider::builder(ROLE)
        .env(Env::from_pairs([("HOME", "/nonexistent")]))
        .region(aws_types_region())
        .endpoint_url(sts.endpoint_url())
        .token_source(FixedTokenSource::new(
            OidcToken::parse(issuer.token().sign()).expect("token"),
        ))
        .build()
        .expect("aws");
    aws.provide_credentials().await.expect_err("wrong audience");
    let s = spans.named("vercel_oidc.sts");
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["outcome"], "InvalidIdentityToken");
    assert_eq!(s[0]["status"], "400");
    assert!(s[0].contains_key("request_id"), "{s:?}");
}

fn aws_types_region() -> aws_types::region::Region {
    aws_types::region::Region::new("eu-west-1")
}
