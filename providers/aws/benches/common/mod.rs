//! What the AWS benches share: the testkit issuer and STS on 127.0.0.1, our provider and
//! aws-config 1.13's `WebIdentityTokenCredentialsProvider` pointed at that STS, and the SDK's
//! lazy identity cache driven directly (what every SDK client does in front of a provider).
#![allow(dead_code, unreachable_pub)] // each bench binary uses a part

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_config::provider_config::ProviderConfig;
use aws_config::web_identity_token::{StaticConfiguration, WebIdentityTokenCredentialsProvider};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::identity::{
    Identity, ResolveCachedIdentity, SharedIdentityCache, SharedIdentityResolver,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::region::Region;
use vercel_oidc::Env;
use vercel_oidc::time::SharedClock;
use vercel_oidc_aws::{AwsCredentialsProvider, AwsCredentialsProviderBuilder};
use vercel_oidc_testkit::{Issuer, Sts};

pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/bench";
pub const SESSION_NAME: &str = "bench";
pub const REGION: &str = "us-east-1";
pub const AUDIENCE: &str = "sts.amazonaws.com";

/// The issuer, the STS emulator, and a Vercel token (in the environment for our provider, in a
/// file for aws-config's web-identity provider).
pub struct Emulators {
    pub issuer: Issuer,
    pub sts: Sts,
    pub token: String,
    pub token_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Emulators {
    pub async fn start() -> Emulators {
        let issuer = Issuer::builder()
            .team_slug("acme")
            .token_lifetime(Duration::from_secs(12 * 3600))
            .start()
            .await
            .expect("issuer");
        let sts = Sts::builder(issuer.team_issuer(), AUDIENCE)
            .start()
            .await
            .expect("sts");
        let token = issuer.token().audience(AUDIENCE).sign();
        let dir = tempfile::tempdir().expect("tempdir");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, &token).expect("token file");
        Emulators {
            issuer,
            sts,
            token,
            token_file,
            _dir: dir,
        }
    }

    /// Our provider's builder with the token, region and STS endpoint in its `Env`.
    pub fn ours_builder(&self) -> AwsCredentialsProviderBuilder {
        let env = Env::from_pairs([
            ("VERCEL_OIDC_TOKEN", self.token.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ENDPOINT_URL_STS", self.sts.endpoint_url()),
        ]);
        AwsCredentialsProvider::builder(ROLE_ARN)
            .env(env)
            .session_name(SESSION_NAME)
    }

    pub fn ours(&self) -> AwsCredentialsProvider {
        self.ours_builder().build().expect("our provider")
    }

    pub fn ours_with_clock(&self, clock: SharedClock) -> AwsCredentialsProvider {
        self.ours_builder()
            .time_source(clock)
            .build()
            .expect("our provider")
    }

    /// aws-config's web-identity provider, statically configured (token file, role, session),
    /// with its STS client sent to the emulator.
    ///
    /// `ProviderConfig` takes its endpoint from the process environment only
    /// (`AWS_ENDPOINT_URL_STS`; its `with_env` is crate-private), and the benches never mutate
    /// the process environment, so the STS client's HTTP client (the SDK's default rustls
    /// client) gets requests with their scheme and authority rewritten to the emulator. The
    /// rest of the request path is the SDK's own.
    pub fn aws_config(&self) -> WebIdentityTokenCredentialsProvider {
        let conf = ProviderConfig::without_region()
            .with_region(Some(Region::new(REGION)))
            .with_http_client(ToEmulator::new(self.sts.endpoint_url()));
        WebIdentityTokenCredentialsProvider::builder()
            .configure(&conf)
            .static_configuration(StaticConfiguration {
                web_identity_token_file: self.token_file.clone(),
                role_arn: ROLE_ARN.to_owned(),
                session_name: SESSION_NAME.to_owned(),
            })
            .build()
    }
}

/// An HTTP client that sends every request to `base` (scheme and authority replaced, path and
/// query kept) through the SDK's default HTTPS client.
#[derive(Debug, Clone)]
pub struct ToEmulator {
    base: Arc<str>,
    inner: SharedHttpClient,
}

impl ToEmulator {
    pub fn new(base: String) -> Self {
        use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
        let inner = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .build_https();
        Self {
            base: base.trim_end_matches('/').into(),
            inner,
        }
    }
}

impl HttpClient for ToEmulator {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Rewrite {
            base: self.base.clone(),
            inner: self.inner.http_connector(settings, components),
        })
    }
}

#[derive(Debug)]
struct Rewrite {
    base: Arc<str>,
    inner: SharedHttpConnector,
}

impl HttpConnector for Rewrite {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        let uri = request.uri();
        let path = match uri.find("://") {
            Some(scheme_end) => {
                let rest = &uri[scheme_end + 3..];
                rest.find('/').map_or("/", |slash| &rest[slash..])
            }
            None => uri,
        };
        let target = format!("{}{}", self.base, path);
        if let Err(e) = request.set_uri(target) {
            return HttpConnectorFuture::ready(Err(ConnectorError::other(e.into(), None)));
        }
        self.inner.call(request)
    }
}

/// The SDK's lazy identity cache (`IdentityCache::lazy()`, defaults: 10 s buffer + up to 50 %
/// jitter) in front of one provider, called as an SDK client's orchestrator calls it.
pub struct SdkCache {
    cache: SharedIdentityCache,
    resolver: SharedIdentityResolver,
    components: RuntimeComponents,
    bag: ConfigBag,
}

impl SdkCache {
    pub fn new(provider: impl ProvideCredentials + 'static) -> Self {
        Self::with_clock(provider, OffsetClock::default())
    }

    pub fn with_clock(provider: impl ProvideCredentials + 'static, clock: OffsetClock) -> Self {
        let components = RuntimeComponentsBuilder::for_tests()
            .with_time_source(Some(clock))
            .with_sleep_impl(Some(TokioSleep::new()))
            .build()
            .expect("runtime components");
        Self {
            cache: IdentityCache::lazy().build(),
            resolver: SharedIdentityResolver::new(SharedCredentialsProvider::new(provider)),
            components,
            bag: ConfigBag::base(),
        }
    }

    pub async fn get(&self) -> Identity {
        self.cache
            .resolve_cached_identity(self.resolver.clone(), &self.components, &self.bag)
            .await
            .expect("identity")
    }

    /// The credentials inside the identity (what the SigV4 signer reads).
    pub async fn credentials(&self) -> Credentials {
        self.get()
            .await
            .data::<Credentials>()
            .expect("credentials identity")
            .clone()
    }
}

/// The system clock plus an adjustable offset: both our `Clock` and the SDK's, so a bench
/// can move both caches to their refresh point without waiting for it.
#[derive(Debug, Clone, Default)]
pub struct OffsetClock {
    offset_ms: Arc<AtomicU64>,
}

impl OffsetClock {
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).expect("offset fits");
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

impl vercel_oidc::time::Clock for OffsetClock {
    fn now(&self) -> SystemTime {
        OffsetClock::now(self)
    }
}

impl aws_smithy_async::time::TimeSource for OffsetClock {
    fn now(&self) -> SystemTime {
        OffsetClock::now(self)
    }
}

/// A multi-thread tokio runtime (2 workers on this 2-core machine).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Nanoseconds-per-percentile summary of a set of latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
