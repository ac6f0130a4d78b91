//! Explanations by occlusion: words are the words a reader sees, with offsets
//! that slice the plot in every host language; each score is exactly the
//! probability drop without that word; stepping gives what one call gives;
//! and on the shipped model, removing the top-scored words of real test plots
//! hurts the top genre far more than removing random words (the faithfulness
//! check `make bench-explain` prints).

use crate::common;

use plotgenre::bundle::Bundle;
use plotgenre::explain::{self, without, words, GenreChoice, Occlusion, OffsetUnit};
use plotgenre::pipeline::Pipeline;
use plotgenre::tokenize::model_input;
use plotgenre::train::data::dataset::Dataset;
use plotgenre::train::data::formats::Format;
use plotgenre::train::eval::faithfulness::{self, Settings};
use plotgenre::Error;

const PLOT: &str =
    "A retired hitman is pulled back into the underworld when gangsters kill his dog.";

fn tiny() -> Pipeline {
    common::tiny_pipeline_at_half()
}

fn spans(text: &str) -> Vec<&str> {
    words(text).into_iter().map(|span| &text[span]).collect()
}

#[test]
fn words_are_what_a_reader_calls_words() {
    assert_eq!(
        spans("Don't stop: a sci-fi heist, 1999 (again)!"),
        ["Don't", "stop", "a", "sci-fi", "heist", "1999", "again"]
    );
    assert_eq!(spans("rock 'n' roll -- end-"), ["rock", "n", "roll", "end"]);
    assert_eq!(spans("a café, cafe\u{301}"), ["a", "café", "cafe\u{301}"]);
    assert_eq!(
        spans("東京の夜 in Tokyo"),
        ["東", "京", "の", "夜", "in", "Tokyo"]
    );
    assert_eq!(spans("שלום עולם, مرحبا"), ["שלום", "עולם", "مرحبا"]);
    assert_eq!(spans("love 😀❤️ war"), ["love", "war"]);
    assert!(spans("  ... 😀 !!").is_empty());
    assert!(spans("").is_empty());
}

#[test]
fn removing_words_keeps_everything_else() {
    let text = "one two three";
    let all = words(text);
    assert_eq!(without(text, &all[1..2]), "one  three");
    assert_eq!(without(text, &[all[0].clone(), all[2].clone()]), " two ");
    assert_eq!(without(text, &[]), text);
}

#[test]
fn report_offsets_slice_the_plot_in_each_host_language() {
    let plot = "😀 Émile meets 東京 crew; they don't stop.";
    let explanation = explain::explain(&tiny(), None, plot, GenreChoice::All).unwrap();
    let chars: Vec<char> = plot.chars().collect();
    let utf16: Vec<u16> = plot.encode_utf16().collect();
    for genre in &explanation.report(plot, OffsetUnit::Char).genres {
        for word in &genre.words {
            let sliced: String = chars[word.start..word.end].iter().collect();
            assert_eq!(sliced, word.word);
        }
    }
    for genre in &explanation.report(plot, OffsetUnit::Utf16).genres {
        for word in &genre.words {
            assert_eq!(
                String::from_utf16(&utf16[word.start..word.end]).unwrap(),
                word.word
            );
        }
    }
    assert_eq!(explanation.genres.len(), 5, "every genre");
}

#[test]
fn each_score_is_the_probability_drop_without_that_word() {
    let pipeline = tiny();
    let title = Some("Last Job");
    let explanation = explain::explain(&pipeline, title, PLOT, GenreChoice::All).unwrap();
    assert_eq!(
        explanation.words,
        words(PLOT),
        "every word of a short plot, none of the title"
    );
    let inputs: Vec<String> = std::iter::once(model_input(title, PLOT))
        .chain(
            explanation
                .words
                .iter()
                .map(|w| model_input(title, &without(PLOT, std::slice::from_ref(w)))),
        )
        .collect();
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let probabilities = pipeline.probabilities(&refs).unwrap();
    for genre in &explanation.genres {
        let label = pipeline
            .labels
            .iter()
            .position(|l| *l == genre.genre)
            .unwrap();
        assert!((genre.probability - probabilities[0][label]).abs() < 1e-6);
        for (score, row) in genre.scores.iter().zip(&probabilities[1..]) {
            let expected = probabilities[0][label] - row[label];
            assert!((score - expected).abs() < 1e-6, "{score} vs {expected}");
        }
    }
    let sorted = explanation
        .genres
        .windows(2)
        .all(|pair| pair[0].probability >= pair[1].probability);
    assert!(sorted, "most probable first");
}

#[test]
fn stepping_gives_what_one_call_gives() {
    let pipeline = tiny();
    let whole = explain::explain(&pipeline, None, PLOT, GenreChoice::Predicted).unwrap();
    let mut occlusion = Occlusion::new(&pipeline, None, PLOT).unwrap();
    assert_eq!(occlusion.total(), words(PLOT).len() + 1);
    let mut steps = 0;
    while !occlusion.step(&pipeline, 3).unwrap() {
        steps += 1;
        assert_eq!(occlusion.done(), 3 * steps);
    }
    assert_eq!(occlusion.done(), occlusion.total());
    let stepped = occlusion.finish(&pipeline, GenreChoice::Predicted).unwrap();
    assert_eq!(stepped.words, whole.words);
    for (a, b) in stepped.genres.iter().zip(&whole.genres) {
        assert_eq!(a.genre, b.genre);
        let diff = a
            .scores
            .iter()
            .zip(&b.scores)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-5, "{} differs by {diff}", a.genre);
    }
}

#[test]
fn genres_explained_are_the_predicted_ones_or_the_one_named() {
    let pipeline = tiny();
    let classified = pipeline.classify(&[PLOT]).unwrap().remove(0);
    let predicted: Vec<&str> = classified
        .genres
        .iter()
        .filter(|g| g.predicted)
        .map(|g| g.genre.as_str())
        .collect();
    let explained = explain::explain(&pipeline, None, PLOT, GenreChoice::Predicted).unwrap();
    let names: Vec<&str> = explained.genres.iter().map(|g| g.genre.as_str()).collect();
    assert!(!names.is_empty());
    assert_eq!(names, predicted);

    let named = explain::explain(&pipeline, None, PLOT, GenreChoice::Named("Romance")).unwrap();
    assert_eq!(named.genres.len(), 1);
    assert_eq!(named.genres[0].genre, "Romance");

    match explain::explain(&pipeline, None, PLOT, GenreChoice::Named("Western")) {
        Err(Error::Input(message)) => {
            assert!(
                message.contains("Western") && message.contains("Action, Comedy"),
                "{message}"
            )
        }
        other => panic!("expected an unknown-genre error, got {other:?}"),
    }
}

#[test]
fn a_long_plot_scores_only_the_words_the_model_reads() {
    let pipeline = tiny();
    let plot = PLOT.repeat(40);
    let all = words(&plot);
    let explanation = explain::explain(&pipeline, None, &plot, GenreChoice::Predicted).unwrap();
    assert!(explanation.truncated);
    let read = explanation.words.len();
    assert!(
        read > 20 && read < all.len(),
        "{read} of {} words scored",
        all.len()
    );
    assert_eq!(explanation.words, all[..read], "the words from the start");
    // The first word left out is beyond what the model reads: removing it changes nothing.
    let unread = without(&plot, &all[read..=read]);
    let probabilities = pipeline.probabilities(&[&plot, &unread]).unwrap();
    assert_eq!(probabilities[0], probabilities[1]);
    let short = explain::explain(&pipeline, None, PLOT, GenreChoice::Predicted).unwrap();
    assert!(!short.truncated);
}

#[test]
fn empty_and_wordless_plots_explain_to_no_words() {
    let pipeline = tiny();
    for plot in ["", "   ", "😀 !!! ..."] {
        let explanation = explain::explain(&pipeline, None, plot, GenreChoice::Predicted).unwrap();
        assert!(explanation.words.is_empty(), "{plot:?}");
        assert!(
            !explanation.genres.is_empty(),
            "at least the most probable genre"
        );
        assert!(explanation.genres.iter().all(|g| g.scores.is_empty()));
    }
}

#[test]
fn removing_the_top_words_hurts_more_than_random_words_on_real_plots() {
    let root = common::root();
    let bundle = root.join("www/models/model.plotgenre");
    let movies = root.join("../shared/data/movies/movies.csv");
    if !common::available(&bundle, "the shipped model")
        || !common::available(&movies, "../shared/data is beside the checkout")
    {
        return;
    }
    let pipeline = Bundle::from_bytes(&std::fs::read(&bundle).unwrap())
        .unwrap()
        .pipeline()
        .unwrap();
    let dataset = Dataset::load(&movies, &Format::Movies).unwrap();
    let plots: Vec<(Option<&str>, &str)> = dataset
        .test
        .iter()
        .take(200)
        .map(|e| (e.title(), e.plot.as_str()))
        .collect();
    assert!(
        plots.iter().all(|(title, _)| title.is_some()),
        "movies titles"
    );
    let outcome = faithfulness::check(&pipeline, &plots, Settings::default()).unwrap();
    assert_eq!(outcome.plots, 200);
    assert!(
        outcome.win_rate() >= 0.8,
        "top words beat random words in {:.1}% of plots",
        outcome.win_rate() * 100.0
    );
    assert!(
        outcome.mean_top_drop > 2.0 * outcome.mean_random_drop,
        "{outcome:?}"
    );
}

/// The shipped bundle's path, when `make test` has it.
fn shipped() -> Option<std::path::PathBuf> {
    let bundle = common::root().join("www/models/model.plotgenre");
    common::available(&bundle, "the shipped model").then_some(bundle)
}

fn plotgenre(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_plotgenre"))
        .args(args)
        .output()
        .expect("plotgenre runs")
}

#[test]
fn the_cli_prints_the_library_explanation_as_json_and_as_a_table() {
    let Some(bundle) = shipped() else { return };
    let bundle = bundle.to_str().unwrap();
    let plot =
        "Émile, a café owner in Lyon, falls for the woman who keeps stealing his croissants.";
    let output = plotgenre(&["explain", "--model", bundle, "--text", plot, "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let pipeline = Bundle::from_bytes(&std::fs::read(bundle).unwrap())
        .unwrap()
        .pipeline()
        .unwrap();
    let expected = explain::explain(&pipeline, None, plot, GenreChoice::Predicted)
        .unwrap()
        .report(plot, OffsetUnit::Char);
    let genres = json["genres"].as_array().unwrap();
    assert_eq!(genres.len(), expected.genres.len());
    let chars: Vec<char> = plot.chars().collect();
    for (got, want) in genres.iter().zip(&expected.genres) {
        assert_eq!(got["genre"], want.genre.as_str());
        for (word, want) in got["words"].as_array().unwrap().iter().zip(&want.words) {
            let (start, end) = (
                word["start"].as_u64().unwrap() as usize,
                word["end"].as_u64().unwrap() as usize,
            );
            assert_eq!(chars[start..end].iter().collect::<String>(), want.word);
            assert!((word["score"].as_f64().unwrap() as f32 - want.score).abs() < 1e-6);
        }
    }

    let table = plotgenre(&[
        "explain", "--model", bundle, "--text", plot, "--genre", "Romance", "--top", "3",
    ]);
    let table = String::from_utf8(table.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("Romance "), "{table}");
    assert_eq!(lines.len(), 4, "the genre and its top 3 words: {table}");

    let unknown = plotgenre(&[
        "explain", "--model", bundle, "--text", plot, "--genre", "Opera",
    ]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8(unknown.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("\"Opera\""), "{stderr}");
}

#[test]
fn the_cli_explains_every_row_of_a_csv() {
    let Some(bundle) = shipped() else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("plots.csv");
    std::fs::write(
        &csv,
        "name,plot\nSecond Cup,\"A wedding planner falls in love with a baker.\"\nDark Road,A killer stalks a small town.\n",
    )
    .unwrap();
    let output = plotgenre(&[
        "explain",
        "--model",
        bundle.to_str().unwrap(),
        "--input",
        csv.to_str().unwrap(),
        "--title-col",
        "name",
        "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["row"], 2);
    let words: Vec<&str> = rows[1]["genres"][0]["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["word"].as_str().unwrap())
        .collect();
    assert_eq!(
        words,
        ["A", "killer", "stalks", "a", "small", "town"],
        "the plot's words, not the title's"
    );
}
