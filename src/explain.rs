//! Why a plot got its genres, by occlusion: each word the model reads is
//! removed in turn, and the drop in a genre's probability is that word's
//! score for the genre. It runs on the pipeline that classifies (the quantized
//! bundle in the browser), so an explanation describes the very model whose
//! answer it explains, and it needs no gradients, so it runs offline in wasm.

use std::ops::Range;

use serde::Serialize;

use crate::labels::argmax;
use crate::pipeline::Pipeline;
use crate::tokenize::model_input;
use crate::{Error, Result};

/// Which genres to explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenreChoice<'a> {
    /// The genres the model's decision rule predicts, or the most probable
    /// one when it predicts none.
    Predicted,
    /// One genre by name, predicted or not.
    Named(&'a str),
    /// Every genre of the model.
    All,
}

/// An occlusion run over one plot, evaluated a few texts at a time so a
/// caller (the page's worker) can report progress and stop between steps.
#[derive(Debug, Clone)]
pub struct Occlusion {
    /// Byte spans, in the plot, of the words the model reads.
    words: Vec<Range<usize>>,
    /// The model input, then one input per word with that word removed.
    inputs: Vec<String>,
    /// Calibrated probabilities of the inputs evaluated so far, in order.
    probabilities: Vec<Vec<f32>>,
    /// The plot is longer than the model reads; later words are not scored.
    truncated: bool,
}

/// Word scores of one plot for the genres asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// Byte spans, in the plot, of the scored words (in reading order).
    pub words: Vec<Range<usize>>,
    pub genres: Vec<GenreScores>,
    /// The plot is longer than the model reads; words after `words` were not read.
    pub truncated: bool,
}

/// One genre's probability and each word's signed contribution to it.
#[derive(Debug, Clone, PartialEq)]
pub struct GenreScores {
    pub genre: String,
    /// Calibrated probability of the whole plot.
    pub probability: f32,
    /// Whether the model's decision rule predicts the genre.
    pub predicted: bool,
    /// Per word of [`Explanation::words`]: the probability minus the
    /// probability without that word (positive: the word argues for the genre).
    pub scores: Vec<f32>,
}

/// How offsets count in a report: each host language slices strings its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetUnit {
    /// Unicode scalar values (Python's `text[start:end]`, the CLI's JSON).
    Char,
    /// UTF-16 code units (JavaScript's `text.slice(start, end)`).
    Utf16,
}

/// An explanation in serializable form, offsets in one [`OffsetUnit`].
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub genres: Vec<GenreReport>,
    pub truncated: bool,
}

/// One explained genre of a [`Report`].
#[derive(Debug, Clone, Serialize)]
pub struct GenreReport {
    pub genre: String,
    pub probability: f32,
    pub predicted: bool,
    /// The plot's scored words, in reading order.
    pub words: Vec<WordScore>,
}

/// One word of the plot and its score for a genre.
#[derive(Debug, Clone, Serialize)]
pub struct WordScore {
    pub word: String,
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

impl Occlusion {
    /// Prepares the inputs for `plot` (after an optional `title`, which is
    /// read but not scored); nothing is evaluated yet.
    pub fn new(pipeline: &Pipeline, title: Option<&str>, plot: &str) -> Result<Self> {
        let input = model_input(title, plot);
        let plot_start = input.len() - plot.len();
        let (read_end, truncated) = pipeline.tokenizer.read_extent(&input)?;
        let words: Vec<Range<usize>> = words(plot)
            .into_iter()
            .take_while(|word| plot_start + word.start < read_end)
            .collect();
        let inputs = std::iter::once(input)
            .chain(
                words
                    .iter()
                    .map(|word| model_input(title, &without(plot, std::slice::from_ref(word)))),
            )
            .collect();
        Ok(Self {
            words,
            inputs,
            probabilities: Vec::new(),
            truncated,
        })
    }

    /// Model inputs in all: the plot, then one per word.
    pub fn total(&self) -> usize {
        self.inputs.len()
    }

    /// Model inputs evaluated so far.
    pub fn done(&self) -> usize {
        self.probabilities.len()
    }

    /// Evaluates up to `count` more inputs (at least one); true once all are done.
    pub fn step(&mut self, pipeline: &Pipeline, count: usize) -> Result<bool> {
        let start = self.done();
        let end = (start + count.max(1)).min(self.total());
        if start < end {
            let batch: Vec<&str> = self.inputs[start..end].iter().map(String::as_str).collect();
            self.probabilities.extend(pipeline.probabilities(&batch)?);
        }
        Ok(self.done() == self.total())
    }

    /// Evaluates whatever is left and scores the words for `genres`.
    pub fn finish(&mut self, pipeline: &Pipeline, genres: GenreChoice) -> Result<Explanation> {
        self.step(pipeline, self.total())?;
        let (whole, without) = self
            .probabilities
            .split_first()
            .ok_or_else(|| Error::Input("nothing was evaluated".into()))?;
        let predicted = pipeline.thresholds.decide(whole, pipeline.thresholds.rule);
        let chosen = chosen_genres(pipeline, whole, &predicted, genres)?;
        Ok(Explanation {
            genres: chosen
                .into_iter()
                .map(|g| GenreScores {
                    genre: pipeline.labels[g].clone(),
                    probability: whole[g],
                    predicted: predicted[g],
                    scores: without.iter().map(|row| whole[g] - row[g]).collect(),
                })
                .collect(),
            words: self.words.clone(),
            truncated: self.truncated,
        })
    }
}

/// Explains `plot` (after an optional `title`) for `genres` in one call.
pub fn explain(
    pipeline: &Pipeline,
    title: Option<&str>,
    plot: &str,
    genres: GenreChoice,
) -> Result<Explanation> {
    Occlusion::new(pipeline, title, plot)?.finish(pipeline, genres)
}

/// Label indices to explain, most probable first.
fn chosen_genres(
    pipeline: &Pipeline,
    probabilities: &[f32],
    predicted: &[bool],
    genres: GenreChoice,
) -> Result<Vec<usize>> {
    let mut chosen: Vec<usize> = match genres {
        GenreChoice::Named(name) => {
            let index = pipeline.labels.iter().position(|l| l == name);
            vec![index.ok_or_else(|| {
                Error::Input(format!(
                    "the model has no genre {name:?}; its genres are {}",
                    pipeline.labels.join(", ")
                ))
            })?]
        }
        GenreChoice::All => (0..pipeline.labels.len()).collect(),
        GenreChoice::Predicted => {
            let flagged: Vec<usize> = (0..predicted.len()).filter(|&i| predicted[i]).collect();
            if flagged.is_empty() {
                argmax(probabilities).into_iter().collect()
            } else {
                flagged
            }
        }
    };
    chosen.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
    Ok(chosen)
}

impl Explanation {
    /// The explanation of `plot` (the text it was computed on) with each
    /// genre's words, their text and offsets counted in `unit`.
    pub fn report(&self, plot: &str, unit: OffsetUnit) -> Report {
        let offset = |byte: usize| match unit {
            OffsetUnit::Char => plot[..byte].chars().count(),
            OffsetUnit::Utf16 => plot[..byte].encode_utf16().count(),
        };
        let spans: Vec<(String, usize, usize)> = self
            .words
            .iter()
            .map(|w| (plot[w.clone()].to_string(), offset(w.start), offset(w.end)))
            .collect();
        Report {
            genres: self
                .genres
                .iter()
                .map(|g| GenreReport {
                    genre: g.genre.clone(),
                    probability: g.probability,
                    predicted: g.predicted,
                    words: spans
                        .iter()
                        .zip(&g.scores)
                        .map(|((word, start, end), &score)| WordScore {
                            word: word.clone(),
                            start: *start,
                            end: *end,
                            score,
                        })
                        .collect(),
                })
                .collect(),
            truncated: self.truncated,
        }
    }
}

/// `text` with the byte spans `removed` (sorted, not overlapping) cut out.
pub fn without(text: &str, removed: &[Range<usize>]) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut from = 0;
    for span in removed {
        kept.push_str(&text[from..span.start]);
        from = span.end;
    }
    kept.push_str(&text[from..]);
    kept
}

/// Byte spans of the words of `text` as a reader sees them: runs of letters
/// and digits, joined across an apostrophe or hyphen inside a word ("don't",
/// "sci-fi"); each CJK ideograph is a word of its own, as WordPiece splits
/// them. Punctuation, symbols and emoji are not words.
pub fn words(text: &str) -> Vec<Range<usize>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut spans = Vec::new();
    let mut start: Option<usize> = None;
    for (k, &(at, c)) in chars.iter().enumerate() {
        let end = at + c.len_utf8();
        if is_cjk(c) {
            if let Some(s) = start.take() {
                spans.push(s..at);
            }
            spans.push(at..end);
        } else if is_word_char(c) {
            start.get_or_insert(at);
        } else if start.is_some()
            && is_joiner(c)
            && chars
                .get(k + 1)
                .is_some_and(|&(_, next)| is_word_char(next) && !is_cjk(next))
        {
            // Inside a word: the next character continues it.
        } else if let Some(s) = start.take() {
            spans.push(s..at);
        }
    }
    if let Some(s) = start {
        spans.push(s..text.len());
    }
    spans
}

/// Letters, digits and combining marks (an accent typed as its own code point).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || ('\u{300}'..='\u{36f}').contains(&c)
}

/// Characters that join two parts of one word.
fn is_joiner(c: char) -> bool {
    matches!(c, '\'' | '’' | '-' | '‐')
}

/// The CJK ideograph blocks BERT's tokenizer splits into single characters.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}
