// ort.mjs — the ONNX Runtime Web side of `make bench-peer`: its wasm backend with
// `?threads=N` threads on the int8 ONNX model (`?model=`), token ids in (model only).
// Every file comes from benches/peer/node_modules through the same server: no CDN.

import * as ort from './node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
import { cachedBytes } from '../wasm/cached-bytes.mjs';

const CACHE = 'plotgenre-bench-peer';

/** `rows` of token ids as int64 `input_ids` and `attention_mask`, padded to the longest. */
function feeds(rows) {
  const length = Math.max(...rows.map((row) => row.length));
  const ids = new BigInt64Array(rows.length * length);
  const mask = new BigInt64Array(rows.length * length);
  rows.forEach((row, r) => {
    row.forEach((id, i) => {
      ids[r * length + i] = BigInt(id);
      mask[r * length + i] = 1n;
    });
  });
  const dims = [rows.length, length];
  return { input_ids: new ort.Tensor('int64', ids, dims), attention_mask: new ort.Tensor('int64', mask, dims) };
}

/** The index of the largest of `values`. */
function argmax(values) {
  return values.reduce((best, value, i) => (value > values[best] ? i : best), 0);
}

/** Create the session (model bytes cached after the first visit). */
export async function start(params) {
  const threads = Number(params.get('threads'));
  if (threads > 1 && !self.crossOriginIsolated) throw new Error('threads need a cross-origin isolated page');
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = new URL('./node_modules/onnxruntime-web/dist/', import.meta.url).href;
  ort.env.logLevel = 'error';
  const { bytes, fromCache } = await cachedBytes(params.get('model'), CACHE);
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  const run = async (rows) => (await session.run(feeds(rows))).logits.data;
  const firstIds = params.get('firstIds').split(',').map(Number);
  return {
    fromCache,
    threads: ort.env.wasm.numThreads,
    first: async () => `genre #${argmax(await run([firstIds]))}`,
    classifyOne: ({ ids }) => run(ids),
    classifyBatch: ({ ids }) => run(ids),
  };
}
