//! Building blocks shared by every layer of the encoder and head: the forward
//! [`Mode`], linear layers, LayerNorm and dropout. They run on the fused
//! kernels of [`crate::kernels::fused`], which have backward passes, so training and
//! inference share one definition.

use std::ops::Range;

use candle_core::Tensor;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::quantized_block::{Norm, Projection};
use super::weights::{Matrix, Source, Table};
use crate::kernels::fused;
use crate::Result;

/// The random source of dropout masks; seeded, so training is reproducible.
pub type DropoutRng = ChaCha8Rng;

/// Whether a forward pass infers (no dropout) or trains (dropout masks drawn
/// from the given generator, for the whole batch or for one [`Shard`] of it).
pub enum Mode<'a> {
    Infer,
    Train(&'a mut DropoutRng, Option<&'a Shard>),
}

impl Mode<'_> {
    /// A shorter-lived copy, so one mode can be passed down layer after layer.
    pub fn reborrow(&mut self) -> Mode<'_> {
        match self {
            Mode::Infer => Mode::Infer,
            Mode::Train(rng, shard) => Mode::Train(rng, *shard),
        }
    }
}

/// The rows of a batch that one training pass holds, when the batch is cut
/// into shards that run apart. Each shard's generator starts where the whole
/// batch's would, and every dropout layer draws, for the shard's rows, the
/// values they get in the whole batch, then skips past the batch's draws: so
/// sharding changes no mask, only the order in which gradients are summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// The shard's rows, as indexes into the batch.
    pub rows: Range<usize>,
    /// Rows in the whole batch.
    pub batch_rows: usize,
}

/// Layer normalisation over the last dimension, with DistilBERT's epsilon.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Loads `weight` and `bias` of width `dim`.
    pub fn load(dim: usize, eps: f64, source: &Source) -> Result<Self> {
        Ok(Self {
            weight: source.get(dim, "weight")?,
            bias: source.get(dim, "bias")?,
            eps,
        })
    }

    /// Weight, bias and epsilon as values, for a pass that runs on slices.
    pub(super) fn values(&self) -> Result<Norm> {
        Ok(Norm {
            weight: self.weight.to_vec1()?,
            bias: self.bias.to_vec1()?,
            eps: self.eps as f32,
        })
    }

    /// `(x - mean) / sqrt(var + eps) * weight + bias` over the last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(fused::layer_norm(
            x,
            &self.weight,
            &self.bias,
            self.eps as f32,
        )?)
    }
}

/// A fully connected layer, `x @ weight^T + bias`, over the last dimension.
///
/// Unlike candle-nn's `Linear`, which multiplies a `(batch, seq, in)` input
/// by the weight broadcast over the batch, this flattens the input to one
/// `(batch * seq, in)` matrix: one large matrix product instead of a batch of
/// small ones, and in the backward pass one weight gradient instead of one
/// per row to sum. A quantized bundle's weight is an integer matrix
/// ([`Matrix::Int8`]); only the product differs.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Matrix,
    bias: Tensor,
}

impl Linear {
    /// Loads `weight` `(out, in)` and `bias` `(out,)`.
    pub fn load(in_dim: usize, out_dim: usize, source: &Source) -> Result<Self> {
        Ok(Self {
            weight: source.matrix(out_dim, in_dim, "weight")?,
            bias: source.get(out_dim, "bias")?,
        })
    }

    /// The integer weights and the bias, where a bundle's weights are
    /// integer: for a pass that runs on slices.
    pub(super) fn projection(&self) -> Result<Option<Projection<'_>>> {
        Ok(match &self.weight {
            Matrix::Dense(_) => None,
            Matrix::Int8(matrix) => Some(Projection {
                matrix,
                bias: self.bias.to_vec1()?,
            }),
        })
    }

    /// Applies the layer to `(..., in)`, giving `(..., out)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let weight = match &self.weight {
            Matrix::Dense(weight) => return Ok(fused::linear(x, weight, &self.bias)?),
            Matrix::Int8(weight) => weight,
        };
        let mut dims = x.dims().to_vec();
        let in_dim = dims.pop().unwrap_or(1);
        let rows = dims.iter().product::<usize>();
        let out = weight.linear(&x.reshape((rows, in_dim))?, &self.bias)?;
        dims.push(out.dim(1)?);
        Ok(out.reshape(dims)?)
    }
}

/// A lookup table of row vectors (token or position embeddings), dense or
/// quantized; quantized rows are expanded only when looked up.
#[derive(Debug, Clone)]
pub struct Embedding {
    table: Table,
}

impl Embedding {
    /// Loads `weight` `(rows, dim)`.
    pub fn load(rows: usize, dim: usize, source: &Source) -> Result<Self> {
        Ok(Self {
            table: source.table(rows, dim, "weight")?,
        })
    }

    /// Rows of `ids` (any shape), giving `(..ids, dim)`.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(match &self.table {
            Table::Dense(table) => {
                let mut dims = ids.dims().to_vec();
                dims.push(table.dim(1)?);
                table.index_select(&ids.flatten_all()?, 0)?.reshape(dims)?
            }
            Table::Quantized(table) => table.embedding(ids)?,
        })
    }
}

/// Inverted dropout: zeroes each value with probability `p` while training and
/// scales the rest by `1 / (1 - p)`; the identity at inference.
#[derive(Debug, Clone, Copy)]
pub struct Dropout {
    p: f64,
}

impl Dropout {
    /// A dropout layer with drop probability `p` (validated by the config).
    pub fn new(p: f64) -> Self {
        Self { p }
    }

    /// Applies the layer; draws the mask from the training generator.
    pub fn forward(&self, x: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let (rng, shard) = match mode {
            Mode::Train(rng, shard) if self.p > 0.0 => (rng, *shard),
            _ => return Ok(x.clone()),
        };
        let count = x.elem_count();
        let (skipped, batch_count) = match shard {
            None => (0, count),
            Some(shard) => {
                let rows = x.dim(0)?;
                if rows != shard.rows.len() || shard.rows.end > shard.batch_rows {
                    return Err(candle_core::Error::Msg(format!(
                        "dropout: a shard of rows {:?} of {} cannot hold {rows} rows",
                        shard.rows, shard.batch_rows
                    ))
                    .into());
                }
                let per_row = count / rows.max(1);
                (shard.rows.start * per_row, shard.batch_rows * per_row)
            }
        };
        let start = rng.get_word_pos();
        rng.set_word_pos(start + skipped as u128);
        let keep_scale = (1.0 / (1.0 - self.p)) as f32;
        let p = self.p as f32;
        let mask: Vec<f32> = (0..count)
            .map(|_| {
                if rng.random::<f32>() < p {
                    0.0
                } else {
                    keep_scale
                }
            })
            .collect();
        rng.set_word_pos(start + batch_count as u128);
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        Ok(fused::apply_mask(x, mask)?)
    }
}
