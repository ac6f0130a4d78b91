//! The loss a run minimises: its task's objective (`--loss` for
//! multi-label, label-smoothed cross-entropy for single-label) applied to a
//! batch's logits and the labels of its rows (with `--source-label-sets`,
//! only on the genres each row's source labels at all).

use candle_core::{Device, Tensor};

use super::loss::{self, MultiLabelLoss};
use super::options::{LossKind, Options};
use crate::labels::Task;
use crate::train::data::dataset::{Dataset, Example, Split};
use crate::train::data::source_labels::SourceLabels;
use crate::{Error, Result};

/// The loss of the run's task.
pub enum Objective {
    Multi {
        loss: MultiLabelLoss,
        /// The genres each source labels, when only those count.
        sources: Option<SourceLabels>,
    },
    Single {
        smoothing: f64,
    },
}

impl Objective {
    /// The objective `options` ask for on `task`; per-source label sets
    /// need a multi-label task.
    pub fn new(task: Task, options: &Options, dataset: &Dataset) -> Result<Self> {
        if task == Task::SingleLabel && options.source_label_sets {
            return Err(Error::Setting(
                "--source-label-sets: a single-label dataset has one genre per row; drop the flag"
                    .into(),
            ));
        }
        Ok(match task {
            Task::SingleLabel => Objective::Single {
                smoothing: options.label_smoothing,
            },
            Task::MultiLabel => Objective::Multi {
                loss: multi_label_loss(options, dataset)?,
                sources: options
                    .source_label_sets
                    .then(|| SourceLabels::of_train(dataset)),
            },
        })
    }

    /// The mean loss of `logits` against the labels (of `labels`) of `rows`.
    pub fn loss(&self, logits: &Tensor, rows: &[&Example], labels: &[String]) -> Result<Tensor> {
        match self {
            Objective::Multi { loss, sources } => {
                let targets = pair_flags(rows, labels.len(), |e| {
                    labels.iter().map(|l| e.labels.contains(l)).collect()
                })?;
                let counted = sources
                    .as_ref()
                    .map(|sources| pair_flags(rows, labels.len(), |e| sources.counted(e, labels)))
                    .transpose()?;
                loss::multi_label(logits, &targets, counted.as_ref(), loss)
            }
            Objective::Single { smoothing } => {
                let classes: Vec<u32> = rows
                    .iter()
                    .map(|e| {
                        e.labels
                            .first()
                            .and_then(|l| labels.iter().position(|x| x == l))
                            .unwrap_or(0) as u32
                    })
                    .collect();
                let targets = Tensor::new(classes.as_slice(), &Device::Cpu)?;
                loss::single_label(logits, &targets, *smoothing)
            }
        }
    }
}

/// The multi-label loss `--loss` names; weighted BCE weighs each label by
/// its count in `dataset`'s train split.
fn multi_label_loss(options: &Options, dataset: &Dataset) -> Result<MultiLabelLoss> {
    Ok(match options.loss {
        LossKind::Bce => MultiLabelLoss::Bce,
        LossKind::Focal => MultiLabelLoss::Focal {
            alpha: options.focal_alpha,
            gamma: options.focal_gamma,
        },
        LossKind::WeightedBce => {
            let positives: Vec<usize> = dataset
                .label_counts(Split::Train)
                .iter()
                .map(|(_, n)| *n)
                .collect();
            let weights = loss::label_weights(&positives, dataset.train.len());
            MultiLabelLoss::WeightedBce {
                weights: Tensor::new(weights.as_slice(), &Device::Cpu)?,
            }
        }
    })
}

/// A `(rows, labels)` tensor of 1 and 0, each row's flags from `row_flags`.
fn pair_flags(
    rows: &[&Example],
    labels: usize,
    row_flags: impl Fn(&Example) -> Vec<bool>,
) -> Result<Tensor> {
    let flags: Vec<f32> = rows
        .iter()
        .flat_map(|e| row_flags(e))
        .map(|on| f32::from(u8::from(on)))
        .collect();
    Ok(Tensor::from_vec(flags, (rows.len(), labels), &Device::Cpu)?)
}
