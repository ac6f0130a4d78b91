// ours.mjs — the plotgenre side of `make bench-peer`: the wasm build as the product page
// runs it, text in (the tokenizer is part of every call).

import init, { Classifier } from '/pkg/plotgenre.js';
import { cachedBytes } from '../wasm/cached-bytes.mjs';

const CACHE = 'plotgenre-bench-peer';

/** Init the wasm module, load the bundle (`?bundle=`, cached after the first visit). */
export async function start(params) {
  await init();
  const { bytes, fromCache } = await cachedBytes(params.get('bundle'), CACHE);
  const classifier = Classifier.load(bytes);
  return {
    fromCache,
    // The single-thread build has no `threads` in its info(); a threaded one reports it.
    threads: classifier.info().threads ?? 1,
    first: () => classifier.classify(params.get('first')).genres[0].genre,
    classifyOne: ({ texts }) => classifier.classify(texts[0]),
    classifyBatch: ({ texts }) => classifier.classifyBatch(texts),
  };
}
