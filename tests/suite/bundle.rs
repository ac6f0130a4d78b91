//! The bundle format: a round trip keeps every field and the model's
//! outputs, quantized models stay close to f32, and every damaged or foreign
//! file is refused with an error that says what is wrong.

use crate::common;

use plotgenre::bundle::{Bundle, Manifest, Provenance, FORMAT_VERSION, HEADER_LEN};
use plotgenre::labels::{CapOrder, Rule, Task, Thresholds};
use plotgenre::model::{weights, Config};
use plotgenre::pipeline::Pipeline;
use plotgenre::tokenize::DEFAULT_MAX_LENGTH;
use plotgenre::train::convert::export::{keep_reachable_positions, quantize, Quantization};
use plotgenre::Error;

const TEXTS: [&str; 4] = [
    "A retired hitman is pulled back into the underworld when gangsters kill his dog.",
    "Two strangers fall in love on a night train to Vienna.",
    "",
    "A haunted house, a family, and the thing in the basement that will not stay dead.",
];

fn manifest(config: &Config) -> Manifest {
    let labels = config.labels().unwrap();
    Manifest {
        task: Task::MultiLabel,
        thresholds: Thresholds {
            rule: Rule::GlobalTop1,
            temperature: 1.5,
            global: 0.45,
            per_label: (0..labels.len()).map(|i| 0.3 + 0.1 * i as f32).collect(),
            max_genres: None,
            cap_order: CapOrder::Probability,
            own_threshold_labels: Vec::new(),
        },
        labels,
        max_length: DEFAULT_MAX_LENGTH,
        quantization: "q8_0".into(),
        provenance: Provenance {
            base_model: "tiny".into(),
            training_data: "none".into(),
            created: "2026-11-23T00:00:00Z".into(),
            metrics: serde_json::json!({"micro_f1": 0.5}),
            decisions: serde_json::Value::Null,
        },
    }
}

/// The tiny fixture model as bundle bytes, stored as `quant` says.
fn tiny_bundle(quant: &str) -> Vec<u8> {
    tiny_bundle_cut_to(quant, DEFAULT_MAX_LENGTH, false)
}

/// The tiny fixture model as bundle bytes for inputs of `max_length`
/// tokens, its position table cut to the rows they reach when `cut`.
fn tiny_bundle_cut_to(quant: &str, max_length: usize, cut: bool) -> Vec<u8> {
    let mut config = Config::from_json(&common::tiny("config.json")).unwrap();
    let mut tensors = weights::from_safetensors(&common::tiny("model.safetensors")).unwrap();
    let mut manifest = manifest(&config);
    manifest.max_length = max_length;
    if cut {
        keep_reachable_positions(&mut tensors, &mut config, max_length).unwrap();
    }
    let quantized = quantize(&tensors, quant.parse::<Quantization>().unwrap()).unwrap();
    let tokenizer = String::from_utf8(common::tiny("tokenizer.json")).unwrap();
    Bundle::to_bytes(&manifest, &config, &tokenizer, &quantized.tensors).unwrap()
}

/// The same model at f32, straight from the fixture.
fn tiny_pipeline() -> Pipeline {
    let config = Config::from_json(&common::tiny("config.json")).unwrap();
    common::tiny_pipeline(manifest(&config).thresholds)
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn round_trip_keeps_every_field_and_the_f32_outputs() {
    let bytes = tiny_bundle("f32");
    let bundle = Bundle::from_bytes(&bytes).unwrap();
    let config = Config::from_json(&common::tiny("config.json")).unwrap();
    assert_eq!(bundle.manifest, manifest(&config));
    assert_eq!(bundle.config, config);
    assert_eq!(
        bundle.tokenizer_json.as_bytes(),
        common::tiny("tokenizer.json")
    );
    assert_eq!(bundle.size, bytes.len());

    let from_bundle = bundle.pipeline().unwrap().probabilities(&TEXTS).unwrap();
    let reference = tiny_pipeline().probabilities(&TEXTS).unwrap();
    assert_eq!(from_bundle.len(), TEXTS.len());
    let diff = max_diff(&from_bundle, &reference);
    assert!(diff <= 1e-6, "f32 bundle differs from the model by {diff}");
}

#[test]
fn quantized_bundles_stay_close_to_f32_and_shrink() {
    let reference = tiny_pipeline().probabilities(&TEXTS).unwrap();
    let f32_size = tiny_bundle("f32").len();
    // q8_0's weights err about as much as the integer products' 7-bit
    // activations (kernels/int8.rs), which double its difference: 4.8e-3
    // with 15-bit activations, 1.1e-2 with 7.
    for (quant, tolerance) in [
        ("f16", 1e-3),
        ("q8_0", 0.02),
        ("q4_0", 0.12),
        ("q8_0/q4k", 0.12),
    ] {
        let bytes = tiny_bundle(quant);
        let probabilities = Bundle::from_bytes(&bytes)
            .unwrap()
            .pipeline()
            .unwrap()
            .probabilities(&TEXTS)
            .unwrap();
        let diff = max_diff(&probabilities, &reference);
        println!(
            "{quant}: {} bytes (f32 {f32_size}), max probability diff {diff:.2e}",
            bytes.len()
        );
        assert!(
            diff > 0.0,
            "{quant}: identical to f32, so nothing was quantized"
        );
        assert!(diff <= tolerance, "{quant}: probabilities differ by {diff}");
        assert!(bytes.len() < f32_size, "{quant} is not smaller than f32");
    }
}

#[test]
fn a_bundle_keeps_only_the_position_rows_its_max_length_reaches() {
    let max_length = 16;
    let full = tiny_bundle_cut_to("f32", max_length, false);
    let cut = tiny_bundle_cut_to("f32", max_length, true);
    let bundle = Bundle::from_bytes(&cut).unwrap();
    assert_eq!(bundle.config.max_position_embeddings, max_length);
    let rows = Bundle::from_bytes(&full)
        .unwrap()
        .config
        .max_position_embeddings;
    let dropped = (rows - max_length) * bundle.config.dim * 4;
    assert!(
        full.len() - cut.len() >= dropped,
        "{} bytes saved, {dropped} rows' worth expected",
        full.len() - cut.len()
    );
    let probabilities = |bytes: &[u8]| {
        Bundle::from_bytes(bytes)
            .unwrap()
            .pipeline()
            .unwrap()
            .probabilities(&TEXTS)
            .unwrap()
    };
    assert_eq!(probabilities(&cut), probabilities(&full), "outputs change");
}

#[test]
fn classification_is_sorted_and_follows_the_rule() {
    let pipeline = Bundle::from_bytes(&tiny_bundle("q8_0"))
        .unwrap()
        .pipeline()
        .unwrap();
    for result in pipeline.classify(&TEXTS).unwrap() {
        let probabilities: Vec<f32> = result.genres.iter().map(|g| g.probability).collect();
        assert!(probabilities.windows(2).all(|w| w[0] >= w[1]), "not sorted");
        assert!(
            result.genres[0].predicted,
            "global_top1 always picks the top genre"
        );
        for genre in &result.genres[1..] {
            assert_eq!(genre.predicted, genre.probability >= 0.45, "{genre:?}");
        }
        assert!(!result.truncated);
    }
    let long = "word ".repeat(500);
    assert!(pipeline.classify(&[&long]).unwrap()[0].truncated);
}

/// The message of a refused bundle, the same from `from_bytes` and from
/// `open` (which hashes while it parses); panics if it loads.
fn refusal(bytes: &[u8]) -> String {
    let message = |loaded: Result<(), Error>| match loaded {
        Ok(()) => panic!("a damaged bundle loaded"),
        Err(Error::Bundle(message)) => message,
        Err(other) => panic!("expected a bundle error, got {other}"),
    };
    let checked = message(Bundle::from_bytes(bytes).map(|_| ()));
    let opened = message(Bundle::open(bytes.to_vec()).map(|_| ()));
    assert_eq!(opened, checked, "open and from_bytes refuse alike");
    checked
}

#[test]
fn a_payload_hash_the_caller_checked_is_not_checked_again() {
    let mut wrong_hash = tiny_bundle("q8_0");
    wrong_hash[HEADER_LEN - 1] ^= 0x01;
    assert!(
        in_pieces(&wrong_hash).is_ok(),
        "the caller checked the hash"
    );
    assert!(refusal(&wrong_hash).contains("sha256 mismatch"));
}

#[test]
fn open_builds_the_classifier_from_bytes_does() {
    let bytes = tiny_bundle("q8_0");
    let (bundle, opened) = Bundle::open(bytes.clone()).unwrap();
    let checked = Bundle::from_bytes(&bytes).unwrap();
    assert_eq!(bundle.manifest, checked.manifest);
    let expected = checked.pipeline().unwrap().probabilities(&TEXTS).unwrap();
    assert_eq!(opened.probabilities(&TEXTS).unwrap(), expected);
}

/// A bundle read piece by piece, as the page's module reads its caller-checked copy.
fn in_pieces(bytes: &[u8]) -> Result<Bundle, Error> {
    Bundle::read_checked_in_pieces(bytes.len(), |range| bytes[range].to_vec())
}

#[test]
fn reading_in_pieces_builds_the_classifier_from_bytes_does() {
    let bytes = tiny_bundle("q4_0");
    let (bundle, pipeline) = in_pieces(&bytes).unwrap().build().unwrap();
    let checked = Bundle::from_bytes(&bytes).unwrap();
    assert_eq!(bundle.manifest, checked.manifest);
    assert!(
        bundle.tensors.is_empty(),
        "the tensors moved into the pipeline"
    );
    let expected = checked.pipeline().unwrap().probabilities(&TEXTS).unwrap();
    assert_eq!(pipeline.probabilities(&TEXTS).unwrap(), expected);
}

#[test]
fn reading_in_pieces_refuses_damaged_files_as_from_bytes_does() {
    let good = tiny_bundle("q8_0");
    for damaged in [
        good[..good.len() - 1].to_vec(),
        good[..HEADER_LEN + 40].to_vec(),
        b"PK\x03\x04".to_vec(),
    ] {
        let Err(Error::Bundle(pieces)) = in_pieces(&damaged) else {
            panic!("a damaged bundle was read in pieces");
        };
        assert_eq!(pieces, refusal(&damaged));
    }
}

#[test]
fn damaged_and_foreign_files_are_refused_with_the_reason() {
    let good = tiny_bundle("q8_0");

    assert!(refusal(&[]).contains("empty"));
    assert!(refusal(b"PK\x03\x04 a zip file").contains("not a plotgenre bundle"));
    assert!(refusal(&good[..20]).contains("truncated"));
    for cut in [HEADER_LEN, HEADER_LEN + 1, good.len() / 2, good.len() - 1] {
        assert!(refusal(&good[..cut]).contains("truncated"), "cut at {cut}");
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(refusal(&trailing).contains("trailing"));

    for at in [HEADER_LEN, HEADER_LEN + 100, good.len() / 2, good.len() - 1] {
        let mut flipped = good.clone();
        flipped[at] ^= 0x01;
        assert!(
            refusal(&flipped).contains("sha256 mismatch"),
            "flip at {at}"
        );
    }

    let mut newer = good.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let message = refusal(&newer);
    assert!(message.contains("format version 2"), "{message}");
}

#[test]
fn a_payload_that_passes_the_hash_but_is_not_a_model_is_refused() {
    use sha2::{Digest, Sha256};
    let payload = b"GGUF but not really".to_vec();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"PLOTGNRE");
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&Sha256::digest(&payload));
    bytes.extend_from_slice(&payload);
    assert!(refusal(&bytes).contains("unreadable payload"));
}
