#!/usr/bin/env node
// audit.mjs — its one job: audit the page (www/, served as `make serve` serves it) the way
// a reviewer would, in headless Chromium, and print a table and one line
// `RESULT {json}`: Lighthouse's desktop and mobile presets (performance, accessibility,
// best practices, SEO, cumulative layout shift), axe-core's violations in the page's states
// (ready, result, explanation, batch, model card, dark scheme) and Chromium's
// installability check. `make audit` runs it; it is not part of `make test` (Lighthouse's
// scores are timings on a shared machine, so they are measured and reported, not asserted).
//
//   node tests/browser/audit.mjs --site www [--port 0]
//
// Chromium: /usr/bin/chromium unless $PLOTGENRE_CHROMIUM names another executable.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import * as chromeLauncher from 'chrome-launcher';
import lighthouse from 'lighthouse';
import desktopConfig from 'lighthouse/core/config/desktop-config.js';
import { chromium } from 'playwright-core';

import { startServer } from '../../scripts/serve.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.mjs';

const WAIT_MS = 120_000;
const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'];
const CSV = 'title,plot\nSecond Cup,"A cynical wedding planner falls for the clumsy baker who ruined her best client\'s cake."\n'
  + 'Night Shift,"A rookie detective hunts a killer who strikes only during the city\'s blackouts."\n';

const { values: args } = parseArgs({
  options: { site: { type: 'string', default: 'www' }, port: { type: 'string', default: '0' } },
});

/** One Lighthouse run (`config` null: the default, mobile) on a fresh headless Chromium. */
async function lighthouseRun(url, config) {
  const chrome = await chromeLauncher.launch({
    chromePath: CHROMIUM,
    chromeFlags: ['--headless=new', ...CHROMIUM_ARGS],
  });
  try {
    const flags = { port: chrome.port, output: 'json', logLevel: 'error', onlyCategories: CATEGORIES };
    const { lhr } = await lighthouse(url, flags, config ?? undefined);
    const score = (id) => Math.round((lhr.categories[id]?.score ?? 0) * 100);
    const failed = Object.values(lhr.audits)
      .filter((audit) => audit.score !== null && audit.score < 0.9 && audit.scoreDisplayMode !== 'informative')
      .map((audit) => `${audit.id} (${audit.displayValue ?? audit.score})`);
    const blocking = lhr.audits['render-blocking-resources']?.details?.items ?? [];
    failed.push(...blocking.map((item) => `render-blocking ${new URL(item.url).pathname} (${Math.round(item.wastedMs)} ms)`));
    return {
      performance: score('performance'),
      accessibility: score('accessibility'),
      best_practices: score('best-practices'),
      seo: score('seo'),
      cls: Number((lhr.audits['cumulative-layout-shift']?.numericValue ?? 0).toFixed(3)),
      failed,
    };
  } finally {
    await chrome.kill();
  }
}

/** axe-core's violations on the page as it stands (run through CDP, which the CSP allows). */
async function axeViolations(page, axeSource) {
  await page.evaluate(axeSource);
  const { violations } = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return violations.map((v) => `${v.id} (${v.nodes.length}: ${v.nodes.slice(0, 2).map((n) => n.target.join(' ')).join(', ')})`);
}

/** The page's states a visitor reaches, each checked by axe-core; and the installability check. */
async function pageStates(url, axeSource) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'plotgenre-audit-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1280, height: 800 },
  });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    const states = {};
    await page.goto(url);
    await page.waitForSelector('#model-status[data-state="ready"]', { timeout: WAIT_MS });
    states.ready = await axeViolations(page, axeSource);
    await page.click('#examples button');
    await page.waitForSelector('#genres li .name button', { timeout: WAIT_MS });
    states.result = await axeViolations(page, axeSource);
    await page.click('#genres li .name button');
    await page.waitForSelector('#explanation[data-state="done"]', { timeout: WAIT_MS });
    states.explanation = await axeViolations(page, axeSource);
    const csv = path.join(dir, 'plots.csv');
    await writeFile(csv, CSV);
    await page.setInputFiles('#csv-file', csv);
    await page.waitForFunction(() => !document.getElementById('batch-run').disabled, null, { timeout: WAIT_MS });
    await page.click('#batch-run');
    await page.waitForSelector('#batch-download:not([hidden])', { timeout: WAIT_MS });
    states.batch = await axeViolations(page, axeSource);
    await page.click('#card-open');
    await page.waitForSelector('#card-dialog[open] #card-text h1', { timeout: WAIT_MS });
    states.card = await axeViolations(page, axeSource);
    await page.keyboard.press('Escape');
    await page.emulateMedia({ colorScheme: 'dark' });
    states.dark = await axeViolations(page, axeSource);
    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    return { states, installErrors: installabilityErrors.map((e) => e.errorId) };
  } finally {
    await context.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function printTable(lighthouseScores, states, installErrors) {
  const rows = [['preset', 'performance', 'accessibility', 'best practices', 'SEO', 'CLS']];
  for (const [preset, s] of Object.entries(lighthouseScores)) {
    rows.push([preset, s.performance, s.accessibility, s.best_practices, s.seo, s.cls]);
  }
  for (const row of rows) console.log(row.map((cell, i) => String(cell).padEnd(i ? 15 : 9)).join(''));
  for (const [preset, s] of Object.entries(lighthouseScores)) {
    if (s.failed.length) console.log(`lighthouse ${preset}: to improve: ${s.failed.join(', ')}`);
  }
  for (const [state, violations] of Object.entries(states)) {
    console.log(`axe ${state.padEnd(12)} ${violations.length ? violations.join('; ') : 'no violations'}`);
  }
  console.log(`installability: ${installErrors.length ? installErrors.join(', ') : 'no errors'}`);
}

async function main() {
  const require = createRequire(import.meta.url);
  const axeSource = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  const server = await startServer(args.site, Number(args.port));
  const url = `${server.url}/`;
  try {
    const lighthouseScores = {
      desktop: await lighthouseRun(url, desktopConfig),
      mobile: await lighthouseRun(url, null),
    };
    const { states, installErrors } = await pageStates(url, axeSource);
    printTable(lighthouseScores, states, installErrors);
    const result = {
      lighthouse: Object.fromEntries(Object.entries(lighthouseScores).map(([preset, { failed, ...scores }]) => [preset, scores])),
      axe_violations: Object.values(states).reduce((sum, violations) => sum + violations.length, 0),
      installable: installErrors.length === 0,
    };
    console.log(`RESULT ${JSON.stringify(result)}`);
  } finally {
    await server.close();
  }
}

main().then(() => process.exit(0), (error) => {
  console.error(error.stack ?? String(error));
  process.exit(1);
});
