//! plotgenre reads a movie plot and says which genres it belongs to, offline.
//!
//! The pipeline, one call per step, each on the previous one's output:
//! 1. [`tokenize::TextEncoder`] turns texts into WordPiece ids and attention
//!    masks (a [`tokenize::Batch`]), truncated and padded.
//! 2. [`model::Encoder`], a DistilBERT encoder, turns a batch into hidden states.
//! 3. [`model::Head`] pools them and produces one logit per genre;
//!    [`model::Classifier`] joins steps 2 and 3.
//!
//! The same model code trains (feature `train`, the native command line) and
//! infers (the default build, compiled to wasm32 for the browser page).

pub mod bundle;
pub mod error;
pub mod explain;
pub mod kernels;
pub mod labels;
pub mod language;
pub mod model;
pub mod pipeline;
pub mod table;
pub mod tokenize;

#[cfg(feature = "train")]
pub mod train;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use error::{Error, Result};
