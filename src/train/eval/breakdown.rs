//! A split scored whole and in the parts that say what generalises: per
//! dataset file (when several are combined), each one's unseen-title rows
//! (EVALUATION.md) and, for files that name one, each `source`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::criterion::select;
use super::evaluate::{self, SplitReport};
use crate::pipeline::Pipeline;
use crate::train::data::dataset::{Dataset, Example};
use crate::Result;

/// One dataset file's rows of the split, scored whole and in parts.
#[derive(Debug, Clone, Serialize)]
pub struct Breakdown {
    /// The dataset file.
    pub dataset: String,
    pub whole: SplitReport,
    /// Its rows whose title and plot no training row has (`None` for the
    /// train split and for every row of a file).
    pub unseen_title: Option<SplitReport>,
    /// Its rows by `source`, for files that name one.
    pub by_source: BTreeMap<String, SplitReport>,
}

/// Scores `examples` (rows of `dataset`) with `model` under every rule:
/// all together, then per dataset file, its `unseen` rows (one flag per
/// example, when given) and its sources, each on the file's own label set.
pub fn breakdowns(
    model: &Pipeline,
    dataset: &Dataset,
    examples: &[Example],
    unseen: Option<&[bool]>,
) -> Result<(SplitReport, Vec<Breakdown>)> {
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let probabilities = model.probabilities(&texts)?;
    let score = |rows: &[usize], labels: &[String]| {
        evaluate::report(
            &select(&probabilities, rows),
            &select(examples, rows),
            &model.thresholds,
            &model.labels,
            model.task,
            &evaluate::scored_columns(&model.labels, labels),
        )
    };
    let all: Vec<usize> = (0..examples.len()).collect();
    let whole = score(&all, &dataset.labels);
    let parts = dataset
        .parts
        .iter()
        .enumerate()
        .map(|(index, part)| {
            let rows: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&i| examples[i].part == index)
                .collect();
            let unseen_title = unseen.map(|flags| {
                let kept: Vec<usize> = rows.iter().copied().filter(|&i| flags[i]).collect();
                score(&kept, &part.labels)
            });
            let mut sources: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for &i in &rows {
                if let Some(source) = &examples[i].source {
                    sources.entry(source).or_default().push(i);
                }
            }
            Breakdown {
                dataset: part.name.clone(),
                whole: score(&rows, &part.labels),
                unseen_title,
                by_source: sources
                    .into_iter()
                    .map(|(source, rows)| (source.to_string(), score(&rows, &part.labels)))
                    .collect(),
            }
        })
        .collect();
    Ok((whole, parts))
}
