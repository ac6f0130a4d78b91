//! The fused kernels agree with candle's composed (slow but differentiable)
//! ops in value and in every gradient, so training through them is exact.

use candle_core::{Device, Tensor, Var, D};
use plotgenre::model::fused;

const TOLERANCE: f32 = 1e-4;

fn random(shape: &[usize], seed: u64) -> Tensor {
    // A fixed, uneven pattern: no RNG needed, values in about [-3, 3].
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f32 / 1000.0 - 0.5) * 6.0)
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

/// Value of `f` and gradients of `sum(f(inputs) * probe)` w.r.t. each input.
fn value_and_grads(
    inputs: &[Var],
    probe: &Tensor,
    f: impl Fn(&[Tensor]) -> Tensor,
) -> (Tensor, Vec<Tensor>) {
    let tensors: Vec<Tensor> = inputs.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&tensors);
    let grads = (&out * probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let grads = inputs
        .iter()
        .map(|v| grads.get(v.as_tensor()).unwrap().clone())
        .collect();
    (out, grads)
}

fn assert_same(
    fused: impl Fn(&[Tensor]) -> Tensor,
    composed: impl Fn(&[Tensor]) -> Tensor,
    inputs: &[Tensor],
) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let probe = random(inputs[0].dims(), 7);
    let (a, grads_a) = value_and_grads(&vars, &probe, fused);
    let (b, grads_b) = value_and_grads(&vars, &probe, composed);
    assert!(
        max_diff(&a, &b) < TOLERANCE,
        "values differ by {}",
        max_diff(&a, &b)
    );
    for (i, (ga, gb)) in grads_a.iter().zip(&grads_b).enumerate() {
        assert!(
            max_diff(ga, gb) < TOLERANCE,
            "gradient of input {i} differs by {}",
            max_diff(ga, gb)
        );
    }
}

#[test]
fn layer_norm_matches_composed_ops() {
    let eps = 1e-12;
    assert_same(
        |t| fused::layer_norm(&t[0], &t[1], &t[2], eps as f32).unwrap(),
        |t| {
            let mean = t[0].mean_keepdim(D::Minus1).unwrap();
            let centered = t[0].broadcast_sub(&mean).unwrap();
            let var = centered.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
            let normed = centered
                .broadcast_div(&(var + eps).unwrap().sqrt().unwrap())
                .unwrap();
            normed
                .broadcast_mul(&t[1])
                .unwrap()
                .broadcast_add(&t[2])
                .unwrap()
        },
        &[random(&[3, 5, 16], 1), random(&[16], 2), random(&[16], 3)],
    );
}

#[test]
fn softmax_matches_composed_ops() {
    assert_same(
        |t| fused::softmax_last_dim(&t[0]).unwrap(),
        |t| candle_nn::ops::softmax(&t[0], D::Minus1).unwrap(),
        &[random(&[2, 3, 4, 9], 4)],
    );
}

#[test]
fn gelu_matches_candle_erf_gelu() {
    assert_same(
        |t| fused::gelu_erf(&t[0]).unwrap(),
        |t| t[0].gelu_erf().unwrap(),
        &[random(&[4, 33], 5)],
    );
}
