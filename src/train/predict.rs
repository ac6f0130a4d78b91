//! `predict`: labels every row of a table file with its predicted genres and
//! per-genre probabilities, keeping the input's own columns. Its reader
//! ([`PlotRows`]) also feeds `explain --input`, so both find columns alike;
//! both read through [`crate::table`], as the page does.

use std::path::Path;

use indicatif::ProgressBar;

use super::atomic;
use crate::labels::{CapOrder, Rule, Thresholds};
use crate::pipeline::Pipeline;
use crate::table::{self, Table};
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
/// Rows classified at once; bounds the memory a batch takes.
const CHUNK_ROWS: usize = 256;
/// The column that names what is wrong with a row that was not classified.
const ERROR_COLUMN: &str = "error";
/// The column of predicted genres, joined by "|".
const GENRES_COLUMN: &str = "predicted_genres";

/// Where the text of a row comes from.
pub struct Columns<'a> {
    /// The plot column [default: the first of plot, text, description,
    /// overview, summary, ONE-LINE that the header has].
    pub text: Option<&'a str>,
    /// A title column, prefixed as "TITLE. PLOT" as in training.
    pub title: Option<&'a str>,
}

/// A table file of plots with its plot and title columns found.
pub struct PlotRows {
    table: Table,
    text_column: usize,
    title_column: Option<usize>,
}

impl PlotRows {
    /// Reads `input` and finds the columns `columns` names (or the default plot column).
    pub fn open(input: &Path, columns: &Columns) -> Result<Self> {
        let bytes = std::fs::read(input).map_err(|e| Error::io(input, e))?;
        let table = table::read(&bytes).map_err(|e| match e {
            Error::Table(problem) => Error::DataFile {
                path: input.to_path_buf(),
                problem,
            },
            other => other,
        })?;
        let header = &table.header;
        let find = |name: &str| header.iter().position(|h| h == name);
        let text_column = match columns.text {
            Some(name) => find(name).ok_or_else(|| missing(input, name, header))?,
            None => TEXT_COLUMNS
                .iter()
                .find_map(|name| find(name))
                .ok_or_else(|| Error::DataFile {
                    path: input.to_path_buf(),
                    problem: format!(
                        "no plot column among {:?}; name it with --text-col (columns: {})",
                        TEXT_COLUMNS,
                        header.join(", ")
                    ),
                })?,
        };
        let title_column = columns
            .title
            .map(|name| find(name).ok_or_else(|| missing(input, name, header)))
            .transpose()?;
        Ok(Self {
            table,
            text_column,
            title_column,
        })
    }

    /// The table read, with its bad rows and what was assumed to read it.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// A row's title (none when blank or absent) and normalised plot.
    pub fn title_and_plot<'r>(&self, record: &'r [String]) -> (Option<&'r str>, String) {
        let plot = normalize_text(record.get(self.text_column).map_or("", String::as_str));
        let title = self
            .title_column
            .and_then(|c| record.get(c))
            .map(String::as_str)
            .filter(|t| !t.trim().is_empty());
        (title, plot)
    }
}

/// What `predict` did beyond classifying, for the command to report.
pub struct Summary {
    /// Rows classified.
    pub classified: usize,
    /// Rows not classified, by line: the bad rows and those with an empty plot.
    pub skipped: Vec<(u64, String)>,
    /// Input columns that `predict` writes itself and therefore replaced.
    pub replaced: Vec<String>,
    /// What was assumed to read the file (see [`Table::note`]).
    pub note: Option<String>,
    /// Lines of the rows whose plot does not look like English (see [`crate::language`]).
    pub unfamiliar: Vec<u64>,
}

/// Classifies the rows of `rows_in` into `output` (written atomically),
/// advancing `progress` by the rows classified.
pub fn predict_csv(
    model: &Pipeline,
    rows_in: &PlotRows,
    output: &Path,
    progress: &ProgressBar,
) -> Result<Summary> {
    let table = rows_in.table();
    let texts: Vec<Option<String>> = table
        .rows
        .iter()
        .map(|record| {
            let (title, plot) = rows_in.title_and_plot(record);
            (!plot.trim().is_empty()).then(|| model_input(title, &plot))
        })
        .collect();
    let (probabilities, unfamiliar) = classify(model, &texts, progress)?;
    let mut skipped: Vec<(u64, String)> = table
        .bad_rows
        .iter()
        .map(|bad| (bad.line, bad.reason.clone()))
        .chain(
            table
                .row_lines
                .iter()
                .zip(&texts)
                .filter(|(_, text)| text.is_none())
                .map(|(&line, _)| (line, "empty plot: no genres".to_string())),
        )
        .collect();
    skipped.sort_by_key(|(line, _)| *line);
    let ours = our_columns(model);
    let kept: Vec<usize> = (0..table.header.len())
        .filter(|&c| !ours.contains(&table.header[c]))
        .collect();
    let writer = Output {
        model,
        table,
        kept: &kept,
        with_error: !skipped.is_empty(),
    };
    atomic::write_with(output, |tmp| writer.write(tmp, &probabilities, &skipped))?;
    let replaced = table
        .header
        .iter()
        .filter(|h| ours.contains(h))
        .cloned()
        .collect();
    Ok(Summary {
        classified: probabilities.iter().flatten().count(),
        skipped,
        replaced,
        note: table.note(),
        unfamiliar: table
            .row_lines
            .iter()
            .zip(unfamiliar)
            .filter_map(|(&line, flagged)| flagged.then_some(line))
            .collect(),
    })
}

/// Per text: its probabilities (`None` for a text not classified), and
/// whether it looks unlike English.
type Scores = (Vec<Option<Vec<f32>>>, Vec<bool>);

/// The scores of every text (`None` stays `None`), a chunk at a time.
fn classify(model: &Pipeline, texts: &[Option<String>], progress: &ProgressBar) -> Result<Scores> {
    let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
    let mut unfamiliar = vec![false; texts.len()];
    let todo: Vec<usize> = (0..texts.len()).filter(|&i| texts[i].is_some()).collect();
    for chunk in todo.chunks(CHUNK_ROWS) {
        let refs: Vec<&str> = chunk.iter().filter_map(|&i| texts[i].as_deref()).collect();
        let (probabilities, flags) = model.calibrated(&refs)?;
        for ((&i, p), flag) in chunk.iter().zip(probabilities).zip(flags.unfamiliar) {
            out[i] = Some(p);
            unfamiliar[i] = flag.is_some();
        }
        progress.inc(chunk.len() as u64);
    }
    Ok((out, unfamiliar))
}

/// The columns `predict` writes, which an input's own are replaced by.
fn our_columns(model: &Pipeline) -> Vec<String> {
    let mut ours = vec![GENRES_COLUMN.to_string(), ERROR_COLUMN.to_string()];
    ours.extend(model.labels.iter().map(|l| format!("p_{l}")));
    ours
}

/// How the output file is laid out.
struct Output<'a> {
    model: &'a Pipeline,
    table: &'a Table,
    /// The input columns kept, by index.
    kept: &'a [usize],
    with_error: bool,
}

impl Output<'_> {
    /// Writes the header, then every row in file order: classified, or with
    /// its problem in the error column.
    fn write(
        &self,
        path: &Path,
        probabilities: &[Option<Vec<f32>>],
        skipped: &[(u64, String)],
    ) -> Result<()> {
        let mut writer = csv::Writer::from_path(path).map_err(|e| csv_error(path, e))?;
        let mut header: Vec<String> = self.pick(&self.table.header);
        header.push(GENRES_COLUMN.into());
        header.extend(self.model.labels.iter().map(|l| format!("p_{l}")));
        let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
        for ((record, &line), p) in self
            .table
            .rows
            .iter()
            .zip(&self.table.row_lines)
            .zip(probabilities)
        {
            rows.push((line, self.row(record, p.as_deref(), line, skipped)));
        }
        for bad in &self.table.bad_rows {
            let fields = self.table.fit_to_header(&bad.fields);
            rows.push((bad.line, self.row(&fields, None, bad.line, skipped)));
        }
        rows.sort_by_key(|(line, _)| *line);
        if self.with_error {
            header.push(ERROR_COLUMN.into());
        }
        writer
            .write_record(&header)
            .map_err(|e| csv_error(path, e))?;
        for (_, row) in &rows {
            writer.write_record(row).map_err(|e| csv_error(path, e))?;
        }
        writer.flush().map_err(|e| Error::io(path, e))
    }

    /// The kept input fields of a row.
    fn pick(&self, record: &[String]) -> Vec<String> {
        self.kept.iter().map(|&c| record[c].clone()).collect()
    }

    /// One output row: the kept fields, genres, probabilities and the error.
    fn row(
        &self,
        record: &[String],
        probabilities: Option<&[f32]>,
        line: u64,
        skipped: &[(u64, String)],
    ) -> Vec<String> {
        let mut out = self.pick(record);
        let labels = &self.model.labels;
        match probabilities {
            Some(p) => {
                let thresholds = &self.model.thresholds;
                let flags = thresholds.decide(p, thresholds.rule);
                let genres: Vec<&str> = labels
                    .iter()
                    .zip(&flags)
                    .filter(|(_, &f)| f)
                    .map(|(l, _)| l.as_str())
                    .collect();
                out.push(genres.join("|"));
                out.extend(p.iter().map(|&p| format_probability(p)));
            }
            None => out.extend(std::iter::repeat_n(String::new(), labels.len() + 1)),
        }
        if self.with_error {
            let problem = skipped.binary_search_by_key(&line, |(l, _)| *l).ok();
            out.push(problem.map_or(String::new(), |i| format!("line {line}: {}", skipped[i].1)));
        }
        out
    }
}

/// A probability as written: the shortest decimal that reads back as the
/// same `f32`, so re-applying the printed rule to it gives the written
/// genres (four decimals would write 0.28996 as 0.2900, at or above 0.29).
pub fn format_probability(p: f32) -> String {
    format!("{p}")
}

/// The decision rule in words, with its thresholds as [`format_probability`]
/// writes numbers.
pub fn describe_rule(thresholds: &Thresholds, labels: &[String]) -> String {
    let per_label = || {
        let each: Vec<String> = labels
            .iter()
            .zip(&thresholds.per_label)
            .map(|(l, &t)| format!("{l} {}", format_probability(t)))
            .collect();
        format!("each genre with p >= its threshold ({})", each.join(", "))
    };
    let global = || {
        let except = (thresholds.own_thresholds_in_words(labels)).map_or(String::new(), |own| {
            format!(" (rare genres at their own: {own})")
        });
        format!(
            "each genre with p >= {}{except}",
            format_probability(thresholds.global)
        )
    };
    let mut rule = match thresholds.rule {
        Rule::Global => global(),
        Rule::GlobalTop1 => format!("{}, and the most probable one", global()),
        Rule::PerLabel => per_label(),
        Rule::PerLabelTop1 => format!("{}, and the most probable one", per_label()),
        Rule::Argmax => "the most probable genre".to_string(),
    };
    if let Some(most) = thresholds.max_genres {
        let kept = match thresholds.cap_order {
            CapOrder::Probability => "the most probable",
            CapOrder::Margin => "those furthest past their thresholds",
        };
        rule.push_str(&format!("; at most {most}, {kept}"));
    }
    rule
}

fn missing(path: &Path, name: &str, header: &[String]) -> Error {
    Error::DataFile {
        path: path.to_path_buf(),
        problem: format!("no column {name:?} (columns: {})", header.join(", ")),
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
