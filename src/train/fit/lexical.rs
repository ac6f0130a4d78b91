//! `lexical`: fits the bag-of-words companion of a trained model (see
//! `model::lexical`) on the training split, picks its share of the blend on
//! validation, tunes temperature and thresholds for the blend, and rewrites
//! the folder, so that `eval`, `predict`, `export` and the page use the blend.

use std::path::{Path, PathBuf};

use argmin::core::{CostFunction, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use candle_core::{Device, Tensor};
use serde::Deserialize;
use serde_json::json;

use super::calibrate::{self, Tuned};
use super::data::{Dataset, Example, Task};
use super::evaluate::{self, SplitReport};
use super::model_dir::{self, METRICS_FILE, MODEL_FILE, THRESHOLDS_FILE, TOKENIZER_FILE};
use super::report;
use super::trainer::{History, Options};
use super::{atomic, calibrate::Thresholds};
use crate::model::lexical::{self, Lexical, Vocabulary};
use crate::model::{weights, Classifier, Source, Tensors};
use crate::pipeline::{self, INFERENCE_BATCH};
use crate::tokenize::TextEncoder;
use crate::{Error, Result};

/// Blend shares tried on validation: the lexical logits' weight.
pub const SHARES: [f32; 7] = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
/// Regularisation strengths tried by default (ties go to the first, the
/// strongest regularisation).
pub const DEFAULT_C: [f64; 4] = [1.0, 3.0, 10.0, 30.0];
/// L-BFGS correction pairs kept.
const LBFGS_MEMORY: usize = 10;

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
}

/// Whether a regularisation strength can be fitted: the one rule for it.
fn usable_c(c: f64) -> bool {
    c > 0.0 && c.is_finite()
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
    /// Held-out validation score of the blend (micro-F1).
    pub score: f64,
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
/// them ([CLS] and [SEP] tell nothing); 0 for the others.
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

/// L2-regularised logistic regression of every label at once, over sparse
/// rows: mean log-loss plus `lambda / 2 * |W|^2` (biases unpenalised).
/// Parameters are `features x labels` weights, then one bias per label.
struct Regression<'a> {
    rows: &'a [Vec<(usize, f32)>],
    truth: &'a [Vec<bool>],
    labels: usize,
    features: usize,
    lambda: f64,
}

impl Regression<'_> {
    /// Mean loss and, when asked, its gradient.
    fn evaluate(&self, params: &[f64], gradient: Option<&mut Vec<f64>>) -> f64 {
        let (weights, bias) = params.split_at(self.features * self.labels);
        let mut grad = gradient;
        if let Some(g) = grad.as_deref_mut() {
            g.clear();
            g.resize(params.len(), 0.0);
        }
        let n = self.rows.len().max(1) as f64;
        let mut loss = 0.0;
        let mut logits = vec![0f64; self.labels];
        for (row, truth) in self.rows.iter().zip(self.truth) {
            logits.copy_from_slice(bias);
            for &(feature, value) in row {
                let w = &weights[feature * self.labels..(feature + 1) * self.labels];
                for (z, &w) in logits.iter_mut().zip(w) {
                    *z += f64::from(value) * w;
                }
            }
            for (z, &t) in logits.iter_mut().zip(truth) {
                let y = if t { 1.0 } else { 0.0 };
                // log(1 + e^z) - z y, stable for either sign of z.
                loss += z.max(0.0) - *z * y + (-z.abs()).exp().ln_1p();
                *z = (1.0 / (1.0 + (-*z).exp()) - y) / n;
            }
            if let Some(grad) = grad.as_deref_mut() {
                let (gw, gb) = grad.split_at_mut(self.features * self.labels);
                for &(feature, value) in row {
                    let g = &mut gw[feature * self.labels..(feature + 1) * self.labels];
                    for (g, &dz) in g.iter_mut().zip(&logits) {
                        *g += f64::from(value) * dz;
                    }
                }
                for (g, &dz) in gb.iter_mut().zip(&logits) {
                    *g += dz;
                }
            }
        }
        let squares: f64 = weights.iter().map(|w| w * w).sum();
        if let Some(grad) = grad {
            for (g, &w) in grad.iter_mut().zip(weights) {
                *g += self.lambda * w;
            }
        }
        loss / n + 0.5 * self.lambda * squares
    }
}

impl CostFunction for Regression<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, params: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.evaluate(params, None))
    }
}

impl Gradient for Regression<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, params: &Self::Param) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        let mut gradient = Vec::new();
        self.evaluate(params, Some(&mut gradient));
        Ok(gradient)
    }
}

/// Fits one logistic regression per label, at regularisation strength `c`,
/// on TF-IDF `rows` over `features` features; returns `(labels, padded
/// features)` weights and the biases.
pub fn fit_regression(
    rows: &[Vec<(usize, f32)>],
    truth: &[Vec<bool>],
    features: usize,
    c: f64,
    max_iters: u64,
) -> Result<(Vec<Vec<f32>>, Vec<f32>)> {
    let labels = truth.first().map_or(0, Vec::len);
    if rows.is_empty() || labels == 0 {
        return Err(Error::Input(
            "the lexical model needs labeled training texts".into(),
        ));
    }
    if !usable_c(c) {
        return Err(Error::Input(format!(
            "--regularization-c {c} must be a positive number"
        )));
    }
    let problem = Regression {
        rows,
        truth,
        labels,
        features,
        // scikit-learn minimises C * sum(loss) + |w|^2 / 2; this is that over C n.
        lambda: 1.0 / (c * rows.len() as f64),
    };
    let failed = |e: argmin::core::Error| Error::Input(format!("lexical model fit failed: {e}"));
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), LBFGS_MEMORY)
        .with_tolerance_grad(1e-6)
        .map_err(failed)?;
    let start = vec![0f64; (features + 1) * labels];
    let result = Executor::new(problem, solver)
        .configure(|state| state.param(start).max_iters(max_iters))
        .run()
        .map_err(failed)?;
    let params = result
        .state
        .best_param
        .ok_or_else(|| Error::Input("lexical model fit gave no parameters".into()))?;
    let padded = lexical::padded_features(features);
    let weights = (0..labels)
        .map(|label| {
            let mut row: Vec<f32> = (0..features)
                .map(|feature| params[feature * labels + label] as f32)
                .collect();
            row.resize(padded, 0.0);
            row
        })
        .collect();
    let bias = params[features * labels..]
        .iter()
        .map(|&b| b as f32)
        .collect();
    Ok((weights, bias))
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

/// What `train` recorded in metrics.json that the report shows again.
#[derive(Deserialize)]
struct Training {
    best_epoch: usize,
    seconds: f64,
    history: History,
    options: Options,
}

/// Fits, blends and tunes on `dataset` (the data the folder was trained
/// on), then rewrites the folder's weights, thresholds, metrics and report.
pub fn attach(dir: &Path, dataset: &Dataset, options: &LexicalOptions) -> Result<Outcome> {
    let description = model_dir::describe_folder(dir)?;
    if description.task != Task::MultiLabel {
        return Err(Error::Input(
            "the lexical model blends multi-label models only".into(),
        ));
    }
    let metrics: serde_json::Value = serde_json::from_slice(&model_dir::read(dir, METRICS_FILE)?)?;
    let training: Training =
        serde_json::from_value(metrics["training"].clone()).map_err(|e| Error::Model {
            path: dir.to_path_buf(),
            problem: format!("{METRICS_FILE} has no training record ({e}); run `train` first"),
        })?;
    let mut all = weights::from_safetensors(&model_dir::read(dir, MODEL_FILE)?)?;
    all.retain(|name, _| !name.starts_with(&format!("{}.", lexical::PREFIX)));
    let config = &description.config;
    let labels = &description.labels;
    let classifier = Classifier::load(&Source::dense(all.clone()), config)?;
    let encoder = TextEncoder::from_bytes(
        &model_dir::read(dir, TOKENIZER_FILE)?,
        description.max_length,
    )?;

    let train_ids = token_ids(&encoder, &texts(&dataset.train))?;
    let idf = idf_table(&train_ids, config.vocab_size, options.min_df);
    let vocabulary = Vocabulary::from_idf_table(&idf)?;
    let rows: Vec<_> = train_ids
        .iter()
        .map(|ids| vocabulary.vectorize(ids))
        .collect();
    let train_truth = evaluate::truth(&dataset.train, labels);
    let lexical_logits = |examples: &[Example], model: &Lexical| -> Result<Vec<Vec<f32>>> {
        Ok(token_ids(&encoder, &texts(examples))?
            .iter()
            .map(|ids| model.logits_of(ids))
            .collect())
    };
    let encoder_logits = |examples: &[Example]| -> Result<Vec<Vec<f32>>> {
        Ok(pipeline::logits(&classifier, &encoder, &texts(examples))?.rows)
    };
    let blend = |head: &[Vec<f32>], words: &[Vec<f32>], share: f32| -> Vec<Vec<f32>> {
        head.iter()
            .zip(words)
            .map(|(h, w)| {
                h.iter()
                    .zip(w)
                    .map(|(&h, &w)| (1.0 - share) * h + share * w)
                    .collect()
            })
            .collect()
    };
    let validation_truth = evaluate::truth(&dataset.validation, labels);
    let head_validation = encoder_logits(&dataset.validation)?;
    let most_genres = calibrate::most_genres(&train_truth, Task::MultiLabel);
    let columns = evaluate::all_columns(labels.len());

    let mut scores = Vec::new();
    let mut best: Option<(Fit, f32, Tuned)> = None;
    for &c in &options.c {
        let (weights, bias) =
            fit_regression(&rows, &train_truth, vocabulary.len(), c, options.max_iters)?;
        let pure = Lexical::load(
            &Source::dense(tensors(idf.clone(), &weights, bias.clone(), 1.0)?),
            config.vocab_size,
            labels.len(),
        )?
        .ok_or_else(|| Error::Weights("the lexical tensors did not load".into()))?;
        let words_validation = lexical_logits(&dataset.validation, &pure)?;
        let mut best_share: Option<(f32, Tuned)> = None;
        for &share in &SHARES {
            let tuned = calibrate::tune(
                &blend(&head_validation, &words_validation, share),
                &validation_truth,
                Task::MultiLabel,
                training.options.min_threshold_support,
                most_genres,
            );
            scores.push(Candidate {
                c,
                share,
                score: tuned.score(),
            });
            // Ties go to the smallest share, and below to the first C given.
            if best_share
                .as_ref()
                .is_none_or(|(_, leader)| tuned.score() > leader.score())
            {
                best_share = Some((share, tuned));
            }
        }
        let Some((share, tuned)) = best_share else {
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|(_, _, leader)| tuned.score() > leader.score())
        {
            let fit = Fit {
                c,
                weights,
                bias,
                pure,
                words_validation,
            };
            best = Some((fit, share, tuned));
        }
    }
    let (
        fit,
        share,
        Tuned {
            thresholds,
            rule_scores,
            ..
        },
    ) = best.ok_or_else(|| Error::Input("no regularisation strength to choose from".into()))?;
    let Fit {
        c,
        weights,
        bias,
        pure,
        words_validation,
    } = fit;

    let validation = evaluate::report(
        &calibrated(
            &blend(&head_validation, &words_validation, share),
            &thresholds,
        ),
        &dataset.validation,
        &thresholds,
        labels,
        Task::MultiLabel,
        &columns,
    );
    let test_logits = blend(
        &encoder_logits(&dataset.test)?,
        &lexical_logits(&dataset.test, &pure)?,
        share,
    );
    let test = evaluate::report(
        &calibrated(&test_logits, &thresholds),
        &dataset.test,
        &thresholds,
        labels,
        Task::MultiLabel,
        &columns,
    );

    all.extend(tensors(idf, &weights, bias, share)?);
    let mut files = Vec::new();
    let weights_path = dir.join(MODEL_FILE);
    model_dir::save_weights(&weights_path, &all)?;
    files.push(weights_path);
    let thresholds_path = dir.join(THRESHOLDS_FILE);
    atomic::write(&thresholds_path, &serde_json::to_vec_pretty(&thresholds)?)?;
    files.push(thresholds_path);
    let summary = report::Summary {
        dataset: metrics["dataset"].as_str().unwrap_or_default().to_string(),
        task: Task::MultiLabel,
        labels,
        thresholds: &thresholds,
        rule_scores: &rule_scores,
        validation: &validation,
        test: &test,
        history: &training.history,
        best_epoch: training.best_epoch,
        seconds: training.seconds,
        options: &training.options,
    };
    let mut metrics = summary.metrics_json();
    metrics["lexical"] = json!({
        "features": vocabulary.len(),
        "options": options,
        "regularization_c": c,
        "share": share,
        "validation_scores": scores,
    });
    let metrics_path = dir.join(METRICS_FILE);
    atomic::write(&metrics_path, &serde_json::to_vec_pretty(&metrics)?)?;
    files.push(metrics_path);
    files.extend(report::write(dir, &summary)?);
    Ok(Outcome {
        features: vocabulary.len(),
        c,
        share,
        scores,
        thresholds,
        validation,
        test,
        files,
    })
}

/// The input texts of `examples`.
fn texts(examples: &[Example]) -> Vec<&str> {
    examples.iter().map(|e| e.text.as_str()).collect()
}

/// Calibrated multi-label probabilities of `logits` at the tuned temperature.
fn calibrated(logits: &[Vec<f32>], thresholds: &Thresholds) -> Vec<Vec<f32>> {
    logits
        .iter()
        .map(|row| calibrate::probabilities(row, thresholds.temperature, Task::MultiLabel))
        .collect()
}
