//! The command line: parses arguments into typed values, calls the library,
//! prints results. The only place that speaks to users; errors arrive here as
//! `anyhow` chains and leave as one line on stderr.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};

use super::import::{self, ImportReport, SourceLayout};
use crate::model::Pooling;

/// plotgenre: train and package the offline movie-genre classifier.
#[derive(Debug, Parser)]
#[command(name = "plotgenre", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import a pretrained encoder (DistilBERT, or BERT converted exactly) as a base model.
    ImportBase(ImportBaseArgs),
}

#[derive(Debug, Args)]
struct ImportBaseArgs {
    /// Checkpoint folder holding config.json, model.safetensors and tokenizer.json,
    /// or `hf:NAME` to download NAME from the Hugging Face hub (build with --features hub).
    #[arg(long, value_name = "DIR|hf:NAME")]
    from: String,
    /// Folder to write the DistilBERT base model into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Pooling for the classification head [default: mean for sentence-transformers
    /// folders trained with it, else cls].
    #[arg(long, value_enum)]
    pooling: Option<Pooling>,
}

/// Parses the process arguments and runs the chosen command.
pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::ImportBase(args) => import_base(args),
    }
}

fn import_base(args: ImportBaseArgs) -> anyhow::Result<()> {
    let from = match args.from.strip_prefix("hf:") {
        Some(name) => download(name)?,
        None => PathBuf::from(&args.from),
    };
    if !from.is_dir() {
        bail!("--from {}: not a folder (expected config.json, model.safetensors and tokenizer.json inside)", from.display());
    }
    let report = import::import_base(&from, &args.out, args.pooling)
        .with_context(|| format!("cannot import {}", from.display()))?;
    print_report(&from, &report);
    Ok(())
}

fn print_report(from: &std::path::Path, report: &ImportReport) {
    let layout = match report.layout {
        SourceLayout::DistilBert => "DistilBERT (copied)",
        SourceLayout::Bert => "BERT (converted to DistilBERT)",
    };
    println!("source: {} [{layout}]", from.display());
    println!(
        "parameters: {} in the source ({:.1}M), {} in the imported encoder ({:.1}M)",
        report.source_parameters,
        report.source_parameters as f64 / 1e6,
        report.parameters,
        report.parameters as f64 / 1e6
    );
    if let Some(diff) = report.parity {
        println!(
            "parity: max abs diff of last hidden states vs the original BERT (candle-transformers) = {diff:.2e} (limit {:.0e})",
            import::PARITY_TOLERANCE
        );
    }
    println!(
        "pooling: {}",
        report
            .pooling
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string())
    );
    for file in &report.files {
        println!("wrote {}", file.display());
    }
}

#[cfg(feature = "hub")]
fn download(name: &str) -> anyhow::Result<PathBuf> {
    let repo = hf_hub::api::sync::Api::new()?.model(name.to_string());
    let mut folder = None;
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        let path = repo.get(file).with_context(|| {
            format!(
                "cannot download {file} of {name} from the Hugging Face hub (offline?); \
                 download config.json, model.safetensors and tokenizer.json yourself and pass --from DIR"
            )
        })?;
        folder = path.parent().map(PathBuf::from);
    }
    folder.context("the hub cache returned no folder")
}

#[cfg(not(feature = "hub"))]
fn download(name: &str) -> anyhow::Result<PathBuf> {
    bail!(
        "this build cannot download {name}: rebuild with --features hub, or download its \
         config.json, model.safetensors and tokenizer.json into a folder and pass --from DIR"
    )
}
