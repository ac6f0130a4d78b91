// ours.mjs — the plotgenre side of `make bench-peer`, page half: starts ours-worker.mjs with
// the page's query and turns its messages into the side interface peer.mjs times (each call
// includes one message round trip, as on the product page).

/** Start the worker's build and bundle; the side's calls then run there. */
export async function start(params) {
  const worker = new Worker(new URL(`./ours-worker.mjs?${params}`, import.meta.url), { type: 'module' });
  const pending = new Map();
  let next = 0;
  worker.addEventListener('message', ({ data: { id, result, error } }) => {
    const { resolve, reject } = pending.get(id);
    pending.delete(id);
    if (error === undefined) resolve(result); else reject(new Error(error));
  });
  const ask = (type, args = {}) => new Promise((resolve, reject) => {
    next += 1;
    pending.set(next, { resolve, reject });
    worker.postMessage({ id: next, type, ...args });
  });
  const { fromCache, threads, relaxedSimd } = await ask('start');
  return {
    fromCache,
    threads,
    relaxedSimd,
    first: () => ask('first'),
    classifyOne: ({ texts }) => ask('classifyOne', { texts }),
    classifyBatch: ({ texts }) => ask('classifyBatch', { texts }),
  };
}
