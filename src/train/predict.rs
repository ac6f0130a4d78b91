//! `predict`: labels every row of a CSV file with its predicted genres and
//! per-genre probabilities, keeping the input's own columns. Its CSV reader
//! ([`PlotRows`]) also feeds `explain --input`, so both find columns alike.

use std::path::Path;

use super::atomic;
use crate::pipeline::Pipeline;
use crate::tokenize::{model_input, normalize_text};
use crate::{Error, Result};

/// Columns tried, in order, when no text column is named.
const TEXT_COLUMNS: [&str; 6] = [
    "plot",
    "text",
    "description",
    "overview",
    "summary",
    "ONE-LINE",
];
/// Rows classified at once; bounds memory on large files.
const CHUNK_ROWS: usize = 256;

/// Where the text of a row comes from.
pub struct Columns<'a> {
    /// The plot column [default: the first of plot, text, description,
    /// overview, summary, ONE-LINE that the header has].
    pub text: Option<&'a str>,
    /// A title column, prefixed as "TITLE. PLOT" as in training.
    pub title: Option<&'a str>,
}

/// A CSV file of plots, read row by row, with its plot and title columns found.
pub struct PlotRows {
    path: std::path::PathBuf,
    reader: csv::Reader<std::fs::File>,
    headers: csv::StringRecord,
    text_column: usize,
    title_column: Option<usize>,
}

impl PlotRows {
    /// Opens `input` and finds the columns `columns` names (or the default plot column).
    pub fn open(input: &Path, columns: &Columns) -> Result<Self> {
        let mut reader = csv::Reader::from_path(input).map_err(|e| csv_error(input, e))?;
        let headers = reader.headers().map_err(|e| csv_error(input, e))?.clone();
        let find = |name: &str| headers.iter().position(|h| h == name);
        let text_column = match columns.text {
            Some(name) => find(name).ok_or_else(|| missing(input, name, &headers))?,
            None => TEXT_COLUMNS
                .iter()
                .find_map(|name| find(name))
                .ok_or_else(|| Error::DataFile {
                    path: input.to_path_buf(),
                    problem: format!(
                        "no plot column among {:?}; name it with --text-col (columns: {})",
                        TEXT_COLUMNS,
                        headers.iter().collect::<Vec<_>>().join(", ")
                    ),
                })?,
        };
        let title_column = columns
            .title
            .map(|name| find(name).ok_or_else(|| missing(input, name, &headers)))
            .transpose()?;
        Ok(Self {
            path: input.to_path_buf(),
            reader,
            headers,
            text_column,
            title_column,
        })
    }

    /// The header row.
    pub fn headers(&self) -> &csv::StringRecord {
        &self.headers
    }

    /// The next row, checked to have a plot field; `None` at the end.
    pub fn next_row(&mut self) -> Result<Option<csv::StringRecord>> {
        let mut record = csv::StringRecord::new();
        let more = self
            .reader
            .read_record(&mut record)
            .map_err(|e| csv_error(&self.path, e))?;
        if !more {
            return Ok(None);
        }
        if record.get(self.text_column).is_none() {
            return Err(Error::DataLine {
                path: self.path.clone(),
                line: record.position().map_or(0, |p| p.line()),
                problem: format!("row has no field {}", self.text_column + 1),
            });
        }
        Ok(Some(record))
    }

    /// A row's title (none when blank or absent) and normalised plot.
    pub fn title_and_plot<'r>(&self, record: &'r csv::StringRecord) -> (Option<&'r str>, String) {
        let plot = normalize_text(record.get(self.text_column).unwrap_or_default());
        let title = self
            .title_column
            .and_then(|c| record.get(c))
            .filter(|t| !t.trim().is_empty());
        (title, plot)
    }
}

/// Classifies `input` into `output` (written atomically); returns the rows.
pub fn predict_csv(
    model: &Pipeline,
    input: &Path,
    output: &Path,
    columns: &Columns,
) -> Result<usize> {
    let mut rows_in = PlotRows::open(input, columns)?;
    let mut rows = 0;
    atomic::write_with(output, |tmp| {
        let mut writer = csv::Writer::from_path(tmp).map_err(|e| csv_error(tmp, e))?;
        let mut header: Vec<String> = rows_in.headers().iter().map(String::from).collect();
        header.push("predicted_genres".into());
        header.extend(model.labels.iter().map(|l| format!("p_{l}")));
        writer
            .write_record(&header)
            .map_err(|e| csv_error(tmp, e))?;
        let mut chunk: Vec<csv::StringRecord> = Vec::with_capacity(CHUNK_ROWS);
        loop {
            let next = rows_in.next_row()?;
            let finished = next.is_none();
            chunk.extend(next);
            if chunk.len() == CHUNK_ROWS || (finished && !chunk.is_empty()) {
                write_chunk(model, &rows_in, &chunk, &mut writer, tmp)?;
                rows += chunk.len();
                chunk.clear();
            }
            if finished {
                break;
            }
        }
        writer.flush().map_err(|e| Error::io(tmp, e))
    })?;
    Ok(rows)
}

/// Classifies one chunk of records and appends them to `writer`.
fn write_chunk(
    model: &Pipeline,
    rows: &PlotRows,
    chunk: &[csv::StringRecord],
    writer: &mut csv::Writer<std::fs::File>,
    path: &Path,
) -> Result<()> {
    let texts: Vec<String> = chunk
        .iter()
        .map(|record| {
            let (title, plot) = rows.title_and_plot(record);
            model_input(title, &plot)
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for (record, probabilities) in chunk.iter().zip(model.probabilities(&refs)?) {
        let flags = model
            .thresholds
            .decide(&probabilities, model.thresholds.rule);
        let genres: Vec<&str> = model
            .labels
            .iter()
            .zip(&flags)
            .filter(|(_, &f)| f)
            .map(|(l, _)| l.as_str())
            .collect();
        let mut out: Vec<String> = record.iter().map(String::from).collect();
        out.push(genres.join("|"));
        out.extend(probabilities.iter().map(|p| format!("{p:.4}")));
        writer.write_record(&out).map_err(|e| csv_error(path, e))?;
    }
    Ok(())
}

fn missing(path: &Path, name: &str, headers: &csv::StringRecord) -> Error {
    Error::DataFile {
        path: path.to_path_buf(),
        problem: format!(
            "no column {name:?} (columns: {})",
            headers.iter().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A CSV error as a data error naming the line when the csv crate knows it.
fn csv_error(path: &Path, error: csv::Error) -> Error {
    match error.position() {
        Some(position) => Error::DataLine {
            path: path.to_path_buf(),
            line: position.line(),
            problem: error.to_string(),
        },
        None => match error.into_kind() {
            csv::ErrorKind::Io(e) => Error::io(path, e),
            kind => Error::DataFile {
                path: path.to_path_buf(),
                problem: format!("{kind:?}"),
            },
        },
    }
}
