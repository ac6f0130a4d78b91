//! The loss a run minimises: its task's objective (`--loss` for
//! multi-label, label-smoothed cross-entropy for single-label) applied to a
//! batch's logits and the labels of its rows.

use candle_core::{Device, Tensor};

use super::loss::{self, MultiLabelLoss};
use super::options::{LossKind, Options};
use crate::labels::Task;
use crate::train::data::dataset::{Dataset, Example, Split};
use crate::Result;

/// The loss of the run's task.
pub enum Objective {
    Multi(MultiLabelLoss),
    Single { smoothing: f64 },
}

impl Objective {
    /// The objective `options` ask for on `task`; weighted BCE weighs each
    /// label by its count in `dataset`'s train split.
    pub fn new(task: Task, options: &Options, dataset: &Dataset) -> Result<Self> {
        Ok(match task {
            Task::SingleLabel => Objective::Single {
                smoothing: options.label_smoothing,
            },
            Task::MultiLabel => Objective::Multi(match options.loss {
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
            }),
        })
    }

    /// The mean loss of `logits` against the labels (of `labels`) of `rows`.
    pub fn loss(&self, logits: &Tensor, rows: &[&Example], labels: &[String]) -> Result<Tensor> {
        match self {
            Objective::Multi(kind) => {
                let flags: Vec<f32> = rows
                    .iter()
                    .flat_map(|e| {
                        labels
                            .iter()
                            .map(|l| f32::from(u8::from(e.labels.contains(l))))
                    })
                    .collect();
                let targets = Tensor::from_vec(flags, (rows.len(), labels.len()), &Device::Cpu)?;
                loss::multi_label(logits, &targets, kind)
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
