//! Running a classifier over a split and scoring it under EVALUATION.md:
//! batched inference, calibrated probabilities, and every metric for every
//! decision rule.

use serde::Serialize;

use super::calibrate::{self, Rule, Thresholds};
use super::data::{Example, Task};
use super::metrics::{self, LabelScores, MultiLabelMetrics, SingleLabelMetrics};
use crate::pipeline::Pipeline;
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

/// Metrics of calibrated `probabilities` against `truth` under `rule`.
pub fn score(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    thresholds: &Thresholds,
    rule: Rule,
    task: Task,
) -> Metrics {
    match task {
        Task::MultiLabel => {
            let predicted: Vec<Vec<bool>> = probabilities
                .iter()
                .map(|p| thresholds.decide(p, rule))
                .collect();
            Metrics::Multi(metrics::multi_label(truth, &predicted, probabilities))
        }
        Task::SingleLabel => {
            let first = |flags: Vec<bool>| flags.iter().position(|&f| f).unwrap_or(0);
            let truth: Vec<usize> = truth.iter().map(|t| first(t.clone())).collect();
            let predicted: Vec<usize> = probabilities
                .iter()
                .map(|p| calibrate::argmax(p).unwrap_or(0))
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

/// Scores `probabilities` of a split under every rule of `task`.
pub fn report(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    thresholds: &Thresholds,
    labels: &[String],
    task: Task,
) -> SplitReport {
    let rules = Rule::for_task(task)
        .iter()
        .map(|&rule| {
            (
                rule.name(),
                score(probabilities, truth, thresholds, rule, task),
            )
        })
        .collect();
    let predicted: Vec<Vec<bool>> = probabilities
        .iter()
        .map(|p| thresholds.decide(p, thresholds.rule))
        .collect();
    SplitReport {
        rows: truth.len(),
        rules,
        per_label: metrics::per_label(labels, truth, &predicted),
    }
}

/// Scores one split of a dataset with a trained model, under every rule.
pub fn evaluate_split(model: &Pipeline, examples: &[Example]) -> Result<SplitReport> {
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let probabilities = model.probabilities(&texts)?;
    let truth = truth(examples, &model.labels);
    Ok(report(
        &probabilities,
        &truth,
        &model.thresholds,
        &model.labels,
        model.task,
    ))
}
