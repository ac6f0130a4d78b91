//! Rare genres kept predictable. A global threshold tuned for micro-F1 is
//! set by the frequent genres, and a genre with few positives (Film-Noir,
//! Western) can stay under it on almost every plot. Under a global rule,
//! each genre whose held-out F1 on some dataset's criterion rows is under
//! [`F1_FLOOR`] is tried with its own threshold, and keeps it when that
//! raises its lowest F1 over the datasets.

use serde::Serialize;

use super::criterion::Criterion;
use super::metrics::Counts;
use crate::labels::{Rule, Thresholds};

/// The F1 a genre with enough validation positives should reach on every
/// dataset: under it, the genre is as good as never predicted.
pub const F1_FLOOR: f64 = 0.30;

/// A genre a global rule left under the floor, and what its own threshold did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RareGenre {
    /// The genre's label index.
    pub label: usize,
    /// The dataset where its held-out F1 at the global threshold was lowest.
    pub dataset: String,
    /// Its positives among that dataset's criterion rows.
    pub positives: usize,
    /// Its lowest held-out F1 over the datasets at the global threshold.
    pub f1_global: f64,
    /// The same at its own threshold.
    pub f1_own: f64,
    /// Whether it keeps its own threshold (it raised that lowest F1).
    pub kept: bool,
}

/// Where a genre does worst: the dataset, its positives there, its F1.
struct Worst {
    dataset: String,
    positives: usize,
    f1: f64,
}

/// Validation decisions scored held out: each row decided under `rule` by
/// the thresholds of its fold (`folds[row % folds.len()]`).
struct HeldOut<'a> {
    probabilities: &'a [Vec<f32>],
    truth: &'a [Vec<bool>],
    rule: Rule,
    criterion: &'a Criterion,
    min_support: usize,
}

impl HeldOut<'_> {
    /// Every row's decisions by the thresholds of its fold in `folds`.
    fn decide(&self, folds: &[Thresholds]) -> Vec<Vec<bool>> {
        (self.probabilities.iter().enumerate())
            .map(|(i, row)| folds[i % folds.len()].decide(row, self.rule))
            .collect()
    }

    /// `label`'s `decisions` counted on `rows`.
    fn counts(&self, decisions: &[Vec<bool>], rows: &[usize], label: usize) -> Counts {
        let mut counts = Counts::default();
        for &i in rows {
            counts.add(self.truth[i][label], decisions[i][label]);
        }
        counts
    }

    /// `label`'s lowest F1 in `decisions` over the criterion's datasets that
    /// score it and where it has at least `min_support` positives; `None` when it has that few everywhere.
    fn worst(&self, decisions: &[Vec<bool>], label: usize) -> Option<Worst> {
        (self.criterion.groups.iter())
            .filter(|group| group.scores(label))
            .map(|group| (group, self.counts(decisions, &group.rows, label)))
            .filter(|(_, counts)| counts.support() >= self.min_support)
            .map(|(group, counts)| Worst {
                dataset: group.dataset.clone(),
                positives: counts.support(),
                f1: counts.f1(),
            })
            .min_by(|a, b| a.f1.total_cmp(&b.f1))
    }
}

/// Under a global `rule`, tries each genre its held-out decisions leave
/// under the floor with its own threshold, keeping those it helps in every
/// fold's `own_threshold_labels`; returns each genre tried. The per-label
/// rules already hold every genre to its own threshold.
pub fn keep_rare_genres(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    rule: Rule,
    folds: &mut Vec<Thresholds>,
    min_support: usize,
    criterion: &Criterion,
) -> Vec<RareGenre> {
    if !matches!(rule, Rule::Global | Rule::GlobalTop1) {
        return Vec::new();
    }
    let held_out = HeldOut {
        probabilities,
        truth,
        rule,
        criterion,
        min_support,
    };
    let n_labels = truth.first().map_or(0, Vec::len);
    let mut decisions = held_out.decide(folds);
    let mut tried = Vec::new();
    for label in 0..n_labels {
        let Some(before) = held_out.worst(&decisions, label) else {
            continue;
        };
        if before.f1 >= F1_FLOOR {
            continue;
        }
        let own: Vec<Thresholds> = folds
            .iter()
            .map(|fold| fold.with_own_threshold(label))
            .collect();
        let own_decisions = held_out.decide(&own);
        let f1_own = (held_out.worst(&own_decisions, label)).map_or(0.0, |after| after.f1);
        let kept = f1_own > before.f1;
        if kept {
            *folds = own;
            decisions = own_decisions;
        }
        tried.push(RareGenre {
            label,
            dataset: before.dataset,
            positives: before.positives,
            f1_global: before.f1,
            f1_own,
            kept,
        });
    }
    tried
}

/// The labels of `tried` that keep their own threshold.
pub fn kept_labels(tried: &[RareGenre]) -> Vec<usize> {
    tried.iter().filter(|g| g.kept).map(|g| g.label).collect()
}
