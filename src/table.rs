//! Batch files as people have them: a CSV, semicolon-, tab- or pipe-separated
//! table in UTF-8 (with or without a BOM), UTF-16 with a BOM, or
//! Windows-1252, read into a header and rows. Rows with another field count
//! than the header are set aside with their line number instead of failing
//! the file. `plotgenre predict` and the page's batch mode both read through
//! [`read`], so a file reads the same in both.

use std::borrow::Cow;

use encoding_rs::{Encoding, WINDOWS_1252};
use serde::Serialize;

use crate::{Error, Result};

/// Field separators tried on the header line, the first winning ties.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// A table read from a file, with what was assumed to read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    /// The first row.
    pub header: Vec<String>,
    /// Every other row with as many fields as the header, in file order.
    pub rows: Vec<Vec<String>>,
    /// The line each of `rows` starts on (the header is line 1).
    pub row_lines: Vec<u64>,
    /// The rows with another field count, in file order.
    pub bad_rows: Vec<BadRow>,
    /// The field separator found on the header line.
    pub delimiter: char,
    /// The text encoding assumed ("UTF-8", "windows-1252", "UTF-16LE", ...).
    pub encoding: String,
}

/// A row set aside: where it is, why, and its fields as read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadRow {
    /// The line the row starts on (the header is line 1).
    pub line: u64,
    /// What is wrong with it, e.g. "2 fields, the header has 3".
    pub reason: String,
    /// Its fields as read.
    pub fields: Vec<String>,
}

impl Table {
    /// What was assumed that a reader may not expect (an encoding other than
    /// UTF-8, a separator other than a comma); `None` when nothing was.
    pub fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.encoding != "UTF-8" {
            parts.push(format!("decoded as {}", self.encoding));
        }
        if self.delimiter != ',' {
            parts.push(format!(
                "fields separated by {}",
                delimiter_name(self.delimiter)
            ));
        }
        (!parts.is_empty()).then(|| format!("read {}", parts.join(", ")))
    }

    /// `fields` padded or cut to the header's width: how a bad row is written
    /// out beside the good ones.
    pub fn fit_to_header(&self, fields: &[String]) -> Vec<String> {
        let mut out: Vec<String> = fields.iter().take(self.header.len()).cloned().collect();
        out.resize(self.header.len(), String::new());
        out
    }
}

/// Reads a table from the bytes of a file. Fails only when there is nothing
/// to read: an empty (or blank) file, or bytes that are not text.
pub fn read(bytes: &[u8]) -> Result<Table> {
    let (text, encoding) = decode(bytes)?;
    if text.trim().is_empty() {
        return Err(Error::Table("empty file".into()));
    }
    let delimiter = sniff_delimiter(&text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(record) => fields(&record.map_err(table_error)?),
        None => return Err(Error::Table("empty file".into())),
    };
    let mut table = Table {
        header,
        rows: Vec::new(),
        row_lines: Vec::new(),
        bad_rows: Vec::new(),
        delimiter: char::from(delimiter),
        encoding: encoding.into(),
    };
    for record in records {
        let record = record.map_err(table_error)?;
        let row = fields(&record);
        let line = record.position().map_or(0, |p| p.line());
        if row.len() == table.header.len() {
            table.rows.push(row);
            table.row_lines.push(line);
        } else {
            table.bad_rows.push(BadRow {
                line,
                reason: format!(
                    "{} fields, the header has {}",
                    row.len(),
                    table.header.len()
                ),
                fields: row,
            });
        }
    }
    Ok(table)
}

/// The text of `bytes` and the name of its encoding: a BOM's encoding, else
/// UTF-8 when valid, else Windows-1252 (which maps every byte) unless the
/// bytes hold control characters no text file has.
fn decode(bytes: &[u8]) -> Result<(Cow<'_, str>, &'static str)> {
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        let (text, malformed) = encoding.decode_without_bom_handling(&bytes[bom..]);
        if malformed {
            return Err(Error::Table(format!(
                "not {} text, although it starts with its byte order mark",
                encoding.name()
            )));
        }
        return Ok((text, encoding.name()));
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((Cow::Borrowed(text), "UTF-8"));
    }
    if let Some(at) = bytes
        .iter()
        .position(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))
    {
        return Err(Error::Table(format!(
            "not a text file (byte {at} is the control character 0x{:02x})",
            bytes[at]
        )));
    }
    Ok((
        WINDOWS_1252.decode_without_bom_handling(bytes).0,
        WINDOWS_1252.name(),
    ))
}

/// The separator of the header line: the candidate found most often outside
/// quotes on it (a comma when none is).
fn sniff_delimiter(text: &str) -> u8 {
    let mut counts = [0usize; DELIMITERS.len()];
    let mut quoted = false;
    for byte in text.bytes() {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = DELIMITERS.iter().position(|&d| d == byte) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let best = (0..DELIMITERS.len())
        .rev()
        .max_by_key(|&i| counts[i])
        .unwrap_or(0);
    DELIMITERS[best]
}

/// A separator as a reader names it.
fn delimiter_name(delimiter: char) -> &'static str {
    match delimiter {
        ';' => "semicolons",
        '\t' => "tabs",
        '|' => "pipes",
        _ => "commas",
    }
}

fn fields(record: &csv::StringRecord) -> Vec<String> {
    record.iter().map(String::from).collect()
}

/// A csv error on decoded text, which can only be malformed input at a line.
fn table_error(error: csv::Error) -> Error {
    match error.position() {
        Some(position) => Error::Table(format!("line {}: {error}", position.line())),
        None => Error::Table(error.to_string()),
    }
}
