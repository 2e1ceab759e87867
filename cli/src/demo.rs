//! `vercel-oidc demo`: the whole flow, against in-process emulators (real services only with
//! `--real`).
//!
//! 1. a token (the local issuer mints one; with `VERCEL_OIDC_TOKEN`/`VERCEL_OIDC_TOKEN_FILE` set,
//!    the real one), read back through the Vercel token chain;
//! 2. AWS credentials from STS `AssumeRoleWithWebIdentity` (the emulator, or real STS with
//!    `AWS_ROLE_ARN`), then `GetCallerIdentity` signed with them through the AWS SDK;
//! 3. an Azure access token from Entra (the HTTPS emulator, or real Entra with `AZURE_TENANT_ID`
//!    and `AZURE_CLIENT_ID`);
//! 4. a call to an API on 127.0.0.1 that verifies the token (JWKS, issuer, audience), and a
//!    forged token it rejects;
//! 5. a real `vercel_runtime` function (this binary's hidden `__demo-function`) run under the
//!    testkit's `VercelHost` as the platform runs it: each invocation's header token becomes AWS
//!    credentials, `wait_until` updates the Runtime Cache after the response, and the
//!    invocation ends only once that has settled. Always local (unix only).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::provider::ProvideCredentials as _;
use azure_core::credentials::TokenCredential as _;
use clap::Args;
use vercel_oidc::bearer::BearerAuth;
use vercel_oidc::verify::{Constraint, ExpectedIssuer, VerifiedClaims, Verifier};
use vercel_oidc::{
    ENV_TOKEN, ENV_TOKEN_FILE, Env, FixedTokenSource, OidcToken, TokenSource, VercelTokenSource,
};
use vercel_oidc_aws::AwsCredentialsProvider;
use vercel_oidc_azure::AzureCredential;
use vercel_oidc_testkit::entra::{Entra, FederatedCredential};
use vercel_oidc_testkit::{Issuer, Sts};

use crate::token::describe_expiry;
use crate::{Failure, printable};

/// Arguments of `vercel-oidc demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Use the real Vercel token of this environment (VERCEL_OIDC_TOKEN or
    /// VERCEL_OIDC_TOKEN_FILE) and, where configured, real STS (AWS_ROLE_ARN, AWS_REGION) and
    /// Entra (AZURE_TENANT_ID, AZURE_CLIENT_ID). Without it the demo never leaves 127.0.0.1,
    /// whatever the environment holds.
    #[arg(long, conflicts_with = "offline")]
    real: bool,
    /// Only the local emulators (the default; kept for scripts that pass it).
    #[arg(long, hide = true)]
    offline: bool,
    /// Azure scope to request in real mode.
    #[arg(
        long,
        env = "AZURE_SCOPE",
        default_value = "https://management.azure.com/.default"
    )]
    azure_scope: String,
}

fn fail(step: &str) -> impl Fn(Box<dyn std::error::Error + Send + Sync>) -> Failure + '_ {
    move |e| Failure::message(format!("demo step \"{step}\" failed: {}", chain(&*e)))
}

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn ms(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

pub(crate) async fn demo(args: DemoArgs, env: &Env) -> Result<(), Failure> {
    let started = Instant::now();
    let real_token = args.real;
    if real_token
        && env.get_non_empty(ENV_TOKEN).is_none()
        && env.get_non_empty(ENV_TOKEN_FILE).is_none()
    {
        return Err(Failure::message(format!(
            "demo --real needs a Vercel token: set {ENV_TOKEN} (vercel env pull) or \
             {ENV_TOKEN_FILE}"
        )));
    }
    println!(
        "vercel-oidc demo: {}",
        if real_token {
            "using the Vercel token from this environment"
        } else {
            "everything runs on 127.0.0.1 (no network, no cloud account)"
        }
    );

    // Emulators (always started: the own-API step and any cloud without real settings use them).
    let issuer = Arc::new(
        Issuer::builder()
            .team_slug("acme")
            .project("demo-app")
            .start()
            .await
            .map_err(|e| fail("start the issuer")(e.into()))?,
    );

    // 1. The token, read back through the chain the library uses everywhere.
    println!("\n1. Vercel OIDC token");
    // Private (0700) and removed when the demo ends.
    let tmp = tempfile::tempdir().map_err(|e| fail("create a temp dir")(e.into()))?;
    let dir = tmp.path();
    let token = if real_token {
        VercelTokenSource::builder()
            .env(env.clone())
            .build()
            .token()
            .await
            .map_err(|e| fail("read the token")(e.into()))?
    } else {
        let raw = issuer.token().lifetime(Duration::from_secs(3600)).sign();
        let file = dir.join("oidc-token");
        std::fs::write(&file, &raw).map_err(|e| fail("write the token file")(e.into()))?;
        println!(
            "   the local issuer {} minted a token into {}",
            issuer.team_issuer(),
            file.display()
        );
        let chain_env = Env::from_pairs([(ENV_TOKEN_FILE, file.display().to_string())]);
        VercelTokenSource::builder()
            .env(chain_env)
            .without_slot()
            .build()
            .token()
            .await
            .map_err(|e| fail("read the token")(e.into()))?
    };
    let claims = token.unverified_claims();
    println!("   read back through the token chain: {token:?}");
    // Claim strings are the token issuer's (or, with a real token, anyone's): escaped, so control
    // characters cannot drive the terminal.
    println!("   iss {}", printable(claims.iss.as_deref().unwrap_or("-")));
    println!("   sub {}", printable(claims.sub.as_deref().unwrap_or("-")));
    println!(
        "   aud {}",
        serde_json::to_string(&claims.aud).unwrap_or_default()
    );
    println!(
        "   {}",
        describe_expiry(token.expires_at(), SystemTime::now())
    );

    aws_step(&issuer, &token, env, real_token).await?;
    azure_step(&issuer, &token, env, real_token, &args.azure_scope, dir).await?;
    gcp_step(&issuer, &token, env, real_token).await?;
    own_api_step(&issuer, &token, real_token).await?;
    function_step(&issuer).await?;

    println!("\ndone in {}", ms(started.elapsed()));
    Ok(())
}

async fn aws_step(
    issuer: &Issuer,
    token: &OidcToken,
    env: &Env,
    real: bool,
) -> Result<(), Failure> {
    println!("\n2. AWS credentials (STS AssumeRoleWithWebIdentity)");
    let role = "arn:aws:iam::123456789012:role/vercel-demo";
    let (provider, sts) = if real {
        let Some(role) = env.get_non_empty("AWS_ROLE_ARN") else {
            println!("   skipped: set AWS_ROLE_ARN (and AWS_REGION) to use real STS");
            return Ok(());
        };
        let provider = AwsCredentialsProvider::builder(role)
            .env(env.clone())
            .build()
            .map_err(|e| fail("configure AWS")(e.into()))?;
        (provider, None)
    } else {
        let audience = token
            .unverified_claims()
            .aud
            .as_ref()
            .and_then(|a| a.iter().next().map(str::to_owned))
            .unwrap_or_else(|| issuer.default_audience());
        let sts = Sts::builder(issuer.team_issuer(), audience)
            .start()
            .await
            .map_err(|e| fail("start the STS emulator")(e.into()))?;
        println!(
            "   STS emulator {} trusts {}",
            sts.endpoint_url(),
            issuer.team_issuer()
        );
        let provider = AwsCredentialsProvider::builder(role)
            .env(Env::from_pairs([("AWS_REGION", "eu-west-1")]))
            .endpoint_url(sts.endpoint_url())
            .token_source(FixedTokenSource::new(token.clone()))
            .role_session_name("vercel-oidc-demo")
            .build()
            .map_err(|e| fail("configure AWS")(e.into()))?;
        (provider, Some(sts))
    };
    let t = Instant::now();
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| fail("assume the role")(e.into()))?;
    let first = t.elapsed();
    let t = Instant::now();
    provider
        .provide_credentials()
        .await
        .map_err(|e| fail("cached credentials")(e.into()))?;
    let cached = t.elapsed();
    println!(
        "   assumed {} in {}: access key {}, {}",
        provider.role_arn(),
        ms(first),
        credentials.access_key_id(),
        describe_expiry(credentials.expiry(), SystemTime::now())
    );
    println!("   second call served from the cache in {}", ms(cached));

    // The SDK signs a real call with them.
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .credentials_provider(provider.clone());
    if let Some(sts) = &sts {
        loader = loader
            .region(aws_types::region::Region::new("eu-west-1"))
            .endpoint_url(sts.endpoint_url());
    }
    let config = loader.load().await;
    let me = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| fail("GetCallerIdentity")(e.into()))?;
    println!(
        "   AWS SDK GetCallerIdentity (SigV4-signed with them): {}",
        me.arn().unwrap_or("-")
    );
    if let Some(sts) = &sts {
        println!(
            "   STS saw {} AssumeRoleWithWebIdentity call(s)",
            sts.calls()
        );
    }
    Ok(())
}

async fn azure_step(
    issuer: &Issuer,
    token: &OidcToken,
    env: &Env,
    real: bool,
    real_scope: &str,
    dir: &std::path::Path,
) -> Result<(), Failure> {
    println!("\n3. Azure access token (Entra client assertion)");
    let (credential, entra, scope) = if real {
        let (Some(_), Some(_)) = (
            env.get_non_empty("AZURE_TENANT_ID"),
            env.get_non_empty("AZURE_CLIENT_ID"),
        ) else {
            println!("   skipped: set AZURE_TENANT_ID and AZURE_CLIENT_ID to use real Entra");
            return Ok(());
        };
        let credential = AzureCredential::builder()
            .env(env.clone())
            .build()
            .map_err(|e| fail("configure Azure")(e.into()))?;
        (credential, None, real_scope.to_owned())
    } else {
        let entra = Entra::builder()
            .federated_credential(FederatedCredential::for_issuer(issuer))
            .start()
            .await
            .map_err(|e| fail("start the Entra emulator")(e.into()))?;
        println!(
            "   Entra emulator {} (HTTPS, its own CA) with a federated credential for {}",
            entra.authority(),
            issuer.team_issuer()
        );
        // Trust the emulator's CA the way users do: VERCEL_OIDC_CA_FILE.
        let ca = dir.join("entra-ca.pem");
        std::fs::write(&ca, entra.ca_pem()).map_err(|e| fail("write the CA file")(e.into()))?;
        let credential = AzureCredential::builder()
            .tenant_id(entra.tenant_id())
            .client_id(entra.client_id())
            .authority_host(entra.authority())
            .token_source(FixedTokenSource::new(token.clone()))
            .env(Env::from_pairs([(
                vercel_oidc::CA_FILE_ENV,
                ca.display().to_string(),
            )]))
            .build()
            .map_err(|e| fail("configure Azure")(e.into()))?;
        (
            credential,
            Some(entra),
            "https://vault.azure.net/.default".to_owned(),
        )
    };
    let t = Instant::now();
    let access = credential
        .get_token(&[scope.as_str()], None)
        .await
        .map_err(|e| fail("get an Azure token")(e.into()))?;
    let first = t.elapsed();
    let t = Instant::now();
    credential
        .get_token(&[scope.as_str()], None)
        .await
        .map_err(|e| fail("cached Azure token")(e.into()))?;
    let cached = t.elapsed();
    println!(
        "   access token for {scope} in {} ({} bytes, not shown), expires {}",
        ms(first),
        access.token.secret().len(),
        access.expires_on
    );
    println!("   second call served from the cache in {}", ms(cached));
    if let Some(entra) = &entra {
        println!("   Entra saw {} token request(s)", entra.requests());
    }
    Ok(())
}

/// Google Cloud: the STS exchange and service account impersonation, against the emulator
/// (or, with `--real` and Vercel's GCP_* variables, Google).
async fn gcp_step(
    issuer: &Issuer,
    token: &OidcToken,
    env: &Env,
    real: bool,
) -> Result<(), Failure> {
    use vercel_oidc_testkit::gcp::{Gcp, ServiceAccount, WorkloadIdentityProvider};
    println!("\n3b. Google Cloud access token (workload identity federation)");
    let gcp_fail = |e: vercel_oidc_gcp::Error| fail("get a Google Cloud token")(e.into());
    let (credentials, emulator) = if real {
        if env.get_non_empty("GCP_PROJECT_NUMBER").is_none() {
            println!(
                "   skipped: set GCP_PROJECT_NUMBER, GCP_WORKLOAD_IDENTITY_POOL_ID and GCP_WORKLOAD_IDENTITY_POOL_PROVIDER_ID to use Google"
            );
            return Ok(());
        }
        let credentials = vercel_oidc_gcp::GcpCredentials::builder()
            .env(env.clone())
            .build();
        (credentials.map_err(gcp_fail)?, None)
    } else {
        let provider = WorkloadIdentityProvider::for_issuer(issuer);
        let account = "demo-app@demo-project.iam.gserviceaccount.com";
        let gcp = Gcp::builder()
            .provider(provider.clone())
            .service_account(ServiceAccount::new(account))
            .start()
            .await
            .map_err(|e| fail("start the Google emulator")(e.into()))?;
        println!(
            "   Google STS + IAM Credentials emulator {} trusting {}",
            gcp.base_url(),
            issuer.team_issuer()
        );
        let credentials = vercel_oidc_gcp::GcpCredentials::builder()
            .env(Env::from_pairs::<&str, &str>([]))
            .audience(provider.resource_name())
            .service_account(account)
            .token_url(gcp.token_url())
            .iam_credentials_url(gcp.iam_credentials_url())
            .token_source(FixedTokenSource::new(token.clone()))
            .build()
            .map_err(gcp_fail)?;
        (credentials, Some(gcp))
    };
    let t = Instant::now();
    let access = credentials.access_token().await.map_err(gcp_fail)?;
    let first = t.elapsed();
    let t = Instant::now();
    credentials.access_token().await.map_err(gcp_fail)?;
    println!(
        "   access token for {} in {} ({} bytes, not shown); second call from the cache in {}",
        credentials
            .service_account()
            .unwrap_or("the federated identity"),
        ms(first),
        access.expose_secret().len(),
        ms(t.elapsed())
    );
    if let Some(gcp) = &emulator {
        println!(
            "   STS saw {} exchange(s), IAM Credentials {} call(s)",
            gcp.sts_requests().len(),
            gcp.iam_requests().len()
        );
    }
    Ok(())
}

async fn own_api_step(issuer: &Issuer, token: &OidcToken, real: bool) -> Result<(), Failure> {
    use axum::routing::get;

    println!("\n4. Your own API: a server on 127.0.0.1 that verifies the bearer token");
    let claims = token.unverified_claims();
    let audience = claims
        .aud
        .as_ref()
        .and_then(|a| a.iter().next().map(str::to_owned))
        .unwrap_or_default();
    let mut builder = if real {
        // Real tokens: Vercel's issuer, team or global form, as the token says.
        let iss = claims.iss.clone().unwrap_or_default();
        let expected = match iss.strip_prefix("https://oidc.vercel.com/") {
            Some(team) if !team.is_empty() => ExpectedIssuer::team(team),
            _ => ExpectedIssuer::global(),
        };
        Verifier::builder(expected, audience).env(Env::real())
    } else {
        Verifier::builder(ExpectedIssuer::team(issuer.team_slug()), audience)
            .issuer_base_url(issuer.base_url())
            .env(Env::from_pairs::<&str, &str>([]))
    };
    builder = builder
        .project_id(match &claims.project_id {
            Some(id) => Constraint::one(id.clone()),
            None => Constraint::Any,
        })
        .environment(Constraint::Any)
        .owner_id(Constraint::Any);
    let verifier = builder
        .build()
        .map_err(|e| fail("configure the verifier")(e.into()))?;
    println!(
        "   verifier: issuer {} pinned, audience {}, JWKS {}",
        verifier.issuer(),
        verifier.audience(),
        verifier.jwks_url()
    );
    let app = axum::Router::new()
        .route(
            "/whoami",
            get(|claims: axum::Extension<VerifiedClaims>| async move {
                let c = claims.0.into_inner();
                format!(
                    "hello {} ({})",
                    c.project.unwrap_or_default(),
                    c.environment.unwrap_or_default()
                )
            }),
        )
        .layer(verifier.layer());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| fail("bind the API server")(e.into()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| fail("bind the API server")(e.into()))?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}/whoami");
    let client = reqwest::Client::new();

    let auth = BearerAuth::new(FixedTokenSource::new(token.clone()));
    let t = Instant::now();
    let response = auth
        .apply(client.get(&url))
        .await
        .map_err(|e| fail("attach the bearer")(e.into()))?
        .send()
        .await
        .map_err(|e| fail("call the API")(e.into()))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    println!(
        "   GET {url} with the token → {status} \"{}\" in {}",
        printable(&body),
        ms(t.elapsed())
    );
    if !status.is_success() {
        server.abort();
        return Err(Failure::message(format!(
            "demo step \"own API\" failed: the API answered {status}"
        )));
    }
    if !real {
        let forged = OidcToken::parse(issuer.token().sign_with_unknown_key())
            .map_err(|e| fail("forge a token")(e.into()))?;
        let response = BearerAuth::new(FixedTokenSource::new(forged))
            .apply(client.get(&url))
            .await
            .map_err(|e| fail("attach the bearer")(e.into()))?
            .send()
            .await
            .map_err(|e| fail("call the API")(e.into()))?;
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        println!(
            "   GET {url} with a token signed by an unknown key → {} (WWW-Authenticate: {challenge})",
            response.status()
        );
    }
    server.abort();
    Ok(())
}

/// Step 5: the production shape, a real function under a local Vercel host.
#[cfg(unix)]
async fn function_step(issuer: &Arc<Issuer>) -> Result<(), Failure> {
    use vercel_oidc_testkit::runtime_cache::{CacheOp, RuntimeCache};
    use vercel_oidc_testkit::vercel_host::{HostRequest, VercelHost};

    println!("\n5. A Vercel function: vercel_runtime + VercelFunctionsLayer under a local host");
    let exe = std::env::current_exe().map_err(|e| fail("find this binary")(e.into()))?;
    let sts = Sts::builder(issuer.team_issuer(), issuer.default_audience())
        .start()
        .await
        .map_err(|e| fail("start the STS emulator")(e.into()))?;
    let cache = RuntimeCache::start()
        .await
        .map_err(|e| fail("start the Runtime Cache emulator")(e.into()))?;
    let mut host = VercelHost::builder(exe)
        .arg("__demo-function")
        // Nothing from this environment (no real token or cloud settings) reaches the function.
        .env_clear()
        .env("RUST_LOG", "warn")
        .env(
            "AWS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/vercel-function",
        )
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ENDPOINT_URL_STS", sts.endpoint_url())
        .env("AWS_CONFIG_FILE", "/nonexistent/vercel-oidc-demo/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/vercel-oidc-demo/credentials",
        )
        .env("RUNTIME_CACHE_ENDPOINT", cache.endpoint())
        .env("RUNTIME_CACHE_HEADERS", cache.headers_json())
        .issuer(Arc::clone(issuer))
        .start()
        .await
        .map_err(|e| fail("start the function")(e.into()))?;
    println!(
        "   the function serves on {} (VERCEL_DEV_PORT), IPC on VERCEL_IPC_PATH; VERCEL=1",
        host.base_url()
    );
    let mut result = Ok(());
    for n in 1..=2 {
        let response = match host.invoke(HostRequest::get("/")).await {
            Ok(response) => response,
            Err(e) => {
                result = Err(fail("invoke the function")(e.into()));
                break;
            }
        };
        let body: serde_json::Value = response.json().unwrap_or_default();
        if response.status != 200 {
            result = Err(Failure::message(format!(
                "demo step \"function\" failed: the function answered {}: {}",
                response.status,
                printable(&response.text())
            )));
            break;
        }
        let end = match host.wait_for_end(&response.invocation_id).await {
            Ok(end) => end,
            Err(e) => {
                result = Err(fail("wait for the invocation's end")(e.into()));
                break;
            }
        };
        // This invocation's write (after its request was sent), before its end.
        let written = cache
            .requests_of(CacheOp::Set)
            .last()
            .is_some_and(|set| set.at >= response.sent_at && set.at <= end.at);
        if body["visits"] != n - 1 {
            result = Err(Failure::message(format!(
                "demo step \"function\" failed: invocation {n} read {} visits from the Runtime Cache, not {}",
                body["visits"],
                n - 1
            )));
            break;
        }
        println!(
            "   invocation {n}: its own header token (jti {}) → GetCallerIdentity {}; visits {} from the Runtime Cache",
            printable(body["token_id"].as_str().unwrap_or("-")),
            printable(body["arn"].as_str().unwrap_or("-")),
            body["visits"]
        );
        println!(
            "   the response came {} after the request; end came {} after the response, {} the wait_until write",
            ms(response.responded_at.duration_since(response.sent_at)),
            ms(end.at.duration_since(response.responded_at)),
            if written { "after" } else { "BEFORE" }
        );
        if !written {
            result = Err(Failure::message(
                "demo step \"function\" failed: the invocation ended before its wait_until work",
            ));
            break;
        }
    }
    if result.is_ok() {
        println!(
            "   STS saw {} AssumeRoleWithWebIdentity call(s) for {} signed call(s): the provider's cache outlives invocations",
            sts.calls(),
            sts.caller_identity_calls()
        );
    }
    match host.shutdown().await {
        Ok(status) if status.success() => println!("   SIGTERM: the function drained and exited"),
        Ok(status) => println!("   SIGTERM: the function exited with {status}"),
        Err(e) => {
            if result.is_ok() {
                result = Err(fail("stop the function")(e.into()));
            }
        }
    }
    if result.is_err() {
        eprintln!("{}", host.stderr());
    }
    result
}

/// Step 5 needs unix sockets and signals.
#[cfg(not(unix))]
async fn function_step(_issuer: &Arc<Issuer>) -> Result<(), Failure> {
    println!("\n5. A Vercel function under a local host: skipped (unix only)");
    Ok(())
}
