//! The fine-tuning loop: batches, forward and backward passes, AdamW steps,
//! validation after every epoch, the best model kept, early stopping, and
//! resumable checkpoints. A run resumed from a checkpoint ends with weights
//! bit-identical to an uninterrupted one: every random draw derives from the
//! seed and the saved position.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::batches;
use super::calibrate::{self, Rule, Thresholds};
use super::data::{Dataset, Example, Split, Task};
use super::evaluate::{self, SplitReport};
use super::loss::{self, MultiLabelLoss, DEFAULT_FOCAL_ALPHA, DEFAULT_FOCAL_GAMMA};
use super::model_dir;
use super::optim::{self, AdamW, AdamWConfig, Gradients, Schedule, SparseLookup};
use super::{atomic, report};
use crate::model::{
    weights, Classifier, Config, DropoutRng, Head, Mode, Pooling, Shard, Source, Tensors,
};
use crate::pipeline;
use crate::tokenize::{Batch, TextEncoder};
use crate::{Error, Result};

/// The checkpoint a run writes into its output folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// Safetensors metadata key holding the run's state.
const STATE_KEY: &str = "plotgenre.state";
/// Version of the checkpoint layout; a resume refuses other versions.
const CHECKPOINT_VERSION: u32 = 1;
/// Optimizer steps between two points of the training-loss curve.
const LOSS_LOG_EVERY: u64 = 10;
/// Optimizer steps between two progress lines when stderr is no terminal
/// (logs, CI), where the progress bar is hidden.
const LOG_EVERY_WITHOUT_TERMINAL: u64 = 50;

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
    #[arg(long, default_value_t = crate::tokenize::DEFAULT_MAX_LENGTH)]
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
    #[arg(long, default_value_t = 10)]
    pub min_threshold_support: usize,
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

/// Where a run stands: enough to continue it exactly.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// The epoch in progress (0-based).
    pub epoch: usize,
    /// The next batch of that epoch.
    pub next_batch: usize,
    /// Dropout generator position (a u128, as text).
    pub dropout_word_pos: String,
    /// Best validation score so far and the epoch that reached it.
    pub best: Option<(f64, usize)>,
    /// Epochs since the best one.
    pub stale_epochs: usize,
    /// Seconds spent training, across resumes.
    pub seconds: f64,
    pub history: History,
}

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

/// The checkpoint's metadata: the run's identity and position.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    version: u32,
    /// What the command line needs to restart the run (data, base, output).
    invocation: serde_json::Value,
    options: Options,
    progress: Progress,
}

/// A checkpoint read back from disk.
pub struct Checkpoint {
    pub path: PathBuf,
    /// The command line's description of the run it belongs to.
    pub invocation: serde_json::Value,
    pub options: Options,
    /// Where the run stood when it was written.
    pub progress: Progress,
    tensors: Tensors,
}

impl Checkpoint {
    /// Reads `path`: a checkpoint file, or the output folder holding one.
    pub fn read(path: &Path) -> Result<Self> {
        let path = if path.is_dir() {
            path.join(CHECKPOINT_FILE)
        } else {
            path.to_path_buf()
        };
        let invalid = |problem: String| Error::Model {
            path: path.clone(),
            problem,
        };
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| invalid(format!("not a safetensors checkpoint: {e}")))?;
        let state = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(STATE_KEY))
            .ok_or_else(|| invalid("not a plotgenre training checkpoint (no run state)".into()))?;
        let state: CheckpointState = serde_json::from_str(state)
            .map_err(|e| invalid(format!("unreadable run state: {e}")))?;
        if state.version != CHECKPOINT_VERSION {
            return Err(invalid(format!(
                "checkpoint version {} but this build reads version {CHECKPOINT_VERSION}",
                state.version
            )));
        }
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)?;
        Ok(Self {
            path,
            invocation: state.invocation,
            options: state.options,
            progress: state.progress,
            tensors,
        })
    }
}

/// The inputs of a run.
pub struct RunSpec<'a> {
    pub dataset: &'a Dataset,
    /// Base model folder: config.json, model.safetensors, tokenizer.json.
    pub base: &'a Path,
    pub out: &'a Path,
    pub options: &'a Options,
    /// Saved in checkpoints, handed back by [`Checkpoint::read`].
    pub invocation: serde_json::Value,
}

/// What a finished run reports.
pub struct Outcome {
    pub thresholds: Thresholds,
    pub validation: SplitReport,
    pub test: SplitReport,
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub seconds: f64,
    pub files: Vec<PathBuf>,
}

/// A run in progress; public so benchmarks can time its steps.
pub struct Run<'a> {
    spec: &'a RunSpec<'a>,
    task: Task,
    labels: Vec<String>,
    config: Config,
    encoder: TextEncoder,
    model: Classifier,
    vars: Vec<(String, Var)>,
    /// The word-embedding table when it trains: read through a
    /// [`SparseLookup`], so its gradient is the rows a batch reads.
    word_table: Option<Var>,
    frozen: Tensors,
    optimizer: AdamW,
    schedule: Schedule,
    objective: Objective,
    lengths: Vec<usize>,
    dropout_rng: DropoutRng,
    progress: Progress,
}

/// The loss of the run's task.
enum Objective {
    Multi(MultiLabelLoss),
    Single { smoothing: f64 },
}

/// Trains, picks the best epoch on validation, tunes the decision rule and
/// writes the model folder; continues `resume` when given.
pub fn train(spec: &RunSpec, resume: Option<Checkpoint>) -> Result<Outcome> {
    spec.options.validate()?;
    std::fs::create_dir_all(spec.out).map_err(|e| Error::io(spec.out, e))?;
    // Fail now, not at the first checkpoint, if the folder takes no files.
    tempfile::tempfile_in(spec.out).map_err(|e| Error::io(spec.out, e))?;
    atomic::remove_leftovers(spec.out)?;
    let mut run = Run::new(spec)?;
    if let Some(checkpoint) = resume {
        run.restore(checkpoint)?;
    }
    run.fit()?;
    run.finish()
}

impl<'a> Run<'a> {
    /// Loads the base, builds the model with a new head and the optimizer.
    pub fn new(spec: &'a RunSpec<'a>) -> Result<Self> {
        tune_allocator();
        let options = spec.options;
        let dataset = spec.dataset;
        let task = options.task.unwrap_or(dataset.task);
        let labels = dataset.labels.clone();
        if dataset.train.is_empty() || dataset.validation.is_empty() {
            return Err(Error::DataFile {
                path: dataset.path.clone(),
                problem: "training needs rows in both the train and the validation split".into(),
            });
        }
        let mut config = Config::from_json(&model_dir::read(spec.base, model_dir::CONFIG_FILE)?)?;
        if let Some(pooling) = options.pooling {
            config.pooling = pooling;
        }
        if let Some(p) = options.dropout {
            config.dropout = p;
            config.attention_dropout = p;
        }
        model_dir::describe(&mut config, &labels, task, options.max_length);
        let tokenizer_json = model_dir::read(spec.base, model_dir::TOKENIZER_FILE)?;
        let encoder = TextEncoder::from_bytes(&tokenizer_json, options.max_length)?;

        let mut tensors =
            weights::from_safetensors(&model_dir::read(spec.base, model_dir::MODEL_FILE)?)?;
        let mut init_rng = rand_chacha::ChaCha8Rng::seed_from_u64(options.seed);
        for (name, tensor) in Head::initial_weights(&config, labels.len(), &mut init_rng)? {
            tensors.insert(name, tensor);
        }
        let frozen_below = frozen_layers(options, config.n_layers);
        let is_frozen = |name: &str| {
            is_frozen(
                name,
                options.freeze_embeddings || frozen_below > 0,
                frozen_below,
            )
        };
        let frozen: Tensors = tensors
            .iter()
            .filter(|(name, _)| is_frozen(name))
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        let trainable = Classifier::trainable(&config, tensors, is_frozen)?;

        let lengths = dataset
            .train
            .iter()
            .map(|e| {
                encoder
                    .encode_batch(&[e.text.as_str()])
                    .map(|b| b.lengths[0])
            })
            .collect::<Result<Vec<_>>>()?;
        let batches_per_epoch = dataset.train.len().div_ceil(options.batch_size);
        let steps_per_epoch = batches_per_epoch.div_ceil(options.accumulate) as u64;
        let total_steps = steps_per_epoch * options.epochs as u64;
        let schedule = Schedule {
            peak_lr: options.lr,
            warmup_steps: (total_steps as f64 * options.warmup).round() as u64,
            total_steps,
        };
        let objective = match task {
            Task::SingleLabel => Objective::Single {
                smoothing: options.label_smoothing,
            },
            Task::MultiLabel => Objective::Multi(match options.loss {
                LossKind::Bce => MultiLabelLoss::Bce,
                LossKind::Focal => MultiLabelLoss::Focal {
                    alpha: options.focal_alpha,
                    gamma: options.focal_gamma,
                },
                LossKind::WeightedBce => {
                    let positives: Vec<usize> = dataset
                        .label_counts(Split::Train)
                        .iter()
                        .map(|(_, n)| *n)
                        .collect();
                    let weights = loss::label_weights(&positives, dataset.train.len());
                    MultiLabelLoss::WeightedBce {
                        weights: Tensor::new(weights.as_slice(), &Device::Cpu)?,
                    }
                }
            }),
        };
        let optimizer = AdamW::new(
            &trainable.vars,
            AdamWConfig {
                weight_decay: options.weight_decay,
                ..AdamWConfig::default()
            },
        )
        .with_lr_scale(|name| layer_lr_scale(name, options.layer_lr_decay, config.n_layers));
        Ok(Self {
            spec,
            task,
            labels,
            config,
            encoder,
            model: trainable.model,
            word_table: trainable
                .vars
                .iter()
                .find(|(name, _)| name == weights::WORD_EMBEDDINGS)
                .map(|(_, var)| var.clone()),
            vars: trainable.vars,
            frozen,
            optimizer,
            schedule,
            objective,
            lengths,
            dropout_rng: DropoutRng::seed_from_u64(options.seed),
            progress: Progress::default(),
        })
    }

    /// Puts weights, optimizer and position back as the checkpoint saved them.
    fn restore(&mut self, checkpoint: Checkpoint) -> Result<()> {
        let invalid = |problem: String| Error::Model {
            path: checkpoint.path.clone(),
            problem,
        };
        if &checkpoint.options != self.spec.options {
            return Err(invalid(
                "the checkpoint was written with other training options".into(),
            ));
        }
        for (name, var) in &self.vars {
            let saved = checkpoint
                .tensors
                .get(&format!("model.{name}"))
                .ok_or_else(|| {
                    invalid(format!("no weight {name}: not a checkpoint of this model"))
                })?;
            if saved.shape() != var.shape() {
                return Err(invalid(format!(
                    "{name} has shape {:?}, the model needs {:?} (different labels or base?)",
                    saved.shape(),
                    var.shape()
                )));
            }
            var.set(saved)?;
        }
        self.optimizer.load_state(&checkpoint.tensors)?;
        let word_pos: u128 = checkpoint
            .progress
            .dropout_word_pos
            .parse()
            .map_err(|_| invalid("unreadable dropout generator position".into()))?;
        self.dropout_rng.set_word_pos(word_pos);
        self.progress = checkpoint.progress;
        Ok(())
    }

    /// The training batches of `epoch`, as indexes into the train split.
    pub fn epoch_batches(&self, epoch: usize) -> Vec<Vec<usize>> {
        batches::epoch_batches(
            &self.lengths,
            self.options().batch_size,
            self.options().seed,
            epoch,
        )
    }

    fn options(&self) -> &Options {
        self.spec.options
    }

    /// The epochs loop, from wherever the progress stands.
    fn fit(&mut self) -> Result<()> {
        let options = self.options().clone();
        let train = &self.spec.dataset.train;
        let batches_per_epoch = train.len().div_ceil(options.batch_size);
        let bar = progress_bar(self.schedule.total_steps, self.optimizer.steps());
        let mut window = LossWindow::default();
        while self.progress.epoch < options.epochs
            && self.progress.stale_epochs < options.patience.max(1)
        {
            let epoch = self.progress.epoch;
            let batches = self.epoch_batches(epoch);
            let epoch_start = Instant::now();
            let mut epoch_samples = 0usize;
            while self.progress.next_batch < batches_per_epoch {
                let start = Instant::now();
                let end = (self.progress.next_batch + options.accumulate).min(batches_per_epoch);
                let group = &batches[self.progress.next_batch..end];
                let loss = self.optimizer_step(group, epoch)?;
                self.progress.next_batch = end;
                let samples: usize = group.iter().map(Vec::len).sum();
                epoch_samples += samples;
                self.progress.seconds += start.elapsed().as_secs_f64();
                let step = self.optimizer.steps();
                if let Some(mean) = window.push(loss, step) {
                    self.progress.history.loss.push((step, mean));
                }
                let status = format!(
                    "epoch {}/{} · loss {:.4} · {:.1} samples/s",
                    epoch + 1,
                    options.epochs,
                    window.last,
                    epoch_samples as f64 / epoch_start.elapsed().as_secs_f64()
                );
                bar.set_position(step);
                if bar.is_hidden() && step % LOG_EVERY_WITHOUT_TERMINAL == 0 {
                    println!(
                        "step {step}/{} · {status} · ETA {:.0?}",
                        self.schedule.total_steps,
                        bar.eta()
                    );
                }
                bar.set_message(status);
                if options.checkpoint_every > 0
                    && step % options.checkpoint_every == 0
                    && self.progress.next_batch < batches_per_epoch
                {
                    self.save_checkpoint()?;
                }
            }
            let samples_per_s = epoch_samples as f64 / epoch_start.elapsed().as_secs_f64();
            self.end_epoch(epoch, samples_per_s, &bar)?;
        }
        bar.finish_and_clear();
        Ok(())
    }

    /// Forward and backward passes over `group` (one or more batches), then
    /// one clipped AdamW step; returns the mean loss.
    pub fn optimizer_step(&mut self, group: &[Vec<usize>], epoch: usize) -> Result<f64> {
        let mut summed: Option<Gradients> = None;
        let mut loss_sum = 0.0;
        for batch in group {
            let (loss, grads) = self.backward(batch, epoch)?;
            loss_sum += loss;
            add_gradients(&mut summed, grads, &self.vars)?;
        }
        let grads = summed
            .ok_or_else(|| Error::Config("an optimizer step needs at least one batch".into()))?;
        let average = 1.0 / group.len() as f64;
        let clip = if self.options().clip > 0.0 {
            optim::clip_factor(
                self.optimizer.gradient_norm(&grads)? * average,
                self.options().clip,
            )
        } else {
            1.0
        };
        let lr = self.schedule.lr(self.optimizer.steps());
        self.optimizer.step(&grads, lr, average * clip)?;
        Ok(loss_sum * average)
    }

    /// Loss and gradients of one batch of training rows, its `--shards`
    /// parts run at once and their gradients summed in order.
    fn backward(&mut self, batch: &[usize], epoch: usize) -> Result<(f64, Gradients)> {
        let options = self.spec.options;
        let train = &self.spec.dataset.train;
        let texts: Vec<String> = batch
            .iter()
            .map(|&i| {
                batches::word_dropout(&train[i].text, options.word_dropout, options.seed, epoch, i)
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encoded = self.encoder.encode_batch(&refs)?;
        let shard_rows = batch.len().div_ceil(options.shards).max(1);
        let shards: Vec<Shard> = (0..batch.len())
            .step_by(shard_rows)
            .map(|start| Shard {
                rows: start..(start + shard_rows).min(batch.len()),
                batch_rows: batch.len(),
            })
            .collect();
        let passes: Vec<Result<(f64, Gradients, DropoutRng)>> = shards
            .par_iter()
            .map(|shard| {
                let mut rng = self.dropout_rng.clone();
                let (loss, grads) = self.shard_backward(batch, &encoded, shard, &mut rng)?;
                Ok((loss, grads, rng))
            })
            .collect();
        let mut summed: Option<Gradients> = None;
        let mut loss = 0.0;
        for pass in passes {
            let (shard_loss, grads, rng) = pass?;
            loss += shard_loss;
            self.dropout_rng = rng;
            add_gradients(&mut summed, grads, &self.vars)?;
        }
        if !loss.is_finite() {
            return Err(Error::Setting(format!(
                "--lr: the training loss became {loss} at epoch {}; lower it",
                epoch + 1
            )));
        }
        let grads = summed.ok_or_else(|| Error::Config("a batch needs at least one row".into()))?;
        Ok((loss, grads))
    }

    /// Loss and gradients of the `shard` rows of `batch` (tokenized as
    /// `encoded`), the loss weighted by the shard's part of the batch.
    fn shard_backward(
        &self,
        batch: &[usize],
        encoded: &Batch,
        shard: &Shard,
        rng: &mut DropoutRng,
    ) -> Result<(f64, Gradients)> {
        let train = &self.spec.dataset.train;
        let (start, len) = (shard.rows.start, shard.rows.len());
        let input_ids = encoded.input_ids.narrow(0, start, len)?;
        let attention_mask = encoded.attention_mask.narrow(0, start, len)?;
        let rows: Vec<&Example> = batch[shard.rows.clone()]
            .iter()
            .map(|&i| &train[i])
            .collect();
        let lookup = self
            .word_table
            .as_ref()
            .map(|table| SparseLookup::new(table, &input_ids))
            .transpose()?;
        let mode = Mode::Train(rng, Some(shard));
        let logits = match &lookup {
            Some(lookup) => {
                self.model
                    .forward_words(lookup.vectors(), &input_ids, &attention_mask, mode)?
            }
            None => self.model.forward(&input_ids, &attention_mask, mode)?,
        };
        let loss = match &self.objective {
            Objective::Multi(kind) => {
                let flags: Vec<f32> = rows
                    .iter()
                    .flat_map(|e| {
                        self.labels
                            .iter()
                            .map(|l| f32::from(u8::from(e.labels.contains(l))))
                    })
                    .collect();
                let targets =
                    Tensor::from_vec(flags, (rows.len(), self.labels.len()), &Device::Cpu)?;
                loss::multi_label(&logits, &targets, kind)?
            }
            Objective::Single { smoothing } => {
                let classes: Vec<u32> = rows
                    .iter()
                    .map(|e| {
                        e.labels
                            .first()
                            .and_then(|l| self.labels.iter().position(|x| x == l))
                            .unwrap_or(0) as u32
                    })
                    .collect();
                let targets = Tensor::new(classes.as_slice(), &Device::Cpu)?;
                loss::single_label(&logits, &targets, *smoothing)?
            }
        };
        let loss = loss.affine(len as f64 / shard.batch_rows as f64, 0.0)?;
        let value = f64::from(loss.to_scalar::<f32>()?);
        let grads = loss.backward()?;
        let rows = match &lookup {
            Some(lookup) => lookup.gradient(&grads)?.into_iter().collect(),
            None => Vec::new(),
        };
        Ok((value, Gradients::new(grads, rows)))
    }

    /// Validation, best-model bookkeeping and the epoch-end checkpoint.
    fn end_epoch(&mut self, epoch: usize, samples_per_s: f64, bar: &ProgressBar) -> Result<()> {
        let (score, _) = self.validation_score(&self.model)?;
        let step = self.optimizer.steps();
        self.progress.history.epochs.push(EpochRecord {
            epoch: epoch + 1,
            step,
            score,
            samples_per_s,
        });
        let improved = self.progress.best.is_none_or(|(best, _)| score > best);
        if improved {
            self.progress.best = Some((score, epoch + 1));
            self.progress.stale_epochs = 0;
            model_dir::save_weights(
                &self.spec.out.join(model_dir::MODEL_FILE),
                &self.all_weights()?,
            )?;
        } else {
            self.progress.stale_epochs += 1;
        }
        bar.suspend(|| {
            println!(
                "epoch {}/{}: validation {} {score:.4}{} · {samples_per_s:.1} samples/s",
                epoch + 1,
                self.options().epochs,
                score_name(self.task),
                if improved { " (best so far)" } else { "" },
            )
        });
        self.progress.epoch = epoch + 1;
        self.progress.next_batch = 0;
        self.save_checkpoint()
    }

    /// The selection score on validation: micro-F1 at the tuned global
    /// threshold (multi-label) or macro-F1 (single-label).
    fn validation_score(&self, model: &Classifier) -> Result<(f64, Vec<Vec<f32>>)> {
        let validation = &self.spec.dataset.validation;
        let texts: Vec<&str> = validation.iter().map(|e| e.text.as_str()).collect();
        let logits = pipeline::logits(model, &self.encoder, &texts)?.rows;
        let truth = evaluate::truth(validation, &self.labels);
        let probabilities: Vec<Vec<f32>> = logits
            .iter()
            .map(|row| calibrate::probabilities(row, 1.0, self.task))
            .collect();
        let global = match self.task {
            Task::MultiLabel => calibrate::tune_global(&probabilities, &truth),
            Task::SingleLabel => 0.5,
        };
        let thresholds = Thresholds {
            rule: Rule::for_task(self.task)[0],
            temperature: 1.0,
            global,
            per_label: vec![global; self.labels.len()],
            max_genres: None,
        };
        let metrics = evaluate::score(
            &probabilities,
            &truth,
            &thresholds,
            thresholds.rule,
            self.task,
            &evaluate::all_columns(self.labels.len()),
        );
        Ok((metrics.selection_score(), logits))
    }

    /// Every weight of the model as it is now: trained and frozen.
    fn all_weights(&self) -> Result<Tensors> {
        let mut all = self.frozen.clone();
        for (name, var) in &self.vars {
            all.insert(name.clone(), var.as_tensor().copy()?);
        }
        Ok(all)
    }

    fn save_checkpoint(&mut self) -> Result<()> {
        self.progress.dropout_word_pos = self.dropout_rng.get_word_pos().to_string();
        let state = CheckpointState {
            version: CHECKPOINT_VERSION,
            invocation: self.spec.invocation.clone(),
            options: self.options().clone(),
            progress: self.progress.clone(),
        };
        let mut tensors: Vec<(String, Tensor)> = self
            .vars
            .iter()
            .map(|(name, var)| (format!("model.{name}"), var.as_tensor().clone()))
            .collect();
        tensors.extend(self.optimizer.state()?);
        let metadata = HashMap::from([(STATE_KEY.to_string(), serde_json::to_string(&state)?)]);
        let path = self.spec.out.join(CHECKPOINT_FILE);
        model_dir::save_safetensors(&path, tensors, Some(metadata))
    }

    /// Reloads the best epoch's weights, calibrates and tunes on validation,
    /// scores test, and writes the rest of the model folder.
    fn finish(self) -> Result<Outcome> {
        let out = self.spec.out;
        let best_epoch = self.progress.best.map_or(0, |(_, epoch)| epoch);
        let tensors = weights::from_safetensors(&model_dir::read(out, model_dir::MODEL_FILE)?)?;
        let best = Classifier::load(&Source::dense(tensors), &self.config)?;
        let (_, validation_logits) = self.validation_score(&best)?;
        let dataset = self.spec.dataset;
        let validation_truth = evaluate::truth(&dataset.validation, &self.labels);
        let calibrate::Tuned {
            thresholds,
            rule_scores,
            ..
        } = calibrate::tune(
            &validation_logits,
            &validation_truth,
            self.task,
            self.options().min_threshold_support,
            calibrate::most_genres(&evaluate::truth(&dataset.train, &self.labels), self.task),
        );
        let calibrated = |logits: &[Vec<f32>]| -> Vec<Vec<f32>> {
            logits
                .iter()
                .map(|row| calibrate::probabilities(row, thresholds.temperature, self.task))
                .collect()
        };
        let columns = evaluate::all_columns(self.labels.len());
        let validation = evaluate::report(
            &calibrated(&validation_logits),
            &dataset.validation,
            &thresholds,
            &self.labels,
            self.task,
            &columns,
        );
        let test_texts: Vec<&str> = dataset.test.iter().map(|e| e.text.as_str()).collect();
        let test_logits = pipeline::logits(&best, &self.encoder, &test_texts)?.rows;
        let test = evaluate::report(
            &calibrated(&test_logits),
            &dataset.test,
            &thresholds,
            &self.labels,
            self.task,
            &columns,
        );

        let mut files = Vec::new();
        let mut write = |name: &str, bytes: Vec<u8>| -> Result<()> {
            let path = out.join(name);
            atomic::write(&path, &bytes)?;
            files.push(path);
            Ok(())
        };
        write(model_dir::CONFIG_FILE, self.config.to_json()?.into_bytes())?;
        write(
            model_dir::TOKENIZER_FILE,
            model_dir::read(self.spec.base, model_dir::TOKENIZER_FILE)?,
        )?;
        write(
            model_dir::LABELS_FILE,
            serde_json::to_vec_pretty(&self.labels)?,
        )?;
        write(
            model_dir::THRESHOLDS_FILE,
            serde_json::to_vec_pretty(&thresholds)?,
        )?;
        let summary = report::Summary {
            dataset: dataset.path.display().to_string(),
            task: self.task,
            labels: &self.labels,
            thresholds: &thresholds,
            rule_scores: &rule_scores,
            validation: &validation,
            test: &test,
            history: &self.progress.history,
            best_epoch,
            seconds: self.progress.seconds,
            options: self.options(),
        };
        write(
            model_dir::METRICS_FILE,
            serde_json::to_vec_pretty(&summary.metrics_json())?,
        )?;
        files.extend(report::write(out, &summary)?);
        files.push(out.join(model_dir::MODEL_FILE));
        Ok(Outcome {
            thresholds,
            validation,
            test,
            best_epoch,
            epochs_run: self.progress.history.epochs.len(),
            seconds: self.progress.seconds,
            files,
        })
    }
}

/// Layers below this index stay frozen.
fn frozen_layers(options: &Options, n_layers: usize) -> usize {
    options
        .train_top_layers
        .map_or(0, |top| n_layers.saturating_sub(top))
}

/// Where a weight sits in the classifier, bottom to top.
enum Depth {
    Embeddings,
    Layer(usize),
    /// Above the encoder: the head, and anything not in a numbered layer.
    Top,
}

/// The depth of weight `name`, from its Hugging Face DistilBERT name.
fn depth(name: &str) -> Depth {
    let Some(rest) = name.strip_prefix(&format!("{}.", weights::ENCODER_PREFIX)) else {
        return Depth::Top;
    };
    if rest.starts_with("embeddings.") {
        return Depth::Embeddings;
    }
    rest.strip_prefix("transformer.layer.")
        .and_then(|r| r.split('.').next())
        .and_then(|i| i.parse::<usize>().ok())
        .map_or(Depth::Top, Depth::Layer)
}

/// Whether weight `name` stays frozen: embeddings when `embeddings`,
/// transformer layers below `below`.
fn is_frozen(name: &str, embeddings: bool, below: usize) -> bool {
    match depth(name) {
        Depth::Embeddings => embeddings,
        Depth::Layer(layer) => layer < below,
        Depth::Top => false,
    }
}

/// The learning-rate factor of weight `name` under layer-wise decay `decay`
/// (see `--layer-lr-decay`) in an encoder of `n_layers` layers.
pub fn layer_lr_scale(name: &str, decay: f64, n_layers: usize) -> f64 {
    let below_top = match depth(name) {
        Depth::Embeddings => n_layers,
        Depth::Layer(layer) => n_layers.saturating_sub(layer + 1),
        Depth::Top => 0,
    };
    decay.powi(below_top as i32)
}

/// The name of the selection score, for messages.
pub fn score_name(task: Task) -> &'static str {
    match task {
        Task::MultiLabel => "micro-F1",
        Task::SingleLabel => "macro-F1",
    }
}

/// A progress bar over optimizer steps with loss, speed and ETA; drawn only
/// on a terminal.
fn progress_bar(total: u64, done: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_position(done);
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:30} {pos}/{len} steps · {msg} · {elapsed_precise} elapsed, ETA {eta_precise}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Mean training loss over the last [`LOSS_LOG_EVERY`] steps.
#[derive(Default)]
struct LossWindow {
    sum: f64,
    count: u64,
    last: f64,
}

impl LossWindow {
    /// Adds one step's loss; returns the window's mean when it is full.
    fn push(&mut self, loss: f64, step: u64) -> Option<f64> {
        self.sum += loss;
        self.count += 1;
        self.last = self.sum / self.count as f64;
        if step % LOSS_LOG_EVERY != 0 {
            return None;
        }
        self.sum = 0.0;
        self.count = 0;
        Some(self.last)
    }
}

/// Adds `grads` into `total`, the gradients summed so far (`None` before the
/// first), for batches of one step and shards of one batch alike.
fn add_gradients(
    total: &mut Option<Gradients>,
    grads: Gradients,
    vars: &[(String, Var)],
) -> Result<()> {
    match total {
        None => *total = Some(grads),
        Some(sum) => sum.accumulate(grads, vars)?,
    }
    Ok(())
}

/// Leaves the cores to the batch shards (`--shards`): candle 0.11 fans large
/// elementwise ops out to a pool of threads of its own that spin between ops,
/// and those compete with the shards for the same cores (measured here, 2
/// shards: 12 samples/s with that pool, 22 without; whole batches: 14). Sets
/// CANDLE_NUM_THREADS to 1 unless the user set it, then pins the matrix
/// threads (`pin_matmul_threads`). Environment changes are only sound while
/// the process has one thread, so call it first thing.
pub fn tune_threads() {
    if std::env::var_os(CANDLE_THREADS).is_none() {
        std::env::set_var(CANDLE_THREADS, "1");
    }
    pin_matmul_threads();
}

/// Spares every command candle 0.11's count of physical cores, which it
/// takes by parsing /proc/cpuinfo for every matrix product (3% of a training
/// step, measured here): sets RAYON_NUM_THREADS to the cores rayon would use
/// anyway, unless the user set it. Only sound while the process has one
/// thread, so call it first thing.
pub fn pin_matmul_threads() {
    if std::env::var_os(RAYON_THREADS).is_none() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        std::env::set_var(RAYON_THREADS, cores.to_string());
    }
}

/// The variable candle reads, once, for the size of its elementwise pool.
const CANDLE_THREADS: &str = "CANDLE_NUM_THREADS";
/// The variable rayon reads for its pool and candle for every matrix product.
const RAYON_THREADS: &str = "RAYON_NUM_THREADS";

/// Keeps freed memory in the process instead of returning it to the kernel
/// after every tensor: a training step allocates and frees hundreds of
/// megabytes, and page faults on fresh memory cost about a third of a step.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt is thread-safe and only changes glibc's allocation
    // thresholds; no memory is touched.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}
