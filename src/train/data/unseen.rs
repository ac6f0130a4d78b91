//! Unseen-title subsets (EVALUATION.md): the evaluation rows whose title is
//! not among the training titles and whose plot has no near-duplicate among
//! the training plots. They measure what generalises: the scrapes share
//! series titles and reworded plots across their splits, which rewards
//! memory on the whole splits.
//!
//! Two plots are near-duplicates when, as case-folded words (runs of letters
//! and digits), their similarity 2·M / (a + b) is at least 0.8, with M the
//! words a longest common subsequence keeps (the `similar` crate's Myers
//! diff; a and b the word counts), or when they share a run of
//! [`SHARED_RUN`] consecutive words. Only candidates that can reach 0.8 are
//! compared: a prefix filter over the words, rarest first, finds every pair
//! whose shared word count allows it (the pair must share one of the rarest
//! third of each plot's words), then the shared count itself, then the diff.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use similar::{capture_diff_slices, Algorithm, DiffOp};

use super::dataset::{fnv1a64, Example};

/// Near-duplicate plots reach this similarity or more: 4/5.
pub const NEAR_RATIO: (usize, usize) = (4, 5);
/// Near-duplicate plots may instead share this many consecutive words.
pub const SHARED_RUN: usize = 12;

/// A title as titles are compared: case folded, a trailing "(YEAR)"
/// removed, punctuation removed, spaces collapsed; `None` when nothing is left.
pub fn title_key(title: &str) -> Option<String> {
    let folded = title.to_lowercase();
    let kept: String = strip_year(&folded)
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect();
    let key = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    (!key.is_empty()).then_some(key)
}

/// `title` without a trailing "(YEAR)" (four digits in brackets).
fn strip_year(title: &str) -> &str {
    let trimmed = title.trim_end();
    let Some(inside) = trimmed.strip_suffix(')') else {
        return trimmed;
    };
    match inside.rfind('(') {
        Some(open)
            if inside.len() - open == 5
                && inside[open + 1..].chars().all(|c| c.is_ascii_digit()) =>
        {
            inside[..open].trim_end()
        }
        _ => trimmed,
    }
}

/// The case-folded words of a plot: runs of letters and digits.
pub fn plot_words(plot: &str) -> Vec<String> {
    plot.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether two plots (as word ids) are at least [`NEAR_RATIO`] similar.
pub fn similar_words(a: &[u32], b: &[u32]) -> bool {
    let matched: usize = capture_diff_slices(Algorithm::Myers, a, b)
        .iter()
        .map(|op| match op {
            DiffOp::Equal { len, .. } => *len,
            _ => 0,
        })
        .sum();
    reaches_ratio(matched, a.len() + b.len())
}

/// Whether `matched` shared words of `total` words in two plots reach [`NEAR_RATIO`].
fn reaches_ratio(matched: usize, total: usize) -> bool {
    let (num, den) = NEAR_RATIO;
    total > 0 && 2 * matched * den >= num * total
}

/// How many of a plot's tokens (rarest first) must be indexed or probed so
/// that every plot it could be near shares one of them: n - ceil(2n/3) + 1.
fn prefix_length(n: usize) -> usize {
    (n + 1 - (2 * n).div_ceil(3)).min(n)
}

/// A word's k-th occurrence in a plot: word sets with repeats.
fn token(word: u32, occurrence: usize) -> u64 {
    (u64::from(word) << 16) | occurrence.min(0xffff) as u64
}

/// The tokens of a plot's word ids, sorted.
fn tokens(words: &[u32]) -> Vec<u64> {
    let mut seen: HashMap<u32, usize> = HashMap::new();
    let mut out: Vec<u64> = words
        .iter()
        .map(|&w| {
            let k = seen.entry(w).or_default();
            *k += 1;
            token(w, *k)
        })
        .collect();
    out.sort_unstable();
    out
}

/// How many tokens two sorted token lists share.
fn shared_tokens(a: &[u64], b: &[u64]) -> usize {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared
}

/// The hash of each run of [`SHARED_RUN`] consecutive word ids.
fn run_hashes(words: &[u32]) -> impl Iterator<Item = u64> + '_ {
    words.windows(SHARED_RUN).map(|run| {
        let bytes: Vec<u8> = run.iter().flat_map(|w| w.to_le_bytes()).collect();
        fnv1a64(&bytes)
    })
}

/// The training rows, indexed to answer "is this row unseen?" quickly.
pub struct SeenIndex {
    titles: HashSet<String>,
    vocabulary: HashMap<String, u32>,
    plots: Vec<Vec<u32>>,
    tokens: Vec<Vec<u64>>,
    /// How many training plots hold each token.
    frequency: HashMap<u64, usize>,
    /// The training plots whose prefix (rarest tokens) holds each token.
    postings: HashMap<u64, Vec<u32>>,
    runs: HashSet<u64>,
}

impl SeenIndex {
    /// Indexes the titles and plots of `train` (every training split used).
    pub fn new(train: &[Example]) -> Self {
        let titles = train.iter().filter_map(|e| e.title().and_then(title_key));
        let mut index = SeenIndex {
            titles: titles.collect(),
            vocabulary: HashMap::new(),
            plots: Vec::with_capacity(train.len()),
            tokens: Vec::with_capacity(train.len()),
            frequency: HashMap::new(),
            postings: HashMap::new(),
            runs: HashSet::new(),
        };
        for example in train {
            let words: Vec<u32> = plot_words(&example.plot)
                .into_iter()
                .map(|w| {
                    let next = index.vocabulary.len() as u32;
                    *index.vocabulary.entry(w).or_insert(next)
                })
                .collect();
            index.runs.extend(run_hashes(&words));
            let tokens = tokens(&words);
            for &t in &tokens {
                *index.frequency.entry(t).or_default() += 1;
            }
            index.plots.push(words);
            index.tokens.push(tokens);
        }
        for (plot, tokens) in index.tokens.iter().enumerate() {
            for t in index.prefix(tokens) {
                index.postings.entry(t).or_default().push(plot as u32);
            }
        }
        index
    }

    /// The rarest tokens of a plot, as many as [`prefix_length`] says.
    fn prefix(&self, tokens: &[u64]) -> Vec<u64> {
        let mut ordered = tokens.to_vec();
        ordered.sort_unstable_by_key(|t| (self.frequency.get(t).copied().unwrap_or(0), *t));
        ordered.truncate(prefix_length(tokens.len()));
        ordered
    }

    /// Whether `example` is unseen: its title is not a training title and
    /// its plot is near no training plot.
    pub fn is_unseen(&self, example: &Example) -> bool {
        if example
            .title()
            .and_then(title_key)
            .is_some_and(|key| self.titles.contains(&key))
        {
            return false;
        }
        let unknown = self.vocabulary.len() as u32;
        let words: Vec<u32> = plot_words(&example.plot)
            .iter()
            .enumerate()
            .map(|(i, w)| {
                self.vocabulary
                    .get(w)
                    .copied()
                    .unwrap_or(unknown + i as u32)
            })
            .collect();
        if run_hashes(&words).any(|h| self.runs.contains(&h)) {
            return false;
        }
        let tokens = tokens(&words);
        let mut compared = HashSet::new();
        for t in self.prefix(&tokens) {
            for &plot in self.postings.get(&t).into_iter().flatten() {
                let train = plot as usize;
                if compared.insert(plot)
                    && reaches_ratio(
                        shared_tokens(&tokens, &self.tokens[train]),
                        tokens.len() + self.tokens[train].len(),
                    )
                    && similar_words(&words, &self.plots[train])
                {
                    return false;
                }
            }
        }
        true
    }

    /// [`SeenIndex::is_unseen`] of every row of `examples`.
    pub fn unseen(&self, examples: &[Example]) -> Vec<bool> {
        examples.par_iter().map(|e| self.is_unseen(e)).collect()
    }
}
