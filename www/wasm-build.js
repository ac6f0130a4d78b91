// wasm-build.js — its one job: start the wasm build this page can run best. A cross-origin
// isolated page (SharedArrayBuffer allowed: `make serve`, or any host from the second visit
// on, when sw.js serves the page) gets the threaded build, whose kernels run on a pool of one
// Web Worker per core; any other page, or one whose pool does not start, the single-thread
// build. Where the browser runs relaxed SIMD, either build runs from its relaxed-SIMD twin
// (pkg/relaxed/: faster integer products). All have the same API and give the same results.

import './relaxed-simd.js';

/** How long the pool's workers may take to start before the single-thread build is used. */
const POOL_START_MS = 20_000;

/** Rejects after `ms`, so that a pool that never starts does not hang the page. */
function deadline(ms) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms));
}

/** init()'s argument for a build's wasm (`folder`: '' or 'threads/'), its relaxed-SIMD twin
 * where this browser runs relaxed SIMD (relaxed-simd.js, which sw.js also reads). */
function wasmOf(folder) {
  const twin = self.PLOTGENRE_RELAXED_SIMD ? 'relaxed/' : '';
  return { module_or_path: new URL(`./pkg/${twin}${folder}plotgenre_bg.wasm`, import.meta.url) };
}

/** The threaded build with its pool started, or null where it cannot run here. */
async function threaded() {
  if (!self.crossOriginIsolated) return null;
  try {
    const pkg = await import('./pkg/threads/plotgenre.js');
    await pkg.default(wasmOf('threads/'));
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
  await single.default(wasmOf(''));
  return single;
}
