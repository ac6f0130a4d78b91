// bench.mjs — page side of `make bench-wasm`. On load it does what the product page does
// on a visit (init the wasm module, take the bundle from the Cache API or fetch and store
// it, load it, classify one plot) and records when the first result was ready, in ms since
// the navigation started. The driver then calls window.benchRun(texts) to time classify()
// one plot at a time on the main thread (the worker adds no compute).
//
//   await window.benchStart -> { firstResultMs, fromCache, phasesMs: {init, bundle, load, classify} }
//   await window.benchRun(texts, explainText) -> { latenciesMs: number[], explainMs: number[], wasmMemoryBytes }

import init, { Classifier } from '/pkg/plotgenre.js';
import { cachedBytes } from './cached-bytes.mjs';

const CACHE = 'plotgenre-bench';
const params = new URLSearchParams(location.search);

let wasm;
let classifier;

window.benchStart = (async () => {
  const marks = [performance.now()];
  wasm = await init();
  marks.push(performance.now());
  const { bytes, fromCache } = await cachedBytes(params.get('bundle'), CACHE);
  marks.push(performance.now());
  classifier = Classifier.load(bytes);
  marks.push(performance.now());
  classifier.classify(params.get('first') ?? '');
  marks.push(performance.now());
  const [init_, bundle, load, classify] = marks.slice(1).map((t, i) => t - marks[i]);
  return {
    firstResultMs: marks[4],
    fromCache,
    phasesMs: { pageStart: marks[0], init: init_, bundle, load, classify },
  };
})();

window.benchRun = async (texts, explainText) => {
  await window.benchStart;
  const latenciesMs = [];
  for (const text of texts) {
    const start = performance.now();
    classifier.classify(text);
    latenciesMs.push(performance.now() - start);
  }
  const explainMs = [];
  for (let i = 0; i < 5; i += 1) {
    const start = performance.now();
    classifier.explain(explainText);
    explainMs.push(performance.now() - start);
  }
  return { latenciesMs, explainMs, wasmMemoryBytes: wasm.memory.buffer.byteLength };
};
