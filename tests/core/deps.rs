//! The core crate pays only for the token: no AWS or Azure crate in its dependency tree.

use std::process::Command;

#[test]
fn core_dependency_tree_has_no_aws_or_azure_crates() {
    let output = Command::new(env!("CARGO"))
        .args([
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
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).expect("utf8");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"vercel-oidc"), "{tree}");
    assert!(crates.contains(&"tokio"), "the tree was read: {tree}");
    let offenders: Vec<&&str> = crates
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
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "AWS/Azure crates in the core: {offenders:?}"
    );
}
