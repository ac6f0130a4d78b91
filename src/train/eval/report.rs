//! What a finished run tells its reader: `metrics.json` (every metric of
//! EVALUATION.md on validation and test, for every decision rule),
//! `report.md` (tables) and three SVG charts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::calibrate::{RuleScore, RULE_FOLDS};
use super::charts::{self, LabelCounts};
use super::criterion::Criterion;
use super::evaluate::{score_name, Metrics, SplitReport};
use super::history::Training;
use super::rare::F1_FLOOR;
use crate::labels::{Task, Thresholds};
use crate::train::{atomic, model_dir};
use crate::Result;

pub const F1_CHART: &str = "f1_by_genre.svg";
pub const CONFUSION_CHART: &str = "confusion_by_genre.svg";
pub const CURVES_CHART: &str = "training_curves.svg";

/// Everything the report shows.
pub struct Summary<'a> {
    pub dataset: String,
    pub task: Task,
    pub labels: &'a [String],
    pub thresholds: &'a Thresholds,
    /// Each decision rule's selection score, the chosen one included.
    pub rule_scores: &'a [RuleScore],
    /// What the epoch, rule and thresholds were chosen by.
    pub criterion: &'a Criterion,
    pub validation: &'a SplitReport,
    pub test: &'a SplitReport,
    /// What training recorded, options included.
    pub training: &'a Training,
}

impl Summary<'_> {
    /// The content of `metrics.json`.
    pub fn metrics_json(&self) -> serde_json::Value {
        json!({
            "protocol": "../shared/EVALUATION.md",
            "dataset": self.dataset,
            "task": self.task,
            "labels": self.labels,
            "rule": self.thresholds.rule,
            "rule_selection": {
                "score": selection_metric(self.task),
                "scores": self.rule_scores,
            },
            "rare_genres": self.rare_genres_json(),
            "selection_criterion": self.criterion,
            "temperature": self.thresholds.temperature,
            "validation": self.validation,
            "test": self.test,
            "training": {
                "best_epoch": self.training.best_epoch,
                "epochs_run": self.training.history.epochs.len(),
                "seconds": self.training.seconds,
                "history": self.training.history,
                "options": self.training.options,
            },
        })
    }

    /// The genres the chosen rule left under the F1 floor, by name, and
    /// whether each kept its own threshold.
    fn rare_genres_json(&self) -> serde_json::Value {
        let chosen = (self.rule_scores.iter()).find(|s| s.rule == self.thresholds.rule);
        let genres: Vec<serde_json::Value> = chosen
            .map_or(&[][..], |s| &s.rare_genres)
            .iter()
            .map(|g| {
                json!({
                    "genre": self.labels[g.label],
                    "dataset": g.dataset,
                    "positives": g.positives,
                    "f1_global": g.f1_global,
                    "f1_own": g.f1_own,
                    "threshold": self.thresholds.per_label[g.label],
                    "kept": g.kept,
                })
            })
            .collect();
        json!({
            "floor": F1_FLOOR,
            "scored": "lowest held-out F1 over the criterion's datasets with enough positives",
            "genres": genres,
        })
    }

    /// The genres a global rule holds to their own threshold, in words.
    fn own_thresholds(&self) -> String {
        (self.thresholds.own_thresholds_in_words(self.labels)).map_or(String::new(), |own| {
            format!(" (rare genres at their own: {own})")
        })
    }

    fn markdown(&self) -> String {
        let mut md = self.summary();
        for (name, split) in [("Test", self.test), ("Validation", self.validation)] {
            let _ = writeln!(md, "## {name} ({} rows), by decision rule\n", split.rows);
            md.push_str(&overall_table(split));
        }
        md.push_str(&self.per_genre_table());
        md.push_str(&self.training_table());
        let _ = writeln!(
            md,
            "\n![F1 by genre]({F1_CHART})\n\n![Confusion counts by genre]({CONFUSION_CHART})\n\n![Training curves]({CURVES_CHART})"
        );
        md
    }

    /// The title and what was chosen on validation, and how.
    fn summary(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Training report\n");
        let _ = writeln!(
            md,
            "Dataset `{}` ({}), {} labels. Best epoch {} of {} run, {:.1} min of training. \
             Decision rule `{}` (chosen on validation), temperature {:.3}, global threshold {:.2}{}.\n",
            self.dataset,
            match self.task {
                Task::MultiLabel => "multi-label",
                Task::SingleLabel => "single-label",
            },
            self.labels.len(),
            self.training.best_epoch,
            self.training.history.epochs.len(),
            self.training.seconds / 60.0,
            self.thresholds.rule.name(),
            self.thresholds.temperature,
            self.thresholds.global,
            self.own_thresholds(),
        );
        let scores: Vec<String> = (self.rule_scores.iter())
            .map(|s| format!("`{}` {:.4}", s.rule.name(), s.score.score))
            .collect();
        let _ = writeln!(
            md,
            "Rules scored by {}: {}.\n",
            selection_metric(self.task),
            scores.join(", ")
        );
        let groups: Vec<String> = (self.criterion.groups.iter())
            .map(|g| format!("`{}` {} rows", g.dataset, g.rows_scored))
            .collect();
        let _ = writeln!(
            md,
            "Epoch, thresholds and rule chosen by the {} ({}).\n",
            self.criterion.name,
            groups.join(", ")
        );
        md
    }

    /// Every genre's counts on the test split under the chosen rule.
    fn per_genre_table(&self) -> String {
        let mut md = format!(
            "## Per genre (test, rule `{}`)\n\n| genre | precision | recall | F1 | support | TP | FP | FN |\n|---|---|---|---|---|---|---|---|\n",
            self.thresholds.rule.name()
        );
        for s in &self.test.per_label {
            let _ = writeln!(
                md,
                "| {} | {:.3} | {:.3} | {:.3} | {} | {} | {} | {} |",
                s.label, s.precision, s.recall, s.f1, s.support, s.tp, s.fp, s.fn_
            );
        }
        md
    }

    /// Each epoch's validation score and speed.
    fn training_table(&self) -> String {
        let mut md = format!(
            "\n## Training\n\n| epoch | step | validation {} | samples/s |\n|---|---|---|---|\n",
            score_name(self.task)
        );
        for e in &self.training.history.epochs {
            let _ = writeln!(
                md,
                "| {} | {} | {:.4} | {:.1} |",
                e.epoch, e.step, e.score, e.samples_per_s
            );
        }
        md
    }
}

/// What a decision rule's selection score measures.
fn selection_metric(task: Task) -> String {
    match task {
        Task::MultiLabel => {
            format!("micro-F1 on validation rows held out of threshold tuning ({RULE_FOLDS} folds)")
        }
        Task::SingleLabel => "macro-F1 on validation".to_string(),
    }
}

/// The headline metrics of each rule as a Markdown table.
fn overall_table(split: &SplitReport) -> String {
    let mut md = String::new();
    match split.rules.values().next() {
        Some(Metrics::Single(_)) => {
            md.push_str("| rule | accuracy | macro F1 |\n|---|---|---|\n");
            for (rule, m) in &split.rules {
                if let Metrics::Single(m) = m {
                    let _ = writeln!(md, "| {rule} | {:.4} | {:.4} |", m.accuracy, m.macro_f1);
                }
            }
        }
        _ => {
            md.push_str(
                "| rule | micro F1 | macro F1 | weighted F1 | samples F1 | subset acc. | label acc. | Jaccard | ROC-AUC | ≥1 right |\n|---|---|---|---|---|---|---|---|---|---|\n",
            );
            for (rule, m) in &split.rules {
                if let Metrics::Multi(m) = m {
                    let _ = writeln!(
                        md,
                        "| {rule} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {:.4} |",
                        m.micro_f1,
                        m.macro_f1,
                        m.weighted_f1,
                        m.samples_f1,
                        m.subset_accuracy,
                        m.label_accuracy,
                        m.samples_jaccard,
                        m.macro_roc_auc.map_or("n/a".into(), |v| format!("{v:.4}")),
                        m.at_least_one
                    );
                }
            }
        }
    }
    md.push('\n');
    md
}

/// Writes `report.md` and the charts into `out`; returns the paths written.
pub fn write(out: &Path, summary: &Summary) -> Result<Vec<PathBuf>> {
    let [f1, confusion] = genre_charts(summary)?;
    let files = [
        (F1_CHART, f1),
        (CONFUSION_CHART, confusion),
        (CURVES_CHART, curves_chart(summary)?),
        (model_dir::REPORT_FILE, summary.markdown()),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = out.join(name);
        atomic::write(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// The test split's F1 bars and its TP / FP / FN bars, by genre (SVG).
fn genre_charts(summary: &Summary) -> Result<[String; 2]> {
    let per_label = &summary.test.per_label;
    let labels: Vec<String> = per_label.iter().map(|s| s.label.clone()).collect();
    let f1: Vec<f64> = per_label.iter().map(|s| s.f1).collect();
    let counts: Vec<LabelCounts> = per_label
        .iter()
        .map(|s| LabelCounts {
            tp: s.tp,
            fp: s.fp,
            fn_: s.fn_,
        })
        .collect();
    Ok([
        charts::label_f1_bars("F1 by genre (test)", &labels, &f1)?,
        charts::label_confusion_bars(
            "True positives, false positives and false negatives by genre (test)",
            &labels,
            &counts,
        )?,
    ])
}

/// The training loss and the validation score by step (SVG).
fn curves_chart(summary: &Summary) -> Result<String> {
    let history = &summary.training.history;
    let validation: Vec<(f64, f64)> = history
        .epochs
        .iter()
        .map(|e| (e.step as f64, e.score))
        .collect();
    let loss: Vec<(f64, f64)> = history.loss.iter().map(|&(s, l)| (s as f64, l)).collect();
    charts::training_curves(
        "Training loss and validation score",
        &loss,
        &validation,
        &format!("validation {}", score_name(summary.task)),
    )
}
