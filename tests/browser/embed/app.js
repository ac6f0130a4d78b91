// app.js — docs/API.md's embedding example, run by tests/npm_package.rs both as a plain
// module page (main.js) and bundled by esbuild (bundled.js): loads the bundle, classifies
// the plot in the URL (?plot=...&title=...), explains its top genre, shows the genres and
// leaves everything in window.result for the test to read.

const status = document.getElementById('status');

/** Fetches a bundle and loads it; every failure is an Error with a message to show. */
async function loadClassifier({ default: init, Classifier }, url) {
  await init(); // fetches plotgenre_bg.wasm from beside the module (plotgenre.js, or the bundle)
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return Classifier.load(new Uint8Array(await response.arrayBuffer())); // throws if damaged
}

async function run(plotgenre) {
  const params = new URLSearchParams(location.search);
  const plot = params.get('plot') ?? '';
  const title = params.get('title');
  const classifier = await loadClassifier(plotgenre, 'model.plotgenre');
  const classification = classifier.classify(plot, { title });
  document.getElementById('genres').replaceChildren(...classification.genres.map(({ genre, probability, predicted }) => {
    const item = document.createElement('li');
    item.textContent = `${predicted ? '✓ ' : ''}${genre} ${(probability * 100).toFixed(0)}%`;
    return item;
  }));
  status.textContent = `Predicted: ${classification.predicted.join(', ') || 'none'}`;
  const explanation = classifier.explain(plot, { title, genre: classification.genres[0].genre });
  let badOptions = null;
  try {
    classifier.classify(plot, { tittle: title });
  } catch (error) {
    badOptions = error.message;
  }
  const info = classifier.info();
  classifier.free();
  return { info, classification, explanation, badOptions };
}

/** Runs the example on `plotgenre`, the package's module namespace. */
export function start(plotgenre) {
  run(plotgenre).then(
    (result) => { window.result = { ok: true, ...result }; },
    (error) => {
      status.textContent = `The classifier failed: ${error.message}`;
      window.result = { ok: false, error: error.message };
    },
  );
}
