//! The browser edge: wasm-bindgen exports over a bundle the page fetched and
//! cached. Results are plain JS objects (typed in the generated `.d.ts`);
//! errors reach JavaScript as `Error` with the library's message. Also the
//! CSV reader and writer of the page's batch mode: the `csv` crate that
//! `plotgenre predict` uses, so a file reads the same in both.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::bundle::{Bundle, Provenance, FORMAT_VERSION};
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
    provenance: Provenance,
}

/// A genre classifier loaded from bundle bytes.
#[wasm_bindgen(js_name = Classifier)]
pub struct ClassifierHandle {
    pipeline: Pipeline,
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
            per_label_thresholds: manifest.thresholds.per_label,
            provenance: manifest.provenance,
        };
        Ok(ClassifierHandle { pipeline, info })
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
