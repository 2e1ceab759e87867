//! Bench 2: 10,000 concurrent callers on a cold provider (a fresh provider per
//! iteration), side by side in one run: the wall time until every caller has credentials, and
//! the STS calls they cost (the target: ours makes 1 STS call, on the raw provider as well as
//! through the SDK's identity cache).
//!
//! - ours: `provide_credentials()` from 10,000 tasks;
//! - ours behind the SDK's lazy identity cache (what SDK clients sharing one config do);
//! - aws-config 1.13: `WebIdentityTokenCredentialsProvider` behind the SDK's lazy identity
//!   cache, from 10,000 tasks.
//!
//! The STS calls per iteration are printed after each case (criterion reports only time).
//!
//! `cargo bench -p vercel-oidc-aws --bench cold_callers`

// Tests and benches may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]
#![allow(clippy::print_stdout)]

mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::provider::ProvideCredentials as _;
use criterion::{Criterion, criterion_group, criterion_main};
use vercel_oidc_testkit::Sts;

use common::{Emulators, SdkCache};

const CALLERS: usize = 10_000;

/// Runs `iterations` rounds of [`CALLERS`] tasks calling `get` on a fresh value from `fresh`;
/// returns the summed wall time from the first spawn to the last answer, and checks/records
/// the STS calls per round.
fn rounds<T, F, Fut>(
    runtime: &tokio::runtime::Runtime,
    sts: &Sts,
    iterations: u64,
    fresh: &dyn Fn() -> T,
    get: F,
    calls_per_round: &mut Vec<usize>,
) -> Duration
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut total = Duration::ZERO;
    for _ in 0..iterations {
        let value = Arc::new(runtime.block_on(async { fresh() }));
        let before = sts.calls();
        total += runtime.block_on(async move {
            let started = Instant::now();
            let tasks: Vec<_> = (0..CALLERS)
                .map(|_| tokio::spawn(get(Arc::clone(&value))))
                .collect();
            for task in tasks {
                task.await.expect("caller");
            }
            started.elapsed()
        });
        calls_per_round.push(sts.calls() - before);
    }
    total
}

fn report(name: &str, calls: &[usize]) {
    let min = calls.iter().min().copied().unwrap_or(0);
    let max = calls.iter().max().copied().unwrap_or(0);
    let over_one = calls.iter().filter(|&&calls| calls > 1).count();
    println!(
        "  STS calls per {CALLERS} cold callers, {name}: min {min}, max {max}, \
         {over_one} of {} rounds made more than 1",
        calls.len()
    );
}

fn cold_callers(c: &mut Criterion) {
    let runtime = common::runtime();
    let emulators = Arc::new(runtime.block_on(Emulators::start()));
    let sts = &emulators.sts;

    let mut group = c.benchmark_group("aws 10k cold callers");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));

    let mut ours_calls = Vec::new();
    group.bench_function("ours: provide_credentials", |b| {
        b.iter_custom(|iterations| {
            rounds(
                &runtime,
                sts,
                iterations,
                &|| emulators.ours(),
                |provider| async move {
                    provider.provide_credentials().await.expect("credentials");
                },
                &mut ours_calls,
            )
        })
    });
    report("ours", &ours_calls);

    let mut ours_sdk_calls = Vec::new();
    group.bench_function("ours behind the SDK's lazy identity cache", |b| {
        b.iter_custom(|iterations| {
            rounds(
                &runtime,
                sts,
                iterations,
                &|| SdkCache::new(emulators.ours()),
                |cache| async move {
                    cache.get().await;
                },
                &mut ours_sdk_calls,
            )
        })
    });
    report("ours behind the SDK cache", &ours_sdk_calls);

    let mut aws_config_calls = Vec::new();
    group.bench_function(
        "aws-config 1.13 web identity behind the SDK's lazy identity cache",
        |b| {
            b.iter_custom(|iterations| {
                rounds(
                    &runtime,
                    sts,
                    iterations,
                    &|| SdkCache::new(emulators.aws_config()),
                    |cache| async move {
                        cache.get().await;
                    },
                    &mut aws_config_calls,
                )
            })
        },
    );
    report("aws-config behind the SDK cache", &aws_config_calls);
    group.finish();

    // Checked after every case ran, so the numbers above are all printed.
    for (name, calls) in [
        ("ours", &ours_calls),
        ("ours behind the SDK cache", &ours_sdk_calls),
    ] {
        let extra = calls.iter().filter(|&&calls| calls != 1).count();
        assert!(
            extra == 0,
            "{name}: 1 STS call per cold round expected; {extra} of {} rounds made more",
            calls.len()
        );
    }
}

criterion_group!(benches, cold_callers);
criterion_main!(benches);
