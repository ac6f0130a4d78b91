// decide.js — the model's decision rules (src/labels.rs, `Thresholds::decide`) in
// JavaScript, so the threshold slider re-derives predicted genres from probabilities the
// worker already returned. A shift of 0 reproduces the model's own decisions exactly.

/** Whether the model's rule uses thresholds at all (single-label models take the top genre). */
export function hasThresholds(info) {
  return info.rule !== 'argmax';
}

/** Per-genre thresholds, in label order, with every one moved by `shift` (clamped to [0, 1]). */
export function thresholds(info, shift) {
  const perLabel = info.rule.startsWith('per_label');
  return info.labels.map((_, i) => {
    const base = perLabel ? info.perLabelThresholds[i] : info.globalThreshold;
    return shift === 0 ? base : Math.min(1, Math.max(0, base + shift));
  });
}

/** Predicted flags, in label order, for probabilities in label order. */
export function decide(info, probabilities, shift) {
  const top = probabilities.reduce((best, p, i) => (p > probabilities[best] ? i : best), 0);
  if (!hasThresholds(info)) return probabilities.map((_, i) => i === top);
  const atLeastTop = info.rule.endsWith('_top1');
  const flags = thresholds(info, shift).map((t, i) => probabilities[i] >= t || (atLeastTop && i === top));
  const picked = flags.flatMap((flag, i) => (flag ? [i] : []));
  if (info.maxGenres != null && picked.length > info.maxGenres) {
    // Keep the most probable; a stable sort breaks ties by label order, as Rust does.
    picked.sort((a, b) => probabilities[b] - probabilities[a]);
    for (const i of picked.slice(info.maxGenres)) flags[i] = false;
  }
  return flags;
}
