//! The ending every fit shares: a model's held-out logits scored under the
//! decision rule tuned on validation, then `thresholds.json`,
//! `metrics.json` and the report written into its folder. `train` ends with
//! it, and so does `lexical` when it rewrites a trained folder.

use std::path::{Path, PathBuf};

use super::calibrate::Tuned;
use super::evaluate::{self, SplitReport};
use super::history::Training;
use super::report::{self, Summary};
use crate::labels::{probabilities, Task, Thresholds};
use crate::train::data::dataset::Example;
use crate::train::{atomic, model_dir};
use crate::Result;

/// A fitted model's logits on validation and test, and what its folder's
/// metrics and report say about it.
pub struct Ending<'a> {
    /// The model folder the files go into.
    pub dir: &'a Path,
    /// The dataset, as `metrics.json` names it.
    pub dataset: String,
    pub task: Task,
    pub labels: &'a [String],
    /// The decision rule tuned on validation, and every rule's score.
    pub tuned: Tuned,
    pub validation: &'a [Example],
    pub validation_logits: &'a [Vec<f32>],
    pub test: &'a [Example],
    pub test_logits: &'a [Vec<f32>],
    pub training: &'a Training,
    /// One more section of `metrics.json`, by key (the lexical fit's).
    pub extra_metrics: Option<(&'static str, serde_json::Value)>,
}

/// What the finished model scored, and the files written.
pub struct Finished {
    pub thresholds: Thresholds,
    pub validation: SplitReport,
    pub test: SplitReport,
    pub files: Vec<PathBuf>,
}

/// Scores validation and test under the tuned rule and writes the folder's
/// thresholds, metrics and report.
pub fn finish(ending: Ending) -> Result<Finished> {
    let Tuned {
        thresholds,
        rule_scores,
        criterion,
    } = ending.tuned;
    let columns = evaluate::all_columns(ending.labels.len());
    let score = |logits: &[Vec<f32>], examples: &[Example]| {
        let calibrated: Vec<Vec<f32>> = logits
            .iter()
            .map(|row| probabilities(row, thresholds.temperature, ending.task))
            .collect();
        evaluate::report(
            &calibrated,
            examples,
            &thresholds,
            ending.labels,
            ending.task,
            &columns,
        )
    };
    let validation = score(ending.validation_logits, ending.validation);
    let test = score(ending.test_logits, ending.test);

    let mut files = Vec::new();
    let thresholds_path = ending.dir.join(model_dir::THRESHOLDS_FILE);
    atomic::write(&thresholds_path, &serde_json::to_vec_pretty(&thresholds)?)?;
    files.push(thresholds_path);
    let summary = Summary {
        dataset: ending.dataset,
        task: ending.task,
        labels: ending.labels,
        thresholds: &thresholds,
        rule_scores: &rule_scores,
        criterion: &criterion,
        validation: &validation,
        test: &test,
        training: ending.training,
    };
    let mut metrics = summary.metrics_json();
    if let Some((key, section)) = ending.extra_metrics {
        metrics[key] = section;
    }
    let metrics_path = ending.dir.join(model_dir::METRICS_FILE);
    atomic::write(&metrics_path, &serde_json::to_vec_pretty(&metrics)?)?;
    files.push(metrics_path);
    files.extend(report::write(ending.dir, &summary)?);
    Ok(Finished {
        thresholds,
        validation,
        test,
        files,
    })
}
