//! The imported base model (all-MiniLM-L6-v2 converted to DistilBERT by
//! `make base`) against the original BERT run by Hugging Face transformers on
//! 20 real plots (fixtures from scripts/make_fixtures.py).

use crate::common;

use candle_core::{DType, Device, IndexOp};
use plotgenre::model::{self, Mode};
use plotgenre::tokenize::{TextEncoder, DEFAULT_MAX_LENGTH};

const TOLERANCE: f32 = 1e-4;

#[test]
fn imported_minilm_matches_the_original_bert() {
    let base = common::root().join("models/base");
    if !common::available(&base.join("model.safetensors"), "run `make base`") {
        return;
    }
    let read =
        |name: &str| std::fs::read(base.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (config, encoder) =
        model::load_encoder(&read("config.json"), &read("model.safetensors")).unwrap();
    assert_eq!(
        (
            config.dim,
            config.n_layers,
            config.n_heads,
            config.hidden_dim
        ),
        (384, 6, 12, 1536)
    );
    assert_eq!(
        config.pooling,
        model::Pooling::Mean,
        "MiniLM was trained with mean pooling"
    );

    let fixture =
        candle_core::safetensors::load(common::fixture("minilm_hidden.safetensors"), &Device::Cpu)
            .unwrap();
    let ids = fixture["input_ids"].to_dtype(DType::U32).unwrap();
    let mask = fixture["attention_mask"].to_dtype(DType::U32).unwrap();
    let reference = &fixture["hidden"];

    let texts_json = common::json("minilm_hidden.json");
    let texts: Vec<&str> = texts_json["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 20);
    let tokenizer = TextEncoder::from_bytes(&read("tokenizer.json"), DEFAULT_MAX_LENGTH).unwrap();
    let batch = tokenizer.encode_batch(&texts).unwrap();
    assert_eq!(
        batch.input_ids.to_vec2::<u32>().unwrap(),
        ids.to_vec2::<u32>().unwrap(),
        "token ids"
    );

    let hidden = encoder.forward(&ids, &mask, Mode::Infer).unwrap();
    let lengths: Vec<u32> = mask.sum(1).unwrap().to_vec1().unwrap();
    let real_rows: Vec<_> = lengths
        .iter()
        .enumerate()
        .map(|(i, &n)| hidden.i((i, 0..n as usize)).unwrap())
        .collect();
    let actual = candle_core::Tensor::cat(&real_rows, 0).unwrap();
    let diff = common::max_abs_diff(&actual, reference);
    println!(
        "MiniLM parity: max abs diff {diff:.2e} over {} tokens",
        actual.dims2().unwrap().0
    );
    assert!(diff <= TOLERANCE, "max abs diff {diff}");
}
