//! `make bench-train`: steady-state training speed of the real base model on
//! the movies train split (batch 16, max length 128, length-bucketed
//! batches), side by side with PyTorch on exactly the same batches when a
//! Python with torch is available. The two sides take turns for a few
//! rounds and each figure is the median, because a shared machine's speed
//! drifts by more than the gap being measured. Ends with one `RESULT {json}`
//! line.
//!
//! Environment: `PLOTGENRE_BASE` (default models/base), `PLOTGENRE_DATA`
//! (default ../shared/data), `PLOTGENRE_PYTHON` (default /opt/pyref/bin/python,
//! then python3), `BENCH_STEPS` (timed steps per round, default 30),
//! `BENCH_ROUNDS` (rounds per side, default 3), `BENCH_SHARDS` (the parts
//! each batch runs in, `train --shards`; default as `train`'s).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use plotgenre::tokenize::TextEncoder;
use plotgenre::train::data::dataset::Dataset;
use plotgenre::train::data::formats::Format;
use plotgenre::train::fit::options::Options;
use plotgenre::train::fit::run::{Run, RunSpec};
use plotgenre::train::threads::tune_threads;
use serde_json::json;

const WARMUP_STEPS: usize = 3;
const BATCH_SIZE: usize = 16;

fn env_path(name: &str, default: &str) -> PathBuf {
    std::env::var_os(name).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// Peak resident memory of this process, in MB (Linux `VmHWM`).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Writes the batches as padded token ids and targets for the PyTorch side.
fn write_plan(
    path: &Path,
    dataset: &Dataset,
    encoder: &TextEncoder,
    batches: &[Vec<usize>],
) -> anyhow::Result<()> {
    let mut plan = Vec::new();
    for batch in batches {
        let texts: Vec<&str> = batch
            .iter()
            .map(|&i| dataset.train[i].text.as_str())
            .collect();
        let encoded = encoder.encode_batch(&texts)?;
        let targets: Vec<Vec<f32>> = batch
            .iter()
            .map(|&i| {
                dataset
                    .labels
                    .iter()
                    .map(|l| f32::from(u8::from(dataset.train[i].labels.contains(l))))
                    .collect()
            })
            .collect();
        plan.push(json!({
            "input_ids": encoded.input_ids.to_vec2::<u32>()?,
            "attention_mask": encoded.attention_mask.to_vec2::<u32>()?,
            "targets": targets,
        }));
    }
    let plan = json!({"num_labels": dataset.labels.len(), "batches": plan});
    std::fs::write(path, serde_json::to_vec(&plan)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Runs the PyTorch script on the plan; `None` when no torch is available.
fn torch_side(base: &Path, plan: &Path) -> Option<serde_json::Value> {
    let python = std::env::var_os("PLOTGENRE_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/opt/pyref/bin/python")).filter(|p| p.exists()))
        .unwrap_or_else(|| PathBuf::from("python3"));
    let output = Command::new(&python)
        .arg("scripts/bench_train_torch.py")
        .arg("--model")
        .arg(base)
        .arg("--plan")
        .arg(plan)
        .arg("--warmup")
        .arg(WARMUP_STEPS.to_string())
        .env("OMP_WAIT_POLICY", "PASSIVE")
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find_map(|l| l.strip_prefix("TORCH "));
    match line {
        Some(json) if output.status.success() => serde_json::from_str(json).ok(),
        _ => {
            eprintln!(
                "PyTorch side skipped ({}): {}",
                python.display(),
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("no output")
            );
            None
        }
    }
}

/// The middle value (mean of the two middle ones for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 0 {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// A count from the environment, at least 1, or `default` when unset.
fn env_count(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => match text.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => bail!("{name} must be a whole number of at least 1, got {text:?}"),
        },
    }
}

/// `median (min-max)` of a side's per-round figures.
fn spread(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.1} ({min:.1}-{max:.1})", median(values))
}

fn main() -> anyhow::Result<()> {
    tune_threads();
    let base = env_path("PLOTGENRE_BASE", "models/base");
    let data = env_path("PLOTGENRE_DATA", "../shared/data").join("movies/movies.csv");
    if !base.join("model.safetensors").exists() {
        bail!("no base model in {}: run `make base` first", base.display());
    }
    let timed = env_count("BENCH_STEPS", 30)?;
    let rounds = env_count("BENCH_ROUNDS", 3)?;
    let dataset = Dataset::load(&data, &Format::Movies)?;
    let out = tempfile::tempdir()?;
    let defaults = Options::default();
    let options = Options {
        batch_size: BATCH_SIZE,
        shards: env_count("BENCH_SHARDS", defaults.shards)?,
        ..defaults
    };
    let spec = RunSpec {
        dataset: &dataset,
        base: &base,
        out: out.path(),
        options: &options,
        invocation: json!(null),
    };
    let mut run = Run::new(&spec)?;
    let batches: Vec<Vec<usize>> = run
        .epoch_batches(0)
        .into_iter()
        .take(WARMUP_STEPS + timed)
        .collect();
    let encoder = TextEncoder::from_bytes(
        &std::fs::read(base.join("tokenizer.json"))?,
        options.max_length,
    )?;
    let tokens: usize = batches[WARMUP_STEPS..]
        .iter()
        .map(|b| {
            let texts: Vec<&str> = b.iter().map(|&i| dataset.train[i].text.as_str()).collect();
            encoder
                .encode_batch(&texts)
                .map(|e| e.lengths.iter().sum::<usize>())
        })
        .sum::<plotgenre::Result<usize>>()?;
    let samples: usize = batches[WARMUP_STEPS..].iter().map(Vec::len).sum();
    let plan = out.path().join("plan.json");
    write_plan(&plan, &dataset, &encoder, &batches)?;

    for batch in &batches[..WARMUP_STEPS] {
        run.optimizer_step(std::slice::from_ref(batch), 0)?;
    }
    // The sides alternate, round after round, so that a change in the
    // machine's load (other tenants, frequency) falls on both alike.
    let mut ours = Vec::new();
    let mut theirs: Vec<serde_json::Value> = Vec::new();
    for round in 0..rounds {
        let start = Instant::now();
        for batch in &batches[WARMUP_STEPS..] {
            run.optimizer_step(std::slice::from_ref(batch), 0)?;
        }
        ours.push(samples as f64 / start.elapsed().as_secs_f64());
        // Once PyTorch has failed a round, it is not tried again.
        if theirs.len() == round {
            theirs.extend(torch_side(&base, &plan));
        }
    }
    let peak = peak_rss_mb();
    let samples_per_s = median(&ours);
    let tokens_per_s = samples_per_s * tokens as f64 / samples as f64;

    println!("training speed: movies train split, batch {BATCH_SIZE}, max length {}, {timed} timed steps after {WARMUP_STEPS} warmup, {} threads, {} shards per batch, {rounds} alternating rounds (median, with the range)", options.max_length, rayon::current_num_threads(), options.shards);
    println!("| side | samples/s | tokens/s | peak RSS MB |");
    println!("|---|---|---|---|");
    println!(
        "| plotgenre (candle) | {} | {tokens_per_s:.0} | {:.0} |",
        spread(&ours),
        peak.unwrap_or(f64::NAN)
    );
    let mut result = json!({
        "samples_per_s": samples_per_s,
        "tokens_per_s": tokens_per_s,
        "peak_rss_mb": peak,
        "steps": timed,
        "rounds": rounds,
        "samples_per_s_by_round": ours,
        "batch_size": BATCH_SIZE,
        "shards": options.shards,
        "mean_tokens_per_row": tokens as f64 / samples as f64,
    });
    if theirs.len() == rounds {
        let figure = |key: &str| -> Vec<f64> {
            theirs
                .iter()
                .map(|t| t[key].as_f64().unwrap_or(f64::NAN))
                .collect()
        };
        let torch_sps = figure("samples_per_s");
        let ratios: Vec<f64> = ours.iter().zip(&torch_sps).map(|(o, t)| o / t).collect();
        let ratio = median(&ratios);
        println!(
            "| PyTorch {} ({}) | {} | {:.0} | {:.0} |",
            theirs[0]["torch"].as_str().unwrap_or("?"),
            theirs[0]["attn"].as_str().unwrap_or("?"),
            spread(&torch_sps),
            median(&figure("tokens_per_s")),
            median(&figure("peak_rss_mb"))
        );
        let by_round: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "ratio vs PyTorch: {ratio:.2}x (median of the rounds' ratios: {})",
            by_round.join(", ")
        );
        result["torch_samples_per_s"] = json!(median(&torch_sps));
        result["torch_samples_per_s_by_round"] = json!(torch_sps);
        result["ratio_vs_torch"] = json!(ratio);
    }
    println!("RESULT {result}");
    Ok(())
}
