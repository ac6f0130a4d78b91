// format.js — the page's few ways of writing numbers in English: a count with its noun in
// the right number ("1 row", "2 rows"), a probability as a percentage, a duration, a size,
// a list ("a, b, and c").

/** "1 row" or "N rows" (thousands grouped): `noun` is the singular, `plural` its plural. */
export function count(n, noun, plural = `${noun}s`) {
  return `${n.toLocaleString('en')} ${n === 1 ? noun : plural}`;
}

/** A probability as a percentage, with one decimal under 10%. */
export function percent(p) {
  return `${(p * 100).toFixed(p < 0.1 ? 1 : 0)}%`;
}

/** How long something took: "14 ms", or "1.2 s" from a second on. */
export function duration(ms) {
  return ms < 1000 ? `${Math.max(1, Math.round(ms))} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A download or model size in megabytes: "13.8 MB". */
export function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Names joined as English writes a list: "a", "a and b", "a, b, and c". */
export function list(names) {
  return new Intl.ListFormat('en', { style: 'long', type: 'conjunction' }).format(names);
}
