//! Tokenize and classify untrusted text on the tiny model. The input, decoded
//! lossily as UTF-8, is split at U+001E into a batch of texts. Each text's
//! tokens and truncation flag must equal those of the `tokenizers` crate
//! encoding the whole text (the encoder cuts long texts before tokenizing),
//! and classifying must give every genre a probability in [0, 1]. The
//! maximum length is 16 tokens so that short inputs already get cut.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use plotgenre::bundle::Bundle;
use plotgenre::pipeline::Pipeline;
use plotgenre::tokenize::TextEncoder;
use tokenizers::{Tokenizer, TruncationParams};

const MAX_LENGTH: usize = 16;

struct Model {
    pipeline: Pipeline,
    /// The same vocabulary, used directly on whole texts.
    reference: Tokenizer,
}

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let json = std::fs::read(plotgenre_fuzz::tiny_dir().join("tokenizer.json"))
            .expect("the tiny tokenizer");
        let mut pipeline = Bundle::from_bytes(plotgenre_fuzz::tiny_bundle())
            .and_then(|bundle| bundle.pipeline())
            .expect("the tiny bundle loads");
        pipeline.tokenizer = TextEncoder::from_bytes(&json, MAX_LENGTH).expect("tokenizer");
        let mut reference = Tokenizer::from_bytes(&json).expect("tokenizer");
        reference.with_padding(None);
        reference
            .with_truncation(Some(TruncationParams {
                max_length: MAX_LENGTH,
                ..Default::default()
            }))
            .expect("truncation");
        Model {
            pipeline,
            reference,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let model = model();
    let input = String::from_utf8_lossy(data);
    let texts: Vec<&str> = input.split('\u{1e}').collect();
    let batch = model
        .pipeline
        .tokenizer
        .encode_batch(&texts)
        .expect("any text encodes");
    let ids = batch.input_ids.to_vec2::<u32>().expect("ids");
    for ((text, row), truncated) in texts.iter().zip(&ids).zip(&batch.truncated) {
        let whole = model
            .reference
            .encode(*text, true)
            .expect("reference encodes");
        assert_eq!(
            &row[..whole.get_ids().len()],
            whole.get_ids(),
            "tokens of {text:?}"
        );
        assert_eq!(
            *truncated,
            !whole.get_overflowing().is_empty(),
            "truncated flag of {text:?}"
        );
    }
    let results = model
        .pipeline
        .classify(&texts)
        .expect("any text classifies");
    assert_eq!(results.len(), texts.len());
    for result in &results {
        assert!(result
            .genres
            .iter()
            .all(|g| (0.0..=1.0).contains(&g.probability)));
    }
});
