// app.js — the preview page: loads the genre bundle into the wasm module and shows the
// genres it gives a plot, most probable first, the predicted ones marked. The full page
// (worker, cache, offline, batch mode) is the next step; this one runs on the main thread.
import init, { Classifier } from '../pkg/plotgenre.js';

const BUNDLE = 'models/model.plotgenre';
const status = document.getElementById('status');
const button = document.getElementById('classify');
const title = document.getElementById('title');
const plot = document.getElementById('plot');
const output = document.getElementById('output');

async function fetchBundle() {
  const response = await fetch(BUNDLE);
  if (!response.ok) throw new Error(`${BUNDLE}: HTTP ${response.status} (run \`make serve\`)`);
  return new Uint8Array(await response.arrayBuffer());
}

function classify(classifier) {
  const started = performance.now();
  const result = classifier.classify(plot.value, title.value);
  const ms = performance.now() - started;
  const lines = result.genres.map(({ genre, probability, predicted }) =>
    `${predicted ? '✔' : ' '} ${genre.padEnd(12)} ${(probability * 100).toFixed(1).padStart(5)}%`);
  output.textContent =
    `${ms.toFixed(0)} ms${result.truncated ? ', plot truncated to the model\'s length' : ''}\n` +
    lines.join('\n');
}

try {
  await init();
  const classifier = Classifier.load(await fetchBundle());
  const info = classifier.info();
  status.textContent = `Model loaded (${(info.sizeBytes / 1e6).toFixed(1)} MB, ${info.quantization}, ` +
    `trained on ${info.provenance.training_data}): works offline from here.`;
  button.disabled = false;
  button.addEventListener('click', () => {
    try { classify(classifier); } catch (error) { output.textContent = `Error: ${error.message}`; }
  });
} catch (error) {
  status.textContent = `Could not load the model: ${error.message}`;
}
