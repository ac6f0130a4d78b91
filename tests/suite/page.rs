//! The static page (www/) end to end in headless Chromium, with the shipped
//! bundle `www/models/model.plotgenre`: tests/browser/page.mjs drives one
//! browser through every scenario once and reports what it saw; each test
//! here checks one part of that report against the native build of the same
//! bundle. With `PLOTGENRE_UPDATE_SCREENSHOT=1` (`make screenshot`) the run
//! also replaces the README's screenshot, docs/screenshot.png; otherwise it
//! leaves the checkout as it found it.
//! Needs `make site` and `make browser-deps` (`make test` runs both).

use crate::common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::OnceLock;

use plotgenre::bundle::Bundle;
use plotgenre::explain::{self, GenreChoice, OffsetUnit};
use plotgenre::labels::{Rule, Thresholds};
use plotgenre::pipeline::{Classification, Pipeline};
use plotgenre::tokenize::model_input;
use plotgenre::train::data::dataset::Dataset;
use plotgenre::train::data::formats::Format;
use serde_json::Value;

mod phone;

const TITLE: &str = "Second Cup";
const PLOT: &str = "A cynical wedding planner keeps bumping into the clumsy baker who ruined her \
    best client's cake. Forced to work together on a disastrous celebrity wedding, they bicker, \
    trade insults and slowly fall in love.";
/// Genres any reasonable model ranks in its top three for `PLOT`.
const EXPECTED: [&str; 2] = ["Comedy", "Romance"];
const ROWS: usize = 50;
/// A row whose title and plot would run script if they were parsed as HTML.
const HOSTILE_TITLE: &str = r#"<img src=x onerror="window.__xss=1">"#;
const HOSTILE_PLOT: &str =
    "A \"quoted\", multi-line\nplot <script>window.__xss=2</script> about a killer in a small town.";
/// Browser and native probabilities agree to float noise; the CSV rounds to 4 decimals.
const TOLERANCE: f32 = 1e-4;

/// What the browser saw, and the native model it is checked against.
struct Run {
    report: Value,
    pipeline: Pipeline,
    bundle_bytes: usize,
    rows: Vec<[String; 3]>,
    update_sha256: String,
}

/// Runs page.mjs once for every test; `None` when its inputs are missing (skipped).
fn run() -> Option<&'static Run> {
    static RUN: OnceLock<Option<Run>> = OnceLock::new();
    RUN.get_or_init(|| {
        let root = common::root();
        let movies = root.join("../shared/data/movies/movies.csv");
        let bundle_path = root.join("www/models/model.plotgenre");
        if !common::available(&root.join("www/pkg/shell.js"), "run `make site`")
            || !common::available(
                &root.join("tests/browser/node_modules/playwright-core"),
                "run `make browser-deps`",
            )
            || !common::available(&bundle_path, "the shipped model; `make export` writes one")
            || !common::available(&movies, "../shared/data is beside the checkout")
        {
            return None;
        }
        let bytes = std::fs::read(&bundle_path).unwrap();
        let pipeline = Bundle::from_bytes(&bytes).unwrap().pipeline().unwrap();
        let work = tempfile::Builder::new()
            .prefix(".browser-test-")
            .tempdir_in(&root)
            .unwrap();
        let path = |name: &str| work.path().join(name);

        let plot = serde_json::json!({ "title": TITLE, "plot": PLOT });
        std::fs::write(path("plot.json"), plot.to_string()).unwrap();
        let rows = batch_rows(&movies);
        let mut csv = csv::Writer::from_path(path("batch.csv")).unwrap();
        csv.write_record(["id", "title", "plot"]).unwrap();
        for row in &rows {
            csv.write_record(row).unwrap();
        }
        csv.flush().unwrap();
        let update = new_version(&bytes);
        std::fs::write(path("update.plotgenre"), &update).unwrap();

        let output = Command::new("node")
            .arg(root.join("tests/browser/page.mjs"))
            .arg("--site")
            .arg(root.join("www"))
            .arg("--work")
            .arg(path("scratch"))
            .arg("--plot")
            .arg(path("plot.json"))
            .arg("--csv")
            .arg(path("batch.csv"))
            .arg("--update")
            .arg(path("update.plotgenre"))
            .arg("--screenshot")
            .arg(path("screenshot.png"))
            .args(isolated().then_some("--isolated"))
            .output()
            .expect("node runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let report: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("bad page.mjs output ({e}): {stdout}\n{stderr}"));
        assert_eq!(
            report["ok"], true,
            "page run failed: {}\n{stderr}",
            report["error"]
        );
        if common::env_flag("PLOTGENRE_UPDATE_SCREENSHOT") {
            std::fs::copy(path("screenshot.png"), root.join("docs/screenshot.png")).unwrap();
        }
        Some(Run {
            report,
            pipeline,
            bundle_bytes: bytes.len(),
            rows,
            update_sha256: plotgenre::bundle::sha256_hex(&update),
        })
    })
    .as_ref()
}

/// Whether page.mjs serves the page cross-origin isolated, as `make serve`
/// does (`PLOTGENRE_PAGE_ISOLATED=1`; `make test` runs the page tests both
/// ways).
fn isolated() -> bool {
    common::env_flag("PLOTGENRE_PAGE_ISOLATED")
}

/// The page runs the threaded wasm build, a thread per core, where it is
/// cross-origin isolated: on every visit when the server sends COOP/COEP,
/// else from the visit its service worker serves on (which adds them). The
/// offline visit's genres are checked against the native build too.
#[test]
fn the_page_runs_threads_where_it_is_cross_origin_isolated() {
    let Some(run) = run() else {
        return;
    };
    let first = &run.report["first"]["loaded"]["state"];
    let offline = &run.report["offline"]["state"];
    let (expected_build, expected_threads) = if isolated() {
        ("threads", &first["cores"])
    } else {
        ("single", &Value::from(1))
    };
    assert_eq!(first["build"], expected_build, "{first}");
    assert_eq!(&first["threads"], expected_threads, "{first}");
    assert_eq!(offline["build"], "threads", "{offline}");
    assert_eq!(offline["threads"], offline["cores"], "{offline}");
}

/// Chromium has relaxed SIMD, so the page runs the builds' relaxed-SIMD
/// twins, and its service worker keeps those two wasm files for offline
/// visits and not the plain builds'.
#[test]
fn the_page_runs_and_keeps_the_relaxed_simd_twins_in_chromium() {
    let Some(run) = run() else {
        return;
    };
    let first = &run.report["first"]["loaded"]["state"];
    let offline = &run.report["offline"];
    assert_eq!(first["relaxedSimd"], true, "{first}");
    assert_eq!(offline["state"]["relaxedSimd"], true, "{offline}");
    let mut kept = strings(&offline["shellWasm"]);
    kept.sort();
    let expected = [
        "pkg/relaxed/plotgenre_bg.wasm",
        "pkg/relaxed/threads/plotgenre_bg.wasm",
    ];
    assert_eq!(kept.len(), expected.len(), "{kept:?}");
    for (path, file) in kept.iter().zip(expected) {
        assert!(path.ends_with(&format!("/{file}")), "{kept:?}");
    }
}

/// 49 test-split movies as (id, title, plot), then the hostile row.
fn batch_rows(movies: &std::path::Path) -> Vec<[String; 3]> {
    let dataset = Dataset::load(movies, &Format::Movies).unwrap();
    let mut rows: Vec<[String; 3]> = dataset
        .test
        .iter()
        .filter_map(|e| {
            let title = e.text.strip_suffix(&e.plot)?.strip_suffix(". ")?;
            Some([String::new(), title.to_string(), e.plot.clone()])
        })
        .take(ROWS - 1)
        .collect();
    rows.push([String::new(), HOSTILE_TITLE.into(), HOSTILE_PLOT.into()]);
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = (i + 1).to_string();
    }
    assert_eq!(rows.len(), ROWS);
    rows
}

/// The same model as another version: only its creation time differs, so
/// the bundle (and its sha256) does.
fn new_version(bytes: &[u8]) -> Vec<u8> {
    let mut bundle = Bundle::from_bytes(bytes).unwrap();
    let tensors = bundle.take_tensors().unwrap();
    let mut manifest = bundle.manifest;
    manifest.provenance.created = "2000-01-01T00:00:00Z".into();
    Bundle::to_bytes(&manifest, &bundle.config, &bundle.tokenizer_json, &tensors).unwrap()
}

fn native(pipeline: &Pipeline, title: &str, plot: &str) -> Classification {
    let text = model_input(Some(title), plot);
    pipeline.classify(&[&text]).unwrap().remove(0)
}

fn strings(value: &Value) -> Vec<String> {
    serde_json::from_value(value.clone()).unwrap()
}

fn set(value: &Value) -> BTreeSet<String> {
    strings(value).into_iter().collect()
}

/// Checks that the page's genre list for `PLOT` is the native model's.
fn assert_known_plot(run: &Run, genres: &Value) {
    let expected = native(&run.pipeline, TITLE, PLOT);
    let order = strings(&genres["order"]);
    let native_top: Vec<&str> = expected.genres[..3]
        .iter()
        .map(|g| g.genre.as_str())
        .collect();
    assert_eq!(order[..3], native_top, "top three genres");
    for genre in EXPECTED {
        assert!(
            order[..3].contains(&genre.to_string()),
            "{genre} not in the top three: {order:?}"
        );
    }
    let predicted: BTreeSet<String> = expected
        .genres
        .iter()
        .filter(|g| g.predicted)
        .map(|g| g.genre.clone())
        .collect();
    assert_eq!(
        set(&genres["predicted"]),
        predicted,
        "the model's own predictions"
    );
}

#[test]
fn first_visit_downloads_with_progress_and_classifies_a_known_plot() {
    let Some(run) = run() else { return };
    let first = &run.report["first"];
    let progress = first["loaded"]["progress"].as_array().unwrap();
    assert!(progress.len() > 2, "progress steps: {progress:?}");
    assert_eq!(progress.last().unwrap()[0], run.bundle_bytes);
    assert_eq!(progress.last().unwrap()[1], run.bundle_bytes);
    assert_eq!(
        first["loaded"]["state"]["status"],
        "Model ready · works offline"
    );
    assert_known_plot(run, &first["known"]);
    let card = first["loaded"]["state"]["card"].as_str().unwrap();
    assert!(card.contains("13.6 MB") || card.contains(" MB ("), "{card}");
    let thresholds = &run.pipeline.thresholds;
    let own: Vec<&str> = (thresholds.own_threshold_labels.iter())
        .map(|&label| run.pipeline.labels[label].as_str())
        .collect();
    if !own.is_empty() {
        let named = format!("except {}: rare genres", english_list(&own));
        assert!(card.contains(&named), "{named} in {card}");
    }
}

/// `names` as `Intl.ListFormat('en')` joins them ("a, b, and c").
fn english_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [a, b] => format!("{a} and {b}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    }
}

#[test]
fn the_threshold_slider_rederives_predictions_without_the_model() {
    let Some(run) = run() else { return };
    let first = &run.report["first"];
    let default = set(&first["known"]["predicted"]);
    let (raised, lowered) = (
        set(&first["raised"]["predicted"]),
        set(&first["lowered"]["predicted"]),
    );
    assert!(raised.is_subset(&default) && default.is_subset(&lowered));
    assert!(raised.len() < lowered.len(), "{raised:?} vs {lowered:?}");
    assert_eq!(set(&first["reset"]["predicted"]), default);
    let runs = &first["known"]["runs"];
    for moved in ["raised", "lowered", "reset"] {
        assert_eq!(&first[moved]["runs"], runs, "{moved}: the model ran again");
    }
    assert_eq!(first["reset"]["threshold"], first["known"]["threshold"]);
    assert!(
        first["live"]["runs"].as_u64() > runs.as_u64(),
        "typing classifies"
    );
}

#[test]
fn batch_csv_of_50_rows_gives_50_labeled_rows() {
    let Some(run) = run() else { return };
    let batch = &run.report["first"]["batch"];
    assert_eq!(batch["columns"]["plot"], "plot");
    assert_eq!(batch["columns"]["title"], "title");
    assert_eq!(
        batch["progress"].as_array().unwrap().last().unwrap(),
        &serde_json::json!([ROWS, ROWS])
    );
    assert_eq!(batch["table"]["rows"], ROWS);
    assert_eq!(batch["filename"], "batch-genres.csv");

    let pipeline = &run.pipeline;
    let mut reader = csv::Reader::from_reader(batch["csv"].as_str().unwrap().as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let mut expected_header = vec![
        "id".to_string(),
        "title".into(),
        "plot".into(),
        "predicted_genres".into(),
    ];
    expected_header.extend(pipeline.labels.iter().map(|l| format!("p_{l}")));
    assert_eq!(header, expected_header);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), ROWS);
    let texts: Vec<String> = run
        .rows
        .iter()
        .map(|r| model_input(Some(&r[1]), &r[2]))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let expected = pipeline.probabilities(&refs).unwrap();
    let thresholds = &pipeline.thresholds;
    for ((record, row), probabilities) in records.iter().zip(&run.rows).zip(&expected) {
        assert_eq!(
            &record.iter().take(3).collect::<Vec<_>>(),
            row,
            "input columns kept"
        );
        for (i, p) in probabilities.iter().enumerate() {
            let got: f32 = record[4 + i].parse().unwrap();
            assert!(
                (got - p).abs() <= TOLERANCE,
                "row {}: {} {got} vs {p}",
                row[0],
                pipeline.labels[i]
            );
        }
        if !near_threshold(thresholds, probabilities) {
            let flags = thresholds.decide(probabilities, thresholds.rule);
            let genres: Vec<&str> = pipeline
                .labels
                .iter()
                .zip(flags)
                .filter(|(_, f)| *f)
                .map(|(l, _)| l.as_str())
                .collect();
            assert_eq!(&record[3], genres.join("|"), "row {}", row[0]);
        }
    }
}

/// Whether a probability is too close to its threshold for float noise to be ruled out.
#[test]
fn semicolon_latin1_files_with_bad_rows_and_empty_files_read_as_in_predict() {
    let Some(run) = run() else { return };
    let messy = &run.report["first"]["messy"];
    let file_text = messy["fileText"].as_str().unwrap();
    for said in [
        "2 rows",
        "read decoded as windows-1252, fields separated by semicolons",
        "line 3 (1 fields, the header has 2)",
    ] {
        assert!(file_text.contains(said), "{said:?} not in {file_text:?}");
    }
    let status = messy["status"].as_str().unwrap();
    assert!(
        status.contains("1 row classified.") && status.contains("1 row with an empty plot"),
        "{status}"
    );
    let mut reader = csv::Reader::from_reader(messy["csv"].as_str().unwrap().as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header.last().map(String::as_str), Some("error"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let firsts: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(firsts, ["Café", "Broken", "Blank"]);
    let errors: Vec<&str> = rows.iter().map(|r| &r[r.len() - 1]).collect();
    assert_eq!(
        errors,
        [
            "",
            "line 3: 1 fields, the header has 2",
            "line 4: empty plot: no genres"
        ]
    );
    assert!(!rows[0][2].is_empty() && rows[2][2].is_empty());

    let empty = &messy["empty"];
    assert!(
        empty["status"].as_str().unwrap().ends_with("empty file"),
        "{empty}"
    );
    assert_eq!(
        empty["plotOptions"], 0,
        "the previous file's columns are cleared"
    );
    assert_eq!(empty["runDisabled"], true);
}

fn near_threshold(thresholds: &Thresholds, probabilities: &[f32]) -> bool {
    probabilities.iter().enumerate().any(|(i, p)| {
        let t = match thresholds.rule {
            Rule::PerLabel | Rule::PerLabelTop1 => thresholds.per_label[i],
            _ => thresholds.global,
        };
        (p - t).abs() < TOLERANCE
    })
}

#[test]
fn user_text_is_shown_as_text_and_columns_can_be_picked() {
    let Some(run) = run() else { return };
    let first = &run.report["first"];
    let table = &first["batch"]["table"];
    assert_eq!(table["images"], 0);
    let hostile = &table["cells"][ROWS - 1];
    assert_eq!(hostile[1], HOSTILE_TITLE);
    assert_eq!(hostile[2], HOSTILE_PLOT);
    assert_eq!(first["security"]["xss"], Value::Null);
    assert_eq!(
        first["picker"]["disabledBefore"], true,
        "no plot column guessed"
    );
    assert_eq!(
        first["picker"]["disabledAfter"], false,
        "picked by the user"
    );
}

#[test]
fn second_visit_with_the_network_blocked_still_classifies() {
    let Some(run) = run() else { return };
    let offline = &run.report["offline"];
    assert_eq!(offline["state"]["network"], "Offline");
    assert_eq!(offline["state"]["status"], "Model ready · works offline");
    assert_known_plot(run, &offline["known"]);
}

/// Checks an explanation the page showed for `PLOT` against the native one.
fn assert_explanation(run: &Run, shown: &Value) {
    let genre = shown["genre"].as_str().unwrap();
    assert_eq!(shown["heading"], format!("Why {genre}?"));
    assert_eq!(strings(&shown["pressed"]), [genre]);
    assert_eq!(shown["text"], PLOT, "the plot, as text");
    assert!(shown["legend"].as_str().unwrap().contains("for the genre"));
    let native = explain::explain(&run.pipeline, Some(TITLE), PLOT, GenreChoice::Named(genre))
        .unwrap()
        .report(PLOT, OffsetUnit::Utf16);
    let expected = &native.genres[0].words;
    let words = shown["words"].as_array().unwrap();
    assert_eq!(words.len(), expected.len(), "one highlight per word");
    assert_eq!(
        shown["textHidden"], "true",
        "the shaded text is for the eye; the ranked list is read out"
    );
    let mut ranked: Vec<String> = strings(&shown["ranked"])
        .iter()
        .map(|line| {
            assert!(line.ends_with(" points"), "{line}");
            line.rsplit_once(": ").unwrap().0.to_string()
        })
        .collect();
    let mut native_words: Vec<String> = expected.iter().map(|w| w.word.clone()).collect();
    ranked.sort();
    native_words.sort();
    assert_eq!(
        ranked, native_words,
        "every scored word, with its score, as text"
    );
    let mut strongest: f64 = 0.0;
    for (word, expected) in words.iter().zip(expected) {
        assert_eq!(word["word"], expected.word.as_str());
        let score = word["score"].as_f64().unwrap() as f32;
        assert!(
            (score - expected.score).abs() <= TOLERANCE,
            "{}: {score} in the page, {} natively",
            expected.word,
            expected.score
        );
        assert!(word["title"].as_str().unwrap().ends_with(" points"));
        strongest = strongest.max(word["strength"].as_f64().unwrap());
    }
    assert!(
        (strongest - 1.0).abs() < 1e-3,
        "the strongest word is fully coloured"
    );
}

#[test]
fn clicking_a_genre_highlights_the_words_behind_it_as_natively() {
    let Some(run) = run() else { return };
    let first = &run.report["first"];
    assert_eq!(
        first["explained"]["genre"], first["known"]["order"][0],
        "the clicked genre"
    );
    assert_explanation(run, &first["explained"]);
}

#[test]
fn explanations_work_offline() {
    let Some(run) = run() else { return };
    assert_explanation(run, &run.report["offline"]["explained"]);
}

#[test]
fn editing_the_plot_stops_the_explanation_under_way() {
    let Some(run) = run() else { return };
    let cancelled = &run.report["first"]["cancelled"];
    assert_eq!(cancelled["stopped"], 1, "the worker stopped part-way");
    assert_eq!(cancelled["hidden"], true, "no stale highlights");
    assert_eq!(cancelled["words"], 0);
}

#[test]
fn a_new_model_version_is_picked_up_and_replaces_the_old_one() {
    let Some(run) = run() else { return };
    let update = &run.report["update"];
    assert!(
        !update["progress"].as_array().unwrap().is_empty(),
        "the new version downloads"
    );
    let card = update["state"]["card"].as_str().unwrap();
    assert!(
        card.contains(&run.update_sha256[..12]) && card.contains("2000-01-01"),
        "{card}"
    );
    let caches = strings(&update["caches"]);
    assert_eq!(caches.len(), 1, "{caches:?}");
    assert!(caches[0].ends_with(&run.update_sha256), "{caches:?}");
    assert_known_plot(run, &update["known"]);
}

#[test]
fn a_new_page_version_is_switched_to_whole_on_reload() {
    let Some(run) = run() else { return };
    let shell = &run.report["update"]["shell"];
    assert_eq!(
        shell["before"], false,
        "the open page got a file of the next version"
    );
    assert_eq!(
        shell["after"], true,
        "the reloaded page still runs the old version"
    );
    let caches = strings(&shell["caches"]);
    assert!(
        caches.len() == 1 && caches[0].ends_with(":shell:next"),
        "{caches:?}"
    );
}

#[test]
fn the_main_thread_stays_responsive() {
    let Some(run) = run() else { return };
    let long = run.report["first"]["longTasks"].as_array().unwrap();
    let over: Vec<_> = long
        .iter()
        .filter(|t| t["duration"].as_f64().unwrap() > 100.0)
        .collect();
    assert!(
        over.is_empty(),
        "main-thread tasks over 100 ms while classifying: {over:?}"
    );
}

#[test]
fn no_request_after_load_no_cookies_and_a_strict_csp() {
    let Some(run) = run() else { return };
    let first = &run.report["first"];
    assert_eq!(
        first["afterLoad"],
        serde_json::json!([]),
        "requests after load"
    );
    assert_eq!(first["cookies"], serde_json::json!([]));
    let security = &first["security"];
    assert_eq!(security["cookie"], "");
    assert_eq!(
        security["inlineRan"], false,
        "an injected inline script ran"
    );
    assert!(strings(&security["violations"]).contains(&"script-src-elem".to_string()));
    assert_eq!(security["eval"], "EvalError");
    assert_eq!(
        security["injectedStyle"], false,
        "an injected inline style applied"
    );
    assert!(strings(&security["violations"]).contains(&"style-src-elem".to_string()));
    assert_ne!(
        security["ownStyle"], "",
        "the page's own inline style was blocked"
    );
    assert_eq!(
        security["stylesheets"], 0,
        "a stylesheet request holds up the first paint"
    );
}

#[test]
fn emptying_the_plot_box_clears_its_result() {
    let Some(run) = run() else { return };
    let emptied = &run.report["first"]["emptied"];
    assert_eq!(
        emptied["genres"], 0,
        "genres of a plot no longer there: {emptied}"
    );
    assert_eq!(emptied["summary"], "Type or pick a plot to see its genres.");
}

#[test]
fn the_page_reads_either_text_direction_and_describes_itself() {
    let Some(run) = run() else { return };
    let head = &run.report["first"]["head"];
    assert_eq!(head["dir"], serde_json::json!(["auto", "auto"]), "{head}");
    let description = head["description"].as_str().unwrap_or_default();
    assert!(description.len() >= 50, "meta description: {description:?}");
}

#[test]
fn the_page_is_keyboard_and_phone_friendly() {
    let Some(run) = run() else { return };
    let first = &run.report["first"];
    assert_eq!(
        first["unlabeled"],
        serde_json::json!([]),
        "form fields without a label"
    );
    let order = strings(&first["focusOrder"]);
    // Title, plot, Classify, Clear, the four examples, the slider, then each genre (a
    // button that explains it).
    assert_eq!(order[..4], ["title", "plot", "classify", "clear"]);
    assert_eq!(order[8], "threshold");
    assert!(run.pipeline.labels.contains(&order[9]), "{order:?}");
    let phone = &first["phone"];
    assert!(
        phone["scrollWidth"].as_u64() <= phone["width"].as_u64(),
        "sideways scrolling on a phone: {phone}"
    );
}

/// One failure scenario: its message contains `says`, a retry is offered or not, nothing is stored.
fn assert_failure(name: &str, says: &str, retry: bool) -> Option<&'static Value> {
    let run = run()?;
    let failure = &run.report["failures"][name];
    let state = &failure["state"];
    let problem = state["problem"].as_str().unwrap_or_default();
    assert!(problem.contains(says), "{name}: {problem}");
    assert_eq!(state["retry"], retry, "{name}: retry offered");
    assert_eq!(
        failure["caches"],
        serde_json::json!([]),
        "{name}: something stayed cached"
    );
    Some(failure)
}

#[test]
fn a_corrupted_bundle_shows_the_error_and_caches_nothing() {
    assert_failure("mismatch", "does not match its manifest", true);
    assert_failure("corrupt", "damaged", true);
    assert_failure("truncated", "download stopped", true);
}

#[test]
fn a_missing_bundle_offers_a_retry_that_works() {
    let Some(failure) = assert_failure("missing", "missing on the server", true) else {
        return;
    };
    assert_eq!(
        failure["afterRetry"]["status"],
        "Model ready · works offline"
    );
}

#[test]
fn a_bundle_from_another_origin_is_refused_unfetched() {
    let Some(failure) = assert_failure("foreign", "another origin", false) else {
        return;
    };
    assert_eq!(failure["foreignHits"], 0);
}

#[test]
fn a_full_quota_still_classifies_and_says_so() {
    let Some(failure) = assert_failure("quota", "Not enough storage", false) else {
        return;
    };
    assert_eq!(failure["state"]["status"], "Model ready");
}

#[test]
fn a_browser_without_wasm_simd_is_told_so() {
    let Some(failure) = assert_failure("noSimd", "WebAssembly SIMD", false) else {
        return;
    };
    let requests = strings(&failure["requests"]);
    assert!(
        !requests.iter().any(|r| r.contains("models/")),
        "{requests:?}"
    );
}
