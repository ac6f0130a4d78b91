//! `make bench-explain`: the faithfulness check of explanations on real test
//! plots for the shipped bundle (`make bench-wasm` times them). Ends with one
//! `RESULT {json}` line.
//!
//! Environment: `PLOTGENRE_BUNDLE` (default www/models/model.plotgenre),
//! `PLOTGENRE_DATA` (default ../shared/data), `BENCH_PLOTS` (default 200).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use plotgenre::bundle::Bundle;
use plotgenre::train::data::dataset::Dataset;
use plotgenre::train::data::formats::Format;
use plotgenre::train::eval::faithfulness::{self, Settings};
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let bundle = std::env::var_os("PLOTGENRE_BUNDLE")
        .map_or_else(|| "www/models/model.plotgenre".into(), PathBuf::from);
    let data =
        std::env::var_os("PLOTGENRE_DATA").map_or_else(|| "../shared/data".into(), PathBuf::from);
    let count: usize = std::env::var("BENCH_PLOTS").map_or(Ok(200), |n| n.parse())?;
    let bytes = std::fs::read(&bundle).with_context(|| format!("{}", bundle.display()))?;
    let pipeline = Bundle::from_bytes(&bytes)?.pipeline()?;
    let dataset = Dataset::load(&data.join("movies/movies.csv"), &Format::Movies)?;
    let plots: Vec<(Option<&str>, &str)> = dataset
        .test
        .iter()
        .take(count)
        .map(|e| (e.title(), e.plot.as_str()))
        .collect();

    let started = Instant::now();
    let outcome = faithfulness::check(&pipeline, &plots, Settings::default())?;
    let check_s = started.elapsed().as_secs_f64();

    println!(
        "explanations of {} (occlusion), movies test plots\n",
        bundle.display()
    );
    println!("| figure | measured | target |");
    println!("|---|---:|---:|");
    println!(
        "| plots where removing the top 3 words lowers the top genre more than 3 random words | {:.1}% ({} of {}) | >= 80% |",
        outcome.win_rate() * 100.0,
        outcome.wins,
        outcome.plots
    );
    println!(
        "| mean probability drop, top 3 words removed | {:.4} | - |",
        outcome.mean_top_drop
    );
    println!(
        "| mean probability drop, 3 random words removed (5 draws) | {:.4} | - |",
        outcome.mean_random_drop
    );
    println!("\n(check took {check_s:.0} s)");
    println!(
        "RESULT {}",
        json!({
            "plots": outcome.plots,
            "win_rate": outcome.win_rate(),
            "mean_top_drop": outcome.mean_top_drop,
            "mean_random_drop": outcome.mean_random_drop,
        })
    );
    Ok(())
}
