//! The fine-tuning loop: batches, forward and backward passes, AdamW steps,
//! validation after every epoch, the best model kept, early stopping, and
//! resumable checkpoints. A run resumed from a checkpoint ends with weights
//! bit-identical to an uninterrupted one: every random draw derives from the
//! seed and the saved position.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Var;
use rand::SeedableRng;
use rayon::prelude::*;

use super::batches;
use super::checkpoint::{self, Checkpoint, Progress, Snapshot};
use super::freeze::{frozen_weights, layer_lr_scale};
use super::objective::Objective;
use super::optim::{self, AdamW, AdamWConfig, Gradients, Schedule, SparseLookup};
use super::options::Options;
use super::progress::StepProgress;
use crate::labels::Task;
use crate::labels::Thresholds;
use crate::model::{
    weights, Classifier, Config, DropoutRng, Head, Mode, Shard, Source, Tensors, Trainable,
};
use crate::pipeline;
use crate::tokenize::{Batch, TextEncoder};
use crate::train::data::dataset::{Dataset, Example};
use crate::train::eval::calibrate;
use crate::train::eval::criterion::Criterion;
use crate::train::eval::evaluate::{self, score_name, SplitReport};
use crate::train::eval::finish::{self, Ending};
use crate::train::eval::history::{EpochRecord, Training};
use crate::train::{atomic, model_dir, threads};
use crate::{Error, Result};

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
    /// What the best epoch and the decision rule are chosen by.
    criterion: Criterion,
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
        run.progress = checkpoint.restore(
            spec.options,
            &run.vars,
            &mut run.optimizer,
            &mut run.dropout_rng,
        )?;
    }
    run.fit()?;
    run.finish()
}

impl<'a> Run<'a> {
    /// Loads the base, builds the model with a new head and the optimizer.
    pub fn new(spec: &'a RunSpec<'a>) -> Result<Self> {
        threads::tune_allocator();
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
        let config = run_config(spec, &labels, task)?;
        let tokenizer_json = model_dir::read(spec.base, model_dir::TOKENIZER_FILE)?;
        let encoder = TextEncoder::from_bytes(&tokenizer_json, options.max_length)?;
        let (trainable, frozen) = initial_model(spec, &config, labels.len())?;
        let lengths = dataset
            .train
            .iter()
            .map(|e| {
                encoder
                    .encode_batch(&[e.text.as_str()])
                    .map(|b| b.lengths[0])
            })
            .collect::<Result<Vec<_>>>()?;
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
            schedule: schedule(options, dataset.train.len()),
            objective: Objective::new(task, options, dataset)?,
            lengths,
            dropout_rng: DropoutRng::seed_from_u64(options.seed),
            progress: Progress::default(),
            criterion: Criterion::for_validation(dataset, options.select_on, &dataset.labels),
        })
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
        let mut display = StepProgress::new(self.schedule.total_steps, self.optimizer.steps());
        while self.progress.epoch < options.epochs
            && self.progress.stale_epochs < options.patience.max(1)
        {
            let epoch = self.progress.epoch;
            let epoch_start = Instant::now();
            let epoch_samples = self.fit_epoch(epoch, epoch_start, &mut display)?;
            let samples_per_s = epoch_samples as f64 / epoch_start.elapsed().as_secs_f64();
            self.end_epoch(epoch, samples_per_s, &display)?;
        }
        display.finish();
        Ok(())
    }

    /// The rest of `epoch`'s optimizer steps, checkpointing every
    /// `--checkpoint-every` steps; returns the samples it trained on.
    fn fit_epoch(
        &mut self,
        epoch: usize,
        epoch_start: Instant,
        display: &mut StepProgress,
    ) -> Result<usize> {
        let options = self.options().clone();
        let batches_per_epoch = self.spec.dataset.train.len().div_ceil(options.batch_size);
        let batches = self.epoch_batches(epoch);
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
            let speed = epoch_samples as f64 / epoch_start.elapsed().as_secs_f64();
            if let Some(mean) = display.step(step, loss, (epoch, options.epochs), speed) {
                self.progress.history.loss.push((step, mean));
            }
            if options.checkpoint_every > 0
                && step % options.checkpoint_every == 0
                && self.progress.next_batch < batches_per_epoch
            {
                self.save_checkpoint()?;
            }
        }
        Ok(epoch_samples)
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
        let loss = self.objective.loss(&logits, &rows, &self.labels)?;
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
    fn end_epoch(
        &mut self,
        epoch: usize,
        samples_per_s: f64,
        display: &StepProgress,
    ) -> Result<()> {
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
        display.println(&format!(
            "epoch {}/{}: validation {} {score:.4}{} · {samples_per_s:.1} samples/s",
            epoch + 1,
            self.options().epochs,
            score_name(self.task),
            if improved { " (best so far)" } else { "" },
        ));
        self.progress.epoch = epoch + 1;
        self.progress.next_batch = 0;
        self.save_checkpoint()
    }

    /// The selection score on validation (see [`calibrate::epoch_score`])
    /// and the logits it was computed from.
    fn validation_score(&self, model: &Classifier) -> Result<(f64, Vec<Vec<f32>>)> {
        let validation = &self.spec.dataset.validation;
        let logits = pipeline::logits(model, &self.encoder, &texts(validation))?.rows;
        let truth = evaluate::truth(validation, &self.labels);
        let score = calibrate::epoch_score(&logits, &truth, self.task, &self.criterion);
        Ok((score, logits))
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
        let snapshot = Snapshot {
            invocation: &self.spec.invocation,
            options: self.options(),
            progress: &self.progress,
            vars: &self.vars,
            optimizer: &self.optimizer,
        };
        checkpoint::save(self.spec.out, &snapshot)
    }

    /// Reloads the best epoch's weights, tunes the decision rule on
    /// validation, scores test, and writes the rest of the model folder.
    fn finish(self) -> Result<Outcome> {
        let out = self.spec.out;
        let dataset = self.spec.dataset;
        let best_epoch = self.progress.best.map_or(0, |(_, epoch)| epoch);
        let tensors = weights::from_safetensors(&model_dir::read(out, model_dir::MODEL_FILE)?)?;
        let best = Classifier::load(&Source::dense(tensors), &self.config)?;
        let (_, validation_logits) = self.validation_score(&best)?;
        let tuned = calibrate::tune(
            &validation_logits,
            &evaluate::truth(&dataset.validation, &self.labels),
            self.task,
            self.options().min_threshold_support,
            calibrate::most_genres(&evaluate::truth(&dataset.train, &self.labels), self.task),
            &self.criterion,
        );
        let test_logits = pipeline::logits(&best, &self.encoder, &texts(&dataset.test))?.rows;
        let mut files = self.write_model_description()?;
        let training = Training {
            best_epoch,
            seconds: self.progress.seconds,
            history: self.progress.history.clone(),
            options: serde_json::to_value(self.options())?,
        };
        let finished = finish::finish(Ending {
            dir: out,
            dataset: dataset.path.display().to_string(),
            task: self.task,
            labels: &self.labels,
            tuned,
            validation: &dataset.validation,
            validation_logits: &validation_logits,
            test: &dataset.test,
            test_logits: &test_logits,
            training: &training,
            extra_metrics: None,
        })?;
        files.extend(finished.files);
        files.push(out.join(model_dir::MODEL_FILE));
        Ok(Outcome {
            thresholds: finished.thresholds,
            validation: finished.validation,
            test: finished.test,
            best_epoch,
            epochs_run: self.progress.history.epochs.len(),
            seconds: self.progress.seconds,
            files,
        })
    }

    /// Writes the files that describe the model beside its weights: config,
    /// tokenizer and labels.
    fn write_model_description(&self) -> Result<Vec<PathBuf>> {
        let files = [
            (model_dir::CONFIG_FILE, self.config.to_json()?.into_bytes()),
            (
                model_dir::TOKENIZER_FILE,
                model_dir::read(self.spec.base, model_dir::TOKENIZER_FILE)?,
            ),
            (
                model_dir::LABELS_FILE,
                serde_json::to_vec_pretty(&self.labels)?,
            ),
        ];
        let mut written = Vec::new();
        for (name, bytes) in files {
            let path = self.spec.out.join(name);
            atomic::write(&path, &bytes)?;
            written.push(path);
        }
        Ok(written)
    }
}

/// The base model's config with the run's pooling and dropout, describing
/// the classifier it becomes.
fn run_config(spec: &RunSpec, labels: &[String], task: Task) -> Result<Config> {
    let options = spec.options;
    let mut config = Config::from_json(&model_dir::read(spec.base, model_dir::CONFIG_FILE)?)?;
    if let Some(pooling) = options.pooling {
        config.pooling = pooling;
    }
    if let Some(p) = options.dropout {
        config.dropout = p;
        config.attention_dropout = p;
    }
    model_dir::describe(&mut config, labels, task, options.max_length);
    Ok(config)
}

/// The base encoder with a new head (seeded by `--seed`) of `n_labels`
/// outputs, as trainable variables, and the weights that stay frozen.
fn initial_model(spec: &RunSpec, config: &Config, n_labels: usize) -> Result<(Trainable, Tensors)> {
    let options = spec.options;
    let mut tensors =
        weights::from_safetensors(&model_dir::read(spec.base, model_dir::MODEL_FILE)?)?;
    let mut init_rng = rand_chacha::ChaCha8Rng::seed_from_u64(options.seed);
    for (name, tensor) in Head::initial_weights(config, n_labels, &mut init_rng)? {
        tensors.insert(name, tensor);
    }
    let is_frozen = frozen_weights(options, config.n_layers);
    let frozen: Tensors = tensors
        .iter()
        .filter(|(name, _)| is_frozen(name))
        .map(|(n, t)| (n.clone(), t.clone()))
        .collect();
    let trainable = Classifier::trainable(config, tensors, is_frozen)?;
    Ok((trainable, frozen))
}

/// The learning-rate schedule of a run over `train_rows` training rows.
fn schedule(options: &Options, train_rows: usize) -> Schedule {
    let batches_per_epoch = train_rows.div_ceil(options.batch_size);
    let steps_per_epoch = batches_per_epoch.div_ceil(options.accumulate) as u64;
    let total_steps = steps_per_epoch * options.epochs as u64;
    Schedule {
        peak_lr: options.lr,
        warmup_steps: (total_steps as f64 * options.warmup).round() as u64,
        total_steps,
    }
}

/// The input texts of `examples`.
fn texts(examples: &[Example]) -> Vec<&str> {
    examples.iter().map(|e| e.text.as_str()).collect()
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
