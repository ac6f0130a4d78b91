//! Text the model was not trained for is named: plots in 20 other languages
//! (tests/fixtures/foreign_plots.tsv) are flagged by script or vocabulary,
//! of 200 real plots only the foreign ones are, and the pipeline carries the
//! verdict.

use crate::common;

use plotgenre::language::{assess, Unfamiliar};
use plotgenre::tokenize::{TextEncoder, DEFAULT_MAX_LENGTH};

/// Scripts of the fixture's languages that are not written in Latin letters.
const NON_LATIN: &[&str] = &["ru", "ar", "he", "zh", "ja", "hi", "el", "ko"];

fn verdict(encoder: &TextEncoder, text: &str) -> Option<Unfamiliar> {
    let batch = encoder.encode_batch(&[text]).expect("encodes");
    let read = text
        .get(..batch.read_bytes[0])
        .expect("read part is a prefix");
    assess(read, batch.pieces[0])
}

fn encoder() -> TextEncoder {
    let bytes = std::fs::read(common::fixture("tokenizer.json")).expect("tokenizer fixture");
    TextEncoder::from_bytes(&bytes, DEFAULT_MAX_LENGTH).expect("tokenizer loads")
}

fn foreign_plots() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(common::fixture("foreign_plots.tsv")).expect("fixture");
    text.lines()
        .skip(1)
        .map(|line| {
            let (language, plot) = line.split_once('\t').expect("language<TAB>plot");
            (language.to_string(), plot.to_string())
        })
        .collect()
}

#[test]
fn plots_in_other_languages_are_flagged_by_the_right_check() {
    let encoder = encoder();
    let plots = foreign_plots();
    assert_eq!(plots.len(), 20);
    for (language, plot) in plots {
        let expected = match NON_LATIN.contains(&language.as_str()) {
            true => Unfamiliar::Script,
            false => Unfamiliar::Vocabulary,
        };
        assert_eq!(
            verdict(&encoder, &plot),
            Some(expected),
            "{language}: {plot}"
        );
    }
}

/// The real plots of tests/fixtures/tokens.json that are flagged: four are not
/// English at all (Hungarian, Norwegian, Italian), three are short English
/// lines under a Japanese or Turkish title full of names.
const FLAGGED_REAL_PLOTS: &[&str] = &[
    "Mail <svaradi@sprynet.com> for translation. Szep Erno",
    "Çok Filim Hareketler Bunlar.",
    "Bleach: Burîchi. Renji and Ichigo",
    "Fyrvokteren Ewert, tidligere",
    "Il barone Fifě ha bisogno",
    "Tre divi del rock, arrestati",
    "Chiisana eiyû: Kani to tamago",
];

#[test]
fn of_200_real_plots_only_the_foreign_ones_are_flagged() {
    let encoder = encoder();
    let fixture = common::json("tokens.json");
    let cases = fixture["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 200);
    let flagged: Vec<&str> = cases
        .iter()
        .filter_map(|case| case["text"].as_str())
        .filter(|text| verdict(&encoder, text).is_some())
        .collect();
    let unexpected: Vec<&&str> = flagged
        .iter()
        .filter(|text| !FLAGGED_REAL_PLOTS.iter().any(|p| text.starts_with(p)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "English plots flagged: {unexpected:?}"
    );
    assert_eq!(
        flagged.len(),
        FLAGGED_REAL_PLOTS.len(),
        "flagged: {flagged:?}"
    );
}

#[test]
fn the_shipped_pipeline_says_when_a_plot_is_not_english() {
    let Some(pipeline) = common::shipped_pipeline() else {
        return;
    };
    let plots = foreign_plots();
    let french = &plots[0].1;
    let english = "A retired safecracker is pulled back for one last heist when his \
                   daughter is kidnapped by the crime boss he once betrayed.";
    let results = pipeline.classify(&[french, english]).expect("classifies");
    assert_eq!(results[0].unfamiliar, Some(Unfamiliar::Vocabulary));
    assert_eq!(results[1].unfamiliar, None);
}
