//! Per-request construction, side by side in one run: a serverless handler that builds its
//! credentials provider (and so a fresh SDK identity cache, as a freshly built SDK client has)
//! on every request, 1,000 requests in a row, each resolving credentials once through the
//! SDK's lazy identity cache.
//!
//! - ours, shared (what `aws_credentials_provider(role)` does, and builders with `.shared(true)`);
//! - ours, unshared (`.shared(false)`, a builder's default);
//! - aws-config 1.13's `WebIdentityTokenCredentialsProvider`, built per request (its cache
//!   lives in the provider; the Node provider `awsCredentialsProvider` behaves the same: one
//!   STS call per construction).
//!
//! Reported: wall time for the 1,000 requests, per request, and the `AssumeRoleWithWebIdentity`
//! calls STS saw. Against the testkit STS on 127.0.0.1 (plain HTTP).
//!
//! Then cold start with and without `prefetch()`: the first request's wait for credentials
//! after 20 ms of other init work.
//!
//! `cargo bench -p vercel-oidc-aws --bench per_request`

// Tests and benches may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]
#![allow(clippy::print_stdout)]

mod common;

use std::time::{Duration, Instant};

use common::{Emulators, REGION, ROLE_ARN, SESSION_NAME, SdkCache};
use vercel_oidc::Env;
use vercel_oidc_aws::AwsCredentialsProvider;

const REQUESTS: u32 = 1_000;

#[derive(Clone, Copy, PartialEq)]
enum Case {
    OursShared,
    OursUnshared,
    AwsConfig,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::OursShared => "ours, shared (aws_credentials_provider / .shared(true))",
            Case::OursUnshared => "ours, unshared (.shared(false))",
            Case::AwsConfig => "aws-config WebIdentityTokenCredentialsProvider",
        }
    }
}

async fn run(case: Case, emulators: &Emulators, env: &Env) -> (Duration, usize) {
    emulators.sts.reset();
    let started = Instant::now();
    for _ in 0..REQUESTS {
        // What the handler builds on every request.
        let cache = match case {
            Case::OursShared | Case::OursUnshared => SdkCache::new(
                AwsCredentialsProvider::builder(ROLE_ARN)
                    .env(env.clone())
                    .session_name(SESSION_NAME)
                    .shared(case == Case::OursShared)
                    .build()
                    .expect("our provider"),
            ),
            Case::AwsConfig => SdkCache::new(emulators.aws_config()),
        };
        std::hint::black_box(cache.credentials().await);
    }
    (started.elapsed(), emulators.sts.calls())
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let emulators = Emulators::start().await;
        // One environment object for every construction: the shared cache is per configuration,
        // and an `Env` is part of it by identity.
        let env = Env::from_pairs([
            ("VERCEL_OIDC_TOKEN", emulators.token.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ENDPOINT_URL_STS", emulators.sts.endpoint_url()),
        ]);
        println!("{REQUESTS} requests, each building a provider and resolving credentials once");
        println!("| case | wall time | per request | AssumeRoleWithWebIdentity calls |");
        println!("|---|---|---|---|");
        // Warm-up: the emulator's key-set fetch and first-use costs, outside the measurement.
        SdkCache::new(emulators.aws_config()).credentials().await;
        SdkCache::new(emulators.ours()).credentials().await;
        // Each case once, from cold (the shared cache's first request pays its one STS call).
        for case in [Case::OursShared, Case::OursUnshared, Case::AwsConfig] {
            let (wall, calls) = run(case, &emulators, &env).await;
            println!(
                "| {} | {:.1} ms | {:.1} µs | {calls} |",
                case.name(),
                wall.as_secs_f64() * 1e3,
                wall.as_secs_f64() * 1e6 / f64::from(REQUESTS),
            );
        }

        // Cold start with `prefetch()`: a function builds its provider during init, does
        // INIT_WORK of other init work, then serves its first request. With prefetch the
        // exchange overlaps the init work; without it the first request waits for it.
        println!();
        println!(
            "first request after {} ms of other init work (median of {COLD_ROUNDS} fresh providers)",
            INIT_WORK.as_millis()
        );
        println!("| case | first-request credential latency |");
        println!("|---|---|");
        for prefetch in [false, true] {
            let mut samples = Vec::with_capacity(COLD_ROUNDS);
            for _ in 0..COLD_ROUNDS {
                let provider = AwsCredentialsProvider::builder(ROLE_ARN)
                    .env(env.clone())
                    .session_name(SESSION_NAME)
                    .build()
                    .expect("our provider");
                if prefetch {
                    assert!(provider.prefetch(), "a fresh provider starts its exchange");
                }
                tokio::time::sleep(INIT_WORK).await;
                let started = Instant::now();
                std::hint::black_box(provider.credentials().await.expect("credentials"));
                samples.push(started.elapsed());
            }
            samples.sort();
            println!(
                "| {} | {:.3} ms |",
                if prefetch { "with prefetch() at init" } else { "without prefetch" },
                samples[COLD_ROUNDS / 2].as_secs_f64() * 1e3
            );
        }
    });
}

const COLD_ROUNDS: usize = 51;
const INIT_WORK: Duration = Duration::from_millis(20);
