//! Turning logits into decisions, tuned on validation only: a temperature
//! that calibrates probabilities, a global threshold and per-label
//! thresholds that maximise F1, and the decision rules of EVALUATION.md.

use super::criterion::{select, Criterion, Group, Score};
use super::evaluate::{self, Metrics};
use super::metrics;
use super::rare::{self, RareGenre};
use crate::labels::{probabilities, CapOrder, Rule, Task, Thresholds};

/// Folds of validation that score the multi-label rules: thresholds tuned
/// and scored on the same rows flatter the per-label rules (one threshold
/// fitted per genre, some to a few dozen positives), so each rule is scored
/// on rows its thresholds were not tuned on.
pub const RULE_FOLDS: usize = 5;

/// Validation positives a genre needs to get its own threshold by default:
/// one fitted to fewer does not generalise.
pub const DEFAULT_MIN_THRESHOLD_SUPPORT: usize = 10;

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

/// The most genres any plot of `truth` (the training split) has, when that
/// is fewer than every label: the cap a multi-label decision keeps to.
pub fn most_genres(truth: &[Vec<bool>], task: Task) -> Option<usize> {
    let n_labels = truth.first().map_or(0, Vec::len);
    let most = truth
        .iter()
        .map(|row| row.iter().filter(|&&t| t).count())
        .max()?;
    (task == Task::MultiLabel && most > 0 && most < n_labels).then_some(most)
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
    let rows: Vec<usize> = (0..truth.len()).collect();
    counts_on(
        probabilities,
        truth,
        &rows,
        |i| label.is_none_or(|l| l == i),
        t,
    )
}

/// [`counts`] over the `rows` of `probabilities` and `truth` and the label
/// columns `scored` accepts only.
fn counts_on(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    rows: &[usize],
    scored: impl Fn(usize) -> bool,
    t: f32,
) -> (usize, usize, usize) {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (row, flags) in rows.iter().map(|&i| (&probabilities[i], &truth[i])) {
        for (i, (&p, &truth)) in row.iter().zip(flags).enumerate() {
            if !scored(i) {
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

/// The global threshold that maximises `criterion`'s micro-F1 (on its
/// rows, averaged over its datasets).
pub fn tune_global_on(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    criterion: &Criterion,
) -> f32 {
    best_threshold(|t| {
        criterion.mean(|group| {
            let (tp, fp, fn_) =
                counts_on(probabilities, truth, &group.rows, |i| group.scores(i), t);
            f1(tp, fp, fn_)
        })
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
    let rows: Vec<usize> = (0..truth.len()).collect();
    tune_per_label_on(
        probabilities,
        truth,
        |_| rows.clone(),
        global,
        min_positives,
    )
}

/// [`tune_per_label`] with each label tuned on its own validation rows,
/// `rows_of(label)`.
fn tune_per_label_on(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    rows_of: impl Fn(usize) -> Vec<usize>,
    global: f32,
    min_positives: usize,
) -> Vec<f32> {
    let n_labels = truth.first().map_or(0, Vec::len);
    (0..n_labels)
        .map(|label| {
            let rows = rows_of(label);
            let positives = rows.iter().filter(|&&i| truth[i][label]).count();
            if positives < min_positives {
                return global;
            }
            best_threshold(|t| {
                let (tp, fp, fn_) = counts_on(probabilities, truth, &rows, |i| i == label, t);
                f1(tp, fp, fn_)
            })
        })
        .collect()
}

/// Temperature, thresholds and decision rule tuned on validation, and the
/// score that chose them.
pub struct Tuned {
    pub thresholds: Thresholds,
    /// Every rule's selection score, so `metrics.json` shows why the rule won.
    pub rule_scores: Vec<RuleScore>,
    /// What the scores measure.
    pub criterion: Criterion,
}

impl Tuned {
    /// The selection score of the chosen rule: the criterion's score of
    /// decisions cross-validated over `RULE_FOLDS` folds (multi-label).
    pub fn score(&self) -> f64 {
        self.selection().score
    }

    /// The chosen rule's criterion score and tie-break.
    pub fn selection(&self) -> Score {
        self.rule_scores
            .iter()
            .find(|s| s.rule == self.thresholds.rule)
            .map_or(
                Score {
                    score: f64::NEG_INFINITY,
                    tie_break: None,
                },
                |s| s.score,
            )
    }
}

/// One decision rule's selection score on validation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleScore {
    pub rule: Rule,
    #[serde(flatten)]
    pub score: Score,
    /// The genres a global rule left under the F1 floor (`rare`), tried
    /// with their own thresholds before it was scored.
    #[serde(skip)]
    pub rare_genres: Vec<RareGenre>,
}

/// Tunes the temperature on all of validation (`logits` and `truth`) and
/// the thresholds on `criterion`'s rows, and picks the rule whose decisions
/// on held-out folds score best by `criterion`, for plots of at most
/// `max_genres` genres.
pub fn tune(
    logits: &[Vec<f32>],
    truth: &[Vec<bool>],
    task: Task,
    min_support: usize,
    max_genres: Option<usize>,
    criterion: &Criterion,
) -> Tuned {
    let calibrated = Calibrated::fit(logits, truth, task);
    let cap = (max_genres, CapOrder::Probability);
    calibrated.tune(truth, min_support, cap, Rule::for_task(task), criterion)
}

/// Tunes the temperature and thresholds as [`tune`] does, keeping `kept`'s
/// rule, genre cap and cap order: what quantization moves is where the
/// probabilities fall, so a bundle re-fits its thresholds but keeps the
/// structure chosen on its f32 model, not one of the near-ties (a few
/// 0.0001 of the criterion) that quantization noise reorders.
pub fn tune_kept(
    logits: &[Vec<f32>],
    truth: &[Vec<bool>],
    task: Task,
    min_support: usize,
    kept: &Thresholds,
    criterion: &Criterion,
) -> Tuned {
    let calibrated = Calibrated::fit(logits, truth, task);
    let cap = (kept.max_genres, kept.cap_order);
    calibrated.tune(truth, min_support, cap, &[kept.rule], criterion)
}

/// Validation probabilities at the temperature fitted to them: what every
/// threshold, rule and cap is tuned on.
struct Calibrated {
    task: Task,
    temperature: f32,
    probabilities: Vec<Vec<f32>>,
}

impl Calibrated {
    /// Fits the temperature on all of `logits` (log-loss against `truth`).
    fn fit(logits: &[Vec<f32>], truth: &[Vec<bool>], task: Task) -> Self {
        let temperature = fit_temperature(logits, truth, task);
        let probabilities = logits
            .iter()
            .map(|row| probabilities(row, temperature, task))
            .collect();
        Self {
            task,
            temperature,
            probabilities,
        }
    }

    /// [`tune`] past the temperature, for plots of at most `max_genres`
    /// genres, kept in `cap_order`, choosing among `rules` (the first wins ties).
    fn tune(
        &self,
        truth: &[Vec<bool>],
        min_support: usize,
        (max_genres, cap_order): (Option<usize>, CapOrder),
        rules: &[Rule],
        criterion: &Criterion,
    ) -> Tuned {
        let n_labels = truth.first().map_or(0, Vec::len);
        let thresholds = Thresholds {
            temperature: self.temperature,
            max_genres,
            cap_order,
            ..Thresholds::untuned(rules[0], n_labels)
        };
        let probabilities = &self.probabilities;
        match self.task {
            Task::SingleLabel => score_single_label(probabilities, truth, thresholds, criterion),
            Task::MultiLabel => {
                let base = (thresholds, min_support);
                pick_multi_label_rule(probabilities, truth, base, rules, criterion)
            }
        }
    }
}

/// One genre cap's selection score on validation.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CapScore {
    pub max_genres: usize,
    /// Which genres the cap keeps.
    pub order: CapOrder,
    #[serde(flatten)]
    pub score: Score,
}

/// [`tune`] at every cap from `most` genres per plot (the training data's
/// own) down to 1, each keeping genres in either [`CapOrder`], and keeps
/// the cap and order whose chosen rule scores best held out by `criterion`
/// (ties keep the larger cap, then the most probable genres): data mixing
/// sources with different genre counts (IMDb lists at most 3, TMDB more)
/// need not decide every plot by the most generous one. Returns each
/// candidate's score.
pub fn tune_cap(
    logits: &[Vec<f32>],
    truth: &[Vec<bool>],
    task: Task,
    min_support: usize,
    most: Option<usize>,
    criterion: &Criterion,
) -> (Tuned, Vec<CapScore>) {
    let calibrated = Calibrated::fit(logits, truth, task);
    let rules = Rule::for_task(task);
    let tune_at = |cap| calibrated.tune(truth, min_support, cap, rules, criterion);
    let Some(most) = most.filter(|_| task == Task::MultiLabel) else {
        return (tune_at((most, CapOrder::Probability)), Vec::new());
    };
    let mut best: Option<Tuned> = None;
    let mut scores = Vec::new();
    for cap in (1..=most).rev() {
        for order in CapOrder::ALL {
            let tuned = tune_at((Some(cap), order));
            scores.push(CapScore {
                max_genres: cap,
                order,
                score: tuned.selection(),
            });
            if best
                .as_ref()
                .is_none_or(|leader| criterion.better(tuned.selection(), leader.selection()))
            {
                best = Some(tuned);
            }
        }
    }
    let best = best.unwrap_or_else(|| tune_at((Some(most), CapOrder::Probability)));
    (best, scores)
}

/// The metrics of `rule` on `group`'s rows and columns of calibrated `probabilities`.
fn metrics_on(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    group: &Group,
    thresholds: &Thresholds,
    task: Task,
) -> Metrics {
    let n_labels = thresholds.per_label.len();
    // Single-label scoring takes every label's truth (evaluate::score).
    let (truth, columns) = match task {
        Task::MultiLabel => (group.pick(truth), group.columns.clone()),
        Task::SingleLabel => (select(truth, &group.rows), None),
    };
    evaluate::score(
        &select(probabilities, &group.rows),
        &truth,
        thresholds,
        thresholds.rule,
        task,
        &columns.unwrap_or_else(|| evaluate::all_columns(n_labels)),
    )
}

/// The single-label decision (its one rule, no thresholds) and its score.
fn score_single_label(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    thresholds: Thresholds,
    criterion: &Criterion,
) -> Tuned {
    let score = criterion
        .score(|group| metrics_on(probabilities, truth, group, &thresholds, Task::SingleLabel));
    let rule_scores = vec![RuleScore {
        rule: thresholds.rule,
        score,
        rare_genres: Vec::new(),
    }];
    Tuned {
        thresholds,
        rule_scores,
        criterion: criterion.clone(),
    }
}

/// Thresholds of `base` tuned on `criterion`'s rows of `probabilities`:
/// the global one for the criterion, the per-label ones on those rows.
fn fitted_thresholds(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    criterion: &Criterion,
    base: &Thresholds,
    min_support: usize,
) -> Thresholds {
    let global = tune_global_on(probabilities, truth, criterion);
    let rows_of = |label| criterion.rows_scoring(label);
    Thresholds {
        global,
        per_label: tune_per_label_on(probabilities, truth, rows_of, global, min_support),
        ..base.clone()
    }
}

/// Thresholds tuned on all of `criterion`'s rows (from `base`, each
/// per-label one fitted to at least `min_support` positives), and the one
/// of `rules` whose decisions score best by `criterion` on the rows each
/// fold's thresholds were not tuned on. A global rule first gives the rare
/// genres it would leave under the F1 floor their own thresholds (`rare`).
fn pick_multi_label_rule(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    (base, min_support): (Thresholds, usize),
    rules: &[Rule],
    criterion: &Criterion,
) -> Tuned {
    let mut thresholds = fitted_thresholds(probabilities, truth, criterion, &base, min_support);
    let folds: Vec<Thresholds> = (0..RULE_FOLDS)
        .map(|fold| {
            let tuning = criterion.restricted(|i| i % RULE_FOLDS != fold);
            if tuning.groups.is_empty() {
                thresholds.clone()
            } else {
                fitted_thresholds(probabilities, truth, &tuning, &thresholds, min_support)
            }
        })
        .collect();
    // The first rule (the simplest) wins ties.
    let mut best: Option<Score> = None;
    let mut rule_scores = Vec::new();
    for &rule in rules {
        let mut rule_folds = folds.clone();
        let rare_genres = rare::keep_rare_genres(
            probabilities,
            truth,
            rule,
            &mut rule_folds,
            min_support,
            criterion,
        );
        let score = held_out_score(probabilities, truth, &rule_folds, rule, criterion);
        if best.is_none_or(|leader| criterion.better(score, leader)) {
            best = Some(score);
            thresholds.rule = rule;
            thresholds.own_threshold_labels = rare::kept_labels(&rare_genres);
        }
        rule_scores.push(RuleScore {
            rule,
            score,
            rare_genres,
        });
    }
    Tuned {
        thresholds,
        rule_scores,
        criterion: criterion.clone(),
    }
}

/// `criterion`'s score of decisions under `rule`, each row decided by the
/// thresholds of its fold (`folds[row % RULE_FOLDS]`).
fn held_out_score(
    probabilities: &[Vec<f32>],
    truth: &[Vec<bool>],
    folds: &[Thresholds],
    rule: Rule,
    criterion: &Criterion,
) -> Score {
    let predicted: Vec<Vec<bool>> = probabilities
        .iter()
        .enumerate()
        .map(|(i, row)| folds[i % RULE_FOLDS].decide(row, rule))
        .collect();
    criterion.score(|group| {
        Metrics::Multi(metrics::multi_label(
            &group.pick(truth),
            &group.pick(&predicted),
            &group.pick(probabilities),
        ))
    })
}

/// The score that picks a run's best epoch, from validation `logits`:
/// `criterion`'s micro-F1 at the global threshold tuned for it, without
/// calibration (multi-label), or its macro-F1 (single-label).
pub fn epoch_score(
    logits: &[Vec<f32>],
    truth: &[Vec<bool>],
    task: Task,
    criterion: &Criterion,
) -> f64 {
    let n_labels = truth.first().map_or(0, Vec::len);
    let probabilities: Vec<Vec<f32>> = logits
        .iter()
        .map(|row| probabilities(row, 1.0, task))
        .collect();
    let global = match task {
        Task::MultiLabel => tune_global_on(&probabilities, truth, criterion),
        Task::SingleLabel => 0.5,
    };
    let thresholds = Thresholds {
        global,
        per_label: vec![global; n_labels],
        ..Thresholds::untuned(Rule::for_task(task)[0], n_labels)
    };
    criterion
        .score(|group| metrics_on(&probabilities, truth, group, &thresholds, task))
        .score
}
