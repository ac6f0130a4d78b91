//! The command line: parses arguments into typed values, calls the library,
//! prints results. The only place that speaks to users; errors arrive here as
//! `anyhow` chains and leave as one line on stderr.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

use super::calibrate::Thresholds;
use super::data::{Columns, Dataset, Format};
use super::data::{Split, Task};
use super::evaluate::{self, Metrics};
use super::import::{self, ImportReport, SourceLayout};
use super::predict;
use super::trainer::{self, Checkpoint, Options, RunSpec};
use super::{export, lexical, model_dir};
use crate::bundle::Bundle;
use crate::explain::{self, GenreChoice, OffsetUnit};
use crate::model::Pooling;
use crate::pipeline::Pipeline;

/// plotgenre: train and package the offline movie-genre classifier.
#[derive(Debug, Parser)]
#[command(name = "plotgenre", version, about, after_help = EXIT_STATUS)]
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
    /// Fine-tune a base model on a dataset and write a model folder (weights,
    /// thresholds, metrics, report).
    Train(TrainArgs),
    /// Fit a bag-of-words model (TF-IDF and logistic regression over the
    /// tokens the encoder reads) to a trained folder and blend it into the
    /// folder's logits; share, temperature and thresholds are tuned on validation.
    Lexical(LexicalArgs),
    /// Score a trained model on a dataset split under EVALUATION.md.
    Eval(EvalArgs),
    /// Label every row of a CSV file with predicted genres and probabilities.
    Predict(PredictArgs),
    /// Quantize a trained model folder into the one-file bundle the page loads.
    Export(ExportArgs),
    /// Show which words made the model say each genre (occlusion: each word
    /// removed in turn; a word's score is the drop in the genre's probability).
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
struct ExplainArgs {
    /// Trained model folder (from `train`) or bundle file (from `export`).
    #[arg(long, value_name = "DIR|FILE")]
    model: PathBuf,
    /// The plot to explain.
    #[arg(long, value_name = "TEXT", required_unless_present = "input")]
    text: Option<String>,
    /// With --text: a title, read before the plot as "TITLE. PLOT" but not scored.
    #[arg(long, value_name = "TITLE", requires = "text")]
    title: Option<String>,
    /// CSV file with a header row: explain every row's plot.
    #[arg(long, value_name = "CSV", conflicts_with = "text")]
    input: Option<PathBuf>,
    /// With --input: column holding the plot [default: as `predict`].
    #[arg(long, value_name = "NAME", requires = "input")]
    text_col: Option<String>,
    /// With --input: column holding a title (read, not scored).
    #[arg(long, value_name = "NAME", requires = "input")]
    title_col: Option<String>,
    /// Explain this genre, predicted or not [default: the predicted genres,
    /// or the most probable one when none is predicted].
    #[arg(long, value_name = "NAME", conflicts_with = "all")]
    genre: Option<String>,
    /// Explain every genre of the model.
    #[arg(long)]
    all: bool,
    /// Words the table lists per genre, highest scores first (JSON lists every word).
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Print one JSON object per plot (one line each): per genre, every word
    /// with `start`/`end` in Unicode characters of the plot and its score.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// Trained model folder (from `train`).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Storage of the embeddings and linear layers: one type for both, or
    /// EMBEDDINGS/LINEARS (e.g. q8_0/q4k). Types: f32, f16, q8_0, q5_0, q4_0,
    /// q4_1, q6k, q5k, q4k. k-quants need rows that are multiples of 256
    /// values; narrower rows fall back to q4_0 (q4k), q5_0 (q5k) or q8_0.
    #[arg(long, value_name = "Q", default_value = export::DEFAULT_QUANTIZATION)]
    quant: export::Quantization,
    /// Bundle file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Also write the page's manifest here (bundle path, size, sha256), e.g.
    /// www/models/manifest.json; the bundle must be in its folder.
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Name of the pretrained encoder, recorded in the bundle's metadata.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "sentence-transformers/all-MiniLM-L6-v2"
    )]
    base_model: String,
}

/// The dataset formats `--format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
#[derive(Debug, Clone, PartialEq, Args, Serialize, Deserialize)]
struct DataArgs {
    /// Layout of the file. Repeat --format and --data to use several datasets
    /// as one (paired in order; see README "Training on several datasets").
    #[arg(long, value_enum, required = true)]
    format: Vec<FormatArg>,
    /// The dataset file.
    #[arg(long, value_name = "PATH", required = true)]
    data: Vec<PathBuf>,
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
    /// The typed format of one file, checking that generic formats name their columns.
    fn format(&self, format: FormatArg) -> anyhow::Result<Format> {
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
        Ok(match format {
            FormatArg::Movies => Format::Movies,
            FormatArg::Kslimon => Format::Kslimon,
            FormatArg::Imdb27 => Format::Imdb27,
            FormatArg::Csv => Format::Csv(columns()?),
            FormatArg::Jsonl => Format::Jsonl(columns()?),
        })
    }

    /// Loads the dataset this argument set names, combining several into one.
    fn load(&self) -> anyhow::Result<Dataset> {
        if self.format.len() != self.data.len() {
            bail!(
                "{} --format and {} --data given; give one --format per --data, in the same order",
                self.format.len(),
                self.data.len()
            );
        }
        let mut datasets = Vec::new();
        for (&format, path) in self.format.iter().zip(&self.data) {
            datasets.push(Dataset::load(path, &self.format(format)?)?);
        }
        let first = datasets.remove(0);
        Ok(Dataset::combine(first, datasets)?)
    }

    /// The files, for messages.
    fn files(&self) -> String {
        let files: Vec<String> = self.data.iter().map(|p| p.display().to_string()).collect();
        files.join(" --data ")
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

#[derive(Debug, Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Base model folder (from `import-base` or `make base`).
    #[arg(long, value_name = "DIR", default_value = "models/base")]
    base: PathBuf,
    /// Folder to write the trained model, metrics, report and checkpoint into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Continue the interrupted run whose checkpoint is in DIR (its --out, or
    /// the checkpoint file); give the same other arguments as the first time.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    #[command(flatten)]
    options: Options,
}

/// What identifies a run's inputs; a resume must match it.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Invocation {
    data: DataArgs,
    base: PathBuf,
}

#[derive(Debug, Args)]
struct LexicalArgs {
    /// Trained model folder (from `train`); its weights, thresholds, metrics
    /// and report are rewritten.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// The data the folder was trained on (same --format and --data).
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    options: lexical::LexicalOptions,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// Trained model folder (from `train`) or bundle file (from `export`).
    #[arg(long, value_name = "DIR|FILE")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Split to score.
    #[arg(long, value_enum, default_value = "test")]
    split: SplitArg,
    /// Print exactly one JSON object (the model's own decision rule) on stdout.
    #[arg(long)]
    json: bool,
    /// Also write every metric of every decision rule to this JSON file.
    #[arg(long, value_name = "PATH")]
    metrics_out: Option<PathBuf>,
}

/// The splits `--split` accepts.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SplitArg {
    Train,
    Validation,
    Test,
}

impl From<SplitArg> for Split {
    fn from(split: SplitArg) -> Split {
        match split {
            SplitArg::Train => Split::Train,
            SplitArg::Validation => Split::Validation,
            SplitArg::Test => Split::Test,
        }
    }
}

#[derive(Debug, Args)]
struct PredictArgs {
    /// Trained model folder (from `train`) or bundle file (from `export`).
    #[arg(long, value_name = "DIR|FILE")]
    model: PathBuf,
    /// CSV file with a header row and one plot per row.
    #[arg(long, value_name = "CSV")]
    input: PathBuf,
    /// CSV file to write: the input columns, `predicted_genres` (joined by
    /// "|") and a `p_GENRE` probability column per genre.
    #[arg(long, value_name = "CSV")]
    output: PathBuf,
    /// Column holding the plot [default: the first of plot, text,
    /// description, overview, summary, ONE-LINE].
    #[arg(long, value_name = "NAME")]
    text_col: Option<String>,
    /// Column holding a title, prefixed to the plot as "TITLE. PLOT" (as the
    /// movies format trains).
    #[arg(long, value_name = "NAME")]
    title_col: Option<String>,
}

/// Parses the process arguments and runs the chosen command.
pub fn run() -> anyhow::Result<()> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print on stdout and succeed.
        Err(error) if !error.use_stderr() => return Ok(error.print()?),
        Err(error) => bail!(usage_error(&error)),
    };
    trainer::pin_matmul_threads();
    match cli.command {
        Command::ImportBase(args) => import_base(args),
        Command::Data(args) => {
            println!("{}", args.load()?.summary());
            Ok(())
        }
        Command::Train(args) => {
            trainer::tune_threads();
            train(args)
        }
        Command::Lexical(args) => add_lexical(args),
        Command::Eval(args) => eval(args),
        Command::Predict(args) => {
            let model = load_model(&args.model)?;
            let columns = predict::Columns {
                text: args.text_col.as_deref(),
                title: args.title_col.as_deref(),
            };
            let rows = predict::predict_csv(&model, &args.input, &args.output, &columns)?;
            println!("wrote {} ({rows} rows)", args.output.display());
            Ok(())
        }
        Command::Explain(args) => explain(args),
        Command::Export(args) => {
            let exported = export::export(&args.model, args.quant, &args.base_model, &args.out)
                .with_context(|| format!("cannot export {}", args.model.display()))?;
            for fallback in &exported.fallbacks {
                println!("stored as {fallback} (rows do not fit the asked type's blocks)");
            }
            println!(
                "wrote {} ({:.2} MB, {})",
                args.out.display(),
                exported.bytes as f64 / 1e6,
                args.quant
            );
            if let Some(manifest) = &args.manifest {
                export::write_page_manifest(manifest, &args.out, &exported)?;
                println!("wrote {} (sha256 {})", manifest.display(), exported.sha256);
            }
            Ok(())
        }
    }
}

/// What `--help` says about exit codes.
const EXIT_STATUS: &str = "Exit status: 0 on success; 2 on any error (an unknown command or flag, \
a bad or missing value, a missing, unreadable or invalid file, a run that fails), with one \
line on stderr saying why.";

/// A command-line error without clap's usage block and tips: its message and
/// the lines that continue it (missing arguments), which `main` joins.
fn usage_error(error: &clap::Error) -> String {
    if error.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return "no command given; `plotgenre --help` lists them".into();
    }
    let rendered = error.render().to_string();
    let message = rendered.split("\n\n").next().unwrap_or_default();
    let message = message.strip_prefix("error: ").unwrap_or(message);
    format!("{message} (see --help)")
}

/// Loads a trained model folder or a bundle file.
fn load_model(path: &std::path::Path) -> anyhow::Result<Pipeline> {
    let loaded = if path.is_dir() {
        model_dir::load(path)
    } else {
        std::fs::read(path)
            .map_err(|e| crate::Error::io(path, e))
            .and_then(|bytes| Bundle::from_bytes(&bytes)?.pipeline())
    };
    loaded.with_context(|| format!("cannot load the model {}", path.display()))
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let invocation = Invocation {
        data: args.data.clone(),
        base: args.base.clone(),
    };
    let resume = match &args.resume {
        Some(path) => {
            let checkpoint = Checkpoint::read(path)?;
            let saved: Invocation = serde_json::from_value(checkpoint.invocation.clone())
                .context("the checkpoint does not say which data and base it trained on")?;
            if saved != invocation {
                bail!(
                    "{} was written for --data {} --base {}; resume with the same arguments",
                    checkpoint.path.display(),
                    saved.data.files(),
                    saved.base.display()
                );
            }
            if checkpoint.options != args.options {
                bail!(
                    "{} was written with other training options; resume with the same ones",
                    checkpoint.path.display()
                );
            }
            println!(
                "resuming {}: {} epochs and {} batches done",
                checkpoint.path.display(),
                checkpoint.progress.epoch,
                checkpoint.progress.next_batch
            );
            Some(checkpoint)
        }
        None => None,
    };
    let dataset = args.data.load()?;
    println!("{}", dataset.summary());
    let spec = RunSpec {
        dataset: &dataset,
        base: &args.base,
        out: &args.out,
        options: &args.options,
        invocation: serde_json::to_value(&invocation)?,
    };
    let outcome = trainer::train(&spec, resume)?;
    println!(
        "best epoch {} of {} ({:.1} min); decision rule {} (temperature {:.3}, global threshold {:.2})",
        outcome.best_epoch,
        outcome.epochs_run,
        outcome.seconds / 60.0,
        outcome.thresholds.rule.name(),
        outcome.thresholds.temperature,
        outcome.thresholds.global,
    );
    print_splits(
        &outcome.thresholds,
        &outcome.validation,
        &outcome.test,
        &outcome.files,
    );
    Ok(())
}

fn add_lexical(args: LexicalArgs) -> anyhow::Result<()> {
    let dataset = args.data.load()?;
    println!("{}", dataset.summary());
    let outcome = lexical::attach(&args.model, &dataset, &args.options)
        .with_context(|| format!("cannot add a lexical model to {}", args.model.display()))?;
    for candidate in &outcome.scores {
        println!(
            "C {} share {:.1}: validation {} {:.4}",
            candidate.c,
            candidate.share,
            trainer::score_name(Task::MultiLabel),
            candidate.score
        );
    }
    let cap = outcome.thresholds.max_genres;
    println!(
        "{} features; C {}; share {:.1}; decision rule {} (temperature {:.3}, global threshold {:.2}, at most {} genres)",
        outcome.features,
        outcome.c,
        outcome.share,
        outcome.thresholds.rule.name(),
        outcome.thresholds.temperature,
        outcome.thresholds.global,
        cap.map_or("any".to_string(), |n| n.to_string()),
    );
    print_splits(
        &outcome.thresholds,
        &outcome.validation,
        &outcome.test,
        &outcome.files,
    );
    Ok(())
}

/// The headline of validation and test under the model's rule, and the files written.
fn print_splits(
    thresholds: &Thresholds,
    validation: &evaluate::SplitReport,
    test: &evaluate::SplitReport,
    files: &[PathBuf],
) {
    for (name, report) in [("validation", validation), ("test", test)] {
        if let Some(metrics) = report.rules.get(thresholds.rule.name()) {
            println!("{name} ({} rows): {}", report.rows, headline(metrics));
        }
    }
    for file in files {
        println!("wrote {}", file.display());
    }
}

/// The figures a one-line summary shows.
fn headline(metrics: &Metrics) -> String {
    match metrics {
        Metrics::Multi(m) => format!(
            "micro F1 {:.4}, weighted F1 {:.4}, subset accuracy {:.4}, label accuracy {:.4}",
            m.micro_f1, m.weighted_f1, m.subset_accuracy, m.label_accuracy
        ),
        Metrics::Single(m) => format!("accuracy {:.4}, macro F1 {:.4}", m.accuracy, m.macro_f1),
    }
}

fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let model = load_model(&args.model)?;
    let dataset = args.data.load()?;
    let split = Split::from(args.split);
    let report = evaluate::evaluate_split(&model, dataset.split(split), &dataset.labels)?;
    let own = report
        .rules
        .get(model.thresholds.rule.name())
        .context("the model's decision rule does not fit its task")?;
    if let Some(path) = &args.metrics_out {
        let all = serde_json::json!({
            "model": args.model,
            "dataset": dataset.path,
            "split": split.name(),
            "task": model.task,
            "rule": model.thresholds.rule,
            "report": report,
        });
        crate::train::atomic::write(path, &serde_json::to_vec_pretty(&all)?)?;
    }
    if args.json {
        let mut object = serde_json::to_value(own)?;
        if let Some(map) = object.as_object_mut() {
            map.insert("rows".into(), report.rows.into());
            map.insert("labels".into(), report.per_label.len().into());
        }
        println!("{object}");
        return Ok(());
    }
    println!(
        "{} split of {}: {} rows, {} labels scored (the model has {}), decision rule {}",
        split.name(),
        dataset.path.display(),
        report.rows,
        report.per_label.len(),
        model.labels.len(),
        model.thresholds.rule.name()
    );
    let table = serde_json::to_value(own)?;
    if let Some(map) = table.as_object() {
        for (key, value) in map {
            match value.as_f64() {
                Some(v) => println!("{key:<20} {v:.4}"),
                None => println!("{key:<20} n/a"),
            }
        }
    }
    if let Some(path) = &args.metrics_out {
        println!("wrote {}", path.display());
    }
    if model.task != Task::MultiLabel && dataset.task == Task::MultiLabel {
        println!(
            "note: a single-label model scored on multi-label data uses each row's first genre"
        );
    }
    Ok(())
}

fn explain(args: ExplainArgs) -> anyhow::Result<()> {
    let model = load_model(&args.model)?;
    let genres = match (&args.genre, args.all) {
        (Some(name), _) => GenreChoice::Named(name),
        (None, true) => GenreChoice::All,
        (None, false) => GenreChoice::Predicted,
    };
    let show = |row: Option<u64>, title: Option<&str>, plot: &str| -> anyhow::Result<()> {
        let report = explain::explain(&model, title, plot, genres)?.report(plot, OffsetUnit::Char);
        if args.json {
            let mut object = serde_json::to_value(&report)?;
            if let (Some(map), Some(row)) = (object.as_object_mut(), row) {
                map.insert("row".into(), row.into());
            }
            println!("{object}");
        } else {
            print_explanation(row, &report, args.top);
        }
        Ok(())
    };
    let Some(input) = &args.input else {
        let plot = args.text.as_deref().unwrap_or_default();
        return show(None, args.title.as_deref(), plot);
    };
    let columns = predict::Columns {
        text: args.text_col.as_deref(),
        title: args.title_col.as_deref(),
    };
    let mut rows = predict::PlotRows::open(input, &columns)?;
    let mut row = 0;
    while let Some(record) = rows.next_row()? {
        row += 1;
        let (title, plot) = rows.title_and_plot(&record);
        show(Some(row), title, &plot)?;
    }
    Ok(())
}

/// One plot's explanation as text: per genre, its `top` highest-scored words.
fn print_explanation(row: Option<u64>, report: &explain::Report, top: usize) {
    if let Some(row) = row {
        println!("row {row}");
    }
    for genre in &report.genres {
        println!(
            "{} {:.1}%{}",
            genre.genre,
            genre.probability * 100.0,
            if genre.predicted { " (predicted)" } else { "" }
        );
        let mut words: Vec<&explain::WordScore> = genre.words.iter().collect();
        words.sort_by(|a, b| b.score.total_cmp(&a.score));
        for word in words.iter().take(top) {
            println!(
                "  {:+8.4}  {:<20} chars {}..{}",
                word.score, word.word, word.start, word.end
            );
        }
    }
    if report.truncated {
        println!("(only the beginning of the plot was read; later words are not scored)");
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
