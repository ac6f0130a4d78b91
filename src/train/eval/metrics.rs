//! The evaluation protocol's metrics (../shared/EVALUATION.md), with
//! scikit-learn's definitions and `zero_division = 0`: a ratio whose
//! denominator is zero counts as 0. Field names are the snake_case keys that
//! `metrics.json` and `eval --json` use.

use serde::Serialize;

/// Multi-label metrics over a label set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MultiLabelMetrics {
    pub subset_accuracy: f64,
    pub hamming_loss: f64,
    pub label_accuracy: f64,
    pub micro_precision: f64,
    pub micro_recall: f64,
    pub micro_f1: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    pub weighted_precision: f64,
    pub weighted_recall: f64,
    pub weighted_f1: f64,
    pub samples_precision: f64,
    pub samples_recall: f64,
    pub samples_f1: f64,
    pub samples_jaccard: f64,
    /// Mean ROC-AUC over the labels with both classes present; `None` if none has.
    pub macro_roc_auc: Option<f64>,
    /// Share of rows with at least one correctly predicted label.
    pub at_least_one: f64,
}

/// Single-label metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SingleLabelMetrics {
    pub accuracy: f64,
    /// Mean F1 over the labels that occur in the truth or the predictions.
    pub macro_f1: f64,
}

/// True positives, false positives and false negatives of one label or row.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    /// Counts one decision against its truth.
    pub fn add(&mut self, truth: bool, predicted: bool) {
        match (truth, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => {}
        }
    }

    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// F1 of the decisions counted (0 when there is nothing to count).
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    fn jaccard(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp + self.fn_)
    }

    /// Positives counted.
    pub fn support(&self) -> usize {
        self.tp + self.fn_
    }
}

/// `numerator / denominator`, 0 when the denominator is 0.
fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

fn mean(values: impl ExactSizeIterator<Item = f64>) -> f64 {
    let n = values.len();
    if n == 0 {
        0.0
    } else {
        values.sum::<f64>() / n as f64
    }
}

/// Multi-label metrics of `predicted` against `truth` (rows of one flag per
/// label); `scores` (same shape, higher = more likely) feed the ROC-AUC.
///
/// Panics if the three matrices differ in shape: that is a caller's bug.
pub fn multi_label(
    truth: &[Vec<bool>],
    predicted: &[Vec<bool>],
    scores: &[Vec<f32>],
) -> MultiLabelMetrics {
    assert!(
        truth.len() == predicted.len() && truth.len() == scores.len(),
        "truth, predictions and scores must have the same rows"
    );
    let n_labels = truth.first().map_or(0, Vec::len);
    let mut per_label = vec![Counts::default(); n_labels];
    let mut per_row = Vec::with_capacity(truth.len());
    let (mut exact, mut mismatches) = (0, 0);
    for (t, p) in truth.iter().zip(predicted) {
        assert!(
            t.len() == n_labels && p.len() == n_labels,
            "every row needs {n_labels} labels"
        );
        let mut row = Counts::default();
        for (label, (&t, &p)) in t.iter().zip(p).enumerate() {
            per_label[label].add(t, p);
            row.add(t, p);
        }
        exact += usize::from(t == p);
        mismatches += row.fp + row.fn_;
        per_row.push(row);
    }
    let micro = per_label.iter().fold(Counts::default(), |sum, c| Counts {
        tp: sum.tp + c.tp,
        fp: sum.fp + c.fp,
        fn_: sum.fn_ + c.fn_,
    });
    let total_support = micro.support();
    let weighted = |metric: fn(&Counts) -> f64| -> f64 {
        per_label
            .iter()
            .map(|c| metric(c) * ratio(c.support(), total_support))
            .sum()
    };
    let hamming_loss = ratio(mismatches, truth.len() * n_labels);
    MultiLabelMetrics {
        subset_accuracy: ratio(exact, truth.len()),
        hamming_loss,
        label_accuracy: 1.0 - hamming_loss,
        micro_precision: micro.precision(),
        micro_recall: micro.recall(),
        micro_f1: micro.f1(),
        macro_precision: mean(per_label.iter().map(Counts::precision)),
        macro_recall: mean(per_label.iter().map(Counts::recall)),
        macro_f1: mean(per_label.iter().map(Counts::f1)),
        weighted_precision: weighted(Counts::precision),
        weighted_recall: weighted(Counts::recall),
        weighted_f1: weighted(Counts::f1),
        samples_precision: mean(per_row.iter().map(Counts::precision)),
        samples_recall: mean(per_row.iter().map(Counts::recall)),
        samples_f1: mean(per_row.iter().map(Counts::f1)),
        samples_jaccard: mean(per_row.iter().map(Counts::jaccard)),
        macro_roc_auc: macro_roc_auc(truth, scores, n_labels),
        at_least_one: ratio(per_row.iter().filter(|r| r.tp > 0).count(), truth.len()),
    }
}

/// Mean ROC-AUC over the labels whose column has both classes.
fn macro_roc_auc(truth: &[Vec<bool>], scores: &[Vec<f32>], n_labels: usize) -> Option<f64> {
    let aucs: Vec<f64> = (0..n_labels)
        .filter_map(|label| {
            let column: Vec<(f32, bool)> = truth
                .iter()
                .zip(scores)
                .map(|(t, s)| (s[label], t[label]))
                .collect();
            roc_auc(&column)
        })
        .collect();
    (!aucs.is_empty()).then(|| mean(aucs.into_iter()))
}

/// ROC-AUC of `(score, is_positive)` pairs as the Mann-Whitney U statistic,
/// tied scores sharing their average rank; `None` without both classes.
pub fn roc_auc(pairs: &[(f32, bool)]) -> Option<f64> {
    let positives = pairs.iter().filter(|(_, positive)| *positive).count();
    let negatives = pairs.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut sorted: Vec<&(f32, bool)> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < sorted.len() {
        let end = start
            + sorted[start..]
                .iter()
                .take_while(|p| p.0 == sorted[start].0)
                .count();
        // Ranks start + 1 ..= end share their mean.
        let average_rank = (start + 1 + end) as f64 / 2.0;
        positive_rank_sum +=
            average_rank * sorted[start..end].iter().filter(|p| p.1).count() as f64;
        start = end;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Single-label metrics of predicted class indexes against the true ones.
pub fn single_label(truth: &[usize], predicted: &[usize]) -> SingleLabelMetrics {
    assert_eq!(
        truth.len(),
        predicted.len(),
        "truth and predictions must have the same rows"
    );
    let n_classes = truth.iter().chain(predicted).max().map_or(0, |&m| m + 1);
    let mut per_class = vec![Counts::default(); n_classes];
    let mut present = vec![false; n_classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        present[t] = true;
        present[p] = true;
        if t == p {
            per_class[t].tp += 1;
        } else {
            per_class[p].fp += 1;
            per_class[t].fn_ += 1;
        }
    }
    let correct = truth.iter().zip(predicted).filter(|(t, p)| t == p).count();
    SingleLabelMetrics {
        accuracy: ratio(correct, truth.len()),
        macro_f1: mean(
            per_class
                .iter()
                .zip(&present)
                .filter(|(_, &present)| present)
                .map(|(c, _)| c.f1())
                .collect::<Vec<_>>()
                .into_iter(),
        ),
    }
}

/// One label's scores, for the per-genre tables and charts of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScores {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
    pub tp: usize,
    pub fp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
}

/// Per-label precision, recall, F1, support and confusion counts of
/// `predicted` against `truth` (rows of one flag per label, in `labels` order).
pub fn per_label(
    labels: &[String],
    truth: &[Vec<bool>],
    predicted: &[Vec<bool>],
) -> Vec<LabelScores> {
    let mut counts = vec![Counts::default(); labels.len()];
    for (t, p) in truth.iter().zip(predicted) {
        for (label, (&t, &p)) in t.iter().zip(p).enumerate() {
            counts[label].add(t, p);
        }
    }
    labels
        .iter()
        .zip(&counts)
        .map(|(label, c)| LabelScores {
            label: label.clone(),
            precision: c.precision(),
            recall: c.recall(),
            f1: c.f1(),
            support: c.support(),
            tp: c.tp,
            fp: c.fp,
            fn_: c.fn_,
        })
        .collect()
}
