//! The resumable checkpoint a run writes into its output folder: trained
//! weights, optimizer moments and the run's position, with the options and
//! invocation in the safetensors metadata. A run resumed from one ends with
//! weights bit-identical to an uninterrupted one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::optim::AdamW;
use super::options::Options;
use crate::model::{DropoutRng, Tensors};
use crate::train::eval::history::History;
use crate::train::model_dir;
use crate::{Error, Result};

/// The checkpoint a run writes into its output folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// Safetensors metadata key holding the run's state.
const STATE_KEY: &str = "plotgenre.state";
/// Version of the checkpoint layout; a resume refuses other versions.
const CHECKPOINT_VERSION: u32 = 1;
/// Name prefix of the trained weights among the optimizer's tensors.
const WEIGHT_PREFIX: &str = "model.";

/// Where a run stands: enough to continue it exactly.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// The epoch in progress (0-based).
    pub epoch: usize,
    /// The next batch of that epoch.
    pub next_batch: usize,
    /// Dropout generator position (a u128, as text).
    pub dropout_word_pos: String,
    /// Best validation score so far and the epoch that reached it.
    pub best: Option<(f64, usize)>,
    /// Epochs since the best one.
    pub stale_epochs: usize,
    /// Seconds spent training, across resumes.
    pub seconds: f64,
    pub history: History,
}

/// The checkpoint's metadata: the run's identity and position.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    version: u32,
    /// What the command line needs to restart the run (data, base, output).
    invocation: serde_json::Value,
    options: Options,
    progress: Progress,
}

/// A checkpoint read back from disk.
pub struct Checkpoint {
    pub path: PathBuf,
    /// The command line's description of the run it belongs to.
    pub invocation: serde_json::Value,
    pub options: Options,
    /// Where the run stood when it was written.
    pub progress: Progress,
    tensors: Tensors,
}

impl Checkpoint {
    /// Reads `path`: a checkpoint file, or the output folder holding one.
    pub fn read(path: &Path) -> Result<Self> {
        let path = if path.is_dir() {
            path.join(CHECKPOINT_FILE)
        } else {
            path.to_path_buf()
        };
        let invalid = |problem: String| Error::Model {
            path: path.clone(),
            problem,
        };
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| invalid(format!("not a safetensors checkpoint: {e}")))?;
        let state = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(STATE_KEY))
            .ok_or_else(|| invalid("not a plotgenre training checkpoint (no run state)".into()))?;
        let state: CheckpointState = serde_json::from_str(state)
            .map_err(|e| invalid(format!("unreadable run state: {e}")))?;
        if state.version != CHECKPOINT_VERSION {
            return Err(invalid(format!(
                "checkpoint version {} but this build reads version {CHECKPOINT_VERSION}",
                state.version
            )));
        }
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)?;
        Ok(Self {
            path,
            invocation: state.invocation,
            options: state.options,
            progress: state.progress,
            tensors,
        })
    }

    /// Puts the saved weights into `vars`, the optimizer's state into
    /// `optimizer` and the dropout generator's position into `dropout_rng`,
    /// after checking the checkpoint was written with `options`; returns
    /// where the run stood.
    pub fn restore(
        self,
        options: &Options,
        vars: &[(String, Var)],
        optimizer: &mut AdamW,
        dropout_rng: &mut DropoutRng,
    ) -> Result<Progress> {
        let invalid = |problem: String| Error::Model {
            path: self.path.clone(),
            problem,
        };
        if &self.options != options {
            return Err(invalid(
                "the checkpoint was written with other training options".into(),
            ));
        }
        for (name, var) in vars {
            let saved = self
                .tensors
                .get(&format!("{WEIGHT_PREFIX}{name}"))
                .ok_or_else(|| {
                    invalid(format!("no weight {name}: not a checkpoint of this model"))
                })?;
            if saved.shape() != var.shape() {
                return Err(invalid(format!(
                    "{name} has shape {:?}, the model needs {:?} (different labels or base?)",
                    saved.shape(),
                    var.shape()
                )));
            }
            var.set(saved)?;
        }
        optimizer.load_state(&self.tensors)?;
        let word_pos: u128 = self
            .progress
            .dropout_word_pos
            .parse()
            .map_err(|_| invalid("unreadable dropout generator position".into()))?;
        dropout_rng.set_word_pos(word_pos);
        Ok(self.progress)
    }
}

/// What a checkpoint saves of a run: its identity, position and state.
pub struct Snapshot<'a> {
    pub invocation: &'a serde_json::Value,
    pub options: &'a Options,
    pub progress: &'a Progress,
    /// The trained weights, by canonical name.
    pub vars: &'a [(String, Var)],
    pub optimizer: &'a AdamW,
}

/// Writes `snapshot` as the checkpoint of the run in folder `out`.
pub fn save(out: &Path, snapshot: &Snapshot) -> Result<()> {
    let state = CheckpointState {
        version: CHECKPOINT_VERSION,
        invocation: snapshot.invocation.clone(),
        options: snapshot.options.clone(),
        progress: snapshot.progress.clone(),
    };
    let mut tensors: Vec<(String, Tensor)> = snapshot
        .vars
        .iter()
        .map(|(name, var)| (format!("{WEIGHT_PREFIX}{name}"), var.as_tensor().clone()))
        .collect();
    tensors.extend(snapshot.optimizer.state()?);
    let metadata = HashMap::from([(STATE_KEY.to_string(), serde_json::to_string(&state)?)]);
    let path = out.join(CHECKPOINT_FILE);
    model_dir::save_safetensors(&path, tensors, Some(metadata))
}
