//! The core crate pays only for what its features ask: no AWS or Azure crate ever, no HTTP stack
//! without an HTTP feature, nothing of the local-dev refresh in a receiving API's build.

use std::collections::BTreeSet;
use std::process::Command;

/// The crate names in the normal dependency tree of the core with exactly `features`.
fn tree(features: Option<&str>) -> BTreeSet<String> {
    let mut args = vec![
        "tree",
        "--package",
        "vercel-oidc",
        "--edges",
        "normal,build",
        "--prefix",
        "none",
        "--format",
        "{p}",
        "--offline",
    ];
    if let Some(features) = features {
        args.extend(["--no-default-features", "--features", features]);
    }
    let output = Command::new(env!("CARGO"))
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).expect("utf8");
    let crates: BTreeSet<String> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(crates.contains("vercel-oidc"), "{tree}");
    assert!(crates.contains("tokio"), "the tree was read: {tree}");
    crates
}

#[track_caller]
fn assert_absent(crates: &BTreeSet<String>, what: &str, names: &[&str]) {
    let found: Vec<&String> = crates
        .iter()
        .filter(|c| names.iter().any(|n| c == n))
        .collect();
    assert!(found.is_empty(), "{what}: {found:?} in the tree");
}

#[track_caller]
fn assert_present(crates: &BTreeSet<String>, what: &str, names: &[&str]) {
    for name in names {
        assert!(
            crates.contains(*name),
            "{what}: {name} missing from the tree"
        );
    }
}

const HTTP_STACK: &[&str] = &[
    "reqwest",
    "hyper",
    "hyper-util",
    "h2",
    "rustls",
    "hyper-rustls",
];
const LOCAL_DEV: &[&str] = &["fs4", "tempfile"];

#[test]
fn no_aws_or_azure_crate_with_any_feature() {
    let all = tree(Some(
        "local-dev,exchange,layer,verifier,axum,bearer,bearer-tower,bearer-reqwest-middleware",
    ));
    let offenders: Vec<&String> = all
        .iter()
        .filter(|c| {
            c.starts_with("aws-sdk")
                || c.starts_with("aws-config")
                || c.starts_with("aws-smithy")
                || c.starts_with("aws-credential")
                || c.starts_with("aws-types")
                || c.starts_with("aws-runtime")
                || c.starts_with("azure_")
                || c.starts_with("azure-")
                || c.starts_with("google-cloud")
                || c.starts_with("vercel_runtime")
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "cloud crates in the core: {offenders:?}"
    );
}

#[test]
fn a_token_only_consumer_builds_no_http_stack() {
    let lean = tree(Some(""));
    assert_absent(&lean, "no features", HTTP_STACK);
    assert_absent(&lean, "no features", LOCAL_DEV);
    assert_absent(&lean, "no features", &["aws-lc-rs", "lru", "tower"]);
    assert_absent(&lean, "no features", &["axum-core", "reqwest-middleware"]);
}

#[test]
fn a_receiving_api_builds_the_verifier_and_nothing_of_local_dev() {
    let verifier = tree(Some("verifier"));
    assert_present(&verifier, "verifier", &["aws-lc-rs", "reqwest", "tower"]);
    assert_absent(&verifier, "verifier", LOCAL_DEV);
    assert_absent(&verifier, "verifier", &["lru", "axum-core", "axum"]);

    // The extractor needs axum's extractor traits, not axum's router or server.
    let axum = tree(Some("axum"));
    assert_present(&axum, "axum", &["axum-core", "aws-lc-rs", "tower"]);
    assert_absent(&axum, "axum", &["axum", "matchit"]);
    assert_absent(&axum, "axum", LOCAL_DEV);
}

#[test]
fn each_feature_brings_only_its_own_dependencies() {
    let layer = tree(Some("layer"));
    assert_present(&layer, "layer", &["tower"]);
    assert_absent(&layer, "layer", HTTP_STACK);

    let exchange = tree(Some("exchange"));
    assert_present(&exchange, "exchange", &["lru", "reqwest"]);
    assert_absent(&exchange, "exchange", LOCAL_DEV);
    assert_absent(&exchange, "exchange", &["axum-core"]);

    let local_dev = tree(Some("local-dev"));
    assert_present(&local_dev, "local-dev", &["fs4", "tempfile", "reqwest"]);
    assert_absent(&local_dev, "local-dev", &["lru"]);

    let bearer = tree(Some("bearer"));
    assert_present(&bearer, "bearer", &["reqwest"]);
    assert_absent(&bearer, "bearer", LOCAL_DEV);
    assert_absent(&bearer, "bearer", &["lru", "reqwest-middleware"]);

    // The tower bearer layer is for any `http::Request` client: no HTTP stack of its own.
    let bearer_tower = tree(Some("bearer-tower"));
    assert_present(&bearer_tower, "bearer-tower", &["tower"]);
    assert_absent(&bearer_tower, "bearer-tower", HTTP_STACK);
    assert_absent(&bearer_tower, "bearer-tower", LOCAL_DEV);
    assert_absent(&bearer_tower, "bearer-tower", &["lru"]);

    let middleware = tree(Some("bearer-reqwest-middleware"));
    assert_present(
        &middleware,
        "bearer-reqwest-middleware",
        &["reqwest-middleware", "reqwest"],
    );
    assert_absent(&middleware, "bearer-reqwest-middleware", LOCAL_DEV);
    assert_absent(&middleware, "bearer-reqwest-middleware", &["lru"]);
}

/// reqwest-middleware's reqwest is the workspace's: one reqwest in the tree, so
/// `BearerAuth`'s `Middleware` impl fits the user's `reqwest::Client`.
#[test]
fn reqwest_middleware_shares_the_workspace_reqwest() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--package",
            "vercel-oidc",
            "--no-default-features",
            "--features",
            "bearer-reqwest-middleware",
            "--edges",
            "normal",
            "--prefix",
            "depth",
            "--format",
            "{p}",
            "--duplicates",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(output.status.success());
    let duplicates = String::from_utf8(output.stdout).expect("utf8");
    // `--duplicates` prints each duplicated crate (depth 0) with the crates that pull it in
    // below it (depth 1 and more): only the depth-0 lines are duplicates.
    let duplicated: Vec<&str> = duplicates
        .lines()
        .filter_map(|l| l.strip_prefix('0'))
        .collect();
    assert!(
        !duplicated.iter().any(|l| l.starts_with("reqwest ")),
        "two reqwest versions: {duplicates}"
    );
}

#[test]
fn the_default_is_a_credential_users_build() {
    let default = tree(None);
    assert_present(&default, "default", &["fs4", "lru", "reqwest", "tower"]);
    assert_absent(&default, "default", &["axum-core", "reqwest-middleware"]);
}

/// `cargo tree -p vercel-oidc` as a reader runs it (default edges: normal, build and dev): no
/// `vercel_runtime` even among the core's dev-dependencies (its examples live in
/// `vercel-functions`).
#[test]
fn vercel_runtime_is_nowhere_in_the_core_tree() {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--package", "vercel-oidc", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(output.status.success());
    let tree = String::from_utf8(output.stdout).expect("utf8");
    assert!(tree.contains("tokio"), "the tree was read: {tree}");
    assert!(!tree.contains("vercel_runtime"), "{tree}");
}
