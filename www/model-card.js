// model-card.js — fills the model card panel from the loaded bundle's info() and manifest:
// what the model is, which version, how big, what it was trained on and how it scored.

import { element as cell } from './dom.js';

const megabytes = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

function row(term, value) {
  return [cell('dt', term), cell('dd', value)];
}

/** The metrics the model card reports; the table shows these when the model has them. */
const HEADLINE = ['micro_f1', 'weighted_f1', 'macro_f1', 'subset_accuracy', 'label_accuracy', 'macro_roc_auc', 'accuracy'];

const formatValue = (value) => (typeof value !== 'number' ? String(value)
  : Number.isInteger(value) ? value.toLocaleString('en') : value.toFixed(3));

/**
 * Fills the metrics table from provenance.metrics, whatever its shape: numbers at the top
 * level, or one object of numbers per evaluated variant (one column each, such as f32).
 * Other top-level values (split, rows, rule) go in the caption.
 */
function showMetrics(table, metrics) {
  const entries = Object.entries(metrics ?? {});
  const nested = entries.filter(([, value]) => value && typeof value === 'object');
  const columns = nested.length ? nested : [['value', metrics ?? {}]];
  const all = [...new Set(columns.flatMap(([, m]) => Object.keys(m).filter((k) => typeof m[k] === 'number')))];
  const headline = HEADLINE.filter((name) => all.includes(name));
  const names = headline.length ? headline : all;
  const header = document.createElement('tr');
  header.append(cell('th', 'metric'), ...columns.map(([name]) => cell('th', name)));
  for (const th of header.cells) th.scope = 'col';
  table.tHead.replaceChildren(header);
  table.tBodies[0].replaceChildren(...names.map((name) => {
    const tr = document.createElement('tr');
    const th = cell('th', name.replaceAll('_', ' '));
    th.scope = 'row';
    tr.append(th, ...columns.map(([, m]) => cell('td', m[name] === undefined ? '' : formatValue(m[name]))));
    return tr;
  }));
  const scalars = entries.filter(([, value]) => value === null || typeof value !== 'object');
  table.caption.textContent = nested.length
    ? scalars.map(([key, value]) => `${key.replaceAll('_', ' ')}: ${formatValue(value)}`).join(' · ')
    : '';
}

/** Renders `info` (a worker load result) into the card list, metrics table and link. */
export function showModelCard({ card, metrics, link }, info) {
  const { provenance, manifest } = info;
  const created = provenance.created ? new Date(provenance.created) : null;
  card.replaceChildren(
    ...row('Model', `${provenance.baseModel}, fine-tuned for movie genres`),
    ...row('Version', `${manifest.sha256.slice(0, 12)}${created && !Number.isNaN(created.getTime()) ? `, built ${created.toISOString().slice(0, 10)}` : ''}`),
    ...row('Size', `${megabytes(info.sizeBytes)} (${info.quantization} weights)`),
    ...row('Training data', provenance.trainingData),
    ...row('Genres', `${info.labels.length}, ${info.task === 'single_label' ? 'one per plot' : 'any number per plot'}`),
    ...row('Decision rule', info.rule.replaceAll('_', ' ')),
    ...row('Stored for offline use', info.stored ? 'yes' : 'no'),
  );
  showMetrics(metrics, provenance.metrics);
  link.hidden = !manifest.card;
}
