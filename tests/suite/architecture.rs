//! The source tree keeps its shape: imports flow one way (no module imports
//! one that imports it back, directly or through re-exports, and each folder
//! imports only the layers below it), re-exports only lift a folder's own
//! items, files stay under 600 lines (the CPU kernels excepted) and
//! functions fit on a screen. It reads `src/` as text, at the granularity of
//! file modules, so it needs nothing built.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lines a file may have, outside `src/kernels/`.
const MAX_FILE_LINES: usize = 600;
/// Lines a function may have, signature and closing brace included.
const MAX_FUNCTION_LINES: usize = 80;

/// The layers of the crate, lowest first: a module may import its own
/// top-level module and those of lower layers only. Within `train`, its
/// folders and files form layers of their own.
const CRATE_LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("language", 0),
    ("kernels", 1),
    ("labels", 1),
    ("table", 1),
    ("tokenize", 1),
    ("model", 2),
    ("pipeline", 3),
    ("bundle", 4),
    ("explain", 4),
    ("train", 5),
    ("wasm", 5),
];
const TRAIN_LAYERS: &[(&str, u32)] = &[
    ("atomic", 0),
    ("threads", 0),
    ("data", 1),
    ("model_dir", 1),
    ("eval", 2),
    ("convert", 3),
    ("fit", 3),
    ("predict", 3),
    ("cli", 4),
];

/// The crate's `src/` folder.
fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// One file module: its path in the crate (`""` for the root) and lines.
struct Module {
    file: PathBuf,
    lines: Vec<String>,
}

/// Every file module of the library (the `plotgenre` binary's `main.rs` is
/// not part of it), by module path.
fn modules() -> BTreeMap<String, Module> {
    let mut files = Vec::new();
    collect_rs_files(&src(), &mut files);
    let mut modules = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src()).expect("under src/");
        let mut parts: Vec<String> = relative
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let last = parts.pop().expect("a file name");
        match last.as_str() {
            "main.rs" if parts.is_empty() => continue,
            "lib.rs" | "mod.rs" => {}
            name => parts.push(name.trim_end_matches(".rs").to_string()),
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        let lines = text.lines().map(str::to_string).collect();
        modules.insert(parts.join("::"), Module { file, lines });
    }
    modules
}

fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            collect_rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether a line is only a comment (doc comments included).
fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with("//")
}

/// The inline `mod name { ... }` blocks of a file as (name, first line,
/// last line), found by rustfmt's indentation.
fn inline_modules(lines: &[String]) -> Vec<(String, usize, usize)> {
    let mut blocks = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let rest = line.trim_start();
        let rest = rest.strip_prefix("pub ").unwrap_or(rest);
        let Some(rest) = rest.strip_prefix("mod ") else {
            continue;
        };
        let Some(name) = rest.strip_suffix(" {") else {
            continue;
        };
        let close = format!("{indent}}}");
        let end = (start + 1..lines.len())
            .find(|&i| lines[i] == close)
            .unwrap_or(lines.len() - 1);
        blocks.push((name.to_string(), start, end));
    }
    blocks
}

/// The module a line of `module`'s file belongs to, inline modules included.
fn scope_of(module: &str, blocks: &[(String, usize, usize)], line: usize) -> Vec<String> {
    let mut scope: Vec<String> = split(module);
    for (name, start, end) in blocks {
        if (*start..=*end).contains(&line) {
            scope.push(name.clone());
        }
    }
    scope
}

fn split(path: &str) -> Vec<String> {
    path.split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Expands a use tree (`a::{b, c::{d, self}}`, renames and globs allowed)
/// into its paths.
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    let tree: String = tree
        .chars()
        .filter(|c| !c.is_whitespace() || *c == ' ')
        .collect();
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree);
        return vec![split(path)
            .into_iter()
            .filter(|s| s != "self" && s != "*")
            .collect()];
    };
    let prefix = split(tree[..open].trim_end_matches("::"));
    let inner = &tree[open + 1..tree.rfind('}').expect("a closing brace")];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.trim().is_empty())
        .flat_map(expand_use_tree)
        .map(|rest| prefix.iter().cloned().chain(rest).collect())
        .collect()
}

/// A path as written in `scope`, made absolute; `None` for paths into other
/// crates.
fn absolute(
    path: &[String],
    scope: &[String],
    known: &BTreeMap<String, Module>,
) -> Option<Vec<String>> {
    let first = path.first()?;
    let (mut base, rest) = match first.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (scope.to_vec(), &path[1..]),
        "super" => {
            let mut base = scope.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        child => {
            let mut candidate = scope.to_vec();
            candidate.push(child.to_string());
            if !known.contains_key(&candidate.join("::")) {
                return None;
            }
            (scope.to_vec(), path)
        }
    };
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The file module a path lands in: its longest prefix that is one.
fn file_module(path: &[String], known: &BTreeMap<String, Module>) -> String {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| known.contains_key(m))
        .unwrap_or_default()
}

/// A `use` statement: where it starts, whether it re-exports, its tree.
struct UseStatement {
    line: usize,
    public: bool,
    tree: String,
}

/// Whether what precedes `use ` on a line makes it a `use` statement.
fn is_visibility(text: &str) -> bool {
    text.is_empty() || text == "pub " || (text.starts_with("pub(") && text.ends_with(") "))
}

/// The `use` statements of a file, and the lines they span.
fn use_statements(lines: &[String]) -> (Vec<UseStatement>, BTreeSet<usize>) {
    let mut statements = Vec::new();
    let mut spanned = BTreeSet::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_start();
        let (public, rest) = match line.split_once("use ") {
            Some((visibility, rest)) if is_visibility(visibility) => (!visibility.is_empty(), rest),
            _ => {
                i += 1;
                continue;
            }
        };
        let start = i;
        let mut tree = rest.to_string();
        while !tree.contains(';') && i + 1 < lines.len() {
            i += 1;
            tree.push(' ');
            tree.push_str(lines[i].trim());
        }
        spanned.extend(start..=i);
        let tree = tree.split(';').next().unwrap_or_default().to_string();
        statements.push(UseStatement {
            line: start,
            public,
            tree,
        });
        i += 1;
    }
    (statements, spanned)
}

/// The `crate::` and `super::` paths written out in code (outside `use`).
fn inline_paths(line: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for anchor in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(found) = line[from..].find(anchor) {
            let start = from + found;
            from = start + anchor.len();
            let before = line[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let end = line[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(line.len(), |e| start + e);
            paths.push(split(line[start..end].trim_end_matches(':')));
        }
    }
    paths
}

/// Every module's imports of other file modules of the crate.
fn import_graph(known: &BTreeMap<String, Module>) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for (name, module) in known {
        let blocks = inline_modules(&module.lines);
        let (statements, spanned) = use_statements(&module.lines);
        let mut paths: Vec<(usize, Vec<String>)> = statements
            .iter()
            .filter(|s| !is_comment(&module.lines[s.line]))
            .flat_map(|s| expand_use_tree(&s.tree).into_iter().map(|p| (s.line, p)))
            .collect();
        for (i, line) in module.lines.iter().enumerate() {
            if !spanned.contains(&i) && !is_comment(line) {
                paths.extend(inline_paths(line).into_iter().map(|p| (i, p)));
            }
        }
        let targets: BTreeSet<String> = paths
            .iter()
            .filter_map(|(line, path)| absolute(path, &scope_of(name, &blocks, *line), known))
            .map(|path| file_module(&path, known))
            .filter(|target| target != name)
            .collect();
        graph.insert(name.clone(), targets);
    }
    graph
}

/// The import cycles of `graph`: its strongly connected components of more
/// than one module (Tarjan's algorithm).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Search<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Search<'g> {
        fn visit(&mut self, node: &'g str) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            for next in self.graph.get(node).into_iter().flatten() {
                if !self.index.contains_key(next.as_str()) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next.as_str()]);
                    self.low.insert(node, low);
                } else if self.stack.contains(&next.as_str()) {
                    let low = self.low[node].min(self.index[next.as_str()]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    component.push(top.to_string());
                    if top == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut search = Search {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !search.index.contains_key(node.as_str()) {
            search.visit(node);
        }
    }
    search.found
}

/// The layer a module belongs to: its top-level module (inside `train`,
/// its folder or file there) and that one's rank.
fn layer(module: &str) -> Option<(String, u32)> {
    let parts = split(module);
    let top = parts.first()?;
    if top == "train" {
        let Some(second) = parts.get(1) else {
            return Some(("train".into(), 6));
        };
        let rank = TRAIN_LAYERS.iter().find(|(n, _)| n == second)?.1;
        return Some((format!("train::{second}"), rank));
    }
    let rank = CRATE_LAYERS.iter().find(|(n, _)| n == top)?.1;
    Some((top.clone(), rank))
}

/// The rank two layers are compared at: the crate's, unless both are in `train`.
fn compared_ranks(from: &(String, u32), to: &(String, u32)) -> (u32, u32) {
    let crate_rank = |layer: &(String, u32)| match layer.0.starts_with("train") {
        true => CRATE_LAYERS
            .iter()
            .find(|(n, _)| *n == "train")
            .map_or(0, |l| l.1),
        false => layer.1,
    };
    if from.0.starts_with("train::") && to.0.starts_with("train::") {
        (from.1, to.1)
    } else {
        (crate_rank(from), crate_rank(to))
    }
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = import_graph(&modules());
    let found = cycles(&graph);
    let described: Vec<String> = found
        .iter()
        .map(|component| {
            let edges: Vec<String> = component
                .iter()
                .flat_map(|from| {
                    graph[from]
                        .iter()
                        .filter(|to| component.contains(to))
                        .map(move |to| format!("{from} -> {to}"))
                })
                .collect();
            edges.join(", ")
        })
        .collect();
    assert!(found.is_empty(), "import cycles: {}", described.join("; "));
}

#[test]
fn imports_flow_down_the_layers() {
    let graph = import_graph(&modules());
    let mut wrong = Vec::new();
    for (from, targets) in &graph {
        if from.is_empty() {
            continue;
        }
        let from_layer = layer(from)
            .unwrap_or_else(|| panic!("module {from} is in no layer; add it to this test"));
        for to in targets.iter().filter(|to| !to.is_empty()) {
            let to_layer = layer(to)
                .unwrap_or_else(|| panic!("module {to} is in no layer; add it to this test"));
            if from_layer.0 == to_layer.0 {
                continue;
            }
            let (a, b) = compared_ranks(&from_layer, &to_layer);
            if a <= b {
                wrong.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers: {}",
        wrong.join(", ")
    );
}

#[test]
fn the_crate_root_only_lifts_the_error_type() {
    let graph = import_graph(&modules());
    let root: Vec<&String> = graph[""].iter().collect();
    assert_eq!(root, ["error"], "lib.rs imports {root:?}");
}

#[test]
fn re_exports_only_lift_a_folders_own_items() {
    let known = modules();
    let mut wrong = Vec::new();
    for (name, module) in &known {
        let (statements, _) = use_statements(&module.lines);
        for statement in statements.iter().filter(|s| s.public) {
            for path in expand_use_tree(&statement.tree) {
                let child = path.first().map(|first| {
                    let mut candidate = split(name);
                    candidate.push(first.clone());
                    candidate.join("::")
                });
                if !child.is_some_and(|c| known.contains_key(&c)) {
                    wrong.push(format!(
                        "{}: pub use {}",
                        module.file.display(),
                        path.join("::")
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "re-exports of names from outside the folder (import from the defining module instead): {}",
        wrong.join(", ")
    );
}

#[test]
fn files_stay_short_outside_the_kernels() {
    let long: Vec<String> = modules()
        .into_iter()
        .filter(|(name, module)| {
            !name.starts_with("kernels") && module.lines.len() > MAX_FILE_LINES
        })
        .map(|(_, module)| format!("{} ({} lines)", module.file.display(), module.lines.len()))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines: {}",
        long.join(", ")
    );
}

/// Whether a line starts a function definition, and its indentation.
fn function_start(line: &str) -> Option<&str> {
    let indent = &line[..line.len() - line.trim_start().len()];
    let mut rest = line.trim_start();
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    rest.starts_with("fn ").then_some(indent)
}

/// The length of the function starting at `start`, or `None` for a
/// declaration without a body.
fn function_length(lines: &[String], start: usize, indent: &str) -> Option<usize> {
    let open = (start..lines.len()).find(|&i| {
        let line = lines[i].trim_end();
        line.ends_with('{') || line.ends_with(';') || line.ends_with('}')
    })?;
    let line = lines[open].trim_end();
    if line.ends_with(';') {
        return None;
    }
    if line.ends_with('}') {
        return Some(open - start + 1);
    }
    let close = format!("{indent}}}");
    let end = (open + 1..lines.len()).find(|&i| lines[i] == close)?;
    Some(end - start + 1)
}

#[test]
fn functions_fit_on_a_screen() {
    let mut long = Vec::new();
    for module in modules().values() {
        for (i, line) in module.lines.iter().enumerate() {
            let Some(indent) = function_start(line) else {
                continue;
            };
            let length = function_length(&module.lines, i, indent);
            if length.is_some_and(|n| n > MAX_FUNCTION_LINES) {
                long.push(format!(
                    "{}:{} ({} lines)",
                    module.file.display(),
                    i + 1,
                    length.unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines: {}",
        long.join(", ")
    );
}

#[test]
fn the_checks_see_a_cycle_when_there_is_one() {
    let text = |lines: &[&str]| Module {
        file: PathBuf::from("made-up.rs"),
        lines: lines.iter().map(|l| l.to_string()).collect(),
    };
    let known = BTreeMap::from([
        (String::new(), text(&["pub mod a;", "pub mod b;"])),
        ("a".to_string(), text(&["use crate::b::{self, Thing};"])),
        (
            "b".to_string(),
            text(&["pub fn f() {", "    super::a::g();", "}"]),
        ),
    ]);
    let graph = import_graph(&known);
    assert_eq!(cycles(&graph), [["a", "b"]]);
}
