//! The import graph of the core's modules has no circle: each top-level module of `src/` may use
//! the ones below it, never one that (through others) uses it back.
//!
//! Read from the source: every `crate::name` path outside comments and test modules is an edge
//! from the module it appears in to `name`; a crate-root re-export (`crate::OidcToken`) counts as
//! an edge to the module that defines it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module name → the source text of its files, test modules and comments removed.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src");
            let first = rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .expect("utf8 path");
            let module = first.strip_suffix(".rs").unwrap_or(first).to_owned();
            let text = std::fs::read_to_string(&path).expect("read file");
            let code = match text.find("#[cfg(test)]\nmod tests") {
                Some(i) => &text[..i],
                None => &text[..],
            };
            let code: String = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            out.entry(module).or_default().push_str(&code);
        }
    }
    out
}

/// Names the crate root re-exports, mapped to the module they come from (`pub use a::{B, C}`).
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = lib;
    while let Some(i) = rest.find("pub use ") {
        rest = &rest[i + "pub use ".len()..];
        let end = rest.find(';').unwrap_or(rest.len());
        let item = &rest[..end];
        rest = &rest[end..];
        let Some((module, names)) = item.split_once("::") else {
            continue;
        };
        for name in names
            .trim_matches(|c: char| c == '{' || c == '}' || c.is_whitespace())
            .split(',')
        {
            let name = name.trim().rsplit("::").next().unwrap_or("").trim();
            if !name.is_empty() {
                out.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    out
}

/// The identifiers following `crate::` in `code`.
fn crate_paths(code: &str) -> Vec<&str> {
    code.match_indices("crate::")
        .filter_map(|(i, _)| {
            let after = &code[i + "crate::".len()..];
            if after.starts_with('{') {
                return None; // handled by `use crate::{...}` below
            }
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (end > 0).then(|| &after[..end])
        })
        .collect()
}

/// The first segments of a `use crate::{a::X, b, C}` group.
fn grouped_paths(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::{") {
        let group = &code[i + "crate::{".len()..];
        let group = &group[..group.find('}').unwrap_or(group.len())];
        for part in group.split(',') {
            let first = part.trim().split("::").next().unwrap_or("").trim();
            if !first.is_empty() {
                out.push(first);
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let reexports = root_reexports(&lib);
    let modules = modules(&src);
    let mut graph = BTreeMap::new();
    for (module, code) in &modules {
        if module == "lib" {
            continue;
        }
        let mut deps = BTreeSet::new();
        for name in crate_paths(code).into_iter().chain(grouped_paths(code)) {
            let target = if modules.contains_key(name) {
                name.to_owned()
            } else if let Some(defining) = reexports.get(name) {
                defining.clone()
            } else {
                continue;
            };
            if &target != module && target != "lib" {
                deps.insert(target);
            }
        }
        graph.insert(module.clone(), deps);
    }
    graph
}

/// A circle through `start`, if any (depth-first).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn the_core_module_graph_has_no_circle() {
    let graph = graph();
    // The graph was read: the chain uses the source vocabulary.
    assert!(
        graph.get("chain").is_some_and(|d| d.contains("source")),
        "{graph:#?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle: {}\n{graph:#?}", cycle.join(" -> "));
    }
}

#[test]
fn the_cycle_finder_finds_a_circle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", &["b"][..]),
        ("b", &["c"][..]),
        ("c", &["a"][..]),
        ("d", &[][..]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
    .collect();
    let cycle = find_cycle(&graph).expect("a -> b -> c -> a");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
    let mut acyclic = graph;
    acyclic.insert("c".into(), BTreeSet::new());
    assert_eq!(find_cycle(&acyclic), None);
}
