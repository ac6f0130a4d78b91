// decide.js — the model's decision rules (src/labels.rs, `Thresholds::decide`) in
// JavaScript, so the threshold slider re-derives predicted genres from a classification the
// worker already returned, without the model. It reads the classification's genres in the
// library's order (most probable first, ties in label order): the most probable genre is
// the first, and a cap keeps the first ones. A shift of 0 reproduces the model's own
// decisions exactly; tests/decide.rs checks that against Rust on every rule.

/** Whether the model's rule uses thresholds at all (single-label models take the top genre). */
export function hasThresholds(info) {
  return info.rule !== 'argmax';
}

/** The threshold `genre` is held to, moved by `shift` (clamped to [0, 1]). */
export function threshold(info, genre, shift) {
  const base = info.rule.startsWith('per_label')
    ? info.perLabelThresholds[info.labels.indexOf(genre)]
    : info.globalThreshold;
  return shift === 0 ? base : Math.min(1, Math.max(0, base + shift));
}

/** Predicted flags for `genres` (a classification's, in its order) with thresholds moved by `shift`. */
export function decide(info, genres, shift) {
  if (!hasThresholds(info)) return genres.map((_, i) => i === 0);
  const atLeastTop = info.rule.endsWith('_top1');
  let kept = 0;
  return genres.map((g, i) => (g.probability >= threshold(info, g.genre, shift) || (atLeastTop && i === 0))
    && (info.maxGenres == null || ++kept <= info.maxGenres));
}
