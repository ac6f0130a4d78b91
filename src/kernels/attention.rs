//! Self-attention for inference in one pass per (text, head): scores, the
//! padding bias, softmax and the weighted sum of values, read straight from
//! the query, key and value projections and written straight into the
//! merged-heads layout the output projection reads.
//!
//! Training composes the same steps from differentiable ops
//! ([`super::fused::split_heads`], candle's matmul,
//! [`super::fused::masked_softmax`], [`super::fused::merge_heads`]). Composed
//! for inference they cost five copies and four of rayon's parallel loops per
//! layer, each loop a wake-up of the pool's threads, which in the browser
//! cost more than a short plot's attention itself. Here the heads are the
//! parallel tasks; every sum runs in one fixed order without fused
//! multiply-add, so wasm, native and any thread count give the same bits.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

use super::fused::{softmax_row, values};

/// `softmax(q · kᵀ · scale + bias) · v` per head, for projections `q`, `k`,
/// `v` of shape `(batch, seq, heads * head_dim)` and a padding `bias` of
/// shape `(batch, 1, 1, seq)` (0 for real tokens, a huge negative for
/// padding); the heads' results side by side, `(batch, seq, heads * head_dim)`.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: &Tensor,
    heads: usize,
    scale: f32,
) -> candle_core::Result<Tensor> {
    let op = AttentionOp {
        heads,
        scale,
        bias: bias.contiguous()?,
    };
    q.contiguous()?
        .apply_op3_no_bwd(&k.contiguous()?, &v.contiguous()?, &op)
}

/// The op behind [`attention`]; the bias travels with it (candle's custom
/// ops take at most three tensors).
struct AttentionOp {
    heads: usize,
    scale: f32,
    bias: Tensor,
}

impl CustomOp3 for AttentionOp {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn cpu_fwd(
        &self,
        q_storage: &CpuStorage,
        q_layout: &Layout,
        k_storage: &CpuStorage,
        k_layout: &Layout,
        v_storage: &CpuStorage,
        v_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (bias_storage, bias_layout) = self.bias.storage_and_layout();
        let Storage::Cpu(bias_storage) = &*bias_storage else {
            candle_core::bail!("{name}: the bias must be on the CPU");
        };
        let (batch, seq, dim) = self.checked_dims([q_layout, k_layout, v_layout], bias_layout)?;
        let shape = Shape3 {
            batch,
            seq,
            dim,
            stride: dim,
        };
        let out = attend(
            [
                values(name, q_storage, q_layout)?,
                values(name, k_storage, k_layout)?,
                values(name, v_storage, v_layout)?,
            ],
            values(name, bias_storage, bias_layout)?,
            &shape,
            self.heads,
            self.scale,
        );
        Ok((CpuStorage::F32(out), q_layout.shape().clone()))
    }
}

/// Where [`attend`] finds its projections: `batch` texts of `seq` rows, each
/// row's `dim` values at the start of every `stride` values.
pub struct Shape3 {
    pub batch: usize,
    pub seq: usize,
    pub dim: usize,
    pub stride: usize,
}

/// `softmax(q · kᵀ · scale + bias) · v` per head, a rayon task per (text, head),
/// for projections laid out as `shape` says (they may share rows: `q`, `k`
/// and `v` then start at different offsets of one buffer) and a padding
/// `bias` of `seq` values per text; the heads' results side by side,
/// `(batch, seq, dim)`, `dim` a multiple of `heads`.
pub fn attend(
    [q, k, v]: [&[f32]; 3],
    bias: &[f32],
    shape: &Shape3,
    heads: usize,
    scale: f32,
) -> Vec<f32> {
    let Shape3 {
        batch,
        seq,
        dim,
        stride,
    } = *shape;
    let text = Text {
        seq,
        stride,
        head_dim: dim / heads,
        scale,
    };
    let contexts: Vec<Vec<f32>> = (0..batch * heads)
        .into_par_iter()
        .map(|task| {
            let (item, head) = (task / heads, task % heads);
            let first = item * seq * stride;
            let projections = [&q[first..], &k[first..], &v[first..]];
            text.context(projections, &bias[item * seq..][..seq], head)
        })
        .collect();
    heads_side_by_side(&contexts, &text, batch, dim)
}

impl AttentionOp {
    /// `(batch, seq, dim)` of the projections (`q`, `k`, `v` layouts), when
    /// they agree, split into the op's heads and match the bias's shape.
    fn checked_dims(
        &self,
        [q, k, v]: [&Layout; 3],
        bias: &Layout,
    ) -> candle_core::Result<(usize, usize, usize)> {
        let name = self.name();
        let (batch, seq, dim) = q.shape().dims3()?;
        if k.dims() != q.dims() || v.dims() != q.dims() || self.heads == 0 || dim % self.heads != 0
        {
            candle_core::bail!(
                "{name}: queries {:?}, keys {:?} and values {:?} do not split into {} heads",
                q.dims(),
                k.dims(),
                v.dims(),
                self.heads
            );
        }
        if bias.dims() != [batch, 1, 1, seq] {
            candle_core::bail!(
                "{name}: a bias of shape {:?} does not mask {batch} texts of {seq} tokens",
                bias.dims()
            );
        }
        Ok((batch, seq, dim))
    }
}

/// The per-(text, head) `contexts`, in task order, merged into the
/// `(batch, seq, dim)` layout with each text's heads side by side.
fn heads_side_by_side(contexts: &[Vec<f32>], text: &Text, batch: usize, dim: usize) -> Vec<f32> {
    let (seq, head_dim) = (text.seq, text.head_dim);
    let heads = dim / head_dim;
    let mut out = vec![0f32; batch * seq * dim];
    for (task, context) in contexts.iter().enumerate() {
        let (item, head) = (task / heads, task % heads);
        let rows = out[item * seq * dim..].chunks_exact_mut(dim);
        for (row, head_row) in rows.zip(context.chunks_exact(head_dim)) {
            row[head * head_dim..][..head_dim].copy_from_slice(head_row);
        }
    }
    out
}

/// The shape of one text's projections: `seq` rows `stride` values apart,
/// each row's heads side by side from its start; and the queries' scale.
struct Text {
    seq: usize,
    stride: usize,
    head_dim: usize,
    scale: f32,
}

impl Text {
    /// Head `head`'s part of row `row` of one text's projection `x`.
    fn head_row<'a>(&self, x: &'a [f32], row: usize, head: usize) -> &'a [f32] {
        &x[row * self.stride + head * self.head_dim..][..self.head_dim]
    }

    /// Head `head`'s context rows, `(seq, head_dim)`, from one text's query,
    /// key and value rows and its padding `bias` (one value per key).
    fn context(&self, [q, k, v]: [&[f32]; 3], bias: &[f32], head: usize) -> Vec<f32> {
        let (seq, head_dim) = (self.seq, self.head_dim);
        let rows = seq.next_multiple_of(ROWS);
        let (keys, dims) = (seq.next_multiple_of(COLS), head_dim.next_multiple_of(COLS));
        // Queries scaled as split_heads scales (`+ 0.0`: candle's `affine`,
        // bit for bit); keys transposed, `(head_dim, keys)`; values `(seq,
        // dims)`; the padding rows and columns zero, their results unread.
        let mut queries = vec![0f32; rows * head_dim];
        let mut keys_t = vec![0f32; head_dim * keys];
        let mut values = vec![0f32; seq * dims];
        for j in 0..seq {
            let query = queries[j * head_dim..].iter_mut();
            for (to, &x) in query.zip(self.head_row(q, j, head)) {
                *to = x * self.scale + 0.0;
            }
            for (d, &x) in self.head_row(k, j, head).iter().enumerate() {
                keys_t[d * keys + j] = x;
            }
            values[j * dims..][..head_dim].copy_from_slice(self.head_row(v, j, head));
        }
        let mut scores = vec![0f32; rows * keys];
        ordered_product(&queries, &keys_t, head_dim, keys, &mut scores);
        let mut weights = vec![0f32; rows * seq];
        for (row, out) in scores
            .chunks_exact(keys)
            .zip(weights.chunks_exact_mut(seq))
            .take(seq)
        {
            softmax_row(&row[..seq], bias, out);
        }
        let mut mixed = vec![0f32; rows * dims];
        ordered_product(&weights, &values, seq, dims, &mut mixed);
        let mut context = Vec::with_capacity(seq * head_dim);
        for row in mixed.chunks_exact(dims).take(seq) {
            context.extend_from_slice(&row[..head_dim]);
        }
        context
    }
}

/// Rows of `a` per tile of [`ordered_product`].
const ROWS: usize = 4;
/// Columns of `b` per tile: two 4-lane vectors, so a tile's 8 accumulator
/// vectors, 2 of `b` and 1 of `a` fit in 16 SIMD registers.
const COLS: usize = 8;

/// `out = a · b` for `a` `(m, depth)` and `b` `(depth, n)`, row-major, `m` a
/// multiple of [`ROWS`] and `n` of [`COLS`]. Each value sums its `depth`
/// products in order from 0.0, without fused multiply-add, as a plain loop
/// would: the tiles change how many values are in registers at once, never
/// a bit, on any platform.
fn ordered_product(a: &[f32], b: &[f32], depth: usize, n: usize, out: &mut [f32]) {
    if depth == 0 {
        return;
    }
    let tile_rows = a
        .chunks_exact(ROWS * depth)
        .zip(out.chunks_exact_mut(ROWS * n));
    for (a_rows, out_rows) in tile_rows {
        for c0 in (0..n).step_by(COLS) {
            let mut acc = [[0f32; COLS]; ROWS];
            for (t, b_row) in b.chunks_exact(n).enumerate() {
                let b_tile: [f32; COLS] = std::array::from_fn(|c| b_row[c0 + c]);
                for (r, acc_row) in acc.iter_mut().enumerate() {
                    let x = a_rows[r * depth + t];
                    for (sum, &y) in acc_row.iter_mut().zip(&b_tile) {
                        *sum += x * y;
                    }
                }
            }
            for (r, acc_row) in acc.iter().enumerate() {
                out_rows[r * n + c0..][..COLS].copy_from_slice(acc_row);
            }
        }
    }
}
