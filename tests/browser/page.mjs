#!/usr/bin/env node
// page.mjs — its one job: drive the static page (www/) through its end-to-end scenarios in
// headless Chromium and print what it saw as ONE line of JSON on stdout; tests/page.rs
// spawns it and makes the assertions. The page is deployed into a temporary folder at a
// sub-path (/deploy/app/), served by scripts/serve.mjs, which counts every request.
//
//   node tests/browser/page.mjs --site www --work DIR --plot FILE.json --csv FILE.csv \
//        --update BUNDLE --screenshot docs/screenshot.png
//
// --plot holds {"title": ..., "plot": ...}; --update is a second valid bundle (a new model
// version); DIR is scratch space. stdout: {"ok":true, <scenario>: {...}, ...} or
// {"ok":false,"error":"..."}; stderr: browser errors and notes.
// Chromium: /usr/bin/chromium unless $PLOTGENRE_CHROMIUM names another executable.

import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

import { CROSS_ORIGIN_ISOLATED, startServer } from '../../scripts/serve.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.mjs';
import { capListAndClear, dropZone, explanationOrder, foreignPlot, hugeText, labeledAgain, phoneAnswer } from './phone.mjs';

const TIMEOUT_MS = 480_000;
const WAIT_MS = 60_000;
const APP = '/deploy/app/';

console.log = console.error; // stdout carries the one result line only

const { values: args } = parseArgs({
  options: {
    site: { type: 'string' },
    work: { type: 'string' },
    plot: { type: 'string' },
    csv: { type: 'string' },
    update: { type: 'string' },
    screenshot: { type: 'string' },
    // Serve every file cross-origin isolated (as `make serve` does), so every visit runs the
    // threaded build; without it only visits served by the service worker do.
    isolated: { type: 'boolean', default: false },
  },
});

function finish(answer) {
  process.stdout.write(`${JSON.stringify(answer)}\n`, () => process.exit(answer.ok ? 0 : 1));
}
setTimeout(() => finish({ ok: false, error: `timed out after ${TIMEOUT_MS / 1000} s` }), TIMEOUT_MS).unref();

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** A copy of the site under `root`/deploy/app/, optionally with other model files. */
async function deploy(root, { bundle, manifest } = {}) {
  const dir = path.join(root, APP);
  await rm(root, { recursive: true, force: true });
  await mkdir(path.dirname(dir), { recursive: true });
  await cp(args.site, dir, { recursive: true });
  if (bundle) await writeFile(path.join(dir, 'models/model.plotgenre'), bundle);
  if (manifest) await writeFile(path.join(dir, 'models/manifest.json'), JSON.stringify(manifest));
  return dir;
}

/** A server for `root` that records every request path, restartable on the same port. */
async function serve(root, port = 0) {
  const hits = [];
  const headers = args.isolated ? CROSS_ORIGIN_ISOLATED : {};
  const server = await startServer(root, port, { onRequest: (req) => hits.push(req.url), headers });
  return { ...server, hits, page: `${server.url}${APP}` };
}

/** Records download progress and long tasks from the first script on. */
function instrument() {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__longTasks.push({ start: entry.startTime, duration: entry.duration });
  }).observe({ type: 'longtask', buffered: true });
  window.__progress = [];
  document.addEventListener('DOMContentLoaded', () => {
    const bar = document.getElementById('download-progress');
    new MutationObserver(() => window.__progress.push([bar.value, bar.max])).observe(bar, { attributes: true });
  });
}

async function openPage(context, url, { state = 'ready' } = {}) {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[page error] ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') console.error(`[console] ${msg.text()}`);
  });
  await page.goto(url);
  await page.waitForSelector(`#model-status[data-state="${state}"]`, { timeout: WAIT_MS });
  return page;
}

const stateOf = (page) => page.evaluate(() => ({
  status: document.getElementById('model-status').textContent,
  network: document.getElementById('network').textContent,
  problem: document.getElementById('problem').hidden ? null : document.getElementById('problem-text').textContent,
  retry: !document.getElementById('retry').hidden,
  card: document.getElementById('card').textContent,
  build: document.getElementById('model-status').dataset.build ?? null,
  threads: Number(document.getElementById('model-status').dataset.threads ?? 0),
  relaxedSimd: document.getElementById('model-status').dataset.relaxedSimd === 'true',
  cores: navigator.hardwareConcurrency,
}));

/** The paths of the wasm files the service worker keeps in its app-shell caches. */
const shellWasm = (page) => page.evaluate(async () => {
  const paths = [];
  for (const name of (await caches.keys()).filter((key) => key.includes(':shell:'))) {
    for (const request of await (await caches.open(name)).keys()) paths.push(new URL(request.url).pathname);
  }
  return paths.filter((file) => file.endsWith('.wasm'));
});

const modelCaches = (page) => page.evaluate(async () => (await caches.keys()).filter((name) => name.includes(':model:')));

/** Fills the form, submits, and waits until the genres list has settled. */
async function classify(page, { title, plot }) {
  const runs = await page.$eval('#genres', (list) => Number(list.dataset.runs));
  await page.fill('#title', title);
  await page.fill('#plot', plot);
  await page.click('#classify');
  await page.waitForFunction((before) => Number(document.getElementById('genres').dataset.runs) > before, runs);
  await page.waitForTimeout(500); // the debounced live run of the same text, if any
  return genres(page);
}

const genres = (page) => page.evaluate(() => {
  const items = [...document.querySelectorAll('#genres > li')];
  return {
    order: items.map((li) => li.dataset.genre),
    predicted: items.filter((li) => li.classList.contains('predicted')).map((li) => li.dataset.genre),
    runs: Number(document.getElementById('genres').dataset.runs),
    threshold: document.getElementById('threshold-text').textContent,
  };
});

async function firstVisit(context, server, plot) {
  const page = await openPage(context, server.page);
  await page.waitForSelector('#model-status:has-text("works offline")', { timeout: WAIT_MS });
  const loaded = {
    state: await stateOf(page),
    progress: await page.evaluate(() => window.__progress),
    requests: [...server.hits],
  };
  const mark = server.hits.length;
  const since = await page.evaluate(() => performance.now());

  const known = await classify(page, plot);
  const explained = await explainGenre(page, known.order[0]);
  const order = await explanationOrder(page);
  await page.screenshot({ path: args.screenshot });

  await page.focus('#threshold');
  await page.keyboard.press('End');
  const raised = await genres(page);
  await page.keyboard.press('Home');
  const lowered = await genres(page);
  await page.click('#threshold-reset');
  const reset = await genres(page);

  await page.focus('#plot');
  await page.keyboard.press('End');
  await page.keyboard.type(' Then she moves to Paris.', { delay: 20 });
  await page.waitForFunction((before) => Number(document.getElementById('genres').dataset.runs) > before, reset.runs);
  const live = await genres(page);
  const cancelled = await cancelledExplanation(page);

  const batch = await runBatch(page);
  const picker = await columnPicker(page);
  const longTasks = await page.evaluate((t) => window.__longTasks.filter((task) => task.start >= t), since);
  const messy = await messyFiles(page);

  const security = await page.evaluate(() => new Promise((resolve) => {
    const report = { violations: [], inlineRan: false, eval: null, cookie: document.cookie };
    document.addEventListener('securitypolicyviolation', (e) => report.violations.push(e.effectiveDirective));
    const script = document.createElement('script');
    script.textContent = 'window.__inline = true;';
    document.body.append(script);
    const style = document.createElement('style');
    style.textContent = 'body { outline: 5px solid red; }';
    document.head.append(style);
    report.ownStyle = getComputedStyle(document.documentElement).getPropertyValue('--bg').trim();
    report.stylesheets = document.querySelectorAll('link[rel="stylesheet"]').length;
    // From a timer, not from the evaluation itself, which DevTools exempts from the CSP.
    setTimeout(() => {
      try {
        report.eval = String(eval('1 + 1')); // eslint-disable-line no-eval
      } catch (error) {
        report.eval = error.name;
      }
    }, 0);
    setTimeout(() => resolve({
      ...report,
      inlineRan: window.__inline === true,
      injectedStyle: getComputedStyle(document.body).outlineWidth === '5px',
      xss: window.__xss ?? null,
    }), 300);
  }));
  const focusOrder = [];
  await page.click('h1');
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press('Tab');
    focusOrder.push(await page.evaluate(() => document.activeElement.id || document.activeElement.textContent));
  }
  const unlabeled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label')).map((el) => el.id));

  const emptied = await emptiedPlot(page);
  const head = await page.evaluate(() => ({
    description: document.querySelector('meta[name="description"]')?.content ?? '',
    dir: ['title', 'plot'].map((id) => document.getElementById(id).getAttribute('dir')),
  }));

  const small = await capListAndClear(page);
  const huge = await hugeText(page);
  const drop = await dropZone(page);
  const again = await labeledAgain(page, args.work);

  await page.setViewportSize({ width: 390, height: 844 });
  const phone = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, width: innerWidth }));
  phone.answer = await phoneAnswer(page, plot);
  phone.foreign = await foreignPlot(page, plot.plot);
  await page.screenshot({ path: path.join(args.work, 'phone.png'), fullPage: true });
  const afterLoad = server.hits.slice(mark);
  const cookies = await context.cookies();
  await page.close();
  return { loaded, known, explained, order, raised, lowered, reset, live, cancelled, batch, picker, messy, longTasks, security, focusOrder, unlabeled, emptied, head, phone, afterLoad, cookies, small, huge, drop, again };
}

/** Empties the plot box after a result; returns the genres and summary left on screen. */
async function emptiedPlot(page) {
  await page.fill('#plot', '');
  // A stale list never empties: give up after the live-classification delay and report it.
  await page.waitForFunction(() => document.querySelectorAll('#genres > li').length === 0, null, { timeout: 3000 })
    .catch(() => {});
  return page.evaluate(() => ({
    genres: document.querySelectorAll('#genres > li').length,
    summary: document.getElementById('summary').textContent,
  }));
}

/** Clicks `genre`'s name and waits for its explanation; returns what the panel shows. */
async function explainGenre(page, genre) {
  await page.click(`#genres > li[data-genre="${genre}"] .name button`);
  await page.waitForSelector('#explanation[data-state="done"]', { timeout: WAIT_MS });
  return page.evaluate(() => {
    const panel = document.getElementById('explanation');
    return {
      genre: panel.dataset.genre,
      heading: document.getElementById('explanation-heading').textContent,
      text: document.getElementById('explanation-text').textContent,
      words: [...panel.querySelectorAll('#explanation-text .word')].map((span) => ({
        word: span.textContent,
        score: Number(span.dataset.score),
        title: span.title,
        strength: Number(span.style.getPropertyValue('--strength')),
      })),
      textHidden: document.getElementById('explanation-text').getAttribute('aria-hidden'),
      ranked: [...document.querySelectorAll('#explanation-ranked li')].map((li) => li.textContent),
      legend: document.getElementById('explanation-legend').textContent,
      pressed: [...document.querySelectorAll('#genres .name button[aria-pressed="true"]')].map((b) => b.textContent),
    };
  });
}

/** Asks for an explanation, then edits the plot at once: the worker must stop it part-way. */
async function cancelledExplanation(page) {
  const stopped = () => page.$eval('#explanation', (panel) => Number(panel.dataset.stopped ?? 0));
  const before = await stopped();
  await page.click('#genres > li:nth-child(2) .name button');
  await page.waitForSelector('#explanation[data-state="working"]');
  await page.focus('#plot');
  await page.keyboard.type(' Or not.');
  await page.waitForFunction((b) => Number(document.getElementById('explanation').dataset.stopped ?? 0) > b, before);
  await page.waitForTimeout(1000);
  return {
    stopped: (await stopped()) - before,
    hidden: await page.$eval('#explanation', (panel) => panel.hidden),
    words: await page.$$eval('#explanation-text .word', (words) => words.length),
  };
}

async function runBatch(page) {
  await page.setInputFiles('#csv-file', args.csv);
  await page.waitForFunction(() => !document.getElementById('batch-run').disabled);
  const columns = await page.evaluate(() => ({
    plot: document.getElementById('plot-column').selectedOptions[0].textContent,
    title: document.getElementById('title-column').selectedOptions[0].textContent,
  }));
  await page.evaluate(() => {
    const bar = document.getElementById('batch-progress');
    window.__batchProgress = [];
    new MutationObserver(() => window.__batchProgress.push([bar.value, bar.max])).observe(bar, { attributes: true });
  });
  await page.click('#batch-run');
  await page.waitForSelector('#batch-download:not([hidden])', { timeout: WAIT_MS });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#batch-download')]);
  const file = path.join(args.work, 'labeled.csv');
  await download.saveAs(file);
  const table = await page.evaluate(() => ({
    rows: document.querySelectorAll('#batch-table tbody tr').length,
    images: document.querySelectorAll('#batch-table img').length,
    cells: [...document.querySelectorAll('#batch-table tbody tr')].map((tr) => [...tr.cells].map((td) => td.textContent)),
  }));
  return {
    columns,
    progress: await page.evaluate(() => window.__batchProgress),
    status: await page.textContent('#batch-status'),
    table,
    filename: download.suggestedFilename(),
    csv: await readFile(file, 'utf8'),
  };
}

/** A CSV whose columns have no recognised names: the user picks them. */
async function columnPicker(page) {
  const file = path.join(args.work, 'odd-names.csv');
  await writeFile(file, 'Film,Story\nSecond Cup,"A wedding planner falls in love."\n');
  await page.setInputFiles('#csv-file', file);
  await page.waitForFunction(() => document.getElementById('plot-column').options.length > 1);
  const before = await page.evaluate(() => document.getElementById('batch-run').disabled);
  await page.selectOption('#plot-column', { label: 'Story' });
  const after = await page.evaluate(() => document.getElementById('batch-run').disabled);
  return { disabledBefore: before, disabledAfter: after };
}

/**
 * Files as people have them: semicolons in Windows-1252 with a short row and an empty
 * plot, then an empty file, which must also clear the previous file's column choice.
 */
async function messyFiles(page) {
  const file = path.join(args.work, 'messy.csv');
  await writeFile(file, Buffer.from('title;plot\nCaf\xe9;A wedding planner falls in love.\nBroken\nBlank;  \n', 'latin1'));
  await page.setInputFiles('#csv-file', file);
  await page.waitForFunction(() => !document.getElementById('batch-run').disabled);
  const fileText = await page.textContent('#batch-file');
  await page.click('#batch-run');
  await page.waitForSelector('#batch-download:not([hidden])', { timeout: WAIT_MS });
  const status = await page.textContent('#batch-status');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#batch-download')]);
  const saved = path.join(args.work, 'messy-labeled.csv');
  await download.saveAs(saved);
  const empty = path.join(args.work, 'empty.csv');
  await writeFile(empty, '');
  await page.setInputFiles('#csv-file', empty);
  await page.waitForFunction(() => document.getElementById('batch-status').textContent.includes('empty'));
  const after = await page.evaluate(() => ({
    status: document.getElementById('batch-status').textContent,
    plotOptions: document.getElementById('plot-column').options.length,
    runDisabled: document.getElementById('batch-run').disabled,
  }));
  return { fileText, status, csv: await readFile(saved, 'utf8'), empty: after };
}

/** The second visit with the server down and the browser offline. */
async function offlineVisit(context, server, plot) {
  await server.close();
  await context.setOffline(true);
  const page = await openPage(context, server.page);
  // Chromium's offline emulation does not reach a page its service worker serves
  // (navigator.onLine stays true there, seen on Chromium 148); going offline again
  // with the page open does, through the 'offline' event the page must handle.
  await context.setOffline(false);
  await context.setOffline(true);
  await page.waitForSelector('#network[data-state="offline"]', { timeout: WAIT_MS });
  const known = await classify(page, plot);
  const result = {
    state: await stateOf(page),
    known,
    explained: await explainGenre(page, known.order[0]),
    shellWasm: await shellWasm(page),
  };
  await page.close();
  await context.setOffline(false);
  return result;
}

/** A new model version on the server: picked up on the next online visit, the old one deleted. */
async function updateVisit(context, root, port, plot) {
  const bundle = await readFile(args.update);
  const dir = path.join(root, APP);
  const manifest = JSON.parse(await readFile(path.join(dir, 'models/manifest.json'), 'utf8'));
  await writeFile(path.join(dir, 'models/model.plotgenre'), bundle);
  await writeFile(path.join(dir, 'models/manifest.json'), JSON.stringify({ ...manifest, bytes: bundle.length, sha256: sha256(bundle) }));
  const server = await serve(root, port);
  const page = await openPage(context, server.page);
  const result = {
    sha256: sha256(bundle),
    state: await stateOf(page),
    progress: await page.evaluate(() => window.__progress),
    caches: await modelCaches(page),
    known: await classify(page, plot),
  };
  await page.close();
  result.shell = await shellUpdate(context, server, dir);
  await server.close();
  return result;
}

/**
 * A new page version on the server: the open page keeps running the old files, offers a
 * reload, and after it runs only the new ones, from one cache.
 */
async function shellUpdate(context, server, dir) {
  const marker = '/* the next version */';
  await writeFile(path.join(dir, 'examples.js'), `${await readFile(path.join(dir, 'examples.js'), 'utf8')}${marker}\n`);
  const shell = await readFile(path.join(dir, 'pkg/shell.js'), 'utf8');
  await writeFile(path.join(dir, 'pkg/shell.js'), shell.replace(/version: '[^']*'/, "version: 'next'"));
  const page = await openPage(context, server.page);
  await page.waitForSelector('#update:not([hidden])', { timeout: WAIT_MS });
  const servedIsNew = () => page.evaluate(async (text) => (await (await fetch('examples.js')).text()).includes(text), marker);
  const before = await servedIsNew();
  await Promise.all([page.waitForEvent('load'), page.click('#reload')]);
  await page.waitForSelector('#model-status[data-state="ready"]', { timeout: WAIT_MS });
  const result = {
    before,
    after: await servedIsNew(),
    caches: await page.evaluate(async () => (await caches.keys()).filter((name) => name.includes(':shell:'))),
  };
  await page.close();
  return result;
}

/** One failure case on a fresh origin: what the page says and what it left stored. */
async function failure(browser, name, { deployed, state = 'error', setup, retryFix }) {
  const root = path.join(args.work, name);
  await deploy(root, deployed);
  const server = await serve(root);
  const context = await browser.newContext();
  await context.addInitScript(instrument);
  try {
    const page = await context.newPage();
    await setup?.(page, server);
    await page.goto(server.page);
    await page.waitForSelector(`#model-status[data-state="${state}"]`, { timeout: WAIT_MS });
    // A warning still lets the model load: give the store a moment to settle.
    if (state === 'ready') await page.waitForTimeout(500);
    const result = { state: await stateOf(page), caches: await modelCaches(page), requests: [...server.hits] };
    if (retryFix) {
      await retryFix(path.join(root, APP));
      await page.click('#retry');
      await page.waitForSelector('#model-status[data-state="ready"]', { timeout: WAIT_MS });
      result.afterRetry = await stateOf(page);
    }
    return result;
  } finally {
    await context.close();
    await server.close();
  }
}

async function failures(browser) {
  const original = await readFile(path.join(args.site, 'models/model.plotgenre'));
  const manifest = JSON.parse(await readFile(path.join(args.site, 'models/manifest.json'), 'utf8'));
  const flipped = Buffer.from(original);
  flipped[flipped.length >> 1] ^= 0xff;
  await mkdir(path.join(args.work, 'empty-origin'), { recursive: true });
  const foreign = await serve(path.join(args.work, 'empty-origin'));
  try {
    return {
      mismatch: await failure(browser, 'mismatch', { deployed: { bundle: flipped } }),
      corrupt: await failure(browser, 'corrupt', {
        deployed: { bundle: flipped, manifest: { ...manifest, sha256: sha256(flipped) } },
      }),
      truncated: await failure(browser, 'truncated', {
        deployed: { manifest: { ...manifest, bytes: manifest.bytes + 1000 } },
      }),
      missing: await failure(browser, 'missing', {
        deployed: { manifest: { ...manifest, bundle: 'gone.plotgenre' } },
        retryFix: (dir) => writeFile(path.join(dir, 'models/manifest.json'), JSON.stringify(manifest)),
      }),
      foreign: {
        ...(await failure(browser, 'foreign', {
          deployed: { manifest: { ...manifest, bundle: `${foreign.url}/model.plotgenre` } },
        })),
        foreignHits: foreign.hits.length,
      },
      quota: await failure(browser, 'quota', {
        state: 'ready',
        setup: async (page, server) => {
          const cdp = await page.context().newCDPSession(page);
          await cdp.send('Storage.overrideQuotaForOrigin', { origin: server.url, quotaSize: 8_000_000 });
        },
      }),
      noSimd: await failure(browser, 'no-simd', {
        state: 'unsupported',
        setup: (page) => page.addInitScript(() => { WebAssembly.validate = () => false; }),
      }),
    };
  } finally {
    await foreign.close();
  }
}

async function main() {
  const plot = JSON.parse(await readFile(args.plot, 'utf8'));
  const root = path.join(args.work, 'main');
  await deploy(root);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
    await context.addInitScript(instrument);
    const server = await serve(root);
    const first = await firstVisit(context, server, plot);
    const offline = await offlineVisit(context, server, plot);
    const update = await updateVisit(context, root, server.port, plot);
    await context.close();
    return { ok: true, first, offline, update, failures: await failures(browser) };
  } finally {
    await browser.close();
  }
}

main().then(finish, (error) => finish({ ok: false, error: error.stack ?? String(error) }));
