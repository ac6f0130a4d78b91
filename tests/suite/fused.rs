//! The fused kernels agree with candle's composed (slow but differentiable)
//! ops in value and in every gradient, so training through them is exact.

use candle_core::{Device, Tensor, Var, D};
use plotgenre::kernels::{attention, fused};

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

/// Value of `f` and gradients of `sum(f(inputs) * probe)` w.r.t. each input,
/// for a fixed probe of the output's shape.
fn value_and_grads(inputs: &[Var], f: impl Fn(&[Tensor]) -> Tensor) -> (Tensor, Vec<Tensor>) {
    let tensors: Vec<Tensor> = inputs.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&tensors);
    let probe = random(out.dims(), 7);
    let grads = (&out * &probe)
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

/// Values and gradients of `fused` and `composed` differ by at most `tolerance`.
fn assert_same(
    fused: impl Fn(&[Tensor]) -> Tensor,
    composed: impl Fn(&[Tensor]) -> Tensor,
    inputs: &[Tensor],
    tolerance: f32,
) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let (a, grads_a) = value_and_grads(&vars, fused);
    let (b, grads_b) = value_and_grads(&vars, composed);
    assert!(
        max_diff(&a, &b) <= tolerance,
        "values differ by {}",
        max_diff(&a, &b)
    );
    for (i, (ga, gb)) in grads_a.iter().zip(&grads_b).enumerate() {
        assert!(
            max_diff(ga, gb) <= tolerance,
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
        TOLERANCE,
    );
}

/// A `(2, 1, 1, 9)` padding bias: the first item's last three keys are padding.
fn padding_bias() -> Tensor {
    let mut bias = vec![0f32; 18];
    bias[6..9].fill(f32::MIN);
    Tensor::from_vec(bias, (2, 1, 1, 9), &Device::Cpu).unwrap()
}

#[test]
fn masked_softmax_matches_composed_ops() {
    let bias = padding_bias();
    assert_same(
        |t| fused::masked_softmax(&t[0], &bias).unwrap(),
        |t| candle_nn::ops::softmax(&t[0].broadcast_add(&bias).unwrap(), D::Minus1).unwrap(),
        &[random(&[2, 3, 4, 9], 4)],
        TOLERANCE,
    );
}

#[test]
fn masked_softmax_gives_padding_no_weight_and_rejects_a_misshapen_bias() {
    let weights = fused::masked_softmax(&random(&[2, 3, 4, 9], 4), &padding_bias()).unwrap();
    let padded: f32 = weights
        .narrow(0, 0, 1)
        .unwrap()
        .narrow(3, 6, 3)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert_eq!(padded, 0.0);
    let wrong = Tensor::zeros((2, 1, 1, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
    let error = fused::masked_softmax(&random(&[2, 3, 4, 9], 4), &wrong).unwrap_err();
    assert!(error.to_string().contains("does not mask"), "{error}");
}

/// `(batch, seq, heads * head_dim)` -> `(batch, heads, seq, head_dim)` in candle's own ops.
fn split(t: &Tensor, heads: usize) -> Tensor {
    let (batch, seq, dim) = t.dims3().unwrap();
    t.reshape((batch, seq, heads, dim / heads))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .contiguous()
        .unwrap()
}

#[test]
fn inference_attention_matches_composed_ops_and_ignores_padded_keys() {
    let (heads, scale) = (3, 0.5);
    let [q, k, v] = [8, 9, 10].map(|seed| random(&[2, 9, heads * 4], seed));
    let bias = padding_bias();
    let got = attention::attention(&q, &k, &v, &bias, heads, scale).unwrap();
    let scores = (split(&q, heads) * f64::from(scale))
        .unwrap()
        .matmul(&split(&k, heads).t().unwrap())
        .unwrap();
    let weights =
        candle_nn::ops::softmax(&scores.broadcast_add(&bias).unwrap(), D::Minus1).unwrap();
    let want = weights
        .matmul(&split(&v, heads))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .reshape(q.dims())
        .unwrap();
    assert!(
        max_diff(&got, &want) <= TOLERANCE,
        "differs by {}",
        max_diff(&got, &want)
    );

    // The first text's last three tokens are padding: their keys and values change nothing.
    let mut noisy = v.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    noisy[6 * heads * 4..9 * heads * 4].fill(1e3);
    let noisy = Tensor::from_vec(noisy, v.dims(), &Device::Cpu).unwrap();
    let again = attention::attention(&q, &k, &noisy, &bias, heads, scale).unwrap();
    assert_bits(&got, &again, "attention with other padded values");

    let wrong = Tensor::zeros((2, 1, 1, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
    let error = attention::attention(&q, &k, &v, &wrong, heads, scale).unwrap_err();
    assert!(error.to_string().contains("does not mask"), "{error}");
}

#[test]
fn linear_is_bit_identical_to_candles_composed_ops() {
    // 600 rows: the weight gradient's sums over rows span two of gemm's
    // 512-deep blocks, whose order the fused op must keep too.
    for (batch, seq, in_dim, out_dim) in [(2, 5, 16, 8), (3, 200, 8, 4)] {
        assert_same(
            |t| fused::linear(&t[0], &t[1], &t[2]).unwrap(),
            |t| {
                let rows = t[0].reshape((batch * seq, in_dim)).unwrap();
                let out = rows.matmul(&t[1].t().unwrap()).unwrap();
                let out = out.broadcast_add(&t[2]).unwrap();
                out.reshape((batch, seq, out_dim)).unwrap()
            },
            &[
                random(&[batch, seq, in_dim], 1),
                random(&[out_dim, in_dim], 2),
                random(&[out_dim], 3),
            ],
            0.0,
        );
    }
}

#[test]
fn dropout_mask_is_bit_identical_to_a_product() {
    let mask = (random(&[4, 33], 6)
        .ge(0.0)
        .unwrap()
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        * 1.25)
        .unwrap();
    assert_same(
        |t| fused::apply_mask(&t[0], mask.clone()).unwrap(),
        |t| (&t[0] * &mask).unwrap(),
        &[random(&[4, 33], 5)],
        0.0,
    );
}

#[test]
fn gelu_matches_candle_erf_gelu() {
    assert_same(
        |t| fused::gelu_erf(&t[0]).unwrap(),
        |t| t[0].gelu_erf().unwrap(),
        &[random(&[4, 33], 5)],
        TOLERANCE,
    );
}

#[test]
fn attention_heads_are_bit_identical_to_reshape_transpose_and_scale() {
    let (batch, seq, heads, head_dim) = (2, 5, 3, 4);
    let scale = 0.5f32.sqrt();
    assert_same(
        |t| {
            let split = fused::split_heads(&t[0], heads, Some(scale)).unwrap();
            fused::merge_heads(&(&split * &split).unwrap(), heads).unwrap()
        },
        |t| {
            let split = (t[0]
                .reshape((batch, seq, heads, head_dim))
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap()
                * f64::from(scale))
            .unwrap();
            (&split * &split)
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .reshape((batch, seq, heads * head_dim))
                .unwrap()
        },
        &[random(&[batch, seq, heads * head_dim], 8)],
        0.0,
    );
    let error = fused::split_heads(&random(&[2, 5, 10], 8), heads, None).unwrap_err();
    assert!(
        error.to_string().contains("cannot split 3 heads"),
        "{error}"
    );
}

/// `f` computed on a rayon pool of `threads` threads: with several, the
/// kernels' loops are split among them.
fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// The rows `range` of the first dimension of `t`.
fn rows(t: &Tensor, range: std::ops::Range<usize>) -> Tensor {
    t.narrow(0, range.start, range.len()).unwrap()
}

fn assert_bits(a: &Tensor, b: &Tensor, what: &str) {
    let (a, b) = (
        a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
    );
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    let differing = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x.to_bits() != y.to_bits())
        .count();
    assert_eq!(differing, 0, "{what}: {differing} values differ");
}

/// Large inputs run in many tasks on several threads; every row must come
/// out with the bits it gets computed alone, on one thread.
#[test]
fn kernels_give_each_row_its_own_bits_however_the_rows_are_shared_out() {
    let x = random(&[96, 40, 384], 11);
    let (weight, bias) = (random(&[384], 12), random(&[384], 13));
    let normed = on_threads(4, || fused::layer_norm(&x, &weight, &bias, 1e-12).unwrap());
    let gelu = on_threads(4, || fused::gelu_erf(&x).unwrap());
    for range in [0..1, 37..38, 95..96] {
        let alone = rows(&x, range.clone());
        assert_bits(
            &rows(&normed, range.clone()),
            &fused::layer_norm(&alone, &weight, &bias, 1e-12).unwrap(),
            "layer norm",
        );
        assert_bits(
            &rows(&gelu, range),
            &fused::gelu_erf(&alone).unwrap(),
            "gelu",
        );
    }

    // Attention: each batch item has its own padding bias.
    let (batch, heads, seq) = (12, 12, 40);
    let scores = random(&[batch, heads, seq, seq], 14);
    let mut padding = vec![0f32; batch * seq];
    for (item, row) in padding.chunks_exact_mut(seq).enumerate() {
        row[seq - item..].fill(f32::MIN);
    }
    let padding = Tensor::from_vec(padding, (batch, 1, 1, seq), &Device::Cpu).unwrap();
    let [q, k, v] = [15, 16, 17].map(|seed| random(&[batch, seq, heads * 32], seed));
    let (weights, mixed) = on_threads(4, || {
        let weights = fused::masked_softmax(&scores, &padding).unwrap();
        let mixed = attention::attention(&q, &k, &v, &padding, heads, 0.125).unwrap();
        (weights, mixed)
    });
    for item in [0..1, 5..6, 11..12] {
        let alone =
            fused::masked_softmax(&rows(&scores, item.clone()), &rows(&padding, item.clone()))
                .unwrap();
        assert_bits(&rows(&weights, item.clone()), &alone, "masked softmax");
        let [q, k, v, bias] = [&q, &k, &v, &padding].map(|t| rows(t, item.clone()));
        assert_bits(
            &rows(&mixed, item),
            &attention::attention(&q, &k, &v, &bias, heads, 0.125).unwrap(),
            "attention",
        );
    }

    // Integer products: 200 and 40 rows are shared out by rows (200 in
    // blocks), 9 rows (fewer than a tile per thread) by columns. 27 outputs
    // are one partial panel. A row alone, on one thread, is done whole.
    let values = |dims: &[usize], seed| {
        random(dims, seed)
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    for out_dim in [384, 27] {
        let weight = values(&[out_dim, 384], 16);
        let matrix = plotgenre::kernels::int8::Int8Matrix::quantize(&weight, out_dim, 384).unwrap();
        let bias = values(&[out_dim], 17);
        for m in [200, 40, 9] {
            let x = values(&[m, 384], 18);
            let all = on_threads(4, || matrix.linear_slice(&x, &bias));
            for row in [0, 8, 39, 63, 64, 130, 199].into_iter().filter(|&r| r < m) {
                let one = &x[row * 384..(row + 1) * 384];
                let alone = on_threads(1, || matrix.linear_slice(one, &bias));
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&all[row * out_dim..(row + 1) * out_dim]),
                    bits(&alone),
                    "int8 product of {m} rows, {out_dim} outputs, row {row}"
                );
            }
        }
    }
}
