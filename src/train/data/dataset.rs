//! Labeled plots from the supported dataset formats, cleaned, deduplicated and
//! split exactly as the evaluation protocol prescribes (../shared/EVALUATION.md):
//! whitespace normalisation, per-format filters, first-occurrence dedup on the
//! input text, and the FNV-1a split (test 20%, validation 10%, train 70%).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

pub use crate::labels::Task;
pub use crate::tokenize::normalize_text;
use crate::{Error, Result};

/// Where the text, title and labels are in a generic CSV or JSONL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub text: String,
    /// When given, the input text is `title + ". " + text`, as for `movies`.
    pub title: Option<String>,
    pub label: String,
    /// Separator of several labels in one field; `None` means one label per row.
    pub label_sep: Option<String>,
}

/// A dataset file layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `movies/movies.csv`: MOVIES, GENRE ("Action, Horror"), ONE-LINE.
    Movies,
    /// `kslimon/Movies_data.csv`: title, description, genres ("['Crime', 'Drama']").
    Kslimon,
    /// `imdb27/train_data.txt`: `ID ::: TITLE (YEAR) ::: genre ::: plot` per line.
    Imdb27,
    /// A CSV file with a header row.
    Csv(Columns),
    /// One JSON object per line.
    Jsonl(Columns),
}

impl Format {
    /// The task the format's labels describe.
    pub fn task(&self) -> Task {
        match self {
            Format::Movies | Format::Kslimon => Task::MultiLabel,
            Format::Imdb27 => Task::SingleLabel,
            Format::Csv(columns) | Format::Jsonl(columns) => match columns.label_sep {
                Some(_) => Task::MultiLabel,
                None => Task::SingleLabel,
            },
        }
    }
}

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
}

/// A dataset file's name (for messages) and contents.
#[derive(Clone, Copy)]
struct Source<'a> {
    path: &'a Path,
    bytes: &'a [u8],
}

/// A row as read, before cleaning.
struct RawRow {
    line: u64,
    title: Option<String>,
    text: String,
    labels: Vec<String>,
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
        let file = Source { path, bytes };
        let rows = match format {
            Format::Movies => read_movies(file)?,
            Format::Kslimon => read_kslimon(file)?,
            Format::Imdb27 => read_imdb27(file)?,
            Format::Csv(columns) => read_generic_csv(file, columns)?,
            Format::Jsonl(columns) => read_jsonl(file, columns)?,
        };
        let mut dataset = Dataset {
            path: path.to_path_buf(),
            task: format.task(),
            labels: Vec::new(),
            train: Vec::new(),
            validation: Vec::new(),
            test: Vec::new(),
            rows_read: rows.len(),
            dropped: BTreeMap::new(),
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

    /// Sets the label set from train and checks train is not empty.
    fn finish(mut self) -> Result<Dataset> {
        let labels: BTreeSet<&String> = self.train.iter().flat_map(|e| &e.labels).collect();
        self.labels = labels.into_iter().cloned().collect();
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
        let mut spelling: BTreeMap<String, String> = BTreeMap::new();
        for label in parts.iter().flat_map(|p| &p.labels) {
            spelling
                .entry(genre_key(label))
                .or_insert_with(|| label.clone());
        }
        let unify = |example: &Example| Example {
            labels: example
                .labels
                .iter()
                .map(|l| {
                    spelling
                        .get(&genre_key(l))
                        .cloned()
                        .unwrap_or_else(|| l.clone())
                })
                .collect(),
            ..example.clone()
        };
        let names: Vec<String> = parts.iter().map(|p| p.path.display().to_string()).collect();
        let mut combined = Dataset {
            path: PathBuf::from(names.join(" + ")),
            task: parts[0].task,
            labels: Vec::new(),
            train: Vec::new(),
            validation: Vec::new(),
            test: Vec::new(),
            rows_read: parts.iter().map(|p| p.rows_read).sum(),
            dropped: BTreeMap::new(),
        };
        for part in &parts {
            for (reason, count) in &part.dropped {
                *combined.dropped.entry(*reason).or_default() += count;
            }
        }
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
                    let reason = if other_tests.contains(example.plot.as_str()) {
                        Some(DropReason::OtherTestPlot)
                    } else if seen.contains(example.plot.as_str()) {
                        Some(DropReason::RepeatedPlot)
                    } else {
                        None
                    };
                    match reason {
                        Some(reason) => *combined.dropped.entry(reason).or_default() += 1,
                        None => kept.push(unify(example)),
                    }
                }
            }
            seen.extend(
                part.train
                    .iter()
                    .chain(&part.validation)
                    .map(|e| e.plot.as_str()),
            );
            combined.test.extend(part.test.iter().map(unify));
        }
        combined.finish()
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
        text: crate::tokenize::model_input(row.title.as_deref(), &text),
        plot: text,
        labels,
        line: row.line,
    };
    (example, reason)
}

/// What two spellings of one genre share: "Sci-Fi", "sci fi" and "SciFi" agree.
fn genre_key(label: &str) -> String {
    label
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn data_error(path: &Path, line: u64, problem: impl Into<String>) -> Error {
    Error::DataLine {
        path: path.to_path_buf(),
        line,
        problem: problem.into(),
    }
}

/// Reads a CSV file with a header, handing `make_row` the fields of the named
/// columns (in the order asked) and the line each record starts on.
fn read_csv(
    file: Source,
    columns: &[&str],
    mut make_row: impl FnMut(u64, Vec<&str>) -> RawRow,
) -> Result<Vec<RawRow>> {
    let path = file.path;
    let mut reader = csv::ReaderBuilder::new().from_reader(file.bytes);
    let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
        return Err(Error::DataFile {
            path: path.to_path_buf(),
            problem: "the file is empty; expected a header row and data rows".into(),
        });
    }
    let indexes = columns
        .iter()
        .map(|&name| {
            headers
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| Error::DataFile {
                    path: path.to_path_buf(),
                    problem: format!(
                        "no column {name:?} in the header (columns: {})",
                        headers.iter().collect::<Vec<_>>().join(", ")
                    ),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map_or(0, |p| p.line());
        let fields = indexes
            .iter()
            .map(|&i| record.get(i).unwrap_or(""))
            .collect();
        rows.push(make_row(line, fields));
    }
    Ok(rows)
}

/// A CSV parse error as a message naming the line and what to fix.
fn csv_error(path: &Path, error: csv::Error) -> Error {
    let line = error.position().map(|p| p.line());
    let problem = match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8; save the file as UTF-8".to_string(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!(
            "{len} fields where the header has {expected_len}; check the quoting of this row"
        ),
        _ => error.to_string(),
    };
    match line {
        Some(line) => data_error(path, line, problem),
        None => Error::DataFile {
            path: path.to_path_buf(),
            problem,
        },
    }
}

fn split_labels(field: &str, separator: &str) -> Vec<String> {
    field.split(separator).map(str::to_string).collect()
}

fn read_movies(file: Source) -> Result<Vec<RawRow>> {
    read_csv(file, &["MOVIES", "GENRE", "ONE-LINE"], |line, f| RawRow {
        line,
        title: Some(f[0].to_string()),
        text: f[2].to_string(),
        labels: split_labels(f[1], ","),
    })
}

fn read_kslimon(file: Source) -> Result<Vec<RawRow>> {
    read_csv(file, &["description", "genres"], |line, f| RawRow {
        line,
        title: None,
        text: f[0].to_string(),
        labels: f[1]
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|l| l.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
            .collect(),
    })
}

fn read_generic_csv(file: Source, columns: &Columns) -> Result<Vec<RawRow>> {
    let mut names = vec![columns.text.as_str(), columns.label.as_str()];
    names.extend(columns.title.as_deref());
    read_csv(file, &names, |line, f| RawRow {
        line,
        title: f.get(2).map(|t| t.to_string()),
        text: f[0].to_string(),
        labels: match &columns.label_sep {
            Some(sep) => split_labels(f[1], sep),
            None => vec![f[1].to_string()],
        },
    })
}

/// A file's text, with invalid UTF-8 reported at its line.
fn read_utf8(file: Source<'_>) -> Result<&str> {
    std::str::from_utf8(file.bytes).map_err(|e| {
        let valid = &file.bytes[..e.valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count() as u64;
        data_error(file.path, line, "invalid UTF-8; save the file as UTF-8")
    })
}

/// Numbered non-blank lines; an error if there are none.
fn non_blank_lines(path: &Path, text: &str) -> Result<Vec<(u64, String)>> {
    let lines: Vec<(u64, String)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i as u64 + 1, l.to_string()))
        .collect();
    if lines.is_empty() {
        return Err(Error::DataFile {
            path: path.to_path_buf(),
            problem: "the file is empty".into(),
        });
    }
    Ok(lines)
}

fn read_imdb27(file: Source) -> Result<Vec<RawRow>> {
    let path = file.path;
    let text = read_utf8(file)?;
    non_blank_lines(path, text)?
        .into_iter()
        .map(|(line, content)| {
            let fields: Vec<&str> = content.splitn(4, ":::").collect();
            match fields.as_slice() {
                [_, _, genre, plot] => Ok(RawRow {
                    line,
                    title: None,
                    text: plot.to_string(),
                    labels: vec![genre.to_string()],
                }),
                _ => Err(data_error(
                    path,
                    line,
                    "expected `ID ::: TITLE (YEAR) ::: genre ::: plot`",
                )),
            }
        })
        .collect()
}

fn read_jsonl(file: Source, columns: &Columns) -> Result<Vec<RawRow>> {
    let path = file.path;
    let text = read_utf8(file)?;
    non_blank_lines(path, text)?
        .into_iter()
        .map(|(line, content)| {
            let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&content)
                .map_err(|e| data_error(path, line, format!("not a JSON object: {e}")))?;
            let string = |key: &str| -> Result<String> {
                match object.get(key) {
                    Some(serde_json::Value::String(s)) => Ok(s.clone()),
                    Some(serde_json::Value::Null) | None => Ok(String::new()),
                    Some(other) => Err(data_error(
                        path,
                        line,
                        format!("field {key:?} should be a string, found {other}"),
                    )),
                }
            };
            if !object.contains_key(&columns.text) {
                return Err(data_error(
                    path,
                    line,
                    format!("no field {:?}", columns.text),
                ));
            }
            let labels = match object.get(&columns.label) {
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => Ok(s.clone()),
                        other => Err(data_error(
                            path,
                            line,
                            format!("label {other} is not a string"),
                        )),
                    })
                    .collect::<Result<Vec<_>>>()?,
                _ => {
                    let field = string(&columns.label)?;
                    match &columns.label_sep {
                        Some(sep) => split_labels(&field, sep),
                        None => vec![field],
                    }
                }
            };
            Ok(RawRow {
                line,
                title: columns.title.as_deref().map(string).transpose()?,
                text: string(&columns.text)?,
                labels,
            })
        })
        .collect()
}
