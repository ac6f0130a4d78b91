//! Training losses against values computed by hand, at extreme logits, and
//! with gradients flowing back to the logits; which (row, genre) pairs a
//! run's objective counts.

use std::path::Path;

use candle_core::{Device, Tensor, Var};
use plotgenre::labels::Task;
use plotgenre::train::data::dataset::Dataset;
use plotgenre::train::data::formats::{Columns, Format};
use plotgenre::train::fit::loss::{self, label_weights, MultiLabelLoss};
use plotgenre::train::fit::objective::Objective;
use plotgenre::train::fit::options::Options;

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
        scalar(loss::multi_label(&logits, &targets, None, &MultiLabelLoss::Bce).unwrap()),
        expected,
    );
}

#[test]
fn counted_bce_averages_only_the_counted_pairs_and_leaves_the_rest_untrained() {
    let (logits, targets) = example();
    let logits = Var::from_tensor(&logits).unwrap();
    // Row 0's label 1 and row 1's label 0 are not counted.
    let counted = matrix(&[[1.0, 0.0], [0.0, 1.0]]);
    let [a, _, _, d] = bce_terms();
    let value = loss::multi_label(
        logits.as_tensor(),
        &targets,
        Some(&counted),
        &MultiLabelLoss::Bce,
    )
    .unwrap();
    close(scalar(value.clone()), (a + d) / 2.0);
    let grads = value.backward().unwrap();
    let grad: Vec<Vec<f32>> = grads.get(logits.as_tensor()).unwrap().to_vec2().unwrap();
    assert_eq!((grad[0][1], grad[1][0]), (0.0, 0.0), "{grad:?}");
    close(grad[0][0], (1.0 / (1.0 + (-2.0f32).exp()) - 1.0) / 2.0);
}

#[test]
fn weighted_bce_scales_each_label() {
    let (logits, targets) = example();
    let weights = Tensor::new(&[1.5f32, 0.5], &Device::Cpu).unwrap();
    let [a, b, c, d] = bce_terms();
    let expected = (1.5 * a + 0.5 * b + 1.5 * c + 0.5 * d) / 4.0;
    let actual = loss::multi_label(
        &logits,
        &targets,
        None,
        &MultiLabelLoss::WeightedBce { weights },
    )
    .unwrap();
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
        scalar(loss::multi_label(&logits, &targets, None, &kind).unwrap()),
        expected,
    );
}

#[test]
fn multi_label_losses_are_finite_at_extreme_logits() {
    let logits = matrix(&[[100.0, -100.0], [-100.0, 100.0]]);
    let wrong = matrix(&[[0.0, 1.0], [1.0, 0.0]]);
    let right = matrix(&[[1.0, 0.0], [0.0, 1.0]]);
    let bce = |targets: &Tensor| {
        scalar(loss::multi_label(&logits, targets, None, &MultiLabelLoss::Bce).unwrap())
    };
    close(bce(&wrong), 100.0);
    close(bce(&right), 0.0);
    let focal = MultiLabelLoss::Focal {
        alpha: 0.375,
        gamma: 2.0,
    };
    assert!(scalar(loss::multi_label(&logits, &wrong, None, &focal).unwrap()).is_finite());
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
        let grads = loss::multi_label(logits.as_tensor(), &targets, None, &kind)
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

/// A file of 40 plots whose genres are "Drama" and, when `with_musical`,
/// "Musical" on every other row.
fn genre_file(name: &str, with_musical: bool) -> Dataset {
    let mut csv = String::from("plot,genres\n");
    for i in 0..40 {
        let musical = if with_musical && i % 2 == 0 {
            "|Musical"
        } else {
            ""
        };
        csv.push_str(&format!("{name} story number {i},Drama{musical}\n"));
    }
    let format = Format::Csv(Columns {
        text: "plot".into(),
        title: None,
        label: "genres".into(),
        label_sep: Some("|".into()),
    });
    Dataset::parse(Path::new(name), csv.as_bytes(), &format).unwrap()
}

#[test]
fn source_label_sets_leave_a_sources_missing_genre_out_of_the_loss() {
    let dataset =
        Dataset::combine(genre_file("stage", true), vec![genre_file("screen", false)]).unwrap();
    let labels = dataset.labels.clone();
    assert_eq!(labels, ["Drama", "Musical"]);
    let row = dataset.train.iter().find(|e| e.part == 1).unwrap();
    let loss_at = |options: &Options, musical_logit: f32| {
        let objective = Objective::new(Task::MultiLabel, options, &dataset).unwrap();
        let logits = matrix(&[[1.0, musical_logit]]);
        scalar(objective.loss(&logits, &[row], &labels).unwrap())
    };
    let masked = Options {
        source_label_sets: true,
        ..Options::default()
    };
    // "screen" never labels Musical: its rows say nothing about it...
    close(loss_at(&masked, -3.0), loss_at(&masked, 3.0));
    close(loss_at(&masked, 0.0), (1.0 + (-1.0f32).exp()).ln());
    // ...unless every pair counts, as by default.
    let plain = Options::default();
    assert!(loss_at(&plain, 3.0) > loss_at(&plain, -3.0) + 1.0);
}

#[test]
fn source_label_sets_refuse_a_single_label_task() {
    let dataset = genre_file("stage", false);
    let masked = Options {
        source_label_sets: true,
        ..Options::default()
    };
    let refusal = Objective::new(Task::SingleLabel, &masked, &dataset).err();
    let message = refusal
        .expect("a single-label run refuses the flag")
        .to_string();
    assert!(message.contains("--source-label-sets"), "{message}");
    assert!(Objective::new(Task::SingleLabel, &Options::default(), &dataset).is_ok());
}
