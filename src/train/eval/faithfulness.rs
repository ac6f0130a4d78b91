//! Whether explanations point at the words the model really uses: for each
//! plot and its most probable genre, removing the highest-scored words must
//! lower that genre's probability more than removing as many random words.

use std::ops::Range;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::explain::{self, GenreChoice};
use crate::pipeline::Pipeline;
use crate::Result;

/// How the check removes words.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Words removed per plot (the top-scored ones, or random ones).
    pub removed: usize,
    /// Random draws averaged per plot.
    pub draws: usize,
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            removed: 3,
            draws: 5,
            seed: 42,
        }
    }
}

/// The outcome over a set of plots.
#[derive(Debug, Clone, Serialize)]
pub struct Faithfulness {
    /// Plots checked (those with more words than `removed`).
    pub plots: usize,
    /// Plots where the top words' removal lowered the genre's probability
    /// more than the random words' (mean over the draws).
    pub wins: usize,
    /// Mean probability drop when the top-scored words are removed.
    pub mean_top_drop: f64,
    /// Mean probability drop when random words are removed.
    pub mean_random_drop: f64,
}

impl Faithfulness {
    /// Share of plots won.
    pub fn win_rate(&self) -> f64 {
        self.wins as f64 / self.plots.max(1) as f64
    }
}

/// Runs the check on `plots` (each an optional title and a plot).
pub fn check(
    pipeline: &Pipeline,
    plots: &[(Option<&str>, &str)],
    settings: Settings,
) -> Result<Faithfulness> {
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut outcome = Faithfulness {
        plots: 0,
        wins: 0,
        mean_top_drop: 0.0,
        mean_random_drop: 0.0,
    };
    for &(title, plot) in plots {
        let explanation = explain::explain(pipeline, title, plot, GenreChoice::All)?;
        let words = &explanation.words;
        if words.len() <= settings.removed {
            continue;
        }
        // Every genre, most probable first.
        let Some(genre) = explanation.genres.first() else {
            continue;
        };
        let Some(label) = pipeline.labels.iter().position(|l| *l == genre.genre) else {
            continue;
        };
        let mut by_score: Vec<usize> = (0..words.len()).collect();
        by_score.sort_by(|&a, &b| genre.scores[b].total_cmp(&genre.scores[a]));
        let mut removals = vec![pick(words, &by_score[..settings.removed])];
        let mut order: Vec<usize> = (0..words.len()).collect();
        for _ in 0..settings.draws {
            order.shuffle(&mut rng);
            removals.push(pick(words, &order[..settings.removed]));
        }
        let inputs: Vec<String> = removals
            .iter()
            .map(|spans| crate::tokenize::model_input(title, &explain::without(plot, spans)))
            .collect();
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let drops: Vec<f64> = pipeline
            .probabilities(&refs)?
            .iter()
            .map(|row| f64::from(genre.probability - row[label]))
            .collect();
        let top_drop = drops[0];
        let random_drop = drops[1..].iter().sum::<f64>() / settings.draws.max(1) as f64;
        outcome.plots += 1;
        outcome.wins += usize::from(top_drop > random_drop);
        outcome.mean_top_drop += top_drop;
        outcome.mean_random_drop += random_drop;
    }
    let n = outcome.plots.max(1) as f64;
    outcome.mean_top_drop /= n;
    outcome.mean_random_drop /= n;
    Ok(outcome)
}

/// The spans of the chosen word indices, in text order.
fn pick(words: &[Range<usize>], chosen: &[usize]) -> Vec<Range<usize>> {
    let mut spans: Vec<Range<usize>> = chosen.iter().map(|&i| words[i].clone()).collect();
    spans.sort_by_key(|span| span.start);
    spans
}
