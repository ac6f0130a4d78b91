// wasm-build.js — its one job: start the wasm build this page can run best. A cross-origin
// isolated page (SharedArrayBuffer allowed: `make serve`, or any host from the second visit
// on, when sw.js serves the page) gets the threaded build, whose kernels run on a pool of one
// Web Worker per core; any other page, or one whose pool does not start, the single-thread
// build. Both have the same API and give the same results.

/** How long the pool's workers may take to start before the single-thread build is used. */
const POOL_START_MS = 20_000;

/** Rejects after `ms`, so that a pool that never starts does not hang the page. */
function deadline(ms) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms));
}

/** The threaded build with its pool started, or null where it cannot run here. */
async function threaded() {
  if (!self.crossOriginIsolated) return null;
  try {
    const pkg = await import('./pkg/threads/plotgenre.js');
    await pkg.default();
    await Promise.race([pkg.initThreadPool(navigator.hardwareConcurrency || 1), deadline(POOL_START_MS)]);
    return pkg;
  } catch (error) {
    console.warn(`plotgenre: the threaded build did not start (${error.message}); using one thread.`);
    return null;
  }
}

/** The started module: `Classifier`, `parseCsv`, `writeCsv`, as pkg/plotgenre.js exports them. */
export async function startWasm() {
  const pool = await threaded();
  if (pool) return pool;
  const single = await import('./pkg/plotgenre.js');
  await single.default();
  return single;
}
