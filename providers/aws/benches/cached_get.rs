//! Bench 1: a cached credential get, side by side in one run (the target: ours within 2× of
//! the floor).
//!
//! - floor: an `ArcSwap<Credentials>` load + clone (plain, and in an async fn awaited the way
//!   the providers are), and an async fn that clones an `Arc`;
//! - ours: `AwsCredentialsProvider::provide_credentials().await`, its synchronous fast path
//!   (the future is ready at once), and ours behind the SDK's lazy identity cache (what an SDK
//!   client does per request);
//! - aws-config 1.13: `WebIdentityTokenCredentialsProvider` behind the SDK's lazy identity
//!   cache (`IdentityCache::lazy()`), the way every SDK client calls it.
//!
//! Both providers loaded their credentials from the testkit STS on 127.0.0.1 first.
//!
//! `cargo bench -p vercel-oidc-aws --bench cached_get`

// Tests and benches may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]

mod common;

use std::hint::black_box;
use std::sync::Arc;

use arc_swap::ArcSwap;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials as _;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt as _;

use common::{Emulators, SdkCache};

fn cached_get(c: &mut Criterion) {
    let setup = common::runtime();
    let emulators = setup.block_on(Emulators::start());
    let ours = setup.block_on(async { emulators.ours() });
    let ours_behind_sdk = SdkCache::new(ours.clone());
    let aws_config = SdkCache::new(emulators.aws_config());
    let credentials = setup.block_on(async {
        let credentials = ours.provide_credentials().await.expect("ours loads");
        ours_behind_sdk.get().await;
        aws_config.get().await;
        credentials
    });
    let calls = emulators.sts.calls();
    assert_eq!(calls, 2, "one STS call per provider before measuring");

    // The benches run on a current-thread runtime like core.rs's; the emulators stay on theirs.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let floor = ArcSwap::from_pointee(credentials.clone());
    let arc: Arc<Credentials> = Arc::new(credentials.clone());

    let cache_alone = {
        let value = credentials.clone();
        let cache = vercel_oidc::cache::RefreshAheadCache::builder().build(move || {
            let value = value.clone();
            async move {
                Ok::<_, ()>((
                    value,
                    std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
                ))
            }
        });
        runtime.block_on(cache.get()).expect("loaded");
        cache
    };

    let mut group = c.benchmark_group("aws cached get");
    group.bench_function("parts: Credentials::clone", |b| {
        b.iter(|| Credentials::clone(black_box(&credentials)))
    });
    group.bench_function(
        "parts: provide_credentials() future, dropped unpolled",
        |b| b.iter(|| drop(black_box(black_box(&ours).provide_credentials()))),
    );
    group.bench_function("parts: RefreshAheadCache<Credentials>::try_get", |b| {
        b.iter(|| black_box(&cache_alone).try_get().expect("cached"))
    });
    group.bench_function("floor: ArcSwap<Credentials> load + clone", |b| {
        b.iter(|| Credentials::clone(&black_box(&floor).load()))
    });
    group.bench_function("floor: async fn cloning an Arc, awaited", |b| {
        async fn get(arc: &Arc<Credentials>) -> Arc<Credentials> {
            Arc::clone(arc)
        }
        b.to_async(&runtime)
            .iter(|| async { get(black_box(&arc)).await })
    });
    group.bench_function(
        "floor: ArcSwap<Credentials> load + clone in an async fn, awaited",
        |b| {
            async fn get(floor: &ArcSwap<Credentials>) -> Credentials {
                Credentials::clone(&floor.load())
            }
            b.to_async(&runtime)
                .iter(|| async { get(black_box(&floor)).await })
        },
    );
    group.bench_function(
        "ours: provide_credentials (sync fast path, now_or_never)",
        |b| {
            b.iter(|| {
                black_box(&ours)
                    .provide_credentials()
                    .now_or_never()
                    .expect("ready at once")
                    .expect("cached")
            })
        },
    );
    group.bench_function("ours: provide_credentials().await", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(&ours)
                .provide_credentials()
                .await
                .expect("cached")
        })
    });
    group.bench_function("ours behind the SDK's lazy identity cache", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(&ours_behind_sdk).get().await })
    });
    group.bench_function(
        "aws-config 1.13 web identity behind the SDK's lazy identity cache",
        |b| {
            b.to_async(&runtime)
                .iter(|| async { black_box(&aws_config).get().await })
        },
    );
    group.finish();

    assert_eq!(
        emulators.sts.calls(),
        calls,
        "every measured call was served from a cache"
    );
    drop(emulators);
    drop(setup);
}

criterion_group!(benches, cached_get);
criterion_main!(benches);
