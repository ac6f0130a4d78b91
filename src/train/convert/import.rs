//! Base-model import: turns a pretrained checkpoint folder (`config.json`,
//! `model.safetensors`, `tokenizer.json`) into this crate's DistilBERT layout.
//!
//! A DistilBERT checkpoint is copied (encoder tensors only). A BERT checkpoint
//! such as all-MiniLM-L6-v2 is converted exactly: a BERT layer is a DistilBERT
//! layer under other names; the token-type embedding row 0 is added into the
//! position embeddings (exact for one-segment input); the pooler is dropped.
//! The conversion is then checked against candle-transformers' own `BertModel`
//! run on the original weights.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use candle_transformers::models::bert as reference;

use crate::model::weights::{self, Tensors, ENCODER_PREFIX};
use crate::model::{Activation, Config, Encoder, Mode, Pooling, Source};
use crate::tokenize::{TextEncoder, DEFAULT_MAX_LENGTH};
use crate::train::atomic;
use crate::{Error, Result};

/// Largest difference allowed between the converted and the original model.
pub const PARITY_TOLERANCE: f32 = 1e-4;

/// The texts the converted encoder is checked on: different lengths, so
/// padding and masking are part of the check.
const PARITY_TEXTS: [&str; 4] = [
    "A retired hitman is pulled back into the underworld when gangsters kill his dog.",
    "Two friends drive across the country.",
    "In a future where memories can be bought and sold, a detective hunts the thief who stole \
     the last recollection of a dying billionaire, and finds his own past for sale.",
    "Love, lies and a wedding in Paris!",
];

/// The architecture a checkpoint folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceLayout {
    DistilBert,
    Bert,
}

/// What an import did, for the command line to print.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub layout: SourceLayout,
    /// Every floating-point value in the source checkpoint (pooler and heads
    /// included, integer buffers such as `position_ids` not).
    pub source_parameters: usize,
    /// Values in the written DistilBERT encoder.
    pub parameters: usize,
    /// Max abs difference of last hidden states against the original model
    /// (BERT sources only: a DistilBERT source is copied unchanged).
    pub parity: Option<f32>,
    pub pooling: Pooling,
    pub files: Vec<PathBuf>,
}

/// Imports the checkpoint in `from` into `out` (created if missing);
/// `pooling` overrides the pooling the folder names or implies.
pub fn import_base(from: &Path, out: &Path, pooling: Option<Pooling>) -> Result<ImportReport> {
    let config_path = from.join("config.json");
    let config_error = config_error(&config_path);
    let source_config: serde_json::Value =
        serde_json::from_slice(&read(&config_path)?).map_err(config_error)?;
    let tokenizer_json = read(&from.join("tokenizer.json"))?;
    let text_encoder = TextEncoder::from_bytes(&tokenizer_json, DEFAULT_MAX_LENGTH)?;
    let source = load_safetensors(&from.join("model.safetensors"))?;
    let source_parameters = source
        .values()
        .filter(|t| t.dtype().is_float())
        .map(Tensor::elem_count)
        .sum();

    let named_pooling = named_pooling(&source_config).map_err(config_error)?;
    let (mut config, tensors, original_bert) =
        to_distilbert(source_config, source.clone(), &config_path)?;
    config.pooling = pooling
        .or(named_pooling)
        .unwrap_or_else(|| detect_pooling(from));
    config.id2label.clear();
    config.extra.remove("label2id");
    config.extra.insert(
        "architectures".into(),
        serde_json::json!(["DistilBertModel"]),
    );
    config.validate()?;

    let encoder = Encoder::load(&Source::dense(tensors.clone()).pp(ENCODER_PREFIX), &config)?;
    let (layout, parity) = match &original_bert {
        Some(bert) => {
            let diff = parity_against_bert(&encoder, source, bert, &text_encoder)?;
            (SourceLayout::Bert, Some(diff))
        }
        None => (SourceLayout::DistilBert, None),
    };
    let files = write_model(out, &config, &tensors, &tokenizer_json)?;
    Ok(ImportReport {
        layout,
        source_parameters,
        parameters: weights::parameter_count(&tensors, ENCODER_PREFIX),
        parity,
        pooling: config.pooling,
        files,
    })
}

/// The DistilBERT config and encoder tensors of a checkpoint whose
/// `config.json` (at `config_path`) is `source_config`, and the BERT
/// config when it was converted from BERT (to check it against).
fn to_distilbert(
    source_config: serde_json::Value,
    source: Tensors,
    config_path: &Path,
) -> Result<(Config, Tensors, Option<reference::Config>)> {
    let config_error = config_error(config_path);
    match source_config["model_type"].as_str().unwrap_or_default() {
        "distilbert" => {
            let config: Config = serde_json::from_value(source_config).map_err(config_error)?;
            Ok((config, encoder_tensors(weights::canonicalize(source)), None))
        }
        "bert" => {
            let bert: reference::Config =
                serde_json::from_value(source_config.clone()).map_err(config_error)?;
            let attention_dropout = source_config["attention_probs_dropout_prob"]
                .as_f64()
                .unwrap_or(bert.hidden_dropout_prob);
            let config = distilbert_config(&bert, attention_dropout)?;
            Ok((config, convert_bert(source)?, Some(bert)))
        }
        other => Err(Error::Config(format!(
            "{}: model_type {other:?} is not supported; import a \"distilbert\" or \"bert\" checkpoint",
            config_path.display()
        ))),
    }
}

/// How a `config.json` at `path` that does not parse is reported.
fn config_error(path: &Path) -> impl Fn(serde_json::Error) -> Error + Copy + '_ {
    move |e| Error::Config(format!("{}: {e}", path.display()))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn load_safetensors(path: &Path) -> Result<Tensors> {
    if !path.exists() {
        return Err(Error::Weights(format!(
            "{} is missing: only safetensors checkpoints are read (save the model with \
             `save_pretrained(dir, safe_serialization=True)`)",
            path.display()
        )));
    }
    weights::read_safetensors(&read(path)?).map_err(|e| match e {
        Error::Weights(message) => Error::Weights(format!("{}: {message}", path.display())),
        other => other,
    })
}

/// Keeps a DistilBERT checkpoint's encoder, dropping any MLM or task head.
fn encoder_tensors(tensors: Tensors) -> Tensors {
    let prefix = format!("{ENCODER_PREFIX}.");
    tensors
        .into_iter()
        .filter(|(name, _)| name.starts_with(&prefix))
        .collect()
}

/// The DistilBERT config equivalent to a BERT config, refusing what no
/// DistilBERT can express exactly.
fn distilbert_config(bert: &reference::Config, attention_dropout: f64) -> Result<Config> {
    let activation =
        match bert.hidden_act {
            reference::HiddenAct::Gelu => Activation::Gelu,
            reference::HiddenAct::Relu => Activation::Relu,
            reference::HiddenAct::GeluApproximate => return Err(Error::Config(
                "hidden_act \"gelu_approximate\" has no DistilBERT equivalent (it uses erf GELU)"
                    .into(),
            )),
        };
    if (bert.layer_norm_eps - crate::model::config::LAYER_NORM_EPS).abs() > 1e-15 {
        return Err(Error::Config(format!(
            "layer_norm_eps {} differs from DistilBERT's fixed 1e-12",
            bert.layer_norm_eps
        )));
    }
    let mut extra = serde_json::Map::new();
    extra.insert("model_type".into(), "distilbert".into());
    extra.insert("initializer_range".into(), bert.initializer_range.into());
    Ok(Config {
        vocab_size: bert.vocab_size,
        dim: bert.hidden_size,
        n_layers: bert.num_hidden_layers,
        n_heads: bert.num_attention_heads,
        hidden_dim: bert.intermediate_size,
        max_position_embeddings: bert.max_position_embeddings,
        dropout: bert.hidden_dropout_prob,
        attention_dropout,
        seq_classif_dropout: 0.2,
        activation,
        pad_token_id: bert.pad_token_id as u32,
        id2label: Default::default(),
        pooling: Pooling::Cls,
        extra,
    })
}

/// Renames within one BERT layer, BERT suffix -> DistilBERT suffix.
const LAYER_RENAMES: [(&str, &str); 8] = [
    ("attention.self.query.", "attention.q_lin."),
    ("attention.self.key.", "attention.k_lin."),
    ("attention.self.value.", "attention.v_lin."),
    ("attention.output.dense.", "attention.out_lin."),
    ("attention.output.LayerNorm.", "sa_layer_norm."),
    ("intermediate.dense.", "ffn.lin1."),
    ("output.dense.", "ffn.lin2."),
    ("output.LayerNorm.", "output_layer_norm."),
];

/// BERT tensors -> canonical DistilBERT tensors.
fn convert_bert(source: Tensors) -> Result<Tensors> {
    let mut source: Tensors = source
        .into_iter()
        .map(|(name, t)| {
            (
                name.strip_prefix("bert.")
                    .map(str::to_string)
                    .unwrap_or(name),
                t,
            )
        })
        .collect();
    let token_types = source
        .remove("embeddings.token_type_embeddings.weight")
        .ok_or_else(|| Error::Weights("no embeddings.token_type_embeddings.weight".into()))?;
    let mut out = HashMap::new();
    for (name, tensor) in source {
        if name.starts_with("pooler.")
            || name.starts_with("cls.")
            || name == "embeddings.position_ids"
        {
            continue;
        }
        let renamed = if name == "embeddings.position_embeddings.weight" {
            // One segment: every token has type 0, so its row is a constant offset.
            let row0 = token_types.get(0)?;
            out.insert(
                format!("{ENCODER_PREFIX}.{name}"),
                tensor.broadcast_add(&row0)?,
            );
            continue;
        } else if name.starts_with("embeddings.") {
            name
        } else {
            rename_layer_tensor(&name).ok_or_else(|| {
                Error::Weights(format!("unexpected tensor {name:?} in a BERT checkpoint"))
            })?
        };
        out.insert(format!("{ENCODER_PREFIX}.{renamed}"), tensor);
    }
    Ok(out)
}

/// `encoder.layer.N.<bert>` -> `transformer.layer.N.<distilbert>`.
fn rename_layer_tensor(name: &str) -> Option<String> {
    let rest = name.strip_prefix("encoder.layer.")?;
    let (index, rest) = rest.split_once('.')?;
    LAYER_RENAMES.iter().find_map(|(bert, distil)| {
        rest.strip_prefix(bert)
            .map(|param| format!("transformer.layer.{index}.{distil}{param}"))
    })
}

/// The pooling a config.json names (a folder this crate wrote, or one
/// fine-tuned from it), so that re-importing keeps the head's input.
fn named_pooling(config: &serde_json::Value) -> serde_json::Result<Option<Pooling>> {
    config
        .get("pooling")
        .map(|value| serde_json::from_value(value.clone()))
        .transpose()
}

/// Mean pooling when the folder is a sentence-transformers model that was
/// trained with it, otherwise the first token.
fn detect_pooling(from: &Path) -> Pooling {
    let mean = std::fs::read(from.join("1_Pooling/config.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| v["pooling_mode_mean_tokens"].as_bool())
        .unwrap_or(false);
    if mean {
        Pooling::Mean
    } else {
        Pooling::Cls
    }
}

/// Max abs difference of the real tokens' last hidden states between the
/// converted encoder and candle-transformers' `BertModel` on the original,
/// refused past [`PARITY_TOLERANCE`].
fn parity_against_bert(
    encoder: &Encoder,
    original: Tensors,
    config: &reference::Config,
    text_encoder: &TextEncoder,
) -> Result<f32> {
    let bert = reference::BertModel::load(weights::var_builder(original), config)?;
    let batch = text_encoder.encode_batch(&PARITY_TEXTS)?;
    let token_types = batch.input_ids.zeros_like()?;
    let expected = bert.forward(&batch.input_ids, &token_types, Some(&batch.attention_mask))?;
    let actual = encoder.forward(&batch.input_ids, &batch.attention_mask, Mode::Infer)?;
    let mask = batch
        .attention_mask
        .to_dtype(candle_core::DType::F32)?
        .unsqueeze(2)?;
    let diff = (actual - expected)?.abs()?.broadcast_mul(&mask)?;
    let diff = diff.flatten_all()?.max(0)?.to_scalar::<f32>()?;
    if diff > PARITY_TOLERANCE {
        return Err(Error::Weights(format!(
            "the converted model differs from the original by {diff:e} (allowed {PARITY_TOLERANCE:e}); \
             the checkpoint is not a standard BERT layout"
        )));
    }
    Ok(diff)
}

/// Writes the three files of a model folder, each atomically.
fn write_model(
    out: &Path,
    config: &Config,
    tensors: &Tensors,
    tokenizer_json: &[u8],
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let weights_path = out.join("model.safetensors");
    atomic::write_with(&weights_path, |tmp| {
        Ok(candle_core::safetensors::save(tensors, tmp)?)
    })?;
    let config_path = out.join("config.json");
    atomic::write(&config_path, config.to_json()?.as_bytes())?;
    let tokenizer_path = out.join("tokenizer.json");
    atomic::write(&tokenizer_path, tokenizer_json)?;
    Ok(vec![config_path, weights_path, tokenizer_path])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_every_bert_layer_tensor() {
        assert_eq!(
            rename_layer_tensor("encoder.layer.3.attention.output.dense.weight").as_deref(),
            Some("transformer.layer.3.attention.out_lin.weight")
        );
        assert_eq!(
            rename_layer_tensor("encoder.layer.0.output.LayerNorm.bias").as_deref(),
            Some("transformer.layer.0.output_layer_norm.bias")
        );
        assert_eq!(
            rename_layer_tensor("encoder.layer.5.intermediate.dense.bias").as_deref(),
            Some("transformer.layer.5.ffn.lin1.bias")
        );
        assert_eq!(
            rename_layer_tensor("encoder.layer.1.crossattention.q.weight"),
            None
        );
    }
}
