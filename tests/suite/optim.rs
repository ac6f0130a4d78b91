//! The fused AdamW agrees with candle-nn's reference AdamW (the textbook
//! update, ten tensor ops per weight) step for step; weight decay skips
//! biases and LayerNorm weights; layer-wise learning rates scale each
//! weight's rate; the schedule and clipping follow PyTorch; the word
//! embeddings train from the rows a batch reads exactly as from candle's
//! dense gradient.

use crate::common;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW as ReferenceAdamW, Optimizer, ParamsAdamW};
use plotgenre::model::{weights, Classifier, Mode};
use plotgenre::train::fit::freeze;
use plotgenre::train::fit::optim::{self, AdamW, AdamWConfig, Gradients, Schedule, SparseLookup};

fn vars() -> Vec<(String, Var)> {
    let values = |n: usize, seed: f32| -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.37).sin()).collect()
    };
    vec![
        (
            "layer.weight".to_string(),
            Var::from_vec(values(12, 1.0), (3, 4), &Device::Cpu).unwrap(),
        ),
        (
            "layer.bias".to_string(),
            Var::from_vec(values(3, 2.0), 3, &Device::Cpu).unwrap(),
        ),
    ]
}

/// A loss with a gradient that changes from step to step.
fn loss_grads(vars: &[(String, Var)]) -> GradStore {
    let x = Tensor::new(
        &[[0.5f32, -1.0, 2.0, 0.25], [1.5, 0.5, -0.5, 1.0]],
        &Device::Cpu,
    )
    .unwrap();
    let (_, w) = &vars[0];
    let (_, b) = &vars[1];
    let out = x
        .matmul(&w.as_tensor().t().unwrap())
        .unwrap()
        .broadcast_add(b.as_tensor())
        .unwrap();
    out.sqr().unwrap().sum_all().unwrap().backward().unwrap()
}

#[test]
fn matches_candle_nn_adamw_without_weight_decay() {
    let ours = vars();
    let reference = vars();
    let mut optimizer = AdamW::new(
        &ours,
        AdamWConfig {
            weight_decay: 0.0,
            ..AdamWConfig::default()
        },
    );
    let params = ParamsAdamW {
        lr: 0.05,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };
    let mut candle =
        ReferenceAdamW::new(reference.iter().map(|(_, v)| v.clone()).collect(), params).unwrap();
    for _ in 0..5 {
        optimizer
            .step(&loss_grads(&ours).into(), 0.05, 1.0)
            .unwrap();
        candle.step(&loss_grads(&reference)).unwrap();
    }
    for ((name, a), (_, b)) in ours.iter().zip(&reference) {
        let diff = common::max_abs_diff(a.as_tensor(), b.as_tensor());
        assert!(diff < 1e-5, "{name} differs by {diff}");
    }
    assert_eq!(optimizer.steps(), 5);
}

#[test]
fn weight_decay_spares_biases_and_layer_norms() {
    assert!(optim::takes_weight_decay(
        "distilbert.transformer.layer.0.ffn.lin1.weight"
    ));
    assert!(!optim::takes_weight_decay(
        "distilbert.transformer.layer.0.ffn.lin1.bias"
    ));
    assert!(!optim::takes_weight_decay(
        "distilbert.embeddings.LayerNorm.weight"
    ));
    assert!(!optim::takes_weight_decay(
        "distilbert.transformer.layer.3.sa_layer_norm.weight"
    ));
    // With a zero gradient, only decay moves a weight: by exactly lr * decay.
    let vars = vars();
    let before: Vec<Vec<f32>> = vars
        .iter()
        .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
        .collect();
    let mut optimizer = AdamW::new(
        &vars,
        AdamWConfig {
            weight_decay: 0.5,
            ..AdamWConfig::default()
        },
    );
    let mut grads = loss_grads(&vars);
    for (_, var) in &vars {
        grads.insert(var.as_tensor(), var.as_tensor().zeros_like().unwrap());
    }
    optimizer.step(&grads.into(), 0.1, 1.0).unwrap();
    let after: Vec<Vec<f32>> = vars
        .iter()
        .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
        .collect();
    for (b, a) in before[0].iter().zip(&after[0]) {
        assert!(
            (a - b * 0.95).abs() < 1e-6,
            "weight decayed from {b} to {a}"
        );
    }
    assert_eq!(before[1], after[1], "biases take no decay");
}

#[test]
fn a_learning_rate_scale_trains_a_weight_as_a_lower_rate_would() {
    let scaled = vars();
    let reference = vars();
    let config = AdamWConfig {
        weight_decay: 0.1,
        ..AdamWConfig::default()
    };
    let mut optimizer =
        AdamW::new(&scaled, config)
            .with_lr_scale(|name| if name == "layer.bias" { 0.25 } else { 1.0 });
    let mut weights_at_full_rate = AdamW::new(&reference[..1], config);
    let mut biases_at_a_quarter = AdamW::new(&reference[1..], config);
    for _ in 0..5 {
        optimizer
            .step(&loss_grads(&scaled).into(), 0.05, 1.0)
            .unwrap();
        let grads = loss_grads(&reference).into();
        weights_at_full_rate.step(&grads, 0.05, 1.0).unwrap();
        biases_at_a_quarter.step(&grads, 0.0125, 1.0).unwrap();
    }
    for ((name, a), (_, b)) in scaled.iter().zip(&reference) {
        let diff = common::max_abs_diff(a.as_tensor(), b.as_tensor());
        assert!(diff < 1e-7, "{name} differs by {diff}");
    }
    let moved = common::max_abs_diff(scaled[1].1.as_tensor(), vars()[1].1.as_tensor());
    assert!(moved > 1e-3, "the scaled bias still trains ({moved})");
}

#[test]
fn layer_wise_decay_lowers_the_rate_one_factor_per_layer_below_the_top() {
    let scale = |name: &str| freeze::layer_lr_scale(name, 0.5, 6);
    assert_eq!(scale("pre_classifier.weight"), 1.0);
    assert_eq!(scale("distilbert.transformer.layer.5.ffn.lin1.weight"), 1.0);
    assert_eq!(
        scale("distilbert.transformer.layer.4.attention.q_lin.bias"),
        0.5
    );
    assert_eq!(
        scale("distilbert.transformer.layer.0.output_layer_norm.weight"),
        0.5f64.powi(5)
    );
    assert_eq!(
        scale("distilbert.embeddings.word_embeddings.weight"),
        0.5f64.powi(6)
    );
    assert_eq!(
        freeze::layer_lr_scale("distilbert.embeddings.LayerNorm.bias", 1.0, 6),
        1.0
    );
}

#[test]
fn schedule_warms_up_then_decays_linearly_to_zero() {
    let schedule = Schedule {
        peak_lr: 1.0,
        warmup_steps: 10,
        total_steps: 110,
    };
    assert_eq!(schedule.lr(0), 0.0);
    assert_eq!(schedule.lr(5), 0.5);
    assert_eq!(schedule.lr(10), 1.0);
    assert_eq!(schedule.lr(60), 0.5);
    assert_eq!(schedule.lr(110), 0.0);
}

#[test]
fn clipping_scales_only_norms_above_the_limit() {
    assert_eq!(optim::clip_factor(0.5, 1.0), 1.0);
    assert!((optim::clip_factor(4.0, 1.0) - 0.25).abs() < 1e-6);
}

/// Two copies of the tiny model take three AdamW steps, each on two batches
/// accumulated: one reads the word embeddings as the model does (candle's
/// dense table-sized gradient), the other through a `SparseLookup` (the
/// gradient of the rows read, which is what training uses). Norms and
/// weights must agree to the bit, repeated tokens (padding, [CLS]) included.
#[test]
fn a_sparse_lookup_trains_the_word_embeddings_exactly_as_the_dense_gradient() {
    let (config, tensors) = common::tiny_model();
    let expected = common::json("tiny/expected.json");
    let ids = common::u32_matrix(&expected["input_ids"]);
    let mask = common::u32_matrix(&expected["attention_mask"]);
    let rows = ids.dim(0).unwrap();
    let half = rows / 2;
    let batches = [(0, half), (half, rows - half)];
    let targets = Tensor::new(&[0u32, 1, 2, 3, 4, 0, 1, 2, 3], ids.device()).unwrap();

    let train = |sparse: bool| {
        let trainable = Classifier::trainable(&config, tensors.clone(), |_| false).unwrap();
        let table = trainable
            .vars
            .iter()
            .find(|(name, _)| name == weights::WORD_EMBEDDINGS)
            .map(|(_, var)| var.clone())
            .unwrap();
        let mut optimizer = AdamW::new(&trainable.vars, AdamWConfig::default());
        let mut norms = Vec::new();
        for _ in 0..3 {
            let mut summed: Option<Gradients> = None;
            for &(start, len) in &batches {
                let (ids, mask) = (
                    ids.narrow(0, start, len).unwrap(),
                    mask.narrow(0, start, len).unwrap(),
                );
                let lookup = SparseLookup::new(&table, &ids).unwrap();
                let logits = if sparse {
                    trainable
                        .model
                        .forward_words(lookup.vectors(), &ids, &mask, Mode::Infer)
                } else {
                    trainable.model.forward(&ids, &mask, Mode::Infer)
                }
                .unwrap();
                let loss = candle_nn::loss::cross_entropy(
                    &logits,
                    &targets.narrow(0, start, len).unwrap(),
                )
                .unwrap();
                let grads = loss.backward().unwrap();
                let rows = lookup.gradient(&grads).unwrap();
                assert_eq!(
                    rows.is_some(),
                    sparse,
                    "rows are read from the lookup only when it is used"
                );
                let grads = Gradients::new(grads, rows.into_iter().collect());
                match &mut summed {
                    None => summed = Some(grads),
                    Some(acc) => acc.accumulate(grads, &trainable.vars).unwrap(),
                }
            }
            let grads = summed.unwrap();
            let norm = optimizer.gradient_norm(&grads).unwrap();
            norms.push(norm);
            optimizer.step(&grads, 1e-2, 0.5 / norm).unwrap();
        }
        let values: Vec<(String, Vec<f32>)> = trainable
            .vars
            .iter()
            .map(|(name, var)| {
                (
                    name.clone(),
                    var.as_tensor().flatten_all().unwrap().to_vec1().unwrap(),
                )
            })
            .collect();
        (norms, values)
    };
    let (dense_norms, dense) = train(false);
    let (sparse_norms, sparse) = train(true);
    assert_eq!(dense_norms, sparse_norms);
    for ((name, a), (_, b)) in dense.iter().zip(&sparse) {
        assert!(
            a == b,
            "{name} differs between the dense and the sparse gradient"
        );
    }
    // A row no batch reads still moves: its momentum and weight decay.
    let table = &tensors[weights::WORD_EMBEDDINGS];
    let unread = (0..table.dim(0).unwrap() as u32)
        .rev()
        .find(|id| {
            !ids.flatten_all()
                .unwrap()
                .to_vec1::<u32>()
                .unwrap()
                .contains(id)
        })
        .unwrap() as usize;
    let width = table.dim(1).unwrap();
    let before = table.get(unread).unwrap().to_vec1::<f32>().unwrap();
    let (_, after) = sparse
        .iter()
        .find(|(name, _)| name == weights::WORD_EMBEDDINGS)
        .unwrap();
    assert_ne!(before, after[unread * width..(unread + 1) * width]);
}
