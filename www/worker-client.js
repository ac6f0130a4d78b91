// worker-client.js — the page's side of worker.js: checks that this browser can run the
// model, starts the worker and turns its messages into promises with progress callbacks.

// The smallest module using a SIMD instruction: (func (result v128) (v128.const i32x4 0 0 0 0)).
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
]);

/** An error the worker reported: `kind` is one of model-store.js's kinds, or 'internal'. */
export class WorkerError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/** Whether this browser runs WebAssembly with SIMD, which the model's kernels use. */
export function canRunModel() {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

/** The worker, started on first use; one per page. */
export class ClassifierClient {
  #worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  #pending = new Map();
  #next = 0;

  constructor() {
    this.#worker.addEventListener('message', ({ data }) => {
      const call = this.#pending.get(data.id);
      if (!call) return;
      if (data.status === 'progress') {
        call.onProgress?.(data);
        return;
      }
      this.#pending.delete(data.id);
      if (data.status === 'done') call.resolve(data.result);
      else call.reject(new WorkerError(data.kind, data.message));
    });
    this.#worker.addEventListener('error', (event) => {
      const error = new WorkerError('internal', `The model's worker failed to start (${event.message ?? 'unknown error'}).`);
      for (const call of this.#pending.values()) call.reject(error);
      this.#pending.clear();
    });
  }

  /**
   * Sends one request; resolves with its result. `onProgress` gets every progress message.
   * Returns the promise and the request id (for `cancel`).
   */
  request(type, args = {}, onProgress = null, transfer = []) {
    const id = this.#next++;
    const promise = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject, onProgress }));
    this.#worker.postMessage({ id, type, ...args }, transfer);
    return { id, promise };
  }

  /** Sends one request and waits for its result. */
  call(type, args, onProgress, transfer) {
    return this.request(type, args, onProgress, transfer).promise;
  }

  /** Asks the worker to stop request `id` at its next chunk. */
  cancel(id) {
    this.call('cancel', { target: id });
  }
}
