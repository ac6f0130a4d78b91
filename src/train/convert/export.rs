//! `export`: turns a trained model folder (or a bundle, to tune its
//! decisions again) into the quantized bundle the page loads. Embeddings
//! and linear layers get the chosen quantization; biases and LayerNorm
//! weights stay f32 (a few thousand values that every output
//! depends on), the small classification head f16 (f32 in an f32 export).
//! A lexical model's weights are quantized like the linears, its IDF table
//! kept in f16.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Tensor;
use rand::SeedableRng;

use super::{decisions, rounding};
use crate::bundle::{Bundle, Manifest, Provenance};
use crate::labels::{Task, Thresholds};
use crate::model::{lexical, weights, Config, Head, Tensors};
use crate::tokenize::DEFAULT_MAX_LENGTH;
use crate::train::atomic;
use crate::train::data::dataset::Dataset;
use crate::train::eval::evaluate;
use crate::train::model_dir::{self, CONFIG_FILE, METRICS_FILE, MODEL_FILE, TOKENIZER_FILE};
use crate::{Error, Result};

/// The quantization of the bundle the page ships.
pub const DEFAULT_QUANTIZATION: &str = "q4_0";

/// Storage types of the two kinds of matrices: written `TYPE` (both) or
/// `EMBEDDINGS/LINEARS`, e.g. `q8_0/q4k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantization {
    pub embeddings: GgmlDType,
    pub linears: GgmlDType,
}

/// The types `--quant` accepts, by name.
const TYPES: [(&str, GgmlDType); 9] = [
    ("f32", GgmlDType::F32),
    ("f16", GgmlDType::F16),
    ("q8_0", GgmlDType::Q8_0),
    ("q5_0", GgmlDType::Q5_0),
    ("q4_0", GgmlDType::Q4_0),
    ("q4_1", GgmlDType::Q4_1),
    ("q6k", GgmlDType::Q6K),
    ("q5k", GgmlDType::Q5K),
    ("q4k", GgmlDType::Q4K),
];

fn type_name(dtype: GgmlDType) -> &'static str {
    TYPES
        .iter()
        .find(|(_, t)| *t == dtype)
        .map_or("?", |(name, _)| name)
}

fn parse_type(name: &str) -> std::result::Result<GgmlDType, String> {
    TYPES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let known: Vec<&str> = TYPES.iter().map(|(n, _)| *n).collect();
            format!("unknown type {name:?}; use one of {}", known.join(", "))
        })
}

impl FromStr for Quantization {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (embeddings, linears) = s.split_once('/').unwrap_or((s, s));
        Ok(Self {
            embeddings: parse_type(embeddings)?,
            linears: parse_type(linears)?,
        })
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.embeddings == self.linears {
            f.write_str(type_name(self.linears))
        } else {
            write!(
                f,
                "{}/{}",
                type_name(self.embeddings),
                type_name(self.linears)
            )
        }
    }
}

/// The type a matrix with rows of `row_len` values can be stored in: `dtype`
/// when its block fits the row, else the nearest block-32 type of at least
/// as many bits (k-quants need rows that are multiples of 256 values, and
/// 384-wide rows are not).
fn fitting(dtype: GgmlDType, row_len: usize) -> GgmlDType {
    if row_len % dtype.block_size() == 0 {
        return dtype;
    }
    match dtype {
        GgmlDType::Q4K => GgmlDType::Q4_0,
        GgmlDType::Q5K => GgmlDType::Q5_0,
        _ => GgmlDType::Q8_0,
    }
}

/// The type `quantization` asks for a tensor: the embeddings' or the
/// linears' type for encoder matrices, at least 5 bits for the lexical
/// weights; `None` for vectors and the head.
fn asked_type(name: &str, tensor: &Tensor, quantization: Quantization) -> Option<GgmlDType> {
    if is_lexical(name, lexical::WEIGHT) {
        Some(at_least_five_bits(quantization.linears))
    } else if tensor.rank() < 2 || !name.starts_with(weights::ENCODER_PREFIX) {
        None
    } else if name.contains("embeddings") {
        Some(quantization.embeddings)
    } else {
        Some(quantization.linears)
    }
}

/// The lexical weights' type: 4-bit types become 5-bit ones. Measured on the
/// shipped model, 4-bit lexical weights cost 0.55 point of kslimon micro-F1,
/// 5-bit ones 0.15, for 45 KB more.
fn at_least_five_bits(dtype: GgmlDType) -> GgmlDType {
    match dtype {
        GgmlDType::Q4_0 | GgmlDType::Q4_1 => GgmlDType::Q5_0,
        GgmlDType::Q4K | GgmlDType::Q3K | GgmlDType::Q2K => GgmlDType::Q5K,
        other => other,
    }
}

/// Whether `name` is the lexical model's tensor `part`.
fn is_lexical(name: &str, part: &str) -> bool {
    name.strip_prefix(lexical::PREFIX)
        .and_then(|rest| rest.strip_prefix('.'))
        == Some(part)
}

/// How each tensor of a model is stored.
fn storage_type(name: &str, tensor: &Tensor, quantization: Quantization) -> GgmlDType {
    let row_len = tensor.dims().last().copied().unwrap_or(1);
    match asked_type(name, tensor, quantization) {
        Some(asked) => fitting(asked, row_len),
        None if quantization.linears == GgmlDType::F32 => GgmlDType::F32,
        // A vocabulary-long vector: half precision halves it at no cost.
        None if is_lexical(name, lexical::IDF) => GgmlDType::F16,
        None if tensor.rank() < 2 => GgmlDType::F32,
        None => GgmlDType::F16,
    }
}

/// A model's tensors as a bundle stores them.
pub struct Quantized {
    /// By canonical name, sorted.
    pub tensors: Vec<(String, QTensor)>,
    /// Matrices stored in another type than asked, as `name: type`.
    pub fallbacks: Vec<String>,
}

/// Stores every tensor of a model as `quantization` says (see the module doc).
pub fn quantize(tensors: &Tensors, quantization: Quantization) -> Result<Quantized> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut out = Quantized {
        tensors: Vec::with_capacity(names.len()),
        fallbacks: Vec::new(),
    };
    for name in names {
        let tensor = &tensors[name];
        let dtype = storage_type(name, tensor, quantization);
        if asked_type(name, tensor, quantization).is_some_and(|asked| asked != dtype) {
            out.fallbacks.push(format!("{name}: {}", type_name(dtype)));
        }
        let stored = if dtype == GgmlDType::Q4_0 {
            rounding::q4_0(tensor)?
        } else {
            QTensor::quantize(tensor, dtype)?
        };
        out.tensors.push((name.clone(), stored));
    }
    Ok(out)
}

/// What an export wrote.
pub struct Exported {
    pub bytes: usize,
    /// Hex sha256 of the whole bundle file, as the page checks it.
    pub sha256: String,
    /// Matrices stored in another type than asked, as `name: type`.
    pub fallbacks: Vec<String>,
    /// The decisions tuned on the bundle's own probabilities (with data),
    /// over its labels.
    pub tuned: Option<(Thresholds, Vec<String>)>,
}

/// A bundle's parts before they are written.
struct Parts {
    manifest: Manifest,
    config: Config,
    tokenizer_json: String,
    tensors: Vec<(String, QTensor)>,
    /// Matrices stored in another type than asked, as `name: type`.
    fallbacks: Vec<String>,
}

impl Parts {
    fn to_bytes(&self) -> Result<Vec<u8>> {
        Bundle::to_bytes(
            &self.manifest,
            &self.config,
            &self.tokenizer_json,
            &self.tensors,
        )
    }
}

/// Writes the bundle of `model` to `out` atomically: a trained folder
/// quantized as `quantization` says, or a bundle file with its stored
/// weights kept (`quantization` is then unused). With `data` (what the
/// model was trained on), the decisions are tuned on the bundle's own
/// validation probabilities (see [`decisions`]) and the bundle records its
/// test figures next to the f32 folder's, so the page shows those of the
/// model it runs.
pub fn export(
    model: &Path,
    quantization: Quantization,
    base_model: &str,
    out: &Path,
    data: Option<&Dataset>,
) -> Result<Exported> {
    let mut parts = if model.is_file() {
        from_bundle(model)?
    } else {
        from_folder(model, quantization, base_model)?
    };
    if let Some(dataset) = data {
        tune_and_measure(&mut parts, dataset, model)?;
    }
    let bytes = parts.to_bytes()?;
    atomic::write(out, &bytes)?;
    let manifest = parts.manifest;
    Ok(Exported {
        bytes: bytes.len(),
        sha256: crate::bundle::sha256_hex(&bytes),
        fallbacks: parts.fallbacks,
        tuned: data.map(|_| (manifest.thresholds, manifest.labels)),
    })
}

/// The parts of a trained folder's bundle: its weights quantized, its
/// f32 test figures in the provenance.
fn from_folder(model: &Path, quantization: Quantization, base_model: &str) -> Result<Parts> {
    let problem = |problem: String| Error::Model {
        path: model.to_path_buf(),
        problem,
    };
    let description = model_dir::describe_folder(model)?;
    let metrics: serde_json::Value = serde_json::from_slice(&model_dir::read(model, METRICS_FILE)?)
        .map_err(|e| problem(format!("{METRICS_FILE}: {e}")))?;
    let tokenizer_json = String::from_utf8(model_dir::read(model, TOKENIZER_FILE)?)
        .map_err(|_| problem(format!("{TOKENIZER_FILE} is not UTF-8")))?;
    let mut tensors = weights::from_safetensors(&model_dir::read(model, MODEL_FILE)?)?;
    let mut config = description.config;
    keep_reachable_positions(&mut tensors, &mut config, description.max_length)?;
    let quantized = quantize(&tensors, quantization)?;
    let rule = description.thresholds.rule.name();
    let manifest = Manifest {
        task: description.task,
        labels: description.labels,
        max_length: description.max_length,
        quantization: quantization.to_string(),
        provenance: Provenance {
            base_model: base_model.to_string(),
            training_data: metrics["dataset"].as_str().unwrap_or("unknown").to_string(),
            created: created_at(),
            metrics: serde_json::json!({
                "split": "test",
                "rule": rule,
                "rows": metrics["test"]["rows"],
                "f32": metrics["test"]["rules"][rule],
            }),
            decisions: serde_json::Value::Null,
        },
        thresholds: description.thresholds,
    };
    Ok(Parts {
        manifest,
        config,
        tokenizer_json,
        tensors: quantized.tensors,
        fallbacks: quantized.fallbacks,
    })
}

/// The parts of a bundle file, its stored weights as they are.
fn from_bundle(model: &Path) -> Result<Parts> {
    let bytes = std::fs::read(model).map_err(|e| Error::io(model, e))?;
    let mut bundle = Bundle::from_bytes(&bytes)?;
    let tensors = bundle.take_tensors()?;
    let mut manifest = bundle.manifest;
    manifest.provenance.created = created_at();
    Ok(Parts {
        manifest,
        config: bundle.config,
        tokenizer_json: bundle.tokenizer_json,
        tensors,
        fallbacks: Vec::new(),
    })
}

/// Tunes the bundle's decisions on `dataset`'s validation split with its
/// own probabilities, then records its test figures under them (`model`
/// names it in errors). Test figures recorded before must be of this test
/// split: other data would tune and score the model on rows it trained on.
fn tune_and_measure(parts: &mut Parts, dataset: &Dataset, model: &Path) -> Result<()> {
    let problem = |problem: String| Error::Model {
        path: model.to_path_buf(),
        problem,
    };
    let metrics = &parts.manifest.provenance.metrics;
    let test_rows = dataset.test.len();
    if metrics["rows"]
        .as_u64()
        .is_some_and(|rows| rows != test_rows as u64)
    {
        return Err(problem(format!(
            "it was tested on {} rows, the data given has {test_rows} test rows: pass the --format and --data it was trained on",
            metrics["rows"]
        )));
    }
    let mut pipeline = Bundle::from_bytes(&parts.to_bytes()?)?.pipeline()?;
    let tuned = decisions::tune(&pipeline, dataset)?;
    pipeline.thresholds = tuned.thresholds.clone();
    let report = evaluate::evaluate_split(&pipeline, &dataset.test, &dataset.labels)?;
    let rule = tuned.thresholds.rule.name();
    let own = report
        .rules
        .get(rule)
        .ok_or_else(|| problem(format!("no {rule} figures")))?;
    let metrics = &mut parts.manifest.provenance.metrics;
    metrics["split"] = "test".into();
    metrics["rows"] = report.rows.into();
    metrics["rule"] = rule.into();
    metrics["bundle"] = serde_json::to_value(own)?;
    parts.manifest.provenance.decisions = tuned.record;
    parts.manifest.thresholds = tuned.thresholds;
    Ok(())
}

/// Cuts the position table to the first `max_length` rows, the only ones a
/// model whose inputs are truncated to `max_length` tokens reads (512 to
/// 128 rows saves 83 KB at q4_0), and says so in `config`.
pub fn keep_reachable_positions(
    tensors: &mut Tensors,
    config: &mut Config,
    max_length: usize,
) -> Result<()> {
    if max_length >= config.max_position_embeddings {
        return Ok(());
    }
    let name = format!(
        "{}.embeddings.position_embeddings.weight",
        weights::ENCODER_PREFIX
    );
    let table = tensors
        .get_mut(&name)
        .ok_or_else(|| Error::Weights(format!("missing tensor {name}")))?;
    let dim = table.dim(1)?;
    // A fresh tensor: a narrowed view keeps the whole storage, which the
    // quantizers read in full.
    let rows = table
        .narrow(0, 0, max_length)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    *table = Tensor::from_vec(rows, (max_length, dim), table.device())?;
    config.max_position_embeddings = max_length;
    Ok(())
}

/// What the page fetches before the bundle: where the bundle is, its size for
/// the progress bar, and the sha256 it must match; a changed hash is a new
/// model version, which makes the page replace its cached copy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageManifest {
    /// The bundle's path relative to the manifest.
    pub bundle: String,
    pub bytes: usize,
    pub sha256: String,
    pub format_version: u32,
}

/// Writes the page manifest of an exported bundle at `manifest`, which must
/// sit in the bundle's folder or above it.
pub fn write_page_manifest(manifest: &Path, bundle: &Path, exported: &Exported) -> Result<()> {
    let folder = manifest.parent().unwrap_or(Path::new(""));
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| Error::io(p, e));
    let relative = absolute(bundle)?
        .strip_prefix(absolute(folder)?)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .map_err(|_| Error::Model {
            path: manifest.to_path_buf(),
            problem: format!(
                "the bundle {} is not inside the manifest's folder; write both to one folder",
                bundle.display()
            ),
        })?;
    let page = PageManifest {
        bundle: relative,
        bytes: exported.bytes,
        sha256: exported.sha256.clone(),
        format_version: crate::bundle::FORMAT_VERSION,
    };
    let json = serde_json::to_vec_pretty(&page).expect("a page manifest always serializes");
    atomic::write(manifest, &json)
}

/// Now, or `SOURCE_DATE_EPOCH` when set, so that a rebuilt bundle can be
/// bit-identical (the reproducible-builds convention).
fn created_at() -> String {
    let time = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or_else(std::time::SystemTime::now, |secs| {
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
        });
    humantime::format_rfc3339_seconds(time).to_string()
}

/// A bundle of a base encoder folder with a seeded random head over
/// `labels`: the real model's size, speed and numerics without its answers,
/// for tests and benchmarks that must not depend on a training run.
pub fn untrained_bundle(
    base: &Path,
    labels: &[String],
    quantization: Quantization,
    thresholds: Thresholds,
) -> Result<Vec<u8>> {
    let mut config = Config::from_json(&model_dir::read(base, CONFIG_FILE)?)?;
    model_dir::describe(&mut config, labels, Task::MultiLabel, DEFAULT_MAX_LENGTH);
    let mut tensors = weights::from_safetensors(&model_dir::read(base, MODEL_FILE)?)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    tensors.extend(Head::initial_weights(&config, labels.len(), &mut rng)?);
    keep_reachable_positions(&mut tensors, &mut config, DEFAULT_MAX_LENGTH)?;
    let manifest = Manifest {
        task: Task::MultiLabel,
        labels: labels.to_vec(),
        thresholds,
        max_length: DEFAULT_MAX_LENGTH,
        quantization: quantization.to_string(),
        provenance: Provenance {
            base_model: base.display().to_string(),
            training_data: "none (random head)".into(),
            ..Provenance::default()
        },
    };
    let tokenizer_json =
        String::from_utf8(model_dir::read(base, TOKENIZER_FILE)?).map_err(|_| Error::Model {
            path: base.to_path_buf(),
            problem: format!("{TOKENIZER_FILE} is not UTF-8"),
        })?;
    let quantized = quantize(&tensors, quantization)?;
    Bundle::to_bytes(&manifest, &config, &tokenizer_json, &quantized.tensors)
}
