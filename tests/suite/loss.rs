//! Training losses against values computed by hand, at extreme logits, and
//! with gradients flowing back to the logits.

use candle_core::{Device, Tensor, Var};
use plotgenre::train::fit::loss::{self, label_weights, MultiLabelLoss};

const TOLERANCE: f32 = 1e-5;

fn matrix(rows: &[[f32; 2]]) -> Tensor {
    Tensor::from_vec(rows.concat(), (rows.len(), 2), &Device::Cpu).unwrap()
}

fn scalar(t: Tensor) -> f32 {
    t.to_scalar::<f32>().unwrap()
}

fn close(actual: f32, expected: f32) {
    assert!(
        (actual - expected).abs() <= TOLERANCE,
        "{actual} vs hand-computed {expected}"
    );
}

/// Logits [[2, -1], [0, 3]] against targets [[1, 0], [0, 1]]; per element
/// BCE = ln(1+e^-2), ln(1+e^-1), ln 2, ln(1+e^-3).
fn example() -> (Tensor, Tensor) {
    (
        matrix(&[[2.0, -1.0], [0.0, 3.0]]),
        matrix(&[[1.0, 0.0], [0.0, 1.0]]),
    )
}

fn bce_terms() -> [f32; 4] {
    [
        (1.0 + (-2.0f32).exp()).ln(),
        (1.0 + (-1.0f32).exp()).ln(),
        2.0f32.ln(),
        (1.0 + (-3.0f32).exp()).ln(),
    ]
}

#[test]
fn bce_matches_the_hand_computed_mean() {
    let (logits, targets) = example();
    let expected = bce_terms().iter().sum::<f32>() / 4.0;
    close(
        scalar(loss::multi_label(&logits, &targets, &MultiLabelLoss::Bce).unwrap()),
        expected,
    );
}

#[test]
fn weighted_bce_scales_each_label() {
    let (logits, targets) = example();
    let weights = Tensor::new(&[1.5f32, 0.5], &Device::Cpu).unwrap();
    let [a, b, c, d] = bce_terms();
    let expected = (1.5 * a + 0.5 * b + 1.5 * c + 0.5 * d) / 4.0;
    let actual =
        loss::multi_label(&logits, &targets, &MultiLabelLoss::WeightedBce { weights }).unwrap();
    close(scalar(actual), expected);
}

#[test]
fn label_weights_are_log_inverse_frequency_over_their_mean() {
    // 10 rows, labels with 1 and 4 positives: ln(10/2) and ln(10/5), mean 1.1513.
    let weights = label_weights(&[1, 4], 10);
    let (w0, w1) = (5f32.ln(), 2f32.ln());
    let mean = (w0 + w1) / 2.0;
    close(weights[0], w0 / mean);
    close(weights[1], w1 / mean);
}

#[test]
fn focal_matches_the_hand_computed_mean() {
    let (logits, targets) = example();
    let (alpha, gamma) = (0.25f32, 2.0f32);
    let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
    let term = |x: f32, y: f32| {
        let p = sigmoid(x);
        if y == 1.0 {
            -alpha * (1.0 - p).powf(gamma) * p.ln()
        } else {
            -(1.0 - alpha) * p.powf(gamma) * (1.0 - p).ln()
        }
    };
    let expected = (term(2.0, 1.0) + term(-1.0, 0.0) + term(0.0, 0.0) + term(3.0, 1.0)) / 4.0;
    let kind = MultiLabelLoss::Focal {
        alpha: alpha.into(),
        gamma: gamma.into(),
    };
    close(
        scalar(loss::multi_label(&logits, &targets, &kind).unwrap()),
        expected,
    );
}

#[test]
fn multi_label_losses_are_finite_at_extreme_logits() {
    let logits = matrix(&[[100.0, -100.0], [-100.0, 100.0]]);
    let wrong = matrix(&[[0.0, 1.0], [1.0, 0.0]]);
    let right = matrix(&[[1.0, 0.0], [0.0, 1.0]]);
    let bce = |targets: &Tensor| {
        scalar(loss::multi_label(&logits, targets, &MultiLabelLoss::Bce).unwrap())
    };
    close(bce(&wrong), 100.0);
    close(bce(&right), 0.0);
    let focal = MultiLabelLoss::Focal {
        alpha: 0.375,
        gamma: 2.0,
    };
    assert!(scalar(loss::multi_label(&logits, &wrong, &focal).unwrap()).is_finite());
}

#[test]
fn softmax_cross_entropy_with_label_smoothing() {
    let logits = Tensor::new(&[[1.0f32, 2.0, 3.0]], &Device::Cpu).unwrap();
    let target = Tensor::new(&[2u32], &Device::Cpu).unwrap();
    let lse = 3.0 + (1.0 + (-1.0f32).exp() + (-2.0f32).exp()).ln();
    let nll = lse - 3.0;
    close(
        scalar(loss::single_label(&logits, &target, 0.0).unwrap()),
        nll,
    );
    let uniform = (3.0 * lse - 6.0) / 3.0;
    close(
        scalar(loss::single_label(&logits, &target, 0.1).unwrap()),
        0.9 * nll + 0.1 * uniform,
    );
}

#[test]
fn gradients_reach_the_logits() {
    let logits = Var::from_tensor(&matrix(&[[2.0, -1.0], [0.0, 3.0]])).unwrap();
    let (_, targets) = example();
    for kind in [
        MultiLabelLoss::Bce,
        MultiLabelLoss::Focal {
            alpha: 0.375,
            gamma: 2.0,
        },
    ] {
        let grads = loss::multi_label(logits.as_tensor(), &targets, &kind)
            .unwrap()
            .backward()
            .unwrap();
        let grad: Vec<Vec<f32>> = grads
            .get(logits.as_tensor())
            .expect("a gradient")
            .to_vec2()
            .unwrap();
        // d BCE / dx = (sigmoid(x) - y) / 4 for the mean over 4 elements.
        if let MultiLabelLoss::Bce = kind {
            close(grad[0][0], (1.0 / (1.0 + (-2.0f32).exp()) - 1.0) / 4.0);
        }
        assert!(
            grad.iter().flatten().all(|g| g.is_finite() && *g != 0.0),
            "{grad:?}"
        );
    }
    let class_logits =
        Var::from_tensor(&Tensor::new(&[[1.0f32, 2.0, 3.0]], &Device::Cpu).unwrap()).unwrap();
    let target = Tensor::new(&[2u32], &Device::Cpu).unwrap();
    let grads = loss::single_label(class_logits.as_tensor(), &target, 0.1)
        .unwrap()
        .backward()
        .unwrap();
    assert!(grads.get(class_logits.as_tensor()).is_some());
}
