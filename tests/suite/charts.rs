//! The training report's SVG charts: each is one well-formed document that
//! names its title and every genre, grows with the genre count, and turns bad
//! input (mismatched lengths) into an error and odd input (NaN, empty or
//! one-point curves) into a chart, never a panic.

use plotgenre::train::eval::charts::{
    label_confusion_bars, label_f1_bars, training_curves, LabelCounts,
};
use plotgenre::Error;

/// `n` distinct genre names.
fn genres(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("Genre{i:02}")).collect()
}

/// A whole SVG document whose text elements are balanced.
fn assert_svg(svg: &str) {
    let svg = svg.trim();
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "starts: {}",
        &svg[..svg.len().min(80)]
    );
    assert!(
        svg.ends_with("</svg>"),
        "ends: {}",
        &svg[svg.len().saturating_sub(80)..]
    );
    assert_eq!(svg.matches("<svg").count(), 1);
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
}

/// The trimmed contents of every `<text>` element.
fn texts(svg: &str) -> Vec<&str> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim())
        })
        .collect()
}

/// `text` is the whole content of some `<text>` element.
fn has_text(svg: &str, text: &str) -> bool {
    texts(svg).contains(&text)
}

/// The document's `height` attribute.
fn height(svg: &str) -> u32 {
    let rest = svg.split("height=\"").nth(1).expect("height attribute");
    rest[..rest.find('"').expect("closing quote")]
        .parse()
        .expect("numeric height")
}

fn assert_chart_error<T: std::fmt::Debug>(result: plotgenre::Result<T>, needle: &str) {
    match result {
        Err(Error::Chart(message)) => assert!(message.contains(needle), "message: {message}"),
        other => panic!("expected Error::Chart, got {other:?}"),
    }
}

#[test]
fn f1_bars_name_every_genre_and_value() {
    let labels = genres(30);
    let f1: Vec<f64> = (0..30).map(|i| i as f64 / 29.0).collect();
    let svg = label_f1_bars("Validation F1 per genre", &labels, &f1).unwrap();
    assert_svg(&svg);
    assert!(has_text(&svg, "Validation F1 per genre"));
    for label in &labels {
        assert!(has_text(&svg, label), "{label} missing");
    }
    assert!(has_text(&svg, "1.00") && has_text(&svg, "0.00") && has_text(&svg, "0.52"));
    // One bar per genre on top of the background and plot area.
    assert!(svg.matches("<rect").count() >= 30);
}

#[test]
fn bar_charts_grow_with_the_genre_count() {
    let few = label_f1_bars("t", &genres(3), &[0.5; 3]).unwrap();
    let many = label_f1_bars("t", &genres(30), &[0.5; 30]).unwrap();
    assert!(
        height(&many) >= height(&few) + 27 * 20,
        "{} vs {}",
        height(&many),
        height(&few)
    );
}

#[test]
fn f1_bars_survive_nan_and_out_of_range() {
    let labels = genres(4);
    let svg = label_f1_bars("odd", &labels, &[f64::NAN, f64::INFINITY, -0.5, 1.5]).unwrap();
    assert_svg(&svg);
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
    assert_eq!(texts(&svg).iter().filter(|&&t| t == "0.00").count(), 3);
    assert!(has_text(&svg, "1.00"));
}

#[test]
fn genre_names_are_escaped() {
    let labels = vec!["Action & Adventure".to_string(), "<Drama>".to_string()];
    let svg = label_f1_bars("Tom & Jerry", &labels, &[0.3, 0.7]).unwrap();
    assert_svg(&svg);
    assert!(has_text(&svg, "Action &amp; Adventure"));
    assert!(has_text(&svg, "&lt;Drama&gt;"));
    assert!(has_text(&svg, "Tom &amp; Jerry"));
}

#[test]
fn confusion_bars_name_every_genre_and_kind() {
    let labels = genres(30);
    let counts: Vec<LabelCounts> = (0..30)
        .map(|i| LabelCounts {
            tp: 10 * i,
            fp: i,
            fn_: 300 - 10 * i,
        })
        .collect();
    let svg = label_confusion_bars("Test confusion", &labels, &counts).unwrap();
    assert_svg(&svg);
    assert!(has_text(&svg, "Test confusion"));
    for label in &labels {
        assert!(has_text(&svg, label), "{label} missing");
    }
    for kind in ["true positives", "false positives", "false negatives"] {
        assert!(has_text(&svg, kind), "legend {kind} missing");
    }
    assert!(svg.matches("<rect").count() >= 90);
}

#[test]
fn confusion_bars_of_all_zeros() {
    let zero = LabelCounts {
        tp: 0,
        fp: 0,
        fn_: 0,
    };
    let svg = label_confusion_bars("empty split", &genres(2), &[zero; 2]).unwrap();
    assert_svg(&svg);
    assert!(has_text(&svg, "Genre01"));
}

#[test]
fn bar_charts_of_no_genres() {
    assert_svg(&label_f1_bars("none", &[], &[]).unwrap());
    assert_svg(&label_confusion_bars("none", &[], &[]).unwrap());
}

#[test]
fn mismatched_lengths_are_errors() {
    assert_chart_error(
        label_f1_bars("t", &genres(3), &[0.1, 0.2]),
        "3 labels but 2 F1 values",
    );
    let one = LabelCounts {
        tp: 1,
        fp: 2,
        fn_: 3,
    };
    assert_chart_error(
        label_confusion_bars("t", &genres(1), &[one; 2]),
        "1 labels but 2",
    );
}

#[test]
fn training_curves_show_both_series() {
    let loss: Vec<(f64, f64)> = (0..500)
        .map(|s| (s as f64, 0.7 / (1.0 + s as f64 / 50.0)))
        .collect();
    let validation = [
        (100.0, 0.31),
        (200.0, 0.45),
        (300.0, 0.52),
        (400.0, 0.55),
        (499.0, 0.56),
    ];
    let svg = training_curves("Run 7", &loss, &validation, "micro-F1").unwrap();
    assert_svg(&svg);
    for text in ["Run 7", "micro-F1", "training loss", "step"] {
        assert!(has_text(&svg, text), "{text} missing");
    }
    // The loss is one long line; axis and tick lines have two points each.
    let longest = svg
        .split("points=\"")
        .skip(1)
        .map(|p| p[..p.find('"').unwrap_or(0)].split_whitespace().count())
        .max();
    assert!(longest >= Some(100), "longest polyline: {longest:?}");
    assert_eq!(svg.matches("<circle").count(), validation.len());
}

#[test]
fn training_curves_of_no_or_one_point() {
    let empty = training_curves("nothing yet", &[], &[], "micro-F1").unwrap();
    assert_svg(&empty);
    assert!(has_text(&empty, "nothing yet"));

    let single = training_curves("one step", &[(1.0, 0.69)], &[(1.0, 0.2)], "micro-F1").unwrap();
    assert_svg(&single);
    assert!(has_text(&single, "one step"));
    // The lone loss point and the lone validation point are both marked.
    assert_eq!(single.matches("<circle").count(), 2);
}

#[test]
fn training_curves_skip_nan() {
    let loss = [(0.0, 0.7), (1.0, f64::NAN), (2.0, 0.5), (f64::NAN, 0.4)];
    let svg = training_curves("nan", &loss, &[(2.0, f64::NAN)], "macro-F1").unwrap();
    assert_svg(&svg);
    assert!(!svg.contains("NaN"));
    assert_eq!(svg.matches("<circle").count(), 0);
}
