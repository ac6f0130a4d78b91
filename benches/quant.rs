//! `make bench-quant`: for each trained model and each quantization, the
//! bundle size and the test-split figures under EVALUATION.md (the model's
//! own decision rule), against the f32 model folder. Ends with one
//! `RESULT {json}` line.
//!
//! Environment: `PLOTGENRE_MODELS` (default `movies=models/movies,kslimon=models/kslimon`;
//! missing folders are skipped with a note), `PLOTGENRE_DATA` (default ../shared/data),
//! `BENCH_QUANTS` (default `f16,q8_0,q4_0,q4k,q8_0/q4_0`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use plotgenre::bundle::Bundle;
use plotgenre::pipeline::Pipeline;
use plotgenre::train::convert::export::{self, Quantization};
use plotgenre::train::data::dataset::Dataset;
use plotgenre::train::data::formats::Format;
use plotgenre::train::eval::evaluate::{self, Metrics};
use plotgenre::train::model_dir;
use serde_json::json;

/// Test-split micro-F1 and weighted F1 of `pipeline` under its own rule.
fn figures(pipeline: &Pipeline, dataset: &Dataset) -> anyhow::Result<(f64, f64)> {
    let report = evaluate::evaluate_split(pipeline, &dataset.test, &dataset.labels)?;
    match report.rules.get(pipeline.thresholds.rule.name()) {
        Some(Metrics::Multi(m)) => Ok((m.micro_f1, m.weighted_f1)),
        Some(Metrics::Single(m)) => Ok((m.accuracy, m.macro_f1)),
        None => bail!("no figures for the model's rule"),
    }
}

fn data_file(data: &Path, name: &str) -> anyhow::Result<(PathBuf, Format)> {
    Ok(match name {
        "movies" => (data.join("movies/movies.csv"), Format::Movies),
        "kslimon" => (data.join("kslimon/Movies_data.csv"), Format::Kslimon),
        "imdb27" => (data.join("imdb27/train_data.txt"), Format::Imdb27),
        other => bail!("unknown dataset {other:?} in PLOTGENRE_MODELS"),
    })
}

fn main() -> anyhow::Result<()> {
    let data =
        std::env::var_os("PLOTGENRE_DATA").map_or_else(|| "../shared/data".into(), PathBuf::from);
    let models = std::env::var("PLOTGENRE_MODELS")
        .unwrap_or_else(|_| "movies=models/movies,kslimon=models/kslimon".into());
    let quants =
        std::env::var("BENCH_QUANTS").unwrap_or_else(|_| "f16,q8_0,q4_0,q4k,q8_0/q4_0".into());
    let quants: Vec<Quantization> = quants
        .split(',')
        .map(|q| q.parse().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    let scratch = tempfile::tempdir()?;

    println!("test split, EVALUATION.md, each model's own decision rule (single-label: accuracy / macro-F1)\n");
    println!("| dataset | storage | bundle MB | micro-F1 | weighted F1 | micro-F1 vs f32 |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut results = Vec::new();
    for entry in models.split(',') {
        let (name, dir) = entry
            .split_once('=')
            .with_context(|| format!("PLOTGENRE_MODELS entry {entry:?} is not NAME=DIR"))?;
        let dir = PathBuf::from(dir);
        if !dir.join(model_dir::MODEL_FILE).is_file() {
            println!(
                "| {name} | (no model in {}: `make train-{name}`) | | | | |",
                dir.display()
            );
            continue;
        }
        let (path, format) = data_file(&data, name)?;
        let dataset = Dataset::load(&path, &format)?;
        let (f32_micro, f32_weighted) = figures(&model_dir::load(&dir)?, &dataset)?;
        println!("| {name} | f32 folder | | {f32_micro:.4} | {f32_weighted:.4} | |");
        for &quant in &quants {
            let file = scratch.path().join(format!("{name}.plotgenre"));
            let exported = export::export(&dir, quant, "bench", &file, None)?;
            let pipeline = Bundle::from_bytes(&std::fs::read(&file)?)?.pipeline()?;
            let (micro, weighted) = figures(&pipeline, &dataset)?;
            let mb = exported.bytes as f64 / 1e6;
            println!(
                "| {name} | {quant} | {mb:.2} | {micro:.4} | {weighted:.4} | {:+.4} |",
                micro - f32_micro
            );
            results.push(json!({
                "dataset": name,
                "quantization": quant.to_string(),
                "bundle_bytes": exported.bytes,
                "micro_f1": micro,
                "weighted_f1": weighted,
                "f32_micro_f1": f32_micro,
                "f32_weighted_f1": f32_weighted,
            }));
        }
    }
    println!("RESULT {}", json!({ "quantizations": results }));
    Ok(())
}
