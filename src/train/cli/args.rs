//! The command line's arguments: clap's raw flags, checked and turned into
//! the library's typed values (a dataset, a format, a split).

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::model::Pooling;
use crate::train::convert::export;
use crate::train::data::dataset::{Dataset, Split};
use crate::train::data::formats::{Columns, Format};
use crate::train::fit::lexical::LexicalOptions;
use crate::train::fit::options::Options;

/// plotgenre: train and package the offline movie-genre classifier.
#[derive(Debug, Parser)]
#[command(name = "plotgenre", version, about, after_help = EXIT_STATUS)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
pub struct ExplainArgs {
    /// Trained model folder (from `train`) or bundle file (from `export`).
    #[arg(long, value_name = "DIR|FILE")]
    pub model: PathBuf,
    /// The plot to explain.
    #[arg(long, value_name = "TEXT", required_unless_present = "input")]
    pub text: Option<String>,
    /// With --text: a title, read before the plot as "TITLE. PLOT" but not scored.
    #[arg(long, value_name = "TITLE", requires = "text")]
    pub title: Option<String>,
    /// CSV file with a header row: explain every row's plot.
    #[arg(long, value_name = "CSV", conflicts_with = "text")]
    pub input: Option<PathBuf>,
    /// With --input: column holding the plot [default: as `predict`].
    #[arg(long, value_name = "NAME", requires = "input")]
    pub text_col: Option<String>,
    /// With --input: column holding a title (read, not scored).
    #[arg(long, value_name = "NAME", requires = "input")]
    pub title_col: Option<String>,
    /// Explain this genre, predicted or not [default: the predicted genres,
    /// or the most probable one when none is predicted].
    #[arg(long, value_name = "NAME", conflicts_with = "all")]
    pub genre: Option<String>,
    /// Explain every genre of the model.
    #[arg(long)]
    pub all: bool,
    /// Words the table lists per genre, highest scores first (JSON lists every word).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Print one JSON object per plot (one line each): per genre, every word
    /// with `start`/`end` in Unicode characters of the plot and its score.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Trained model folder (from `train`), or a bundle (from `export`)
    /// whose decisions to tune again on --data, its stored weights kept.
    #[arg(long, value_name = "DIR|FILE")]
    pub model: PathBuf,
    /// Storage of the embeddings and linear layers: one type for both, or
    /// EMBEDDINGS/LINEARS (e.g. q8_0/q4k). Types: f32, f16, q8_0, q5_0, q4_0,
    /// q4_1, q6k, q5k, q4k. k-quants need rows that are multiples of 256
    /// values; narrower rows fall back to q4_0 (q4k), q5_0 (q5k) or q8_0.
    /// A bundle keeps its own.
    #[arg(long, value_name = "Q", default_value = export::DEFAULT_QUANTIZATION)]
    pub quant: export::Quantization,
    /// Bundle file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write the page's manifest here (bundle path, size, sha256), e.g.
    /// www/models/manifest.json; the bundle must be in its folder.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Name of the pretrained encoder, recorded in the bundle's metadata.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "sentence-transformers/all-MiniLM-L6-v2"
    )]
    pub base_model: String,
    /// The data the model was trained on (same --format and --data): the
    /// bundle's temperature and thresholds are then tuned on its own
    /// validation probabilities (the model's rule and genre cap kept), and
    /// it measures itself on the test split and records the figures, which
    /// the page shows as its own.
    #[command(flatten)]
    pub data: Option<DataArgs>,
}

/// The dataset formats `--format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatArg {
    /// movies/movies.csv (multi-label; text = title + ". " + plot)
    Movies,
    /// kslimon/Movies_data.csv (multi-label)
    Kslimon,
    /// imdb27/train_data.txt (single-label)
    Imdb27,
    /// extra/extra.csv (multi-label; text = title + ". " + plot; scored per source too)
    Extra,
    /// any CSV with a header: name the columns with --text-col and --label-col
    Csv,
    /// one JSON object per line: name the fields with --text-col and --label-col
    Jsonl,
}

/// Which dataset to read and how.
#[derive(Debug, Clone, PartialEq, Args, Serialize, Deserialize)]
pub struct DataArgs {
    /// Layout of the file. Repeat --format and --data to use several datasets
    /// as one (paired in order; see docs/TRAINING.md, "Several datasets at once").
    #[arg(long, value_enum, required = true)]
    pub format: Vec<FormatArg>,
    /// The dataset file.
    #[arg(long, value_name = "PATH", required = true)]
    pub data: Vec<PathBuf>,
    /// csv/jsonl: column holding the plot.
    #[arg(long, value_name = "NAME")]
    pub text_col: Option<String>,
    /// csv/jsonl: column holding a title, prefixed to the plot as "TITLE. PLOT".
    #[arg(long, value_name = "NAME")]
    pub title_col: Option<String>,
    /// csv/jsonl: column holding the label(s).
    #[arg(long, value_name = "NAME")]
    pub label_col: Option<String>,
    /// csv/jsonl: separator between several labels in one field (makes the task
    /// multi-label); without it each row has one label.
    #[arg(long, value_name = "SEP")]
    pub label_sep: Option<String>,
    /// Keep only this share of one source's training rows (extra's `source`
    /// column), e.g. `rajugc_imdb_by_genre=0.3`: the same rows every run;
    /// validation and test stay whole. Repeat for several sources.
    #[arg(long, value_name = "SOURCE=SHARE", value_parser = parse_source_share)]
    #[serde(default)]
    pub train_share: Vec<SourceShare>,
    /// Sample one source's training rows so that each genre keeps about N
    /// positives at most, and every row of its rarer genres stays, e.g.
    /// `rajugc_imdb_by_genre=600`: the same rows every run; applied after
    /// --train-share; validation and test stay whole. Repeat for several sources.
    #[arg(long, value_name = "SOURCE=N", value_parser = parse_source_cap)]
    #[serde(default)]
    pub train_genre_cap: Vec<SourceCap>,
}

/// A `--train-share` value: a source and the share of its training rows kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceShare {
    pub source: String,
    pub share: f64,
}

/// Splits `SOURCE=VALUE` into the source and the value's text; `example`
/// shows the form in the message when the `=` is missing.
fn split_source<'a>(value: &'a str, example: &str) -> Result<(String, &'a str), String> {
    let (source, rest) = value
        .rsplit_once('=')
        .ok_or_else(|| format!("{value:?}: write {example}"))?;
    Ok((source.trim().to_string(), rest.trim()))
}

/// Reads `SOURCE=SHARE` with SHARE from 0 to 1.
fn parse_source_share(value: &str) -> Result<SourceShare, String> {
    let (source, share) = split_source(value, "SOURCE=SHARE, e.g. rajugc_imdb_by_genre=0.3")?;
    let share: f64 = share
        .parse()
        .map_err(|_| format!("{value:?}: the share {share:?} is not a number"))?;
    if !(0.0..=1.0).contains(&share) {
        return Err(format!("{value:?}: the share must be from 0 to 1"));
    }
    Ok(SourceShare { source, share })
}

/// A `--train-genre-cap` value: a source and the positives kept per genre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceCap {
    pub source: String,
    pub cap: usize,
}

/// Reads `SOURCE=N` with N a whole number above 0.
fn parse_source_cap(value: &str) -> Result<SourceCap, String> {
    let (source, cap) = split_source(value, "SOURCE=N, e.g. rajugc_imdb_by_genre=600")?;
    let cap = cap
        .parse()
        .ok()
        .filter(|&cap: &usize| cap > 0)
        .ok_or_else(|| format!("{value:?}: the cap {cap:?} is not a whole number above 0"))?;
    Ok(SourceCap { source, cap })
}

impl DataArgs {
    /// The typed format of one file, checking that generic formats name their columns.
    pub fn format(&self, format: FormatArg) -> anyhow::Result<Format> {
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
            FormatArg::Extra => Format::Extra,
            FormatArg::Csv => Format::Csv(columns()?),
            FormatArg::Jsonl => Format::Jsonl(columns()?),
        })
    }

    /// Loads the dataset this argument set names, combining several into one.
    pub fn load(&self) -> anyhow::Result<Dataset> {
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
        let mut dataset = Dataset::combine(first, datasets)?;
        for SourceShare { source, share } in &self.train_share {
            dataset.keep_train_share(source, *share)?;
        }
        for SourceCap { source, cap } in &self.train_genre_cap {
            dataset.keep_train_genre_cap(source, *cap)?;
        }
        Ok(dataset)
    }

    /// The files, for messages.
    pub fn files(&self) -> String {
        let files: Vec<String> = self.data.iter().map(|p| p.display().to_string()).collect();
        files.join(" --data ")
    }
}

#[derive(Debug, Args)]
pub struct ImportBaseArgs {
    /// Checkpoint folder holding config.json, model.safetensors and tokenizer.json,
    /// or `hf:NAME` to download NAME from the Hugging Face hub (build with --features hub).
    #[arg(long, value_name = "DIR|hf:NAME")]
    pub from: String,
    /// Folder to write the DistilBERT base model into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Pooling for the classification head [default: the one config.json names,
    /// else mean for sentence-transformers folders trained with it, else cls].
    #[arg(long, value_enum)]
    pub pooling: Option<Pooling>,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Base model folder (from `import-base` or `make base`).
    #[arg(long, value_name = "DIR", default_value = "models/base")]
    pub base: PathBuf,
    /// Folder to write the trained model, metrics, report and checkpoint into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the interrupted run whose checkpoint is in DIR (its --out, or
    /// the checkpoint file); give the same other arguments as the first time.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub options: Options,
}

/// What identifies a run's inputs; a resume must match it.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    pub data: DataArgs,
    pub base: PathBuf,
}

#[derive(Debug, Args)]
pub struct LexicalArgs {
    /// Trained model folder (from `train`); its weights, thresholds, metrics
    /// and report are rewritten.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// The data the folder was trained on (same --format and --data).
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub options: LexicalOptions,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Trained model folder (from `train`) or bundle file (from `export`).
    #[arg(long, value_name = "DIR|FILE")]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Split to score; `all` scores every row of the file (your own labelled set).
    #[arg(long, value_enum, default_value = "test")]
    pub split: SplitArg,
    /// Print exactly one JSON object (the model's own decision rule) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write every metric of every decision rule to this JSON file.
    #[arg(long, value_name = "PATH")]
    pub metrics_out: Option<PathBuf>,
}

/// The splits `--split` accepts.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SplitArg {
    Train,
    Validation,
    Test,
    All,
}

impl SplitArg {
    /// The split named; `None` for all rows.
    pub fn split(self) -> Option<Split> {
        match self {
            SplitArg::Train => Some(Split::Train),
            SplitArg::Validation => Some(Split::Validation),
            SplitArg::Test => Some(Split::Test),
            SplitArg::All => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Trained model folder (from `train`) or bundle file (from `export`).
    #[arg(long, value_name = "DIR|FILE")]
    pub model: PathBuf,
    /// CSV file with a header row and one plot per row.
    #[arg(long, value_name = "CSV")]
    pub input: PathBuf,
    /// CSV file to write: the input columns, `predicted_genres` (joined by
    /// "|") and a `p_GENRE` probability column per genre.
    #[arg(long, value_name = "CSV")]
    pub output: PathBuf,
    /// Column holding the plot [default: the first of plot, text,
    /// description, overview, summary, ONE-LINE].
    #[arg(long, value_name = "NAME")]
    pub text_col: Option<String>,
    /// Column holding a title, prefixed to the plot as "TITLE. PLOT" (as the
    /// movies format trains).
    #[arg(long, value_name = "NAME")]
    pub title_col: Option<String>,
}

/// What `--help` says about exit codes.
pub const EXIT_STATUS: &str =
    "Exit status: 0 on success; 2 on any error (an unknown command or flag, \
a bad or missing value, a missing, unreadable or invalid file, a run that fails), with one \
line on stderr saying why.";
