//! The layering rules, checked on the source (docs/ARCHITECTURE.md):
//! Cargo keeps each crate below the ones that use it, once each crate's
//! manifest names only the crates under it, which [`LAYERS`] checks;
//! inside a crate, nothing stops module A from using B while B uses A, so
//! this test does. Modules are the top-level
//! ones (`src/repl/…` is `repl`); an edge is a `crate::<module>` path
//! outside test code.
//!
//! No crate has an import cycle between its top-level modules, no file is
//! over 800 lines (test code aside) and no function over 100: each rule
//! fails here the day it is broken.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Import cycles allowed between top-level modules: none any more. Never
/// add to it; move the shared piece down a layer instead.
const KNOWN_CYCLES: &[&[&str]] = &[];

/// Source files allowed over 800 lines (test code aside): none any more.
/// Never add to it; split the file by job instead.
const KNOWN_LARGE: &[&str] = &[];

/// Each library crate under `crates/` and the dkvs crates it may depend
/// on (normal or dev): only those below it. Server and client never name
/// each other.
const LAYERS: &[(&str, &[&str])] = &[
    ("wire", &[]),
    ("cluster", &["wire"]),
    ("storage", &["cluster", "wire"]),
    ("net", &["cluster", "wire"]),
    ("netns", &[]),
    ("server", &["storage", "net", "cluster", "wire"]),
    ("client", &["net", "cluster", "wire"]),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text of a file before its unit tests (`#[cfg(test)]` at the start
/// of a line), and whether the whole file is test code (`tests.rs`,
/// `suite.rs`-style modules declared under `#[cfg(test)]`).
fn code_part(text: &str) -> &str {
    match text.find("\n#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// Top-level module of a file under `src_dir` (`client/exchange.rs` →
/// `client`); `None` for the crate root and binaries.
fn module_of(src_dir: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src_dir).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    if first == "lib.rs" || first == "main.rs" || first == "bin" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_string())
}

/// Edges `module → modules it names through crate::` in one crate.
fn graph(src_dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src_dir, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let Some(module) = module_of(src_dir, &f) else {
            continue;
        };
        if f.file_name()
            .is_some_and(|n| n == "tests.rs" || n == "suite.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let targets = edges.entry(module.clone()).or_default();
        for line in code_part(&text).lines() {
            let code = line.split("//").next().unwrap_or_default();
            let mut rest = code;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    targets.insert(name);
                }
            }
        }
    }
    edges
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(targets) = s.edges.get(v) {
            for w in targets {
                let w = w.as_str();
                if !s.edges.contains_key(w) {
                    continue;
                }
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let low = s.low[v].min(s.low[w]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w) {
                    let low = s.low[v].min(s.index[w]);
                    s.low.insert(v, low);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_new_module_cycle_in_any_crate() {
    let known: Vec<BTreeSet<String>> = KNOWN_CYCLES
        .iter()
        .map(|c| c.iter().map(|m| m.to_string()).collect())
        .collect();
    let mut crates = vec![root().join("src")];
    let mut dirs = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root().join("crates")) {
        dirs.extend(entries.flatten().map(|e| e.path().join("src")));
    }
    dirs.sort();
    crates.extend(dirs);
    for src in crates {
        for component in cycles(&graph(&src)) {
            assert!(
                known.iter().any(|k| component.is_subset(k)),
                "{}: a new import cycle among {component:?}; layers depend only downward (docs/ARCHITECTURE.md)",
                src.display()
            );
        }
    }
}

#[test]
fn crates_depend_only_downward() {
    let mut found: Vec<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut listed: Vec<String> = LAYERS.iter().map(|(c, _)| c.to_string()).collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "every crate under crates/ has its place in LAYERS"
    );
    for (krate, allowed) in LAYERS {
        let manifest =
            std::fs::read_to_string(root().join("crates").join(krate).join("Cargo.toml")).unwrap();
        for line in manifest.lines() {
            let Some(dep) = line.trim().strip_prefix("dkvs-") else {
                continue;
            };
            let dep = dep
                .split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap_or("");
            assert!(
                allowed.contains(&dep),
                "crates/{krate} depends on dkvs-{dep}, which is not below it (docs/ARCHITECTURE.md)"
            );
        }
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut edge = |a: &str, b: &str| {
        edges.entry(a.into()).or_default().insert(b.into());
        edges.entry(b.into()).or_default();
    };
    edge("a", "b");
    edge("b", "c");
    edge("c", "a");
    edge("c", "d");
    let found = cycles(&edges);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0],
        ["a", "b", "c"].iter().map(|s| s.to_string()).collect()
    );
}

#[test]
fn no_new_file_over_800_lines() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("crates"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines = code_part(&text).lines().count();
        let rel = f
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if lines > 800 {
            assert!(
                KNOWN_LARGE.contains(&rel.as_str()),
                "{rel} has {lines} lines (test code aside): split it by job"
            );
        }
    }
}

/// Functions allowed over 100 lines (test code aside), as `file:name`:
/// none. Never add to it; split the function by step instead.
const KNOWN_LONG: &[&str] = &[];

/// The functions of a file's code part longer than 100 lines: a `fn` item
/// runs from its signature to the closing brace at its own indentation
/// (rustfmt's layout).
fn long_functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code_part(text).lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let mut words = trimmed.split_whitespace().peekable();
        let mut name = None;
        while let Some(w) = words.next() {
            match w {
                "pub" | "async" | "const" | "unsafe" | "extern" => continue,
                w if w.starts_with("pub(") => continue,
                "fn" => {
                    name = words.next().map(|n| {
                        n.split(|c: char| !c.is_alphanumeric() && c != '_')
                            .next()
                            .unwrap_or_default()
                            .to_string()
                    });
                    break;
                }
                _ => break,
            }
        }
        let Some(name) = name else { continue };
        if line.trim_end().ends_with(';') {
            continue;
        }
        let close = format!("{indent}}}");
        let end = lines[i + 1..]
            .iter()
            .position(|l| *l == close || l.starts_with(&format!("{close} ")))
            .map(|k| i + 1 + k);
        if let Some(end) = end
            && end - i + 1 > 100
        {
            out.push((name, end - i + 1));
        }
    }
    out
}

#[test]
fn no_new_function_over_100_lines() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("crates"), &mut files);
    for f in files {
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let rel = f
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&f).unwrap();
        for (name, lines) in long_functions(&text) {
            let id = format!("{rel}:{name}");
            assert!(
                KNOWN_LONG.contains(&id.as_str()),
                "{id} is {lines} lines long: split it by step (at most 100)"
            );
        }
    }
}

#[test]
fn the_function_measure_counts_signature_to_brace() {
    let body = "    x();\n".repeat(100);
    let text = format!("fn short() {{\n}}\n\npub(crate) async fn long(a: u8) {{\n{body}}}\n");
    assert_eq!(long_functions(&text), [("long".to_string(), 102)]);
}
