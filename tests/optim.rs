//! The fused AdamW agrees with candle-nn's reference AdamW (the textbook
//! update, ten tensor ops per weight) step for step; weight decay skips
//! biases and LayerNorm weights; layer-wise learning rates scale each
//! weight's rate; the schedule and clipping follow PyTorch.

mod common;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW as ReferenceAdamW, Optimizer, ParamsAdamW};
use plotgenre::train::optim::{self, AdamW, AdamWConfig, Schedule};
use plotgenre::train::trainer;

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
        optimizer.step(&loss_grads(&ours), 0.05, 1.0).unwrap();
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
    optimizer.step(&grads, 0.1, 1.0).unwrap();
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
        optimizer.step(&loss_grads(&scaled), 0.05, 1.0).unwrap();
        let grads = loss_grads(&reference);
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
    let scale = |name: &str| trainer::layer_lr_scale(name, 0.5, 6);
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
        trainer::layer_lr_scale("distilbert.embeddings.LayerNorm.bias", 1.0, 6),
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
