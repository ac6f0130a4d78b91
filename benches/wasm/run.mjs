#!/usr/bin/env node
// run.mjs — driver of `make bench-wasm` (spawned by benches/wasm.rs). Serves the repository,
// opens bench.html in headless Chromium with a fresh profile (cold visit: the bundle comes
// from localhost), times classify() over the given plots and explain() of one plot, reloads (warm visit: the bundle
// comes from the Cache API) and prints ONE line of JSON on stdout:
//   {"cold_ms","warm_start_ms","warm_phases_ms":{...},"latencies_ms":[...],"explain_ms":[...],"wasm_memory_bytes",
//    "wasm_bytes","wasm_gzip_bytes","bundle_bytes","bundle_gzip_bytes"}
//
//   node benches/wasm/run.mjs --root DIR --bundle /url/path --texts FILE.json --explain PLOT

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

import { startServer } from '../../scripts/serve.mjs';

const { values: args } = parseArgs({
  options: {
    root: { type: 'string' }, bundle: { type: 'string' }, texts: { type: 'string' }, explain: { type: 'string' },
  },
});
for (const key of ['root', 'bundle', 'texts', 'explain']) {
  if (!args[key]) throw new Error(`missing --${key}`);
}
const root = path.resolve(args.root);
const texts = JSON.parse(await readFile(args.texts, 'utf8'));
const { chromium } = await import(path.join(root, 'tests/browser/node_modules/playwright-core/index.mjs'));

const sizes = async (file) => {
  const bytes = await readFile(file);
  return [bytes.length, gzipSync(bytes, { level: 9 }).length];
};
const [wasmBytes, wasmGzipBytes] = await sizes(path.join(root, 'pkg/plotgenre_bg.wasm'));
const [bundleBytes, bundleGzipBytes] = await sizes(path.join(root, args.bundle));

const server = await startServer(root);
const profile = await mkdtemp(path.join(tmpdir(), 'plotgenre-bench-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.PLOTGENRE_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => process.stderr.write(`[page error] ${err.message}\n`));
  const query = new URLSearchParams({ bundle: args.bundle, first: texts[0] });
  const url = `${server.url}/benches/wasm/bench.html?${query}`;

  await page.goto(url);
  const cold = await page.evaluate(() => window.benchStart);
  const run = await page.evaluate(([t, e]) => window.benchRun(t, e), [texts, args.explain]);
  await page.reload();
  const warm = await page.evaluate(() => window.benchStart);
  if (cold.fromCache || !warm.fromCache) {
    throw new Error(`expected a cold then a cached visit, got ${JSON.stringify({ cold, warm })}`);
  }
  process.stdout.write(`${JSON.stringify({
    cold_ms: cold.firstResultMs,
    warm_start_ms: warm.firstResultMs,
    warm_phases_ms: warm.phasesMs,
    latencies_ms: run.latenciesMs,
    explain_ms: run.explainMs,
    wasm_memory_bytes: run.wasmMemoryBytes,
    wasm_bytes: wasmBytes,
    wasm_gzip_bytes: wasmGzipBytes,
    bundle_bytes: bundleBytes,
    bundle_gzip_bytes: bundleGzipBytes,
  })}\n`);
} finally {
  await context.close();
  await server.close();
  await rm(profile, { recursive: true, force: true });
}
