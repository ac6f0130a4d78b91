// smoke.mjs — its one job (page side of the wasm smoke test): start smoke-worker.mjs with
// this page's query (?bundle=...&build=...), hand it texts and give back its answer.
// Progress is logged as console.debug("[smoke] stage: ...") so the driver can say where a
// timeout struck.
//
// Driver API (used by run.mjs through page.evaluate):
//   await window.smokeRun(["text", ...]) -> smoke-worker.mjs's answer (see there)
//   The last answer is also left in window.smokeResult.
// For a manual check in a browser, add &text=...&text=... to the URL.

const params = new URLSearchParams(location.search);
const statusEl = document.getElementById('status');
const workerUrl = new URL(`./smoke-worker.mjs${location.search}`, import.meta.url);

window.smokeRun = (texts) => new Promise((resolve) => {
  const worker = new Worker(workerUrl, { type: 'module' });
  worker.addEventListener('error', (event) => resolve({ ok: false, error: `the worker failed: ${event.message}` }));
  worker.addEventListener('message', ({ data }) => {
    if (data.stage) {
      console.debug(`[smoke] stage: ${data.stage}`);
      statusEl.textContent = data.stage;
      return;
    }
    window.smokeResult = data.answer;
    resolve(data.answer);
  });
  worker.postMessage({ texts });
});

// Manual mode: smoke.html?bundle=/path/model.plotgenre&text=hello&text=world
if (params.has('text')) {
  window.smokeRun(params.getAll('text')).then((answer) => {
    const pre = document.createElement('pre');
    pre.textContent = JSON.stringify(answer, null, 1);
    document.body.append(pre);
  });
}
