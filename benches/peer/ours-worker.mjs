// ours-worker.mjs — the plotgenre side of `make bench-peer`, in a module Worker as the
// product page runs it (worker.js; the threaded build's calls block, which a page's own
// thread may not): a wasm build (`?build=single`, or `?build=threads` with one pool thread
// per core), text in (the tokenizer is part of every call). Like the page, it runs the
// build's relaxed-SIMD twin where Chromium has relaxed SIMD, unless `?plain=true`. ours.mjs
// drives it.
//
// Messages: in, { id, type: 'start' | 'first' | 'classifyOne' | 'classifyBatch', texts };
// out, { id, result } or { id, error }.

import { loadBundle } from '../../www/model-store.js';
import '../../www/relaxed-simd.js';

const BUILDS = { single: '', threads: 'threads/' };
const params = new URLSearchParams(location.search);
const RELAXED = self.PLOTGENRE_RELAXED_SIMD && params.get('plain') !== 'true';

let classifier = null;

/**
 * The bundle as the page's worker gets it (www/model-store.js: the manifest beside it,
 * downloaded and stored on a first visit, read back on the next), so that the bench's
 * start-up and memory are the product's. `?bundle=` must name a bundle in a `models/`
 * folder with its manifest.json, as `make site` lays out www/.
 */
async function productBundle() {
  const url = new URL(params.get('bundle'), location.href);
  const fromCache = (await caches.keys()).length > 0;
  const bundle = await loadBundle(new URL('../', url).href, () => {});
  if (bundle.manifest.url !== url.href) {
    throw new Error(`${url.pathname} is not the bundle its models/manifest.json names (${bundle.manifest.url})`);
  }
  return { ...bundle, fromCache };
}

/** Init the wasm build (and its pool), load the bundle (`?bundle=`, stored after the first visit). */
async function start() {
  const folder = BUILDS[params.get('build')];
  if (folder === undefined) throw new Error(`unknown build ${params.get('build')}`);
  // As the page's worker does: the module and its pool start while the bundle is read and
  // its payload hashed by WebCrypto.
  const [{ Classifier }, { bytes, fromCache, payloadVerified }] = await Promise.all([
    (async () => {
      const pkg = await import(`/pkg/${folder}plotgenre.js`);
      await pkg.default({ module_or_path: `/pkg/${RELAXED ? 'relaxed/' : ''}${folder}plotgenre_bg.wasm` });
      await pkg.initThreadPool?.(navigator.hardwareConcurrency);
      return pkg;
    })(),
    productBundle(),
  ]);
  classifier = Classifier.load(bytes, { payloadVerified, releaseBytes: true });
  const { threads, relaxedSimd } = classifier.info();
  return { fromCache, threads, relaxedSimd };
}

const handlers = {
  start,
  first: () => classifier.classify(params.get('first')).genres[0].genre,
  classifyOne: ({ texts }) => classifier.classify(texts[0]).predicted,
  classifyBatch: ({ texts }) => classifier.classifyBatch(texts).length,
};

self.addEventListener('message', async ({ data: { id, type, ...args } }) => {
  try {
    postMessage({ id, result: await handlers[type](args) });
  } catch (error) {
    postMessage({ id, error: error.message });
  }
});
