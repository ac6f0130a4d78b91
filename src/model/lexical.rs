//! The encoder's bag-of-words companion: TF-IDF over the very WordPiece
//! tokens the encoder reads, then one logistic regression per genre. Its
//! logits are blended into the head's, so one bundle carries both and the
//! browser runs both. Word counts see what a 128-token encoder summarises
//! away (names, rare words), which is why the blend beats either alone.

use candle_core::{Device, Tensor};

use super::weights::Source;
use crate::{Error, Result};

/// Names below this prefix hold the lexical model.
pub const PREFIX: &str = "lexical";
/// Inverse document frequency per vocabulary id; 0 marks a token that is
/// not a feature.
pub const IDF: &str = "idf";
/// `(labels, padded features)` regression weights, features in vocabulary order.
pub const WEIGHT: &str = "weight";
/// One intercept per label.
pub const BIAS: &str = "bias";
/// The lexical logits' share of the blend, in [0, 1].
pub const SHARE: &str = "share";
/// Feature rows are padded to a multiple of this, the block of the 4- and
/// 8-bit bundle types, so the weights quantize like any matrix.
pub const FEATURE_BLOCK: usize = 32;

/// Which vocabulary ids are features and how rare each is.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// Feature index of each vocabulary id, `None` for non-features.
    feature_of: Vec<Option<u32>>,
    /// Inverse document frequency of each feature.
    idf: Vec<f32>,
}

impl Vocabulary {
    /// Reads an IDF table over the whole vocabulary (0 = not a feature).
    pub fn from_idf_table(table: &[f32]) -> Result<Self> {
        let mut feature_of = Vec::with_capacity(table.len());
        let mut idf = Vec::new();
        for (id, &value) in table.iter().enumerate() {
            if !value.is_finite() || value < 0.0 {
                return Err(Error::Weights(format!(
                    "{PREFIX}.{IDF}[{id}] is {value}; inverse document frequencies are finite and non-negative"
                )));
            }
            if value > 0.0 {
                feature_of.push(Some(idf.len() as u32));
                idf.push(value);
            } else {
                feature_of.push(None);
            }
        }
        Ok(Self { feature_of, idf })
    }

    /// The number of features.
    pub fn len(&self) -> usize {
        self.idf.len()
    }

    /// Whether no token is a feature.
    pub fn is_empty(&self) -> bool {
        self.idf.is_empty()
    }

    /// Sublinear TF-IDF of one text's token ids (1 + ln count, times IDF),
    /// L2-normalised, as `(feature, value)` in feature order. Ids outside
    /// the vocabulary or not features are skipped.
    pub fn vectorize(&self, ids: &[u32]) -> Vec<(usize, f32)> {
        let mut features: Vec<usize> = ids
            .iter()
            .filter_map(|&id| self.feature_of.get(id as usize).copied().flatten())
            .map(|f| f as usize)
            .collect();
        features.sort_unstable();
        let mut vector: Vec<(usize, f32)> = Vec::new();
        for feature in features {
            match vector.last_mut() {
                Some((last, count)) if *last == feature => *count += 1.0,
                _ => vector.push((feature, 1.0)),
            }
        }
        for (feature, value) in &mut vector {
            *value = (1.0 + value.ln()) * self.idf[*feature];
        }
        let norm = vector.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (_, value) in &mut vector {
                *value /= norm;
            }
        }
        vector
    }
}

/// A trained lexical model and its share of the blend.
#[derive(Debug, Clone)]
pub struct Lexical {
    vocabulary: Vocabulary,
    /// `features x labels`, row-major: one row of label weights per feature.
    weights: Vec<f32>,
    bias: Vec<f32>,
    share: f32,
}

impl Lexical {
    /// Loads `lexical.*` for `num_labels` labels over a `vocab_size`
    /// vocabulary; `None` when the model has no lexical part.
    pub fn load(source: &Source, vocab_size: usize, num_labels: usize) -> Result<Option<Self>> {
        let source = source.pp(PREFIX);
        if !source.contains(IDF) {
            return Ok(None);
        }
        let vocabulary =
            Vocabulary::from_idf_table(&source.get(vocab_size, IDF)?.to_vec1::<f32>()?)?;
        let padded = padded_features(vocabulary.len());
        let by_label = source.get((num_labels, padded), WEIGHT)?.to_vec2::<f32>()?;
        let mut weights = vec![0f32; vocabulary.len() * num_labels];
        for (label, row) in by_label.iter().enumerate() {
            for (feature, &w) in row.iter().take(vocabulary.len()).enumerate() {
                weights[feature * num_labels + label] = w;
            }
        }
        let share = source.get(1, SHARE)?.to_vec1::<f32>()?[0];
        if !(0.0..=1.0).contains(&share) {
            return Err(Error::Weights(format!(
                "{PREFIX}.{SHARE} is {share}; a blend share lies in [0, 1]"
            )));
        }
        Ok(Some(Self {
            vocabulary,
            weights,
            bias: source.get(num_labels, BIAS)?.to_vec1::<f32>()?,
            share,
        }))
    }

    /// Logits of one text's token ids, one per label.
    pub fn logits_of(&self, ids: &[u32]) -> Vec<f32> {
        let labels = self.bias.len();
        let mut logits = self.bias.clone();
        for (feature, value) in self.vocabulary.vectorize(ids) {
            let row = &self.weights[feature * labels..(feature + 1) * labels];
            for (logit, &w) in logits.iter_mut().zip(row) {
                *logit += value * w;
            }
        }
        logits
    }

    /// The head's `(batch, labels)` logits blended with the lexical logits
    /// of the same padded batch (padding, mask 0, is not counted).
    pub fn blend(
        &self,
        head_logits: &Tensor,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> Result<Tensor> {
        let rows: Vec<f32> = read_ids(input_ids, attention_mask)?
            .iter()
            .flat_map(|ids| self.logits_of(ids))
            .collect();
        let lexical = Tensor::from_vec(rows, head_logits.shape(), &Device::Cpu)?;
        let share = f64::from(self.share);
        Ok(((head_logits * (1.0 - share))? + (lexical * share)?)?)
    }
}

/// The ids of each row of a padded `(batch, seq)` batch that are real
/// tokens (mask 1), in order.
pub fn read_ids(input_ids: &Tensor, attention_mask: &Tensor) -> Result<Vec<Vec<u32>>> {
    let ids = input_ids.to_vec2::<u32>()?;
    let mask = attention_mask.to_vec2::<u32>()?;
    Ok(ids
        .iter()
        .zip(&mask)
        .map(|(ids, mask)| {
            ids.iter()
                .zip(mask)
                .filter(|(_, &m)| m == 1)
                .map(|(&id, _)| id)
                .collect()
        })
        .collect())
}

/// Weight columns stored for `features` features.
pub fn padded_features(features: usize) -> usize {
    features.div_ceil(FEATURE_BLOCK).max(1) * FEATURE_BLOCK
}
