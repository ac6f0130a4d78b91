//! Decision tuning on hand-computed cases: the global threshold, per-label
//! thresholds with their fallback, temperature scaling, the rules, and the
//! choice of rule and of genre cap on held-out folds.

use plotgenre::labels::{self, CapOrder, Rule, Task, Thresholds};
use plotgenre::train::eval::calibrate;
use plotgenre::train::eval::criterion::Criterion;
use plotgenre::train::eval::metrics;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn global_threshold_maximises_micro_f1() {
    // Positives score 0.9, 0.6, 0.7, 0.35; negatives 0.2, 0.4, 0.3, 0.1.
    // t in (0.30, 0.35]: tp 4, fp 1 -> F1 8/9, the best; (0.35, 0.40]: 6/8;
    // (0.40, 0.60]: 6/7. The lowest of the best thresholds is 0.31.
    let probabilities = vec![
        vec![0.9, 0.2],
        vec![0.6, 0.4],
        vec![0.3, 0.7],
        vec![0.1, 0.35],
    ];
    let truth = vec![
        vec![true, false],
        vec![true, false],
        vec![false, true],
        vec![false, true],
    ];
    assert_eq!(calibrate::tune_global(&probabilities, &truth), 0.31);
}

#[test]
fn per_label_thresholds_fall_back_to_global_for_rare_labels() {
    // Label 0 separates at (0.5, 0.8]; label 1 has one positive only.
    let probabilities = vec![
        vec![0.9, 0.1],
        vec![0.8, 0.2],
        vec![0.5, 0.3],
        vec![0.2, 0.95],
    ];
    let truth = vec![
        vec![true, false],
        vec![true, false],
        vec![false, false],
        vec![false, true],
    ];
    let thresholds = calibrate::tune_per_label(&probabilities, &truth, 0.42, 2);
    assert_eq!(thresholds, vec![0.51, 0.42]);
    let all_own = calibrate::tune_per_label(&probabilities, &truth, 0.42, 1);
    assert_eq!(all_own, vec![0.51, 0.31]);
}

#[test]
fn temperature_undoes_overconfident_logits() {
    // Logits are twice the calibrated log-odds, so the best temperature is 2.
    let (mut logits, mut truth) = (Vec::new(), Vec::new());
    for step in -6..=6 {
        let z = step as f32 * 0.5;
        let positives = (100.0 / (1.0 + (-z).exp())).round() as usize;
        for i in 0..100 {
            logits.push(vec![2.0 * z]);
            truth.push(vec![i < positives]);
        }
    }
    let t = calibrate::fit_temperature(&logits, &truth, Task::MultiLabel);
    assert!((t - 2.0).abs() < 0.08, "fitted temperature {t}");
}

#[test]
fn rules_decide_as_documented() {
    let thresholds = Thresholds {
        rule: Rule::Global,
        temperature: 1.0,
        global: 0.5,
        per_label: vec![0.2, 0.9, 0.5],
        max_genres: None,
        cap_order: CapOrder::Probability,
        own_threshold_labels: Vec::new(),
    };
    let row = [0.3, 0.45, 0.1];
    assert_eq!(thresholds.decide(&row, Rule::Global), [false, false, false]);
    assert_eq!(
        thresholds.decide(&row, Rule::GlobalTop1),
        [false, true, false]
    );
    assert_eq!(
        thresholds.decide(&row, Rule::PerLabel),
        [true, false, false]
    );
    assert_eq!(
        thresholds.decide(&row, Rule::PerLabelTop1),
        [true, true, false]
    );
    assert_eq!(thresholds.decide(&row, Rule::Argmax), [false, true, false]);
}

#[test]
fn probabilities_are_sigmoids_or_a_softmax_at_the_temperature() {
    let multi = labels::probabilities(&[0.0, 2.0], 2.0, Task::MultiLabel);
    assert!((multi[0] - 0.5).abs() < 1e-6);
    assert!((multi[1] - 1.0 / (1.0 + (-1f32).exp())).abs() < 1e-6);
    let single = labels::probabilities(&[1.0, 1.0, 1000.0], 1.0, Task::SingleLabel);
    assert!((single.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    assert!(
        single[2] > 0.999,
        "a huge logit neither overflows nor loses: {single:?}"
    );
}

/// Logits and truth where every genre has the same score distribution, so
/// one global threshold is right and per-genre thresholds only fit noise.
fn exchangeable_genres(rows: usize, genres: usize) -> (Vec<Vec<f32>>, Vec<Vec<bool>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut logits, mut truth) = (Vec::new(), Vec::new());
    for _ in 0..rows {
        let flags: Vec<bool> = (0..genres).map(|_| rng.random_bool(0.15)).collect();
        let row = flags
            .iter()
            .map(|&positive| {
                let p: f32 = if positive {
                    rng.random_range(0.2..0.99)
                } else {
                    rng.random_range(0.01..0.6)
                };
                (p / (1.0 - p)).ln()
            })
            .collect();
        logits.push(row);
        truth.push(flags);
    }
    (logits, truth)
}

#[test]
fn the_rule_is_chosen_on_rows_its_thresholds_did_not_see() {
    let (logits, truth) = exchangeable_genres(400, 20);
    let criterion = Criterion::all_rows(logits.len());
    let tuned = calibrate::tune(&logits, &truth, Task::MultiLabel, 10, None, &criterion);
    let probabilities: Vec<Vec<f32>> = logits
        .iter()
        .map(|row| labels::probabilities(row, tuned.thresholds.temperature, Task::MultiLabel))
        .collect();
    let in_sample = |rule| {
        let predicted: Vec<Vec<bool>> = probabilities
            .iter()
            .map(|row| tuned.thresholds.decide(row, rule))
            .collect();
        metrics::multi_label(&truth, &predicted, &probabilities).micro_f1
    };
    assert!(
        in_sample(Rule::PerLabel) > in_sample(Rule::Global),
        "scored on the rows they were fitted to, per-genre thresholds look better"
    );
    assert!(
        matches!(tuned.thresholds.rule, Rule::Global | Rule::GlobalTop1),
        "held-out folds see through them: {:?}",
        tuned.thresholds.rule
    );
}

/// Rows of one true genre each, whose runner-up (a wrong genre) often
/// scores as high as a true genre does elsewhere: thresholds cannot drop
/// it, a cap of one genre can.
fn one_genre_rows(rows: usize, genres: usize) -> (Vec<Vec<f32>>, Vec<Vec<bool>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (mut logits, mut truth) = (Vec::new(), Vec::new());
    for _ in 0..rows {
        let genre = rng.random_range(0..genres);
        let runner_up = (genre + 1) % genres;
        let row = (0..genres)
            .map(|g| {
                let p: f32 = match g {
                    _ if g == genre => rng.random_range(0.5..0.99),
                    _ if g == runner_up => rng.random_range(0.3..0.6),
                    _ => rng.random_range(0.01..0.2),
                };
                (p / (1.0 - p)).ln()
            })
            .collect();
        logits.push(row);
        truth.push((0..genres).map(|g| g == genre).collect());
    }
    (logits, truth)
}

#[test]
fn the_genre_cap_is_chosen_on_held_out_rows_below_the_datas_own() {
    let (logits, truth) = one_genre_rows(400, 6);
    let criterion = Criterion::all_rows(logits.len());
    let (tuned, scores) =
        calibrate::tune_cap(&logits, &truth, Task::MultiLabel, 10, Some(3), &criterion);
    let candidates: Vec<(usize, CapOrder)> =
        scores.iter().map(|s| (s.max_genres, s.order)).collect();
    let both = |cap| CapOrder::ALL.map(|order| (cap, order));
    assert_eq!(
        candidates,
        [both(3), both(2), both(1)].concat(),
        "every cap from the data's own down is scored, in either order"
    );
    assert_eq!(tuned.thresholds.max_genres, Some(1));
    assert!(scores[4].score.score > scores[0].score.score, "{scores:?}");

    // Rows of any number of genres keep the data's cap: fewer loses recall.
    let (logits, truth) = exchangeable_genres(400, 20);
    let (tuned, _) =
        calibrate::tune_cap(&logits, &truth, Task::MultiLabel, 10, Some(8), &criterion);
    assert!(
        tuned.thresholds.max_genres >= Some(4),
        "{:?}",
        tuned.thresholds.max_genres
    );
}

#[test]
fn a_margin_cap_keeps_the_genre_furthest_past_its_own_threshold() {
    // Genre 0 barely passes the global 0.5; genre 2 is held to its own 0.1
    // and passes it by far more, though it is less probable.
    let thresholds = Thresholds {
        global: 0.5,
        per_label: vec![0.5, 0.5, 0.1],
        max_genres: Some(1),
        own_threshold_labels: vec![2],
        ..Thresholds::untuned(Rule::Global, 3)
    };
    let p = [0.55, 0.2, 0.3];
    assert_eq!(thresholds.decide(&p, Rule::Global), [true, false, false]);
    let margin = Thresholds {
        cap_order: CapOrder::Margin,
        ..thresholds
    };
    assert_eq!(margin.decide(&p, Rule::Global), [false, false, true]);
    // Under a per-genre rule every genre's margin is over its own threshold.
    assert_eq!(margin.decide(&p, Rule::PerLabel), [false, false, true]);
    assert_eq!(
        margin.decide(&[0.9, 0.2, 0.3], Rule::PerLabel),
        [true, false, false]
    );
}

#[test]
fn a_rare_genre_the_global_threshold_misses_keeps_its_own() {
    // Genre 0: half the rows, positives at 0.9, negatives at 0.45. Genre 1:
    // every seventh row (in every fold), positives at 0.4, negatives at 0.2. Micro-F1 puts the
    // global threshold above 0.45 (lower, genre 0's 50 negatives count),
    // where genre 1 is never predicted; its own threshold separates it.
    // (Any temperature in the fitted range keeps that order on the grid.)
    let logit = |p: f32| (p / (1.0 - p)).ln();
    let (mut logits, mut truth) = (Vec::new(), Vec::new());
    for i in 0..100 {
        let flags = vec![i % 2 == 0, i % 7 == 1];
        let p = [
            if flags[0] { 0.9 } else { 0.45 },
            if flags[1] { 0.4 } else { 0.2 },
        ];
        logits.push(p.iter().map(|&p| logit(p)).collect());
        truth.push(flags);
    }
    let criterion = Criterion::all_rows(logits.len());
    let tuned = calibrate::tune(&logits, &truth, Task::MultiLabel, 2, None, &criterion);
    let thresholds = &tuned.thresholds;
    assert_eq!(thresholds.rule, Rule::Global);
    assert_eq!(thresholds.own_threshold_labels, [1]);
    assert!(
        thresholds.per_label[1] < thresholds.global,
        "{thresholds:?}"
    );
    let global = &tuned.rule_scores[0];
    assert_eq!(
        global.score.score, 1.0,
        "decided right on every held-out row"
    );
    let [rare] = global.rare_genres.as_slice() else {
        panic!("one genre under the floor: {:?}", global.rare_genres);
    };
    assert_eq!((rare.label, rare.positives, rare.kept), (1, 15, true));
    assert_eq!((rare.f1_global, rare.f1_own), (0.0, 1.0));
    assert!(
        tuned.rule_scores[2].rare_genres.is_empty(),
        "a per-genre rule holds every genre to its own threshold already"
    );
    let probabilities = labels::probabilities(&logits[1], thresholds.temperature, Task::MultiLabel);
    assert_eq!(
        thresholds.decide(&probabilities, Rule::Global),
        [false, true]
    );
}
