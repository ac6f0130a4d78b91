// worker.js — owns the wasm Classifier, so tokenization and inference never run on the
// page's thread. Requests are { id, type, ...args }; every reply carries the request's id
// and a status: 'progress' (any number), then 'done' with a result or 'error' with
// { kind, message }.

import { ModelError, evict, loadBundle } from './model-store.js';
import { startWasm } from './wasm-build.js';

/** Rows per classifyBatch call: small enough to report progress and honour a cancel often. */
const BATCH_CHUNK = 8;
/** Model inputs per explainer step and thread (each is the plot less one word): a step is
 * then about 0.1 s of work, and every thread of the pool has inputs of its own. */
const EXPLAIN_STEP_PER_THREAD = 3;
const base = new URL('./', self.location.href).href;

let model = null;
let module = null;
const cancelled = new Set();

/** The started wasm module (once; a failed start is forgotten so that a retry starts over). */
function wasm() {
  module ??= startWasm().catch((error) => {
    module = null;
    throw new ModelError('download', `The WebAssembly module could not be loaded (${error.message}).`);
  });
  return module;
}

/** Loads the model once; a failed load is forgotten so that a retry starts over. */
function loadModel(progress) {
  model ??= (async () => {
    // The module (and its thread pool) starts while the bundle downloads or is read back.
    const [{ Classifier }, { bytes, payloadVerified, manifest, stored, warning, card }] = await Promise.all([
      wasm(),
      loadBundle(base, (received, total) => progress({ stage: 'download', received, total })),
    ]);
    progress({ stage: 'load' });
    let classifier;
    try {
      classifier = Classifier.load(bytes, { payloadVerified, releaseBytes: true });
    } catch (error) {
      await evict(base, manifest.sha256);
      throw new ModelError('corrupt', `The model file is damaged: ${error.message}.`);
    }
    return { classifier, info: { ...classifier.info(), manifest, stored, warning, card } };
  })();
  model.catch(() => { model = null; });
  return model;
}

/** Lets queued messages (a cancel among them) in, then stops request `id` if it was cancelled. */
async function checkpoint(id) {
  await new Promise((resolve) => setTimeout(resolve, 0));
  if (cancelled.delete(id)) throw new ModelError('cancelled', 'Cancelled.');
}

async function classifyRows({ texts, titles }, { id, progress }) {
  const { classifier } = await loadModel(progress);
  const results = [];
  for (let start = 0; start < texts.length; start += BATCH_CHUNK) {
    const end = Math.min(start + BATCH_CHUNK, texts.length);
    results.push(...classifier.classifyBatch(texts.slice(start, end), { titles: titles?.slice(start, end) }));
    progress({ stage: 'rows', done: end, total: texts.length });
    await checkpoint(id);
  }
  return results;
}

/** Word scores of one plot for `genre`, computed in steps so that a cancel stops it early. */
async function explain({ text, title, genre }, { id, progress }) {
  const { classifier, info } = await loadModel(progress);
  const explainer = classifier.explainer(text, { title, genre });
  try {
    while (!explainer.step(EXPLAIN_STEP_PER_THREAD * info.threads)) {
      progress({ stage: 'explain', done: explainer.progress() });
      await checkpoint(id);
    }
    return explainer.result();
  } finally {
    explainer.free();
  }
}

const handlers = {
  async load(_, { progress }) {
    return (await loadModel(progress)).info;
  },
  async classify({ text, title }, { progress }) {
    const { classifier } = await loadModel(progress);
    return classifier.classify(text, { title });
  },
  classifyRows,
  explain,
  async parseCsv({ bytes }) {
    return (await wasm()).parseCsv(bytes);
  },
  async writeCsv({ rows }) {
    return (await wasm()).writeCsv(rows);
  },
  cancel({ target }) {
    cancelled.add(target);
  },
};

self.addEventListener('message', async ({ data }) => {
  const { id, type, ...args } = data;
  const progress = (detail) => self.postMessage({ id, status: 'progress', ...detail });
  try {
    const result = await handlers[type](args, { id, progress });
    self.postMessage({ id, status: 'done', result });
  } catch (error) {
    self.postMessage({ id, status: 'error', kind: error.kind ?? 'internal', message: error.message });
  }
});
