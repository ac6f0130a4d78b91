//! Bundles built to attack the loader: a valid header and sha256 around a
//! GGUF payload that declares sizes the file cannot hold or values that
//! panic candle's reader (an alignment of 0, dimensions whose product
//! overflows); a tokenizer.json that panics the tokenizers crate; a maximum
//! length beyond the model's positions; an own threshold for a genre the
//! model lacks. Each is refused with its reason, without a panic and
//! without allocating what a header field asks for.
//! Crashes the fuzz targets find (`make fuzz`) become cases here.

use crate::common;

use plotgenre::bundle::{seal, Bundle};
use plotgenre::labels::{Rule, Thresholds};
use plotgenre::tokenize::{TextEncoder, DEFAULT_MAX_LENGTH};
use plotgenre::train::convert::export;

/// GGUF value type ids.
const U8: u32 = 0;
const U32: u32 = 4;
const BOOL: u32 = 7;
const STRING: u32 = 8;
const ARRAY: u32 = 9;
/// GGUF tensor type id of f32.
const F32: u32 = 0;

/// A GGUF v2 payload, written field by field.
struct Gguf(Vec<u8>);

impl Gguf {
    fn new(tensors: u64, entries: u64) -> Self {
        Gguf(b"GGUF".to_vec()).u32(2).u64(tensors).u64(entries)
    }

    fn u32(mut self, value: u32) -> Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    fn u64(mut self, value: u64) -> Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    fn bytes(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }

    fn string(self, text: &str) -> Self {
        self.u64(text.len() as u64).bytes(text.as_bytes())
    }

    /// Zeros up to `len` bytes in all (tensor data, padding).
    fn padded_to(mut self, len: usize) -> Self {
        self.0.resize(len.max(self.0.len()), 0);
        self
    }
}

/// Why the bundle around `payload` is refused.
fn refusal(payload: Gguf) -> String {
    match Bundle::from_bytes(&seal(&payload.0)) {
        Ok(_) => panic!("a hostile payload was accepted"),
        Err(error) => error.to_string(),
    }
}

/// `depth` arrays, each the one element of the one before, around an empty u8 array.
fn nested_arrays(depth: usize) -> Gguf {
    let mut gguf = Gguf::new(0, 1).string("nested").u32(ARRAY);
    for _ in 0..depth {
        gguf = gguf.u32(ARRAY).u64(1);
    }
    gguf.u32(U8).u64(0)
}

#[test]
fn gguf_sizes_that_do_not_fit_the_payload_are_refused_with_their_reason() {
    let cases = [
        (
            "general.alignment of 0 (candle divides by it)",
            Gguf::new(0, 1).string("general.alignment").u32(U32).u32(0),
            "general.alignment 0 is not a power of two",
        ),
        (
            "tensor dimensions whose product overflows",
            Gguf::new(1, 0)
                .string("t")
                .u32(3)
                .u64(1 << 32)
                .u64(1 << 32)
                .u64(1 << 32)
                .u32(F32)
                .u64(0)
                .padded_to(256),
            "has a dimension of 4294967296",
        ),
        (
            "a 4 MB tensor in a small payload",
            Gguf::new(1, 0)
                .string("t")
                .u32(2)
                .u64(1024)
                .u64(1024)
                .u32(F32)
                .u64(0)
                .padded_to(256),
            "a tensor of 4194304 bytes at offset 0 lies beyond the 256-byte payload",
        ),
        (
            "a tensor offset past the end",
            Gguf::new(1, 0)
                .string("t")
                .u32(1)
                .u64(8)
                .u32(F32)
                .u64(u64::MAX)
                .padded_to(256),
            "lies beyond the 256-byte payload",
        ),
        (
            "more tensors than any model has",
            Gguf::new(u64::MAX, 0),
            "18446744073709551615 tensors, more than the 4096 allowed",
        ),
        (
            "a string longer than the payload",
            Gguf::new(0, 1).u64(1 << 40),
            "1099511627776 bytes needed",
        ),
        (
            "an array of 100,000 bytes (32 bytes each once parsed)",
            Gguf::new(0, 1)
                .string("big")
                .u32(ARRAY)
                .u32(U8)
                .u64(100_000)
                .padded_to(100_100),
            "more than 65536 array elements",
        ),
        (
            "arrays nested nine deep",
            nested_arrays(9),
            "arrays nested deeper than 8",
        ),
        (
            "a boolean of value 2",
            Gguf::new(0, 1).string("flag").u32(BOOL).bytes(&[2]),
            "boolean of value 2",
        ),
        (
            "a tensor of an unknown type",
            Gguf::new(1, 0)
                .string("t")
                .u32(1)
                .u64(32)
                .u32(99)
                .u64(0)
                .padded_to(256),
            "has type 99",
        ),
        (
            "a five-dimensional tensor",
            Gguf::new(1, 0).string("t").u32(5).padded_to(256),
            "has 5 dimensions",
        ),
        (
            "a metadata value of an unknown type",
            Gguf::new(0, 1).string("k").u32(13),
            "metadata value of unknown type 13",
        ),
    ];
    for (case, payload, reason) in cases {
        let message = refusal(payload);
        assert!(
            message.starts_with("invalid bundle: unreadable payload: ") && message.contains(reason),
            "{case}: {message}"
        );
    }
}

#[test]
fn a_payload_within_every_bound_reaches_the_bundle_checks() {
    let payload = Gguf::new(0, 1)
        .string("general.alignment")
        .u32(U32)
        .u32(64)
        .string("plotgenre.manifest")
        .u32(STRING)
        .string("{}");
    let message = refusal(payload);
    assert!(
        message.contains("`plotgenre.manifest`"),
        "the walk let a sound payload through to the manifest: {message}"
    );
}

#[test]
fn a_tokenizer_json_that_panics_the_tokenizers_crate_is_refused() {
    // Found by the bundle fuzz target: a NUL byte in the tokenizer's
    // `decoder` made `Tokenizer::from_bytes` panic (an `expect` on a JSON
    // error; a lone surrogate or a bad escape does the same), and a template
    // naming an undefined special token made encoding panic.
    let json = String::from_utf8(common::tiny("tokenizer.json")).unwrap();
    let prefix = r###""prefix":"##""###;
    let cases = [
        (prefix, "\"prefix\":\"#\0#\"", "control character"),
        (prefix, r#""prefix":"\ud800""#, "hex escape"),
        (prefix, r#""prefix":"\x""#, "invalid escape"),
        (
            r#"{"SpecialToken":{"id":"[SEP]","type_id":0}}"#,
            r#"{"SpecialToken":{"id":"[END]","type_id":0}}"#,
            r#"the template names "[END]", which is not defined"#,
        ),
        (
            r#""tokens":["[CLS]"]"#,
            r#""tokens":["[CLS]","[CLS]"]"#,
            r#"special token "[CLS]": not one id per token"#,
        ),
    ];
    for (from, to, reason) in cases {
        assert!(json.contains(from), "the fixture has no {from}");
        let broken = json.replacen(from, to, 1);
        let error = TextEncoder::from_bytes(broken.as_bytes(), DEFAULT_MAX_LENGTH).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("tokenizer: not a valid tokenizer.json: ")
                && message.contains(reason),
            "{to}: {message}"
        );
    }
}

#[test]
fn a_maximum_length_beyond_the_model_positions_is_refused() {
    let labels = ["Action", "Comedy"].map(String::from);
    let thresholds = Thresholds::untuned(Rule::GlobalTop1, labels.len());
    let quantization = "q8_0".parse().unwrap();
    let bytes =
        export::untrained_bundle(&common::fixture("tiny"), &labels, quantization, thresholds)
            .unwrap();
    let mut bundle = Bundle::from_bytes(&bytes).unwrap();
    let tensors = bundle.take_tensors().unwrap();
    let mut manifest = bundle.manifest;
    manifest.max_length = 100_000;
    let hostile =
        Bundle::to_bytes(&manifest, &bundle.config, &bundle.tokenizer_json, &tensors).unwrap();
    let error = Bundle::from_bytes(&hostile)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("a maximum length of 100000 tokens, but the model has 128 positions"),
        "{error}"
    );
}

#[test]
fn an_own_threshold_for_a_genre_the_model_lacks_is_refused() {
    let labels = ["Action", "Comedy"].map(String::from);
    let thresholds = Thresholds::untuned(Rule::GlobalTop1, labels.len()).with_own_threshold(5);
    let quantization = "q8_0".parse().unwrap();
    let bytes =
        export::untrained_bundle(&common::fixture("tiny"), &labels, quantization, thresholds)
            .unwrap();
    let error = Bundle::from_bytes(&bytes)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("an own threshold for genre 5, of 2 genres; export the bundle again"),
        "{error}"
    );
}
