#!/usr/bin/env node
// run.mjs — `make bench-peer`: plotgenre and ONNX Runtime Web (1 thread and
// navigator.hardwareConcurrency threads) side by side in ONE headless Chromium, on the same
// plots, sides alternating over rounds, each side in a fresh profile per round. Serves the
// repository cross-origin isolated (COOP/COEP), so every file, ORT's included, is same-origin.
// Prints a table and one `RESULT {json}` line (benches/peer/report.mjs).
//
//   node benches/peer/run.mjs [--rounds 3] [--peer ../shared/peer] [--bundle /www/models/model.plotgenre]
//        [--with-plain]   (plotgenre's plain builds too, as extra sides, where Chromium runs
//                          their relaxed-SIMD twins: both in one run, to compare)

import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { CROSS_ORIGIN_ISOLATED, startServer } from '../../scripts/serve.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from '../../tests/browser/chromium.mjs';
import { closeMeasuringPeak, rendererPeaks } from './memory.mjs';
import { overRounds, report, roundFigures } from './report.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BATCH = 16;

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    peer: { type: 'string', default: path.join(ROOT, '../shared/peer') },
    bundle: { type: 'string', default: '/www/models/model.plotgenre' },
    'with-plain': { type: 'boolean', default: false },
  },
});
const { chromium } = await import(path.join(ROOT, 'tests/browser/node_modules/playwright-core/index.mjs'));

/**
 * `visit(page, snapshot)` in a fresh profile, which is then closed: its result and `peakBytes`,
 * the peak memory of the profile's renderer process up to the moment `visit` called `snapshot`.
 */
async function inFreshProfile(browser, cdp, visit) {
  const context = await browser.newContext();
  let result;
  let peaks;
  try {
    const page = await context.newPage();
    page.on('pageerror', (err) => process.stderr.write(`[page error] ${err.message}\n`));
    result = await visit(page, async () => { peaks = await rendererPeaks(cdp); });
  } catch (error) {
    await context.close();
    throw error;
  }
  const peakBytes = await closeMeasuringPeak(cdp, context, peaks);
  if (peakBytes === null) throw new Error('no renderer process exited with its profile: peak memory unknown');
  return { ...result, peakBytes };
}

/** One visit pair of one side: cold visit, timed runs, second visit; the peak memory is the
 * first visit's and its runs' (the reload's new worker may briefly overlap the old one). */
function measure(browser, cdp, url, inputs) {
  return inFreshProfile(browser, cdp, async (page, snapshot) => {
    await page.goto(url);
    const cold = await page.evaluate(() => window.benchStart);
    const run = await page.evaluate(([i, b]) => window.benchRun(i, b), [inputs, BATCH]);
    await snapshot();
    await page.reload();
    const warm = await page.evaluate(() => window.benchStart);
    if (cold.fromCache || !warm.fromCache) {
      throw new Error(`expected a cold then a cached visit at ${url}, got ${JSON.stringify({ cold, warm })}`);
    }
    return { cold, warm, run };
  });
}

/** navigator.hardwareConcurrency and cross-origin isolation of the served bench page, and
 * the peak memory of its renderer process with no side loaded (the browser's own share). */
function probe(browser, cdp, base) {
  return inFreshProfile(browser, cdp, async (page, snapshot) => {
    await page.goto(`${base}/benches/peer/peer.html`);
    const found = await page.evaluate(() => ({ cores: navigator.hardwareConcurrency, isolated: self.crossOriginIsolated }));
    await snapshot();
    return found;
  });
}

/** The sides to compare: plotgenre's threaded build (the product on an isolated page: the
 * RESULT figures) and its single-thread build (text in), with `--with-plain` the same two
 * from their plain builds, and ORT at 1 and `cores` threads (ids in). */
function sides(base, inputs, modelUrl, cores) {
  const page = (query) => `${base}/benches/peer/peer.html?${new URLSearchParams(query)}`;
  const ort = (threads) => ({
    kind: 'ort',
    name: `ONNX Runtime Web, ${threads} thread${threads > 1 ? 's' : ''} (model only)`,
    url: page({ side: 'ort', threads, model: modelUrl, firstIds: inputs.ids[0].join(',') }),
  });
  const ours = (build, plain = false) => ({
    kind: plain ? 'plain' : 'ours',
    name: `plotgenre classify(text), ${build} build${plain ? ', plain' : ''} (tokenizer included)`,
    url: page({ side: 'ours', build, bundle: args.bundle, first: inputs.texts[0], plain }),
  });
  const plain = args['with-plain'] ? [ours('threads', true), ours('single', true)] : [];
  const threadCounts = [...new Set([1, cores])];
  return [ours('threads'), ours('single'), ...plain, ...threadCounts.map(ort)];
}

/** Every side once per round, the order rotated each round; figures per side per round. */
async function rounds(browser, cdp, list, inputs, count) {
  const figures = list.map(() => []);
  const threads = list.map(() => 0);
  const relaxed = list.map(() => false);
  for (let r = 0; r < count; r += 1) {
    for (let k = 0; k < list.length; k += 1) {
      const s = (k + r) % list.length;
      const raw = await measure(browser, cdp, list[s].url, inputs);
      figures[s].push(roundFigures(raw, inputs.texts.length));
      threads[s] = raw.cold.threads;
      relaxed[s] = raw.cold.relaxedSimd === true;
      process.stderr.write(`round ${r + 1}: ${list[s].name}: ${JSON.stringify(figures[s].at(-1))}\n`);
    }
  }
  return list.map((side, s) => ({
    kind: side.kind,
    name: relaxed[s] ? `${side.name}, relaxed SIMD` : side.name,
    threads: threads[s],
    relaxedSimd: relaxed[s],
    figures: overRounds(figures[s]),
  }));
}

/** What the page downloads, in bytes: each wasm build (the relaxed-SIMD twins where they
 * ran) and the bundle (the size targets). */
async function sizes(relaxed) {
  const bytes = async (file) => (await stat(path.join(ROOT, file))).size;
  const pkg = relaxed ? 'pkg/relaxed/' : 'pkg/';
  return {
    wasm_bytes: await bytes(`${pkg}threads/plotgenre_bg.wasm`),
    single_wasm_bytes: await bytes(`${pkg}plotgenre_bg.wasm`),
    bundle_bytes: await bytes(args.bundle),
  };
}

// Before anything of the benchmark runs: a load near the core count means a shared machine.
const loadBefore = loadavg()[0];
const inputs = JSON.parse(await readFile(path.join(args.peer, 'inputs.json'), 'utf8'));
const served = await mkdtemp(path.join(ROOT, '.bench-peer-'));
await copyFile(path.join(args.peer, 'minilm_cls_int8.onnx'), path.join(served, 'model.onnx'));
const modelUrl = `/${path.basename(served)}/model.onnx`;
const server = await startServer(ROOT, 0, { headers: CROSS_ORIGIN_ISOLATED });
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
try {
  const cdp = await browser.newBrowserCDPSession();
  const { cores, isolated, peakBytes: emptyPageBytes } = await probe(browser, cdp, server.url);
  if (!isolated) throw new Error('the bench page is not cross-origin isolated: ORT gets no threads');
  const list = sides(server.url, inputs, modelUrl, cores);
  const measured = await rounds(browser, cdp, list, inputs, Number(args.rounds));
  const [ours, single, ...plain] = measured.filter((side) => side.kind !== 'ort');
  report(ours, single, plain, measured.filter((side) => side.kind === 'ort'), {
    load_before: loadBefore,
    load_after: loadavg()[0],
    hardware_concurrency: cores,
    empty_page_memory_mb: Number((emptyPageBytes / 1e6).toFixed(1)),
    rounds: Number(args.rounds),
    plots: inputs.texts.length,
    batch_size: BATCH,
    chromium: browser.version(),
    relaxed_simd: ours.relaxedSimd,
    ...(await sizes(ours.relaxedSimd)),
  });
} finally {
  await browser.close();
  await server.close();
  await rm(served, { recursive: true, force: true });
}
