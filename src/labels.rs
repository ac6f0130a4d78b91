//! The label set and its decision rules: how a model's logits become
//! calibrated probabilities and predicted genres. Shared by the browser and
//! the command line, so both decide exactly alike.

use serde::{Deserialize, Serialize};

/// Whether a plot has any number of genres or exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "train", derive(clap::ValueEnum))]
pub enum Task {
    /// Any number of genres per plot (sigmoid per genre).
    MultiLabel,
    /// Exactly one genre per plot (softmax over genres).
    SingleLabel,
}

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
    /// Multi-label: at most this many genres, the most probable, are
    /// predicted: the most any training plot has (IMDb lists three).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_genres: Option<usize>,
}

impl Thresholds {
    /// Every threshold at 0.5 under `rule`, temperature 1 and no cap: the
    /// untuned starting point calibration searches from, and what untrained
    /// bundles and tests decide by.
    pub fn untuned(rule: Rule, labels: usize) -> Self {
        Thresholds {
            rule,
            temperature: 1.0,
            global: 0.5,
            per_label: vec![0.5; labels],
            max_genres: None,
        }
    }

    /// Predicted flags for one row of calibrated probabilities under `rule`.
    pub fn decide(&self, probabilities: &[f32], rule: Rule) -> Vec<bool> {
        let top = argmax(probabilities);
        let mut flags: Vec<bool> = probabilities
            .iter()
            .enumerate()
            .map(|(i, &p)| match rule {
                Rule::Global => p >= self.global,
                Rule::GlobalTop1 => p >= self.global || Some(i) == top,
                Rule::PerLabel => p >= self.per_label[i],
                Rule::PerLabelTop1 => p >= self.per_label[i] || Some(i) == top,
                Rule::Argmax => Some(i) == top,
            })
            .collect();
        if let Some(most) = self.max_genres {
            let mut picked: Vec<usize> = (0..flags.len()).filter(|&i| flags[i]).collect();
            if picked.len() > most {
                picked.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
                for &i in &picked[most..] {
                    flags[i] = false;
                }
            }
        }
        flags
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
