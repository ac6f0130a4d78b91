//! `pkg/` as the npm package a web developer installs: `make wasm` writes its
//! package.json from Cargo.toml, `npm pack` in pkg/ makes the tarball, a
//! temporary project installs it offline and serves tests/browser/embed/,
//! once as a plain `<script type="module">` page importing from
//! node_modules/plotgenre/ and once bundled by esbuild (the package imported
//! by name); in both, headless Chromium loads the shipped bundle, classifies a
//! plot into the genres the native build gives and explains one. Also checks
//! that the `.d.ts` types every export.
//! Needs `make wasm` and `make browser-deps` (`make test` runs both).

use crate::common;

use std::path::Path;
use std::process::Command;

use plotgenre::pipeline::Classification;
use plotgenre::tokenize::model_input;
use serde_json::Value;

const TITLE: &str = "Second Cup";
const PLOT: &str = "A cynical wedding planner keeps bumping into the clumsy baker who ruined her \
    best client's cake. Forced to work together on a disastrous celebrity wedding, they bicker, \
    trade insults and slowly fall in love.";
/// Genres any reasonable model ranks in its top three for `PLOT`.
const EXPECTED: [&str; 2] = ["Comedy", "Romance"];
/// Declarations the `.d.ts` must hold: every export and every type its signatures name.
const DECLARED: [&str; 17] = [
    "export class Classifier",
    "static load(bytes: Uint8Array | number[], options?: LoadOptions | null): Classifier;",
    "classify(text: string, options?: ClassifyOptions | null): Classification;",
    "classifyBatch(texts: string[], options?: ClassifyBatchOptions | null): Classification[];",
    "explain(text: string, options?: ExplainOptions | null): Explanation;",
    "explainer(text: string, options?: ExplainOptions | null): Explainer;",
    "info(): ModelInfo;",
    "export class Explainer",
    "result(): Explanation;",
    "export function parseCsv(bytes: Uint8Array | number[]): CsvTable;",
    "export function writeCsv(rows: string[][]): string;",
    "export interface LoadOptions",
    "export interface CsvTable",
    "export interface Classification",
    "export interface Explanation",
    "export interface ModelInfo",
    "export interface Provenance",
];

/// Runs `command` in `dir`; its stdout, or a panic with its output.
fn run(command: &mut Command, dir: &Path) -> String {
    let output = command.current_dir(dir).output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} in {}: {}\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn cargo_field(key: &str) -> String {
    let toml = std::fs::read_to_string(common::root().join("Cargo.toml")).unwrap();
    let line = toml
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap();
    line.split('"').nth(1).unwrap().to_string()
}

#[test]
fn the_packed_package_classifies_in_a_plain_module_page() {
    let root = common::root();
    let pkg = root.join("pkg");
    if !common::available(&pkg.join("package.json"), "run `make wasm`")
        || !common::available(
            &root.join("tests/browser/node_modules/playwright-core"),
            "run `make browser-deps`",
        )
    {
        return;
    }
    let Some(pipeline) = common::shipped_pipeline() else {
        return;
    };
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(pkg.join("package.json")).unwrap()).unwrap();
    for key in ["name", "version", "description", "license"] {
        assert_eq!(manifest[key], cargo_field(key), "package.json {key}");
    }
    assert_eq!(manifest["module"], "plotgenre.js");
    assert_eq!(manifest["types"], "plotgenre.d.ts");
    let types = std::fs::read_to_string(pkg.join("plotgenre.d.ts")).unwrap();
    for declaration in DECLARED {
        assert!(types.contains(declaration), "the .d.ts lacks {declaration}");
    }
    // `readonly` lines are InitOutput's raw wasm exports, not the API.
    let untyped: Vec<&str> = types
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with("readonly ") && !l.starts_with('*') && !l.starts_with("/*"))
        .filter(|l| {
            l.split(|c: char| !c.is_alphanumeric())
                .any(|word| word == "any")
        })
        .collect();
    assert!(untyped.is_empty(), "typed any: {untyped:?}");

    let work = tempfile::tempdir().unwrap();
    let packed = run(
        Command::new("npm")
            .args(["pack", "--pack-destination"])
            .arg(work.path()),
        &pkg,
    );
    let tarball = work.path().join(packed.lines().last().unwrap().trim());
    let project = work.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{ "name": "embed-test", "private": true, "type": "module" }"#,
    )
    .unwrap();
    run(
        Command::new("npm")
            .args(["install", "--offline", "--no-audit", "--no-fund"])
            .arg(&tarball),
        &project,
    );
    let embed = root.join("tests/browser/embed");
    for file in ["index.html", "app.js", "main.js", "bundled.js"] {
        std::fs::copy(embed.join(file), project.join(file)).unwrap();
    }
    // The bundler project: esbuild bundles bundled.js into dist/main.js; the
    // wasm and the bundle are served beside it.
    let dist = project.join("dist");
    run(
        Command::new(root.join("tests/browser/node_modules/.bin/esbuild")).args([
            "bundled.js",
            "--bundle",
            "--format=esm",
            "--outfile=dist/main.js",
        ]),
        &project,
    );
    std::fs::copy(embed.join("index.html"), dist.join("index.html")).unwrap();
    std::fs::copy(
        project.join("node_modules/plotgenre/plotgenre_bg.wasm"),
        dist.join("plotgenre_bg.wasm"),
    )
    .unwrap();
    for dir in [&project, &dist] {
        std::fs::copy(
            root.join("www/models/model.plotgenre"),
            dir.join("model.plotgenre"),
        )
        .unwrap();
    }
    let plot_file = work.path().join("plot.json");
    std::fs::write(
        &plot_file,
        serde_json::json!({ "title": TITLE, "plot": PLOT }).to_string(),
    )
    .unwrap();
    let native = pipeline
        .classify(&[&model_input(Some(TITLE), PLOT)])
        .unwrap()
        .remove(0);
    for page in ["/index.html", "/dist/index.html"] {
        let stdout = run(
            Command::new("node")
                .arg(root.join("tests/browser/embed.mjs"))
                .arg("--root")
                .arg(&project)
                .args(["--page", page, "--plot"])
                .arg(&plot_file),
            &root,
        );
        let shown: Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(shown["ok"], true, "{page}: {shown}");
        assert_page(&shown, &native, &pipeline.labels);
    }
}

/// Checks what the example page got against the native classification.
fn assert_page(page: &Value, native: &Classification, labels: &[String]) {
    let classification = &page["classification"];
    let order: Vec<&str> = classification["genres"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["genre"].as_str().unwrap())
        .collect();
    let native_order: Vec<&str> = native.genres.iter().map(|g| g.genre.as_str()).collect();
    assert_eq!(order[..3], native_order[..3], "top three genres");
    for genre in EXPECTED {
        assert!(
            order[..3].contains(&genre),
            "{genre} not in the top three: {order:?}"
        );
    }
    let native_predicted: Vec<&str> = native.predicted().collect();
    assert_eq!(
        classification["predicted"],
        serde_json::json!(native_predicted)
    );
    assert_eq!(page["info"]["labels"], serde_json::json!(labels));
    assert!(page["info"]["provenance"]["baseModel"].is_string());
    let explained = &page["explanation"]["genres"][0];
    assert_eq!(explained["genre"], order[0]);
    assert!(!explained["words"].as_array().unwrap().is_empty());
    let bad = page["badOptions"].as_str().unwrap();
    assert!(bad.contains("tittle"), "{bad}");
}
