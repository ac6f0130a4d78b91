//! CPU kernels that do in one pass over memory what would otherwise take
//! several tensor ops, each with its backward pass: LayerNorm, the masked
//! attention softmax, erf GELU, the linear layer and dropout's mask.
//! candle-nn's fused LayerNorm and softmax record no backward pass, the
//! composed versions cost about ten ops and as many temporary tensors, and
//! candle's backward pass gives every op a zeroed gradient buffer to add
//! into, for constant inputs too; these serve training and inference alike.
//! Their loops share rows out among rayon's threads, which candle leaves
//! idle between its matrix products; every row (or value) is computed on its
//! own, so how they are shared out never changes a bit, and in wasm (one
//! thread) they run in order.

use std::sync::OnceLock;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Values a rayon task takes at least: fewer cost more to hand out than they save.
const TASK_VALUES: usize = 1 << 14;

/// Calls `f(first_row, run)` on runs of whole rows of `out`, rows of `width`
/// values (the last one shorter if `width` does not divide `out`), on
/// rayon's threads.
pub(crate) fn for_row_runs<T: Send>(
    out: &mut [T],
    width: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    if width == 0 {
        return;
    }
    runs_of(out, width, (TASK_VALUES / width).max(1), f);
}

/// Calls `f(first_row, run)` on one run of whole rows of `out` (rows of
/// `width` values) per thread of rayon's pool: for rows that each take long
/// (a product's or a whole block's), where finer tasks would cost more in
/// hand-overs, or in weights read again, than they balance.
pub(crate) fn for_thread_runs<T: Send>(
    out: &mut [T],
    width: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    if width == 0 {
        return;
    }
    let rows = out.len().div_ceil(width);
    runs_of(
        out,
        width,
        rows.div_ceil(rayon::current_num_threads()).max(1),
        f,
    );
}

/// `f(first_row, run)` on runs of `rows_per_run` rows of `width` values, as rayon's tasks.
fn runs_of<T: Send>(
    out: &mut [T],
    width: usize,
    rows_per_run: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    out.par_chunks_mut(rows_per_run * width)
        .enumerate()
        .for_each(|(run, values)| f(run * rows_per_run, values));
}

/// The contiguous f32 values of a storage, or an error naming the op.
pub(crate) fn values<'a>(
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
        for_row_runs(&mut out, dim, |first, run| {
            layer_norm_rows(&x[first * dim..][..run.len()], weight, bias, self.eps, run);
        });
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

/// LayerNorm of the rows of `x` (each `weight.len()` values) into `out`,
/// on this thread: each row's bits are the same however rows are shared out.
pub(crate) fn layer_norm_rows(x: &[f32], weight: &[f32], bias: &[f32], eps: f32, out: &mut [f32]) {
    let dim = weight.len();
    for (row, out) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let (mean, rstd) = moments(row, eps);
        for i in 0..dim {
            out[i] = (row[i] - mean) * rstd * weight[i] + bias[i];
        }
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

/// Softmax over the last dimension of attention scores `(batch, heads,
/// queries, keys)` plus a padding bias `(batch, 1, 1, keys)`, added in the
/// same pass. As one op, the bias gets no gradient: candle's `broadcast_add`
/// would give it a zeroed buffer the size of the scores and add into it.
struct MaskedSoftmaxOp;

impl CustomOp2 for MaskedSoftmaxOp {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }

    fn cpu_fwd(
        &self,
        scores: &CpuStorage,
        scores_layout: &Layout,
        bias: &CpuStorage,
        bias_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (x, bias) = (
            values(name, scores, scores_layout)?,
            values(name, bias, bias_layout)?,
        );
        let (batch, heads, queries, keys) = scores_layout.shape().dims4()?;
        if bias_layout.dims() != [batch, 1, 1, keys] {
            candle_core::bail!(
                "{name}: a bias of shape {:?} does not mask scores of shape {:?}",
                bias_layout.dims(),
                scores_layout.dims()
            );
        }
        let mut out = vec![0f32; x.len()];
        if keys == 0 {
            return Ok((CpuStorage::F32(out), scores_layout.shape().clone()));
        }
        let rows_per_item = heads * queries;
        for_row_runs(&mut out, keys, |first, run| {
            let rows = x[first * keys..].chunks_exact(keys);
            for (i, (row, out)) in (first..).zip(rows.zip(run.chunks_exact_mut(keys))) {
                softmax_row(row, &bias[i / rows_per_item * keys..][..keys], out);
            }
        });
        Ok((CpuStorage::F32(out), scores_layout.shape().clone()))
    }

    fn bwd(
        &self,
        _scores: &Tensor,
        _bias: &Tensor,
        out: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = out
            .contiguous()?
            .apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxGrad)?;
        Ok((Some(grad), None))
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
    f: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let (a, b) = (
        values(name, a_storage, a_layout)?,
        values(name, b_storage, b_layout)?,
    );
    if a.len() != b.len() || a.len() % dim != 0 {
        candle_core::bail!("{name}: shapes do not match");
    }
    let mut out = vec![0f32; a.len()];
    for_row_runs(&mut out, dim, |first, run| {
        let rows = a[first * dim..]
            .chunks_exact(dim)
            .zip(b[first * dim..].chunks_exact(dim));
        for ((a, b), out) in rows.zip(run.chunks_exact_mut(dim)) {
            f(a, b, out);
        }
    });
    Ok((CpuStorage::F32(out), a_layout.shape().clone()))
}

/// Softmax over the last dimension of `scores + bias` (attention scores
/// `(batch, heads, queries, keys)`, padding bias `(batch, 1, 1, keys)`),
/// differentiable in the scores.
pub fn masked_softmax(scores: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
    scores
        .contiguous()?
        .apply_op2(&bias.contiguous()?, MaskedSoftmaxOp)
}

/// `out` = softmax of `scores + bias`, one attention row (all three as long),
/// in the one order of operations every attention kernel here shares.
pub(crate) fn softmax_row(scores: &[f32], bias: &[f32], out: &mut [f32]) {
    for ((o, &v), &b) in out.iter_mut().zip(scores).zip(bias) {
        *o = v + b;
    }
    // A comparison, not `f32::max`, which wasm compiles to a call.
    let max = out
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    // Separate loops: the exponentials vectorise, the sum keeps its order.
    for o in out.iter_mut() {
        *o = exp(*o - max);
    }
    let sum: f32 = out.iter().sum();
    let scale = 1.0 / sum;
    out.iter_mut().for_each(|o| *o *= scale);
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

/// Erf GELU of one value.
pub(crate) fn gelu(v: f32) -> f32 {
    0.5 * v * (1.0 + erf(v * FRAC_1_SQRT_2))
}

/// GELU with the exact (erf) form, as Hugging Face's DistilBERT uses.
struct GeluOp {
    /// Whether to keep `1 + erf(x / sqrt 2)` for the backward pass, which
    /// then need not compute the erf again (only when training).
    keep: bool,
    kept: OnceLock<Vec<f32>>,
}

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
        let mut out = vec![0f32; x.len()];
        let mut ones_plus_erf = vec![0f32; if self.keep { x.len() } else { 0 }];
        let inputs = x
            .par_chunks(TASK_VALUES)
            .zip(out.par_chunks_mut(TASK_VALUES));
        if self.keep {
            let kept = ones_plus_erf.par_chunks_mut(TASK_VALUES);
            inputs.zip(kept).for_each(|((x, out), kept)| {
                for ((o, k), &v) in out.iter_mut().zip(kept).zip(x) {
                    *k = 1.0 + erf(v * FRAC_1_SQRT_2);
                    *o = 0.5 * v * *k;
                }
            });
        } else {
            inputs.for_each(|(x, out)| {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = gelu(v);
                }
            });
        }
        if self.keep && self.kept.set(ones_plus_erf).is_err() {
            candle_core::bail!("gelu-erf: one op ran forward twice");
        }
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _out: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let Some(ones_plus_erf) = self.kept.get() else {
            candle_core::bail!("gelu-erf: no forward values kept for the backward pass");
        };
        Ok(Some(x.contiguous()?.apply_op2_no_bwd(
            &grad.contiguous()?,
            &GeluGrad { ones_plus_erf },
        )?))
    }
}

/// GELU backward: `(x, grad)` -> `grad * (Phi(x) + x * phi(x))`, with
/// `Phi(x) = (1 + erf(x / sqrt 2)) / 2` from the forward pass.
struct GeluGrad<'a> {
    ones_plus_erf: &'a [f32],
}

impl CustomOp2 for GeluGrad<'_> {
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
        let name = self.name();
        let (x, g) = (values(name, xs, xl)?, values(name, gs, gl)?);
        if x.len() != g.len() || x.len() != self.ones_plus_erf.len() {
            candle_core::bail!("{name}: shapes do not match");
        }
        let mut out = vec![0f32; x.len()];
        for_row_runs(&mut out, 1, |first, run| {
            let inputs = x[first..].iter().zip(&g[first..]);
            for ((o, (&x, &g)), &e) in run.iter_mut().zip(inputs).zip(&self.ones_plus_erf[first..])
            {
                let cdf = 0.5 * e;
                let pdf = FRAC_1_SQRT_2PI * exp(-0.5 * x * x);
                *o = g * (cdf + x * pdf);
            }
        });
        Ok((CpuStorage::F32(out), xl.shape().clone()))
    }
}

/// Erf GELU, differentiable.
pub fn gelu_erf(x: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(GeluOp {
        keep: x.track_op(),
        kept: OnceLock::new(),
    })
}

/// A fully connected layer, `x @ weight^T + bias`, with `x` `(..., in)`,
/// `weight` `(out, in)`, `bias` `(out,)`. As candle ops it is five nodes
/// (two reshapes, a transpose, the product, the broadcast bias), and candle's
/// backward pass gives every node a zeroed gradient buffer and adds into it;
/// as one node its gradients come out of the same products and sums, in the
/// same order, so they are bit for bit the composed ops' gradients.
struct LinearOp;

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "linear"
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
        let (out_dim, in_dim) = wl.shape().dims2()?;
        let bias = values(name, bs, bl)?;
        let x_dims = xl.dims();
        if x_dims.last() != Some(&in_dim) || bias.len() != out_dim || !xl.is_contiguous() {
            candle_core::bail!(
                "{name}: input {x_dims:?}, weight {:?} and bias {:?} do not fit",
                wl.dims(),
                bl.dims()
            );
        }
        let rows = xl.shape().elem_count() / in_dim.max(1);
        let mut out_shape = x_dims.to_vec();
        if let Some(last) = out_shape.last_mut() {
            *last = out_dim;
        }
        if rows == 0 || in_dim == 0 || out_dim == 0 {
            let out = vec![0f32; rows * out_dim];
            return Ok((CpuStorage::F32(out), Shape::from(out_shape)));
        }
        let lhs = Layout::contiguous_with_offset((rows, in_dim), xl.start_offset());
        let product = xs.matmul(ws, (1, rows, out_dim, in_dim), &lhs, &wl.transpose(0, 1)?)?;
        let CpuStorage::F32(mut out) = product else {
            candle_core::bail!("{name}: only f32 tensors are supported");
        };
        for_row_runs(&mut out, out_dim, |_, run| {
            for row in run.chunks_exact_mut(out_dim) {
                for (o, &b) in row.iter_mut().zip(bias) {
                    *o += b;
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from(out_shape)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (out_dim, in_dim) = weight.dims2()?;
        let rows = x.elem_count() / in_dim.max(1);
        let x_dims = x.dims();
        let x = x.reshape((rows, in_dim))?;
        let grad = grad.reshape((rows, out_dim))?;
        // As candle's backward passes of matmul, transpose, reshape and broadcast.
        let grad_x = grad.matmul(weight)?.reshape(x_dims)?;
        // candle computes `(x^T grad)^T`, a transposed view that its backward
        // pass then adds one strided element at a time. `grad^T x` is the
        // same gemm problem (gemm turns a row-major product into the
        // column-major one of its transpose, and blocks the sums by `k`
        // alone), so the same sums in the same order, written in place.
        let grad_weight = grad.t()?.matmul(&x)?;
        let grad_bias = grad.contiguous()?.apply_op1_no_bwd(&ColumnSum)?;
        Ok((Some(grad_x), Some(grad_weight), Some(grad_bias)))
    }
}

/// The sums of the columns of a matrix: `(rows, cols)` -> `(cols,)`, each
/// summed from row 0 down as candle's `sum_keepdim(0)` does, so with the same
/// bits, but in one vectorised pass where candle computes every element's
/// destination index.
struct ColumnSum;

impl CustomOp1 for ColumnSum {
    fn name(&self) -> &'static str {
        "column-sum"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let matrix = values(self.name(), storage, layout)?;
        let (_, cols) = layout.shape().dims2()?;
        let mut sums = vec![0f32; cols];
        if cols > 0 {
            for row in matrix.chunks_exact(cols) {
                for (sum, &v) in sums.iter_mut().zip(row) {
                    *sum += v;
                }
            }
        }
        Ok((CpuStorage::F32(sums), Shape::from(cols)))
    }
}

/// `x @ weight^T + bias` over the last dimension of `x`, differentiable in
/// all three.
pub fn linear(x: &Tensor, weight: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op3(weight, bias, LinearOp)
}

/// Moves attention heads between the layout of the linear layers, `(batch,
/// seq, heads * head_dim)`, and the one of the attention products, `(batch,
/// heads, seq, head_dim)`, with an optional scale on the way. As candle
/// ops it is a reshape, a transpose, a copy and a scale, each of which
/// candle's backward pass gives a zeroed gradient buffer to add into.
struct HeadsOp {
    heads: usize,
    split: bool,
    /// Multiplies as candle's `affine(scale, 0.0)` does, bit for bit.
    scale: Option<f32>,
}

impl CustomOp1 for HeadsOp {
    fn name(&self) -> &'static str {
        "attention-heads"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let x = values(name, storage, layout)?;
        let dims = layout.dims();
        // The input as (outer, a, b, inner), the output as (outer, b, a, inner).
        let ((outer, a, b, inner), out_shape) = match (self.split, dims) {
            (true, &[batch, seq, dim]) if self.heads > 0 && dim % self.heads == 0 => {
                let head_dim = dim / self.heads;
                let split = (batch, seq, self.heads, head_dim);
                (split, Shape::from((batch, self.heads, seq, head_dim)))
            }
            (false, &[batch, heads, seq, head_dim]) if heads == self.heads => {
                let merged = (batch, heads, seq, head_dim);
                (merged, Shape::from((batch, seq, heads * head_dim)))
            }
            _ => candle_core::bail!(
                "{name}: cannot {} {} heads of a tensor of shape {dims:?}",
                if self.split { "split" } else { "merge" },
                self.heads
            ),
        };
        let mut out = Vec::with_capacity(x.len());
        for o in 0..outer {
            for j in 0..b {
                for i in 0..a {
                    let start = ((o * a + i) * b + j) * inner;
                    let from = &x[start..start + inner];
                    match self.scale {
                        Some(scale) => out.extend(from.iter().map(|&v| v * scale + 0.0)),
                        None => out.extend_from_slice(from),
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), out_shape))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        // The way back, with the same scale: the chain rule's factor.
        let back = HeadsOp {
            heads: self.heads,
            split: !self.split,
            scale: self.scale,
        };
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&back)?))
    }
}

/// `(batch, seq, heads * head_dim)` -> `(batch, heads, seq, head_dim)`,
/// contiguous, each value times `scale` if given; differentiable.
pub fn split_heads(x: &Tensor, heads: usize, scale: Option<f32>) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(HeadsOp {
        heads,
        split: true,
        scale,
    })
}

/// `(batch, heads, seq, head_dim)` -> `(batch, seq, heads * head_dim)`,
/// the inverse of [`split_heads`] without a scale; differentiable.
pub fn merge_heads(x: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(HeadsOp {
        heads,
        split: false,
        scale: None,
    })
}

/// Multiplication by a fixed dropout mask of the same shape. candle's `mul`
/// would also compute the mask's gradient (a product, a zeroed buffer and
/// an add, all discarded); this gives only the input's.
struct MaskOp {
    mask: Tensor,
}

impl CustomOp1 for MaskOp {
    fn name(&self) -> &'static str {
        "dropout-mask"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let x = values(name, storage, layout)?;
        let (mask_storage, mask_layout) = self.mask.storage_and_layout();
        let candle_core::Storage::Cpu(mask_storage) = &*mask_storage else {
            candle_core::bail!("{name}: the mask must be on the CPU");
        };
        let mask = values(name, mask_storage, mask_layout)?;
        if mask_layout.dims() != layout.dims() {
            candle_core::bail!(
                "{name}: a mask of shape {:?} does not fit an input of shape {:?}",
                mask_layout.dims(),
                layout.dims()
            );
        }
        let mut out = vec![0f32; x.len()];
        for_row_runs(&mut out, 1, |first, run| {
            for ((o, &v), &m) in run.iter_mut().zip(&x[first..]).zip(&mask[first..]) {
                *o = v * m;
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.mul(&self.mask)?))
    }
}

/// `x * mask` for a constant `mask` of `x`'s shape, differentiable in `x`.
pub fn apply_mask(x: &Tensor, mask: Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(MaskOp { mask })
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
