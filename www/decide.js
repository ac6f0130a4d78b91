// decide.js — the model's decision rules (src/labels.rs, `Thresholds::decide`) in
// JavaScript, so the threshold slider re-derives predicted genres from a classification the
// worker already returned, without the model. It reads the classification's genres in the
// library's order (most probable first, ties in label order): the most probable genre is
// the first, and a cap keeps the first ones, or with `capOrder` "margin" those furthest past
// their thresholds. A shift of 0 reproduces the model's own
// decisions exactly; tests/decide.rs checks that against Rust on every rule.

/** Whether the model's rule uses thresholds at all (single-label models take the top genre). */
export function hasThresholds(info) {
  return info.rule !== 'argmax';
}

/** Whether `genre` is held to its own threshold: always under a per-genre rule, and a rare genre's under a global one. */
export function ownThreshold(info, genre) {
  return info.rule.startsWith('per_label') || info.ownThresholdGenres.includes(genre);
}

/** The threshold `genre` is held to, moved by `shift` (clamped to [0, 1]). */
export function threshold(info, genre, shift) {
  const base = ownThreshold(info, genre)
    ? info.perLabelThresholds[info.labels.indexOf(genre)]
    : info.globalThreshold;
  return shift === 0 ? base : Math.min(1, Math.max(0, base + shift));
}

/** Whether `genre` (with `probability`) reaches its threshold moved by `shift`, or is the top one a `_top1` rule keeps. */
function passes(info, { genre, probability }, i, shift) {
  return probability >= threshold(info, genre, shift) || (info.rule.endsWith('_top1') && i === 0);
}

/** How far `genre` is past the threshold it is held to: what a "margin" cap keeps the most of. */
function margin(info, { genre, probability }, shift) {
  return probability - threshold(info, genre, shift);
}

/** Predicted flags for `genres` (a classification's, in its order) with thresholds moved by `shift`. */
export function decide(info, genres, shift) {
  if (!hasThresholds(info)) return genres.map((_, i) => i === 0);
  const passing = genres.map((g, i) => passes(info, g, i, shift));
  const picked = genres.map((_, i) => i).filter((i) => passing[i]);
  if (info.maxGenres == null || picked.length <= info.maxGenres) return passing;
  if (info.capOrder === 'margin') {
    // Equal margins keep label order, as Rust's stable sort over label order does.
    const label = (i) => info.labels.indexOf(genres[i].genre);
    const further = (a, b) => margin(info, genres[b], shift) - margin(info, genres[a], shift);
    picked.sort((a, b) => further(a, b) || label(a) - label(b));
  }
  const kept = new Set(picked.slice(0, info.maxGenres));
  return genres.map((_, i) => kept.has(i));
}

/**
 * Flags for `genres` that reach their threshold but are not predicted because the model
 * predicts at most `info.maxGenres` genres (the cap keeps the most probable ones, or those
 * furthest past their thresholds).
 */
export function capped(info, genres, shift) {
  const predicted = decide(info, genres, shift);
  return genres.map((g, i) => hasThresholds(info) && !predicted[i] && passes(info, g, i, shift));
}
