//! The browser edge: wasm-bindgen exports over a bundle the page fetched and
//! cached. Results are plain JS objects (typed in the generated `.d.ts`);
//! errors reach JavaScript as `Error` with the library's message. Also the
//! CSV reader and writer of the page's batch mode: the `csv` crate that
//! `plotgenre predict` uses, so a file reads the same in both.

use std::rc::Rc;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::bundle::{Bundle, Provenance, FORMAT_VERSION};
use crate::explain::{GenreChoice, Occlusion, OffsetUnit};
use crate::labels::{Rule, Task};
use crate::pipeline::{Classification, Pipeline};
use crate::tokenize::model_input;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
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
  /** Every genre, most probable first. */
  genres: GenreScore[];
  /** The plot was longer than the model reads; only its beginning counted. */
  truncated: boolean;
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

/** What a loaded bundle is. */
export interface ModelInfo {
  formatVersion: number;
  sizeBytes: number;
  quantization: string;
  task: "multi_label" | "single_label";
  labels: string[];
  maxLength: number;
  rule: string;
  temperature: number;
  globalThreshold: number;
  perLabelThresholds: number[];
  /** At most this many genres are predicted (null: no cap). */
  maxGenres: number | null;
  provenance: {
    base_model: string;
    training_data: string;
    created: string;
    metrics: Record<string, unknown>;
  };
}
"#;

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
    /// The page's threshold slider keeps to the model's genre cap.
    max_genres: Option<usize>,
    provenance: Provenance,
}

/// A genre classifier loaded from bundle bytes.
#[wasm_bindgen(js_name = Classifier)]
pub struct ClassifierHandle {
    pipeline: Rc<Pipeline>,
    info: Info,
}

/// Plain JS objects (not `Map`s) for every struct and JSON value.
fn to_js(value: &impl Serialize) -> Result<JsValue, JsError> {
    Ok(value.serialize(&serde_wasm_bindgen::Serializer::json_compatible())?)
}

/// The model input for a plot and an optional title; a blank title counts as none.
fn input(text: &str, title: Option<&str>) -> String {
    model_input(title.filter(|t| !t.trim().is_empty()), text)
}

#[wasm_bindgen(js_class = Classifier)]
impl ClassifierHandle {
    /// Verifies and loads a bundle (from `plotgenre export`).
    pub fn load(bytes: &[u8]) -> Result<ClassifierHandle, JsError> {
        let bundle = Bundle::from_bytes(bytes)?;
        let pipeline = bundle.pipeline()?;
        let manifest = bundle.manifest;
        let info = Info {
            format_version: FORMAT_VERSION,
            size_bytes: bundle.size,
            quantization: manifest.quantization,
            task: manifest.task,
            labels: manifest.labels,
            max_length: manifest.max_length,
            rule: manifest.thresholds.rule,
            temperature: manifest.thresholds.temperature,
            global_threshold: manifest.thresholds.global,
            max_genres: manifest.thresholds.max_genres,
            per_label_thresholds: manifest.thresholds.per_label,
            provenance: manifest.provenance,
        };
        Ok(ClassifierHandle {
            pipeline: Rc::new(pipeline),
            info,
        })
    }

    /// Genres of one plot, most probable first; `title` is optional.
    #[wasm_bindgen(unchecked_return_type = "Classification")]
    pub fn classify(&self, text: &str, title: Option<String>) -> Result<JsValue, JsError> {
        let text = input(text, title.as_deref());
        let mut results = self.pipeline.classify(&[&text])?;
        let result: Option<Classification> = results.pop();
        to_js(&result)
    }

    /// Genres of many plots in one batched pass; `titles`, when given, pairs
    /// with `texts` by index.
    #[wasm_bindgen(js_name = classifyBatch, unchecked_return_type = "Classification[]")]
    pub fn classify_batch(
        &self,
        texts: Vec<String>,
        titles: Option<Vec<String>>,
    ) -> Result<JsValue, JsError> {
        let titles = titles.unwrap_or_default();
        let inputs: Vec<String> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| input(text, titles.get(i).map(String::as_str)))
            .collect();
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        to_js(&self.pipeline.classify(&refs)?)
    }

    /// Which words of `text` made the model say `genre` (default: each
    /// predicted genre), by occlusion; `title` is read but not scored.
    #[wasm_bindgen(unchecked_return_type = "Explanation")]
    pub fn explain(
        &self,
        text: &str,
        genre: Option<String>,
        title: Option<String>,
    ) -> Result<JsValue, JsError> {
        let mut explainer = self.explainer(text, genre, title)?;
        while !explainer.step(usize::MAX)? {}
        explainer.result()
    }

    /// The same work as `explain`, in steps, so a caller can show progress
    /// and stop between them (the page's worker does, when the text changes).
    pub fn explainer(
        &self,
        text: &str,
        genre: Option<String>,
        title: Option<String>,
    ) -> Result<Explainer, JsError> {
        let title = title.filter(|t| !t.trim().is_empty());
        let occlusion = Occlusion::new(&self.pipeline, title.as_deref(), text)?;
        Ok(Explainer {
            pipeline: Rc::clone(&self.pipeline),
            occlusion,
            plot: text.to_string(),
            genre,
        })
    }

    /// Genre names, in the model's order.
    pub fn labels(&self) -> Vec<String> {
        self.info.labels.clone()
    }

    /// What the bundle is: format, size, quantization, rule, provenance.
    #[wasm_bindgen(unchecked_return_type = "ModelInfo")]
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&self.info)
    }
}

/// An explanation under way (from `Classifier.explainer`).
#[wasm_bindgen]
pub struct Explainer {
    pipeline: Rc<Pipeline>,
    occlusion: Occlusion,
    plot: String,
    genre: Option<String>,
}

#[wasm_bindgen]
impl Explainer {
    /// Runs up to `inputs` more model inputs (the plot, then the plot without
    /// each word); true once every one has run.
    pub fn step(&mut self, inputs: usize) -> Result<bool, JsError> {
        Ok(self.occlusion.step(&self.pipeline, inputs)?)
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
        let explanation = self.occlusion.finish(&self.pipeline, genres)?;
        to_js(&explanation.report(&self.plot, OffsetUnit::Utf16))
    }
}

/// `CsvTable` of the TypeScript types above.
#[derive(Serialize)]
struct CsvTable {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// Reads a UTF-8 CSV file whose first row is the header; every row must have
/// as many fields as the header, and an error names the line that does not.
#[wasm_bindgen(js_name = parseCsv, unchecked_return_type = "CsvTable")]
pub fn parse_csv(bytes: &[u8]) -> Result<JsValue, JsError> {
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader.headers()?.iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|record| Ok(record?.iter().map(String::from).collect()))
        .collect::<Result<_, csv::Error>>()?;
    to_js(&CsvTable { header, rows })
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
