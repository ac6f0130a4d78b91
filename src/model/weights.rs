//! Reading checkpoints into tensors under one canonical naming: Hugging Face's
//! `DistilBertForSequenceClassification` names, encoder under `distilbert.`.
//! Checkpoints saved from a bare `DistilBertModel` lack that prefix; both load.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::{Error, Result};

/// Prefix of the encoder's tensors in a classification checkpoint.
pub const ENCODER_PREFIX: &str = "distilbert";

/// Named tensors of a model, canonically named.
pub type Tensors = HashMap<String, Tensor>;

/// Parses a DistilBERT checkpoint's safetensors bytes under canonical names.
pub fn from_safetensors(bytes: &[u8]) -> Result<Tensors> {
    Ok(canonicalize(read_safetensors(bytes)?))
}

/// Parses safetensors bytes, names as stored, every floating-point tensor as
/// f32 (the dtype all computation here uses).
pub fn read_safetensors(bytes: &[u8]) -> Result<Tensors> {
    let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
        .map_err(|e| Error::Weights(format!("not a readable safetensors file: {e}")))?;
    tensors
        .into_iter()
        .map(|(name, tensor)| {
            let tensor = if tensor.dtype().is_float() && tensor.dtype() != DType::F32 {
                tensor.to_dtype(DType::F32)?
            } else {
                tensor
            };
            Ok((name, tensor))
        })
        .collect()
}

/// Adds the `distilbert.` prefix to bare DistilBERT encoder names.
pub fn canonicalize(tensors: Tensors) -> Tensors {
    tensors
        .into_iter()
        .map(|(name, tensor)| {
            if name.starts_with("embeddings.") || name.starts_with("transformer.") {
                (format!("{ENCODER_PREFIX}.{name}"), tensor)
            } else {
                (name, tensor)
            }
        })
        .collect()
}

/// A builder over canonical tensors; its errors name the missing tensor and
/// the expected shape.
pub fn var_builder(tensors: Tensors) -> VarBuilder<'static> {
    VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu)
}

/// Total number of values in the tensors whose names start with `prefix`.
pub fn parameter_count(tensors: &Tensors, prefix: &str) -> usize {
    tensors
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, t)| t.elem_count())
        .sum()
}
