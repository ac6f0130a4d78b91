//! One transformer block of a quantized bundle at inference, in three
//! parallel steps instead of about fifteen loops: each row's query, key and
//! value projections (its activations quantized once for all three);
//! attention, a task per (text, head); then each row's output projection,
//! residual LayerNorm, feed-forward network and second residual LayerNorm
//! in one go. The row steps take one run of rows per thread, so a plot's
//! forward pass waits at 18 joins, not about a hundred (in the browser a
//! pool thread that sleeps between loops wakes about a loop's time late),
//! and its LayerNorms and residual sums no longer run on one thread.
//!
//! The values come from the functions the op-by-op path calls, in the same
//! order, so the bits are the op-by-op path's.

use candle_core::Tensor;

use crate::kernels::attention::{self, Shape3};
use crate::kernels::fused::{for_thread_runs, gelu, layer_norm_rows};
use crate::kernels::int8::{Activations, Int8Matrix};
use crate::Result;

/// A linear layer's integer weights and its bias.
pub(super) struct Projection<'a> {
    pub matrix: &'a Int8Matrix,
    pub bias: Vec<f32>,
}

impl Projection<'_> {
    /// `x @ weight^T + bias` for quantized rows, on this thread.
    fn apply(&self, x: &Activations) -> Vec<f32> {
        self.matrix.product(x, &self.bias)
    }
}

/// A LayerNorm's weight, bias and epsilon.
pub(super) struct Norm {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub eps: f32,
}

impl Norm {
    /// The rows of `x` normalised into `out`.
    fn apply(&self, x: &[f32], out: &mut [f32]) {
        layer_norm_rows(x, &self.weight, &self.bias, self.eps, out);
    }
}

/// Everything one block reads, with shapes the caller has checked: the
/// projections `dim -> dim` (`lin1` `dim -> hidden`, `lin2` back), the
/// norms `dim` wide, `dim` a multiple of `heads`.
pub(super) struct Weights<'a> {
    pub q: Projection<'a>,
    pub k: Projection<'a>,
    pub v: Projection<'a>,
    pub out: Projection<'a>,
    pub sa_norm: Norm,
    pub lin1: Projection<'a>,
    pub lin2: Projection<'a>,
    pub output_norm: Norm,
    pub heads: usize,
    /// The queries' scale, `1 / sqrt(head_dim)`.
    pub scale: f32,
}

/// The block's output `(batch, seq, dim)` for `hidden` `(batch, seq, dim)`
/// and the padding bias `(batch, 1, 1, seq)`.
pub(super) fn forward(w: &Weights, hidden: &Tensor, mask_bias: &Tensor) -> Result<Tensor> {
    let (batch, seq, dim) = hidden.dims3()?;
    let x = hidden.flatten_all()?.to_vec1::<f32>()?;
    let padding = mask_bias.flatten_all()?.to_vec1::<f32>()?;
    let qkv = projections(w, &x, dim);
    let shape = Shape3 {
        batch,
        seq,
        dim,
        stride: 3 * dim,
    };
    let context = attention::attend(
        [&qkv, &qkv[dim..], &qkv[2 * dim..]],
        &padding,
        &shape,
        w.heads,
        w.scale,
    );
    let mut out = vec![0f32; x.len()];
    for_thread_runs(&mut out, dim, |first, run| {
        let rows = first * dim..first * dim + run.len();
        rows_after_attention(w, &x[rows.clone()], &context[rows], run);
    });
    Ok(Tensor::from_vec(out, (batch, seq, dim), hidden.device())?)
}

/// Each row's query, key and value side by side, `(rows, 3 * dim)`.
fn projections(w: &Weights, x: &[f32], dim: usize) -> Vec<f32> {
    let mut qkv = vec![0f32; 3 * x.len()];
    for_thread_runs(&mut qkv, 3 * dim, |first, run| {
        let rows = Activations::quantize(&x[first * dim..][..run.len() / 3], dim);
        let [q, k, v] = [&w.q, &w.k, &w.v].map(|projection| projection.apply(&rows));
        let side_by_side = run.chunks_exact_mut(3 * dim);
        for (row, ((q, k), v)) in side_by_side.zip(
            q.chunks_exact(dim)
                .zip(k.chunks_exact(dim))
                .zip(v.chunks_exact(dim)),
        ) {
            row[..dim].copy_from_slice(q);
            row[dim..2 * dim].copy_from_slice(k);
            row[2 * dim..].copy_from_slice(v);
        }
    });
    qkv
}

/// From some rows' block input `x` and attention `context` to their block
/// output in `out`, on this thread.
fn rows_after_attention(w: &Weights, x: &[f32], context: &[f32], out: &mut [f32]) {
    let dim = w.sa_norm.weight.len();
    let mut attended = w.out.apply(&Activations::quantize(context, dim));
    for (a, &x) in attended.iter_mut().zip(x) {
        *a += x;
    }
    let mut normed = vec![0f32; attended.len()];
    w.sa_norm.apply(&attended, &mut normed);
    let mut inner = w.lin1.apply(&Activations::quantize(&normed, dim));
    inner.iter_mut().for_each(|v| *v = gelu(*v));
    let inner_dim = w.lin2.matrix.cols();
    let mut transformed = w.lin2.apply(&Activations::quantize(&inner, inner_dim));
    for (t, &n) in transformed.iter_mut().zip(&normed) {
        *t += n;
    }
    w.output_norm.apply(&transformed, out);
}
