//! Which weights a run trains, and at which learning rate: frozen
//! embeddings and lower layers (`--freeze-embeddings`, `--train-top-layers`)
//! and layer-wise learning-rate decay (`--layer-lr-decay`), all read from a
//! weight's depth in the encoder.

use super::options::Options;
use crate::model::weights;

/// Whether a weight stays frozen under `options`, by name, in an encoder
/// of `n_layers` layers: frozen weights stay plain tensors, so backpropagation
/// does not even compute their gradients.
pub fn frozen_weights(options: &Options, n_layers: usize) -> impl Fn(&str) -> bool + Copy {
    let below = frozen_layers(options, n_layers);
    let embeddings = options.freeze_embeddings || below > 0;
    move |name| is_frozen(name, embeddings, below)
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
