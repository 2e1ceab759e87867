//! The cached `get_token` path allocates nothing of its own: exactly what the trait's own
//! floor allocates (the `async_trait` box of the call's future and the token's clone, both
//! fixed by `azure_core`'s signature), measured with a counting allocator.

use std::alloc::System;
use std::sync::Arc;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::http::{ClientOptions, Transport};
use futures_util::FutureExt as _;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use vercel_oidc::{Env, OidcToken, token_source_fn};
use vercel_oidc_azure::AzureCredential;
use vercel_oidc_testkit::Issuer;
use vercel_oidc_testkit::entra::{Entra, FederatedCredential};

const VAULT: &str = "https://vault.azure.net/.default";
const STORAGE: &str = "https://storage.azure.com/.default";

// Counts every allocation of the process: the test runs alone in this binary, on a
// current-thread runtime, so nothing else allocates while the measured call is polled.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn allocations_of(credential: &dyn TokenCredential, scopes: &[&str]) -> usize {
    let region = Region::new(GLOBAL);
    let token = credential
        .get_token(scopes, None)
        .now_or_never()
        .expect("a cached token answers at once")
        .expect("token");
    let change = region.change();
    drop(token);
    change.allocations + change.reallocations
}

/// The floor: a credential that only clones a stored token.
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

#[tokio::test(flavor = "current_thread")]
async fn the_cached_path_allocates_only_what_the_floor_does() {
    let issuer = Arc::new(Issuer::start().await.expect("issuer"));
    let entra = Entra::builder()
        .federated_credential(FederatedCredential::for_issuer(&issuer))
        .start()
        .await
        .expect("entra");
    let minter = Arc::clone(&issuer);
    let credential = AzureCredential::builder()
        .tenant_id(entra.tenant_id())
        .client_id(entra.client_id())
        .authority_host(entra.authority())
        .client_options(ClientOptions {
            transport: Some(Transport::new(Arc::new(entra.reqwest_client()))),
            ..Default::default()
        })
        .token_source(token_source_fn(move || {
            let raw = minter.token().sign();
            async move { OidcToken::parse(raw) }
        }))
        .env(Env::from_pairs::<&str, &str>([]))
        .build()
        .expect("credential");
    // Two scope sets cached, so the lookup has something to skip.
    credential.get_token(&[STORAGE], None).await.expect("warm");
    let warm = credential.get_token(&[VAULT], None).await.expect("warm");
    let floor = Floor(warm);

    let floor_allocations = allocations_of(&floor, &[VAULT]);
    // The box of the `async_trait` future, and the token's string.
    assert_eq!(floor_allocations, 2);
    for _ in 0..100 {
        assert_eq!(allocations_of(&*credential, &[VAULT]), floor_allocations);
        assert_eq!(allocations_of(&*credential, &[STORAGE]), floor_allocations);
    }
    assert_eq!(
        entra.requests(),
        2,
        "every call above was answered from the cache"
    );
}
