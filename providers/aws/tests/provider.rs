//! The provider driving the real `aws-sdk-sts` against the testkit's STS emulator and issuer on
//! 127.0.0.1.
//!
//! Time: most tests run on tokio's paused clock. The provider's clock is a `TokioClock`,
//! the emulator's clock follows tokio too, and tokens are minted at the tokio-clock "now", so
//! advancing tokio time moves all three together. Paused time auto-advances only when every task
//! is idle; a loopback request is never idle for long (the peer's socket is readable as soon as
//! the write returns, and the runtime polls I/O before it advances the clock), so the SDK's
//! attempt timeout (10 s) does not fire while a request is in flight. Tests that want a timeout
//! make the emulator sleep past it (`Fault::Delay`), which the paused clock skips at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use futures_util::FutureExt as _;
use vercel_oidc::time::{Clock as _, SharedClock, TokioClock};
use vercel_oidc::{Env, OidcToken, TokenOrigin, token_source_fn};
use vercel_oidc_aws::{AwsCredentialsProvider, AwsCredentialsProviderBuilder, RoleArn};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer, Sts, StsFault};

#[path = "provider/emulator.rs"]
mod emulator;

const ROLE: &str = "arn:aws:iam::123456789012:role/vercel-app";
const AUD: &str = "sts.amazonaws.com";

struct Fixture {
    issuer: Arc<Issuer>,
    sts: Sts,
    clock: SharedClock,
    /// Tokens handed out by the rotating source, in order.
    minted: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn fixture() -> Fixture {
    let issuer = Arc::new(Issuer::start().await.expect("issuer starts"));
    let sts = Sts::builder(issuer.team_issuer(), AUD)
        .start()
        .await
        .expect("sts starts");
    Fixture {
        issuer,
        sts,
        clock: SharedClock::new(TokioClock::new()),
        minted: Arc::default(),
    }
}

impl Fixture {
    /// A token source that mints a new token (aud `sts.amazonaws.com`, 1 h) on every call.
    fn rotating(&self) -> impl vercel_oidc::TokenSource + 'static {
        let issuer = Arc::clone(&self.issuer);
        let clock = self.clock.clone();
        let minted = Arc::clone(&self.minted);
        token_source_fn(move || {
            let raw = issuer
                .token()
                .audience(AUD)
                .issued_at(clock.now())
                .claim("nonce", minted.lock().expect("lock").len())
                .sign();
            minted.lock().expect("lock").push(raw.clone());
            std::future::ready(OidcToken::parse(raw))
        })
    }

    /// The builder every test starts from: emulator endpoint, a region, the rotating source,
    /// the tokio clock, no jitter, no real environment.
    fn builder(&self) -> AwsCredentialsProviderBuilder {
        AwsCredentialsProvider::builder(ROLE)
            .env(Env::from_pairs([("AWS_REGION", "eu-west-1")]))
            .endpoint_url(self.sts.endpoint_url())
            .token_source(self.rotating())
            .time_source(self.clock.clone())
            .refresh_jitter(0.0)
    }

    fn minted(&self) -> Vec<String> {
        self.minted.lock().expect("lock").clone()
    }
}

async fn creds(provider: &AwsCredentialsProvider) -> Result<Credentials, CredentialsError> {
    provider.provide_credentials().await
}

/// The error's whole source chain as one string.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        out.push_str(" / ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn same(c: &Credentials, issued: &vercel_oidc_testkit::IssuedCredentials) -> bool {
    c.access_key_id() == issued.access_key_id
        && c.secret_access_key() == issued.secret_access_key
        && c.session_token() == Some(issued.session_token.as_str())
}

#[tokio::test(start_paused = true)]
async fn every_option_reaches_the_wire() {
    let f = fixture().await;
    let provider = f
        .builder()
        .role_session_name("checkout@web")
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .policy_arn("arn:aws:iam::123456789012:policy/extra")
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#)
        .duration(Duration::from_secs(7200))
        .provider_id("www.example.com")
        .build()
        .expect("valid configuration");
    let c = creds(&provider).await.expect("credentials");

    assert_eq!(f.sts.calls(), 1);
    let request = f.sts.last_request().expect("recorded");
    assert_eq!(request.field("Action"), Some("AssumeRoleWithWebIdentity"));
    assert_eq!(request.field("Version"), Some("2011-06-15"));
    assert_eq!(request.field("RoleArn"), Some(ROLE));
    assert_eq!(request.field("RoleSessionName"), Some("checkout@web"));
    assert_eq!(request.field("DurationSeconds"), Some("7200"));
    assert_eq!(request.field("ProviderId"), Some("www.example.com"));
    assert_eq!(
        request.field("Policy"),
        Some(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#
        )
    );
    assert_eq!(
        request.policy_arns(),
        [
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "arn:aws:iam::123456789012:policy/extra"
        ]
    );
    assert_eq!(
        request.web_identity_token(),
        f.minted().first().map(String::as_str)
    );

    let issued = &f.sts.issued()[0];
    assert!(same(&c, issued), "the provider returns what STS issued");
    let expiry = c.expiry().expect("expiry");
    assert_eq!(
        expiry
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after epoch")
            .as_secs(),
        issued
            .expiration
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after epoch")
            .as_secs()
    );
    let lifetime = expiry.duration_since(f.clock.now()).expect("in the future");
    assert!(
        lifetime > Duration::from_secs(7190) && lifetime <= Duration::from_secs(7200),
        "{lifetime:?}"
    );
    assert_eq!(
        c.account_id().map(|a| a.as_str()),
        Some("123456789012"),
        "account id from the assumed-role ARN"
    );
    assert_eq!(provider.expires_at(), Some(expiry));
}

#[tokio::test(start_paused = true)]
async fn defaults_omit_optional_fields_and_read_the_environment() {
    let f = fixture().await;
    let provider = AwsCredentialsProvider::builder(RoleArn::from_env())
        .env(Env::from_pairs([
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ROLE_ARN", ROLE),
            ("AWS_ROLE_SESSION_NAME", "from-env"),
        ]))
        .endpoint_url(f.sts.endpoint_url())
        .token_source(f.rotating())
        .time_source(f.clock.clone())
        .build()
        .expect("valid");
    assert_eq!(provider.role_arn(), ROLE);
    creds(&provider).await.expect("credentials");
    let request = f.sts.last_request().expect("recorded");
    assert_eq!(request.field("RoleArn"), Some(ROLE));
    assert_eq!(request.field("RoleSessionName"), Some("from-env"));
    for absent in ["DurationSeconds", "Policy", "ProviderId"] {
        assert_eq!(
            request.field(absent),
            None,
            "{absent} is omitted by default"
        );
    }
    assert!(request.policy_arns().is_empty());

    // Without AWS_ROLE_SESSION_NAME a name is generated.
    let generated = f.builder().build().expect("valid");
    let name = generated.session_name();
    let millis = name.strip_prefix("vercel-oidc-").expect("generated prefix");
    assert!(millis.parse::<u64>().is_ok(), "{name}");
}

#[tokio::test(start_paused = true)]
async fn invalid_options_are_configuration_errors() {
    let f = fixture().await;
    let cases: Vec<(AwsCredentialsProviderBuilder, &str)> = vec![
        (
            f.builder().duration(Duration::from_secs(899)),
            "session duration",
        ),
        (
            f.builder().duration(Duration::from_secs(43_201)),
            "session duration",
        ),
        (f.builder().role_session_name("a b"), "role session name"),
        (
            AwsCredentialsProvider::builder("arn:aws:iam::1:user/x")
                .env(Env::from_pairs([("AWS_REGION", "eu-west-1")])),
            "not an IAM role ARN",
        ),
        (
            AwsCredentialsProvider::builder(RoleArn::from_env())
                .env(Env::from_pairs([("AWS_REGION", "eu-west-1")])),
            "AWS_ROLE_ARN",
        ),
        (
            f.builder()
                .policy_arns((0..11).map(|i| format!("arn:aws:iam::aws:policy/p{i}"))),
            "at most 10",
        ),
        (
            f.builder().policy("x".repeat(2049)),
            "inline session policy",
        ),
        (
            f.builder().endpoint_url("sts.example.com"),
            "not an http(s) URL",
        ),
    ];
    for (builder, needle) in cases {
        let err = builder.build().expect_err(needle);
        assert!(err.is_invalid_configuration(), "{err}");
        assert!(
            err.to_string().contains(needle),
            "{err} should name {needle}"
        );
    }
    assert_eq!(f.sts.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn no_region_is_an_error_never_us_east_1() {
    let f = fixture().await;
    let err = AwsCredentialsProvider::builder(ROLE)
        .env(Env::from_pairs::<&str, &str>([]))
        .token_source(f.rotating())
        .build()
        .expect_err("no region");
    assert!(err.is_invalid_configuration());
    assert!(err.to_string().contains("AWS_REGION"), "{err}");

    // The one-call form returns the provider; the error shows on first use, with no STS call.
    let provider = vercel_oidc_aws::aws_credentials_provider(RoleArn::from(None::<String>));
    let err = provider
        .provide_credentials()
        .now_or_never()
        .expect("ready")
        .expect_err("not configured");
    assert!(
        matches!(err, CredentialsError::InvalidConfiguration(_)),
        "{err:?}"
    );
    assert!(chain(&err).contains("AWS_ROLE_ARN") || chain(&err).contains("AWS_REGION"));
    assert_eq!(f.sts.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn region_and_endpoint_resolution() {
    let f = fixture().await;
    let sts_url = f.sts.endpoint_url();
    let base = |env: Env| {
        AwsCredentialsProvider::builder(ROLE)
            .env(env)
            .token_source(f.rotating())
            .time_source(f.clock.clone())
    };

    // Service-specific endpoint beats the global one; region from AWS_DEFAULT_REGION.
    let p = base(Env::from_pairs([
        ("AWS_DEFAULT_REGION", "ap-south-1"),
        ("AWS_ENDPOINT_URL_STS", sts_url.as_str()),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
    ]))
    .build()
    .expect("valid");
    assert_eq!(p.region(), Some("ap-south-1"));
    assert_eq!(p.endpoint_url(), Some(sts_url.as_str()));
    creds(&p).await.expect("reached the emulator");
    assert_eq!(f.sts.calls(), 1);

    // The global endpoint alone; no region needed with an endpoint.
    let p = base(Env::from_pairs([("AWS_ENDPOINT_URL", sts_url.as_str())]))
        .build()
        .expect("an endpoint without a region is enough");
    assert_eq!(p.region(), None);
    creds(&p).await.expect("reached the emulator");
    assert_eq!(f.sts.calls(), 2);

    // AWS_IGNORE_CONFIGURED_ENDPOINT_URLS drops the env endpoints; AWS_REGION beats
    // AWS_DEFAULT_REGION.
    let p = base(Env::from_pairs([
        ("AWS_REGION", "eu-central-1"),
        ("AWS_DEFAULT_REGION", "ap-south-1"),
        ("AWS_ENDPOINT_URL_STS", sts_url.as_str()),
        ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
    ]))
    .build()
    .expect("valid");
    assert_eq!(p.region(), Some("eu-central-1"));
    assert_eq!(p.endpoint_url(), None, "the SDK's regional endpoint");

    // From an SdkConfig: its region and endpoint; explicit settings beat it.
    let sdk = aws_types::SdkConfig::builder()
        .region(aws_types::region::Region::new("sa-east-1"))
        .endpoint_url(sts_url.clone())
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let p = base(Env::from_pairs([("AWS_REGION", "eu-central-1")]))
        .sdk_config(&sdk)
        .build()
        .expect("valid");
    assert_eq!(p.region(), Some("sa-east-1"), "SdkConfig beats AWS_REGION");
    assert_eq!(p.endpoint_url(), Some(sts_url.as_str()));
    creds(&p).await.expect("reached the emulator");
    assert_eq!(f.sts.calls(), 3);
    let p = base(Env::from_pairs([(
        "AWS_ENDPOINT_URL",
        "http://127.0.0.1:1",
    )]))
    .sdk_config(&sdk)
    .region(aws_types::region::Region::new("us-west-2"))
    .endpoint_url(sts_url.clone())
    .build()
    .expect("valid");
    assert_eq!(p.region(), Some("us-west-2"));
    assert_eq!(p.endpoint_url(), Some(sts_url.as_str()));
}

/// With no region given, in an `SdkConfig` or in `AWS_REGION` / `AWS_DEFAULT_REGION`, the STS
/// region comes from the shared config profile, as aws-config's chain finds it: the file in
/// `AWS_CONFIG_FILE` (else `$HOME/.aws/config`, or the credentials file), the profile in
/// `AWS_PROFILE` (else `default`). Everything else comes first.
#[tokio::test(start_paused = true)]
async fn region_from_the_config_profile() {
    let f = fixture().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "[default]\nregion = eu-north-1\n\n[profile staging]\nregion = ap-southeast-2\n\n\
         [profile inherits]\nsource_profile = staging\n",
    )
    .expect("write config");
    let config = config.to_str().expect("utf-8").to_owned();
    let base = |env: Env| {
        AwsCredentialsProvider::builder(ROLE)
            .env(env)
            .endpoint_url(f.sts.endpoint_url())
            .token_source(f.rotating())
            .time_source(f.clock.clone())
    };

    // The default profile of AWS_CONFIG_FILE, used for the real STS client.
    let p = base(Env::from_pairs([("AWS_CONFIG_FILE", config.as_str())]))
        .build()
        .expect("valid");
    assert_eq!(p.region(), Some("eu-north-1"));
    creds(&p).await.expect("reached the STS emulator");
    assert_eq!(f.sts.calls(), 1);

    // AWS_PROFILE picks the profile (and its source_profile chain).
    for (profile, region) in [
        ("staging", "ap-southeast-2"),
        ("inherits", "ap-southeast-2"),
    ] {
        let p = base(Env::from_pairs([
            ("AWS_CONFIG_FILE", config.as_str()),
            ("AWS_PROFILE", profile),
        ]))
        .build()
        .expect("valid");
        assert_eq!(p.region(), Some(region), "{profile}");
    }
    // A profile without a region: none (an endpoint is enough).
    let p = base(Env::from_pairs([
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_PROFILE", "missing"),
    ]))
    .build()
    .expect("valid");
    assert_eq!(p.region(), None);

    // $HOME/.aws/config and $HOME/.aws/credentials, when AWS_CONFIG_FILE is not set.
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".aws")).expect("mkdir");
    std::fs::write(home.join(".aws/config"), "[default]\nregion = us-west-1\n").expect("write");
    let home = home.to_str().expect("utf-8").to_owned();
    let p = base(Env::from_pairs([("HOME", home.as_str())]))
        .build()
        .expect("valid");
    assert_eq!(p.region(), Some("us-west-1"));
    let credentials_only = dir.path().join("credentials");
    std::fs::write(&credentials_only, "[default]\nregion = ca-central-1\n").expect("write");
    let p = base(Env::from_pairs([
        ("HOME", "/nonexistent"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            credentials_only.to_str().expect("utf-8"),
        ),
    ]))
    .build()
    .expect("valid");
    assert_eq!(p.region(), Some("ca-central-1"));
    // A `~` in AWS_CONFIG_FILE is the Env's HOME.
    let p = base(Env::from_pairs([
        ("HOME", home.as_str()),
        ("AWS_CONFIG_FILE", "~/.aws/config"),
    ]))
    .build()
    .expect("valid");
    assert_eq!(p.region(), Some("us-west-1"));

    // The profile is the last resort: AWS_DEFAULT_REGION, the SdkConfig and .region(..) win.
    let with_profile = || Env::from_pairs([("AWS_CONFIG_FILE", config.as_str())]);
    let p = base(with_profile().with_var("AWS_DEFAULT_REGION", "sa-east-1"))
        .build()
        .expect("valid");
    assert_eq!(p.region(), Some("sa-east-1"));
    let sdk = aws_types::SdkConfig::builder()
        .region(aws_types::region::Region::new("me-south-1"))
        .build();
    let p = base(with_profile())
        .sdk_config(&sdk)
        .build()
        .expect("valid");
    assert_eq!(p.region(), Some("me-south-1"));
    let p = base(with_profile())
        .region(aws_types::region::Region::new("af-south-1"))
        .build()
        .expect("valid");
    assert_eq!(p.region(), Some("af-south-1"));

    // Without an endpoint, the profile's region is what makes the configuration complete.
    let bare = |env: Env| {
        AwsCredentialsProvider::builder(ROLE)
            .env(env)
            .token_source(f.rotating())
    };
    let p = bare(with_profile()).build().expect("the profile's region");
    assert_eq!(p.region(), Some("eu-north-1"));
    assert_eq!(p.endpoint_url(), None);
    let err = bare(Env::from_pairs([
        ("HOME", home.as_str()),
        ("AWS_CONFIG_FILE", "/nonexistent/config"),
    ]))
    .build()
    .expect_err("AWS_CONFIG_FILE names no file: no region");
    assert!(err.is_invalid_configuration(), "{err}");
    assert!(err.to_string().contains("AWS_REGION"), "{err}");
    assert_eq!(f.sts.calls(), 1);
}

/// `from_sdk_config`: the builder pre-filled from an `SdkConfig` (region, endpoint), the role
/// from `AWS_ROLE_ARN` unless `.role_arn(..)` sets one; aws-config's names and the older ones
/// set the same request fields.
#[tokio::test(start_paused = true)]
async fn from_sdk_config_and_aws_config_names() {
    let f = fixture().await;
    let sdk = aws_types::SdkConfig::builder()
        .region(aws_types::region::Region::new("eu-south-1"))
        .endpoint_url(f.sts.endpoint_url())
        .build();
    let p = AwsCredentialsProvider::from_sdk_config(&sdk)
        .env(Env::from_pairs([("AWS_ROLE_ARN", ROLE)]))
        .token_source(f.rotating())
        .time_source(f.clock.clone())
        .session_name("from-sdk")
        .session_length(Duration::from_secs(1800))
        .build()
        .expect("valid");
    assert_eq!(p.role_arn(), ROLE);
    assert_eq!(p.region(), Some("eu-south-1"));
    assert_eq!(p.endpoint_url(), Some(f.sts.endpoint_url().as_str()));
    // The SdkConfig has no behavior version: the provider brings its own (no panic).
    creds(&p).await.expect("reached the STS emulator");
    let request = f.sts.last_request().expect("recorded");
    assert_eq!(request.field("RoleSessionName"), Some("from-sdk"));
    assert_eq!(request.field("DurationSeconds"), Some("1800"));

    let other = "arn:aws:iam::123456789012:role/other";
    let p = AwsCredentialsProvider::from_sdk_config(&sdk)
        .env(Env::from_pairs([("AWS_ROLE_ARN", ROLE)]))
        .role_arn(other)
        .token_source(f.rotating())
        .time_source(f.clock.clone())
        .role_session_name("alias")
        .duration(Duration::from_secs(900))
        .build()
        .expect("valid");
    assert_eq!(p.role_arn(), other);
    creds(&p).await.expect("reached the STS emulator");
    let request = f.sts.last_request().expect("recorded");
    assert_eq!(request.field("RoleArn"), Some(other));
    assert_eq!(request.field("RoleSessionName"), Some("alias"));
    assert_eq!(request.field("DurationSeconds"), Some("900"));

    let err = AwsCredentialsProvider::from_sdk_config(&sdk)
        .env(Env::from_pairs::<&str, &str>([]))
        .build()
        .expect_err("no role");
    assert!(err.to_string().contains("AWS_ROLE_ARN"), "{err}");
    let err = AwsCredentialsProvider::from_sdk_config(&sdk)
        .env(Env::from_pairs([("AWS_ROLE_ARN", ROLE)]))
        .session_length(Duration::from_secs(60))
        .build()
        .expect_err("too short");
    assert!(err.to_string().contains("session duration"), "{err}");
}

/// The web identity token travels to the STS endpoint: plain http only on loopback, and never a
/// URL with credentials, a query or a fragment — explicit, from the env, or from an `SdkConfig`.
/// Errors show the URL with its user info redacted.
#[tokio::test(start_paused = true)]
async fn sts_endpoint_follows_the_url_policy() {
    let f = fixture().await;
    let port = f
        .sts
        .endpoint_url()
        .rsplit(':')
        .next()
        .expect("port")
        .trim_end_matches('/')
        .to_owned();
    let base = |env: Env| {
        AwsCredentialsProvider::builder(ROLE)
            .env(env)
            .region(aws_types::region::Region::new("eu-west-1"))
            .token_source(f.rotating())
            .time_source(f.clock.clone())
    };
    let refused = [
        format!("http://vm:{port}"),
        format!("http://10.0.0.7:{port}"),
        format!("http://user:S3cr3tPW@127.0.0.1:{port}"),
        "https://admin:S3cr3tPW@sts.example.com".to_owned(),
        format!("http://127.0.0.1:{port}/?token=1"),
        format!("http://127.0.0.1:{port}/#frag"),
    ];
    for url in &refused {
        for builder in [
            base(Env::from_pairs([("HOME", "/nonexistent")])).endpoint_url(url.clone()),
            base(Env::from_pairs([("AWS_ENDPOINT_URL_STS", url.as_str())])),
            base(Env::from_pairs([("AWS_ENDPOINT_URL", url.as_str())])),
            base(Env::from_pairs([("HOME", "/nonexistent")])).sdk_config(
                &aws_types::SdkConfig::builder()
                    .endpoint_url(url.clone())
                    .behavior_version(aws_config::BehaviorVersion::latest())
                    .build(),
            ),
        ] {
            let err = builder.build().expect_err(url);
            assert!(err.is_invalid_configuration(), "{url}: {err}");
            let text = format!("{err} {err:?} {}", chain(&err));
            assert!(!text.contains("S3cr3tPW"), "{text}");
            assert!(text.contains("STS endpoint"), "{text}");
        }
    }
    assert_eq!(f.sts.calls(), 0);
    // Loopback over http and any https host stay allowed.
    for url in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        "https://sts.eu-west-1.amazonaws.com".to_owned(),
    ] {
        base(Env::from_pairs([("HOME", "/nonexistent")]))
            .endpoint_url(url.clone())
            .build()
            .expect(&url);
    }
}

/// Each retryable failure, twice, then success: 3 STS calls, each with a fresh token.
#[tokio::test(start_paused = true)]
async fn retryable_faults_recover() {
    enum Inject {
        Sts(StsFault),
        Shared(Fault),
        Jwks(Fault),
    }
    let cases = [
        ("throttling", Inject::Sts(StsFault::Throttling)),
        (
            "idp communication",
            Inject::Sts(StsFault::IdpCommunicationError),
        ),
        ("key retrieval", Inject::Sts(StsFault::KeyRetrievalFailure)),
        ("503", Inject::Shared(Fault::Status(503))),
        ("500", Inject::Shared(Fault::Status(500))),
        ("429", Inject::Shared(Fault::Status(429))),
        ("dropped connection", Inject::Shared(Fault::Drop)),
        (
            "timeout",
            Inject::Shared(Fault::Delay(Duration::from_secs(30))),
        ),
        ("truncated", Inject::Shared(Fault::Truncated)),
        ("garbage", Inject::Shared(Fault::Garbage)),
        ("jwks unreachable", Inject::Jwks(Fault::Status(500))),
    ];
    for (name, inject) in cases {
        let f = fixture().await;
        match inject {
            Inject::Sts(fault) => f.sts.inject(2, fault),
            Inject::Shared(fault) => f.sts.faults().next(Endpoint::Sts, 2, fault),
            Inject::Jwks(fault) => f.issuer.faults().next(Endpoint::Jwks, 2, fault),
        }
        let provider = f.builder().build().expect("valid");
        let c = creds(&provider)
            .await
            .unwrap_or_else(|e| panic!("{name}: {}", chain(&e)));
        assert_eq!(f.sts.calls(), 3, "{name}");
        let issued = f.sts.issued();
        assert!(
            same(&c, issued.last().expect("issued")),
            "{name}: the last issue"
        );
        let tokens: Vec<String> = f
            .sts
            .requests()
            .iter()
            .filter_map(|r| r.web_identity_token().map(str::to_owned))
            .collect();
        assert_eq!(
            tokens,
            f.minted(),
            "{name}: a fresh token for every STS call"
        );
        assert_eq!(tokens.len(), 3);
        assert!(tokens[0] != tokens[1] && tokens[1] != tokens[2], "{name}");
    }
}

/// Throttling gets 8 attempts by default (a burst of cold instances spreads itself out), the
/// other retryable failures 4; an explicit `max_attempts` bounds both.
#[tokio::test(start_paused = true)]
async fn throttling_is_retried_longer_by_default() {
    let f = fixture().await;
    f.sts.inject(7, StsFault::Throttling);
    let provider = f.builder().build().expect("valid");
    creds(&provider)
        .await
        .expect("the 8th attempt gets through");
    assert_eq!(f.sts.calls(), 8);

    let f = fixture().await;
    f.sts.inject_always(StsFault::Throttling);
    let provider = f.builder().build().expect("valid");
    let err = creds(&provider).await.expect_err("throttled");
    assert!(
        chain(&err).contains("after 8 attempt(s)"),
        "{}",
        chain(&err)
    );
    assert_eq!(f.sts.calls(), 8);

    let f = fixture().await;
    f.sts.faults().always(Endpoint::Sts, Fault::Status(503));
    let provider = f.builder().build().expect("valid");
    creds(&provider).await.expect_err("unavailable");
    assert_eq!(f.sts.calls(), 4, "other failures: 4 attempts");
}

#[tokio::test(start_paused = true)]
async fn retries_are_bounded() {
    let f = fixture().await;
    f.sts.inject_always(StsFault::Throttling);
    let provider = f.builder().max_attempts(3).build().expect("valid");
    let err = creds(&provider).await.expect_err("throttled");
    assert!(matches!(err, CredentialsError::ProviderError(_)), "{err:?}");
    let text = chain(&err);
    assert!(text.contains("Throttling"), "{text}");
    assert!(text.contains("after 3 attempt(s)"), "{text}");
    assert_eq!(f.sts.calls(), 3);

    let f = fixture().await;
    f.sts
        .faults()
        .always(Endpoint::Sts, Fault::Delay(Duration::from_secs(60)));
    let provider = f
        .builder()
        .attempt_timeout(Duration::from_secs(2))
        .build()
        .expect("valid");
    let err = creds(&provider).await.expect_err("timed out");
    assert!(
        matches!(&err, CredentialsError::ProviderTimedOut(t) if t.timeout_duration() == Duration::from_secs(2)),
        "{err:?}"
    );
    assert_eq!(f.sts.calls(), 4, "default: 4 attempts");
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried_and_name_the_cause() {
    struct Case {
        name: &'static str,
        setup: Box<dyn Fn(&Fixture)>,
        builder: Box<dyn Fn(&Fixture) -> AwsCredentialsProviderBuilder>,
        provider_error: bool,
        needle: &'static str,
    }
    let default_builder = || -> Box<dyn Fn(&Fixture) -> AwsCredentialsProviderBuilder> {
        Box::new(|f: &Fixture| f.builder())
    };
    let cases = vec![
        Case {
            name: "injected invalid token",
            setup: Box::new(|f| f.sts.inject(1, StsFault::InvalidIdentityToken)),
            builder: default_builder(),
            provider_error: true,
            needle: "InvalidIdentityToken",
        },
        Case {
            name: "access denied",
            setup: Box::new(|f| f.sts.inject(1, StsFault::AccessDenied)),
            builder: default_builder(),
            provider_error: true,
            needle: "AccessDenied",
        },
        Case {
            name: "idp rejected claim",
            setup: Box::new(|f| f.sts.inject(1, StsFault::IdpRejectedClaim)),
            builder: default_builder(),
            provider_error: true,
            needle: "IDPRejectedClaim (HTTP 403)",
        },
        Case {
            name: "wrong audience (verified by the emulator)",
            setup: Box::new(|_| {}),
            builder: Box::new(|f: &Fixture| {
                let issuer = Arc::clone(&f.issuer);
                f.builder().token_source(token_source_fn(move || {
                    std::future::ready(OidcToken::parse(issuer.token().sign()))
                }))
            }),
            provider_error: true,
            needle: "Incorrect token audience",
        },
        Case {
            name: "forged signature",
            setup: Box::new(|_| {}),
            builder: Box::new(|f: &Fixture| {
                let issuer = Arc::clone(&f.issuer);
                f.builder().token_source(token_source_fn(move || {
                    let kid = issuer.current_kid();
                    std::future::ready(OidcToken::parse(
                        issuer
                            .token()
                            .audience(AUD)
                            .kid(kid)
                            .sign_with_unknown_key(),
                    ))
                }))
            }),
            provider_error: true,
            needle: "signature could not be verified",
        },
        Case {
            name: "duration above the role's maximum",
            setup: Box::new(|_| {}),
            builder: Box::new(|f: &Fixture| f.builder().duration(Duration::from_secs(43_200))),
            provider_error: false,
            needle: "ValidationError",
        },
    ];
    for case in cases {
        let f = fixture().await;
        let f = if case.name.starts_with("duration") {
            // A role whose maximum session is 1 hour.
            let sts = Sts::builder(f.issuer.team_issuer(), AUD)
                .max_session_duration(Duration::from_secs(3600))
                .start()
                .await
                .expect("sts");
            Fixture { sts, ..f }
        } else {
            f
        };
        (case.setup)(&f);
        let provider = (case.builder)(&f).build().expect("valid");
        let err = creds(&provider).await.expect_err(case.name);
        if case.provider_error {
            assert!(
                matches!(err, CredentialsError::ProviderError(_)),
                "{}: {err:?}",
                case.name
            );
        } else {
            assert!(
                matches!(err, CredentialsError::InvalidConfiguration(_)),
                "{}: {err:?}",
                case.name
            );
        }
        let text = chain(&err);
        assert!(text.contains(case.needle), "{}: {text}", case.name);
        assert!(text.contains(ROLE), "{}: names the role: {text}", case.name);
        assert_eq!(f.sts.calls(), 1, "{}: not retried", case.name);
    }
}

/// A token source failure: a transient one is retried, with a backoff, until `max_attempts`
/// fetches in all; any other is returned at once. Neither reaches STS.
#[tokio::test(start_paused = true)]
async fn token_source_failures_are_retried_only_when_transient() {
    let f = fixture().await;
    let fetches = Arc::new(AtomicUsize::new(0));
    let failing = |transient: bool| {
        let fetches = Arc::clone(&fetches);
        token_source_fn(move || {
            fetches.fetch_add(1, Ordering::SeqCst);
            std::future::ready(if transient {
                Err(vercel_oidc::Error::TokenFileUnreadable {
                    path: "/run/token".into(),
                    source: Arc::new(std::io::Error::other("busy")),
                })
            } else {
                OidcToken::parse("not-a-jwt")
            })
        })
    };
    let backoff = Duration::from_secs(10);
    let provider = f
        .builder()
        .max_attempts(3)
        .initial_backoff(backoff)
        .max_backoff(backoff)
        .token_source(failing(true))
        .build()
        .expect("valid");
    let started = tokio::time::Instant::now();
    let err = provider.credentials().await.expect_err("unreadable");
    let waited = started.elapsed();
    assert!(err.to_string().contains("token"), "{err}");
    assert_eq!(fetches.load(Ordering::SeqCst), 3, "one fetch per attempt");
    // Two backoffs of up to 10 s each (full jitter): some wait, never more than the caps.
    assert!(
        waited > Duration::ZERO && waited <= 2 * backoff,
        "{waited:?}"
    );

    fetches.store(0, Ordering::SeqCst);
    let provider = f
        .builder()
        .max_attempts(3)
        .initial_backoff(backoff)
        .token_source(failing(false))
        .build()
        .expect("valid");
    let started = tokio::time::Instant::now();
    provider.credentials().await.expect_err("malformed");
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "not retried");
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(f.sts.calls(), 0);
}

/// A rejection says what the token's claims suggest is wrong (from the claims, never the
/// token itself).
#[tokio::test(start_paused = true)]
async fn rejections_name_the_likely_cause() {
    let f = fixture().await;
    f.sts.inject(1, StsFault::AccessDenied);
    let provider = f.builder().build().expect("valid");
    let err = provider.credentials().await.expect_err("access denied");
    let hint = err.hint().expect("a hint");
    assert_eq!(hint.mismatch, "subject or role");
    assert!(
        err.to_string().contains("Likely cause (subject or role)"),
        "{err}"
    );
    for token in f.minted() {
        assert!(!err.to_string().contains(&token));
    }
}

#[tokio::test(start_paused = true)]
async fn subject_trust_is_enforced() {
    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let sts = Sts::builder(issuer.team_issuer(), AUD)
        .subject("owner:someone-else:project:x:environment:production")
        .start()
        .await
        .expect("sts");
    let f = Fixture {
        issuer,
        sts,
        clock: SharedClock::new(TokioClock::new()),
        minted: Arc::default(),
    };
    let err = creds(&f.builder().build().expect("valid"))
        .await
        .expect_err("wrong subject");
    assert!(chain(&err).contains("AccessDenied"), "{}", chain(&err));
}

#[tokio::test(start_paused = true)]
async fn expired_token_fetches_a_new_token_once() {
    let f = fixture().await;
    f.sts.inject(1, StsFault::ExpiredToken);
    let provider = f.builder().build().expect("valid");
    creds(&provider).await.expect("second token works");
    assert_eq!(f.sts.calls(), 2);
    let tokens = f.minted();
    assert_eq!(tokens.len(), 2);
    assert_ne!(tokens[0], tokens[1]);

    // A source whose first token really is expired (checked by the emulator against its exp).
    let f = fixture().await;
    let issuer = Arc::clone(&f.issuer);
    let clock = f.clock.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let provider = f
        .builder()
        .token_source(token_source_fn(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            let token = issuer.token().audience(AUD);
            let token = if n == 0 {
                token
                    .issued_at(clock.now() - Duration::from_secs(7200))
                    .lifetime(Duration::from_secs(3600))
            } else {
                token.issued_at(clock.now())
            };
            std::future::ready(OidcToken::parse(token.sign()))
        }))
        .build()
        .expect("valid");
    creds(&provider).await.expect("refetched token works");
    assert_eq!(f.sts.calls(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // The source hands back the same token: no second STS call.
    let f = fixture().await;
    f.sts.inject(1, StsFault::ExpiredToken);
    let fixed = f
        .issuer
        .token()
        .audience(AUD)
        .issued_at(f.clock.now())
        .sign();
    let provider = f
        .builder()
        .token_source(vercel_oidc::FixedTokenSource::new(
            OidcToken::parse(fixed).expect("jwt"),
        ))
        .build()
        .expect("valid");
    let err = creds(&provider).await.expect_err("same token");
    assert!(
        chain(&err).contains("ExpiredTokenException"),
        "{}",
        chain(&err)
    );
    assert_eq!(f.sts.calls(), 1);

    // Always expired: one retry only, then a provider error naming the code.
    let f = fixture().await;
    f.sts.inject_always(StsFault::ExpiredToken);
    let err = creds(&f.builder().build().expect("valid"))
        .await
        .expect_err("still expired");
    assert!(matches!(err, CredentialsError::ProviderError(_)));
    assert!(chain(&err).contains("ExpiredTokenException"));
    assert_eq!(f.sts.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn no_token_is_not_loaded_and_source_errors_are_typed() {
    let f = fixture().await;
    let provider = f
        .builder()
        .token_source(token_source_fn(|| {
            std::future::ready(Err(vercel_oidc::Error::NotConfigured {
                origin: TokenOrigin::Env("VERCEL_OIDC_TOKEN".into()),
            }))
        }))
        .build()
        .expect("valid");
    let err = creds(&provider).await.expect_err("no token");
    assert!(
        matches!(err, CredentialsError::CredentialsNotLoaded(_)),
        "{err:?}"
    );

    // The default Vercel chain with an empty environment: not loaded too.
    let provider = AwsCredentialsProvider::builder(ROLE)
        .env(Env::from_pairs([("AWS_REGION", "eu-west-1")]))
        .endpoint_url(f.sts.endpoint_url())
        .build()
        .expect("valid");
    let err = creds(&provider).await.expect_err("no token");
    assert!(
        matches!(err, CredentialsError::CredentialsNotLoaded(_)),
        "{err:?}"
    );

    // The default chain reads VERCEL_OIDC_TOKEN from the builder's Env.
    let token = f
        .issuer
        .token()
        .audience(AUD)
        .issued_at(f.clock.now())
        .sign();
    let provider = AwsCredentialsProvider::builder(ROLE)
        .env(Env::from_pairs([
            ("AWS_REGION", "eu-west-1"),
            ("VERCEL_OIDC_TOKEN", token.as_str()),
        ]))
        .endpoint_url(f.sts.endpoint_url())
        .time_source(f.clock.clone())
        .build()
        .expect("valid");
    creds(&provider).await.expect("credentials");
    assert_eq!(
        f.sts
            .last_request()
            .and_then(|r| r.web_identity_token().map(str::to_owned)),
        Some(token)
    );

    // A malformed token is a provider error, not "not loaded".
    let provider = f
        .builder()
        .token_source(token_source_fn(|| {
            std::future::ready(OidcToken::parse("not-a-jwt"))
        }))
        .build()
        .expect("valid");
    let err = creds(&provider).await.expect_err("malformed");
    assert!(matches!(err, CredentialsError::ProviderError(_)), "{err:?}");
    assert_eq!(f.sts.calls(), 1, "no STS call for a malformed token");
}

#[tokio::test(start_paused = true)]
async fn audience_exchange_happens_first() {
    let f = fixture().await;
    let issuer = Arc::clone(&f.issuer);
    let clock = f.clock.clone();
    let provider = AwsCredentialsProvider::builder(ROLE)
        .env(Env::from_pairs([
            ("AWS_REGION", "eu-west-1"),
            ("VERCEL_OIDC_ISSUER_URL", f.issuer.team_issuer().as_str()),
        ]))
        .endpoint_url(f.sts.endpoint_url())
        .time_source(f.clock.clone())
        // The Vercel token has the default audience, which the STS trust does not accept.
        .token_source(token_source_fn(move || {
            // `iat` on the paused clock (ahead of real time after a backoff), `nbf` on the real
            // one: the issuer emulator checks `nbf` against the wall clock.
            std::future::ready(OidcToken::parse(
                issuer
                    .token()
                    .issued_at(clock.now())
                    .not_before(vercel_oidc::time::SystemClock.now() - Duration::from_secs(1))
                    .sign(),
            ))
        }))
        .audience(AUD)
        .jti("abc-123")
        .build()
        .expect("valid");
    // The exchange fails once (a transient error of the token source): retried.
    f.issuer
        .faults()
        .next(Endpoint::Exchange, 1, Fault::Status(503));
    creds(&provider).await.expect("exchanged token accepted");
    assert_eq!(f.issuer.requests(Endpoint::Exchange), 2);
    assert_eq!(f.sts.calls(), 1);
    let sent = f.sts.last_request().expect("recorded");
    let sent = OidcToken::parse(sent.web_identity_token().expect("token")).expect("jwt");
    assert!(
        sent.unverified_claims()
            .aud
            .as_ref()
            .is_some_and(|a| a.contains(AUD))
    );
    assert_eq!(
        sent.unverified_claims().jti.as_deref(),
        Some("abc-123"),
        "jti reaches the exchange"
    );
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_cold_callers_one_sts_call() {
    let f = fixture().await;
    f.sts
        .faults()
        .always(Endpoint::Sts, Fault::Delay(Duration::from_millis(250)));
    let provider = f.builder().build().expect("valid");
    let tasks: Vec<_> = (0..10_000)
        .map(|_| {
            let p = provider.clone();
            tokio::spawn(async move { p.provide_credentials().await })
        })
        .collect();
    for task in tasks {
        let c = task.await.expect("join").expect("credentials");
        assert!(same(&c, &f.sts.issued()[0]));
    }
    assert_eq!(f.sts.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn refresh_window_nobody_waits_and_one_sts_call() {
    let f = fixture().await;
    let provider = f.builder().build().expect("valid");
    let first = creds(&provider).await.expect("credentials");
    f.sts
        .faults()
        .always(Endpoint::Sts, Fault::Delay(Duration::from_millis(250)));
    // 4 minutes before expiry: inside the 5-minute window, still valid.
    tokio::time::advance(Duration::from_secs(3600 - 240)).await;
    for _ in 0..1_000 {
        let c = provider
            .provide_credentials()
            .now_or_never()
            .expect("answered without waiting")
            .expect("credentials");
        assert_eq!(c.access_key_id(), first.access_key_id());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(f.sts.calls(), 2, "exactly one background refresh");
    let fresh = provider
        .provide_credentials()
        .now_or_never()
        .expect("no wait")
        .expect("credentials");
    assert!(same(&fresh, &f.sts.issued()[1]));
}

#[tokio::test(start_paused = true)]
async fn timer_refreshes_without_callers() {
    let f = fixture().await;
    let provider = f.builder().build().expect("valid");
    creds(&provider).await.expect("credentials");
    tokio::time::sleep(Duration::from_secs(3600 - 301)).await;
    assert_eq!(f.sts.calls(), 1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        f.sts.calls(),
        2,
        "refreshed at the window start with no caller"
    );
}

#[tokio::test(start_paused = true)]
async fn failing_refresh_serves_until_expiry_then_errors() {
    let f = fixture().await;
    let provider = f.builder().build().expect("valid");
    let first = creds(&provider).await.expect("credentials");
    f.sts.inject_always(StsFault::Throttling);
    tokio::time::advance(Duration::from_secs(3600 - 299)).await;
    for _ in 0..297 {
        let c = provider
            .provide_credentials()
            .now_or_never()
            .expect("no wait")
            .expect("no error before expiry");
        assert_eq!(c.access_key_id(), first.access_key_id());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let calls = f.sts.calls();
    assert!(
        (2..=120).contains(&calls),
        "background retries are bounded by backoff: {calls}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let err = creds(&provider).await.expect_err("expired and failing");
    assert!(chain(&err).contains("Throttling"), "{}", chain(&err));
}

#[tokio::test(start_paused = true)]
async fn already_expired_credentials_are_an_error() {
    let f = fixture().await;
    f.sts.inject(1, StsFault::ExpiredCredentials);
    let provider = f.builder().build().expect("valid");
    let err = creds(&provider).await.expect_err("expired credentials");
    assert!(matches!(err, CredentialsError::ProviderError(_)), "{err:?}");
    assert!(chain(&err).contains("already expired"), "{}", chain(&err));
    assert_eq!(provider.expires_at(), None, "nothing cached");
    // The next call loads again and succeeds.
    creds(&provider).await.expect("credentials");
    assert_eq!(f.sts.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn short_lived_credentials_do_not_storm() {
    let f = fixture().await;
    f.sts
        .inject_always(StsFault::ShortLivedCredentials(Duration::from_secs(60)));
    let provider = f.builder().build().expect("valid");
    creds(&provider).await.expect("credentials");
    for _ in 0..60 {
        let _ = provider.provide_credentials().now_or_never();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let calls = f.sts.calls();
    assert!(
        (3..=7).contains(&calls),
        "gaps double: {calls} calls in 30 s"
    );
}

#[tokio::test(start_paused = true)]
async fn invalidate_forces_a_new_load() {
    let f = fixture().await;
    let provider = f.builder().build().expect("valid");
    let a = creds(&provider).await.expect("credentials");
    assert_eq!(
        provider
            .fallback_on_interrupt()
            .map(|c| c.access_key_id().to_owned()),
        Some(a.access_key_id().to_owned())
    );
    let clone = provider.clone();
    clone.invalidate();
    assert!(
        provider.fallback_on_interrupt().is_none(),
        "clones share the cache"
    );
    let b = creds(&provider).await.expect("credentials");
    assert_ne!(a.access_key_id(), b.access_key_id());
    assert_eq!(f.sts.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn debug_is_redacted() {
    let f = fixture().await;
    let provider = f
        .builder()
        .role_session_name("dbg")
        .region(aws_types::region::Region::new("eu-west-1"))
        .build()
        .expect("valid");
    assert_eq!(
        format!("{provider:?}"),
        format!(
            "AwsCredentialsProvider {{ role_arn: \"{ROLE}\", session_name: \"dbg\", region: \
             Some(\"eu-west-1\"), endpoint_url: Some(\"{}\"), expires_at: None, .. }}",
            f.sts.endpoint_url()
        )
    );
    let c = creds(&provider).await.expect("credentials");
    let debug = format!("{provider:?} {c:?}");
    assert!(!debug.contains(c.secret_access_key()));
    assert!(!debug.contains(c.session_token().expect("token")));
    for token in f.minted() {
        assert!(!debug.contains(&token));
    }
    let invalid = vercel_oidc_aws::aws_credentials_provider("not-an-arn");
    assert_eq!(
        format!("{invalid:?}"),
        "AwsCredentialsProvider { invalid: \"invalid configuration: role ARN \\\"not-an-arn\\\" \
         is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)\" }"
    );
}

/// Through `aws_config::defaults(..).credentials_provider(..)`: an STS client built from that
/// config signs `GetCallerIdentity` with the credentials (the emulator checks the SigV4
/// signature), and many SDK clients share one STS call.
#[tokio::test]
async fn works_through_aws_config_and_sdk_clients() {
    let f = fixture().await;
    let provider = f.builder().build().expect("valid");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new("eu-west-1"))
        .endpoint_url(f.sts.endpoint_url())
        .credentials_provider(provider.clone())
        .load()
        .await;
    let clients: Vec<aws_sdk_sts::Client> =
        (0..3).map(|_| aws_sdk_sts::Client::new(&config)).collect();
    let calls: Vec<_> = (0..60)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            tokio::spawn(async move { client.get_caller_identity().send().await })
        })
        .collect();
    for call in calls {
        let me = call.await.expect("join").unwrap_or_else(|e| {
            panic!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(e)
            )
        });
        assert_eq!(me.account(), Some("123456789012"));
        assert_eq!(me.user_id(), Some(f.sts.issued()[0].access_key_id.as_str()));
    }
    assert_eq!(f.sts.caller_identity_calls(), 60);
    assert_eq!(
        f.sts.calls(),
        1,
        "one AssumeRoleWithWebIdentity for every client"
    );
}

#[tokio::test(start_paused = true)]
async fn ca_file_is_used_or_reported() {
    let f = fixture().await;
    let base = |ca: &str| {
        AwsCredentialsProvider::builder(ROLE)
            .env(Env::from_pairs([
                ("AWS_REGION", "eu-west-1"),
                ("VERCEL_OIDC_CA_FILE", ca),
            ]))
            .endpoint_url(f.sts.endpoint_url())
            .token_source(f.rotating())
            .time_source(f.clock.clone())
    };
    let err = base("/nonexistent/ca.pem")
        .build()
        .expect_err("missing CA file");
    assert!(err.is_invalid_configuration());
    assert!(
        chain(&err).contains("VERCEL_OIDC_CA_FILE"),
        "{}",
        chain(&err)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ca.pem");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    std::fs::write(&path, cert.cert.pem()).expect("write");
    let provider = base(path.to_str().expect("utf-8"))
        .build()
        .expect("a valid CA file");
    // The STS client with the extra roots still reaches a plain-HTTP endpoint.
    creds(&provider).await.expect("credentials");
    assert_eq!(f.sts.calls(), 1);
}

/// An HTTPS STS whose certificate only `VERCEL_OIDC_CA_FILE` makes trusted: the extra roots
/// reach the STS client's TLS, and without them the handshake fails.
#[tokio::test]
async fn ca_file_roots_reach_the_sts_client_tls() {
    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let sts = Sts::builder(issuer.team_issuer(), AUD)
        .https()
        .start()
        .await
        .expect("https sts");
    assert!(sts.endpoint_url().starts_with("https://127.0.0.1:"));
    let f = Fixture {
        issuer,
        sts,
        clock: SharedClock::new(TokioClock::new()),
        minted: Arc::default(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, f.sts.ca_pem().expect("a CA")).expect("write");
    let with_ca = |env: Env| {
        AwsCredentialsProvider::builder(ROLE)
            .env(env)
            .endpoint_url(f.sts.endpoint_url())
            .token_source(f.rotating())
            .max_attempts(2)
            .initial_backoff(Duration::from_millis(1))
    };

    let untrusted = with_ca(Env::from_pairs([("AWS_REGION", "eu-west-1")]))
        .build()
        .expect("valid");
    let err = creds(&untrusted).await.expect_err("unknown CA");
    assert!(matches!(err, CredentialsError::ProviderError(_)), "{err:?}");
    assert!(
        chain(&err).contains("after 2 attempt(s)"),
        "{}",
        chain(&err)
    );
    assert_eq!(f.sts.calls(), 0, "no request got through the handshake");

    let trusted = with_ca(Env::from_pairs([
        ("AWS_REGION", "eu-west-1"),
        ("VERCEL_OIDC_CA_FILE", path.to_str().expect("utf-8")),
    ]))
    .build()
    .expect("valid");
    let c = creds(&trusted)
        .await
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert!(same(&c, &f.sts.issued()[0]));
    assert_eq!(f.sts.calls(), 1);
}
