//! The page where a visitor looks and as a screen reader hears it: on a
//! phone (390x844) the answer and explanations in view; the genre cap said
//! and marked; a huge paste explained only as far as the model read; focus
//! and live announcements in batch mode; the short genre list, Clear, the
//! time taken and the file drop zone. Part of the one run of page.mjs
//! (tests/browser/phone.mjs drives these scenarios).

use super::{run, ROWS};

/// The number a phrase such as "1,234 words" starts with.
fn leading_number(text: &str) -> u64 {
    let digits: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number in {text:?}"))
}

#[test]
fn on_a_phone_the_answer_and_explanations_appear_where_the_visitor_looks() {
    let Some(run) = run() else { return };
    let answer = &run.report["first"]["phone"]["answer"];
    for moment in ["typed", "example"] {
        let quick = &answer[moment]["quick"];
        assert_eq!(
            quick["inside"], true,
            "{moment}: summary off-screen: {quick}"
        );
        let top = answer[moment]["top"].as_str().unwrap();
        assert!(
            quick["text"].as_str().unwrap().contains(top),
            "{moment}: the top genre {top} is not in the summary: {quick}"
        );
    }
    for tap in answer["taps"].as_array().unwrap() {
        assert_eq!(
            tap["heading"]["inside"], true,
            "explanation off-screen: {tap}"
        );
        assert!(tap["panelTop"].as_f64().unwrap() >= 0.0, "{tap}");
        let moved = tap["moved"].as_f64().unwrap().abs();
        assert!(moved <= 120.0, "the tapped genre jumped {moved} px: {tap}");
    }
    for size in answer["targets"].as_array().unwrap() {
        let size = size.as_f64().unwrap();
        assert!(size >= 44.0, "a genre button {size} px across: {answer}");
    }
}

#[test]
fn the_genre_cap_is_said_and_capped_genres_are_marked_apart() {
    let Some(run) = run() else { return };
    let Some(cap) = run.pipeline.thresholds.max_genres else {
        return;
    };
    let small = &run.report["first"]["small"];
    let shown = &small["cap"];
    // The slider always says the cap; the summary says it where it bites:
    // at the slider's lowest, more genres than the cap reach their mark on
    // "Heist", the cap keeps the most probable and the rest are marked apart.
    let said = format!("at most {cap} genres");
    let lowest = &small["lowest"];
    for text in [&shown["threshold"], &lowest["summary"]] {
        assert!(text.as_str().unwrap().contains(&said), "{text}");
    }
    assert_eq!(lowest["predicted"].as_array().unwrap().len(), cap);
    let capped = lowest["capped"].as_array().unwrap();
    assert!(!capped.is_empty(), "at 1% genres past the cap: {lowest}");
    for genre in capped {
        assert!(genre["value"].as_f64() >= genre["mark"].as_f64(), "{genre}");
        assert!(
            genre["said"].as_str().unwrap().contains("over the cap"),
            "{genre}"
        );
    }
    let least_predicted = lowest["predicted"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["value"].as_f64())
        .fold(f64::INFINITY, f64::min);
    for genre in capped {
        assert!(
            genre["value"].as_f64().unwrap() <= least_predicted,
            "{genre}"
        );
    }
    assert!(
        capped.len() > shown["capped"].as_array().unwrap().len(),
        "at 1% more genres reach their mark and are capped: {lowest}"
    );
}

#[test]
fn a_huge_paste_explains_only_the_words_read_and_says_how_many_were_not() {
    let Some(run) = run() else { return };
    let huge = &run.report["first"]["huge"];
    assert!(huge["chars"].as_u64().unwrap() > 2_000_000, "{huge}");
    assert!(
        huge["height"].as_u64().unwrap() < 5_000,
        "page height: {huge}"
    );
    assert!(
        huge["shown"].as_u64().unwrap() < 2_000,
        "text shown: {huge}"
    );
    let unread = huge["unread"].as_str().unwrap_or_default();
    let (read, rest) = unread
        .strip_prefix("The model read the first ")
        .and_then(|rest| rest.split_once("; "))
        .unwrap_or_else(|| panic!("{huge}"));
    let scored = huge["scored"].as_u64().unwrap();
    assert_eq!(leading_number(read), scored);
    assert!(rest.ends_with(" words not read."), "{unread}");
    // 25,000 sentences of 15 words.
    assert_eq!(leading_number(rest) + scored, 375_000, "{unread}");
    assert!(huge["ms"].as_u64().unwrap() < 45_000, "{huge}");
}

#[test]
fn explanations_follow_their_genre_and_batch_runs_keep_focus_and_speak_little() {
    let Some(run) = run() else { return };
    let first = &run.report["first"];
    let order = &first["order"];
    assert_eq!(
        order["follows"], true,
        "explanation before its genre: {order}"
    );
    assert_eq!(order["inItem"], true, "{order}");
    let again = &first["again"];
    assert_eq!(again["focusRunning"], "batch-cancel", "{again}");
    assert_eq!(again["focusDone"], "batch-download", "{again}");
    let said = again["said"].as_array().unwrap();
    assert!(
        (2..=5).contains(&said.len()),
        "the live status spoke {} times for {ROWS} rows: {said:?}",
        said.len()
    );
    assert!(
        said.last()
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("50 rows classified."),
        "{said:?}"
    );
}

#[test]
fn a_labeled_file_uploaded_again_gets_its_columns_replaced() {
    let Some(run) = run() else { return };
    let again = &run.report["first"]["again"];
    let header: Vec<&str> = again["header"].as_str().unwrap().split(',').collect();
    let mut expected = vec!["id", "title", "plot", "predicted_genres"];
    let probabilities: Vec<String> = run
        .pipeline
        .labels
        .iter()
        .map(|l| format!("p_{l}"))
        .collect();
    expected.extend(probabilities.iter().map(String::as_str));
    assert_eq!(header, expected);
    let status = again["status"].as_str().unwrap();
    assert!(
        status.contains("predicted_genres") && status.contains("replaced"),
        "{status}"
    );
}

#[test]
fn small_things_short_list_time_clear_and_a_drop_zone() {
    let Some(run) = run() else { return };
    let first = &run.report["first"];
    let small = &first["small"];
    let labels = run.pipeline.labels.len();
    let collapsed = &small["collapsed"];
    assert!(
        collapsed["shown"].as_u64().unwrap() < labels as u64,
        "{collapsed}"
    );
    assert_eq!(collapsed["all"], labels);
    assert_eq!(collapsed["toggle"], format!("Show all {labels} genres"));
    assert_eq!(collapsed["expanded"], "false");
    assert_eq!(collapsed["controls"], "genres");
    let expanded = &small["expanded"];
    assert_eq!(expanded["shown"], labels, "{expanded}");
    assert_eq!(expanded["expanded"], "true");
    let timing = small["timing"].as_str().unwrap();
    assert!(
        timing.starts_with("Classified in ")
            && (timing.ends_with(" ms.") || timing.ends_with(" s.")),
        "{timing}"
    );
    assert_eq!(
        small["cleared"],
        serde_json::json!({ "plot": "", "title": "", "genres": 0, "focus": "plot" })
    );
    let drop = &first["drop"];
    let size = drop["inputSize"].as_array().unwrap();
    assert!(
        size.iter().all(|s| s.as_f64().unwrap() <= 1.0),
        "the native file button shows: {drop}"
    );
    assert_eq!(drop["border"], "dashed");
    assert_ne!(drop["focusOutline"], "none", "no focus ring: {drop}");
    assert!(drop["height"].as_f64().unwrap() >= 80.0, "{drop}");
    assert!(
        drop["name"]
            .as_str()
            .unwrap()
            .starts_with("Drop a CSV file here"),
        "{drop}"
    );
}

#[test]
fn a_plot_in_another_language_is_flagged_next_to_the_result() {
    let Some(run) = run() else { return };
    let notices = &run.report["first"]["phone"]["foreign"];
    let shown = |plot: &str| -> Vec<String> {
        let texts = notices[plot]
            .as_array()
            .unwrap_or_else(|| panic!("{notices}"));
        texts
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    for text in shown("french") {
        assert!(
            text.contains("does not look like English"),
            "panel and summary must warn about the French plot: {notices}"
        );
    }
    assert!(
        shown("english").iter().all(String::is_empty),
        "the notice stays after an English plot: {notices}"
    );
}
