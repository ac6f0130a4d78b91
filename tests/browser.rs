//! The browser path end to end: headless Chromium loads the wasm build from
//! pkg/, runs the tiny model on real-looking texts, and must return the same
//! token ids and hidden states as the native build (max abs diff <= 1e-4).
//! Needs `make wasm` and `make browser-deps` (`make test` runs both).

mod common;

use std::process::Command;

use candle_core::Tensor;
use plotgenre::model::{self, Mode};
use plotgenre::tokenize::{TextEncoder, DEFAULT_MAX_LENGTH};
use serde::Deserialize;

const TOLERANCE: f32 = 1e-4;

#[derive(Deserialize)]
struct BrowserRun {
    ok: bool,
    error: Option<String>,
    #[serde(default)]
    results: Vec<Encoded>,
}

#[derive(Deserialize)]
struct Encoded {
    ids: Vec<u32>,
    shape: [usize; 2],
    hidden: Vec<f32>,
}

fn texts() -> Vec<String> {
    vec![
        "A retired hitman is pulled back into the underworld when gangsters kill his dog.".into(),
        "Amélie, a shy waitress in Montmartre, decides to change the lives of those around her — for the better. 😊".into(),
        "\"Why so serious?\" asks the Joker, as Gotham's 'white knight' falls.".into(),
        "In space no one can hear you scream. ".repeat(40),
    ]
}

#[test]
fn wasm_in_chromium_matches_the_native_encoder() {
    let root = common::root();
    if !common::available(&root.join("pkg/plotgenre_bg.wasm"), "run `make wasm`")
        || !common::available(
            &root.join("tests/browser/node_modules/playwright-core"),
            "run `make browser-deps`",
        )
    {
        return;
    }
    let texts = texts();
    let texts_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(texts_file.path(), serde_json::to_vec(&texts).unwrap()).unwrap();
    let output = Command::new("node")
        .arg(root.join("tests/browser/run.mjs"))
        .args([
            "--root",
            root.to_str().unwrap(),
            "--model",
            "/tests/fixtures/tiny",
            "--texts",
        ])
        .arg(texts_file.path())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let run: BrowserRun = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "bad harness output ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(
        run.ok,
        "browser run failed: {:?}\n{}",
        run.error,
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(run.results.len(), texts.len());

    let tiny = common::fixture("tiny");
    let read = |name: &str| std::fs::read(tiny.join(name)).unwrap();
    let (config, encoder) =
        model::load_encoder(&read("config.json"), &read("model.safetensors")).unwrap();
    let tokenizer = TextEncoder::from_bytes(&read("tokenizer.json"), DEFAULT_MAX_LENGTH).unwrap();
    for (text, browser) in texts.iter().zip(&run.results) {
        let batch = tokenizer.encode_batch(&[text]).unwrap();
        let ids: Vec<u32> = batch.input_ids.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(browser.ids, ids, "token ids for {text:?}");
        let native = encoder
            .forward(&batch.input_ids, &batch.attention_mask, Mode::Infer)
            .unwrap()
            .squeeze(0)
            .unwrap();
        assert_eq!(browser.shape, [ids.len(), config.dim]);
        let in_browser = Tensor::from_vec(
            browser.hidden.clone(),
            (browser.shape[0], browser.shape[1]),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let diff = common::max_abs_diff(&native, &in_browser);
        println!(
            "browser vs native: {} tokens, max abs diff {diff:.2e}",
            ids.len()
        );
        assert!(diff <= TOLERANCE, "max abs diff {diff} for {text:?}");
    }
    assert_eq!(
        run.results[3].ids.len(),
        DEFAULT_MAX_LENGTH,
        "the long text is truncated"
    );
}
