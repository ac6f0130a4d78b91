//! Reading checkpoints into tensors under one canonical naming: Hugging Face's
//! `DistilBertForSequenceClassification` names, encoder under `distilbert.`.
//! Checkpoints saved from a bare `DistilBertModel` lack that prefix; both load.
//! A [`Source`] hands the layers their weights, dense or quantized, so one
//! layer definition serves the f32 model and the quantized bundle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::VarBuilder;

use crate::kernels::int8::Int8Matrix;
use crate::{Error, Result};

/// Prefix of the encoder's tensors in a classification checkpoint.
pub const ENCODER_PREFIX: &str = "distilbert";

/// The word-embedding table's canonical name.
pub const WORD_EMBEDDINGS: &str = "distilbert.embeddings.word_embeddings.weight";

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

/// Quantized tensors by canonical name, as a bundle stores them.
pub type QTensors = HashMap<String, Arc<QTensor>>;

/// Where layers get their weights: f32 tensors (training, f32 inference;
/// gradients flow) or quantized tensors (the browser bundle).
///
/// Block-quantized weight matrices (q8_0, q4_0, q4k, ...) become
/// [`Int8Matrix`]es: per-row int8 weights whose products run on integer SIMD
/// kernels, bit-identical on every platform (see [`crate::kernels::int8`]). Embedding
/// tables stay quantized and their rows are expanded when looked up; f32 and
/// f16 tensors (and biases, LayerNorms) are expanded to f32.
#[derive(Clone)]
pub enum Source {
    Dense(VarBuilder<'static>),
    Quantized {
        /// Shared by every sub-module's source. A block-quantized matrix
        /// leaves it as it converts (see [`Source::matrix`]).
        tensors: Arc<Mutex<QTensors>>,
        prefix: String,
    },
}

/// A linear layer's weight matrix `(out, in)`.
#[derive(Debug, Clone)]
pub enum Matrix {
    /// f32: training (gradients flow) and f32 or f16 weights.
    Dense(Tensor),
    /// Integer: weights that a bundle stores block-quantized.
    Int8(Arc<Int8Matrix>),
}

/// An embedding table `(rows, dim)`.
#[derive(Debug, Clone)]
pub enum Table {
    Dense(Tensor),
    Quantized(Arc<QTensor>),
}

impl Source {
    /// A source over f32 tensors with canonical names.
    pub fn dense(tensors: Tensors) -> Self {
        Source::Dense(var_builder(tensors))
    }

    /// A source over quantized tensors with canonical names.
    pub fn quantized(tensors: QTensors) -> Self {
        Source::Quantized {
            tensors: Arc::new(Mutex::new(tensors)),
            prefix: String::new(),
        }
    }

    /// The source of a sub-module: names below `name.`.
    pub fn pp(&self, name: impl ToString) -> Self {
        match self {
            Source::Dense(vb) => Source::Dense(vb.pp(name)),
            Source::Quantized { tensors, prefix } => Source::Quantized {
                tensors: tensors.clone(),
                prefix: join(prefix, &name.to_string()),
            },
        }
    }

    /// Whether the source holds a tensor `name`, for optional parts.
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Source::Dense(vb) => vb.contains_tensor(name),
            Source::Quantized { tensors, prefix } => {
                lock(tensors).contains_key(&join(prefix, name))
            }
        }
    }

    /// An f32 tensor (a quantized one is expanded) of exactly `shape`.
    pub fn get(&self, shape: impl Into<Shape>, name: &str) -> Result<Tensor> {
        match self {
            Source::Dense(vb) => Ok(vb.get(shape, name)?),
            Source::Quantized { .. } => {
                let shape = shape.into();
                let tensor = self.quantized_tensor(&shape, name)?;
                Ok(tensor.dequantize(&Device::Cpu)?)
            }
        }
    }

    /// A weight matrix `(out, in)`; a block-quantized one becomes an [`Int8Matrix`]
    /// and leaves the source, so that its blocks are freed as soon as nothing
    /// else holds them (a bundle being loaded does not: [`crate::bundle::Bundle::open`]).
    /// In wasm, whose memory never shrinks, that keeps the load's peak from
    /// holding every matrix twice, as blocks and as integers.
    pub fn matrix(&self, out_dim: usize, in_dim: usize, name: &str) -> Result<Matrix> {
        let shape = Shape::from((out_dim, in_dim));
        match self {
            Source::Dense(vb) => Ok(Matrix::Dense(vb.get(shape, name)?)),
            Source::Quantized { tensors, prefix } => {
                let tensor = self.quantized_tensor(&shape, name)?;
                let dense = tensor.dequantize(&Device::Cpu)?;
                Ok(match tensor.dtype() {
                    GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => Matrix::Dense(dense),
                    _ => {
                        let matrix = Int8Matrix::from_tensor(&dense)?;
                        lock(tensors).remove(&join(prefix, name));
                        Matrix::Int8(Arc::new(matrix))
                    }
                })
            }
        }
    }

    /// An embedding table `(rows, dim)`; a quantized one stays quantized.
    pub fn table(&self, rows: usize, dim: usize, name: &str) -> Result<Table> {
        match self {
            Source::Dense(vb) => Ok(Table::Dense(vb.get((rows, dim), name)?)),
            Source::Quantized { .. } => Ok(Table::Quantized(
                self.quantized_tensor(&Shape::from((rows, dim)), name)?,
            )),
        }
    }

    /// The quantized tensor `name`, checked to have `shape`.
    fn quantized_tensor(&self, shape: &Shape, name: &str) -> Result<Arc<QTensor>> {
        let Source::Quantized { tensors, prefix } = self else {
            return Err(Error::Weights(format!("{name} is not a quantized tensor")));
        };
        let full = join(prefix, name);
        let tensor = lock(tensors)
            .get(&full)
            .cloned()
            .ok_or_else(|| Error::Weights(format!("missing tensor {full}")))?;
        if tensor.shape() != shape {
            return Err(Error::Weights(format!(
                "{full} has shape {:?}, expected {:?}",
                tensor.shape(),
                shape
            )));
        }
        Ok(tensor)
    }
}

/// The tensors behind a lock no holder can leave half-changed (each holds it
/// for one lookup or removal), so a poisoned one is still consistent.
fn lock(tensors: &Mutex<QTensors>) -> std::sync::MutexGuard<'_, QTensors> {
    tensors.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `prefix.name`, or `name` at the root.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}
