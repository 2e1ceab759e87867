//! Bench 3: what callers feel while the credentials are refreshed and STS takes
//! 250 ms to answer, side by side in one run (the target: ours, 0 callers waiting on the
//! network while valid credentials exist).
//!
//! For each provider: a fresh provider loads credentials that STS issues with a 60 s
//! lifetime; STS is then slowed by 250 ms and the provider's clock (an injected clock, the
//! system clock plus an offset, read by our cache and by the SDK's identity cache alike) moves
//! 55 s ahead. That is inside both refresh points while the credentials are still valid: our
//! refresh window (5 min) and the SDK identity cache's buffer (10 s + up to 50 % jitter). Then
//! callers arrive in waves ([`WAVES`] waves of [`PER_WAVE`] tasks, one wave every
//! [`WAVE_GAP`]), spanning the refresh round trip, and each records how long its get took.
//!
//! Prints a table of per-caller latency percentiles, how many callers waited more than 1 ms,
//! and the STS calls made. Not a criterion bench: the result is a distribution of one event.
//!
//! `cargo bench -p vercel-oidc-aws --bench refresh_latency` (extra arguments are ignored)

// Tests and benches may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]
#![allow(clippy::print_stdout)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::provider::ProvideCredentials as _;
use vercel_oidc::time::SharedClock;
use vercel_oidc_testkit::{Endpoint, Fault, StsFault};

use common::{Emulators, OffsetClock, SdkCache, percentile};

const STS_DELAY: Duration = Duration::from_millis(250);
const WAVES: usize = 50;
const PER_WAVE: usize = 20;
const WAVE_GAP: Duration = Duration::from_millis(10);
const ROUNDS: usize = 5;

type Get = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

struct Outcome {
    latencies: Vec<Duration>,
    sts_calls: usize,
}

/// One round: prime, slow STS down, move the clock into the refresh point, fire the waves.
async fn round(emulators: &Emulators, make: &dyn Fn(OffsetClock) -> Get) -> Outcome {
    let sts = &emulators.sts;
    sts.faults().clear();
    sts.clear_injected();
    let clock = OffsetClock::default();
    let get = make(clock.clone());

    sts.inject(1, StsFault::ShortLivedCredentials(Duration::from_secs(60)));
    let before = sts.calls();
    get().await;
    assert_eq!(sts.calls() - before, 1, "the prime is one STS call");

    sts.faults().always(Endpoint::Sts, Fault::Delay(STS_DELAY));
    clock.advance(Duration::from_secs(55));

    let mut tasks = Vec::with_capacity(WAVES * PER_WAVE);
    for wave in 0..WAVES {
        if wave > 0 {
            tokio::time::sleep(WAVE_GAP).await;
        }
        for _ in 0..PER_WAVE {
            let get = Arc::clone(&get);
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                get().await;
                started.elapsed()
            }));
        }
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await.expect("caller"));
    }
    // Let a background refresh still in flight finish before counting.
    tokio::time::sleep(STS_DELAY * 2).await;
    let sts_calls = sts.calls() - before - 1;
    sts.faults().clear();
    Outcome {
        latencies,
        sts_calls,
    }
}

fn print_row(name: &str, outcomes: &[Outcome]) {
    let mut all: Vec<Duration> = outcomes
        .iter()
        .flat_map(|o| o.latencies.iter().copied())
        .collect();
    all.sort();
    let waited = all
        .iter()
        .filter(|l| **l > Duration::from_millis(1))
        .count();
    let calls: Vec<usize> = outcomes.iter().map(|o| o.sts_calls).collect();
    println!(
        "{name:<58} {:>9.1?} {:>9.1?} {:>9.1?} {:>9.1?} {:>7} / {:<6} {:?}",
        percentile(&all, 50.0),
        percentile(&all, 90.0),
        percentile(&all, 99.0),
        all.last().copied().unwrap_or_default(),
        waited,
        all.len(),
        calls,
    );
}

fn main() {
    let runtime = common::runtime();
    let emulators = runtime.block_on(Emulators::start());

    let ours = |clock: OffsetClock| -> Get {
        let provider = emulators.ours_with_clock(SharedClock::new(clock));
        Arc::new(move || {
            let provider = provider.clone();
            Box::pin(async move {
                provider.provide_credentials().await.expect("credentials");
            })
        })
    };
    let ours_behind_sdk = |clock: OffsetClock| -> Get {
        let provider = emulators.ours_with_clock(SharedClock::new(clock.clone()));
        let cache = Arc::new(SdkCache::with_clock(provider, clock));
        Arc::new(move || {
            let cache = Arc::clone(&cache);
            Box::pin(async move {
                cache.get().await;
            })
        })
    };
    let aws_config = |clock: OffsetClock| -> Get {
        let cache = Arc::new(SdkCache::with_clock(emulators.aws_config(), clock));
        Arc::new(move || {
            let cache = Arc::clone(&cache);
            Box::pin(async move {
                cache.get().await;
            })
        })
    };
    let cases: [(&str, &dyn Fn(OffsetClock) -> Get); 3] = [
        ("ours: provide_credentials", &ours),
        (
            "ours behind the SDK's lazy identity cache",
            &ours_behind_sdk,
        ),
        (
            "aws-config 1.13 web identity behind the SDK's cache",
            &aws_config,
        ),
    ];

    println!(
        "callers across a refresh, STS delayed {STS_DELAY:?}: {ROUNDS} rounds x {WAVES} waves x \
         {PER_WAVE} callers, one wave every {WAVE_GAP:?}"
    );
    println!(
        "{:<58} {:>9} {:>9} {:>9} {:>9} {:>16} STS calls per round",
        "provider", "p50", "p90", "p99", "max", ">1 ms / callers"
    );
    let mut ours_waited = 0;
    for (name, make) in cases {
        let outcomes: Vec<Outcome> = (0..ROUNDS)
            .map(|_| runtime.block_on(round(&emulators, make)))
            .collect();
        print_row(name, &outcomes);
        if name.starts_with("ours") {
            ours_waited += outcomes
                .iter()
                .flat_map(|o| &o.latencies)
                .filter(|l| **l > Duration::from_millis(1))
                .count();
            assert!(
                outcomes.iter().all(|o| o.sts_calls >= 1),
                "{name}: the refresh happened in every round"
            );
        }
    }
    if ours_waited > 0 {
        println!(
            "note: {ours_waited} of our callers took > 1 ms (scheduling on a busy machine, or a \
             blocked caller: compare with the aws-config row)"
        );
    }
}
