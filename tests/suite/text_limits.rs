//! Text of any kind and size on the tiny model: empty, blank, a megabyte,
//! binary junk, mixed scripts, right-to-left, emoji. Classifying gives every
//! genre a probability and never panics; long texts are truncated to the
//! model's maximum length and say so, and the encoder, which cuts a long
//! text before tokenizing it, yields exactly the tokens and truncation flag
//! of tokenizing the whole text. The browser runs the same `Pipeline`.

use crate::common;

use std::time::{Duration, Instant};

use plotgenre::tokenize::{TextEncoder, DEFAULT_MAX_LENGTH};
use tokenizers::{Tokenizer, TruncationParams};

const MEGABYTE: usize = 1 << 20;
/// Far more than a cut megabyte needs (a few milliseconds), far less than
/// tokenizing it whole on a slow machine.
const LONG_TEXT_BUDGET: Duration = Duration::from_secs(2);

/// `unit` repeated up to about `bytes` bytes.
fn repeated(unit: &str, bytes: usize) -> String {
    unit.repeat(bytes / unit.len())
}

/// Every byte value, in many orders, decoded leniently as the page's file
/// reader does: NULs, control characters, stray UTF-8 continuation bytes.
fn binary_junk(bytes: usize) -> String {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let junk: Vec<u8> = (0..bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    String::from_utf8_lossy(&junk).into_owned()
}

/// (what, text, whether it is longer than the model reads)
fn hostile_texts() -> Vec<(&'static str, String, bool)> {
    vec![
        ("empty", String::new(), false),
        ("whitespace only", " \t\n\r \u{a0}\u{3000} ".into(), false),
        ("a megabyte of whitespace", repeated(" \n", MEGABYTE), false),
        ("a megabyte of NULs", repeated("\0", MEGABYTE), false),
        (
            "a megabyte of characters the normalizer drops",
            repeated("\u{85}\u{fffd}", MEGABYTE),
            false,
        ),
        (
            "a megabyte of words",
            repeated("a plot twist ", MEGABYTE),
            true,
        ),
        ("a megabyte without a space", repeated("x", MEGABYTE), false),
        (
            "a megabyte of CJK without spaces",
            repeated("東京の夜に探偵が", MEGABYTE),
            true,
        ),
        ("binary junk", binary_junk(4096), true),
        ("a megabyte of binary junk", binary_junk(MEGABYTE), true),
        (
            "mixed scripts",
            "Un détective à 東京 meets Москва's кот and a σκύλος in İstanbul.".into(),
            false,
        ),
        (
            "right to left",
            "\u{202b}قاتل في المدينة\u{202c} and עיר הרפאים \u{202e}reversed\u{202c}".into(),
            false,
        ),
        (
            "emoji",
            "👩\u{200d}🚀 lands on 🌕; 🇫🇷 flag, 👍🏽 skin tone, keycap 1\u{fe0f}\u{20e3}, 🦖🦖🦖"
                .into(),
            false,
        ),
        (
            "combining marks",
            format!("Z{}algo text", "\u{301}\u{302}\u{303}".repeat(200)),
            false,
        ),
    ]
}

#[test]
fn any_text_gets_every_genre_and_an_exact_truncation_flag() {
    let pipeline = common::tiny_pipeline_at_half();
    for (what, text, long) in hostile_texts() {
        let start = Instant::now();
        let results = pipeline
            .classify(&[&text])
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let took = start.elapsed();
        println!("{what} ({} bytes): {took:.1?}", text.len());
        assert!(took < LONG_TEXT_BUDGET, "{what}: {took:?}");
        let result = &results[0];
        assert_eq!(result.genres.len(), pipeline.labels.len(), "{what}");
        assert!(
            result
                .genres
                .iter()
                .all(|g| (0.0..=1.0).contains(&g.probability)),
            "{what}: {:?}",
            result.genres
        );
        assert_eq!(result.truncated, long, "{what}: truncated flag");
    }
}

#[test]
fn a_batch_mixing_every_kind_of_text_matches_one_by_one() {
    let pipeline = common::tiny_pipeline_at_half();
    let texts = hostile_texts();
    let refs: Vec<&str> = texts.iter().map(|(_, text, _)| text.as_str()).collect();
    let batch = pipeline.classify(&refs).unwrap();
    for ((what, text, _), together) in texts.iter().zip(&batch) {
        let alone = &pipeline.classify(&[text]).unwrap()[0];
        assert_eq!(together.truncated, alone.truncated, "{what}");
        for (a, b) in together.genres.iter().zip(&alone.genres) {
            assert!(
                a.genre == b.genre && (a.probability - b.probability).abs() < 1e-5,
                "{what}: {a:?} in a batch, {b:?} alone"
            );
        }
    }
}

/// Texts around the encoder's cut: words long and short, a cut landing in
/// a long word, Hangul (one syllable, several tokens), special tokens.
fn texts_near_the_cut() -> Vec<String> {
    let mut texts: Vec<String> = hostile_texts().into_iter().map(|(_, t, _)| t).collect();
    for word in [
        "a",
        "plot",
        "antidisestablishmentarianism",
        "한국어",
        "[SEP]",
    ] {
        for bytes in [1000, 4000, 4096, 4100, 5000, 40_000] {
            texts.push(repeated(&format!("{word} "), bytes));
        }
    }
    texts.push(format!("{} {}", "word ".repeat(100), "y".repeat(5000)));
    texts.push(format!("{}{}", "w ".repeat(2040), "z".repeat(200)));
    texts
}

#[test]
fn cutting_long_texts_before_tokenizing_keeps_tokens_and_flags_exact() {
    let json = common::tiny("tokenizer.json");
    let encoder = TextEncoder::from_bytes(&json, DEFAULT_MAX_LENGTH).unwrap();
    let mut whole = Tokenizer::from_bytes(&json).unwrap();
    whole.with_padding(None);
    whole
        .with_truncation(Some(TruncationParams {
            max_length: DEFAULT_MAX_LENGTH,
            ..Default::default()
        }))
        .unwrap();
    for text in texts_near_the_cut() {
        let expected = whole.encode(text.as_str(), true).unwrap();
        let batch = encoder.encode_batch(&[&text]).unwrap();
        let ids = batch.input_ids.to_vec2::<u32>().unwrap().remove(0);
        let head: String = text.chars().take(40).collect();
        assert_eq!(ids, expected.get_ids(), "tokens of {head:?}…");
        assert_eq!(
            batch.truncated[0],
            !expected.get_overflowing().is_empty(),
            "truncated flag of {head:?}…"
        );
    }
}
