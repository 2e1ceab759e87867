//! The README's two complete functions are the example functions that `functions/tests/host.rs`
//! runs under `VercelHost`, character for character: a reader who builds a function only from
//! the README builds one that is tested against the local platform.

use std::path::Path;

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The example's code after its leading `//!` documentation.
fn code_of(example: &str) -> String {
    let source = read(example);
    let code: Vec<&str> = source
        .lines()
        .skip_while(|line| line.starts_with("//!"))
        .skip_while(|line| line.is_empty())
        .collect();
    let mut code = code.join("\n");
    code.push('\n');
    code
}

#[test]
fn the_readme_functions_are_the_tested_examples() {
    let readme = read("README.md");
    let quick_start = readme
        .find("## Quick start")
        .expect("the README has a quick start");
    for example in [
        "functions/examples/aws_function.rs",
        "functions/examples/aws_function_axum.rs",
    ] {
        let block = format!("```rust,no_run\n{}```", code_of(example));
        let at = readme
            .find(&block)
            .unwrap_or_else(|| panic!("the README does not show {example} as it is"));
        assert!(
            at > quick_start,
            "{example} is shown before the quick start"
        );
    }
    // The quick start leads with the production shape.
    let first_section = &readme[quick_start..];
    let first_heading = first_section
        .lines()
        .find(|line| line.starts_with("### "))
        .expect("a subsection");
    assert_eq!(
        first_heading,
        "### A Vercel function (the production shape)"
    );
}
