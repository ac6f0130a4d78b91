//! The order training sees its examples in: shuffled every epoch from the
//! seed, grouped by length so each batch pads little, and perturbed by word
//! dropout. Everything derives from `(seed, epoch)`, so a resumed run
//! replays exactly the batches the interrupted one would have seen.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Batches per length bucket: examples are sorted by length within windows
/// of this many batches, which keeps padding low but the order random.
const BUCKET_BATCHES: usize = 50;

/// A generator for one purpose of one epoch, independent of every other.
fn rng_for(seed: u64, epoch: usize, purpose: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(purpose.wrapping_mul(1 << 32) ^ epoch as u64);
    rng
}

/// Indexes into the training set, cut into batches of at most `batch_size`,
/// for epoch `epoch`; `lengths` are token counts of the examples.
pub fn epoch_batches(
    lengths: &[usize],
    batch_size: usize,
    seed: u64,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut rng = rng_for(seed, epoch, 1);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.shuffle(&mut rng);
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for window in order.chunks_mut(batch_size * BUCKET_BATCHES) {
        window.sort_by_key(|&i| lengths[i]);
        batches.extend(window.chunks(batch_size).map(<[usize]>::to_vec));
    }
    batches.shuffle(&mut rng);
    batches
}

/// `text` with each word (whitespace-separated) dropped with probability
/// `p`, never all of them; the draw depends only on `(seed, epoch, index)`.
pub fn word_dropout(text: &str, p: f64, seed: u64, epoch: usize, index: usize) -> String {
    if p <= 0.0 {
        return text.to_string();
    }
    let mut rng = rng_for(seed, epoch, 2 + index as u64);
    let words: Vec<&str> = text.split_whitespace().collect();
    let kept: Vec<&str> = words
        .iter()
        .copied()
        .filter(|_| !rng.random_bool(p.min(1.0)))
        .collect();
    if kept.is_empty() {
        text.to_string()
    } else {
        kept.join(" ")
    }
}
