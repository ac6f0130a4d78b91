//! The DistilBERT encoder: token + position embeddings, then `n_layers`
//! transformer blocks of multi-head self-attention and a feed-forward network,
//! each followed by a residual LayerNorm. Mirrors Hugging Face's
//! `modeling_distilbert.py` layer for layer, and its tensor names.
//!
//! Input: token ids `(batch, seq)` as u32 and an attention mask of the same
//! shape with Hugging Face's meaning (1 = real token, 0 = padding). Output:
//! the last hidden states `(batch, seq, dim)`.

use candle_core::{DType, Tensor};
use rayon::prelude::*;

use super::config::{Activation, Config, LAYER_NORM_EPS};
use super::layers::{Dropout, Embedding, LayerNorm, Linear, Mode};
use super::quantized_block;
use super::weights::Source;
use crate::kernels::{attention, fused};
use crate::{Error, Result};

/// Word and learned position embeddings, summed and normalised.
#[derive(Debug, Clone)]
struct Embeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    layer_norm: LayerNorm,
    dropout: Dropout,
    max_positions: usize,
}

impl Embeddings {
    fn load(source: &Source, config: &Config) -> Result<Self> {
        Ok(Self {
            word_embeddings: Embedding::load(
                config.vocab_size,
                config.dim,
                &source.pp("word_embeddings"),
            )?,
            position_embeddings: Embedding::load(
                config.max_position_embeddings,
                config.dim,
                &source.pp("position_embeddings"),
            )?,
            layer_norm: LayerNorm::load(config.dim, LAYER_NORM_EPS, &source.pp("LayerNorm"))?,
            dropout: Dropout::new(config.dropout),
            max_positions: config.max_position_embeddings,
        })
    }

    /// Everything after the word lookup: `words` `(batch, seq, dim)`.
    fn forward(&self, words: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let (_, seq_len, _) = words.dims3()?;
        if seq_len > self.max_positions {
            return Err(Error::Config(format!(
                "input of {seq_len} tokens exceeds max_position_embeddings ({}); truncate it",
                self.max_positions
            )));
        }
        let positions = Tensor::arange(0u32, seq_len as u32, words.device())?;
        let positions = self.position_embeddings.forward(&positions)?;
        let summed = words.broadcast_add(&positions)?;
        let normed = self.layer_norm.forward(&summed)?;
        self.dropout.forward(&normed, mode)
    }
}

/// Multi-head scaled dot-product self-attention (`MultiHeadSelfAttention`).
#[derive(Debug, Clone)]
struct SelfAttention {
    q_lin: Linear,
    k_lin: Linear,
    v_lin: Linear,
    out_lin: Linear,
    dropout: Dropout,
    n_heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    fn load(source: &Source, config: &Config) -> Result<Self> {
        let dim = config.dim;
        Ok(Self {
            q_lin: Linear::load(dim, dim, &source.pp("q_lin"))?,
            k_lin: Linear::load(dim, dim, &source.pp("k_lin"))?,
            v_lin: Linear::load(dim, dim, &source.pp("v_lin"))?,
            out_lin: Linear::load(dim, dim, &source.pp("out_lin"))?,
            dropout: Dropout::new(config.attention_dropout),
            n_heads: config.n_heads,
            head_dim: config.head_dim(),
        })
    }

    /// The queries' scale, `1 / sqrt(head_dim)`.
    fn scale(&self) -> f32 {
        (1.0 / (self.head_dim as f64).sqrt()) as f32
    }

    /// `mask_bias` is `(batch, 1, 1, seq)`: 0 for real tokens, a huge negative for padding.
    fn forward(&self, x: &Tensor, mask_bias: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let heads = self.n_heads;
        let scale = self.scale();
        let context = match mode {
            // One pass per head, the same bits in wasm and natively.
            Mode::Infer => {
                let q = self.q_lin.forward(x)?;
                let k = self.k_lin.forward(x)?;
                let v = self.v_lin.forward(x)?;
                attention::attention(&q, &k, &v, mask_bias, heads, scale)?
            }
            Mode::Train(..) => {
                let q = fused::split_heads(&self.q_lin.forward(x)?, heads, Some(scale))?;
                let k = fused::split_heads(&self.k_lin.forward(x)?, heads, None)?;
                let v = fused::split_heads(&self.v_lin.forward(x)?, heads, None)?;
                let weights = fused::masked_softmax(&q.matmul(&k.t()?)?, mask_bias)?;
                let weights = self.dropout.forward(&weights, mode)?;
                fused::merge_heads(&weights.matmul(&v)?, heads)?
            }
        };
        self.out_lin.forward(&context)
    }
}

/// Position-wise feed-forward network (`FFN`): lin1, activation, lin2, dropout.
#[derive(Debug, Clone)]
struct FeedForward {
    lin1: Linear,
    lin2: Linear,
    activation: Activation,
    dropout: Dropout,
}

impl FeedForward {
    fn load(source: &Source, config: &Config) -> Result<Self> {
        Ok(Self {
            lin1: Linear::load(config.dim, config.hidden_dim, &source.pp("lin1"))?,
            lin2: Linear::load(config.hidden_dim, config.dim, &source.pp("lin2"))?,
            activation: config.activation,
            dropout: Dropout::new(config.dropout),
        })
    }

    fn forward(&self, x: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let hidden = self.lin1.forward(x)?;
        let hidden = match self.activation {
            Activation::Gelu => fused::gelu_erf(&hidden)?,
            Activation::Relu => hidden.relu()?,
        };
        let out = self.lin2.forward(&hidden)?;
        self.dropout.forward(&out, mode)
    }
}

/// One transformer block (`TransformerBlock`), post-LayerNorm as in DistilBERT.
#[derive(Debug, Clone)]
struct Block {
    attention: SelfAttention,
    sa_layer_norm: LayerNorm,
    ffn: FeedForward,
    output_layer_norm: LayerNorm,
}

impl Block {
    fn load(source: &Source, config: &Config) -> Result<Self> {
        Ok(Self {
            attention: SelfAttention::load(&source.pp("attention"), config)?,
            sa_layer_norm: LayerNorm::load(
                config.dim,
                LAYER_NORM_EPS,
                &source.pp("sa_layer_norm"),
            )?,
            ffn: FeedForward::load(&source.pp("ffn"), config)?,
            output_layer_norm: LayerNorm::load(
                config.dim,
                LAYER_NORM_EPS,
                &source.pp("output_layer_norm"),
            )?,
        })
    }

    /// A bundle's block at inference runs as [`quantized_block`]; anything
    /// else op by op.
    fn forward(&self, x: &Tensor, mask_bias: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        if let Mode::Infer = mode {
            if let Some(weights) = self.quantized()? {
                return quantized_block::forward(&weights, x, mask_bias);
            }
        }
        self.forward_ops(x, mask_bias, mode)
    }

    /// The block op by op: training, f32 weights, and the reference the
    /// quantized pass must match bit for bit.
    fn forward_ops(&self, x: &Tensor, mask_bias: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let attended = self.attention.forward(x, mask_bias, mode)?;
        let attended = self.sa_layer_norm.forward(&(attended + x)?)?;
        let transformed = self.ffn.forward(&attended, mode)?;
        self.output_layer_norm.forward(&(transformed + attended)?)
    }

    /// What [`quantized_block::forward`] reads, where every linear layer is
    /// integer (a bundle's) and the activation is GELU.
    fn quantized(&self) -> Result<Option<quantized_block::Weights<'_>>> {
        let (attention, ffn) = (&self.attention, &self.ffn);
        if ffn.activation != Activation::Gelu {
            return Ok(None);
        }
        let [q, k, v, out, lin1, lin2] = [
            &attention.q_lin,
            &attention.k_lin,
            &attention.v_lin,
            &attention.out_lin,
            &ffn.lin1,
            &ffn.lin2,
        ]
        .map(Linear::projection);
        let (Some(q), Some(k), Some(v), Some(out), Some(lin1), Some(lin2)) =
            (q?, k?, v?, out?, lin1?, lin2?)
        else {
            return Ok(None);
        };
        Ok(Some(quantized_block::Weights {
            q,
            k,
            v,
            out,
            sa_norm: self.sa_layer_norm.values()?,
            lin1,
            lin2,
            output_norm: self.output_layer_norm.values()?,
            heads: attention.n_heads,
            scale: attention.scale(),
        }))
    }
}

/// The DistilBERT encoder (`DistilBertModel`).
#[derive(Debug, Clone)]
pub struct Encoder {
    embeddings: Embeddings,
    layers: Vec<Block>,
}

impl Encoder {
    /// Loads from a source rooted at the encoder (`embeddings.*`, `transformer.*`).
    pub fn load(source: &Source, config: &Config) -> Result<Self> {
        config.validate()?;
        // The layers load on rayon's threads: converting a bundle's quantized
        // matrices to int8 is most of a page's model load.
        let layers = (0..config.n_layers)
            .into_par_iter()
            .map(|i| Block::load(&source.pp(format!("transformer.layer.{i}")), config))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embeddings: Embeddings::load(&source.pp("embeddings"), config)?,
            layers,
        })
    }

    /// Last hidden states `(batch, seq, dim)` for `input_ids` and `attention_mask`
    /// (both `(batch, seq)`, mask 1 = real token).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        mode: Mode,
    ) -> Result<Tensor> {
        let words = self.word_vectors(input_ids)?;
        self.forward_words(&words, attention_mask, mode)
    }

    /// The word-embedding rows of `input_ids`: `(batch, seq, dim)`.
    pub fn word_vectors(&self, input_ids: &Tensor) -> Result<Tensor> {
        self.embeddings.word_embeddings.forward(input_ids)
    }

    /// [`Encoder::forward`] from word vectors already looked up, so training
    /// can take the gradient of the rows a batch reads instead of the table's.
    pub fn forward_words(
        &self,
        words: &Tensor,
        attention_mask: &Tensor,
        mut mode: Mode,
    ) -> Result<Tensor> {
        let (batch, seq, _) = words.dims3()?;
        if attention_mask.dims2()? != (batch, seq) {
            return Err(Error::Config(format!(
                "attention mask {:?} does not match input ids {:?}",
                attention_mask.shape(),
                (batch, seq)
            )));
        }
        let mask_bias = padding_bias(attention_mask)?;
        let mut hidden = self.embeddings.forward(words, &mut mode)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &mask_bias, &mut mode)?;
        }
        Ok(hidden)
    }
}

/// `(batch, seq)` mask -> `(batch, 1, 1, seq)` additive bias: 0 where the mask
/// is 1, `f32::MIN` where it is 0 (Hugging Face fills with `finfo.min`).
fn padding_bias(attention_mask: &Tensor) -> Result<Tensor> {
    let (batch, seq) = attention_mask.dims2()?;
    let padding = (1.0 - attention_mask.to_dtype(DType::F32)?)?;
    Ok((padding * f64::from(f32::MIN))?.reshape((batch, 1, 1, seq))?)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::Device;

    use super::*;
    use crate::model::weights;

    /// The tiny fixture model's encoder with its matrices quantized to q8_0,
    /// as a bundle holds them.
    fn quantized_tiny_encoder() -> (Config, Encoder) {
        let config = Config::from_json(include_bytes!("../../tests/fixtures/tiny/config.json"))
            .expect("tiny config");
        let tensors = weights::from_safetensors(include_bytes!(
            "../../tests/fixtures/tiny/model.safetensors"
        ))
        .expect("tiny weights");
        let quantized: HashMap<_, _> = tensors
            .into_iter()
            .map(|(name, tensor)| {
                let dtype = if tensor.rank() == 2 {
                    GgmlDType::Q8_0
                } else {
                    GgmlDType::F32
                };
                let tensor = QTensor::quantize(&tensor, dtype).expect("quantize");
                (name, Arc::new(tensor))
            })
            .collect();
        let source = Source::quantized(quantized).pp(weights::ENCODER_PREFIX);
        let encoder = Encoder::load(&source, &config).expect("tiny encoder");
        (config, encoder)
    }

    /// Two texts, the second padded after 5 of its 9 tokens.
    #[test]
    fn the_quantized_block_pass_gives_the_op_by_op_bits() {
        let (config, encoder) = quantized_tiny_encoder();
        let (batch, seq) = (2, 9);
        let values: Vec<f32> = (0..batch * seq * config.dim)
            .map(|i| ((i * 7919 % 1000) as f32 / 250.0 - 2.0) * if i % 29 == 0 { 8.0 } else { 1.0 })
            .collect();
        let x = Tensor::from_vec(values, (batch, seq, config.dim), &Device::Cpu).unwrap();
        let mut mask = vec![1u32; batch * seq];
        mask[seq + 5..].fill(0);
        let mask = Tensor::from_vec(mask, (batch, seq), &Device::Cpu).unwrap();
        let bias = padding_bias(&mask).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for block in &encoder.layers {
            assert!(
                block.quantized().unwrap().is_some(),
                "a q8_0 block runs quantized"
            );
            let bits = |t: Tensor| -> Vec<u32> {
                t.flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect()
            };
            let fast = pool
                .install(|| block.forward(&x, &bias, &mut Mode::Infer))
                .unwrap();
            let ops = block.forward_ops(&x, &bias, &mut Mode::Infer).unwrap();
            assert_eq!(bits(fast), bits(ops));
        }
    }
}
