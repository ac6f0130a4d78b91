#!/usr/bin/env node
// embed.mjs — its one job: open the page of a project that installed the packed plotgenre
// package (tests/npm_package.rs makes it from tests/browser/embed/) in headless Chromium and
// print what its main.js left in window.result as ONE line of JSON on stdout.
//
//   node tests/browser/embed.mjs --root PROJECT --page /index.html --plot FILE.json
//
// FILE.json holds {"title", "plot"}; --page is the page's path under PROJECT.
//
// stdout: {"ok":true,"info":{...},"classification":{...},"explanation":{...},"badOptions":"..."}
// or {"ok":false,"error":"..."}; stderr: browser errors.

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

import { startServer } from '../../scripts/serve.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.mjs';

const TIMEOUT_MS = 120_000;

console.log = console.error; // stdout carries the one result line only

const { values: args } = parseArgs({
  options: { root: { type: 'string' }, page: { type: 'string' }, plot: { type: 'string' } },
});

async function main() {
  const { title, plot } = JSON.parse(await readFile(args.plot, 'utf8'));
  const server = await startServer(args.root);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (error) => console.error(`[page error] ${error.message}`));
    page.on('console', (msg) => msg.type() === 'error' && console.error(`[console] ${msg.text()}`));
    await page.goto(`${server.url}${args.page}?${new URLSearchParams({ title, plot })}`);
    await page.waitForFunction(() => window.result, null, { timeout: TIMEOUT_MS });
    return await page.evaluate(() => window.result);
  } finally {
    await browser.close();
    await server.close();
  }
}

main().then(
  (answer) => process.stdout.write(`${JSON.stringify(answer)}\n`, () => process.exit(answer.ok ? 0 : 1)),
  (error) => process.stdout.write(`${JSON.stringify({ ok: false, error: error.stack ?? String(error) })}\n`, () => process.exit(1)),
);
