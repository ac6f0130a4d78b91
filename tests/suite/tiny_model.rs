//! A tiny random DistilBERT classifier (2 layers, dim 32) built by Hugging Face
//! transformers (scripts/make_fixtures.py): logits and hidden states must
//! match, for both poolings, whichever way the tensors are named.

use crate::common;

use candle_core::{Tensor, D};
use plotgenre::model::{
    weights, Classifier, Config, DropoutRng, Mode, Pooling, Shard, Source, Tensors,
};
use plotgenre::tokenize::TextEncoder;
use rand::SeedableRng;

const TOLERANCE: f32 = 1e-5;

fn tiny_config() -> Config {
    let bytes = std::fs::read(common::fixture("tiny/config.json")).expect("tiny config");
    Config::from_json(&bytes).expect("valid config")
}

fn tiny_tensors() -> Tensors {
    let bytes = std::fs::read(common::fixture("tiny/model.safetensors")).expect("tiny weights");
    weights::from_safetensors(&bytes).expect("readable weights")
}

fn classifier(config: &Config, tensors: Tensors) -> Classifier {
    Classifier::load(&Source::dense(tensors), config).expect("tiny model loads")
}

fn inputs() -> (Tensor, Tensor, serde_json::Value) {
    let expected = common::json("tiny/expected.json");
    let ids = common::u32_matrix(&expected["input_ids"]);
    let mask = common::u32_matrix(&expected["attention_mask"]);
    (ids, mask, expected)
}

#[test]
fn first_token_logits_match_transformers() {
    let config = tiny_config();
    assert_eq!(config.pooling, Pooling::Cls);
    let (ids, mask, expected) = inputs();
    let logits = classifier(&config, tiny_tensors())
        .forward(&ids, &mask, Mode::Infer)
        .unwrap();
    let diff = common::max_abs_diff(&logits, &common::f32_matrix(&expected["logits_cls"]));
    assert!(diff <= TOLERANCE, "max abs diff {diff}");
}

#[test]
fn mean_pooled_logits_match_transformers() {
    let mut config = tiny_config();
    config.pooling = Pooling::Mean;
    let (ids, mask, expected) = inputs();
    let logits = classifier(&config, tiny_tensors())
        .forward(&ids, &mask, Mode::Infer)
        .unwrap();
    let diff = common::max_abs_diff(&logits, &common::f32_matrix(&expected["logits_mean"]));
    assert!(diff <= TOLERANCE, "max abs diff {diff}");
}

#[test]
fn hidden_states_match_transformers() {
    let config = tiny_config();
    let (ids, mask, expected) = inputs();
    let model = classifier(&config, tiny_tensors());
    let hidden = model.encoder().forward(&ids, &mask, Mode::Infer).unwrap();
    let reference = common::f32_matrix(&expected["hidden_first"]);
    let n = reference.dims2().unwrap().0;
    let first = hidden.get(0).unwrap().narrow(0, 0, n).unwrap();
    let diff = common::max_abs_diff(&first, &reference);
    assert!(diff <= TOLERANCE, "max abs diff {diff}");
}

#[test]
fn encoder_names_load_with_or_without_the_distilbert_prefix() {
    let config = tiny_config();
    let (ids, mask, _) = inputs();
    let with_prefix = classifier(&config, tiny_tensors())
        .forward(&ids, &mask, Mode::Infer)
        .unwrap();
    let bare: Tensors = tiny_tensors()
        .into_iter()
        .map(|(name, t)| {
            (
                name.strip_prefix("distilbert.")
                    .map(str::to_string)
                    .unwrap_or(name),
                t,
            )
        })
        .collect();
    assert!(bare.contains_key("embeddings.word_embeddings.weight"));
    let canonical = weights::canonicalize(bare);
    let without_prefix = classifier(&config, canonical)
        .forward(&ids, &mask, Mode::Infer)
        .unwrap();
    assert_eq!(common::max_abs_diff(&with_prefix, &without_prefix), 0.0);
}

#[test]
fn tokenizer_reproduces_the_fixture_batch() {
    let (ids, mask, expected) = inputs();
    let bytes = std::fs::read(common::fixture("tiny/tokenizer.json")).unwrap();
    let tokenizer = TextEncoder::from_bytes(&bytes, 128).unwrap();
    let texts: Vec<&str> = expected["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let batch = tokenizer.encode_batch(&texts).unwrap();
    assert_eq!(
        batch.input_ids.to_vec2::<u32>().unwrap(),
        ids.to_vec2::<u32>().unwrap()
    );
    assert_eq!(
        batch.attention_mask.to_vec2::<u32>().unwrap(),
        mask.to_vec2::<u32>().unwrap()
    );
}

#[test]
fn training_ops_equal_inference_ops_without_dropout() {
    let mut config = tiny_config();
    config.dropout = 0.0;
    config.attention_dropout = 0.0;
    config.seq_classif_dropout = 0.0;
    let (ids, mask, _) = inputs();
    let model = classifier(&config, tiny_tensors());
    let inferred = model.forward(&ids, &mask, Mode::Infer).unwrap();
    let mut rng = DropoutRng::seed_from_u64(0);
    let trained = model
        .forward(&ids, &mask, Mode::Train(&mut rng, None))
        .unwrap();
    let diff = common::max_abs_diff(&inferred, &trained);
    assert!(
        diff <= TOLERANCE,
        "differentiable LayerNorm/softmax differ from the fused ones by {diff}"
    );
}

#[test]
fn dropout_acts_only_in_training_and_follows_the_seed() {
    let config = tiny_config();
    let (ids, mask, _) = inputs();
    let model = classifier(&config, tiny_tensors());
    let infer = |m: &Classifier| m.forward(&ids, &mask, Mode::Infer).unwrap();
    let train = |seed: u64| {
        let mut rng = DropoutRng::seed_from_u64(seed);
        model
            .forward(&ids, &mask, Mode::Train(&mut rng, None))
            .unwrap()
    };
    assert_eq!(common::max_abs_diff(&infer(&model), &infer(&model)), 0.0);
    assert!(
        common::max_abs_diff(&infer(&model), &train(1)) > 1e-3,
        "dropout changed nothing"
    );
    assert_eq!(
        common::max_abs_diff(&train(7), &train(7)),
        0.0,
        "same seed, same masks"
    );
    assert!(
        common::max_abs_diff(&train(7), &train(8)) > 1e-3,
        "other seed, other masks"
    );
}

#[test]
fn padding_does_not_change_a_texts_logits() {
    let config = tiny_config();
    let (ids, mask, _) = inputs();
    let model = classifier(&config, tiny_tensors());
    let batched = model.forward(&ids, &mask, Mode::Infer).unwrap();
    let lengths: Vec<u32> = mask.sum(D::Minus1).unwrap().to_vec1().unwrap();
    for (row, &len) in lengths.iter().enumerate() {
        let one_ids = ids
            .get(row)
            .unwrap()
            .narrow(0, 0, len as usize)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let one_mask = one_ids.ones_like().unwrap();
        let alone = model.forward(&one_ids, &one_mask, Mode::Infer).unwrap();
        let diff = common::max_abs_diff(&alone, &batched.narrow(0, row, 1).unwrap());
        assert!(
            diff <= TOLERANCE,
            "text {row}: padded vs alone differ by {diff}"
        );
    }
}

#[test]
fn bad_configs_and_weights_are_refused_with_the_field() {
    let mut config = tiny_config();
    config.n_heads = 5;
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("n_heads"), "{err}");
    let err = Config::from_json(br#"{"dim": 32}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("vocab_size"), "{err}");
    let mut tensors = tiny_tensors();
    tensors.remove("distilbert.transformer.layer.1.ffn.lin2.weight");
    let err = Classifier::load(&Source::dense(tensors), &tiny_config())
        .unwrap_err()
        .to_string();
    assert!(err.contains("transformer.layer.1.ffn.lin2.weight"), "{err}");
    let err = weights::from_safetensors(b"not safetensors")
        .unwrap_err()
        .to_string();
    assert!(err.contains("safetensors"), "{err}");
}

#[test]
fn a_batch_run_in_shards_draws_the_masks_of_the_whole_batch() {
    let config = tiny_config();
    let (ids, mask, _) = inputs();
    let rows = ids.dim(0).unwrap();
    let model = classifier(&config, tiny_tensors());
    let mut whole_rng = DropoutRng::seed_from_u64(5);
    let whole = model
        .forward(&ids, &mask, Mode::Train(&mut whole_rng, None))
        .unwrap();
    let split = rows / 3;
    let parts: Vec<Tensor> = [0..split, split..rows]
        .into_iter()
        .map(|part| {
            let shard = Shard {
                rows: part.clone(),
                batch_rows: rows,
            };
            let (ids, mask) = (
                ids.narrow(0, part.start, part.len()).unwrap(),
                mask.narrow(0, part.start, part.len()).unwrap(),
            );
            let mut rng = DropoutRng::seed_from_u64(5);
            let logits = model
                .forward(&ids, &mask, Mode::Train(&mut rng, Some(&shard)))
                .unwrap();
            assert_eq!(
                rng.get_word_pos(),
                whole_rng.get_word_pos(),
                "every shard skips past the whole batch's draws"
            );
            logits
        })
        .collect();
    let sharded = Tensor::cat(&parts, 0).unwrap();
    // Smaller matrix products round differently in the last bit; other
    // masks move the logits by far more (see the seed test above).
    let diff = common::max_abs_diff(&whole, &sharded);
    assert!(
        diff <= TOLERANCE,
        "shards differ from the whole batch by {diff}"
    );
    let (ids, mask) = (
        ids.narrow(0, split, rows - split).unwrap(),
        mask.narrow(0, split, rows - split).unwrap(),
    );
    let mut rng = DropoutRng::seed_from_u64(5);
    let unskipped = model
        .forward(&ids, &mask, Mode::Train(&mut rng, None))
        .unwrap();
    assert!(
        common::max_abs_diff(&whole.narrow(0, split, rows - split).unwrap(), &unskipped) > 1e-3,
        "without the shard's offset the second shard would draw the first rows' masks"
    );
}
