//! `GcpCredentialsBuilder::shared` and the one-call `gcp_credentials()`: a handler that builds
//! its credentials on every request still makes one STS exchange (and one impersonation) per
//! token lifetime; another configuration gets its own instance; unshared builders never share.

use std::sync::Arc;

use vercel_oidc::{Env, OidcConfig, OidcToken, SharedTokenSource, token_source_fn};
use vercel_oidc_gcp::{GcpCredentials, gcp_credentials};
use vercel_oidc_testkit::Issuer;
use vercel_oidc_testkit::gcp::{Gcp, ServiceAccount, WorkloadIdentityProvider};

const SA: &str = "app@demo-project.iam.gserviceaccount.com";

struct Fixture {
    _issuer: Arc<Issuer>,
    gcp: Gcp,
    provider: WorkloadIdentityProvider,
    source: SharedTokenSource,
    config: OidcConfig,
}

async fn fixture() -> Fixture {
    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let provider = WorkloadIdentityProvider::for_issuer(&issuer);
    let gcp = Gcp::builder()
        .provider(provider.clone())
        .service_account(ServiceAccount::new(SA))
        .start()
        .await
        .expect("gcp");
    let minter = Arc::clone(&issuer);
    let source = SharedTokenSource::new(token_source_fn(move || {
        std::future::ready(OidcToken::parse(minter.token().sign()))
    }));
    Fixture {
        _issuer: issuer,
        gcp,
        provider,
        source,
        config: OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([])),
    }
}

impl Fixture {
    /// What a handler builds on every request.
    fn credentials(&self, scope: &str, shared: bool) -> GcpCredentials {
        GcpCredentials::builder()
            .configure(&self.config)
            .audience(self.provider.resource_name())
            .service_account(SA)
            .scope(scope)
            .token_url(self.gcp.token_url())
            .iam_credentials_url(self.gcp.iam_credentials_url())
            .token_source(self.source.clone())
            .shared(shared)
            .build()
            .expect("credentials")
    }
}

const CLOUD: &str = "https://www.googleapis.com/auth/cloud-platform";
const STORAGE: &str = "https://www.googleapis.com/auth/devstorage.read_only";

#[tokio::test]
async fn a_hundred_requests_building_shared_credentials_make_one_exchange() {
    let f = fixture().await;
    let first = f.credentials(CLOUD, true);
    for request in 0..100 {
        let credentials = f.credentials(CLOUD, true);
        assert!(credentials.shares_cache_with(&first), "request {request}");
        credentials.access_token().await.expect("access token");
    }
    assert_eq!(f.gcp.sts_requests().len(), 1);
    assert_eq!(f.gcp.iam_requests().len(), 1);

    // Another scope is another configuration: its own instance and exchange.
    let storage = f.credentials(STORAGE, true);
    assert!(!storage.shares_cache_with(&first));
    storage.access_token().await.expect("access token");
    assert_eq!(f.gcp.sts_requests().len(), 2);
    assert!(f.credentials(STORAGE, true).shares_cache_with(&storage));
}

#[tokio::test]
async fn unshared_builders_each_have_their_own_cache() {
    let f = fixture().await;
    let (a, b) = (f.credentials(CLOUD, false), f.credentials(CLOUD, false));
    assert!(!a.shares_cache_with(&b));
    assert!(a.shares_cache_with(&a.clone()));
    a.access_token().await.expect("access token");
    b.access_token().await.expect("access token");
    assert_eq!(f.gcp.sts_requests().len(), 2);
    // A shared build is none of them.
    assert!(!f.credentials(CLOUD, true).shares_cache_with(&a));
}

#[tokio::test]
async fn other_token_sources_envs_and_endpoints_are_other_configurations() {
    let f = fixture().await;
    let base = f.credentials(CLOUD, true);
    let other_source = GcpCredentials::builder()
        .configure(&f.config)
        .audience(f.provider.resource_name())
        .service_account(SA)
        .scope(CLOUD)
        .token_url(f.gcp.token_url())
        .iam_credentials_url(f.gcp.iam_credentials_url())
        .token_source(SharedTokenSource::new(token_source_fn(|| {
            std::future::ready(OidcToken::parse("a.b.c"))
        })))
        .shared(true)
        .build()
        .expect("credentials");
    assert!(!other_source.shares_cache_with(&base));
    let other_env = GcpCredentials::builder()
        .configure(&OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([])))
        .audience(f.provider.resource_name())
        .service_account(SA)
        .scope(CLOUD)
        .token_url(f.gcp.token_url())
        .iam_credentials_url(f.gcp.iam_credentials_url())
        .token_source(f.source.clone())
        .shared(true)
        .build()
        .expect("credentials");
    assert!(!other_env.shares_cache_with(&base));
    let other_account = GcpCredentials::builder()
        .configure(&f.config)
        .audience(f.provider.resource_name())
        .service_account("other@demo-project.iam.gserviceaccount.com")
        .scope(CLOUD)
        .token_url(f.gcp.token_url())
        .iam_credentials_url(f.gcp.iam_credentials_url())
        .token_source(f.source.clone())
        .shared(true)
        .build()
        .expect("credentials");
    assert!(!other_account.shares_cache_with(&base));
}

#[tokio::test]
async fn a_failed_shared_build_keeps_nothing() {
    let f = fixture().await;
    let bad = GcpCredentials::builder()
        .configure(&f.config)
        .audience("not a provider resource")
        .token_source(f.source.clone())
        .shared(true)
        .build();
    assert!(bad.is_err());
    let good = f.credentials(CLOUD, true);
    good.access_token().await.expect("the next build works");
}

const CHILD: &str = "VERCEL_OIDC_GCP_ONE_CALL_CHILD";
const TEST: &str = "one_call_credentials_built_per_request_are_one_instance";

/// `gcp_credentials()` reads the real process environment: the test runs itself as a child
/// process with the environment set (the workspace forbids `unsafe` `set_var`).
#[tokio::test]
async fn one_call_credentials_built_per_request_are_one_instance() {
    if std::env::var_os(CHILD).is_some() {
        let first = gcp_credentials().expect("configured");
        for request in 0..1_000 {
            let credentials = gcp_credentials().expect("configured");
            assert!(credentials.shares_cache_with(&first), "request {request}");
        }
        return;
    }
    let status = tokio::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", TEST, "--nocapture"])
        .env(CHILD, "1")
        .env("GCP_PROJECT_NUMBER", "123456789012")
        .env("GCP_WORKLOAD_IDENTITY_POOL_ID", "vercel")
        .env("GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID", "vercel")
        .env("GCP_SERVICE_ACCOUNT_EMAIL", SA)
        .env_remove("VERCEL_OIDC_CA_FILE")
        .status()
        .await
        .expect("child runs");
    assert!(status.success(), "child failed: {status}");
}
