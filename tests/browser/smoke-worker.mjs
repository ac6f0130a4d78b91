// smoke.mjs — its one job (page side): load the plotgenre wasm build and a model bundle
// (?bundle=/url/of/file.plotgenre), classify the texts it is given one at a time, and hand
// the results back as plain JSON-able data. Never throws to the caller: every failure
// becomes { ok: false, error: "<message>" }.
//
// Driver API (used by run.mjs through page.evaluate):
//   await window.smokeRun(["text", ...])
//     -> { ok: true, labels: string[], info: ModelInfo, results: Classification[],
//          badBundle: { isError: boolean, message: string }, badOptions: string[],
//          wasmMemoryBytes: number }
//     -> { ok: false, error: "message" }
//   `labels` is info().labels; `badBundle` is what Classifier.load() threw for bytes that are
//   not a bundle; `badOptions` the messages of the Errors that classify() threw for options
//   it does not take (a title string where the options object goes, a misspelt key).
//   `wasmMemoryBytes` is the wasm memory's size after classifying: memory only grows, so
//   it is the peak.
//   The last answer is also left in window.smokeResult.
// Progress is logged as console.debug("[smoke] stage: ...") so the driver can say where a
// timeout struck. For a manual check in a browser, add &text=...&text=... to the URL.
const params = new URLSearchParams(location.search);
const statusEl = document.getElementById('status');

function stage(what) {
  console.debug(`[smoke] stage: ${what}`);
  if (statusEl) statusEl.textContent = what;
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

/** init() the wasm module and Classifier.load() the bundle once; later calls reuse it. */
function loadClassifier() {
  classifierPromise ??= (async () => {
    const bundle = params.get('bundle');
    if (!bundle) throw new Error('missing ?bundle=<url path of a .plotgenre file> in the page URL');

    stage('importing /pkg/plotgenre.js');
    // Dynamic, so that a missing or broken pkg/ is reported as an error instead of silently
    // not running.
    try {
      wasmModule = await import('/pkg/plotgenre.js');
    } catch (err) {
      const head = await fetch('/pkg/plotgenre.js', { method: 'HEAD', cache: 'no-store' }).catch(() => null);
      if (head && head.status === 404) {
        throw new Error('/pkg/plotgenre.js not found (HTTP 404): build the wasm package first (make wasm)');
      }
      throw err;
    }

    stage('init() wasm');
    wasmExports = await wasmModule.default();

    stage(`fetching ${bundle}`);
    const bytes = await fetchBytes(bundle);

    stage('Classifier.load()');
    return wasmModule.Classifier.load(bytes);
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
  };
}

window.smokeRun = async (texts) => {
  let answer;
  try {
    answer = await run(texts);
    stage('done');
  } catch (err) {
    console.error('[smoke] failed:', err);
    answer = { ok: false, error: errorMessage(err) };
    stage(`failed: ${answer.error}`);
  }
  window.smokeResult = answer;
  return answer;
};

// Manual mode: smoke.html?bundle=/path/model.plotgenre&text=hello&text=world
if (params.has('text')) {
  window.smokeRun(params.getAll('text')).then((answer) => {
    const pre = document.createElement('pre');
    pre.textContent = JSON.stringify(answer, null, 1);
    document.body.append(pre);
  });
}
