//! The classification head of `DistilBertForSequenceClassification`: pooled
//! vector -> `pre_classifier` -> ReLU -> dropout -> `classifier` -> logits, fed
//! by a configurable [`Pooling`].

use candle_core::{DType, Module, Tensor, D};
use candle_nn::{linear, Linear, VarBuilder};

use super::config::{Config, Pooling};
use super::layers::{Dropout, Mode};
use crate::Result;

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
    pub fn load(vb: VarBuilder, config: &Config, num_labels: usize) -> Result<Self> {
        Ok(Self {
            pooling: config.pooling,
            pre_classifier: linear(config.dim, config.dim, vb.pp("pre_classifier"))?,
            classifier: linear(config.dim, num_labels, vb.pp("classifier"))?,
            dropout: Dropout::new(config.seq_classif_dropout),
        })
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
        Ok(self.classifier.forward(&pooled)?)
    }
}
