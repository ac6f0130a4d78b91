//! `eval`: scores a model on a split under EVALUATION.md and prints the
//! model's own rule: on the rows together, then per dataset file whole, on
//! its unseen-title rows and per source, as one table per file (or JSON).

use std::borrow::Cow;

use anyhow::Context;

use super::args::{EvalArgs, SplitArg};
use super::load::load_model;
use crate::labels::Task;
use crate::train::atomic;
use crate::train::data::dataset::{Dataset, Example, Split};
use crate::train::data::unseen::SeenIndex;
use crate::train::eval::breakdown::{breakdowns, Breakdown};
use crate::train::eval::evaluate::SplitReport;

/// Runs `eval`.
pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let model = load_model(&args.model)?;
    let dataset = args.data.load()?;
    let (split, examples) = chosen_rows(&dataset, args.split);
    report_unscored(&dataset.labels, &model.labels);
    let unseen = match args.split {
        SplitArg::Validation | SplitArg::Test => {
            Some(SeenIndex::new(&dataset.train).unseen(&examples))
        }
        SplitArg::Train | SplitArg::All => None,
    };
    let (report, parts) = breakdowns(&model, &dataset, &examples, unseen.as_deref())?;
    let rule = model.thresholds.rule.name();
    report
        .rules
        .get(rule)
        .context("the model's decision rule does not fit its task")?;
    if let Some(path) = &args.metrics_out {
        let all = serde_json::json!({
            "model": args.model,
            "dataset": dataset.path,
            "split": split,
            "task": model.task,
            "rule": model.thresholds.rule,
            "report": report,
            "datasets": parts,
        });
        atomic::write(path, &serde_json::to_vec_pretty(&all)?)?;
    }
    if args.json {
        println!("{}", own_rule_json(&report, &parts, rule));
        return Ok(());
    }
    println!(
        "{} split of {}: {} rows, {} labels scored (the model has {}), decision rule {}",
        split,
        dataset.path.display(),
        report.rows,
        report.per_label.len(),
        model.labels.len(),
        rule
    );
    print_metrics(&[("all".to_string(), &report)], rule);
    for part in &parts {
        println!("\n{} ({split}):", part.dataset);
        print_metrics(&columns(part), rule);
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

/// What `eval --json` prints: the metrics of `rule` on all rows, the
/// number of labels scored, and each dataset's breakdown in `parts`.
fn own_rule_json(report: &SplitReport, parts: &[Breakdown], rule: &str) -> serde_json::Value {
    let mut object = own_rule(report, rule);
    if let Some(map) = object.as_object_mut() {
        map.insert("labels".into(), report.per_label.len().into());
        let datasets: Vec<serde_json::Value> =
            parts.iter().map(|part| part_json(part, rule)).collect();
        map.insert("datasets".into(), datasets.into());
    }
    object
}

/// The metrics of `rule` in `report`, with its row count.
fn own_rule(report: &SplitReport, rule: &str) -> serde_json::Value {
    let mut object = report
        .rules
        .get(rule)
        .and_then(|m| serde_json::to_value(m).ok())
        .unwrap_or_default();
    if let Some(map) = object.as_object_mut() {
        map.insert("rows".into(), report.rows.into());
    }
    object
}

/// One dataset file's part of `--json`: whole, unseen-title and per source.
fn part_json(part: &Breakdown, rule: &str) -> serde_json::Value {
    let sources: serde_json::Map<String, serde_json::Value> = part
        .by_source
        .iter()
        .map(|(source, report)| (source.clone(), own_rule(report, rule)))
        .collect();
    serde_json::json!({
        "dataset": part.dataset,
        "whole": own_rule(&part.whole, rule),
        "unseen_title": part.unseen_title.as_ref().map(|r| own_rule(r, rule)),
        "by_source": sources,
    })
}

/// The table columns of one dataset file: whole, unseen-title, each source.
fn columns(part: &Breakdown) -> Vec<(String, &SplitReport)> {
    let mut out = vec![("whole".to_string(), &part.whole)];
    out.extend(
        part.unseen_title
            .as_ref()
            .map(|r| ("unseen-title".to_string(), r)),
    );
    out.extend(part.by_source.iter().map(|(s, r)| (s.clone(), r)));
    out
}

/// Prints a table: a row per metric of `rule`, a column per report.
fn print_metrics(columns: &[(String, &SplitReport)], rule: &str) {
    let objects: Vec<serde_json::Value> = columns.iter().map(|(_, r)| own_rule(r, rule)).collect();
    let headers: Vec<String> = columns
        .iter()
        .map(|(name, report)| format!("{name} ({})", report.rows))
        .collect();
    let widths: Vec<usize> = headers.iter().map(|h| h.len().max(8)).collect();
    let mut header = format!("{:<20}", "metric");
    for (name, width) in headers.iter().zip(&widths) {
        header += &format!(" {name:>width$}");
    }
    println!("{header}");
    let Some(keys) = objects.first().and_then(|o| o.as_object()) else {
        return;
    };
    for key in keys.keys().filter(|k| k.as_str() != "rows") {
        let mut line = format!("{key:<20}");
        for (object, width) in objects.iter().zip(&widths) {
            match object[key].as_f64() {
                Some(v) => line += &format!(" {v:>width$.4}"),
                None => line += &format!(" {:>width$}", "n/a"),
            }
        }
        println!("{line}");
    }
}

/// The rows `--split` names and its name: one split, or every row of the file.
fn chosen_rows(dataset: &Dataset, split: SplitArg) -> (&'static str, Cow<'_, [Example]>) {
    match split.split() {
        Some(split) => (split.name(), Cow::Borrowed(dataset.split(split))),
        None => {
            let all = Split::ALL
                .iter()
                .flat_map(|&s| dataset.split(s).iter().cloned());
            ("all", Cow::Owned(all.collect()))
        }
    }
}

/// Names on stderr the genres of the data that the model lacks: not scored.
fn report_unscored(data_labels: &[String], model_labels: &[String]) {
    let dropped: Vec<&str> = data_labels
        .iter()
        .filter(|l| !model_labels.contains(l))
        .map(String::as_str)
        .collect();
    if !dropped.is_empty() {
        eprintln!(
            "note: not scored, the model lacks these genres of the data: {}",
            dropped.join(", ")
        );
    }
}
