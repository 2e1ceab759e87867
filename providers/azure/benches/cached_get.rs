//! The cached `get_token` path (a warm call answers without waiting or allocating beyond the
//! token's clone): the trait's own floor (a `TokenCredential` that only clones a stored token,
//! through the same `async_trait` box), `AzureCredential` and `azure_identity`'s
//! `ClientAssertionCredential` side by side, all warm, against the testkit's Entra.
//!
//! ```sh
//! cargo bench -p vercel-oidc-azure --bench cached_get
//! ```

use std::sync::Arc;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::http::{ClientOptions, Transport};
use criterion::{Criterion, criterion_group, criterion_main};
use vercel_oidc::{Env, OidcToken, token_source_fn};
use vercel_oidc_azure::{AzureCredential, VercelClientAssertion};
use vercel_oidc_testkit::Issuer;
use vercel_oidc_testkit::entra::{Entra, FederatedCredential};

const SCOPE: &str = "https://vault.azure.net/.default";

/// The floor: what any `TokenCredential` pays to hand out a stored token (the `async_trait` box
/// and the token's clone).
#[derive(Debug)]
struct Floor(AccessToken);

#[async_trait::async_trait]
impl TokenCredential for Floor {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(self.0.clone())
    }
}

fn cached_get(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (_issuer, _entra, ours, stock, floor) = rt.block_on(async {
        let issuer = Arc::new(Issuer::start().await.expect("issuer"));
        let entra = Entra::builder()
            .federated_credential(FederatedCredential::for_issuer(&issuer))
            .start()
            .await
            .expect("entra");
        let minter = Arc::clone(&issuer);
        let source = move || {
            let minter = Arc::clone(&minter);
            token_source_fn(move || {
                let raw = minter.token().sign();
                async move { OidcToken::parse(raw) }
            })
        };
        let options = || ClientOptions {
            transport: Some(Transport::new(Arc::new(entra.reqwest_client()))),
            ..Default::default()
        };
        let ours: Arc<dyn TokenCredential> = AzureCredential::builder()
            .tenant_id(entra.tenant_id())
            .client_id(entra.client_id())
            .authority_host(entra.authority())
            .client_options(options())
            .token_source(source())
            .env(Env::from_pairs::<&str, &str>([]))
            .build()
            .expect("credential");
        let mut cloud = azure_core::cloud::CustomConfiguration::default();
        cloud.authority_host = entra.authority();
        let stock: Arc<dyn TokenCredential> = azure_identity::ClientAssertionCredential::new(
            entra.tenant_id().to_owned(),
            entra.client_id().to_owned(),
            VercelClientAssertion::new(source()),
            Some(azure_identity::ClientAssertionCredentialOptions {
                client_options: ClientOptions {
                    cloud: Some(Arc::new(cloud.into())),
                    ..options()
                },
            }),
        )
        .expect("stock credential");
        let warm = ours.get_token(&[SCOPE], None).await.expect("warm");
        stock.get_token(&[SCOPE], None).await.expect("warm");
        let floor: Arc<dyn TokenCredential> = Arc::new(Floor(warm));
        (issuer, entra, ours, stock, floor)
    });

    let mut group = c.benchmark_group("cached get_token");
    group.bench_function("floor (clone a stored token)", |b| {
        b.to_async(&rt)
            .iter(|| async { floor.get_token(&[SCOPE], None).await.expect("cached") });
    });
    group.bench_function("vercel_oidc_azure::AzureCredential", |b| {
        b.to_async(&rt)
            .iter(|| async { ours.get_token(&[SCOPE], None).await.expect("cached") });
    });
    group.bench_function("azure_identity::ClientAssertionCredential", |b| {
        b.to_async(&rt)
            .iter(|| async { stock.get_token(&[SCOPE], None).await.expect("cached") });
    });
    group.finish();
}

criterion_group!(benches, cached_get);
criterion_main!(benches);
