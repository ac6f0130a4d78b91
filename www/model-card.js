// model-card.js — fills the model card panel from the loaded bundle's info() and manifest,
// in words a visitor reads without the build behind it: what the model is, which version,
// how big, what it was trained on, how it decides and how it scored. The full card
// (MODEL_CARD.md) opens in a dialog: card-dialog.js.

import { openCardDialog } from './card-dialog.js';
import { element as cell } from './dom.js';
import { list, megabytes } from './format.js';

const percent = (p) => `${Math.round(p * 100)}%`;

function row(term, value) {
  return [cell('dt', term), cell('dd', value)];
}

/** The metrics the model card reports, most telling first, each named for a visitor. */
const HEADLINE = new Map([
  ['micro_f1', 'F1 over all genre decisions (micro F1)'],
  ['weighted_f1', 'F1 weighted by how common each genre is'],
  ['macro_f1', 'F1 averaged over genres, rare ones counting as much (macro F1)'],
  ['subset_accuracy', 'Plots given exactly their genres'],
  ['label_accuracy', 'Genre decisions that are right (label accuracy)'],
  ['macro_roc_auc', 'How well probabilities rank genres (ROC AUC)'],
  ['accuracy', 'Plots given their genre (accuracy)'],
]);

/** A weight format as a visitor reads it: `q4_0` is "4-bit". */
function bits(quantization) {
  const width = /^[qf](\d+)/.exec(quantization)?.[1];
  return width ? `${width}-bit` : quantization;
}

/** The training sets by name: each is named by its folder, not by a build path. */
function datasets(trainingData) {
  const names = String(trainingData ?? '').split(/\s*[+,;]\s*/).filter(Boolean).map((source) => {
    const parts = source.split(/[\\/]/).filter((part) => part && part !== '..' && part !== '.');
    return parts.length > 1 ? parts[parts.length - 2] : parts[0];
  });
  return names.length ? list(names) : 'not recorded';
}

/** How the model turns probabilities into genres, in words, with its cap. */
function decisionRule(info) {
  const top = ', and always at least the most probable genre';
  const global = info.ownThresholdGenres.length
    ? `a genre counts from ${percent(info.globalThreshold)}, except ${list(info.ownThresholdGenres)}: rare genres with their own threshold`
    : `a genre counts from ${percent(info.globalThreshold)}, one threshold for all genres`;
  const rule = {
    global,
    global_top1: `${global}${top}`,
    per_label: 'a genre counts from its own threshold',
    per_label_top1: `a genre counts from its own threshold${top}`,
    argmax: 'the most probable genre',
  }[info.rule] ?? info.rule;
  const kept = info.capOrder === 'margin' ? ', those furthest past their thresholds' : '';
  return info.maxGenres ? `${rule}; at most ${info.maxGenres} genres per plot${kept}` : rule;
}

function genreCount(info) {
  if (info.task === 'single_label') return `${info.labels.length}, one per plot`;
  return `${info.labels.length}, ${info.maxGenres ? `at most ${info.maxGenres}` : 'any number'} per plot`;
}

const formatValue = (value) => (typeof value !== 'number' ? String(value)
  : Number.isInteger(value) ? value.toLocaleString('en') : value.toFixed(3));

/** A column of figures named for the model measured: the page runs the quantized bundle. */
function variantName(name, info) {
  if (name === 'f32') return 'Full precision';
  if (name === 'value' || name === 'bundle' || name === info.quantization) return `This page's model (${bits(info.quantization)} weights)`;
  return name;
}

/** The caption: what the figures were measured on, and on which model against this page's. */
function metricsCaption(scalars, columns, info) {
  const values = Object.fromEntries(scalars);
  const rows = typeof values.rows === 'number' ? `${formatValue(values.rows)} ` : '';
  const split = values.split ? `${String(values.split).replaceAll('_', ' ')} ` : '';
  const measured = `Measured on ${rows}${split}plots the model never saw in training`;
  const quantized = !columns.some(([name]) => variantName(name, info).startsWith("This page's"));
  return quantized
    ? `${measured}, before its weights were rounded to ${bits(info.quantization)}: this page runs the ${bits(info.quantization)} version, which the full model card measures too.`
    : `${measured}.`;
}

/**
 * Fills the metrics table from provenance.metrics, whatever its shape: numbers at the top
 * level (the bundle's own figures), or one object of numbers per evaluated variant (one
 * column each, such as f32). The other top-level values (split, rows) make the caption.
 */
function showMetrics(table, metrics, info) {
  const entries = Object.entries(metrics ?? {});
  const nested = entries.filter(([, value]) => value && typeof value === 'object');
  const columns = nested.length ? nested : [['value', metrics ?? {}]];
  const all = [...new Set(columns.flatMap(([, m]) => Object.keys(m).filter((k) => typeof m[k] === 'number')))];
  const headline = [...HEADLINE.keys()].filter((name) => all.includes(name));
  const names = headline.length ? headline : all;
  const header = document.createElement('tr');
  header.append(cell('th', 'Figure'), ...columns.map(([name]) => cell('th', variantName(name, info))));
  for (const th of header.cells) th.scope = 'col';
  table.tHead.replaceChildren(header);
  table.tBodies[0].replaceChildren(...names.map((name) => {
    const tr = document.createElement('tr');
    const th = cell('th', HEADLINE.get(name) ?? name.replaceAll('_', ' '));
    th.scope = 'row';
    tr.append(th, ...columns.map(([, m]) => cell('td', m[name] === undefined ? '' : formatValue(m[name]))));
    return tr;
  }));
  const scalars = entries.filter(([, value]) => value === null || typeof value !== 'object');
  table.caption.textContent = metricsCaption(scalars, columns, info);
}

/** Renders `info` (a worker load result) into the card list, metrics table and dialog link. */
export function showModelCard({ card, metrics, link }, info) {
  const { provenance, manifest } = info;
  const created = provenance.created ? new Date(provenance.created) : null;
  card.replaceChildren(
    ...row('Model', `${provenance.baseModel}, fine-tuned for movie genres`),
    ...row('Version', `${manifest.sha256.slice(0, 12)}${created && !Number.isNaN(created.getTime()) ? `, built ${created.toISOString().slice(0, 10)}` : ''}`),
    ...row('Size', `${megabytes(info.sizeBytes)} (${bits(info.quantization)} weights)`),
    ...row('Training data', datasets(provenance.trainingData)),
    ...row('Genres', genreCount(info)),
    ...row('Decision rule', decisionRule(info)),
    ...row('Works offline', info.stored ? 'yes, stored in this browser' : 'no'),
  );
  showMetrics(metrics, provenance.metrics, info);
  link.hidden = !info.card;
  link.querySelector('button').onclick = () => openCardDialog(info.card);
}
