//! CPU kernels that do in one pass over memory what would otherwise take
//! several tensor ops, each with its backward pass: LayerNorm, softmax over
//! the last dimension, and erf GELU. candle-nn's fused LayerNorm and softmax
//! record no backward pass, and the composed versions cost about ten ops and
//! as many temporary tensors; these serve training and inference alike.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor};

/// The contiguous f32 values of a storage, or an error naming the op.
fn values<'a>(
    op: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(all) = storage else {
        candle_core::bail!("{op}: only f32 tensors are supported");
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&all[start..end]),
        None => candle_core::bail!("{op}: the input must be contiguous"),
    }
}

/// The width of the last dimension, checked to be non-zero.
fn last_dim(op: &str, layout: &Layout) -> candle_core::Result<usize> {
    match layout.dims().last() {
        Some(&d) if d > 0 => Ok(d),
        _ => candle_core::bail!("{op}: the last dimension must not be empty"),
    }
}

/// LayerNorm over the last dimension: `x`, `weight`, `bias`.
struct LayerNormOp {
    eps: f32,
}

/// Mean and reciprocal standard deviation of one row.
fn moments(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let variance = row.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (variance + eps).sqrt())
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "layer-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (x, weight, bias) = (
            values(name, xs, xl)?,
            values(name, ws, wl)?,
            values(name, bs, bl)?,
        );
        let dim = last_dim(name, xl)?;
        if weight.len() != dim || bias.len() != dim {
            candle_core::bail!("{name}: weight and bias must have {dim} values");
        }
        let mut out = vec![0f32; x.len()];
        for (row, out) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
            let (mean, rstd) = moments(row, self.eps);
            for i in 0..dim {
                out[i] = (row[i] - mean) * rstd * weight[i] + bias[i];
            }
        }
        Ok((CpuStorage::F32(out), xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dim = weight.elem_count();
        let rows = x.elem_count() / dim;
        let packed = x.contiguous()?.apply_op3_no_bwd(
            &weight.contiguous()?,
            &grad.contiguous()?,
            &LayerNormGrad { eps: self.eps },
        )?;
        let grad_x = packed.narrow(0, 0, rows)?.reshape(x.shape())?;
        let grad_weight = packed.narrow(0, rows, 1)?.reshape(weight.shape())?;
        let grad_bias = packed.narrow(0, rows + 1, 1)?.reshape(weight.shape())?;
        Ok((Some(grad_x), Some(grad_weight), Some(grad_bias)))
    }
}

/// The LayerNorm backward pass: `(x, weight, grad)` -> rows of `grad_x`,
/// then one row of `grad_weight` and one of `grad_bias`.
struct LayerNormGrad {
    eps: f32,
}

impl CustomOp3 for LayerNormGrad {
    fn name(&self) -> &'static str {
        "layer-norm-grad"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (x, weight, grad) = (
            values(name, xs, xl)?,
            values(name, ws, wl)?,
            values(name, gs, gl)?,
        );
        let dim = weight.len();
        if dim == 0 || x.len() % dim != 0 || grad.len() != x.len() {
            candle_core::bail!("{name}: shapes do not match");
        }
        let rows = x.len() / dim;
        let mut out = vec![0f32; (rows + 2) * dim];
        let (grad_x, params) = out.split_at_mut(rows * dim);
        let (grad_weight, grad_bias) = params.split_at_mut(dim);
        let n = dim as f32;
        let mut normed = vec![0f32; dim];
        for ((row, g), gx) in x
            .chunks_exact(dim)
            .zip(grad.chunks_exact(dim))
            .zip(grad_x.chunks_exact_mut(dim))
        {
            let (mean, rstd) = moments(row, self.eps);
            let (mut sum_gw, mut sum_gw_normed) = (0f32, 0f32);
            for i in 0..dim {
                normed[i] = (row[i] - mean) * rstd;
                let gw = g[i] * weight[i];
                sum_gw += gw;
                sum_gw_normed += gw * normed[i];
                grad_weight[i] += g[i] * normed[i];
                grad_bias[i] += g[i];
            }
            let (mean_gw, mean_gw_normed) = (sum_gw / n, sum_gw_normed / n);
            for i in 0..dim {
                gx[i] = rstd * (g[i] * weight[i] - mean_gw - normed[i] * mean_gw_normed);
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((rows + 2, dim))))
    }
}

/// `(x - mean) / sqrt(var + eps) * weight + bias` over the last dimension,
/// differentiable in all three inputs.
pub fn layer_norm(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f32,
) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op3(weight, bias, LayerNormOp { eps })
}

/// Softmax over the last dimension.
struct SoftmaxOp;

impl CustomOp1 for SoftmaxOp {
    fn name(&self) -> &'static str {
        "softmax-last-dim"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = values(self.name(), storage, layout)?;
        let dim = last_dim(self.name(), layout)?;
        let mut out = vec![0f32; x.len()];
        for (row, out) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
            // A comparison, not `f32::max`, which wasm compiles to a call.
            let max = row
                .iter()
                .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
            // Separate loops: the exponentials vectorise, the sum keeps its order.
            for (o, &v) in out.iter_mut().zip(row) {
                *o = exp(v - max);
            }
            let sum: f32 = out.iter().sum();
            let scale = 1.0 / sum;
            out.iter_mut().for_each(|o| *o *= scale);
        }
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, out: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(
            out.contiguous()?
                .apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxGrad)?,
        ))
    }
}

/// Softmax backward: `(y, grad)` -> `y * (grad - sum(grad * y))` per row.
struct SoftmaxGrad;

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "softmax-last-dim-grad"
    }

    fn cpu_fwd(
        &self,
        ys: &CpuStorage,
        yl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dim = last_dim(self.name(), yl)?;
        rowwise_pair(self.name(), (ys, yl), (gs, gl), dim, |y, g, out| {
            let dot: f32 = y.iter().zip(g).map(|(a, b)| a * b).sum();
            for i in 0..y.len() {
                out[i] = y[i] * (g[i] - dot);
            }
        })
    }
}

/// Applies `f` to matching rows of width `dim` of two same-shaped inputs,
/// giving an output of that shape (the common form of the backward kernels).
fn rowwise_pair(
    name: &str,
    (a_storage, a_layout): (&CpuStorage, &Layout),
    (b_storage, b_layout): (&CpuStorage, &Layout),
    dim: usize,
    f: impl Fn(&[f32], &[f32], &mut [f32]),
) -> candle_core::Result<(CpuStorage, Shape)> {
    let (a, b) = (
        values(name, a_storage, a_layout)?,
        values(name, b_storage, b_layout)?,
    );
    if a.len() != b.len() || a.len() % dim != 0 {
        candle_core::bail!("{name}: shapes do not match");
    }
    let mut out = vec![0f32; a.len()];
    for ((a, b), out) in a
        .chunks_exact(dim)
        .zip(b.chunks_exact(dim))
        .zip(out.chunks_exact_mut(dim))
    {
        f(a, b, out);
    }
    Ok((CpuStorage::F32(out), a_layout.shape().clone()))
}

/// Softmax over the last dimension, differentiable.
pub fn softmax_last_dim(x: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(SoftmaxOp)
}

/// Below this, `exp` is 0 (`e^-87.3` is near the smallest normal f32).
const EXP_MIN: f32 = -87.3;
/// Above this, `exp` is clamped (only ever called on arguments <= 0 here).
const EXP_MAX: f32 = 88.0;
/// `1.5 * 2^23`: adding it rounds an f32 below 2^22 to an integer, which
/// then sits in the low bits of the sum.
const ROUNDER: f32 = 12_582_912.0;

/// `e^x` to about 2 ulp (Cephes' `expf`: `x = n ln 2 + r`, a degree-7
/// polynomial in `r`, `2^n` built from bits). Unlike libm's `expf` (a call,
/// with branches) it is plain arithmetic and selects, so loops over it
/// vectorise, and it gives the same bits on every platform.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that `n * LN2_HI` is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const P: [f32; 6] = [
        1.987_569_1e-4,
        1.398_2e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ];
    let clamped = if x > EXP_MAX { EXP_MAX } else { x };
    let clamped = if clamped < EXP_MIN { EXP_MIN } else { clamped };
    let rounded = clamped * LOG2E + ROUNDER;
    let n = rounded - ROUNDER;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = P.iter().fold(0.0, |acc, &c| acc * r + c);
    let er = p * r * r + r + 1.0;
    // The integer n is `rounded`'s bits minus ROUNDER's; + 127 is its exponent.
    let exponent = rounded
        .to_bits()
        .wrapping_sub(ROUNDER.to_bits())
        .wrapping_add(127);
    let pow2 = f32::from_bits(exponent << 23);
    if x < EXP_MIN {
        0.0
    } else {
        er * pow2
    }
}

/// `erf(x)` to within 1.5e-7 (Abramowitz & Stegun 7.1.26): a polynomial and
/// one `exp`, several times faster than libm's `erff`.
fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_72,
        1.421_413_8,
        -1.453_152_1,
        1.061_405_4,
    ];
    let sign = x.signum();
    let x = x.abs();
    let t = 1.0 / (1.0 + P * x);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    sign * (1.0 - poly * exp(-x * x))
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// `1 / sqrt(2 pi)`.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// GELU with the exact (erf) form, as Hugging Face's DistilBERT uses.
struct GeluOp;

impl CustomOp1 for GeluOp {
    fn name(&self) -> &'static str {
        "gelu-erf"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = values(self.name(), storage, layout)?;
        let out = x
            .iter()
            .map(|&v| 0.5 * v * (1.0 + erf(v * FRAC_1_SQRT_2)))
            .collect();
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _out: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(
            x.contiguous()?
                .apply_op2_no_bwd(&grad.contiguous()?, &GeluGrad)?,
        ))
    }
}

/// GELU backward: `(x, grad)` -> `grad * (Phi(x) + x * phi(x))`.
struct GeluGrad;

impl CustomOp2 for GeluGrad {
    fn name(&self) -> &'static str {
        "gelu-erf-grad"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dim = last_dim(self.name(), xl)?;
        rowwise_pair(self.name(), (xs, xl), (gs, gl), dim, |x, g, out| {
            for i in 0..x.len() {
                let cdf = 0.5 * (1.0 + erf(x[i] * FRAC_1_SQRT_2));
                let pdf = FRAC_1_SQRT_2PI * exp(-0.5 * x[i] * x[i]);
                out[i] = g[i] * (cdf + x[i] * pdf);
            }
        })
    }
}

/// Erf GELU, differentiable.
pub fn gelu_erf(x: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(GeluOp)
}

/// Batched `a · b` of `(..., m, k)` and `(..., k, p)` with every sum in one
/// fixed order and no fused multiply-add, for inference: candle's gemm fuses
/// natively but cannot in wasm, and the integer products after attention turn
/// that last-bit noise into visible steps, so the browser and the native
/// build would no longer agree to float noise.
struct OrderedMatmul;

impl CustomOp2 for OrderedMatmul {
    fn name(&self) -> &'static str {
        "ordered-matmul"
    }

    fn cpu_fwd(
        &self,
        a: &CpuStorage,
        a_layout: &Layout,
        b: &CpuStorage,
        b_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (lhs, rhs) = (values(name, a, a_layout)?, values(name, b, b_layout)?);
        let (a_dims, b_dims) = (a_layout.dims(), b_layout.dims());
        let rank = a_dims.len();
        if rank < 2 || b_dims.len() != rank || a_dims[..rank - 2] != b_dims[..rank - 2] {
            candle_core::bail!("{name}: shapes {a_dims:?} and {b_dims:?} do not multiply");
        }
        let (m, k, p) = (a_dims[rank - 2], a_dims[rank - 1], b_dims[rank - 1]);
        if b_dims[rank - 2] != k {
            candle_core::bail!("{name}: shapes {a_dims:?} and {b_dims:?} do not multiply");
        }
        let batches: usize = a_dims[..rank - 2].iter().product();
        let mut out = vec![0f32; batches * m * p];
        for batch in 0..batches {
            let rhs = &rhs[batch * k * p..(batch + 1) * k * p];
            for i in 0..m {
                let row = &mut out[(batch * m + i) * p..(batch * m + i + 1) * p];
                let lhs_row = &lhs[(batch * m + i) * k..(batch * m + i + 1) * k];
                for (&x, rhs_row) in lhs_row.iter().zip(rhs.chunks_exact(p)) {
                    for (o, &y) in row.iter_mut().zip(rhs_row) {
                        *o += x * y;
                    }
                }
            }
        }
        let mut shape = a_dims.to_vec();
        shape[rank - 1] = p;
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }
}

/// `a · b` for inference (no backward pass), the same bits on every platform.
pub fn ordered_matmul(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    a.contiguous()?
        .apply_op2_no_bwd(&b.contiguous()?, &OrderedMatmul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_a_few_ulp_and_underflows_to_zero() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -87.0 + 175.0 * i as f32 / 200_000.0;
            let want = f64::from(x).exp();
            worst = worst.max((f64::from(exp(x)) - want).abs() / want);
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::MIN), 0.0);
        assert!(exp(f32::NAN).is_nan());
    }
}
