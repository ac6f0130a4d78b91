//! What the fuzz targets share: the tiny test model (tests/fixtures/tiny) as
//! a bundle, built once per process.

use std::path::PathBuf;
use std::sync::OnceLock;

use plotgenre::labels::{Rule, Thresholds};
use plotgenre::train::convert::export;

/// The tiny model's folder.
pub fn tiny_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny")
}

/// The tiny model with a seeded random head over three genres, as q8_0 bundle bytes.
pub fn tiny_bundle() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let labels = ["Action", "Comedy", "Drama"].map(String::from);
        let thresholds = Thresholds::untuned(Rule::GlobalTop1, labels.len());
        let quantization = "q8_0".parse().expect("a known quantization");
        export::untrained_bundle(&tiny_dir(), &labels, quantization, thresholds)
            .expect("the tiny fixture makes a bundle")
    })
}
