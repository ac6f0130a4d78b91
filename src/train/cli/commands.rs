//! The commands: each calls the library with its typed arguments and prints
//! the results. Errors arrive here as `anyhow` chains and leave as one line
//! on stderr.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};

use super::args::{
    Cli, Command, DataArgs, ExplainArgs, ImportBaseArgs, Invocation, LexicalArgs, PredictArgs,
    TrainArgs,
};
use super::load::load_model;
use crate::explain::{self, GenreChoice, OffsetUnit};
use crate::labels::{Task, Thresholds};
use crate::pipeline::Pipeline;
use crate::train::convert::export;
use crate::train::convert::import::{self, ImportReport, SourceLayout};
use crate::train::data::source_labels::SourceLabels;
use crate::train::eval::evaluate::{self, score_name, Metrics};
use crate::train::fit;
use crate::train::fit::checkpoint::Checkpoint;
use crate::train::fit::lexical;
use crate::train::fit::run::RunSpec;
use crate::train::{predict, threads};

/// Parses the process arguments and runs the chosen command.
pub fn run() -> anyhow::Result<()> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print on stdout and succeed.
        Err(error) if !error.use_stderr() => return Ok(error.print()?),
        Err(error) => bail!(usage_error(&error)),
    };
    threads::pin_matmul_threads();
    match cli.command {
        Command::ImportBase(args) => import_base(args),
        Command::Data(args) => {
            println!("{}", args.load()?.summary());
            Ok(())
        }
        Command::Train(args) => {
            threads::tune_threads();
            train(args)
        }
        Command::Lexical(args) => add_lexical(args),
        Command::Eval(args) => super::eval::eval(args),
        Command::Predict(args) => {
            let model = load_model(&args.model)?;
            let columns = predict::Columns {
                text: args.text_col.as_deref(),
                title: args.title_col.as_deref(),
            };
            predict_file(&model, &args, &columns)
        }
        Command::Explain(args) => explain(args),
        Command::Export(args) => {
            let dataset = args.data.as_ref().map(DataArgs::load).transpose()?;
            let exported = export::export(
                &args.model,
                args.quant,
                &args.base_model,
                &args.out,
                dataset.as_ref(),
            )
            .with_context(|| format!("cannot export {}", args.model.display()))?;
            for fallback in &exported.fallbacks {
                println!("stored as {fallback} (rows do not fit the asked type's blocks)");
            }
            if let Some((thresholds, labels)) = &exported.tuned {
                println!(
                    "decisions tuned on the bundle's own validation probabilities: {} (temperature {:.3})",
                    predict::describe_rule(thresholds, labels),
                    thresholds.temperature
                );
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

/// `predict`: classifies the file with a progress bar (on a terminal),
/// reports on stderr what it skipped, replaced or assumed, and prints the rule.
fn predict_file(
    model: &Pipeline,
    args: &PredictArgs,
    columns: &predict::Columns,
) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} rows · {per_sec} · ETA {eta}")
    {
        bar.set_style(style);
    }
    let rows = predict::PlotRows::open(&args.input, columns)?;
    bar.set_length(rows.table().rows.len() as u64);
    let summary = predict::predict_csv(model, &rows, &args.output, &bar)?;
    bar.finish_and_clear();
    report_table(summary.note, summary.skipped.iter().map(|(l, r)| (*l, r)));
    if !summary.replaced.is_empty() {
        eprintln!(
            "replaced the input's own columns {} with new ones",
            summary.replaced.join(", ")
        );
    }
    report_unfamiliar(&summary.unfamiliar);
    let rows = match summary.classified {
        1 => "1 row classified".to_string(),
        n => format!("{n} rows classified"),
    };
    println!("wrote {} ({rows})", args.output.display());
    println!(
        "rule: {}",
        predict::describe_rule(&model.thresholds, &model.labels)
    );
    Ok(())
}

/// Says on stderr which rows' plots do not look like English (the first few lines).
fn report_unfamiliar(lines: &[u64]) {
    const SHOWN: usize = 10;
    if lines.is_empty() {
        return;
    }
    let mut listed: Vec<String> = lines.iter().take(SHOWN).map(u64::to_string).collect();
    if lines.len() > SHOWN {
        listed.push("...".into());
    }
    let rows = match lines.len() {
        1 => "1 row does".to_string(),
        n => format!("{n} rows do"),
    };
    eprintln!(
        "warning: {rows} not look like English (line {}): the model reads English plots, so their genres may be wrong",
        listed.join(", ")
    );
}

/// Says on stderr what reading a table assumed, and each row not used.
fn report_table<'a>(note: Option<String>, skipped: impl Iterator<Item = (u64, &'a String)>) {
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    for (line, reason) in skipped {
        eprintln!("warning: line {line} not classified: {reason}");
    }
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
    if args.options.source_label_sets {
        let sources = SourceLabels::of_train(&dataset);
        for (source, lacking) in sources.gaps(&dataset, &dataset.labels) {
            println!("loss skips for {source}: {}", lacking.join(", "));
        }
    }
    let spec = RunSpec {
        dataset: &dataset,
        base: &args.base,
        out: &args.out,
        options: &args.options,
        invocation: serde_json::to_value(&invocation)?,
    };
    let outcome = fit::run::train(&spec, resume)?;
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
            score_name(Task::MultiLabel),
            candidate.score.score
        );
    }
    let cap = outcome.thresholds.max_genres;
    println!(
        "{} features; C {}; share {:.1}; decision rule {} (temperature {:.3}, global threshold {:.2}, at most {} genres by {}{})",
        outcome.features,
        outcome.c,
        outcome.share,
        outcome.thresholds.rule.name(),
        outcome.thresholds.temperature,
        outcome.thresholds.global,
        cap.map_or("any".to_string(), |n| n.to_string()),
        outcome.thresholds.cap_order.name(),
        (outcome.thresholds.own_thresholds_in_words(&outcome.labels))
            .map_or(String::new(), |own| format!("; rare genres at their own: {own}")),
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
    let rows = predict::PlotRows::open(input, &columns)?;
    let table = rows.table();
    report_table(
        table.note(),
        table.bad_rows.iter().map(|b| (b.line, &b.reason)),
    );
    for (row, record) in (1..).zip(&table.rows) {
        let (title, plot) = rows.title_and_plot(record);
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
