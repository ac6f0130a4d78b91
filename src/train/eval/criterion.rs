//! The generalisation criterion: what every choice made on validation
//! (best epoch, thresholds and rule, lexical regularisation and share)
//! maximises. Where validation has unseen-title rows (see
//! `data::unseen`), it is the selection score (micro-F1; macro-F1 for
//! single-label) on those rows, averaged over the combined datasets that
//! have any, with the averaged macro-F1 (accuracy) breaking ties: the
//! scrapes' near-duplicates across splits reward memory on the whole
//! validation split. Without unseen rows, or with `--select-on all-rows`,
//! it is the selection score on every validation row, as before. Each
//! dataset is scored on its own label set, as `eval` scores its test split.

use serde::{Deserialize, Serialize};

use super::evaluate::{scored_columns, Metrics};
use crate::train::data::dataset::Dataset;
use crate::train::data::unseen::SeenIndex;

/// Which validation rows selection scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SelectOn {
    /// Each dataset's unseen-title rows, their scores averaged over the
    /// datasets (every row when none is unseen).
    #[default]
    UnseenTitle,
    /// Every validation row.
    AllRows,
}

/// The validation rows of one dataset that selection scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// The dataset file.
    pub dataset: String,
    /// Rows of the validation split (indexes into it).
    #[serde(skip)]
    pub rows: Vec<usize>,
    /// How many rows are scored.
    pub rows_scored: usize,
    /// The model's label columns scored, the dataset's own label set
    /// (`None`: every column), so kslimon is not scored on genres it never labels.
    #[serde(skip)]
    pub columns: Option<Vec<usize>>,
}

impl Group {
    /// The group's rows of `table` (rows × label columns), each cut to its columns.
    pub fn pick<T: Clone>(&self, table: &[Vec<T>]) -> Vec<Vec<T>> {
        let row = |i: usize| match &self.columns {
            None => table[i].clone(),
            Some(columns) => columns.iter().map(|&c| table[i][c].clone()).collect(),
        };
        self.rows.iter().map(|&i| row(i)).collect()
    }

    /// Whether the group scores label column `label`.
    pub fn scores(&self, label: usize) -> bool {
        self.columns.as_ref().is_none_or(|c| c.contains(&label))
    }
}

/// The criterion: the rows scored, by dataset, and how scores combine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Criterion {
    /// What is maximised, in words.
    pub name: String,
    /// The figure that breaks ties, if any.
    pub tie_break: Option<String>,
    pub groups: Vec<Group>,
}

/// A candidate's criterion score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    pub score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tie_break: Option<f64>,
}

impl Criterion {
    /// The selection score on all `rows` validation rows (no tie-break).
    pub fn all_rows(rows: usize) -> Self {
        Criterion {
            name: "selection score on every validation row".into(),
            tie_break: None,
            groups: vec![Group {
                dataset: "validation".into(),
                rows: (0..rows).collect(),
                rows_scored: rows,
                columns: None,
            }],
        }
    }

    /// The criterion `select_on` asks for on `dataset`'s validation split,
    /// its unseen-title rows found against its train split, for a model
    /// whose label columns are `labels`.
    pub fn for_validation(dataset: &Dataset, select_on: SelectOn, labels: &[String]) -> Self {
        let all = Criterion::all_rows(dataset.validation.len());
        if select_on == SelectOn::AllRows {
            return all;
        }
        let unseen = SeenIndex::new(&dataset.train).unseen(&dataset.validation);
        let groups: Vec<Group> = dataset
            .parts
            .iter()
            .enumerate()
            .map(|(part, info)| {
                let rows: Vec<usize> = (0..dataset.validation.len())
                    .filter(|&i| unseen[i] && dataset.validation[i].part == part)
                    .collect();
                let columns = scored_columns(labels, &info.labels);
                Group {
                    dataset: info.name.clone(),
                    rows_scored: rows.len(),
                    rows,
                    columns: (columns.len() < labels.len()).then_some(columns),
                }
            })
            .filter(|g| !g.rows.is_empty())
            .collect();
        if groups.is_empty() {
            return Criterion {
                name: "selection score on every validation row (no validation row is unseen)"
                    .into(),
                ..all
            };
        }
        Criterion {
            name: "selection score on the unseen-title validation rows, mean over datasets".into(),
            tie_break: Some("macro-F1 (single-label: accuracy), mean over datasets".into()),
            groups,
        }
    }

    /// The same criterion over the rows `keep` accepts (groups left empty dropped).
    pub fn restricted(&self, keep: impl Fn(usize) -> bool) -> Criterion {
        let groups = self
            .groups
            .iter()
            .map(|g| {
                let rows: Vec<usize> = g.rows.iter().copied().filter(|&i| keep(i)).collect();
                Group {
                    dataset: g.dataset.clone(),
                    rows_scored: rows.len(),
                    rows,
                    columns: g.columns.clone(),
                }
            })
            .filter(|g| !g.rows.is_empty())
            .collect();
        Criterion {
            groups,
            ..self.clone()
        }
    }

    /// Every row of the groups that score label column `label`, in order.
    pub fn rows_scoring(&self, label: usize) -> Vec<usize> {
        let mut rows: Vec<usize> = (self.groups.iter())
            .filter(|g| g.scores(label))
            .flat_map(|g| g.rows.clone())
            .collect();
        rows.sort_unstable();
        rows.dedup();
        rows
    }

    /// The criterion from `metrics_of(group)`, the metrics of a group's rows
    /// on its columns.
    pub fn score(&self, metrics_of: impl Fn(&Group) -> Metrics) -> Score {
        let n = self.groups.len().max(1) as f64;
        let (mut score, mut tie) = (0.0, 0.0);
        for group in &self.groups {
            let metrics = metrics_of(group);
            score += metrics.selection_score();
            tie += match metrics {
                Metrics::Multi(m) => m.macro_f1,
                Metrics::Single(m) => m.accuracy,
            };
        }
        Score {
            score: score / n,
            tie_break: self.tie_break.as_ref().map(|_| tie / n),
        }
    }

    /// The criterion from a figure of each group, `figure(group)`.
    pub fn mean(&self, figure: impl Fn(&Group) -> f64) -> f64 {
        let total: f64 = self.groups.iter().map(figure).sum();
        total / self.groups.len().max(1) as f64
    }

    /// Whether `a` beats `b`: a higher score, or an equal one and a higher tie-break.
    pub fn better(&self, a: Score, b: Score) -> bool {
        a.score > b.score
            || (a.score == b.score && a.tie_break.zip(b.tie_break).is_some_and(|(x, y)| x > y))
    }
}

/// The rows `rows` of `items`, in order.
pub fn select<T: Clone>(items: &[T], rows: &[usize]) -> Vec<T> {
    rows.iter().map(|&i| items[i].clone()).collect()
}
