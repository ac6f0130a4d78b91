//! The browser path end to end: a bundle of the real MiniLM encoder (with a
//! seeded random head, quantized as the page ships it) is classified in
//! headless Chromium through the wasm `Classifier` and natively from the same
//! bytes; on 50 real plots the probabilities must agree within 1e-4, a
//! megabyte of text is truncated, and the wasm memory stays under 200 MB.
//! All four wasm builds run: the single-thread one and the threaded one (on a
//! cross-origin isolated page, a pool thread per core), each also as its
//! relaxed-SIMD twin, which must all agree to the bit.
//! Needs `make base`, `make wasm` and `make browser-deps` (`make test` runs all).

use crate::common;

use std::process::Command;

use plotgenre::bundle::Bundle;
use plotgenre::labels::{Rule, Thresholds};
use plotgenre::train::convert::export;
use plotgenre::train::data::dataset::Dataset;
use plotgenre::train::data::formats::Format;
use serde::Deserialize;

const TOLERANCE: f32 = 1e-4;
const PLOTS: usize = 50;
/// Peak wasm memory while loading and classifying (issue 7; `make bench-wasm` prints it too).
const WASM_MEMORY_LIMIT_BYTES: u64 = 200_000_000;

#[derive(Deserialize)]
struct BrowserRun {
    ok: bool,
    error: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    info: serde_json::Value,
    #[serde(default)]
    results: Vec<Classification>,
    #[serde(rename = "badBundle")]
    bad_bundle: Option<BadBundle>,
    #[serde(rename = "badOptions", default)]
    bad_options: Vec<String>,
    #[serde(rename = "wasmMemoryBytes", default)]
    wasm_memory_bytes: u64,
    #[serde(rename = "hardwareConcurrency", default)]
    hardware_concurrency: u64,
    #[serde(rename = "bytesReleased", default)]
    bytes_released: bool,
}

#[derive(Deserialize)]
struct Classification {
    genres: Vec<GenreScore>,
    predicted: Vec<String>,
    truncated: bool,
}

#[derive(Deserialize)]
struct GenreScore {
    genre: String,
    probability: f32,
    predicted: bool,
}

#[derive(Deserialize)]
struct BadBundle {
    #[serde(rename = "isError")]
    is_error: bool,
    message: String,
}

#[test]
fn wasm_in_chromium_classifies_like_the_native_build() {
    let root = common::root();
    let movies = root.join("../shared/data/movies/movies.csv");
    if !common::available(&root.join("pkg/plotgenre_bg.wasm"), "run `make wasm`")
        || !common::available(
            &root.join("tests/browser/node_modules/playwright-core"),
            "run `make browser-deps`",
        )
        || !common::available(
            &root.join("models/base/model.safetensors"),
            "run `make base`",
        )
        || !common::available(&movies, "../shared/data is beside the checkout")
    {
        return;
    }
    let dataset = Dataset::load(&movies, &Format::Movies).unwrap();
    let mut texts: Vec<String> = dataset.test[..PLOTS]
        .iter()
        .map(|e| e.text.clone())
        .collect();
    texts.push("word ".repeat(300));
    texts.push("a plot twist ".repeat(80_000));
    // A low temperature spreads the random head's small logits over the
    // whole probability range, so a wrong hidden state cannot hide.
    let thresholds = Thresholds {
        temperature: 0.05,
        ..Thresholds::untuned(Rule::PerLabel, dataset.labels.len())
    };
    let quantization = export::DEFAULT_QUANTIZATION.parse().unwrap();
    let bytes = export::untrained_bundle(
        &root.join("models/base"),
        &dataset.labels,
        quantization,
        thresholds,
    )
    .unwrap();

    let served = tempfile::Builder::new()
        .prefix(".browser-test-")
        .tempdir_in(&root)
        .unwrap();
    std::fs::write(served.path().join("model.plotgenre"), &bytes).unwrap();
    let texts_file = served.path().join("texts.json");
    std::fs::write(&texts_file, serde_json::to_vec(&texts).unwrap()).unwrap();
    let url = format!(
        "/{}/model.plotgenre",
        served.path().file_name().unwrap().to_str().unwrap()
    );
    let native = Bundle::from_bytes(&bytes).unwrap().pipeline().unwrap();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let expected = native.classify(&refs).unwrap();
    let bits = |run: &BrowserRun| -> Vec<Vec<u32>> {
        let probabilities = |c: &Classification| -> Vec<u32> {
            c.genres.iter().map(|g| g.probability.to_bits()).collect()
        };
        run.results.iter().map(probabilities).collect()
    };
    // The kernels' sums do not depend on how work is shared out among
    // threads, nor on which instructions make them.
    let mut first: Option<Vec<Vec<u32>>> = None;
    for (build, relaxed) in [
        ("single", false),
        ("threads", false),
        ("single", true),
        ("threads", true),
    ] {
        let run = in_chromium(&root, &url, &texts_file, build, relaxed);
        check_run(&run, &dataset.labels, &bytes, &expected);
        assert_eq!(run.info["build"], build);
        assert_eq!(run.info["relaxedSimd"], relaxed);
        let threads = if build == "single" {
            1
        } else {
            run.hardware_concurrency
        };
        assert_eq!(run.info["threads"], threads);
        let run_bits = bits(&run);
        let single = first.get_or_insert_with(|| run_bits.clone());
        assert!(
            run_bits == *single,
            "{build} build (relaxed SIMD: {relaxed}) differs from the single-thread one"
        );
    }
}

/// Classifies the texts of `texts_file` with the bundle at `url` in headless
/// Chromium, with the wasm `build` ("single" or "threads"), or its
/// relaxed-SIMD twin.
fn in_chromium(
    root: &std::path::Path,
    url: &str,
    texts_file: &std::path::Path,
    build: &str,
    relaxed: bool,
) -> BrowserRun {
    let output = Command::new("node")
        .arg(root.join("tests/browser/run.mjs"))
        .args([
            "--root",
            root.to_str().unwrap(),
            "--bundle",
            url,
            "--build",
            build,
            "--texts",
        ])
        .arg(texts_file)
        .args(relaxed.then_some("--relaxed"))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let run: BrowserRun = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "bad harness output ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(
        run.ok,
        "{build} build: browser run failed: {:?}\n{}",
        run.error,
        String::from_utf8_lossy(&output.stderr)
    );
    run
}

/// Checks one browser run: what the bundle says of itself, its errors, and
/// each probability against the native build's `expected`.
fn check_run(
    run: &BrowserRun,
    labels: &[String],
    bytes: &[u8],
    expected: &[plotgenre::pipeline::Classification],
) {
    assert_eq!(run.labels, labels);
    assert_eq!(run.info["sizeBytes"], bytes.len());
    assert_eq!(run.info["formatVersion"], plotgenre::bundle::FORMAT_VERSION);
    assert_eq!(run.info["quantization"], export::DEFAULT_QUANTIZATION);
    let bad = run
        .bad_bundle
        .as_ref()
        .expect("the page tried a bad bundle");
    assert!(bad.is_error, "a bad bundle must throw an Error");
    assert!(
        bad.message.contains("not a plotgenre bundle"),
        "{}",
        bad.message
    );
    assert_eq!(run.bad_options.len(), 2, "{:?}", run.bad_options);
    assert!(
        run.bad_options
            .iter()
            .all(|m| m.starts_with("classify options: ")),
        "{:?}",
        run.bad_options
    );
    assert!(
        run.bad_options[1].contains("tittle"),
        "{}",
        run.bad_options[1]
    );

    assert_eq!(run.results.len(), expected.len());
    let mut max_diff = 0f32;
    let mut spread = (1f32, 0f32);
    for (browser, native) in run.results.iter().zip(expected) {
        assert_eq!(browser.truncated, native.truncated);
        assert_eq!(browser.genres.len(), native.genres.len());
        assert!(
            browser
                .genres
                .windows(2)
                .all(|w| w[0].probability >= w[1].probability),
            "genres come most probable first"
        );
        let flagged: Vec<&str> = browser
            .genres
            .iter()
            .filter(|g| g.predicted)
            .map(|g| g.genre.as_str())
            .collect();
        assert_eq!(
            browser.predicted, flagged,
            "predicted lists the flagged genres in order"
        );
        for genre in &browser.genres {
            let reference = native
                .genres
                .iter()
                .find(|g| g.genre == genre.genre)
                .expect("same genres");
            max_diff = max_diff.max((genre.probability - reference.probability).abs());
            if (reference.probability - 0.5).abs() > 10.0 * TOLERANCE {
                assert_eq!(
                    genre.predicted, reference.predicted,
                    "{}: browser {} native {}",
                    genre.genre, genre.probability, reference.probability
                );
            }
            spread = (
                spread.0.min(reference.probability),
                spread.1.max(reference.probability),
            );
        }
    }
    println!(
        "{} build: browser vs native on {} texts: max abs probability diff {max_diff:.2e} (probabilities span {:.3}..{:.3})",
        run.info["build"],
        expected.len(),
        spread.0,
        spread.1
    );
    assert!(
        spread.1 - spread.0 > 0.5,
        "the test model's outputs barely vary"
    );
    assert!(max_diff <= TOLERANCE, "max abs diff {max_diff}");
    assert!(run.results[PLOTS].truncated, "the long text is truncated");
    assert!(
        run.results[PLOTS + 1].truncated,
        "the megabyte is truncated"
    );
    println!(
        "peak wasm memory: {:.1} MB",
        run.wasm_memory_bytes as f64 / 1e6
    );
    assert!(
        run.wasm_memory_bytes > 0 && run.wasm_memory_bytes < WASM_MEMORY_LIMIT_BYTES,
        "peak wasm memory {} bytes",
        run.wasm_memory_bytes
    );
    assert!(
        run.bytes_released,
        "Classifier.load(bytes, {{ releaseBytes: true }}) left the bundle's buffer attached"
    );
}
