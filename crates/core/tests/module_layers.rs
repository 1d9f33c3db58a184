//! The layers the README draws, checked: no crate's top-level modules import each other in a
//! cycle, and the model crate stays a leaf (serde only, no I/O). A cycle is how "collection
//! acts" crept in before (issue #10): this test names the modules and files that close one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code a module compiles outside tests: comments stripped, and everything from the first
/// `#[cfg(test)]` on dropped (test modules sit at the end of each file, and tests may reach
/// across layers to build fixtures).
fn production_code(text: &str) -> String {
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or_default();
    before_tests
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module → (module it uses → files that use it), over a crate's top-level modules.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let path_use = regex::Regex::new(r"crate::(\w+)").expect("valid regex");
    let group_use = regex::Regex::new(r"crate::\{([^}]*)\}").expect("valid regex");
    let first_name = regex::Regex::new(r"(?:^|,)\s*(\w+)").expect("valid regex");
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in files {
        let relative = file
            .strip_prefix(src)
            .expect("under src")
            .to_string_lossy()
            .into_owned();
        let top = relative
            .split('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = production_code(&std::fs::read_to_string(&file).expect("readable source"));
        let mut used: BTreeSet<String> = path_use.captures_iter(&text).map(|c| c[1].to_owned()).collect();
        for group in group_use.captures_iter(&text) {
            used.extend(first_name.captures_iter(&group[1]).map(|c| c[1].to_owned()));
        }
        for module in used.into_iter().filter(|m| *m != top) {
            graph
                .entry(top.clone())
                .or_default()
                .entry(module)
                .or_default()
                .insert(relative.clone());
        }
    }
    graph
}

/// One cycle, as the modules on it, if there is any.
fn find_cycle(graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(|edges| edges.keys()) {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn describe(cycle: &[String], graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> String {
    cycle
        .windows(2)
        .map(|pair| {
            let files = &graph[&pair[0]][&pair[1]];
            format!(
                "{} -> {} (in {})",
                pair[0],
                pair[1],
                files.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n  ")
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let root = workspace_root();
    let mut sources: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
        .map(|e| e.path().join("src"))
        .collect();
    sources.push(root.join("src-tauri/src"));
    sources.retain(|s| s.is_dir());
    assert!(sources.len() >= 5, "expected the workspace's crates, found {sources:?}");
    for src in sources {
        let graph = module_graph(&src);
        if let Some(cycle) = find_cycle(&graph) {
            panic!("import cycle in {}:\n  {}", src.display(), describe(&cycle, &graph));
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;
    fn edge(graph: &mut Graph, a: &str, b: &str) {
        graph
            .entry(a.into())
            .or_default()
            .entry(b.into())
            .or_default()
            .insert(format!("{a}.rs"));
    }
    let mut graph = Graph::new();
    edge(&mut graph, "snapshot", "exo");
    edge(&mut graph, "exo", "clock");
    assert_eq!(find_cycle(&graph), None);
    edge(&mut graph, "exo", "snapshot");
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["exo".into(), "snapshot".into(), "exo".into()])
    );
}

#[test]
fn the_model_crate_is_a_leaf() {
    let manifest = std::fs::read_to_string(workspace_root().join("crates/model/Cargo.toml")).expect("model manifest");
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap_or_default();
    let names: Vec<&str> = dependencies
        .lines()
        .filter_map(|l| l.split('=').next())
        .map(|name| name.trim().trim_end_matches(".workspace"))
        .filter(|name| !name.is_empty() && !name.starts_with('#'))
        .collect();
    // ts-rs only derives the UI's TypeScript types; it does no I/O at run time.
    let allowed = ["serde", "ts-rs"];
    assert!(
        names.iter().all(|n| allowed.contains(n)),
        "the model may depend on {allowed:?} only, has {names:?}"
    );
    let mut files = Vec::new();
    rust_files(&workspace_root().join("crates/model/src"), &mut files);
    for file in files {
        let text = production_code(&std::fs::read_to_string(&file).expect("readable"));
        for io in [
            "std::fs",
            "std::net::TcpStream",
            "std::process",
            "std::time::SystemTime",
            "Instant::now",
        ] {
            assert!(
                !text.contains(io),
                "{} does I/O or reads a clock ({io})",
                file.display()
            );
        }
    }
}
