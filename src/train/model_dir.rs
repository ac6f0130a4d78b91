//! A trained model folder: what `train` writes and `eval`, `predict` and
//! `export` read. Every file is written atomically; loading checks that the
//! files agree with each other.

use std::collections::HashMap;
use std::path::Path;

use super::atomic;
use crate::labels::{Task, Thresholds};
use crate::model::{weights, Classifier, Config, Source, Tensors};
use crate::pipeline::Pipeline;
use crate::tokenize::{TextEncoder, DEFAULT_MAX_LENGTH};
use crate::{Error, Result};

pub const MODEL_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const LABELS_FILE: &str = "labels.json";
pub const THRESHOLDS_FILE: &str = "thresholds.json";
pub const METRICS_FILE: &str = "metrics.json";
pub const REPORT_FILE: &str = "report.md";

/// Hugging Face's `problem_type` values, which carry the task in config.json.
const MULTI_LABEL: &str = "multi_label_classification";
const SINGLE_LABEL: &str = "single_label_classification";

/// Writes the head and task into `config`: labels, `problem_type`,
/// `max_length` and the architecture name Hugging Face loads it with.
pub fn describe(config: &mut Config, labels: &[String], task: Task, max_length: usize) {
    config.id2label = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), l.clone()))
        .collect();
    let label2id: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), i.into()))
        .collect();
    let problem_type = match task {
        Task::MultiLabel => MULTI_LABEL,
        Task::SingleLabel => SINGLE_LABEL,
    };
    let extra = &mut config.extra;
    extra.insert("label2id".into(), label2id.into());
    extra.insert("problem_type".into(), problem_type.into());
    extra.insert("max_length".into(), max_length.into());
    extra.insert(
        "architectures".into(),
        serde_json::json!(["DistilBertForSequenceClassification"]),
    );
}

/// Reads a file of the folder, naming it on failure.
pub fn read(dir: &Path, file: &str) -> Result<Vec<u8>> {
    let path = dir.join(file);
    std::fs::read(&path).map_err(|e| Error::io(path, e))
}

/// Saves `tensors` as safetensors at `path`, atomically.
pub fn save_weights(path: &Path, tensors: &Tensors) -> Result<()> {
    save_safetensors(path, tensors.iter(), None)
}

/// Writes named tensors and metadata as safetensors at `path`, atomically;
/// a failed write (a full disk) is an I/O error on `path`.
pub fn save_safetensors<S, V>(
    path: &Path,
    tensors: impl IntoIterator<Item = (S, V)>,
    metadata: Option<HashMap<String, String>>,
) -> Result<()>
where
    S: AsRef<str> + Ord + std::fmt::Display,
    V: safetensors::View,
{
    atomic::write_with(path, |tmp| {
        safetensors::serialize_to_file(tensors, metadata, tmp).map_err(|e| match e {
            safetensors::SafeTensorError::IoError(e) => Error::io(path, e),
            e => Error::Weights(format!("cannot write {}: {e}", path.display())),
        })
    })
}

/// What a model folder says besides its weights.
pub struct Description {
    pub config: Config,
    pub task: Task,
    pub labels: Vec<String>,
    pub max_length: usize,
    pub thresholds: Thresholds,
}

/// Reads and cross-checks the config and thresholds of a folder written by `train`.
pub fn describe_folder(dir: &Path) -> Result<Description> {
    let problem = |problem: String| Error::Model {
        path: dir.to_path_buf(),
        problem,
    };
    let config = Config::from_json(&read(dir, CONFIG_FILE)?)?;
    let labels = config.labels()?;
    if labels.is_empty() {
        return Err(problem(format!(
            "{CONFIG_FILE} has no id2label: this is a base encoder, not a trained classifier; train one with `plotgenre train`"
        )));
    }
    let task = match config.extra.get("problem_type").and_then(|v| v.as_str()) {
        Some(SINGLE_LABEL) => Task::SingleLabel,
        _ => Task::MultiLabel,
    };
    let max_length = config
        .extra
        .get("max_length")
        .and_then(serde_json::Value::as_u64)
        .map_or(DEFAULT_MAX_LENGTH, |n| n as usize);
    let thresholds: Thresholds = serde_json::from_slice(&read(dir, THRESHOLDS_FILE)?)
        .map_err(|e| problem(format!("{THRESHOLDS_FILE}: {e}")))?;
    if let Some(mismatch) = thresholds.mismatch(labels.len()) {
        return Err(problem(format!("{THRESHOLDS_FILE} has {mismatch}")));
    }
    Ok(Description {
        config,
        task,
        labels,
        max_length,
        thresholds,
    })
}

/// Loads a folder written by `train`, ready to classify.
pub fn load(dir: &Path) -> Result<Pipeline> {
    let description = describe_folder(dir)?;
    let tensors = weights::from_safetensors(&read(dir, MODEL_FILE)?)?;
    Ok(Pipeline {
        model: Classifier::load(&Source::dense(tensors), &description.config)?,
        tokenizer: TextEncoder::from_bytes(&read(dir, TOKENIZER_FILE)?, description.max_length)?,
        task: description.task,
        labels: description.labels,
        thresholds: description.thresholds,
    })
}
