//! What a training run records for its report: the loss curve, validation
//! after each epoch, and the run's figures that `metrics.json` keeps so a
//! later rewrite of the report (`lexical`) can show them again.

use serde::{Deserialize, Serialize};

/// What the training curves plot.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    /// (optimizer step, mean training loss since the previous point).
    pub loss: Vec<(u64, f64)>,
    /// Validation after each epoch.
    pub epochs: Vec<EpochRecord>,
}

/// Validation figures after one epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub step: u64,
    /// Micro-F1 at the tuned global threshold (multi-label) or macro-F1.
    pub score: f64,
    pub samples_per_s: f64,
}

/// A finished run's training record, as `metrics.json` keeps it; the
/// options are the run's own, recorded as data so that reporting needs no
/// knowledge of the fitting code.
#[derive(Debug, Clone, Deserialize)]
pub struct Training {
    pub best_epoch: usize,
    pub seconds: f64,
    pub history: History,
    pub options: serde_json::Value,
}
