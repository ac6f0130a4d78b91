//! The forward pass is trainable end to end: one optimizer step on the tiny
//! model changes every parameter tensor of every layer, so gradients reach
//! the embeddings at the bottom.

use crate::common;

use candle_core::Tensor;
use candle_nn::{loss, Optimizer, SGD};
use plotgenre::model::{Classifier, DropoutRng, Mode};
use rand::SeedableRng;

#[test]
fn one_step_changes_every_parameter_tensor() {
    let (config, tensors) = common::tiny_model();
    let expected_count = tensors.len();
    let trainable = Classifier::trainable(&config, tensors, |_| false).unwrap();

    let expected = common::json("tiny/expected.json");
    let ids = common::u32_matrix(&expected["input_ids"]);
    let mask = common::u32_matrix(&expected["attention_mask"]);
    let targets = Tensor::new(&[0u32, 1, 2, 3, 4, 0, 1, 2, 3], ids.device()).unwrap();

    let vars: Vec<candle_core::Var> = trainable.vars.iter().map(|(_, v)| v.clone()).collect();
    let names: Vec<&String> = trainable.vars.iter().map(|(n, _)| n).collect();
    let before: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().copy().unwrap()).collect();
    let mut rng = DropoutRng::seed_from_u64(0);
    let logits = trainable
        .model
        .forward(&ids, &mask, Mode::Train(&mut rng, None))
        .unwrap();
    let loss = loss::cross_entropy(&logits, &targets).unwrap();
    let mut sgd = SGD::new(vars.clone(), 0.1).unwrap();
    sgd.backward_step(&loss).unwrap();

    assert_eq!(
        vars.len(),
        expected_count,
        "every checkpoint tensor is a variable"
    );
    let unchanged: Vec<&String> = vars
        .iter()
        .zip(&before)
        .zip(&names)
        .filter(|((var, old), _)| common::max_abs_diff(var.as_tensor(), old) == 0.0)
        .map(|(_, name)| *name)
        .collect();
    assert!(unchanged.is_empty(), "no gradient reached: {unchanged:?}");
    assert!(names
        .iter()
        .any(|n| *n == "distilbert.embeddings.word_embeddings.weight"));
}
