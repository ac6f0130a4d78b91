//! `predict` on files as people have them, on the tiny model: ragged rows and
//! empty plots written with an error column in file order, its own columns
//! replaced on a re-run, and probabilities written so that re-applying the
//! printed rule gives the written genres; rows not in English named.

use std::path::Path;

use indicatif::ProgressBar;
use plotgenre::labels::{CapOrder, Rule, Thresholds};
use plotgenre::pipeline::Pipeline;
use plotgenre::train::predict::{self, Columns, PlotRows, Summary};

use crate::common;

const PLOT_COLUMN: Columns = Columns {
    text: None,
    title: None,
};

/// Runs `predict` from `input` into `output`; returns its summary and output.
fn run(model: &Pipeline, input: &Path, output: &Path) -> (Summary, Vec<Vec<String>>) {
    let rows = PlotRows::open(input, &PLOT_COLUMN).expect("readable input");
    let summary =
        predict::predict_csv(model, &rows, output, &ProgressBar::hidden()).expect("predicted");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(output)
        .expect("output");
    let written = reader
        .records()
        .map(|r| r.expect("a record").iter().map(String::from).collect())
        .collect();
    (summary, written)
}

#[test]
fn ragged_rows_and_empty_plots_are_written_with_their_error_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let output = dir.path().join("out.csv");
    std::fs::write(
        &input,
        "title;plot\nA;a man runs\nB\nC;   \nD;a woman laughs\n",
    )
    .unwrap();
    let model = common::tiny_pipeline_at_half();
    let (summary, written) = run(&model, &input, &output);
    assert_eq!(summary.classified, 2);
    assert_eq!(
        summary.note.as_deref(),
        Some("read fields separated by semicolons")
    );
    let header = &written[0];
    assert_eq!(header[..3], ["title", "plot", "predicted_genres"]);
    assert_eq!(header.last().map(String::as_str), Some("error"));
    let titles: Vec<&str> = written[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(titles, ["A", "B", "C", "D"]);
    let errors: Vec<&str> = written[1..]
        .iter()
        .map(|r| r.last().unwrap().as_str())
        .collect();
    assert_eq!(
        errors,
        [
            "",
            "line 3: 1 fields, the header has 2",
            "line 4: empty plot: no genres",
            ""
        ]
    );
    for row in [&written[2], &written[3]] {
        assert!(
            row[2..row.len() - 1].iter().all(String::is_empty),
            "{row:?}"
        );
    }
    assert!(!written[1][2].is_empty(), "the good rows get genres");
}

#[test]
fn predicting_its_own_output_replaces_its_columns() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let once = dir.path().join("once.csv");
    let twice = dir.path().join("twice.csv");
    std::fs::write(&input, "plot\na man runs\n").unwrap();
    let model = common::tiny_pipeline_at_half();
    let (first, written_once) = run(&model, &input, &once);
    assert!(first.replaced.is_empty());
    let (second, written_twice) = run(&model, &once, &twice);
    assert_eq!(written_twice, written_once);
    let mut expected = vec!["predicted_genres".to_string()];
    expected.extend(model.labels.iter().map(|l| format!("p_{l}")));
    assert_eq!(second.replaced, expected);
}

#[test]
fn written_probabilities_give_the_written_genres_under_the_printed_rule() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let output = dir.path().join("out.csv");
    std::fs::write(&input, "plot\na man runs from the police\n").unwrap();
    let probe = common::tiny_pipeline_at_half();
    let p = probe
        .probabilities(&["a man runs from the police"])
        .unwrap()[0][0];
    // A threshold that four decimals put on the wrong side: the rounded
    // value when it is above the probability, else the probability itself.
    let rounded = ((p as f64 * 1e4).round() / 1e4) as f32;
    assert_ne!(
        p, rounded,
        "the probe needs a probability off the four-decimal grid"
    );
    let threshold = if rounded > p { rounded } else { p };
    let model = common::tiny_pipeline(Thresholds {
        rule: Rule::Global,
        temperature: 1.0,
        global: threshold,
        per_label: vec![threshold; 5],
        max_genres: None,
        cap_order: CapOrder::Probability,
        own_threshold_labels: Vec::new(),
    });
    let rule = predict::describe_rule(&model.thresholds, &model.labels);
    assert_eq!(rule, format!("each genre with p >= {threshold}"));
    let (_, written) = run(&model, &input, &output);
    let genres: Vec<&str> = written[1][1].split('|').filter(|g| !g.is_empty()).collect();
    for (label, value) in model.labels.iter().zip(&written[1][2..]) {
        let read: f64 = value.parse().expect("a number");
        let printed: f64 = threshold.to_string().parse().unwrap();
        assert_eq!(
            read >= printed,
            genres.contains(&label.as_str()),
            "{label} {value} vs {rule}"
        );
    }
}

#[test]
fn the_rule_names_top_one_and_the_cap() {
    let mut thresholds = common::tiny_pipeline_at_half().thresholds;
    thresholds.max_genres = Some(3);
    let labels: Vec<String> = (0..5).map(|i| format!("g{i}")).collect();
    assert_eq!(
        predict::describe_rule(&thresholds, &labels),
        "each genre with p >= 0.5, and the most probable one; at most 3, the most probable"
    );
    thresholds.cap_order = CapOrder::Margin;
    assert!(predict::describe_rule(&thresholds, &labels)
        .ends_with("at most 3, those furthest past their thresholds"));
    thresholds.rule = Rule::PerLabel;
    thresholds.max_genres = None;
    assert!(predict::describe_rule(&thresholds, &labels).contains("g4 0.5"));
}

#[test]
fn rows_that_do_not_look_like_english_are_named_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let output = dir.path().join("out.csv");
    std::fs::write(
        &input,
        "title,plot\nA,a man runs\nB,Вор планирует последнее ограбление.\nC,a woman laughs\n",
    )
    .unwrap();
    let (summary, written) = run(&common::tiny_pipeline_at_half(), &input, &output);
    assert_eq!(summary.classified, 3);
    assert_eq!(summary.unfamiliar, [3]);
    assert!(!written[2][2].is_empty(), "a flagged row still gets genres");
}
