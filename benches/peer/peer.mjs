// peer.mjs — page side of `make bench-peer`: one side (`?side=ours`: plotgenre, text in;
// `?side=ort`: ONNX Runtime Web, token ids in) starts as a visitor's page would, shows its
// first result, and the driver then times single plots and batches of 16.
//
//   await window.benchStart -> { firstResultMs, startMs, fromCache, threads, relaxedSimd }
//     firstResultMs: navigation start to the first result on screen;
//     startMs: the side's own start, its code loaded (wasm init or session creation, model
//              bytes included), to the first result
//   await window.benchRun({ texts, ids }, batchSize) -> { latenciesMs: number[], batchMs: number[] }

const params = new URLSearchParams(location.search);
// Imported on demand: one side's page never loads the other's code.
const SIDES = { ours: () => import('./ours.mjs'), ort: () => import('./ort.mjs') };

let side;

/** Start the named side as a visit would and show its first result. */
async function startSide(name) {
  const load = SIDES[name];
  if (!load) throw new Error(`unknown side ${name}`);
  const { start } = await load();
  const begin = performance.now();
  side = await start(params);
  const first = await side.first();
  document.getElementById('first-result').textContent = first;
  const shown = performance.now();
  const { fromCache, threads, relaxedSimd } = side;
  return { firstResultMs: shown, startMs: shown - begin, fromCache, threads, relaxedSimd };
}

// Without ?side= the page only serves run.mjs's probe (cores, isolation).
window.benchStart = params.has('side') ? startSide(params.get('side')) : null;

/** Milliseconds each call of `work` takes, over `items`. */
async function timeEach(items, work) {
  const times = [];
  for (const item of items) {
    const begin = performance.now();
    await work(item);
    times.push(performance.now() - begin);
  }
  return times;
}

/** `items` cut into runs of `size` (the last one may be shorter). */
function batches(items, size) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

window.benchRun = async (inputs, batchSize) => {
  await window.benchStart;
  const indices = inputs.texts.map((_, i) => i);
  const pick = (chosen) => ({ texts: chosen.map((i) => inputs.texts[i]), ids: chosen.map((i) => inputs.ids[i]) });
  const latenciesMs = await timeEach(indices, (i) => side.classifyOne(pick([i])));
  const batchMs = await timeEach(batches(indices, batchSize), (chosen) => side.classifyBatch(pick(chosen)));
  return { latenciesMs, batchMs };
};
