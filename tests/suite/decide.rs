//! The page's threshold slider decides in JavaScript (www/decide.js, on a
//! classification's genres, most probable first) what Rust decides in
//! `Thresholds::decide` (on probabilities in label order). This test keeps the
//! two from drifting: on the shipped bundle's real outputs for movies test
//! plots, under every rule a bundle can carry (global, per-genre, either with
//! the top-1 fallback, argmax), with and without a genre cap (keeping the
//! most probable genres or those furthest past their thresholds) and rare
//! genres' own thresholds, at thresholds
//! moved up and down, both must predict the same genres.
//! Needs node; skips without the shipped bundle or ../shared/data.

use crate::common;

use std::collections::BTreeSet;
use std::process::Command;

use plotgenre::labels::{CapOrder, Rule, Thresholds};
use plotgenre::pipeline::Classification;
use plotgenre::train::data::dataset::Dataset;
use plotgenre::train::data::formats::Format;
use serde_json::{json, Value};

const PLOTS: usize = 30;
const RULES: [Rule; 5] = [
    Rule::Global,
    Rule::GlobalTop1,
    Rule::PerLabel,
    Rule::PerLabelTop1,
    Rule::Argmax,
];
const CAPS: [Option<usize>; 4] = [None, Some(1), Some(2), Some(3)];
/// Genres held to their own threshold under a global rule: none, or some
/// whose own threshold is far from the global one (Action, Film-Noir, Western).
const OWN: [&[usize]; 2] = [&[], &[0, 10, 26]];
/// Moves of every threshold, as the slider makes them.
const SHIFTS: [f32; 5] = [-0.3, -0.1, 0.0, 0.1, 0.3];

/// `base` under `rule`, `cap` kept in `order` and `own` thresholds, every
/// threshold moved by `shift` and clamped to [0, 1].
fn variant(
    base: &Thresholds,
    (rule, (cap, order), own): (Rule, (Option<usize>, CapOrder), &[usize]),
    shift: f32,
) -> Thresholds {
    let moved = |t: f32| (t + shift).clamp(0.0, 1.0);
    Thresholds {
        rule,
        global: moved(base.global),
        per_label: base.per_label.iter().map(|&t| moved(t)).collect(),
        max_genres: cap,
        cap_order: order,
        own_threshold_labels: own.to_vec(),
        ..base.clone()
    }
}

/// What `Classifier.info()` gives decide.js for `thresholds`.
fn info(labels: &[String], thresholds: &Thresholds) -> Value {
    json!({
        "labels": labels,
        "rule": thresholds.rule.name(),
        "globalThreshold": thresholds.global,
        "perLabelThresholds": thresholds.per_label,
        "ownThresholdGenres": thresholds.own_threshold_labels.iter().map(|&l| &labels[l]).collect::<Vec<_>>(),
        "maxGenres": thresholds.max_genres,
        "capOrder": thresholds.cap_order.name(),
    })
}

/// Genres Rust predicts for one classification under `thresholds`.
fn rust_genres(
    labels: &[String],
    result: &Classification,
    thresholds: &Thresholds,
) -> BTreeSet<String> {
    let by_label: Vec<f32> = labels
        .iter()
        .map(|l| {
            result
                .genres
                .iter()
                .find(|g| &g.genre == l)
                .unwrap()
                .probability
        })
        .collect();
    let flags = thresholds.decide(&by_label, thresholds.rule);
    labels
        .iter()
        .zip(flags)
        .filter(|(_, f)| *f)
        .map(|(l, _)| l.clone())
        .collect()
}

#[test]
fn decide_js_predicts_what_rust_predicts_under_every_rule() {
    let root = common::root();
    let movies = root.join("../shared/data/movies/movies.csv");
    if !common::available(&movies, "../shared/data is beside the checkout") {
        return;
    }
    let Some(pipeline) = common::shipped_pipeline() else {
        return;
    };
    let dataset = Dataset::load(&movies, &Format::Movies).unwrap();
    let texts: Vec<&str> = dataset.test[..PLOTS]
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    let results = pipeline.classify(&texts).unwrap();
    let labels = &pipeline.labels;
    let base = &pipeline.thresholds;

    // Each case twice: thresholds moved in the info (checks the rule exactly),
    // and the model's info with the slider's shift (checks the shift too).
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for result in &results {
        let settings = RULES
            .into_iter()
            .flat_map(|rule| CAPS.map(|cap| (rule, cap)))
            .flat_map(|(rule, cap)| CapOrder::ALL.map(|order| (rule, (cap, order))))
            .flat_map(|(rule, cap)| OWN.map(|own| (rule, cap, own)));
        for setting in settings {
            for shift in SHIFTS {
                let moved = variant(base, setting, shift);
                let genres = serde_json::to_value(&result.genres).unwrap();
                cases.push(json!({ "info": info(labels, &moved), "genres": genres, "shift": 0.0 }));
                let unmoved = variant(base, setting, 0.0);
                cases.push(
                    json!({ "info": info(labels, &unmoved), "genres": genres, "shift": shift }),
                );
                let genres = rust_genres(labels, result, &moved);
                expected.push(genres.clone());
                expected.push(genres);
            }
        }
    }
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("cases.json");
    std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let output = Command::new("node")
        .arg(root.join("tests/browser/decide.mjs"))
        .arg(&file)
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let flags: Vec<Vec<bool>> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(flags.len(), cases.len());

    let mut differences = Vec::new();
    let mut predicted = 0;
    for ((case, flags), expected) in cases.iter().zip(&flags).zip(&expected) {
        let js: BTreeSet<String> = case["genres"]
            .as_array()
            .unwrap()
            .iter()
            .zip(flags)
            .filter(|(_, f)| **f)
            .map(|(g, _)| g["genre"].as_str().unwrap().to_string())
            .collect();
        predicted += js.len();
        if &js != expected {
            differences.push(format!("{}: js {js:?} rust {expected:?}", case["info"]));
        }
    }
    println!(
        "{} cases ({} genres predicted in all), {} differences",
        cases.len(),
        predicted,
        differences.len()
    );
    assert!(
        differences.is_empty(),
        "{}",
        differences[..differences.len().min(5)].join("\n")
    );
}
