//! A bundle's decisions tuned on its own probabilities. Quantization moves
//! every probability a little, and a genre held to a low threshold of its
//! own (Film-Noir at 0.05) can lose most of its hits to that: so the
//! temperature and thresholds the page applies are tuned again on what the
//! page runs, by the criterion `lexical` uses. The rule, genre cap and cap
//! order stay the model's own: re-chosen, they flip between near-ties on
//! quantization noise (cap 5 over 4 by 0.0003 of the criterion, which cost
//! kslimon 0.0014 of label accuracy on validation).

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

/// Tunes `model`'s temperature and thresholds on `dataset`'s validation
/// split (the data it was trained on) by the unseen-title criterion, as
/// `lexical` tunes a folder, keeping the model's rule and genre cap.
pub fn tune(model: &Pipeline, dataset: &Dataset) -> Result<Decisions> {
    let texts: Vec<&str> = dataset.validation.iter().map(|e| e.text.as_str()).collect();
    let logits = pipeline::logits(&model.model, &model.tokenizer, &texts)?.rows;
    let truth = evaluate::truth(&dataset.validation, &model.labels);
    let criterion = Criterion::for_validation(dataset, SelectOn::default(), &model.labels);
    let kept = &model.thresholds;
    let tuned = calibrate::tune_kept(
        &logits,
        &truth,
        model.task,
        DEFAULT_MIN_THRESHOLD_SUPPORT,
        kept,
        &criterion,
    );
    let record = json!({
        "tuned_on": "the bundle's own validation probabilities",
        "kept_from_model": {
            "rule": kept.rule,
            "max_genres": kept.max_genres,
            "cap_order": kept.cap_order,
        },
        "selection_criterion": tuned.criterion,
        "rule_selection": tuned.rule_scores,
        "own_thresholds": tuned.thresholds.own_thresholds_in_words(&model.labels),
    });
    Ok(Decisions {
        thresholds: tuned.thresholds,
        record,
    })
}
