//! Building blocks shared by every layer of the encoder and head: the forward
//! [`Mode`], and LayerNorm, softmax and dropout that pick, per mode, between
//! candle's fused kernels (fast, but with no backward pass) and compositions
//! of differentiable tensor ops.

use candle_core::{Tensor, D};
use candle_nn::VarBuilder;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::Result;

/// The random source of dropout masks; seeded, so training is reproducible.
pub type DropoutRng = ChaCha8Rng;

/// Whether a forward pass infers or trains.
///
/// `Infer` uses fused kernels and no dropout. `Train` uses only ops that
/// record a backward pass (candle-nn's fused `layer_norm` and
/// `softmax_last_dim` record none, which would silently stop gradients below
/// them) and draws dropout masks from the given generator.
pub enum Mode<'a> {
    Infer,
    Train(&'a mut DropoutRng),
}

impl Mode<'_> {
    /// A shorter-lived copy, so one mode can be passed down layer after layer.
    pub fn reborrow(&mut self) -> Mode<'_> {
        match self {
            Mode::Infer => Mode::Infer,
            Mode::Train(rng) => Mode::Train(rng),
        }
    }
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
    pub fn load(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get(dim, "weight")?,
            bias: vb.get(dim, "bias")?,
            eps,
        })
    }

    /// `(x - mean) / sqrt(var + eps) * weight + bias` over the last dimension.
    pub fn forward(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        if let Mode::Infer = mode {
            let x = x.contiguous()?;
            return Ok(candle_nn::ops::layer_norm(
                &x,
                &self.weight,
                &self.bias,
                self.eps as f32,
            )?);
        }
        let mean = x.mean_keepdim(D::Minus1)?;
        let centered = x.broadcast_sub(&mean)?;
        let variance = centered.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centered.broadcast_div(&(variance + self.eps)?.sqrt()?)?;
        Ok(normed
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)?)
    }
}

/// Softmax over the last dimension.
pub fn softmax(x: &Tensor, mode: &Mode) -> Result<Tensor> {
    Ok(match mode {
        Mode::Infer => candle_nn::ops::softmax_last_dim(x)?,
        Mode::Train(_) => candle_nn::ops::softmax(x, D::Minus1)?,
    })
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
        let rng = match mode {
            Mode::Train(rng) if self.p > 0.0 => rng,
            _ => return Ok(x.clone()),
        };
        let keep_scale = (1.0 / (1.0 - self.p)) as f32;
        let p = self.p as f32;
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| {
                if rng.random::<f32>() < p {
                    0.0
                } else {
                    keep_scale
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        Ok((x * mask)?)
    }
}
