//! Text in, genres out: a classifier, its tokenizer and its decision rule,
//! whether loaded from a trained model folder (f32) or from a quantized
//! bundle. The browser and the command line call the same code.

use candle_core::{Device, Tensor};
use rayon::prelude::*;
use serde::Serialize;

use crate::labels::{self, Task, Thresholds};
use crate::language::{self, Unfamiliar};
use crate::model::{Classifier, Mode};
use crate::tokenize::{Batch, TextEncoder};
use crate::Result;

/// Rows per inference batch; texts are sorted by length so batches pad little.
pub const INFERENCE_BATCH: usize = 64;

/// A classifier's raw output for some texts, in their order.
pub struct Logits {
    /// One row of logits per text, in label order.
    pub rows: Vec<Vec<f32>>,
    /// Whether each text was cut to the model's maximum length.
    pub truncated: Vec<bool>,
    /// Why each text looks unlike the English plots the model learned from, if it does.
    pub unfamiliar: Vec<Option<Unfamiliar>>,
}

/// Runs `model` over `texts` in length-sorted batches, each in groups of
/// one token count, the groups in parallel on rayon's threads.
pub fn logits(model: &Classifier, encoder: &TextEncoder, texts: &[&str]) -> Result<Logits> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let mut out = Logits {
        rows: vec![Vec::new(); texts.len()],
        truncated: vec![false; texts.len()],
        unfamiliar: vec![None; texts.len()],
    };
    for chunk in order.chunks(INFERENCE_BATCH) {
        let batch_texts: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
        let batch = encoder.encode_batch(&batch_texts)?;
        let groups = length_groups(&batch.lengths);
        let group_rows = groups
            .par_iter()
            .map(|group| group_logits(model, &batch, group))
            .collect::<Result<Vec<_>>>()?;
        for (group, rows) in groups.iter().zip(group_rows) {
            for (&k, row) in group.iter().zip(rows) {
                let i = chunk[k];
                let read = texts[i].get(..batch.read_bytes[k]).unwrap_or(texts[i]);
                out.rows[i] = row;
                out.truncated[i] = batch.truncated[k];
                out.unfamiliar[i] = language::assess(read, batch.pieces[k]);
            }
        }
    }
    Ok(out)
}

/// The batch's texts (by position) in groups of one token count, shortest
/// first, so that no group runs padding. Letting a group pad by up to 10%
/// made fewer, larger groups but no faster ones (the products cost the same
/// per row at these sizes): in the browser, batches of 16 plots ran at 53
/// plots/s on one thread against 57 without padding, and on 2 threads at
/// 1.44 against 1.53 times ORT-web's best in the same run.
fn length_groups(lengths: &[usize]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&k| lengths[k]);
    order
        .chunk_by(|&a, &b| lengths[a] == lengths[b])
        .map(<[usize]>::to_vec)
        .collect()
}

/// Logits of the batch's texts at `group`'s positions (one token count).
fn group_logits(model: &Classifier, batch: &Batch, group: &[usize]) -> Result<Vec<Vec<f32>>> {
    let longest = group.iter().map(|&k| batch.lengths[k]).max().unwrap_or(0);
    let positions: Vec<u32> = group.iter().map(|&k| k as u32).collect();
    let positions = Tensor::new(positions.as_slice(), &Device::Cpu)?;
    let take = |t: &Tensor| {
        t.index_select(&positions, 0)?
            .narrow(1, 0, longest)?
            .contiguous()
    };
    let (ids, mask) = (take(&batch.input_ids)?, take(&batch.attention_mask)?);
    Ok(model.forward(&ids, &mask, Mode::Infer)?.to_vec2::<f32>()?)
}

/// One genre of a classified text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenreScore {
    pub genre: String,
    /// Calibrated probability.
    pub probability: f32,
    /// Whether the model's decision rule picks this genre.
    pub predicted: bool,
}

/// The model's answer for one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    /// Every genre, most probable first.
    pub genres: Vec<GenreScore>,
    /// The text was longer than the model reads; only its beginning counted.
    pub truncated: bool,
    /// Why the text looks unlike the English plots the model learned from, if it does.
    pub unfamiliar: Option<Unfamiliar>,
}

impl Classification {
    /// Names of the predicted genres, most probable first.
    pub fn predicted(&self) -> impl Iterator<Item = &str> {
        self.genres
            .iter()
            .filter(|g| g.predicted)
            .map(|g| g.genre.as_str())
    }
}

/// A classifier ready to turn texts into genres.
pub struct Pipeline {
    pub model: Classifier,
    pub tokenizer: TextEncoder,
    pub task: Task,
    /// Genre names, in logit order.
    pub labels: Vec<String>,
    pub thresholds: Thresholds,
}

impl Pipeline {
    /// Calibrated probabilities of `texts`, one row per text, in label order.
    pub fn probabilities(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(self.calibrated(texts)?.0)
    }

    /// Probabilities of `texts` in label order, with the logits' per-text
    /// flags (truncation, unfamiliar text) for callers that report them.
    pub fn calibrated(&self, texts: &[&str]) -> Result<(Vec<Vec<f32>>, Logits)> {
        let logits = logits(&self.model, &self.tokenizer, texts)?;
        let probabilities = logits
            .rows
            .iter()
            .map(|row| labels::probabilities(row, self.thresholds.temperature, self.task))
            .collect();
        Ok((probabilities, logits))
    }

    /// Genres of each text, sorted by probability, flagged by the model's rule.
    pub fn classify(&self, texts: &[&str]) -> Result<Vec<Classification>> {
        let (probabilities, logits) = self.calibrated(texts)?;
        Ok(probabilities
            .into_iter()
            .zip(logits.truncated)
            .zip(logits.unfamiliar)
            .map(|((probabilities, truncated), unfamiliar)| {
                let flags = self.thresholds.decide(&probabilities, self.thresholds.rule);
                let mut genres: Vec<GenreScore> = self
                    .labels
                    .iter()
                    .zip(probabilities)
                    .zip(flags)
                    .map(|((genre, probability), predicted)| GenreScore {
                        genre: genre.clone(),
                        probability,
                        predicted,
                    })
                    .collect();
                genres.sort_by(|a, b| b.probability.total_cmp(&a.probability));
                Classification {
                    genres,
                    truncated,
                    unfamiliar,
                }
            })
            .collect())
    }
}
