//! Text to model input: the `tokenizers` crate's WordPiece pipeline loaded
//! from a `tokenizer.json`, with truncation to the model's maximum length and
//! padding to the longest text of each batch.

use candle_core::{Device, Tensor};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::{Error, Result};

/// Maximum tokens per text unless configured otherwise (`[CLS]` and `[SEP]` included).
pub const DEFAULT_MAX_LENGTH: usize = 128;

/// Token ids and attention masks of a batch, padded to its longest text.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `(batch, seq)` u32 token ids.
    pub input_ids: Tensor,
    /// `(batch, seq)` u32, 1 = real token, 0 = padding.
    pub attention_mask: Tensor,
    /// Real tokens of each text.
    pub lengths: Vec<usize>,
    /// Whether each text was cut to the maximum length.
    pub truncated: Vec<bool>,
}

/// A WordPiece tokenizer configured for one model.
#[derive(Clone)]
pub struct TextEncoder {
    tokenizer: Tokenizer,
    max_length: usize,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEncoder")
            .field("vocab_size", &self.tokenizer.get_vocab_size(true))
            .field("max_length", &self.max_length)
            .finish()
    }
}

impl TextEncoder {
    /// Loads `tokenizer.json` bytes; texts are cut to `max_length` tokens.
    pub fn from_bytes(tokenizer_json: &[u8], max_length: usize) -> Result<Self> {
        if max_length < 2 {
            return Err(Error::Tokenizer(format!(
                "max length {max_length} leaves no room for [CLS] and [SEP]; use at least 2"
            )));
        }
        let mut tokenizer = Tokenizer::from_bytes(tokenizer_json)
            .map_err(|e| Error::Tokenizer(format!("not a valid tokenizer.json: {e}")))?;
        let pad_token = tokenizer
            .get_padding()
            .map(|p| p.pad_token.clone())
            .unwrap_or_else(|| "[PAD]".to_string());
        let pad_id = tokenizer.token_to_id(&pad_token).ok_or_else(|| {
            Error::Tokenizer(format!("the vocabulary has no padding token {pad_token:?}"))
        })?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| Error::Tokenizer(format!("cannot truncate to {max_length}: {e}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..Default::default()
        }));
        Ok(Self {
            tokenizer,
            max_length,
        })
    }

    /// The maximum tokens per text.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Encodes texts into one padded batch on the CPU.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Batch> {
        if texts.is_empty() {
            return Err(Error::Tokenizer("cannot encode an empty batch".into()));
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let seq = encodings[0].len();
        let ids: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_ids().to_vec())
            .collect();
        let mask: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_attention_mask().to_vec())
            .collect();
        let lengths = encodings
            .iter()
            .map(|e| e.get_attention_mask().iter().filter(|&&m| m == 1).count())
            .collect();
        let truncated = encodings
            .iter()
            .map(|e| !e.get_overflowing().is_empty())
            .collect();
        let shape = (texts.len(), seq);
        Ok(Batch {
            input_ids: Tensor::from_vec(ids, shape, &Device::Cpu)?,
            attention_mask: Tensor::from_vec(mask, shape, &Device::Cpu)?,
            lengths,
            truncated,
        })
    }
}

/// Replaces every run of Unicode whitespace with one space and trims, so that
/// every implementation hashes the same text.
pub fn normalize_text(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text a model reads for a plot and an optional title: `"Title. plot"`,
/// exactly the form of the `movies` training data (EVALUATION.md).
pub fn model_input(title: Option<&str>, plot: &str) -> String {
    match title {
        Some(title) => format!("{}. {plot}", normalize_text(title)),
        None => plot.to_string(),
    }
}
