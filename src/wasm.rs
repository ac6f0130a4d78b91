//! The browser edge: wasm-bindgen exports over a bundle the page fetched and
//! cached. Results are plain JS objects (typed in the generated `.d.ts`);
//! errors reach JavaScript as `Error` with the library's message. Also the
//! CSV reader and writer of the page's batch mode: the reader is
//! [`crate::table`], which `plotgenre predict` uses, so a file reads the same
//! in both.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
// Links wasm-bindgen-rayon into the threaded build: its export `initThreadPool(n)`
// starts the pool of Web Workers (`await` it once, after `init()`).
#[cfg(feature = "threads")]
use wasm_bindgen_rayon as _;

use crate::bundle::{Bundle, Provenance, FORMAT_VERSION};
use crate::explain::{GenreChoice, Occlusion, OffsetUnit};
use crate::labels::{Rule, Task};
use crate::language::Unfamiliar;
use crate::pipeline::{Classification, GenreScore, Pipeline};
use crate::table::{self, Table};
use crate::tokenize::model_input;

/// Which build this is, for `info().build`.
const BUILD: &str = if cfg!(feature = "threads") {
    "threads"
} else {
    "single"
};

/// Installs the panic hook that logs a panic's message; `init()` runs it.
#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

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
  provenance: Provenance;
  /** Which build of the module runs: "threads" (the kernels on a pool of Web Workers,
   * after `initThreadPool`) or "single" (one thread). */
  build: "threads" | "single";
  /** How many threads the kernels split their work over. */
  threads: number;
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
struct LoadOptions {
    payload_verified: Option<bool>,
    release_bytes: Option<bool>,
}

/// `ClassifyOptions` as Rust reads it.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassifyOptions {
    title: Option<String>,
}

/// `ClassifyBatchOptions` as Rust reads it.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassifyBatchOptions {
    titles: Option<Vec<Option<String>>>,
}

/// `ExplainOptions` as Rust reads it.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainOptions {
    title: Option<String>,
    genre: Option<String>,
}

/// An options object (absent, `undefined` or `null`: the defaults); a
/// misspelt key or a value of the wrong type is an error naming `what`.
/// It passes through JSON because serde-wasm-bindgen reads only the keys a
/// struct declares, so it could not refuse the others.
fn options<T: Default + DeserializeOwned>(
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
struct JsClassification {
    genres: Vec<GenreScore>,
    predicted: Vec<String>,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    unfamiliar: Option<Unfamiliar>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text_warning: Option<&'static str>,
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
struct JsProvenance {
    base_model: String,
    training_data: String,
    created: String,
    metrics: serde_json::Value,
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
struct Info {
    format_version: u32,
    size_bytes: usize,
    quantization: String,
    task: Task,
    labels: Vec<String>,
    max_length: usize,
    rule: Rule,
    temperature: f32,
    global_threshold: f32,
    per_label_thresholds: Vec<f32>,
    /// The page's threshold slider holds these genres to their own threshold under a global rule.
    own_threshold_genres: Vec<String>,
    /// The page's threshold slider keeps to the model's genre cap.
    max_genres: Option<usize>,
    provenance: JsProvenance,
}

/// `ModelInfo`: the bundle's `Info` and how this module runs it.
#[derive(Serialize)]
struct Running<'a> {
    #[serde(flatten)]
    info: &'a Info,
    build: &'static str,
    threads: usize,
}

/// A genre classifier loaded from bundle bytes.
#[wasm_bindgen(js_name = Classifier)]
pub struct ClassifierHandle {
    pipeline: Arc<Pipeline>,
    info: Info,
}

/// Plain JS objects (not `Map`s) for every struct and JSON value.
fn to_js(value: &impl Serialize) -> Result<JsValue, JsError> {
    Ok(value.serialize(&serde_wasm_bindgen::Serializer::json_compatible())?)
}

/// Runs `work` on a thread of rayon's pool, so that the kernels' many
/// parallel loops in it share work among the pool's threads directly
/// rather than each waking the pool from outside (in the threaded build;
/// in the single-thread one it runs here).
fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
}

/// The bundle in `bytes` and its classifier. A payload the caller has
/// checked is read from its array tensor by tensor (the module never holds
/// the whole file); anything else is copied in whole and its hash checked.
/// With `release`, the caller's buffer is detached once read.
fn open_bundle(
    bytes: JsValue,
    payload_verified: bool,
    release: bool,
) -> Result<(Bundle, Pipeline), crate::Error> {
    let (array, given) = match bytes.dyn_into::<js_sys::Uint8Array>() {
        Ok(array) => (array, true),
        Err(other) => (js_sys::Uint8Array::new(&other), false),
    };
    let release = || {
        if release && given {
            // Best effort, as documented: a browser that cannot detach the
            // buffer leaves it to the garbage collector.
            let _ = array.buffer().transfer_with_length(0);
        }
    };
    if payload_verified {
        let bundle = Bundle::read_checked_in_pieces(array.length() as usize, |range| {
            array
                .subarray(range.start as u32, range.end as u32)
                .to_vec()
        });
        release();
        return on_pool(|| bundle?.build());
    }
    let owned = array.to_vec();
    release();
    on_pool(|| Bundle::open(owned))
}

/// A title that counts: a blank one is none.
fn present(title: Option<String>) -> Option<String> {
    title.filter(|t| !t.trim().is_empty())
}

/// The model input for a plot and an optional title.
fn input(text: &str, title: Option<String>) -> String {
    model_input(present(title).as_deref(), text)
}

#[wasm_bindgen(js_class = Classifier)]
impl ClassifierHandle {
    /// Verifies and loads a bundle (from `plotgenre export`).
    pub fn load(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | number[]")] bytes: JsValue,
        options: Option<LoadOptionsArg>,
    ) -> Result<ClassifierHandle, JsError> {
        let LoadOptions {
            payload_verified,
            release_bytes,
        } = self::options("load", options)?;
        let (bundle, pipeline) = open_bundle(
            bytes,
            payload_verified == Some(true),
            release_bytes == Some(true),
        )?;
        let manifest = bundle.manifest;
        let info = Info {
            format_version: FORMAT_VERSION,
            size_bytes: bundle.size,
            quantization: manifest.quantization,
            task: manifest.task,
            own_threshold_genres: (manifest.thresholds.own_threshold_labels.iter())
                .map(|&label| manifest.labels[label].clone())
                .collect(),
            labels: manifest.labels,
            max_length: manifest.max_length,
            rule: manifest.thresholds.rule,
            temperature: manifest.thresholds.temperature,
            global_threshold: manifest.thresholds.global,
            max_genres: manifest.thresholds.max_genres,
            per_label_thresholds: manifest.thresholds.per_label,
            provenance: manifest.provenance.into(),
        };
        Ok(ClassifierHandle {
            pipeline: Arc::new(pipeline),
            info,
        })
    }

    /// Genres of one plot, most probable first.
    #[wasm_bindgen(unchecked_return_type = "Classification")]
    pub fn classify(
        &self,
        text: &str,
        options: Option<ClassifyOptionsArg>,
    ) -> Result<JsValue, JsError> {
        let ClassifyOptions { title } = self::options("classify", options)?;
        let text = input(text, title);
        let results = on_pool(|| self.pipeline.classify(&[&text]))?;
        let result = results.into_iter().next().map(JsClassification::from);
        to_js(&result)
    }

    /// Genres of many plots in one batched pass, in the order of `texts`.
    #[wasm_bindgen(js_name = classifyBatch, unchecked_return_type = "Classification[]")]
    pub fn classify_batch(
        &self,
        texts: Vec<String>,
        options: Option<ClassifyBatchOptionsArg>,
    ) -> Result<JsValue, JsError> {
        let ClassifyBatchOptions { titles } = self::options("classifyBatch", options)?;
        let titles = titles.unwrap_or_else(|| vec![None; texts.len()]);
        if titles.len() != texts.len() {
            return Err(JsError::new(&format!(
                "classifyBatch options: {} titles for {} texts",
                titles.len(),
                texts.len()
            )));
        }
        let inputs: Vec<String> = texts
            .iter()
            .zip(titles)
            .map(|(text, title)| input(text, title))
            .collect();
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let results: Vec<JsClassification> = on_pool(|| self.pipeline.classify(&refs))?
            .into_iter()
            .map(JsClassification::from)
            .collect();
        to_js(&results)
    }

    /// Which words of `text` made the model say a genre (`options.genre`,
    /// default: each predicted genre), by occlusion.
    #[wasm_bindgen(unchecked_return_type = "Explanation")]
    pub fn explain(
        &self,
        text: &str,
        options: Option<ExplainOptionsArg>,
    ) -> Result<JsValue, JsError> {
        let mut explainer = self.explainer(text, options)?;
        while !explainer.step(usize::MAX)? {}
        explainer.result()
    }

    /// The same work as `explain`, in steps, so a caller can show progress
    /// and stop between them (the page's worker does, when the text changes).
    pub fn explainer(
        &self,
        text: &str,
        options: Option<ExplainOptionsArg>,
    ) -> Result<Explainer, JsError> {
        let ExplainOptions { title, genre } = self::options("explain", options)?;
        let title = present(title);
        let occlusion = on_pool(|| Occlusion::new(&self.pipeline, title.as_deref(), text))?;
        Ok(Explainer {
            pipeline: Arc::clone(&self.pipeline),
            occlusion,
            plot: text.to_string(),
            genre,
        })
    }

    /// What the bundle is (labels, format, size, quantization, rule,
    /// provenance) and how it runs (build, threads).
    #[wasm_bindgen(unchecked_return_type = "ModelInfo")]
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&Running {
            info: &self.info,
            build: BUILD,
            threads: rayon::current_num_threads(),
        })
    }
}

/// An explanation under way (from `Classifier.explainer`).
#[wasm_bindgen]
pub struct Explainer {
    pipeline: Arc<Pipeline>,
    occlusion: Occlusion,
    plot: String,
    genre: Option<String>,
}

#[wasm_bindgen]
impl Explainer {
    /// Runs up to `inputs` more model inputs (the plot, then the plot without
    /// each word); true once every one has run.
    pub fn step(&mut self, inputs: usize) -> Result<bool, JsError> {
        let (occlusion, pipeline) = (&mut self.occlusion, &self.pipeline);
        Ok(on_pool(|| occlusion.step(pipeline, inputs))?)
    }

    /// Share of the work done, from 0 to 1.
    pub fn progress(&self) -> f64 {
        self.occlusion.done() as f64 / self.occlusion.total() as f64
    }

    /// The explanation (running whatever `step` has not).
    #[wasm_bindgen(unchecked_return_type = "Explanation")]
    pub fn result(&mut self) -> Result<JsValue, JsError> {
        let genres = self
            .genre
            .as_deref()
            .map_or(GenreChoice::Predicted, GenreChoice::Named);
        let (occlusion, pipeline) = (&mut self.occlusion, &self.pipeline);
        let explanation = on_pool(|| occlusion.finish(pipeline, genres))?;
        to_js(&explanation.report(&self.plot, OffsetUnit::Utf16))
    }
}

/// `CsvTable` of the TypeScript types above.
#[derive(Serialize)]
struct CsvTable {
    #[serde(flatten)]
    table: Table,
    note: Option<String>,
}

/// Reads a table file whose first row is the header (separator, encoding
/// and bad rows as [`crate::table::read`] finds them); fails only on a file
/// that is empty or not text.
#[wasm_bindgen(js_name = parseCsv, unchecked_return_type = "CsvTable")]
pub fn parse_csv(bytes: &[u8]) -> Result<JsValue, JsError> {
    let table = table::read(bytes)?;
    let note = table.note();
    to_js(&CsvTable { table, note })
}

/// CSV text of `rows` (the header first), quoted where a field needs it.
#[wasm_bindgen(js_name = writeCsv)]
pub fn write_csv(
    #[wasm_bindgen(unchecked_param_type = "string[][]")] rows: JsValue,
) -> Result<String, JsError> {
    let rows: Vec<Vec<String>> = serde_wasm_bindgen::from_value(rows)?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in &rows {
        writer.write_record(row)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| JsError::new(&e.to_string()))?;
    Ok(String::from_utf8(bytes)?)
}
