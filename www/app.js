// app.js — the preview page: loads the base encoder into the wasm module and
// shows what it makes of a plot (token count, pooled embedding, time).
import init, { Encoder } from '../pkg/plotgenre.js';

const MODEL = '../models/base/';
const status = document.getElementById('status');
const button = document.getElementById('encode');
const plot = document.getElementById('plot');
const output = document.getElementById('output');

async function fetchBytes(name) {
  const response = await fetch(MODEL + name);
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status} (run \`make base\`)`);
  return new Uint8Array(await response.arrayBuffer());
}

function meanPool({ shape: [seq, dim], hidden }) {
  const pooled = new Float32Array(dim);
  for (let t = 0; t < seq; t++) for (let d = 0; d < dim; d++) pooled[d] += hidden[t * dim + d] / seq;
  return pooled;
}

function encode(encoder) {
  const started = performance.now();
  const result = encoder.encode(plot.value);
  const ms = performance.now() - started;
  const pooled = Array.from(meanPool(result).slice(0, 6), (v) => v.toFixed(4));
  output.textContent =
    `${result.ids.length} tokens${result.truncated ? ' (truncated)' : ''}, ${ms.toFixed(0)} ms\n` +
    `hidden states: ${result.shape.join(' × ')}\nmean-pooled embedding: [${pooled.join(', ')}, …]`;
}

try {
  await init();
  const [config, weights, tokenizer] = await Promise.all(
    ['config.json', 'model.safetensors', 'tokenizer.json'].map(fetchBytes));
  const encoder = Encoder.load(config, weights, tokenizer);
  status.textContent = 'Model loaded: works offline from here.';
  button.disabled = false;
  button.addEventListener('click', () => {
    try { encode(encoder); } catch (error) { output.textContent = `Error: ${error.message}`; }
  });
} catch (error) {
  status.textContent = `Could not load the model: ${error.message}`;
}
