//! The lexical model: TF-IDF and logistic regression against hand-computed
//! values, and the genre cap of the decision rule.

use plotgenre::labels::{Rule, Thresholds};
use plotgenre::model::lexical::Vocabulary;
use plotgenre::train::fit::lexical::idf_table;
use plotgenre::train::fit::regression::fit_regression;

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-5
}

#[test]
fn idf_is_smoothed_and_skips_rare_tokens_and_tokens_in_every_text() {
    // Tokens 1 and 2 are in every text (like [CLS]); 4 and 5 in one only.
    let documents = vec![vec![1, 2, 2, 3, 5], vec![2, 1], vec![1, 2, 4, 4, 3]];
    let table = idf_table(&documents, 7, 2);
    // ln((1 + n) / (1 + df)) + 1 with n = 3 texts, df(3) = 2.
    let idf3 = (4f32 / 3.0).ln() + 1.0;
    assert_eq!(table[1], 0.0, "token 1 is in every text");
    assert_eq!(table[2], 0.0, "token 2 is in every text");
    assert!(close(table[3], idf3));
    assert_eq!(table[4], 0.0, "token 4 is in one text only");
    assert_eq!(table[5], 0.0);
    assert_eq!(table[6], 0.0, "token 6 never occurs");

    let table = [0.0, 2.0, 0.0, 1.5];
    let vocabulary = Vocabulary::from_idf_table(&table).unwrap();
    assert_eq!(vocabulary.len(), 2);
    // Token 1 twice, token 3 once, 2 and an out-of-vocabulary id skipped.
    let vector = vocabulary.vectorize(&[1, 3, 2, 1, 99]);
    let (a, b) = ((1.0 + 2f32.ln()) * 2.0, 1.5);
    let norm = (a * a + b * b).sqrt();
    assert_eq!(vector.len(), 2);
    assert_eq!((vector[0].0, vector[1].0), (0, 1));
    assert!(
        close(vector[0].1, a / norm) && close(vector[1].1, b / norm),
        "{vector:?}"
    );
    assert!(vocabulary.vectorize(&[2, 99]).is_empty());
    assert!(Vocabulary::from_idf_table(&[f32::NAN]).is_err());
}

#[test]
fn regression_meets_its_optimality_condition_and_learns_a_keyword() {
    // Label 0 is positive in 3 rows of 4: at the optimum the unpenalised
    // bias's gradient vanishes, so the mean probability is exactly 0.75.
    // Label 1 is positive exactly when feature 1 is present.
    let rows = vec![
        vec![(0, 1.0)],
        vec![(0, 1.0)],
        vec![(0, 0.6), (1, 0.8)],
        vec![(0, 0.6), (1, 0.8)],
    ];
    let truth = vec![
        vec![true, false],
        vec![false, false],
        vec![true, true],
        vec![true, true],
    ];
    let every = vec![vec![true; 2]; rows.len()];
    let (weights, bias) = fit_regression(&rows, &truth, &every, 2, 10.0, 500).unwrap();
    assert_eq!(weights.len(), 2);
    assert_eq!(
        weights[0].len(),
        32,
        "rows are padded to the 32-value block"
    );
    assert!(weights[0][2..].iter().all(|&w| w == 0.0));
    let logit = |label: usize, row: &[(usize, f32)]| {
        bias[label] + row.iter().map(|&(f, v)| v * weights[label][f]).sum::<f32>()
    };
    let first: Vec<f32> = rows.iter().map(|r| logit(0, r)).collect();
    let mean_p: f32 = first.iter().map(|z| 1.0 / (1.0 + (-z).exp())).sum::<f32>() / 4.0;
    assert!(
        (mean_p - 0.75).abs() < 1e-3,
        "label 0 mean probability {mean_p}"
    );
    assert!(logit(1, &rows[2]) > 1.0 && logit(1, &rows[0]) < -1.0);
    assert!(fit_regression(&rows, &truth, &every, 2, 0.0, 500).is_err());
}

#[test]
fn regression_ignores_the_pairs_it_does_not_count() {
    // Label 0 is positive on feature 0 in row 0, and rows 2-3 contradict
    // it. Not counting label 0 on rows 2-3 halves the mean's terms and
    // keeps lambda = 1 / (C n): the same optimum as rows 0-1 alone at the
    // same C (their objective is exactly half the masked one).
    let rows = vec![
        vec![(0, 1.0)],
        vec![(1, 1.0)],
        vec![(0, 1.0)],
        vec![(0, 1.0)],
    ];
    let truth = vec![vec![true], vec![false], vec![false], vec![false]];
    let counted = vec![vec![true], vec![true], vec![false], vec![false]];
    let every = vec![vec![true]; 4];
    let (masked, masked_bias) = fit_regression(&rows, &truth, &counted, 2, 10.0, 500).unwrap();
    let (plain, plain_bias) = fit_regression(&rows, &truth, &every, 2, 10.0, 500).unwrap();
    let (alone, alone_bias) =
        fit_regression(&rows[..2], &truth[..2], &every[..2], 2, 10.0, 500).unwrap();
    let row_0_logit = |weights: &[Vec<f32>], bias: &[f32]| weights[0][0] + bias[0];
    assert!(
        row_0_logit(&plain, &plain_bias) < 0.0,
        "counted: rows 2-3 outvote row 0"
    );
    assert!(
        row_0_logit(&masked, &masked_bias) > 0.0,
        "uncounted: row 0 alone decides"
    );
    for (a, b) in masked[0][..2]
        .iter()
        .chain(&masked_bias)
        .zip(alone[0][..2].iter().chain(&alone_bias))
    {
        assert!(
            (a - b).abs() < 1e-3,
            "masked {masked:?} {masked_bias:?} vs alone {alone:?} {alone_bias:?}"
        );
    }
}

#[test]
fn the_genre_cap_keeps_the_most_probable_predicted_genres() {
    let mut thresholds = Thresholds {
        max_genres: Some(2),
        ..Thresholds::untuned(Rule::Global, 5)
    };
    let probabilities = [0.7, 0.9, 0.2, 0.6, 0.8];
    assert_eq!(
        thresholds.decide(&probabilities, Rule::Global),
        [false, true, false, false, true]
    );
    assert_eq!(
        thresholds.decide(&[0.1, 0.2, 0.3, 0.55, 0.0], Rule::GlobalTop1),
        [false, false, false, true, false]
    );
    thresholds.max_genres = None;
    assert_eq!(
        thresholds.decide(&probabilities, Rule::Global),
        [true, true, false, true, true]
    );
}
