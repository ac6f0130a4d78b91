//! The shapes JavaScript sees: the TypeScript declarations wasm-bindgen
//! adds to the generated `.d.ts`, the option objects as Rust reads them,
//! and the plain objects Rust returns, field for field.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::bundle::{Manifest, Provenance, FORMAT_VERSION};
use crate::labels::{Rule, Task};
use crate::language::Unfamiliar;
use crate::pipeline::{Classification, GenreScore};
use crate::table::Table;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Options of `Classifier.load`. */
export interface LoadOptions {
  /**
   * The caller has checked that the payload (bytes 52 to the end) has the sha256 the
   * header holds at bytes 20 to 52, as the page does with WebCrypto (native, off the
   * thread): the module skips its own check, about 60 ms in wasm. Default false.
   */
  payloadVerified?: boolean | null;
  /**
   * Frees the buffer of `bytes` (ArrayBuffer.prototype.transfer) once they are copied into
   * the module, before the model is built, so that the page does not hold a 14 MB bundle
   * twice at the load's peak of memory. The buffer is then detached: every view on it reads
   * as empty. Where the browser cannot (no `transfer`, or a shared buffer), the bytes stay
   * as they are. Default false.
   */
  releaseBytes?: boolean | null;
}

/** Options of `Classifier.classify`. */
export interface ClassifyOptions {
  /** The film's title, read before the plot (a blank title counts as none). */
  title?: string | null;
}

/** Options of `Classifier.classifyBatch`. */
export interface ClassifyBatchOptions {
  /** One title per text, by index (null or blank: none); as many as there are texts. */
  titles?: (string | null)[] | null;
}

/** Options of `Classifier.explain` and `Classifier.explainer`. */
export interface ExplainOptions {
  /** The film's title: read before the plot, but its words get no score. */
  title?: string | null;
  /** The genre to explain (one of `info().labels`); default: each predicted genre. */
  genre?: string | null;
}

/** One genre of a classified plot. */
export interface GenreScore {
  genre: string;
  /** Calibrated probability in [0, 1]. */
  probability: number;
  /** Whether the model's tuned decision rule picks this genre. */
  predicted: boolean;
}

/** The model's answer for one plot. */
export interface Classification {
  /** Every genre of the model, most probable first (ties in `info().labels` order). */
  genres: GenreScore[];
  /** The predicted genres' names, in the order of `genres`. */
  predicted: string[];
  /** The plot was longer than the model reads; only its beginning counted. */
  truncated: boolean;
  /** Present when the plot looks unlike the English plots the model learned from:
   * "script" (mostly not Latin letters) or "vocabulary" (mostly not English words). */
  unfamiliar?: "script" | "vocabulary";
  /** A sentence to show next to the result when `unfamiliar` is set. */
  textWarning?: string;
}

/** One word of the plot and how much it argues for a genre. */
export interface WordScore {
  word: string;
  /** UTF-16 offsets into the plot: `plot.slice(start, end) === word`. */
  start: number;
  end: number;
  /** The genre's probability minus its probability without this word. */
  score: number;
}

/** Why the model gave a plot one genre. */
export interface GenreExplanation {
  genre: string;
  probability: number;
  predicted: boolean;
  /** Every word the model read, in reading order. */
  words: WordScore[];
}

/** Word scores of one plot, by occlusion (each word removed in turn). */
export interface Explanation {
  /** The asked genre, or the predicted ones (at least the most probable), most probable first. */
  genres: GenreExplanation[];
  /** The plot was longer than the model reads; later words have no score. */
  truncated: boolean;
}

/** Where a bundle came from and how it scored. */
export interface Provenance {
  /** The pretrained encoder it was fine-tuned from. */
  baseModel: string;
  /** The dataset(s) it was trained on. */
  trainingData: string;
  /** RFC 3339 creation time. */
  created: string;
  /** Test metrics as `plotgenre eval --json` prints them (metric names are its keys). */
  metrics: Record<string, unknown>;
}

/** What a loaded bundle is. */
export interface ModelInfo {
  formatVersion: number;
  sizeBytes: number;
  quantization: string;
  task: "multi_label" | "single_label";
  /** Genre names, in the model's order (the order of `perLabelThresholds`). */
  labels: string[];
  maxLength: number;
  rule: "global" | "global_top1" | "per_label" | "per_label_top1" | "argmax";
  temperature: number;
  globalThreshold: number;
  perLabelThresholds: number[];
  /** Genres a global rule holds to their own threshold in `perLabelThresholds`: rare
   * genres the global threshold would almost never predict. */
  ownThresholdGenres: string[];
  /** At most this many genres are predicted (null: no cap). */
  maxGenres: number | null;
  /** Which genres the cap keeps: the most probable, or those furthest past their thresholds. */
  capOrder: "probability" | "margin";
  provenance: Provenance;
  /** Which build of the module runs: "threads" (the kernels on a pool of Web Workers,
   * after `initThreadPool`) or "single" (one thread). */
  build: "threads" | "single";
  /** How many threads the kernels split their work over. */
  threads: number;
  /** Whether this is a build's relaxed-SIMD twin (faster integer products, same results). */
  relaxedSimd: boolean;
}

/** A row of a CSV file that `parseCsv` set aside. */
export interface CsvBadRow {
  /** The line it starts on (the header is line 1). */
  line: number;
  /** What is wrong with it, e.g. "2 fields, the header has 3". */
  reason: string;
  /** Its fields as read. */
  fields: string[];
}

/** A CSV file read by `parseCsv`. */
export interface CsvTable {
  /** The first row. */
  header: string[];
  /** Every other row with as many fields as the header, in file order. */
  rows: string[][];
  /** The line each of `rows` starts on. */
  rowLines: number[];
  /** The rows with another field count than the header, in file order. */
  badRows: CsvBadRow[];
  /** The field separator found on the header line: ",", ";", "\t" or "|". */
  delimiter: string;
  /** The text encoding assumed: "UTF-8", "windows-1252", "UTF-16LE", ... */
  encoding: string;
  /** What was assumed that a reader may not expect (null when nothing was). */
  note: string | null;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `LoadOptions` of the TypeScript types above.
    #[wasm_bindgen(typescript_type = "LoadOptions")]
    pub type LoadOptionsArg;
    /// `ClassifyOptions` of the TypeScript types above.
    #[wasm_bindgen(typescript_type = "ClassifyOptions")]
    pub type ClassifyOptionsArg;
    /// `ClassifyBatchOptions` of the TypeScript types above.
    #[wasm_bindgen(typescript_type = "ClassifyBatchOptions")]
    pub type ClassifyBatchOptionsArg;
    /// `ExplainOptions` of the TypeScript types above.
    #[wasm_bindgen(typescript_type = "ExplainOptions")]
    pub type ExplainOptionsArg;
}

/// `LoadOptions` as Rust reads it.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct LoadOptions {
    pub(super) payload_verified: Option<bool>,
    pub(super) release_bytes: Option<bool>,
}

/// `ClassifyOptions` as Rust reads it.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClassifyOptions {
    pub(super) title: Option<String>,
}

/// `ClassifyBatchOptions` as Rust reads it.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClassifyBatchOptions {
    pub(super) titles: Option<Vec<Option<String>>>,
}

/// `ExplainOptions` as Rust reads it.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExplainOptions {
    pub(super) title: Option<String>,
    pub(super) genre: Option<String>,
}

/// An options object (absent, `undefined` or `null`: the defaults); a
/// misspelt key or a value of the wrong type is an error naming `what`.
/// It passes through JSON because serde-wasm-bindgen reads only the keys a
/// struct declares, so it could not refuse the others.
pub(super) fn options<T: Default + DeserializeOwned>(
    what: &str,
    value: Option<impl Into<JsValue>>,
) -> Result<T, JsError> {
    let Some(value) = value else {
        return Ok(T::default());
    };
    let invalid = |e: &dyn std::fmt::Display| JsError::new(&format!("{what} options: {e}"));
    let json: serde_json::Value =
        serde_wasm_bindgen::from_value(value.into()).map_err(|e| invalid(&e))?;
    serde_json::from_value(json).map_err(|e| invalid(&e))
}

/// `Classification` of the TypeScript types above.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JsClassification {
    pub(super) genres: Vec<GenreScore>,
    pub(super) predicted: Vec<String>,
    pub(super) truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) unfamiliar: Option<Unfamiliar>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) text_warning: Option<&'static str>,
}

impl From<Classification> for JsClassification {
    fn from(result: Classification) -> Self {
        let predicted = result.predicted().map(String::from).collect();
        JsClassification {
            genres: result.genres,
            predicted,
            truncated: result.truncated,
            unfamiliar: result.unfamiliar,
            text_warning: result.unfamiliar.map(Unfamiliar::message),
        }
    }
}

/// `Provenance` of the TypeScript types above (the bundle's, in camelCase).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JsProvenance {
    pub(super) base_model: String,
    pub(super) training_data: String,
    pub(super) created: String,
    pub(super) metrics: serde_json::Value,
}

impl From<Provenance> for JsProvenance {
    fn from(p: Provenance) -> Self {
        JsProvenance {
            base_model: p.base_model,
            training_data: p.training_data,
            created: p.created,
            metrics: p.metrics,
        }
    }
}

/// `ModelInfo` of the TypeScript types above.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Info {
    pub(super) format_version: u32,
    pub(super) size_bytes: usize,
    pub(super) quantization: String,
    pub(super) task: Task,
    pub(super) labels: Vec<String>,
    pub(super) max_length: usize,
    pub(super) rule: Rule,
    pub(super) temperature: f32,
    pub(super) global_threshold: f32,
    pub(super) per_label_thresholds: Vec<f32>,
    /// The page's threshold slider holds these genres to their own threshold under a global rule.
    pub(super) own_threshold_genres: Vec<String>,
    /// The page's threshold slider keeps to the model's genre cap.
    pub(super) max_genres: Option<usize>,
    /// Which genres the cap keeps: `probability` or `margin`.
    pub(super) cap_order: &'static str,
    pub(super) provenance: JsProvenance,
}

impl Info {
    /// The info of a bundle of `size_bytes` bytes with `manifest`.
    pub(super) fn of(size_bytes: usize, manifest: Manifest) -> Self {
        let thresholds = manifest.thresholds;
        Info {
            format_version: FORMAT_VERSION,
            size_bytes,
            quantization: manifest.quantization,
            task: manifest.task,
            own_threshold_genres: (thresholds.own_threshold_labels.iter())
                .map(|&label| manifest.labels[label].clone())
                .collect(),
            labels: manifest.labels,
            max_length: manifest.max_length,
            rule: thresholds.rule,
            temperature: thresholds.temperature,
            global_threshold: thresholds.global,
            max_genres: thresholds.max_genres,
            cap_order: thresholds.cap_order.name(),
            per_label_thresholds: thresholds.per_label,
            provenance: manifest.provenance.into(),
        }
    }
}

/// `ModelInfo`: the bundle's `Info` and how this module runs it.
#[derive(Serialize)]
pub(super) struct Running<'a> {
    #[serde(flatten)]
    pub(super) info: &'a Info,
    pub(super) build: &'static str,
    pub(super) threads: usize,
    #[serde(rename = "relaxedSimd")]
    pub(super) relaxed_simd: bool,
}

/// `CsvTable` of the TypeScript types above.
#[derive(Serialize)]
pub(super) struct CsvTable {
    #[serde(flatten)]
    pub(super) table: Table,
    pub(super) note: Option<String>,
}
