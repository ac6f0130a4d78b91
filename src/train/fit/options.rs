//! Every setting of a training run, as the command line takes them and
//! checkpoints save them: a resume continues with exactly the same ones.

use serde::{Deserialize, Serialize};

use super::loss::{DEFAULT_FOCAL_ALPHA, DEFAULT_FOCAL_GAMMA};
use crate::labels::Task;
use crate::model::Pooling;
use crate::tokenize::DEFAULT_MAX_LENGTH;
use crate::train::eval::calibrate;
use crate::train::eval::criterion::SelectOn;
use crate::{Error, Result};

/// The multi-label objectives `--loss` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Binary cross-entropy.
    Bce,
    /// BCE with rare genres weighted up by ln(N / (n + 1)), normalised by the mean.
    WeightedBce,
    /// Focal loss (see --focal-alpha, --focal-gamma).
    Focal,
}

/// Every setting of a training run; saved in checkpoints so a resume
/// continues with exactly the same ones.
#[derive(Debug, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
pub struct Options {
    /// Passes over the training split.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Rows per batch (padded to the longest row of the batch).
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Batches whose gradients add up to one optimizer step.
    #[arg(long, default_value_t = 1)]
    pub accumulate: usize,
    /// Parts each batch is cut into and run at once, one per core (most ops
    /// besides the matrix products use one core). The parts draw the whole
    /// batch's dropout masks, so the weights depend on this only through the
    /// rounding of gradient sums; kept fixed, not the core count, so a run's
    /// weights do not depend on the machine.
    #[arg(long, default_value_t = 2, value_name = "N")]
    #[serde(default = "whole_batches")]
    pub shards: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Share of the optimizer steps spent warming the learning rate up from 0;
    /// it then decays linearly to 0.
    #[arg(long, default_value_t = 0.1)]
    pub warmup: f64,
    /// AdamW weight decay (never applied to biases and LayerNorm weights).
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Largest global gradient norm; larger gradients are scaled down (0 = off).
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Seed of every random draw: head initialisation, batch order, dropout.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Tokens per text; longer texts are truncated.
    #[arg(long, default_value_t = DEFAULT_MAX_LENGTH)]
    pub max_length: usize,
    /// Dropout of the encoder [default: the base config's, 0.1 for DistilBERT].
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Drop each word of a training text with this probability (augmentation).
    #[arg(long, default_value_t = 0.0)]
    pub word_dropout: f64,
    /// Layer-wise learning-rate decay: the top transformer layer and the head
    /// train at --lr, each layer below at this factor times the one above,
    /// the embeddings one factor below the lowest layer (1 = one rate for all).
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
    #[serde(default = "no_layer_lr_decay")]
    pub layer_lr_decay: f64,
    /// Keep the embeddings as they are in the base model.
    #[arg(long)]
    pub freeze_embeddings: bool,
    /// Train only the top N transformer layers and the head; the embeddings
    /// and lower layers stay frozen.
    #[arg(long, value_name = "N")]
    pub train_top_layers: Option<usize>,
    /// Multi-label objective.
    #[arg(long, value_enum, default_value_t = LossKind::Bce)]
    pub loss: LossKind,
    /// Focal loss: weight of positives (negatives get 1 - alpha).
    #[arg(long, default_value_t = DEFAULT_FOCAL_ALPHA)]
    pub focal_alpha: f64,
    /// Focal loss: focusing exponent.
    #[arg(long, default_value_t = DEFAULT_FOCAL_GAMMA)]
    pub focal_gamma: f64,
    /// Multi-label: count each row's loss only on the genres its source
    /// (extra's `source`, else its file) labels somewhere in train; a source
    /// without a genre (TMDB has no Musical) says nothing about it.
    #[arg(long)]
    #[serde(default)]
    pub source_label_sets: bool,
    /// Single-label: label smoothing of the cross-entropy target.
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f64,
    /// Force the task [default: from the format: movies, kslimon and csv/jsonl
    /// with --label-sep are multi-label; imdb27 and the rest single-label].
    #[arg(long, value_enum)]
    pub task: Option<Task>,
    /// Pooling of the head [default: the base model's].
    #[arg(long, value_enum)]
    pub pooling: Option<Pooling>,
    /// Stop after this many epochs without a better validation score.
    #[arg(long, default_value_t = 2)]
    pub patience: usize,
    /// Write a resumable checkpoint every N optimizer steps (and at every
    /// epoch end); 0 = only at epoch ends.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub checkpoint_every: u64,
    /// Validation positives a genre needs to get its own threshold; rarer
    /// genres use the global one.
    #[arg(long, default_value_t = calibrate::DEFAULT_MIN_THRESHOLD_SUPPORT)]
    pub min_threshold_support: usize,
    /// Validation rows that pick the best epoch, thresholds, rule and
    /// lexical blend: each dataset's unseen-title rows (micro-F1 averaged
    /// over the datasets; every row when none is unseen), or all rows.
    #[arg(long, value_enum, default_value_t = SelectOn::UnseenTitle)]
    #[serde(default = "every_row")]
    pub select_on: SelectOn,
}

/// Checkpoints and folders written before `--select-on` existed selected on every row.
fn every_row() -> SelectOn {
    SelectOn::AllRows
}

/// Checkpoints written before `--shards` existed ran every batch whole.
fn whole_batches() -> usize {
    1
}

/// Checkpoints written before `--layer-lr-decay` existed trained without it.
fn no_layer_lr_decay() -> f64 {
    1.0
}

impl Default for Options {
    /// The command line's defaults (one source of truth: the `#[arg]`s above).
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            options: Options,
        }
        <Defaults as clap::Parser>::parse_from(["plotgenre"]).options
    }
}

impl Options {
    /// Rejects settings that cannot train, naming the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |flag: &str, why: &str| Err(Error::Setting(format!("--{flag}: {why}")));
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch-size", "must be at least 1");
        }
        if self.accumulate == 0 {
            return bad("accumulate", "must be at least 1");
        }
        if self.shards == 0 {
            return bad("shards", "must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr", "must be a positive number");
        }
        if !(0.0..1.0).contains(&self.warmup) {
            return bad("warmup", "must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.word_dropout) {
            return bad("word-dropout", "must be in [0, 1)");
        }
        if !(self.layer_lr_decay > 0.0 && self.layer_lr_decay <= 1.0) {
            return bad("layer-lr-decay", "must be in (0, 1]");
        }
        if self.dropout.is_some_and(|p| !(0.0..1.0).contains(&p)) {
            return bad("dropout", "must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad("label-smoothing", "must be in [0, 1)");
        }
        if self.clip < 0.0 || self.weight_decay < 0.0 {
            return bad("clip / --weight-decay", "must not be negative");
        }
        Ok(())
    }
}
