//! The browser edge: wasm-bindgen exports that take model files as bytes
//! (the page fetches and caches them) and return plain JS objects. Errors
//! reach JavaScript as `Error` with the library's message.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::model::{self, Mode};
use crate::tokenize::{TextEncoder, DEFAULT_MAX_LENGTH};

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The encoder's output for one text, as handed to JavaScript.
#[derive(Serialize)]
struct Encoded {
    ids: Vec<u32>,
    /// `[seq_len, dim]`.
    shape: [usize; 2],
    /// Row-major last hidden states.
    hidden: Vec<f32>,
    truncated: bool,
}

/// A loaded DistilBERT encoder and its tokenizer.
#[wasm_bindgen(js_name = Encoder)]
pub struct EncoderHandle {
    encoder: model::Encoder,
    tokenizer: TextEncoder,
}

#[wasm_bindgen(js_class = Encoder)]
impl EncoderHandle {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from bytes.
    pub fn load(config: &[u8], weights: &[u8], tokenizer: &[u8]) -> Result<EncoderHandle, JsError> {
        let (_, encoder) = model::load_encoder(config, weights)?;
        let tokenizer = TextEncoder::from_bytes(tokenizer, DEFAULT_MAX_LENGTH)?;
        Ok(EncoderHandle { encoder, tokenizer })
    }

    /// Last hidden states of one text: `{ids, shape: [seq, dim], hidden, truncated}`.
    pub fn encode(&self, text: &str) -> Result<JsValue, JsError> {
        let batch = self.tokenizer.encode_batch(&[text])?;
        let hidden = self
            .encoder
            .forward(&batch.input_ids, &batch.attention_mask, Mode::Infer)?
            .squeeze(0)?;
        let (seq, dim) = hidden.dims2()?;
        let encoded = Encoded {
            ids: batch.input_ids.flatten_all()?.to_vec1()?,
            shape: [seq, dim],
            hidden: hidden.flatten_all()?.to_vec1()?,
            truncated: batch.truncated[0],
        };
        Ok(serde_wasm_bindgen::to_value(&encoded)?)
    }
}
