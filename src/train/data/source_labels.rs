//! The genres each source of a dataset labels at all. Sources do not share
//! one genre vocabulary (TMDB has no Musical, rajugc no Documentary), so a
//! row says nothing about a genre its source never uses: training can leave
//! those (row, genre) pairs out of its loss (`train --source-label-sets`).

use std::collections::{BTreeSet, HashMap};

use super::dataset::{Dataset, Example};

/// A row's source: its dataset file and, for files that name one (`extra`),
/// its `source` column.
type SourceKey = (usize, Option<String>);

/// Every source's label set, from the train split.
#[derive(Debug, Clone)]
pub struct SourceLabels {
    sets: HashMap<SourceKey, BTreeSet<String>>,
}

impl SourceLabels {
    /// The labels each source's training rows carry.
    pub fn of_train(dataset: &Dataset) -> Self {
        let mut sets: HashMap<SourceKey, BTreeSet<String>> = HashMap::new();
        for example in &dataset.train {
            sets.entry(key(example))
                .or_default()
                .extend(example.labels.iter().cloned());
        }
        Self { sets }
    }

    /// Which of `labels` the source of `example` uses (all of them for a
    /// source no training row has): the pairs a loss counts.
    pub fn counted(&self, example: &Example, labels: &[String]) -> Vec<bool> {
        match self.sets.get(&key(example)) {
            Some(set) => labels.iter().map(|l| set.contains(l)).collect(),
            None => vec![true; labels.len()],
        }
    }

    /// The sources that lack some of `labels`, each with the labels it lacks,
    /// in a stable order: what `train` prints before it starts.
    pub fn gaps(&self, dataset: &Dataset, labels: &[String]) -> Vec<(String, Vec<String>)> {
        let mut gaps: Vec<(String, Vec<String>)> = self
            .sets
            .iter()
            .map(|((part, source), set)| {
                let file = &dataset.parts[*part].name;
                let name = match source {
                    Some(source) => format!("{file} ({source})"),
                    None => file.clone(),
                };
                let lacking = labels.iter().filter(|l| !set.contains(*l)).cloned();
                (name, lacking.collect())
            })
            .filter(|(_, lacking): &(String, Vec<String>)| !lacking.is_empty())
            .collect();
        gaps.sort();
        gaps
    }
}

fn key(example: &Example) -> SourceKey {
    (example.part, example.source.clone())
}
