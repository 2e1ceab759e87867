//! Fleet scale, simulated: a deploy starts many instances at once, each with its own provider,
//! cache and STS client, against an STS that throttles above 500 requests/s.
//!
//! Each of 2,000 instances starts at a random moment within the start spread, builds its
//! provider and asks for credentials once. Reported per retry policy, side by side in one run:
//! the time until every instance has credentials, the STS requests in all (throttled ones
//! included), and the instances whose load gave up (an error) within the 30 s budget.
//!
//! - ours: the provider's default retry policy;
//! - "node default": the same provider with the retry of the AWS SDK for JavaScript v3's
//!   standard mode that `@vercel/oidc-aws-credentials-provider` inherits (3 attempts, full
//!   jitter from 500 ms for throttling errors, 20 s cap), to show what that policy does under
//!   the same throttle.
//!
//! Real time (the emulator's throttle counts requests per wall second); about a minute.
//!
//! `cargo bench -p vercel-oidc-aws --bench fleet`

// Tests and benches may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_types::region::Region;
use vercel_oidc::{FixedTokenSource, OidcToken, SharedTokenSource};
use vercel_oidc_aws::AwsCredentialsProvider;
use vercel_oidc_testkit::{Issuer, Sts};

const INSTANCES: usize = 2_000;
const RATE_LIMIT: u32 = 500;
const BUDGET: Duration = Duration::from_secs(30);
const ROLE: &str = "arn:aws:iam::123456789012:role/fleet";

#[derive(Clone, Copy)]
struct Policy {
    name: &'static str,
    /// `None`: the provider's defaults.
    retry: Option<(u32, Duration, Duration)>,
}

struct Outcome {
    all_done: Duration,
    requests: usize,
    throttled: usize,
    gave_up: BTreeMap<String, usize>,
}

async fn simulate(policy: Policy, spread: Duration) -> Outcome {
    let issuer = Issuer::start().await.expect("issuer");
    let sts = Sts::builder(issuer.team_issuer(), "sts.amazonaws.com")
        .rate_limit(RATE_LIMIT)
        .start()
        .await
        .expect("sts");
    let token =
        OidcToken::parse(issuer.token().audience("sts.amazonaws.com").sign()).expect("token");
    let source = SharedTokenSource::new(FixedTokenSource::new(token));
    let endpoint = sts.endpoint_url();
    let start = Instant::now();
    let tasks: Vec<_> = (0..INSTANCES)
        .map(|_| {
            let source = source.clone();
            let endpoint = endpoint.clone();
            let delay = spread.mul_f64(fastrand::f64());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                // A new instance: its own provider, cache and STS client.
                let mut builder = AwsCredentialsProvider::builder(ROLE)
                    .region(Region::new("eu-west-1"))
                    .endpoint_url(endpoint)
                    .token_source(source);
                if let Some((attempts, initial, max)) = policy.retry {
                    builder = builder
                        .max_attempts(attempts)
                        .initial_backoff(initial)
                        .max_backoff(max);
                }
                let provider = builder.build().expect("provider");
                let result = match tokio::time::timeout(BUDGET, provider.credentials()).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(error)) => Err(error.sts_code().map_or_else(
                        || error.to_string().chars().take(60).collect(),
                        str::to_owned,
                    )),
                    Err(_) => Err("over the budget".to_owned()),
                };
                (result, Instant::now())
            })
        })
        .collect();
    let mut gave_up = BTreeMap::<String, usize>::new();
    let mut last = start;
    for task in tasks {
        let (result, at) = task.await.expect("instance");
        match result {
            Ok(()) => last = last.max(at),
            Err(kind) => *gave_up.entry(kind).or_default() += 1,
        }
    }
    Outcome {
        all_done: last - start,
        requests: sts.calls(),
        throttled: sts.throttled(),
        gave_up,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let policies = [
        Policy {
            name: "vercel-oidc-aws (default retry)",
            retry: None,
        },
        Policy {
            name: "node default retry (3 attempts, 500 ms, 20 s cap)",
            retry: Some((3, Duration::from_millis(500), Duration::from_secs(20))),
        },
    ];
    println!(
        "fleet: {INSTANCES} instances, STS throttling above {RATE_LIMIT}/s, budget {BUDGET:?}"
    );
    for spread in [Duration::from_secs(5), Duration::from_secs(1)] {
        for policy in policies {
            let outcome = runtime.block_on(simulate(policy, spread));
            println!(
                "start spread {spread:?} | {:<52} | all credentialed after {:>7.2?} | STS requests {:>5} ({:.2}/instance, {} throttled) | gave up {} {:?}",
                policy.name,
                outcome.all_done,
                outcome.requests,
                outcome.requests as f64 / INSTANCES as f64,
                outcome.throttled,
                outcome.gave_up.values().sum::<usize>(),
                outcome.gave_up,
            );
        }
    }
}
