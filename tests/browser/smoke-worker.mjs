// smoke-worker.mjs — its one job (a module Worker that smoke.mjs starts, as the product page
// runs its classifier in worker.js; the threaded build needs it: its calls block, which a
// page's own thread may not): load the plotgenre wasm build and a model bundle
// (?bundle=/url/of/file.plotgenre; &build=threads for the threaded build, on a cross-origin
// isolated page; &relaxed=true for the build's relaxed-SIMD twin), classify the texts it is
// given one at a time, and hand the results back as plain JSON-able data. Never throws to the caller: every failure becomes
// { ok: false, error: "<message>" }.
//
// Messages: in, { texts: string[] }; out, { stage: "what it is doing" } any number of times,
// then { answer } where answer is
//     { ok: true, labels: string[], info: ModelInfo, results: Classification[],
//       badBundle: { isError: boolean, message: string }, badOptions: string[],
//       wasmMemoryBytes: number, hardwareConcurrency: number, bytesReleased: boolean }
//  or { ok: false, error: "message" }.
//   `labels` is info().labels; `badBundle` is what Classifier.load() threw for bytes that are
//   not a bundle; `badOptions` the messages of the Errors that classify() threw for options
//   it does not take (a title string where the options object goes, a misspelt key).
//   `wasmMemoryBytes` is the wasm memory's size after classifying: memory only grows, so
//   it is the peak (the threaded build's one memory is shared by every thread).
//   `hardwareConcurrency` is navigator.hardwareConcurrency. `bytesReleased`: the bundle's
//   buffer was detached by Classifier.load(bytes, { releaseBytes: true }), as the page loads.
const params = new URLSearchParams(location.search);
function stage(what) {
  postMessage({ stage: what });
}

/** The message of anything thrown: wasm-bindgen errors are JS Errors, but be lenient. */
export function errorMessage(err) {
  if (err instanceof Error) {
    const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
    return `${name}${err.message}` || String(err);
  }
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

async function fetchBytes(url) {
  let response;
  try {
    response = await fetch(url, { cache: 'no-store' });
  } catch (err) {
    throw new Error(`fetch ${url} failed: ${errorMessage(err)}`);
  }
  if (!response.ok) {
    throw new Error(`fetch ${url} failed: HTTP ${response.status} ${response.statusText}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

let classifierPromise = null;
let wasmModule = null;
let wasmExports = null;
let bytesReleased = false;

/** init() the wasm module and Classifier.load() the bundle once; later calls reuse it. */
function loadClassifier() {
  classifierPromise ??= (async () => {
    const bundle = params.get('bundle');
    if (!bundle) throw new Error('missing ?bundle=<url path of a .plotgenre file> in the page URL');

    // ?build=threads: the threaded build, its pool one thread per core (the page must be
    // cross-origin isolated); otherwise the single-thread one.
    const threads = params.get('build') === 'threads';
    const url = threads ? '/pkg/threads/plotgenre.js' : '/pkg/plotgenre.js';
    stage(`importing ${url}`);
    // Dynamic, so that a missing or broken pkg/ is reported as an error instead of silently
    // not running.
    try {
      wasmModule = await import(url);
    } catch (err) {
      const head = await fetch(url, { method: 'HEAD', cache: 'no-store' }).catch(() => null);
      if (head && head.status === 404) {
        throw new Error(`${url} not found (HTTP 404): build the wasm package first (make wasm)`);
      }
      throw err;
    }

    const twin = `/pkg/relaxed/${threads ? 'threads/' : ''}plotgenre_bg.wasm`;
    const relaxed = params.get('relaxed') === 'true';
    stage(`init() wasm${relaxed ? ` from ${twin}` : ''}`);
    wasmExports = await wasmModule.default(relaxed ? { module_or_path: twin } : undefined);
    if (threads) {
      stage('initThreadPool()');
      await wasmModule.initThreadPool(navigator.hardwareConcurrency);
    }

    stage(`fetching ${bundle}`);
    const bytes = await fetchBytes(bundle);

    stage('Classifier.load()');
    const classifier = wasmModule.Classifier.load(bytes, { releaseBytes: true });
    bytesReleased = bytes.byteLength === 0;
    return classifier;
  })();
  return classifierPromise;
}

/** Check that classify() returned { genres: [{genre, probability, predicted}], predicted, truncated }. */
function checked(result, index) {
  const genres = result?.genres;
  if (!Array.isArray(genres) || !Array.isArray(result.predicted) || typeof result.truncated !== 'boolean') {
    throw new Error(`classify() of text #${index} returned ${JSON.stringify(result)}`);
  }
  for (const g of genres) {
    if (typeof g.genre !== 'string' || !Number.isFinite(g.probability) || typeof g.predicted !== 'boolean') {
      throw new Error(`classify() of text #${index}: bad genre entry ${JSON.stringify(g)}`);
    }
  }
  return result;
}

/** The messages classify() throws for options it does not take; a call that returns is a failure. */
function badOptions(classifier) {
  return [['a title'], [{ tittle: 'a title' }]].map(([options]) => {
    try {
      classifier.classify('A plot.', options);
      return `classify() took ${JSON.stringify(options)}`;
    } catch (err) {
      return errorMessage(err);
    }
  });
}

/** What Classifier.load() throws for bytes that are not a bundle. */
function loadGarbage() {
  try {
    wasmModule.Classifier.load(new Uint8Array([80, 75, 3, 4, 0, 0]));
    return { isError: false, message: 'loaded' };
  } catch (err) {
    return { isError: err instanceof Error, message: errorMessage(err) };
  }
}

async function run(texts) {
  if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) {
    throw new Error('smokeRun expects an array of strings');
  }
  const classifier = await loadClassifier();
  const results = [];
  for (const [i, text] of texts.entries()) {
    stage(`classify() text ${i + 1}/${texts.length}`);
    results.push(checked(classifier.classify(text), i));
  }
  return {
    ok: true,
    labels: classifier.info().labels,
    info: classifier.info(),
    results,
    badBundle: loadGarbage(),
    badOptions: badOptions(classifier),
    wasmMemoryBytes: wasmExports.memory.buffer.byteLength,
    hardwareConcurrency: navigator.hardwareConcurrency,
    bytesReleased,
  };
}

self.addEventListener('message', async ({ data: { texts } }) => {
  let answer;
  try {
    answer = await run(texts);
    stage('done');
  } catch (err) {
    answer = { ok: false, error: errorMessage(err) };
    stage(`failed: ${answer.error}`);
  }
  postMessage({ answer });
});
