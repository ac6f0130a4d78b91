// app.js — the page's entry: wires the form, the examples, the status indicators and the
// panels to the classifier worker. It only updates the view; the model runs in worker.js.

import { BatchView } from './batch.js';
import { element } from './dom.js';
import { EXAMPLES } from './examples.js';
import { ExplanationView } from './explain-view.js';
import { megabytes } from './format.js';
import { showModelCard } from './model-card.js';
import { watchOffline } from './offline.js';
import { ResultsView } from './results.js';
import { ClassifierClient, canRunModel } from './worker-client.js';

/** Quiet time after a keystroke before the plot is classified again. */
const LIVE_DELAY_MS = 300;
/**
 * Above this many characters, `dir="auto"` makes Chromium lay out the plot box for seconds
 * (41 s for 2 MB, against 0.5 s without it): the direction is then taken from the first
 * letter instead, which is what `auto` would find for any text that starts in one script.
 */
const AUTO_DIRECTION_LIMIT = 50_000;
const RIGHT_TO_LEFT = /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}]/u;
/** Failures a retry can fix (the others need another file or another browser). */
const RETRYABLE = new Set(['offline', 'missing', 'download', 'corrupt', 'internal']);

const $ = (id) => document.getElementById(id);
const form = { title: $('title'), plot: $('plot'), classify: $('classify'), clear: $('clear') };
const modelStatus = $('model-status');

/** Sets `field`'s text direction: `auto`, or for a huge text the direction of its first letter. */
function settleDirection(field) {
  if (field.value.length <= AUTO_DIRECTION_LIMIT) {
    field.dir = 'auto';
    return;
  }
  const first = field.value.slice(0, AUTO_DIRECTION_LIMIT).match(/\p{L}/u)?.[0] ?? '';
  field.dir = RIGHT_TO_LEFT.test(first) ? 'rtl' : 'ltr';
}

function setStatus(state, text) {
  modelStatus.dataset.state = state;
  modelStatus.textContent = text;
}

function showProblem(message, retry) {
  $('problem-text').textContent = message;
  $('retry').hidden = !retry;
  $('problem').hidden = false;
}

const offline = watchOffline({ network: $('network'), update: $('update'), reload: $('reload') });

if (!canRunModel()) {
  setStatus('unsupported', 'Model unavailable');
  showProblem('This browser cannot run the model: it lacks WebAssembly SIMD. '
    + 'Use a recent Chrome, Edge, Firefox or Safari (16.4 or later).', false);
} else {
  start(new ClassifierClient());
}

function start(client) {
  let ready = false;
  let busy = false;
  let again = false;
  let timer = 0;
  /** The plot and title the shown genres belong to (what an explanation explains). */
  let classified = null;

  const explanation = new ExplanationView(client, {
    panel: $('explanation'),
    heading: $('explanation-heading'),
    status: $('explanation-status'),
    progress: $('explanation-progress'),
    text: $('explanation-text'),
    unread: $('explanation-unread'),
    top: $('explanation-top'),
    ranked: $('explanation-ranked'),
  });
  const results = new ResultsView({
    list: $('genres'),
    summary: $('summary'),
    timing: $('timing'),
    warning: $('result-warning'),
    toggle: $('genres-toggle'),
    slider: $('threshold'),
    sliderText: $('threshold-text'),
    reset: $('threshold-reset'),
    detail: $('explanation'),
    quick: $('quick'),
  }, () => batch.refresh(), (genre) => classified && explanation.show(genre, classified));
  const batch = new BatchView(client, {
    drop: $('drop'),
    input: $('csv-file'),
    setup: $('batch-setup'),
    fileText: $('batch-file'),
    plotColumn: $('plot-column'),
    titleColumn: $('title-column'),
    run: $('batch-run'),
    cancel: $('batch-cancel'),
    download: $('batch-download'),
    progress: $('batch-progress'),
    progressLabel: $('batch-progress-label'),
    status: $('batch-status'),
    tableWrap: $('batch-table-wrap'),
    tbody: $('batch-table').tBodies[0],
    caption: $('batch-caption'),
  }, () => results.shift);

  /** Drops the explanation shown or under way: the plot it explained has changed. */
  function forgetExplanation() {
    explanation.clear();
    results.unpick();
  }

  /** Classifies the form's plot; a request made while one runs is merged into one rerun. */
  async function classify() {
    clearTimeout(timer);
    if (!ready) return;
    if (busy) {
      again = true;
      return;
    }
    if (!form.plot.value.trim()) {
      forgetExplanation();
      results.clear();
      return;
    }
    busy = true;
    const input = { text: form.plot.value, title: form.title.value };
    try {
      const started = performance.now();
      const result = await client.call('classify', input);
      if (!form.plot.value.trim()) return; // emptied or cleared while it ran
      if (classified?.text !== input.text || classified?.title !== input.title) forgetExplanation();
      classified = input;
      results.show(result, performance.now() - started);
    } catch (error) {
      $('summary').textContent = `Classification failed: ${error.message}`;
    } finally {
      busy = false;
    }
    if (again) {
      again = false;
      classify();
    }
  }

  function onProgress({ stage, received, total }) {
    $('loading').hidden = false;
    const bar = $('download-progress');
    if (stage === 'download') {
      bar.max = total;
      bar.value = received;
      const text = `${megabytes(received)} of ${megabytes(total)}`;
      $('download-text').textContent = text;
      setStatus('loading', `Downloading the model: ${Math.floor((received / total) * 100)}%`);
    } else {
      $('download-label').textContent = 'Preparing the model…';
      setStatus('loading', 'Preparing the model…');
    }
  }

  async function load() {
    $('problem').hidden = true;
    setStatus('loading', 'Loading the model…');
    let info;
    try {
      info = await client.call('load', {}, onProgress);
    } catch (error) {
      setStatus('error', 'Model unavailable');
      showProblem(error.message, RETRYABLE.has(error.kind));
      return;
    } finally {
      $('loading').hidden = true;
    }
    if (info.warning) showProblem(info.warning, false);
    results.setModel(info);
    batch.setModel(info);
    showModelCard({ card: $('card'), metrics: $('metrics'), link: $('card-link') }, info);
    ready = true;
    form.classify.disabled = false;
    // Which wasm build runs, on how many threads, and whether as its relaxed-SIMD twin
    // (wasm-build.js picks): for support and tests.
    Object.assign(modelStatus.dataset, { build: info.build, threads: info.threads, relaxedSimd: info.relaxedSimd });
    modelStatus.title = `Runs on ${info.threads} thread${info.threads > 1 ? 's' : ''}`;
    setStatus('ready', 'Model ready');
    classify();
    if (info.stored && (await offline)) setStatus('ready', 'Model ready · works offline');
  }

  $('plot-form').addEventListener('submit', (event) => {
    event.preventDefault();
    classify();
  });
  for (const field of [form.plot, form.title]) {
    field.addEventListener('input', () => {
      settleDirection(field);
      forgetExplanation();
      clearTimeout(timer);
      timer = setTimeout(classify, LIVE_DELAY_MS);
    });
  }
  $('examples').replaceChildren(...EXAMPLES.map((example) => {
    const button = element('button', example.label, 'example');
    button.type = 'button';
    button.addEventListener('click', () => {
      form.title.value = example.title;
      form.plot.value = example.plot;
      settleDirection(form.plot);
      forgetExplanation();
      classify();
    });
    return button;
  }));
  form.clear.addEventListener('click', () => {
    clearTimeout(timer);
    form.title.value = form.plot.value = '';
    settleDirection(form.plot);
    forgetExplanation();
    results.clear();
    form.plot.focus();
  });
  $('retry').addEventListener('click', load);
  load();
}
