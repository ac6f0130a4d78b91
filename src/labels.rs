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

/// Which genres a capped decision keeps when more pass than the cap allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapOrder {
    /// The most probable ones.
    #[default]
    Probability,
    /// Those furthest past the threshold they are held to, so that a rare
    /// genre with a low threshold of its own is not crowded out by frequent
    /// ones that barely pass theirs.
    Margin,
}

impl CapOrder {
    /// Both orders, the default first (it wins ties in tuning).
    pub const ALL: [CapOrder; 2] = [CapOrder::Probability, CapOrder::Margin];

    /// The snake_case name used in JSON files and reports.
    pub fn name(self) -> &'static str {
        match self {
            CapOrder::Probability => "probability",
            CapOrder::Margin => "margin",
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
    /// Which genres the cap keeps (bundles older than this field: the most probable).
    #[serde(default, skip_serializing_if = "is_probability")]
    pub cap_order: CapOrder,
    /// Genres (label indexes) the global rules hold to their own
    /// `per_label` threshold: rare genres the global threshold would leave
    /// almost never predicted on validation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub own_threshold_labels: Vec<usize>,
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
            cap_order: CapOrder::Probability,
            own_threshold_labels: Vec::new(),
        }
    }

    /// Why these thresholds cannot decide over `labels` genres, if they cannot.
    pub fn mismatch(&self, labels: usize) -> Option<String> {
        if self.per_label.len() != labels {
            return Some(format!(
                "{} per-label thresholds for {labels} labels",
                self.per_label.len()
            ));
        }
        (self.own_threshold_labels.iter())
            .find(|&&label| label >= labels)
            .map(|label| format!("an own threshold for genre {label}, of {labels} genres"))
    }

    /// These thresholds with genre `label` held to its own threshold under the global rules.
    pub fn with_own_threshold(&self, label: usize) -> Self {
        let mut own = self.clone();
        if !own.own_threshold_labels.contains(&label) {
            own.own_threshold_labels.push(label);
            own.own_threshold_labels.sort_unstable();
        }
        own
    }

    /// The genres held to their own threshold under the global rules, in
    /// words ("Film-Noir 0.05, Western 0.06"); `None` when there are none.
    pub fn own_thresholds_in_words(&self, labels: &[String]) -> Option<String> {
        let own: Vec<String> = (self.own_threshold_labels.iter())
            .map(|&label| format!("{} {:.2}", labels[label], self.per_label[label]))
            .collect();
        (!own.is_empty()).then(|| own.join(", "))
    }

    /// The threshold genre `label` is held to under the global rules.
    pub fn global_threshold(&self, label: usize) -> f32 {
        if self.own_threshold_labels.contains(&label) {
            self.per_label[label]
        } else {
            self.global
        }
    }

    /// The threshold genre `label` is held to under `rule` (`None`: argmax).
    pub fn threshold_under(&self, label: usize, rule: Rule) -> Option<f32> {
        match rule {
            Rule::Global | Rule::GlobalTop1 => Some(self.global_threshold(label)),
            Rule::PerLabel | Rule::PerLabelTop1 => Some(self.per_label[label]),
            Rule::Argmax => None,
        }
    }

    /// Predicted flags for one row of calibrated probabilities under `rule`.
    pub fn decide(&self, probabilities: &[f32], rule: Rule) -> Vec<bool> {
        // The rules that always keep the most probable genre.
        let top = argmax(probabilities)
            .filter(|_| matches!(rule, Rule::GlobalTop1 | Rule::PerLabelTop1 | Rule::Argmax));
        let mut flags: Vec<bool> = probabilities
            .iter()
            .enumerate()
            .map(|(i, &p)| self.threshold_under(i, rule).is_some_and(|t| p >= t) || Some(i) == top)
            .collect();
        if let Some(most) = self.max_genres {
            let mut picked: Vec<usize> = (0..flags.len()).filter(|&i| flags[i]).collect();
            if picked.len() > most {
                let key = |i: usize| match self.cap_order {
                    CapOrder::Probability => probabilities[i],
                    CapOrder::Margin => {
                        probabilities[i] - self.threshold_under(i, rule).unwrap_or(0.0)
                    }
                };
                picked.sort_by(|&a, &b| key(b).total_cmp(&key(a)));
                for &i in &picked[most..] {
                    flags[i] = false;
                }
            }
        }
        flags
    }
}

/// Whether `order` is the default one, left out of `thresholds.json`.
fn is_probability(order: &CapOrder) -> bool {
    *order == CapOrder::Probability
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
