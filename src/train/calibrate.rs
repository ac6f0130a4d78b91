//! Turning logits into decisions, tuned on validation only: a temperature
//! that calibrates probabilities, a global threshold and per-label
//! thresholds that maximise F1, and the decision rules of EVALUATION.md.

use serde::{Deserialize, Serialize};

use super::data::Task;

/// How probabilities become predicted genres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Every genre above the one global threshold.
    Global,
    /// Every genre above the global threshold, and at least the top one.
    GlobalTop1,
    /// Every genre above its own threshold.
    PerLabel,
    /// Every genre above its own threshold, and at least the top one.
    PerLabelTop1,
    /// Single-label: the most probable class.
    Argmax,
}

impl Rule {
    /// The rules evaluated for a task, in report order.
    pub fn for_task(task: Task) -> &'static [Rule] {
        match task {
            Task::MultiLabel => &[
                Rule::Global,
                Rule::GlobalTop1,
                Rule::PerLabel,
                Rule::PerLabelTop1,
            ],
            Task::SingleLabel => &[Rule::Argmax],
        }
    }

    /// The snake_case name used in JSON files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Global => "global",
            Rule::GlobalTop1 => "global_top1",
            Rule::PerLabel => "per_label",
            Rule::PerLabelTop1 => "per_label_top1",
            Rule::Argmax => "argmax",
        }
    }
}

/// Everything `thresholds.json` holds: what the page needs to decide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// The rule this model applies (chosen on validation).
    pub rule: Rule,
    /// Logits are divided by this before the sigmoid / softmax.
    pub temperature: f32,
    pub global: f32,
    /// One threshold per label, in label order.
    pub per_label: Vec<f32>,
}

impl Thresholds {
    /// Predicted flags for one row of calibrated probabilities under `rule`.
    pub fn decide(&self, probabilities: &[f32], rule: Rule) -> Vec<bool> {
        let top = argmax(probabilities);
        probabilities
            .iter()
            .enumerate()
            .map(|(i, &p)| match rule {
                Rule::Global => p >= self.global,
                Rule::GlobalTop1 => p >= self.global || Some(i) == top,
                Rule::PerLabel => p >= self.per_label[i],
                Rule::PerLabelTop1 => p >= self.per_label[i] || Some(i) == top,
                Rule::Argmax => Some(i) == top,
            })
            .collect()
    }
}

/// Index of the largest value (the first on ties); `None` when empty.
pub fn argmax(values: &[f32]) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .fold(None, |best: Option<(usize, f32)>, (i, &v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i)
}

/// Probabilities of one row of logits at `temperature`: independent
/// sigmoids (multi-label) or a softmax (single-label).
pub fn probabilities(logits: &[f32], temperature: f32, task: Task) -> Vec<f32> {
    let scaled = logits.iter().map(|&x| x / temperature);
    match task {
        Task::MultiLabel => scaled.map(|x| 1.0 / (1.0 + (-x).exp())).collect(),
        Task::SingleLabel => {
            let max = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) / temperature;
            let exps: Vec<f32> = scaled.map(|x| (x - max).exp()).collect();
            let sum: f32 = exps.iter().sum();
            exps.iter().map(|e| e / sum).collect()
        }
    }
}

/// Mean negative log-likelihood of the truth at `temperature`.
fn nll(logits: &[Vec<f32>], truth: &[Vec<bool>], temperature: f32, task: Task) -> f64 {
    let mut total = 0f64;
    let mut count = 0usize;
    for (row, flags) in logits.iter().zip(truth) {
        let p = probabilities(row, temperature, task);
        for (&p, &t) in p.iter().zip(flags) {
            let p = f64::from(p).clamp(1e-7, 1.0 - 1e-7);
            match (task, t) {
                (Task::MultiLabel, true) | (Task::SingleLabel, true) => total -= p.ln(),
                (Task::MultiLabel, false) => total -= (1.0 - p).ln(),
                (Task::SingleLabel, false) => {}
            }
        }
        count += match task {
            Task::MultiLabel => flags.len(),
            Task::SingleLabel => 1,
        };
    }
    total / count.max(1) as f64
}

/// The temperature in [0.25, 4] that minimises validation log-loss
/// (temperature scaling, Guo et al. 2017), by a search on a log grid.
pub fn fit_temperature(logits: &[Vec<f32>], truth: &[Vec<bool>], task: Task) -> f32 {
    (-40..=40)
        .map(|i| 2f32.powf(i as f32 / 20.0))
        .map(|t| (t, nll(logits, truth, t, task)))
        .fold((1.0, f64::INFINITY), |best, (t, loss)| {
            if loss < best.1 {
                (t, loss)
            } else {
                best
            }
        })
        .0
}

/// Candidate thresholds: 0.01 to 0.99 in steps of 0.01.
fn candidates() -> impl Iterator<Item = f32> {
    (1..100).map(|i| i as f32 / 100.0)
}

/// F1 from true positives, false positives and false negatives.
fn f1(tp: usize, fp: usize, fn_: usize) -> f64 {
    let denominator = 2 * tp + fp + fn_;
    if denominator == 0 {
        0.0
    } else {
        2.0 * tp as f64 / denominator as f64
    }
}

/// Counts of one label (or all, `label = None`) at threshold `t`.
fn counts(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    label: Option<usize>,
    t: f32,
) -> (usize, usize, usize) {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (row, flags) in probabilities.iter().zip(truth) {
        for (i, (&p, &truth)) in row.iter().zip(flags).enumerate() {
            if label.is_some_and(|l| l != i) {
                continue;
            }
            match (p >= t, truth) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                (false, false) => {}
            }
        }
    }
    (tp, fp, fn_)
}

/// The threshold with the best F1 (the lowest on ties: recall is cheaper to
/// lose than to regain).
fn best_threshold(score: impl Fn(f32) -> f64) -> f32 {
    candidates()
        .map(|t| (t, score(t)))
        .fold((0.5, f64::NEG_INFINITY), |best, (t, s)| {
            if s > best.1 {
                (t, s)
            } else {
                best
            }
        })
        .0
}

/// The global threshold that maximises micro-F1 on validation.
pub fn tune_global(probabilities: &[Vec<f32>], truth: &[Vec<bool>]) -> f32 {
    best_threshold(|t| {
        let (tp, fp, fn_) = counts(probabilities, truth, None, t);
        f1(tp, fp, fn_)
    })
}

/// Per-label thresholds that maximise each label's F1 on validation; a
/// label with fewer than `min_positives` validation positives keeps
/// `global`, since a threshold fitted to a handful of rows does not
/// generalise.
pub fn tune_per_label(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    global: f32,
    min_positives: usize,
) -> Vec<f32> {
    let n_labels = truth.first().map_or(0, Vec::len);
    (0..n_labels)
        .map(|label| {
            let positives = truth.iter().filter(|row| row[label]).count();
            if positives < min_positives {
                return global;
            }
            best_threshold(|t| {
                let (tp, fp, fn_) = counts(probabilities, truth, Some(label), t);
                f1(tp, fp, fn_)
            })
        })
        .collect()
}
