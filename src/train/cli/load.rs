//! Opening the model a command names: a trained folder or a bundle file.

use anyhow::Context;

use crate::bundle::Bundle;
use crate::pipeline::Pipeline;
use crate::train::model_dir;

/// Loads a trained model folder or a bundle file.
pub fn load_model(path: &std::path::Path) -> anyhow::Result<Pipeline> {
    let loaded = if path.is_dir() {
        model_dir::load(path)
    } else {
        std::fs::read(path)
            .map_err(|e| crate::Error::io(path, e))
            .and_then(|bytes| Ok(Bundle::open(bytes)?.1))
    };
    loaded.with_context(|| format!("cannot load the model {}", path.display()))
}
