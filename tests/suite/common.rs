//! Helpers shared by the integration tests: fixture paths, tensor comparison,
//! and the rule for inputs only a full setup has (`make test` sets
//! PLOTGENRE_TEST_ALL=1, under which a missing input fails instead of skipping).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use candle_core::Tensor;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// Bytes of a file of the tiny fixture model (tests/fixtures/tiny).
pub fn tiny(name: &str) -> Vec<u8> {
    std::fs::read(fixture("tiny").join(name)).expect("tiny fixture")
}

/// The tiny fixture model's config and weights (canonical names), for tests
/// that build a trainable model from them.
pub fn tiny_model() -> (plotgenre::model::Config, plotgenre::model::Tensors) {
    use plotgenre::model::{weights, Config};
    let config = Config::from_json(&tiny("config.json")).expect("tiny config");
    let tensors = weights::from_safetensors(&tiny("model.safetensors")).expect("tiny weights");
    (config, tensors)
}

/// The tiny fixture model at f32 as a multi-label pipeline deciding by `thresholds`.
pub fn tiny_pipeline(thresholds: plotgenre::labels::Thresholds) -> plotgenre::pipeline::Pipeline {
    use plotgenre::model::{Classifier, Source};
    let (config, tensors) = tiny_model();
    plotgenre::pipeline::Pipeline {
        model: Classifier::load(&Source::dense(tensors), &config).expect("tiny model"),
        tokenizer: plotgenre::tokenize::TextEncoder::from_bytes(
            &tiny("tokenizer.json"),
            plotgenre::tokenize::DEFAULT_MAX_LENGTH,
        )
        .expect("tiny tokenizer"),
        task: plotgenre::labels::Task::MultiLabel,
        labels: config.labels().expect("tiny labels"),
        thresholds,
    }
}

/// The tiny fixture model deciding by one threshold of 0.5 (else its top genre).
pub fn tiny_pipeline_at_half() -> plotgenre::pipeline::Pipeline {
    tiny_pipeline(plotgenre::labels::Thresholds::untuned(
        plotgenre::labels::Rule::GlobalTop1,
        5,
    ))
}

/// Reads and parses a JSON fixture.
pub fn json(name: &str) -> serde_json::Value {
    let path = fixture(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether `path` exists; if not, skips (prints why) or, under `make test`, fails.
pub fn available(path: &Path, how_to_make_it: &str) -> bool {
    if path.exists() {
        return true;
    }
    let reason = format!("{} is missing ({how_to_make_it})", path.display());
    if env_flag("PLOTGENRE_TEST_ALL") {
        panic!("{reason}");
    }
    eprintln!("skipped: {reason}");
    false
}

/// Whether the switch `name` is on: set to anything but the empty string,
/// so `NAME=` in a shell turns it off again.
pub fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| !value.is_empty())
}

/// Largest absolute difference between two tensors of the same shape.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0))
        .and_then(|d| d.to_scalar::<f32>())
        .expect("tensor difference")
}

/// A JSON array of arrays of numbers as an f32 tensor.
pub fn f32_matrix(value: &serde_json::Value) -> Tensor {
    let rows: Vec<Vec<f32>> = serde_json::from_value(value.clone()).expect("matrix of numbers");
    let (n, m) = (rows.len(), rows[0].len());
    Tensor::from_vec(rows.concat(), (n, m), &candle_core::Device::Cpu).expect("matrix")
}

/// A JSON array of arrays of integers as a u32 tensor.
pub fn u32_matrix(value: &serde_json::Value) -> Tensor {
    let rows: Vec<Vec<u32>> = serde_json::from_value(value.clone()).expect("matrix of integers");
    let (n, m) = (rows.len(), rows[0].len());
    Tensor::from_vec(rows.concat(), (n, m), &candle_core::Device::Cpu).expect("matrix")
}

/// The shipped bundle (www/models/model.plotgenre) as a pipeline, for tests
/// on the real model's outputs; `None` (skipped) when it is missing.
pub fn shipped_pipeline() -> Option<plotgenre::pipeline::Pipeline> {
    let bundle = root().join("www/models/model.plotgenre");
    if !available(&bundle, "the shipped model; `make export` writes one") {
        return None;
    }
    let bytes = std::fs::read(&bundle).expect("the shipped bundle reads");
    let bundle = plotgenre::bundle::Bundle::from_bytes(&bytes).expect("the shipped bundle loads");
    Some(bundle.pipeline().expect("the shipped bundle's pipeline"))
}
