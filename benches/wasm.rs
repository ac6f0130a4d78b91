//! `make bench-wasm`: the browser build in headless Chromium on this machine.
//! Classifies 200 movies test plots one at a time (tokenizer included) and
//! prints median / p95 latency (warm), time from page start to first result
//! on a cold visit (bundle from localhost) and a warm one (bundle from the
//! Cache API), wasm and bundle sizes (raw and gzip), peak wasm memory, and
//! the native latency of the same bundle for reference; then the time to
//! explain a plot of about 40 words (occlusion), in Chromium and natively. Ends with one
//! `RESULT {json}` line.
//!
//! Environment: `PLOTGENRE_BUNDLE` (a bundle to measure; default: the base
//! encoder with a random head at the default quantization, which has the
//! shipped model's size and speed), `PLOTGENRE_BASE` (default models/base),
//! `PLOTGENRE_DATA` (default ../shared/data).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use plotgenre::bundle::Bundle;
use plotgenre::explain::{self, GenreChoice};
use plotgenre::labels::{Rule, Thresholds};
use plotgenre::train::convert::export;
use plotgenre::train::data::dataset::Dataset;
use plotgenre::train::data::formats::Format;
use serde::Deserialize;
use serde_json::json;

const PLOTS: usize = 200;

#[derive(Deserialize)]
struct BrowserFigures {
    cold_ms: f64,
    warm_start_ms: f64,
    warm_phases_ms: StartPhases,
    latencies_ms: Vec<f64>,
    explain_ms: Vec<f64>,
    wasm_memory_bytes: u64,
    wasm_bytes: u64,
    wasm_gzip_bytes: u64,
    bundle_bytes: u64,
    bundle_gzip_bytes: u64,
}

/// Where a cached visit's start-up time goes, in ms.
#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StartPhases {
    /// Navigation start to the module script running (HTML, JS, wasm fetch).
    page_start: f64,
    /// Compiling and instantiating the wasm module.
    init: f64,
    /// Reading the bundle from the Cache API.
    bundle: f64,
    /// `Classifier.load`: checks, GGUF, weights, tokenizer.
    load: f64,
    /// The first `classify`.
    classify: f64,
}

fn env_path(name: &str, default: &str) -> PathBuf {
    std::env::var_os(name).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// The `q`-quantile of `values` (nearest rank).
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = env_path("PLOTGENRE_DATA", "../shared/data");
    let dataset = Dataset::load(&data.join("movies/movies.csv"), &Format::Movies)?;
    let texts: Vec<String> = dataset
        .test
        .iter()
        .take(PLOTS)
        .map(|e| e.text.clone())
        .collect();

    let (bytes, which) = match std::env::var_os("PLOTGENRE_BUNDLE") {
        Some(path) => (
            std::fs::read(&path).with_context(|| format!("reading {path:?}"))?,
            PathBuf::from(path).display().to_string(),
        ),
        None => {
            let base = env_path("PLOTGENRE_BASE", "models/base");
            let thresholds = Thresholds::untuned(Rule::GlobalTop1, dataset.labels.len());
            let quantization = export::DEFAULT_QUANTIZATION
                .parse()
                .map_err(anyhow::Error::msg)?;
            let bytes = export::untrained_bundle(&base, &dataset.labels, quantization, thresholds)?;
            let which = format!(
                "{} + random head, {}",
                base.display(),
                export::DEFAULT_QUANTIZATION
            );
            (bytes, which)
        }
    };

    let native = Bundle::from_bytes(&bytes)?.pipeline()?;
    let native_ms: Vec<f64> = texts
        .iter()
        .map(|text| {
            let start = Instant::now();
            native.classify(&[text.as_str()])?;
            Ok(start.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<anyhow::Result<_>>()?;

    let explained = dataset
        .test
        .iter()
        .map(|e| e.plot.as_str())
        .find(|plot| (35..=45).contains(&explain::words(plot).len()))
        .context("no movies test plot of about 40 words")?;
    let native_explain_ms: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            explain::explain(&native, None, explained, GenreChoice::Predicted)?;
            Ok(start.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<anyhow::Result<_>>()?;

    let served = tempfile::Builder::new()
        .prefix(".bench-wasm-")
        .tempdir_in(&root)?;
    std::fs::write(served.path().join("model.plotgenre"), &bytes)?;
    let texts_file = served.path().join("texts.json");
    std::fs::write(&texts_file, serde_json::to_vec(&texts)?)?;
    let url = format!(
        "/{}/model.plotgenre",
        served.path().strip_prefix(&root)?.display()
    );
    let output = Command::new("node")
        .arg(root.join("benches/wasm/run.mjs"))
        .arg("--root")
        .arg(&root)
        .args(["--bundle", &url, "--texts"])
        .arg(&texts_file)
        .args(["--explain", explained])
        .output()
        .context("running node benches/wasm/run.mjs")?;
    if !output.status.success() {
        bail!(
            "the browser run failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let browser: BrowserFigures = serde_json::from_slice(&output.stdout)
        .with_context(|| String::from_utf8_lossy(&output.stdout).into_owned())?;

    let mb = |bytes: u64| bytes as f64 / 1e6;
    let median = quantile(&browser.latencies_ms, 0.5);
    let p95 = quantile(&browser.latencies_ms, 0.95);
    let explain_median = quantile(&browser.explain_ms, 0.5);
    println!("bundle: {which}");
    println!(
        "{} movies test plots, one at a time, tokenizer included\n",
        texts.len()
    );
    println!("| figure | value | target |");
    println!("|---|---:|---:|");
    println!("| median latency, Chromium (warm) | {median:.1} ms | <= 20 ms |");
    println!("| p95 latency, Chromium (warm) | {p95:.1} ms | |");
    println!(
        "| median latency, native (same bundle) | {:.1} ms | |",
        quantile(&native_ms, 0.5)
    );
    println!(
        "| explain a {}-word plot, Chromium (warm, median of 5) | {explain_median:.0} ms | <= 1000 ms |",
        explain::words(explained).len()
    );
    println!(
        "| explain the same plot, native | {:.0} ms | |",
        quantile(&native_explain_ms, 0.5)
    );
    println!(
        "| page start to first result, cold | {:.0} ms | <= 1500 ms |",
        browser.cold_ms
    );
    println!(
        "| page start to first result, bundle cached | {:.0} ms | <= 300 ms |",
        browser.warm_start_ms
    );
    let phases = &browser.warm_phases_ms;
    println!(
        "| - of which: page {:.0}, wasm init {:.0}, bundle from cache {:.0}, load {:.0}, first classify {:.0} | ms | |",
        phases.page_start, phases.init, phases.bundle, phases.load, phases.classify
    );
    println!(
        "| wasm | {:.2} MB ({:.2} MB gzip) | |",
        mb(browser.wasm_bytes),
        mb(browser.wasm_gzip_bytes)
    );
    println!(
        "| bundle | {:.2} MB ({:.2} MB gzip) | <= 14 MB |",
        mb(browser.bundle_bytes),
        mb(browser.bundle_gzip_bytes)
    );
    println!(
        "| peak wasm memory | {:.0} MB | < 200 MB |",
        mb(browser.wasm_memory_bytes)
    );
    let result = json!({
        "median_ms": median,
        "p95_ms": p95,
        "cold_ms": browser.cold_ms,
        "warm_start_ms": browser.warm_start_ms,
        "warm_start_phases_ms": browser.warm_phases_ms,
        "wasm_bytes": browser.wasm_bytes,
        "wasm_gzip_bytes": browser.wasm_gzip_bytes,
        "bundle_bytes": browser.bundle_bytes,
        "bundle_gzip_bytes": browser.bundle_gzip_bytes,
        "peak_wasm_memory_mb": mb(browser.wasm_memory_bytes),
        "native_median_ms": quantile(&native_ms, 0.5),
        "explain_ms": explain_median,
        "native_explain_ms": quantile(&native_explain_ms, 0.5),
    });
    println!("RESULT {result}");
    Ok(())
}
