//! Every `tracing` event of full flows, captured at TRACE by a process-global subscriber, must
//! contain no assertion and no access token. (Its own test binary: a global subscriber sees the
//! callsites of every thread, which a scoped one would miss.)

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Transport};
use vercel_oidc::{Env, OidcToken, token_source_fn};
use vercel_oidc_azure::{AzureCredential, VercelClientAssertion};
use vercel_oidc_testkit::entra::{Entra, EntraFault, FederatedCredential};
use vercel_oidc_testkit::{Endpoint, Fault, Issuer};

#[tokio::test]
async fn trace_logs_of_full_flows_hold_no_assertion_or_token() {
    let logs = vercel_oidc_testkit::capture_logs();

    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let entra = Entra::builder()
        .federated_credential(FederatedCredential::for_issuer(&issuer))
        .federated_credential(
            FederatedCredential::for_issuer(&issuer).with_audience("api://AzureADTokenExchange"),
        )
        .start()
        .await
        .expect("entra");
    let secrets = Arc::new(Mutex::new(Vec::<String>::new()));
    let source = {
        let (issuer, secrets) = (Arc::clone(&issuer), Arc::clone(&secrets));
        token_source_fn(move || {
            let raw = issuer.token().lifetime(Duration::from_secs(3600)).sign();
            secrets
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(raw.clone());
            async move { OidcToken::parse(raw) }
        })
    };
    let options = || ClientOptions {
        transport: Some(Transport::new(Arc::new(entra.reqwest_client()))),
        ..Default::default()
    };

    // The credential: two scopes, a throttled and a faulted load, a cached call.
    let credential = AzureCredential::builder()
        .tenant_id(entra.tenant_id())
        .client_id(entra.client_id())
        .authority_host(entra.authority())
        .client_options(options())
        .token_source(source)
        .env(Env::from_pairs([(
            "VERCEL_OIDC_ISSUER_URL",
            issuer.team_issuer(),
        )]))
        .load_budget(Duration::from_secs(10))
        .build()
        .expect("credential");
    let mut access_tokens = Vec::new();
    entra.inject(
        1,
        EntraFault::Throttle {
            retry_after: Duration::from_millis(10),
        },
    );
    for scope in [
        "https://vault.azure.net/.default",
        "https://storage.azure.com/.default",
    ] {
        let token = credential.get_token(&[scope], None).await.expect("token");
        access_tokens.push(token.token.secret().to_owned());
        entra.faults().next(Endpoint::Entra, 1, Fault::Truncated);
    }
    credential
        .get_token(&["https://vault.azure.net/.default"], None)
        .await
        .expect("cached");

    // The audience exchange, then a rejection.
    let exchanged = AzureCredential::builder()
        .tenant_id(entra.tenant_id())
        .client_id(entra.client_id())
        .authority_host(entra.authority())
        .client_options(options())
        .token_source({
            let (issuer, secrets) = (Arc::clone(&issuer), Arc::clone(&secrets));
            token_source_fn(move || {
                let raw = issuer.token().sign();
                secrets
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(raw.clone());
                async move { OidcToken::parse(raw) }
            })
        })
        .env(Env::from_pairs([(
            "VERCEL_OIDC_ISSUER_URL",
            issuer.team_issuer(),
        )]))
        .audience("api://AzureADTokenExchange")
        .build()
        .expect("credential");
    let token = exchanged
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .expect("exchanged");
    access_tokens.push(token.token.secret().to_owned());
    let rejected = AzureCredential::builder()
        .tenant_id(entra.tenant_id())
        .client_id(entra.client_id())
        .authority_host(entra.authority())
        .client_options(options())
        .token_source({
            let (issuer, secrets) = (Arc::clone(&issuer), Arc::clone(&secrets));
            token_source_fn(move || {
                let raw = issuer.token().audience("wrong").sign();
                secrets
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(raw.clone());
                async move { OidcToken::parse(raw) }
            })
        })
        .env(Env::from_pairs::<&str, &str>([]))
        .build()
        .expect("credential");
    let error = rejected
        .get_token(&["https://vault.azure.net/.default"], None)
        .await
        .expect_err("rejected");
    tracing::error!(%error, ?error, "logged by the application");

    // The stock credential with our assertion.
    let mut cloud = azure_core::cloud::CustomConfiguration::default();
    cloud.authority_host = entra.authority();
    let stock = azure_identity::ClientAssertionCredential::new(
        entra.tenant_id().to_owned(),
        entra.client_id().to_owned(),
        VercelClientAssertion::new({
            let (issuer, secrets) = (Arc::clone(&issuer), Arc::clone(&secrets));
            token_source_fn(move || {
                let raw = issuer.token().sign();
                secrets
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(raw.clone());
                async move { OidcToken::parse(raw) }
            })
        }),
        Some(azure_identity::ClientAssertionCredentialOptions {
            client_options: ClientOptions {
                cloud: Some(Arc::new(cloud.into())),
                ..options()
            },
        }),
    )
    .expect("stock credential");
    let token = stock
        .get_token(&["https://vault.azure.net/.default"], None)
        .await
        .expect("stock token");
    access_tokens.push(token.token.secret().to_owned());

    let text = logs.contents();
    assert!(
        text.contains("requesting an Entra ID token") && text.contains("TRACE"),
        "the flows were logged at TRACE"
    );
    let secrets = secrets
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert!(
        secrets.len() >= 5,
        "assertions were minted: {}",
        secrets.len()
    );
    for secret in secrets.iter().chain(&access_tokens) {
        assert!(
            !text.contains(secret.as_str()),
            "a secret leaked into the logs"
        );
        let signature = secret.rsplit('.').next().unwrap_or_default();
        assert!(
            !text.contains(signature),
            "a token's signature leaked into the logs"
        );
    }
    // Every JWT (assertions, exchanged assertions, access tokens) starts with `eyJ`.
    assert!(!text.contains("eyJ"), "something JWT-shaped is in the logs");
}
