//! Labeled plots from the supported dataset formats, cleaned, deduplicated and
//! split exactly as the evaluation protocol prescribes (../shared/EVALUATION.md):
//! whitespace normalisation, per-format filters, first-occurrence dedup on the
//! input text, and the FNV-1a split (test 20%, validation 10%, train 70%).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use super::formats::{self, Format, RawRow};
use crate::labels::Task;
use crate::tokenize::{model_input, normalize_text};
use crate::{Error, Result};

/// One of the protocol's three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    /// Every split, in report order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// The split a (normalised) input text belongs to: `h % 10` in {0, 5} is
    /// test, 1 is validation, the rest train, with `h` its FNV-1a 64-bit hash.
    pub fn of(text: &str) -> Split {
        match fnv1a64(text.as_bytes()) % 10 {
            0 | 5 => Split::Test,
            1 => Split::Validation,
            _ => Split::Train,
        }
    }

    /// Lower-case name, as used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// FNV-1a, 64-bit: the protocol's split hash.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where a text falls in [0, 1) for sampling: the hash's high half, which
/// the split (the hash modulo 10) does not decide.
fn sample_position(text: &str) -> f64 {
    (fnv1a64(text.as_bytes()) >> 32) as f64 / (1u64 << 32) as f64
}

/// Why a row was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    NoLabel,
    EmptyText,
    /// `movies` plots reading "Add a Plot".
    Placeholder,
    /// The same input text appeared earlier in the file.
    Duplicate,
    /// Combining datasets: the plot is in another dataset's test split.
    OtherTestPlot,
    /// Combining datasets: an earlier dataset already has this plot.
    RepeatedPlot,
    /// A training row of a source sampled down ([`Dataset::keep_train_share`],
    /// [`Dataset::keep_train_genre_cap`]).
    Sampled,
}

impl DropReason {
    fn describe(self) -> &'static str {
        match self {
            DropReason::NoLabel => "without a label",
            DropReason::EmptyText => "with an empty text",
            DropReason::Placeholder => "with the placeholder plot \"Add a Plot\"",
            DropReason::Duplicate => "duplicates",
            DropReason::OtherTestPlot => "whose plot is in another dataset's test split",
            DropReason::RepeatedPlot => "whose plot an earlier dataset already has",
            DropReason::Sampled => "from train by --train-share or --train-genre-cap",
        }
    }
}

/// One labeled plot, as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// Normalised input text.
    pub text: String,
    /// Normalised plot without the title: how datasets that prefix titles
    /// differently are compared.
    pub plot: String,
    pub labels: Vec<String>,
    /// Line of the file where the row starts, for messages.
    pub line: u64,
    /// The row's own source, for files that name one (`extra`): reported apart.
    pub source: Option<String>,
    /// Which of the combined datasets ([`Dataset::parts`]) the row comes from.
    pub part: usize,
}

impl Example {
    /// The title the input text starts with ("TITLE. PLOT"), if any.
    pub fn title(&self) -> Option<&str> {
        self.text
            .strip_suffix(self.plot.as_str())?
            .strip_suffix(". ")
            .filter(|title| !title.is_empty())
    }
}

/// One dataset file of a (possibly combined) dataset: what its rows are
/// scored against on their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The file, as messages and reports name it.
    pub name: String,
    /// The file's own label set (every label in its train split), in the
    /// combined spelling.
    pub labels: Vec<String>,
}

/// A dataset file, cleaned and split.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub path: PathBuf,
    pub task: Task,
    /// Every label that occurs in train, sorted.
    pub labels: Vec<String>,
    pub train: Vec<Example>,
    pub validation: Vec<Example>,
    pub test: Vec<Example>,
    pub rows_read: usize,
    pub dropped: BTreeMap<DropReason, usize>,
    /// The files combined, in order; [`Example::part`] indexes it.
    pub parts: Vec<Part>,
}

impl Dataset {
    /// Reads, cleans, deduplicates and splits `path`.
    pub fn load(path: &Path, format: &Format) -> Result<Dataset> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Dataset::parse(path, &bytes, format)
    }

    /// Cleans, deduplicates and splits the contents of a dataset file;
    /// `path` only names it in messages (the fuzz targets call this).
    pub fn parse(path: &Path, bytes: &[u8], format: &Format) -> Result<Dataset> {
        let rows = formats::read_rows(path, bytes, format)?;
        let mut dataset = Dataset {
            path: path.to_path_buf(),
            task: format.task(),
            labels: Vec::new(),
            train: Vec::new(),
            validation: Vec::new(),
            test: Vec::new(),
            rows_read: rows.len(),
            dropped: BTreeMap::new(),
            parts: Vec::new(),
        };
        let mut seen = HashSet::new();
        for row in rows {
            let (example, reason) = clean(row, format);
            match reason {
                Some(reason) => *dataset.dropped.entry(reason).or_default() += 1,
                None if !seen.insert(example.text.clone()) => {
                    *dataset.dropped.entry(DropReason::Duplicate).or_default() += 1
                }
                None => match Split::of(&example.text) {
                    Split::Train => dataset.train.push(example),
                    Split::Validation => dataset.validation.push(example),
                    Split::Test => dataset.test.push(example),
                },
            }
        }
        dataset.finish()
    }

    /// Sets the label set from train and checks train is not empty; a
    /// single file is its own one part.
    fn finish(mut self) -> Result<Dataset> {
        let labels: BTreeSet<&String> = self.train.iter().flat_map(|e| &e.labels).collect();
        self.labels = labels.into_iter().cloned().collect();
        if self.parts.is_empty() {
            self.parts.push(Part {
                name: self.path.display().to_string(),
                labels: self.labels.clone(),
            });
        }
        if self.train.is_empty() {
            return Err(Error::DataFile {
                path: self.path.clone(),
                problem: "no usable row lands in the train split".into(),
            });
        }
        Ok(self)
    }

    /// Several datasets of one task as one, for training a model on all of
    /// them: genre names that differ only in case, spaces or hyphens are
    /// unified (the first spelling wins); train and validation lose every row
    /// whose plot is in another dataset's test split (compared by plot, as
    /// titles are prefixed differently) or already came from an earlier
    /// dataset; test is every test split together. Score each dataset's own
    /// test split on its own for the protocol's figures.
    pub fn combine(first: Dataset, rest: Vec<Dataset>) -> Result<Dataset> {
        if rest.is_empty() {
            return Ok(first);
        }
        let parts: Vec<Dataset> = std::iter::once(first).chain(rest).collect();
        if let Some(other) = parts.iter().find(|p| p.task != parts[0].task) {
            return Err(Error::DataFile {
                path: other.path.clone(),
                problem: format!(
                    "its task differs from {}'s; combine only multi-label or only single-label datasets",
                    parts[0].path.display()
                ),
            });
        }
        let spelling = first_spellings(&parts);
        let unify = |example: &Example, part: usize| Example {
            labels: respell(&example.labels, &spelling),
            part,
            ..example.clone()
        };
        let mut combined = empty_union(&parts, &spelling);
        let mut seen: HashSet<&str> = HashSet::new();
        for (index, part) in parts.iter().enumerate() {
            let other_tests: HashSet<&str> = parts
                .iter()
                .enumerate()
                .filter(|&(other, _)| other != index)
                .flat_map(|(_, p)| p.test.iter().map(|e| e.plot.as_str()))
                .collect();
            for (split, kept) in [
                (&part.train, &mut combined.train),
                (&part.validation, &mut combined.validation),
            ] {
                for example in split {
                    match combined_drop(example, &other_tests, &seen) {
                        Some(reason) => *combined.dropped.entry(reason).or_default() += 1,
                        None => kept.push(unify(example, index)),
                    }
                }
            }
            seen.extend(
                part.train
                    .iter()
                    .chain(&part.validation)
                    .map(|e| e.plot.as_str()),
            );
            combined
                .test
                .extend(part.test.iter().map(|e| unify(e, index)));
        }
        combined.finish()
    }

    /// Keeps `share` (0 to 1) of the training rows of `source`, the same rows
    /// every run (picked by a hash of their text independent of the split);
    /// validation and test stay whole, so their scores stay comparable. The
    /// label set is the one read before sampling.
    pub fn keep_train_share(&mut self, source: &str, share: f64) -> Result<()> {
        self.check_train_source(source)?;
        self.sample_train(source, |_| share);
        Ok(())
    }

    /// Samples the training rows of `source` so that no genre keeps much
    /// more than `cap` of its positives, while rows of its rarer genres all
    /// stay: a row is kept with the chance `min(1, cap / n)` of its rarest
    /// genre, `n` being that genre's training rows in `source`. It evens out
    /// a source scraped genre by genre (rajugc: 5,800 Biography rows, 157
    /// Western) without losing its rare genres; the same rows every run.
    pub fn keep_train_genre_cap(&mut self, source: &str, cap: usize) -> Result<()> {
        self.check_train_source(source)?;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for example in self
            .train
            .iter()
            .filter(|e| e.source.as_deref() == Some(source))
        {
            for label in &example.labels {
                *counts.entry(label.clone()).or_default() += 1;
            }
        }
        self.sample_train(source, |example| {
            example
                .labels
                .iter()
                .map(|label| (cap as f64 / counts[label] as f64).min(1.0))
                .fold(0.0, f64::max)
        });
        Ok(())
    }

    /// Keeps each training row of `source` whose hash position falls under
    /// its `chance`, counting the others as sampled out.
    fn sample_train(&mut self, source: &str, chance: impl Fn(&Example) -> f64) {
        let before = self.train.len();
        self.train.retain(|e| {
            e.source.as_deref() != Some(source) || sample_position(&e.text) < chance(e)
        });
        *self.dropped.entry(DropReason::Sampled).or_default() += before - self.train.len();
    }

    /// Fails, naming the sources there are, when no training row has `source`.
    fn check_train_source(&self, source: &str) -> Result<()> {
        if self
            .train
            .iter()
            .any(|e| e.source.as_deref() == Some(source))
        {
            return Ok(());
        }
        let sources: BTreeSet<&str> = self
            .train
            .iter()
            .filter_map(|e| e.source.as_deref())
            .collect();
        let known: Vec<&str> = sources.into_iter().collect();
        Err(Error::DataFile {
            path: self.path.clone(),
            problem: format!(
                "no training row has the source {source:?}; the sources are: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        })
    }

    /// The examples of one split.
    pub fn split(&self, split: Split) -> &[Example] {
        match split {
            Split::Train => &self.train,
            Split::Validation => &self.validation,
            Split::Test => &self.test,
        }
    }

    /// How many examples of `split` carry each label of the label set.
    pub fn label_counts(&self, split: Split) -> Vec<(&str, usize)> {
        self.labels
            .iter()
            .map(|label| {
                let count = self
                    .split(split)
                    .iter()
                    .filter(|e| e.labels.contains(label))
                    .count();
                (label.as_str(), count)
            })
            .collect()
    }

    /// Rows read, dropped by reason, kept per split, and the label set with
    /// its train counts, as printed before training.
    pub fn summary(&self) -> String {
        let kept: usize = Split::ALL.iter().map(|&s| self.split(s).len()).sum();
        let mut out = format!("{}: {} rows read", self.path.display(), self.rows_read);
        for (reason, count) in &self.dropped {
            out += &format!(", {count} dropped {}", reason.describe());
        }
        out += &format!("; {kept} kept\nsplit: ");
        let splits: Vec<String> = Split::ALL
            .iter()
            .map(|&s| format!("{} {}", s.name(), self.split(s).len()))
            .collect();
        out += &splits.join(" / ");
        let task = match self.task {
            Task::MultiLabel => "multi-label",
            Task::SingleLabel => "single-label",
        };
        out += &format!("\nlabels ({}, {task}, train counts): ", self.labels.len());
        let counts: Vec<String> = self
            .label_counts(Split::Train)
            .iter()
            .map(|(label, n)| format!("{label} {n}"))
            .collect();
        out += &counts.join(", ");
        out
    }
}

/// Normalises a raw row into an example, or says why it is dropped.
fn clean(row: RawRow, format: &Format) -> (Example, Option<DropReason>) {
    let text = normalize_text(&row.text);
    let labels: Vec<String> = row
        .labels
        .iter()
        .map(|l| normalize_text(l))
        .filter(|l| !l.is_empty())
        .collect();
    let reason = if labels.is_empty() {
        Some(DropReason::NoLabel)
    } else if text.is_empty() {
        Some(DropReason::EmptyText)
    } else if *format == Format::Movies && text.to_lowercase().starts_with("add a plot") {
        Some(DropReason::Placeholder)
    } else {
        None
    };
    let example = Example {
        text: model_input(row.title.as_deref(), &text),
        plot: text,
        labels,
        line: row.line,
        source: row.source,
        part: 0,
    };
    (example, reason)
}

/// `labels` in the first spelling of each genre (`spelling`, by [`genre_key`]).
fn respell(labels: &[String], spelling: &BTreeMap<String, String>) -> Vec<String> {
    labels
        .iter()
        .map(|l| {
            spelling
                .get(&genre_key(l))
                .cloned()
                .unwrap_or_else(|| l.clone())
        })
        .collect()
}

/// The union of `parts` before any row is added: its name, task, parts,
/// rows read and the rows each part dropped.
fn empty_union(parts: &[Dataset], spelling: &BTreeMap<String, String>) -> Dataset {
    let names: Vec<String> = parts.iter().map(|p| p.path.display().to_string()).collect();
    let mut dropped = BTreeMap::new();
    for (reason, count) in parts.iter().flat_map(|p| &p.dropped) {
        *dropped.entry(*reason).or_default() += count;
    }
    Dataset {
        path: PathBuf::from(names.join(" + ")),
        task: parts[0].task,
        labels: Vec::new(),
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
        rows_read: parts.iter().map(|p| p.rows_read).sum(),
        dropped,
        parts: parts
            .iter()
            .map(|p| Part {
                name: p.path.display().to_string(),
                labels: respell(&p.labels, spelling),
            })
            .collect(),
    }
}

/// The first spelling of each genre across `parts`, by [`genre_key`].
fn first_spellings(parts: &[Dataset]) -> BTreeMap<String, String> {
    let mut spelling: BTreeMap<String, String> = BTreeMap::new();
    for label in parts.iter().flat_map(|p| &p.labels) {
        spelling
            .entry(genre_key(label))
            .or_insert_with(|| label.clone());
    }
    spelling
}

/// Why combining datasets drops a train or validation `example`: its plot
/// is in another dataset's test split (`other_tests`) or an earlier
/// dataset already gave it (`seen`).
fn combined_drop(
    example: &Example,
    other_tests: &HashSet<&str>,
    seen: &HashSet<&str>,
) -> Option<DropReason> {
    if other_tests.contains(example.plot.as_str()) {
        Some(DropReason::OtherTestPlot)
    } else if seen.contains(example.plot.as_str()) {
        Some(DropReason::RepeatedPlot)
    } else {
        None
    }
}

/// What two spellings of one genre share: "Sci-Fi", "sci fi" and "SciFi" agree.
fn genre_key(label: &str) -> String {
    label
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}
