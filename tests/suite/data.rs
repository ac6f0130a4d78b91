//! Dataset readers against the evaluation protocol: the exact row counts,
//! splits and label sets of ../shared/EVALUATION.md on the real files, the
//! generic CSV/JSONL formats, and malformed input failing with file and line.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use plotgenre::labels::Task;
use plotgenre::tokenize::normalize_text;
use plotgenre::train::data::dataset::{fnv1a64, Dataset, DropReason, Example, Split};
use plotgenre::train::data::formats::{Columns, Format};
use plotgenre::train::data::source_labels::SourceLabels;
use plotgenre::Error;

fn shared_data(relative: &str) -> Option<PathBuf> {
    let path = common::root().join("../shared/data").join(relative);
    common::available(&path, "CI checks out ../shared beside the repository").then_some(path)
}

/// The file at `relative` under ../shared/data, read as `format`.
fn shared_dataset(relative: &str, format: Format) -> Option<Dataset> {
    shared_data(relative).map(|path| Dataset::load(&path, &format).unwrap())
}

fn split_sizes(dataset: &Dataset) -> [usize; 3] {
    Split::ALL.map(|s| dataset.split(s).len())
}

/// The example whose text starts with `prefix`, whichever split holds it.
fn find<'a>(dataset: &'a Dataset, prefix: &str) -> &'a Example {
    Split::ALL
        .iter()
        .flat_map(|&s| dataset.split(s))
        .find(|e| e.text.starts_with(prefix))
        .unwrap_or_else(|| panic!("no example starts with {prefix:?}"))
}

#[test]
fn fnv1a_and_normalisation_follow_the_protocol() {
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(
        normalize_text("  A\n\tman\u{a0}\u{a0}walks.\r\n "),
        "A man walks."
    );
    assert_eq!(
        normalize_text("... See full summary »"),
        "... See full summary »"
    );
}

#[test]
fn movies_has_the_protocols_counts() {
    let Some(path) = shared_data("movies/movies.csv") else {
        return;
    };
    let dataset = Dataset::load(&path, &Format::Movies).unwrap();
    assert_eq!(dataset.rows_read, 9_999);
    assert_eq!(dataset.dropped.get(&DropReason::NoLabel), Some(&80));
    assert_eq!(dataset.dropped.get(&DropReason::Placeholder), Some(&1_234));
    assert_eq!(dataset.dropped.get(&DropReason::Duplicate), Some(&26));
    assert_eq!(split_sizes(&dataset), [5_991, 844, 1_824]);
    assert_eq!(dataset.labels.len(), 27);
    assert_eq!(dataset.task, Task::MultiLabel);
    let first = find(&dataset, "Blood Red Sky. A woman with a mysterious illness");
    assert_eq!(first.labels, ["Action", "Horror", "Thriller"]);
    assert_eq!(first.line, 2);
}

#[test]
fn kslimon_has_the_protocols_counts() {
    let Some(path) = shared_data("kslimon/Movies_data.csv") else {
        return;
    };
    let dataset = Dataset::load(&path, &Format::Kslimon).unwrap();
    assert_eq!(dataset.rows_read, 9_310);
    assert_eq!(dataset.dropped.get(&DropReason::Duplicate), Some(&3));
    assert_eq!(split_sizes(&dataset), [6_515, 962, 1_830]);
    assert_eq!(dataset.labels.len(), 21);
    let godfather = find(
        &dataset,
        "The aging patriarch of an organized crime dynasty",
    );
    assert_eq!(godfather.labels, ["Crime", "Drama"]);
}

#[test]
fn extra_has_the_protocols_counts_and_keeps_each_rows_source() {
    let Some(path) = shared_data("extra/extra.csv") else {
        return;
    };
    let dataset = Dataset::load(&path, &Format::Extra).unwrap();
    assert_eq!(dataset.rows_read, 36_808);
    assert!(dataset.dropped.is_empty(), "{:?}", dataset.dropped);
    assert_eq!(split_sizes(&dataset), [25_779, 3_661, 7_368]);
    assert_eq!(dataset.labels.len(), 27);
    let hitch_hiker = find(&dataset, "The Hitch-Hiker. Two fishermen pick up");
    assert_eq!(hitch_hiker.labels, ["Crime", "Drama", "Film-Noir"]);
    assert_eq!(hitch_hiker.source.as_deref(), Some("rajugc_imdb_by_genre"));
    let mut test_sources = std::collections::BTreeMap::new();
    for example in &dataset.test {
        *test_sources
            .entry(
                example
                    .source
                    .clone()
                    .expect("every extra row has a source"),
            )
            .or_insert(0) += 1;
    }
    let expected = [
        ("imdb_movielens_titles", 61),
        ("imdb_netflix_titles", 339),
        ("imdb_top_1000", 8),
        ("rajugc_imdb_by_genre", 5_614),
        ("tmdb_popular", 1_085),
        ("tmdb_top_rated", 261),
    ];
    assert_eq!(
        test_sources.into_iter().collect::<Vec<_>>(),
        expected.map(|(s, n)| (s.to_string(), n))
    );
}

#[test]
fn combined_datasets_remember_each_rows_file() {
    let (Some(movies), Some(kslimon), Some(extra)) = (
        shared_dataset("movies/movies.csv", Format::Movies),
        shared_dataset("kslimon/Movies_data.csv", Format::Kslimon),
        shared_dataset("extra/extra.csv", Format::Extra),
    ) else {
        return;
    };
    let combined = Dataset::combine(movies.clone(), vec![kslimon.clone(), extra.clone()]).unwrap();
    let names: Vec<&str> = combined.parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 3);
    assert!(names[2].ends_with("extra.csv"), "{names:?}");
    assert_eq!(combined.parts[1].labels.len(), 21);
    assert_eq!(combined.parts[2].labels, extra.labels);
    for (part, dataset) in [&movies, &kslimon, &extra].into_iter().enumerate() {
        let own: Vec<&Example> = combined.test.iter().filter(|e| e.part == part).collect();
        assert_eq!(own.len(), dataset.test.len());
        assert!(own.iter().zip(&dataset.test).all(|(a, b)| a.text == b.text));
    }
    // No train or validation row keeps a plot of another file's test split.
    let tests: std::collections::HashSet<(usize, &str)> = combined
        .test
        .iter()
        .map(|e| (e.part, e.plot.as_str()))
        .collect();
    for example in combined.train.iter().chain(&combined.validation) {
        for other in (0..3).filter(|&p| p != example.part) {
            assert!(!tests.contains(&(other, example.plot.as_str())));
        }
    }
}

#[test]
fn imdb27_is_single_label() {
    let Some(path) = shared_data("imdb27/train_data.txt") else {
        return;
    };
    let dataset = Dataset::load(&path, &Format::Imdb27).unwrap();
    assert_eq!(dataset.task, Task::SingleLabel);
    assert_eq!(dataset.rows_read, 2_110);
    assert_eq!(split_sizes(&dataset).iter().sum::<usize>(), 2_110);
    assert!(dataset.train.iter().all(|e| e.labels.len() == 1));
    assert!(dataset.labels.contains(&"drama".to_string()));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn columns(label_sep: Option<&str>) -> Columns {
    Columns {
        text: "plot".into(),
        title: Some("name".into()),
        label: "tags".into(),
        label_sep: label_sep.map(str::to_string),
    }
}

/// Enough distinct rows that some land in every split.
fn generic_rows() -> Vec<(String, String)> {
    (0..40)
        .map(|i| {
            (
                format!("Film {i}"),
                format!("A story number {i}   about\nthings."),
            )
        })
        .collect()
}

#[test]
fn generic_csv_and_jsonl_read_the_named_columns() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,name,plot,tags\n");
    let mut jsonl = String::new();
    for (i, (name, plot)) in generic_rows().iter().enumerate() {
        csv += &format!("{i},{name},\"{plot}\",Drama|Crime\n");
        jsonl += &serde_json::json!({"name": name, "plot": plot, "tags": ["Drama", "Crime"]})
            .to_string();
        jsonl += "\n";
    }
    csv += "99,Film 0,\"A story number 0 about things.\",Drama\n";
    let from_csv = Dataset::load(
        &write(dir.path(), "d.csv", csv.as_bytes()),
        &Format::Csv(columns(Some("|"))),
    )
    .unwrap();
    let from_jsonl = Dataset::load(
        &write(dir.path(), "d.jsonl", jsonl.as_bytes()),
        &Format::Jsonl(columns(Some("|"))),
    )
    .unwrap();
    assert_eq!(from_csv.task, Task::MultiLabel);
    assert_eq!(
        from_csv.dropped.get(&DropReason::Duplicate),
        Some(&1),
        "normalised duplicate"
    );
    assert_eq!(from_csv.labels, ["Crime", "Drama"]);
    assert_eq!(split_sizes(&from_csv), split_sizes(&from_jsonl));
    assert_eq!(from_csv.train[0].text, from_jsonl.train[0].text);
    assert!(
        from_csv.train[0].text.starts_with("Film ")
            && from_csv.train[0].text.contains(". A story number")
    );
    let single = Dataset::load(&dir.path().join("d.csv"), &Format::Csv(columns(None))).unwrap();
    assert_eq!(single.task, Task::SingleLabel);
    assert_eq!(single.labels, ["Drama|Crime"]);
}

/// Loads `bytes` as `format`; the error must name the file, the line (when
/// given) and contain `expected`.
fn fails_with(format: &Format, bytes: &[u8], line: Option<u64>, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "input", bytes);
    let error = Dataset::load(&path, format).unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains(expected),
        "expected {expected:?} in {message}"
    );
    match (line, &error) {
        (Some(expected_line), Error::DataLine { line, .. }) => {
            assert_eq!(*line, expected_line, "{message}")
        }
        (None, Error::DataFile { .. }) => {}
        _ => panic!("unexpected error kind: {message}"),
    }
}

#[test]
fn malformed_files_name_the_file_line_and_problem() {
    fails_with(&Format::Movies, b"", None, "empty");
    fails_with(
        &Format::Movies,
        b"MOVIES,YEAR,ONE-LINE\nA,1,b\n",
        None,
        "no column \"GENRE\"",
    );
    fails_with(
        &Format::Kslimon,
        b"title,description,genres\nA,b,['Drama']\nB,c\n",
        Some(3),
        "2 fields where the header has 3",
    );
    fails_with(
        &Format::Kslimon,
        b"title,description,genres\nA,\"b,['Drama']\nB,c,x\n",
        Some(2),
        "fields where the header has 3",
    );
    fails_with(
        &Format::Kslimon,
        b"title,description,genres\nA,b,['Drama']\nB,caf\xe9,['Drama']\n",
        Some(3),
        "invalid UTF-8",
    );
    fails_with(
        &Format::Imdb27,
        b"\n1 ::: A (2000) ::: drama ::: ok\n2 ::: no separators\n",
        Some(3),
        "expected `ID ::: TITLE",
    );
    fails_with(
        &Format::Imdb27,
        b"\n1 ::: A ::: drama ::: caf\xe9\n",
        Some(2),
        "invalid UTF-8",
    );
    fails_with(&Format::Imdb27, b"\n\n", None, "empty");
    fails_with(
        &Format::Jsonl(columns(None)),
        b"{\"plot\": \"x\", \"tags\": \"a\"}\n[1]\n",
        Some(2),
        "not a JSON object",
    );
    fails_with(
        &Format::Jsonl(columns(None)),
        b"{\"plot\": 3, \"tags\": \"a\"}\n",
        Some(1),
        "should be a string",
    );
    fails_with(
        &Format::Jsonl(columns(None)),
        b"{\"tags\": \"a\"}\n",
        Some(1),
        "no field \"plot\"",
    );
    fails_with(
        &Format::Kslimon,
        b"title,description,genres\nA,,['Drama']\n",
        None,
        "no usable row",
    );
}

#[test]
fn the_data_command_prints_the_summary_or_one_line_of_error() {
    let Some(path) = shared_data("kslimon/Movies_data.csv") else {
        return;
    };
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_plotgenre"))
            .args(args)
            .output()
            .unwrap()
    };
    let output = run(&[
        "data",
        "--format",
        "kslimon",
        "--data",
        path.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("9310 rows read, 3 dropped duplicates; 9307 kept"),
        "{stdout}"
    );
    assert!(
        stdout.contains("split: train 6515 / validation 962 / test 1830"),
        "{stdout}"
    );
    let output = run(&["data", "--format", "csv", "--data", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--text-col NAME and --label-col NAME")
    );
}

#[test]
fn combined_datasets_keep_each_test_split_out_of_training() {
    let (Some(movies), Some(kslimon)) = (
        shared_dataset("movies/movies.csv", Format::Movies),
        shared_dataset("kslimon/Movies_data.csv", Format::Kslimon),
    ) else {
        return;
    };
    let combined = Dataset::combine(movies.clone(), vec![kslimon.clone()]).unwrap();

    assert_eq!(
        combined.labels, movies.labels,
        "kslimon's 21 genres are movies' names"
    );
    assert_eq!(combined.rows_read, 9_999 + 9_310);
    assert_eq!(combined.dropped.get(&DropReason::OtherTestPlot), Some(&196));
    assert_eq!(combined.dropped.get(&DropReason::RepeatedPlot), Some(&409));
    assert_eq!(combined.test.len(), movies.test.len() + kslimon.test.len());
    let leaked = 196 + 409;
    assert_eq!(
        combined.train.len() + combined.validation.len() + leaked,
        movies.train.len()
            + movies.validation.len()
            + kslimon.train.len()
            + kslimon.validation.len()
    );
    let test_plots: std::collections::HashSet<&str> = movies
        .test
        .iter()
        .chain(&kslimon.test)
        .map(|e| e.plot.as_str())
        .collect();
    let own_test: std::collections::HashSet<&str> =
        movies.test.iter().map(|e| e.plot.as_str()).collect();
    for example in combined.train.iter().chain(&combined.validation) {
        // A movies row may share its plot with a movies test row under another
        // title (the protocol splits by input text); no other leak is allowed.
        assert!(
            !test_plots.contains(example.plot.as_str()) || own_test.contains(example.plot.as_str()),
            "{:?} is in a test split",
            example.text
        );
    }
}

#[test]
fn combining_unifies_genre_spellings_and_refuses_mixed_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let rows = |tag: &str, offset: usize| {
        let mut csv = String::from("name,plot,tags\n");
        for (name, plot) in generic_rows().iter().skip(offset).take(20) {
            csv += &format!("{name},\"{plot}\",{tag}|Drama\n");
        }
        csv
    };
    let first = Dataset::load(
        &write(dir.path(), "a.csv", rows("Sci-Fi", 0).as_bytes()),
        &Format::Csv(columns(Some("|"))),
    )
    .unwrap();
    let second = Dataset::load(
        &write(dir.path(), "b.csv", rows("sci fi", 20).as_bytes()),
        &Format::Csv(columns(Some("|"))),
    )
    .unwrap();
    let combined = Dataset::combine(first.clone(), vec![second]).unwrap();
    assert_eq!(combined.labels, ["Drama", "Sci-Fi"]);
    assert!(combined
        .train
        .iter()
        .chain(&combined.test)
        .all(|e| e.labels.contains(&"Sci-Fi".to_string())));

    let single = Dataset::load(&dir.path().join("b.csv"), &Format::Csv(columns(None))).unwrap();
    let error = Dataset::combine(first, vec![single])
        .unwrap_err()
        .to_string();
    assert!(error.contains("b.csv") && error.contains("task"), "{error}");
}

/// Training rows of each source, by name.
fn train_sources(dataset: &Dataset) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for example in &dataset.train {
        *counts
            .entry(example.source.clone().unwrap_or_default())
            .or_insert(0) += 1;
    }
    counts
}

#[test]
fn train_share_samples_one_sources_training_rows_and_nothing_else() {
    let Some(path) = shared_data("extra/extra.csv") else {
        return;
    };
    let whole = Dataset::load(&path, &Format::Extra).unwrap();
    let mut sampled = whole.clone();
    sampled
        .keep_train_share("rajugc_imdb_by_genre", 0.3)
        .unwrap();
    let (before, after) = (train_sources(&whole), train_sources(&sampled));
    let share = after["rajugc_imdb_by_genre"] as f64 / before["rajugc_imdb_by_genre"] as f64;
    assert!((0.28..0.32).contains(&share), "kept {share:.3} of rajugc");
    for (source, rows) in &before {
        if source != "rajugc_imdb_by_genre" {
            assert_eq!(after[source], *rows, "{source} was sampled too");
        }
    }
    assert_eq!(sampled.validation.len(), whole.validation.len());
    assert_eq!(sampled.test.len(), whole.test.len());
    let dropped = before["rajugc_imdb_by_genre"] - after["rajugc_imdb_by_genre"];
    assert_eq!(sampled.dropped[&DropReason::Sampled], dropped);
    let mut again = whole.clone();
    again.keep_train_share("rajugc_imdb_by_genre", 0.3).unwrap();
    let texts = |d: &Dataset| d.train.iter().map(|e| e.text.clone()).collect::<Vec<_>>();
    assert_eq!(texts(&again), texts(&sampled), "the same rows every run");
    let Err(Error::DataFile { problem, .. }) = whole.clone().keep_train_share("rajugc", 0.5) else {
        panic!("a misspelt source must fail");
    };
    assert!(
        problem.contains("tmdb_popular"),
        "names the sources: {problem}"
    );
}

/// Training rows of `source` carrying `genre`.
fn train_positives(dataset: &Dataset, source: &str, genre: &str) -> usize {
    dataset
        .train
        .iter()
        .filter(|e| e.source.as_deref() == Some(source) && e.labels.iter().any(|l| l == genre))
        .count()
}

#[test]
fn genre_cap_evens_out_a_source_and_keeps_its_rare_genres() {
    let Some(path) = shared_data("extra/extra.csv") else {
        return;
    };
    let source = "rajugc_imdb_by_genre";
    let whole = Dataset::load(&path, &Format::Extra).unwrap();
    let mut capped = whole.clone();
    capped.keep_train_genre_cap(source, 600).unwrap();
    let count = |d: &Dataset, genre| train_positives(d, source, genre);
    for rare in ["Western", "Musical", "Film-Noir"] {
        assert!(count(&whole, rare) < 600, "{rare} is rare in {source}");
        assert_eq!(
            count(&capped, rare),
            count(&whole, rare),
            "every {rare} row stays"
        );
    }
    let biography = count(&capped, "Biography");
    assert!(count(&whole, "Biography") > 3000, "Biography is common");
    assert!(
        (600..1500).contains(&biography),
        "Biography kept {biography}"
    );
    let (before, after) = (train_sources(&whole), train_sources(&capped));
    assert_eq!(
        after["tmdb_popular"], before["tmdb_popular"],
        "other sources stay"
    );
    assert_eq!(capped.validation.len(), whole.validation.len());
    let mut again = whole.clone();
    again.keep_train_genre_cap(source, 600).unwrap();
    assert_eq!(again.train, capped.train, "the same rows every run");
    assert!(whole.clone().keep_train_genre_cap("rajugc", 600).is_err());
}

#[test]
fn sampling_flags_are_read_from_the_command_line_and_checked() {
    let Some(path) = shared_data("extra/extra.csv") else {
        return;
    };
    let data = |flag: &str, value: &str| {
        Command::new(env!("CARGO_BIN_EXE_plotgenre"))
            .args(["data", "--format", "extra", "--data"])
            .arg(&path)
            .args([flag, value])
            .output()
            .expect("plotgenre runs")
    };
    // Each flag: a value it takes, and a wrong one with what the message says.
    for (flag, good, wrong, says) in [
        (
            "--train-share",
            "tmdb_top_rated=0.5",
            "tmdb_top_rated=1.5",
            "from 0 to 1",
        ),
        (
            "--train-genre-cap",
            "rajugc_imdb_by_genre=600",
            "rajugc_imdb_by_genre=0",
            "whole number above 0",
        ),
    ] {
        let sampled = data(flag, good);
        assert!(sampled.status.success(), "{flag}: {sampled:?}");
        let summary = String::from_utf8_lossy(&sampled.stdout);
        assert!(summary.contains(flag), "says what sampled: {summary}");
        let refused = data(flag, wrong);
        assert_eq!(refused.status.code(), Some(2), "{flag} {wrong}");
        let message = String::from_utf8_lossy(&refused.stderr);
        assert!(message.contains(says), "{message}");
    }
}

#[test]
fn source_label_sets_follow_each_sources_genre_vocabulary() {
    let (Some(kslimon), Some(extra)) = (
        shared_dataset("kslimon/Movies_data.csv", Format::Kslimon),
        shared_dataset("extra/extra.csv", Format::Extra),
    ) else {
        return;
    };
    let combined = Dataset::combine(kslimon, vec![extra]).unwrap();
    let sources = SourceLabels::of_train(&combined);
    let labels: Vec<String> = ["Documentary", "Music", "Musical", "Drama"]
        .map(String::from)
        .to_vec();
    let counted_for = |part: usize, source: Option<&str>| {
        let row = combined
            .train
            .iter()
            .find(|e| e.part == part && e.source.as_deref() == source)
            .unwrap_or_else(|| panic!("a train row of {source:?}"));
        sources.counted(row, &labels)
    };
    // TMDB has Music but neither Musical nor Documentary; rajugc and
    // kslimon have no Documentary.
    assert_eq!(
        counted_for(1, Some("tmdb_popular")),
        [false, true, false, true]
    );
    assert_eq!(
        counted_for(1, Some("rajugc_imdb_by_genre")),
        [false, true, true, true]
    );
    assert_eq!(counted_for(0, None), [false, true, true, true]);
    let stranger = Example {
        source: Some("a source no training row has".into()),
        ..combined.train[0].clone()
    };
    assert_eq!(sources.counted(&stranger, &labels), [true; 4]);
    let gaps = sources.gaps(&combined, &combined.labels);
    let tmdb = gaps
        .iter()
        .find(|(name, _)| name.ends_with("(tmdb_top_rated)"))
        .expect("TMDB lacks genres");
    assert!(["Biography", "Musical", "Sport"]
        .iter()
        .all(|g| tmdb.1.iter().any(|l| l == g)));
    assert!(!tmdb.1.iter().any(|l| l == "Music"), "{tmdb:?}");
}
