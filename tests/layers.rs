//! The crate's layering, checked over the source text: data flows one way, so no module
//! may import a module above it, and no two files in one folder may import each other
//! round in a circle. The layers are the ones the crate doc (`src/lib.rs`) draws; a new
//! top-level module must be given a layer here before it can be used.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. A module may use modules of lower layers only (and itself).
const LAYERS: &[&[&str]] = &[
    // Leaves: pure parsers and values.
    &[
        "config",
        "gourl",
        "tar",
        "dockerfile",
        "decompress",
        "reference",
        "gojson",
    ],
    // The context model (over tar entries) and the HTTP plumbing every handler shares
    // (it needs the daemon's address from the configuration).
    &["context", "http"],
    // What the daemon would route and read; what the gateway asks the daemon itself.
    &["route", "query", "daemon"],
    // The state a running gateway shares; who owns what, as the daemon says; who a
    // connection acts for (its peer's container, as the daemon describes it).
    &["gateway", "owners", "identity"],
    // Handlers: builds, and the rest of the API under --confine.
    &["build", "policy"],
    // Listeners, connections, dispatch.
    &["server"],
    // The command line.
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file under `src/`, with its module path (`build::body`, `tar`, ...).
fn modules() -> Vec<(Vec<String>, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(&src).expect("under src");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            (parts, path)
        })
        .collect()
}

/// Test-only files: they may reach anything of the module they test.
fn is_test_file(module: &[String]) -> bool {
    module
        .last()
        .is_some_and(|m| m == "tests" || m == "proptests")
}

/// The module paths a file's code names: `crate::a::b`, `super::x`, `self::x`, with
/// grouped imports (`crate::{a::b, c}`) expanded. Paths are returned as written,
/// relative ones resolved against `module`.
fn references(text: &str, module: &[String]) -> Vec<Vec<String>> {
    // `super` is the parent module and `self` this one, whether the file is `a/b.rs` or
    // `a/b/mod.rs` (both are module a::b).
    let here: Vec<String> = module.to_vec();
    let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
    let mut out = Vec::new();
    // Inline test modules (at the end of a file, by convention here) may reach anything
    // of the module they test; they are not the module's dependencies.
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    // Drop comments, so doc links and prose do not count as imports.
    let code: String = text
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", parent),
        ("self::", here),
    ] {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for path in expand(rest) {
                let mut full = base.clone();
                full.extend(path);
                out.push(full);
            }
        }
    }
    out
}

/// The paths at the start of `s`: `a::b::C` gives `[a, b, C]`; `{a::b, c}` gives both.
fn expand(s: &str) -> Vec<Vec<String>> {
    let s = s.trim_start();
    if let Some(inner) = s.strip_prefix('{') {
        let mut depth = 0;
        let mut end = inner.len();
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    end = i;
                    break;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        let mut out = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        let group = &inner[..end];
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.extend(expand(&group[start..i]));
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.extend(expand(&group[start..]));
        return out;
    }
    let mut path = Vec::new();
    let mut rest = s;
    loop {
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            break;
        }
        rest = &rest[ident.len()..];
        path.push(ident);
        match rest.strip_prefix("::") {
            Some(after) if after.starts_with('{') => {
                return expand(after)
                    .into_iter()
                    .map(|tail| path.iter().cloned().chain(tail).collect())
                    .collect();
            }
            Some(after) => rest = after,
            None => break,
        }
    }
    if path.is_empty() {
        Vec::new()
    } else {
        vec![path]
    }
}

/// The longest known module path that `path` starts with.
fn resolve(path: &[String], known: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| known.contains(p))
}

#[test]
fn no_module_imports_one_above_it() {
    let modules = modules();
    let mut problems = Vec::new();
    for (module, path) in &modules {
        let Some(top) = module.first() else { continue };
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(own) = layer_of(top) else {
            problems.push(format!(
                "src/{top}: a top-level module with no layer; add it to LAYERS in tests/layers.rs"
            ));
            continue;
        };
        let text = std::fs::read_to_string(path).expect("read source");
        for reference in references(&text, module) {
            let Some(target) = reference.first() else {
                continue;
            };
            if target == top {
                continue;
            }
            match layer_of(target) {
                Some(layer) if layer < own => {}
                Some(_) => problems.push(format!(
                    "{}: uses crate::{} from a layer that is not below {top}'s",
                    path.display(),
                    reference.join("::")
                )),
                None => {}
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_import_cycles_between_sibling_files() {
    let modules = modules();
    let known: BTreeSet<Vec<String>> = modules.iter().map(|(m, _)| m.clone()).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, path) in &modules {
        if is_test_file(module) || module.first().is_some_and(|m| m == "lib" || m == "main") {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("read source");
        for reference in references(&text, module) {
            let Some(target) = resolve(&reference, &known) else {
                continue;
            };
            // A folder's mod.rs owns its files (it declares and re-exports them); that is
            // containment, not a dependency. Only edges out of a module count.
            let contains = target.starts_with(module);
            if target != *module && !contains && !is_test_file(&target) {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = stack[at..].to_vec();
                cycle.push(node.clone());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(node, &edges, &mut state, &mut stack) {
            let shown: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            panic!("import cycle: {}", shown.join(" -> "));
        }
    }
}

/// The checks above would pass vacuously if the reference scanner saw nothing.
#[test]
fn the_scanner_sees_imports() {
    let module = vec!["build".to_string(), "body".to_string()];
    let text = "use crate::{http::body::{Body, boxed}, gateway};\nuse super::pipeline::Job;\n// crate::server in a comment\nlet x = crate::route::classify();";
    let mut got = references(text, &module);
    got.sort();
    let want: Vec<Vec<String>> = [
        "build::pipeline::Job",
        "gateway",
        "http::body::Body",
        "http::body::boxed",
        "route::classify",
    ]
    .iter()
    .map(|p| p.split("::").map(str::to_string).collect())
    .collect();
    assert_eq!(got, want);
    assert!(!modules().is_empty());
}
