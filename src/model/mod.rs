//! DistilBERT on candle: the encoder, the classification head, and the model
//! that joins them. One definition serves inference and training; the
//! [`Mode`] passed to `forward` decides which.

pub mod config;
pub mod encoder;
pub mod head;
pub mod layers;
pub mod lexical;
mod quantized_block;
pub mod weights;

use candle_core::{Tensor, Var};

pub use config::{Activation, Config, Pooling};
pub use encoder::Encoder;
pub use head::Head;
pub use layers::{DropoutRng, Mode, Shard};
pub use lexical::Lexical;
pub use weights::{Source, Tensors};

use crate::{Error, Result};

/// A DistilBERT encoder with a sequence-classification head.
#[derive(Debug, Clone)]
pub struct Classifier {
    encoder: Encoder,
    head: Head,
    /// A bag-of-words model blended into the head's logits, when trained.
    lexical: Option<Lexical>,
    labels: Vec<String>,
}

impl Classifier {
    /// Loads from a source over canonical names (see [`weights`]); the
    /// classes come from the config's `id2label`.
    pub fn load(source: &Source, config: &Config) -> Result<Self> {
        let labels = config.labels()?;
        if labels.is_empty() {
            return Err(Error::Config(
                "`id2label` is empty: a classifier needs at least one class".into(),
            ));
        }
        Ok(Self {
            encoder: Encoder::load(&source.pp(weights::ENCODER_PREFIX), config)?,
            head: Head::load(source, config, labels.len())?,
            lexical: Lexical::load(source, config.vocab_size, labels.len())?,
            labels,
        })
    }

    /// Logits `(batch, num_labels)`.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        mode: Mode,
    ) -> Result<Tensor> {
        let words = self.encoder.word_vectors(input_ids)?;
        self.forward_words(&words, input_ids, attention_mask, mode)
    }

    /// [`Classifier::forward`] from the word vectors of `input_ids`, looked
    /// up by the caller (see [`Encoder::forward_words`]).
    pub fn forward_words(
        &self,
        words: &Tensor,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        mut mode: Mode,
    ) -> Result<Tensor> {
        let hidden = self
            .encoder
            .forward_words(words, attention_mask, mode.reborrow())?;
        let logits = self.head.forward(&hidden, attention_mask, &mut mode)?;
        match &self.lexical {
            Some(lexical) => lexical.blend(&logits, input_ids, attention_mask),
            None => Ok(logits),
        }
    }

    /// Builds a classifier whose weights are variables an optimizer can
    /// update, except those `frozen` names: those stay plain tensors, so
    /// backpropagation does not even compute their gradients. `tensors` must
    /// hold every weight (see [`Head::initial_weights`] for a new head).
    pub fn trainable(
        config: &Config,
        tensors: Tensors,
        frozen: impl Fn(&str) -> bool,
    ) -> Result<Trainable> {
        let mut vars = Vec::new();
        let mut all = Tensors::new();
        for (name, tensor) in tensors {
            if frozen(&name) {
                all.insert(name, tensor);
            } else {
                let var = Var::from_tensor(&tensor)?;
                all.insert(name.clone(), var.as_tensor().clone());
                vars.push((name, var));
            }
        }
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let model = Classifier::load(&Source::dense(all), config)?;
        Ok(Trainable { vars, model })
    }

    /// The encoder, for callers that want hidden states.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Class names, in logit order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }
}

/// A classifier backed by trainable variables.
pub struct Trainable {
    /// The weights an optimizer updates, sorted by canonical name.
    pub vars: Vec<(String, Var)>,
    pub model: Classifier,
}

/// Loads a bare encoder from `config.json` and safetensors bytes, the form
/// both the browser and the command line receive.
pub fn load_encoder(config_json: &[u8], safetensors: &[u8]) -> Result<(Config, Encoder)> {
    let config = Config::from_json(config_json)?;
    let source = Source::dense(weights::from_safetensors(safetensors)?);
    let encoder = Encoder::load(&source.pp(weights::ENCODER_PREFIX), &config)?;
    Ok((config, encoder))
}
