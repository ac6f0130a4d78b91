//! The browser edge: wasm-bindgen exports over a bundle the page fetched and
//! cached. Results are plain JS objects (typed in the generated `.d.ts`);
//! errors reach JavaScript as `Error` with the library's message. Also the
//! CSV reader and writer of the page's batch mode: the reader is
//! [`crate::table`], which `plotgenre predict` uses, so a file reads the same
//! in both.

use std::sync::Arc;

use serde::Serialize;
use wasm_bindgen::prelude::*;
// Links wasm-bindgen-rayon into the threaded build: its export `initThreadPool(n)`
// starts the pool of Web Workers (`await` it once, after `init()`).
#[cfg(feature = "threads")]
use wasm_bindgen_rayon as _;

use crate::bundle::Bundle;
use crate::explain::{GenreChoice, Occlusion, OffsetUnit};
use crate::pipeline::Pipeline;
use crate::table;
use crate::tokenize::model_input;

mod types;

use types::{
    ClassifyBatchOptions, ClassifyBatchOptionsArg, ClassifyOptions, ClassifyOptionsArg, CsvTable,
    ExplainOptions, ExplainOptionsArg, Info, JsClassification, LoadOptions, LoadOptionsArg,
    Running,
};

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
        } = types::options("load", options)?;
        let (bundle, pipeline) = open_bundle(
            bytes,
            payload_verified == Some(true),
            release_bytes == Some(true),
        )?;
        let info = Info::of(bundle.size, bundle.manifest);
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
        let ClassifyOptions { title } = types::options("classify", options)?;
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
        let ClassifyBatchOptions { titles } = types::options("classifyBatch", options)?;
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
        let ExplainOptions { title, genre } = types::options("explain", options)?;
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
    /// provenance) and how it runs (build, threads, relaxed SIMD).
    #[wasm_bindgen(unchecked_return_type = "ModelInfo")]
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&Running {
            info: &self.info,
            build: BUILD,
            threads: rayon::current_num_threads(),
            relaxed_simd: crate::kernels::int8::RELAXED,
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
