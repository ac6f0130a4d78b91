//! The dataset file layouts and their readers: each turns a file's bytes
//! into raw rows (line, title, text, labels), naming the line of any
//! problem, before the dataset cleans and splits them.

use std::path::Path;

use crate::labels::Task;
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
    /// `extra/extra.csv`: title, plot, genres ("Crime|Drama"), source: the
    /// source is kept per row so that evaluation reports each one.
    Extra,
    /// A CSV file with a header row.
    Csv(Columns),
    /// One JSON object per line.
    Jsonl(Columns),
}

impl Format {
    /// The task the format's labels describe.
    pub fn task(&self) -> Task {
        match self {
            Format::Movies | Format::Kslimon | Format::Extra => Task::MultiLabel,
            Format::Imdb27 => Task::SingleLabel,
            Format::Csv(columns) | Format::Jsonl(columns) => match columns.label_sep {
                Some(_) => Task::MultiLabel,
                None => Task::SingleLabel,
            },
        }
    }
}

/// A dataset file's name (for messages) and contents.
#[derive(Clone, Copy)]
struct Source<'a> {
    path: &'a Path,
    bytes: &'a [u8],
}

/// A row as read, before cleaning.
pub struct RawRow {
    pub line: u64,
    pub title: Option<String>,
    pub text: String,
    pub labels: Vec<String>,
    /// Where the row comes from, for formats that say (`extra`'s `source`).
    pub source: Option<String>,
}

/// The rows of a dataset file in `format`; `path` only names it in messages.
pub fn read_rows(path: &Path, bytes: &[u8], format: &Format) -> Result<Vec<RawRow>> {
    let file = Source { path, bytes };
    match format {
        Format::Movies => read_movies(file),
        Format::Kslimon => read_kslimon(file),
        Format::Imdb27 => read_imdb27(file),
        Format::Extra => read_extra(file),
        Format::Csv(columns) => read_generic_csv(file, columns),
        Format::Jsonl(columns) => read_jsonl(file, columns),
    }
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
        source: None,
    })
}

fn read_extra(file: Source) -> Result<Vec<RawRow>> {
    read_csv(file, &["title", "plot", "genres", "source"], |line, f| {
        RawRow {
            line,
            title: Some(f[0].to_string()),
            text: f[1].to_string(),
            labels: split_labels(f[2], "|"),
            source: Some(f[3].to_string()),
        }
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
        source: None,
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
        source: None,
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
                    source: None,
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
                source: None,
            })
        })
        .collect()
}
