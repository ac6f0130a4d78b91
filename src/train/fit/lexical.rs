//! `lexical`: fits the bag-of-words companion of a trained model (see
//! `model::lexical`) on the training split, picks its share of the blend on
//! validation, tunes temperature, thresholds and genre cap for the blend, and rewrites
//! the folder, so that `eval`, `predict`, `export` and the page use the blend.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde_json::json;

use super::options::Options;
use super::regression::{fit_regression, usable_c};
use crate::labels::{Task, Thresholds};
use crate::model::lexical::{self, Lexical, Vocabulary};
use crate::model::{weights, Classifier, Config, Source, Tensors};
use crate::pipeline::{self, INFERENCE_BATCH};
use crate::tokenize::TextEncoder;
use crate::train::data::dataset::{Dataset, Example};
use crate::train::data::source_labels::SourceLabels;
use crate::train::eval::calibrate::{self, Tuned};
use crate::train::eval::criterion::{Criterion, Score};
use crate::train::eval::evaluate::{self, SplitReport};
use crate::train::eval::finish::{self, Ending};
use crate::train::eval::history::Training;
use crate::train::model_dir::{self, METRICS_FILE, MODEL_FILE, TOKENIZER_FILE};
use crate::{Error, Result};

/// Blend shares tried on validation by default: the lexical logits' weight.
pub const SHARES: [f32; 7] = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
/// Regularisation strengths tried by default (ties go to the first, the
/// strongest regularisation).
pub const DEFAULT_C: [f64; 4] = [1.0, 3.0, 10.0, 30.0];
/// How the lexical model is fitted.
#[derive(Debug, Clone, PartialEq, clap::Args, serde::Serialize)]
pub struct LexicalOptions {
    /// A token is a feature when at least this many training texts hold it.
    #[arg(long, default_value_t = 2)]
    pub min_df: usize,
    /// Inverse L2 regularisation strengths to try, as scikit-learn's
    /// `LogisticRegression(C=...)`: each is fitted, and the one whose blend
    /// scores best on held-out validation folds is kept.
    #[arg(
        long = "regularization-c",
        value_name = "C,...",
        value_delimiter = ',',
        num_args = 1..,
        value_parser = positive_c,
        default_values_t = DEFAULT_C
    )]
    pub c: Vec<f64>,
    /// L-BFGS iterations at most.
    #[arg(long, default_value_t = 300)]
    pub max_iters: u64,
    /// Lexical shares of the blend to try (1 = the lexical model alone, the
    /// TF-IDF + logistic regression baseline of the same rows).
    #[arg(
        long = "share",
        value_name = "SHARE,...",
        value_delimiter = ',',
        num_args = 1..,
        value_parser = blend_share,
        default_values_t = SHARES
    )]
    pub shares: Vec<f32>,
}

/// Parses one `--share` value: above 0 (the head alone needs no lexical
/// model) and at most 1.
fn blend_share(text: &str) -> std::result::Result<f32, String> {
    match text.parse::<f32>() {
        Ok(share) if share > 0.0 && share <= 1.0 => Ok(share),
        Ok(_) => Err("must be above 0 and at most 1".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses one `--regularization-c` value, so a bad one fails before any fit runs.
fn positive_c(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(c) if usable_c(c) => Ok(c),
        Ok(_) => Err("must be a positive number".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// What fitting the lexical model gave.
pub struct Outcome {
    pub features: usize,
    pub c: f64,
    pub share: f32,
    /// Validation selection score of each (C, share) pair tried.
    pub scores: Vec<Candidate>,
    /// The folder's genres, in the order of `thresholds`.
    pub labels: Vec<String>,
    pub thresholds: Thresholds,
    pub validation: SplitReport,
    pub test: SplitReport,
    pub files: Vec<PathBuf>,
}

/// One lexical fit and blend share scored on validation.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Candidate {
    pub c: f64,
    pub share: f32,
    /// Held-out validation score of the blend by the selection criterion.
    #[serde(flatten)]
    pub score: Score,
}

/// The token ids the model reads of each text.
pub fn token_ids(encoder: &TextEncoder, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(INFERENCE_BATCH) {
        let batch = encoder.encode_batch(chunk)?;
        out.extend(lexical::read_ids(&batch.input_ids, &batch.attention_mask)?);
    }
    Ok(out)
}

/// Smoothed inverse document frequency, ln((1 + n) / (1 + df)) + 1, of every
/// vocabulary id held by at least `min_df` of `documents` but not by all of
/// them (`[CLS]` and `[SEP]` tell nothing); 0 for the others.
pub fn idf_table(documents: &[Vec<u32>], vocab_size: usize, min_df: usize) -> Vec<f32> {
    let mut df = vec![0usize; vocab_size];
    for document in documents {
        let mut ids: Vec<u32> = document.clone();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            if let Some(count) = df.get_mut(id as usize) {
                *count += 1;
            }
        }
    }
    let n = documents.len();
    df.iter()
        .map(|&df| {
            if df >= min_df.max(1) && df < n {
                (((1 + n) as f64 / (1 + df) as f64).ln() + 1.0) as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// The tensors of a lexical model, named as a model folder stores them.
fn tensors(idf: Vec<f32>, weights: &[Vec<f32>], bias: Vec<f32>, share: f32) -> Result<Tensors> {
    let named = |part: &str| format!("{}.{part}", lexical::PREFIX);
    let (labels, padded) = (weights.len(), weights.first().map_or(0, Vec::len));
    let flat: Vec<f32> = weights.iter().flatten().copied().collect();
    let mut out = Tensors::new();
    let vocab = idf.len();
    out.insert(
        named(lexical::IDF),
        Tensor::from_vec(idf, vocab, &Device::Cpu)?,
    );
    out.insert(
        named(lexical::WEIGHT),
        Tensor::from_vec(flat, (labels, padded), &Device::Cpu)?,
    );
    out.insert(
        named(lexical::BIAS),
        Tensor::from_vec(bias, labels, &Device::Cpu)?,
    );
    out.insert(
        named(lexical::SHARE),
        Tensor::from_vec(vec![share], 1, &Device::Cpu)?,
    );
    Ok(out)
}

/// One fitted lexical model and its validation logits.
struct Fit {
    c: f64,
    weights: Vec<Vec<f32>>,
    bias: Vec<f32>,
    pure: Lexical,
    words_validation: Vec<Vec<f32>>,
}

/// A fit blended at its best share, and the rule tuned for that blend.
struct Choice {
    fit: Fit,
    share: f32,
    tuned: Tuned,
}

/// A trained model folder as `lexical` finds it: its encoder model (any
/// earlier lexical model left out) and what `train` recorded.
struct Folder {
    config: Config,
    labels: Vec<String>,
    /// Every weight but an earlier lexical model's.
    weights: Tensors,
    classifier: Classifier,
    encoder: TextEncoder,
    /// The dataset, as `metrics.json` names it.
    dataset: String,
    training: Training,
    /// The run's `--min-threshold-support`.
    min_support: usize,
    /// The run's `--select-on` (every row for folders older than it).
    select_on: crate::train::eval::criterion::SelectOn,
    /// The run's `--source-label-sets`: the lexical fit counts the same pairs.
    source_label_sets: bool,
}

impl Folder {
    /// Reads a multi-label folder that `train` wrote.
    fn open(dir: &Path) -> Result<Self> {
        let description = model_dir::describe_folder(dir)?;
        if description.task != Task::MultiLabel {
            return Err(Error::Input(
                "the lexical model blends multi-label models only".into(),
            ));
        }
        let metrics: serde_json::Value =
            serde_json::from_slice(&model_dir::read(dir, METRICS_FILE)?)?;
        let (training, options) = training_record(dir, &metrics)?;
        let mut all = weights::from_safetensors(&model_dir::read(dir, MODEL_FILE)?)?;
        all.retain(|name, _| !name.starts_with(&format!("{}.", lexical::PREFIX)));
        let classifier = Classifier::load(&Source::dense(all.clone()), &description.config)?;
        let encoder = TextEncoder::from_bytes(
            &model_dir::read(dir, TOKENIZER_FILE)?,
            description.max_length,
        )?;
        Ok(Self {
            config: description.config,
            labels: description.labels,
            weights: all,
            classifier,
            encoder,
            dataset: metrics["dataset"].as_str().unwrap_or_default().to_string(),
            training,
            min_support: options.min_threshold_support,
            select_on: options.select_on,
            source_label_sets: options.source_label_sets,
        })
    }

    /// The token ids the model reads of `examples`.
    fn token_ids(&self, examples: &[Example]) -> Result<Vec<Vec<u32>>> {
        token_ids(&self.encoder, &texts(examples))
    }

    /// The encoder model's logits of `examples`.
    fn head_logits(&self, examples: &[Example]) -> Result<Vec<Vec<f32>>> {
        Ok(pipeline::logits(&self.classifier, &self.encoder, &texts(examples))?.rows)
    }

    /// The logits lexical model `model` gives `examples`.
    fn lexical_logits(&self, examples: &[Example], model: &Lexical) -> Result<Vec<Vec<f32>>> {
        Ok(self
            .token_ids(examples)?
            .iter()
            .map(|ids| model.logits_of(ids))
            .collect())
    }
}

/// The training record of `metrics` (in folder `dir`), its options read as
/// `train` defines them (so options added since default as they did).
fn training_record(dir: &Path, metrics: &serde_json::Value) -> Result<(Training, Options)> {
    let no_record = |e: serde_json::Error| Error::Model {
        path: dir.to_path_buf(),
        problem: format!("{METRICS_FILE} has no training record ({e}); run `train` first"),
    };
    let record: Training =
        serde_json::from_value(metrics["training"].clone()).map_err(no_record)?;
    let options: Options = serde_json::from_value(record.options.clone()).map_err(no_record)?;
    let training = Training {
        options: serde_json::to_value(&options)?,
        ..record
    };
    Ok((training, options))
}

/// The training split as the regression reads it: TF-IDF rows over the
/// vocabulary, and the truth.
struct Features {
    idf: Vec<f32>,
    vocabulary: Vocabulary,
    rows: Vec<Vec<(usize, f32)>>,
    truth: Vec<Vec<bool>>,
    /// The (row, label) pairs the fit counts.
    counted: Vec<Vec<bool>>,
}

impl Features {
    /// The features of `dataset`'s train split, for tokens held by at least
    /// `min_df` of its texts.
    fn of_train(folder: &Folder, dataset: &Dataset, min_df: usize) -> Result<Self> {
        let train_ids = folder.token_ids(&dataset.train)?;
        let idf = idf_table(&train_ids, folder.config.vocab_size, min_df);
        let vocabulary = Vocabulary::from_idf_table(&idf)?;
        let rows = train_ids
            .iter()
            .map(|ids| vocabulary.vectorize(ids))
            .collect();
        Ok(Self {
            idf,
            vocabulary,
            rows,
            truth: evaluate::truth(&dataset.train, &folder.labels),
            counted: counted_pairs(folder, dataset),
        })
    }
}

/// The (row, label) pairs of `dataset`'s train split that the fit counts:
/// every one, or with `--source-label-sets` those its source labels.
fn counted_pairs(folder: &Folder, dataset: &Dataset) -> Vec<Vec<bool>> {
    let labels = &folder.labels;
    if !folder.source_label_sets {
        return vec![vec![true; labels.len()]; dataset.train.len()];
    }
    let sources = SourceLabels::of_train(dataset);
    dataset
        .train
        .iter()
        .map(|e| sources.counted(e, labels))
        .collect()
}

/// What every blend is tuned for and scored by on validation: computed
/// once, for the search and the final cap.
struct Target {
    truth: Vec<Vec<bool>>,
    /// The cap the training split implies.
    most_genres: Option<usize>,
    criterion: Criterion,
}

/// Fits, blends and tunes on `dataset` (the data the folder was trained
/// on), then rewrites the folder's weights, thresholds, metrics and report.
pub fn attach(dir: &Path, dataset: &Dataset, options: &LexicalOptions) -> Result<Outcome> {
    let folder = Folder::open(dir)?;
    let features = Features::of_train(&folder, dataset, options.min_df)?;
    let head_validation = folder.head_logits(&dataset.validation)?;
    let target = Target {
        truth: evaluate::truth(&dataset.validation, &folder.labels),
        most_genres: calibrate::most_genres(&features.truth, Task::MultiLabel),
        criterion: Criterion::for_validation(dataset, folder.select_on, &folder.labels),
    };
    let (choice, scores) = search(
        &folder,
        &features,
        dataset,
        &head_validation,
        &target,
        options,
    )?;
    let Choice { fit, share, .. } = choice;
    let validation_logits = blend(&head_validation, &fit.words_validation, share);
    let (tuned, cap_scores) = calibrate::tune_cap(
        &validation_logits,
        &target.truth,
        Task::MultiLabel,
        folder.min_support,
        target.most_genres,
        &target.criterion,
    );
    let lexical_metrics = json!({
        "features": features.vocabulary.len(),
        "options": options,
        "regularization_c": fit.c,
        "share": share,
        "validation_scores": scores,
        "cap_selection": cap_scores,
    });
    let (c, vocabulary) = (fit.c, features.vocabulary.len());
    let blended = Blended {
        idf: features.idf,
        fit,
        share,
        tuned,
        validation_logits,
        metrics: lexical_metrics,
    };
    let finished = save(dir, &folder, dataset, blended)?;
    Ok(Outcome {
        features: vocabulary,
        c,
        share,
        scores,
        labels: folder.labels.clone(),
        thresholds: finished.thresholds,
        validation: finished.validation,
        test: finished.test,
        files: finished.files,
    })
}

/// The blend `attach` chose and its final decisions, as `save` writes them.
struct Blended {
    /// The lexical model's IDF table (its vocabulary).
    idf: Vec<f32>,
    fit: Fit,
    share: f32,
    /// The decisions tuned for the blend, genre cap included.
    tuned: Tuned,
    validation_logits: Vec<Vec<f32>>,
    /// The lexical section of `metrics.json`.
    metrics: serde_json::Value,
}

/// Writes `blended` into folder `dir`: the lexical tensors beside the
/// encoder's, then the thresholds, metrics and report; the files written
/// are the weights first, then `finish`'s.
fn save(
    dir: &Path,
    folder: &Folder,
    dataset: &Dataset,
    blended: Blended,
) -> Result<finish::Finished> {
    let Blended {
        idf,
        fit,
        share,
        tuned,
        validation_logits,
        metrics,
    } = blended;
    let test_logits = blend(
        &folder.head_logits(&dataset.test)?,
        &folder.lexical_logits(&dataset.test, &fit.pure)?,
        share,
    );
    let mut all = folder.weights.clone();
    all.extend(tensors(idf, &fit.weights, fit.bias, share)?);
    let weights_path = dir.join(MODEL_FILE);
    model_dir::save_weights(&weights_path, &all)?;
    let mut finished = finish::finish(Ending {
        dir,
        dataset: folder.dataset.clone(),
        task: Task::MultiLabel,
        labels: &folder.labels,
        tuned,
        validation: &dataset.validation,
        validation_logits: &validation_logits,
        test: &dataset.test,
        test_logits: &test_logits,
        training: &folder.training,
        extra_metrics: Some(("lexical", metrics)),
    })?;
    finished.files.insert(0, weights_path);
    Ok(finished)
}

/// Fits a lexical model at every `--regularization-c` and blends each at
/// every share of `--share`; returns the best blend (ties go to the
/// smallest share, and below to the first C given) and every candidate's
/// validation score.
fn search(
    folder: &Folder,
    features: &Features,
    dataset: &Dataset,
    head_validation: &[Vec<f32>],
    target: &Target,
    options: &LexicalOptions,
) -> Result<(Choice, Vec<Candidate>)> {
    let Target {
        truth: validation_truth,
        most_genres,
        criterion,
    } = target;
    let mut scores = Vec::new();
    let mut best: Option<Choice> = None;
    for &c in &options.c {
        let fit = fit_at(folder, features, dataset, c, options.max_iters)?;
        let mut best_share: Option<(f32, Tuned)> = None;
        for &share in &options.shares {
            let tuned = calibrate::tune(
                &blend(head_validation, &fit.words_validation, share),
                validation_truth,
                Task::MultiLabel,
                folder.min_support,
                *most_genres,
                criterion,
            );
            scores.push(Candidate {
                c,
                share,
                score: tuned.selection(),
            });
            if best_share
                .as_ref()
                .is_none_or(|(_, leader)| criterion.better(tuned.selection(), leader.selection()))
            {
                best_share = Some((share, tuned));
            }
        }
        let Some((share, tuned)) = best_share else {
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|leader| criterion.better(tuned.selection(), leader.tuned.selection()))
        {
            best = Some(Choice { fit, share, tuned });
        }
    }
    let best =
        best.ok_or_else(|| Error::Input("no regularisation strength to choose from".into()))?;
    Ok((best, scores))
}

/// Fits the lexical model at regularisation strength `c` and scores
/// validation with it alone.
fn fit_at(
    folder: &Folder,
    features: &Features,
    dataset: &Dataset,
    c: f64,
    max_iters: u64,
) -> Result<Fit> {
    let (weights, bias) = fit_regression(
        &features.rows,
        &features.truth,
        &features.counted,
        features.vocabulary.len(),
        c,
        max_iters,
    )?;
    let pure = Lexical::load(
        &Source::dense(tensors(features.idf.clone(), &weights, bias.clone(), 1.0)?),
        folder.config.vocab_size,
        folder.labels.len(),
    )?
    .ok_or_else(|| Error::Weights("the lexical tensors did not load".into()))?;
    let words_validation = folder.lexical_logits(&dataset.validation, &pure)?;
    Ok(Fit {
        c,
        weights,
        bias,
        pure,
        words_validation,
    })
}

/// The blend of the head's logits and the lexical model's at `share`.
fn blend(head: &[Vec<f32>], words: &[Vec<f32>], share: f32) -> Vec<Vec<f32>> {
    head.iter()
        .zip(words)
        .map(|(h, w)| {
            h.iter()
                .zip(w)
                .map(|(&h, &w)| (1.0 - share) * h + share * w)
                .collect()
        })
        .collect()
}

/// The input texts of `examples`.
fn texts(examples: &[Example]) -> Vec<&str> {
    examples.iter().map(|e| e.text.as_str()).collect()
}
