//! Running a classifier over a split and scoring it under EVALUATION.md:
//! batched inference, calibrated probabilities, and every metric for every
//! decision rule.

use serde::Serialize;

use super::metrics::{self, LabelScores, MultiLabelMetrics, SingleLabelMetrics};
use crate::labels::{argmax, Rule, Task, Thresholds};
use crate::pipeline::Pipeline;
use crate::train::data::dataset::Example;
use crate::Result;

/// One-hot truth rows of `examples` over `labels` (labels outside the set,
/// unseen in training, are ignored as EVALUATION.md's label set says).
pub fn truth(examples: &[Example], labels: &[String]) -> Vec<Vec<bool>> {
    examples
        .iter()
        .map(|e| labels.iter().map(|l| e.labels.contains(l)).collect())
        .collect()
}

/// The metrics of one decision rule, multi- or single-label.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Metrics {
    Multi(MultiLabelMetrics),
    Single(SingleLabelMetrics),
}

impl Metrics {
    /// The figure model selection maximises: micro-F1 (multi-label) or
    /// macro-F1 (single-label).
    pub fn selection_score(&self) -> f64 {
        match self {
            Metrics::Multi(m) => m.micro_f1,
            Metrics::Single(m) => m.macro_f1,
        }
    }
}

/// The name of the selection score, for messages.
pub fn score_name(task: Task) -> &'static str {
    match task {
        Task::MultiLabel => "micro-F1",
        Task::SingleLabel => "macro-F1",
    }
}

/// The model columns a dataset is scored on: the model's labels that the
/// dataset's label set has (EVALUATION.md scores over the dataset's label
/// set), in the model's order.
pub fn scored_columns(model_labels: &[String], dataset_labels: &[String]) -> Vec<usize> {
    (0..model_labels.len())
        .filter(|&i| dataset_labels.contains(&model_labels[i]))
        .collect()
}

/// Every column of a model with `n` labels.
pub fn all_columns(n: usize) -> Vec<usize> {
    (0..n).collect()
}

fn pick<T: Clone>(row: &[T], columns: &[usize]) -> Vec<T> {
    columns.iter().map(|&c| row[c].clone()).collect()
}

/// Metrics of calibrated `probabilities` against `truth` under `rule`.
/// Multi-label decisions are taken over every label of the model, then
/// scored on `columns` only (`truth` holds just those); single-label scoring
/// uses all labels.
pub fn score(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    thresholds: &Thresholds,
    rule: Rule,
    task: Task,
    columns: &[usize],
) -> Metrics {
    match task {
        Task::MultiLabel => {
            let predicted: Vec<Vec<bool>> = probabilities
                .iter()
                .map(|p| pick(&thresholds.decide(p, rule), columns))
                .collect();
            let scores: Vec<Vec<f32>> = probabilities.iter().map(|p| pick(p, columns)).collect();
            Metrics::Multi(metrics::multi_label(truth, &predicted, &scores))
        }
        Task::SingleLabel => {
            let first = |flags: Vec<bool>| flags.iter().position(|&f| f).unwrap_or(0);
            let truth: Vec<usize> = truth.iter().map(|t| first(t.clone())).collect();
            let predicted: Vec<usize> = probabilities
                .iter()
                .map(|p| argmax(p).unwrap_or(0))
                .collect();
            Metrics::Single(metrics::single_label(&truth, &predicted))
        }
    }
}

/// A split scored under every rule of its task.
#[derive(Debug, Clone, Serialize)]
pub struct SplitReport {
    pub rows: usize,
    /// Metrics by rule name.
    pub rules: std::collections::BTreeMap<&'static str, Metrics>,
    /// Per-label scores under the model's own rule.
    pub per_label: Vec<LabelScores>,
}

/// Scores `probabilities` (over every label of the model, `labels`) of a
/// split under every rule of `task`, on the model columns `columns`
/// (multi-label; single-label scores every column).
pub fn report(
    probabilities: &[Vec<f32>],
    examples: &[Example],
    thresholds: &Thresholds,
    labels: &[String],
    task: Task,
    columns: &[usize],
) -> SplitReport {
    let columns = match task {
        Task::MultiLabel => columns.to_vec(),
        Task::SingleLabel => all_columns(labels.len()),
    };
    let scored = pick(labels, &columns);
    let truth = truth(examples, &scored);
    let rules = Rule::for_task(task)
        .iter()
        .map(|&rule| {
            let metrics = score(probabilities, &truth, thresholds, rule, task, &columns);
            (rule.name(), metrics)
        })
        .collect();
    let predicted: Vec<Vec<bool>> = probabilities
        .iter()
        .map(|p| pick(&thresholds.decide(p, thresholds.rule), &columns))
        .collect();
    SplitReport {
        rows: truth.len(),
        rules,
        per_label: metrics::per_label(&scored, &truth, &predicted),
    }
}

/// Scores one split of a dataset whose label set is `dataset_labels` with a
/// trained model, under every rule.
pub fn evaluate_split(
    model: &Pipeline,
    examples: &[Example],
    dataset_labels: &[String],
) -> Result<SplitReport> {
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let probabilities = model.probabilities(&texts)?;
    Ok(report(
        &probabilities,
        examples,
        &model.thresholds,
        &model.labels,
        model.task,
        &scored_columns(&model.labels, dataset_labels),
    ))
}
