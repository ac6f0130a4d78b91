//! The model's `config.json`: Hugging Face's `DistilBertConfig` keys, plus the
//! pooling choice this crate adds. Unknown keys are kept, so a config written
//! back is still a valid Hugging Face config.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// LayerNorm epsilon; DistilBERT hard-codes it (modeling_distilbert.py, `eps=1e-12`).
pub const LAYER_NORM_EPS: f64 = 1e-12;

/// How the classification head turns a sequence of hidden states into one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "train", derive(clap::ValueEnum))]
pub enum Pooling {
    /// The first token (`[CLS]`), as `DistilBertForSequenceClassification` does.
    #[default]
    Cls,
    /// The mean of the real (unmasked) tokens, as all-MiniLM-L6-v2 was trained.
    Mean,
}

/// Feed-forward activation; DistilBERT checkpoints use `gelu` (the erf form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Gelu,
    Relu,
}

fn default_dropout() -> f64 {
    0.1
}

fn default_seq_classif_dropout() -> f64 {
    0.2
}

/// Hyper-parameters of a DistilBERT encoder and its classification head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub hidden_dim: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_dropout")]
    pub dropout: f64,
    #[serde(default = "default_dropout")]
    pub attention_dropout: f64,
    #[serde(default = "default_seq_classif_dropout")]
    pub seq_classif_dropout: f64,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default)]
    pub pad_token_id: u32,
    /// Class names by index (Hugging Face keys them by the index as a string).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub id2label: BTreeMap<String, String>,
    #[serde(default)]
    pub pooling: Pooling,
    /// Keys this crate does not interpret, kept for the round trip.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Config {
    /// Parses and validates a `config.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let config: Config = serde_json::from_slice(bytes)?;
        config.validate()?;
        Ok(config)
    }

    /// Serializes to pretty JSON, the form written next to the weights.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Checks the relations the layers rely on, so a bad config fails here
    /// with the offending field rather than deep inside a matmul.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("dim", self.dim),
            ("n_layers", self.n_layers),
            ("n_heads", self.n_heads),
            ("hidden_dim", self.hidden_dim),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(Error::Config(format!("`{name}` must be positive")));
        }
        if self.dim % self.n_heads != 0 {
            return Err(Error::Config(format!(
                "`dim` ({}) must be a multiple of `n_heads` ({})",
                self.dim, self.n_heads
            )));
        }
        for (name, p) in [
            ("dropout", self.dropout),
            ("attention_dropout", self.attention_dropout),
            ("seq_classif_dropout", self.seq_classif_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::Config(format!(
                    "`{name}` must be in [0, 1), got {p}"
                )));
            }
        }
        self.labels().map(|_| ())
    }

    /// Class names in index order; empty for an encoder without a head.
    pub fn labels(&self) -> Result<Vec<String>> {
        let mut labels = vec![None; self.id2label.len()];
        for (key, name) in &self.id2label {
            let index = key
                .parse::<usize>()
                .ok()
                .filter(|&i| i < labels.len())
                .ok_or_else(|| {
                    Error::Config(format!(
                        "`id2label` key {key:?} is not an index below {}",
                        labels.len()
                    ))
                })?;
            labels[index] = Some(name.clone());
        }
        Ok(labels.into_iter().flatten().collect())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.dim / self.n_heads
    }
}
