//! Unseen-title subsets and the generalisation criterion built on them:
//! title keys, near-duplicate plots on crafted rows, the exact subset of
//! real movies and kslimon validation rows that a brute-force reference
//! (scripts/unseen_reference.py) finds, the criterion choosing what the
//! whole validation split would not, and `eval` reporting each subset.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use plotgenre::labels::Task;
use plotgenre::tokenize::{model_input, normalize_text};
use plotgenre::train::data::dataset::{Dataset, Example, Part, Split};
use plotgenre::train::data::formats::Format;
use plotgenre::train::data::unseen::{title_key, SeenIndex};
use plotgenre::train::eval::calibrate;
use plotgenre::train::eval::criterion::{Criterion, SelectOn};

fn example(title: Option<&str>, plot: &str, labels: &[&str], part: usize) -> Example {
    Example {
        text: model_input(title, plot),
        plot: plot.to_string(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        line: 0,
        source: None,
        part,
    }
}

#[test]
fn titles_compare_without_case_punctuation_or_year() {
    assert_eq!(
        title_key("The Matrix (1999)").as_deref(),
        Some("the matrix")
    );
    assert_eq!(
        title_key("Spider-Man:  Homecoming").as_deref(),
        Some("spiderman homecoming")
    );
    assert_eq!(
        title_key("Love (Actually)").as_deref(),
        Some("love actually")
    );
    assert_eq!(title_key(" (2019) "), None);
    assert_eq!(
        title_key("Blade Runner 2049").as_deref(),
        Some("blade runner 2049")
    );
}

const PLOT: &str = "A retired detective is pulled back into the city's underworld when his \
                    estranged daughter vanishes on the night of a storm";

#[test]
fn near_duplicates_and_known_titles_are_seen() {
    let train = [
        example(Some("Night Storm (2001)"), PLOT, &["Crime"], 0),
        example(
            None,
            "Two friends open a bakery in a small coastal town",
            &["Comedy"],
            0,
        ),
    ];
    let index = SeenIndex::new(&train);
    let unseen = |title: Option<&str>, plot: &str| index.is_unseen(&example(title, plot, &[], 0));
    // The same title, another case, punctuation and year: seen whatever the plot.
    assert!(!unseen(
        Some("night storm!"),
        "Something else entirely happens here"
    ));
    // 23 words, one replaced: ratio 44/46 >= 0.8.
    assert!(!unseen(None, &PLOT.replace("storm", "blizzard")));
    // Reworded a third of the way: 23 vs 23 words, 17 kept (34/46 < 0.8), and
    // no 12-word run in common: unseen.
    let reworded = "A retired detective is dragged back to the town's gangs after his \
                    estranged daughter vanishes one night in a storm";
    assert!(unseen(None, reworded));
    // A longer plot that contains 12 words of it in a row is seen however long.
    let extended = format!(
        "Years later and far from home, {} and nobody believes him, \
         so he goes looking on his own through every bar and dock of the harbour",
        &PLOT[PLOT.find("pulled").unwrap()..PLOT.find(" on the night").unwrap()]
    );
    assert!(!unseen(None, &extended));
    // Short plots: one word of ten changed is 18/20, seen; a plot of half
    // the words, every one shared, is 10/15 < 0.8: unseen.
    assert!(!unseen(
        None,
        "Two friends open a bakery in a small coastal village"
    ));
    assert!(unseen(None, "two friends open a bakery"));
    assert!(unseen(
        Some("Another Title"),
        "A dragon guards a mountain of gold"
    ));
    // Five words, one changed: 8/10 = 0.8 is seen; two changed are not.
    let index = SeenIndex::new(&[example(None, "two friends open a bakery", &[], 0)]);
    let unseen = |plot: &str| index.is_unseen(&example(None, plot, &[], 0));
    assert!(!unseen("Two sisters open a bakery"));
    assert!(unseen("Two sisters open a shop"));
}

fn shared_data(relative: &str) -> Option<PathBuf> {
    let path = common::root().join("../shared/data").join(relative);
    common::available(&path, "CI checks out ../shared beside the repository").then_some(path)
}

/// The positions among the first 300 validation rows that a training row
/// resembles, as `scripts/unseen_reference.py FORMAT PATH 300` finds them
/// by brute force (it also finds that difflib's ratio agrees on all 300).
fn assert_seen_rows(dataset: &Dataset, expected: &[usize]) {
    let index = SeenIndex::new(&dataset.train);
    let flags = index.unseen(&dataset.validation[..300]);
    let seen: Vec<usize> = (0..300).filter(|&i| !flags[i]).collect();
    assert_eq!(seen, expected);
}

#[test]
fn real_validation_rows_match_the_brute_force_reference() {
    let Some(movies) = shared_data("movies/movies.csv") else {
        return;
    };
    let movies = Dataset::load(&movies, &Format::Movies).unwrap();
    assert_seen_rows(
        &movies,
        &[
            1, 5, 18, 21, 32, 42, 47, 50, 54, 55, 56, 57, 74, 75, 76, 78, 88, 95, 98, 100, 124,
            133, 143, 145, 161, 194, 211, 220, 234, 242, 249, 258,
        ],
    );
    // kslimon has no titles: plot similarity alone.
    let Some(kslimon) = shared_data("kslimon/Movies_data.csv") else {
        return;
    };
    assert_seen_rows(&Dataset::load(&kslimon, &Format::Kslimon).unwrap(), &[45]);
}

/// A dataset of two parts from the given splits.
fn two_part_dataset(train: Vec<Example>, validation: Vec<Example>) -> Dataset {
    let labels = vec!["Crime".to_string(), "Comedy".to_string()];
    Dataset {
        path: PathBuf::from("a + b"),
        task: Task::MultiLabel,
        labels: labels.clone(),
        train,
        validation,
        test: Vec::new(),
        rows_read: 0,
        dropped: Default::default(),
        parts: ["a", "b"]
            .map(|name| Part {
                name: name.to_string(),
                labels: labels.clone(),
            })
            .to_vec(),
    }
}

/// Plot `i` of a family of distinct plots (no two share 12 words in a row or 0.8 of their words).
fn plot(i: usize) -> String {
    format!(
        "story {i} of {} and {} meeting {} at the {}",
        i * 7,
        i * 13,
        i * 31,
        i * 101
    )
}

#[test]
fn the_criterion_prefers_what_generalises_over_what_memorises() {
    // Validation rows 0..8 repeat training plots (memory pays); rows 8..12
    // are new, four of them, spread over both parts.
    let train: Vec<Example> = (0..8)
        .map(|i| example(None, &plot(i), &["Crime"], i % 2))
        .collect();
    let mut validation: Vec<Example> = (0..8)
        .map(|i| example(None, &plot(i), &["Crime"], i % 2))
        .collect();
    validation.extend((8..12).map(|i| example(None, &plot(i), &["Comedy"], i % 2)));
    let dataset = two_part_dataset(train, validation);
    let criterion = Criterion::for_validation(&dataset, SelectOn::UnseenTitle, &dataset.labels);
    let rows: Vec<Vec<usize>> = criterion.groups.iter().map(|g| g.rows.clone()).collect();
    assert_eq!(rows, [vec![8, 10], vec![9, 11]]);
    let truth = plotgenre::train::eval::evaluate::truth(&dataset.validation, &dataset.labels);
    // Candidate "memory": right on the 8 repeated rows, wrong on the new ones.
    // Candidate "general": right on the new rows, wrong on 5 repeated ones.
    // On every row, memory wins: micro-F1 16/24 against 14/24.
    // Far enough from 0.5 that no threshold in [0.01, 0.99] changes a decision.
    let logit = |yes: bool| if yes { 8.0 } else { -8.0 };
    let memory: Vec<Vec<f32>> = (0..12).map(|_| vec![logit(true), logit(false)]).collect();
    let general: Vec<Vec<f32>> = (0..12)
        .map(|i| match i {
            0..5 => vec![logit(false), logit(true)],
            5..8 => vec![logit(true), logit(false)],
            _ => vec![logit(false), logit(true)],
        })
        .collect();
    let score = |logits: &[Vec<f32>], c: &Criterion| {
        calibrate::epoch_score(logits, &truth, Task::MultiLabel, c)
    };
    let everything = Criterion::for_validation(&dataset, SelectOn::AllRows, &dataset.labels);
    assert!(score(&memory, &everything) > score(&general, &everything));
    assert!(score(&general, &criterion) > score(&memory, &criterion));
    assert_eq!(score(&general, &criterion), 1.0);
}

#[test]
fn the_criterion_scores_each_dataset_on_its_own_genres() {
    // Part "b" never labels Comedy (as kslimon never labels Documentary):
    // predicting Comedy on its plots is neither right nor wrong.
    let train: Vec<Example> = (0..4)
        .map(|i| example(None, &plot(i), &["Crime"], i % 2))
        .collect();
    let validation: Vec<Example> = (4..8)
        .map(|i| example(None, &plot(i), &["Crime"], i % 2))
        .collect();
    let mut dataset = two_part_dataset(train, validation);
    dataset.parts[1].labels = vec!["Crime".to_string()];
    let criterion = Criterion::for_validation(&dataset, SelectOn::UnseenTitle, &dataset.labels);
    let columns: Vec<_> = criterion.groups.iter().map(|g| g.columns.clone()).collect();
    assert_eq!(columns, [None, Some(vec![0])]);
    let truth = plotgenre::train::eval::evaluate::truth(&dataset.validation, &dataset.labels);
    let logits: Vec<Vec<f32>> = (0..4)
        .map(|i| vec![8.0, if i % 2 == 1 { 8.0 } else { -8.0 }])
        .collect();
    assert_eq!(
        calibrate::epoch_score(&logits, &truth, Task::MultiLabel, &criterion),
        1.0
    );
}

#[test]
fn without_unseen_rows_the_criterion_scores_every_row() {
    let rows: Vec<Example> = (0..6)
        .map(|i| example(None, &plot(i), &["Crime"], 0))
        .collect();
    let dataset = two_part_dataset(rows.clone(), rows);
    let criterion = Criterion::for_validation(&dataset, SelectOn::UnseenTitle, &dataset.labels);
    assert_eq!(
        criterion,
        Criterion {
            name: criterion.name.clone(),
            ..Criterion::all_rows(6)
        }
    );
    assert!(criterion.name.contains("no validation row is unseen"));
}

#[test]
fn eval_reports_each_dataset_whole_unseen_and_by_source() {
    let (Some(extra), true) = (
        shared_data("extra/extra.csv"),
        common::available(
            &common::root().join("www/models/model.plotgenre"),
            "the shipped model; `make export` writes one",
        ),
    ) else {
        return;
    };
    // Every 60th row of extra.csv (about 600 rows, 120 of them test), and
    // for 10 test rows a training row of the same title: those are seen.
    let mut reader = csv::Reader::from_path(&extra).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("extra.csv");
    let mut writer = csv::Writer::from_path(&sample).unwrap();
    writer.write_record(reader.headers().unwrap()).unwrap();
    let mut twins = 0;
    for record in reader.records().step_by(60) {
        let record = record.unwrap();
        writer.write_record(&record).unwrap();
        let text =
            |plot: &str| model_input(Some(&normalize_text(&record[0])), &normalize_text(plot));
        if twins < 10 && Split::of(&text(&record[1])) == Split::Test {
            let twin = (0..)
                .map(|k| format!("{} Part {k}.", &record[1]))
                .find(|plot| Split::of(&text(plot)) == Split::Train)
                .unwrap();
            writer
                .write_record([&record[0], &twin, &record[2], &record[3], &record[4]])
                .unwrap();
            twins += 1;
        }
    }
    writer.flush().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_plotgenre"))
        .args([
            "eval",
            "--model",
            "www/models/model.plotgenre",
            "--format",
            "extra",
        ])
        .arg("--data")
        .arg(&sample)
        .arg("--json")
        .current_dir(common::root())
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let object: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let part = &object["datasets"][0];
    let whole = part["whole"]["rows"].as_u64().unwrap();
    let unseen = part["unseen_title"]["rows"].as_u64().unwrap();
    assert_eq!(whole, object["rows"].as_u64().unwrap());
    assert!(
        0 < unseen && unseen <= whole - 10,
        "{unseen} of {whole} unseen"
    );
    let sources = part["by_source"].as_object().unwrap();
    assert!(sources.contains_key("rajugc_imdb_by_genre") && sources.contains_key("tmdb_popular"));
    let by_source: u64 = sources.values().map(|s| s["rows"].as_u64().unwrap()).sum();
    assert_eq!(by_source, whole);
    assert!(part["unseen_title"]["micro_f1"].as_f64().is_some());
}
