//! The protocol's metrics against scikit-learn (tests/fixtures/metrics.json,
//! written by scripts/make_fixtures.py), including the zero-division, tie and
//! single-class edge cases.

use crate::common;

use plotgenre::train::eval::metrics::{multi_label, roc_auc, single_label};

const TOLERANCE: f64 = 1e-9;

fn bool_matrix(value: &serde_json::Value) -> Vec<Vec<bool>> {
    let rows: Vec<Vec<u8>> = serde_json::from_value(value.clone()).expect("0/1 matrix");
    rows.into_iter()
        .map(|r| r.into_iter().map(|v| v == 1).collect())
        .collect()
}

/// Every metric the fixture expects must be present in `actual` and agree.
fn assert_matches(case: &str, actual: serde_json::Value, expected: &serde_json::Value) {
    let expected = expected.as_object().expect("expected metrics");
    assert!(!expected.is_empty());
    for (key, want) in expected {
        let got = &actual[key];
        match (want.as_f64(), got.as_f64()) {
            (Some(want), Some(got)) => assert!(
                (want - got).abs() <= TOLERANCE,
                "{case}: {key} = {got}, scikit-learn {want}"
            ),
            _ => assert_eq!(got, want, "{case}: {key}"),
        }
    }
}

#[test]
fn multi_label_metrics_match_scikit_learn() {
    let fixture = common::json("metrics.json");
    let cases = fixture["multi_label"]
        .as_array()
        .expect("multi-label cases");
    assert!(cases.len() >= 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let scores: Vec<Vec<f32>> = serde_json::from_value(case["y_score"].clone()).unwrap();
        let metrics = multi_label(
            &bool_matrix(&case["y_true"]),
            &bool_matrix(&case["y_pred"]),
            &scores,
        );
        assert_matches(
            name,
            serde_json::to_value(&metrics).unwrap(),
            &case["expected"],
        );
    }
}

#[test]
fn single_label_metrics_match_scikit_learn() {
    let fixture = common::json("metrics.json");
    for case in fixture["single_label"]
        .as_array()
        .expect("single-label cases")
    {
        let name = case["name"].as_str().unwrap();
        let truth: Vec<usize> = serde_json::from_value(case["y_true"].clone()).unwrap();
        let predicted: Vec<usize> = serde_json::from_value(case["y_pred"].clone()).unwrap();
        let metrics = single_label(&truth, &predicted);
        assert_matches(
            name,
            serde_json::to_value(&metrics).unwrap(),
            &case["expected"],
        );
    }
}

#[test]
fn roc_auc_by_hand() {
    // Positives 0.8, 0.4; negatives 0.4, 0.1: of 4 pairs, 3 ranked right and 1 tie (counts half).
    let pairs = [(0.8, true), (0.4, true), (0.4, false), (0.1, false)];
    assert_eq!(roc_auc(&pairs), Some(3.5 / 4.0));
    assert_eq!(roc_auc(&[(0.3, true), (0.9, true)]), None, "one class only");
}

#[test]
fn a_dataset_is_scored_on_its_own_label_set_after_deciding_over_all() {
    use plotgenre::labels::Task;
    use plotgenre::labels::{Rule, Thresholds};
    use plotgenre::train::data::dataset::Example;
    use plotgenre::train::eval::evaluate;

    let model_labels: Vec<String> = ["Action", "Short", "Drama"].map(String::from).to_vec();
    let dataset_labels: Vec<String> = ["Action", "Drama"].map(String::from).to_vec();
    let example = |labels: &[&str]| Example {
        text: String::new(),
        plot: String::new(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        line: 0,
        source: None,
        part: 0,
    };
    let examples = [example(&["Action"]), example(&["Drama"])];
    // Nothing clears the threshold, so only the top genre is predicted; in
    // row 1 that is "Short", which the dataset does not score: nothing
    // predicted among its labels.
    let probabilities = vec![vec![0.9, 0.1, 0.2], vec![0.3, 0.6, 0.4]];
    let thresholds = Thresholds {
        global: 0.95,
        ..Thresholds::untuned(Rule::GlobalTop1, 3)
    };
    let columns = evaluate::scored_columns(&model_labels, &dataset_labels);
    assert_eq!(columns, [0, 2]);
    let report = evaluate::report(
        &probabilities,
        &examples,
        &thresholds,
        &model_labels,
        Task::MultiLabel,
        &columns,
    );
    let labels: Vec<&str> = report.per_label.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["Action", "Drama"]);
    assert_eq!((report.per_label[1].tp, report.per_label[1].fn_), (0, 1));
    let evaluate::Metrics::Multi(metrics) = &report.rules["global_top1"] else {
        panic!("multi-label metrics expected");
    };
    assert_eq!(metrics.subset_accuracy, 0.5);
    assert_eq!(metrics.micro_precision, 1.0);
    assert_eq!(metrics.micro_recall, 0.5);
}
