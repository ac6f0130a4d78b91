//! A bundle's decisions tuned on its own probabilities. Quantization moves
//! every probability a little, and a genre held to a low threshold of its
//! own (Film-Noir at 0.05) can lose most of its hits to that: so the
//! temperature, thresholds, rule and genre cap the page applies are tuned
//! again on what the page runs, by the criterion `lexical` uses.

use serde_json::json;

use crate::labels::Thresholds;
use crate::pipeline::{self, Pipeline};
use crate::train::data::dataset::Dataset;
use crate::train::eval::calibrate::{self, DEFAULT_MIN_THRESHOLD_SUPPORT};
use crate::train::eval::criterion::{Criterion, SelectOn};
use crate::train::eval::evaluate;
use crate::Result;

/// What tuning chose, and the record of why.
pub struct Decisions {
    pub thresholds: Thresholds,
    /// The criterion, every rule's and every cap's score, for the bundle's provenance.
    pub record: serde_json::Value,
}

/// Tunes `model`'s decisions on `dataset`'s validation split (the data it
/// was trained on): the unseen-title criterion, the genre cap from the
/// training split's most genres per plot, as `lexical` tunes a folder.
pub fn tune(model: &Pipeline, dataset: &Dataset) -> Result<Decisions> {
    let texts: Vec<&str> = dataset.validation.iter().map(|e| e.text.as_str()).collect();
    let logits = pipeline::logits(&model.model, &model.tokenizer, &texts)?.rows;
    let truth = evaluate::truth(&dataset.validation, &model.labels);
    let most = calibrate::most_genres(&evaluate::truth(&dataset.train, &model.labels), model.task);
    let criterion = Criterion::for_validation(dataset, SelectOn::default(), &model.labels);
    let (tuned, caps) = calibrate::tune_cap(
        &logits,
        &truth,
        model.task,
        DEFAULT_MIN_THRESHOLD_SUPPORT,
        most,
        &criterion,
    );
    let record = json!({
        "tuned_on": "the bundle's own validation probabilities",
        "selection_criterion": tuned.criterion,
        "rule_selection": tuned.rule_scores,
        "cap_selection": caps,
        "own_thresholds": tuned.thresholds.own_thresholds_in_words(&model.labels),
    });
    Ok(Decisions {
        thresholds: tuned.thresholds,
        record,
    })
}
