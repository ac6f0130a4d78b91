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
            let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let mut sum = 0f32;
            for (o, &v) in out.iter_mut().zip(row) {
                *o = (v - max).exp();
                sum += *o;
            }
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
    sign * (1.0 - poly * (-x * x).exp())
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
                let pdf = FRAC_1_SQRT_2PI * (-0.5 * x[i] * x[i]).exp();
                out[i] = g[i] * (cdf + x[i] * pdf);
            }
        })
    }
}

/// Erf GELU, differentiable.
pub fn gelu_erf(x: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(GeluOp)
}
