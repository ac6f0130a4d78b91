//! `Bundle::from_bytes` on untrusted bytes, then loading and running what it
//! accepts. The first input byte picks what the rest is: the whole file (the
//! header checks), a GGUF payload behind a valid header (candle's parser and
//! our bounds walk), or byte overwrites of the tiny model's payload behind a
//! valid header (manifest, config, tokenizer and tensors that almost fit).
//! Any panic, or an allocation over libFuzzer's malloc limit, is a finding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use plotgenre::bundle::{seal, Bundle, HEADER_LEN};

/// Bytes per overwrite: a 24-bit little-endian position, then the new byte.
const EDIT: usize = 4;

/// The tiny model's payload with `edits` applied.
fn edited(edits: &[u8]) -> Vec<u8> {
    let mut payload = plotgenre_fuzz::tiny_bundle()[HEADER_LEN..].to_vec();
    for edit in edits.chunks_exact(EDIT) {
        let at = usize::from(edit[0]) | usize::from(edit[1]) << 8 | usize::from(edit[2]) << 16;
        let len = payload.len();
        payload[at % len] = edit[3];
    }
    payload
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = match mode % 3 {
        0 => rest.to_vec(),
        1 => seal(rest),
        _ => seal(&edited(rest)),
    };
    let Ok(bundle) = Bundle::from_bytes(&bytes) else {
        return;
    };
    if let Ok(pipeline) = bundle.pipeline() {
        // A model that loads may still fail on text, but must not panic.
        let _ = pipeline.classify(&["A retired hitman is pulled back into the underworld."]);
    }
});
