// smoke.mjs — its one job (page side): load the plotgenre wasm build and a model folder
// (config.json, model.safetensors, tokenizer.json from ?model=...), encode the texts it is
// given, and hand the results back as plain JSON-able data. Never throws to the caller:
// every failure becomes { ok: false, error: "<message>" }.
//
// Driver API (used by run.mjs through page.evaluate):
//   await window.smokeRun(["text", ...])
//     -> { ok: true,  results: [{ ids: number[], shape: [seqLen, dim], hidden: number[] }, ...] }
//     -> { ok: false, error: "message" }
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

let encoderPromise = null;

/** init() the wasm module and Encoder.load() the model once; later calls reuse it. */
function loadEncoder() {
  encoderPromise ??= (async () => {
    const model = params.get('model');
    if (!model) throw new Error('missing ?model=<folder> in the page URL');
    const base = model.replace(/\/+$/, '');

    stage('importing /pkg/plotgenre.js');
    // Same as `import init, { Encoder } from '/pkg/plotgenre.js'`, but dynamic so that a
    // missing or broken pkg/ is reported as an error instead of silently not running.
    let init, Encoder;
    try {
      ({ default: init, Encoder } = await import('/pkg/plotgenre.js'));
    } catch (err) {
      const head = await fetch('/pkg/plotgenre.js', { method: 'HEAD', cache: 'no-store' }).catch(() => null);
      if (head && head.status === 404) {
        throw new Error('/pkg/plotgenre.js not found (HTTP 404): build the wasm package first (make wasm)');
      }
      throw err;
    }

    stage('init() wasm');
    await init();

    stage(`fetching model files from ${base}/`);
    const [configBytes, weightsBytes, tokenizerBytes] = await Promise.all([
      fetchBytes(`${base}/config.json`),
      fetchBytes(`${base}/model.safetensors`),
      fetchBytes(`${base}/tokenizer.json`),
    ]);

    stage('Encoder.load()');
    return await Encoder.load(configBytes, weightsBytes, tokenizerBytes);
  })();
  return encoderPromise;
}

function toNumberArray(value, what) {
  if (value instanceof Map || value == null || typeof value[Symbol.iterator] !== 'function') {
    throw new Error(`encode() returned a ${what} that is not an array`);
  }
  return Array.from(value, (x) => (typeof x === 'bigint' ? Number(x) : x));
}

/** Turn whatever encode() returned (object, Map, typed arrays) into plain JSON data. */
function normalize(raw, index) {
  const get = (key) => (raw instanceof Map ? raw.get(key) : raw?.[key]);
  if (raw == null || typeof raw !== 'object') {
    throw new Error(`encode() returned ${raw === null ? 'null' : typeof raw} for text #${index}`);
  }
  const ids = toNumberArray(get('ids'), 'ids');
  const shape = toNumberArray(get('shape'), 'shape');
  const hidden = toNumberArray(get('hidden'), 'hidden');
  if (shape.length !== 2 || hidden.length !== shape[0] * shape[1]) {
    console.warn(
      `[smoke] text #${index}: shape [${shape}] does not match hidden.length ${hidden.length}`,
    );
  }
  if (shape[0] !== ids.length) {
    console.warn(`[smoke] text #${index}: shape[0]=${shape[0]} but ids.length=${ids.length}`);
  }
  // JSON cannot carry NaN/±Infinity (they would become null): report them instead.
  let nonFinite = 0;
  for (const x of hidden) if (typeof x !== 'number' || !Number.isFinite(x)) nonFinite += 1;
  if (nonFinite > 0) {
    throw new Error(`encode() of text #${index}: hidden holds ${nonFinite} non-finite or non-number value(s) (NaN/Infinity)`);
  }
  return { ids, shape, hidden };
}

async function run(texts) {
  if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) {
    throw new Error('smokeRun expects an array of strings');
  }
  const encoder = await loadEncoder();
  const results = [];
  for (const [i, text] of texts.entries()) {
    stage(`encode() text ${i + 1}/${texts.length}`);
    results.push(normalize(await encoder.encode(text), i));
  }
  return { ok: true, results };
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

// Manual mode: smoke.html?model=/tests/fixtures/tiny&text=hello&text=world
if (params.has('text')) {
  window.smokeRun(params.getAll('text')).then((answer) => {
    const pre = document.createElement('pre');
    pre.textContent = JSON.stringify(answer, null, 1);
    document.body.append(pre);
  });
}
