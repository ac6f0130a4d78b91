//! The command line: parses arguments into typed values, calls the library,
//! prints results. The only place that speaks to users; errors arrive here as
//! `anyhow` chains and leave as one line on stderr.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};

use super::data::{Columns, Dataset, Format};
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
    /// Read a dataset as training would: print rows kept and dropped, splits and labels.
    Data(DataArgs),
}

/// The dataset formats `--format` accepts.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// movies/movies.csv (multi-label; text = title + ". " + plot)
    Movies,
    /// kslimon/Movies_data.csv (multi-label)
    Kslimon,
    /// imdb27/train_data.txt (single-label)
    Imdb27,
    /// any CSV with a header: name the columns with --text-col and --label-col
    Csv,
    /// one JSON object per line: name the fields with --text-col and --label-col
    Jsonl,
}

/// Which dataset to read and how.
#[derive(Debug, Args)]
struct DataArgs {
    /// Layout of the file.
    #[arg(long, value_enum)]
    format: FormatArg,
    /// The dataset file.
    #[arg(long, value_name = "PATH")]
    data: PathBuf,
    /// csv/jsonl: column holding the plot.
    #[arg(long, value_name = "NAME")]
    text_col: Option<String>,
    /// csv/jsonl: column holding a title, prefixed to the plot as "TITLE. PLOT".
    #[arg(long, value_name = "NAME")]
    title_col: Option<String>,
    /// csv/jsonl: column holding the label(s).
    #[arg(long, value_name = "NAME")]
    label_col: Option<String>,
    /// csv/jsonl: separator between several labels in one field (makes the task
    /// multi-label); without it each row has one label.
    #[arg(long, value_name = "SEP")]
    label_sep: Option<String>,
}

impl DataArgs {
    /// The typed format, checking that generic formats name their columns.
    fn format(&self) -> anyhow::Result<Format> {
        let columns = || -> anyhow::Result<Columns> {
            let (Some(text), Some(label)) = (&self.text_col, &self.label_col) else {
                bail!("--format csv and --format jsonl need --text-col NAME and --label-col NAME");
            };
            Ok(Columns {
                text: text.clone(),
                title: self.title_col.clone(),
                label: label.clone(),
                label_sep: self.label_sep.clone(),
            })
        };
        Ok(match self.format {
            FormatArg::Movies => Format::Movies,
            FormatArg::Kslimon => Format::Kslimon,
            FormatArg::Imdb27 => Format::Imdb27,
            FormatArg::Csv => Format::Csv(columns()?),
            FormatArg::Jsonl => Format::Jsonl(columns()?),
        })
    }

    /// Loads the dataset this argument set names.
    fn load(&self) -> anyhow::Result<Dataset> {
        Ok(Dataset::load(&self.data, &self.format()?)?)
    }
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
        Command::Data(args) => {
            println!("{}", args.load()?.summary());
            Ok(())
        }
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
