#!/usr/bin/env node
// run.mjs — its one job: the CLI the Rust integration test spawns to run the plotgenre wasm
// build in headless Chromium and print the classifier's output as ONE line of JSON on stdout.
//
//   node tests/browser/run.mjs --root <repo root> --bundle /url/path/model.plotgenre \
//        --texts <file.json holding an array of strings> [--timeout <seconds, default 120>]
//        [--build single|threads]   (threads: served cross-origin isolated, the threaded build)
//        [--relaxed]                (the build's relaxed-SIMD twin, pkg/relaxed/)
//
// stdout: exactly one line, either smoke.mjs's answer
//   {"ok":true,"labels":[...],"info":{...},"results":[...],"badBundle":{...}}   (exit 0)
//   {"ok":false,"error":"message"}                                               (exit 1)
// stderr: browser console errors/warnings, page errors, failed requests, harness notes.
// Chromium: /usr/bin/chromium unless $PLOTGENRE_CHROMIUM names another executable.
// Needs `npm ci --prefix tests/browser` first (playwright-core; no browser download).

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { CROSS_ORIGIN_ISOLATED, startServer } from '../../scripts/serve.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLOSE_GRACE_MS = 10_000;

// stdout is reserved for the single result line: send any stray console.log to stderr.
console.log = console.error;
console.info = console.error;

const log = (msg) => process.stderr.write(`[run.mjs] ${msg}\n`);

let finished = false;
/** Print the one result line and exit (0 for ok, 1 otherwise). Only the first call counts. */
function finish(answer) {
  if (finished) return;
  finished = true;
  const line = JSON.stringify(answer);
  process.stdout.write(`${line}\n`, () => process.exit(answer.ok ? 0 : 1));
}

function fail(message) {
  return { ok: false, error: String(message) };
}

/** Resolve with `promise`, or reject after `ms` with `message()`. Clears its timer. */
function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function parseCli() {
  const { values } = parseArgs({
    options: {
      root: { type: 'string' },
      bundle: { type: 'string' },
      texts: { type: 'string' },
      timeout: { type: 'string', default: '120' },
      build: { type: 'string', default: 'single' },
      relaxed: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  for (const key of ['root', 'bundle', 'texts']) {
    if (!values[key]) throw new Error(`missing --${key} (usage: run.mjs --root DIR --bundle /url/path --texts FILE.json [--timeout SECONDS])`);
  }
  if (!['single', 'threads'].includes(values.build)) throw new Error(`--build must be single or threads, got ${values.build}`);
  const timeoutS = Number(values.timeout);
  if (!(timeoutS > 0)) throw new Error(`--timeout must be a positive number of seconds, got ${values.timeout}`);

  const root = path.resolve(values.root);
  const pageDir = path.relative(root, HERE);
  if (pageDir.startsWith('..') || path.isAbsolute(pageDir)) {
    throw new Error(`--root ${root} does not contain the harness directory ${HERE}`);
  }

  let texts;
  try {
    texts = JSON.parse(await readFile(values.texts, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read --texts ${values.texts}: ${err.message}`);
  }
  if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) {
    throw new Error(`--texts ${values.texts} must hold a JSON array of strings`);
  }

  const bundle = values.bundle.startsWith('/') ? values.bundle : `/${values.bundle}`;
  const pagePath = `/${pageDir.split(path.sep).map(encodeURIComponent).join('/')}/smoke.html`;
  return { root, bundle, texts, timeoutMs: timeoutS * 1000, pagePath, build: values.build, relaxed: values.relaxed };
}

// Everything the run opened, so that cleanup() can close it whatever happened.
const opened = { server: null, context: null, userDataDir: null };
let cleaning = null;

function cleanup() {
  cleaning ??= (async () => {
    const { server, context, userDataDir } = opened;
    if (context) {
      await withTimeout(context.close(), CLOSE_GRACE_MS, () => 'closing Chromium timed out').catch((err) =>
        log(`warning: ${err.message}`),
      );
    }
    if (server) await withTimeout(server.close(), CLOSE_GRACE_MS, () => 'closing server timed out').catch(() => {});
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
  })();
  return cleaning;
}

async function main(state) {
  const cli = await parseCli();
  state.timeoutMs = cli.timeoutMs;
  state.armTimer();

  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (err) {
    throw new Error(`cannot load playwright-core (run \`npm ci --prefix tests/browser\`): ${err.message}`);
  }

  state.stage = 'starting the static server';
  opened.server = await startServer(cli.root, 0, { headers: cli.build === 'threads' ? CROSS_ORIGIN_ISOLATED : {} });

  state.stage = `launching ${CHROMIUM}`;
  opened.userDataDir = await mkdtemp(path.join(tmpdir(), 'plotgenre-chromium-'));
  opened.context = await chromium.launchPersistentContext(opened.userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: cli.timeoutMs,
    offline: false,
    acceptDownloads: false,
  });
  const context = opened.context;
  const page = context.pages()[0] ?? (await context.newPage());

  // A crashed or closed page would otherwise leave page.evaluate() waiting.
  let rejectBroken;
  const broken = new Promise((_, reject) => (rejectBroken = reject));
  broken.catch(() => {});
  page.on('crash', () => rejectBroken(new Error(`the page crashed (during: ${state.stage})`)));
  page.on('close', () => rejectBroken(new Error(`the page closed unexpectedly (during: ${state.stage})`)));

  const firstProblems = [];
  const note = (msg) => {
    if (firstProblems.length < 3) firstProblems.push(msg);
    process.stderr.write(`${msg}\n`);
  };
  page.on('console', (msg) => {
    const text = msg.text();
    const stageMatch = /^\[smoke\] stage: (.*)$/s.exec(text);
    if (stageMatch) {
      state.stage = `page: ${stageMatch[1]}`;
      return;
    }
    const type = msg.type();
    const loc = msg.location();
    if (loc?.url?.endsWith('/favicon.ico')) return; // Chromium asks for one; there is none.
    if (type === 'error' || type === 'warning' || type === 'assert') {
      const where = loc?.url ? ` (${loc.url}:${loc.lineNumber + 1})` : '';
      note(`[browser console.${type}] ${text}${where}`);
    }
  });
  page.on('pageerror', (err) => note(`[browser page error] ${err.stack || err.message}`));
  page.on('requestfailed', (req) => note(`[browser request failed] ${req.url()}: ${req.failure()?.errorText}`));
  page.on('response', (res) => {
    if (res.status() >= 400 && !res.url().endsWith('/favicon.ico')) {
      note(`[browser HTTP ${res.status()}] ${res.url()}`);
    }
  });

  const url = `${opened.server.url}${cli.pagePath}?${new URLSearchParams({ bundle: cli.bundle, build: cli.build, relaxed: cli.relaxed })}`;
  state.stage = `opening ${url}`;
  const response = await Promise.race([page.goto(url, { waitUntil: 'load', timeout: cli.timeoutMs }), broken]);
  if (!response || !response.ok()) {
    throw new Error(`opening ${url} failed: HTTP ${response ? response.status() : 'no response'}`);
  }

  // smoke.mjs defines smokeRun synchronously, and module scripts run before 'load'.
  const hasRunner = await page.evaluate(() => typeof window.smokeRun === 'function');
  if (!hasRunner) {
    const why = firstProblems.length ? `: ${firstProblems.join(' | ')}` : ' (see stderr)';
    throw new Error(`smoke.mjs did not start in the page${why}`);
  }

  state.stage = 'page: running';
  // Come back as one JSON string: far faster than Playwright's value-by-value serialisation
  // for megabytes of floats.
  const answerJson = await Promise.race([
    page.evaluate(async (texts) => JSON.stringify(await window.smokeRun(texts)), cli.texts),
    broken,
  ]);
  state.stage = 'reading the page result';
  let answer;
  try {
    answer = JSON.parse(answerJson);
  } catch (err) {
    throw new Error(`smokeRun returned something that is not JSON: ${err.message}`);
  }
  if (!answer || typeof answer !== 'object' || typeof answer.ok !== 'boolean') {
    throw new Error(`smokeRun returned something unexpected: ${JSON.stringify(answer)}`);
  }
  return answer.ok ? answer : fail(answer.error);
}

const state = {
  stage: 'reading arguments',
  timeoutMs: 120_000,
  timer: null,
  aborted: false, // set by a timeout or signal: that path prints the result, not main's
  armTimer() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => onTimeout(), this.timeoutMs);
  },
};

async function onTimeout() {
  if (state.aborted) return;
  state.aborted = true;
  const seconds = state.timeoutMs / 1000;
  const answer = fail(`timed out after ${seconds} s while ${state.stage}`);
  log(answer.error);
  // Give cleanup a bounded time; Playwright kills the browser it launched on process exit.
  await withTimeout(cleanup(), CLOSE_GRACE_MS, () => 'cleanup timed out').catch((err) => log(`warning: ${err.message}`));
  finish(answer);
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, async () => {
    if (state.aborted) return;
    state.aborted = true;
    log(`received ${signal}, cleaning up`);
    await withTimeout(cleanup(), CLOSE_GRACE_MS, () => 'cleanup timed out').catch(() => {});
    finish(fail(`interrupted by ${signal} while ${state.stage}`));
  });
}

state.armTimer();
let answer;
try {
  answer = await main(state);
} catch (err) {
  answer = fail(err?.message ?? err);
  if (!state.aborted) log(`error: ${answer.error}`);
}
if (!state.aborted) {
  clearTimeout(state.timer); // from here on, cleanup's own per-step limits apply
  await cleanup();
  finish(answer);
}
