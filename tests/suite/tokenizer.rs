//! WordPiece encoding against Hugging Face's pure-Python `BertTokenizer`
//! (fixtures from scripts/make_fixtures.py): ids, truncation, batch padding.

use crate::common;

use plotgenre::tokenize::{TextEncoder, DEFAULT_MAX_LENGTH};

fn minilm_tokenizer(max_length: usize) -> TextEncoder {
    let bytes = std::fs::read(common::fixture("tokenizer.json")).expect("tokenizer fixture");
    TextEncoder::from_bytes(&bytes, max_length).expect("tokenizer loads")
}

#[test]
fn ids_match_the_python_reference_on_200_real_plots() {
    let fixture = common::json("tokens.json");
    assert_eq!(fixture["max_length"], DEFAULT_MAX_LENGTH);
    let cases = fixture["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 200);
    let tokenizer = minilm_tokenizer(DEFAULT_MAX_LENGTH);
    let mut truncated = 0;
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).expect("ids");
        let batch = tokenizer.encode_batch(&[text]).expect("encodes");
        let ids: Vec<u32> = batch.input_ids.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(ids, expected, "token ids differ for {text:?}");
        if batch.truncated[0] {
            assert_eq!(
                ids.len(),
                DEFAULT_MAX_LENGTH,
                "a truncated text fills the maximum"
            );
        }
        truncated += usize::from(batch.truncated[0]);
    }
    assert!(
        truncated >= 10,
        "only {truncated} fixtures exercise truncation"
    );
}

#[test]
fn batches_pad_to_the_longest_text_with_a_zero_mask() {
    let tokenizer = minilm_tokenizer(DEFAULT_MAX_LENGTH);
    let texts = [
        "A heist goes wrong.",
        "Two sisters inherit a haunted house in the hills.",
        "War.",
    ];
    let batch = tokenizer.encode_batch(&texts).expect("encodes");
    let singles: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| {
            tokenizer
                .encode_batch(&[t])
                .unwrap()
                .input_ids
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        })
        .collect();
    let longest = singles.iter().map(Vec::len).max().unwrap();
    assert_eq!(batch.input_ids.dims2().unwrap(), (3, longest));
    let ids: Vec<Vec<u32>> = batch.input_ids.to_vec2().unwrap();
    let mask: Vec<Vec<u32>> = batch.attention_mask.to_vec2().unwrap();
    for ((row, mask), single) in ids.iter().zip(&mask).zip(&singles) {
        assert_eq!(&row[..single.len()], single.as_slice());
        assert!(
            row[single.len()..].iter().all(|&id| id == 0),
            "padding id is [PAD] = 0"
        );
        assert_eq!(mask.iter().filter(|&&m| m == 1).count(), single.len());
        assert!(mask[single.len()..].iter().all(|&m| m == 0));
    }
    assert_eq!(
        batch.lengths,
        singles.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

#[test]
fn max_length_is_configurable() {
    let tokenizer = minilm_tokenizer(16);
    let text = "word ".repeat(100);
    let batch = tokenizer.encode_batch(&[&text]).expect("encodes");
    let ids: Vec<u32> = batch.input_ids.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(ids.len(), 16);
    assert_eq!(
        (ids[0], ids[15]),
        (101, 102),
        "[CLS] ... [SEP] survive truncation"
    );
    assert!(batch.truncated[0]);
    assert!(
        TextEncoder::from_bytes(b"{}", 16).is_err(),
        "a non-tokenizer is refused"
    );
    let bytes = std::fs::read(common::fixture("tokenizer.json")).unwrap();
    assert!(
        TextEncoder::from_bytes(&bytes, 1).is_err(),
        "no room for special tokens"
    );
}
