//! The classification head of `DistilBertForSequenceClassification`: pooled
//! vector -> `pre_classifier` -> ReLU -> dropout -> `classifier` -> logits, fed
//! by a configurable [`Pooling`].

use candle_core::{DType, Device, Tensor, D};

use super::config::{Config, Pooling};
use super::layers::{Dropout, Linear, Mode};
use super::weights::{Source, Tensors};
use crate::Result;
use rand::Rng;

/// Hugging Face's default `initializer_range`, for configs that lack one.
const DEFAULT_INITIALIZER_RANGE: f64 = 0.02;

/// Pools `(batch, seq, dim)` hidden states into `(batch, dim)`.
pub fn pool(hidden: &Tensor, attention_mask: &Tensor, pooling: Pooling) -> Result<Tensor> {
    match pooling {
        Pooling::Cls => Ok(hidden.narrow(1, 0, 1)?.squeeze(1)?),
        Pooling::Mean => {
            let mask = attention_mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            // An all-padding row would divide by zero; sentence-transformers clamps the same way.
            let counts = mask.sum(1)?.clamp(1e-9, f64::INFINITY)?;
            Ok(summed.broadcast_div(&counts)?)
        }
    }
}

/// Pooling, then two linear layers with a ReLU between them.
#[derive(Debug, Clone)]
pub struct Head {
    pooling: Pooling,
    pre_classifier: Linear,
    classifier: Linear,
    dropout: Dropout,
}

impl Head {
    /// Loads `pre_classifier.*` and `classifier.*` for `num_labels` classes.
    pub fn load(source: &Source, config: &Config, num_labels: usize) -> Result<Self> {
        Ok(Self {
            pooling: config.pooling,
            pre_classifier: Linear::load(config.dim, config.dim, &source.pp("pre_classifier"))?,
            classifier: Linear::load(config.dim, num_labels, &source.pp("classifier"))?,
            dropout: Dropout::new(config.seq_classif_dropout),
        })
    }

    /// Weights for a new head, drawn from `rng`: uniform with the standard
    /// deviation of the config's `initializer_range` (Hugging Face draws a
    /// normal with it), zero biases.
    pub fn initial_weights(
        config: &Config,
        num_labels: usize,
        rng: &mut impl Rng,
    ) -> Result<Tensors> {
        let std = config
            .extra
            .get("initializer_range")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(DEFAULT_INITIALIZER_RANGE);
        let bound = (std * 3f64.sqrt()) as f32;
        let mut weights = Tensors::new();
        for (name, rows) in [("pre_classifier", config.dim), ("classifier", num_labels)] {
            let values: Vec<f32> = (0..rows * config.dim)
                .map(|_| rng.random_range(-bound..=bound))
                .collect();
            weights.insert(
                format!("{name}.weight"),
                Tensor::from_vec(values, (rows, config.dim), &Device::Cpu)?,
            );
            weights.insert(
                format!("{name}.bias"),
                Tensor::zeros(rows, DType::F32, &Device::Cpu)?,
            );
        }
        Ok(weights)
    }

    /// Logits `(batch, num_labels)` from the encoder's last hidden states.
    pub fn forward(
        &self,
        hidden: &Tensor,
        attention_mask: &Tensor,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let pooled = pool(hidden, attention_mask, self.pooling)?;
        let pooled = self.pre_classifier.forward(&pooled)?.relu()?;
        let pooled = self.dropout.forward(&pooled, mode)?;
        self.classifier.forward(&pooled)
    }
}
